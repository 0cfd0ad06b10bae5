//! The commits of an audit: which tips it starts from, which commits they reach, and the one
//! order the later stages replay them in.
//!
//! Every ref (and a detached `HEAD`, and the detached `HEAD`s of the other work trees) is peeled
//! to a commit; the walk from those tips (or from `--range`, minus what its excluded tips reach)
//! gives the commits, which are put in a deterministic topological order: parents first, then by
//! committer date and id. A shallow boundary is a root here. Every commit keeps the tree of its
//! first parent, even outside `--range`, because the diff stage diffs against it.

use std::collections::{BinaryHeap, HashSet};

use bstr::ByteSlice;
use gix::hash::{oid, ObjectId};
use gix::objs::{Find as _, Kind};

use super::{HistoryRepo, Problem, Progress, NONE};
use crate::error::{Error, Result};
use crate::escape::escape;
use crate::stats::Stats;

impl HistoryRepo {
    /// Every ref's target, peeled to a commit, and a detached `HEAD`.
    pub(super) fn ref_tips(
        &self,
        repo: &gix::Repository,
        odb: &crate::source::repo::Odb,
        summary: &mut Stats,
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
    pub(super) fn range_tips(
        &self,
        repo: &gix::Repository,
        odb: &crate::source::repo::Odb,
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

/// Follows tags until something that is not a tag.
pub(super) fn peel(
    odb: &crate::source::repo::Odb,
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
            Ok(None) => return Err(Error::repo_msg(format!("object {id} is missing"))),
            Err(e) => return Err(Error::repo(format!("object {id} cannot be read"), e)),
        }
    }
    Err(Error::repo_msg(format!("tag chain at {id} is too long")))
}

/// What the audit reads of a commit.
pub(super) struct ParsedCommit {
    pub(super) tree: ObjectId,
    pub(super) parents: Vec<ObjectId>,
    /// The committer date, in seconds (0 if it cannot be read).
    pub(super) time: i64,
}

/// Reads and parses commit `id`; anything but a readable commit is an error.
pub(super) fn read_commit(
    odb: &crate::source::repo::Odb,
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
        Ok(Some(d)) => Err(Error::repo_msg(format!(
            "object {id} is a {}, expected a commit",
            d.kind
        ))),
        Ok(None) => Err(Error::repo_msg(format!("commit {id} is missing"))),
        Err(e) => Err(Error::repo(format!("commit {id} cannot be read"), e)),
    }
}

/// One commit of the audit.
pub(super) struct CommitNode {
    pub(super) id: ObjectId,
    pub(super) tree: Option<ObjectId>,
    /// The tree it is diffed against: its first parent's, even outside `--range` (so a range
    /// reports what its commits brought in); none for a root or a shallow boundary.
    pub(super) base_tree: Option<ObjectId>,
    pub(super) time: i64,
    /// The first parent, if it is audited too; else the commit is diffed against nothing.
    pub(super) first_parent: u32,
    /// The other parents that are audited.
    pub(super) other_parents: Vec<u32>,
}

/// The commits, and their order.
pub(super) struct Graph {
    pub(super) commits: Vec<CommitNode>,
    /// Commit id -> index into `commits`.
    pub(super) index: gix::hashtable::HashMap<ObjectId, u32>,
    /// Commit indices, parents first.
    pub(super) topo: Vec<u32>,
}

/// Reads commits for the walk; a commit that cannot be read is recorded as a problem and the
/// walk goes on without it.
pub(super) struct Walker<'a> {
    odb: &'a crate::source::repo::Odb,
    hash: gix::hash::Kind,
    shallow: &'a HashSet<ObjectId>,
    problems: &'a mut Vec<Problem>,
    buf: Vec<u8>,
}

impl<'a> Walker<'a> {
    /// A walker over `odb`; a commit in `shallow` is treated as a root.
    pub(super) fn new(
        odb: &'a crate::source::repo::Odb,
        hash: gix::hash::Kind,
        shallow: &'a HashSet<ObjectId>,
        problems: &'a mut Vec<Problem>,
    ) -> Self {
        Walker {
            odb,
            hash,
            shallow,
            problems,
            buf: Vec::new(),
        }
    }

    /// Every commit reachable from `tips` (the excluded side of a range).
    pub(super) fn reachable(&mut self, tips: &[ObjectId]) -> HashSet<ObjectId> {
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
    pub(super) fn walk(
        &mut self,
        tips: &[ObjectId],
        hidden: &HashSet<ObjectId>,
        progress: &dyn Progress,
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
