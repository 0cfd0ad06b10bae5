//! Which commits a push makes reachable that no existing ref reached: the contract's
//! `git rev-list NEW --not --all`, computed once for all the pushed tips.
//!
//! What is "already judged" is decided by reachability from the refs that existed before the
//! push, never by where an object is stored. git does not copy into the quarantine the objects
//! the server already stores, so a commit that no ref reaches (force-pushed away after a leak,
//! pushed before the hook was installed, smuggled in an earlier pack) is outside the quarantine
//! and still new when a push names it.
//!
//! The quarantine is only a fast path: from the pushed tips the walk goes through the commits
//! the push brought, and stops at the first commit it did not bring (the boundary). When every
//! boundary commit is the tip of an existing ref (a push on top of a branch: the common case),
//! that is the answer, and it costs one read per new commit plus the list of refs. Otherwise the
//! boundary commits are walked against every existing ref, newest first by commit date, the way
//! git's own `rev-list --not --all` limits a walk: it stops once every commit still queued is
//! reachable from a ref. Clock skew can only make that walk include a commit an existing ref
//! reaches (scanned again), never leave a new one out of it on its own account.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};

use gix::hash::ObjectId;
use gix::objs::Kind;

use super::push::Budget;
use super::repo::Odb;
use crate::error::{Error, Result};

/// How many extra rounds the limited walk goes on once only already-reached commits are
/// queued (git's `SLOP`), so a little clock skew does not end it early.
const SLOP: u32 = 5;

/// The new commits of a push, each attributed to the first pushed tip that reaches it.
#[derive(Debug, Default)]
pub struct NewCommits {
    /// (commit, index of the tip that reaches it first), parents before children within each
    /// tip's share.
    pub commits: Vec<(ObjectId, usize)>,
    /// Whether the walk had to go past the quarantine (commits the server already stored, or
    /// no quarantine at all).
    pub limited: bool,
}

/// The ids the existing refs point at, and the commits they peel to.
pub struct RefTips {
    /// Every ref's direct target and, for tags, what it peels to (from `packed-refs` when it
    /// says, else read on demand).
    direct: HashSet<ObjectId>,
    /// Targets that may be tags whose commit is not yet known.
    unpeeled: Vec<ObjectId>,
}

impl RefTips {
    /// Lists the repository's refs as they are before the push (git updates them only after the
    /// pre-receive hook accepts). Symbolic refs resolve to what they point at.
    pub fn read(repo: &gix::Repository) -> Result<Self> {
        let platform = repo
            .references()
            .map_err(|e| Error::repo("cannot list the repository's refs", e))?;
        let iter = platform
            .all()
            .map_err(|e| Error::repo("cannot list the repository's refs", e))?;
        let mut direct = HashSet::new();
        let mut unpeeled = Vec::new();
        for r in iter {
            let r = r.map_err(|e| Error::repo("cannot read a ref", e))?;
            let Some(id) = r.target().try_id().map(ToOwned::to_owned) else {
                // Symbolic (HEAD-like): what it points at is listed as a ref of its own.
                continue;
            };
            direct.insert(id);
            match r.inner.peeled {
                Some(p) => {
                    direct.insert(p);
                }
                None => unpeeled.push(id),
            }
        }
        Ok(RefTips { direct, unpeeled })
    }

    /// Whether `id` is what some ref points at (directly or through the tags packed-refs
    /// already peeled).
    fn is_tip(&self, id: &ObjectId) -> bool {
        self.direct.contains(id)
    }

    /// The commits the refs peel to (tags followed; refs to trees and blobs left out).
    fn commits(&self, odb: &Odb) -> Vec<ObjectId> {
        let mut buf = Vec::new();
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        for id in self.direct.iter().chain(self.unpeeled.iter()) {
            // A ref whose object is missing or broken reaches nothing we could read: the walk
            // below then treats less as already judged, never more.
            if let Ok((c, Kind::Commit)) = odb.peel(*id, &mut buf) {
                if seen.insert(c) {
                    out.push(c);
                }
            }
        }
        out
    }
}

/// A commit's parents and committer time.
struct Parsed {
    parents: Vec<ObjectId>,
    time: i64,
}

