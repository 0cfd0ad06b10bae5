//! Sources: where the bytes come from. Only this module touches git or the file system.
//!
//! Each mode is the same pipeline with a different source: files on disk, the staged change,
//! a push, the history. A source yields blobs with their provenance; it never judges them.

pub mod config;
pub mod diff;
pub mod files;
pub mod history;
pub mod push;
pub mod reach;
pub mod repo;
pub mod staged;
pub mod tip;
