//! `audit --cache DIR`: what the scan stage learnt about each blob, kept between audits, so a
//! nightly re-audit of a server reads only the blobs it has not judged before.
//!
//! A blob's scan depends on its bytes (its id), the class of the path it is scanned at (see
//! [`super::classes`]), the rules and the detector's code. The cache file of a repository holds,
//! under one key (a digest of the running binary and of the rules' sources,
//! [`crate::rules::Ruleset::identity`]), each blob id with what the scan found in it: binary, a
//! Git LFS pointer, or text that gave no match at paths of the listed classes. Blobs with
//! matches are not kept: they are read and scanned again, so no secret is ever written to the
//! cache (and the attribution gets its values from the blob itself).
//!
//! A file written under another key (new rules, another binary) is started over; a file that is
//! corrupt, truncated or unreadable is reported as a warning and started over; a folder that
//! cannot be written is a warning at the end: the audit's result never depends on the cache.
//! Runs that share a cache file take a lock while they write and merge what is on disk with
//! what they learnt, so neither loses the other's work; readers need no lock (the file is
//! replaced by a rename). The tree diffs are kept beside, in a file of their own
//! ([`super::diffcache`]), under a key of the binary alone.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use gix::hash::ObjectId;
use sha2::{Digest, Sha256};

use crate::rules::Ruleset;

/// The file's first bytes.
const MAGIC: &[u8] = b"secretgate blob cache\n";

/// The layout's version: a file of another version is started over.
const VERSION: u32 = 1;

/// Most path classes one file may hold (indices are 16 bits).
const MAX_CLASSES: usize = u16::MAX as usize;

/// What the scan stage found in a blob, whatever its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    /// Text, scanned; the entry lists the path classes where it gave no match.
    Text,
    /// Binary: not scanned, at any path.
    Binary,
    /// A Git LFS pointer: not scanned, at any path.
    Lfs,
}

impl Outcome {
    fn code(self) -> u8 {
        match self {
            Outcome::Text => 0,
            Outcome::Binary => 1,
            Outcome::Lfs => 2,
        }
    }

    fn from_code(c: u8) -> Option<Self> {
        match c {
            0 => Some(Outcome::Text),
            1 => Some(Outcome::Binary),
            2 => Some(Outcome::Lfs),
            _ => None,
        }
    }
}

/// One blob's entry: its outcome, its size, and (for text) the range of its clean classes in
/// [`BlobCache::class_refs`].
#[derive(Debug, Clone, Copy)]
struct Entry {
    outcome: Outcome,
    size: u64,
    start: u32,
    len: u16,
}

/// The cache of one repository, loaded, with what this run adds.
pub(super) struct BlobCache {
    /// The cache file.
    path: PathBuf,
    /// The lock file taken while the cache file is replaced.
    lock_path: PathBuf,
    /// The key every entry was found under.
    key: [u8; 32],
    /// The length of an object id.
    id_len: usize,
    /// The path classes' signatures ([`Ruleset::path_signature`]), by the file's class index.
    classes: Vec<Vec<u64>>,
    class_index: HashMap<Vec<u64>, u16>,
    /// Blob -> entry.
    entries: gix::hashtable::HashMap<ObjectId, Entry>,
    /// The clean classes of every entry, back to back.
    class_refs: Vec<u16>,
    /// Entries added or grown by this run: only those are merged into the file on disk.
    dirty: bool,
}

/// Why the cache cannot be used or kept: said once as a warning, and the audit goes on.
#[derive(Debug)]
pub(super) struct CacheWarning(pub(super) String);

/// The digest of the running executable: scan results depend on the detector's code as much as
/// on the rules. Computed once per process.
pub(super) fn binary_digest() -> Result<[u8; 32], String> {
    static DIGEST: OnceLock<Result<[u8; 32], String>> = OnceLock::new();
    DIGEST
        .get_or_init(|| {
            let exe = std::env::current_exe()
                .map_err(|e| format!("cannot locate the running binary: {e}"))?;
            let bytes = std::fs::read(&exe)
                .map_err(|e| format!("cannot read the running binary {}: {e}", exe.display()))?;
            Ok(Sha256::digest(&bytes).into())
        })
        .clone()
}

