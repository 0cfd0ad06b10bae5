//! A push, as a pre-receive hook sees it: the ref updates on stdin, the pushed objects in git's
//! quarantine, and exactly the commits the push makes reachable that no existing ref reached
//! (see [`super::reach`]): each walked once, however many refs point into them.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bstr::{BString, ByteSlice};
use gix::hash::ObjectId;
use gix::objs::Kind;

use super::config::RepoConfig;
use super::diff::{pair_renames, Change};
use super::reach::RefTips;
use super::repo::{commit_info, Odb, PathLookup, Repo, SharedOdb};
use crate::error::{Error, Result};
use crate::escape::escape;
use crate::finding::{CommitMeta, Finding, Provenance};
use crate::rules::Ruleset;
use crate::scan::{in_shares, BlobScanner, Kept};
use crate::stats::Stats;

/// One line of the hook's input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefUpdate {
    /// The ref's value before the push (all zeros: created).
    pub old: ObjectId,
    /// Its value after (all zeros: deleted).
    pub new: ObjectId,
    /// The ref's full name.
    pub name: BString,
}

impl RefUpdate {
    /// Whether the push deletes the ref.
    pub fn is_delete(&self) -> bool {
        self.new.is_null()
    }
}

/// A piece of the hook's input for a message: quoted, escaped, and at most 60 bytes of it.
fn quoted(s: &[u8]) -> String {
    let cut = &s[..s.len().min(60)];
    let more = if s.len() > cut.len() { "…" } else { "" };
    format!("\"{}{more}\"", escape(cut))
}

/// Parses git's `<old-oid> SP <new-oid> SP <refname>` lines; ids must be full hex of `hash`.
pub fn parse_updates(input: &[u8], hash: gix::hash::Kind) -> Result<Vec<RefUpdate>> {
    let hex_len = hash.len_in_hex();
    let mut out = Vec::new();
    for (n, line) in input.lines().enumerate() {
        let bad = |message: String| Error::HookInput {
            line: n + 1,
            message,
        };
        if line.is_empty() {
            continue;
        }
        let mut parts = line.splitn_str(3, " ");
        let (Some(old), Some(new), Some(name)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad(format!(
                "expected \"<old-oid> <new-oid> <refname>\", got {}",
                quoted(line)
            )));
        };
        let id = |s: &[u8], what: &str| -> Result<ObjectId> {
            if s.len() != hex_len || !s.iter().all(u8::is_ascii_hexdigit) {
                return Err(bad(format!(
                    "{what} {} is not a {hex_len}-digit hexadecimal object id",
                    quoted(s)
                )));
            }
            ObjectId::from_hex(s).map_err(|e| bad(format!("{what}: {e}")))
        };
        let old = id(old, "old id")?;
        let new = id(new, "new id")?;
        if name.is_empty()
            || !name.starts_with(b"refs/") && name != b"HEAD"
            || name.iter().any(|&b| b < 0x20 || b == 0x7f || b == b' ')
        {
            return Err(bad(format!("{} is not a valid ref name", quoted(name))));
        }
        out.push(RefUpdate {
            old,
            new,
            name: name.into(),
        });
    }
    Ok(out)
}

/// Where git put things for the hook: read from the environment git sets.
#[derive(Debug, Clone, Default)]
pub struct HookEnv {
    /// `GIT_DIR` (default: the current directory).
    pub git_dir: PathBuf,
    /// `GIT_OBJECT_DIRECTORY`: the quarantine's objects during pre-receive.
    pub object_directory: Option<PathBuf>,
    /// `GIT_ALTERNATE_OBJECT_DIRECTORIES`: the repository's real object store(s).
    pub alternates: Vec<PathBuf>,
    /// `GIT_QUARANTINE_PATH`: set when git quarantines the push.
    pub quarantine: Option<PathBuf>,
    /// Push options (`git push -o ...`), from `GIT_PUSH_OPTION_<n>`.
    pub push_options: Vec<String>,
}

fn split_alternates(v: &str) -> Vec<PathBuf> {
    v.split(':')
        .filter(|s| !s.is_empty())
        .map(|s| PathBuf::from(s.trim_matches('"')))
        .collect()
}

