//! The message a hook shows the person whose push or commit was stopped.
//!
//! For the developer this message is the product: it says what was found and where, what to
//! write instead (the line that loads the value from the environment), how to take the value
//! out of the commits, and that a pushed secret must be rotated. It is written for a terminal
//! that shows it as `remote:` lines, so it is plain text of short lines; GitLab only shows lines
//! that start with `GL-HOOK-ERR: ` in its web interface, so each line gets that prefix there.
//!
//! The findings' message is a [`Sink`] ([`Message`]) like the reports; what else a hook has to
//! say (blobs not read, inline allows, a scanner that could not decide) is a function of its own
//! inputs.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;

use super::Sink;
use crate::finding::Finding;
use crate::rules::Kind;
use crate::stats::Stats;

/// Which hook speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    /// The server's pre-receive hook: the commits exist and must be rewritten.
    PreReceive,
    /// The pre-commit hook: nothing is committed yet.
    PreCommit,
    /// The pre-commit framework's checks of committed content (`pre-commit run --all-files`,
    /// `--files`, `--from-ref/--to-ref` in CI): the values may already be in the history.
    Committed,
}

/// What the message needs besides the findings.
#[derive(Debug, Clone)]
pub struct MessageContext {
    /// Which hook.
    pub hook: Hook,
    /// How many findings to list before "and N more".
    pub max_shown: usize,
    /// Prefix every line with `GL-HOOK-ERR: ` (GitLab).
    pub gitlab: bool,
}

fn short(commit: &str) -> &str {
    &commit[..commit.len().min(10)]
}

fn what_kind(findings: &[&Finding]) -> String {
    let n = |k: Kind| findings.iter().filter(|f| f.kind == k).count();
    let mut parts = Vec::new();
    for (k, one, many) in [
        (Kind::Secret, "secret", "secrets"),
        (Kind::Debug, "debug setting", "debug settings"),
        (Kind::Config, "unsafe setting", "unsafe settings"),
    ] {
        match n(k) {
            0 => {}
            1 => parts.push(format!("1 {one}")),
            c => parts.push(format!("{c} {many}")),
        }
    }
    parts.join(", ")
}

fn list(out: &mut String, findings: &[&Finding], max: usize) {
    let mut last_group: Option<(Option<&str>, Option<&str>)> = None;
    for f in findings.iter().take(max) {
        let group = (f.refname.as_deref(), f.commit.as_deref());
        if last_group != Some(group) {
            if let Some(c) = f.commit.as_deref() {
                let _ = writeln!(
                    out,
                    "  {}commit {}  {}",
                    f.refname
                        .as_deref()
                        .map(|r| format!("{r}  "))
                        .unwrap_or_default(),
                    short(c),
                    f.commit_subject.as_deref().unwrap_or_default()
                );
            }
            last_group = Some(group);
        }
        let _ = writeln!(
            out,
            "    {}:{}  {} ({})  {}",
            f.path,
            f.line,
            f.rule_id,
            f.severity.as_str(),
            f.message
        );
        if f.kind == Kind::Secret {
            let _ = writeln!(out, "      value: {}", f.secret);
        }
    }
    if findings.len() > max {
        let _ = writeln!(out, "    ... and {} more", findings.len() - max);
    }
}

fn remediations(out: &mut String, findings: &[&Finding]) {
    let mut by_rule: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for f in findings {
        *by_rule.entry((&f.rule_id, &f.remediation)).or_default() += 1;
    }
    for ((rule, text), _) in by_rule {
        let _ = writeln!(out, "  {rule}:");
        for l in text.lines() {
            let _ = writeln!(out, "    {l}");
        }
    }
}

/// The message for blocking findings (a rejection) and warnings (let through), as a sink:
/// the findings come blocking first and `stats.blocking` says how many block; the text is
/// [`Message::text`] once finished.
pub struct Message<'a> {
    ctx: &'a MessageContext,
    findings: Vec<&'a Finding>,
    text: String,
}

