//! The policy: which findings block, which only warn, and which are suppressed, and why.
//!
//! Detection says what is in the bytes; the policy says what the admin wants done about it.
//! Keeping them apart is what lets the same detector serve a strict server hook and a lenient
//! local scan, and lets a baseline silence known findings without touching any rule.

pub mod baseline;

use crate::finding::Finding;
use crate::rules::Policy;

pub use baseline::Baseline;

/// The findings of one run, sorted by what happens to them.
#[derive(Debug, Default)]
pub struct Verdict {
    /// Findings that block (exit 1; the push or commit is rejected).
    pub blocking: Vec<Finding>,
    /// Findings that are reported but let through.
    pub warnings: Vec<Finding>,
    /// How many findings the baseline suppressed.
    pub baselined: usize,
    /// Findings on lines the author marked `secretgate:allow`, where the policy honours that
    /// (the server hook shows and logs them).
    pub allowed: Vec<Finding>,
}

impl Verdict {
    /// Sorts findings into blocking, warnings and suppressed.
    pub fn new(findings: Vec<Finding>, policy: &Policy, baseline: Option<&Baseline>) -> Self {
        let mut v = Verdict::default();
        for f in findings {
            if baseline.is_some_and(|b| b.contains(&f.fingerprint)) {
                v.baselined += 1;
            } else if f.inline_allowed {
                v.allowed.push(f);
            } else if policy.blocks(f.severity) {
                v.blocking.push(f);
            } else {
                v.warnings.push(f);
            }
        }
        v
    }

    /// Whether anything blocks.
    pub fn blocks(&self) -> bool {
        !self.blocking.is_empty()
    }

    /// Every reported finding, blocking first, in a stable order.
    pub fn all(&self) -> Vec<&Finding> {
        self.blocking.iter().chain(self.warnings.iter()).collect()
    }
}

/// Orders findings for output: by path, line, column, rule.
pub fn sort_findings(findings: &mut [Finding]) {
    findings.sort_by(|a, b| {
        (&a.path, a.line, a.column, &a.rule_id, &a.commit)
            .cmp(&(&b.path, b.line, b.column, &b.rule_id, &b.commit))
    });
}