/// The key of the results of `rules` in this binary, for objects of `hash`.
fn cache_key(rules: &Ruleset, hash: gix::hash::Kind) -> Result<[u8; 32], String> {
    let mut h = Sha256::new();
    h.update(MAGIC);
    h.update(VERSION.to_le_bytes());
    h.update(binary_digest()?);
    h.update(rules.identity());
    h.update([hash.len_in_bytes() as u8]);
    Ok(h.finalize().into())
}

/// The cache file of the repository whose objects are in `objects`: named by a digest of the
/// folder's canonical path, so two repositories never share a file.
pub(super) fn file_name(objects: &Path) -> String {
    let canonical = std::fs::canonicalize(objects).unwrap_or_else(|_| objects.to_owned());
    let d = Sha256::digest(canonical.as_os_str().as_encoded_bytes());
    let hex: String = d[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("{hex}.cache")
}

impl BlobCache {
    /// Opens the cache in `dir` (created if missing) for the repository whose objects are in
    /// `objects`. An unusable folder is an error (the audit runs without a cache); an unusable
    /// file is a warning beside an empty cache.
    pub(super) fn open(
        dir: &Path,
        objects: &Path,
        rules: &Ruleset,
        hash: gix::hash::Kind,
    ) -> Result<(Self, Option<CacheWarning>), CacheWarning> {
        let key = cache_key(rules, hash).map_err(CacheWarning)?;
        create_dir(dir)?;
        let name = file_name(objects);
        let mut cache = BlobCache {
            path: dir.join(&name),
            lock_path: dir.join(format!("{name}.lock")),
            key,
            id_len: hash.len_in_bytes(),
            classes: Vec::new(),
            class_index: HashMap::new(),
            entries: Default::default(),
            class_refs: Vec::new(),
            dirty: false,
        };
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
        tracing::debug!(
            file = %cache.path.display(),
            blobs = cache.entries.len(),
            "audit cache loaded"
        );
        Ok((cache, warning))
    }

    /// The file on disk, if there is one written under this cache's key. A file written under
    /// another key is none (the rules or the binary changed); one that cannot be read is an
    /// error.
    fn read_file(&self) -> Result<Option<BlobCache>, String> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("cannot be read ({e})")),
        };
        match decode(&bytes, self.id_len)? {
            Some((key, file)) if key == self.key => Ok(Some(BlobCache {
                path: self.path.clone(),
                lock_path: self.lock_path.clone(),
                key,
                id_len: self.id_len,
                ..file
            })),
            _ => {
                tracing::info!(
                    file = %self.path.display(),
                    "cache written under other rules or by another binary: started over"
                );
                Ok(None)
            }
        }
    }

    /// The file's class index of a signature, added if new (`None` when the file holds as
    /// many classes as it can).
    fn class_of(&mut self, sig: &[u64]) -> Option<u16> {
        if let Some(&i) = self.class_index.get(sig) {
            return Some(i);
        }
        if self.classes.len() >= MAX_CLASSES {
            return None;
        }
        let i = self.classes.len() as u16;
        self.classes.push(sig.to_vec());
        self.class_index.insert(sig.to_vec(), i);
        Some(i)
    }

    /// The file's index of each of this run's path classes (by the run's class number).
    pub(super) fn map_classes(&mut self, run_classes: &[Vec<u64>]) -> Vec<Option<u16>> {
        run_classes.iter().map(|s| self.class_of(s)).collect()
    }

    /// What the cache knows of `id` when it is to be scanned at paths of `classes` (the file's
    /// indices): its outcome and size, if no scan is needed.
    pub(super) fn known(&self, id: &ObjectId, classes: &[Option<u16>]) -> Option<(Outcome, u64)> {
        let e = self.entries.get(id)?;
        match e.outcome {
            Outcome::Binary | Outcome::Lfs => Some((e.outcome, e.size)),
            Outcome::Text => {
                let clean = self.clean(e);
                classes
                    .iter()
                    .all(|c| c.is_some_and(|c| clean.contains(&c)))
                    .then_some((e.outcome, e.size))
            }
        }
    }

    fn clean(&self, e: &Entry) -> &[u16] {
        let s = e.start as usize;
        &self.class_refs[s..s + e.len as usize]
    }

    /// Records what this run's scan found in `id`: its outcome and size, and (for text) the
    /// classes where it gave no match.
    pub(super) fn record(&mut self, id: ObjectId, outcome: Outcome, size: u64, clean: &[u16]) {
        let mut all: Vec<u16> = match self.entries.get(&id) {
            Some(e) if e.outcome == Outcome::Text && outcome == Outcome::Text => {
                self.clean(e).to_vec()
            }
            _ => Vec::new(),
        };
        if outcome == Outcome::Text {
            let before = all.len();
            for &c in clean {
                if !all.contains(&c) {
                    all.push(c);
                }
            }
            if all.is_empty() || (all.len() == before && self.entries.contains_key(&id)) {
                return;
            }
        } else if self.entries.get(&id).is_some_and(|e| e.outcome == outcome) {
            return;
        }
        all.truncate(u16::MAX as usize);
        let start = self.class_refs.len() as u32;
        self.class_refs.extend_from_slice(&all);
        self.entries.insert(
            id,
            Entry {
                outcome,
                size,
                start,
                len: all.len() as u16,
            },
        );
        self.dirty = true;
    }

    /// Adds every entry of `other` (a file read from disk), with its classes renumbered.
    fn absorb(&mut self, other: &BlobCache) {
        let map: Vec<Option<u16>> = other.classes.iter().map(|s| self.class_of(s)).collect();
        for (id, e) in &other.entries {
            let clean: Vec<u16> = other
                .clean(e)
                .iter()
                .filter_map(|&c| map.get(c as usize).copied().flatten())
                .collect();
            self.record(*id, e.outcome, e.size, &clean);
        }
    }

    /// Writes what this run learnt: under the lock, merged with the file as it is now (another
    /// run may have written it since it was read), to a temporary file renamed over the old
    /// one. Nothing to write is no work.
    pub(super) fn save(mut self) -> Result<(), CacheWarning> {
        if !self.dirty {
            return Ok(());
        }
        let (path, lock_path) = (self.path.clone(), self.lock_path.clone());
        let bytes = replace_under_lock(&path, &lock_path, || {
            if let Ok(Some(now)) = self.read_file() {
                self.absorb(&now);
            }
            encode(&self)
        })?;
        tracing::debug!(
            file = %path.display(),
            blobs = self.entries.len(),
            bytes,
            "audit cache written"
        );
        Ok(())
    }
}

