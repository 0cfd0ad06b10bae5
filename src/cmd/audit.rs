//! `secretgate audit`: every blob reachable from every ref, scanned once, each finding
//! attributed to the commit and path where it came in.
//!
//! The repository's own `.secretgate.toml` may add allow patterns here (the audit is run by
//! the people who own the repository); corrupt or missing objects are reported and the audit
//! goes on, ending with exit 3.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use super::{load_baseline, load_rules, open_output, report_io, style, with_pool};
use crate::cli::Config;
use crate::error::Result;
use crate::finding::Finding;
use crate::policy::Exit;
use crate::policy::{sort_findings, Verdict};
use crate::report::Format;
use crate::source::history::{AuditOptions, HistoryRepo};
use crate::stats::Stats;

/// What auditing one repository gave.
struct Audited {
    findings: Vec<Finding>,
    summary: Stats,
    has_errors: bool,
}

/// Where one repository's audit runs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pool {
    /// A pool of its own with every worker thread (`--jobs`), and a progress bar on a terminal.
    Own,
    /// The pool the caller runs in, beside other repositories' audits, without a progress bar.
    Shared,
}

/// Audits one repository with the rules in force (`base`) and the repository's own allow
/// patterns (with those, the rules are loaded again for it alone).
fn audit_one(
    config: &Config,
    base: &crate::rules::Ruleset,
    repo: &Path,
    opts: &AuditOptions,
    pool: Pool,
) -> Result<Audited> {
    let history = HistoryRepo::open(repo)?;
    let own;
    let rules = match history.repo_config()? {
        Some(found) => {
            let mut rules = load_rules(config)?;
            let origin = found.origin.clone();
            rules.add_allowlist(found.allowlist()?, &origin)?;
            tracing::info!("allow patterns added from {origin}");
            own = rules;
            &own
        }
        None => base,
    };
    let range = opts.range.as_deref();
    let started = std::time::Instant::now();
    let outcome = match pool {
        Pool::Own => {
            let show_progress = config.verbosity >= 0 && std::io::stderr().is_terminal();
            with_pool(config, || {
                history.audit(rules, opts, &super::progress::Bar::new(show_progress))
            })??
        }
        Pool::Shared => history.audit(rules, opts, &super::progress::Bar::new(false))?,
    };
    tracing::info!(
        repository = %repo.display(),
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
        findings.extend(crate::source::tip::tree_findings(repo, rules)?);
    }
    Ok(Audited {
        findings,
        summary: outcome.summary,
        has_errors,
    })
}

/// Audits the repository at `repo`, optionally only `git rev-list RANGE`.
pub fn run(config: &Config, repo: &Path, opts: &AuditOptions) -> Result<Exit> {
    let rules = load_rules(config)?;
    let baseline = load_baseline(config)?;
    check_output(config)?;
    check_cache(opts)?;
    let Audited {
        mut findings,
        mut summary,
        has_errors,
    } = audit_one(config, &rules, repo, opts, Pool::Own)?;
    sort_findings(&mut findings);
    let verdict = Verdict::new(findings, &rules.policy, baseline.as_ref());
    summary.blocking = verdict.blocking.len();
    summary.warnings = verdict.warnings.len();
    summary.baselined = verdict.baselined;

    let mut out = open_output(config)?;
    let all = verdict.all();
    let r = match config.format {
        Format::Human => crate::report::human::write_audit(&mut out, &all, &summary, style(config)),
        format => {
            let plain = plain_summary(&summary);
            crate::report::write(format, &mut out, &all, &rules, &plain, style(config))
        }
    }
    .and_then(|()| out.flush());
    report_io(r, config)?;
    warn_unscanned(config, &summary);
    Ok(exit(has_errors, &verdict))
}

/// Fails before any work when `--cache DIR` cannot be created or written: a mistyped folder
/// must not turn a nightly audit into a full one unnoticed. Later trouble with a cache file
/// (corrupt, replaced, a full disk) is a warning: the cache never decides a result.
fn check_cache(opts: &AuditOptions) -> Result<()> {
    let Some(dir) = &opts.cache else {
        return Ok(());
    };
    let shown = crate::escape::escape(dir.as_os_str().as_encoded_bytes());
    let fail = |why: String| crate::error::Error::Usage(format!("--cache {shown}: {why}"));
    std::fs::create_dir_all(dir)
        .map_err(|e| fail(format!("cannot be created ({})", super::io_reason(&e))))?;
    let probe = dir.join(format!(".secretgate-probe.{}", std::process::id()));
    std::fs::write(&probe, b"")
        .map_err(|e| fail(format!("cannot be written ({})", super::io_reason(&e))))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// An audit's exit: an unreadable object or repository outranks findings (the report is
/// incomplete), findings that block outrank a clean run.
fn exit(has_errors: bool, verdict: &Verdict) -> Exit {
    crate::policy::exit::of_run(has_errors, verdict.blocks())
}

/// Fails before any work when `--output` cannot be written (a long audit must not end in an
/// error about where to put its report).
fn check_output(config: &Config) -> Result<()> {
    if let Some(p) = &config.output {
        if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.is_dir() {
                return Err(crate::error::Error::Usage(format!(
                    "--output {}: the folder {} does not exist",
                    p.display(),
                    dir.display()
                )));
            }
        }
    }
    Ok(())
}