impl HookEnv {
    /// Reads the environment of the current process.
    pub fn from_env() -> Self {
        let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        let count: usize = std::env::var("GIT_PUSH_OPTION_COUNT")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        HookEnv {
            git_dir: var("GIT_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(".")),
            object_directory: var("GIT_OBJECT_DIRECTORY").map(PathBuf::from),
            alternates: var("GIT_ALTERNATE_OBJECT_DIRECTORIES")
                .map(|v| split_alternates(&v.to_string_lossy()))
                .unwrap_or_default(),
            quarantine: var("GIT_QUARANTINE_PATH").map(PathBuf::from),
            push_options: (0..count.min(1000))
                .filter_map(|i| std::env::var(format!("GIT_PUSH_OPTION_{i}")).ok())
                .collect(),
        }
    }

    /// The object directories git names for the push, the pushed objects first (the
    /// repository's own store is added by [`Repo::with_stores`]).
    fn object_dirs(&self) -> Vec<PathBuf> {
        self.object_directory
            .iter()
            .chain(self.alternates.iter())
            .cloned()
            .collect()
    }
}

/// The hook's time budget, checked by the scan between commits and blobs, so that the verdict
/// does not depend on how the threads were scheduled.
#[derive(Debug, Clone)]
pub struct Budget {
    deadline: Instant,
    limit: Duration,
    cancel: Arc<AtomicBool>,
}

impl Budget {
    /// A budget of `limit` from `start`.
    pub fn new(start: Instant, limit: Duration) -> Self {
        Budget {
            // A budget of centuries is no budget: past what `Instant` can hold, none.
            deadline: start
                .checked_add(limit)
                .unwrap_or_else(|| start + Duration::from_secs(u32::MAX.into())),
            limit,
            cancel: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Stops the scan (the waiting side gave up).
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }

    /// The time left (zero when spent).
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// The error to return when the budget is spent.
    pub fn spent(&self) -> Error {
        let secs = format!("{:.3}", self.limit.as_secs_f64());
        Error::Budget(secs.trim_end_matches('0').trim_end_matches('.').to_owned())
    }

    /// An error once the budget is spent or the scan was cancelled.
    pub fn check(&self) -> Result<()> {
        if self.cancel.load(Ordering::Relaxed) || Instant::now() >= self.deadline {
            Err(self.spent())
        } else {
            Ok(())
        }
    }
}

/// What the push brings, and what it holds.
#[derive(Debug, Default)]
pub struct PushScan {
    /// Findings on added lines, in push order.
    pub findings: Vec<Finding>,
    /// The new commits, in the order they were scanned.
    pub commits: Vec<ObjectId>,
    /// Refs updated (deletions excluded), escaped, redacted where they carry a token.
    pub refs: Vec<String>,
    /// Counts of blobs scanned and skipped.
    pub summary: Stats,
    /// The push held more than [`MAX_FINDINGS`] findings: past them only one that blocks was
    /// kept, and the scan stopped there.
    pub truncated: bool,
}

/// The most findings a push scan keeps. A finding costs a few kilobytes and a blob under the
/// size cap can hold one on each of a hundred thousand lines (45 MB of such lines once took the
/// hook to 2 GB and past its time budget), so past this many the scan keeps only a finding
/// that blocks, and stops at the first one: the verdict is then settled.
pub const MAX_FINDINGS: usize = 10_000;

/// The repository a push goes to, read through its quarantine.
pub struct PushRepo {
    repo: Repo,
}

impl PushRepo {
    /// Opens the repository the hook runs in, and the object stores the push can be read from.
    pub fn open(env: &HookEnv) -> Result<Self> {
        let repo = super::repo::open_repo(&env.git_dir)?;
        let quarantined = env.quarantine.is_some() && env.object_directory.is_some();
        Ok(PushRepo {
            repo: Repo::with_stores(repo, &env.object_dirs(), quarantined)?,
        })
    }

    /// The repository's hash kind (how long the ids on stdin must be).
    pub fn hash_kind(&self) -> gix::hash::Kind {
        self.repo.hash_kind()
    }