impl<'a> Message<'a> {
    /// The message a hook with `ctx` shows.
    pub fn new(ctx: &'a MessageContext) -> Self {
        Message {
            ctx,
            findings: Vec::new(),
            text: String::new(),
        }
    }

    /// The message, once [`Sink::finish`] wrote it (empty before).
    pub fn text(self) -> String {
        self.text
    }
}

impl<'a> Sink<'a> for Message<'a> {
    fn finding(&mut self, f: &'a Finding) -> io::Result<()> {
        self.findings.push(f);
        Ok(())
    }

    fn finish(&mut self, stats: &Stats) -> io::Result<()> {
        let (blocking, warnings) = self
            .findings
            .split_at(stats.blocking.min(self.findings.len()));
        let mut out = String::new();
        if !blocking.is_empty() {
            rejection(&mut out, blocking, self.ctx);
        }
        if !warnings.is_empty() {
            if !blocking.is_empty() {
                let _ = writeln!(out);
            }
            let (thing, _) = thing_verb(self.ctx.hook);
            warned(&mut out, warnings, thing, self.ctx.max_shown);
        }
        self.text = if self.ctx.gitlab {
            out.lines().map(|l| format!("GL-HOOK-ERR: {l}\n")).collect()
        } else {
            out
        };
        Ok(())
    }
}

/// The message for blocking findings (a rejection) and warnings (let through).
pub fn message(blocking: &[&Finding], warnings: &[&Finding], ctx: &MessageContext) -> String {
    let mut sink = Message::new(ctx);
    let stats = Stats {
        blocking: blocking.len(),
        warnings: warnings.len(),
        ..Stats::default()
    };
    let all: Vec<&Finding> = blocking.iter().chain(warnings).copied().collect();
    // Writing to a string cannot fail.
    let _ = super::feed(&mut sink, &all, &stats);
    sink.text()
}

/// The rejection: what was found, where, what to write instead and how to fix it.
fn rejection(out: &mut String, blocking: &[&Finding], ctx: &MessageContext) {
    let (thing, _) = thing_verb(ctx.hook);
    if ctx.hook == Hook::Committed {
        let _ = writeln!(
            out,
            "secretgate: check failed: {} found in the committed content checked.",
            what_kind(blocking)
        );
    } else {
        let _ = writeln!(
            out,
            "secretgate: {thing} rejected: {} found on lines this {thing} adds.",
            what_kind(blocking)
        );
    }
    let _ = writeln!(out);
    list(out, blocking, ctx.max_shown);
    let _ = writeln!(out);
    let _ = writeln!(out, "What to write instead:");
    remediations(out, blocking);
    let _ = writeln!(out);
    let _ = writeln!(out, "How to fix it:");
    change_lines(out, blocking, ctx.hook);
    if blocking.iter().any(|f| f.kind == Kind::Secret) {
        rotate(out, ctx.hook);
    }
    not_a_secret(out, ctx.hook);
}

/// Step 1 of the fix: change the lines, and for what is committed, rewrite the commits.
fn change_lines(out: &mut String, blocking: &[&Finding], hook: Hook) {
    let (_, verb) = thing_verb(hook);
    match hook {
        Hook::PreReceive => {
            let oldest = blocking.iter().filter_map(|f| f.commit.as_deref()).next();
            let _ = writeln!(
                out,
                "  1. Change the lines above as shown. Fixing them in a new commit is not enough:"
            );
            let _ = writeln!(
                out,
                "     the value would stay in the history you push. Rewrite the commits instead:"
            );
            let _ = writeln!(
                out,
                "       in the last commit:    edit, git add, then git commit --amend"
            );
            let _ = writeln!(
                out,
                "       in an older commit:    git rebase -i {}^  (mark it 'edit', fix, git commit --amend, git rebase --continue)",
                oldest.map(short).unwrap_or("<commit>")
            );
            let _ = writeln!(out, "     then push again.");
        }
        Hook::PreCommit => {
            let _ = writeln!(
                out,
                "  1. Change the lines above as shown, git add the files, and commit again."
            );
            let _ = writeln!(
                out,
                "     Nothing was {verb}, so no history needs rewriting: only the change in the file."
            );
            let _ = writeln!(
                out,
                "     The staged version was checked: if the file on disk differs, stage it first."
            );
        }
        Hook::Committed => {
            let _ = writeln!(
                out,
                "  1. Change the lines above as shown. A value that is already committed stays in"
            );
            let _ = writeln!(out, "     the history: rewrite the commits that added it (git rebase -i) before pushing.");
        }
    }
}

