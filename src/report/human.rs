//! The human report: `path:line:column`, the rule, the redacted value and how to fix it.
//!
//! Colour only on a terminal and never with `NO_COLOR`; the caller decides and passes a
//! [`Style`]. Everything taken from the repository has been escaped by the finding already.

use std::io::{self, Write};

use super::Style;
use crate::finding::Finding;
use crate::rules::Severity;
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

/// Writes the findings and a summary.
pub fn write(
    out: &mut dyn Write,
    findings: &[&Finding],
    summary: &Stats,
    style: Style,
) -> io::Result<()> {
    let p = Paint(style.color);
    if style.verbose {
        for f in findings {
            write_finding(out, f, &p)?;
        }
    } else {
        write_compact(out, findings, &p)?;
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

/// Writes an audit's findings, then its summary: findings by rule and severity, history only
/// against still present, what was not scanned, and how to rotate a secret and remove it from
/// the history.
pub fn write_audit(
    out: &mut dyn Write,
    findings: &[&Finding],
    s: &Stats,
    style: Style,
) -> io::Result<()> {
    let p = Paint(style.color);
    for f in findings {
        write_finding(out, f, &p)?;
    }
    let branch = s.default_branch.as_deref().unwrap_or("HEAD");
    let mut scope = format!(
        "audit of {}: {} commits from {} refs",
        s.repository, s.commits, s.refs
    );
    if let Some(r) = &s.range {
        scope = format!("audit of {}: {} commits in {r}", s.repository, s.commits);
    }
    writeln!(out, "{}", p.wrap("1", &scope))?;
    let mut line = format!(
        "  {} unique blobs, {} scanned ({} bytes)",
        s.blobs, s.scanned, s.bytes
    );
    for (n, what) in [
        (s.binary, "binary"),
        (s.lfs, "Git LFS pointers"),
        (s.path_skipped, "at skipped paths only"),
        (s.submodules, "submodules (not followed)"),
        (s.links, "symbolic links (not followed, not scanned)"),
    ] {
        if n > 0 {
            line.push_str(&format!("; {n} {what}"));
        }
    }
    writeln!(out, "{line}")?;
    if s.shallow {
        writeln!(
            out,
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
            out,
            "  {} refs point to a tree or a blob, not a commit: not audited ({})",
            s.non_commit_refs,
            names.join(", ")
        )?;
    }
    let total = s.blocking + s.warnings;
    if total == 0 {
        let mut l = p.wrap("32", "no findings");
        if s.baselined > 0 {
            l.push_str(&format!(" ({} known from the baseline)", s.baselined));
        }
        writeln!(out, "{l}")?;
    } else {
        let present = findings
            .iter()
            .filter(|f| f.present_at_head == Some(true))
            .count();
        let mut l = format!(
            "{} finding{}: {} blocking, {} warning{}",
            total,
            if total == 1 { "" } else { "s" },
            p.wrap(
                if s.blocking > 0 { "1;31" } else { "32" },
                &s.blocking.to_string()
            ),
            s.warnings,
            if s.warnings == 1 { "" } else { "s" },
        );
        if s.baselined > 0 {
            l.push_str(&format!("; {} known from the baseline", s.baselined));
        }
        writeln!(out, "{l}")?;
        writeln!(
            out,
            "  {present} still present at the tip of {branch}, {} in history only",
            total - present
        )?;
        let mut by_rule: std::collections::BTreeMap<&str, [usize; 3]> = Default::default();
        for f in findings {
            let i = match f.severity {
                Severity::High => 0,
                Severity::Medium => 1,
                Severity::Low => 2,
            };
            by_rule.entry(&f.rule_id).or_default()[i] += 1;
        }
        let width = by_rule.keys().map(|k| k.len()).max().unwrap_or(0);
        writeln!(out, "  by rule:")?;
        for (rule, n) in &by_rule {
            let parts: Vec<String> = ["high", "medium", "low"]
                .iter()
                .zip(n)
                .filter(|(_, &k)| k > 0)
                .map(|(s, k)| format!("{k} {s}"))
                .collect();
            writeln!(out, "    {rule:width$}  {}", parts.join(", "))?;
        }
    }
    list(
        out,
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
        out,
        "not scanned, never fetched by this partial clone (warning)",
        &s.not_fetched,
    )?;
    list(
        out,
        "errors: corrupt or missing objects (the audit is incomplete)",
        &s.errors,
    )?;
    if findings
        .iter()
        .any(|f| f.kind == crate::rules::Kind::Secret)
    {
        writeln!(out)?;
        writeln!(out, "What to do about a secret found here:")?;
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
            writeln!(out, "{l}")?;
        }
    }
    Ok(())
}