    /// The repository's path, for logs.
    pub fn path(&self) -> &Path {
        self.repo.git_dir()
    }

    /// The allow patterns of the pushed repository's own `.secretgate.toml`, read from the tip of
    /// the first updated ref (only when the admin allows repositories to add them).
    pub fn repo_allowlist(
        &self,
        updates: &[RefUpdate],
    ) -> Result<Option<(String, crate::rules::syntax::AllowlistSyntax)>> {
        let odb = self.repo.objects();
        let mut buf = Vec::new();
        for u in updates.iter().filter(|u| !u.is_delete()) {
            let (target, kind) = odb.peel(u.new, &mut buf)?;
            if kind != Kind::Commit {
                continue;
            }
            let (tree, _) = odb.commit_tree_and_parents(&target, &mut buf)?;
            let origin = format!("{}:{}", escape(&u.name), super::config::REPO_CONFIG);
            let Some(config) = RepoConfig::in_tree(odb, &tree, origin)? else {
                return Ok(None);
            };
            let allow = config.allowlist()?;
            return Ok(Some((config.origin, allow)));
        }
        Ok(None)
    }

    /// Scans everything the updates bring. `blocks` says whether a finding would block the
    /// push (the policy and the baseline): past [`MAX_FINDINGS`], only such a finding is kept.
    ///
    /// A problem with the pushed objects themselves (missing, corrupt, of the wrong kind) is
    /// [`Error::Pushed`]: the push is rejected whatever `fail_open` says, since accepting it
    /// would let in content nobody judged.
    pub fn scan(
        &self,
        rules: &Ruleset,
        updates: &[RefUpdate],
        budget: &Budget,
        blocks: &(dyn Fn(&Finding) -> bool + Sync),
        jobs: usize,
    ) -> Result<PushScan> {
        let mut out = PushScan::default();
        let mut kept = Kept::new(MAX_FINDINGS, blocks);
        let mut scanner = BlobScanner::new(rules, self.repo.objects());
        let mut buf = Vec::new();
        // The commits the updates point at, and the display name of each update's ref.
        let mut tips: Vec<ObjectId> = Vec::new();
        let mut tip_refs: Vec<String> = Vec::new();
        for u in updates.iter().filter(|u| !u.is_delete()) {
            if kept.done() {
                break;
            }
            budget.check()?;
            let refname = self.scan_ref(rules, u, &mut kept)?;
            out.refs.push(refname.clone());
            let (target, kind) = self.peel_scanning(rules, u.new, &refname, &mut buf, &mut kept)?;
            match kind {
                Kind::Commit => {
                    tips.push(target);
                    tip_refs.push(refname);
                }
                Kind::Tree | Kind::Blob => {
                    self.scan_tree_or_blob(&mut scanner, target, kind, &refname, &mut kept, budget)
                        .map_err(|e| self.blame(e))?;
                }
                Kind::Tag => unreachable!("peeled"),
            }
        }
        let olds: Vec<ObjectId> = updates
            .iter()
            .filter(|u| !u.old.is_null())
            .map(|u| u.old)
            .collect();
        let new = super::reach::new_commits(
            self.repo.objects(),
            || RefTips::read(self.repo.gix()),
            &tips,
            &olds,
            self.repo.is_quarantined(),
            budget,
        )?;
        tracing::debug!(
            commits = new.commits.len(),
            limited = new.limited,
            "new commits"
        );
        // Contiguous shares (neighbouring commits share deltas), one scanner each; the
        // findings are taken back in commit order, so the verdict and the message are those of
        // one thread.
        let odb = SharedOdb::new(self.repo.objects());
        let quarantined = self.repo.is_quarantined();
        let parts = in_shares(&new.commits, jobs, PARALLEL_FROM, |share| {
            scan_share(
                &odb.get(),
                quarantined,
                rules,
                share,
                &tip_refs,
                blocks,
                budget,
            )
        })?;
        let mut summary = scanner.summary;
        for part in parts {
            out.commits.extend(part.commits);
            summary.absorb(part.summary);
            kept.truncated |= part.truncated;
            for f in part.findings {
                if !kept.take(f) {
                    break;
                }
            }
        }
        out.summary = summary;
        out.truncated = kept.truncated;
        out.findings = kept.findings;
        Ok(out)
    }

