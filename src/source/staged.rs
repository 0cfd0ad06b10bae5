//! The staged change: the index against `HEAD`, read from the object database.
//!
//! A pre-commit hook must judge exactly what the commit will hold, which is the index, not the
//! work tree: a file that is partly staged is judged by its staged blob, and `git commit -a` or
//! `git commit <paths>` commit a temporary index that git names in `GIT_INDEX_FILE`. So the
//! index is opened from that variable when git sets it, and every blob is read from the object
//! database, never from disk.
//!
//! The hook runs on every commit of every developer, so it must cost about what
//! `git diff --cached` costs. The index and `HEAD`'s tree are both sorted by path, and are
//! walked together, directory by directory; a directory whose cached tree id (the index's
//! cache-tree extension, which `git commit` itself writes the commit's trees from) equals
//! `HEAD`'s is skipped without reading its trees, so an ordinary commit reads a handful of
//! trees and only the blobs that changed.

use std::ops::Range;
use std::path::{Path, PathBuf};

use bstr::{BStr, BString, ByteSlice, ByteVec};
use gix::hash::ObjectId;
use gix::index::entry::{Flags, Mode, Stage};
use gix::index::extension::Tree as CacheTree;

use super::config::{RepoConfig, REPO_CONFIG};
use super::diff::{pair_renames, Change};
use super::repo::{tree_order, EntryKind, Odb, PathLookup, Repo, SharedOdb};
use crate::error::{Error, Result};
use crate::escape::escape;
use crate::finding::{Finding, Provenance};
use crate::rules::Ruleset;
use crate::scan::{in_shares, BlobScanner};
use crate::stats::Stats;

/// Below this many changed files the scan stays on one thread (starting threads costs more).
const PARALLEL_FROM: usize = 32;

/// Where git put things for the hook: the variables git sets (or a user sets) that change which
/// repository, work tree and index a command sees.
#[derive(Debug, Clone, Default)]
pub struct StagedEnv {
    /// `GIT_DIR`: set by git for hooks in linked work trees, or by the user.
    pub git_dir: Option<PathBuf>,
    /// `GIT_WORK_TREE`.
    pub work_tree: Option<PathBuf>,
    /// `GIT_INDEX_FILE`: the index to commit (`git commit -a` and `git commit <paths>` point it
    /// at a temporary one).
    pub index_file: Option<PathBuf>,
}

impl StagedEnv {
    /// Reads the environment of the current process.
    pub fn from_env() -> Self {
        let var = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        StagedEnv {
            git_dir: var("GIT_DIR"),
            work_tree: var("GIT_WORK_TREE"),
            index_file: var("GIT_INDEX_FILE"),
        }
    }
}

/// A repository opened to judge its staged change.
pub struct StagedRepo {
    repo: Repo,
    index_path: PathBuf,
    work_tree: Option<PathBuf>,
}

/// What the staged change holds.
#[derive(Debug, Default)]
pub struct StagedScan {
    /// Findings on staged added lines, sorted by path and line.
    pub findings: Vec<Finding>,
    /// Files that differ from `HEAD` (after pairing renames), scanned or not.
    pub changed: usize,
    /// Paths with unresolved conflicts (not scanned: git commits none of them).
    pub unmerged: Vec<String>,
    /// Counts of blobs scanned and skipped.
    pub summary: Stats,
}

/// The change between `HEAD` and the index, before any blob is read.
#[derive(Debug, Default)]
pub struct StagedChanges {
    /// Every file added, changed or deleted (renames already paired).
    pub changes: Vec<Change>,
    /// Paths with conflict stages.
    pub unmerged: Vec<BString>,
    /// The trees of the commits in `MERGE_HEAD` when a merge is being concluded.
    pub merge_trees: Vec<ObjectId>,
    /// The staged entry of the repository's own `.secretgate.toml`, if the index has one: its
    /// blob, and whether it is a regular file (a symbolic link is refused, never followed).
    pub repo_config: Option<(ObjectId, bool)>,
}

