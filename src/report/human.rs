//! The human report: `path:line:column`, the rule, the redacted value and how to fix it.
//!
//! Two sinks: [`Human`] for a scan, a push and the staged change (one line per finding, or
//! each in full with `-v`, then the counts and what was not scanned) and [`Audit`] for a
//! history audit (each finding in full, then what the audit covered, findings by rule, and how
//! to rotate a secret and remove it from the history).
//!
//! Colour only on a terminal and never with `NO_COLOR`; the caller decides and passes a
//! [`Style`]. Everything taken from the repository has been escaped by the finding already.

use std::collections::BTreeMap;
use std::io::{self, Write};

use super::{Sink, Style};
use crate::finding::Finding;
use crate::rules::{Kind, Severity};
use crate::stats::Stats;

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

/// Writes one finding: where, what, the redacted value, its commit and how to fix it.
fn write_finding(out: &mut dyn Write, f: &Finding, p: &Paint) -> io::Result<()> {
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
        let short = |c: &Option<String>| c.as_deref().map(|c| c[..c.len().min(12)].to_owned());
        match (short(&f.first_commit), short(&f.last_commit)) {
            (Some(a), Some(b)) if a != b => {
                writeln!(out, "    held by {n} commits, first {a}, last {b}")?
            }
            _ => writeln!(out, "    held by {n} commits")?,
        }
    }
    if f.shallow_boundary {
        writeln!(
            out,
            "    at the shallow clone's boundary: it may have come in earlier"
        )?;
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
    Ok(())
}

/// One line per finding, then each distinct fix once: a scan of a tree with many findings
/// stays readable, and `-v` gives each finding in full.
fn write_compact(out: &mut dyn Write, findings: &[&Finding], p: &Paint) -> io::Result<()> {
    if findings.is_empty() {
        return Ok(());
    }
    for f in findings {
        writeln!(
            out,
            "{}:{}:{}: {} [{}] {} ({})",
            p.wrap("1", &f.path),
            f.line,
            f.column,
            p.wrap(severity_code(f.severity), f.severity.as_str()),
            f.rule_id,
            f.message,
            f.secret
        )?;
    }
    writeln!(out)?;
    writeln!(out, "What to write instead:")?;
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for f in findings {
        let key = (f.rule_id.as_str(), f.remediation.as_str());
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        writeln!(out, "  {}:", f.rule_id)?;
        for l in f.remediation.lines() {
            writeln!(out, "    {l}")?;
        }
    }
    writeln!(out, "(-v shows each finding in full)")?;
    writeln!(out)
}

/// The report of a scan, a push or the staged change.
pub struct Human<'a> {
    out: &'a mut dyn Write,
    paint: Paint,
    verbose: bool,
    /// The compact form's findings, written at the end with the fixes.
    held: Vec<&'a Finding>,
}

impl<'a> Human<'a> {
    /// A human report to `out`.
    pub fn new(out: &'a mut dyn Write, style: Style) -> Self {
        Human {
            out,
            paint: Paint(style.color),
            verbose: style.verbose,
            held: Vec::new(),
        }
    }
}

impl<'a> Sink<'a> for Human<'a> {
    fn finding(&mut self, f: &'a Finding) -> io::Result<()> {
        if self.verbose {
            write_finding(self.out, f, &self.paint)
        } else {
            self.held.push(f);
            Ok(())
        }
    }

    fn finish(&mut self, stats: &Stats) -> io::Result<()> {
        let p = &self.paint;
        write_compact(self.out, &self.held, p)?;
        let total = stats.blocking + stats.warnings;
        let verdict = if total == 0 {
            p.wrap("32", "no findings")
        } else {
            counts(stats, p)
        };
        let mut line = format!(
            "{verdict} ({} scanned, {} bytes)",
            stats.scanned, stats.bytes
        );
        if stats.binary > 0 {
            line.push_str(&format!("; {} binary skipped", stats.binary));
        }
        if stats.baselined > 0 {
            line.push_str(&format!("; {} known from the baseline", stats.baselined));
        }
        writeln!(self.out, "{line}")?;
        list(self.out, "not scanned", &stats.skipped)
    }
}

