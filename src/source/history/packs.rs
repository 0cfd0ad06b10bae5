//! Reading many blobs out of a repository's packs, each object inflated once.
//!
//! An object lookup resolves a deltified object from its base on every call and caches only
//! delta results, so a base that many blobs are deltas of is inflated again for each of them,
//! and every result is copied in and out of the cache. Here the wanted blobs and the delta bases
//! they need form a forest per pack; it is decoded from the roots down, each node once, a
//! parent's bytes kept only while its children are decoded, and the subtrees are spread over the
//! worker threads. That is how `git index-pack` resolves deltas, and what lets the audit read
//! every blob of a history about as fast as `git cat-file --batch-all-objects` does.
//!
//! The same walk saves most of the keyword search: a delta is mostly copied from its base, so
//! the keywords' occurrences in it are its base's (moved) plus what a search of the inserted
//! bytes and the seams finds ([`crate::detect::KeywordHits::through_delta`]), the same set a
//! search of the whole blob finds.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use gix::hash::{oid, ObjectId};
use gix::odb::pack::data::entry::Header;
use rayon::prelude::*;

use crate::detect::{KeywordHits, Segment};
use crate::rules::Ruleset;

const NONE: u32 = u32::MAX;

/// The longest delta chain decoded (git writes chains of at most 4095 deltas).
const MAX_DELTA_DEPTH: usize = 4096;

/// What happened to one wanted blob.
pub(crate) enum Blob<'a> {
    /// Its content, with the keywords' occurrences in it when they were found on the way
    /// (see [`Packs::decode`]).
    Data(&'a [u8], Option<&'a KeywordHits>),
    /// Over the size cap: not read (or read only as the base of another blob).
    TooLarge(u64),
    /// It could not be decoded (corrupt pack data, a missing base, not a blob).
    Failed(String),
}

/// The packs of a repository and of its alternates.
pub(crate) struct Packs {
    bundles: Vec<gix::odb::pack::Bundle>,
}

struct Node {
    entry: Option<gix::odb::pack::data::Entry>,
    /// The node this one is a delta of.
    parent: u32,
    /// Index into the wanted list.
    wanted: u32,
    /// A delta whose base is not in this pack.
    external: Option<ObjectId>,
    /// Why the entry cannot be read.
    error: Option<String>,
}

/// The delta forest of one pack, restricted to the wanted blobs and their bases.
struct PackPlan {
    bundle: usize,
    nodes: Vec<Node>,
    roots: Vec<u32>,
    child_start: Vec<u32>,
    children: Vec<u32>,
}

impl PackPlan {
    /// The forest of pack `bundle`'s planned nodes: the roots in pack order, and each node's
    /// children in compressed rows.
    fn new(bundle: usize, nodes: Vec<Node>) -> Self {
        let n = nodes.len();
        let mut count = vec![0u32; n + 1];
        let mut roots = Vec::new();
        for (i, node) in nodes.iter().enumerate() {
            if node.parent == NONE {
                roots.push(i as u32);
            } else {
                count[node.parent as usize] += 1;
            }
        }
        let mut child_start = vec![0u32; n + 1];
        for i in 0..n {
            child_start[i + 1] = child_start[i] + count[i];
        }
        let mut fill = child_start.clone();
        let mut children = vec![0u32; child_start[n] as usize];
        for (i, node) in nodes.iter().enumerate() {
            if node.parent != NONE {
                children[fill[node.parent as usize] as usize] = i as u32;
                fill[node.parent as usize] += 1;
            }
        }
        // In pack order: the pages of the pack are read front to back.
        let offset = |i: u32| {
            nodes[i as usize]
                .entry
                .as_ref()
                .map(|e| e.data_offset)
                .unwrap_or(0)
        };
        roots.sort_by_key(|&r| offset(r));
        PackPlan {
            bundle,
            nodes,
            roots,
            child_start,
            children,
        }
    }