/// Step 2 of the fix, for secrets: rotate what may have leaked.
fn rotate(out: &mut String, hook: Hook) {
    match hook {
        Hook::PreReceive | Hook::Committed => {
            let _ = writeln!(
                out,
                "  2. A secret that was ever pushed anywhere (another remote, a fork, CI logs) must be"
            );
            let _ = writeln!(
                out,
                "     treated as leaked: rotate it where it was issued, then remove it from the code."
            );
        }
        Hook::PreCommit => {
            let _ = writeln!(
                out,
                "  2. If the value was ever committed or shared before (another branch, a remote, a chat,"
            );
            let _ = writeln!(
                out,
                "     CI logs), treat it as leaked: rotate it where it was issued."
            );
        }
    }
}

/// How to say that a finding is not a secret.
fn not_a_secret(out: &mut String, hook: Hook) {
    match hook {
        Hook::PreReceive => {
            let _ = writeln!(
                out,
                "  Not a secret? Add `secretgate:allow` in a comment on that line, or ask your admin."
            );
        }
        Hook::PreCommit | Hook::Committed => {
            let _ = writeln!(
                out,
                "  Not a secret? Add `secretgate:allow` in a comment on that line, or an allow pattern"
            );
            let _ = writeln!(out, "  to the project's .secretgate.toml.");
        }
    }
}

/// The warnings: what was found and let through, and how to fix it.
fn warned(out: &mut String, warnings: &[&Finding], thing: &str, max_shown: usize) {
    let _ = writeln!(
        out,
        "secretgate: warning: {} found ({} not blocked):",
        what_kind(warnings),
        thing
    );
    list(out, warnings, max_shown);
    let _ = writeln!(out, "  To fix:");
    let mut buf = String::new();
    remediations(&mut buf, warnings);
    for l in buf.lines() {
        let _ = writeln!(out, "  {l}");
    }
}

/// Prefixes every line with `GL-HOOK-ERR: ` under GitLab, so its web interface shows them.
pub fn for_gitlab(text: &str, gitlab: bool) -> String {
    if gitlab {
        text.lines()
            .map(|l| format!("GL-HOOK-ERR: {l}\n"))
            .collect()
    } else {
        text.to_owned()
    }
}

/// The blobs that were not read because of their size: named, so nothing is skipped in
/// silence. `blocks`: the policy rejects the push for them.
pub fn unread(list: &[crate::stats::Unread], blocks: bool, ctx: &MessageContext) -> String {
    let mut out = String::new();
    if list.is_empty() {
        return out;
    }
    let (thing, _) = thing_verb(ctx.hook);
    if blocks {
        let _ = writeln!(
            out,
            "secretgate: {thing} rejected: {} not scanned because of its size (the server's policy\n\
             rejects what it cannot read):",
            files(list.len())
        );
    } else {
        let _ = writeln!(
            out,
            "secretgate: warning: {} not scanned because of its size:",
            files(list.len())
        );
    }
    for u in list.iter().take(ctx.max_shown.max(1)) {
        let _ = writeln!(
            out,
            "    {}  {} bytes (cap {}){}",
            u.path,
            u.size,
            u.cap,
            u.commit
                .as_deref()
                .map(|c| format!("  commit {}", short(c)))
                .unwrap_or_default()
        );
    }
    if list.len() > ctx.max_shown.max(1) {
        let _ = writeln!(
            out,
            "    ... and {} more",
            list.len() - ctx.max_shown.max(1)
        );
    }
    if blocks {
        let _ = writeln!(
            out,
            "  Keep large files out of the repository (git LFS, an artifact store), or ask the admin."
        );
    }
    for_gitlab(&out, ctx.gitlab)
}

