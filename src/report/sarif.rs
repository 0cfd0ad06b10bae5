//! SARIF 2.1.0, in the shape GitHub and GitLab code scanning accept: the rules that fired, each
//! with its help text and a `security-severity`, results with a location relative to
//! `%SRCROOT%` (named in `originalUriBaseIds` when the folder is known) and
//! `partialFingerprints`.

use std::io::{self, Write};
use std::path::Path;

use serde_json::{json, Value};

use super::Sink;
use crate::finding::Finding;
use crate::rules::{Rule, Ruleset, Severity};
use crate::stats::Stats;

fn level(s: Severity) -> &'static str {
    match s {
        Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low => "note",
    }
}

fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::High => "8.0",
        Severity::Medium => "5.0",
        Severity::Low => "2.0",
    }
}

/// Percent-encodes a `/`-separated path for an artifact URI.
fn uri(path: &str) -> String {
    let mut out = String::new();
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Where users learn about the tool (`tool.driver.informationUri`): the package's repository
/// when Cargo.toml names one, else its page on crates.io.
const INFORMATION_URI: &str = match option_env!("CARGO_PKG_REPOSITORY") {
    Some(u) if !u.is_empty() => u,
    _ => "https://crates.io/crates/secretgate",
};

/// The `file://` URI of an absolute folder, ending with `/` as SARIF requires of a base.
fn folder_uri(dir: &Path) -> Option<String> {
    let s = dir.to_str()?;
    if !s.starts_with('/') {
        return None;
    }
    let mut u = format!("file://{}", uri(s));
    if !u.ends_with('/') {
        u.push('/');
    }
    Some(u)
}

/// The SARIF log of a run: written whole at the end, since its rules are those that fired.
pub struct Sarif<'a> {
    out: &'a mut dyn Write,
    rules: &'a Ruleset,
    base: Option<&'a Path>,
    findings: Vec<&'a Finding>,
}

impl<'a> Sarif<'a> {
    /// A SARIF report to `out`, with the descriptors of `rules` and the folder `base` the
    /// findings' paths are relative to, when known.
    pub fn new(out: &'a mut dyn Write, rules: &'a Ruleset, base: Option<&'a Path>) -> Self {
        Sarif {
            out,
            rules,
            base,
            findings: Vec::new(),
        }
    }
}

impl<'a> Sink<'a> for Sarif<'a> {
    fn finding(&mut self, f: &'a Finding) -> io::Result<()> {
        self.findings.push(f);
        Ok(())
    }

    /// Writes the log. What was not scanned (`stats.skipped`: too large, not a regular file)
    /// is one `toolExecutionNotifications` entry each in the run's invocation, so a
    /// code-scanning service shows that the scan was incomplete instead of a clean result.
    fn finish(&mut self, stats: &Stats) -> io::Result<()> {
        let log = log(&self.findings, self.rules, &stats.skipped, self.base);
        serde_json::to_writer_pretty(&mut *self.out, &log)?;
        writeln!(self.out)
    }
}

/// The log: the rules that fired, the results, what was not scanned.
fn log(findings: &[&Finding], rules: &Ruleset, skipped: &[String], base: Option<&Path>) -> Value {
    // Only the rules that fired: the log stays the size of what it reports.
    let fired: Vec<&Rule> = rules
        .rules
        .iter()
        .filter(|r| findings.iter().any(|f| f.rule_id == r.id))
        .collect();
    let descriptors: Vec<Value> = fired.iter().map(|r| descriptor(r)).collect();
    let results: Vec<Value> = findings.iter().map(|f| result(f, &fired)).collect();
    let mut log = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "secretgate",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": INFORMATION_URI,
                "rules": descriptors,
            }},
            "results": results,
            "invocations": [{
                "executionSuccessful": true,
                "toolExecutionNotifications": skipped.iter().map(|s| json!({
                    "level": "warning",
                    "descriptor": { "id": "not-scanned" },
                    "message": { "text": format!("not scanned: {s}") },
                })).collect::<Vec<Value>>(),
            }],
        }],
    });
    if let Some(u) = base.and_then(folder_uri) {
        log["runs"][0]["originalUriBaseIds"] = json!({ "%SRCROOT%": { "uri": u } });
    }
    log
}

/// A rule's `reportingDescriptor`: its description, help text with references, level and
/// `security-severity`.
fn descriptor(r: &Rule) -> Value {
    let mut help = format!("{}\n\n{}", r.description, r.remediation);
    if !r.references.is_empty() {
        help.push_str("\n\nReferences:\n");
        for u in &r.references {
            help.push_str(&format!("- {u}\n"));
        }
    }
    json!({
        "id": r.id,
        "name": r.id,
        "shortDescription": { "text": r.description },
        "fullDescription": { "text": r.description },
        "help": { "text": help, "markdown": help },
        "defaultConfiguration": { "level": level(r.severity) },
        "properties": {
            "tags": ["security", r.kind.as_str()],
            "security-severity": security_severity(r.severity),
        },
    })
}

/// A finding's `result`: where, which rule (its index among those that `fired`), the message
/// and the finding's provenance as properties.
fn result(f: &Finding, fired: &[&Rule]) -> Value {
    let index = fired.iter().position(|r| r.id == f.rule_id);
    let mut props = serde_json::Map::new();
    props.insert("severity".into(), json!(f.severity.as_str()));
    props.insert("kind".into(), json!(f.kind.as_str()));
    props.insert("secret".into(), json!(f.secret));
    if let Some(r) = &f.repository {
        props.insert("repository".into(), json!(r));
    }
    if f.shallow_boundary {
        props.insert("shallow_boundary".into(), json!(true));
    }
    for (k, v) in [
        ("commit", &f.commit),
        ("author", &f.author),
        ("date", &f.date),
        ("ref", &f.refname),
    ] {
        if let Some(v) = v {
            props.insert(k.into(), json!(v));
        }
    }
    let mut result = json!({
        "ruleId": f.rule_id,
        "level": level(f.severity),
        "message": { "text": format!("{} [{}]. {}", f.message, f.secret, f.remediation) },
        "locations": [{
            "physicalLocation": {
                "artifactLocation": { "uri": uri(&f.path), "uriBaseId": "%SRCROOT%" },
                "region": { "startLine": f.line, "startColumn": f.column },
            }
        }],
        "partialFingerprints": { "secretgate/v1": f.fingerprint },
        "properties": props,
    });
    if let Some(i) = index {
        result["ruleIndex"] = json!(i);
    }
    result
}
