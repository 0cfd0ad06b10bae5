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
    #[error("repository error: {message}{}", cause_suffix(.source))]
    Repo {
        /// What failed, with the object, ref or path.
        message: String,
        /// The error underneath (gix's, the system's), kept for the error chain.
        #[source]
        source: Option<Cause>,
    },
    /// The objects a push brought are missing, corrupt or malformed: the pusher's problem, not
    /// the scanner's, so a hook rejects it even when the admin chose to fail open.
    #[error("the pushed objects are broken: {message}{}", cause_suffix(.source))]
    Pushed {
        /// What is broken, with the object.
        message: String,
        /// The error underneath, kept for the error chain.
        #[source]
        source: Option<Cause>,
    },
}

/// The error underneath a repository error: whatever gix or the system reported.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The cause as the end of the one-line message (`: cause`): the binary prints one line per
/// error, not the chain, so the line must carry the cause itself.
fn cause_suffix(source: &Option<Cause>) -> String {
    source
        .as_ref()
        .map(|s| format!(": {s}"))
        .unwrap_or_default()
}

impl Error {
    /// The exit code the contract assigns to this error.
    pub fn exit_code(&self) -> Exit {
        match self {
            Error::Config { .. } | Error::Usage(_) | Error::HookInput { .. } => Exit::Usage,
            Error::Io { .. } | Error::Repo { .. } | Error::Budget(_) | Error::Pushed { .. } => {
                Exit::Io
            }
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
            Error::Repo { message, source } => Error::Pushed { message, source },
            e => e,
        }
    }

    /// A repository error with context, keeping the error underneath as its source.
    pub fn repo(context: impl std::fmt::Display, err: impl Into<Cause>) -> Self {
        Error::Repo {
            message: context.to_string(),
            source: Some(err.into()),
        }
    }

    /// A repository error that is its own cause (an object missing, of the wrong kind).
    pub fn repo_msg(message: impl Into<String>) -> Self {
        Error::Repo {
            message: message.into(),
            source: None,
        }
    }

    /// What is broken in a push's objects, with its cause, for the pusher's message.
    pub fn pushed_reason(&self) -> Option<String> {
        match self {
            Error::Pushed { message, source } => Some(format!("{message}{}", cause_suffix(source))),
            _ => None,
        }
    }
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_errors_keep_their_cause_and_say_it_once() {
        let io = std::io::Error::other("disk on fire");
        let e = Error::repo("cannot read object abc", io);
        assert_eq!(
            e.to_string(),
            "repository error: cannot read object abc: disk on fire"
        );
        let cause = std::error::Error::source(&e).expect("the cause is kept");
        assert_eq!(cause.to_string(), "disk on fire");
        let pushed = e.pushed();
        assert_eq!(
            pushed.pushed_reason().as_deref(),
            Some("cannot read object abc: disk on fire")
        );
        assert!(std::error::Error::source(&pushed).is_some());
        assert_eq!(pushed.exit_code(), Exit::Io);
        assert_eq!(
            Error::repo_msg("object abc is missing").to_string(),
            "repository error: object abc is missing"
        );
    }
}
