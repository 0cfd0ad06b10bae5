//! `secretgate install`: writes the hooks that call this binary.

use std::path::Path;

use super::Exit;
use crate::cli::{Config, Flavor};
use crate::error::{Error, Result};

/// Installs `.git/hooks/pre-commit` in `dir`.
pub fn pre_commit(_config: &Config, _dir: Option<&Path>) -> Result<Exit> {
    Err(Error::Usage(
        "install pre-commit is not available in this build yet".into(),
    ))
}

/// Installs the pre-receive hook of a bare repository.
pub fn pre_receive(_config: &Config, _repo: &Path, _flavor: Flavor) -> Result<Exit> {
    Err(Error::Usage(
        "install pre-receive is not available in this build yet".into(),
    ))
}
