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
use crate::stats::Stats;

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

/// Writes findings in the chosen format.
pub fn write(
    format: Format,
    out: &mut dyn Write,
    findings: &[&Finding],
    rules: &Ruleset,
    summary: &Stats,
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
    summary: &Stats,
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
