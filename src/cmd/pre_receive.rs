//! `secretgate pre-receive`: the server hook.
//!
//! It reads git's ref updates, scans exactly what the push adds inside git's quarantine, and
//! accepts, warns or rejects. It never hangs a push: the scan runs on a worker thread under the
//! admin's time budget, and when the hook cannot decide (an error, the budget spent) it rejects
//! with a message that blames the scanner, unless the admin chose `fail_open`.

use std::io::{Read, Write};
use std::sync::{mpsc, Arc};
use std::time::Instant;

use super::hook::{cannot_decide, load_rules_or_say, report_if_asked, say};
use super::{load_baseline, Exit};
use crate::cli::Config;
use crate::error::{Error, Result};
use crate::finding::Finding;
use crate::policy::Verdict;
use crate::report::pusher::{self, Hook, MessageContext};
use crate::rules::syntax::Oversize;
use crate::rules::Policy;
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
    rules: crate::rules::Ruleset,
}

/// Runs the hook.
pub fn run(config: &Config) -> Result<Exit> {
    let start = Instant::now();
    let gitlab = is_gitlab();
    let ctx_default = MessageContext {
        hook: Hook::PreReceive,
        max_shown: 20,
        gitlab,
    };
    let rules = load_rules_or_say(config, &ctx_default)?;
    let policy = rules.policy.clone();
    let ctx = MessageContext {
        max_shown: policy.max_findings_shown,
        ..ctx_default
    };
    let baseline = Arc::new(load_baseline(config)?);
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
        // Judging only the first part would let the updates past it through unseen.
        say(&pusher::cannot_decide(
            "its input from git is malformed",
            false,
            &ctx,
        ));
        return Err(Error::HookInput {
            line: memchr::memchr_iter(b'\n', &input).count() + 1,
            message: format!("more than {} MiB of ref updates", MAX_INPUT >> 20),
        });
    }
    let env = HookEnv::from_env();

    let budget = Budget::new(start, policy.time_budget);
    let jobs = config
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
    let (tx, rx) = mpsc::channel();
    {
        let budget = budget.clone();
        let env = env.clone();
        let baseline = Arc::clone(&baseline);
        let mut rules = rules;
        std::thread::Builder::new()
            .name("scan".into())
            .stack_size(super::WORKER_STACK)
            .spawn(move || {
                let r = (|| -> Result<Scanned> {
                    let repo = PushRepo::open(&env)?;
                    let updates = parse_updates(&input, repo.hash_kind())?;
                    if rules.policy.allow_repo_config {
                        if let Some((origin, allow)) = repo.repo_allowlist(&updates)? {
                            rules.add_allowlist(allow, &origin)?;
                        }
                    }
                    rules.keep_inline_allowed = true;
                    let blocks = |f: &Finding| {
                        rules.policy.blocks(f.severity)
                            && !(f.inline_allowed && rules.policy.inline_allow)
                            && !baseline
                                .as_ref()
                                .as_ref()
                                .is_some_and(|b| b.contains(&f.fingerprint))
                    };
                    let scan = repo.scan(&rules, &updates, &budget, &blocks, jobs)?;
                    Ok(Scanned {
                        scan,
                        repo_path: repo.path().to_owned(),
                        rules,
                    })
                })();
                let _ = tx.send(r);
            })
            .map_err(|e| Error::Repo(format!("cannot start the scan: {e}")))?;
    }
    let outcome = match rx.recv_timeout(budget.remaining()) {
        Ok(Err(Error::Budget(_))) | Err(_) => {
            budget.cancel();
            let reason = budget.spent().to_string();
            tracing::error!(fail_open = policy.fail_open, "{reason}");
            say(&pusher::cannot_decide(&reason, policy.fail_open, &ctx));
            return Ok(if policy.fail_open {
                Exit::Clean
            } else {
                Exit::Io
            });
        }
        Ok(r) => r,
    };
    let mut scanned = match outcome {
        Ok(s) => s,
        Err(e @ Error::Config { .. }) => {
            say(&prefix(
                &format!(
                    "secretgate: push rejected: the repository's allow patterns cannot be read: {e}\n\
                     Fix .secretgate.toml (it may only hold an [allowlist] table) and push again.\n"
                ),
                gitlab,
            ));
            return Err(e);
        }
        Err(e @ Error::HookInput { .. }) => {
            say(&pusher::cannot_decide(
                "its input from git is malformed",
                false,
                &ctx,
            ));
            return Err(e);
        }
        Err(e @ Error::Pushed(_)) => {
            // The pusher's objects, not the scanner: fail_open does not cover it.
            tracing::error!(fail_open = policy.fail_open, "{e}");
            let reason = match &e {
                Error::Pushed(m) => m.clone(),
                other => other.to_string(),
            };
            say(&pusher::pushed_broken(&reason, &ctx));
            return Err(e);
        }
        Err(e) => return cannot_decide(e, &policy, &ctx),
    };
    tracing::info!(
        commits = scanned.scan.commits.len(),
        blobs = scanned.scan.summary.scanned,
        findings = scanned.scan.findings.len(),
        "push scanned"
    );
    let mut findings = std::mem::take(&mut scanned.scan.findings);
    // Inline allows the server refuses: judged like any other line, and said so.
    let mut refused_allows: Vec<Finding> = Vec::new();
    if !policy.inline_allow {
        for f in findings.iter_mut().filter(|f| f.inline_allowed) {
            f.inline_allowed = false;
            refused_allows.push(f.clone());
        }
    }
    let verdict = Verdict::new(findings, &policy, baseline.as_ref().as_ref());
    let note = if scanned.scan.truncated {
        tracing::warn!("over {MAX_FINDINGS} findings: only the first were kept");
        let rest = if verdict.blocks() {
            "the scan stopped at the first one that blocks after them"
        } else {
            "none of the others blocks"
        };
        prefix(
            &format!(
                "\nsecretgate: this push adds more than {MAX_FINDINGS} findings; only the first \
                 {MAX_FINDINGS} were kept\n({rest}).\n"
            ),
            gitlab,
        )
    } else {
        String::new()
    };
    report_if_asked(config, &verdict, &scanned.rules, &scanned.scan.summary)?;

    let unread = &scanned.scan.summary.unread;
    let oversize_blocks = !unread.is_empty() && policy.oversize == Oversize::Block;
    for u in unread {
        tracing::info!(path = %u.path, size = u.size, cap = u.cap, "not scanned: over the size cap");
    }
    // What the pusher is told besides the findings: unread blobs, inline allows.
    let mut extra = pusher::unread(unread, oversize_blocks, &ctx);
    let allowed: Vec<&Finding> = verdict.allowed.iter().collect();
    let refused: Vec<&Finding> = refused_allows.iter().collect();
    for (list, honoured) in [(&allowed, true), (&refused, false)] {
        if !list.is_empty() {
            if !extra.is_empty() {
                extra.push_str(&prefix("\n", gitlab));
            }
            extra.push_str(&pusher::inline_allowed(list, honoured, &ctx));
        }
    }
    if !allowed.is_empty() || !refused.is_empty() {
        let entry = LogEntry {
            event: if refused.is_empty() {
                "inline-allow"
            } else {
                "inline-allow-refused"
            },
            reason: "",
            findings: allowed.iter().chain(refused.iter()).copied().collect(),
        };
        if let Err(e) = log_event(&env, &policy, &scanned, &entry) {
            tracing::error!("cannot log the inline allows: {e}");
            if !allowed.is_empty() {
                // An allow that leaves no trace is not honoured.
                say(&prefix(
                    "secretgate: push rejected: the inline allows (secretgate:allow) could not be\n\
                     logged on the server; ask the admin.\n",
                    gitlab,
                ));
                return Ok(Exit::Findings);
            }
        }
    }
    let join = |main: String| -> String {
        let mut parts: Vec<String> = [main, extra.clone(), note.clone()]
            .into_iter()
            .filter(|p| !p.is_empty())
            .collect();
        if parts.len() > 1 {
            let sep = prefix("\n", gitlab);
            parts = vec![parts.join(&sep)];
        }
        parts.pop().unwrap_or_default()
    };

    let blocking: Vec<&Finding> = verdict.blocking.iter().collect();
    let warnings: Vec<&Finding> = verdict.warnings.iter().collect();
    if !verdict.blocks() && !oversize_blocks {
        let text = if warnings.is_empty() {
            join(String::new())
        } else {
            join(pusher::message(&[], &warnings, &ctx))
        };
        if !text.is_empty() {
            say(&text);
        }
        return Ok(Exit::Clean);
    }
    let main = if verdict.blocks() {
        pusher::message(&blocking, &warnings, &ctx)
    } else {
        String::new()
    };
    match bypass(&env, &policy, &scanned, &verdict) {
        Bypass::None => {
            say(&join(main));
            Ok(Exit::Findings)
        }
        Bypass::Refused(why) => {
            let mut text = join(main);
            text.push_str(&prefix(
                &format!("\nsecretgate: bypass refused: {why}\n"),
                gitlab,
            ));
            say(&text);
            Ok(Exit::Findings)
        }
        Bypass::Accepted(reason) => {
            let text = format!(
                "secretgate: bypass accepted (reason: {reason}).\n\
                 {} finding(s) were let through and logged for the admin. If any of them is a\n\
                 real secret, rotate it now: it is in the repository.\n",
                blocking.len()
            );
            say(&prefix(&text, gitlab));
            Ok(Exit::Clean)
        }
    }
}

