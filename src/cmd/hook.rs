//! What the two hooks share: speaking to the person whose push or commit is judged, the report
//! for tools, and what happens when a hook cannot decide.
//!
//! A hook's standard error is the person's terminal (git relays a server hook's as `remote:`
//! lines), so everything a hook has to say goes there in one write; the machine-readable report
//! is written only when asked for, so a hook stays quiet on success.

use super::Stream::Stderr;
use super::{load_rules, say, write_verdict};
use crate::cli::Config;
use crate::error::{Error, Result};
use crate::policy::{Exit, Policy, Verdict};
use crate::report::pusher::{self, MessageContext};
use crate::report::Format;
use crate::rules::Ruleset;
use crate::stats::Stats;

/// Loads the rules; when they are broken, tells the person that the scanner (not their code)
/// failed before returning the error.
pub fn load_rules_or_say(config: &Config, ctx: &MessageContext) -> Result<Ruleset> {
    load_rules(config).inspect_err(|_| {
        say(
            Stderr,
            &pusher::cannot_decide("its configuration is invalid", false, ctx),
        )
    })
}

/// The hook could not decide: logs it, tells the person, and rejects, unless the policy says
/// fail open ([`crate::policy::fail_open`]).
pub fn cannot_decide(e: Error, policy: &Policy, ctx: &MessageContext) -> Result<Exit> {
    // The server's log gets the error as such; on a developer's terminal it is said once, by
    // the error line that ends the run (or, failing open, in the warning).
    if ctx.hook == pusher::Hook::PreReceive {
        tracing::error!(fail_open = policy.fail_open, "{e}");
    }
    say(
        Stderr,
        &pusher::cannot_decide(&e.to_string(), policy.fail_open, ctx),
    );
    crate::policy::fail_open(policy, e)
}

/// Writes the report when `--format` or `--output` asks for one.
pub fn report_if_asked(
    config: &Config,
    verdict: &Verdict,
    rules: &Ruleset,
    summary: &Stats,
) -> Result<()> {
    if config.format == Format::Human && config.output.is_none() {
        return Ok(());
    }
    write_verdict(config, verdict, rules, summary.clone())
}
