//! Path globs, as rules and policies write them.
//!
//! A glob without a `/` matches the file name anywhere in the tree (`*.example`, `Dockerfile`);
//! a glob with a `/` matches the whole `/`-separated path from the top (`**/tests/**`,
//! `config/dev.py`), `*` never crossing a `/`. That is what users of `.gitignore` expect, and it
//! lets one rule say "any `.env` file" and "only under `deploy/`" without two syntaxes.

use bstr::ByteSlice;
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

/// A compiled set of globs.
#[derive(Debug, Clone, Default)]
pub struct PathFilter {
    names: Option<GlobSet>,
    paths: Option<GlobSet>,
}

impl PathFilter {
    /// Compiles globs; the error names the glob.
    pub fn new<S: AsRef<str>>(globs: &[S]) -> Result<Self, String> {
        let mut names = GlobSetBuilder::new();
        let mut paths = GlobSetBuilder::new();
        let (mut n_names, mut n_paths) = (0, 0);
        for g in globs {
            let g = g.as_ref();
            let glob = GlobBuilder::new(g.trim_start_matches('/'))
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map_err(|e| format!("bad path glob {g:?}: {e}"))?;
            if g.contains('/') {
                paths.add(glob);
                n_paths += 1;
            } else {
                names.add(glob);
                n_names += 1;
            }
        }
        let build = |b: GlobSetBuilder, n: usize| -> Result<Option<GlobSet>, String> {
            if n == 0 {
                Ok(None)
            } else {
                b.build()
                    .map(Some)
                    .map_err(|e| format!("bad path globs: {e}"))
            }
        };
        Ok(PathFilter {
            names: build(names, n_names)?,
            paths: build(paths, n_paths)?,
        })
    }

    /// Whether no glob was given.
    pub fn is_empty(&self) -> bool {
        self.names.is_none() && self.paths.is_none()
    }

    /// Whether `path` (`/`-separated, relative to the top) matches one of the globs.
    pub fn matches(&self, path: &[u8]) -> bool {
        let path = path.strip_prefix(b"./").unwrap_or(path);
        if let Some(paths) = &self.paths {
            if paths.is_match(path.to_path_lossy()) {
                return true;
            }
        }
        if let Some(names) = &self.names {
            let name = match path.rfind_byte(b'/') {
                Some(i) => &path[i + 1..],
                None => path,
            };
            if names.is_match(name.to_path_lossy()) {
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_anywhere_paths_from_the_top() {
        let f = PathFilter::new(&["*.example", "**/tests/**", "deploy/*.yml"]).unwrap();
        assert!(f.matches(b".env.example"));
        assert!(f.matches(b"a/b/config.py.example"));
        assert!(f.matches(b"tests/x.py"));
        assert!(f.matches(b"src/tests/x.py"));
        assert!(f.matches(b"deploy/app.yml"));
        assert!(!f.matches(b"deploy/sub/app.yml"));
        assert!(!f.matches(b"x/deploy/app.yml"));
        assert!(!f.matches(b"config.py"));
        assert!(!PathFilter::default().matches(b"x"));
    }
}
