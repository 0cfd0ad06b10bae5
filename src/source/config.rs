//! Configuration files on disk, read safely.
//!
//! A configuration file decides what a hook lets through, and the hooks run on every commit and
//! every push, so reading one must never hang or exhaust memory, whoever planted it: a FIFO would
//! block the hook forever, a device such as `/dev/zero` would be read until memory runs out, and a
//! repository can commit its own `.secretgate.toml` as a symbolic link to either. So a
//! configuration is read only from a regular file, opened without blocking, and never past
//! [`MAX_CONFIG_BYTES`]; a repository's own file is not followed through a symbolic link at all.

use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

use crate::error::{Error, Result};

/// The largest configuration file read (1 MiB): a real one is a few kilobytes, and past this
/// the patterns alone would cost seconds and gigabytes to compile.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// Whether a symbolic link named as the configuration file is followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Links {
    /// Follow it: the admin's own `--config` (an `/etc` file may well be a link).
    Follow,
    /// Refuse it: a repository's own `.secretgate.toml`, which whoever commits to the
    /// repository controls.
    Refuse,
}

/// What a file that is not a regular file is, for messages (configuration and `scan` alike).
pub fn kind_of(t: std::fs::FileType) -> &'static str {
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_symlink() {
        "a symbolic link"
    } else {
        "not a regular file"
    }
}

/// The error for a configuration that is not a regular file.
pub fn not_regular(origin: &str, what: &str) -> Error {
    Error::config(
        origin,
        format!("is {what}, not a regular file: configuration is read only from regular files"),
    )
}

/// The error for a configuration over [`MAX_CONFIG_BYTES`].
pub fn too_large(origin: &str, size: Option<u64>) -> Error {
    let size = size.map_or_else(|| "more than".to_owned(), |s| format!("{s} bytes,"));
    Error::config(
        origin,
        format!("is {size} over the {MAX_CONFIG_BYTES}-byte cap on configuration files"),
    )
}

/// Reads a configuration file as UTF-8 text: only a regular file, opened without blocking (a
/// FIFO or a device is refused at once), at most [`MAX_CONFIG_BYTES`]. Every failure is a
/// configuration error (exit 2) naming `origin`.
pub fn read_config(path: &Path, links: Links, origin: &str) -> Result<String> {
    read_regular(path, links, origin, MAX_CONFIG_BYTES)
}

/// The largest baseline read (256 MiB): a report of a few hundred thousand findings.
pub const MAX_BASELINE_BYTES: u64 = 256 << 20;

/// Like [`read_config`], with a cap of `cap` bytes (a baseline is a report, larger than any
/// configuration, but read under the same rules).
pub fn read_regular(path: &Path, links: Links, origin: &str, cap: u64) -> Result<String> {
    let mut flags = libc::O_NONBLOCK;
    if links == Links::Refuse {
        flags |= libc::O_NOFOLLOW;
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags)
        .open(path)
        .map_err(|e| {
            if links == Links::Refuse && e.raw_os_error() == Some(libc::ELOOP) {
                not_regular(origin, "a symbolic link")
            } else {
                Error::config(origin, format!("cannot read the configuration: {e}"))
            }
        })?;
    let meta = file
        .metadata()
        .map_err(|e| Error::config(origin, format!("cannot read the configuration: {e}")))?;
    if !meta.is_file() {
        return Err(not_regular(origin, kind_of(meta.file_type())));
    }
    let over = |size| {
        Error::config(
            origin,
            format!("is {size} over the {cap}-byte cap on configuration files"),
        )
    };
    if meta.len() > cap {
        return Err(over(format!("{} bytes,", meta.len())));
    }
    let mut data = Vec::with_capacity(meta.len() as usize);
    file.take(cap + 1)
        .read_to_end(&mut data)
        .map_err(|e| Error::config(origin, format!("cannot read the configuration: {e}")))?;
    if data.len() as u64 > cap {
        return Err(over("more than".to_owned()));
    }
    String::from_utf8(data).map_err(|_| Error::config(origin, "the file is not UTF-8"))
}

