//! The driver between the sources and the detector: blobs in, findings out.
//!
//! A source says which blobs to judge, at which path, with which provenance and against which
//! old versions (the lines that count are the added ones); the driver reads each blob once,
//! runs the detector on it, keeps the matches on added lines, turns them into findings and
//! keeps at most a bounded number of them ([`Kept`]). Work is shared out on one threading model,
//! a rayon pool ([`in_shares`]), in contiguous shares so that neighbouring commits, which share
//! deltas, are read by the same worker, and the results come back in order, so that a verdict
//! never depends on how threads were scheduled.
//!
//! The history audit has its own pack-order scan (each blob once across the whole history,
//! attributed afterwards): see [`crate::source::history`].

use std::collections::HashMap;
use std::sync::Arc;

use bstr::BString;
use gix::hash::{oid, ObjectId};
use gix::objs::Kind;

use crate::detect::{is_binary, Match};
use crate::error::{Error, Result};
use crate::escape::escape;
use crate::finding::{Finding, Provenance};
use crate::rules::Ruleset;
use crate::source::diff::{added_lines, AddedLines};
use crate::source::repo::Odb;
use crate::stats::Stats;

/// Blobs with more matches than this are not remembered (scanned again if seen again), so that
/// a change of many such blobs does not hold every match of every one of them at once.
const MAX_CACHED_MATCHES: usize = 1024;

/// Scans blobs through an [`Odb`], remembering what each (blob, path) held.
pub struct BlobScanner<'a> {
    rules: &'a Ruleset,
    odb: &'a Odb,
    cache: HashMap<(ObjectId, BString), Arc<Vec<Match>>>,
    buf: Vec<u8>,
    old_buf: Vec<u8>,
    /// Counts of what was scanned and skipped.
    pub summary: Stats,
    /// The size of the blob the last [`Self::matches`] did not read because of the cap.
    oversize: Option<u64>,
}

impl<'a> BlobScanner<'a> {
    /// A scanner over `odb` with `rules`.
    pub fn new(rules: &'a Ruleset, odb: &'a Odb) -> Self {
        BlobScanner {
            rules,
            odb,
            cache: HashMap::new(),
            buf: Vec::new(),
            old_buf: Vec::new(),
            summary: Stats::default(),
            oversize: None,
        }
    }

    /// The rules this scanner judges with.
    pub fn rules(&self) -> &'a Ruleset {
        self.rules
    }

    /// Reads a blob into `buf` if it is small enough and text; `false` if skipped (counted).
    fn load(&mut self, id: &oid, path: &[u8]) -> Result<bool> {
        let limit = self.rules.policy.max_blob_bytes;
        match self.odb.header(id)? {
            None => {
                return Err(Error::repo_msg(format!(
                    "blob {id} ({}) is missing",
                    escape(path)
                )))
            }
            Some((Kind::Blob, size)) if size > limit => {
                self.summary.skipped.push(format!(
                    "{} ({id}): {size} bytes, over the {limit}-byte cap",
                    escape(path)
                ));
                self.oversize = Some(size);
                return Ok(false);
            }
            Some((Kind::Blob, _)) => {}
            Some((k, _)) => {
                return Err(Error::repo_msg(format!(
                    "object {id} at {} is a {k}, expected a blob",
                    escape(path)
                )))
            }
        }
        self.odb.read_kind(id, Kind::Blob, &mut self.buf)?;
        if is_binary(&self.buf) && !self.rules.rules.iter().any(|r| r.binary) {
            self.summary.binary += 1;
            tracing::info!(path = %escape(path), blob = %id, "binary: not scanned");
            return Ok(false);
        }
        self.summary.scanned += 1;
        self.summary.bytes += self.buf.len() as u64;
        Ok(true)
    }

    /// The matches in a blob at `path`, read and scanned once per (blob, path).
    pub fn matches(&mut self, id: &oid, path: &[u8]) -> Result<Arc<Vec<Match>>> {
        let key = (id.to_owned(), BString::from(path));
        if let Some(m) = self.cache.get(&key) {
            return Ok(Arc::clone(m));
        }
        self.oversize = None;
        let found = if self.rules.skips_path(path) {
            tracing::info!(path = %escape(path), blob = %id, "skipped by the policy's paths");
            Vec::new()
        } else if !self.load(id, path)? {
            Vec::new()
        } else {
            self.rules.scan(path, &self.buf)
        };
        let found = Arc::new(found);
        if found.len() <= MAX_CACHED_MATCHES {
            self.cache.insert(key, Arc::clone(&found));
        }
        Ok(found)
    }

    /// Findings on the lines that `new` at `path` adds relative to every version in `olds`
    /// (`None`: the path held no file there, so every line is added).
    pub fn added_findings(
        &mut self,
        path: &[u8],
        new: &oid,
        olds: &[Option<ObjectId>],
        prov: &Provenance,
    ) -> Result<Vec<Finding>> {
        let mut out = Vec::new();
        self.each_added_finding(path, new, olds, prov, &mut |f| {
            out.push(f);
            true
        })?;
        Ok(out)
    }

    /// Like [`Self::added_findings`], but hands each finding to `take` as it is made, and stops
    /// when `take` returns `false`, so a caller can bound what it keeps (a blob may hold a
    /// finding on each of a hundred thousand lines).
    pub fn each_added_finding(
        &mut self,
        path: &[u8],
        new: &oid,
        olds: &[Option<ObjectId>],
        prov: &Provenance,
        take: &mut dyn FnMut(Finding) -> bool,
    ) -> Result<()> {
        if olds.iter().any(|o| o.as_deref() == Some(new)) {
            return Ok(());
        }
        let found = self.matches(new, path)?;
        if let Some(size) = self.oversize.take() {
            self.summary.unread.push(crate::stats::Unread {
                path: escape(path),
                size,
                cap: self.rules.policy.max_blob_bytes,
                commit: prov.commit().map(|c| c.id.clone()),
            });
        }
        if found.is_empty() {
            return Ok(());
        }
        let mut added = AddedLines::All;
        if olds.iter().any(Option::is_some) {
            self.odb.read_kind(new, Kind::Blob, &mut self.buf)?;
            for old in olds.iter().flatten() {
                let fits = matches!(self.odb.header(old)?, Some((Kind::Blob, s)) if s <= self.rules.policy.max_blob_bytes);
                if !fits {
                    continue;
                }
                self.odb.read_kind(old, Kind::Blob, &mut self.old_buf)?;
                // An old version that was never scanned (binary) vouches for none of its
                // lines.
                if is_binary(&self.old_buf) {
                    continue;
                }
                // UTF-16/32 text is diffed decoded, as the scan read it.
                let old_text = crate::detect::decode::for_diff(&self.old_buf);
                let new_text = crate::detect::decode::for_diff(&self.buf);
                added = added.intersect(added_lines(&old_text, &new_text));
            }
        }
        for m in found
            .iter()
            .filter(|m| (m.line..=m.value_line.max(m.line)).any(|l| added.contains(l)))
        {
            if !take(Finding::new(self.rules, m, path, prov)) {
                break;
            }
        }
        Ok(())
    }
}

