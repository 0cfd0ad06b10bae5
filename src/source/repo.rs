//! The one repository layer: every source reads git through it.
//!
//! A [`Repo`] is a repository opened for reading with the object stores its objects come from.
//! Objects are read through [`Odb`], a list of object databases searched in order, because a
//! pre-receive hook must see two at once: git's quarantine (the pushed objects) and the
//! repository's own store. `gix::open` reads neither `GIT_OBJECT_DIRECTORY` nor
//! `GIT_ALTERNATE_OBJECT_DIRECTORIES`, so a hook that opened the repository the ordinary way
//! would see none of the pushed objects and accept everything.
//!
//! Besides object reads, this is where paths are looked up in trees ([`PathLookup`]), where a
//! repository's object directories and their alternates are listed ([`object_dirs`]) and where
//! the repository's own `.secretgate.toml` is read from a tree or a staged blob through it
//! ([`super::config::RepoConfig`]), under the same limits as the file on disk. What a change
//! adds is [`super::diff`]'s.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use bstr::{BString, ByteSlice};
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

    /// The hash kind of the repository.
    pub fn hash_kind(&self) -> gix::hash::Kind {
        self.hash
    }

    /// Never looks for packs written after opening: an audit reads a snapshot, and a repack
    /// running beside it must not make objects appear twice or vanish mid-walk.
    pub fn refresh_never(&mut self) {
        for h in &mut self.handles {
            h.refresh_never();
        }
    }

    /// Gives every store a delta-base cache of at most `bytes` and no object cache: the
    /// settings of a worker that reads each object about once.
    pub fn with_pack_cache(&mut self, bytes: usize) {
        for h in &mut self.handles {
            h.set_pack_cache(move || {
                Box::new(gix::odb::pack::cache::lru::MemoryCappedHashmap::new(bytes))
            });
            h.unset_object_cache();
        }
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
            Some(k) => Err(Error::repo_msg(format!(
                "object {id} is a {k}, expected a {kind}"
            ))),
            None => Err(Error::repo_msg(format!("object {id} is missing"))),
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
                None => return Err(Error::repo_msg(format!("object {id} is missing"))),
            }
        }
        Err(Error::repo_msg(format!("tag chain at {id} is too long")))
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
}

/// Reading through gix's own interface, so that code written against a single object
/// database (the audit's differ and graph walk) reads an [`Odb`] unchanged.
impl gix::objs::Find for Odb {
    fn try_find<'a>(
        &self,
        id: &oid,
        buffer: &'a mut Vec<u8>,
    ) -> gix::Result<Option<gix::objs::Data<'a>>> {
        // The store that has it, then one read: returning a borrow of `buffer` from inside a
        // loop over stores is what the borrow checker cannot follow.
        let store = match self.handles.as_slice() {
            [only] => only,
            all => match all.iter().find(|h| gix::objs::Exists::exists(*h, id)) {
                Some(h) => h,
                None => return Ok(None),
            },
        };
        store.try_find(id, buffer)
    }
}

/// An [`Odb`] that worker threads each take their own copy of: a handle's caches belong to one
/// thread (an `Odb` is `Send` but not `Sync`), the stores behind them are shared.
pub struct SharedOdb(std::sync::Mutex<Odb>);

impl SharedOdb {
    /// Shares `odb`.
    pub fn new(odb: &Odb) -> Self {
        SharedOdb(std::sync::Mutex::new(odb.clone()))
    }

    /// A copy for the calling thread.
    pub fn get(&self) -> Odb {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// A directory's entries by name.
type DirEntries = HashMap<BString, (ObjectId, EntryKind)>;

/// Finds files in one tree by path, reading each directory's tree once: a merge's second parent
/// or the `HEAD` side of a staged change is asked about many paths of the same tree.
pub struct PathLookup<'a> {
    odb: &'a Odb,
    root: ObjectId,
    dirs: HashMap<BString, Option<DirEntries>>,
    buf: Vec<u8>,
}

impl<'a> PathLookup<'a> {
    /// Looks up paths in the tree `root`.
    pub fn new(odb: &'a Odb, root: ObjectId) -> Self {
        PathLookup {
            odb,
            root,
            dirs: HashMap::new(),
            buf: Vec::new(),
        }
    }

    /// The entries of the directory `dir` (`""`: the top), if the tree has such a directory.
    fn dir(&mut self, dir: &[u8]) -> Result<Option<&DirEntries>> {
        if !self.dirs.contains_key(dir) {
            let tree = if dir.is_empty() {
                Some(self.root)
            } else {
                let (parent, name) = split_last(dir);
                match self.dir(parent)?.and_then(|d| d.get(name)) {
                    Some((id, EntryKind::Tree)) => Some(*id),
                    _ => None,
                }
            };
            let entries = match tree {
                Some(t) => Some(
                    self.odb
                        .tree_entries(&t, &mut self.buf)?
                        .into_iter()
                        .map(|(n, id, k)| (n, (id, k)))
                        .collect(),
                ),
                None => None,
            };
            self.dirs.insert(dir.into(), entries);
        }
        Ok(self.dirs.get(dir).and_then(Option::as_ref))
    }

