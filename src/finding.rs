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

/// Where a blob came from, as far as reports care.
#[derive(Debug, Clone, Default)]
pub struct Provenance {
    /// The commit that introduced it (history and push).
    pub commit: Option<String>,
    /// That commit's author, `Name <email>`.
    pub author: Option<String>,
    /// That commit's date, RFC 3339.
    pub date: Option<String>,
    /// The ref being updated (push).
    pub refname: Option<String>,
    /// That commit's subject line (push messages).
    pub subject: Option<String>,
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
}

/// Escapes a path (or any text from the repository) for output: control characters and bytes
/// that are not UTF-8 become `\xNN`, so nothing a pusher names a file can drive a terminal.
pub fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_control() {
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

/// A short, escaped excerpt of the matched code, for messages about settings (never secrets).
pub fn excerpt(bytes: &[u8]) -> String {
    let text = bytes.trim();
    let cut = &text[..text.len().min(80)];
    let mut s = escape(cut);
    if text.len() > 80 {
        s.push('…');
    }
    s
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
            commit: prov.commit.clone(),
            author: prov.author.clone(),
            date: prov.date.clone(),
            refname: prov.refname.clone(),
            secret: redact(&m.value),
            entropy: m.entropy.map(|e| (e * 1000.0).round() / 1000.0),
            fingerprint: fingerprint(&rule.id, path, &m.value),
            message,
            remediation,
            commit_subject: prov.subject.clone(),
            present_at_head: None,
            occurrences: None,
            first_commit: None,
            last_commit: None,
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
    fn escapes_control_and_invalid_bytes() {
        assert_eq!(escape(b"a/b\xff\n.py"), "a/b\\xff\\x0a.py");
        assert_eq!(escape("é.py".as_bytes()), "é.py");
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
