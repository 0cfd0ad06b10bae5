//! Sources: where the bytes come from. Only this module reads git or the files to scan.
//!
//! Each mode is the same pipeline with a different source: files on disk ([`files`]), the
//! staged change ([`staged`]), a push ([`push`], with [`reach`] for the commits it brings), the
//! history ([`history`], with [`tip`] for the default branch's tree). A source says which blobs
//! to judge, with their path, provenance and the lines that count, and hands them to the driver
//! ([`crate::scan`]); it never judges them. Every source reads git through one repository layer
//! ([`repo`]) and compares trees with one differ ([`diff`]); a repository's own
//! `.secretgate.toml` is read by [`config`].

pub mod config;
pub mod diff;
pub mod files;
pub mod history;
pub mod push;
pub mod reach;
pub mod repo;
pub mod staged;
pub mod tip;