    /// The entry at `path` (a file, a link, a directory or a submodule), if the tree has one.
    pub fn entry(&mut self, path: &[u8]) -> Result<Option<(ObjectId, EntryKind)>> {
        let (dir, name) = split_last(path);
        Ok(self.dir(dir)?.and_then(|d| d.get(name)).copied())
    }

    /// The blob of the file at `path`, if the tree holds a file there.
    pub fn file(&mut self, path: &[u8]) -> Result<Option<ObjectId>> {
        Ok(match self.entry(path)? {
            Some((id, EntryKind::File)) => Some(id),
            _ => None,
        })
    }
}

/// A path's folder and last name (`""` for the folder of a top-level name).
fn split_last(path: &[u8]) -> (&[u8], &[u8]) {
    match path.rfind_byte(b'/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (&b""[..], path),
    }
}

/// An `objects` directory and those its `info/alternates` name, recursively, each once: the
/// stores a repository's objects can be in (a fork on a server borrows its network's).
pub fn object_dirs(objects: &Path) -> Vec<PathBuf> {
    let mut out = vec![objects.to_owned()];
    let mut i = 0;
    while i < out.len() {
        if let Ok(text) = std::fs::read_to_string(out[i].join("info").join("alternates")) {
            for line in text.lines().map(str::trim) {
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let p = Path::new(line);
                let p = if p.is_absolute() {
                    p.to_owned()
                } else {
                    out[i].join(p)
                };
                if !out.contains(&p) && out.len() < 64 {
                    out.push(p);
                }
            }
        }
        i += 1;
    }
    out
}

/// A repository opened for reading, with the object stores its objects are read from.
pub struct Repo {
    repo: gix::Repository,
    odb: Odb,
    quarantined: bool,
}

impl Repo {
    /// Opens the repository at exactly `path` (a work tree or a git directory).
    pub fn open(path: &Path) -> Result<Self> {
        Self::with_stores(open_repo(path)?, &[], false)
    }

    /// Opens the repository around `dir` as git would for a command started there.
    pub fn discover(dir: &Path) -> Result<Self> {
        let repo = gix::discover(dir).map_err(|e| {
            Error::repo(
                format!("cannot find a git repository at {}", dir.display()),
                e,
            )
        })?;
        Self::with_stores(repo, &[], false)
    }

    /// `repo` read through the object directories `first` (a push's quarantine and the
    /// alternates git names for it), then its own; each directory once. `quarantined`: the
    /// first store holds exactly what a push brought.
    pub fn with_stores(
        repo: gix::Repository,
        first: &[PathBuf],
        quarantined: bool,
    ) -> Result<Self> {
        let abs = |p: &Path| -> PathBuf {
            if p.is_absolute() {
                p.to_owned()
            } else {
                std::env::current_dir()
                    .map(|c| c.join(p))
                    .unwrap_or_else(|_| p.to_owned())
            }
        };
        let main = repo.common_dir().join("objects");
        let mut dirs: Vec<PathBuf> = Vec::new();
        let mut seen: Vec<PathBuf> = Vec::new();
        for d in first
            .iter()
            .map(|p| abs(p))
            .chain(std::iter::once(abs(&main)))
        {
            let canon = d.canonicalize().unwrap_or_else(|_| d.clone());
            if !seen.contains(&canon) {
                seen.push(canon);
                dirs.push(d);
            }
        }
        tracing::debug!(?dirs, quarantined, "object stores");
        let odb = Odb::at_dirs(dirs, repo.object_hash())?;
        Ok(Repo {
            repo,
            odb,
            quarantined,
        })
    }

    /// The repository as gix opened it (refs, configuration, the index's path).
    pub fn gix(&self) -> &gix::Repository {
        &self.repo
    }

    /// The object stores, searched in order.
    pub fn objects(&self) -> &Odb {
        &self.odb
    }

    /// Whether the first store is a push's quarantine: a broken object there is the pusher's.
    pub fn is_quarantined(&self) -> bool {
        self.quarantined
    }

    /// The repository's hash kind (how long ids are).
    pub fn hash_kind(&self) -> gix::hash::Kind {
        self.repo.object_hash()
    }

    /// The git directory, for logs and messages.
    pub fn git_dir(&self) -> &Path {
        self.repo.git_dir()
    }

    /// The tree of the commit `id` names (tags peeled); `what` names `id` in the error when it
    /// is no commit.
    pub fn commit_tree(&self, id: ObjectId, what: &str, buf: &mut Vec<u8>) -> Result<ObjectId> {
        let (commit, kind) = self.odb.peel(id, buf)?;
        if kind != Kind::Commit {
            return Err(Error::repo_msg(format!(
                "{what} ({id}) is a {kind}, not a commit"
            )));
        }
        Ok(self.odb.commit_tree_and_parents(&commit, buf)?.0)
    }
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
    fn directories_sort_as_if_they_ended_with_a_slash() {
        use std::cmp::Ordering::*;
        assert_eq!(tree_order(b"a-b", false, b"a", true), Less);
        assert_eq!(tree_order(b"a", true, b"a0", false), Less);
        assert_eq!(tree_order(b"a", false, b"a", true), Less);
        assert_eq!(tree_order(b"a", true, b"a.b", false), Greater);
        assert_eq!(tree_order(b"a", true, b"a", true), Equal);
        assert_eq!(tree_order(b"ab", false, b"a", false), Greater);
    }
}