/// Creates the cache folder if it is missing (the command checked it can; this is for a folder
/// removed since, and for the library's other callers).
pub(super) fn create_dir(dir: &Path) -> Result<(), CacheWarning> {
    std::fs::create_dir_all(dir).map_err(|e| {
        CacheWarning(format!(
            "--cache {}: cannot create the folder ({e}): audited without a cache",
            dir.display()
        ))
    })
}

/// Replaces the file at `path` with what `build` returns, built while `lock_path` is held
/// (so `build` may read the file as it is now and merge): written to a temporary file, then
/// renamed over it. Returns the size written.
pub(super) fn replace_under_lock(
    path: &Path,
    lock_path: &Path,
    build: impl FnOnce() -> Vec<u8>,
) -> Result<usize, CacheWarning> {
    let shown = path.display().to_string();
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        CacheWarning(format!(
            "cache file {shown}: {what} ({e}): this run's results are not kept"
        ))
    };
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lock_path)
        .map_err(|e| fail("cannot create its lock file", &e))?;
    let _held = Locked::take(&lock);
    let bytes = build();
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let written = std::fs::File::create(&tmp).and_then(|mut f| {
        f.write_all(&bytes)?;
        f.sync_all()
    });
    if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail("cannot be written", &e));
    }
    Ok(bytes.len())
}

