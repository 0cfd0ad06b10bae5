//! `secretgate audit`: every blob reachable from every ref, scanned once.

use std::path::Path;

use super::Exit;
use crate::cli::Config;
use crate::error::{Error, Result};

/// Audits the repository at `repo`, optionally only `git rev-list RANGE`.
pub fn run(_config: &Config, _repo: &Path, _range: Option<&str>) -> Result<Exit> {
    Err(Error::Usage(
        "audit is not available in this build yet".into(),
    ))
}