    /// The children of node `n`: the deltas whose base it is.
    fn children(&self, n: u32) -> &[u32] {
        let s = self.child_start[n as usize] as usize;
        let e = self.child_start[n as usize + 1] as usize;
        &self.children[s..e]
    }
}

/// The node of the entry at `offset` in `bundle`'s pack, and whether it is new.
fn node_of(
    bundle: &gix::odb::pack::Bundle,
    offset: u64,
    index: &mut HashMap<u64, u32>,
    nodes: &mut Vec<Node>,
) -> (u32, bool) {
    if let Some(&n) = index.get(&offset) {
        return (n, false);
    }
    let n = nodes.len() as u32;
    let (entry, error) = match bundle.pack.entry(offset) {
        Ok(e) => (Some(e), None),
        Err(e) => (
            None,
            Some(format!("pack entry at offset {offset} cannot be read: {e}")),
        ),
    };
    nodes.push(Node {
        entry,
        parent: NONE,
        wanted: NONE,
        external: None,
        error,
    });
    index.insert(offset, n);
    (n, true)
}

/// Plans wanted blob `wi`, at `offset` in `bundle`'s pack, and the delta chain above it: up
/// the chain until a node already planned or a full object.
fn add_chain(
    bundle: &gix::odb::pack::Bundle,
    offset: u64,
    wi: u32,
    index: &mut HashMap<u64, u32>,
    nodes: &mut Vec<Node>,
) {
    let (n, _) = node_of(bundle, offset, index, nodes);
    nodes[n as usize].wanted = wi;
    let mut cur = n;
    while let Some(entry) = nodes[cur as usize].entry.clone() {
        if nodes[cur as usize].parent != NONE || nodes[cur as usize].external.is_some() {
            break;
        }
        let base = match entry.header {
            Header::OfsDelta { base_distance } => {
                match entry.checked_base_pack_offset(base_distance) {
                    Some(o) => o,
                    None => {
                        nodes[cur as usize].error = Some("corrupt delta base offset".into());
                        break;
                    }
                }
            }
            Header::RefDelta { base_id } => match bundle.index.lookup(base_id) {
                Some(p) => bundle.index.pack_offset_at_index(p),
                None => {
                    nodes[cur as usize].external = Some(base_id);
                    break;
                }
            },
            _ => break,
        };
        let (p, new) = node_of(bundle, base, index, nodes);
        nodes[cur as usize].parent = p;
        if !new {
            break;
        }
        cur = p;
    }
}

/// What to decode, pack by pack.
pub(crate) struct Plan {
    packs: Vec<PackPlan>,
}

