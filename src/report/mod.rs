//! Reports: one writer per output format, and the message a hook shows the pusher.
//!
//! Only this module writes what the user reads. Every writer takes findings that are already
//! redacted ([`crate::finding::Finding`] holds no full value), so no format can leak a secret.

pub mod human;
pub mod json;
pub mod pusher;
pub mod sarif;

use std::io::{self, Write};

use crate::finding::Finding;
use crate::rules::Ruleset;

/// The output formats of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Readable text, coloured on a terminal.
    #[default]
    Human,
    /// One JSON array.
    Json,
    /// One JSON object per line.
    Jsonl,
    /// SARIF 2.1.0 for code-scanning services.
    Sarif,
}

/// How the human report looks.
#[derive(Debug, Clone, Copy, Default)]
pub struct Style {
    /// Use ANSI colours.
    pub color: bool,
    /// The long form (`-v`): each finding with its value and fix; else one line per finding
    /// and each fix once, at the end.
    pub verbose: bool,
}

/// Counts shown at the end of a human report.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Findings that block.
    pub blocking: usize,
    /// Findings that only warn.
    pub warnings: usize,
    /// Findings the baseline suppressed.
    pub baselined: usize,
    /// Files or blobs scanned.
    pub scanned: u64,
    /// Bytes scanned.
    pub bytes: u64,
    /// Files or blobs skipped, with why (too large, unreadable).
    pub skipped: Vec<String>,
    /// Binary files or blobs, not scanned.
    pub binary: u64,
    /// Blobs over the size cap: never read, so named to the pusher or committer, and blocking
    /// when the policy says `oversize = "block"`.
    pub unread: Vec<Unread>,
}

impl Summary {
    /// Records a file not read because it is over the size cap: listed with the skipped ones
    /// (every format shows those) and kept for the policy's `oversize` verdict.
    /// `size` is `None` when only "more than the cap" is known (standard input is not read
    /// past it).
    pub fn over_cap(&mut self, path: String, size: Option<u64>, cap: u64) {
        self.skipped.push(match size {
            Some(n) => format!("{path}: {n} bytes, over the {cap}-byte cap"),
            None => format!("{path}: over the {cap}-byte cap"),
        });
        self.unread.push(Unread {
            path,
            size: size.unwrap_or(cap.saturating_add(1)),
            cap,
            commit: None,
        });
    }
}

/// A blob that was not read because of its size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unread {
    /// Its path, escaped.
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// The cap it is over.
    pub cap: u64,
    /// The commit that brought it (pushes).
    pub commit: Option<String>,
}

/// Writes findings in the chosen format.
pub fn write(
    format: Format,
    out: &mut dyn Write,
    findings: &[&Finding],
    rules: &Ruleset,
    summary: &Summary,
    style: Style,
) -> io::Result<()> {
    write_with_base(format, out, findings, rules, summary, style, None)
}

/// Writes findings in the chosen format; `base` is the absolute folder the findings' paths are
/// relative to, when known (SARIF names it in `originalUriBaseIds`).
pub fn write_with_base(
    format: Format,
    out: &mut dyn Write,
    findings: &[&Finding],
    rules: &Ruleset,
    summary: &Summary,
    style: Style,
    base: Option<&std::path::Path>,
) -> io::Result<()> {
    match format {
        Format::Human => human::write(out, findings, summary, style),
        Format::Json => json::write_array(out, findings),
        Format::Jsonl => json::write_lines(out, findings),
        Format::Sarif => sarif::write(out, findings, rules, &summary.skipped, base),
    }
}
