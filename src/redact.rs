//! Redaction: what of a value may be shown (at most a quarter of it, four characters at most,
//! and its length), and the excerpt of a setting's code with every value in it redacted.
//!
//! Both the detector (a setting's excerpt, made while the matched code is at hand) and the
//! finding (a secret's redacted value) use it, so it depends on neither: a value leaves the
//! process only through here or as a fingerprint.

use bstr::ByteSlice;

use crate::escape::escape;

/// Redacts a value: at most a quarter of it (four characters at most) and its length.
pub fn redact(value: &[u8]) -> String {
    let text = value.to_str_lossy();
    let n = text.chars().count();
    let shown: String = text.chars().take((n / 4).min(4)).collect();
    format!("{}…({n} chars)", escape(shown.as_bytes()))
}

/// How much of a match an excerpt looks at (it shows at most [`EXCERPT_CHARS`] of it).
const EXCERPT_SCAN: usize = 400;
/// How many characters of code an excerpt shows.
const EXCERPT_CHARS: usize = 80;

/// A short, escaped excerpt of the matched code, for messages about settings (never secrets),
/// with every value in it redacted: the code of `app.config.update(SECRET_KEY="…", DEBUG=True)`
/// is what the debug finding shows, and the key beside the setting must not ride along. Words
/// of configuration (`True`, `development`, small numbers), names (`os.environ`, `"DEBUG"`,
/// subscript keys) stay readable; string literals, values assigned to secret-like names,
/// passwords in URLs and long token-like runs are redacted like a finding's value.
pub fn excerpt(bytes: &[u8]) -> String {
    let text = bytes.trim();
    let code = &text[..text.len().min(EXCERPT_SCAN)];
    let mut s = redact_code(code);
    let cut = text.len() > code.len() || s.chars().count() > EXCERPT_CHARS;
    if cut {
        s = s.chars().take(EXCERPT_CHARS).collect();
        s.push('…');
    }
    s
}

/// Whether a value is a word of configuration rather than data.
fn is_vocabulary(v: &[u8]) -> bool {
    const WORDS: &[&str] = &[
        "true",
        "false",
        "yes",
        "no",
        "on",
        "off",
        "none",
        "null",
        "nil",
        "development",
        "production",
        "testing",
        "test",
        "debug",
        "dev",
        "local",
        "prod",
        "staging",
        "always",
        "never",
    ];
    v.is_empty()
        || (v.len() <= 6 && v.iter().all(u8::is_ascii_digit))
        || WORDS.iter().any(|w| v.eq_ignore_ascii_case(w.as_bytes()))
}

/// Whether a setting's name says its value is a credential.
fn is_secret_name(name: &[u8]) -> bool {
    const PARTS: &[&str] = &[
        "key", "secret", "token", "pass", "pwd", "auth", "cred", "salt", "private", "api",
        "session", "cookie", "sign", "dsn", "cert",
    ];
    let lower = name.to_ascii_lowercase();
    PARTS.iter().any(|p| lower.find(p.as_bytes()).is_some())
}

