//! Path globs, as rules and policies write them.
//!
//! A glob without a `/` matches the file name anywhere in the tree (`*.example`, `Dockerfile`);
//! a glob with a `/` matches the whole `/`-separated path from the top (`**/tests/**`,
//! `config/dev.py`), `*` never crossing a `/`. That is what users of `.gitignore` expect, and it
//! lets one rule say "any `.env` file" and "only under `deploy/`" without two syntaxes.

use std::sync::OnceLock;

use bstr::ByteSlice;
use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};

/// A set of globs, checked at load and compiled on first use: building a glob set compiles a
/// regex, and most rules' path lists are never consulted in a run that touches a few files.
#[derive(Debug, Clone, Default)]
pub struct PathFilter {
    names: Vec<Glob>,
    paths: Vec<Glob>,
    built: OnceLock<(Option<GlobSet>, Option<GlobSet>)>,
}

fn build_set(globs: &[Glob]) -> Result<Option<GlobSet>, String> {
    if globs.is_empty() {
        return Ok(None);
    }
    let mut b = GlobSetBuilder::new();
    for g in globs {
        b.add(g.clone());
    }
    b.build()
        .map(Some)
        .map_err(|e| format!("bad path globs: {e}"))
}

impl PathFilter {
    /// Parses globs; the error names the glob.
    pub fn new<S: AsRef<str>>(globs: &[S]) -> Result<Self, String> {
        let mut names = Vec::new();
        let mut paths = Vec::new();
        for g in globs {
            let g = g.as_ref();
            let glob = GlobBuilder::new(g.trim_start_matches('/'))
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map_err(|e| format!("bad path glob {g:?}: {e}"))?;
            if g.contains('/') {
                paths.push(glob);
            } else {
                names.push(glob);
            }
        }
        Ok(PathFilter {
            names,
            paths,
            built: OnceLock::new(),
        })
    }

    /// Compiles the glob sets now, so that a failure shows at load (for user files).
    pub fn build_now(&self) -> Result<(), String> {
        let names = build_set(&self.names)?;
        let paths = build_set(&self.paths)?;
        let _ = self.built.set((names, paths));
        Ok(())
    }

    /// Whether no glob was given.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty() && self.paths.is_empty()
    }

    fn sets(&self) -> &(Option<GlobSet>, Option<GlobSet>) {
        self.built.get_or_init(|| {
            // The globs parsed at load; a set that still cannot be built matches nothing.
            let set = |globs: &[Glob]| {
                build_set(globs).unwrap_or_else(|e| {
                    tracing::error!("{e}");
                    None
                })
            };
            (set(&self.names), set(&self.paths))
        })
    }

    /// Whether `path` (`/`-separated, relative to the top) matches one of the globs.
    pub fn matches(&self, path: &[u8]) -> bool {
        if self.is_empty() {
            return false;
        }
        let path = path.strip_prefix(b"./").unwrap_or(path);
        let (names, paths) = self.sets();
        if let Some(paths) = paths {
            if paths.is_match(path.to_path_lossy()) {
                return true;
            }
        }
        if let Some(names) = names {
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
