//! The admin's policy settings (`[policy]` of `rules.toml`), with their defaults.
//!
//! `rules/` parses and validates the table and fills this in; everything that reads a setting to
//! decide something is in this module's siblings, so what a setting does is found next to it.

use std::time::Duration;

use crate::rules::paths::PathFilter;
use crate::rules::syntax::{Oversize, Severity};

/// The admin's policy, with defaults filled in.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Severities that block.
    pub block: Vec<Severity>,
    /// Accept when the hook cannot decide.
    pub fail_open: bool,
    /// How long a hook may take.
    pub time_budget: Duration,
    /// Larger blobs are not read.
    pub max_blob_bytes: u64,
    /// How many findings a hook's message lists.
    pub max_findings_shown: usize,
    /// Paths never scanned.
    pub skip_paths: PathFilter,
    /// Whether the repository's `.secretgate.toml` may add allow rules in the server hook.
    pub allow_repo_config: bool,
    /// Whether the push-option bypass is honoured.
    pub bypass_enabled: bool,
    /// The push option's name.
    pub bypass_option: String,
    /// Where bypasses are logged.
    pub bypass_log: Option<std::path::PathBuf>,
    /// What an unread (oversize) blob does to a hook's verdict.
    pub oversize: Oversize,
    /// Whether the server hook honours a pushed `secretgate:allow`.
    pub inline_allow: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            block: vec![Severity::High],
            fail_open: false,
            time_budget: Duration::from_secs(20),
            max_blob_bytes: 10 << 20,
            max_findings_shown: 20,
            skip_paths: PathFilter::default(),
            allow_repo_config: false,
            bypass_enabled: false,
            bypass_option: "secretgate.skip".into(),
            bypass_log: None,
            oversize: Oversize::Warn,
            inline_allow: true,
        }
    }
}

impl Policy {
    /// Whether findings of this severity block.
    pub fn blocks(&self, severity: Severity) -> bool {
        self.block.contains(&severity)
    }
}