impl StagedRepo {
    /// Opens the repository as git would for a command started in `dir` (default: the current
    /// directory) with the environment `env`; relative paths in `env` are taken from `dir`, as
    /// `git -C dir` does.
    pub fn open(dir: Option<&Path>, env: &StagedEnv) -> Result<Self> {
        let cwd = std::env::current_dir().map_err(|e| Error::Io {
            path: ".".into(),
            source: e,
        })?;
        let base = match dir {
            Some(d) => cwd.join(d),
            None => cwd,
        };
        let opened = match &env.git_dir {
            Some(g) => Repo::open(&base.join(g))?,
            None => Repo::discover(&base)?,
        };
        let repo = opened.gix();
        let work_tree = env
            .work_tree
            .as_ref()
            .map(|w| base.join(w))
            .or_else(|| repo.workdir().map(Path::to_owned));
        // Nothing is ever committed from a bare repository: judging its (absent) index would
        // accept in silence, so it is a usage error. (With `GIT_DIR` set, git takes the current
        // directory as the work tree unless the repository says it is bare.)
        let said_bare = || repo.config_snapshot().boolean("core.bare") == Some(true);
        if work_tree.is_none() && env.index_file.is_none() && (env.git_dir.is_none() || said_bare())
        {
            return Err(Error::Usage(format!(
                "pre-commit needs a work tree: {} is a bare repository",
                escape(repo.git_dir().as_os_str().as_encoded_bytes())
            )));
        }
        let index_path = env
            .index_file
            .as_ref()
            .map(|i| base.join(i))
            .unwrap_or_else(|| repo.index_path());
        tracing::debug!(git_dir = %repo.git_dir().display(), index = %index_path.display(), "staged change");
        Ok(StagedRepo {
            repo: opened,
            index_path,
            work_tree,
        })
    }

    /// The top of the work tree, if there is one.
    pub fn work_tree(&self) -> Option<&Path> {
        self.work_tree.as_deref()
    }

    /// The repository's own `.secretgate.toml` as text, with a name for messages: the staged
    /// version when the index holds one (what is being committed, and what the server would
    /// read once pushed), else the file at the top of the work tree (so patterns can be tried
    /// before they are committed).
    ///
    /// Only a regular file is read, never a symbolic link (staged or on disk), and at most
    /// [`super::config::MAX_CONFIG_BYTES`] of it: the file is whatever the last commit put there.
    pub fn repo_config(&self, staged: &StagedChanges) -> Result<Option<RepoConfig>> {
        if let Some((id, regular)) = staged.repo_config {
            let origin = format!("{REPO_CONFIG} (staged)");
            return RepoConfig::in_blob(self.repo.objects(), &id, regular, origin).map(Some);
        }
        match &self.work_tree {
            Some(top) => RepoConfig::in_dir(top),
            None => Ok(None),
        }
    }

    /// The tree of the commit `HEAD` names, or `None` on an unborn branch.
    fn head_tree(&self, buf: &mut Vec<u8>) -> Result<Option<ObjectId>> {
        let head = self
            .repo
            .gix()
            .head()
            .map_err(|e| Error::repo("cannot read HEAD", e))?;
        let Some(id) = head.id() else {
            return Ok(None);
        };
        Ok(Some(self.commit_tree(id.detach(), "HEAD", buf)?))
    }

    fn commit_tree(&self, id: ObjectId, what: &str, buf: &mut Vec<u8>) -> Result<ObjectId> {
        self.repo.commit_tree(id, what, buf)
    }

