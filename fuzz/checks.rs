//! The invariants the fuzz targets check, shared with the normal test suite.
//!
//! Each function takes raw bytes, runs one entry point of secretgate on them and panics when an
//! invariant does not hold. The fuzz targets (`fuzz/fuzz_targets/*.rs`), the property tests
//! (`tests/properties.rs`) and the regression tests of every input that ever crashed
//! (`tests/fuzz_regressions.rs`, reading `fuzz/regressions/<target>/`) include this one file, so
//! all three check exactly the same things.

// Each includer uses only some of it.
#![allow(dead_code)]

use std::sync::OnceLock;

use bstr::ByteSlice;
use secretgate::detect::location;
use secretgate::error::Error;
use secretgate::finding::{Finding, Provenance};
use secretgate::rules::Ruleset;

/// A check: panics when an invariant does not hold for the input.
pub type Check = fn(&[u8]);

/// The fuzz targets, by the name of their folder under `fuzz/regressions/`.
pub const TARGETS: &[(&str, Check)] = &[
    ("hook_input", hook_input),
    ("rules_toml", rules_toml),
    ("rules_regex", rules_regex),
    ("detector", detector),
];

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

/// The pre-receive hook's input parser: arbitrary bytes give ref updates that are exactly what
/// the lines say, or one `HookInput` error naming a line of the input.
pub fn hook_input(data: &[u8]) {
    let lines: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
    match secretgate::source::push::parse_updates(data, gix::hash::Kind::Sha1) {
        Ok(updates) => {
            let mut wanted = lines
                .iter()
                .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
                .filter(|l| !l.is_empty());
            for u in &updates {
                let line = wanted.next().expect("one update per non-empty line");
                let expect = format!("{} {} ", u.old.to_hex(), u.new.to_hex());
                assert!(
                    line.to_ascii_lowercase().starts_with(expect.as_bytes()),
                    "update {u:?} from {line:?}"
                );
                assert_eq!(&line[82..], &u.name[..]);
                assert!(u.name.starts_with(b"refs/") || u.name == "HEAD");
                assert!(
                    !u.name.iter().any(|&b| b < 0x20 || b == 0x7f || b == b' '),
                    "{u:?}"
                );
            }
            assert!(wanted.next().is_none(), "every line became an update");
        }
        Err(Error::HookInput { line, message }) => {
            assert!(
                line >= 1 && line <= lines.len(),
                "line {line} of {}",
                lines.len()
            );
            assert!(!has_control(&message), "{message:?}");
            assert!(message.len() < 400, "a short message: {message:?}");
        }
        Err(e) => panic!("not a hook input error: {e:?}"),
    }
}

/// A rules file: arbitrary text loads, or fails with one configuration error; what loads can
/// run its own examples and scan text.
pub fn rules_toml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    load_and_use(text, data, false);
}

/// Loads `text`; what loads runs its examples and scans `scan`. `clean`: the file's own
/// descriptions and remediations hold no control character, so no finding's may either.
fn load_and_use(text: &str, scan: &[u8], clean: bool) {
    match secretgate::rules::load_str(text, "fuzz.toml") {
        Ok(rules) => {
            let _ = secretgate::cmd::rules::check_examples(&rules);
            for path in [&b"example.txt"[..], b"app/config.py", b".env"] {
                check_matches(&rules, path, scan, clean);
            }
        }
        Err(Error::Config { origin, message }) => {
            assert_eq!(origin, "fuzz.toml");
            assert!(!message.is_empty());
        }
        Err(e) => panic!("not a configuration error: {e:?}"),
    }
}

/// Writes `s` as a TOML basic string.
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// One field of `data` split at `0xff` bytes (never in UTF-8), lossily decoded.
fn field(parts: &[&[u8]], i: usize) -> String {
    String::from_utf8_lossy(parts.get(i).copied().unwrap_or_default()).into_owned()
}

