//! The library's error type.
//!
//! Every failure the binary can report maps to one of the contract's exit codes: configuration and
//! input mistakes are the user's to fix (exit 2), repository and I/O failures are the machine's
//! (exit 3). Keeping that split in the type means `main` never has to guess.

use std::path::PathBuf;

use crate::policy::Exit;

/// Everything that can go wrong inside the library.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A rules or configuration file could not be parsed or validated.
    #[error("{origin}: {message}")]
    Config {
        /// The file (or `built-in rules.toml`).
        origin: String,
        /// What is wrong, with the rule id and position where known.
        message: String,
    },
    /// The command line asked for something impossible.
    #[error("{0}")]
    Usage(String),
    /// The hook's standard input is not what git sends.
    #[error("malformed hook input, line {line}: {message}")]
    HookInput {
        /// 1-based line of standard input.
        line: usize,
        /// What is wrong with it.
        message: String,
    },
    /// A file could not be read or written (the path escaped: it may come from a repository
    /// and is shown by logs that do not escape it again).
    #[error("{}: {source}", crate::escape::escape(path.as_os_str().as_encoded_bytes()))]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A hook's time budget was spent before it could decide.
    #[error("the time budget of {0} s was spent")]
    Budget(String),
    /// The repository is missing objects, corrupt, or cannot be opened.
    #[error("repository error: {0}")]
    Repo(String),
    /// The objects a push brought are missing, corrupt or malformed: the pusher's problem, not
    /// the scanner's, so a hook rejects it even when the admin chose to fail open.
    #[error("the pushed objects are broken: {0}")]
    Pushed(String),
}

impl Error {
    /// The exit code the contract assigns to this error.
    pub fn exit_code(&self) -> Exit {
        match self {
            Error::Config { .. } | Error::Usage(_) | Error::HookInput { .. } => Exit::Usage,
            Error::Io { .. } | Error::Repo(_) | Error::Budget(_) | Error::Pushed(_) => Exit::Io,
        }
    }

    /// Shorthand for a configuration error.
    pub fn config(origin: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Config {
            origin: origin.into(),
            message: message.into(),
        }
    }

    /// Marks a repository error met while reading a push's own objects as the pusher's
    /// ([`Error::Pushed`]); any other error is left as it is.
    pub fn pushed(self) -> Self {
        match self {
            Error::Repo(m) => Error::Pushed(m),
            e => e,
        }
    }

    /// Shorthand for a repository error with context.
    pub fn repo(context: impl std::fmt::Display, err: impl std::fmt::Display) -> Self {
        Error::Repo(format!("{context}: {err}"))
    }
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