    /// The trees of the commits being merged in (`MERGE_HEAD`, one per line for an octopus).
    fn merge_trees(&self, buf: &mut Vec<u8>) -> Result<Vec<ObjectId>> {
        let path = self.repo.git_dir().join("MERGE_HEAD");
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::Io { path, source: e }),
        };
        let mut out = Vec::new();
        for line in text.lines().map(|l| l.trim()).filter(|l| !l.is_empty()) {
            let id = ObjectId::from_hex(line).map_err(|e| {
                Error::repo(format!("{} holds {:?}", path.display(), escape(line)), e)
            })?;
            out.push(self.commit_tree(id, "MERGE_HEAD", buf)?);
        }
        Ok(out)
    }

    /// The change a range of commits makes, as `git diff FROM...TO` shows it: from the merge
    /// base of `from` and `to` (none: the empty tree) to `to`. This is what the pre-commit
    /// framework's `--from-ref`/`--to-ref` (CI, pre-push) asks about: only the lines the
    /// range adds, as the server will judge them.
    pub fn range_changes(&self, from: &str, to: &str) -> Result<StagedChanges> {
        let mut buf = Vec::new();
        let resolve = |spec: &str, buf: &mut Vec<u8>| -> Result<ObjectId> {
            let id = self.repo.gix().rev_parse_single(spec).map_err(|e| {
                Error::Usage(format!(
                    "cannot resolve the revision {:?}: {e}",
                    escape(spec.as_bytes())
                ))
            })?;
            let (commit, kind) = self.repo.objects().peel(id.detach(), buf)?;
            if kind != gix::objs::Kind::Commit {
                return Err(Error::Usage(format!(
                    "the revision {:?} names a {kind}, not a commit",
                    escape(spec.as_bytes())
                )));
            }
            Ok(commit)
        };
        let from_commit = resolve(from, &mut buf)?;
        let to_commit = resolve(to, &mut buf)?;
        let base = self
            .repo
            .gix()
            .merge_base(from_commit, to_commit)
            .map_err(|e| {
                Error::repo(
                    format!("cannot find the merge base of {from_commit} and {to_commit}"),
                    e,
                )
            })?
            .map(|id| id.detach());
        let base_tree = match base {
            Some(b) => Some(self.commit_tree(b, "the merge base", &mut buf)?),
            None => None,
        };
        let to_tree = self.commit_tree(to_commit, to, &mut buf)?;
        let mut changes = Vec::new();
        super::diff::diff_trees(
            self.repo.objects(),
            base_tree.as_deref(),
            Some(&to_tree),
            &mut changes,
        )?;
        Ok(StagedChanges {
            changes,
            ..StagedChanges::default()
        })
    }

    /// Reads the index and compares it with `HEAD`, reading only the trees that differ.
    pub fn changes(&self) -> Result<StagedChanges> {
        let mut buf = Vec::new();
        let head = self.head_tree(&mut buf)?;
        let merge_trees = self.merge_trees(&mut buf)?;
        // The checksum is not verified (git does not verify it on read either); the entries are
        // parsed and checked all the same. One thread: without git's entry offset table, more
        // threads only parse the extensions beside the entries, and starting them costs more
        // than it saves.
        let options = gix::index::decode::Options {
            thread_limit: Some(1),
            ..Default::default()
        };
        let file = gix::index::File::at_or_default(
            &self.index_path,
            self.repo.objects().hash_kind(),
            true,
            options,
        )
        .map_err(|e| {
            Error::repo(
                format!("cannot read the index {}", self.index_path.display()),
                e,
            )
        })?;
        let state: &gix::index::State = &file;
        let repo_config = state
            .entry_by_path_and_stage(REPO_CONFIG.into(), Stage::Unconflicted)
            .filter(|e| e.mode != Mode::DIR && e.mode != Mode::COMMIT)
            .map(|e| {
                (
                    e.id,
                    e.mode == Mode::FILE || e.mode == Mode::FILE_EXECUTABLE,
                )
            });
        let mut walk = Walk {
            odb: self.repo.objects(),
            state,
            entries: state.entries(),
            changes: Vec::new(),
            unmerged: Vec::new(),
        };
        let mut prefix = BString::default();
        walk.dir(head, &mut prefix, 0..state.entries().len(), state.tree())?;
        let Walk {
            changes, unmerged, ..
        } = walk;
        Ok(StagedChanges {
            changes,
            unmerged,
            merge_trees,
            repo_config,
        })
    }

    /// Scans the staged change (from [`StagedRepo::changes`]) on up to `jobs` threads.
    pub fn scan(&self, rules: &Ruleset, staged: &StagedChanges, jobs: usize) -> Result<StagedScan> {
        // Renames are paired here, once the repository's own allowlist is known: it decides
        // which paths are judged alike.
        let mut changes = staged.changes.clone();
        pair_renames(&mut changes, &|a, b| rules.same_class(a, b));
        let work: Vec<&Change> = changes.iter().filter(|c| c.new.is_some()).collect();
        tracing::debug!(
            changed = staged.changes.len(),
            to_scan = work.len(),
            unmerged = staged.unmerged.len(),
            merging = staged.merge_trees.len(),
            "staged changes"
        );
        let odb = SharedOdb::new(self.repo.objects());
        let parts = in_shares(&work, jobs, PARALLEL_FROM, |share| {
            scan_changes(rules, &odb.get(), share, &staged.merge_trees)
        })?;
        let mut out = StagedScan {
            changed: changes.len(),
            unmerged: staged.unmerged.iter().map(|p| escape(p)).collect(),
            ..StagedScan::default()
        };
        for (found, summary) in parts {
            out.findings.extend(found);
            out.summary.absorb(summary);
        }
        crate::policy::sort_findings(&mut out.findings);
        Ok(out)
    }
}

