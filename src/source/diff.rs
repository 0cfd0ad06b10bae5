//! What a change adds: the files that differ between two trees, renames paired with their old
//! versions, and the lines of a new blob that are not in the old one.
//!
//! The hooks judge added lines only, so every source that compares two versions (a pushed
//! commit against its parents, the index against `HEAD`) goes through these three steps.

use bstr::{BString, ByteSlice, ByteVec};
use gix::hash::{oid, ObjectId};

use super::repo::{deep_path, EntryKind, Odb, MAX_TREE_DEPTH};
use crate::error::{Error, Result};

/// One file changed between two trees.
#[derive(Debug, Clone)]
pub struct Change {
    /// The `/`-separated path.
    pub path: BString,
    /// The blob before, if the path held a file.
    pub old: Option<ObjectId>,
    /// The blob after, if the path holds a file.
    pub new: Option<ObjectId>,
}

/// Every file that differs between `old` (none: the empty tree) and `new`, recursively.
/// Symbolic links and submodules are not files here.
pub fn diff_trees(
    odb: &Odb,
    old: Option<&oid>,
    new: Option<&oid>,
    out: &mut Vec<Change>,
) -> Result<()> {
    let mut buf = Vec::new();
    diff_rec(odb, old, new, &mut BString::default(), out, &mut buf, 0)
}

fn diff_rec(
    odb: &Odb,
    old: Option<&oid>,
    new: Option<&oid>,
    prefix: &mut BString,
    out: &mut Vec<Change>,
    buf: &mut Vec<u8>,
    depth: usize,
) -> Result<()> {
    if old == new {
        return Ok(());
    }
    if depth >= MAX_TREE_DEPTH {
        return Err(Error::repo_msg(format!(
            "tree {} at {} is nested deeper than {MAX_TREE_DEPTH} levels (git's own limit)",
            new.or(old).map(|t| t.to_string()).unwrap_or_default(),
            deep_path(prefix),
        )));
    }
    let mut a = match old {
        Some(t) => odb.tree_entries(t, buf)?,
        None => Vec::new(),
    };
    let mut b = match new {
        Some(t) => odb.tree_entries(t, buf)?,
        None => Vec::new(),
    };
    a.sort_by(|x, y| x.0.cmp(&y.0));
    b.sort_by(|x, y| x.0.cmp(&y.0));
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let ord = match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) => x.0.cmp(&y.0),
            (Some(_), None) => std::cmp::Ordering::Less,
            _ => std::cmp::Ordering::Greater,
        };
        let (left, right) = match ord {
            std::cmp::Ordering::Less => {
                i += 1;
                (Some(&a[i - 1]), None)
            }
            std::cmp::Ordering::Greater => {
                j += 1;
                (None, Some(&b[j - 1]))
            }
            std::cmp::Ordering::Equal => {
                i += 1;
                j += 1;
                (Some(&a[i - 1]), Some(&b[j - 1]))
            }
        };
        let name = left.or(right).map(|e| e.0.clone()).unwrap_or_default();
        if let (Some(l), Some(r)) = (left, right) {
            if l.1 == r.1 && l.2 == r.2 {
                continue;
            }
        }
        let len = prefix.len();
        if !prefix.is_empty() {
            prefix.push(b'/');
        }
        prefix.push_str(&name);
        let tree_of = |e: Option<&(BString, ObjectId, EntryKind)>| {
            e.filter(|e| e.2 == EntryKind::Tree).map(|e| e.1)
        };
        let file_of = |e: Option<&(BString, ObjectId, EntryKind)>| {
            e.filter(|e| e.2 == EntryKind::File).map(|e| e.1)
        };
        let (lt, rt) = (tree_of(left), tree_of(right));
        if lt.is_some() || rt.is_some() {
            diff_rec(
                odb,
                lt.as_deref(),
                rt.as_deref(),
                prefix,
                out,
                buf,
                depth + 1,
            )?;
        }
        let (lf, rf) = (file_of(left), file_of(right));
        if (lf.is_some() || rf.is_some()) && lf != rf {
            out.push(Change {
                path: prefix.clone(),
                old: lf,
                new: rf,
            });
        }
        prefix.truncate(len);
    }
    Ok(())
}

