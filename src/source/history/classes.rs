//! Blobs and the classes of the paths they appear at: what the scan stage needs to read each
//! blob once and scan it as few times as the rules allow.
//!
//! A rule may depend on the path (globs, docstrings in `.py`), so a blob is scanned once per
//! *class* of the paths it appears at: paths on which every rule behaves alike share a class,
//! and almost every blob has exactly one. The [`BlobTable`] keeps each unique blob with the
//! classes it was seen with and one representative path for each.

use std::collections::HashMap;

use gix::hash::ObjectId;

use super::NONE;
use crate::rules::Ruleset;

/// Every unique blob, with the classes of the paths it appears at.
#[derive(Default)]
pub(super) struct BlobTable {
    /// Blob ids, by blob index.
    pub(super) ids: Vec<ObjectId>,
    /// Blob id -> blob index.
    pub(super) index: gix::hashtable::HashMap<ObjectId, u32>,
    /// The first (class, path) the blob was seen with.
    pub(super) first: Vec<(u32, u32)>,
    /// Further classes, for the few blobs that appear at paths of different classes.
    more: HashMap<u32, Vec<(u32, u32)>>,
}

impl BlobTable {
    /// The index of blob `id`, added if it is new.
    pub(super) fn intern(&mut self, id: ObjectId) -> u32 {
        if let Some(&i) = self.index.get(&id) {
            return i;
        }
        let i = self.ids.len() as u32;
        self.ids.push(id);
        self.index.insert(id, i);
        self.first.push((NONE, NONE));
        i
    }

    /// Records that `blob` appears at `path`, of class `class`.
    pub(super) fn add_class(&mut self, blob: u32, class: u32, path: u32) {
        let f = &mut self.first[blob as usize];
        if f.0 == NONE {
            *f = (class, path);
        } else if f.0 != class {
            let more = self.more.entry(blob).or_default();
            if !more.iter().any(|(c, _)| *c == class) {
                more.push((class, path));
            }
        }
    }

    /// The (class, representative path) pairs of a blob.
    pub(super) fn classes(&self, blob: u32) -> impl Iterator<Item = (u32, u32)> + '_ {
        std::iter::once(self.first[blob as usize])
            .filter(|c| c.0 != NONE)
            .chain(self.more.get(&blob).into_iter().flatten().copied())
    }
}

/// Paths on which every rule behaves alike: the same rules and forms apply, the same path
/// allowlists skip them, and they are Python files or not (docstrings). Class 0 is "never
/// scanned" (an allowlisted or skipped path).
#[derive(Default)]
pub(super) struct Classes {
    index: HashMap<Vec<u64>, u32>,
    /// How many classes there are, besides class 0.
    pub(super) count: u32,
    /// The signature of each class, by class number (class 0's is empty).
    pub(super) sigs: Vec<Vec<u64>>,
}

/// The class signature of a path (see [`Ruleset::path_signature`]).
pub(super) fn path_signature(rules: &Ruleset, path: &[u8]) -> Vec<u64> {
    rules.path_signature(path)
}

impl Classes {
    /// The class of a signature, added if it is new; an empty signature is class 0.
    pub(super) fn intern(&mut self, sig: Vec<u64>) -> u32 {
        if sig.is_empty() {
            return 0;
        }
        if let Some(&c) = self.index.get(&sig) {
            return c;
        }
        if self.sigs.is_empty() {
            self.sigs.push(Vec::new());
        }
        self.count += 1;
        self.sigs.push(sig.clone());
        self.index.insert(sig, self.count);
        self.count
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::Match;

    /// The path classes stand for the path in `Ruleset::scan`: two paths of one class must give
    /// the same matches on every rule's examples.
    #[test]
    fn paths_of_one_class_scan_alike() {
        let rules = crate::rules::builtin().unwrap();
        let paths: Vec<&[u8]> = vec![
            b"config.py",
            b"app/settings.py",
            b"tests/test_app.py",
            b"README.md",
            b"docs/config.rst",
            b".env",
            b"deploy/.env",
            b"deploy/prod.env",
            b"Dockerfile",
            b"docker-compose.yml",
            b"config.yaml",
            b"templates/index.html",
            b"settings.json",
            b"pyproject.toml",
            b"start.sh",
            b"notes.txt",
            b"static/app.min.js",
            b"config.py.example",
            b".netrc",
            b"Procfile",
        ];
        let sigs: Vec<Vec<u64>> = paths.iter().map(|p| path_signature(&rules, p)).collect();
        let key = |m: &Match| (m.rule, m.start, m.end, m.severity);
        let mut compared = 0;
        for rule in &rules.rules {
            for ex in rule.examples.iter().chain(&rule.negative_examples) {
                let data = ex.text.as_bytes();
                for i in 0..paths.len() {
                    for j in i + 1..paths.len() {
                        if sigs[i] != sigs[j] {
                            continue;
                        }
                        let a: Vec<_> = rules.scan(paths[i], data).iter().map(key).collect();
                        let b: Vec<_> = rules.scan(paths[j], data).iter().map(key).collect();
                        assert_eq!(
                            a,
                            b,
                            "{} and {} share a class but scan differently ({})",
                            String::from_utf8_lossy(paths[i]),
                            String::from_utf8_lossy(paths[j]),
                            rule.id
                        );
                        compared += 1;
                    }
                }
            }
        }
        assert!(compared > 0);
    }
}
