//! `secretgate pre-commit`: the staged change, judged before the commit exists.
//!
//! The same judgement as the server's pre-receive hook, one step earlier: findings on the lines
//! the commit adds block it, and the message says what to write instead. Nothing is committed
//! yet, so fixing the file and staging it again is the whole fix. When the hook cannot decide
//! (a broken repository, an unreadable index) it refuses the commit, unless the policy says
//! fail open: a hook that silently let everything through would be worse than none.
//!
//! The pre-commit framework (<https://pre-commit.com>) runs the same command in modes where
//! nothing is being committed: `pre-commit run --all-files` and `--files F...` pass the files
//! to check, and `--from-ref A --to-ref B` (CI, pre-push) sets `PRE_COMMIT_FROM_REF` and
//! `PRE_COMMIT_TO_REF` (`PRE_COMMIT_ORIGIN` and `PRE_COMMIT_SOURCE` before pre-commit 2.0).
//! Judging the (empty) staged change there would print Passed on committed secrets, so those
//! modes judge the committed content: the files given, whole, or the lines the range adds.
//! While git is committing (it sets `GIT_INDEX_FILE` for the hook), the staged added lines are
//! judged whatever the arguments.

use std::path::{Path, PathBuf};

use super::hook::{cannot_decide, load_rules_or_say, report_if_asked};
use super::Stream::Stderr;
use super::{load_baseline, say};
use crate::cli::Config;
use crate::error::{Error, Result};
use crate::finding::Finding;
use crate::policy::{Exit, Policy, Verdict};
use crate::report::pusher::{self, Hook, MessageContext};
use crate::rules::Ruleset;
use crate::source::files::{scan_roots, Root};
use crate::source::staged::{StagedChanges, StagedEnv, StagedRepo, StagedScan};

/// What the hook judges.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Mode {
    /// The staged added lines (a commit, or no file and no range given).
    Staged,
    /// The lines `git diff FROM...TO` adds.
    Range { from: String, to: String },
    /// The files given, whole, as they are in the work tree.
    Files(Vec<PathBuf>),
}

/// Decides the mode from the environment the framework and git set, and the files given.
fn mode(env: &StagedEnv, var: impl Fn(&str) -> Option<String>, files: &[PathBuf]) -> Mode {
    if env.index_file.is_some() {
        return Mode::Staged;
    }
    let range = |a: &str, b: &str| var(a).zip(var(b));
    if let Some((from, to)) = range("PRE_COMMIT_FROM_REF", "PRE_COMMIT_TO_REF")
        .or_else(|| range("PRE_COMMIT_ORIGIN", "PRE_COMMIT_SOURCE"))
    {
        return Mode::Range { from, to };
    }
    if files.is_empty() {
        Mode::Staged
    } else {
        Mode::Files(files.to_vec())
    }
}

/// A non-empty environment variable.
fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Runs the hook in `dir` (default: the current directory) on the staged change, or on the
/// committed content the pre-commit framework asks about (see the module's documentation).
pub fn run(config: &Config, dir: Option<&Path>, files: &[PathBuf]) -> Result<Exit> {
    let env = StagedEnv::from_env();
    let mode = mode(&env, env_var, files);
    let ctx_default = MessageContext {
        hook: if mode == Mode::Staged {
            Hook::PreCommit
        } else {
            Hook::Committed
        },
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
    let mut scan = match scan_on_thread(config, &mut rules, &env, &mode, dir, jobs) {
        Ok(s) => s,
        Err(e @ Error::Config { .. }) => {
            say(
                Stderr,
                &format!(
                    "secretgate: {} because the project's own .secretgate.toml is invalid (the \
                     error below says where); fix that file.\n",
                    if mode == Mode::Staged {
                        "commit rejected"
                    } else {
                        "check failed"
                    }
                ),
            );
            return Err(e);
        }
        // A usage mistake (a bare repository) is not the scanner failing: no fail-open.
        Err(e @ Error::Usage(_)) => return Err(e),
        Err(e) => return cannot_decide(e, &policy, &ctx),
    };
    let oversize_blocks = tell_unscanned(&scan, &policy, &ctx);
    let findings = std::mem::take(&mut scan.findings);
    let verdict = Verdict::new(findings, &policy, baseline.as_ref());
    report_if_asked(config, &verdict, &rules, &scan.summary)?;
    let blocking: Vec<&Finding> = verdict.blocking.iter().collect();
    let warnings: Vec<&Finding> = verdict.warnings.iter().collect();
    if !blocking.is_empty() || !warnings.is_empty() {
        say(Stderr, &pusher::message(&blocking, &warnings, &ctx));
    }
    Ok(verdict.hook_exit(oversize_blocks))
}

/// Scans what the mode judges, with the project's own allow patterns, on a thread of its own:
/// walking a deeply nested index takes one call per level.
fn scan_on_thread(
    config: &Config,
    rules: &mut Ruleset,
    env: &StagedEnv,
    mode: &Mode,
    dir: Option<&Path>,
    jobs: usize,
) -> Result<StagedScan> {
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("scan".into())
            .stack_size(super::WORKER_STACK)
            .spawn_scoped(s, || -> Result<StagedScan> {
                let repo = StagedRepo::open(dir, env)?;
                match mode {
                    Mode::Staged => {
                        let staged = repo.changes()?;
                        add_repo_allowlist(rules, &repo, &staged)?;
                        repo.scan(rules, &staged, jobs)
                    }
                    Mode::Range { from, to } => {
                        tracing::info!(from, to, "judging the lines the range adds");
                        let changes = repo.range_changes(from, to)?;
                        add_repo_allowlist(rules, &repo, &changes)?;
                        repo.scan(rules, &changes, jobs)
                    }
                    Mode::Files(files) => {
                        add_repo_allowlist(rules, &repo, &StagedChanges::default())?;
                        scan_files(rules, &repo, dir, files, config)
                    }
                }
            })
            .map_err(|e| Error::repo("cannot start the scan", e))?
            .join()
            .unwrap_or_else(|_| Err(Error::repo_msg("the scan failed unexpectedly")))
    })
}

