//! `secretgate merge REPORT...`: joins the reports of several runs (the shards of an
//! organisation-wide audit, say) into one, each finding once.
//!
//! A finding is the same finding when its repository and fingerprint are: the fingerprint
//! already holds the rule, the path and the value. JSON and JSON-lines reports are read back as
//! findings and written in any format; SARIF reports are joined as SARIF (their results keep
//! everything the tools that read SARIF use), so they cannot be mixed with the others.

use std::collections::HashSet;
use std::io::Write;
use std::path::PathBuf;

use serde_json::{json, Value};

use super::{load_rules, open_output, report_io, style};
use crate::cli::Config;
use crate::error::{Error, Result};
use crate::finding::Finding;
use crate::policy::Exit;
use crate::policy::{sort_findings, Verdict};
use crate::report::Format;
use crate::stats::Stats;

/// Largest report read (a report of every finding of a large organisation stays far below).
const MAX_REPORT: u64 = 1 << 30;

/// What one report holds.
enum Report {
    Findings(Vec<Finding>),
    Sarif(Value),
}

fn not_a_report(path: &std::path::Path, why: impl std::fmt::Display) -> Error {
    Error::Usage(format!(
        "{}: not a secretgate report (json, jsonl or sarif): {why}",
        path.display()
    ))
}

fn read(path: &std::path::Path) -> Result<Report> {
    let meta = std::fs::metadata(path).map_err(|e| Error::Io {
        path: path.to_owned(),
        source: e,
    })?;
    if !meta.is_file() {
        return Err(not_a_report(path, "not a regular file"));
    }
    if meta.len() > MAX_REPORT {
        return Err(not_a_report(path, "larger than 1 GiB"));
    }
    let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
        path: path.to_owned(),
        source: e,
    })?;
    let trimmed = text.trim_start();
    if trimmed.starts_with('[') {
        return serde_json::from_str::<Vec<Finding>>(trimmed)
            .map(Report::Findings)
            .map_err(|e| not_a_report(path, e));
    }
    if let Ok(v) = serde_json::from_str::<Value>(trimmed) {
        if v.get("runs").is_some_and(Value::is_array) {
            return Ok(Report::Sarif(v));
        }
    }
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let f: Finding = serde_json::from_str(line)
            .map_err(|e| not_a_report(path, format!("line {}: {e}", n + 1)))?;
        out.push(f);
    }
    Ok(Report::Findings(out))
}

/// Joins SARIF logs: one run, the rules of every input once, each result once.
fn merge_sarif(logs: Vec<Value>) -> Value {
    let mut rules: Vec<Value> = Vec::new();
    let mut results: Vec<Value> = Vec::new();
    let mut notifications: Vec<Value> = Vec::new();
    let mut seen: HashSet<(String, String)> = HashSet::new();
    let mut base: Option<Value> = None;
    for log in logs {
        for run in log["runs"].as_array().cloned().unwrap_or_default() {
            for r in run["tool"]["driver"]["rules"]
                .as_array()
                .cloned()
                .unwrap_or_default()
            {
                if !rules.iter().any(|x| x["id"] == r["id"]) {
                    rules.push(r);
                }
            }
            for inv in run["invocations"].as_array().cloned().unwrap_or_default() {
                notifications.extend(
                    inv["toolExecutionNotifications"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default(),
                );
            }
            for mut res in run["results"].as_array().cloned().unwrap_or_default() {
                let key = (
                    res["properties"]["repository"]
                        .as_str()
                        .unwrap_or("")
                        .to_owned(),
                    res["partialFingerprints"]["secretgate/v1"]
                        .as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| res.to_string()),
                );
                if !seen.insert(key) {
                    continue;
                }
                if let Some(obj) = res.as_object_mut() {
                    obj.remove("ruleIndex");
                }
                results.push(res);
            }
            if base.is_none() {
                base = Some(run);
            }
        }
    }
    for res in &mut results {
        if let Some(i) = rules.iter().position(|r| r["id"] == res["ruleId"]) {
            res["ruleIndex"] = json!(i);
        }
    }
    let mut run = base.unwrap_or_else(|| json!({ "tool": { "driver": { "name": "secretgate" } } }));
    run["tool"]["driver"]["rules"] = json!(rules);
    run["results"] = json!(results);
    run["invocations"] = json!([{
        "executionSuccessful": true,
        "toolExecutionNotifications": notifications,
    }]);
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [run],
    })
}

/// Runs `merge`.
pub fn run(config: &Config, reports: &[PathBuf]) -> Result<Exit> {
    let rules = load_rules(config)?;
    let mut findings = Vec::new();
    let mut sarif = Vec::new();
    for p in reports {
        match read(p)? {
            Report::Findings(f) => findings.extend(f),
            Report::Sarif(v) => sarif.push(v),
        }
    }
    if !sarif.is_empty() {
        if !findings.is_empty() {
            return Err(Error::Usage(
                "merge: SARIF reports join only with SARIF reports (write every shard in one format)"
                    .into(),
            ));
        }
        if config.format != Format::Sarif {
            return Err(Error::Usage(
                "merge: SARIF reports are joined as SARIF: add --format sarif".into(),
            ));
        }
        let merged = merge_sarif(sarif);
        let blocks = merged["runs"][0]["results"]
            .as_array()
            .is_some_and(|r| r.iter().any(|x| x["level"] == "error"));
        let mut out = open_output(config)?;
        let r = serde_json::to_writer_pretty(&mut out, &merged)
            .map_err(std::io::Error::other)
            .and_then(|()| writeln!(out))
            .and_then(|()| out.flush());
        report_io(r, config)?;
        return Ok(crate::policy::exit::of_run(false, blocks));
    }
    let mut seen: HashSet<(Option<String>, String)> = HashSet::new();
    findings.retain(|f| seen.insert((f.repository.clone(), f.fingerprint.clone())));
    findings.sort_by(|a, b| a.repository.cmp(&b.repository));
    let mut grouped: Vec<Finding> = Vec::with_capacity(findings.len());
    let mut start = 0;
    for i in 1..=findings.len() {
        if i == findings.len() || findings[i].repository != findings[start].repository {
            let mut part = findings[start..i].to_vec();
            sort_findings(&mut part);
            grouped.extend(part);
            start = i;
        }
    }
    let verdict = Verdict::new(grouped, &rules.policy, None);
    let all = verdict.all();
    let summary = Stats {
        blocking: verdict.blocking.len(),
        warnings: verdict.warnings.len(),
        ..Stats::default()
    };
    let mut out = open_output(config)?;
    let r = crate::report::write(
        config.format,
        &mut out,
        &all,
        &rules,
        &summary,
        style(config),
    )
    .and_then(|()| out.flush());
    report_io(r, config)?;
    Ok(crate::policy::exit::of_run(false, verdict.blocks()))
}