/// A valid rule around arbitrary regex, keyword, example and allow strings (fields of `data`
/// split at `0xff`; the last field is the text scanned): the file loads or fails with one
/// configuration error, and what loads finds matches that agree with the text.
pub fn rules_regex(data: &[u8]) {
    let parts: Vec<&[u8]> = data.splitn(6, |&b| b == 0xff).collect();
    let (regex, keyword, example, allow, window) = (
        field(&parts, 0),
        field(&parts, 1),
        field(&parts, 2),
        field(&parts, 3),
        field(&parts, 4),
    );
    let scan = parts.get(5).copied().unwrap_or_default();
    let window = window.bytes().fold(0usize, |n, b| {
        n.wrapping_mul(31).wrapping_add(usize::from(b))
    });
    let text = format!(
        "[[rules]]\nid = \"fuzz\"\ndescription = \"fuzzed rule\"\nkind = \"secret\"\n\
         severity = \"high\"\nkeywords = [{}]\nremediation = \"Set {{name}} from the environment.\"\n\
         allow = [{}]\nexamples = [{}]\nnegative_examples = [\"\"]\n\
         [[rules.patterns]]\nregex = {}\nwindow_after = {}\n",
        toml_string(&keyword),
        toml_string(&allow),
        toml_string(&example),
        toml_string(&regex),
        window % (1 << 40),
    );
    load_and_use(&text, scan, true);
}

fn builtin() -> &'static Ruleset {
    static RULES: OnceLock<Ruleset> = OnceLock::new();
    RULES.get_or_init(|| secretgate::rules::builtin().expect("the built-in rules load"))
}

const PATHS: &[&str] = &[
    "app/config.py",
    "example.txt",
    "deploy/.env",
    "docker-compose.yml",
    "Dockerfile",
    "config.json",
    "settings.toml",
    "app/templates/index.html",
    "run.sh",
    "docs/guide.md",
    "tests/test_app.py",
    ".env.example",
];

/// The detector with the built-in rules: the first byte picks a path (or, from `0xf0` on, the
/// path is the bytes up to the first NUL), the rest is the file. Every match agrees with the
/// text, and the enclosing-block and docstring shortcuts agree with the plain definitions.
pub fn detector(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let (path, text): (Vec<u8>, &[u8]) = if first >= 0xf0 {
        match rest.iter().position(|&b| b == 0) {
            Some(i) => (rest[..i].to_vec(), &rest[i + 1..]),
            None => (b"x.py".to_vec(), rest),
        }
    } else {
        (
            PATHS[usize::from(first) % PATHS.len()].as_bytes().to_vec(),
            rest,
        )
    };
    check_matches(builtin(), &path, text, true);
    if text.len() <= 1 << 12 {
        check_location(text);
    }
}

