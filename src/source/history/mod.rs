//! The history of a repository, for `secretgate audit`: every commit reachable from every ref,
//! every blob their trees hold, each blob read and scanned once, and each finding attributed to
//! the commit and path where it came in.
//!
//! The work is three passes, each spread over the worker threads:
//!
//! 1. **Commits.** Every ref (and a detached `HEAD`) is peeled to a commit; the walk from those
//!    tips (or from `--range`, minus what its excluded tips reach) gives the commits, which are
//!    put in a deterministic topological order: parents first, then by committer date and id.
//! 2. **Tree diffs.** Each commit is diffed against its first parent (a root commit or a shallow
//!    boundary against the empty tree). Every (path, blob) pair that any commit's tree holds
//!    appears in one of those diffs, so the union of their additions is exactly the set of files
//!    in the history, without a tree walk per commit. Commits are diffed newest first, in
//!    contiguous chunks per thread, which is the order of the pack and keeps delta bases in each
//!    thread's cache. With `--range`, a commit whose first parent is outside the range is still
//!    diffed against that parent: a range reports what its commits brought in.
//! 3. **Blobs.** Each unique blob is read once: the wanted blobs and their delta bases are
//!    decoded per pack from the roots of their delta chains down, each object inflated once (the
//!    `packs` submodule), and scanned with the same detector as the hooks. A rule may depend on the path
//!    (globs, docstrings in `.py`), so the blob is scanned once per *class* of the paths it
//!    appears at: paths on which every rule behaves alike share a class, and almost every blob
//!    has exactly one.
//!
//! The findings are those `secretgate scan` would report on the checkout of every audited commit
//! (a test proves it on a small history), grouped: one per value and file, attributed to the
//! first commit (in the topological order) that holds it, with the number of commits that hold
//! it, the last one, and whether the tip of the default branch still does.
//!
//! Attribution then replays the first-parent diffs in topological order, but only for the paths
//! that ever held a blob with a match: it knows which (path, blob) pairs every commit holds, so
//! it can count the commits that hold a value, find the first and the last, and tell whether the
//! tip of the default branch still holds it. A file renamed or edited keeps its findings' origin:
//! a secret is reported once, at the commit and path where it first appeared, not again at every
//! later name of the file.

