//! The attribution stage: each value found is grouped by the file it came in with, and reported
//! once, at the commit and path where it first appeared.
//!
//! Attribution replays the first-parent diffs in topological order, but only for the paths that
//! ever held a blob with a match: it knows which (path, blob) pairs every commit holds, so it
//! can count the commits that hold a value, find the first and the last, and tell whether the
//! tip of the default branch still holds it. A file renamed or edited keeps its findings'
//! origin: a secret is reported once, at the commit and path where it first appeared, not again
//! at every later name of the file. A rename with edits is recognised by content, as git does.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use bstr::ByteSlice;
use gix::hash::ObjectId;
use gix::objs::{Find as _, Kind};

use super::changes::History;
use super::graph::{read_commit, CommitNode, Graph};
use super::scan::Scanned;
use super::NONE;
use crate::detect::Match;
use crate::finding::{CommitMeta, Finding, Provenance};
use crate::rules::Ruleset;
use crate::source::repo::{commit_info, PathLookup};

/// A value found, as attribution groups it: one rule, one value, one origin (the path where
/// the file that holds it started, following renames and edits).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct GroupKey {
    rule: usize,
    value: Vec<u8>,
    /// The setting that holds the value: the same value in two settings is two findings.
    name: Option<String>,
    origin: u32,
}

/// The first place of a group: where it is reported.
#[derive(Debug, Clone, Copy)]
pub(super) struct Place {
    /// Topological position of the commit.
    pos: u32,
    commit: u32,
    /// Where it is reported.
    pub(super) path: u32,
    blob: u32,
    class: u32,
    /// Index of the match in the blob's matches for that class.
    index: usize,
}

/// What attribution knows about one group.
#[derive(Debug, Clone, Default)]
pub(super) struct Group {
    /// Where the group is reported.
    pub(super) first: Option<Place>,
    /// Topological position of the last commit that holds it.
    last: u32,
    occurrences: u64,
    /// Whether the tip of the default branch holds it.
    pub(super) present: bool,
    /// The blobs that hold it.
    pub(super) blobs: HashSet<u32>,
}

/// How often a [`Held`] state is used: by how many commits, the first (the one that made it)
/// and the last in topological order.
#[derive(Debug, Clone, Copy, Default)]
struct Uses {
    count: u64,
    first_pos: u32,
    first_commit: u32,
    last_pos: u32,
}

/// What a commit holds at the paths that matter: (path, blob, origin), sorted by path. Commits
/// that change none of those paths share their first parent's state.
#[derive(Debug, Default)]
struct Held {
    entries: Vec<(u32, u32, u32)>,
    uses: std::cell::Cell<Uses>,
}

impl Held {
    /// Counts one more commit, at topological position `pos`, that holds this state.
    fn used_by(&self, pos: u32, commit: u32) {
        let mut u = self.uses.get();
        if u.count == 0 {
            u.first_pos = pos;
            u.first_commit = commit;
        }
        u.count += 1;
        u.last_pos = pos;
        self.uses.set(u);
    }

    /// The (blob, origin) of the file at `path`, if the state holds one.
    fn get(&self, path: u32) -> Option<(u32, u32)> {
        self.entries
            .binary_search_by_key(&path, |e| e.0)
            .ok()
            .map(|i| (self.entries[i].1, self.entries[i].2))
    }
}

