//! `secretgate audit`: every blob reachable from every ref, scanned once, each finding
//! attributed to the commit and path where it came in.
//!
//! The repository's own `.secretgate.toml` may add allow patterns here (the audit is run by
//! the people who own the repository); corrupt or missing objects are reported and the audit
//! goes on, ending with exit 3.

use std::io::{IsTerminal, Write};
use std::path::Path;

use super::{load_baseline, load_rules, open_output, report_io, style, with_pool, Exit};
use crate::cli::Config;
use crate::error::Result;
use crate::policy::{sort_findings, Verdict};
use crate::report::{Format, Summary};
use crate::source::history::{AuditOptions, HistoryRepo};

/// Audits the repository at `repo`, optionally only `git rev-list RANGE`.
pub fn run(config: &Config, repo: &Path, range: Option<&str>) -> Result<Exit> {
    let mut rules = load_rules(config)?;
    let baseline = load_baseline(config)?;
    let history = HistoryRepo::open(repo)?;
    if let Some((origin, text)) = history.repo_config()? {
        let allow = crate::rules::parse_repo_allowlist(&text, &origin)?;
        rules.add_allowlist(allow, &origin)?;
        tracing::info!("allow patterns added from {origin}");
    }
    let opts = AuditOptions {
        range: range.map(str::to_owned),
        progress: config.verbosity >= 0 && std::io::stderr().is_terminal(),
    };
    let started = std::time::Instant::now();
    let outcome = with_pool(config, || history.audit(&rules, &opts))??;
    tracing::info!(
        commits = outcome.summary.commits,
        blobs = outcome.summary.blobs,
        bytes = outcome.summary.bytes,
        findings = outcome.findings.len(),
        seconds = started.elapsed().as_secs_f64(),
        "history audited"
    );
    let has_errors = outcome.has_errors();
    let mut findings = outcome.findings;
    if range.is_none() {
        findings.extend(crate::source::tip::tree_findings(repo, &rules)?);
    }
    sort_findings(&mut findings);
    let verdict = Verdict::new(findings, &rules.policy, baseline.as_ref());
    let mut summary = outcome.summary;
    summary.blocking = verdict.blocking.len();
    summary.warnings = verdict.warnings.len();
    summary.baselined = verdict.baselined;

    let mut out = open_output(config)?;
    let all = verdict.all();
    let r = match config.format {
        Format::Human => crate::report::human::write_audit(&mut out, &all, &summary, style(config)),
        format => {
            let plain = Summary {
                blocking: summary.blocking,
                warnings: summary.warnings,
                baselined: summary.baselined,
                scanned: summary.scanned,
                bytes: summary.bytes,
                skipped: summary.over_cap.clone(),
                binary: summary.binary,
                unread: Vec::new(),
            };
            crate::report::write(format, &mut out, &all, &rules, &plain, style(config))
        }
    }
    .and_then(|()| out.flush());
    report_io(r, config)?;

    // The human report lists blobs over the cap; the other formats are findings only.
    if config.format != Format::Human || config.output.is_some() {
        for s in &summary.over_cap {
            tracing::warn!("not scanned: {s}");
        }
    }
    if !summary.not_fetched.is_empty() {
        tracing::warn!(
            "{} objects were never fetched by this partial clone and were not scanned",
            summary.not_fetched.len()
        );
    }
    for e in &summary.errors {
        tracing::error!("{e}");
    }
    Ok(if has_errors {
        Exit::Io
    } else if verdict.blocks() {
        Exit::Findings
    } else {
        Exit::Clean
    })
}