use std::collections::{BinaryHeap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bstr::{BString, ByteSlice};
use gix::hash::{oid, ObjectId};
use gix::objs::{Find as _, Kind};
use rayon::prelude::*;

use super::git::{commit_info, tree_order, EntryKind};
use crate::detect::{is_binary, Match};
use crate::error::{Error, Result};
use crate::finding::{escape, Finding, Provenance};
use crate::report::human::AuditSummary;
use crate::rules::Ruleset;

mod packs;

/// Resident and peak memory in MiB, for `-vv` diagnostics (Linux only).
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

/// "No such index" in the compact tables below.
const NONE: u32 = u32::MAX;

/// Cache of delta bases per object handle: bounded so that two threads on a large repository
/// stay well under a gigabyte.
const PACK_CACHE_BYTES: usize = 16 << 20;

/// Cache of whole trees per worker for the diff pass (a parent's trees are read again when the
/// next commit is diffed).
const TREE_CACHE_BYTES: usize = 16 << 20;

/// Commits per unit of work in the diff pass: large enough to keep a thread's caches warm.
const DIFF_CHUNK: usize = 1024;

/// Git LFS pointers start with this line.
const LFS_POINTER: &[u8] = b"version https://git-lfs.github.com/spec/";

/// What to audit.
#[derive(Debug, Clone, Default)]
pub struct AuditOptions {
    /// `--range`: only the commits `git rev-list RANGE` lists.
    pub range: Option<String>,
    /// Draw a progress bar on stderr.
    pub progress: bool,
}

/// What an audit found.
#[derive(Debug, Default)]
pub struct AuditOutcome {
    /// One finding per value and origin, attributed and counted.
    pub findings: Vec<Finding>,
    /// Counts, skipped blobs, warnings and errors.
    pub summary: AuditSummary,
}

impl AuditOutcome {
    /// Whether the audit is incomplete because of a corrupt or missing object (exit 3).
    pub fn has_errors(&self) -> bool {
        !self.summary.errors.is_empty()
    }
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

fn open_objects(dir: &Path, hash: gix::hash::Kind) -> Result<gix::odb::Handle> {
    let mut h = gix::odb::at(dir, hash)
        .map_err(|e| Error::repo(format!("cannot open objects at {}", dir.display()), e))?;
    h.prevent_pack_unload();
    h.refresh_never();
    Ok(h)
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

    /// The repository's own `.secretgate.toml` as (origin, text): the work tree's if there is
    /// one, else the file at the top of `HEAD`'s tree. Only a regular file (in the work tree and
    /// in the tree alike) of at most [`crate::source::config::MAX_CONFIG_BYTES`] is read: a
    /// symbolic link there is a configuration error, never followed.
    pub fn repo_config(&self) -> Result<Option<(String, String)>> {
        const NAME: &str = ".secretgate.toml";
        let repo = self.repo.to_thread_local();
        if let Some(dir) = repo.workdir() {
            let p = dir.join(NAME);
            if let Some(text) = crate::source::config::read_repo_config(&p)? {
                return Ok(Some((p.display().to_string(), text)));
            }
        }
        let Ok(head) = repo.head_id() else {
            return Ok(None);
        };
        let odb = open_objects(&self.objects, self.hash)?;
        let mut buf = Vec::new();
        let Some(tree) = read_commit(&odb, &head, self.hash, &mut buf)
            .ok()
            .map(|c| c.tree)
        else {
            return Ok(None);
        };
        let found = match odb.try_find(&tree, &mut buf) {
            Ok(Some(d)) if d.kind == Kind::Tree => {
                gix::objs::TreeRefIter::from_bytes(d.data, self.hash)
                    .filter_map(|e| e.ok())
                    .find(|e| e.filename == NAME)
                    .map(|e| (e.oid.to_owned(), EntryKind::of(e.mode)))
            }
            _ => None,
        };
        let origin = format!("{NAME} at HEAD");
        let blob = match found {
            None => return Ok(None),
            Some((id, EntryKind::File)) => id,
            Some((_, EntryKind::Link)) => {
                return Err(crate::source::config::not_regular(
                    &origin,
                    "a symbolic link",
                ))
            }
            Some(_) => return Ok(None),
        };
        if let Ok(Some(h)) = gix::prelude::Header::try_header(&odb, &blob) {
            if h.size() > crate::source::config::MAX_CONFIG_BYTES {
                return Err(crate::source::config::too_large(&origin, Some(h.size())));
            }
        }
        match odb.try_find(&blob, &mut buf) {
            Ok(Some(d)) if d.kind == Kind::Blob => {
                Ok(Some((origin, String::from_utf8_lossy(d.data).into_owned())))
            }
            _ => Ok(None),
        }
    }

    /// Runs the audit; call it inside the thread pool that should do the work.
    pub fn audit(&self, rules: &Ruleset, opts: &AuditOptions) -> Result<AuditOutcome> {
        let progress = Progress::new(opts.progress);
        tracing::debug!(keywords = rules.prefilter.len(), "keyword automaton");
        let odb = open_objects(&self.objects, self.hash)?;
        let mut summary = AuditSummary {
            repository: self.display.clone(),
            range: opts.range.clone(),
            shallow: !self.shallow.is_empty(),
            partial_clone: self.promisor,
            ..AuditSummary::default()
        };
        let mut problems = Vec::new();

        // Pass 1: the commits.
        let (tips, hidden, head) = {
            let repo = self.repo.to_thread_local();
            let (tips, hidden) = match &opts.range {
                None => (
                    self.ref_tips(&repo, &odb, &mut summary, &mut problems)?,
                    Vec::new(),
                ),
                Some(spec) => self.range_tips(&repo, &odb, spec)?,
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
        let mut walker = Walker {
            odb: &odb,
            hash: self.hash,
            shallow: &self.shallow,
            problems: &mut problems,
            buf: Vec::new(),
        };
        let hidden = walker.reachable(&hidden);
        let t = std::time::Instant::now();
        let graph = walker.walk(&tips, &hidden, &progress);
        summary.commits = graph.commits.len() as u64;
        tracing::debug!(
            commits = graph.commits.len(),
            seconds = t.elapsed().as_secs_f64(),
            rss_mib = ?memory_mib(),
            "commits walked"
        );

        // Pass 2: tree diffs.
        let threads = rayon::current_num_threads().max(1);
        let handles = Handles::new(&odb, threads, TREE_CACHE_BYTES);
        progress.phase(
            "diffing trees",
            Some(graph.commits.len() as u64),
            Unit::Commits,
        );
        let t = std::time::Instant::now();
        let history = diff_all(&graph, &handles, self.hash, rules, self.promisor, &progress);
        tracing::debug!(
            changes = history.ch_path.len(),
            blobs = history.blobs.ids.len(),
            seconds = t.elapsed().as_secs_f64(),
            rss_mib = ?memory_mib(),
            "trees diffed"
        );
        problems.extend(history.problems.iter().cloned());
        summary.submodules = history.gitlinks as u64;
        summary.links = history.links as u64;
        // Unmap what the diff pass read before the blob pass maps the packs again: the peak
        // memory of a large repository is mostly mapped pack pages.
        drop(handles);
        drop(odb);

        // Pass 3: blobs.
        let odb = open_objects(&self.objects, self.hash)?;
        let handles = Handles::new(&odb, threads, 0);
        let t = std::time::Instant::now();
        let scanned = scan_blobs(
            &history,
            &self.objects,
            self.hash,
            &handles,
            rules,
            self.promisor,
            &progress,
        );
        tracing::debug!(
            seconds = t.elapsed().as_secs_f64(),
            rss_mib = ?memory_mib(),
            "blobs scanned"
        );
        drop(handles);
        summary.blobs = history.blobs.ids.len() as u64;
        summary.scanned = scanned.scanned;
        summary.bytes = scanned.bytes;
        summary.binary = scanned.binary;
        summary.lfs = scanned.lfs;
        summary.path_skipped = scanned.path_skipped;
        summary.over_cap = scanned.over_cap.clone();
        problems.extend(scanned.problems.iter().cloned());
        progress.finish();

        // Attribution.
        let head_idx = head.and_then(|h| graph.index.get(&h).copied());
        let mut groups = attribute(&graph, &history, &scanned, head_idx, &odb);
        if head_idx.is_none() {
            if let Some(h) = head {
                mark_present_fallback(&odb, self.hash, h, &history, &mut groups);
            }
        }
        let mut findings =
            build_findings(rules, &odb, self.hash, &graph, &history, &scanned, groups);
        for f in &mut findings {
            f.shallow_boundary = f
                .commit
                .as_deref()
                .and_then(|c| ObjectId::from_hex(c.as_bytes()).ok())
                .is_some_and(|c| self.shallow.contains(&c));
        }

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
        Ok(AuditOutcome { findings, summary })
    }

    /// Every ref's target, peeled to a commit, and a detached `HEAD`.
    fn ref_tips(
        &self,
        repo: &gix::Repository,
        odb: &gix::odb::Handle,
        summary: &mut AuditSummary,
        problems: &mut Vec<Problem>,
    ) -> Result<Vec<ObjectId>> {
        let mut targets: Vec<(String, ObjectId)> = Vec::new();
        let platform = repo
            .references()
            .map_err(|e| Error::repo("cannot read the refs", e))?;
        let iter = platform
            .all()
            .map_err(|e| Error::repo("cannot read the refs", e))?;
        for r in iter {
            match r {
                Ok(r) => {
                    if let Some(id) = r.target().try_id() {
                        targets.push((r.name().as_bstr().to_string(), id.to_owned()));
                    }
                }
                Err(e) => problems.push(Problem::Error(format!("cannot read a ref: {e}"))),
            }
        }
        // A detached HEAD is a tip of its own; a branch's HEAD is already among the refs.
        // Read without peeling, so that a HEAD at a missing object is an error, not nothing.
        match repo.head() {
            Ok(head) if head.is_detached() => {
                if let Some(id) = head.id() {
                    targets.push(("HEAD".into(), id.detach()));
                }
            }
            Ok(_) => {}
            Err(e) => problems.push(Problem::Error(format!("cannot read HEAD: {e}"))),
        }
        targets.extend(other_worktree_heads(repo));
        summary.refs = targets.len() as u64;
        let mut buf = Vec::new();
        let mut tips = Vec::new();
        for (name, id) in targets {
            match peel(odb, id, self.hash, &mut buf) {
                Ok((id, Kind::Commit)) => tips.push(id),
                Ok((id, kind)) => {
                    tracing::info!(
                        "ref {} points to a {kind} ({id}), not a commit: skipped",
                        escape(name.as_bytes())
                    );
                    summary.non_commit_refs += 1;
                    summary.non_commit_names.push(escape(name.as_bytes()));
                }
                Err(e) => problems.push(Problem::Error(format!(
                    "ref {}: {e}",
                    escape(name.as_bytes())
                ))),
            }
        }
        tips.sort();
        tips.dedup();
        Ok(tips)
    }

    /// The included and excluded tips of `--range`, as `git rev-list` reads its arguments.
    fn range_tips(
        &self,
        repo: &gix::Repository,
        odb: &gix::odb::Handle,
        spec: &str,
    ) -> Result<(Vec<ObjectId>, Vec<ObjectId>)> {
        use gix::revision::plumbing::Spec;
        let mut include = Vec::new();
        let mut exclude = Vec::new();
        let bad = |what: &str, e: &dyn std::fmt::Display| {
            Error::Usage(format!("--range {spec:?}: {what}: {e}"))
        };
        if spec.split_whitespace().next().is_none() {
            return Err(Error::Usage("--range: empty revision range".into()));
        }
        for token in spec.split_whitespace() {
            if token.starts_with("--") {
                return Err(Error::Usage(format!(
                    "--range {spec:?}: options such as {token} are not supported; give revisions"
                )));
            }
            let parsed = repo.rev_parse(token).map_err(|e| bad(token, &e))?.detach();
            let mut buf = Vec::new();
            let parents = |id: ObjectId, buf: &mut Vec<u8>| -> Result<Vec<ObjectId>> {
                let (c, _) = peel(odb, id, self.hash, buf)?;
                Ok(read_commit(odb, &c, self.hash, buf)?.parents)
            };
            match parsed {
                Spec::Include(id) => include.push(id),
                Spec::Exclude(id) => exclude.push(id),
                Spec::Range { from, to } => {
                    exclude.push(from);
                    include.push(to);
                }
                Spec::Merge { theirs, ours } => {
                    include.push(theirs);
                    include.push(ours);
                    let a = peel(odb, theirs, self.hash, &mut buf)?.0;
                    let b = peel(odb, ours, self.hash, &mut buf)?.0;
                    let bases = repo
                        .merge_bases_many(a, &[b])
                        .map_err(|e| bad("merge base", &e))?;
                    exclude.extend(bases.into_iter().map(|i| i.detach()));
                }
                Spec::IncludeOnlyParents(id) => include.extend(parents(id, &mut buf)?),
                Spec::ExcludeParents(id) => {
                    include.push(id);
                    exclude.extend(parents(id, &mut buf)?);
                }
            }
        }
        let mut buf = Vec::new();
        let mut peel_all = |ids: Vec<ObjectId>| -> Result<Vec<ObjectId>> {
            let mut out = Vec::new();
            for id in ids {
                match peel(odb, id, self.hash, &mut buf)? {
                    (c, Kind::Commit) => out.push(c),
                    (o, k) => {
                        return Err(Error::Usage(format!(
                            "--range {spec:?}: {o} is a {k}, not a commit"
                        )))
                    }
                }
            }
            Ok(out)
        };
        Ok((peel_all(include)?, peel_all(exclude)?))
    }
}

/// Whether objects may be missing on purpose: a promisor pack or `extensions.partialClone`.
/// The detached `HEAD`s of the repository's other work trees (the main one's, seen from a linked
/// work tree, and every linked one's, in `worktrees/<name>/HEAD`), as `git rev-list --all` counts
/// them: a commit made on a detached `HEAD` in a linked work tree is reachable from nothing else.
/// A `HEAD` naming a branch adds nothing (the branch is among the refs).
fn other_worktree_heads(repo: &gix::Repository) -> Vec<(String, ObjectId)> {
    use std::io::Read;
    let common = repo.common_dir();
    let own = repo.git_dir().join("HEAD");
    let mut files = vec![("HEAD".to_owned(), common.join("HEAD"))];
    if let Ok(dir) = std::fs::read_dir(common.join("worktrees")) {
        for e in dir.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            files.push((format!("worktrees/{name}/HEAD"), e.path().join("HEAD")));
        }
    }
    let mut out = Vec::new();
    for (name, path) in files {
        if path == own {
            continue;
        }
        let mut text = Vec::new();
        let read = std::fs::File::open(&path).and_then(|f| f.take(1024).read_to_end(&mut text));
        if read.is_err() {
            continue;
        }
        let text = text.trim();
        if text.starts_with(b"ref:") {
            continue;
        }
        match ObjectId::from_hex(text) {
            Ok(id) => out.push((name, id)),
            Err(_) => tracing::info!(
                "{}: not a commit id, skipped",
                escape(path.as_os_str().as_encoded_bytes())
            ),
        }
    }
    out
}

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

/// Follows tags until something that is not a tag.
fn peel(
    odb: &gix::odb::Handle,
    id: ObjectId,
    hash: gix::hash::Kind,
    buf: &mut Vec<u8>,
) -> Result<(ObjectId, Kind)> {
    let mut id = id;
    for _ in 0..64 {
        match odb.try_find(&id, buf) {
            Ok(Some(d)) if d.kind == Kind::Tag => {
                let t = gix::objs::TagRef::from_bytes(d.data, hash)
                    .map_err(|e| Error::repo(format!("tag {id} is corrupt"), e))?;
                id = t.target();
            }
            Ok(Some(d)) => return Ok((id, d.kind)),
            Ok(None) => return Err(Error::Repo(format!("object {id} is missing"))),
            Err(e) => return Err(Error::repo(format!("object {id} cannot be read"), e)),
        }
    }
    Err(Error::Repo(format!("tag chain at {id} is too long")))
}

struct ParsedCommit {
    tree: ObjectId,
    parents: Vec<ObjectId>,
    time: i64,
}

fn read_commit(
    odb: &gix::odb::Handle,
    id: &oid,
    hash: gix::hash::Kind,
    buf: &mut Vec<u8>,
) -> Result<ParsedCommit> {
    match odb.try_find(id, buf) {
        Ok(Some(d)) if d.kind == Kind::Commit => {
            let c = gix::objs::CommitRef::from_bytes(d.data, hash)
                .map_err(|e| Error::repo(format!("commit {id} is corrupt"), e))?;
            Ok(ParsedCommit {
                tree: c.tree(),
                parents: c.parents().collect(),
                time: c.committer().map(|s| s.seconds()).unwrap_or(0),
            })
        }
        Ok(Some(d)) => Err(Error::Repo(format!(
            "object {id} is a {}, expected a commit",
            d.kind
        ))),
        Ok(None) => Err(Error::Repo(format!("commit {id} is missing"))),
        Err(e) => Err(Error::repo(format!("commit {id} cannot be read"), e)),
    }
}

/// One commit of the audit.
struct CommitNode {
    id: ObjectId,
    tree: Option<ObjectId>,
    /// The tree it is diffed against: its first parent's, even outside `--range` (so a range
    /// reports what its commits brought in); none for a root or a shallow boundary.
    base_tree: Option<ObjectId>,
    time: i64,
    /// The first parent, if it is audited too; else the commit is diffed against nothing.
    first_parent: u32,
    /// The other parents that are audited.
    other_parents: Vec<u32>,
}

/// The commits, and their order.
struct Graph {
    commits: Vec<CommitNode>,
    index: gix::hashtable::HashMap<ObjectId, u32>,
    /// Commit indices, parents first.
    topo: Vec<u32>,
}

struct Walker<'a> {
    odb: &'a gix::odb::Handle,
    hash: gix::hash::Kind,
    shallow: &'a HashSet<ObjectId>,
    problems: &'a mut Vec<Problem>,
    buf: Vec<u8>,
}

impl Walker<'_> {
    /// Every commit reachable from `tips` (the excluded side of a range).
    fn reachable(&mut self, tips: &[ObjectId]) -> HashSet<ObjectId> {
        let mut seen = HashSet::new();
        let mut stack = tips.to_vec();
        while let Some(id) = stack.pop() {
            if !seen.insert(id) {
                continue;
            }
            if self.shallow.contains(&id) {
                continue;
            }
            if let Ok(c) = read_commit(self.odb, &id, self.hash, &mut self.buf) {
                stack.extend(c.parents);
            }
        }
        seen
    }

    /// The commits reachable from `tips` and not in `hidden`, in topological order.
    fn walk(
        &mut self,
        tips: &[ObjectId],
        hidden: &HashSet<ObjectId>,
        progress: &Progress,
    ) -> Graph {
        let mut index: gix::hashtable::HashMap<ObjectId, u32> = Default::default();
        let mut commits = Vec::new();
        let mut parent_ids: Vec<Vec<ObjectId>> = Vec::new();
        let mut failed: HashSet<ObjectId> = HashSet::new();
        let mut stack: Vec<ObjectId> = tips.iter().rev().copied().collect();
        while let Some(id) = stack.pop() {
            if hidden.contains(&id) || index.contains_key(&id) || failed.contains(&id) {
                continue;
            }
            let c = match read_commit(self.odb, &id, self.hash, &mut self.buf) {
                Ok(c) => c,
                Err(e) => {
                    self.problems.push(Problem::Error(e.to_string()));
                    failed.insert(id);
                    continue;
                }
            };
            index.insert(id, commits.len() as u32);
            let parents = if self.shallow.contains(&id) {
                Vec::new()
            } else {
                c.parents
            };
            stack.extend(parents.iter().rev().copied());
            parent_ids.push(parents);
            commits.push(CommitNode {
                id,
                tree: Some(c.tree),
                base_tree: None,
                time: c.time,
                first_parent: NONE,
                other_parents: Vec::new(),
            });
            progress.inc(1, 0);
        }
        for i in 0..commits.len() {
            let parents = &parent_ids[i];
            let mut in_set = parents.iter().map(|p| index.get(p).copied());
            let first = in_set.next().flatten().unwrap_or(NONE);
            let others = in_set.flatten().collect();
            let base_tree = match parents.first() {
                None => None,
                Some(_) if first != NONE => commits[first as usize].tree,
                // Outside the range: read only for its tree.
                Some(p) => read_commit(self.odb, p, self.hash, &mut self.buf)
                    .map(|c| c.tree)
                    .map_err(|e| self.problems.push(Problem::Error(e.to_string())))
                    .ok(),
            };
            let c = &mut commits[i];
            c.first_parent = first;
            c.other_parents = others;
            c.base_tree = base_tree;
        }
        let topo = topo_order(&commits);
        Graph {
            commits,
            index,
            topo,
        }
    }
}

/// Parents before children; among commits whose parents are all placed, the oldest committer
/// date first, then the smallest id, so the order is the same on every run and every machine.
fn topo_order(commits: &[CommitNode]) -> Vec<u32> {
    let n = commits.len();
    let mut pending = vec![0u32; n];
    let mut child_count = vec![0u32; n + 1];
    for c in commits {
        for p in std::iter::once(c.first_parent)
            .chain(c.other_parents.iter().copied())
            .filter(|&p| p != NONE)
        {
            child_count[p as usize] += 1;
        }
    }
    // Children in compressed rows.
    let mut start = vec![0u32; n + 1];
    for i in 0..n {
        start[i + 1] = start[i] + child_count[i];
    }
    let mut fill = start.clone();
    let mut children = vec![0u32; start[n] as usize];
    for (i, c) in commits.iter().enumerate() {
        for p in std::iter::once(c.first_parent)
            .chain(c.other_parents.iter().copied())
            .filter(|&p| p != NONE)
        {
            children[fill[p as usize] as usize] = i as u32;
            fill[p as usize] += 1;
            pending[i] += 1;
        }
    }
    let key = |i: usize| std::cmp::Reverse((commits[i].time, commits[i].id, i as u32));
    let mut ready: BinaryHeap<_> = (0..n).filter(|&i| pending[i] == 0).map(key).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(std::cmp::Reverse((_, _, i))) = ready.pop() {
        order.push(i);
        for &ch in &children[start[i as usize] as usize..start[i as usize + 1] as usize] {
            pending[ch as usize] -= 1;
            if pending[ch as usize] == 0 {
                ready.push(key(ch as usize));
            }
        }
    }
    if order.len() < n {
        // Impossible with real object ids; keep every commit anyway.
        let placed: HashSet<u32> = order.iter().copied().collect();
        order.extend((0..n as u32).filter(|i| !placed.contains(i)));
    }
    order
}

/// One object handle (with its caches) per worker thread.
struct Handles {
    all: Vec<Mutex<Worker>>,
}

impl Handles {
    fn new(base: &gix::odb::Handle, n: usize, tree_cache: usize) -> Self {
        let mut base = base.clone();
        base.set_pack_cache(|| {
            Box::new(gix::odb::pack::cache::lru::MemoryCappedHashmap::new(
                PACK_CACHE_BYTES,
            ))
        });
        base.unset_object_cache();
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

/// A change of one commit against its first parent, as the attribution needs it.
#[derive(Debug, Clone, Copy)]
struct RawChange {
    path: u32,
    /// The blob now at the path; `None`: the path no longer holds a file.
    new: Option<ObjectId>,
    /// Whether the path held no file before (an addition, not an edit).
    added: bool,
    /// For a pure rename: the path the same blob was deleted from.
    from: u32,
}

/// What one thread's share of the diff pass found.
#[derive(Default)]
struct ChunkOut {
    paths: Vec<Vec<u8>>,
    path_index: HashMap<Vec<u8>, u32>,
    /// (commit, start, end) into `changes`.
    commits: Vec<(u32, u32, u32)>,
    changes: Vec<RawChange>,
    gitlinks: Vec<u32>,
    links: Vec<ObjectId>,
    problems: Vec<Problem>,
}

impl ChunkOut {
    fn intern(&mut self, path: &[u8]) -> u32 {
        if let Some(&i) = self.path_index.get(path) {
            return i;
        }
        let i = self.paths.len() as u32;
        self.paths.push(path.to_vec());
        self.path_index.insert(path.to_vec(), i);
        i
    }
}

enum Event<'p> {
    Added(&'p [u8], ObjectId),
    Modified(&'p [u8], ObjectId),
    Deleted(&'p [u8], ObjectId),
    Gitlink(&'p [u8]),
    /// A symbolic link's blob (its target path): counted, not scanned.
    Link(ObjectId),
    Problem(Problem),
}

/// A decoded tree, shared between the cache and the diffs that use it.
type Tree = Arc<[u8]>;

/// Decoded trees of one worker, by id: a commit's trees are read again as the parent side of
/// the next diff, and a hit costs no copy.
pub(crate) struct TreeCache {
    map: HashMap<ObjectId, (Tree, u64)>,
    bytes: usize,
    cap: usize,
    tick: u64,
}

impl TreeCache {
    fn new(cap: usize) -> Self {
        TreeCache {
            map: HashMap::new(),
            bytes: 0,
            cap,
            tick: 0,
        }
    }

    fn get(&mut self, id: &oid) -> Option<Tree> {
        self.tick += 1;
        let tick = self.tick;
        self.map.get_mut(id).map(|(d, t)| {
            *t = tick;
            Arc::clone(d)
        })
    }

    fn insert(&mut self, id: ObjectId, data: Tree) {
        if self.cap == 0 {
            return;
        }
        self.tick += 1;
        self.bytes += data.len();
        if let Some((old, _)) = self.map.insert(id, (data, self.tick)) {
            self.bytes -= old.len();
        }
        if self.bytes > self.cap {
            // Drop the least recently used half.
            let mut ticks: Vec<u64> = self.map.values().map(|(_, t)| *t).collect();
            let mid = ticks.len() / 2;
            let (_, &mut cut, _) = ticks.select_nth_unstable(mid);
            let mut freed = 0;
            self.map.retain(|_, (d, t)| {
                let keep = *t > cut;
                if !keep {
                    freed += d.len();
                }
                keep
            });
            self.bytes -= freed;
        }
    }
}

/// A worker's object handle and tree cache.
struct Worker {
    odb: gix::odb::Handle,
    trees: TreeCache,
}

/// One entry of a tree, parsed from its raw bytes.
struct RawEntry<'a> {
    kind: EntryKind,
    name: &'a [u8],
    id: &'a oid,
    len: usize,
}

/// The length of the common prefix of two byte strings, compared 16 bytes at a time.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let mut k = 0;
    while k + 16 <= n && a[k..k + 16] == b[k..k + 16] {
        k += 16;
    }
    while k < n && a[k] == b[k] {
        k += 1;
    }
    k
}

/// Parses the tree entry at the start of `data`: `<octal mode> <name>\0<id>`.
fn parse_entry(data: &[u8], hash_len: usize) -> Option<RawEntry<'_>> {
    let space = memchr::memchr(b' ', data)?;
    let mut mode = 0u32;
    for &d in &data[..space] {
        if !(b'0'..=b'7').contains(&d) {
            return None;
        }
        mode = mode.checked_mul(8)? + u32::from(d - b'0');
    }
    let nul = space + 1 + memchr::memchr(0, &data[space + 1..])?;
    let end = nul + 1 + hash_len;
    let id = oid::try_from_bytes(data.get(nul + 1..end)?).ok()?;
    let kind = match mode & 0o170000 {
        0o040000 => EntryKind::Tree,
        0o160000 => EntryKind::Gitlink,
        0o120000 => EntryKind::Link,
        _ => EntryKind::File,
    };
    Some(RawEntry {
        kind,
        name: &data[space + 1..nul],
        id,
        len: end,
    })
}

/// A recursive diff of two trees. Unchanged entries are skipped by comparing their raw bytes,
/// without parsing them: most entries of most diffs are unchanged.
struct Differ<'a> {
    worker: &'a mut Worker,
    hash: gix::hash::Kind,
    promisor: bool,
    path: Vec<u8>,
    buf: Vec<u8>,
    /// How many trees deep the walk is.
    depth: usize,
}

/// Git's order of tree entries: a tree sorts as if its name ended with `/`.
impl Differ<'_> {
    fn shown(&self) -> String {
        if self.path.is_empty() {
            String::new()
        } else {
            format!(" ({})", escape(&self.path))
        }
    }

    fn load(&mut self, id: &oid) -> std::result::Result<Tree, Problem> {
        if let Some(d) = self.worker.trees.get(id) {
            return Ok(d);
        }
        let r = match self.worker.odb.try_find(id, &mut self.buf) {
            Ok(Some(d)) if d.kind == Kind::Tree => Ok(Some(Ok(Tree::from(d.data)))),
            Ok(Some(d)) => Ok(Some(Err(d.kind))),
            Ok(None) => Ok(None),
            Err(e) => Err(e),
        };
        let data: Tree = match r {
            Ok(Some(Ok(data))) => data,
            Ok(Some(Err(kind))) => {
                return Err(Problem::Error(format!(
                    "object {id}{} is a {kind}, expected a tree",
                    self.shown(),
                )))
            }
            Ok(None) if self.promisor => {
                return Err(Problem::NotFetched(format!(
                    "tree {id}{}: not fetched by this partial clone",
                    self.shown()
                )))
            }
            Ok(None) => {
                return Err(Problem::Error(format!(
                    "tree {id}{} is missing",
                    self.shown()
                )))
            }
            Err(e) => {
                return Err(Problem::Error(format!(
                    "tree {id}{} cannot be read: {e}",
                    self.shown()
                )))
            }
        };
        self.worker.trees.insert(id.to_owned(), Arc::clone(&data));
        Ok(data)
    }

    fn diff(&mut self, old: Option<&oid>, new: Option<&oid>, sink: &mut dyn FnMut(Event<'_>)) {
        self.path.clear();
        self.rec(old, new, sink);
    }

    fn push_name(&mut self, name: &[u8]) -> usize {
        let len = self.path.len();
        if len > 0 {
            self.path.push(b'/');
        }
        self.path.extend_from_slice(name);
        len
    }

    fn side(&mut self, id: Option<&oid>, sink: &mut dyn FnMut(Event<'_>)) -> Tree {
        match id.map(|id| self.load(id)) {
            Some(Ok(d)) => d,
            Some(Err(p)) => {
                sink(Event::Problem(p));
                Tree::default()
            }
            None => Tree::default(),
        }
    }

    fn rec(&mut self, old: Option<&oid>, new: Option<&oid>, sink: &mut dyn FnMut(Event<'_>)) {
        if old == new {
            return;
        }
        if self.depth >= super::git::MAX_TREE_DEPTH {
            let id = new.or(old).map(|t| t.to_string()).unwrap_or_default();
            sink(Event::Problem(Problem::Error(format!(
                "tree {id} at {} is nested deeper than {} levels (git's own limit); not read",
                super::git::deep_path(&self.path),
                super::git::MAX_TREE_DEPTH
            ))));
            return;
        }
        self.depth += 1;
        self.rec_level(old, new, sink);
        self.depth -= 1;
    }

    fn rec_level(&mut self, old: Option<&oid>, new: Option<&oid>, sink: &mut dyn FnMut(Event<'_>)) {
        let od = self.side(old, sink);
        let nd = self.side(new, sink);
        let hash_len = self.hash.len_in_bytes();
        let (mut i, mut j) = (0usize, 0usize);
        let corrupt = |id: Option<&oid>, sink: &mut dyn FnMut(Event<'_>)| {
            let id = id.map(|i| i.to_string()).unwrap_or_default();
            sink(Event::Problem(Problem::Error(format!(
                "tree {id} is corrupt"
            ))));
        };
        loop {
            // Identical entries: the longest common run of bytes, then whole entries within it,
            // found with one search for each name's end and no parsing.
            if i < od.len() && j < nd.len() {
                let same = common_prefix(&od[i..], &nd[j..]);
                let mut k = 0;
                while let Some(nul) = memchr::memchr(0, &od[i + k..]) {
                    let end = k + nul + 1 + hash_len;
                    if end > same {
                        break;
                    }
                    k = end;
                }
                if k > 0 {
                    i += k;
                    j += k;
                    continue;
                }
            }
            let a = if i < od.len() {
                match parse_entry(&od[i..], hash_len) {
                    Some(e) => Some(e),
                    None => {
                        corrupt(old, sink);
                        i = od.len();
                        None
                    }
                }
            } else {
                None
            };
            let b = if j < nd.len() {
                match parse_entry(&nd[j..], hash_len) {
                    Some(e) => Some(e),
                    None => {
                        corrupt(new, sink);
                        j = nd.len();
                        None
                    }
                }
            } else {
                None
            };
            let ord = match (&a, &b) {
                (None, None) => break,
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (Some(x), Some(y)) => tree_order(
                    x.name,
                    x.kind == EntryKind::Tree,
                    y.name,
                    y.kind == EntryKind::Tree,
                ),
            };
            match ord {
                std::cmp::Ordering::Less => {
                    let x = a.expect("old entry");
                    i += x.len;
                    self.one_side(x.name, x.id, x.kind, false, sink);
                }
                std::cmp::Ordering::Greater => {
                    let y = b.expect("new entry");
                    j += y.len;
                    self.one_side(y.name, y.id, y.kind, true, sink);
                }
                std::cmp::Ordering::Equal => {
                    let x = a.expect("old entry");
                    let y = b.expect("new entry");
                    i += x.len;
                    j += y.len;
                    if x.id != y.id || x.kind != y.kind {
                        match (x.kind, y.kind) {
                            (EntryKind::Tree, EntryKind::Tree) => {
                                let len = self.push_name(y.name);
                                self.rec(Some(x.id), Some(y.id), sink);
                                self.path.truncate(len);
                            }
                            (EntryKind::File, EntryKind::File) => {
                                let len = self.push_name(y.name);
                                sink(Event::Modified(&self.path, y.id.to_owned()));
                                self.path.truncate(len);
                            }
                            _ => {
                                self.one_side(x.name, x.id, x.kind, false, sink);
                                self.one_side(y.name, y.id, y.kind, true, sink);
                            }
                        }
                    }
                }
            }
        }
    }

    fn one_side(
        &mut self,
        name: &[u8],
        id: &oid,
        kind: EntryKind,
        is_new: bool,
        sink: &mut dyn FnMut(Event<'_>),
    ) {
        let len = self.push_name(name);
        match kind {
            EntryKind::Tree if is_new => self.rec(None, Some(id), sink),
            EntryKind::Tree => self.rec(Some(id), None, sink),
            EntryKind::File if is_new => sink(Event::Added(&self.path, id.to_owned())),
            EntryKind::File => sink(Event::Deleted(&self.path, id.to_owned())),
            EntryKind::Gitlink if is_new => sink(Event::Gitlink(&self.path)),
            EntryKind::Link if is_new => sink(Event::Link(id.to_owned())),
            EntryKind::Gitlink | EntryKind::Link => {}
        }
        self.path.truncate(len);
    }
}

/// Diffs the commits of one chunk.
fn diff_chunk(
    graph: &Graph,
    chunk: &[u32],
    handles: &Handles,
    hash: gix::hash::Kind,
    promisor: bool,
) -> ChunkOut {
    let mut worker = handles.get();
    let mut differ = Differ {
        worker: &mut worker,
        hash,
        promisor,
        path: Vec::new(),
        buf: Vec::new(),
        depth: 0,
    };
    let mut out = ChunkOut::default();
    let mut dels: Vec<(u32, ObjectId)> = Vec::new();
    for &c in chunk {
        let node = &graph.commits[c as usize];
        let base = node.base_tree;
        let start = out.changes.len() as u32;
        dels.clear();
        differ.diff(base.as_deref(), node.tree.as_deref(), &mut |ev| match ev {
            Event::Added(p, id) => {
                let path = out.intern(p);
                out.changes.push(RawChange {
                    path,
                    new: Some(id),
                    added: true,
                    from: NONE,
                });
            }
            Event::Modified(p, id) => {
                let path = out.intern(p);
                out.changes.push(RawChange {
                    path,
                    new: Some(id),
                    added: false,
                    from: NONE,
                });
            }
            Event::Deleted(p, id) => {
                let path = out.intern(p);
                dels.push((path, id));
                out.changes.push(RawChange {
                    path,
                    new: None,
                    added: false,
                    from: NONE,
                });
            }
            Event::Gitlink(p) => {
                let path = out.intern(p);
                out.gitlinks.push(path);
            }
            Event::Link(id) => out.links.push(id),
            Event::Problem(p) => out.problems.push(p),
        });
        if !dels.is_empty() {
            // A pure rename: the blob deleted at one path and added at another. The smallest
            // deleted path wins when several held it.
            let mut by_blob: HashMap<ObjectId, u32> = HashMap::with_capacity(dels.len());
            for &(p, id) in &dels {
                by_blob
                    .entry(id)
                    .and_modify(|q| {
                        if out.paths[p as usize] < out.paths[*q as usize] {
                            *q = p;
                        }
                    })
                    .or_insert(p);
            }
            for ch in &mut out.changes[start as usize..] {
                if let (true, Some(id)) = (ch.added, ch.new) {
                    if let Some(&p) = by_blob.get(&id) {
                        ch.from = p;
                    }
                }
            }
        }
        out.commits.push((c, start, out.changes.len() as u32));
    }
    out
}

/// Every path and blob of the history, and each commit's changes.
struct History {
    paths: Vec<BString>,
    /// The class of each path (see [`Classes`]).
    path_class: Vec<u32>,
    blobs: BlobTable,
    /// Per commit: the range of its changes.
    ranges: Vec<(u32, u32)>,
    ch_path: Vec<u32>,
    ch_blob: Vec<u32>,
    ch_from: Vec<u32>,
    gitlinks: usize,
    /// Unique symbolic link blobs: not scanned.
    links: usize,
    problems: Vec<Problem>,
}

/// Every unique blob, with the classes of the paths it appears at.
#[derive(Default)]
struct BlobTable {
    ids: Vec<ObjectId>,
    index: gix::hashtable::HashMap<ObjectId, u32>,
    /// The first (class, path) the blob was seen with.
    first: Vec<(u32, u32)>,
    /// Further classes, for the few blobs that appear at paths of different classes.
    more: HashMap<u32, Vec<(u32, u32)>>,
}

impl BlobTable {
    fn intern(&mut self, id: ObjectId) -> u32 {
        if let Some(&i) = self.index.get(&id) {
            return i;
        }
        let i = self.ids.len() as u32;
        self.ids.push(id);
        self.index.insert(id, i);
        self.first.push((NONE, NONE));
        i
    }

    fn add_class(&mut self, blob: u32, class: u32, path: u32) {
        let f = &mut self.first[blob as usize];
        if f.0 == NONE {
            *f = (class, path);
        } else if f.0 != class {
            let more = self.more.entry(blob).or_default();
            if !more.iter().any(|(c, _)| *c == class) {
                more.push((class, path));
            }
        }
    }

    /// The (class, representative path) pairs of a blob.
    fn classes(&self, blob: u32) -> impl Iterator<Item = (u32, u32)> + '_ {
        std::iter::once(self.first[blob as usize])
            .filter(|c| c.0 != NONE)
            .chain(self.more.get(&blob).into_iter().flatten().copied())
    }
}

/// Paths on which every rule behaves alike: the same rules and forms apply, the same path
/// allowlists skip them, and they are Python files or not (docstrings). Class 0 is "never
/// scanned" (an allowlisted or skipped path).
#[derive(Default)]
struct Classes {
    index: HashMap<Vec<u64>, u32>,
    count: u32,
}

/// The class signature of a path (see [`Ruleset::path_signature`]).
fn path_signature(rules: &Ruleset, path: &[u8]) -> Vec<u64> {
    rules.path_signature(path)
}

impl Classes {
    fn intern(&mut self, sig: Vec<u64>) -> u32 {
        if sig.is_empty() {
            return 0;
        }
        if let Some(&c) = self.index.get(&sig) {
            return c;
        }
        self.count += 1;
        self.index.insert(sig, self.count);
        self.count
    }
}

/// The diff pass over every commit, and the tables built from it.
fn diff_all(
    graph: &Graph,
    handles: &Handles,
    hash: gix::hash::Kind,
    rules: &Ruleset,
    promisor: bool,
    progress: &Progress,
) -> History {
    // Newest first: the pack's order.
    let order: Vec<u32> = graph.topo.iter().rev().copied().collect();
    let outs: Vec<ChunkOut> = order
        .par_chunks(DIFF_CHUNK)
        .map(|chunk| {
            let out = diff_chunk(graph, chunk, handles, hash, promisor);
            progress.inc(chunk.len() as u64, 0);
            out
        })
        .collect();

    let mut paths: Vec<BString> = Vec::new();
    let mut path_index: HashMap<Vec<u8>, u32> = HashMap::new();
    let mut ranges = vec![(0u32, 0u32); graph.commits.len()];
    let total: usize = outs.iter().map(|o| o.changes.len()).sum();
    let mut ch_path = Vec::with_capacity(total);
    let mut ch_blob_ids: Vec<Option<ObjectId>> = Vec::with_capacity(total);
    let mut ch_from = Vec::with_capacity(total);
    let mut gitlinks: HashSet<u32> = HashSet::new();
    let mut links: HashSet<ObjectId> = HashSet::new();
    let mut problems = Vec::new();
    for out in outs {
        let remap: Vec<u32> = out
            .paths
            .into_iter()
            .map(|p| {
                if let Some(&i) = path_index.get(&p) {
                    return i;
                }
                let i = paths.len() as u32;
                paths.push(BString::from(p.clone()));
                path_index.insert(p, i);
                i
            })
            .collect();
        for (c, s, e) in out.commits {
            let base = ch_path.len() as u32;
            for ch in &out.changes[s as usize..e as usize] {
                ch_path.push(remap[ch.path as usize]);
                ch_blob_ids.push(ch.new);
                ch_from.push(if ch.from == NONE {
                    NONE
                } else {
                    remap[ch.from as usize]
                });
            }
            ranges[c as usize] = (base, base + (e - s));
        }
        gitlinks.extend(out.gitlinks.iter().map(|&p| remap[p as usize]));
        links.extend(out.links);
        problems.extend(out.problems);
    }
    drop(path_index);

    // Path classes, computed in parallel (glob matching is the cost).
    let sigs: Vec<Vec<u64>> = paths.par_iter().map(|p| path_signature(rules, p)).collect();
    let mut classes = Classes::default();
    let path_class: Vec<u32> = sigs.into_iter().map(|s| classes.intern(s)).collect();
    tracing::debug!(paths = paths.len(), classes = classes.count, "path classes");

    let mut blobs = BlobTable::default();
    let mut ch_blob = Vec::with_capacity(ch_blob_ids.len());
    for (i, id) in ch_blob_ids.into_iter().enumerate() {
        match id {
            Some(id) => {
                let b = blobs.intern(id);
                let p = ch_path[i];
                blobs.add_class(b, path_class[p as usize], p);
                ch_blob.push(b);
            }
            None => ch_blob.push(NONE),
        }
    }
    History {
        paths,
        path_class,
        blobs,
        ranges,
        ch_path,
        ch_blob,
        ch_from,
        gitlinks: gitlinks.len(),
        links: links.len(),
        problems,
    }
}

/// What the blob pass found.
#[derive(Default)]
struct Scanned {
    /// Matches per (blob, class), only where there are some.
    hits: HashMap<(u32, u32), Vec<Match>>,
    scanned: u64,
    bytes: u64,
    binary: u64,
    lfs: u64,
    path_skipped: u64,
    over_cap: Vec<String>,
    problems: Vec<Problem>,
}

impl Scanned {
    fn merge(&mut self, o: Scanned) {
        self.hits.extend(o.hits);
        self.scanned += o.scanned;
        self.bytes += o.bytes;
        self.binary += o.binary;
        self.lfs += o.lfs;
        self.path_skipped += o.path_skipped;
        self.over_cap.extend(o.over_cap);
        self.problems.extend(o.problems);
    }
}

fn is_lfs_pointer(data: &[u8]) -> bool {
    data.len() < 1024 && data.starts_with(LFS_POINTER)
}

/// Reads every blob once (see the `packs` submodule) and scans it once per class of its paths.
#[allow(clippy::too_many_arguments)]
fn scan_blobs(
    history: &History,
    objects: &Path,
    hash: gix::hash::Kind,
    handles: &Handles,
    rules: &Ruleset,
    promisor: bool,
    progress: &Progress,
) -> Scanned {
    let blobs = &history.blobs;
    let limit = rules.policy.max_blob_bytes;
    let shown = |b: u32| -> String {
        let (_, p) = blobs.first[b as usize];
        let path = history
            .paths
            .get(p as usize)
            .map(|p| escape(p))
            .unwrap_or_default();
        format!("{path} ({})", blobs.ids[b as usize])
    };
    let empty = ObjectId::empty_blob(hash);
    let mut out = Scanned::default();
    let mut wanted: Vec<u32> = Vec::new();
    for b in 0..blobs.ids.len() as u32 {
        if !blobs.classes(b).any(|(c, _)| c != 0) {
            out.path_skipped += 1;
        } else if blobs.ids[b as usize] != empty {
            wanted.push(b);
        }
    }
    let ids: Vec<ObjectId> = wanted.iter().map(|&b| blobs.ids[b as usize]).collect();
    let packs = packs::Packs::open(objects, hash);
    let (plan, missing) = packs.plan(&ids);
    progress.phase("scanning blobs", Some(wanted.len() as u64), Unit::Blobs);

    let any_binary_rule = rules.rules.iter().any(|r| r.binary);
    let shared = Mutex::new(Scanned::default());
    let counts: [AtomicU64; 4] = Default::default(); // scanned, bytes, binary, lfs
    let scan_one = |b: u32, data: &[u8]| {
        progress.inc(1, data.len() as u64);
        if is_lfs_pointer(data) {
            counts[3].fetch_add(1, Ordering::Relaxed);
            return;
        }
        if !any_binary_rule && is_binary(data) {
            counts[2].fetch_add(1, Ordering::Relaxed);
            return;
        }
        counts[0].fetch_add(1, Ordering::Relaxed);
        counts[1].fetch_add(data.len() as u64, Ordering::Relaxed);
        for (class, path) in blobs.classes(b) {
            if class == 0 {
                continue;
            }
            let found = rules.scan(&history.paths[path as usize], data);
            if !found.is_empty() {
                lock(&shared).hits.insert((b, class), found);
            }
        }
    };
    let too_large = |b: u32, size: u64| {
        progress.inc(1, 0);
        lock(&shared).over_cap.push(format!(
            "{}: {size} bytes, over the {limit}-byte cap",
            shown(b)
        ));
    };
    let failed = |b: u32, why: String| {
        progress.inc(1, 0);
        lock(&shared).problems.push(Problem::Error(format!(
            "blob {} cannot be read: {why}",
            shown(b)
        )));
    };
    let read_whole = |id: &oid| -> std::result::Result<Option<(Kind, Vec<u8>)>, String> {
        let worker = handles.get();
        let mut buf = Vec::new();
        match worker.odb.try_find(id, &mut buf) {
            Ok(Some(d)) => Ok(Some((d.kind, d.data.to_vec()))),
            Ok(None) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    };
    let external = |id: &oid| read_whole(id).ok().flatten().map(|(_, d)| d);
    let visit = |wi: u32, blob: packs::Blob<'_>| {
        let b = wanted[wi as usize];
        match blob {
            packs::Blob::Data(d) => scan_one(b, d),
            packs::Blob::TooLarge(size) => too_large(b, size),
            packs::Blob::Failed(why) => failed(b, why),
        }
    };
    packs.decode(&plan, limit, &external, &visit);
    drop(plan);
    drop(packs);

    // Loose objects, and those no pack holds.
    missing.par_iter().for_each(|&wi| {
        let b = wanted[wi as usize];
        match read_whole(&blobs.ids[b as usize]) {
            Ok(Some((Kind::Blob, d))) if d.len() as u64 > limit => too_large(b, d.len() as u64),
            Ok(Some((Kind::Blob, d))) => scan_one(b, &d),
            Ok(Some((k, _))) => failed(b, format!("it is a {k}, expected a blob")),
            Ok(None) if promisor => {
                progress.inc(1, 0);
                lock(&shared).problems.push(Problem::NotFetched(format!(
                    "{}: not fetched by this partial clone",
                    shown(b)
                )));
            }
            Ok(None) => {
                progress.inc(1, 0);
                lock(&shared)
                    .problems
                    .push(Problem::Error(format!("blob {} is missing", shown(b))));
            }
            Err(e) => failed(b, e),
        }
    });
    let shared = shared.into_inner().unwrap_or_else(|e| e.into_inner());
    out.merge(shared);
    out.scanned = counts[0].load(Ordering::Relaxed);
    out.bytes = counts[1].load(Ordering::Relaxed);
    out.binary = counts[2].load(Ordering::Relaxed);
    out.lfs = counts[3].load(Ordering::Relaxed);
    out.over_cap.sort();
    out
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A value found, as attribution groups it: one rule, one value, one origin (the path where
/// the file that holds it started, following renames and edits).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct GroupKey {
    rule: usize,
    value: Vec<u8>,
    /// The setting that holds the value: the same value in two settings is two findings.
    name: Option<String>,
    origin: u32,
}

/// The first place of a group: where it is reported.
#[derive(Debug, Clone, Copy)]
struct Place {
    /// Topological position of the commit.
    pos: u32,
    commit: u32,
    path: u32,
    blob: u32,
    class: u32,
    /// Index of the match in the blob's matches for that class.
    index: usize,
}

/// What attribution knows about one group.
#[derive(Debug, Clone, Default)]
struct Group {
    first: Option<Place>,
    /// Topological position of the last commit that holds it.
    last: u32,
    occurrences: u64,
    present: bool,
    blobs: HashSet<u32>,
}

/// How often a [`Held`] state is used: by how many commits, the first (the one that made it)
/// and the last in topological order.
#[derive(Debug, Clone, Copy, Default)]
struct Uses {
    count: u64,
    first_pos: u32,
    first_commit: u32,
    last_pos: u32,
}

/// What a commit holds at the paths that matter: (path, blob, origin), sorted by path. Commits
/// that change none of those paths share their first parent's state.
#[derive(Debug, Default)]
struct Held {
    entries: Vec<(u32, u32, u32)>,
    uses: std::cell::Cell<Uses>,
}

impl Held {
    fn get(&self, path: u32) -> Option<(u32, u32)> {
        self.entries
            .binary_search_by_key(&path, |e| e.0)
            .ok()
            .map(|i| (self.entries[i].1, self.entries[i].2))
    }
}

/// The matches of each (path, blob) a state holds, with their group keys.
fn held_matches<'a>(
    held: &'a Held,
    history: &'a History,
    scanned: &'a Scanned,
) -> impl Iterator<Item = (GroupKey, u32, u32, u32, usize, &'a Match)> + 'a {
    held.entries.iter().flat_map(move |&(path, blob, origin)| {
        let class = history.path_class[path as usize];
        scanned
            .hits
            .get(&(blob, class))
            .into_iter()
            .flat_map(|v| v.iter().enumerate())
            .map(move |(i, m)| {
                (
                    GroupKey {
                        rule: m.rule,
                        value: m.value.clone(),
                        name: m.name.clone(),
                        origin,
                    },
                    path,
                    blob,
                    class,
                    i,
                    m,
                )
            })
    })
}

/// Adds the commits that used a state to the groups of the values it holds.
fn flush(held: &Held, history: &History, scanned: &Scanned, groups: &mut HashMap<GroupKey, Group>) {
    let uses = held.uses.get();
    if uses.count == 0 {
        return;
    }
    let mut counted: HashSet<GroupKey> = HashSet::new();
    for (key, path, blob, class, index, m) in held_matches(held, history, scanned) {
        // A value twice in one file, or in two files of the same origin, is still held once
        // by each commit.
        let first_here = !counted.contains(&key);
        if first_here {
            counted.insert(key.clone());
        }
        let g = groups.entry(key).or_default();
        if first_here {
            g.occurrences += uses.count;
        }
        g.blobs.insert(blob);
        g.last = g.last.max(uses.last_pos);
        let place = Place {
            pos: uses.first_pos,
            commit: uses.first_commit,
            path,
            blob,
            class,
            index,
        };
        let better = match &g.first {
            None => true,
            Some(f) => {
                let fm = &scanned.hits[&(f.blob, f.class)][f.index];
                (place.pos, &history.paths[path as usize], m.line, m.column)
                    < (f.pos, &history.paths[f.path as usize], fm.line, fm.column)
            }
        };
        if better {
            g.first = Some(place);
        }
    }
}

/// Replays the first-parent diffs at the paths that matter, in topological order, and groups
/// the matches of the blobs held there.
///
/// The origin of a file at a path is inherited, in this order: from a parent other than the
/// first that holds the same blob there (a merge brings the file from that side); from the
/// first parent's file at the same path (an edit); from the path a pure rename moved the blob
/// from; from the path a rename with edits moved the file from (judged by content, as git
/// does: see [`similar_renames`]); from any parent's file at that path (a merge resolution);
/// else the path itself.
fn attribute(
    graph: &Graph,
    history: &History,
    scanned: &Scanned,
    head: Option<u32>,
    odb: &gix::odb::Handle,
) -> HashMap<GroupKey, Group> {
    let mut groups: HashMap<GroupKey, Group> = HashMap::new();
    if scanned.hits.is_empty() {
        return groups;
    }
    let target_blob: HashSet<u32> = scanned.hits.keys().map(|k| k.0).collect();
    let mut target_path = vec![false; history.paths.len()];
    for (i, &b) in history.ch_blob.iter().enumerate() {
        if b != NONE && target_blob.contains(&b) {
            target_path[history.ch_path[i] as usize] = true;
        }
    }
    let n = graph.commits.len();
    let parents_of = |c: &CommitNode| {
        std::iter::once(c.first_parent)
            .chain(c.other_parents.clone())
            .filter(|&p| p != NONE)
            .collect::<Vec<u32>>()
    };
    let mut remaining = vec![0u32; n];
    for c in &graph.commits {
        for p in parents_of(c) {
            remaining[p as usize] += 1;
        }
    }
    let mut states: Vec<Option<Rc<Held>>> = vec![None; n];
    let release = |slot: &mut Option<Rc<Held>>, groups: &mut HashMap<GroupKey, Group>| {
        if let Some(s) = slot.take() {
            if Rc::strong_count(&s) == 1 {
                flush(&s, history, scanned, groups);
            }
        }
    };

    for (pos, &c) in graph.topo.iter().enumerate() {
        let node = &graph.commits[c as usize];
        let base = (node.first_parent != NONE)
            .then(|| states[node.first_parent as usize].clone())
            .flatten();
        let (s, e) = history.ranges[c as usize];
        let relevant: Vec<usize> = (s as usize..e as usize)
            .filter(|&i| target_path[history.ch_path[i] as usize])
            .collect();
        let state = match base {
            Some(base) if relevant.is_empty() => base,
            base => {
                let base = base.unwrap_or_default();
                let others: Vec<Rc<Held>> = node
                    .other_parents
                    .iter()
                    .filter_map(|&p| states[p as usize].clone())
                    .collect();
                let mut map: std::collections::BTreeMap<u32, (u32, u32)> =
                    base.entries.iter().map(|&(p, b, o)| (p, (b, o))).collect();
                for &i in &relevant {
                    map.remove(&history.ch_path[i]);
                }
                let renamed = similar_renames(&relevant, history, &base, &others, odb);
                for &i in &relevant {
                    let (path, blob) = (history.ch_path[i], history.ch_blob[i]);
                    if blob == NONE {
                        continue;
                    }
                    let from = history.ch_from[i];
                    let origin = others
                        .iter()
                        .find_map(|h| h.get(path).filter(|&(b, _)| b == blob))
                        .or_else(|| base.get(path))
                        .or_else(|| {
                            (from != NONE)
                                .then(|| base.get(from))
                                .flatten()
                                .filter(|&(b, _)| b == blob)
                        })
                        .or_else(|| renamed.get(&path).map(|&o| (blob, o)))
                        .or_else(|| others.iter().find_map(|h| h.get(path)))
                        .map(|(_, o)| o)
                        .unwrap_or(path);
                    map.insert(path, (blob, origin));
                }
                Rc::new(Held {
                    entries: map.into_iter().map(|(p, (b, o))| (p, b, o)).collect(),
                    uses: Default::default(),
                })
            }
        };
        let mut u = state.uses.get();
        if u.count == 0 {
            u.first_pos = pos as u32;
            u.first_commit = c;
        }
        u.count += 1;
        u.last_pos = pos as u32;
        state.uses.set(u);
        if Some(c) == head {
            for (key, ..) in held_matches(&state, history, scanned) {
                groups.entry(key).or_default().present = true;
            }
        }
        states[c as usize] = Some(state);
        for p in parents_of(node) {
            remaining[p as usize] -= 1;
            if remaining[p as usize] == 0 {
                release(&mut states[p as usize], &mut groups);
            }
        }
        if remaining[c as usize] == 0 {
            release(&mut states[c as usize], &mut groups);
        }
    }
    for slot in &mut states {
        release(slot, &mut groups);
    }
    groups
}

/// Git's default rename threshold: files at least this alike (in percent) are one file moved.
const RENAME_SCORE: u64 = 50;

/// Above this many (deleted, added) pairs in one commit, only files of the same name are
/// compared (git has a limit of its own for the same reason).
const RENAME_PAIRS: usize = 10_000;

/// The lines of a blob, hashed, with the bytes each line accounts for.
fn line_weights(data: &[u8]) -> HashMap<u64, u64> {
    use std::hash::{Hash, Hasher};
    let mut out: HashMap<u64, u64> = HashMap::new();
    for line in data.split_inclusive(|&b| b == b'\n') {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        line.hash(&mut h);
        *out.entry(h.finish()).or_default() += line.len() as u64;
    }
    out
}

/// How alike two blobs are, in percent, as git's rename detection judges it: the bytes of
/// the lines they share over the size of the larger one.
fn similarity(a: &HashMap<u64, u64>, a_len: u64, b: &HashMap<u64, u64>, b_len: u64) -> u64 {
    let larger = a_len.max(b_len);
    if larger == 0 {
        return 100;
    }
    let shared: u64 = a
        .iter()
        .filter_map(|(k, &n)| b.get(k).map(|&m| n.min(m)))
        .sum();
    shared * 100 / larger
}

/// Renames with edits among a commit's changes at the paths that matter: a file added at a new
/// path and one deleted from another path of the first parent, alike enough (git's
/// [`RENAME_SCORE`]), are one file moved and edited; the added path inherits the origin of the
/// deleted one. Each deleted file pairs with at most one added file, the most alike first.
/// Returns added path -> origin.
fn similar_renames(
    relevant: &[usize],
    history: &History,
    base: &Held,
    others: &[Rc<Held>],
    odb: &gix::odb::Handle,
) -> HashMap<u32, u32> {
    let mut out = HashMap::new();
    let mut dels: Vec<(u32, u32, u32)> = Vec::new();
    let mut adds: Vec<(u32, u32)> = Vec::new();
    let mut pure = HashSet::new();
    for &i in relevant {
        let (path, blob, from) = (history.ch_path[i], history.ch_blob[i], history.ch_from[i]);
        if blob == NONE {
            if let Some((b, o)) = base.get(path) {
                dels.push((path, b, o));
            }
            continue;
        }
        if base.get(path).is_some() || others.iter().any(|h| h.get(path).is_some()) {
            continue;
        }
        if from != NONE && base.get(from).is_some_and(|(b, _)| b == blob) {
            pure.insert(from);
            continue;
        }
        adds.push((path, blob));
    }
    dels.retain(|d| !pure.contains(&d.0));
    if dels.is_empty() || adds.is_empty() {
        return out;
    }
    let mut buf = Vec::new();
    let mut weights = |blob: u32| -> Option<(HashMap<u64, u64>, u64)> {
        let d = odb
            .try_find(&history.blobs.ids[blob as usize], &mut buf)
            .ok()??;
        (d.kind == Kind::Blob).then(|| (line_weights(d.data), d.data.len() as u64))
    };
    let add_w: Vec<_> = adds.iter().map(|&(_, b)| weights(b)).collect();
    let del_w: Vec<_> = dels.iter().map(|&(_, b, _)| weights(b)).collect();
    let name = |p: u32| {
        let p = &history.paths[p as usize];
        p.rfind_byte(b'/').map_or(&p[..], |i| &p[i + 1..]).to_vec()
    };
    let all_pairs = adds.len() * dels.len() <= RENAME_PAIRS;
    let mut scores: Vec<(u64, usize, usize)> = Vec::new();
    for (ai, a) in add_w.iter().enumerate() {
        let Some((aw, al)) = a else { continue };
        for (di, d) in del_w.iter().enumerate() {
            let Some((dw, dl)) = d else { continue };
            if !all_pairs && name(adds[ai].0) != name(dels[di].0) {
                continue;
            }
            let score = similarity(aw, *al, dw, *dl);
            if score >= RENAME_SCORE {
                scores.push((score, ai, di));
            }
        }
    }
    // The most alike first; ties by path, so the pairing does not depend on the diff's order.
    scores.sort_by(|x, y| {
        y.0.cmp(&x.0)
            .then_with(|| {
                history.paths[adds[x.1].0 as usize].cmp(&history.paths[adds[y.1].0 as usize])
            })
            .then_with(|| {
                history.paths[dels[x.2].0 as usize].cmp(&history.paths[dels[y.2].0 as usize])
            })
    });
    let mut used = HashSet::new();
    for (_, ai, di) in scores {
        if out.contains_key(&adds[ai].0) || !used.insert(di) {
            continue;
        }
        out.insert(adds[ai].0, dels[di].2);
    }
    out
}

/// With `--range` the tip of the default branch may be outside the audited commits: a group is
/// still present there if that tip holds one of its blobs at the path of its first place.
fn mark_present_fallback(
    odb: &gix::odb::Handle,
    hash: gix::hash::Kind,
    head: ObjectId,
    history: &History,
    groups: &mut HashMap<GroupKey, Group>,
) {
    let mut buf = Vec::new();
    let Ok(c) = read_commit(odb, &head, hash, &mut buf) else {
        return;
    };
    for g in groups.values_mut() {
        let Some(first) = g.first else {
            continue;
        };
        let path = &history.paths[first.path as usize];
        if let Some(id) = lookup_path(odb, hash, c.tree, path, &mut buf) {
            if let Some(&b) = history.blobs.index.get(&id) {
                g.present |= g.blobs.contains(&b);
            }
        }
    }
}

fn lookup_path(
    odb: &gix::odb::Handle,
    hash: gix::hash::Kind,
    tree: ObjectId,
    path: &[u8],
    buf: &mut Vec<u8>,
) -> Option<ObjectId> {
    let mut current = tree;
    let mut parts = path.split_str("/").peekable();
    while let Some(part) = parts.next() {
        let d = odb.try_find(&current, buf).ok()??;
        if d.kind != Kind::Tree {
            return None;
        }
        let e = gix::objs::TreeRefIter::from_bytes(d.data, hash)
            .filter_map(|e| e.ok())
            .find(|e| e.filename == part)?;
        let kind = EntryKind::of(e.mode);
        let id = e.oid.to_owned();
        match (parts.peek().is_some(), kind) {
            (true, EntryKind::Tree) => current = id,
            (false, EntryKind::File) => return Some(id),
            _ => return None,
        }
    }
    None
}

/// Turns the groups into findings, one per fingerprint, each attributed to its first place.
fn build_findings(
    rules: &Ruleset,
    odb: &gix::odb::Handle,
    hash: gix::hash::Kind,
    graph: &Graph,
    history: &History,
    scanned: &Scanned,
    groups: HashMap<GroupKey, Group>,
) -> Vec<Finding> {
    let mut provenance: HashMap<u32, Provenance> = HashMap::new();
    let mut buf = Vec::new();
    let mut placed: Vec<(Place, Group)> = groups
        .into_values()
        .filter_map(|g| g.first.map(|f| (f, g)))
        .collect();
    // Earliest first, so that a fingerprint met twice keeps its earliest place.
    placed.sort_by(|a, b| {
        (
            a.0.pos,
            &history.paths[a.0.path as usize],
            a.0.blob,
            a.0.index,
        )
            .cmp(&(
                b.0.pos,
                &history.paths[b.0.path as usize],
                b.0.blob,
                b.0.index,
            ))
    });
    let mut out: Vec<Finding> = Vec::new();
    // Folded by fingerprint and setting: `WTF_CSRF_SECRET_KEY` holding the value of
    // `SECRET_KEY` is a second finding, not an occurrence of the first.
    let mut by_fingerprint: HashMap<(String, String), (usize, u32)> = HashMap::new();
    for (first, g) in placed {
        let m = &scanned.hits[&(first.blob, first.class)][first.index];
        let path = &history.paths[first.path as usize];
        let commit_id = graph.commits[first.commit as usize].id;
        let last_id = graph.commits[graph.topo[g.last as usize] as usize].id;
        let prov = provenance
            .entry(first.commit)
            .or_insert_with(|| {
                let info = match odb.try_find(&commit_id, &mut buf) {
                    Ok(Some(d)) if d.kind == Kind::Commit => commit_info(d.data, hash),
                    _ => Default::default(),
                };
                Provenance {
                    commit: Some(commit_id.to_string()),
                    author: Some(info.author),
                    date: Some(info.date),
                    refname: None,
                    subject: None,
                }
            })
            .clone();
        let mut f = Finding::new(rules, m, path, &prov);
        let key = (f.fingerprint.clone(), f.message.clone());
        match by_fingerprint.get(&key).copied() {
            Some((i, last)) => {
                let e = &mut out[i];
                e.occurrences = Some(e.occurrences.unwrap_or(0) + g.occurrences);
                e.present_at_head = Some(e.present_at_head == Some(true) || g.present);
                if g.last > last {
                    e.last_commit = Some(last_id.to_string());
                    by_fingerprint.insert(key, (i, g.last));
                }
            }
            None => {
                f.present_at_head = Some(g.present);
                f.occurrences = Some(g.occurrences);
                f.first_commit = Some(commit_id.to_string());
                f.last_commit = Some(last_id.to_string());
                by_fingerprint.insert(key, (out.len(), g.last));
                out.push(f);
            }
        }
    }
    out
}

/// What a progress bar counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Commits,
    Blobs,
}

/// The progress bar on stderr (a terminal only): commits walked and diffed, then blobs and
/// bytes scanned, with the rate.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    bytes: AtomicU64,
}

impl Progress {
    fn new(enabled: bool) -> Self {
        Progress {
            bar: enabled.then(|| {
                let b = indicatif::ProgressBar::with_draw_target(
                    None,
                    indicatif::ProgressDrawTarget::stderr(),
                );
                b.enable_steady_tick(std::time::Duration::from_millis(120));
                b
            }),
            bytes: AtomicU64::new(0),
        }
    }

    fn phase(&self, what: &str, total: Option<u64>, unit: Unit) {
        let Some(b) = &self.bar else {
            return;
        };
        b.reset();
        b.set_length(total.unwrap_or(0));
        let template = match (total, unit) {
            (None, _) => "{spinner} {msg}: {human_pos} commits",
            (Some(_), Unit::Commits) => {
                "{spinner} {msg} {wide_bar} {human_pos}/{human_len} commits, {eta}"
            }
            (Some(_), Unit::Blobs) => {
                "{spinner} {msg} {wide_bar} {human_pos}/{human_len} blobs, {eta}"
            }
        };
        if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
            b.set_style(style.progress_chars("=> "));
        }
        b.set_message(what.to_owned());
    }

    fn inc(&self, n: u64, bytes: u64) {
        let Some(b) = &self.bar else {
            return;
        };
        b.inc(n);
        if bytes > 0 {
            let before = self.bytes.fetch_add(bytes, Ordering::Relaxed);
            let total = before + bytes;
            if before >> 26 != total >> 26 {
                let secs = b.elapsed().as_secs_f64().max(0.001);
                b.set_message(format!(
                    "scanning blobs: {}, {}/s",
                    indicatif::HumanBytes(total),
                    indicatif::HumanBytes((total as f64 / secs) as u64)
                ));
            }
        }
    }

    fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_raw_tree_entries() {
        let mut raw = b"100644 config.py\0".to_vec();
        raw.extend_from_slice(&[7u8; 20]);
        raw.extend_from_slice(b"40000 app\0");
        raw.extend_from_slice(&[8u8; 20]);
        let e = parse_entry(&raw, 20).unwrap();
        assert_eq!(
            (e.kind, e.name, e.len),
            (EntryKind::File, &b"config.py"[..], 37)
        );
        let e = parse_entry(&raw[37..], 20).unwrap();
        assert_eq!((e.kind, e.name), (EntryKind::Tree, &b"app"[..]));
        assert!(parse_entry(&raw[..30], 20).is_none());
        assert!(parse_entry(b"10x644 a\0", 20).is_none());
    }

    /// The path classes stand for the path in `Ruleset::scan`: two paths of one class must give
    /// the same matches on every rule's examples.
    #[test]
    fn paths_of_one_class_scan_alike() {
        let rules = crate::rules::builtin().unwrap();
        let paths: Vec<&[u8]> = vec![
            b"config.py",
            b"app/settings.py",
            b"tests/test_app.py",
            b"README.md",
            b"docs/config.rst",
            b".env",
            b"deploy/.env",
            b"deploy/prod.env",
            b"Dockerfile",
            b"docker-compose.yml",
            b"config.yaml",
            b"templates/index.html",
            b"settings.json",
            b"pyproject.toml",
            b"start.sh",
            b"notes.txt",
            b"static/app.min.js",
            b"config.py.example",
            b".netrc",
            b"Procfile",
        ];
        let sigs: Vec<Vec<u64>> = paths.iter().map(|p| path_signature(&rules, p)).collect();
        let key = |m: &Match| (m.rule, m.start, m.end, m.severity);
        let mut compared = 0;
        for rule in &rules.rules {
            for ex in rule.examples.iter().chain(&rule.negative_examples) {
                let data = ex.text.as_bytes();
                for i in 0..paths.len() {
                    for j in i + 1..paths.len() {
                        if sigs[i] != sigs[j] {
                            continue;
                        }
                        let a: Vec<_> = rules.scan(paths[i], data).iter().map(key).collect();
                        let b: Vec<_> = rules.scan(paths[j], data).iter().map(key).collect();
                        assert_eq!(
                            a,
                            b,
                            "{} and {} share a class but scan differently ({})",
                            String::from_utf8_lossy(paths[i]),
                            String::from_utf8_lossy(paths[j]),
                            rule.id
                        );
                        compared += 1;
                    }
                }
            }
        }
        assert!(compared > 0);
    }
}
