//! `secretgate pre-receive`: the server hook.
//!
//! It reads git's ref updates, scans exactly what the push adds inside git's quarantine, and
//! accepts, warns or rejects. It never hangs a push: the scan runs on a worker thread under the
//! admin's time budget, and when the hook cannot decide (an error, the budget spent) it rejects
//! with a message that blames the scanner, unless the admin chose `fail_open`.

use std::io::Read;
use std::sync::{mpsc, Arc};
use std::time::Instant;

use super::hook::{cannot_decide, load_rules_or_say, report_if_asked};
use super::Stream::Stderr;
use super::{load_baseline, say};
use crate::cli::Config;
use crate::error::{Error, Result};
use crate::finding::Finding;
use crate::policy::bypass::{self, Bypass, LogEntry, Push};
use crate::policy::{Baseline, Exit, Policy, Verdict};
use crate::report::pusher::{self, Hook, MessageContext};
use crate::rules::Ruleset;
use crate::source::push::{parse_updates, Budget, HookEnv, PushRepo, PushScan, MAX_FINDINGS};

/// Input larger than this is not git's (one line per ref).
const MAX_INPUT: u64 = 64 << 20;

fn is_gitlab() -> bool {
    ["GL_ID", "GL_PROTOCOL", "GL_REPOSITORY"]
        .iter()
        .any(|k| std::env::var_os(k).is_some_and(|v| !v.is_empty()))
}

struct Scanned {
    scan: PushScan,
    repo_path: std::path::PathBuf,
    rules: Ruleset,
}

/// One run of the hook, as its steps share it: the command line, the hook's environment, the
/// policy, and how the pusher is spoken to.
struct HookRun<'a> {
    config: &'a Config,
    env: HookEnv,
    policy: Policy,
    ctx: MessageContext,
}

impl HookRun<'_> {
    /// Prefixes each line for GitLab when the hook runs there.
    fn prefix(&self, text: &str) -> String {
        prefix(text, self.ctx.gitlab)
    }
}

/// Runs the hook.
pub fn run(config: &Config) -> Result<Exit> {
    let start = Instant::now();
    let ctx_default = MessageContext {
        hook: Hook::PreReceive,
        max_shown: 20,
        gitlab: is_gitlab(),
    };
    let rules = load_rules_or_say(config, &ctx_default)?;
    let policy = rules.policy.clone();
    let ctx = MessageContext {
        max_shown: policy.max_findings_shown,
        ..ctx_default
    };
    let baseline = Arc::new(load_baseline(config)?);
    let input = read_input(&ctx)?;
    let hook = HookRun {
        config,
        env: HookEnv::from_env(),
        policy,
        ctx,
    };
    let budget = Budget::new(start, hook.policy.time_budget);
    let rx = start_scan(&hook, rules, input, &budget, &baseline)?;
    let outcome = match rx.recv_timeout(budget.remaining()) {
        Ok(Err(Error::Budget(_))) | Err(_) => return Ok(out_of_time(&hook, &budget)),
        Ok(r) => r,
    };
    match outcome {
        Ok(scanned) => judge(&hook, scanned, baseline.as_ref().as_ref()),
        Err(e) => scan_failed(&hook, e),
    }
}

/// Reads git's ref updates from standard input, refusing more than [`MAX_INPUT`]: judging only
/// the first part would let the updates past it through unseen.
fn read_input(ctx: &MessageContext) -> Result<Vec<u8>> {
    let mut input = Vec::new();
    std::io::stdin()
        .lock()
        .take(MAX_INPUT + 1)
        .read_to_end(&mut input)
        .map_err(|e| Error::Io {
            path: "<stdin>".into(),
            source: e,
        })?;
    if input.len() as u64 > MAX_INPUT {
        say(
            Stderr,
            &pusher::cannot_decide("its input from git is malformed", false, ctx),
        );
        return Err(Error::HookInput {
            line: memchr::memchr_iter(b'\n', &input).count() + 1,
            message: format!("more than {} MiB of ref updates", MAX_INPUT >> 20),
        });
    }
    Ok(input)
}

/// Starts the scan on a worker thread of its own, so that the hook can stop waiting when the
/// budget is spent; the outcome arrives on the returned channel.
fn start_scan(
    hook: &HookRun<'_>,
    rules: Ruleset,
    input: Vec<u8>,
    budget: &Budget,
    baseline: &Arc<Option<Baseline>>,
) -> Result<mpsc::Receiver<Result<Scanned>>> {
    let jobs = hook
        .config
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
    let (tx, rx) = mpsc::channel();
    let budget = budget.clone();
    let env = hook.env.clone();
    let baseline = Arc::clone(baseline);
    std::thread::Builder::new()
        .name("scan".into())
        .stack_size(super::WORKER_STACK)
        .spawn(move || {
            let r = scan(
                &env,
                rules,
                &input,
                &budget,
                baseline.as_ref().as_ref(),
                jobs,
            );
            let _ = tx.send(r);
        })
        .map_err(|e| Error::repo("cannot start the scan", e))?;
    Ok(rx)
}

