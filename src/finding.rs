//! A finding: a match with its place in the repository, redacted and fingerprinted.
//!
//! This is the JSON finding of the contract. The unredacted value never leaves this module
//! except as a fingerprint: the `secret` field holds at most a quarter of the value (four
//! characters at most) and its length, so no output format, log line or baseline can carry it.

use bstr::ByteSlice;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::detect::Match;
use crate::rules::{Kind, Ruleset, Severity};

/// The commit a finding is attributed to, as reports show it.
#[derive(Debug, Clone, Default)]
pub struct CommitMeta {
    /// Its id, in hex.
    pub id: String,
    /// Its author, `Name <email>`, escaped.
    pub author: String,
    /// Its date, RFC 3339.
    pub date: String,
    /// Its subject line, escaped and redacted (pushes: the pusher is shown it).
    pub subject: Option<String>,
}

/// Where a blob came from, as far as reports care: one variant per kind of source, so that a
/// push's finding cannot lack its ref nor a file's claim a commit.
#[derive(Debug, Clone)]
pub enum Provenance {
    /// A file on disk or standard input (`scan`, `pre-commit FILE...`).
    File,
    /// The staged change: the commit does not exist yet (the contract's null commit).
    Staged,
    /// A push: the ref it updates, and the commit that brought it unless the finding is in the
    /// ref's name or a tag's message, or in a tree or blob a ref names directly.
    Push {
        /// The ref's name, escaped (redacted when it holds a finding).
        refname: String,
        /// The new commit the finding is in.
        commit: Option<CommitMeta>,
    },
    /// The history (audit): the commit that introduced it.
    History(CommitMeta),
}

impl Provenance {
    /// The commit, where there is one.
    pub fn commit(&self) -> Option<&CommitMeta> {
        match self {
            Provenance::Push { commit, .. } => commit.as_ref(),
            Provenance::History(c) => Some(c),
            Provenance::File | Provenance::Staged => None,
        }
    }

    /// The ref a push updates.
    pub fn refname(&self) -> Option<&str> {
        match self {
            Provenance::Push { refname, .. } => Some(refname),
            _ => None,
        }
    }
}

/// One reported finding.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Finding {
    /// The rule's id.
    pub rule_id: String,
    /// `secret`, `debug` or `config`.
    pub kind: Kind,
    /// `high`, `medium` or `low`.
    pub severity: Severity,
    /// `/`-separated path; bytes that are not printable UTF-8 are escaped as `\xNN`.
    pub path: String,
    /// 1-based line of the value's start.
    pub line: usize,
    /// 1-based byte column of the value's start.
    pub column: usize,
    /// The commit that introduced it.
    pub commit: Option<String>,
    /// That commit's author.
    pub author: Option<String>,
    /// That commit's date (RFC 3339).
    pub date: Option<String>,
    /// The ref being updated (pre-receive only).
    #[serde(rename = "ref")]
    pub refname: Option<String>,
    /// The value, redacted.
    pub secret: String,
    /// Shannon entropy of the value, where the rule uses it.
    pub entropy: Option<f64>,
    /// Hash of rule id, path and the unredacted value.
    pub fingerprint: String,
    /// What was found.
    pub message: String,
    /// How to fix it.
    pub remediation: String,
    /// The commit's subject (for the pusher's message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_subject: Option<String>,
    /// Audit: whether the blob is still at the tip of the default branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub present_at_head: Option<bool>,
    /// Audit: how many (commit, path) places hold this value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurrences: Option<u64>,
    /// Audit: the first commit (topological order) that holds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_commit: Option<String>,
    /// Audit: the last commit that holds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_commit: Option<String>,
    /// `audit --root`: the repository's path relative to the root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// Its line carries `secretgate:allow` (reported only by the server hook, which shows and
    /// logs what a pusher allowed).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub inline_allowed: bool,
    /// Audit of a shallow clone: the commit it is attributed to is the clone's boundary, so the
    /// value may have come in earlier, in history the clone does not have.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shallow_boundary: bool,
}

/// Whether a character can reorder or split what a reader sees around it: the bidirectional
/// embeddings, overrides, isolates and marks, and the Unicode line and paragraph separators. A
/// path or a value holding one could make a report show something other than what it says.
pub fn is_bidi_or_separator(c: char) -> bool {
    matches!(
        c,
        '\u{061C}'
            | '\u{200E}'
            | '\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
            | '\u{2028}'
            | '\u{2029}'
    )
}

