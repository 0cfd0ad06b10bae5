//! Rules: the built-in `rules.toml`, user configuration files, and how they combine.
//!
//! The built-in file is compiled into the binary so that a hook works with nothing but the
//! executable. A user file replaces it, or extends it with `[extend] default = true`; a
//! repository's own `.secretgate.toml` may only add allow patterns, so a pushed repository can
//! never loosen what the server's admin decided.

pub mod compile;
pub mod paths;
pub mod syntax;

use std::path::Path;

pub use compile::{Rule, Ruleset, Validation};
pub use syntax::{ConfigFile, Kind, Severity};

use crate::error::{Error, Result};

/// The default rules, as shipped.
pub const BUILTIN_RULES: &str = include_str!("../../rules.toml");

/// The built-in rules as JSON, converted from [`BUILTIN_RULES`] at build time (`build.rs`):
/// reading JSON costs a fraction of parsing the TOML, on every hook run. Empty when the TOML did
/// not parse at build time (then the TOML is parsed here, and its error reported).
const BUILTIN_JSON: &str = include_str!(concat!(env!("OUT_DIR"), "/builtin_rules.json"));

/// The files `rules.toml` includes, by the name it gives them, as built into the binary
/// (listed by `build.rs` from the `include` of `rules.toml`).
pub const BUILTIN_INCLUDES: &[(&str, &str)] =
    include!(concat!(env!("OUT_DIR"), "/builtin_includes.rs"));

/// The built-in rules' syntax tree, from the build-time JSON when there is one.
pub fn builtin_syntax() -> Result<ConfigFile> {
    if !BUILTIN_JSON.is_empty() {
        if let Ok(file) = serde_json::from_str::<ConfigFile>(BUILTIN_JSON) {
            return Ok(file);
        }
    }
    parse_builtin()
}

/// Parses the built-in `rules.toml` and the files it includes, from their TOML (what
/// `rules check` validates, with each error's file and line).
pub fn parse_builtin() -> Result<ConfigFile> {
    let (file, _) = parse_with_includes(BUILTIN_RULES, BUILTIN_ORIGIN, |name| {
        BUILTIN_INCLUDES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(n, text)| (format!("built-in {n}"), (*text).to_owned()))
            .ok_or_else(|| {
                Error::config(
                    BUILTIN_ORIGIN,
                    format!("include {name:?}: not built into this binary"),
                )
            })
    })?;
    Ok(file)
}

/// Parses a configuration file, then each file its `include` names (read by `read`, which
/// returns the included file's origin for messages and its text) and appends their rules in
/// order. Returns the included files' origins and texts too (what the rules depend on). An
/// included file holds rules only: the fragments, templates, footers, allowlists and policy of
/// a rule set are written once, in the file that includes the others.
pub fn parse_with_includes(
    text: &str,
    origin: &str,
    mut read: impl FnMut(&str) -> Result<(String, String)>,
) -> Result<(ConfigFile, Vec<(String, String)>)> {
    let mut file = parse(text, origin)?;
    let mut read_texts = Vec::new();
    for name in std::mem::take(&mut file.include) {
        let (inc_origin, inc_text) = read(&name)?;
        let inc = parse(&inc_text, &inc_origin)?;
        if !(inc.holds_only_rules_and_allowlist() && inc.allowlist.is_none()) {
            return Err(Error::config(
                &inc_origin,
                "an included file holds only [[rules]]: fragments, templates, footers, \
                 allowlists, policy and further includes belong to the file that includes it",
            ));
        }
        file.rules.extend(inc.rules);
        read_texts.push((inc_origin, inc_text));
    }
    Ok((file, read_texts))
}

/// Reads a configuration file from disk with the files it includes (relative to its folder),
/// each at most [`crate::source::config::MAX_CONFIG_BYTES`]. Returns the syntax tree and the
/// digest of every text read.
pub fn read_file(path: &Path) -> Result<(ConfigFile, [u8; 32])> {
    use crate::source::config::{read_config, Links};
    let origin = path.display().to_string();
    let text = read_config(path, Links::Follow, &origin)?;
    let folder = path.parent().unwrap_or(Path::new("."));
    let (file, included) = parse_with_includes(&text, &origin, |name| {
        let inc = folder.join(name);
        let inc_origin = inc.display().to_string();
        let inc_text = read_config(&inc, Links::Follow, &inc_origin)?;
        Ok((inc_origin, inc_text))
    })?;
    let mut sources = digest(&[0; 32], "configuration", text.as_bytes());
    for (name, text) in &included {
        sources = digest(&sources, name, text.as_bytes());
    }
    Ok((file, sources))
}

/// The name under which the built-in rules appear in messages.
pub const BUILTIN_ORIGIN: &str = "built-in rules.toml";