fn is_ident(v: &[u8]) -> bool {
    !v.is_empty()
        && (v[0].is_ascii_alphabetic() || v[0] == b'_')
        && v.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A dotted name (`os.environ.get`, `smtp.example.org`): code or a host, not a credential.
fn is_dotted_name(v: &[u8]) -> bool {
    v.split(|&b| b == b'.' || b == b'-').all(is_ident)
}

/// An environment-variable-like name (`SECRET_KEY`, `FLASK_DEBUG`): a key, not a value.
fn is_upper_name(v: &[u8]) -> bool {
    is_ident(v) && v.len() <= 64 && !v.iter().any(u8::is_ascii_lowercase)
}

/// A run that looks like a token: long, letters and digits mixed.
fn looks_random(v: &[u8]) -> bool {
    v.len() >= 16
        && v.iter().any(u8::is_ascii_digit)
        && v.iter().any(u8::is_ascii_alphabetic)
        && !is_dotted_name(v)
}

/// A bare token with the password of a `scheme://user:password@host` URL redacted.
fn redact_url_password(tok: &[u8]) -> Option<String> {
    let scheme = tok.find(b"://")?;
    let rest = &tok[scheme + 3..];
    let at = rest.rfind_byte(b'@')?;
    let colon = rest[..at].find_byte(b':')?;
    let pass = &rest[colon + 1..at];
    if pass.is_empty() {
        return None;
    }
    Some(format!(
        "{}{}{}",
        escape(&tok[..scheme + 3 + colon + 1]),
        redact(pass),
        escape(&rest[at..])
    ))
}

/// Code with its values redacted (see [`excerpt`]).
fn redact_code(code: &[u8]) -> String {
    const DELIMS: &[u8] = b" \t\r\n,;()[]{}<>=\"'`";
    let mut out = String::new();
    // The name the next value is assigned to (`KEY=`, `KEY:`, `"KEY":`, `key=`).
    let mut key: Option<&[u8]> = None;
    let mut expect_value = false;
    let mut last_word: Option<&[u8]> = None;
    let mut i = 0;
    while i < code.len() {
        let b = code[i];
        if matches!(b, b'"' | b'\'' | b'`') {
            let mut j = i + 1;
            while j < code.len() && code[j] != b {
                j += if code[j] == b'\\' { 2 } else { 1 };
            }
            let end = j.min(code.len());
            let content = &code[i + 1..end];
            let closed = j < code.len();
            let next = code.get(end + 1).copied();
            let secret_context = expect_value && key.is_some_and(is_secret_name);
            let keep = !secret_context
                && (is_vocabulary(content)
                    || is_upper_name(content)
                    || (is_ident(content) && matches!(next, Some(b']') | Some(b':'))));
            out.push(b as char);
            if keep {
                out.push_str(&escape(content));
            } else {
                out.push_str(&redact(content));
            }
            if closed {
                out.push(b as char);
            }
            // A quoted name followed by `:` or `]` is a key for what follows.
            last_word = Some(content);
            expect_value = false;
            i = if closed { end + 1 } else { end };
            continue;
        }
        if b == b'=' || b == b':' {
            let double = code.get(i + 1) == Some(&b'=');
            out.push(b as char);
            if double {
                out.push('=');
                i += 2;
                expect_value = false;
                continue;
            }
            key = last_word;
            expect_value = true;
            i += 1;
            continue;
        }
        if DELIMS.contains(&b) {
            out.push_str(&escape(&code[i..i + 1]));
            if !matches!(b, b' ' | b'\t') {
                expect_value = false;
            }
            i += 1;
            continue;
        }
        let mut j = i;
        while j < code.len() && !DELIMS.contains(&code[j]) && code[j] != b':' {
            j += 1;
        }
        // A URL keeps its `:` inside the token.
        if code[j..].starts_with(b"://") {
            while j < code.len() && !DELIMS.contains(&code[j]) {
                j += 1;
            }
        }
        let tok = &code[i..j];
        let secret_context = expect_value && key.is_some_and(is_secret_name);
        if let Some(r) = redact_url_password(tok) {
            out.push_str(&r);
        } else if is_vocabulary(tok)
            || (!secret_context && (is_dotted_name(tok) || tok.len() < 8) && !looks_random(tok))
        {
            out.push_str(&escape(tok));
        } else {
            out.push_str(&redact(tok));
        }
        last_word = Some(tok);
        expect_value = false;
        i = j;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_never_shows_more_than_a_quarter() {
        assert_eq!(redact(b"dev"), "…(3 chars)");
        assert_eq!(redact(b"dev-0123456789abcdefghij"), "dev-…(24 chars)");
        assert_eq!(redact(b"abcdefgh"), "ab…(8 chars)");
        assert_eq!(redact(b"\x1b[31mxyzxyzxyz"), "\\x1b[3…(14 chars)");
    }

    #[test]
    fn excerpts_carry_no_value() {
        let key = "8f42a73054b1749f8f58848be5e6502c";
        let cases = [
            format!("app.config.update(SECRET_KEY=\"{key}\", DEBUG=True)"),
            format!("app.config.update(DEBUG=True, SECRET_KEY='{key}')"),
            format!("ENV FLASK_DEBUG=1 SECRET_KEY={key}"),
            "FLASK_DEBUG=1 SECRET_KEY=mylittlesecret flask run".to_owned(),
            format!("config = {{\"DEBUG\": True, \"SECRET_KEY\": \"{key}\"}}"),
            format!("DEBUG: true\nSECRET_KEY: {key}"),
            format!("app.run(debug=True, ssl_context=('cert.pem', '{key}'))"),
            format!("DATABASE_URL=postgres://app:{key}@db.internal/app FLASK_ENV=development"),
            format!("app.run(debug=True)  # token {key}"),
        ];
        for c in &cases {
            let e = excerpt(c.as_bytes());
            assert!(!e.contains(&key[..8]), "{c} -> {e}");
            assert!(!e.contains("mylittlesecret"), "{c} -> {e}");
        }
        assert_eq!(excerpt(b"app.run(debug=True)"), "app.run(debug=True)");
        assert_eq!(
            excerpt(b"app.config[\"DEBUG\"] = True"),
            "app.config[\"DEBUG\"] = True"
        );
        assert_eq!(excerpt(b"FLASK_ENV=development"), "FLASK_ENV=development");
        assert_eq!(
            excerpt(b"if os.environ.get(\"FLASK_DEBUG\"): app.run(debug=True, port=5000)"),
            "if os.environ.get(\"FLASK_DEBUG\"): app.run(debug=True, port=5000)"
        );
    }
}
