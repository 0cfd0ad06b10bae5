//! `secretgate scan`: files and folders on disk, no git.

use std::path::PathBuf;

use super::{load_baseline, load_rules, with_pool, write_verdict, Exit};
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
    write_verdict(config, &verdict, &rules, outcome.summary)?;
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
