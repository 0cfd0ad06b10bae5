//! The scan stage: every unique blob of the history read once and scanned once per class of the
//! paths it appears at.
//!
//! The blobs worth reading (those at some path the rules scan) are decoded per pack, from the
//! roots of their delta chains down, each object inflated once (see [`super::packs`]); loose
//! objects and those no pack holds are read the ordinary way. Each blob goes to the same
//! detector as the hooks, except Git LFS pointers, binary files (unless a rule reads binary
//! data) and blobs over the size cap, which are counted instead.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use gix::hash::{oid, ObjectId};
use gix::objs::{Find as _, Kind};
use rayon::prelude::*;

use super::cache::Outcome;
use super::changes::History;
use super::{lock, packs, Handles, Problem, Progress, Unit};
use crate::detect::{is_binary, KeywordHits, Match, PathFacts};
use crate::escape::escape;
use crate::rules::Ruleset;

/// Git LFS pointers start with this line.
const LFS_POINTER: &[u8] = b"version https://git-lfs.github.com/spec/";

/// What the blob pass found.
#[derive(Default)]
pub(super) struct Scanned {
    /// Matches per (blob, class), only where there are some.
    pub(super) hits: HashMap<(u32, u32), Vec<Match>>,
    /// Blobs scanned.
    pub(super) scanned: u64,
    /// Bytes scanned.
    pub(super) bytes: u64,
    /// Binary blobs, not scanned.
    pub(super) binary: u64,
    /// Git LFS pointers, not scanned.
    pub(super) lfs: u64,
    /// Blobs at no path the rules scan.
    pub(super) path_skipped: u64,
    /// Blobs over the size cap, as messages.
    pub(super) over_cap: Vec<String>,
    /// Blobs that could not be read.
    pub(super) problems: Vec<Problem>,
    /// Blobs whose results the cache held: not read.
    pub(super) cached: u64,
    /// What each blob read by this run was, by blob index (when a cache keeps it).
    pub(super) outcomes: Vec<(u32, Outcome, u64)>,
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
        self.outcomes.extend(o.outcomes);
    }
}

/// Whether a blob is a Git LFS pointer (a small file that names the real content).
fn is_lfs_pointer(data: &[u8]) -> bool {
    data.len() < 1024 && data.starts_with(LFS_POINTER)
}

/// What the cache already knows of some blobs (by blob index), and whether to note what each
/// blob read now is, for the cache.
#[derive(Default)]
pub(super) struct Known {
    /// The outcome and size of each blob the cache holds for all its classes.
    pub(super) blobs: Vec<Option<(Outcome, u64)>>,
    /// Note each blob's outcome in [`Scanned::outcomes`].
    pub(super) record: bool,
}

/// Reads every blob once (see the `packs` submodule) and scans it once per class of its paths;
/// those `known` holds are counted, not read.
#[allow(clippy::too_many_arguments)]
pub(super) fn scan_blobs(
    history: &History,
    objects: &Path,
    hash: gix::hash::Kind,
    handles: &Handles,
    rules: &Ruleset,
    promisor: bool,
    known: &Known,
    progress: &dyn Progress,
) -> Scanned {
    let (mut wanted, path_skipped) = wanted_blobs(history, hash);
    let mut from_cache = Scanned::default();
    if !known.blobs.is_empty() {
        wanted.retain(|&b| match known.blobs[b as usize] {
            None => true,
            Some((outcome, size)) => {
                from_cache.cached += 1;
                match outcome {
                    Outcome::Text => {
                        from_cache.scanned += 1;
                        from_cache.bytes += size;
                    }
                    Outcome::Binary => from_cache.binary += 1,
                    Outcome::Lfs => from_cache.lfs += 1,
                }
                false
            }
        });
    }
    let ids: Vec<ObjectId> = wanted
        .iter()
        .map(|&b| history.blobs.ids[b as usize])
        .collect();
    let packs = packs::Packs::open(objects, hash);
    let (plan, missing) = packs.plan(&ids);
    progress.phase("scanning blobs", Some(wanted.len() as u64), Unit::Blobs);

    let scanner = Scanner {
        history,
        handles,
        rules,
        progress,
        limit: rules.policy.max_blob_bytes,
        any_binary_rule: rules.rules.iter().any(|r| r.binary),
        promisor,
        shared: Mutex::new(Scanned::default()),
        counts: Default::default(),
        record: known.record,
        facts: (0..history.class_sigs.len())
            .map(|_| std::sync::OnceLock::new())
            .collect(),
    };
    let external = |id: &oid| scanner.read_whole(id).ok().flatten().map(|(_, d)| d);
    let visit = |wi: u32, blob: packs::Blob<'_>| {
        let b = wanted[wi as usize];
        match blob {
            packs::Blob::Data(d, hits) => scanner.scan_one(b, d, hits),
            packs::Blob::TooLarge(size) => scanner.too_large(b, size),
            packs::Blob::Failed(why) => scanner.failed(b, why),
        }
    };
    packs.decode(&plan, scanner.limit, Some(rules), &external, &visit);
    drop(plan);
    drop(packs);

    // Loose objects, and those no pack holds.
    missing
        .par_iter()
        .for_each(|&wi| scanner.read_loose(wanted[wi as usize]));
    let mut out = scanner.finish(path_skipped);
    out.cached = from_cache.cached;
    out.scanned += from_cache.scanned;
    out.bytes += from_cache.bytes;
    out.binary += from_cache.binary;
    out.lfs += from_cache.lfs;
    out
}