/// Logs what was scanned and what was not, and names the blobs left unread whatever the
/// policy; returns whether they block (`oversize = "block"`).
fn tell_unscanned(scan: &StagedScan, policy: &Policy, ctx: &MessageContext) -> bool {
    tracing::info!(
        changed = scan.changed,
        blobs = scan.summary.scanned,
        findings = scan.findings.len(),
        "staged change scanned"
    );
    for s in &scan.summary.skipped {
        tracing::info!("not scanned: {s}");
    }
    let unread = &scan.summary.unread;
    let oversize_blocks = crate::policy::oversize_blocks(policy, unread.len());
    if !unread.is_empty() {
        say(Stderr, &pusher::unread(unread, oversize_blocks, ctx));
    }
    if !scan.unmerged.is_empty() {
        tracing::info!(
            "{} path(s) with unresolved conflicts not scanned (they are judged once resolved and staged): {}",
            scan.unmerged.len(),
            scan.unmerged.join(", ")
        );
    }
    oversize_blocks
}

/// Adds the allow patterns of the repository's own `.secretgate.toml`: on a developer's machine
/// the project may say what is not a secret for it (the server ignores the file unless its admin
/// allows it).
fn add_repo_allowlist(
    rules: &mut Ruleset,
    repo: &StagedRepo,
    staged: &StagedChanges,
) -> Result<()> {
    let Some(config) = repo.repo_config(staged)? else {
        return Ok(());
    };
    let allow = config.allowlist().map_err(super::repo_config_error)?;
    rules
        .add_allowlist(allow, &config.origin)
        .map_err(super::repo_config_error)?;
    tracing::debug!(file = %config.origin, "repository allow patterns added");
    Ok(())
}

/// Judges the files given, whole, as they are on disk; each is reported (and seen by the
/// rules) by its path from the top of the work tree, as the repository names it.
fn scan_files(
    rules: &Ruleset,
    repo: &StagedRepo,
    dir: Option<&Path>,
    files: &[PathBuf],
    config: &Config,
) -> Result<StagedScan> {
    let cwd = std::env::current_dir().map_err(|e| Error::Io {
        path: ".".into(),
        source: e,
    })?;
    let base = dir.map_or_else(|| cwd.clone(), |d| cwd.join(d));
    let top = repo.work_tree().and_then(|t| t.canonicalize().ok());
    let roots: Vec<Root> = files
        .iter()
        .map(|f| {
            let fs_path = base.join(f);
            let shown = top
                .as_deref()
                .and_then(|t| crate::source::files::relative_to(&fs_path, t))
                .unwrap_or_else(|| Root::as_typed(f).shown);
            Root {
                fs_path,
                shown,
                base: top.clone(),
            }
        })
        .collect();
    let mut outcome = super::with_pool(config, || scan_roots(rules, &roots))?;
    if let Some(e) = outcome.errors.drain(..).next() {
        return Err(e);
    }
    crate::policy::sort_findings(&mut outcome.findings);
    Ok(StagedScan {
        findings: outcome.findings,
        changed: files.len(),
        unmerged: Vec::new(),
        summary: outcome.summary,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn the_mode_follows_what_git_and_the_framework_set() {
        let files = [PathBuf::from("a.py")];
        let none = StagedEnv::default();
        let committing = StagedEnv {
            index_file: Some(".git/index".into()),
            ..StagedEnv::default()
        };
        assert_eq!(mode(&none, vars(&[]), &[]), Mode::Staged);
        assert_eq!(mode(&none, vars(&[]), &files), Mode::Files(files.to_vec()));
        // While git commits, the staged change is judged whatever the framework passes.
        assert_eq!(mode(&committing, vars(&[]), &files), Mode::Staged);
        let range = Mode::Range {
            from: "A".into(),
            to: "B".into(),
        };
        let new = [("PRE_COMMIT_FROM_REF", "A"), ("PRE_COMMIT_TO_REF", "B")];
        assert_eq!(mode(&none, vars(&new), &files), range);
        let old = [("PRE_COMMIT_ORIGIN", "A"), ("PRE_COMMIT_SOURCE", "B")];
        assert_eq!(mode(&none, vars(&old), &[]), range);
        assert_eq!(
            mode(&none, vars(&[("PRE_COMMIT_FROM_REF", "A")]), &[]),
            Mode::Staged
        );
    }
}
