//! A finding: a match with its place in the repository, redacted and fingerprinted.
//!
//! This is the JSON finding of the contract. It never holds the unredacted value: the `secret`
//! field is the value as [`crate::redact`] shows it (at most a quarter of it, four characters
//! at most, and its length) and the value itself is only hashed into the fingerprint, so no
//! output format, log line or baseline can carry it. Text taken from the repository (the path,
//! a setting's name) is escaped by [`crate::escape`].

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::detect::Match;
use crate::escape::escape;
use crate::redact::redact;
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
    fn a_notebook_finding_names_its_cell_and_line() {
        let rules = crate::rules::builtin().unwrap();
        let key = "5d0c9e27a4b1f38c6e2d7a90b4c1e8f3";
        let notebook = format!(
            r##"{{
 "cells": [
  {{
   "cell_type": "markdown",
   "metadata": {{}},
   "source": ["# Setup\n"]
  }},
  {{
   "cell_type": "code",
   "metadata": {{}},
   "source": [
    "from flask import Flask\n",
    "app = Flask(__name__)\n",
    "app.config[\"SECRET_KEY\"] = \"{key}\"\n"
   ]
  }}
 ],
 "metadata": {{}},
 "nbformat": 4,
 "nbformat_minor": 5
}}
"##
        );
        let found = rules.scan(b"nb/analysis.ipynb", notebook.as_bytes());
        let m = found
            .iter()
            .find(|m| rules.rules[m.rule].id == "flask-secret-key")
            .expect("the key is found");
        assert_eq!(m.cell, Some((2, 3)));
        let f = Finding::new(&rules, m, b"nb/analysis.ipynb", &Provenance::File);
        assert!(
            f.message.ends_with(" (notebook cell 2, line 3)"),
            "{}",
            f.message
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