fn parse(odb: &Odb, id: &ObjectId, buf: &mut Vec<u8>) -> Result<Parsed> {
    odb.read_kind(id, Kind::Commit, buf)?;
    let c = gix::objs::CommitRef::from_bytes(buf, odb.hash_kind())
        .map_err(|e| Error::repo(format!("commit {id} is corrupt"), e))?;
    Ok(Parsed {
        parents: c.parents().collect(),
        time: c.time().map(|t| t.seconds).unwrap_or(0),
    })
}

/// The commits reachable from `tips` (commit ids, in the order of the ref updates) and from no
/// existing ref. `olds`: the updated refs' values before the push, as the input claims them
/// (used only where a ref really holds them). `quarantined`: the first store of `odb` holds
/// exactly what the push brought.
pub fn new_commits(
    odb: &Odb,
    refs: impl FnOnce() -> Result<RefTips>,
    tips: &[ObjectId],
    olds: &[ObjectId],
    quarantined: bool,
    budget: &Budget,
) -> Result<NewCommits> {
    let mut buf = Vec::new();
    // Parents of the commits found so far, for the attribution walk below.
    let mut parents: HashMap<ObjectId, Vec<ObjectId>> = HashMap::new();
    let mut boundary: Vec<ObjectId> = Vec::new();
    let mut seen: HashSet<ObjectId> = HashSet::new();
    let mut stack: Vec<ObjectId> = tips.iter().rev().copied().collect();
    while let Some(c) = stack.pop() {
        if !seen.insert(c) {
            continue;
        }
        budget.check()?;
        if quarantined && odb.in_first(&c) {
            // The push brought it: if it is broken, the push is.
            let p = parse(odb, &c, &mut buf).map_err(Error::pushed)?;
            stack.extend(p.parents.iter().rev().copied());
            parents.insert(c, p.parents);
        } else {
            boundary.push(c);
        }
    }
    let mut limited = false;
    if !boundary.is_empty() {
        let refs = refs()?;
        boundary.retain(|b| !refs.is_tip(b));
        // A boundary below the tip of a ref (a merged branch that started from an older commit
        // of `main`): first walk from the old values of the updated refs, which are usually
        // what reaches it. Only the values that some ref really holds count: the hook's input
        // is the pusher's claim.
        if !boundary.is_empty() {
            let mut near = Vec::new();
            let mut buf = Vec::new();
            for o in olds.iter().filter(|o| refs.is_tip(o)) {
                if let Ok(Some(Kind::Commit)) = odb.header(o).map(|h| h.map(|(k, _)| k)) {
                    if !near.contains(o) {
                        near.push(*o);
                    }
                } else if let Ok((c, Kind::Commit)) = odb.peel(*o, &mut buf) {
                    near.push(c);
                }
            }
            if !near.is_empty() && limited_walk(odb, &boundary, &near, budget)?.is_empty() {
                boundary.clear();
            }
        }
        if !boundary.is_empty() {
            limited = true;
            let hidden = refs.commits(odb);
            for (c, ps) in limited_walk(odb, &boundary, &hidden, budget)? {
                parents.insert(c, ps);
            }
        }
    }
    Ok(NewCommits {
        commits: attribute(tips, &parents),
        limited,
    })
}

