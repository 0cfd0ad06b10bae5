//! Scanning blobs of a change: each blob read and scanned once, findings kept only on the lines
//! the change adds.
//!
//! Shared by the push and the staged change. The whole new blob is scanned (a match may span
//! lines), and the diff against the old version is computed only for blobs with matches, which
//! are rare: most changed files cost one read and one prefilter pass.

use std::collections::HashMap;
use std::sync::Arc;

use bstr::BString;
use gix::hash::{oid, ObjectId};
use gix::objs::Kind;

use super::git::{added_lines, AddedLines, Odb};
use crate::detect::{is_binary, Match};
use crate::error::{Error, Result};
use crate::escape::escape;
use crate::finding::{Finding, Provenance};
use crate::rules::Ruleset;
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
                return Err(Error::Repo(format!(
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
                return Err(Error::Repo(format!(
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
                commit: prov.commit.clone(),
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
