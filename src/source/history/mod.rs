//! The history of a repository, for `secretgate audit`: every commit reachable from every ref,
//! every blob their trees hold, each blob read and scanned once, and each finding attributed to
//! the commit and path where it came in.
//!
//! The audit is a pipeline of stages, each in its own module and each spread over the worker
//! threads where it can be; [`HistoryRepo::audit`] runs them in order and owns what they share
//! (the object handles, the problems found on the way, the progress report):
//!
//! 1. **Commits** (`graph`): the tips, the commits they reach, and one deterministic
//!    topological order.
//! 2. **Tree diffs** (`changes`, with the differ in `diff`): each commit against its first
//!    parent, which gives every (path, blob) pair of the history; the paths are sorted into
//!    classes on which the rules behave alike (`classes`).
//! 3. **Blobs** (`scan`, reading through `packs`): each unique blob read once, in pack
//!    order, and scanned once per class of its paths.
//! 4. **Attribution** (`attribute`): the first-parent diffs replayed at the paths that ever
//!    held a match, so each value is reported once, at the commit and path where it first
//!    appeared, with the number of commits that hold it, the last one, and whether the tip of
//!    the default branch still does.
//!
//! The findings are those `secretgate scan` would report on the checkout of every audited commit
//! (a test proves it on a small history). Progress is reported through the [`Progress`] trait:
//! drawing it is the command's business.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use bstr::ByteSlice;
use gix::hash::ObjectId;

use self::cache::BlobCache;
use self::changes::History;
use self::diffcache::DiffCache;
use self::graph::{read_commit, Graph, Walker};
use self::scan::{Known, Scanned};
use super::config::{RepoConfig, REPO_CONFIG};
use super::repo::Odb;
use crate::error::{Error, Result};
use crate::finding::Finding;
use crate::rules::Ruleset;
use crate::source::diff::tree::TreeCache;
use crate::stats::Stats;

mod attribute;
mod cache;
mod changes;
mod classes;
mod diffcache;
mod graph;
mod packs;
mod scan;

/// Resident and peak memory in MiB, for `-vv` diagnostics of each stage (Linux only).
fn memory_mib() -> (u64, u64, u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .map_or(0, |kb| kb / 1024)
    };
    (
        field("VmRSS:"),
        field("VmHWM:"),
        field("RssAnon:"),
        field("RssFile:"),
    )
}

/// "No such index" in the compact tables of the stages.
const NONE: u32 = u32::MAX;

/// Cache of delta bases per object handle: bounded so that two threads on a large repository
/// stay well under a gigabyte.
const PACK_CACHE_BYTES: usize = 16 << 20;

/// Cache of whole trees per worker for the diff pass (a parent's trees are read again when the
/// next commit is diffed).
const TREE_CACHE_BYTES: usize = 16 << 20;

/// What to audit.
#[derive(Debug, Clone, Default)]
pub struct AuditOptions {
    /// `--range`: only the commits `git rev-list RANGE` lists.
    pub range: Option<String>,
    /// `--cache DIR`: scan results kept between audits (see the `cache` submodule).
    pub cache: Option<PathBuf>,
}

/// What an audit found.
#[derive(Debug, Default)]
pub struct AuditOutcome {
    /// One finding per value and origin, attributed and counted.
    pub findings: Vec<Finding>,
    /// Counts, skipped blobs, warnings and errors.
    pub summary: Stats,
}

impl AuditOutcome {
    /// Whether the audit is incomplete because of a corrupt or missing object (exit 3).
    pub fn has_errors(&self) -> bool {
        !self.summary.errors.is_empty()
    }
}

/// What a stage of the audit counts, for its progress report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Commits walked or diffed.
    Commits,
    /// Blobs scanned.
    Blobs,
}