thread_local! {
    static INFLATE: RefCell<gix::zlib::Inflate> = RefCell::new(gix::zlib::Inflate::default());
    static BUFFERS: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

fn take_buffer() -> Vec<u8> {
    BUFFERS.with(|b| b.borrow_mut().pop()).unwrap_or_default()
}

/// Keeps a few small buffers per thread for the next objects; large ones go back to the
/// allocator.
fn give_buffer(mut v: Vec<u8>) {
    if v.capacity() > 4 << 20 {
        return;
    }
    v.clear();
    BUFFERS.with(|b| {
        let mut b = b.borrow_mut();
        if b.len() < 16 {
            b.push(v);
        }
    });
}

/// Reads a delta's size varint.
fn delta_size(d: &[u8], at: &mut usize) -> Option<u64> {
    let mut size = 0u64;
    let mut shift = 0;
    loop {
        let b = *d.get(*at)?;
        *at += 1;
        size |= u64::from(b & 0x7f).checked_shl(shift)?;
        shift += 7;
        if b & 0x80 == 0 {
            return Some(size);
        }
        if shift > 63 {
            return None;
        }
    }
}

/// The size of the object a delta produces.
fn delta_result_size(delta: &[u8]) -> Option<u64> {
    let mut at = 0;
    delta_size(delta, &mut at)?;
    delta_size(delta, &mut at)
}

/// Applies a git delta to `base`, into `out`; with `segments`, also says which runs of `out`
/// were copied from where in `base` and which were inserted (copies of adjacent base runs
/// joined).
fn apply_delta(
    base: &[u8],
    delta: &[u8],
    out: &mut Vec<u8>,
    mut segments: Option<&mut Vec<Segment>>,
) -> Result<(), String> {
    let bad = |what: &str| format!("corrupt delta: {what}");
    let mut at = 0;
    let base_size = delta_size(delta, &mut at).ok_or_else(|| bad("header"))?;
    let result_size = delta_size(delta, &mut at).ok_or_else(|| bad("header"))?;
    if base_size != base.len() as u64 {
        return Err(bad("base size differs"));
    }
    out.clear();
    // The header is data from the pack: reserve no more than a sane amount up front (a corrupt
    // size must end in "result size differs", not in an allocation failure).
    out.reserve(result_size.min(64 << 20) as usize);
    while at < delta.len() {
        let cmd = delta[at];
        at += 1;
        if cmd & 0x80 != 0 {
            let mut offset = 0usize;
            let mut size = 0usize;
            for i in 0..4 {
                if cmd & (1 << i) != 0 {
                    offset |= usize::from(*delta.get(at).ok_or_else(|| bad("copy"))?) << (8 * i);
                    at += 1;
                }
            }
            for i in 0..3 {
                if cmd & (0x10 << i) != 0 {
                    size |= usize::from(*delta.get(at).ok_or_else(|| bad("copy"))?) << (8 * i);
                    at += 1;
                }
            }
            if size == 0 {
                size = 0x10000;
            }
            let end = offset.checked_add(size).ok_or_else(|| bad("copy"))?;
            let start = out.len();
            out.extend_from_slice(
                base.get(offset..end)
                    .ok_or_else(|| bad("copy out of range"))?,
            );
            if let Some(segs) = segments.as_deref_mut() {
                match segs.last_mut() {
                    Some(last) if last.base.is_some_and(|b| b + last.len == offset) => {
                        last.len += size;
                    }
                    _ => segs.push(Segment {
                        start,
                        len: size,
                        base: Some(offset),
                    }),
                }
            }
        } else if cmd != 0 {
            let n = usize::from(cmd);
            let start = out.len();
            out.extend_from_slice(delta.get(at..at + n).ok_or_else(|| bad("insert"))?);
            at += n;
            if let Some(segs) = segments.as_deref_mut() {
                match segs.last_mut() {
                    Some(last) if last.base.is_none() => last.len += n,
                    _ => segs.push(Segment {
                        start,
                        len: n,
                        base: None,
                    }),
                }
            }
        } else {
            return Err(bad("reserved instruction"));
        }
    }
    if out.len() as u64 != result_size {
        return Err(bad("result size differs"));
    }
    Ok(())
}

impl Packs {
    /// Opens every pack of `objects` and of its alternates; unreadable packs are skipped (their
    /// objects are then read the ordinary way).
    pub(crate) fn open(objects: &Path, hash: gix::hash::Kind) -> Self {
        let mut bundles = Vec::new();
        for dir in crate::source::repo::object_dirs(objects) {
            let Ok(entries) = std::fs::read_dir(dir.join("pack")) else {
                continue;
            };
            let mut idx: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "idx"))
                .collect();
            idx.sort();
            for p in idx {
                match gix::odb::pack::Bundle::at(&p, hash) {
                    Ok(b) => bundles.push(b),
                    Err(e) => tracing::debug!("pack {} skipped: {e}", p.display()),
                }
            }
        }
        // Largest packs first: most objects are found in the first lookup.
        bundles.sort_by_key(|b| std::cmp::Reverse(b.index.num_objects()));
        Packs { bundles }
    }

    /// The delta forests for `wanted`, and the indices of the wanted blobs no pack holds.
    pub(crate) fn plan(&self, wanted: &[ObjectId]) -> (Plan, Vec<u32>) {
        let mut plans: Vec<(HashMap<u64, u32>, Vec<Node>)> =
            self.bundles.iter().map(|_| Default::default()).collect();
        let mut missing = Vec::new();
        for (wi, id) in wanted.iter().enumerate() {
            let Some((b, pos)) = self
                .bundles
                .iter()
                .enumerate()
                .find_map(|(b, bundle)| bundle.index.lookup(id).map(|pos| (b, pos)))
            else {
                missing.push(wi as u32);
                continue;
            };
            let bundle = &self.bundles[b];
            let (index, nodes) = &mut plans[b];
            let offset = bundle.index.pack_offset_at_index(pos);
            add_chain(bundle, offset, wi as u32, index, nodes);
        }
        let packs = plans
            .into_iter()
            .enumerate()
            .filter(|(_, (_, nodes))| !nodes.is_empty())
            .map(|(bundle, (_, nodes))| PackPlan::new(bundle, nodes))
            .collect();
        (Plan { packs }, missing)
    }

    /// Decodes every planned blob once and hands it to `visit` (from the worker threads).
    /// `external` reads a base object that is not in the pack (a thin pack's base). With
    /// `keywords`, the occurrences of its keywords in each text blob are found on the way and
    /// handed over too: a delta's from its base's, searching only what the delta inserted
    /// ([`KeywordHits::through_delta`]).
    pub(crate) fn decode(
        &self,
        plan: &Plan,
        cap: u64,
        keywords: Option<&Ruleset>,
        external: &(dyn Fn(&oid) -> Option<Vec<u8>> + Sync),
        visit: &(dyn Fn(u32, Blob<'_>) + Sync),
    ) {
        let walker = Walk {
            packs: self,
            cap,
            keywords,
            visit,
        };
        for pp in &plan.packs {
            pp.roots.par_iter().for_each(|&r| {
                let mut base = None;
                let ext;
                if let Some(id) = pp.nodes[r as usize].external {
                    match external(&id) {
                        Some(d) => {
                            ext = d;
                            base = Some(&ext[..]);
                        }
                        None => {
                            self.fail(pp, r, &format!("delta base {id} is missing"), visit);
                            return;
                        }
                    }
                }
                let parent = Parent {
                    data: base,
                    kind: None,
                    hits: None,
                };
                walker.walk(pp, r, parent, 0);
            });
        }
    }

    /// Reports every wanted blob of the subtree at `n` as failed.
    fn fail(&self, pp: &PackPlan, n: u32, why: &str, visit: &(dyn Fn(u32, Blob<'_>) + Sync)) {
        let mut stack = vec![n];
        while let Some(n) = stack.pop() {
            let w = pp.nodes[n as usize].wanted;
            if w != NONE {
                visit(w, Blob::Failed(why.to_owned()));
            }
            stack.extend_from_slice(pp.children(n));
        }
    }

    /// Inflates `entry` into `out`, applying it to `base` if it is a delta (noting the delta's
    /// runs in `segments`, when given). Ok(None): decoded; Ok(Some(size)): a `wanted_leaf` (a
    /// wanted blob no other blob needs) over the cap, not decoded.
    #[allow(clippy::too_many_arguments)]
    fn decode_entry(
        &self,
        pp: &PackPlan,
        entry: &gix::odb::pack::data::Entry,
        base: Option<&[u8]>,
        wanted_leaf: bool,
        cap: u64,
        out: &mut Vec<u8>,
        segments: Option<&mut Vec<Segment>>,
    ) -> Result<Option<u64>, String> {
        let pack = &self.bundles[pp.bundle].pack;
        let size =
            usize::try_from(entry.decompressed_size).map_err(|_| "object too large".to_owned())?;
        // zlib cannot expand data more than about 1032 times: a larger size in the entry's
        // header is corruption, and allocating it could abort the process.
        if entry.decompressed_size > (pack.data_len() as u64).saturating_mul(1032) + 4096 {
            return Err(format!(
                "corrupt pack entry: claims {} bytes",
                entry.decompressed_size
            ));
        }
        match (entry.header.is_delta(), base) {
            (false, _) => {
                if wanted_leaf && entry.decompressed_size > cap {
                    return Ok(Some(entry.decompressed_size));
                }
                out.resize(size, 0);
                INFLATE
                    .with(|i| pack.decompress_entry(entry, &mut i.borrow_mut(), out))
                    .map_err(|e| format!("cannot inflate: {e}"))?;
                Ok(None)
            }
            (true, Some(base)) => {
                let mut delta = take_buffer();
                delta.resize(size, 0);
                let r = INFLATE
                    .with(|i| pack.decompress_entry(entry, &mut i.borrow_mut(), &mut delta))
                    .map_err(|e| format!("cannot inflate: {e}"))
                    .and_then(|_| {
                        let result = delta_result_size(&delta).ok_or("corrupt delta header")?;
                        if wanted_leaf && result > cap {
                            return Ok(Some(result));
                        }
                        apply_delta(base, &delta, out, segments).map(|()| None)
                    });
                give_buffer(delta);
                r
            }
            (true, None) => Err("delta without its base".into()),
        }
    }
}

/// What a node's children are decoded from: its bytes, its kind, the keywords' occurrences
/// in it (when they were found).
#[derive(Clone, Copy)]
struct Parent<'a> {
    data: Option<&'a [u8]>,
    kind: Option<gix::objs::Kind>,
    hits: Option<&'a KeywordHits>,
}

/// One decoding of a plan: what every node's walk shares.
struct Walk<'a> {
    packs: &'a Packs,
    cap: u64,
    keywords: Option<&'a Ruleset>,
    visit: &'a (dyn Fn(u32, Blob<'_>) + Sync),
}

