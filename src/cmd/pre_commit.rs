//! `secretgate pre-commit`: the staged change, judged before the commit exists.

use std::path::Path;

use super::Exit;
use crate::cli::Config;
use crate::error::{Error, Result};

/// Runs the hook in `dir` (default: the current directory).
pub fn run(_config: &Config, _dir: Option<&Path>) -> Result<Exit> {
    Err(Error::Usage(
        "pre-commit is not available in this build yet".into(),
    ))
}