/// `N findings: B blocking, W warnings`.
fn counts(stats: &Stats, p: &Paint) -> String {
    let total = stats.blocking + stats.warnings;
    format!(
        "{} finding{}: {} blocking, {} warning{}",
        total,
        if total == 1 { "" } else { "s" },
        p.wrap(
            if stats.blocking > 0 { "1;31" } else { "32" },
            &stats.blocking.to_string()
        ),
        stats.warnings,
        if stats.warnings == 1 { "" } else { "s" },
    )
}

/// Writes the findings and a summary.
pub fn write(
    out: &mut dyn Write,
    findings: &[&Finding],
    stats: &Stats,
    style: Style,
) -> io::Result<()> {
    super::feed(&mut Human::new(out, style), findings, stats)
}

/// Up to 50 lines of a list, under its title and count.
fn list(out: &mut dyn Write, title: &str, items: &[String]) -> io::Result<()> {
    if items.is_empty() {
        return Ok(());
    }
    writeln!(out, "{title} ({}):", items.len())?;
    for s in items.iter().take(50) {
        writeln!(out, "    {s}")?;
    }
    if items.len() > 50 {
        writeln!(out, "    and {} more", items.len() - 50)?;
    }
    Ok(())
}

/// The report of a history audit: each finding in full as it comes, then its summary:
/// findings by rule and severity, history only against still present, what was not scanned,
/// and how to rotate a secret and remove it from the history.
pub struct Audit<'a> {
    out: &'a mut dyn Write,
    paint: Paint,
    /// Findings still at the tip of the default branch.
    present: usize,
    /// Findings by rule: high, medium, low.
    by_rule: BTreeMap<&'a str, [usize; 3]>,
    /// Whether any finding is a secret (the advice on rotating is then given).
    secret: bool,
}

impl<'a> Audit<'a> {
    /// An audit's human report to `out`.
    pub fn new(out: &'a mut dyn Write, style: Style) -> Self {
        Audit {
            out,
            paint: Paint(style.color),
            present: 0,
            by_rule: BTreeMap::new(),
            secret: false,
        }
    }

    /// What was audited: the commits, refs and blobs, and what was not scanned among them.
    fn scope(&mut self, s: &Stats) -> io::Result<()> {
        let scope = match &s.range {
            Some(r) => format!("audit of {}: {} commits in {r}", s.repository, s.commits),
            None => format!(
                "audit of {}: {} commits from {} refs",
                s.repository, s.commits, s.refs
            ),
        };
        writeln!(self.out, "{}", self.paint.wrap("1", &scope))?;
        let mut line = format!(
            "  {} unique blobs, {} scanned ({} bytes)",
            s.blobs, s.scanned, s.bytes
        );
        for (n, what) in [
            (s.binary, "binary"),
            (s.lfs, "Git LFS pointers"),
            (s.path_skipped, "at skipped paths only"),
            (s.cached, "judged before (from the cache)"),
            (s.submodules, "submodules (not followed)"),
            (s.links, "symbolic links (not followed, not scanned)"),
        ] {
            if n > 0 {
                line.push_str(&format!("; {n} {what}"));
            }
        }
        writeln!(self.out, "{line}")?;
        if s.shallow {
            writeln!(
                self.out,
                "  shallow clone: history before its boundary was not audited"
            )?;
        }
        if s.non_commit_refs > 0 {
            let mut names = s
                .non_commit_names
                .iter()
                .take(10)
                .cloned()
                .collect::<Vec<_>>();
            if s.non_commit_names.len() > 10 {
                names.push(format!("and {} more", s.non_commit_names.len() - 10));
            }
            writeln!(
                self.out,
                "  {} refs point to a tree or a blob, not a commit: not audited ({})",
                s.non_commit_refs,
                names.join(", ")
            )?;
        }
        Ok(())
    }

