//! `secretgate scan`: files and folders on disk, no git.
//!
//! A folder given on the command line may hold a `.secretgate.toml` (a project's own allow
//! patterns, as the pre-commit hook and the audit read them). The tree being scanned is not
//! trusted by default, since its own file could silence its scan: the patterns apply only with
//! `--repo-config` (globs relative to that folder, as they are in the repository); without it,
//! stderr says the file was present and ignored.

use std::path::PathBuf;

use super::{load_baseline, load_rules, with_pool, write_verdict_at};
use crate::cli::Config;
use crate::error::Result;
use crate::policy::Exit;
use crate::policy::{sort_findings, Verdict};
use crate::report::Format;
use crate::source::files;
use crate::stats::Unread;

/// What stderr says when the policy (`oversize = "block"`) blocks on files it could not read.
pub fn oversize_message(unread: &[Unread]) -> String {
    let mut out = format!(
        "secretgate: {} not scanned because of {} size, and the policy (oversize = \"block\") blocks what it cannot read:\n",
        if unread.len() == 1 { "1 file".to_owned() } else { format!("{} files", unread.len()) },
        if unread.len() == 1 { "its" } else { "their" },
    );
    for u in unread {
        out.push_str(&format!(
            "    {}  {} bytes (cap {})\n",
            u.path, u.size, u.cap
        ));
    }
    out
}

/// Scans `paths` and writes the report; `repo_config`: apply the allow patterns of a scanned
/// folder's own `.secretgate.toml`.
pub fn run(
    config: &Config,
    paths: &[PathBuf],
    stdin_name: Option<&str>,
    repo_config: bool,
) -> Result<Exit> {
    let mut rules = load_rules(config)?;
    for dir in paths.iter().filter(|p| p.is_dir()) {
        let file = dir.join(crate::source::config::REPO_CONFIG);
        if std::fs::symlink_metadata(&file).is_err() {
            continue;
        }
        let origin = file.display().to_string();
        if !repo_config {
            tracing::warn!(
                "{}: ignored (the scanned tree's own allow patterns apply only with --repo-config)",
                crate::escape::escape(origin.as_bytes())
            );
            continue;
        }
        let Some(found) = crate::source::config::RepoConfig::in_dir(dir)? else {
            continue;
        };
        let allow = found.allowlist().map_err(super::repo_config_error)?;
        rules
            .add_allowlist(allow, &found.origin)
            .map_err(super::repo_config_error)?;
        tracing::info!("allow patterns added from {origin}");
    }
    let baseline = load_baseline(config)?;
    let outcome = with_pool(config, || files::scan_paths(&rules, paths, stdin_name))??;
    let mut findings = outcome.findings;
    sort_findings(&mut findings);
    let verdict = Verdict::new(findings, &rules.policy, baseline.as_ref());
    let skipped = outcome.summary.skipped.clone();
    let unread = outcome.summary.unread.clone();
    write_verdict_at(
        config,
        &verdict,
        &rules,
        outcome.summary,
        outcome.base.as_deref(),
    )?;
    // The human report on stdout lists what was not scanned; any other report is findings
    // only, so it is said on stderr.
    if config.format != Format::Human || config.output.is_some() {
        for s in &skipped {
            tracing::warn!("not scanned: {s}");
        }
    }
    let oversize_blocks = crate::policy::oversize_blocks(&rules.policy, unread.len());
    if oversize_blocks {
        eprint!("{}", oversize_message(&unread));
    }
    // Each unreadable file once, in the binary's one style; the scan went on with the rest.
    for e in &outcome.errors {
        eprintln!(
            "secretgate: error: {}",
            crate::escape::printable(&e.to_string())
        );
    }
    Ok(crate::policy::exit::of_run(
        !outcome.errors.is_empty(),
        verdict.blocks() || oversize_blocks,
    ))
}
