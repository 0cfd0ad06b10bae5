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
///
/// Most globs rules write have a simple shape (`*.example`, `Dockerfile`, `test_*.py`,
/// `docs/**`, `**/tests/**`): those are matched directly, without a regex, because building the
/// glob sets was a fifth of a one-commit push's start-up. The rest go to `globset`.
#[derive(Debug, Clone, Default)]
pub struct PathFilter {
    names: Vec<Glob>,
    paths: Vec<Glob>,
    simple: Vec<Simple>,
    built: OnceLock<(Option<GlobSet>, Option<GlobSet>)>,
}

/// A glob matched without a regex; the same answers as `globset` with `literal_separator`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Simple {
    /// A file-name glob whose only wildcard is `*`: its literal pieces, in order (the name
    /// starts with the first and ends with the last).
    Name(Vec<Vec<u8>>),
    /// `dir/**`: anything below `dir` at the top.
    Under(Vec<u8>),
    /// `**/dir/**`: anything below a `dir` at any depth.
    AnyUnder(Vec<u8>),
}

impl Simple {
    /// The simple form of a glob, if it has one.
    fn of(glob: &str) -> Option<Simple> {
        let special = |s: &str| s.contains(['?', '[', ']', '{', '}', '\\', '!']);
        if special(glob) {
            return None;
        }
        let name_glob = |g: &str| -> Option<Simple> {
            if g.is_empty() || g.contains('/') || g.contains("**") {
                return None;
            }
            Some(Simple::Name(
                g.split('*').map(|p| p.as_bytes().to_vec()).collect(),
            ))
        };
        if !glob.contains('/') {
            return name_glob(glob);
        }
        if let Some(dir) = glob.strip_prefix("**/").and_then(|g| g.strip_suffix("/**")) {
            return (!dir.is_empty() && !dir.contains('*'))
                .then(|| Simple::AnyUnder(dir.as_bytes().to_vec()));
        }
        if let Some(dir) = glob.strip_suffix("/**") {
            return (!dir.is_empty() && !dir.contains('*'))
                .then(|| Simple::Under(dir.as_bytes().to_vec()));
        }
        if let Some(name) = glob.strip_prefix("**/") {
            return name_glob(name);
        }
        None
    }

    fn matches(&self, path: &[u8], name: &[u8]) -> bool {
        match self {
            Simple::Name(pieces) => wildcard(pieces, name),
            Simple::Under(dir) => {
                path.len() > dir.len() + 1 && path.starts_with(dir) && path[dir.len()] == b'/'
            }
            Simple::AnyUnder(dir) => {
                let mut rest = path;
                loop {
                    if rest.len() > dir.len() + 1
                        && rest.starts_with(dir)
                        && rest[dir.len()] == b'/'
                    {
                        return true;
                    }
                    match rest.find_byte(b'/') {
                        Some(i) => rest = &rest[i + 1..],
                        None => return false,
                    }
                }
            }
        }
    }
}

/// Whether `name` matches `*`-separated literal pieces.
fn wildcard(pieces: &[Vec<u8>], name: &[u8]) -> bool {
    let (first, last) = match pieces {
        [] => return name.is_empty(),
        [only] => return name == only.as_slice(),
        [first, .., last] => (first, last),
    };
    if name.len() < first.len() + last.len() || !name.starts_with(first) || !name.ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for piece in &pieces[1..pieces.len() - 1] {
        match rest.find(piece) {
            Some(i) => rest = &rest[i + piece.len()..],
            None => return false,
        }
    }
    true
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
        let mut simple = Vec::new();
        for g in globs {
            let g = g.as_ref();
            // A simple shape is a valid glob: no regex is built for it at all.
            if let Some(s) = Simple::of(g.trim_start_matches('/')) {
                simple.push(s);
                continue;
            }
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
            simple,
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
        self.names.is_empty() && self.paths.is_empty() && self.simple.is_empty()
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
        let name = match path.rfind_byte(b'/') {
            Some(i) => &path[i + 1..],
            None => path,
        };
        if self.simple.iter().any(|s| s.matches(path, name)) {
            return true;
        }
        if self.names.is_empty() && self.paths.is_empty() {
            return false;
        }
        let (names, paths) = self.sets();
        if let Some(paths) = paths {
            if paths.is_match(path.to_path_lossy()) {
                return true;
            }
        }
        if let Some(names) = names {
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

    /// The direct matcher gives globset's answers, on the shapes it takes over.
    #[test]
    fn simple_globs_agree_with_globset() {
        let globs = [
            "*.example",
            "*.example.*",
            "Dockerfile",
            "test_*.py",
            "*_test.py",
            "*-sample",
            "*development*",
            "a*b*c",
            "*",
            "**/tests/**",
            "docs/**",
            "**/site-packages/**",
            "**/conftest.py",
            "**/*.ipynb",
            ".env.*",
            "*.*_template",
            ".github/**",
            "**/a/b/**",
        ];
        let paths = [
            "x.example",
            "a/x.example",
            "x.example.txt",
            "Dockerfile",
            "a/Dockerfile",
            "Dockerfile.dev",
            "test_a.py",
            "a/test_.py",
            "b_test.py",
            "_test.py",
            "x-sample",
            "development",
            "a/my_development_cfg",
            "abc",
            "ac",
            "aXbYc",
            "abbc",
            "tests/x",
            "a/tests/x/y",
            "tests",
            "a/tests",
            "docs/x",
            "docs",
            "x/docs/y",
            "lib/site-packages/f.py",
            "conftest.py",
            "a/b/conftest.py",
            "n.ipynb",
            "a/n.ipynb",
            ".env.local",
            ".env",
            "c.prod_template",
            ".github/workflows/x.yml",
            "a/.github/x",
            "x/a/b/c",
            "a/b/c",
            "a/b",
            "",
            ".",
            "a//b",
        ];
        for g in globs {
            assert!(
                Simple::of(g).is_some() || g.contains("*.ipynb"),
                "{g} is simple"
            );
            let ours = PathFilter::new(&[g]).unwrap();
            let theirs = GlobBuilder::new(g)
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .unwrap()
                .compile_matcher();
            for p in paths {
                let name = p.rsplit('/').next().unwrap();
                let expected = if g.contains('/') {
                    theirs.is_match(p)
                } else {
                    theirs.is_match(name)
                };
                assert_eq!(ours.matches(p.as_bytes()), expected, "glob {g:?} on {p:?}");
            }
        }
    }
}