fn plain_summary(summary: &Stats) -> Stats {
    Stats {
        blocking: summary.blocking,
        warnings: summary.warnings,
        baselined: summary.baselined,
        scanned: summary.scanned,
        bytes: summary.bytes,
        skipped: summary.over_cap.clone(),
        binary: summary.binary,
        unread: Vec::new(),
        ..Stats::default()
    }
}

fn warn_unscanned(config: &Config, summary: &Stats) {
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
}

/// `--shard I/N`: I (1-based) and N.
pub fn parse_shard(text: &str) -> Result<(u64, u64)> {
    let bad = || {
        crate::error::Error::Usage(format!(
            "--shard {text:?}: expected I/N with 1 <= I <= N (for example 2/8)"
        ))
    };
    let (i, n) = text.split_once('/').ok_or_else(bad)?;
    let i: u64 = i.trim().parse().map_err(|_| bad())?;
    let n: u64 = n.trim().parse().map_err(|_| bad())?;
    if n == 0 || i == 0 || i > n {
        return Err(bad());
    }
    Ok((i, n))
}

/// Which shard (0-based) of `n` a repository belongs to: by a hash of its path under the root,
/// so adding or removing other repositories never moves it.
pub fn shard_of(relative: &str, n: u64) -> u64 {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(relative.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&d[..8]);
    u64::from_be_bytes(first) % n
}

/// How deep under the root repositories are looked for (GitLab's `@hashed/ab/cd/x.git` is 4).
const MAX_DEPTH: usize = 16;

/// Every git repository under `root`, as (path relative to the root, path), sorted: a folder
/// holding `.git` (a work tree) or `HEAD`, `objects/` and `refs/` (bare). A repository's own
/// folders are not searched further; symbolic links are not followed.
pub fn discover(root: &Path) -> Result<Vec<(String, PathBuf)>> {
    let meta = std::fs::metadata(root).map_err(|e| crate::error::Error::Io {
        path: root.to_owned(),
        source: e,
    })?;
    if !meta.is_dir() {
        return Err(crate::error::Error::Usage(format!(
            "--root {}: not a folder",
            root.display()
        )));
    }
    let mut out = Vec::new();
    let mut stack = vec![(root.to_owned(), 0usize)];
    while let Some((dir, depth)) = stack.pop() {
        let is_repo = dir.join(".git").exists()
            || (dir.join("HEAD").is_file()
                && dir.join("objects").is_dir()
                && dir.join("refs").is_dir());
        if is_repo {
            let rel = dir.strip_prefix(root).unwrap_or(&dir);
            let rel = if rel.as_os_str().is_empty() {
                ".".to_owned()
            } else {
                crate::escape::escape(rel.as_os_str().as_encoded_bytes()).replace('\\', "/")
            };
            out.push((rel, dir));
            continue;
        }
        if depth >= MAX_DEPTH {
            continue;
        }
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!("cannot list {}: {e}", dir.display());
                continue;
            }
        };
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push((e.path(), depth + 1));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// `audit --root DIR [--shard I/N]`: every repository under DIR, one report. Each finding names
/// its repository; a repository that cannot be audited is reported and the others go on (exit 3
/// at the end).
pub fn run_root(
    config: &Config,
    root: &Path,
    shard: Option<&str>,
    opts: &AuditOptions,
) -> Result<Exit> {
    let shard = shard.map(parse_shard).transpose()?;
    let rules = load_rules(config)?;
    let baseline = load_baseline(config)?;
    check_output(config)?;
    check_cache(opts)?;
    let mut repos = discover(root)?;
    if let Some((i, n)) = shard {
        repos.retain(|(rel, _)| shard_of(rel, n) == i - 1);
    }
    tracing::info!(repositories = repos.len(), "repositories to audit");
    let mut findings = Vec::new();
    let mut per_repo: Vec<(String, Result<Stats, String>)> = Vec::new();
    let mut has_errors = false;
    for ((rel, _), result) in repos.iter().zip(audit_all(config, &rules, &repos, opts)?) {
        match result {
            Ok(a) => {
                has_errors |= a.has_errors;
                for mut f in a.findings {
                    f.repository = Some(rel.clone());
                    findings.push(f);
                }
                per_repo.push((rel.clone(), Ok(a.summary)));
            }
            Err(e) => {
                tracing::error!("{rel}: {e}");
                has_errors = true;
                per_repo.push((rel.clone(), Err(e.to_string())));
            }
        }
    }
    findings.sort_by(|a, b| a.repository.cmp(&b.repository));
    let mut by_repo: Vec<Vec<Finding>> = Vec::new();
    for f in findings {
        match by_repo.last_mut() {
            Some(v) if v[0].repository == f.repository => v.push(f),
            _ => by_repo.push(vec![f]),
        }
    }
    let findings: Vec<Finding> = by_repo
        .into_iter()
        .flat_map(|mut v| {
            sort_findings(&mut v);
            v
        })
        .collect();
    let verdict = Verdict::new(findings, &rules.policy, baseline.as_ref());
    let all = verdict.all();
    let mut out = open_output(config)?;
    let r = match config.format {
        Format::Human => write_root_human(&mut out, &all, &per_repo, &rules.policy, style(config)),
        format => {
            let mut plain = Stats {
                blocking: verdict.blocking.len(),
                warnings: verdict.warnings.len(),
                baselined: verdict.baselined,
                ..Stats::default()
            };
            for (_, s) in &per_repo {
                if let Ok(s) = s {
                    plain.scanned += s.scanned;
                    plain.bytes += s.bytes;
                    plain.binary += s.binary;
                    plain.skipped.extend(s.over_cap.iter().cloned());
                }
            }
            crate::report::write(format, &mut out, &all, &rules, &plain, style(config))
        }
    }
    .and_then(|()| out.flush());
    report_io(r, config)?;
    for (rel, s) in &per_repo {
        if let Ok(s) = s {
            if !s.errors.is_empty() {
                tracing::error!("{rel}: {} corrupt or missing objects", s.errors.len());
            }
        }
    }
    Ok(exit(has_errors, &verdict))
}