/// git's limited walk: the commits reachable from `interesting` and not from `hidden`, with
/// their parents. Newest first by committer date; ends once only hidden-reachable commits are
/// queued for [`SLOP`] rounds in a row.
fn limited_walk(
    odb: &Odb,
    interesting: &[ObjectId],
    hidden: &[ObjectId],
    budget: &Budget,
) -> Result<Vec<(ObjectId, Vec<ObjectId>)>> {
    let mut w = Limited {
        odb,
        buf: Vec::new(),
        nodes: HashMap::new(),
        queue: BinaryHeap::new(),
        seq: 0,
        interesting_queued: 0,
    };
    for h in hidden {
        // A hidden tip that cannot be read hides nothing (see `RefTips::commits`).
        if odb.header(h)?.is_some() {
            w.add(*h, true)?;
        }
    }
    for i in interesting {
        w.add(*i, false)?;
    }
    let mut order: Vec<ObjectId> = Vec::new();
    let mut slop = SLOP;
    let mut last_date = i64::MAX;
    while let Some((time, _, id)) = w.queue.pop() {
        budget.check()?;
        let node = w.nodes.get_mut(&id).expect("queued commits are known");
        node.queued = false;
        let uninteresting = node.uninteresting;
        let parents = node.parents.clone();
        if uninteresting {
            for p in parents {
                w.hide(p)?;
            }
            if (w.queue.peek().is_some_and(|q| q.0 >= last_date)) || w.interesting_queued > 0 {
                slop = SLOP;
                continue;
            }
            slop -= 1;
            if slop == 0 {
                break;
            }
            continue;
        }
        w.interesting_queued -= 1;
        for p in parents {
            w.add(p, false)?;
        }
        last_date = time;
        order.push(id);
    }
    Ok(order
        .into_iter()
        .filter_map(|id| {
            let n = w.nodes.get(&id)?;
            (!n.uninteresting).then(|| (id, n.parents.clone()))
        })
        .collect())
}

/// A commit met by the limited walk.
struct Node {
    uninteresting: bool,
    queued: bool,
    parents: Vec<ObjectId>,
}

/// The state of [`limited_walk`].
struct Limited<'a> {
    odb: &'a Odb,
    buf: Vec<u8>,
    nodes: HashMap<ObjectId, Node>,
    /// Max-heap by committer time; ties: the first queued first.
    queue: BinaryHeap<(i64, Reverse<u64>, ObjectId)>,
    seq: u64,
    /// How many queued commits are not (yet) known to be reachable from a ref.
    interesting_queued: usize,
}

impl Limited<'_> {
    /// Queues a commit not met before; marks a known one hidden when `uninteresting`.
    fn add(&mut self, id: ObjectId, uninteresting: bool) -> Result<()> {
        if self.nodes.contains_key(&id) {
            if uninteresting {
                self.hide(id)?;
            }
            return Ok(());
        }
        let p = parse(self.odb, &id, &mut self.buf)?;
        self.nodes.insert(
            id,
            Node {
                uninteresting,
                queued: true,
                parents: p.parents,
            },
        );
        self.seq += 1;
        self.queue.push((p.time, Reverse(self.seq), id));
        if !uninteresting {
            self.interesting_queued += 1;
        }
        Ok(())
    }

    /// Marks `id` and everything below it that was already met as reachable from a ref
    /// (queueing it when it was not met yet).
    fn hide(&mut self, id: ObjectId) -> Result<()> {
        let mut stack = vec![id];
        while let Some(c) = stack.pop() {
            match self.nodes.get_mut(&c) {
                None => self.add(c, true)?,
                Some(n) if n.uninteresting => {}
                Some(n) => {
                    n.uninteresting = true;
                    if n.queued {
                        self.interesting_queued -= 1;
                    }
                    stack.extend(n.parents.iter().copied());
                }
            }
        }
        Ok(())
    }
}

/// Orders the new commits (those in `parents`) for scanning and names the tip each belongs to:
/// tip by tip, each commit once, parents before children.
fn attribute(
    tips: &[ObjectId],
    parents: &HashMap<ObjectId, Vec<ObjectId>>,
) -> Vec<(ObjectId, usize)> {
    let mut done: HashSet<ObjectId> = HashSet::new();
    let mut out = Vec::with_capacity(parents.len());
    for (t, tip) in tips.iter().enumerate() {
        // Iterative post-order: a commit is emitted after all its new parents.
        let mut stack: Vec<(ObjectId, bool)> = vec![(*tip, false)];
        while let Some((c, expanded)) = stack.pop() {
            if expanded {
                out.push((c, t));
                continue;
            }
            let Some(ps) = parents.get(&c) else { continue };
            if !done.insert(c) {
                continue;
            }
            stack.push((c, true));
            for p in ps.iter().rev() {
                if !done.contains(p) && parents.contains_key(p) {
                    stack.push((*p, false));
                }
            }
        }
    }
    out
}
