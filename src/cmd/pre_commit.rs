//! `secretgate pre-commit`: the staged change, judged before the commit exists.
//!
//! The same judgement as the server's pre-receive hook, one step earlier: findings on the lines
//! the commit adds block it, and the message says what to write instead. Nothing is committed
//! yet, so fixing the file and staging it again is the whole fix. When the hook cannot decide
//! (a broken repository, an unreadable index) it refuses the commit, unless the policy says
//! fail open: a hook that silently let everything through would be worse than none.

use std::path::Path;

use super::hook::{cannot_decide, load_rules_or_say, report_if_asked, say};
use super::{load_baseline, Exit};
use crate::cli::Config;
use crate::error::{Error, Result};
use crate::finding::Finding;
use crate::policy::Verdict;
use crate::report::pusher::{self, Hook, MessageContext};
use crate::rules::syntax::Oversize;
use crate::rules::{parse_repo_allowlist, Ruleset};
use crate::source::staged::{StagedChanges, StagedEnv, StagedRepo, StagedScan};

/// Runs the hook in `dir` (default: the current directory).
pub fn run(config: &Config, dir: Option<&Path>) -> Result<Exit> {
    let ctx_default = MessageContext {
        hook: Hook::PreCommit,
        max_shown: 20,
        gitlab: false,
    };
    let mut rules = load_rules_or_say(config, &ctx_default)?;
    let policy = rules.policy.clone();
    let ctx = MessageContext {
        max_shown: policy.max_findings_shown,
        ..ctx_default
    };
    let baseline = load_baseline(config)?;
    let jobs = match config.jobs {
        Some(0) => return Err(Error::Usage("--jobs must be at least 1".into())),
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, usize::from),
    };

    // On a thread of its own: walking a deeply nested index takes one call per level.
    let scanned = std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("scan".into())
            .stack_size(super::WORKER_STACK)
            .spawn_scoped(s, || -> Result<StagedScan> {
                let repo = StagedRepo::open(dir, &StagedEnv::from_env())?;
                let staged = repo.changes()?;
                add_repo_allowlist(&mut rules, &repo, &staged)?;
                repo.scan(&rules, &staged, jobs)
            })
            .map_err(|e| Error::Repo(format!("cannot start the scan: {e}")))?
            .join()
            .unwrap_or_else(|_| Err(Error::Repo("the scan failed unexpectedly".into())))
    });
    let mut scan = match scanned {
        Ok(s) => s,
        Err(e @ Error::Config { .. }) => {
            say(&pusher::cannot_decide(
                "the repository's .secretgate.toml is invalid",
                false,
                &ctx,
            ));
            return Err(e);
        }
        // A usage mistake (a bare repository) is not the scanner failing: no fail-open.
        Err(e @ Error::Usage(_)) => return Err(e),
        Err(e) => return cannot_decide(e, &policy, &ctx),
    };
    tracing::info!(
        changed = scan.changed,
        blobs = scan.summary.scanned,
        findings = scan.findings.len(),
        "staged change scanned"
    );
    for s in &scan.summary.skipped {
        tracing::info!("not scanned: {s}");
    }
    // Named whatever the policy; blocking when it says `oversize = "block"`.
    let unread = &scan.summary.unread;
    let oversize_blocks = !unread.is_empty() && policy.oversize == Oversize::Block;
    if !unread.is_empty() {
        say(&pusher::unread(unread, oversize_blocks, &ctx));
    }
    if !scan.unmerged.is_empty() {
        tracing::info!(
            "{} path(s) with unresolved conflicts not scanned (they are judged once resolved and staged): {}",
            scan.unmerged.len(),
            scan.unmerged.join(", ")
        );
    }

    let findings = std::mem::take(&mut scan.findings);
    let verdict = Verdict::new(findings, &policy, baseline.as_ref());
    report_if_asked(config, &verdict, &rules, &scan.summary)?;
    let blocking: Vec<&Finding> = verdict.blocking.iter().collect();
    let warnings: Vec<&Finding> = verdict.warnings.iter().collect();
    if !blocking.is_empty() || !warnings.is_empty() {
        say(&pusher::message(&blocking, &warnings, &ctx));
    }
    Ok(if verdict.blocks() || oversize_blocks {
        Exit::Findings
    } else {
        Exit::Clean
    })
}

/// Adds the allow patterns of the repository's own `.secretgate.toml`: on a developer's machine
/// the project may say what is not a secret for it (the server ignores the file unless its admin
/// allows it).
fn add_repo_allowlist(
    rules: &mut Ruleset,
    repo: &StagedRepo,
    staged: &StagedChanges,
) -> Result<()> {
    let Some((text, origin)) = repo.repo_config(staged)? else {
        return Ok(());
    };
    let allow = parse_repo_allowlist(&text, &origin)?;
    rules.add_allowlist(allow, &origin)?;
    tracing::debug!(file = %origin, "repository allow patterns added");
    Ok(())
}
