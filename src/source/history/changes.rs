//! The diff stage: every commit diffed against its first parent, and the tables of paths, blobs
//! and changes the scan and attribution stages read.
//!
//! Every (path, blob) pair that any commit's tree holds appears in one of those diffs (a root
//! commit or a shallow boundary is diffed against the empty tree), so the union of their
//! additions is exactly the set of files in the history, without a tree walk per commit.
//! Commits are diffed newest first, in contiguous chunks per thread, which is the order of the
//! pack and keeps delta bases in each thread's cache. With `--range`, a commit whose first
//! parent is outside the range is still diffed against that parent: a range reports what its
//! commits brought in. Each chunk interns its own paths; the chunks are then merged into one
//! [`History`], and each path is given its class (see [`super::classes`]).

use std::collections::{HashMap, HashSet};

use bstr::BString;
use gix::hash::ObjectId;
use rayon::prelude::*;

use super::classes::{path_signature, BlobTable, Classes};
use super::diffcache::{DiffCache, FreshDiff};
use super::graph::Graph;
use super::{Handles, Problem, Progress, NONE};
use crate::rules::Ruleset;
use crate::source::diff::tree::{Differ, Event};

/// Commits per unit of work in the diff pass: large enough to keep a thread's caches warm.
const DIFF_CHUNK: usize = 1024;

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
    /// Diffs made (not replayed from the cache), to keep in it.
    fresh: Vec<FreshDiff>,
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

/// Diffs the commits of one chunk: replayed from `kept` where it holds the pair of trees, and
/// noted for it (when there is a cache) where it does not.
fn diff_chunk(
    graph: &Graph,
    chunk: &[u32],
    handles: &Handles,
    hash: gix::hash::Kind,
    promisor: bool,
    kept: Option<&DiffCache>,
) -> ChunkOut {
    let mut guard = handles.get();
    let worker = &mut *guard;
    let mut differ = Differ::new(&worker.odb, &mut worker.trees, hash, promisor);
    let mut out = ChunkOut::default();
    let mut dels: Vec<(u32, ObjectId)> = Vec::new();
    for &c in chunk {
        let node = &graph.commits[c as usize];
        let base = node.base_tree;
        let start = out.changes.len() as u32;
        dels.clear();
        let mut on_event = |ev: Event<'_>| match ev {
            Event::Added(p, id) => {
                let path = out.intern(p);
                out.changes.push(RawChange {
                    path,
                    new: Some(id),
                    added: true,
                    from: NONE,
                });
            }
            Event::Modified(p, id, _) => {
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
            Event::Error(e) => out.problems.push(Problem::Error(e)),
            Event::NotFetched(w) => out.problems.push(Problem::NotFetched(w)),
        };
        let (old, new) = (base.as_deref(), node.tree.as_deref());
        match kept {
            Some(k) if k.replay(old, new, &mut on_event) => {}
            Some(_) => {
                let mut fresh = Some(FreshDiff::new(base, node.tree));
                let null = ObjectId::null(hash);
                differ.diff(old, new, &mut |ev| {
                    if fresh.as_mut().is_some_and(|f| !f.note(&ev, null)) {
                        fresh = None;
                    }
                    on_event(ev)
                });
                out.fresh.extend(fresh);
            }
            None => differ.diff(old, new, &mut on_event),
        }
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
pub(super) struct History {
    /// Every path, by path index.
    pub(super) paths: Vec<BString>,
    /// The class of each path (see [`Classes`]).
    pub(super) path_class: Vec<u32>,
    /// The signature of each class, by class number (class 0's is empty).
    pub(super) class_sigs: Vec<Vec<u64>>,
    /// Every unique blob, with the classes of its paths.
    pub(super) blobs: BlobTable,
    /// Per commit: the range of its changes in the `ch_` columns.
    pub(super) ranges: Vec<(u32, u32)>,
    /// Per change: the path.
    pub(super) ch_path: Vec<u32>,
    /// Per change: the blob now at the path, or [`NONE`] if the file was deleted.
    pub(super) ch_blob: Vec<u32>,
    /// Per change: for a pure rename, the path the blob was deleted from; else [`NONE`].
    pub(super) ch_from: Vec<u32>,
    /// Unique submodule paths.
    pub(super) gitlinks: usize,
    /// Unique symbolic link blobs: not scanned.
    pub(super) links: usize,
    /// Trees that could not be read.
    pub(super) problems: Vec<Problem>,
}

/// The diff pass over every commit, and the tables built from it; with `kept`, the diffs it
/// holds are replayed and the others returned, to keep.
pub(super) fn diff_all(
    graph: &Graph,
    handles: &Handles,
    hash: gix::hash::Kind,
    rules: &Ruleset,
    promisor: bool,
    kept: Option<&DiffCache>,
    progress: &dyn Progress,
) -> (History, Vec<FreshDiff>) {
    // Newest first: the pack's order.
    let order: Vec<u32> = graph.topo.iter().rev().copied().collect();
    let outs: Vec<ChunkOut> = order
        .par_chunks(DIFF_CHUNK)
        .map(|chunk| {
            let out = diff_chunk(graph, chunk, handles, hash, promisor, kept);
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
    let mut fresh = Vec::new();
    for mut out in outs {
        fresh.append(&mut out.fresh);
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
    let mut class_sigs = classes.sigs;
    if class_sigs.is_empty() {
        class_sigs.push(Vec::new());
    }
    let history = History {
        paths,
        path_class,
        class_sigs,
        blobs,
        ranges,
        ch_path,
        ch_blob,
        ch_from,
        gitlinks: gitlinks.len(),
        links: links.len(),
        problems,
    };
    (history, fresh)
}
