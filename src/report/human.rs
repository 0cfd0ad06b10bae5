//! The human report: `path:line:column`, the rule, the redacted value and how to fix it.
//!
//! Colour only on a terminal and never with `NO_COLOR`; the caller decides and passes a
//! [`Style`]. Everything taken from the repository has been escaped by the finding already.

use std::io::{self, Write};

use super::{Style, Summary};
use crate::finding::Finding;
use crate::rules::Severity;

struct Paint(bool);

impl Paint {
    fn wrap(&self, code: &str, s: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_owned()
        }
    }
}

fn severity_code(s: Severity) -> &'static str {
    match s {
        Severity::High => "1;31",
        Severity::Medium => "1;33",
        Severity::Low => "36",
    }
}

/// Writes the findings and a summary.
pub fn write(
    out: &mut dyn Write,
    findings: &[&Finding],
    summary: &Summary,
    style: Style,
) -> io::Result<()> {
    let p = Paint(style.color);
    for f in findings {
        writeln!(
            out,
            "{}:{}:{}: {} [{}] {}",
            p.wrap("1", &f.path),
            f.line,
            f.column,
            p.wrap(severity_code(f.severity), f.severity.as_str()),
            f.rule_id,
            f.message
        )?;
        writeln!(out, "    value: {}", f.secret)?;
        if let Some(c) = &f.commit {
            let mut line = format!("    commit: {c}");
            if let Some(a) = &f.author {
                line.push_str(&format!("  author: {a}"));
            }
            if let Some(d) = &f.date {
                line.push_str(&format!("  date: {d}"));
            }
            writeln!(out, "{line}")?;
        }
        if let Some(n) = f.occurrences.filter(|&n| n > 1) {
            writeln!(out, "    seen {n} times")?;
        }
        if let Some(present) = f.present_at_head {
            writeln!(
                out,
                "    {}",
                if present {
                    "still present at the tip of the default branch"
                } else {
                    "in history only (no longer at the tip of the default branch)"
                }
            )?;
        }
        for (i, l) in f.remediation.lines().enumerate() {
            let lead = if i == 0 { "    fix: " } else { "         " };
            writeln!(out, "{lead}{l}")?;
        }
        writeln!(out)?;
    }
    let total = summary.blocking + summary.warnings;
    let verdict = if total == 0 {
        p.wrap("32", "no findings")
    } else {
        format!(
            "{} finding{}: {} blocking, {} warning{}",
            total,
            if total == 1 { "" } else { "s" },
            p.wrap(
                if summary.blocking > 0 { "1;31" } else { "32" },
                &summary.blocking.to_string()
            ),
            summary.warnings,
            if summary.warnings == 1 { "" } else { "s" },
        )
    };
    let mut line = format!(
        "{verdict} ({} scanned, {} bytes)",
        summary.scanned, summary.bytes
    );
    if summary.binary > 0 {
        line.push_str(&format!("; {} binary skipped", summary.binary));
    }
    if summary.baselined > 0 {
        line.push_str(&format!("; {} known from the baseline", summary.baselined));
    }
    writeln!(out, "{line}")?;
    if !summary.skipped.is_empty() {
        writeln!(out, "not scanned ({}):", summary.skipped.len())?;
        for s in summary.skipped.iter().take(50) {
            writeln!(out, "    {s}")?;
        }
        if summary.skipped.len() > 50 {
            writeln!(out, "    and {} more", summary.skipped.len() - 50)?;
        }
    }
    Ok(())
}