/// Where the audit reports its progress: the command decides whether and how it is shown (a
/// bar on a terminal, or nothing). Called from the worker threads.
pub trait Progress: Sync {
    /// A stage starts: `what` it does, and how many `unit`s it will count, if that is known.
    fn phase(&self, what: &str, total: Option<u64>, unit: Unit);
    /// `n` more units done, which read `bytes` bytes of blobs.
    fn inc(&self, n: u64, bytes: u64);
    /// The stages that report progress are over.
    fn finish(&self);
}

/// A repository opened for an audit.
pub struct HistoryRepo {
    repo: gix::ThreadSafeRepository,
    objects: PathBuf,
    hash: gix::hash::Kind,
    shallow: HashSet<ObjectId>,
    promisor: bool,
    display: String,
}

/// A problem with one object: the audit goes on, and reports it at the end.
#[derive(Debug, Clone)]
enum Problem {
    /// Corrupt or missing where it should be there: exit 3.
    Error(String),
    /// Missing in a partial clone (never fetched): a warning.
    NotFetched(String),
}

/// The object database at `dir`, with its packs kept mapped for the whole audit.
fn open_objects(dir: &Path, hash: gix::hash::Kind) -> Result<Odb> {
    let mut odb = Odb::at_dirs(vec![dir.to_owned()], hash)?;
    odb.refresh_never();
    Ok(odb)
}

impl HistoryRepo {
    /// Opens the repository at `path` (a work tree, a subfolder of one, or a bare repository).
    pub fn open(path: &Path) -> Result<Self> {
        let opts = gix::open::Options::isolated().strict_config(false);
        let repo = gix::ThreadSafeRepository::discover_opts(
            path,
            gix::discover::upwards::Options::default(),
            gix::sec::trust::Mapping {
                full: opts.clone(),
                reduced: opts,
            },
        )
        .map_err(|e| {
            Error::repo(
                format!("cannot open a git repository at {}", path.display()),
                e,
            )
        })?;
        let local = repo.to_thread_local();
        let common = local.common_dir().to_owned();
        let objects = common.join("objects");
        let hash = local.object_hash();
        let mut shallow = HashSet::new();
        if let Ok(text) = std::fs::read(common.join("shallow")) {
            for line in text.lines() {
                if let Ok(id) = ObjectId::from_hex(line.trim()) {
                    shallow.insert(id);
                }
            }
        }
        let promisor = is_partial_clone(&local, &objects);
        drop(local);
        Ok(HistoryRepo {
            display: path.display().to_string(),
            repo,
            objects,
            hash,
            shallow,
            promisor,
        })
    }

    /// The repository's own `.secretgate.toml`: the work tree's if there is one, else the file
    /// at the top of `HEAD`'s tree (none when `HEAD` cannot be read: the audit reports that).
    /// Read as in every mode ([`RepoConfig`]): a regular file only, never a symbolic link, under
    /// the cap on configuration files.
    pub fn repo_config(&self) -> Result<Option<RepoConfig>> {
        let repo = self.repo.to_thread_local();
        if let Some(dir) = repo.workdir() {
            if let Some(found) = RepoConfig::in_dir(dir)? {
                return Ok(Some(found));
            }
        }
        let Ok(head) = repo.head_id() else {
            return Ok(None);
        };
        let odb = open_objects(&self.objects, self.hash)?;
        let mut buf = Vec::new();
        let Ok(commit) = read_commit(&odb, &head, self.hash, &mut buf) else {
            return Ok(None);
        };
        let origin = format!("{REPO_CONFIG} at HEAD");
        RepoConfig::in_tree(&odb, &commit.tree, origin)
    }