/// Opens the quarantined repository and scans what the push adds, with the repository's own
/// allow patterns when the policy lets it add them. Inline-allowed findings are kept: the hook
/// shows and logs them. The scan stops at its limit of kept findings only once one that blocks
/// is among them.
fn scan(
    env: &HookEnv,
    mut rules: Ruleset,
    input: &[u8],
    budget: &Budget,
    baseline: Option<&Baseline>,
    jobs: usize,
) -> Result<Scanned> {
    let repo = PushRepo::open(env)?;
    let updates = parse_updates(input, repo.hash_kind())?;
    if rules.policy.allow_repo_config {
        if let Some((origin, allow)) = repo.repo_allowlist(&updates)? {
            rules.add_allowlist(allow, &origin)?;
        }
    }
    rules.keep_inline_allowed = true;
    let blocks = |f: &Finding| crate::policy::push_blocks(&rules.policy, f, baseline);
    let scan = repo.scan(&rules, &updates, budget, &blocks, jobs)?;
    Ok(Scanned {
        scan,
        repo_path: repo.path().to_owned(),
        rules,
    })
}

/// The budget was spent before the scan ended: stops it, and accepts or rejects as the policy
/// says for a hook that cannot decide.
fn out_of_time(hook: &HookRun<'_>, budget: &Budget) -> Exit {
    budget.cancel();
    let spent = budget.spent();
    let reason = spent.to_string();
    tracing::error!(fail_open = hook.policy.fail_open, "{reason}");
    say(
        Stderr,
        &pusher::cannot_decide(&reason, hook.policy.fail_open, &hook.ctx),
    );
    crate::policy::fail_open(&hook.policy, spent).unwrap_or_else(|e| e.exit_code())
}

/// The scan failed: tells the pusher whose problem it is (the repository's allow patterns, git's
/// input, the pushed objects, or the scanner) and returns the error, or what the policy says
/// for a hook that cannot decide.
fn scan_failed(hook: &HookRun<'_>, e: Error) -> Result<Exit> {
    match e {
        e @ Error::Config { .. } => {
            say(
                Stderr,
                &hook.prefix(&format!(
                "secretgate: push rejected: the repository's allow patterns cannot be read: {e}\n\
                 Fix .secretgate.toml (it may only hold an [allowlist] table) and push again.\n"
            )),
            );
            Err(e)
        }
        e @ Error::HookInput { .. } => {
            say(
                Stderr,
                &pusher::cannot_decide("its input from git is malformed", false, &hook.ctx),
            );
            Err(e)
        }
        e @ Error::Pushed { .. } => {
            // The pusher's objects, not the scanner: fail_open does not cover it.
            tracing::error!(fail_open = hook.policy.fail_open, "{e}");
            if let Some(reason) = e.pushed_reason() {
                say(Stderr, &pusher::pushed_broken(&reason, &hook.ctx));
            }
            Err(e)
        }
        e => cannot_decide(e, &hook.policy, &hook.ctx),
    }
}

/// Judges what the scan found: the report when asked for, what the pusher is told besides the
/// findings, and the decision (with the bypass, when the push asks for one).
fn judge(hook: &HookRun<'_>, mut scanned: Scanned, baseline: Option<&Baseline>) -> Result<Exit> {
    tracing::info!(
        commits = scanned.scan.commits.len(),
        blobs = scanned.scan.summary.scanned,
        findings = scanned.scan.findings.len(),
        "push scanned"
    );
    let mut findings = std::mem::take(&mut scanned.scan.findings);
    // Inline allows the server refuses: judged like any other line, and said so.
    let refused_allows = crate::policy::refuse_inline_allows(&mut findings, &hook.policy);
    let verdict = Verdict::new(findings, &hook.policy, baseline);
    let note = truncation_note(hook, &scanned, &verdict);
    report_if_asked(hook.config, &verdict, &scanned.rules, &scanned.scan.summary)?;

    let unread = &scanned.scan.summary.unread;
    let oversize_blocks = crate::policy::oversize_blocks(&hook.policy, unread.len());
    for u in unread {
        tracing::info!(path = %u.path, size = u.size, cap = u.cap, "not scanned: over the size cap");
    }
    // What the pusher is told besides the findings: unread blobs, inline allows.
    let mut extra = pusher::unread(unread, oversize_blocks, &hook.ctx);
    let allowed: Vec<&Finding> = verdict.allowed.iter().collect();
    let refused: Vec<&Finding> = refused_allows.iter().collect();
    for (list, honoured) in [(&allowed, true), (&refused, false)] {
        if !list.is_empty() {
            if !extra.is_empty() {
                extra.push_str(&hook.prefix("\n"));
            }
            extra.push_str(&pusher::inline_allowed(list, honoured, &hook.ctx));
        }
    }
    if !log_inline_allows(hook, &scanned, &allowed, &refused) {
        return Ok(Exit::Findings);
    }
    let join = |main: String| -> String {
        let mut parts: Vec<String> = [main, extra.clone(), note.clone()]
            .into_iter()
            .filter(|p| !p.is_empty())
            .collect();
        if parts.len() > 1 {
            let sep = hook.prefix("\n");
            parts = vec![parts.join(&sep)];
        }
        parts.pop().unwrap_or_default()
    };
    decide(hook, &scanned, &verdict, oversize_blocks, join)
}