    /// Inside git's quarantine, a broken object met while reading what the push names is the
    /// push's own ([`Error::Pushed`]). Without a quarantine (a hook run by hand) every object
    /// is the server's, and its problems are the scanner's.
    fn blame(&self, e: Error) -> Error {
        blame(self.repo.is_quarantined(), e)
    }

    /// The ref's name for messages, redacted when it carries a token (which is then a finding
    /// of its own, at `(ref name)`).
    fn scan_ref(&self, rules: &Ruleset, u: &RefUpdate, kept: &mut Kept<'_>) -> Result<String> {
        let found = rules.scan_message(&u.name);
        let shown = redact_in(&u.name, &found);
        let prov = Provenance::Push {
            refname: shown.clone(),
            commit: None,
        };
        for m in &found {
            kept.take(Finding::new(rules, m, REF_NAME.as_bytes(), &prov));
        }
        Ok(shown)
    }

    /// Follows a pushed ref's tags to what they point at, scanning each tag's message.
    fn peel_scanning(
        &self,
        rules: &Ruleset,
        id: ObjectId,
        refname: &str,
        buf: &mut Vec<u8>,
        kept: &mut Kept<'_>,
    ) -> Result<(ObjectId, Kind)> {
        let mut id = id;
        for _ in 0..64 {
            match self
                .repo
                .objects()
                .read(&id, buf)
                .map_err(|e| self.blame(e))?
            {
                Some(Kind::Tag) => {
                    let t = gix::objs::TagRef::from_bytes(buf, self.repo.objects().hash_kind())
                        .map_err(|e| self.blame(Error::repo(format!("tag {id} is corrupt"), e)))?;
                    let found = rules.scan_message(t.message);
                    let prov = Provenance::Push {
                        refname: refname.to_owned(),
                        commit: None,
                    };
                    for m in &found {
                        kept.take(Finding::new(rules, m, TAG_MESSAGE.as_bytes(), &prov));
                    }
                    id = t.target();
                }
                Some(k) => return Ok((id, k)),
                None => return Err(self.blame(Error::repo_msg(format!("object {id} is missing")))),
            }
        }
        Err(self.blame(Error::repo_msg(format!("tag chain at {id} is too long"))))
    }