    /// Runs the audit; call it inside the thread pool that should do the work. Each stage tells
    /// `progress` when it starts and what it has done.
    pub fn audit(
        &self,
        rules: &Ruleset,
        opts: &AuditOptions,
        progress: &dyn Progress,
    ) -> Result<AuditOutcome> {
        tracing::debug!(keywords = rules.prefilter.len(), "keyword automaton");
        let odb = open_objects(&self.objects, self.hash)?;
        let mut summary = Stats {
            repository: self.display.clone(),
            range: opts.range.clone(),
            shallow: !self.shallow.is_empty(),
            partial_clone: self.promisor,
            ..Stats::default()
        };
        let mut problems = Vec::new();

        // Pass 1: the commits.
        let (graph, head) = self.commits(&odb, opts, &mut summary, &mut problems, progress)?;

        // Pass 2: tree diffs, those the cache holds replayed.
        let threads = rayon::current_num_threads().max(1);
        let kept = opts
            .cache
            .as_deref()
            .and_then(|dir| self.open_diff_cache(dir));
        let (history, fresh) = self.diff_pass(odb, &graph, threads, rules, kept.as_ref(), progress);
        if let Some(mut kept) = kept {
            for d in &fresh {
                kept.record(d);
            }
            drop(fresh);
            if let Err(w) = kept.save() {
                tracing::warn!("{}", w.0);
            }
        }
        problems.extend(history.problems.iter().cloned());
        summary.submodules = history.gitlinks as u64;
        summary.links = history.links as u64;

        // Pass 3: blobs, those the cache knows excepted.
        let odb = open_objects(&self.objects, self.hash)?;
        let mut cache = opts
            .cache
            .as_deref()
            .and_then(|dir| self.open_cache(dir, rules, &history));
        let known = cache
            .as_mut()
            .map(|c| std::mem::take(&mut c.known))
            .unwrap_or_default();
        let scanned = self.scan_pass(&odb, &history, threads, rules, &known, progress);
        drop(known);
        record_scan(&mut summary, &history, &scanned);
        if let Some(c) = cache {
            c.keep(&history, &scanned);
        }
        problems.extend(scanned.problems.iter().cloned());
        progress.finish();

        // Attribution.
        let findings = self.attribution(rules, &odb, &graph, &history, &scanned, head);
        record_problems(&mut summary, problems);
        Ok(AuditOutcome { findings, summary })
    }

    /// Pass 1: the tips (every ref, or `--range`), the commits they reach in topological
    /// order, and the commit `HEAD` names.
    fn commits(
        &self,
        odb: &Odb,
        opts: &AuditOptions,
        summary: &mut Stats,
        problems: &mut Vec<Problem>,
        progress: &dyn Progress,
    ) -> Result<(Graph, Option<ObjectId>)> {
        let (tips, hidden, head) = {
            let repo = self.repo.to_thread_local();
            let (tips, hidden) = match &opts.range {
                None => (self.ref_tips(&repo, odb, summary, problems)?, Vec::new()),
                Some(spec) => self.range_tips(&repo, odb, spec)?,
            };
            let head = repo.head_id().ok().map(|id| id.detach());
            summary.default_branch = repo
                .head_name()
                .ok()
                .flatten()
                .map(|n| n.shorten().to_string())
                .or_else(|| head.map(|_| "HEAD".to_owned()));
            (tips, hidden, head)
        };
        progress.phase("walking commits", None, Unit::Commits);
        let mut walker = Walker::new(odb, self.hash, &self.shallow, problems);
        let hidden = walker.reachable(&hidden);
        let t = std::time::Instant::now();
        let graph = walker.walk(&tips, &hidden, progress);
        summary.commits = graph.commits.len() as u64;
        tracing::debug!(
            commits = graph.commits.len(),
            seconds = t.elapsed().as_secs_f64(),
            rss_mib = ?memory_mib(),
            "commits walked"
        );
        Ok((graph, head))
    }