    /// The counts: blocking and warnings, still present against history only, by rule.
    fn totals(&mut self, s: &Stats) -> io::Result<()> {
        let total = s.blocking + s.warnings;
        if total == 0 {
            let mut l = self.paint.wrap("32", "no findings");
            if s.baselined > 0 {
                l.push_str(&format!(" ({} known from the baseline)", s.baselined));
            }
            return writeln!(self.out, "{l}");
        }
        let mut l = counts(s, &self.paint);
        if s.baselined > 0 {
            l.push_str(&format!("; {} known from the baseline", s.baselined));
        }
        writeln!(self.out, "{l}")?;
        writeln!(
            self.out,
            "  {} still present at the tip of {}, {} in history only",
            self.present,
            s.default_branch.as_deref().unwrap_or("HEAD"),
            total - self.present
        )?;
        let width = self.by_rule.keys().map(|k| k.len()).max().unwrap_or(0);
        writeln!(self.out, "  by rule:")?;
        for (rule, n) in &self.by_rule {
            let parts: Vec<String> = ["high", "medium", "low"]
                .iter()
                .zip(n)
                .filter(|(_, &k)| k > 0)
                .map(|(s, k)| format!("{k} {s}"))
                .collect();
            writeln!(self.out, "    {rule:width$}  {}", parts.join(", "))?;
        }
        Ok(())
    }

    /// What could not be scanned: over the cap, never fetched, corrupt or missing.
    fn unscanned(&mut self, s: &Stats) -> io::Result<()> {
        list(
            self.out,
            &format!(
                "not scanned, over the size cap{}",
                if s.over_cap.is_empty() {
                    ""
                } else {
                    " (listed, not read)"
                }
            ),
            &s.over_cap,
        )?;
        list(
            self.out,
            "not scanned, never fetched by this partial clone (warning)",
            &s.not_fetched,
        )?;
        list(
            self.out,
            "errors: corrupt or missing objects (the audit is incomplete)",
            &s.errors,
        )
    }

    /// How to rotate a secret found in the history and remove it from there.
    fn advice(&mut self) -> io::Result<()> {
        writeln!(self.out)?;
        writeln!(self.out, "What to do about a secret found here:")?;
        for l in [
            "  1. Rotate it where it was issued (each finding's fix says how): anyone with a clone",
            "     or a fork has it, so it is leaked even if it is only in the history.",
            "  2. If it is still present, replace it with the environment lookup each fix shows.",
            "  3. To remove it from the history as well, in a fresh clone, with each value written",
            "     into a file kept outside the repository:",
            "         printf '%s==>***REMOVED***\\n' 'THE-SECRET-VALUE' >> ../replacements.txt",
            "         git filter-repo --replace-text ../replacements.txt",
            "     then force-push every branch and tag and have every clone re-cloned. Rewriting",
            "     does not un-leak a value: rotate it first.",
        ] {
            writeln!(self.out, "{l}")?;
        }
        Ok(())
    }
}

impl<'a> Sink<'a> for Audit<'a> {
    fn finding(&mut self, f: &'a Finding) -> io::Result<()> {
        if f.present_at_head == Some(true) {
            self.present += 1;
        }
        let i = match f.severity {
            Severity::High => 0,
            Severity::Medium => 1,
            Severity::Low => 2,
        };
        self.by_rule.entry(&f.rule_id).or_default()[i] += 1;
        self.secret |= f.kind == Kind::Secret;
        write_finding(self.out, f, &self.paint)
    }

    fn finish(&mut self, stats: &Stats) -> io::Result<()> {
        self.scope(stats)?;
        self.totals(stats)?;
        self.unscanned(stats)?;
        if self.secret {
            self.advice()?;
        }
        Ok(())
    }
}

/// Writes an audit's findings, then its summary (see [`Audit`]).
pub fn write_audit(
    out: &mut dyn Write,
    findings: &[&Finding],
    stats: &Stats,
    style: Style,
) -> io::Result<()> {
    super::feed(&mut Audit::new(out, style), findings, stats)
}
