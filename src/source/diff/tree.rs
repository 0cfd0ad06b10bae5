//! The tree differ: what changed between two trees, file by file, as a stream of events. The
//! one differ of the crate: the audit streams its events over a whole history, the hooks
//! collect them ([`super::diff_trees`]).
//!
//! Diffing every commit against its first parent is how the audit finds every (path, blob) pair
//! of a history without walking each commit's whole tree, so this is its hottest loop. Unchanged
//! entries are skipped by comparing the raw bytes of the two trees, without parsing them (most
//! entries of most diffs are unchanged), and the trees read are kept in a `TreeCache`, because
//! a commit's trees are read again as the parent side of the next diff.
//!
//! The differ knows nothing of the audit's tables: it reads trees from an object handle, emits
//! each change as an `Event` to a sink the caller gives, with the full path of the entry, and
//! leaves interning paths and blobs to the caller. A tree that cannot be read is an event too,
//! and the diff goes on without it.

use std::collections::HashMap;
use std::sync::Arc;

use gix::hash::{oid, ObjectId};
use gix::objs::{Find as _, Kind};

use crate::escape::escape;
use crate::source::repo::{deep_path, tree_order, EntryKind, MAX_TREE_DEPTH};

/// One change between two trees, with the path of the entry from the root (`/`-separated).
#[derive(Debug)]
pub(crate) enum Event<'p> {
    /// A file where the old tree had no file.
    Added(&'p [u8], ObjectId),
    /// A file whose blob differs from the old tree's file at the same path: the new blob, then
    /// the old one.
    Modified(&'p [u8], ObjectId, ObjectId),
    /// A file of the old tree that the new tree no longer has.
    Deleted(&'p [u8], ObjectId),
    /// A submodule (gitlink) in the new tree.
    Gitlink(&'p [u8]),
    /// A symbolic link's blob (its target path) in the new tree: counted, not scanned.
    Link(ObjectId),
    /// A tree that is corrupt, missing or too deep: the diff goes on without it.
    Error(String),
    /// A tree a partial clone never fetched: the diff goes on without it.
    NotFetched(String),
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
    /// A cache of at most about `cap` bytes of trees; 0 keeps nothing.
    pub(crate) fn new(cap: usize) -> Self {
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

/// A recursive diff of two trees (see the module's documentation).
pub(crate) struct Differ<'a> {
    odb: &'a crate::source::repo::Odb,
    trees: &'a mut TreeCache,
    hash: gix::hash::Kind,
    /// A missing tree is one a partial clone never fetched, not an error.
    promisor: bool,
    /// The path of the tree being diffed, from the root.
    path: Vec<u8>,
    buf: Vec<u8>,
    /// How many trees deep the walk is.
    depth: usize,
}

impl<'a> Differ<'a> {
    /// A differ reading trees from `odb` through `trees`. In a partial clone (`promisor`) a
    /// missing tree is reported as not fetched rather than as an error.
    pub(crate) fn new(
        odb: &'a crate::source::repo::Odb,
        trees: &'a mut TreeCache,
        hash: gix::hash::Kind,
        promisor: bool,
    ) -> Self {
        Differ {
            odb,
            trees,
            hash,
            promisor,
            path: Vec::new(),
            buf: Vec::new(),
            depth: 0,
        }
    }

    /// Diffs tree `old` against tree `new` (`None`: the empty tree) and hands every change to
    /// `sink`, in git's order of tree entries.
    pub(crate) fn diff(
        &mut self,
        old: Option<&oid>,
        new: Option<&oid>,
        sink: &mut dyn FnMut(Event<'_>),
    ) {
        self.path.clear();
        self.rec(old, new, sink);
    }

    fn shown(&self) -> String {
        if self.path.is_empty() {
            String::new()
        } else {
            format!(" ({})", escape(&self.path))
        }
    }

    fn load(&mut self, id: &oid) -> std::result::Result<Tree, Event<'static>> {
        if let Some(d) = self.trees.get(id) {
            return Ok(d);
        }
        let r = match self.odb.try_find(id, &mut self.buf) {
            Ok(Some(d)) if d.kind == Kind::Tree => Ok(Some(Ok(Tree::from(d.data)))),
            Ok(Some(d)) => Ok(Some(Err(d.kind))),
            Ok(None) => Ok(None),
            Err(e) => Err(e),
        };
        let data: Tree = match r {
            Ok(Some(Ok(data))) => data,
            Ok(Some(Err(kind))) => {
                return Err(Event::Error(format!(
                    "object {id}{} is a {kind}, expected a tree",
                    self.shown(),
                )))
            }
            Ok(None) if self.promisor => {
                return Err(Event::NotFetched(format!(
                    "tree {id}{}: not fetched by this partial clone",
                    self.shown()
                )))
            }
            Ok(None) => {
                return Err(Event::Error(format!(
                    "tree {id}{} is missing",
                    self.shown()
                )))
            }
            Err(e) => {
                return Err(Event::Error(format!(
                    "tree {id}{} cannot be read: {e}",
                    self.shown()
                )))
            }
        };
        self.trees.insert(id.to_owned(), Arc::clone(&data));
        Ok(data)
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
                sink(p);
                Tree::default()
            }
            None => Tree::default(),
        }
    }

    fn rec(&mut self, old: Option<&oid>, new: Option<&oid>, sink: &mut dyn FnMut(Event<'_>)) {
        if old == new {
            return;
        }
        if self.depth >= MAX_TREE_DEPTH {
            let id = new.or(old).map(|t| t.to_string()).unwrap_or_default();
            sink(Event::Error(format!(
                "tree {id} at {} is nested deeper than {} levels (git's own limit); not read",
                deep_path(&self.path),
                MAX_TREE_DEPTH
            )));
            return;
        }
        self.depth += 1;
        self.rec_level(old, new, sink);
        self.depth -= 1;
    }

    /// Diffs the entries of one level: both trees are walked in git's order of entries, side by
    /// side, runs of identical entries skipped whole.
    fn rec_level(&mut self, old: Option<&oid>, new: Option<&oid>, sink: &mut dyn FnMut(Event<'_>)) {
        let od = self.side(old, sink);
        let nd = self.side(new, sink);
        let hash_len = self.hash.len_in_bytes();
        let (mut i, mut j) = (0usize, 0usize);
        loop {
            if i < od.len() && j < nd.len() {
                let k = same_entries(&od[i..], &nd[j..], hash_len);
                if k > 0 {
                    i += k;
                    j += k;
                    continue;
                }
            }
            let a = entry_at(&od, &mut i, hash_len, old, sink);
            let b = entry_at(&nd, &mut j, hash_len, new, sink);
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
                        self.changed(&x, &y, sink);
                    }
                }
            }
        }
    }

    /// Two entries of the same name that differ: a tree is diffed, a file is modified, and a
    /// change of kind is a deletion and an addition.
    #[inline]
    fn changed(&mut self, x: &RawEntry<'_>, y: &RawEntry<'_>, sink: &mut dyn FnMut(Event<'_>)) {
        match (x.kind, y.kind) {
            (EntryKind::Tree, EntryKind::Tree) => {
                let len = self.push_name(y.name);
                self.rec(Some(x.id), Some(y.id), sink);
                self.path.truncate(len);
            }
            (EntryKind::File, EntryKind::File) => {
                let len = self.push_name(y.name);
                sink(Event::Modified(
                    &self.path,
                    y.id.to_owned(),
                    x.id.to_owned(),
                ));
                self.path.truncate(len);
            }
            _ => {
                self.one_side(x.name, x.id, x.kind, false, sink);
                self.one_side(y.name, y.id, y.kind, true, sink);
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

/// The length of the run of whole entries that two trees' raw bytes share from the start:
/// the longest common run of bytes, then whole entries within it, found with one search for
/// each name's end and no parsing.
#[inline]
fn same_entries(old: &[u8], new: &[u8], hash_len: usize) -> usize {
    let same = common_prefix(old, new);
    let mut k = 0;
    while let Some(nul) = memchr::memchr(0, &old[k..]) {
        let end = k + nul + 1 + hash_len;
        if end > same {
            break;
        }
        k = end;
    }
    k
}

/// The entry of `data` at `*at`, if there is one. A corrupt entry is reported (as a corrupt
/// tree `id`) and ends the tree: `*at` moves to its end.
#[inline]
fn entry_at<'t>(
    data: &'t [u8],
    at: &mut usize,
    hash_len: usize,
    id: Option<&oid>,
    sink: &mut dyn FnMut(Event<'_>),
) -> Option<RawEntry<'t>> {
    if *at >= data.len() {
        return None;
    }
    match parse_entry(&data[*at..], hash_len) {
        Some(e) => Some(e),
        None => {
            let id = id.map(|i| i.to_string()).unwrap_or_default();
            sink(Event::Error(format!("tree {id} is corrupt")));
            *at = data.len();
            None
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
}
