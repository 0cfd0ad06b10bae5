//! `secretgate rules list` and `rules check`: what is in force, and proof that it works.
//!
//! `check` runs every rule's examples through the full detector (keywords, path globs, allow
//! patterns, entropy), not the bare regex, so an example passes only if the rule would really
//! fire on it in a push.

use std::io::Write;
use std::path::Path;

use super::{open_output, report_io};
use crate::cli::Config;
use crate::detect::Match;
use crate::error::Result;
use crate::policy::Exit;
use crate::redact::redact;
use crate::report::Format;
use crate::rules::{self, Ruleset, Validation};

/// Lists the rules in force.
pub fn list(config: &Config) -> Result<Exit> {
    let rules = super::load_rules(config)?;
    let mut out = open_output(config)?;
    let r = (|| -> std::io::Result<()> {
        match config.format {
            Format::Json | Format::Jsonl | Format::Sarif => {
                let all: Vec<_> = rules
                    .rules
                    .iter()
                    .map(|r| {
                        serde_json::json!({
                            "id": r.id, "kind": r.kind, "severity": r.severity,
                            "description": r.description,
                        })
                    })
                    .collect();
                if config.format == Format::Jsonl {
                    for v in all {
                        writeln!(out, "{v}")?;
                    }
                } else {
                    serde_json::to_writer_pretty(&mut out, &all)?;
                    writeln!(out)?;
                }
            }
            Format::Human => {
                let w = rules.rules.iter().map(|r| r.id.len()).max().unwrap_or(0);
                for r in &rules.rules {
                    writeln!(
                        out,
                        "{:w$}  {:6}  {:6}  {}",
                        r.id,
                        r.kind.as_str(),
                        r.severity.as_str(),
                        r.description
                    )?;
                }
                writeln!(out, "{} rules ({})", rules.rules.len(), rules.origin)?;
            }
        }
        out.flush()
    })();
    report_io(r, config)?;
    Ok(Exit::Clean)
}

/// One failed example.
#[derive(Debug, Clone)]
pub struct ExampleFailure {
    /// The rule.
    pub rule: String,
    /// What went wrong.
    pub message: String,
}

/// The detector's matches on one example: line rules see the file, tree rules a tree of it alone.
fn run_example(rules: &Ruleset, rule: &crate::rules::Rule, path: &str, text: &str) -> Vec<Match> {
    if rule.scope == crate::rules::syntax::Scope::Tree {
        rules
            .scan_tree(&[(path.as_bytes().to_vec(), text.as_bytes().to_vec())])
            .into_iter()
            .map(|(_, m)| m)
            .collect()
    } else {
        rules.scan(path.as_bytes(), text.as_bytes())
    }
}

/// Runs every rule's positive and negative examples through the detector.
pub fn check_examples(rules: &Ruleset) -> (usize, Vec<ExampleFailure>) {
    let mut ran = 0;
    let mut failures = Vec::new();
    for (idx, rule) in rules.rules.iter().enumerate() {
        for (n, ex) in rule.examples.iter().enumerate() {
            ran += 1;
            let found = run_example(rules, rule, &ex.path, &ex.text);
            if !found.iter().any(|m| m.rule == idx) {
                failures.push(ExampleFailure {
                    rule: rule.id.clone(),
                    message: format!(
                        "example {} (at {}) did not produce a finding",
                        n + 1,
                        ex.path
                    ),
                });
            }
        }
        for (n, ex) in rule.negative_examples.iter().enumerate() {
            ran += 1;
            let found = run_example(rules, rule, &ex.path, &ex.text);
            if let Some(m) = found.iter().find(|m| m.rule == idx) {
                failures.push(ExampleFailure {
                    rule: rule.id.clone(),
                    message: format!(
                        "negative example {} (at {}) produced a finding at line {}: {}",
                        n + 1,
                        ex.path,
                        m.line,
                        redact(&m.value)
                    ),
                });
            }
        }
    }
    (ran, failures)
}

/// Validates a rules file (default: `--config` when given, as every other command would use it,
/// else the built-in one), builds every regex and runs the examples.
pub fn check(config: &Config, file: Option<&Path>) -> Result<Exit> {
    let rules = match file.or(config.config.as_deref()) {
        Some(p) => rules::load_file(p)?,
        None => {
            let parsed = rules::parse_builtin()?;
            rules::compile::compile(parsed, rules::BUILTIN_ORIGIN, Validation::Full)?
        }
    };
    let (ran, failures) = check_examples(&rules);
    let mut out = open_output(config)?;
    let r = (|| -> std::io::Result<()> {
        for f in &failures {
            writeln!(out, "FAIL rule {}: {}", f.rule, f.message)?;
        }
        writeln!(
            out,
            "{}: {} rules, {} examples run, {} failed",
            rules.origin,
            rules.rules.len(),
            ran,
            failures.len()
        )?;
        out.flush()
    })();
    report_io(r, config)?;
    Ok(crate::policy::exit::of_run(false, !failures.is_empty()))
}