/// Scans changed files: each new blob once, findings on the lines added relative to `HEAD` and
/// to every commit being merged in (a line that either side already had is not new).
fn scan_changes(
    rules: &Ruleset,
    odb: &Odb,
    work: &[&Change],
    merge_trees: &[ObjectId],
) -> Result<(Vec<Finding>, Stats)> {
    let mut scanner = BlobScanner::new(rules, odb);
    let mut merged: Vec<PathLookup<'_>> = merge_trees
        .iter()
        .map(|t| PathLookup::new(odb, *t))
        .collect();
    // The commit does not exist yet: no commit, author or date (the contract's null).
    let prov = Provenance::Staged;
    let mut found = Vec::new();
    for ch in work {
        let Some(new) = ch.new else { continue };
        let mut olds = Vec::with_capacity(1 + merged.len());
        olds.push(ch.old);
        for m in &mut merged {
            olds.push(m.file(&ch.path)?);
        }
        found.extend(scanner.added_findings(&ch.path, &new, &olds, &prov)?);
    }
    Ok((found, scanner.summary))
}

/// The entries of `HEAD`'s tree `head` (none: an empty directory), read into `data`, their
/// names borrowed from it.
fn tree_items<'d>(
    odb: &Odb,
    head: Option<ObjectId>,
    data: &'d mut Vec<u8>,
) -> Result<Vec<TreeItem<'d>>> {
    let mut items = Vec::new();
    if let Some(t) = head {
        odb.read_kind(&t, gix::objs::Kind::Tree, data)?;
        for e in gix::objs::TreeRefIter::from_bytes(data, odb.hash_kind()) {
            let e = e.map_err(|e| Error::repo(format!("tree {t} is corrupt"), e))?;
            items.push((e.filename, e.oid.to_owned(), EntryKind::of(e.mode)));
        }
    }
    Ok(items)
}

/// One item of a directory on the `HEAD` side: name, id, kind.
type TreeItem<'a> = (&'a BStr, ObjectId, EntryKind);

/// The walk of `HEAD`'s tree and the index together.
struct Walk<'a> {
    odb: &'a Odb,
    state: &'a gix::index::State,
    entries: &'a [gix::index::Entry],
    changes: Vec<Change>,
    unmerged: Vec<BString>,
}

/// One item of a directory on the index side, as a range of index entries: a file (all the
/// stages of one path) or a directory (every entry below it); its name is the `name_len` bytes
/// of the first entry's path after the directory's prefix.
enum IndexItem {
    File {
        entries: Range<usize>,
        name_len: usize,
    },
    Dir {
        entries: Range<usize>,
        name_len: usize,
    },
}