fn prefix(text: &str, gitlab: bool) -> String {
    pusher::for_gitlab(text, gitlab)
}

enum Bypass {
    None,
    Refused(String),
    Accepted(String),
}

fn bypass(env: &HookEnv, policy: &Policy, scanned: &Scanned, verdict: &Verdict) -> Bypass {
    let name = &policy.bypass_option;
    let Some(opt) = env
        .push_options
        .iter()
        .find(|o| o.as_str() == name || o.starts_with(&format!("{name}=")))
    else {
        return Bypass::None;
    };
    if !policy.bypass_enabled {
        return Bypass::Refused(format!(
            "the push option {name} is not enabled on this server."
        ));
    }
    // Judged after cleaning: a reason of only control or zero-width characters is no reason.
    let cleaned: String = opt
        .strip_prefix(name.as_str())
        .and_then(|r| r.strip_prefix('='))
        .unwrap_or_default()
        .chars()
        .filter(|c| !crate::escape::is_invisible(*c))
        .collect();
    let reason: String = cleaned.trim().chars().take(500).collect();
    if reason.is_empty() {
        return Bypass::Refused(format!(
            "a bypass needs a reason: git push -o {name}=\"why this is safe\""
        ));
    }
    let entry = LogEntry {
        event: "bypass",
        reason: &reason,
        findings: verdict.blocking.iter().collect(),
    };
    match log_event(env, policy, scanned, &entry) {
        Ok(()) => Bypass::Accepted(reason),
        Err(e) => {
            tracing::error!("cannot log the bypass: {e}");
            Bypass::Refused("the bypass could not be logged on the server; ask the admin.".into())
        }
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

/// One line of the admin's log: a bypass, or the inline allows a push carried.
struct LogEntry<'a> {
    event: &'static str,
    reason: &'a str,
    findings: Vec<&'a Finding>,
}

fn log_event(
    env: &HookEnv,
    policy: &Policy,
    scanned: &Scanned,
    entry: &LogEntry<'_>,
) -> std::io::Result<()> {
    let path = policy
        .bypass_log
        .clone()
        .unwrap_or_else(|| env.git_dir.join("secretgate-bypass.jsonl"));
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let entry = serde_json::json!({
        "time": gix::date::Time::now_utc().format_or_unix(gix::date::time::format::ISO8601_STRICT),
        "event": entry.event,
        "pusher": pusher_name(),
        "repository": repository_name(scanned),
        "refs": scanned.scan.refs,
        "commits": scanned.scan.commits.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
        "reason": entry.reason,
        "fingerprints": entry.findings.iter().map(|f| serde_json::json!({
            "fingerprint": f.fingerprint, "rule_id": f.rule_id, "path": f.path,
            "line": f.line, "commit": f.commit,
        })).collect::<Vec<_>>(),
    });
    let mut line = serde_json::to_vec(&entry)?;
    line.push(b'\n');
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)?;
    f.write_all(&line)?;
    f.sync_data()
}
