//! The contract's exit codes: the one place a number is given to an outcome.
//!
//! Every command returns an [`Exit`] and every error maps to one
//! ([`crate::Error::exit_code`]); only the conversion to the process's [`ExitCode`] turns it
//! into a number, so no other line of the crate writes an exit code as a literal.

use std::process::ExitCode;

/// The contract's exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// Nothing blocks.
    Clean = 0,
    /// Blocking findings.
    Findings = 1,
    /// Usage or configuration error, malformed hook input.
    Usage = 2,
    /// Repository or I/O error.
    Io = 3,
}

impl Exit {
    /// The exit code's number, as the process returns it.
    pub fn code(self) -> u8 {
        self as u8
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit.code())
    }
}

/// The exit of a run that judged what it read: [`Exit::Io`] when something could not be read
/// (a judgement over part of the input must not pass for a clean one), else
/// [`Exit::Findings`] when anything blocks, else [`Exit::Clean`].
pub fn of_run(unreadable: bool, blocks: bool) -> Exit {
    if unreadable {
        Exit::Io
    } else if blocks {
        Exit::Findings
    } else {
        Exit::Clean
    }
}
