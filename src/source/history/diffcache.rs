//! `audit --cache DIR`, the other half: what the diff of two trees gave, kept between audits, so
//! a re-audit does not read the trees of commits it has diffed before.
//!
//! A diff depends only on the two trees (their ids name their whole content) and on the
//! differ's code: the file is keyed by the running binary and the hash kind, not by the rules,
//! so new rules keep it. Each entry is the pair (old tree, new tree) with the events the differ
//! gave, replayed as they were; a diff that met an unreadable or unfetched tree is never kept.
//! The file holds paths and object ids, no content. Corruption, locking and replacement are
//! handled as for the blob cache ([`super::cache`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use gix::hash::{oid, ObjectId};
use sha2::{Digest, Sha256};

use super::cache::CacheWarning;
use super::cache::{binary_digest, file_name, read_checked, replace_under_lock, seal, Reader};
use super::NONE;
use crate::source::diff::tree::Event;

/// The file's first bytes.
const MAGIC: &[u8] = b"secretgate tree diff cache\n";

/// The layout's version: a file of another version is started over.
const VERSION: u32 = 1;

/// One event of a kept diff: its kind, and indices into the path and id tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Kept {
    kind: u8,
    path: u32,
    id: u32,
    old: u32,
}

const ADDED: u8 = 0;
const MODIFIED: u8 = 1;
const DELETED: u8 = 2;
const GITLINK: u8 = 3;
const LINK: u8 = 4;

/// A diff this run made, to keep: the trees and the events, owned.
pub(super) struct FreshDiff {
    base: Option<ObjectId>,
    tree: Option<ObjectId>,
    events: Vec<(u8, Vec<u8>, ObjectId, ObjectId)>,
}

impl FreshDiff {
    /// A diff of `base` against `tree`, about to be made.
    pub(super) fn new(base: Option<ObjectId>, tree: Option<ObjectId>) -> Self {
        FreshDiff {
            base,
            tree,
            events: Vec::new(),
        }
    }

    /// Notes one event; `false` when the diff must not be kept (a tree could not be read).
    pub(super) fn note(&mut self, ev: &Event<'_>, null: ObjectId) -> bool {
        let e = match ev {
            Event::Added(p, id) => (ADDED, p.to_vec(), *id, null),
            Event::Modified(p, id, old) => (MODIFIED, p.to_vec(), *id, *old),
            Event::Deleted(p, id) => (DELETED, p.to_vec(), *id, null),
            Event::Gitlink(p) => (GITLINK, p.to_vec(), null, null),
            Event::Link(id) => (LINK, Vec::new(), *id, null),
            Event::Error(_) | Event::NotFetched(_) => return false,
        };
        self.events.push(e);
        true
    }
}

/// The kept diffs of one repository.
pub(super) struct DiffCache {
    path: PathBuf,
    lock_path: PathBuf,
    key: [u8; 32],
    id_len: usize,
    null: ObjectId,
    paths: Vec<Vec<u8>>,
    path_index: HashMap<Vec<u8>, u32>,
    ids: Vec<ObjectId>,
    id_index: gix::hashtable::HashMap<ObjectId, u32>,
    /// (old tree, new tree) as id indices ([`NONE`]: no tree) -> range of `events`.
    pairs: HashMap<(u32, u32), (u32, u32)>,
    events: Vec<Kept>,
    dirty: bool,
}

impl DiffCache {
    /// Opens the kept diffs in `dir` (which exists) for the repository whose objects are in
    /// `objects`: a file that cannot be used is a warning beside an empty cache.
    pub(super) fn open(
        dir: &Path,
        objects: &Path,
        hash: gix::hash::Kind,
    ) -> Result<(Self, Option<CacheWarning>), CacheWarning> {
        let mut h = Sha256::new();
        h.update(MAGIC);
        h.update(binary_digest().map_err(CacheWarning)?);
        h.update([hash.len_in_bytes() as u8]);
        let key: [u8; 32] = h.finalize().into();
        super::cache::create_dir(dir)?;
        let name = file_name(objects).replace(".cache", ".diffs");
        let mut cache =
            DiffCache::empty(dir.join(&name), dir.join(format!("{name}.lock")), key, hash);
        let warning = match cache.read_file() {
            Ok(Some(other)) => {
                cache = other;
                None
            }
            Ok(None) => None,
            Err(why) => Some(CacheWarning(format!(
                "cache file {}: {why}: started over",
                cache.path.display()
            ))),
        };
        tracing::debug!(file = %cache.path.display(), diffs = cache.pairs.len(), "diff cache loaded");
        Ok((cache, warning))
    }

