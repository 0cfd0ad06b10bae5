//! Files and folders as they are on disk (`secretgate scan`), or standard input.
//!
//! Folders are walked without honouring `.gitignore` (a `.env` that git ignores is exactly
//! what a scan should see) but skipping `.git` directories; symbolic links inside a folder are
//! not followed, while a file or folder named on the command line through a link is (its
//! target is scanned under the name given). A FIFO, a device or a socket is never read, and is
//! named in the list of what was not scanned.
//! Rules match paths relative to the folder given, so `scan path/to/app` judges `config.py`
//! as the repository would. Paths are reported from the top of the git work tree the files
//! are in (outside any, from the folder given), however the folder was typed.

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::finding::{Finding, Provenance};
use crate::rules::Ruleset;
use crate::stats::Stats;

/// One file to scan: where it is, the path reported, and the path rules see.
#[derive(Debug, Clone)]
struct Target {
    fs_path: PathBuf,
    reported: Vec<u8>,
    rel: Vec<u8>,
}

fn bytes_of(p: &Path) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    let b = p.as_os_str().as_bytes();
    let b = b.strip_prefix(b"./").unwrap_or(b);
    b.to_vec()
}

/// What a scan of files found.
#[derive(Debug, Default)]
pub struct FilesOutcome {
    /// Every finding.
    pub findings: Vec<Finding>,
    /// Counts and skipped files.
    pub summary: Stats,
    /// Files that could not be read (the scan is incomplete: exit 3).
    pub errors: Vec<Error>,
    /// The absolute folder every reported path is relative to, when all share one.
    pub base: Option<PathBuf>,
}

/// The line naming a file that was not scanned because of what it is.
fn not_a_file(path: &Path, kind: &str) -> String {
    format!(
        "{}: {kind}, not a regular file",
        crate::escape::escape(&bytes_of(path))
    )
}

/// A file or folder to scan, and the path it is reported under (`/`-separated; empty for a
/// folder reported from its own top). Rules see a folder's files relative to the folder, and a
/// file named alone under its reported path.
#[derive(Debug, Clone)]
pub struct Root {
    /// Where it is on disk.
    pub fs_path: PathBuf,
    /// How it is reported.
    pub shown: Vec<u8>,
    /// The absolute folder reported paths are relative to, when known (SARIF's
    /// `originalUriBaseIds`).
    pub base: Option<PathBuf>,
}

impl Root {
    /// A root reported as it was typed (without a leading `./`).
    pub fn as_typed(path: &Path) -> Self {
        Root {
            fs_path: path.to_owned(),
            shown: bytes_of(path),
            base: None,
        }
    }

    /// A root of `secretgate scan`, reported the same however it was typed (`.`, a relative or
    /// an absolute path), so that fingerprints and baselines do not depend on it: inside a git
    /// work tree, from the top of the work tree (as the repository names its files); elsewhere,
    /// a folder from itself and a file by its name. A symbolic link named here is placed where
    /// the link is, not where it points.
    pub fn for_scan(path: &Path) -> Self {
        let Some(place) = place_of(path) else {
            return Root::as_typed(path);
        };
        let base = place
            .ancestors()
            .find(|a| a.join(".git").exists())
            .map(Path::to_owned);
        let (shown, base) = match base {
            Some(top) => (
                place.strip_prefix(&top).map(bytes_of).unwrap_or_default(),
                Some(top),
            ),
            None if path.is_dir() => (Vec::new(), Some(place.clone())),
            None => (
                place
                    .file_name()
                    .map_or_else(|| bytes_of(path), |n| bytes_of(Path::new(n))),
                place.parent().map(Path::to_owned),
            ),
        };
        Root {
            fs_path: path.to_owned(),
            shown,
            base,
        }
    }
}

/// Where `path` is, absolute and without `.`, `..` or linked folders on the way (its last
/// component, if a link, is kept as it is).
fn place_of(path: &Path) -> Option<PathBuf> {
    let abs = if path.is_absolute() {
        path.to_owned()
    } else {
        std::env::current_dir().ok()?.join(path)
    };
    match (abs.parent(), abs.file_name()) {
        (Some(parent), Some(name)) if name != ".." => Some(parent.canonicalize().ok()?.join(name)),
        _ => abs.canonicalize().ok(),
    }
}

