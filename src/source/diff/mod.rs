//! What a change adds: the files that differ between two trees, renames paired with their old
//! versions, and the lines of a new blob that are not in the old one.
//!
//! The hooks judge added lines only, so every source that compares two versions (a pushed
//! commit against its parents, the index against `HEAD`) goes through these three steps.
//!
//! There is one tree differ (`tree::Differ`): the audit streams its events over a whole
//! history, the hooks collect them into [`Change`]s with [`diff_trees`], where any tree that
//! cannot be read is an error (a push must not be judged on part of its content).

use bstr::{BString, ByteSlice};
use gix::hash::{oid, ObjectId};

pub mod tree;

use super::repo::Odb;
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
/// Symbolic links and submodules are not files here. The first tree that cannot be read
/// (missing, corrupt, nested deeper than git allows) is the error.
pub fn diff_trees(
    odb: &Odb,
    old: Option<&oid>,
    new: Option<&oid>,
    out: &mut Vec<Change>,
) -> Result<()> {
    let mut trees = tree::TreeCache::new(0);
    let mut differ = tree::Differ::new(odb, &mut trees, odb.hash_kind(), false);
    let mut failed: Option<String> = None;
    differ.diff(old, new, &mut |e| match e {
        tree::Event::Added(path, id) => out.push(Change {
            path: path.into(),
            old: None,
            new: Some(id),
        }),
        tree::Event::Modified(path, id, was) => out.push(Change {
            path: path.into(),
            old: Some(was),
            new: Some(id),
        }),
        tree::Event::Deleted(path, id) => out.push(Change {
            path: path.into(),
            old: Some(id),
            new: None,
        }),
        tree::Event::Gitlink(_) | tree::Event::Link(_) => {}
        tree::Event::Error(m) | tree::Event::NotFetched(m) => {
            failed.get_or_insert(m);
        }
    });
    if let Some(m) = failed {
        return Err(Error::repo_msg(m));
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
