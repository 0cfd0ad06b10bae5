//! secretgate stops secrets and unsafe Flask configuration from entering git repositories.
//!
//! One binary, three jobs (a server pre-receive hook, a pre-commit hook, a full-history audit)
//! and one pipeline:
//!
//! ```text
//!  source ──► blob + provenance ──► detector ──► matches ──► policy ──► verdict ──► report
//!  push        (id, path,            prefilter    (rule,      baseline   block /     pusher message
//!  staged       commit, lines        regex        span,       inline     warn /      human, json,
//!  history      that count)          entropy      value)      bypass     suppressed  jsonl, sarif
//!  files                             allow
//! ```
//!
//! Only [`source`] reads git or the files to scan, [`scan`] drives blobs through the detector,
//! only [`report`] writes findings, [`policy`] makes every decision, and the detector
//! ([`rules::Ruleset::scan`], in [`detect`]) is pure: bytes and a path in, matches out.
//! `docs/ARCHITECTURE.md` follows each mode through these modules.
//!
//! ```
//! let rules = secretgate::rules::builtin().unwrap();
//! let found = rules.scan(b"app.py", b"app.run(debug=True)\n"); // secretgate:allow
//! assert_eq!(rules.rules[found[0].rule].id, "flask-debug");
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod cli;
pub mod cmd;
pub mod detect;
pub mod error;
pub mod escape;
pub mod finding;
pub mod policy;
pub mod redact;
pub mod report;
pub mod rules;
pub mod scan;
pub mod source;
pub mod stats;

pub use error::{Error, Result};
pub use policy::Exit;

use cli::{Command, Config};

/// Runs one command; the error is reported by the caller with its exit code.
pub fn run(config: &Config) -> Result<Exit> {
    if let Some(n) = config.jobs {
        if !(1..=cmd::MAX_JOBS).contains(&n) {
            return Err(Error::Usage(format!(
                "--jobs must be between 1 and {}, not {n}",
                cmd::MAX_JOBS
            )));
        }
    }
    cmd::check_output(config)?;
    match &config.command {
        Command::Scan {
            paths,
            stdin_filename,
            repo_config,
        } => cmd::scan::run(config, paths, stdin_filename.as_deref(), *repo_config),
        Command::RulesList => cmd::rules::list(config),
        Command::RulesCheck { file } => cmd::rules::check(config, file.as_deref()),
        Command::PreReceive => cmd::pre_receive::run(config),
        Command::PreCommit { dir, files } => cmd::pre_commit::run(config, dir.as_deref(), files),
        Command::Audit {
            repo,
            range,
            root: None,
            cache,
            ..
        } => cmd::audit::run(config, repo, &audit_options(range, cache)),
        Command::Audit {
            root: Some(root),
            shard,
            range,
            cache,
            ..
        } => cmd::audit::run_root(config, root, shard.as_deref(), &audit_options(range, cache)),
        Command::Merge { reports } => cmd::merge::run(config, reports),
        Command::InstallPreCommit { dir } => cmd::install::pre_commit(config, dir.as_deref()),
        Command::UninstallPreCommit { dir } => cmd::install::uninstall_pre_commit(dir.as_deref()),
        Command::UninstallPreReceive { repo, flavor } => {
            cmd::install::uninstall_pre_receive(repo, *flavor)
        }
        Command::ConfigShow => cmd::config::show(config),
        Command::Completions { shell } => cmd::docs::completions(*shell),
        Command::Man => cmd::docs::man(),
        Command::InstallPreReceive {
            repo,
            flavor,
            tarball,
        } => match (tarball, repo) {
            (Some(t), _) => cmd::install::gitlab_tarball(config, t, *flavor),
            (None, Some(r)) => cmd::install::pre_receive(config, r, *flavor),
            (None, None) => Err(Error::Usage(
                "install pre-receive needs --repo BARE_REPO (or, for GitLab, --tarball FILE)"
                    .into(),
            )),
        },
    }
}

/// The audit's options, from its command line.
fn audit_options(
    range: &Option<String>,
    cache: &Option<std::path::PathBuf>,
) -> source::history::AuditOptions {
    source::history::AuditOptions {
        range: range.clone(),
        cache: cache.clone(),
    }
}