    /// Pass 2: every commit diffed against its first parent. Takes the object handle and drops
    /// it with the workers' handles, so that what the diff pass read is unmapped before the
    /// blob pass maps the packs again: the peak memory of a large repository is mostly mapped
    /// pack pages.
    fn diff_pass(
        &self,
        odb: Odb,
        graph: &Graph,
        threads: usize,
        rules: &Ruleset,
        kept: Option<&DiffCache>,
        progress: &dyn Progress,
    ) -> (History, Vec<diffcache::FreshDiff>) {
        let handles = Handles::new(&odb, threads, TREE_CACHE_BYTES);
        progress.phase(
            "diffing trees",
            Some(graph.commits.len() as u64),
            Unit::Commits,
        );
        let t = std::time::Instant::now();
        let (history, fresh) = changes::diff_all(
            graph,
            &handles,
            self.hash,
            rules,
            self.promisor,
            kept,
            progress,
        );
        tracing::debug!(
            changes = history.ch_path.len(),
            blobs = history.blobs.ids.len(),
            seconds = t.elapsed().as_secs_f64(),
            rss_mib = ?memory_mib(),
            "trees diffed"
        );
        drop(handles);
        drop(odb);
        (history, fresh)
    }

    /// The kept tree diffs in `dir`; `None` (with a warning) when they cannot be used.
    fn open_diff_cache(&self, dir: &Path) -> Option<DiffCache> {
        match DiffCache::open(dir, &self.objects, self.hash) {
            Ok((c, warning)) => {
                if let Some(w) = warning {
                    tracing::warn!("{}", w.0);
                }
                Some(c)
            }
            Err(w) => {
                tracing::warn!("{}", w.0);
                None
            }
        }
    }

    /// The cache in `dir` and what it knows of this history's blobs; `None` (with a warning)
    /// when it cannot be used.
    fn open_cache(&self, dir: &Path, rules: &Ruleset, history: &History) -> Option<Cached> {
        let (mut cache, warning) = match BlobCache::open(dir, &self.objects, rules, self.hash) {
            Ok(c) => c,
            Err(w) => {
                tracing::warn!("{}", w.0);
                return None;
            }
        };
        if let Some(w) = warning {
            tracing::warn!("{}", w.0);
        }
        let classes = cache.map_classes(&history.class_sigs);
        let blobs = &history.blobs;
        let mut of_blob = Vec::new();
        let known = (0..blobs.ids.len() as u32)
            .map(|b| {
                of_blob.clear();
                of_blob.extend(
                    blobs
                        .classes(b)
                        .filter(|&(c, _)| c != 0)
                        .map(|(c, _)| classes[c as usize]),
                );
                if of_blob.is_empty() {
                    return None;
                }
                cache.known(&blobs.ids[b as usize], &of_blob)
            })
            .collect();
        Some(Cached {
            cache,
            classes,
            known: Known {
                blobs: known,
                record: true,
            },
        })
    }

    /// Pass 3: every unique blob read once and scanned.
    fn scan_pass(
        &self,
        odb: &Odb,
        history: &History,
        threads: usize,
        rules: &Ruleset,
        known: &Known,
        progress: &dyn Progress,
    ) -> Scanned {
        let handles = Handles::new(odb, threads, 0);
        let t = std::time::Instant::now();
        let scanned = scan::scan_blobs(
            history,
            &self.objects,
            self.hash,
            &handles,
            rules,
            self.promisor,
            known,
            progress,
        );
        tracing::debug!(
            cached = scanned.cached,
            seconds = t.elapsed().as_secs_f64(),
            rss_mib = ?memory_mib(),
            "blobs scanned"
        );
        scanned
    }

    /// Pass 4: the matches grouped and attributed, as findings.
    fn attribution(
        &self,
        rules: &Ruleset,
        odb: &Odb,
        graph: &Graph,
        history: &History,
        scanned: &Scanned,
        head: Option<ObjectId>,
    ) -> Vec<Finding> {
        let head_idx = head.and_then(|h| graph.index.get(&h).copied());
        let mut groups = attribute::attribute(graph, history, scanned, head_idx, odb);
        if head_idx.is_none() {
            if let Some(h) = head {
                attribute::mark_present_fallback(odb, self.hash, h, history, &mut groups);
            }
        }
        let mut findings =
            attribute::build_findings(rules, odb, self.hash, graph, history, scanned, groups);
        for f in &mut findings {
            f.shallow_boundary = f
                .commit
                .as_deref()
                .and_then(|c| ObjectId::from_hex(c.as_bytes()).ok())
                .is_some_and(|c| self.shallow.contains(&c));
        }
        findings
    }
}