impl Walk<'_> {
    /// Decodes node `n` from its parent, visits it, then its children; `depth` is how many
    /// deltas down the chain `n` is.
    fn walk(&self, pp: &PackPlan, n: u32, parent: Parent<'_>, depth: usize) {
        let node = &pp.nodes[n as usize];
        let visit = self.visit;
        // Each link of a delta chain is a call: refuse chains longer than git ever writes
        // (`pack.depth` is at most 4095) before the stack runs out.
        if depth > MAX_DELTA_DEPTH {
            self.packs.fail(
                pp,
                n,
                &format!("delta chain longer than {MAX_DELTA_DEPTH} objects"),
                visit,
            );
            return;
        }
        let children = pp.children(n);
        let Some(entry) = node.entry.as_ref() else {
            self.packs.fail(
                pp,
                n,
                node.error.as_deref().unwrap_or("unreadable pack entry"),
                visit,
            );
            return;
        };
        if let Some(e) = &node.error {
            self.packs.fail(pp, n, e, visit);
            return;
        }
        let kind = parent.kind.or_else(|| entry.header.as_kind());
        let mut out = take_buffer();
        let wanted_leaf = node.wanted != NONE && children.is_empty();
        let mut segments = Vec::new();
        let want_segments = self.keywords.is_some() && parent.hits.is_some();
        let decoded = self.packs.decode_entry(
            pp,
            entry,
            parent.data,
            wanted_leaf,
            self.cap,
            &mut out,
            want_segments.then_some(&mut segments),
        );
        match decoded {
            Err(e) => {
                give_buffer(out);
                self.packs.fail(pp, n, &e, visit);
                return;
            }
            Ok(Some(size)) => {
                visit(node.wanted, Blob::TooLarge(size));
                give_buffer(out);
                return;
            }
            Ok(None) => {}
        }
        let hits = self.hits(&out, kind, parent.hits, entry.header.is_delta(), &segments);
        if node.wanted != NONE {
            visit_wanted(node.wanted, kind, &out, hits.as_ref(), self.cap, visit);
        }
        let me = Parent {
            data: Some(&out),
            kind,
            hits: hits.as_ref(),
        };
        match children {
            [] => {}
            [c] => self.walk(pp, *c, me, depth + 1),
            many => many
                .par_iter()
                .for_each(|&c| self.walk(pp, c, me, depth + 1)),
        }
        give_buffer(out);
    }

    /// The keywords' occurrences in a decoded text blob (none for other objects and binary
    /// blobs): from its base's through the delta when the base's are known, else searched.
    fn hits(
        &self,
        out: &[u8],
        kind: Option<gix::objs::Kind>,
        base: Option<&KeywordHits>,
        is_delta: bool,
        segments: &[Segment],
    ) -> Option<KeywordHits> {
        let rules = self.keywords?;
        if kind != Some(gix::objs::Kind::Blob) || crate::detect::is_binary(out) {
            return None;
        }
        Some(match base {
            Some(b) if is_delta => b.through_delta(rules, segments, out),
            _ => rules.keyword_hits(out),
        })
    }
}