fn files(n: usize) -> String {
    if n == 1 {
        "1 file was".to_owned()
    } else {
        format!("{n} files were")
    }
}

fn thing_verb(hook: Hook) -> (&'static str, &'static str) {
    match hook {
        Hook::PreReceive => ("push", "pushed"),
        Hook::PreCommit => ("commit", "committed"),
        Hook::Committed => ("check", "checked"),
    }
}

/// The findings a pusher silenced with `secretgate:allow`: always shown, so the verdict says
/// what got in and on whose word. `honoured`: the server accepts inline allows.
pub fn inline_allowed(findings: &[&Finding], honoured: bool, ctx: &MessageContext) -> String {
    let mut out = String::new();
    if findings.is_empty() {
        return out;
    }
    if honoured {
        let _ = writeln!(
            out,
            "secretgate: allowed inline by the pusher (secretgate:allow), logged for the admin:"
        );
    } else {
        let _ = writeln!(
            out,
            "secretgate: this server does not honour secretgate:allow; these lines were judged as usual:"
        );
    }
    for f in findings.iter().take(ctx.max_shown.max(1)) {
        let _ = writeln!(
            out,
            "    {}:{}  {} ({}){}",
            f.path,
            f.line,
            f.rule_id,
            f.severity.as_str(),
            f.commit
                .as_deref()
                .map(|c| format!("  commit {}", short(c)))
                .unwrap_or_default()
        );
    }
    if findings.len() > ctx.max_shown.max(1) {
        let _ = writeln!(
            out,
            "    ... and {} more",
            findings.len() - ctx.max_shown.max(1)
        );
    }
    for_gitlab(&out, ctx.gitlab)
}

/// The message when the push's own objects are broken: rejected whatever the policy says about
/// the scanner's failures, since its content could not be judged.
pub fn pushed_broken(reason: &str, ctx: &MessageContext) -> String {
    for_gitlab(
        &format!(
            "secretgate: push rejected: its objects cannot be read ({reason}).\n\
             The pushed content could not be checked, so it is not accepted. Re-create the commits\n\
             with a stock git client (git fsck shows what is broken) and push again.\n"
        ),
        ctx.gitlab,
    )
}

/// The message when the hook could not decide (internal error, time budget spent).
pub fn cannot_decide(reason: &str, fail_open: bool, ctx: &MessageContext) -> String {
    let text = if ctx.hook != Hook::PreReceive {
        if fail_open {
            format!(
                "secretgate: warning: the secret scanner could not check this commit ({reason}).\n\
                 The policy lets commits through in that case; your code was not checked.\n"
            )
        } else {
            // The reason is the error line that follows: said once.
            let (what, nothing) = if ctx.hook == Hook::Committed {
                ("check failed", "")
            } else {
                ("commit rejected", " Nothing was committed.")
            };
            format!(
                "secretgate: {what} because the secret scanner failed.\n\
                 This is a problem with the scanner or the repository, not with your code; the\n\
                 error below says what.{nothing}\n"
            )
        }
    } else if fail_open {
        format!(
            "secretgate: warning: the secret scanner could not check this push ({reason}).\n\
             The server is configured to let pushes through in that case; your code was not checked.\n"
        )
    } else {
        format!(
            "secretgate: push rejected because the secret scanner failed ({reason}).\n\
             This is a problem with the scanner, not with your code: try again, and if it\n\
             persists, tell the server's admin (the hook's log has the details).\n"
        )
    };
    if ctx.gitlab {
        text.lines()
            .map(|l| format!("GL-HOOK-ERR: {l}\n"))
            .collect()
    } else {
        text
    }
}
