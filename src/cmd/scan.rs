//! `secretgate scan`: files and folders on disk, no git.

use std::path::PathBuf;

use super::{load_baseline, load_rules, open_output, report_io, style, with_pool, Exit};
use crate::cli::Config;
use crate::error::Result;
use crate::policy::{sort_findings, Verdict};
use crate::source::files;

/// Scans `paths` and writes the report.
pub fn run(config: &Config, paths: &[PathBuf], stdin_name: Option<&str>) -> Result<Exit> {
    let rules = load_rules(config)?;
    let baseline = load_baseline(config)?;
    let outcome = with_pool(config, || files::scan_paths(&rules, paths, stdin_name))??;
    let mut findings = outcome.findings;
    sort_findings(&mut findings);
    let verdict = Verdict::new(findings, &rules.policy, baseline.as_ref());
    let mut summary = outcome.summary;
    summary.blocking = verdict.blocking.len();
    summary.warnings = verdict.warnings.len();
    summary.baselined = verdict.baselined;
    let mut out = open_output(config)?;
    let r = crate::report::write(
        config.format,
        &mut out,
        &verdict.all(),
        &rules,
        &summary,
        style(config),
    )
    .and_then(|()| out.flush());
    report_io(r, config)?;
    for e in &outcome.errors {
        tracing::error!("{e}");
    }
    Ok(if !outcome.errors.is_empty() {
        Exit::Io
    } else if verdict.blocks() {
        Exit::Findings
    } else {
        Exit::Clean
    })
}