/// A cache file's bytes after `magic` and before its SHA-256 trailer, checked; `None` when
/// there is no file.
pub(super) fn read_checked(path: &Path, magic: &[u8]) -> Result<Option<Vec<u8>>, String> {
    match std::fs::read(path) {
        Ok(bytes) => unseal(&bytes, magic).map(|body| Some(body.to_vec())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot be read ({e})")),
    }
}

/// The body of a file [`seal`] wrote: after `magic`, before the SHA-256 trailer, checked.
fn unseal<'a>(bytes: &'a [u8], magic: &[u8]) -> Result<&'a [u8], String> {
    if !bytes.starts_with(magic) {
        return Err("not a secretgate cache file".to_owned());
    }
    if bytes.len() < magic.len() + 32 {
        return Err("truncated".to_owned());
    }
    let (all, sum) = bytes.split_at(bytes.len() - 32);
    if Sha256::digest(all).as_slice() != sum {
        return Err("its checksum does not match (truncated or corrupt)".to_owned());
    }
    Ok(&all[magic.len()..])
}

/// `magic`, then `body`, then the SHA-256 of both: what [`read_checked`] reads.
pub(super) fn seal(magic: &[u8], body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(magic.len() + body.len() + 32);
    out.extend_from_slice(magic);
    out.extend_from_slice(body);
    let sum = Sha256::digest(&out);
    out.extend_from_slice(&sum);
    out
}

/// An exclusive lock on an open file, released when dropped. Where locks are not supported
/// the writers still never corrupt the file (it is replaced by a rename); they may only lose
/// each other's entries.
struct Locked<'a>(&'a std::fs::File);

impl<'a> Locked<'a> {
    fn take(file: &'a std::fs::File) -> Option<Self> {
        file.lock().ok().map(|()| Locked(file))
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

/// The file's bytes: the header (magic, version, key, id length), the class signatures, the
/// entries, and a SHA-256 of all of it.
fn encode(c: &BlobCache) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + c.entries.len() * (c.id_len + 16));
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&c.key);
    out.push(c.id_len as u8);
    out.extend_from_slice(&(c.classes.len() as u32).to_le_bytes());
    for sig in &c.classes {
        out.extend_from_slice(&(sig.len() as u32).to_le_bytes());
        for w in sig {
            out.extend_from_slice(&w.to_le_bytes());
        }
    }
    out.extend_from_slice(&(c.entries.len() as u64).to_le_bytes());
    for (id, e) in &c.entries {
        out.extend_from_slice(id.as_bytes());
        out.push(e.outcome.code());
        out.extend_from_slice(&e.size.to_le_bytes());
        out.extend_from_slice(&e.len.to_le_bytes());
        for c in c.clean(e) {
            out.extend_from_slice(&c.to_le_bytes());
        }
    }
    seal(MAGIC, &out)
}

/// Reads bytes off the front of a file, refusing to read past its end.
pub(super) struct Reader<'a> {
    pub(super) rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(super) fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if n > self.rest.len() {
            return Err("truncated".to_owned());
        }
        let (a, b) = self.rest.split_at(n);
        self.rest = b;
        Ok(a)
    }

    pub(super) fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut a = [0; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    pub(super) fn u16(&mut self) -> Result<u16, String> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    pub(super) fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    pub(super) fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// A count of items of at least `each` bytes: more than the rest can hold is corrupt.
    pub(super) fn count(&mut self, n: u64, each: usize) -> Result<usize, String> {
        usize::try_from(n)
            .ok()
            .filter(|&n| n.saturating_mul(each) <= self.rest.len())
            .ok_or_else(|| "a count larger than the file".to_owned())
    }
}

