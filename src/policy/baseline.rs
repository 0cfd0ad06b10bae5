//! Baselines: an earlier JSON report whose findings are known and not reported again.
//!
//! Matching is by fingerprint only (rule, path and the hashed value), so a baseline survives
//! rebases and line moves, and a baseline file never needs to hold a secret.

use std::collections::HashSet;
use std::path::Path;

use crate::error::{Error, Result};

/// The fingerprints of known findings.
#[derive(Debug, Default, Clone)]
pub struct Baseline {
    fingerprints: HashSet<String>,
}

impl Baseline {
    /// Reads a report written with `--format json` (an array) or `--format jsonl`: only from a
    /// regular file (a FIFO or a device is refused at once), of at most
    /// [`crate::source::config::MAX_BASELINE_BYTES`].
    pub fn load(path: &Path) -> Result<Self> {
        use crate::source::config::{read_regular, Links, MAX_BASELINE_BYTES};
        let origin = path.display().to_string();
        let text = read_regular(path, Links::Follow, &origin, MAX_BASELINE_BYTES)?;
        Self::parse(&text).map_err(|m| Error::config(path.display().to_string(), m))
    }

    /// Parses the text of a JSON or JSON-lines report.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let mut fingerprints = HashSet::new();
        let mut take = |v: &serde_json::Value| -> std::result::Result<(), String> {
            match v.get("fingerprint").and_then(|f| f.as_str()) {
                Some(f) => {
                    fingerprints.insert(f.to_owned());
                    Ok(())
                }
                None => Err("baseline: a finding has no \"fingerprint\" string".into()),
            }
        };
        let trimmed = text.trim_start();
        if trimmed.starts_with('[') {
            let all: Vec<serde_json::Value> = serde_json::from_str(text)
                .map_err(|e| format!("baseline is not a JSON report: {e}"))?;
            for v in &all {
                take(v)?;
            }
        } else {
            for (i, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let v: serde_json::Value = serde_json::from_str(line)
                    .map_err(|e| format!("baseline line {}: not JSON: {e}", i + 1))?;
                take(&v)?;
            }
        }
        Ok(Baseline { fingerprints })
    }

    /// Whether a finding with this fingerprint is known.
    pub fn contains(&self, fingerprint: &str) -> bool {
        self.fingerprints.contains(fingerprint)
    }

    /// How many fingerprints it holds.
    pub fn len(&self) -> usize {
        self.fingerprints.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.fingerprints.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_json_and_jsonl() {
        let b = Baseline::parse(r#"[{"fingerprint":"a"},{"fingerprint":"b"}]"#).unwrap();
        assert!(b.contains("a") && b.contains("b") && b.len() == 2);
        let b = Baseline::parse("{\"fingerprint\":\"c\"}\n\n{\"fingerprint\":\"d\"}\n").unwrap();
        assert!(b.contains("d"));
        assert!(Baseline::parse("[{}]").is_err());
        assert!(Baseline::parse("nope").is_err());
    }
}