/// Orders names as git orders a tree's entries (and so the index's paths): a directory sorts as
/// if its name ended with `/`.
impl Walk<'_> {
    fn path(&self, i: usize) -> &BStr {
        self.entries[i].path(self.state)
    }

    /// Compares the directory `prefix` (empty, or ending in `/`) of `HEAD` (`head`, none if it
    /// has no such directory) with the index entries in `range`, which all start with `prefix`.
    fn dir(
        &mut self,
        head: Option<ObjectId>,
        prefix: &mut BString,
        range: Range<usize>,
        cache: Option<&CacheTree>,
    ) -> Result<()> {
        if self.settled(head, prefix, &range, cache)? {
            return Ok(());
        }
        // HEAD's side, read without copying names. Git writes a tree's entries in the order
        // `tree_order` describes; should a corrupt tree not be sorted, the merge below sees its
        // files as deleted and the index's as added, and scans more, never less.
        let mut data = Vec::new();
        let items = tree_items(self.odb, head, &mut data)?;
        let plen = prefix.len();
        let mut t = 0;
        let mut i = range.start;
        let mut next: Option<IndexItem> = None;
        loop {
            if next.is_none() && i < range.end {
                next = Some(self.index_item(plen, i, range.end));
            }
            let here = items.get(t).copied();
            let ord = match (&here, &next) {
                (Some(h), Some(item)) => tree_order(
                    h.0,
                    h.2 == EntryKind::Tree,
                    self.name(plen, item),
                    matches!(item, IndexItem::Dir { .. }),
                ),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => break,
            };
            let head_item = if ord == std::cmp::Ordering::Greater {
                None
            } else {
                t += 1;
                here
            };
            let index_item = if ord == std::cmp::Ordering::Less {
                None
            } else {
                next.take()
            };
            match (&head_item, &index_item) {
                (Some(h), _) => prefix.push_str(h.0),
                (None, Some(item)) => prefix.push_str(self.name(plen, item)),
                (None, None) => unreachable!("one side has an item"),
            }
            if let Some(end) = self.pair(head_item, index_item, prefix, plen, cache)? {
                i = end;
            }
            prefix.truncate(plen);
        }
        Ok(())
    }

    /// Whether the directory at `prefix` needs no walk: its cache-tree says nothing below
    /// changed, or a sparse index holds it as one entry (judged whole here). A directory nested
    /// deeper than git allows is an error, before the stack runs out.
    fn settled(
        &mut self,
        head: Option<ObjectId>,
        prefix: &BString,
        range: &Range<usize>,
        cache: Option<&CacheTree>,
    ) -> Result<bool> {
        // The cache-tree records the tree `git commit` will write for a directory; when it is
        // valid, accounts for every entry below, and equals HEAD's, nothing below changed.
        if let (Some(c), Some(h)) = (cache, head) {
            if c.id == h && c.num_entries.is_some_and(|n| n as usize == range.len()) {
                return Ok(true);
            }
        }
        // Each level is a call: refuse what git itself refuses, before the stack runs out.
        if memchr::memchr_iter(b'/', prefix).count() >= super::repo::MAX_TREE_DEPTH {
            return Err(Error::repo_msg(format!(
                "the index holds {} nested deeper than {} levels (git's own limit)",
                super::repo::deep_path(prefix),
                super::repo::MAX_TREE_DEPTH
            )));
        }
        // A sparse index holds a whole directory outside the sparse cone as one entry.
        let entries = self.entries;
        if range.len() == 1 && self.path(range.start) == prefix.as_bstr() {
            let e = &entries[range.start];
            if e.mode == Mode::DIR && e.stage() == Stage::Unconflicted {
                if head != Some(e.id) {
                    self.deleted_or_added(head, Some(e.id), prefix)?;
                }
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// One name of the directory at `prefix` (already pushed onto it), as `HEAD` and the
    /// index each hold it: recurses into directories, records files; returns the index entry
    /// after the item when the index had one.
    fn pair(
        &mut self,
        head_item: Option<TreeItem<'_>>,
        index_item: Option<IndexItem>,
        prefix: &mut BString,
        plen: usize,
        cache: Option<&CacheTree>,
    ) -> Result<Option<usize>> {
        match index_item {
            Some(IndexItem::Dir { entries: r, .. }) => {
                let end = r.end;
                let sub = match &head_item {
                    Some((_, id, EntryKind::Tree)) => Some(*id),
                    Some((_, id, EntryKind::File)) => {
                        self.changes.push(Change {
                            path: prefix.clone(),
                            old: Some(*id),
                            new: None,
                        });
                        None
                    }
                    _ => None,
                };
                let child = match (sub, cache) {
                    (Some(_), Some(c)) => c
                        .children
                        .iter()
                        .find(|k| k.name.as_slice() == &prefix[plen..]),
                    _ => None,
                };
                prefix.push(b'/');
                self.dir(sub, prefix, r, child)?;
                Ok(Some(end))
            }
            Some(IndexItem::File { entries: r, .. }) => {
                let end = r.end;
                let old = match &head_item {
                    Some((_, id, EntryKind::Tree)) => {
                        let len = prefix.len();
                        prefix.push(b'/');
                        self.deleted_or_added(Some(*id), None, prefix)?;
                        prefix.truncate(len);
                        None
                    }
                    Some((_, id, EntryKind::File)) => Some(*id),
                    _ => None,
                };
                self.file(prefix, old, r);
                Ok(Some(end))
            }
            None => {
                match &head_item {
                    Some((_, id, EntryKind::Tree)) => {
                        prefix.push(b'/');
                        self.deleted_or_added(Some(*id), None, prefix)?;
                    }
                    Some((_, id, EntryKind::File)) => self.changes.push(Change {
                        path: prefix.clone(),
                        old: Some(*id),
                        new: None,
                    }),
                    _ => {}
                }
                Ok(None)
            }
        }
    }

    /// The name of an index item: the part of its first entry's path after the prefix.
    fn name(&self, plen: usize, item: &IndexItem) -> &[u8] {
        let (IndexItem::Dir { entries, name_len } | IndexItem::File { entries, name_len }) = item;
        &self.path(entries.start)[plen..plen + name_len]
    }

    /// The index item that starts at entry `i`, below a prefix of `plen` bytes.
    fn index_item(&self, plen: usize, i: usize, end: usize) -> IndexItem {
        let path = self.path(i);
        let rest = &path[plen..];
        match rest.find_byte(b'/') {
            Some(slash) => {
                let dir = &path[..plen + slash + 1];
                let n = self.entries[i..end]
                    .partition_point(|e| e.path(self.state).starts_with(dir.as_bytes()));
                IndexItem::Dir {
                    entries: i..i + n,
                    name_len: slash,
                }
            }
            None => {
                let mut j = i + 1;
                while j < end && self.path(j) == path {
                    j += 1;
                }
                IndexItem::File {
                    entries: i..j,
                    name_len: rest.len(),
                }
            }
        }
    }

    /// One path of the index (all its stages) against `HEAD`'s file there (`old`).
    fn file(&mut self, path: &BString, old: Option<ObjectId>, r: Range<usize>) {
        let entries = self.entries;
        let e = &entries[r.start];
        if r.len() > 1 || e.stage() != Stage::Unconflicted {
            // Conflict stages: 1 is the common base, 2 ours (what HEAD has), 3 theirs (what
            // the other branch has, already committed there). None of them is what will be
            // committed: git refuses to commit until the path is resolved, and the resolution,
            // once staged, is judged as stage 0 like any other file. So the path is skipped.
            self.unmerged.push(path.clone());
            return;
        }
        // An intent-to-add entry (`git add -N`) is not committed.
        if e.flags.contains(Flags::INTENT_TO_ADD) {
            if let Some(o) = old {
                self.changes.push(Change {
                    path: path.clone(),
                    old: Some(o),
                    new: None,
                });
            }
            return;
        }
        // Symbolic links hold a path, submodules a commit id: neither is scanned.
        let new = (e.mode == Mode::FILE || e.mode == Mode::FILE_EXECUTABLE).then_some(e.id);
        // Same blob: unchanged, or only its mode changed, which adds no line.
        if old != new {
            self.changes.push(Change {
                path: path.clone(),
                old,
                new,
            });
        }
    }

    /// Every file of a directory that only one side has (`prefix` ends with `/`).
    fn deleted_or_added(
        &mut self,
        old: Option<ObjectId>,
        new: Option<ObjectId>,
        prefix: &BString,
    ) -> Result<()> {
        let mut sub = Vec::new();
        super::diff::diff_trees(self.odb, old.as_deref(), new.as_deref(), &mut sub)?;
        for mut c in sub {
            let mut path = prefix.clone();
            path.push_str(&c.path);
            c.path = path;
            self.changes.push(c);
        }
        Ok(())
    }
}