    /// A ref pointing at a tree or a blob (through a tag): everything in it is new content.
    fn scan_tree_or_blob(
        &self,
        scanner: &mut BlobScanner<'_>,
        target: ObjectId,
        kind: Kind,
        refname: &str,
        kept: &mut Kept<'_>,
        budget: &Budget,
    ) -> Result<()> {
        let mut changes = Vec::new();
        if kind == Kind::Tree {
            super::diff::diff_trees(self.repo.objects(), None, Some(&target), &mut changes)?;
        } else {
            changes.push(Change {
                path: BString::from(format!("{refname}:")),
                old: None,
                new: Some(target),
            });
        }
        let prov = Provenance::Push {
            refname: refname.to_owned(),
            commit: None,
        };
        for c in changes {
            budget.check()?;
            if let Some(new) = c.new {
                scanner.each_added_finding(&c.path, &new, &[None], &prov, &mut |f| kept.take(f))?;
            }
            if kept.done() {
                break;
            }
        }
        Ok(())
    }
}

/// Scans one new commit: its message, then the lines its changes add.
fn scan_commit(
    odb: &Odb,
    scanner: &mut BlobScanner<'_>,
    c: ObjectId,
    refname: &str,
    buf: &mut Vec<u8>,
    kept: &mut Kept<'_>,
    budget: &Budget,
) -> Result<()> {
    let (tree, parents) = odb.commit_tree_and_parents(&c, buf)?;
    let mut info = commit_info(buf, odb.hash_kind());
    // The message: provider-format tokens only (prose is not code), and the subject shown
    // to the pusher with them redacted.
    let message = gix::objs::CommitRef::from_bytes(buf, odb.hash_kind())
        .map(|c| c.message.to_owned())
        .unwrap_or_default();
    let in_message = scanner.rules().scan_message(&message);
    if !in_message.is_empty() {
        let summary = gix::objs::commit::MessageRef::from_bytes(&message).summary();
        info.subject = redact_in(&summary, &in_message);
    }
    let prov = Provenance::Push {
        refname: refname.to_owned(),
        commit: Some(CommitMeta {
            id: c.to_string(),
            author: info.author,
            date: info.date,
            subject: Some(info.subject),
        }),
    };
    for m in &in_message {
        kept.take(Finding::new(
            scanner.rules(),
            m,
            COMMIT_MESSAGE.as_bytes(),
            &prov,
        ));
    }
    let mut parent_trees = Vec::with_capacity(parents.len());
    for p in &parents {
        parent_trees.push(odb.commit_tree_and_parents(p, buf)?.0);
    }
    let mut changes = Vec::new();
    super::diff::diff_trees(
        odb,
        parent_trees.first().map(|t| t.as_ref()),
        Some(&tree),
        &mut changes,
    )?;
    let rules = scanner.rules();
    pair_renames(&mut changes, &|a, b| rules.same_class(a, b));
    let mut merged: Vec<PathLookup<'_>> = parent_trees
        .iter()
        .skip(1)
        .map(|t| PathLookup::new(odb, *t))
        .collect();
    for ch in changes {
        let Some(new) = ch.new else { continue };
        budget.check()?;
        let mut olds = vec![ch.old];
        for other in &mut merged {
            olds.push(other.file(&ch.path)?);
        }
        scanner.each_added_finding(&ch.path, &new, &olds, &prov, &mut |f| kept.take(f))?;
        if kept.done() {
            break;
        }
    }
    Ok(())
}

/// One worker's share of the new commits, scanned in order with a scanner of its own.
fn scan_share(
    odb: &Odb,
    quarantined: bool,
    rules: &Ruleset,
    share: &[(ObjectId, usize)],
    tip_refs: &[String],
    blocks: &(dyn Fn(&Finding) -> bool + Sync),
    budget: &Budget,
) -> Result<Part> {
    let mut scanner = BlobScanner::new(rules, odb);
    let mut kept = Kept::new(MAX_FINDINGS, blocks);
    let mut buf = Vec::new();
    let mut commits = Vec::with_capacity(share.len());
    for &(c, t) in share {
        if kept.done() {
            break;
        }
        budget.check()?;
        commits.push(c);
        scan_commit(
            odb,
            &mut scanner,
            c,
            &tip_refs[t],
            &mut buf,
            &mut kept,
            budget,
        )
        .map_err(|e| blame(quarantined, e))?;
    }
    Ok(Part {
        findings: kept.findings,
        truncated: kept.truncated,
        summary: scanner.summary,
        commits,
    })
}

/// See [`PushRepo::blame`].
fn blame(quarantined: bool, e: Error) -> Error {
    if quarantined {
        e.pushed()
    } else {
        e
    }
}

/// Below this many new commits per thread, a push is scanned on one thread: starting threads
/// costs more than a small push's scan.
const PARALLEL_FROM: usize = 16;

/// What one scan thread found in its share of the commits.
struct Part {
    findings: Vec<Finding>,
    truncated: bool,
    summary: Stats,
    commits: Vec<ObjectId>,
}

/// Where a finding in a commit's message is reported.
pub const COMMIT_MESSAGE: &str = "(commit message)";
/// Where a finding in an annotated tag's message is reported.
pub const TAG_MESSAGE: &str = "(tag message)";
/// Where a token in a pushed ref's name is reported.
pub const REF_NAME: &str = "(ref name)";

/// `text` escaped for output, with every matched value in it redacted.
fn redact_in(text: &[u8], found: &[crate::detect::Match]) -> String {
    let mut shown = escape(text);
    for m in found {
        let value = escape(&m.value);
        if !value.is_empty() {
            shown = shown.replace(&value, &crate::redact::redact(&m.value));
        }
    }
    shown
}
