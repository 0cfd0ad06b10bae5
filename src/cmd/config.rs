//! `secretgate config show`: the configuration in force and where each part of it came from.
//!
//! Rules, policy and allow patterns come from up to three places (the built-in `rules.toml`,
//! the admin's `--config` file, which replaces or extends it, and a repository's own
//! `.secretgate.toml`, which may only add allow patterns); when a commit is refused or a push
//! let through, the first question is which of them decided, so each line names its source.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::{open_output, report_io};
use crate::cli::Config;
use crate::error::Result;
use crate::policy::Exit;
use crate::policy::Policy;
use crate::rules::syntax::{AllowlistSyntax, ConfigFile, Oversize, PolicySyntax};
use crate::rules::{parse_builtin, parse_repo_allowlist, read_file, Ruleset, BUILTIN_ORIGIN};
use crate::source::config::RepoConfig;

/// The policy key `key` of a parsed file, if the file sets it.
fn sets(p: Option<&PolicySyntax>, key: &str) -> bool {
    let Some(p) = p else { return false };
    match key {
        "block" => p.block.is_some(),
        "fail_open" => p.fail_open.is_some(),
        "time_budget_secs" => p.time_budget_secs.is_some(),
        "max_blob_bytes" => p.max_blob_bytes.is_some(),
        "max_findings_shown" => p.max_findings_shown.is_some(),
        "skip_paths" => p.skip_paths.is_some(),
        "allow_repo_config" => p.allow_repo_config.is_some(),
        "oversize" => p.oversize.is_some(),
        "inline_allow" => p.inline_allow.is_some(),
        "bypass.enabled" => p.bypass.as_ref().is_some_and(|b| b.enabled.is_some()),
        "bypass.option" => p.bypass.as_ref().is_some_and(|b| b.option.is_some()),
        "bypass.log" => p.bypass.as_ref().is_some_and(|b| b.log.is_some()),
        _ => false,
    }
}

/// The top of the git work tree holding `dir`, found by its `.git` entry.
fn work_tree_top(dir: &Path) -> Option<PathBuf> {
    let dir = dir.canonicalize().ok()?;
    dir.ancestors()
        .find(|a| a.join(".git").exists())
        .map(Path::to_owned)
}

/// The files a configuration came from, as written: the built-in rules, and the admin's
/// `--config` file with its origin.
struct Sources {
    builtin: ConfigFile,
    user: Option<(ConfigFile, String)>,
    /// Whether the built-in file is in force under the admin's (no file, or
    /// `[extend] default = true`).
    extends: bool,
}

impl Sources {
    /// Reads the built-in file and the admin's (which loaded already, so it parses).
    fn read(config: &Config) -> Result<Self> {
        let builtin = parse_builtin()?;
        let user: Option<(ConfigFile, String)> = match &config.config {
            Some(p) => Some((read_file(p)?.0, p.display().to_string())),
            None => None,
        };
        let extends = user
            .as_ref()
            .is_none_or(|(f, _)| f.extend.as_ref().is_some_and(|e| e.default));
        Ok(Sources {
            builtin,
            user,
            extends,
        })
    }

    /// Where the policy key `key` came from: the admin's file, the built-in one, or the default.
    fn policy_origin(&self, key: &str) -> String {
        if sets(self.user.as_ref().and_then(|(f, _)| f.policy.as_ref()), key) {
            self.user
                .as_ref()
                .map(|(_, o)| o.clone())
                .unwrap_or_default()
        } else if self.extends && sets(self.builtin.policy.as_ref(), key) {
            BUILTIN_ORIGIN.to_owned()
        } else {
            "default".to_owned()
        }
    }
}

/// Writes what is in force for a run started here with this `--config`.
pub fn show(config: &Config) -> Result<Exit> {
    let rules = super::load_rules(config)?;
    let sources = Sources::read(config)?;
    let mut out = String::new();
    write_rules(&mut out, &rules, &sources);
    write_policy(&mut out, &rules.policy, &sources);
    write_allowlist(&mut out, &rules.policy, &sources)?;
    let mut w = open_output(config)?;
    let r = w.write_all(out.as_bytes()).and_then(|()| w.flush());
    report_io(r, config)?;
    Ok(Exit::Clean)
}

/// The rules in force, each with the file it came from, and the rules the admin disabled.
fn write_rules(out: &mut String, rules: &Ruleset, sources: &Sources) {
    let _ = writeln!(
        out,
        "rules: {} in force ({})",
        rules.rules.len(),
        rules.origin
    );
    for r in &rules.rules {
        let from = match &sources.user {
            Some((f, o)) if f.rules.iter().any(|u| u.id == r.id) => o.as_str(),
            _ => BUILTIN_ORIGIN,
        };
        let _ = writeln!(
            out,
            "  {:40} {:6} {:6} {from}",
            r.id,
            r.kind.as_str(),
            r.severity.as_str()
        );
    }
    if let Some((f, o)) = &sources.user {
        if let Some(e) = &f.extend {
            for id in &e.disabled_rules {
                let _ = writeln!(out, "  {id:40} disabled by {o}");
            }
        }
    }
}