/// Hands a decoded wanted object to `visit`: its bytes (and keyword occurrences) if it is a
/// blob within the cap.
fn visit_wanted(
    wanted: u32,
    kind: Option<gix::objs::Kind>,
    out: &[u8],
    hits: Option<&KeywordHits>,
    cap: u64,
    visit: &(dyn Fn(u32, Blob<'_>) + Sync),
) {
    match kind {
        Some(gix::objs::Kind::Blob) if out.len() as u64 > cap => {
            visit(wanted, Blob::TooLarge(out.len() as u64))
        }
        Some(gix::objs::Kind::Blob) => visit(wanted, Blob::Data(out, hits)),
        Some(k) => visit(wanted, Blob::Failed(format!("is a {k}, expected a blob"))),
        None => visit(wanted, Blob::Failed("unknown object kind".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applies_copy_and_insert_instructions() {
        let base = b"hello, world\n";
        // base size 13, result size 17: copy 7 bytes from 0, insert "there", copy 5 from 7
        let mut delta = vec![13u8, 17];
        delta.extend_from_slice(&[0x80 | 0x10, 7]);
        delta.push(5);
        delta.extend_from_slice(b"there");
        delta.extend_from_slice(&[0x80 | 0x01 | 0x10, 7, 5]);
        let mut out = Vec::new();
        apply_delta(base, &delta, &mut out, None).unwrap();
        assert_eq!(out, b"hello, thereworld");
    }

    /// A delta's runs, as `apply_delta` notes them, give the keywords' occurrences a search of
    /// the whole result finds: one cut by an insert, one made by it, one across two copies.
    #[test]
    fn keyword_hits_through_a_real_delta_equal_a_full_search() {
        let rules = crate::rules::builtin().unwrap();
        let base = b"password = 1\ntoken = 2\nsecret_key = 3\napi_key = 4\n";
        let n = base.len() as u8;
        // copy 0..4 ("pass"), insert "XX", copy 4..30, copy 30..n (joined with the last),
        // insert "pass", copy 0..8 ("password" again, its "pass" now across a seam).
        let mut delta = vec![n, 0];
        delta.extend_from_slice(&[0x80 | 0x10, 4]);
        delta.extend_from_slice(&[2, b'X', b'X']);
        delta.extend_from_slice(&[0x80 | 0x01 | 0x10, 4, 26]);
        delta.extend_from_slice(&[0x80 | 0x01 | 0x10, 30, n - 30]);
        delta.extend_from_slice(&[4, b'p', b'a', b's', b's']);
        delta.extend_from_slice(&[0x80 | 0x10, 8]);
        let size = 4 + 2 + 26 + (n as usize - 30) + 4 + 8;
        delta[1] = size as u8;
        let mut out = Vec::new();
        let mut segs = Vec::new();
        apply_delta(base, &delta, &mut out, Some(&mut segs)).unwrap();
        assert_eq!(
            segs.len(),
            5,
            "the two adjacent copies are one run: {segs:?}"
        );
        let derived = rules.keyword_hits(base).through_delta(&rules, &segs, &out);
        assert_eq!(derived, rules.keyword_hits(&out));
        assert!(!derived.as_slice().is_empty());
    }

    #[test]
    fn rejects_out_of_range_copies() {
        let mut out = Vec::new();
        let delta = [3u8, 10, 0x80 | 0x10, 10];
        assert!(apply_delta(b"abc", &delta, &mut out, None).is_err());
    }
}