/// The blobs to read, and how many are skipped because no path they appear at is scanned. The
/// empty blob is neither.
fn wanted_blobs(history: &History, hash: gix::hash::Kind) -> (Vec<u32>, u64) {
    let blobs = &history.blobs;
    let empty = ObjectId::empty_blob(hash);
    let mut path_skipped = 0;
    let mut wanted: Vec<u32> = Vec::new();
    for b in 0..blobs.ids.len() as u32 {
        if !blobs.classes(b).any(|(c, _)| c != 0) {
            path_skipped += 1;
        } else if blobs.ids[b as usize] != empty {
            wanted.push(b);
        }
    }
    (wanted, path_skipped)
}

/// The state the worker threads share while the blobs are scanned.
struct Scanner<'a> {
    history: &'a History,
    handles: &'a Handles,
    rules: &'a Ruleset,
    progress: &'a dyn Progress,
    /// The size cap on a blob.
    limit: u64,
    any_binary_rule: bool,
    promisor: bool,
    shared: Mutex<Scanned>,
    /// Scanned, bytes, binary, lfs.
    counts: [AtomicU64; 4],
    /// Note each blob's outcome, for the cache.
    record: bool,
    /// What the rules decide from the path, per path class (worked out on first use).
    facts: Vec<std::sync::OnceLock<PathFacts>>,
}

impl Scanner<'_> {
    /// A blob as the messages name it: its first path and its id.
    fn shown(&self, b: u32) -> String {
        let (_, p) = self.history.blobs.first[b as usize];
        let path = self
            .history
            .paths
            .get(p as usize)
            .map(|p| escape(p))
            .unwrap_or_default();
        format!("{path} ({})", self.history.blobs.ids[b as usize])
    }

    fn scan_one(&self, b: u32, data: &[u8], hits: Option<&KeywordHits>) {
        self.progress.inc(1, data.len() as u64);
        let outcome = if is_lfs_pointer(data) {
            Outcome::Lfs
        } else if !self.any_binary_rule && is_binary(data) {
            Outcome::Binary
        } else {
            Outcome::Text
        };
        if self.record {
            lock(&self.shared)
                .outcomes
                .push((b, outcome, data.len() as u64));
        }
        match outcome {
            Outcome::Lfs => {
                self.counts[3].fetch_add(1, Ordering::Relaxed);
                return;
            }
            Outcome::Binary => {
                self.counts[2].fetch_add(1, Ordering::Relaxed);
                return;
            }
            Outcome::Text => {}
        }
        self.counts[0].fetch_add(1, Ordering::Relaxed);
        self.counts[1].fetch_add(data.len() as u64, Ordering::Relaxed);
        for (class, path) in self.history.blobs.classes(b) {
            if class == 0 {
                continue;
            }
            let path = &self.history.paths[path as usize];
            let found = match hits {
                Some(h) => {
                    let facts =
                        self.facts[class as usize].get_or_init(|| self.rules.path_facts(path));
                    self.rules.scan_with_hits(path, data, h, facts)
                }
                None => self.rules.scan(path, data),
            };
            if !found.is_empty() {
                lock(&self.shared).hits.insert((b, class), found);
            }
        }
    }

    fn too_large(&self, b: u32, size: u64) {
        self.progress.inc(1, 0);
        lock(&self.shared).over_cap.push(format!(
            "{}: {size} bytes, over the {}-byte cap",
            self.shown(b),
            self.limit
        ));
    }

    fn failed(&self, b: u32, why: String) {
        self.progress.inc(1, 0);
        lock(&self.shared).problems.push(Problem::Error(format!(
            "blob {} cannot be read: {why}",
            self.shown(b)
        )));
    }

    /// Reads an object the ordinary way, through the calling worker's handle.
    fn read_whole(&self, id: &oid) -> std::result::Result<Option<(Kind, Vec<u8>)>, String> {
        let worker = self.handles.get();
        let mut buf = Vec::new();
        match worker.odb.try_find(id, &mut buf) {
            Ok(Some(d)) => Ok(Some((d.kind, d.data.to_vec()))),
            Ok(None) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Reads and scans a blob no pack plan holds (a loose object, or one that is missing).
    fn read_loose(&self, b: u32) {
        match self.read_whole(&self.history.blobs.ids[b as usize]) {
            Ok(Some((Kind::Blob, d))) if d.len() as u64 > self.limit => {
                self.too_large(b, d.len() as u64)
            }
            Ok(Some((Kind::Blob, d))) => self.scan_one(b, &d, None),
            Ok(Some((k, _))) => self.failed(b, format!("it is a {k}, expected a blob")),
            Ok(None) if self.promisor => {
                self.progress.inc(1, 0);
                lock(&self.shared)
                    .problems
                    .push(Problem::NotFetched(format!(
                        "{}: not fetched by this partial clone",
                        self.shown(b)
                    )));
            }
            Ok(None) => {
                self.progress.inc(1, 0);
                lock(&self.shared)
                    .problems
                    .push(Problem::Error(format!("blob {} is missing", self.shown(b))));
            }
            Err(e) => self.failed(b, e),
        }
    }

    /// What the threads found, with the counts.
    fn finish(self, path_skipped: u64) -> Scanned {
        let mut out = Scanned {
            path_skipped,
            ..Scanned::default()
        };
        let shared = self.shared.into_inner().unwrap_or_else(|e| e.into_inner());
        out.merge(shared);
        out.scanned = self.counts[0].load(Ordering::Relaxed);
        out.bytes = self.counts[1].load(Ordering::Relaxed);
        out.binary = self.counts[2].load(Ordering::Relaxed);
        out.lfs = self.counts[3].load(Ordering::Relaxed);
        out.over_cap.sort();
        out
    }
}