/// Each policy setting in force, with where it came from.
fn write_policy(out: &mut String, p: &Policy, sources: &Sources) {
    let block: Vec<&str> = p.block.iter().map(|s| s.as_str()).collect();
    let skip: Vec<String> = [
        sources
            .user
            .as_ref()
            .and_then(|(f, _)| f.policy.as_ref())
            .and_then(|p| p.skip_paths.clone()),
        sources
            .extends
            .then(|| {
                sources
                    .builtin
                    .policy
                    .as_ref()
                    .and_then(|p| p.skip_paths.clone())
            })
            .flatten(),
    ]
    .into_iter()
    .flatten()
    .next()
    .unwrap_or_default();
    let entries: Vec<(&str, String)> = vec![
        ("block", format!("{block:?}")),
        ("fail_open", p.fail_open.to_string()),
        ("time_budget_secs", p.time_budget.as_secs_f64().to_string()),
        ("max_blob_bytes", p.max_blob_bytes.to_string()),
        ("max_findings_shown", p.max_findings_shown.to_string()),
        ("skip_paths", format!("{skip:?}")),
        ("allow_repo_config", p.allow_repo_config.to_string()),
        ("inline_allow", p.inline_allow.to_string()),
        (
            "oversize",
            match p.oversize {
                Oversize::Warn => "\"warn\"".into(),
                Oversize::Block => "\"block\"".into(),
            },
        ),
        ("bypass.enabled", p.bypass_enabled.to_string()),
        ("bypass.option", format!("{:?}", p.bypass_option)),
        (
            "bypass.log",
            p.bypass_log.as_ref().map_or_else(
                || "$GIT_DIR/secretgate-bypass.jsonl".to_owned(),
                |l| format!("{:?}", l.display().to_string()),
            ),
        ),
    ];
    let _ = writeln!(out, "\npolicy:");
    for (k, v) in entries {
        let _ = writeln!(out, "  {:20} = {:40} {}", k, v, sources.policy_origin(k));
    }
}

/// The allow patterns of every file in force (the repository's own `.secretgate.toml` of the
/// work tree here included), each with its file.
fn write_allowlist(out: &mut String, p: &Policy, sources: &Sources) -> Result<()> {
    let _ = writeln!(out, "\nallowlist:");
    let mut lists: Vec<(String, AllowlistSyntax)> = Vec::new();
    if sources.extends {
        if let Some(a) = &sources.builtin.allowlist {
            lists.push((BUILTIN_ORIGIN.to_owned(), a.clone()));
        }
    }
    if let Some((f, o)) = &sources.user {
        if let Some(a) = &f.allowlist {
            lists.push((o.clone(), a.clone()));
        }
    }
    let repo_note = repo_allowlist(p, &mut lists)?;
    for (origin, a) in &lists {
        for (kind, list) in [
            ("values", &a.values),
            ("paths", &a.paths),
            ("lines", &a.lines),
        ] {
            for v in list {
                let _ = writeln!(out, "  {kind:6} {:50} {origin}", format!("{v:?}"));
            }
        }
    }
    if lists
        .iter()
        .all(|(_, a)| a.values.is_empty() && a.paths.is_empty() && a.lines.is_empty())
    {
        let _ = writeln!(out, "  (none)");
    }
    if let Some(n) = repo_note {
        let _ = writeln!(out, "  ({n})");
    }
    Ok(())
}

/// Adds the allow patterns of the repository's own `.secretgate.toml` (of the work tree the
/// current directory is in) to `lists`; returns the note that says where they apply.
fn repo_allowlist(
    p: &Policy,
    lists: &mut Vec<(String, AllowlistSyntax)>,
) -> Result<Option<String>> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let Some(top) = work_tree_top(&cwd) else {
        return Ok(None);
    };
    let Some(found) = RepoConfig::in_dir(&top)? else {
        return Ok(None);
    };
    let origin = format!(
        "the repository's own {}",
        crate::escape::escape(found.origin.as_bytes())
    );
    let allow = parse_repo_allowlist(&found.text, &origin).map_err(super::repo_config_error)?;
    lists.push((origin.clone(), allow));
    Ok(Some(format!(
        "{origin} applies to pre-commit and audit; to pre-receive only with \
         allow_repo_config = true (now {}); to scan only with --repo-config",
        p.allow_repo_config
    )))
}