/// Parses a cache file: its key and contents, or `None` for a file of another version or id
/// length (started over without a warning), or why it is corrupt.
fn decode(bytes: &[u8], id_len: usize) -> Result<Option<([u8; 32], BlobCache)>, String> {
    let mut r = Reader {
        rest: unseal(bytes, MAGIC)?,
    };
    if r.u32()? != VERSION {
        return Ok(None);
    }
    let key: [u8; 32] = r.array()?;
    if r.take(1)?[0] as usize != id_len {
        return Ok(None);
    }
    let n = r.u32()?;
    let n = r.count(n.into(), 4)?;
    if n > MAX_CLASSES {
        return Err("too many path classes".to_owned());
    }
    let mut classes = Vec::with_capacity(n);
    for _ in 0..n {
        let words = r.u32()?;
        let words = r.count(words.into(), 8)?;
        let sig = (0..words).map(|_| r.u64()).collect::<Result<Vec<_>, _>>()?;
        classes.push(sig);
    }
    let class_index = classes
        .iter()
        .enumerate()
        .map(|(i, s)| (s.clone(), i as u16))
        .collect();
    let n = r.u64()?;
    let n = r.count(n, id_len + 11)?;
    let mut entries = gix::hashtable::HashMap::default();
    entries.reserve(n);
    let mut class_refs = Vec::new();
    for _ in 0..n {
        let id = ObjectId::try_from(r.take(id_len)?).map_err(|e| e.to_string())?;
        let outcome = Outcome::from_code(r.take(1)?[0]).ok_or("an unknown blob outcome")?;
        let size = r.u64()?;
        let len = r.u16()?;
        let start = class_refs.len() as u32;
        for _ in 0..len {
            let c = r.u16()?;
            if c as usize >= classes.len() {
                return Err("an entry names a class the file does not hold".to_owned());
            }
            class_refs.push(c);
        }
        entries.insert(
            id,
            Entry {
                outcome,
                size,
                start,
                len,
            },
        );
    }
    if !r.rest.is_empty() {
        return Err("bytes after the last entry".to_owned());
    }
    Ok(Some((
        key,
        BlobCache {
            path: PathBuf::new(),
            lock_path: PathBuf::new(),
            key,
            id_len,
            classes,
            class_index,
            entries,
            class_refs,
            dirty: false,
        },
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn empty(dir: &Path) -> BlobCache {
        BlobCache {
            path: dir.join("x.cache"),
            lock_path: dir.join("x.cache.lock"),
            key: [7; 32],
            id_len: 20,
            classes: Vec::new(),
            class_index: HashMap::new(),
            entries: Default::default(),
            class_refs: Vec::new(),
            dirty: false,
        }
    }

    fn id(n: u8) -> ObjectId {
        ObjectId::try_from(&[n; 20][..]).unwrap()
    }

    #[test]
    fn what_is_written_reads_back_and_a_flipped_byte_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = empty(dir.path());
        let classes = c.map_classes(&[vec![1, 2], vec![3]]);
        c.record(id(1), Outcome::Text, 10, &[classes[0].unwrap()]);
        c.record(id(2), Outcome::Binary, 20, &[]);
        let bytes = encode(&c);
        let (key, back) = decode(&bytes, 20).unwrap().unwrap();
        assert_eq!(key, [7; 32]);
        let want = [Some(0)];
        assert_eq!(back.known(&id(1), &want), Some((Outcome::Text, 10)));
        // A class the blob was not judged at needs a scan.
        assert_eq!(back.known(&id(1), &[Some(0), Some(1)]), None);
        assert_eq!(back.known(&id(2), &[Some(1)]), Some((Outcome::Binary, 20)));
        assert_eq!(back.known(&id(3), &want), None);
        for i in [0, MAGIC.len() + 3, bytes.len() / 2, bytes.len() - 1] {
            let mut bad = bytes.clone();
            bad[i] ^= 1;
            assert!(decode(&bad, 20).is_err(), "byte {i} flipped");
        }
        assert!(decode(&bytes[..bytes.len() - 5], 20).is_err());
        assert!(decode(b"", 20).is_err());
    }

    #[test]
    fn merging_keeps_both_runs_classes() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = empty(dir.path());
        let ca = a.map_classes(&[vec![1]]);
        a.record(id(1), Outcome::Text, 5, &[ca[0].unwrap()]);
        let mut b = empty(dir.path());
        let cb = b.map_classes(&[vec![9], vec![1]]);
        b.record(id(1), Outcome::Text, 5, &[cb[0].unwrap()]);
        a.absorb(&b);
        let both = a.map_classes(&[vec![1], vec![9]]);
        assert!(a.known(&id(1), &both).is_some());
    }
}