/// `path` relative to the folder `top` (which must be canonical), `/`-separated, if it is
/// inside it; the file itself is not resolved (a symbolic link is reported by its own name).
pub fn relative_to(path: &Path, top: &Path) -> Option<Vec<u8>> {
    let name = path.file_name()?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.canonicalize().ok()?,
        _ => std::env::current_dir().ok()?.canonicalize().ok()?,
    };
    let rel = parent.join(name);
    let rel = rel.strip_prefix(top).ok()?;
    Some(bytes_of(rel))
}

/// `shown/rel`, or `rel` when `shown` is empty.
fn join_shown(shown: &[u8], rel: &[u8]) -> Vec<u8> {
    if shown.is_empty() || shown == b"." {
        return rel.to_vec();
    }
    let mut out = shown.to_vec();
    if !out.ends_with(b"/") {
        out.push(b'/');
    }
    out.extend_from_slice(rel);
    out
}

/// Adds the files under `root` (a file or a folder named on the command line) to `targets`.
/// A symbolic link named on the command line is followed (a file mounted through one is what
/// the user asked for); inside a folder, links are not followed. Anything that is not read
/// (a FIFO, a device, a socket) is named in `skipped`.
fn collect(
    named: &Root,
    out: &mut Vec<Target>,
    errors: &mut Vec<Error>,
    skipped: &mut Vec<String>,
) {
    let root = named.fs_path.as_path();
    let io_err = |e: std::io::Error| Error::Io {
        path: root.to_owned(),
        source: e,
    };
    let meta = match std::fs::symlink_metadata(root) {
        Ok(m) if m.file_type().is_symlink() => match std::fs::metadata(root) {
            Ok(m) => m,
            Err(e) => return errors.push(io_err(e)),
        },
        Ok(m) => m,
        Err(e) => return errors.push(io_err(e)),
    };
    if meta.is_file() {
        out.push(Target {
            fs_path: root.to_owned(),
            reported: named.shown.clone(),
            rel: named.shown.clone(),
        });
        return;
    }
    if !meta.is_dir() {
        skipped.push(not_a_file(root, super::config::kind_of(meta.file_type())));
        return;
    }
    let walker = ignore::WalkBuilder::new(root)
        .standard_filters(false)
        .follow_links(false)
        .filter_entry(|e| e.file_name() != ".git")
        .build();
    for entry in walker {
        match entry {
            Ok(e) => {
                let Some(t) = e.file_type() else { continue };
                if t.is_dir() || t.is_symlink() {
                    continue;
                }
                if !t.is_file() {
                    skipped.push(not_a_file(e.path(), super::config::kind_of(t)));
                    continue;
                }
                let rel = bytes_of(e.path().strip_prefix(root).unwrap_or(e.path()));
                out.push(Target {
                    fs_path: e.path().to_owned(),
                    reported: join_shown(&named.shown, &rel),
                    rel,
                });
            }
            Err(err) => errors.push(Error::Io {
                path: root.to_owned(),
                source: std::io::Error::other(err.to_string()),
            }),
        }
    }
}

enum FileResult {
    Scanned(Vec<Finding>, u64),
    Skipped(String),
    /// Over the size cap: (path shown, size if known, cap).
    Oversize(String, Option<u64>, u64),
    Ignored,
    Binary,
    Failed(Error),
}

