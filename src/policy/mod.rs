//! The policy: which findings block, which only warn, and which are suppressed, and why.
//!
//! Detection says what is in the bytes; the policy says what the admin wants done about it.
//! Keeping them apart is what lets the same detector serve a strict server hook and a lenient
//! local scan, and lets a baseline silence known findings without touching any rule.
//!
//! Every decision is here, as a function of the verdict's inputs: whether a finding blocks
//! ([`disposition`], used by [`Verdict::new`] and by the push's limit on kept findings), whether
//! a pushed inline allow is honoured ([`refuse_inline_allows`]), what an unread blob does
//! ([`oversize_blocks`]), what a hook that cannot decide returns ([`fail_open`]), the push-option
//! bypass ([`bypass`]) and the exit code ([`exit`]). The settings they read are [`Policy`],
//! filled in from `rules.toml` by [`crate::rules`].

pub mod baseline;
pub mod bypass;
pub mod exit;
pub mod settings;

use crate::error::{Error, Result};
use crate::finding::Finding;

pub use baseline::Baseline;
pub use exit::Exit;
pub use settings::Policy;

/// What happens to one finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// The baseline knows it: not reported.
    Baselined,
    /// Its line carries an honoured `secretgate:allow`: let through (the server hook shows and
    /// logs it).
    Allowed,
    /// It blocks the push or commit.
    Blocks,
    /// It is reported and let through.
    Warns,
}

/// Decides what happens to a finding: a baselined one is suppressed first, then an inline allow
/// (when `inline_honoured`) lets it through, then its severity says block or warn. The one
/// place this order is written, for the verdict and for the push that stops early.
pub fn disposition(
    policy: &Policy,
    finding: &Finding,
    inline_honoured: bool,
    baseline: Option<&Baseline>,
) -> Disposition {
    if baseline.is_some_and(|b| b.contains(&finding.fingerprint)) {
        Disposition::Baselined
    } else if finding.inline_allowed && inline_honoured {
        Disposition::Allowed
    } else if policy.blocks(finding.severity) {
        Disposition::Blocks
    } else {
        Disposition::Warns
    }
}

/// Whether a finding of a push blocks, judged as the verdict will judge it (the inline allow
/// honoured as the policy says): what the push's limit on kept findings waits for.
pub fn push_blocks(policy: &Policy, finding: &Finding, baseline: Option<&Baseline>) -> bool {
    disposition(policy, finding, policy.inline_allow, baseline) == Disposition::Blocks
}

/// The inline allows a server refuses (`inline_allow = false`): their findings are judged like
/// any other line, and returned, so that the pusher is told the allow was not honoured.
pub fn refuse_inline_allows(findings: &mut [Finding], policy: &Policy) -> Vec<Finding> {
    let mut refused = Vec::new();
    if !policy.inline_allow {
        for f in findings.iter_mut().filter(|f| f.inline_allowed) {
            f.inline_allowed = false;
            refused.push(f.clone());
        }
    }
    refused
}

/// Whether blobs left unread (over the size cap) block: only when there are some and the
/// policy says `oversize = "block"`; else they are named and let through.
pub fn oversize_blocks(policy: &Policy, unread: usize) -> bool {
    unread > 0 && policy.oversize == crate::rules::syntax::Oversize::Block
}

/// What a hook that cannot decide (an error, the time budget spent) returns: accepted
/// ([`Exit::Clean`]) when the admin chose `fail_open`, else the error, whose
/// [`Error::exit_code`] rejects.
pub fn fail_open(policy: &Policy, error: Error) -> Result<Exit> {
    if policy.fail_open {
        Ok(Exit::Clean)
    } else {
        Err(error)
    }
}

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
    /// Sorts findings into blocking, warnings and suppressed ([`disposition`]). A finding's
    /// inline allow is honoured as it stands: the server hook has cleared the ones it refuses
    /// ([`refuse_inline_allows`]), and the other modes drop allowed lines before they are
    /// findings.
    pub fn new(findings: Vec<Finding>, policy: &Policy, baseline: Option<&Baseline>) -> Self {
        let mut v = Verdict::default();
        for f in findings {
            match disposition(policy, &f, true, baseline) {
                Disposition::Baselined => v.baselined += 1,
                Disposition::Allowed => v.allowed.push(f),
                Disposition::Blocks => v.blocking.push(f),
                Disposition::Warns => v.warnings.push(f),
            }
        }
        v
    }

    /// Whether anything blocks.
    pub fn blocks(&self) -> bool {
        !self.blocking.is_empty()
    }

    /// A hook's exit: [`Exit::Findings`] when a finding blocks or `oversize_blocks`
    /// ([`oversize_blocks`]), else [`Exit::Clean`].
    pub fn hook_exit(&self, oversize_blocks: bool) -> Exit {
        exit::of_run(false, self.blocks() || oversize_blocks)
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