/// A repository whose objects take less than this is audited beside others, each on one
/// worker at a time; a larger one alone, on every worker (two large audits at once would hold
/// two large working sets in memory).
const SMALL_REPOSITORY_BYTES: u64 = 64 << 20;

/// The bytes a repository's object store takes (packs and loose objects), counted up to
/// `limit`.
fn object_bytes(repo: &Path, limit: u64) -> u64 {
    let objects = if repo.join(".git").is_dir() {
        repo.join(".git").join("objects")
    } else {
        repo.join("objects")
    };
    let mut total = 0u64;
    let mut dirs = vec![objects];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => dirs.push(e.path()),
                Ok(t) if t.is_file() => total += e.metadata().map_or(0, |m| m.len()),
                _ => {}
            }
            if total >= limit {
                return total;
            }
        }
    }
    total
}

/// Audits every repository of a root, results in the order given: the small ones side by side
/// on the worker pool (most of a small audit is serial: many at once keep every core busy), the
/// large ones one after the other, each with the whole pool.
fn audit_all(
    config: &Config,
    rules: &crate::rules::Ruleset,
    repos: &[(String, PathBuf)],
    opts: &AuditOptions,
) -> Result<Vec<Result<Audited>>> {
    use rayon::prelude::*;
    let small: Vec<bool> = repos
        .iter()
        .map(|(_, p)| object_bytes(p, SMALL_REPOSITORY_BYTES) < SMALL_REPOSITORY_BYTES)
        .collect();
    let mut results: Vec<Option<Result<Audited>>> = with_pool(config, || {
        repos
            .par_iter()
            .zip(&small)
            .map(|((_, path), &small)| {
                small.then(|| audit_one(config, rules, path, opts, Pool::Shared))
            })
            .collect()
    })?;
    for (i, (_, path)) in repos.iter().enumerate() {
        if results[i].is_none() {
            results[i] = Some(audit_one(config, rules, path, opts, Pool::Own));
        }
    }
    Ok(results.into_iter().flatten().collect())
}

/// The human report of a root audit: each repository's findings under its name, then one line
/// per repository with its counts.
fn write_root_human(
    out: &mut dyn Write,
    findings: &[&Finding],
    per_repo: &[(String, Result<Stats, String>)],
    policy: &crate::policy::Policy,
    style: crate::report::Style,
) -> std::io::Result<()> {
    let mut i = 0;
    while i < findings.len() {
        let repo = findings[i].repository.clone();
        let mut j = i;
        while j < findings.len() && findings[j].repository == repo {
            j += 1;
        }
        writeln!(out, "== {}", repo.as_deref().unwrap_or("."))?;
        crate::report::human::write(out, &findings[i..j], &Stats::default(), style)?;
        i = j;
    }
    writeln!(out, "repositories audited: {}", per_repo.len())?;
    for (rel, s) in per_repo {
        match s {
            Ok(s) => {
                let mine: Vec<&&Finding> = findings
                    .iter()
                    .filter(|f| f.repository.as_deref() == Some(rel.as_str()))
                    .collect();
                let blocking = mine.iter().filter(|f| policy.blocks(f.severity)).count();
                writeln!(
                    out,
                    "  {rel}: {} commits, {} blobs, {blocking} blocking, {} warnings{}",
                    s.commits,
                    s.blobs,
                    mine.len() - blocking,
                    if s.errors.is_empty() {
                        String::new()
                    } else {
                        format!(", {} corrupt or missing objects", s.errors.len())
                    }
                )?;
            }
            Err(e) => writeln!(out, "  {rel}: not audited: {e}")?,
        }
    }
    Ok(())
}
