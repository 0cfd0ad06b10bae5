//! `secretgate completions SHELL` and `secretgate man`: what packagers and users expect of a
//! command-line tool, generated from the same definition clap parses, so they never drift from
//! the options the binary really takes.

use std::io::Write as _;

use clap::CommandFactory as _;

use crate::cli::Cli;
use crate::error::{Error, Result};
use crate::policy::Exit;

/// Writes `bytes` to stdout; a closed pipe (`secretgate man | head`) is not an error.
fn to_stdout(bytes: &[u8]) -> Result<Exit> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => Ok(Exit::Clean),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(Exit::Clean),
        Err(e) => Err(Error::Io {
            path: "<stdout>".into(),
            source: e,
        }),
    }
}

/// Prints the completion script for `shell`.
pub fn completions(shell: clap_complete::Shell) -> Result<Exit> {
    let mut cmd = Cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, "secretgate", &mut buf);
    to_stdout(&buf)
}

/// Prints the manual page, in roff, for `man -l -` or to install as `secretgate.1`.
pub fn man() -> Result<Exit> {
    let mut buf = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut buf)
        .map_err(|e| Error::Io {
            path: "<man page>".into(),
            source: e,
        })?;
    to_stdout(&buf)
}