/// Whether a character shows nothing by itself: control characters, bidirectional controls and
/// separators, and the zero-width and other default-ignorable characters (U+200B..U+200D,
/// U+2060, U+FEFF, variation selectors, ...). Text made only of these is empty to a reader, so
/// a reason that must be given (a bypass) is judged without them.
pub fn is_invisible(c: char) -> bool {
    c.is_control()
        || is_bidi_or_separator(c)
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{17B4}'
                | '\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200B}'..='\u{200D}'
                | '\u{2060}'..='\u{206F}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{FFF0}'..='\u{FFF8}'
                | '\u{1BCA0}'..='\u{1BCA3}'
                | '\u{1D173}'..='\u{1D17A}'
                | '\u{E0000}'..='\u{E0FFF}'
        )
}

/// Escapes a path (or any text from the repository) for output: control characters,
/// bidirectional controls and line separators ([`is_bidi_or_separator`]) and bytes that are not
/// UTF-8 become `\xNN`, so nothing a pusher names a file can drive a terminal or reorder what
/// the reader sees.
pub fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_control() || is_bidi_or_separator(c) {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("\\x{b:02x}"));
                }
            } else if c == '\\' {
                out.push_str("\\\\");
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// Redacts a value: at most a quarter of it (four characters at most) and its length.
pub fn redact(value: &[u8]) -> String {
    let text = value.to_str_lossy();
    let n = text.chars().count();
    let shown: String = text.chars().take((n / 4).min(4)).collect();
    format!("{}…({n} chars)", escape(shown.as_bytes()))
}

/// The fingerprint: stable across commits, rebases and line moves.
pub fn fingerprint(rule_id: &str, path: &[u8], value: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(b"secretgate-fingerprint-v1\0");
    h.update(rule_id.as_bytes());
    h.update([0]);
    h.update(path);
    h.update([0]);
    h.update(value);
    let d = h.finalize();
    d[..16].iter().map(|b| format!("{b:02x}")).collect()
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

impl Finding {
    /// Builds the finding for a match in the blob at `path`.
    pub fn new(rules: &Ruleset, m: &Match, path: &[u8], prov: &Provenance) -> Self {
        let rule = &rules.rules[m.rule];
        let pattern = &rules.patterns[m.pattern];
        let template = pattern.remediation.as_deref().unwrap_or(&rule.remediation);
        // The name comes from the scanned text: escaped like everything else taken from it.
        let name = m
            .name
            .as_deref()
            .map_or_else(|| "SECRET_KEY".to_owned(), |n| escape(n.as_bytes()));
        let remediation = template.replace("{name}", &name).trim().to_owned();
        let mut message = match (rule.kind, &m.name) {
            (Kind::Secret, Some(n)) => format!("{} ({})", rule.description, escape(n.as_bytes())),
            (Kind::Secret, None) => rule.description.clone(),
            _ => format!(
                "{}: `{}`",
                rule.description,
                m.snippet.as_deref().unwrap_or_default()
            ),
        };
        if let Some(note) = m.note {
            message = format!("{message}: {}", note.text());
        }
        if let Some((cell, line)) = m.cell {
            message.push_str(&format!(" (notebook cell {cell}, line {line})"));
        }
        Finding {
            rule_id: rule.id.clone(),
            kind: rule.kind,
            severity: m.severity,
            path: escape(path),
            line: m.line,
            column: m.column,
            commit: prov.commit().map(|c| c.id.clone()),
            author: prov.commit().map(|c| c.author.clone()),
            date: prov.commit().map(|c| c.date.clone()),
            refname: prov.refname().map(str::to_owned),
            secret: redact(&m.value),
            entropy: m.entropy.map(|e| (e * 1000.0).round() / 1000.0),
            fingerprint: fingerprint(&rule.id, path, &m.value),
            message,
            remediation,
            commit_subject: prov.commit().and_then(|c| c.subject.clone()),
            present_at_head: None,
            occurrences: None,
            first_commit: None,
            last_commit: None,
            inline_allowed: m.inline_allowed,
            repository: None,
            shallow_boundary: false,
        }
    }
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

    #[test]
    fn escapes_control_and_invalid_bytes() {
        assert_eq!(escape(b"a/b\xff\n.py"), "a/b\\xff\\x0a.py");
        assert_eq!(escape("é.py".as_bytes()), "é.py");
        assert_eq!(
            escape("a\u{202E}b\u{2066}c\u{2028}d\u{200F}".as_bytes()),
            "a\\xe2\\x80\\xaeb\\xe2\\x81\\xa6c\\xe2\\x80\\xa8d\\xe2\\x80\\x8f"
        );
    }

    #[test]
    fn fingerprint_depends_on_rule_path_value() {
        let a = fingerprint("r", b"p", b"v");
        assert_eq!(a.len(), 32);
        assert_ne!(a, fingerprint("r", b"p", b"w"));
        assert_ne!(a, fingerprint("r", b"q", b"v"));
        assert_eq!(a, fingerprint("r", b"p", b"v"));
    }
}