/// Like [`read_config`] with [`Links::Refuse`], but `None` when nothing is at `path` (a
/// repository without its own configuration).
pub fn read_repo_config(path: &Path) -> Result<Option<String>> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        _ => read_config(path, Links::Refuse, &path.display().to_string()).map(Some),
    }
}

/// The name of a repository's own configuration file, at the top of its tree.
pub const REPO_CONFIG: &str = ".secretgate.toml";

/// A repository's own `.secretgate.toml`, wherever it was read from (a commit's tree, the
/// index, the work tree, a scanned folder): one shape, read under one set of limits.
#[derive(Debug, Clone)]
pub struct RepoConfig {
    /// Where it was read, for messages (a path, `ref:.secretgate.toml`, `... (staged)`).
    pub origin: String,
    /// Its text.
    pub text: String,
}

impl RepoConfig {
    /// The file at the top of the folder `dir`, if there is one (see [`read_repo_config`]).
    pub fn in_dir(dir: &Path) -> Result<Option<Self>> {
        let path = dir.join(REPO_CONFIG);
        Ok(read_repo_config(&path)?.map(|text| RepoConfig {
            origin: path.display().to_string(),
            text,
        }))
    }

    /// The file at the top of `tree`, if there is one; `origin` names it in messages. A symbolic
    /// link there is refused, never followed.
    pub fn in_tree(
        odb: &crate::source::repo::Odb,
        tree: &gix::hash::oid,
        origin: String,
    ) -> Result<Option<Self>> {
        use crate::source::repo::{EntryKind, PathLookup};
        match PathLookup::new(odb, tree.to_owned()).entry(REPO_CONFIG.as_bytes())? {
            Some((id, EntryKind::File)) => Self::in_blob(odb, &id, true, origin).map(Some),
            Some((id, EntryKind::Link)) => Self::in_blob(odb, &id, false, origin).map(Some),
            _ => Ok(None),
        }
    }

    /// The file held in blob `id` (`regular`: a file, not a symbolic link, which is refused),
    /// read under the cap on configuration files.
    pub fn in_blob(
        odb: &crate::source::repo::Odb,
        id: &gix::hash::oid,
        regular: bool,
        origin: String,
    ) -> Result<Self> {
        if !regular {
            return Err(not_regular(&origin, "a symbolic link"));
        }
        if let Some((_, size)) = odb.header(id)? {
            if size > MAX_CONFIG_BYTES {
                return Err(too_large(&origin, Some(size)));
            }
        }
        let mut buf = Vec::new();
        odb.read_kind(id, gix::objs::Kind::Blob, &mut buf)?;
        let text =
            String::from_utf8(buf).map_err(|_| Error::config(&origin, "the file is not UTF-8"))?;
        Ok(RepoConfig { origin, text })
    }

    /// The allow patterns it adds: the only part of the file a repository may set.
    pub fn allowlist(&self) -> Result<crate::rules::syntax::AllowlistSyntax> {
        crate::rules::parse_repo_allowlist(&self.text, &self.origin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_and_links_are_refused() {
        let e = read_config(Path::new("/dev/zero"), Links::Follow, "z").unwrap_err();
        assert!(e.to_string().contains("character device"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("c.toml");
        std::os::unix::fs::symlink("/dev/null", &link).unwrap();
        let e = read_config(&link, Links::Refuse, "c").unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert_eq!(e.exit_code(), crate::policy::Exit::Usage);
        let big = dir.path().join("big.toml");
        std::fs::write(&big, vec![b'#'; MAX_CONFIG_BYTES as usize + 1]).unwrap();
        let e = read_config(&big, Links::Follow, "b").unwrap_err();
        assert!(e.to_string().contains("cap"), "{e}");
        assert!(read_repo_config(&dir.path().join("none"))
            .unwrap()
            .is_none());
    }
}
