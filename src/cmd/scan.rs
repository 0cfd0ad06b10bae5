//! `secretgate scan`: files and folders on disk, no git.
//!
//! A folder given on the command line that holds a `.secretgate.toml` (a project's own allow
//! patterns, as the pre-commit hook and the audit read them) has those patterns applied, with
//! its globs relative to that folder, as they are in the repository.

use std::path::PathBuf;

use super::{load_baseline, load_rules, with_pool, write_verdict, Exit};
use crate::cli::Config;
use crate::error::{Error, Result};
use crate::policy::{sort_findings, Verdict};
use crate::source::files;

/// Scans `paths` and writes the report.
pub fn run(config: &Config, paths: &[PathBuf], stdin_name: Option<&str>) -> Result<Exit> {
    let mut rules = load_rules(config)?;
    for dir in paths.iter().filter(|p| p.is_dir()) {
        let file = dir.join(crate::source::staged::REPO_CONFIG);
        if !file.is_file() {
            continue;
        }
        let origin = file.display().to_string();
        let text = std::fs::read_to_string(&file).map_err(|e| Error::Io {
            path: file.clone(),
            source: e,
        })?;
        let allow = crate::rules::parse_repo_allowlist(&text, &origin)?;
        rules.add_allowlist(allow, &origin)?;
        tracing::info!("allow patterns added from {origin}");
    }
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