    fn read_file(&self) -> Result<Option<DiffCache>, String> {
        let Some(body) = read_checked(&self.path, MAGIC)? else {
            return Ok(None);
        };
        let mut other = self.empty_like();
        if !other.decode(&body)? {
            tracing::info!(file = %self.path.display(), "diff cache of another binary: started over");
            return Ok(None);
        }
        Ok(Some(other))
    }

    /// A cache with nothing in it, for the file at `path`.
    fn empty(path: PathBuf, lock_path: PathBuf, key: [u8; 32], hash: gix::hash::Kind) -> Self {
        DiffCache {
            path,
            lock_path,
            key,
            id_len: hash.len_in_bytes(),
            null: ObjectId::null(hash),
            paths: Vec::new(),
            path_index: HashMap::new(),
            ids: Vec::new(),
            id_index: Default::default(),
            pairs: HashMap::new(),
            events: Vec::new(),
            dirty: false,
        }
    }

    fn empty_like(&self) -> DiffCache {
        let hash = self.null.kind();
        DiffCache::empty(self.path.clone(), self.lock_path.clone(), self.key, hash)
    }

    fn intern_path(&mut self, p: &[u8]) -> u32 {
        if let Some(&i) = self.path_index.get(p) {
            return i;
        }
        let i = self.paths.len() as u32;
        self.paths.push(p.to_vec());
        self.path_index.insert(p.to_vec(), i);
        i
    }

    fn intern_id(&mut self, id: ObjectId) -> u32 {
        if let Some(&i) = self.id_index.get(&id) {
            return i;
        }
        let i = self.ids.len() as u32;
        self.ids.push(id);
        self.id_index.insert(id, i);
        i
    }

    fn index_of(&self, id: Option<&oid>) -> Option<u32> {
        match id {
            None => Some(NONE),
            Some(id) => self.id_index.get(id).copied(),
        }
    }

