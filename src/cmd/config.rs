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
use crate::rules::syntax::{ConfigFile, PolicySyntax};
use crate::rules::{parse, parse_repo_allowlist, BUILTIN_ORIGIN, BUILTIN_RULES};

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

/// Writes what is in force for a run started here with this `--config`.
pub fn show(config: &Config) -> Result<Exit> {
    let rules = super::load_rules(config)?;
    let builtin = parse(BUILTIN_RULES, BUILTIN_ORIGIN)?;
    // The admin's file as written (it loaded above, so it parses).
    let user: Option<(ConfigFile, String)> = match &config.config {
        Some(p) => {
            let origin = p.display().to_string();
            let text = crate::source::config::read_config(
                p,
                crate::source::config::Links::Follow,
                &origin,
            )?;
            Some((parse(&text, &origin)?, origin))
        }
        None => None,
    };
    let extends = user
        .as_ref()
        .is_none_or(|(f, _)| f.extend.as_ref().is_some_and(|e| e.default));
    let user_origin = user.as_ref().map(|(_, o)| o.as_str());

    let mut out = String::new();
    let _ = writeln!(
        out,
        "rules: {} in force ({})",
        rules.rules.len(),
        rules.origin
    );
    for r in &rules.rules {
        let from = match &user {
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
    if let Some((f, o)) = &user {
        if let Some(e) = &f.extend {
            for id in &e.disabled_rules {
                let _ = writeln!(out, "  {id:40} disabled by {o}");
            }
        }
    }

    let p = &rules.policy;
    let from = |key: &str| -> String {
        if sets(user.as_ref().and_then(|(f, _)| f.policy.as_ref()), key) {
            user_origin.unwrap_or_default().to_owned()
        } else if extends && sets(builtin.policy.as_ref(), key) {
            BUILTIN_ORIGIN.to_owned()
        } else {
            "default".to_owned()
        }
    };
    let block: Vec<&str> = p.block.iter().map(|s| s.as_str()).collect();
    let skip: Vec<String> = [
        user.as_ref()
            .and_then(|(f, _)| f.policy.as_ref())
            .and_then(|p| p.skip_paths.clone()),
        extends
            .then(|| builtin.policy.as_ref().and_then(|p| p.skip_paths.clone()))
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
                crate::rules::syntax::Oversize::Warn => "\"warn\"".into(),
                crate::rules::syntax::Oversize::Block => "\"block\"".into(),
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
        let _ = writeln!(out, "  {:20} = {:40} {}", k, v, from(k));
    }

    let _ = writeln!(out, "\nallowlist:");
    let mut sources: Vec<(String, crate::rules::syntax::AllowlistSyntax)> = Vec::new();
    if extends {
        if let Some(a) = &builtin.allowlist {
            sources.push((BUILTIN_ORIGIN.to_owned(), a.clone()));
        }
    }
    if let Some((f, o)) = &user {
        if let Some(a) = &f.allowlist {
            sources.push((o.clone(), a.clone()));
        }
    }
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let repo_file = work_tree_top(&cwd).map(|t| t.join(crate::source::staged::REPO_CONFIG));
    let mut repo_note = None;
    if let Some(file) = &repo_file {
        if let Some(text) = crate::source::config::read_repo_config(file)? {
            let origin = format!(
                "the repository's own {}",
                crate::finding::escape(file.as_os_str().as_encoded_bytes())
            );
            let allow = parse_repo_allowlist(&text, &origin).map_err(super::repo_config_error)?;
            sources.push((origin.clone(), allow));
            repo_note = Some(format!(
                "{origin} applies to pre-commit and audit; to pre-receive only with \
                 allow_repo_config = true (now {}); to scan only with --repo-config",
                p.allow_repo_config
            ));
        }
    }
    for (origin, a) in &sources {
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
    if sources
        .iter()
        .all(|(_, a)| a.values.is_empty() && a.paths.is_empty() && a.lines.is_empty())
    {
        let _ = writeln!(out, "  (none)");
    }
    if let Some(n) = repo_note {
        let _ = writeln!(out, "  ({n})");
    }

    let mut w = open_output(config)?;
    let r = w.write_all(out.as_bytes()).and_then(|()| w.flush());
    report_io(r, config)?;
    Ok(Exit::Clean)
}
