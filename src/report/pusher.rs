//! The message a hook shows the person whose push or commit was stopped.
