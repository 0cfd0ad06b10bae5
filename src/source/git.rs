//! Git plumbing shared by the hooks and the audit: object access over several stores, tree
//! diffs, and the lines a change adds.
//!
//! Objects are read through [`Odb`], a list of object databases searched in order, because a
//! pre-receive hook must see two at once: git's quarantine (the pushed objects) and the
//! repository's own store. `gix::open` reads neither `GIT_OBJECT_DIRECTORY` nor
//! `GIT_ALTERNATE_OBJECT_DIRECTORIES`, so a hook that opened the repository the ordinary way
//! would see none of the pushed objects and accept everything.

use std::path::{Path, PathBuf};

use bstr::{BString, ByteSlice, ByteVec};
use gix::hash::{oid, ObjectId};
use gix::objs::{Find as _, Kind};
use gix::odb::Header as _;

use crate::error::{Error, Result};

/// How deeply trees may nest: git's own default limit (`core.maxTreeDepth`). A deeper tree can
/// only come from a hand-made (hostile) object; it is refused with an error instead of being
/// walked until the stack runs out.
pub const MAX_TREE_DEPTH: usize = 4096;

/// The start of a path for messages about trees nested too deeply (the path is thousands of
/// bytes long there).
pub fn deep_path(path: &[u8]) -> String {
    let cut = &path[..path.len().min(60)];
    let more = if path.len() > cut.len() { "…" } else { "" };
    format!("{}{more}", crate::escape::escape(cut))
}

/// Object databases searched in order; the first one may be a push's quarantine.
#[derive(Clone)]
pub struct Odb {
    handles: Vec<gix::odb::Handle>,
    hash: gix::hash::Kind,
}

/// What a tree entry is, as far as scanning cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular or executable file: scanned.
    File,
    /// A symbolic link: its "content" is a path, not scanned.
    Link,
    /// A submodule commit: skipped, never followed.
    Gitlink,
    /// A directory.
    Tree,
}

impl EntryKind {
    /// What a tree entry's mode says it is.
    pub fn of(mode: gix::objs::tree::EntryMode) -> Self {
        if mode.is_tree() {
            EntryKind::Tree
        } else if mode.is_commit() {
            EntryKind::Gitlink
        } else if mode.is_link() {
            EntryKind::Link
        } else {
            EntryKind::File
        }
    }
}

/// Git's order of tree entries: by name, a directory's name compared as if it ended with `/`.
/// Trees and the index are sorted this way, so walking two of them side by side needs it.
pub fn tree_order(a: &[u8], a_dir: bool, b: &[u8], b_dir: bool) -> std::cmp::Ordering {
    let n = a.len().min(b.len());
    a[..n].cmp(&b[..n]).then_with(|| {
        let end_a = a.get(n).copied().or(a_dir.then_some(b'/'));
        let end_b = b.get(n).copied().or(b_dir.then_some(b'/'));
        end_a.cmp(&end_b)
    })
}

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

impl Odb {
    /// Opens the object databases at `dirs` (each an `objects` directory; their own
    /// `info/alternates` are followed).
    pub fn at_dirs(dirs: Vec<PathBuf>, hash: gix::hash::Kind) -> Result<Self> {
        let mut handles = Vec::with_capacity(dirs.len());
        for d in &dirs {
            let mut h = gix::odb::at(d, hash)
                .map_err(|e| Error::repo(format!("cannot open objects at {}", d.display()), e))?;
            h.prevent_pack_unload();
            handles.push(h);
        }
        Ok(Odb { handles, hash })
    }

    /// The object databases of an opened repository.
    pub fn of_repo(repo: &gix::Repository) -> Result<Self> {
        Self::at_dirs(vec![repo.common_dir().join("objects")], repo.object_hash())
    }

    /// The hash kind of the repository.
    pub fn hash_kind(&self) -> gix::hash::Kind {
        self.hash
    }

    /// Reads an object into `buf`; `None` if no store has it.
    pub fn read(&self, id: &oid, buf: &mut Vec<u8>) -> Result<Option<Kind>> {
        for h in &self.handles {
            match h.try_find(id, buf) {
                Ok(Some(data)) => return Ok(Some(data.kind)),
                Ok(None) => continue,
                Err(e) => return Err(Error::repo(format!("cannot read object {id}"), e)),
            }
        }
        Ok(None)
    }

    /// Reads an object that must exist and be of `kind`.
    pub fn read_kind(&self, id: &oid, kind: Kind, buf: &mut Vec<u8>) -> Result<()> {
        match self.read(id, buf)? {
            Some(k) if k == kind => Ok(()),
            Some(k) => Err(Error::Repo(format!(
                "object {id} is a {k}, expected a {kind}"
            ))),
            None => Err(Error::Repo(format!("object {id} is missing"))),
        }
    }

    /// Kind and size of an object without reading it whole.
    pub fn header(&self, id: &oid) -> Result<Option<(Kind, u64)>> {
        for h in &self.handles {
            match h.try_header(id) {
                Ok(Some(hd)) => return Ok(Some((hd.kind(), hd.size()))),
                Ok(None) => continue,
                Err(e) => return Err(Error::repo(format!("cannot read object {id}"), e)),
            }
        }
        Ok(None)
    }

    /// Whether the first store (a push's quarantine) holds the object.
    pub fn in_first(&self, id: &oid) -> bool {
        self.handles
            .first()
            .is_some_and(|h| matches!(h.try_header(id), Ok(Some(_))))
    }