    /// Replays the kept diff of `base` against `tree` into `sink`; `false` when there is none.
    pub(super) fn replay(
        &self,
        base: Option<&oid>,
        tree: Option<&oid>,
        sink: &mut dyn FnMut(Event<'_>),
    ) -> bool {
        let (Some(b), Some(t)) = (self.index_of(base), self.index_of(tree)) else {
            return false;
        };
        let Some(&(start, len)) = self.pairs.get(&(b, t)) else {
            return false;
        };
        for e in &self.events[start as usize..(start + len) as usize] {
            let path = &self.paths[e.path as usize][..];
            let id = self.ids[e.id as usize];
            sink(match e.kind {
                ADDED => Event::Added(path, id),
                MODIFIED => Event::Modified(path, id, self.ids[e.old as usize]),
                DELETED => Event::Deleted(path, id),
                GITLINK => Event::Gitlink(path),
                _ => Event::Link(id),
            });
        }
        true
    }

    /// Keeps a diff this run made.
    pub(super) fn record(&mut self, d: &FreshDiff) {
        let b = d.base.map_or(NONE, |id| self.intern_id(id));
        let t = d.tree.map_or(NONE, |id| self.intern_id(id));
        if self.pairs.contains_key(&(b, t)) {
            return;
        }
        let start = self.events.len() as u32;
        for (kind, path, id, old) in &d.events {
            let kept = Kept {
                kind: *kind,
                path: self.intern_path(path),
                id: self.intern_id(*id),
                old: self.intern_id(*old),
            };
            self.events.push(kept);
        }
        self.pairs
            .insert((b, t), (start, self.events.len() as u32 - start));
        self.dirty = true;
    }

    /// Adds every diff of `other` (a file read from disk).
    fn absorb(&mut self, other: &DiffCache) {
        for (&(b, t), &(start, len)) in &other.pairs {
            let id = |i: u32| (i != NONE).then(|| other.ids[i as usize]);
            let mut d = FreshDiff::new(id(b), id(t));
            for e in &other.events[start as usize..(start + len) as usize] {
                d.events.push((
                    e.kind,
                    other.paths[e.path as usize].clone(),
                    other.ids[e.id as usize],
                    other.ids[e.old as usize],
                ));
            }
            self.record(&d);
        }
    }

    /// Writes the file if this run added diffs, merged with what another run wrote meanwhile.
    pub(super) fn save(mut self) -> Result<(), CacheWarning> {
        if !self.dirty {
            return Ok(());
        }
        let (path, lock_path) = (self.path.clone(), self.lock_path.clone());
        replace_under_lock(&path, &lock_path, || {
            if let Ok(Some(now)) = self.read_file() {
                self.absorb(&now);
            }
            seal(MAGIC, &self.encode())
        })?;
        Ok(())
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&self.key);
        out.push(self.id_len as u8);
        out.extend_from_slice(&(self.paths.len() as u32).to_le_bytes());
        for p in &self.paths {
            out.extend_from_slice(&(p.len() as u32).to_le_bytes());
            out.extend_from_slice(p);
        }
        out.extend_from_slice(&(self.ids.len() as u32).to_le_bytes());
        for id in &self.ids {
            out.extend_from_slice(id.as_bytes());
        }
        out.extend_from_slice(&(self.pairs.len() as u32).to_le_bytes());
        for (&(b, t), &(start, len)) in &self.pairs {
            for v in [b, t, start, len] {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        out.extend_from_slice(&(self.events.len() as u32).to_le_bytes());
        for e in &self.events {
            out.push(e.kind);
            for v in [e.path, e.id, e.old] {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        out
    }

    /// Fills this (empty) cache from a file's body: `Ok(false)` for a file of another version,
    /// binary or hash kind; an error when it is corrupt.
    fn decode(&mut self, body: &[u8]) -> Result<bool, String> {
        let mut r = Reader { rest: body };
        if r.u32()? != VERSION || r.array::<32>()? != self.key {
            return Ok(false);
        }
        if r.take(1)?[0] as usize != self.id_len {
            return Ok(false);
        }
        let n = r.u32()?;
        for _ in 0..r.count(n.into(), 4)? {
            let len = r.u32()? as usize;
            let p = r.take(len)?.to_vec();
            self.path_index.insert(p.clone(), self.paths.len() as u32);
            self.paths.push(p);
        }
        let n = r.u32()?;
        for _ in 0..r.count(n.into(), self.id_len)? {
            let id = ObjectId::try_from(r.take(self.id_len)?).map_err(|e| e.to_string())?;
            self.id_index.insert(id, self.ids.len() as u32);
            self.ids.push(id);
        }
        let n = r.u32()?;
        let mut pairs = Vec::with_capacity(r.count(n.into(), 16)?);
        for _ in 0..n {
            pairs.push([r.u32()?, r.u32()?, r.u32()?, r.u32()?]);
        }
        let n = r.u32()?;
        for _ in 0..r.count(n.into(), 13)? {
            let kind = r.take(1)?[0];
            let (path, id, old) = (r.u32()?, r.u32()?, r.u32()?);
            if kind > LINK
                || path as usize >= self.paths.len()
                || id as usize >= self.ids.len()
                || old as usize >= self.ids.len()
            {
                return Err("an event names what the file does not hold".to_owned());
            }
            self.events.push(Kept {
                kind,
                path,
                id,
                old,
            });
        }
        for [b, t, start, len] in pairs {
            let known = |i: u32| i == NONE || (i as usize) < self.ids.len();
            if !known(b) || !known(t) || start as u64 + len as u64 > self.events.len() as u64 {
                return Err("a diff names what the file does not hold".to_owned());
            }
            self.pairs.insert((b, t), (start, len));
        }
        if !r.rest.is_empty() {
            return Err("bytes after the last diff".to_owned());
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_diff_replays_as_it_was_and_a_corrupt_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let hash = gix::hash::Kind::Sha1;
        let objects = dir.path().join("objects");
        std::fs::create_dir(&objects).unwrap();
        let (mut c, w) = DiffCache::open(dir.path(), &objects, hash).unwrap();
        assert!(w.is_none());
        let id = |n: u8| ObjectId::try_from(&[n; 20][..]).unwrap();
        let null = ObjectId::null(hash);
        let mut d = FreshDiff::new(Some(id(1)), Some(id(2)));
        for ev in [
            Event::Added(b"a.py", id(3)),
            Event::Modified(b"b/c.env", id(4), id(5)),
            Event::Deleted(b"d", id(6)),
            Event::Gitlink(b"vendor/lib"),
            Event::Link(id(7)),
        ] {
            assert!(d.note(&ev, null));
        }
        assert!(!d.note(&Event::Error("x".into()), null));
        c.record(&d);
        c.save().unwrap();
        let (c, w) = DiffCache::open(dir.path(), &objects, hash).unwrap();
        assert!(w.is_none());
        let mut seen = Vec::new();
        assert!(c.replay(Some(&id(1)), Some(&id(2)), &mut |ev| seen
            .push(format!("{ev:?}"))));
        assert_eq!(seen.len(), 5);
        assert!(seen[1].starts_with("Modified([98, 47, 99, 46"), "{seen:?}");
        assert!(!c.replay(None, Some(&id(2)), &mut |_| {}));
        let file = c.path.clone();
        let mut bytes = std::fs::read(&file).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 1;
        std::fs::write(&file, &bytes).unwrap();
        let (c, w) = DiffCache::open(dir.path(), &objects, hash).unwrap();
        assert!(w.is_some());
        assert!(!c.replay(Some(&id(1)), Some(&id(2)), &mut |_| {}));
    }
}