/// Drops pure renames (the same blob deleted at one path and added at another: nothing is
/// added) and pairs a renamed-and-edited file with its old blob, so only edited lines count.
///
/// A rename carries trust only between paths the detector treats alike (`same_class`, see
/// [`crate::rules::Ruleset::path_signature`]): lines moved out of a path that was never scanned
/// or scanned more leniently (allowlisted, skipped, an example file) are all judged at the new
/// path, as if the file were new there.
pub fn pair_renames(changes: &mut Vec<Change>, same_class: &dyn Fn(&[u8], &[u8]) -> bool) {
    let deleted: Vec<(BString, ObjectId)> = changes
        .iter()
        .filter(|c| c.new.is_none())
        .filter_map(|c| c.old.map(|o| (c.path.clone(), o)))
        .collect();
    if deleted.is_empty() {
        return;
    }
    let name = |p: &[u8]| -> Vec<u8> {
        match p.rfind_byte(b'/') {
            Some(i) => p[i + 1..].to_vec(),
            None => p.to_vec(),
        }
    };
    let added: Vec<usize> = (0..changes.len())
        .filter(|&i| changes[i].old.is_none() && changes[i].new.is_some())
        .collect();
    let only_pair = deleted.len() == 1 && added.len() == 1;
    let mut drop = vec![false; changes.len()];
    for i in added {
        let new = changes[i].new.expect("added");
        let path = changes[i].path.clone();
        if deleted
            .iter()
            .any(|(p, o)| *o == new && same_class(p, &path))
        {
            drop[i] = true;
            continue;
        }
        if deleted.iter().any(|(_, o)| *o == new) {
            // The same content, moved from a path judged differently: all of it is new here.
            continue;
        }
        let same_name: Vec<&(BString, ObjectId)> = deleted
            .iter()
            .filter(|(p, _)| name(p) == name(&path))
            .collect();
        let source = if same_name.len() == 1 {
            Some(same_name[0])
        } else if only_pair {
            Some(&deleted[0])
        } else {
            None
        };
        if let Some((p, o)) = source {
            if same_class(p, &path) {
                changes[i].old = Some(*o);
            }
        }
    }
    let mut k = 0;
    changes.retain(|_| {
        k += 1;
        !drop[k - 1]
    });
}

/// The lines of a new blob that a change added, 1-based.
#[derive(Debug, Clone)]
pub enum AddedLines {
    /// Every line (a new file).
    All,
    /// Only these lines (`true` at index `line - 1`).
    Some(Vec<bool>),
}

impl AddedLines {
    /// Whether the 1-based `line` was added.
    pub fn contains(&self, line: usize) -> bool {
        match self {
            AddedLines::All => true,
            AddedLines::Some(v) => line >= 1 && v.get(line - 1).copied().unwrap_or(false),
        }
    }

    /// Lines added relative to every one of several old versions (a merge: a line counts only
    /// if it is in none of the parents).
    pub fn intersect(self, other: AddedLines) -> AddedLines {
        match (self, other) {
            (AddedLines::All, o) | (o, AddedLines::All) => o,
            (AddedLines::Some(a), AddedLines::Some(b)) => {
                AddedLines::Some(a.iter().zip(b.iter()).map(|(x, y)| *x && *y).collect())
            }
        }
    }
}

/// Which lines of `new` are not in `old` (histogram diff, as git's).
pub fn added_lines(old: &[u8], new: &[u8]) -> AddedLines {
    use imara_diff::{Algorithm, Diff, InternedInput};
    let input = InternedInput::new(
        imara_diff::sources::byte_lines(old),
        imara_diff::sources::byte_lines(new),
    );
    let mut diff = Diff::compute(Algorithm::Histogram, &input);
    diff.postprocess_lines(&input);
    let n = input.after.len();
    AddedLines::Some((0..n as u32).map(|i| diff.is_added(i)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn added_lines_marks_only_new_lines() {
        let a = added_lines(b"a\nb\nc\n", b"a\nx\nb\nc\ny\n");
        let got: Vec<bool> = (1..=5).map(|l| a.contains(l)).collect();
        assert_eq!(got, vec![false, true, false, false, true]);
        let m = a.intersect(added_lines(b"x\n", b"a\nx\nb\nc\ny\n"));
        let got: Vec<bool> = (1..=5).map(|l| m.contains(l)).collect();
        assert_eq!(got, vec![false, false, false, false, true]);
    }

    #[test]
    fn pure_renames_add_nothing() {
        let id = |b: u8| ObjectId::from_bytes_or_panic(&[b; 20]);
        let mut c = vec![
            Change {
                path: "a/x.py".into(),
                old: Some(id(1)),
                new: None,
            },
            Change {
                path: "b/x.py".into(),
                old: None,
                new: Some(id(1)),
            },
            Change {
                path: "c.py".into(),
                old: Some(id(2)),
                new: None,
            },
            Change {
                path: "d/c.py".into(),
                old: None,
                new: Some(id(3)),
            },
        ];
        let mut moved = c.clone();
        pair_renames(&mut c, &|_, _| true);
        assert_eq!(c.len(), 3);
        assert_eq!(c[2].old, Some(id(2)));
        // Out of a path judged differently, a rename carries nothing: all of it is new.
        pair_renames(&mut moved, &|old, _| !old.ends_with(b"c.py"));
        assert_eq!(moved.len(), 3);
        assert_eq!(moved[2].old, None);
    }
}