fn scan_one(rules: &Ruleset, t: &Target) -> FileResult {
    if rules.skips_path(&t.rel) {
        return FileResult::Ignored;
    }
    let limit = rules.policy.max_blob_bytes;
    // Without blocking: a file replaced by a FIFO since the walk must not hang the scan.
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&t.fs_path)
    {
        Ok(f) => f,
        Err(e) => {
            return FileResult::Failed(Error::Io {
                path: t.fs_path.clone(),
                source: e,
            })
        }
    };
    let meta = match file.metadata() {
        Ok(m) => m,
        Err(e) => {
            return FileResult::Failed(Error::Io {
                path: t.fs_path.clone(),
                source: e,
            })
        }
    };
    if !meta.is_file() {
        return FileResult::Skipped(not_a_file(
            &t.fs_path,
            super::config::kind_of(meta.file_type()),
        ));
    }
    let len = meta.len();
    let shown = crate::escape::escape(&t.reported);
    if len > limit {
        return FileResult::Oversize(shown, Some(len), limit);
    }
    let mut data = Vec::with_capacity(len.min(limit) as usize);
    if let Err(e) = file.take(limit.saturating_add(1)).read_to_end(&mut data) {
        return FileResult::Failed(Error::Io {
            path: t.fs_path.clone(),
            source: e,
        });
    }
    if data.len() as u64 > limit {
        return FileResult::Oversize(shown, None, limit);
    }
    if crate::detect::is_binary(&data) && !rules.rules.iter().any(|r| r.binary) {
        return FileResult::Binary;
    }
    let findings = scan_bytes(rules, &t.rel, &t.reported, &data);
    FileResult::Scanned(findings, data.len() as u64)
}

/// Scans bytes: rules see `rel`, reports show `reported`.
pub fn scan_bytes(rules: &Ruleset, rel: &[u8], reported: &[u8], data: &[u8]) -> Vec<Finding> {
    let prov = Provenance::File;
    rules
        .scan(rel, data)
        .iter()
        .map(|m| Finding::new(rules, m, reported, &prov))
        .collect()
}

/// Scans files and folders; `-` reads standard input, reported as `stdin_name`.
pub fn scan_paths(
    rules: &Ruleset,
    paths: &[PathBuf],
    stdin_name: Option<&str>,
) -> Result<FilesOutcome> {
    let mut out = FilesOutcome::default();
    let mut targets = Vec::new();
    let mut bases = Vec::new();
    for p in paths {
        if p.as_os_str() == "-" {
            let mut data = Vec::new();
            std::io::stdin()
                .lock()
                .take(rules.policy.max_blob_bytes.saturating_add(1))
                .read_to_end(&mut data)
                .map_err(|e| Error::Io {
                    path: "<stdin>".into(),
                    source: e,
                })?;
            let name = stdin_name.unwrap_or("-").as_bytes();
            let cap = rules.policy.max_blob_bytes;
            if data.len() as u64 > cap {
                let shown = format!("standard input ({})", crate::escape::escape(name));
                out.summary.over_cap(shown, None, cap);
                continue;
            }
            out.findings.extend(scan_bytes(rules, name, name, &data));
            out.summary.scanned += 1;
            out.summary.bytes += data.len() as u64;
        } else {
            let root = Root::for_scan(p);
            bases.push(root.base.clone());
            collect(
                &root,
                &mut targets,
                &mut out.errors,
                &mut out.summary.skipped,
            );
        }
    }
    scan_targets(rules, &targets, &mut out);
    if bases.iter().all(|b| b.is_some() && *b == bases[0]) {
        out.base = bases.into_iter().next().flatten();
    }
    Ok(out)
}

/// Scans files and folders, each reported under the path its [`Root`] gives.
pub fn scan_roots(rules: &Ruleset, roots: &[Root]) -> FilesOutcome {
    let mut out = FilesOutcome::default();
    let mut targets = Vec::new();
    for r in roots {
        collect(r, &mut targets, &mut out.errors, &mut out.summary.skipped);
    }
    scan_targets(rules, &targets, &mut out);
    out
}

fn scan_targets(rules: &Ruleset, targets: &[Target], out: &mut FilesOutcome) {
    let results: Vec<FileResult> = targets.par_iter().map(|t| scan_one(rules, t)).collect();
    for r in results {
        match r {
            FileResult::Scanned(f, n) => {
                out.findings.extend(f);
                out.summary.scanned += 1;
                out.summary.bytes += n;
            }
            FileResult::Skipped(why) => out.summary.skipped.push(why),
            FileResult::Oversize(path, size, cap) => out.summary.over_cap(path, size, cap),
            FileResult::Binary => out.summary.binary += 1,
            FileResult::Ignored => {}
            FileResult::Failed(e) => out.errors.push(e),
        }
    }
}