/// What the pusher is told when the scan kept only its first [`MAX_FINDINGS`] findings.
fn truncation_note(hook: &HookRun<'_>, scanned: &Scanned, verdict: &Verdict) -> String {
    if !scanned.scan.truncated {
        return String::new();
    }
    tracing::warn!("over {MAX_FINDINGS} findings: only the first were kept");
    let rest = if verdict.blocks() {
        "the scan stopped at the first one that blocks after them"
    } else {
        "none of the others blocks"
    };
    hook.prefix(&format!(
        "\nsecretgate: this push adds more than {MAX_FINDINGS} findings; only the first \
         {MAX_FINDINGS} were kept\n({rest}).\n"
    ))
}

/// Logs the inline allows a push carried (honoured or refused). Returns false when honoured
/// allows could not be logged, after telling the pusher: an allow that leaves no trace is not
/// honoured, and the push is rejected.
fn log_inline_allows(
    hook: &HookRun<'_>,
    scanned: &Scanned,
    allowed: &[&Finding],
    refused: &[&Finding],
) -> bool {
    if allowed.is_empty() && refused.is_empty() {
        return true;
    }
    let entry = LogEntry {
        event: if refused.is_empty() {
            "inline-allow"
        } else {
            "inline-allow-refused"
        },
        reason: "",
        findings: allowed.iter().chain(refused.iter()).copied().collect(),
    };
    let Err(e) = bypass::log(&hook.policy, &push(&hook.env, scanned), &entry) else {
        return true;
    };
    tracing::error!("cannot log the inline allows: {e}");
    if allowed.is_empty() {
        return true;
    }
    say(
        Stderr,
        &hook.prefix(
            "secretgate: push rejected: the inline allows (secretgate:allow) could not be\n\
         logged on the server; ask the admin.\n",
        ),
    );
    false
}

/// The decision: accepted (with the warnings, if any), rejected, or let through by a bypass.
fn decide(
    hook: &HookRun<'_>,
    scanned: &Scanned,
    verdict: &Verdict,
    oversize_blocks: bool,
    join: impl Fn(String) -> String,
) -> Result<Exit> {
    let blocking: Vec<&Finding> = verdict.blocking.iter().collect();
    let warnings: Vec<&Finding> = verdict.warnings.iter().collect();
    if verdict.hook_exit(oversize_blocks) == Exit::Clean {
        let text = if warnings.is_empty() {
            join(String::new())
        } else {
            join(pusher::message(&[], &warnings, &hook.ctx))
        };
        if !text.is_empty() {
            say(Stderr, &text);
        }
        return Ok(Exit::Clean);
    }
    let main = if verdict.blocks() {
        pusher::message(&blocking, &warnings, &hook.ctx)
    } else {
        String::new()
    };
    let log = |entry: &LogEntry<'_>| bypass::log(&hook.policy, &push(&hook.env, scanned), entry);
    match bypass::decide(&hook.policy, &hook.env.push_options, &verdict.blocking, log) {
        Bypass::None => {
            say(Stderr, &join(main));
            Ok(Exit::Findings)
        }
        Bypass::Refused(why) => {
            let mut text = join(main);
            text.push_str(&hook.prefix(&format!("\nsecretgate: bypass refused: {why}\n")));
            say(Stderr, &text);
            Ok(Exit::Findings)
        }
        Bypass::Accepted(reason) => {
            let text = format!(
                "secretgate: bypass accepted (reason: {reason}).\n\
                 {} finding(s) were let through and logged for the admin. If any of them is a\n\
                 real secret, rotate it now: it is in the repository.\n",
                blocking.len()
            );
            say(Stderr, &hook.prefix(&text));
            Ok(Exit::Clean)
        }
    }
}

fn prefix(text: &str, gitlab: bool) -> String {
    pusher::for_gitlab(text, gitlab)
}

/// The push, as the admin's log names it.
fn push<'a>(env: &'a HookEnv, scanned: &'a Scanned) -> Push<'a> {
    Push {
        git_dir: &env.git_dir,
        pusher: pusher_name(),
        repository: repository_name(scanned),
        refs: &scanned.scan.refs,
        commits: scanned.scan.commits.iter().map(|c| c.to_string()).collect(),
    }
}

fn pusher_name() -> String {
    [
        "GL_USERNAME",
        "GITEA_PUSHER_NAME",
        "GL_USER",
        "USER",
        "LOGNAME",
    ]
    .iter()
    .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
    .unwrap_or_else(|| "unknown".into())
}

fn repository_name(scanned: &Scanned) -> String {
    if let Ok(p) = std::env::var("GL_PROJECT_PATH") {
        return p;
    }
    if let (Ok(u), Ok(r)) = (
        std::env::var("GITEA_REPO_USER_NAME"),
        std::env::var("GITEA_REPO_NAME"),
    ) {
        return format!("{u}/{r}");
    }
    scanned
        .repo_path
        .canonicalize()
        .unwrap_or_else(|_| scanned.repo_path.clone())
        .display()
        .to_string()
}