/// The matches of each (path, blob) a state holds, with their group keys.
fn held_matches<'a>(
    held: &'a Held,
    history: &'a History,
    scanned: &'a Scanned,
) -> impl Iterator<Item = (GroupKey, u32, u32, u32, usize, &'a Match)> + 'a {
    held.entries.iter().flat_map(move |&(path, blob, origin)| {
        let class = history.path_class[path as usize];
        scanned
            .hits
            .get(&(blob, class))
            .into_iter()
            .flat_map(|v| v.iter().enumerate())
            .map(move |(i, m)| {
                (
                    GroupKey {
                        rule: m.rule,
                        value: m.value.clone(),
                        name: m.name.clone(),
                        origin,
                    },
                    path,
                    blob,
                    class,
                    i,
                    m,
                )
            })
    })
}

/// Adds the commits that used a state to the groups of the values it holds.
fn flush(held: &Held, history: &History, scanned: &Scanned, groups: &mut HashMap<GroupKey, Group>) {
    let uses = held.uses.get();
    if uses.count == 0 {
        return;
    }
    let mut counted: HashSet<GroupKey> = HashSet::new();
    for (key, path, blob, class, index, m) in held_matches(held, history, scanned) {
        // A value twice in one file, or in two files of the same origin, is still held once
        // by each commit.
        let first_here = !counted.contains(&key);
        if first_here {
            counted.insert(key.clone());
        }
        let g = groups.entry(key).or_default();
        if first_here {
            g.occurrences += uses.count;
        }
        g.blobs.insert(blob);
        g.last = g.last.max(uses.last_pos);
        let place = Place {
            pos: uses.first_pos,
            commit: uses.first_commit,
            path,
            blob,
            class,
            index,
        };
        let better = match &g.first {
            None => true,
            Some(f) => {
                let fm = &scanned.hits[&(f.blob, f.class)][f.index];
                (place.pos, &history.paths[path as usize], m.line, m.column)
                    < (f.pos, &history.paths[f.path as usize], fm.line, fm.column)
            }
        };
        if better {
            g.first = Some(place);
        }
    }
}

/// Replays the first-parent diffs at the paths that matter, in topological order, and groups
/// the matches of the blobs held there.
///
/// The origin of a file at a path is inherited, in this order: from a parent other than the
/// first that holds the same blob there (a merge brings the file from that side); from the
/// first parent's file at the same path (an edit); from the path a pure rename moved the blob
/// from; from the path a rename with edits moved the file from (judged by content, as git
/// does: see [`similar_renames`]); from any parent's file at that path (a merge resolution);
/// else the path itself.
pub(super) fn attribute(
    graph: &Graph,
    history: &History,
    scanned: &Scanned,
    head: Option<u32>,
    odb: &crate::source::repo::Odb,
) -> HashMap<GroupKey, Group> {
    let mut groups: HashMap<GroupKey, Group> = HashMap::new();
    if scanned.hits.is_empty() {
        return groups;
    }
    let target_path = target_paths(history, scanned);
    let n = graph.commits.len();
    let mut remaining = vec![0u32; n];
    for c in &graph.commits {
        for p in parents_of(c) {
            remaining[p as usize] += 1;
        }
    }
    let mut states: Vec<Option<Rc<Held>>> = vec![None; n];
    let release = |slot: &mut Option<Rc<Held>>, groups: &mut HashMap<GroupKey, Group>| {
        if let Some(s) = slot.take() {
            if Rc::strong_count(&s) == 1 {
                flush(&s, history, scanned, groups);
            }
        }
    };

    for (pos, &c) in graph.topo.iter().enumerate() {
        let node = &graph.commits[c as usize];
        let base = (node.first_parent != NONE)
            .then(|| states[node.first_parent as usize].clone())
            .flatten();
        let (s, e) = history.ranges[c as usize];
        let relevant: Vec<usize> = (s as usize..e as usize)
            .filter(|&i| target_path[history.ch_path[i] as usize])
            .collect();
        let state = match base {
            Some(base) if relevant.is_empty() => base,
            base => changed_state(
                base.unwrap_or_default(),
                node,
                &relevant,
                &states,
                history,
                odb,
            ),
        };
        state.used_by(pos as u32, c);
        if Some(c) == head {
            for (key, ..) in held_matches(&state, history, scanned) {
                groups.entry(key).or_default().present = true;
            }
        }
        states[c as usize] = Some(state);
        for p in parents_of(node) {
            remaining[p as usize] -= 1;
            if remaining[p as usize] == 0 {
                release(&mut states[p as usize], &mut groups);
            }
        }
        if remaining[c as usize] == 0 {
            release(&mut states[c as usize], &mut groups);
        }
    }
    for slot in &mut states {
        release(slot, &mut groups);
    }
    groups
}

/// The paths that matter: those that ever held a blob with a match.
fn target_paths(history: &History, scanned: &Scanned) -> Vec<bool> {
    let target_blob: HashSet<u32> = scanned.hits.keys().map(|k| k.0).collect();
    let mut target_path = vec![false; history.paths.len()];
    for (i, &b) in history.ch_blob.iter().enumerate() {
        if b != NONE && target_blob.contains(&b) {
            target_path[history.ch_path[i] as usize] = true;
        }
    }
    target_path
}

/// The audited parents of a commit, the first one first.
fn parents_of(c: &CommitNode) -> Vec<u32> {
    std::iter::once(c.first_parent)
        .chain(c.other_parents.clone())
        .filter(|&p| p != NONE)
        .collect::<Vec<u32>>()
}

/// The state of a commit that changes some of the paths that matter: its first parent's state
/// (`base`) with those changes applied, each file given its origin (see [`attribute`]).
fn changed_state(
    base: Rc<Held>,
    node: &CommitNode,
    relevant: &[usize],
    states: &[Option<Rc<Held>>],
    history: &History,
    odb: &crate::source::repo::Odb,
) -> Rc<Held> {
    let others: Vec<Rc<Held>> = node
        .other_parents
        .iter()
        .filter_map(|&p| states[p as usize].clone())
        .collect();
    let mut map: std::collections::BTreeMap<u32, (u32, u32)> =
        base.entries.iter().map(|&(p, b, o)| (p, (b, o))).collect();
    for &i in relevant {
        map.remove(&history.ch_path[i]);
    }
    let renamed = similar_renames(relevant, history, &base, &others, odb);
    for &i in relevant {
        let (path, blob) = (history.ch_path[i], history.ch_blob[i]);
        if blob == NONE {
            continue;
        }
        let from = history.ch_from[i];
        let origin = others
            .iter()
            .find_map(|h| h.get(path).filter(|&(b, _)| b == blob))
            .or_else(|| base.get(path))
            .or_else(|| {
                (from != NONE)
                    .then(|| base.get(from))
                    .flatten()
                    .filter(|&(b, _)| b == blob)
            })
            .or_else(|| renamed.get(&path).map(|&o| (blob, o)))
            .or_else(|| others.iter().find_map(|h| h.get(path)))
            .map(|(_, o)| o)
            .unwrap_or(path);
        map.insert(path, (blob, origin));
    }
    Rc::new(Held {
        entries: map.into_iter().map(|(p, (b, o))| (p, b, o)).collect(),
        uses: Default::default(),
    })
}

/// Git's default rename threshold: files at least this alike (in percent) are one file moved.
const RENAME_SCORE: u64 = 50;

/// Above this many (deleted, added) pairs in one commit, only files of the same name are
/// compared (git has a limit of its own for the same reason).
const RENAME_PAIRS: usize = 10_000;

/// The lines of a blob, hashed, with the bytes each line accounts for.
fn line_weights(data: &[u8]) -> HashMap<u64, u64> {
    use std::hash::{Hash, Hasher};
    let mut out: HashMap<u64, u64> = HashMap::new();
    for line in data.split_inclusive(|&b| b == b'\n') {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        line.hash(&mut h);
        *out.entry(h.finish()).or_default() += line.len() as u64;
    }
    out
}

/// How alike two blobs are, in percent, as git's rename detection judges it: the bytes of
/// the lines they share over the size of the larger one.
fn similarity(a: &HashMap<u64, u64>, a_len: u64, b: &HashMap<u64, u64>, b_len: u64) -> u64 {
    let larger = a_len.max(b_len);
    if larger == 0 {
        return 100;
    }
    let shared: u64 = a
        .iter()
        .filter_map(|(k, &n)| b.get(k).map(|&m| n.min(m)))
        .sum();
    shared * 100 / larger
}

/// Renames with edits among a commit's changes at the paths that matter: a file added at a new
/// path and one deleted from another path of the first parent, alike enough (git's
/// [`RENAME_SCORE`]), are one file moved and edited; the added path inherits the origin of the
/// deleted one. Each deleted file pairs with at most one added file, the most alike first.
/// Returns added path -> origin.
fn similar_renames(
    relevant: &[usize],
    history: &History,
    base: &Held,
    others: &[Rc<Held>],
    odb: &crate::source::repo::Odb,
) -> HashMap<u32, u32> {
    let mut out = HashMap::new();
    let mut dels: Vec<(u32, u32, u32)> = Vec::new();
    let mut adds: Vec<(u32, u32)> = Vec::new();
    let mut pure = HashSet::new();
    for &i in relevant {
        let (path, blob, from) = (history.ch_path[i], history.ch_blob[i], history.ch_from[i]);
        if blob == NONE {
            if let Some((b, o)) = base.get(path) {
                dels.push((path, b, o));
            }
            continue;
        }
        if base.get(path).is_some() || others.iter().any(|h| h.get(path).is_some()) {
            continue;
        }
        if from != NONE && base.get(from).is_some_and(|(b, _)| b == blob) {
            pure.insert(from);
            continue;
        }
        adds.push((path, blob));
    }
    dels.retain(|d| !pure.contains(&d.0));
    if dels.is_empty() || adds.is_empty() {
        return out;
    }
    let mut buf = Vec::new();
    let mut weights = |blob: u32| -> Option<(HashMap<u64, u64>, u64)> {
        let d = odb
            .try_find(&history.blobs.ids[blob as usize], &mut buf)
            .ok()??;
        (d.kind == Kind::Blob).then(|| (line_weights(d.data), d.data.len() as u64))
    };
    let add_w: Vec<_> = adds.iter().map(|&(_, b)| weights(b)).collect();
    let del_w: Vec<_> = dels.iter().map(|&(_, b, _)| weights(b)).collect();
    let name = |p: u32| {
        let p = &history.paths[p as usize];
        p.rfind_byte(b'/').map_or(&p[..], |i| &p[i + 1..]).to_vec()
    };
    let all_pairs = adds.len() * dels.len() <= RENAME_PAIRS;
    let mut scores: Vec<(u64, usize, usize)> = Vec::new();
    for (ai, a) in add_w.iter().enumerate() {
        let Some((aw, al)) = a else { continue };
        for (di, d) in del_w.iter().enumerate() {
            let Some((dw, dl)) = d else { continue };
            if !all_pairs && name(adds[ai].0) != name(dels[di].0) {
                continue;
            }
            let score = similarity(aw, *al, dw, *dl);
            if score >= RENAME_SCORE {
                scores.push((score, ai, di));
            }
        }
    }
    // The most alike first; ties by path, so the pairing does not depend on the diff's order.
    scores.sort_by(|x, y| {
        y.0.cmp(&x.0)
            .then_with(|| {
                history.paths[adds[x.1].0 as usize].cmp(&history.paths[adds[y.1].0 as usize])
            })
            .then_with(|| {
                history.paths[dels[x.2].0 as usize].cmp(&history.paths[dels[y.2].0 as usize])
            })
    });
    let mut used = HashSet::new();
    for (_, ai, di) in scores {
        if out.contains_key(&adds[ai].0) || !used.insert(di) {
            continue;
        }
        out.insert(adds[ai].0, dels[di].2);
    }
    out
}

/// With `--range` the tip of the default branch may be outside the audited commits: a group is
/// still present there if that tip holds one of its blobs at the path of its first place.
pub(super) fn mark_present_fallback(
    odb: &crate::source::repo::Odb,
    hash: gix::hash::Kind,
    head: ObjectId,
    history: &History,
    groups: &mut HashMap<GroupKey, Group>,
) {
    let mut buf = Vec::new();
    let Ok(c) = read_commit(odb, &head, hash, &mut buf) else {
        return;
    };
    // One lookup over the tip's tree for every group: each directory is read once.
    let mut tip = PathLookup::new(odb, c.tree);
    for g in groups.values_mut() {
        let Some(first) = g.first else {
            continue;
        };
        let path = &history.paths[first.path as usize];
        if let Some(id) = tip.file(path).ok().flatten() {
            if let Some(&b) = history.blobs.index.get(&id) {
                g.present |= g.blobs.contains(&b);
            }
        }
    }
}

/// Turns the groups into findings, one per fingerprint, each attributed to its first place.
pub(super) fn build_findings(
    rules: &Ruleset,
    odb: &crate::source::repo::Odb,
    hash: gix::hash::Kind,
    graph: &Graph,
    history: &History,
    scanned: &Scanned,
    groups: HashMap<GroupKey, Group>,
) -> Vec<Finding> {
    let mut provenance: HashMap<u32, Provenance> = HashMap::new();
    let mut buf = Vec::new();
    let mut placed: Vec<(Place, Group)> = groups
        .into_values()
        .filter_map(|g| g.first.map(|f| (f, g)))
        .collect();
    // Earliest first, so that a fingerprint met twice keeps its earliest place.
    placed.sort_by(|a, b| {
        (
            a.0.pos,
            &history.paths[a.0.path as usize],
            a.0.blob,
            a.0.index,
        )
            .cmp(&(
                b.0.pos,
                &history.paths[b.0.path as usize],
                b.0.blob,
                b.0.index,
            ))
    });
    let mut out: Vec<Finding> = Vec::new();
    // Folded by fingerprint and setting: `WTF_CSRF_SECRET_KEY` holding the value of
    // `SECRET_KEY` is a second finding, not an occurrence of the first. A setting (debug mode,
    // autoescape) is one finding however its spacing changed over the history:
    // `app.run(debug = True)` reformatted to `app.run(debug=True)` is the same thing to fix.
    let mut by_fingerprint: HashMap<(String, String), (usize, u32)> = HashMap::new();
    for (first, g) in placed {
        let m = &scanned.hits[&(first.blob, first.class)][first.index];
        let path = &history.paths[first.path as usize];
        let commit_id = graph.commits[first.commit as usize].id;
        let last_id = graph.commits[graph.topo[g.last as usize] as usize].id;
        let prov = provenance
            .entry(first.commit)
            .or_insert_with(|| {
                let info = match odb.try_find(&commit_id, &mut buf) {
                    Ok(Some(d)) if d.kind == Kind::Commit => commit_info(d.data, hash),
                    _ => Default::default(),
                };
                Provenance::History(CommitMeta {
                    id: commit_id.to_string(),
                    author: info.author,
                    date: info.date,
                    subject: None,
                })
            })
            .clone();
        let mut f = Finding::new(rules, m, path, &prov);
        let key = match f.kind {
            crate::rules::Kind::Secret => (f.fingerprint.clone(), f.message.clone()),
            _ => (
                format!("{}\0{}", f.rule_id, f.path),
                m.value
                    .iter()
                    .filter(|b| !b.is_ascii_whitespace())
                    .map(|&b| b as char)
                    .collect(),
            ),
        };
        match by_fingerprint.get(&key).copied() {
            Some((i, last)) => {
                let e = &mut out[i];
                e.occurrences = Some(e.occurrences.unwrap_or(0) + g.occurrences);
                e.present_at_head = Some(e.present_at_head == Some(true) || g.present);
                if g.last > last {
                    e.last_commit = Some(last_id.to_string());
                    by_fingerprint.insert(key, (i, g.last));
                }
            }
            None => {
                f.present_at_head = Some(g.present);
                f.occurrences = Some(g.occurrences);
                f.first_commit = Some(commit_id.to_string());
                f.last_commit = Some(last_id.to_string());
                by_fingerprint.insert(key, (out.len(), g.last));
                out.push(f);
            }
        }
    }
    out
}
