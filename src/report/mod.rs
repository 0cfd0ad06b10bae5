//! Reports: one [`Sink`] per output format, and the message a hook shows the pusher.
//!
//! Only this module writes what the user reads. A sink is given the findings one by one
//! ([`Sink::finding`]), then the run's [`Stats`] ([`Sink::finish`]); it writes as early as its
//! format allows (a JSON line at once, a SARIF log at the end). Every sink takes findings that
//! are already redacted ([`crate::finding::Finding`] holds no full value), so no format can leak
//! a secret.

pub mod human;
pub mod json;
pub mod pusher;
pub mod sarif;

use std::io::{self, Write};
use std::path::Path;

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

/// Where a report goes: each finding as it is decided, then what the run covered.
///
/// Findings come in the order they are reported, blocking first (as
/// [`crate::policy::Verdict::all`] gives them), and `stats.blocking` says how many of them
/// block. The lifetime lets a sink keep the findings it must see together (a JSON array, the
/// fixes listed once) without copying them.
pub trait Sink<'a> {
    /// Takes one finding.
    fn finding(&mut self, f: &'a Finding) -> io::Result<()>;

    /// Ends the report: writes what was held back and the summary of `stats`.
    fn finish(&mut self, stats: &Stats) -> io::Result<()>;
}

/// The sink of a format, writing to `out`; `base` is the absolute folder the findings' paths
/// are relative to, when known (SARIF names it in `originalUriBaseIds`).
pub fn sink<'a>(
    format: Format,
    out: &'a mut dyn Write,
    rules: &'a Ruleset,
    style: Style,
    base: Option<&'a Path>,
) -> Box<dyn Sink<'a> + 'a> {
    match format {
        Format::Human => Box::new(human::Human::new(out, style)),
        Format::Json => Box::new(json::Array::new(out)),
        Format::Jsonl => Box::new(json::Lines::new(out)),
        Format::Sarif => Box::new(sarif::Sarif::new(out, rules, base)),
    }
}

/// Gives a sink every finding, then the stats.
pub fn feed<'a>(
    sink: &mut dyn Sink<'a>,
    findings: &[&'a Finding],
    stats: &Stats,
) -> io::Result<()> {
    for f in findings {
        sink.finding(f)?;
    }
    sink.finish(stats)
}

/// Writes findings in the chosen format.
pub fn write(
    format: Format,
    out: &mut dyn Write,
    findings: &[&Finding],
    rules: &Ruleset,
    stats: &Stats,
    style: Style,
) -> io::Result<()> {
    write_with_base(format, out, findings, rules, stats, style, None)
}

/// Writes findings in the chosen format; `base` as for [`sink`].
pub fn write_with_base(
    format: Format,
    out: &mut dyn Write,
    findings: &[&Finding],
    rules: &Ruleset,
    stats: &Stats,
    style: Style,
    base: Option<&Path>,
) -> io::Result<()> {
    feed(&mut *sink(format, out, rules, style, base), findings, stats)
}