/// The findings a scan keeps: all of them up to a limit, then only the first that blocks, so
/// that a change holding a finding on each of a hundred thousand lines cannot exhaust memory
/// while its verdict stays right.
pub struct Kept<'a> {
    /// The findings kept, in the order they were met.
    pub findings: Vec<Finding>,
    blocks: &'a (dyn Fn(&Finding) -> bool + Sync),
    limit: usize,
    blocking: bool,
    /// Whether findings were dropped past the limit.
    pub truncated: bool,
}

impl<'a> Kept<'a> {
    /// Keeps up to `limit` findings; `blocks` says whether a finding would block.
    pub fn new(limit: usize, blocks: &'a (dyn Fn(&Finding) -> bool + Sync)) -> Self {
        Kept {
            findings: Vec::new(),
            blocks,
            limit,
            blocking: false,
            truncated: false,
        }
    }

    /// Keeps a finding or not; `false` once the scan can stop.
    pub fn take(&mut self, f: Finding) -> bool {
        let blocks = (self.blocks)(&f);
        if self.findings.len() < self.limit {
            self.findings.push(f);
        } else {
            self.truncated = true;
            if blocks && !self.blocking {
                self.findings.push(f);
            }
        }
        self.blocking |= blocks;
        !self.done()
    }

    /// Whether the verdict is settled: past the limit, with a blocking finding kept.
    pub fn done(&self) -> bool {
        self.truncated && self.blocking
    }
}

/// Runs `f` on contiguous shares of `work`, on up to `jobs` threads of a rayon pool, and
/// returns the results in the order of the shares. Below `min_share` items per thread the work
/// runs on the calling thread: starting threads would cost more than a small change's scan.
/// Inside a pool already (the audit, `scan`), that pool is used.
pub fn in_shares<T, R>(
    work: &[T],
    jobs: usize,
    min_share: usize,
    f: impl Fn(&[T]) -> Result<R> + Sync,
) -> Result<Vec<R>>
where
    T: Sync,
    R: Send,
{
    use rayon::prelude::*;
    let jobs = jobs.max(1).min(work.len() / min_share.max(1)).max(1);
    if jobs == 1 {
        return Ok(vec![f(work)?]);
    }
    let per = work.len().div_ceil(jobs);
    // Every share's result, then the first error in share order: which error is reported must
    // not depend on which thread failed first.
    let run = || {
        work.par_chunks(per)
            .map(&f)
            .collect::<Vec<Result<R>>>()
            .into_iter()
            .collect::<Result<Vec<R>>>()
    };
    if rayon::current_thread_index().is_some() {
        return run();
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .stack_size(crate::cmd::WORKER_STACK)
        .thread_name(|i| format!("scan-{i}"))
        .build()
        .map_err(|e| Error::repo("cannot start the scan threads", e))?;
    pool.install(run)
}
