//! The push-option bypass (`git push -o secretgate.skip="reason"`): whether it is honoured,
//! how its reason is cleaned, and the line the admin's log gets for it (and for the inline
//! allows a push carried).
//!
//! A bypass is honoured only when the admin enabled it, the pusher gave a reason, and the
//! bypass was logged: an exception that leaves no trace is not granted.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::Policy;
use crate::finding::Finding;

/// What became of a push's request to bypass its blocking findings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bypass {
    /// No bypass was asked for.
    None,
    /// Asked for and refused; the text says why (to the pusher).
    Refused(String),
    /// Granted and logged, with the cleaned reason.
    Accepted(String),
}

/// The push a log line is about.
#[derive(Debug, Clone)]
pub struct Push<'a> {
    /// The repository's git directory (the default log is in it).
    pub git_dir: &'a Path,
    /// Who pushed, as the server names them.
    pub pusher: String,
    /// The repository, as the server names it.
    pub repository: String,
    /// The refs the push updates.
    pub refs: &'a [String],
    /// The commits the push adds.
    pub commits: Vec<String>,
}

/// One line of the admin's log: a bypass, or the inline allows a push carried.
#[derive(Debug)]
pub struct LogEntry<'a> {
    /// `bypass`, `inline-allow` or `inline-allow-refused`.
    pub event: &'static str,
    /// The bypass's reason (empty for inline allows).
    pub reason: &'a str,
    /// The findings let through (or refused).
    pub findings: Vec<&'a Finding>,
}

/// The push option's value after `name=`, cleaned: invisible characters (controls, zero-width
/// and bidirectional marks) removed, blanks trimmed, at most 500 characters. Judged after
/// cleaning: a reason of only control or zero-width characters is no reason.
pub fn clean_reason(option: &str, name: &str) -> String {
    let cleaned: String = option
        .strip_prefix(name)
        .and_then(|r| r.strip_prefix('='))
        .unwrap_or_default()
        .chars()
        .filter(|c| !crate::escape::is_invisible(*c))
        .collect();
    cleaned.trim().chars().take(500).collect()
}

/// Decides a push's bypass from its push options: [`Bypass::None`] when the policy's option is
/// not among them; refused when the policy does not enable it, when the reason is empty, or
/// when `log` (called with the bypass's log line) fails; else accepted.
pub fn decide(
    policy: &Policy,
    push_options: &[String],
    blocking: &[Finding],
    log: impl FnOnce(&LogEntry<'_>) -> std::io::Result<()>,
) -> Bypass {
    let name = &policy.bypass_option;
    let Some(opt) = push_options
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
    let reason = clean_reason(opt, name);
    if reason.is_empty() {
        return Bypass::Refused(format!(
            "a bypass needs a reason: git push -o {name}=\"why this is safe\""
        ));
    }
    let entry = LogEntry {
        event: "bypass",
        reason: &reason,
        findings: blocking.iter().collect(),
    };
    match log(&entry) {
        Ok(()) => Bypass::Accepted(reason),
        Err(e) => {
            tracing::error!("cannot log the bypass: {e}");
            Bypass::Refused("the bypass could not be logged on the server; ask the admin.".into())
        }
    }
}

/// Where the log is: the policy's `bypass.log`, else `secretgate-bypass.jsonl` in the git
/// directory.
pub fn log_path(policy: &Policy, git_dir: &Path) -> PathBuf {
    policy
        .bypass_log
        .clone()
        .unwrap_or_else(|| git_dir.join("secretgate-bypass.jsonl"))
}

/// The log line of an entry: one JSON object (time, event, pusher, repository, refs, commits,
/// reason, and each finding's fingerprint, rule, path, line and commit, never its value).
pub fn log_line(push: &Push<'_>, entry: &LogEntry<'_>) -> serde_json::Result<Vec<u8>> {
    let record = serde_json::json!({
        "time": gix::date::Time::now_utc().format_or_unix(gix::date::time::format::ISO8601_STRICT),
        "event": entry.event,
        "pusher": push.pusher,
        "repository": push.repository,
        "refs": push.refs,
        "commits": push.commits,
        "reason": entry.reason,
        "fingerprints": entry.findings.iter().map(|f| serde_json::json!({
            "fingerprint": f.fingerprint, "rule_id": f.rule_id, "path": f.path,
            "line": f.line, "commit": f.commit,
        })).collect::<Vec<_>>(),
    });
    let mut line = serde_json::to_vec(&record)?;
    line.push(b'\n');
    Ok(line)
}

/// Appends an entry to the log ([`log_path`]), creating its folder, and syncs it: the entry
/// is on disk before the push it excuses is accepted.
pub fn log(policy: &Policy, push: &Push<'_>, entry: &LogEntry<'_>) -> std::io::Result<()> {
    let path = log_path(policy, push.git_dir);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let line = log_line(push, entry)?;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)?;
    f.write_all(&line)?;
    f.sync_data()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_is_judged_after_cleaning() {
        assert_eq!(clean_reason("s=  why \u{200b} ", "s"), "why");
        assert_eq!(clean_reason("s=\u{1}\u{200b}", "s"), "");
        assert_eq!(clean_reason("s", "s"), "");
        assert_eq!(
            clean_reason(&format!("s={}", "x".repeat(600)), "s").len(),
            500
        );
    }

    #[test]
    fn a_bypass_is_honoured_only_when_enabled_given_a_reason_and_logged() {
        let mut policy = Policy::default();
        let opts = |o: &str| vec![o.to_owned()];
        let ok = |_: &LogEntry<'_>| Ok(());
        assert_eq!(decide(&policy, &[], &[], ok), Bypass::None);
        let name = policy.bypass_option.clone();
        assert!(matches!(
            decide(&policy, &opts(&format!("{name}=x")), &[], ok),
            Bypass::Refused(_)
        ));
        policy.bypass_enabled = true;
        assert!(matches!(
            decide(&policy, &opts(&name), &[], ok),
            Bypass::Refused(_)
        ));
        assert_eq!(
            decide(&policy, &opts(&format!("{name}=x")), &[], ok),
            Bypass::Accepted("x".into())
        );
        let fails = |_: &LogEntry<'_>| Err(std::io::Error::other("disk full"));
        assert!(matches!(
            decide(&policy, &opts(&format!("{name}=x")), &[], fails),
            Bypass::Refused(_)
        ));
    }
}