    /// The tree of a commit, and its parents.
    pub fn commit_tree_and_parents(
        &self,
        id: &oid,
        buf: &mut Vec<u8>,
    ) -> Result<(ObjectId, Vec<ObjectId>)> {
        self.read_kind(id, Kind::Commit, buf)?;
        let c = gix::objs::CommitRef::from_bytes(buf, self.hash)
            .map_err(|e| Error::repo(format!("commit {id} is corrupt"), e))?;
        Ok((c.tree(), c.parents().collect()))
    }

    /// Follows tags until something that is not a tag.
    pub fn peel(&self, id: ObjectId, buf: &mut Vec<u8>) -> Result<(ObjectId, Kind)> {
        let mut id = id;
        for _ in 0..64 {
            match self.read(&id, buf)? {
                Some(Kind::Tag) => {
                    let t = gix::objs::TagRef::from_bytes(buf, self.hash)
                        .map_err(|e| Error::repo(format!("tag {id} is corrupt"), e))?;
                    id = t.target();
                }
                Some(k) => return Ok((id, k)),
                None => return Err(Error::Repo(format!("object {id} is missing"))),
            }
        }
        Err(Error::Repo(format!("tag chain at {id} is too long")))
    }

    /// The entries of a tree as (name, id, kind), in the tree's order.
    pub fn tree_entries(
        &self,
        id: &oid,
        buf: &mut Vec<u8>,
    ) -> Result<Vec<(BString, ObjectId, EntryKind)>> {
        self.read_kind(id, Kind::Tree, buf)?;
        let mut out = Vec::new();
        for e in gix::objs::TreeRefIter::from_bytes(buf, self.hash) {
            let e = e.map_err(|e| Error::repo(format!("tree {id} is corrupt"), e))?;
            out.push((
                e.filename.to_owned(),
                e.oid.to_owned(),
                EntryKind::of(e.mode),
            ));
        }
        Ok(out)
    }

    /// The blob at `path` in `tree`, if there is a file there.
    pub fn lookup_path(
        &self,
        tree: &oid,
        path: &[u8],
        buf: &mut Vec<u8>,
    ) -> Result<Option<ObjectId>> {
        let mut current = tree.to_owned();
        let mut parts = path.split_str("/").peekable();
        while let Some(part) = parts.next() {
            let entries = self.tree_entries(&current, buf)?;
            let Some((_, id, kind)) = entries.into_iter().find(|(n, _, _)| n.as_slice() == part)
            else {
                return Ok(None);
            };
            match (parts.peek().is_some(), kind) {
                (true, EntryKind::Tree) => current = id,
                (false, EntryKind::File) => return Ok(Some(id)),
                _ => return Ok(None),
            }
        }
        Ok(None)
    }

    /// Every file that differs between `old` (none: the empty tree) and `new`, recursively.
    /// Symbolic links and submodules are not files here.
    pub fn diff_trees(
        &self,
        old: Option<&oid>,
        new: Option<&oid>,
        out: &mut Vec<Change>,
    ) -> Result<()> {
        let mut buf = Vec::new();
        self.diff_rec(old, new, &mut BString::default(), out, &mut buf, 0)
    }

    fn diff_rec(
        &self,
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
            return Err(Error::Repo(format!(
                "tree {} at {} is nested deeper than {MAX_TREE_DEPTH} levels (git's own limit)",
                new.or(old).map(|t| t.to_string()).unwrap_or_default(),
                deep_path(prefix),
            )));
        }
        let mut a = match old {
            Some(t) => self.tree_entries(t, buf)?,
            None => Vec::new(),
        };
        let mut b = match new {
            Some(t) => self.tree_entries(t, buf)?,
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
                self.diff_rec(lt.as_deref(), rt.as_deref(), prefix, out, buf, depth + 1)?;
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

/// Opens a repository at `path` (a work tree or a git directory) for reading.
pub fn open_repo(path: &Path) -> Result<gix::Repository> {
    let opts = gix::open::Options::default().strict_config(false);
    gix::open_opts(path, opts).map_err(|e| {
        Error::repo(
            format!("cannot open a git repository at {}", path.display()),
            e,
        )
    })
}

/// One commit's metadata, for reports.
#[derive(Debug, Clone, Default)]
pub struct CommitInfo {
    /// `Name <email>`.
    pub author: String,
    /// RFC 3339.
    pub date: String,
    /// The subject line, escaped.
    pub subject: String,
}

/// Author, date and subject of a commit held in `buf`.
pub fn commit_info(data: &[u8], hash: gix::hash::Kind) -> CommitInfo {
    let Ok(c) = gix::objs::CommitRef::from_bytes(data, hash) else {
        return CommitInfo::default();
    };
    let author = c
        .author()
        .map(|a| crate::escape::escape(format!("{} <{}>", a.name, a.email).as_bytes()))
        .unwrap_or_default();
    let date = c
        .time()
        .map(|t| t.format_or_unix(gix::date::time::format::ISO8601_STRICT))
        .unwrap_or_default();
    let subject = crate::escape::escape(c.message().summary().as_bytes());
    CommitInfo {
        author,
        date,
        subject,
    }
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
    fn directories_sort_as_if_they_ended_with_a_slash() {
        use std::cmp::Ordering::*;
        assert_eq!(tree_order(b"a-b", false, b"a", true), Less);
        assert_eq!(tree_order(b"a", true, b"a0", false), Less);
        assert_eq!(tree_order(b"a", false, b"a", true), Less);
        assert_eq!(tree_order(b"a", true, b"a.b", false), Greater);
        assert_eq!(tree_order(b"a", true, b"a", true), Equal);
        assert_eq!(tree_order(b"ab", false, b"a", false), Greater);
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