/// The audit's cache, open, with what it knows of this history (see [`HistoryRepo::audit`]).
struct Cached {
    cache: BlobCache,
    /// The cache's index of each of this run's path classes.
    classes: Vec<Option<u16>>,
    /// What the cache knows, for the blob pass.
    known: Known,
}

impl Cached {
    /// Adds what the blob pass found to the cache and writes it: each blob read, with the
    /// classes where it gave no match (a blob with a match is read again next time, so no
    /// value is kept). A cache that cannot be written is a warning.
    fn keep(mut self, history: &History, scanned: &Scanned) {
        let mut clean = Vec::new();
        for &(b, outcome, size) in &scanned.outcomes {
            clean.clear();
            clean.extend(
                history
                    .blobs
                    .classes(b)
                    .filter(|&(c, _)| c != 0 && !scanned.hits.contains_key(&(b, c)))
                    .filter_map(|(c, _)| self.classes[c as usize]),
            );
            let id = history.blobs.ids[b as usize];
            self.cache.record(id, outcome, size, &clean);
        }
        if let Err(w) = self.cache.save() {
            tracing::warn!("{}", w.0);
        }
    }
}

/// The blob pass's counts, in the summary.
fn record_scan(summary: &mut Stats, history: &History, scanned: &Scanned) {
    summary.blobs = history.blobs.ids.len() as u64;
    summary.cached = scanned.cached;
    summary.scanned = scanned.scanned;
    summary.bytes = scanned.bytes;
    summary.binary = scanned.binary;
    summary.lfs = scanned.lfs;
    summary.path_skipped = scanned.path_skipped;
    summary.over_cap = scanned.over_cap.clone();
}

/// The problems of every stage, in the summary: sorted, each once.
fn record_problems(summary: &mut Stats, problems: Vec<Problem>) {
    for p in problems {
        match p {
            Problem::Error(e) => summary.errors.push(e),
            Problem::NotFetched(w) => summary.not_fetched.push(w),
        }
    }
    summary.errors.sort();
    summary.errors.dedup();
    summary.not_fetched.sort();
    summary.not_fetched.dedup();
}

/// Whether objects may be missing on purpose: a promisor pack or `extensions.partialClone`.
fn is_partial_clone(repo: &gix::Repository, objects: &Path) -> bool {
    let promisor_pack = std::fs::read_dir(objects.join("pack"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .any(|e| e.path().extension().is_some_and(|x| x == "promisor"))
        })
        .unwrap_or(false);
    promisor_pack
        || repo
            .config_snapshot()
            .string("extensions.partialClone")
            .is_some()
}

/// One object handle (with its caches) per worker thread.
struct Handles {
    all: Vec<Mutex<Worker>>,
}

impl Handles {
    fn new(base: &Odb, n: usize, tree_cache: usize) -> Self {
        let mut base = base.clone();
        base.with_pack_cache(PACK_CACHE_BYTES);
        Handles {
            all: (0..n)
                .map(|_| {
                    Mutex::new(Worker {
                        odb: base.clone(),
                        trees: TreeCache::new(tree_cache),
                    })
                })
                .collect(),
        }
    }

    /// The calling worker's handle. Never hold it across a parallel call.
    fn get(&self) -> std::sync::MutexGuard<'_, Worker> {
        let i = rayon::current_thread_index().unwrap_or(0) % self.all.len();
        lock(&self.all[i])
    }
}

/// A worker's object handle and tree cache.
struct Worker {
    odb: Odb,
    trees: TreeCache,
}

/// Locks `m`, even if a thread panicked while holding it (the data is counts and lists).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