/// What every match of `rules` on `content` at `path` must satisfy; `clean` when the rules' own
/// descriptions and remediations hold no control characters (the built-in ones). Offsets are
/// those of the decoded text (UTF-16/32 content, a notebook's cells); a notebook's lines are
/// the file's, with the cell noted.
pub fn check_matches(rules: &Ruleset, path: &[u8], content: &[u8], clean: bool) {
    let found = rules.scan(path, content);
    let decoded = secretgate::detect::decode::decode(path, content);
    let mut last: Option<(bool, usize, usize, usize)> = None;
    for m in &found {
        // A notebook's raw JSON is also read, by the distinctive rules (outputs, metadata):
        // such a match has no cell and its offsets are the file's, after the cells' matches.
        let raw = decoded.is_notebook() && m.cell.is_none();
        let text = if raw { content } else { decoded.text() };
        let rule = &rules.rules[m.rule];
        assert_eq!(rules.patterns[m.pattern].rule, m.rule);
        assert!(m.start <= m.end && m.end <= text.len(), "{m:?}");
        assert!(m.span.0 <= m.start && m.end <= m.span.1, "{m:?}");
        assert!(m.span.1 <= text.len());
        let key = (raw, m.start, m.rule, m.end);
        if let Some(l) = last {
            assert!(l < key, "sorted and without duplicates: {l:?} then {key:?}");
        }
        last = Some(key);
        // Line and column: of the value's first byte, or of the match's start when the match
        // begins on an earlier line (a form over several lines is reported where it starts).
        let before = &text[..m.start];
        let value_line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let from = m.span.0.min(m.start);
        let at = if text[from..m.start].contains(&b'\n') {
            from
        } else {
            m.start
        };
        let line = text[..at].iter().filter(|&&b| b == b'\n').count() + 1;
        let col = at
            - text[..at]
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |i| i + 1)
            + 1;
        let (line, cell) = match decoded.place(line).filter(|_| !raw) {
            Some(p) => (p.file_line, Some((p.cell, p.line))),
            None => (line, None),
        };
        assert_eq!((m.line, m.column, m.cell), (line, col, cell), "{m:?}");
        let value_line = decoded
            .place(value_line)
            .map_or(value_line, |p| p.file_line.max(line));
        assert_eq!(m.value_line, value_line, "{m:?}");
        // The value is what the text holds there.
        if rule.kind == secretgate::rules::Kind::Secret {
            assert_eq!(m.value, &text[m.start..m.end]);
        } else {
            assert_eq!(m.value, text[m.span.0..m.span.1].trim());
        }
        assert!(!m.value.trim().is_empty() || rule.kind != secretgate::rules::Kind::Secret);
        // Never on a line that says so.
        let ls = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let le = text[m.start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(text.len(), |i| m.start + i);
        assert!(
            !text[ls..le]
                .windows(secretgate::detect::INLINE_ALLOW.len())
                .any(|w| w == secretgate::detect::INLINE_ALLOW),
            "a finding on a line marked secretgate:allow: {m:?}"
        );
        let f = Finding::new(rules, m, path, &Provenance::File);
        assert!(!has_control(&f.path), "{f:?}");
        assert!(!has_control(&f.secret), "{f:?}");
        assert_eq!(f.fingerprint.len(), 32);
        assert_eq!((f.line, f.column), (m.line, m.column));
        if clean {
            assert!(!has_control(&f.message), "{f:?}");
            assert!(
                !f.remediation.chars().any(|c| c.is_control() && c != '\n'),
                "{f:?}"
            );
        }
        // Redacted: at most a quarter of the value, four characters at most.
        let shown = f.secret.split('…').next().unwrap_or_default();
        let n = String::from_utf8_lossy(&m.value).chars().count();
        assert!(shown.chars().count() <= (n / 4).min(4) * 4, "{f:?}");
        assert!(f.secret.ends_with(&format!("({n} chars)")), "{f:?}");
    }
    let again = rules.scan(path, content);
    assert_eq!(again.len(), found.len(), "the same matches twice");
}

/// The one-pass docstring and enclosing-block helpers give what the plain ones give.
pub fn check_location(text: &[u8]) {
    let ranges = location::python_triple_strings(text);
    let step = (text.len() / 128).max(1);
    for pos in (0..=text.len()).step_by(step).chain([text.len()]) {
        assert_eq!(
            location::in_triple_strings(&ranges, pos),
            location::in_python_triple_string(text, pos),
            "docstring at {pos}"
        );
    }
    let starts: Vec<usize> = std::iter::once(0)
        .chain(
            text.iter()
                .enumerate()
                .filter(|&(_, &b)| b == b'\n')
                .map(|(i, _)| i + 1),
        )
        .filter(|&s| s <= text.len())
        .collect();
    let step = (starts.len() / 64).max(1);
    let mut stack = location::BlockStack::new();
    for &s in starts.iter().step_by(step) {
        assert_eq!(
            stack.headers(text, s),
            location::enclosing_headers(text, s),
            "headers of the line at {s}"
        );
    }
    for &s in starts.iter().rev().step_by(step * 7 + 1) {
        assert_eq!(
            stack.headers(text, s),
            location::enclosing_headers(text, s),
            "headers of the line at {s}, going back"
        );
    }
}
