//! What a run covered, for every mode: counts and lists the sources fill in while they scan,
//! the verdict's counts, and what the reports show at the end.
//!
//! One type for the four modes, at the crate's root so the sources fill it in without knowing
//! the reports. The first fields are every mode's; the fields marked "Audit" are filled in only
//! by a history audit and read only by its human report.

/// What a run scanned and skipped, and what its verdict counted.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Findings that block.
    pub blocking: usize,
    /// Findings that only warn.
    pub warnings: usize,
    /// Findings the baseline suppressed.
    pub baselined: usize,
    /// Files or blobs scanned.
    pub scanned: u64,
    /// Bytes scanned.
    pub bytes: u64,
    /// Files or blobs skipped, with why (too large, unreadable).
    pub skipped: Vec<String>,
    /// Binary files or blobs, not scanned.
    pub binary: u64,
    /// Blobs over the size cap: never read, so named to the pusher or committer, and blocking
    /// when the policy says `oversize = "block"`.
    pub unread: Vec<Unread>,
    /// Audit: the repository as given.
    pub repository: String,
    /// Audit: `--range`, if given.
    pub range: Option<String>,
    /// Audit: the default branch (`HEAD`'s branch, shortened), if `HEAD` points anywhere.
    pub default_branch: Option<String>,
    /// Audit: refs read.
    pub refs: u64,
    /// Audit: refs that point to a tree or a blob: nothing to walk.
    pub non_commit_refs: u64,
    /// Audit: the names of those refs (escaped), for the summary.
    pub non_commit_names: Vec<String>,
    /// Audit: unique symbolic link blobs (a link's content is its target's path): not scanned.
    pub links: u64,
    /// Audit: commits audited.
    pub commits: u64,
    /// Audit: unique blobs those commits hold.
    pub blobs: u64,
    /// Audit: Git LFS pointer files (the content is not in git), not scanned.
    pub lfs: u64,
    /// Audit: blobs found only at paths the rules never scan.
    pub path_skipped: u64,
    /// Audit: blobs not read because `--cache` held their results (counted as scanned, binary
    /// or LFS pointers all the same).
    pub cached: u64,
    /// Audit: submodule paths (gitlinks), skipped, not followed.
    pub submodules: u64,
    /// Audit: the repository is a shallow clone: history stops at its boundary.
    pub shallow: bool,
    /// Audit: the repository is a partial clone: objects it never fetched are not scanned.
    pub partial_clone: bool,
    /// Audit: blobs over the size cap, listed, not read (the other modes record them with
    /// [`Stats::over_cap`], in `skipped` and `unread`).
    pub over_cap: Vec<String>,
    /// Audit: objects a partial clone never fetched (a warning).
    pub not_fetched: Vec<String>,
    /// Audit: corrupt or missing objects (the audit is incomplete: exit 3).
    pub errors: Vec<String>,
}

impl Stats {
    /// Adds the counts of one share of a scan (a thread's part of a push or a staged change) to
    /// the run's.
    pub fn absorb(&mut self, part: Stats) {
        self.scanned += part.scanned;
        self.bytes += part.bytes;
        self.binary += part.binary;
        self.skipped.extend(part.skipped);
        self.unread.extend(part.unread);
    }

    /// Records a file not read because it is over the size cap: listed with the skipped ones
    /// (every format shows those) and kept for the policy's `oversize` verdict.
    /// `size` is `None` when only "more than the cap" is known (standard input is not read
    /// past it).
    pub fn over_cap(&mut self, path: String, size: Option<u64>, cap: u64) {
        self.skipped.push(match size {
            Some(n) => format!("{path}: {n} bytes, over the {cap}-byte cap"),
            None => format!("{path}: over the {cap}-byte cap"),
        });
        self.unread.push(Unread {
            path,
            size: size.unwrap_or(cap.saturating_add(1)),
            cap,
            commit: None,
        });
    }
}

/// A blob that was not read because of its size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unread {
    /// Its path, escaped.
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// The cap it is over.
    pub cap: u64,
    /// The commit that brought it (pushes).
    pub commit: Option<String>,
}