/// Parses TOML into the syntax tree; the error carries the TOML position and names the rule.
pub fn parse(text: &str, origin: &str) -> Result<ConfigFile> {
    toml::from_str::<ConfigFile>(text).map_err(|e| {
        let mut msg = e.message().to_owned();
        if let Some(span) = e.span() {
            let (line, col) = line_col(text, span.start);
            msg = format!("line {line}, column {col}: {msg}");
            if let Some(id) = enclosing_rule_id(text, span.start) {
                msg = format!("{msg} (in rule {id})");
            }
        }
        Error::config(origin, msg)
    })
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text.as_bytes()[..offset.min(text.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let col = before.iter().rev().take_while(|&&b| b != b'\n').count() + 1;
    (line, col)
}

/// The id of the `[[rules]]` table that holds `offset`, found textually (the parse failed).
fn enclosing_rule_id(text: &str, offset: usize) -> Option<String> {
    let before = &text[..offset.min(text.len())];
    let table = before.rfind("[[rules]]")?;
    let rest = &text[table..];
    let id_at = rest.find("\nid")?;
    let line = rest[id_at + 1..].lines().next()?;
    let value = line.split_once('=')?.1.trim().trim_matches(['"', '\'']);
    Some(value.to_owned())
}

/// The built-in rules, compiled (regexes are built on first use, and not even parsed before:
/// `rules check` and the tests check them).
pub fn builtin() -> Result<Ruleset> {
    let file = builtin_syntax()?;
    let mut rules = compile::compile(file, BUILTIN_ORIGIN, Validation::Trusted)?;
    rules.sources = digest(&[0; 32], "built-in", b"");
    Ok(rules)
}

/// Folds one more source text into a ruleset's digest ([`Ruleset::sources`]). The built-in
/// rules are part of the binary, which the cache's key covers as a whole.
fn digest(before: &[u8; 32], kind: &str, text: &[u8]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(before);
    h.update((kind.len() as u64).to_le_bytes());
    h.update(kind.as_bytes());
    h.update((text.len() as u64).to_le_bytes());
    h.update(text);
    h.finalize().into()
}

/// Loads a configuration file: it replaces the built-in rules, or extends them when it says so.
/// Its regexes are all built now, so a bad user rule fails at load. Only a regular file is
/// read, and at most [`crate::source::config::MAX_CONFIG_BYTES`] of it.
pub fn load_file(path: &Path) -> Result<Ruleset> {
    let (user, sources) = read_file(path)?;
    load_syntax(user, sources, &path.display().to_string())
}

/// Like [`load_file`], for text already read (which can include no file: it has no folder).
pub fn load_str(text: &str, origin: &str) -> Result<Ruleset> {
    let (user, _) = parse_with_includes(text, origin, |name| {
        Err(Error::config(
            origin,
            format!("include {name:?}: rules given as text cannot include files"),
        ))
    })?;
    load_syntax(
        user,
        digest(&[0; 32], "configuration", text.as_bytes()),
        origin,
    )
}

/// Compiles a user file, on top of the built-in rules when it extends them.
fn load_syntax(user: ConfigFile, sources: [u8; 32], origin: &str) -> Result<Ruleset> {
    let merged = match &user.extend {
        Some(ext) if ext.default => merge(builtin_syntax()?, user, origin)?,
        _ => user,
    };
    let mut rules = compile::compile(merged, origin, Validation::Full)?;
    rules.sources = sources;
    Ok(rules)
}

/// Applies `user` on top of `base`: disabled rules go, rules with the same id are replaced, the
/// allowlists add up, and the user's policy fields win.
fn merge(mut base: ConfigFile, mut user: ConfigFile, origin: &str) -> Result<ConfigFile> {
    let ext = user.extend.clone().unwrap_or_default();
    // The built-in footers belong to the built-in rules; the user's, if any, to the user's.
    compile::frame_remediations(&mut base, BUILTIN_ORIGIN)?;
    compile::frame_remediations(&mut user, origin)?;
    // The user's fragments may use and replace the built-in ones.
    base.fragments.extend(user.fragments.clone());
    for id in &ext.disabled_rules {
        if !base.rules.iter().any(|r| &r.id == id) {
            return Err(Error::config(
                origin,
                format!("extend.disabled_rules: no built-in rule {id:?}"),
            ));
        }
    }
    base.rules.retain(|r| {
        !ext.disabled_rules.contains(&r.id) && !user.rules.iter().any(|u| u.id == r.id)
    });
    base.rules.extend(user.rules);
    base.allowlist = add_allowlist(base.allowlist, user.allowlist);
    base.public_values = match (base.public_values, user.public_values) {
        (b, None) => b,
        (None, u) => u,
        (Some(mut b), Some(u)) => {
            b.values.extend(u.values);
            Some(b)
        }
    };
    base.policy = match (base.policy, user.policy) {
        (b, None) => b,
        (None, u) => u,
        (Some(b), Some(u)) => Some(syntax::PolicySyntax {
            block: u.block.or(b.block),
            fail_open: u.fail_open.or(b.fail_open),
            time_budget_secs: u.time_budget_secs.or(b.time_budget_secs),
            max_blob_bytes: u.max_blob_bytes.or(b.max_blob_bytes),
            max_findings_shown: u.max_findings_shown.or(b.max_findings_shown),
            skip_paths: u.skip_paths.or(b.skip_paths),
            allow_repo_config: u.allow_repo_config.or(b.allow_repo_config),
            bypass: u.bypass.or(b.bypass),
            oversize: u.oversize.or(b.oversize),
            inline_allow: u.inline_allow.or(b.inline_allow),
        }),
    };
    base.extend = None;
    Ok(base)
}

fn add_allowlist(
    base: Option<syntax::AllowlistSyntax>,
    more: Option<syntax::AllowlistSyntax>,
) -> Option<syntax::AllowlistSyntax> {
    match (base, more) {
        (b, None) => b,
        (None, m) => m,
        (Some(mut b), Some(m)) => {
            b.values.extend(m.values);
            b.paths.extend(m.paths);
            b.lines.extend(m.lines);
            Some(b)
        }
    }
}

/// Loads the rules in force: `--config FILE` (or `SECRETGATE_CONFIG`), else the built-in ones.
pub fn load(config: Option<&Path>) -> Result<Ruleset> {
    match config {
        Some(p) => load_file(p),
        None => builtin(),
    }
}

/// The subset of a repository's own `.secretgate.toml` that may loosen the rules: its allowlist.
/// Anything else in it is an error, so nobody believes a repository can change the policy.
pub fn parse_repo_allowlist(text: &str, origin: &str) -> Result<syntax::AllowlistSyntax> {
    if text.len() as u64 > crate::source::config::MAX_CONFIG_BYTES {
        return Err(crate::source::config::too_large(
            origin,
            Some(text.len() as u64),
        ));
    }
    let file = parse(text, origin)?;
    if !(file.holds_only_rules_and_allowlist() && file.rules.is_empty()) {
        return Err(Error::config(
            origin,
            "a repository's .secretgate.toml may only contain [allowlist] (values, paths, lines)",
        ));
    }
    Ok(file.allowlist.unwrap_or_default())
}

impl Ruleset {
    /// Adds allow patterns (a repository's `.secretgate.toml`) to the compiled rules.
    pub fn add_allowlist(&mut self, extra: syntax::AllowlistSyntax, origin: &str) -> Result<()> {
        self.sources = digest(&self.sources, "allowlist", format!("{extra:?}").as_bytes());
        let mut file = ConfigFile {
            allowlist: Some(extra),
            ..ConfigFile::default()
        };
        file.rules.clear();
        let compiled = compile::compile(file, origin, Validation::Full)?;
        self.allowlist.values.extend(compiled.allowlist.values);
        self.allowlist.lines.extend(compiled.allowlist.lines);
        self.allowlist.extra_paths.push(compiled.allowlist.paths);
        Ok(())
    }

    /// What decides this ruleset's results: its sources' digest and the switches callers set
    /// after loading. Two rulesets with the same identity, in the same binary, find the same
    /// matches in the same blob at paths of the same class.
    pub fn identity(&self) -> [u8; 32] {
        digest(
            &self.sources,
            "switches",
            &[u8::from(self.keep_inline_allowed)],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repositorys_file_may_hold_its_allowlist_and_nothing_else() {
        assert!(parse_repo_allowlist("[allowlist]\nvalues = ['x']\n", "repo").is_ok());
        for other in [
            "include = [\"more.toml\"]\n",
            "[fragments]\nbody = 'x'\n",
            "[remediation_template]\nsecret = '{fix}'\n",
            "[public_values]\nvalues = ['dev']\n",
            "[policy]\nblock = []\n",
        ] {
            let err = parse_repo_allowlist(other, "repo").expect_err(other);
            assert!(
                err.to_string().contains("only contain [allowlist]"),
                "{err}"
            );
        }
    }

    #[test]
    fn the_build_time_json_is_the_toml() {
        assert!(!BUILTIN_JSON.is_empty(), "build.rs converted rules.toml");
        let from_json: ConfigFile = serde_json::from_str(BUILTIN_JSON).unwrap();
        let from_toml = parse_builtin().unwrap();
        assert_eq!(format!("{from_json:?}"), format!("{from_toml:?}"));
    }
}
