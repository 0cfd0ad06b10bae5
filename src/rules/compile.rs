//! Validation and compilation of a configuration into a [`Ruleset`].
//!
//! This is the one place where syntax becomes something the detector can run, so that a bad file
//! fails at load with the rule id and the problem, never in the middle of a push. Regexes are
//! validated at load but built on first use: a hook that runs for every push must not pay for
//! compiling a hundred regexes when the pushed lines only ever trigger two of them.

use std::sync::OnceLock;
use std::time::Duration;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex::bytes::{Regex, RegexBuilder};

use super::paths::PathFilter;
use super::syntax::{
    Checksum, ConfigFile, ExampleSyntax, Kind, PerKindText, PolicySyntax, RuleSyntax, Scope,
    Severity, WeakSyntax,
};
use crate::error::{Error, Result};
use crate::policy::Policy;

/// A regex compiled on first use, with the indices of its `secret…` and `name…` groups.
#[derive(Debug)]
pub struct LazyRegex {
    src: String,
    cell: OnceLock<std::result::Result<CompiledRegex, String>>,
}

/// A built regex and where its value and name groups are.
#[derive(Debug)]
pub struct CompiledRegex {
    /// The regex.
    pub regex: Regex,
    /// Capture indices of groups named `secret…`, in order: the first that matched is the value.
    pub secret_groups: Vec<usize>,
    /// Capture indices of groups named `name…`: the setting's name, for messages.
    pub name_groups: Vec<usize>,
    /// Capture index of the group named `receiver`: the object a form acts on.
    pub receiver_group: Option<usize>,
    /// Capture index of the group named `bind`: a name a file binds (`receivers_bound_by`).
    pub bind_group: Option<usize>,
}

impl LazyRegex {
    fn new(src: &str) -> Self {
        LazyRegex {
            src: src.to_owned(),
            cell: OnceLock::new(),
        }
    }

    /// The regex as written.
    pub fn source(&self) -> &str {
        &self.src
    }

    /// Whether the regex is already built.
    pub fn is_built(&self) -> bool {
        self.cell.get().is_some()
    }

    /// Builds (once) and returns the regex; an error only if it exceeds the size limits.
    pub fn get(&self) -> std::result::Result<&CompiledRegex, &str> {
        self.cell
            .get_or_init(|| build_regex(&self.src))
            .as_ref()
            .map_err(|e| e.as_str())
    }

    /// Whether the value (or line) matches; a regex that cannot be built matches nothing.
    pub fn is_match(&self, hay: &[u8]) -> bool {
        self.get().map(|c| c.regex.is_match(hay)).unwrap_or(false)
    }
}

fn build_regex(src: &str) -> std::result::Result<CompiledRegex, String> {
    let regex = RegexBuilder::new(src)
        .unicode(false)
        .size_limit(64 << 20)
        .dfa_size_limit(16 << 20)
        .build()
        .map_err(|e| e.to_string())?;
    let mut secret_groups = Vec::new();
    let mut name_groups = Vec::new();
    let mut receiver_group = None;
    let mut bind_group = None;
    for (i, name) in regex.capture_names().enumerate() {
        match name {
            Some(n) if n.starts_with("secret") => secret_groups.push(i),
            Some(n) if n.starts_with("name") => name_groups.push(i),
            Some("receiver") => receiver_group = Some(i),
            Some("bind") => bind_group = Some(i),
            _ => {}
        }
    }
    Ok(CompiledRegex {
        regex,
        secret_groups,
        name_groups,
        receiver_group,
        bind_group,
    })
}

/// Whether a regex (as written) has a capture group with this name.
fn has_group(src: &str, name: &str) -> bool {
    src.contains(&format!("(?P<{name}>")) || src.contains(&format!("(?<{name}>"))
}

/// Checks a regex's syntax without building its automata (cheap enough for every load).
fn check_regex_syntax(src: &str) -> std::result::Result<(), String> {
    regex_syntax::ParserBuilder::new()
        .unicode(false)
        .utf8(false)
        .build()
        .parse(src)
        .map(|_| ())
        .map_err(|e| e.to_string().replace('\n', " "))
}

/// One form of a rule, ready to run.
#[derive(Debug)]
pub struct Pattern {
    /// Index of the owning rule in [`Ruleset::rules`].
    pub rule: usize,
    /// The regex.
    pub regex: LazyRegex,
    /// Only these paths (in addition to the rule's).
    pub paths: PathFilter,
    /// Bytes past the keyword's line the regex may reach.
    pub window_after: usize,
    /// Remediation for this form, if it differs from the rule's.
    pub remediation: Option<String>,
    /// The provider's checksum of this form's values (the form's own, else the rule's).
    pub checksum: Option<Checksum>,
    /// When not empty, a match is a finding only if its `receiver` group matches one of these,
    /// or names something the file binds by `receivers_bound_by`.
    pub receivers: Vec<LazyRegex>,
    /// Regexes over the whole file whose `bind` groups name more receivers (the names bound to
    /// `Flask(...)`): read once per file, and only when a receiver is not one of `receivers`.
    pub receivers_bound_by: Vec<LazyRegex>,
}

impl Pattern {
    /// Whether the form's matches depend on their receiver.
    pub fn judges_receivers(&self) -> bool {
        !self.receivers.is_empty() || !self.receivers_bound_by.is_empty()
    }
}

/// When a value is only a development placeholder.
#[derive(Debug)]
pub struct Weak {
    /// The severity given to weak values.
    pub severity: Severity,
    /// Values shorter than this are weak.
    pub below_len: Option<usize>,
    /// Values with less entropy than this are weak.
    pub below_entropy: Option<f64>,
    /// Values matching one of these are weak.
    pub values: Vec<LazyRegex>,
    /// Every value at these paths is weak.
    pub paths: PathFilter,
    /// Every value inside an indented block whose header matches one of these is weak (a
    /// `class TestingConfig:`).
    pub enclosed_by: Vec<LazyRegex>,
    /// With `paths`: only lines matching one of these are weak there.
    pub lines: Vec<LazyRegex>,
    /// Further places, each with its own lines ([`WeakPlace`]).
    pub places: Vec<WeakPlace>,
}

impl Weak {
    /// Whether every value at `path` may be weak by its place alone (the path is one of the
    /// class's places): the audit tells such paths apart from others.
    pub fn place_path(&self, path: &[u8]) -> bool {
        self.paths.matches(path) || self.places.iter().any(|p| p.paths.matches(path))
    }

    /// Whether a value on `line` of the file at `path` is in one of the class's places.
    pub fn in_place(&self, path: &[u8], line: &[u8]) -> bool {
        let lines_ok =
            |lines: &[LazyRegex]| lines.is_empty() || lines.iter().any(|r| r.is_match(line));
        (self.paths.matches(path) && lines_ok(&self.lines))
            || self
                .places
                .iter()
                .any(|p| p.paths.matches(path) && lines_ok(&p.lines))
    }
}

/// A development place of a weak class with its own lines (CI files: only the passwords of
/// the services the run starts).
#[derive(Debug)]
pub struct WeakPlace {
    /// The files of this place.
    pub paths: PathFilter,
    /// When not empty, only a value on a matching line is weak there.
    pub lines: Vec<LazyRegex>,
}

/// An example input with its path.
#[derive(Debug, Clone)]
pub struct Example {
    /// The path it is scanned at.
    pub path: String,
    /// The content.
    pub text: String,
}

/// A compiled rule.
#[derive(Debug)]
pub struct Rule {
    /// Stable identifier.
    pub id: String,
    /// One line: what was found.
    pub description: String,
    /// What the rule finds.
    pub kind: Kind,
    /// Severity of a finding, unless the value is weak.
    pub severity: Severity,
    /// Minimum Shannon entropy of the value.
    pub entropy: Option<f64>,
    /// Only these paths, if any.
    pub paths: PathFilter,
    /// Never these paths.
    pub skip_paths: PathFilter,
    /// Values that are not findings.
    pub allow: Vec<LazyRegex>,
    /// Lines that are not findings.
    pub allow_lines: Vec<LazyRegex>,
    /// Enclosing block headers that make the line safe.
    pub skip_if_enclosed_by: Vec<LazyRegex>,
    /// One of these must match somewhere in the file.
    pub file_requires: Vec<LazyRegex>,
    /// None of these may match anywhere in the file.
    pub skip_if_file_matches: Vec<LazyRegex>,
    /// One of these must match in the enclosing function.
    pub block_requires: Vec<LazyRegex>,
    /// Lines, or the whole tree.
    pub scope: Scope,
    /// For tree rules: a match of one of these anywhere in the tree clears it.
    pub unless_in_tree: Vec<LazyRegex>,
    /// Development values and their lower severity.
    pub weak: Option<Weak>,
    /// Whether the rule runs on binary content.
    pub binary: bool,
    /// Whether another rule's finding on the same bytes replaces this one's.
    pub fallback: bool,
    /// Whether matches inside Python triple-quoted strings are ignored.
    pub skip_in_docstrings: bool,
    /// Whether the value's own format identifies it (path allowlists do not apply; messages
    /// are scanned for it).
    pub distinctive: bool,
    /// How to fix it.
    pub remediation: String,
    /// Where to read more.
    pub references: Vec<String>,
    /// Inputs that must produce a finding.
    pub examples: Vec<Example>,
    /// Inputs that must not.
    pub negative_examples: Vec<Example>,
    /// Indices into [`Ruleset::patterns`].
    pub patterns: Vec<usize>,
}

/// Allow patterns for every rule.
#[derive(Debug, Default)]
pub struct Allowlist {
    /// Values that are never findings.
    pub values: Vec<LazyRegex>,
    /// Paths that are never scanned.
    pub paths: PathFilter,
    /// Lines that are never findings.
    pub lines: Vec<LazyRegex>,
    /// Paths added later (a repository's own allowlist).
    pub extra_paths: Vec<PathFilter>,
}

impl Allowlist {
    /// Whether the path is never scanned.
    pub fn skips_path(&self, path: &[u8]) -> bool {
        self.paths.matches(path) || self.extra_paths.iter().any(|p| p.matches(path))
    }
}

/// The keyword prefilter: one automaton over every keyword of every pattern.
///
/// Built on first use, in one of two forms: a contiguous NFA, cheap to build, for the few
/// kilobytes a hook usually judges (start-up is part of every push and every commit), and a
/// DFA, three times faster on source code but several milliseconds to build, once a run has
/// scanned enough bytes for the build to pay for itself. Both report the same matches.
#[derive(Debug)]
pub struct Prefilter {
    keywords: Vec<String>,
    /// For each keyword, the patterns it triggers.
    pub triggers: Vec<Vec<usize>>,
    /// For each keyword and each pattern it triggers: the pattern's regex starts with a word
    /// boundary and then the keyword itself (`\b(?P<secret>ghp_...`), so an occurrence right
    /// after a letter, a digit or `_` (`task_`, `version_`) cannot start a match and needs no
    /// window: such a match starts at an occurrence of its own.
    pub at_word_start: Vec<Vec<bool>>,
    /// The length of the longest keyword (see [`Prefilter::longest`]).
    longest: usize,
    /// The patterns without keywords, each limited to some paths (a file's whole content is
    /// the only context such a value has: a Rails `config/master.key`). They run on the whole
    /// of every file their paths select, and are never looked at for other files.
    pub unkeyed: Vec<usize>,
    small: OnceLock<AhoCorasick>,
    large: OnceLock<AhoCorasick>,
    scanned: std::sync::atomic::AtomicU64,
}

/// Bytes a run scans with the cheap automaton before it builds the fast one.
const PREFILTER_DFA_AFTER: u64 = 1 << 20;

impl Prefilter {
    fn new(keywords: KeywordIndex) -> Self {
        let KeywordIndex {
            keywords,
            triggers,
            at_word_start,
            unkeyed,
            ..
        } = keywords;
        Prefilter {
            longest: keywords.iter().map(String::len).max().unwrap_or(0),
            keywords,
            triggers,
            at_word_start,
            unkeyed,
            small: OnceLock::new(),
            large: OnceLock::new(),
            scanned: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn build(
        &self,
        kind: aho_corasick::AhoCorasickKind,
    ) -> std::result::Result<AhoCorasick, String> {
        AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .kind(Some(kind))
            .build(&self.keywords)
            .map_err(|e| format!("keywords cannot be compiled: {e}"))
    }

    /// The automaton for `len` more bytes of input.
    pub fn automaton(&self, len: usize) -> &AhoCorasick {
        use aho_corasick::AhoCorasickKind::{ContiguousNFA, DFA};
        use std::sync::atomic::Ordering;
        let before = self.scanned.fetch_add(len as u64, Ordering::Relaxed);
        if let Some(ac) = self.large.get() {
            return ac;
        }
        let cell = if before + len as u64 > PREFILTER_DFA_AFTER {
            (&self.large, DFA)
        } else {
            (&self.small, ContiguousNFA)
        };
        cell.0.get_or_init(|| {
            // Keywords are plain strings: building can only fail on size limits, which
            // validation at load has ruled out; fall back to the crate's own choice.
            self.build(cell.1).unwrap_or_else(|_| {
                AhoCorasick::builder()
                    .ascii_case_insensitive(true)
                    .build(&self.keywords)
                    .expect("keywords were validated at load")
            })
        })
    }

    /// Builds both forms now (validation of a user's rules file).
    fn validate(&self) -> std::result::Result<(), String> {
        self.build(aho_corasick::AhoCorasickKind::ContiguousNFA)?;
        self.build(aho_corasick::AhoCorasickKind::DFA)?;
        Ok(())
    }

    /// How many keywords it holds.
    pub fn len(&self) -> usize {
        self.keywords.len()
    }

    /// Whether it holds no keyword.
    pub fn is_empty(&self) -> bool {
        self.keywords.is_empty()
    }

    /// The keywords, for tests that build texts out of them.
    #[cfg(test)]
    pub(crate) fn keywords(&self) -> &[String] {
        &self.keywords
    }

    /// The length of the longest keyword, in bytes: how far around a change an occurrence that
    /// touches it can reach.
    pub fn longest(&self) -> usize {
        self.longest
    }
}

/// Everything the detector and the policy need, compiled once.
#[derive(Debug)]
pub struct Ruleset {
    /// Where the rules came from, for messages.
    pub origin: String,
    /// The rules.
    pub rules: Vec<Rule>,
    /// Every form of every rule.
    pub patterns: Vec<Pattern>,
    /// Allow patterns for every rule.
    pub allowlist: Allowlist,
    /// The policy.
    pub policy: Policy,
    /// The keyword prefilter.
    pub prefilter: Prefilter,
    /// Whether [`Ruleset::scan`] keeps matches on lines marked `secretgate:allow` (flagged
    /// [`crate::detect::Match::inline_allowed`]) instead of dropping them: the server hook shows
    /// and logs what a pusher allowed, and may refuse it.
    pub keep_inline_allowed: bool,
    /// Values published in tutorials and documentation (trimmed), for the message.
    pub public_values: std::collections::HashSet<Vec<u8>>,
    /// A digest of every text these rules were built from (the configuration file, the allow
    /// patterns added later), so that results stored by an audit's cache are used again only
    /// under the same rules ([`Ruleset::identity`]).
    pub sources: [u8; 32],
}

/// How thoroughly to check regexes at load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validation {
    /// Check nothing at load: for the built-in rules, which are compiled into the binary and
    /// checked with [`Validation::Full`] by `secretgate rules check` and the test suite. Parsing
    /// every regex costs more than a whole pre-commit run otherwise does.
    Trusted,
    /// Parse every regex (cheap): syntax errors fail the load.
    Syntax,
    /// Also build every regex now: nothing can fail later.
    Full,
}

fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// The most allow patterns one configuration may hold (values, paths and lines together): each
/// is compiled at load, so an unbounded list is an unbounded cost in time and memory.
pub const MAX_ALLOW_PATTERNS: usize = 4096;

/// The longest allow pattern, in bytes.
pub const MAX_ALLOW_PATTERN_BYTES: usize = 4096;

fn check_allow_bounds(a: &super::syntax::AllowlistSyntax) -> std::result::Result<(), String> {
    let count = a.values.len() + a.paths.len() + a.lines.len();
    if count > MAX_ALLOW_PATTERNS {
        return Err(format!(
            "allowlist: {count} patterns, more than the {MAX_ALLOW_PATTERNS} allowed"
        ));
    }
    if let Some(p) = [&a.values, &a.paths, &a.lines]
        .into_iter()
        .flatten()
        .find(|p| p.len() > MAX_ALLOW_PATTERN_BYTES)
    {
        return Err(format!(
            "allowlist: a pattern of {} bytes, longer than the {MAX_ALLOW_PATTERN_BYTES} allowed",
            p.len()
        ));
    }
    Ok(())
}

/// How deep fragments may use fragments: deeper means a cycle.
const FRAGMENT_DEPTH: usize = 8;

/// Replaces every `{{name}}` in `src` by the fragment `name`, wrapped in a non-capturing group
/// so that it behaves as one piece wherever it stands. `{{` can never start valid regex syntax,
/// so a regex without fragments is returned as it is.
pub fn expand_fragments(
    src: &str,
    fragments: &std::collections::BTreeMap<String, String>,
) -> std::result::Result<String, String> {
    let mut out = src.to_owned();
    for _ in 0..FRAGMENT_DEPTH {
        if !out.contains("{{") {
            return Ok(out);
        }
        let mut next = String::with_capacity(out.len() + 64);
        let mut rest = out.as_str();
        while let Some(at) = rest.find("{{") {
            next.push_str(&rest[..at]);
            let after = &rest[at + 2..];
            let name_len = after
                .bytes()
                .take_while(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_')
                .count();
            if name_len > 0 && after[name_len..].starts_with("}}") {
                let name = &after[..name_len];
                let frag = fragments
                    .get(name)
                    .ok_or_else(|| format!("unknown fragment {{{{{name}}}}}"))?;
                next.push_str("(?:");
                next.push_str(frag);
                next.push(')');
                rest = &after[name_len + 2..];
            } else {
                next.push_str("{{");
                rest = after;
            }
        }
        next.push_str(rest);
        if next == out {
            return Ok(out);
        }
        out = next;
    }
    Err("fragments nest too deep (a fragment that uses itself?)".into())
}

/// Writes the remediation of each rule that gives `fix` and `rotate` from the file's template
/// for its kind, then appends the file's footer for each rule's kind (unless the rule opts
/// out), and forgets both: they belong to the rules of the file that declares them.
pub fn frame_remediations(file: &mut ConfigFile, origin: &str) -> Result<()> {
    let templates = file.remediation_template.take().unwrap_or_default();
    for r in &mut file.rules {
        let what = |msg: String| Error::config(origin, format!("rule {}: {msg}", r.id));
        // Taken: a merged file is filled again, and a rule is filled once.
        let (fix, rotate) = match (r.fix.take(), r.rotate.take()) {
            (None, None) => continue,
            (Some(f), Some(o)) => (f, o),
            _ => return Err(what("`fix` and `rotate` go together".into())),
        };
        if !r.remediation.trim().is_empty() {
            return Err(what(
                "gives both `remediation` and `fix`/`rotate`: keep one".into(),
            ));
        }
        let Some(template) = per_kind(&templates, r.kind) else {
            return Err(what(format!(
                "gives `fix`/`rotate` but the file has no remediation_template.{}",
                r.kind.as_str()
            )));
        };
        r.remediation = fill_template(template, fix.trim_matches('\n'), rotate.trim());
    }
    let Some(footers) = file.remediation_footer.take() else {
        return Ok(());
    };
    for r in &mut file.rules {
        if let (true, Some(f)) = (r.footer, per_kind(&footers, r.kind)) {
            let f = f.trim_matches('\n');
            if !f.is_empty() {
                let body = r.remediation.trim_end_matches('\n').len();
                r.remediation.truncate(body);
                r.remediation.push('\n');
                r.remediation.push_str(f);
            }
        }
    }
    Ok(())
}

/// The text a per-kind table holds for `kind`.
fn per_kind(texts: &PerKindText, kind: Kind) -> Option<&String> {
    match kind {
        Kind::Secret => texts.secret.as_ref(),
        Kind::Debug => texts.debug.as_ref(),
        Kind::Config => texts.config.as_ref(),
    }
}

/// A remediation template with `{fix}` (every line of it indented as `{fix}` is) and
/// `{rotate}` filled in; other braces (`{name}`) are left for the finding.
fn fill_template(template: &str, fix: &str, rotate: &str) -> String {
    let template = template.trim_matches('\n');
    let mut out = String::with_capacity(template.len() + fix.len() + rotate.len());
    for (i, line) in template.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        match line.find("{fix}") {
            Some(at) => {
                // The continuation lines start under the first: what precedes `{fix}` on its
                // line, as blanks.
                let indent: String = line[..at]
                    .chars()
                    .map(|c| if c == '\t' { c } else { ' ' })
                    .collect();
                let joined = fix
                    .split('\n')
                    .collect::<Vec<_>>()
                    .join(&format!("\n{indent}"));
                out.push_str(&line.replacen("{fix}", &joined, 1));
            }
            None => out.push_str(line),
        }
    }
    out.replace("{rotate}", rotate)
}

/// Compiles a configuration file (already merged with the built-in one where it extends it).
pub fn compile(mut file: ConfigFile, origin: &str, validation: Validation) -> Result<Ruleset> {
    frame_remediations(&mut file, origin)?;
    let fragments = std::mem::take(&mut file.fragments);
    let c = Compiler {
        origin,
        validation,
        fragments: &fragments,
    };
    c.check_fragment_names()?;
    let mut rules = Vec::with_capacity(file.rules.len());
    let mut patterns = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut keywords = KeywordIndex::default();
    for r in file.rules {
        if !is_valid_id(&r.id) {
            return Err(c.err(format!(
                "rule id {:?} must be lowercase letters, digits, '-' or '_'",
                r.id
            )));
        }
        if !seen.insert(r.id.clone()) {
            return Err(c.err(format!("rule {}: duplicate id", r.id)));
        }
        let rule = c.rule(r, rules.len(), &mut patterns, &mut keywords)?;
        rules.push(rule);
    }
    let allowlist = match file.allowlist {
        None => Allowlist::default(),
        Some(a) => c.allowlist(&a)?,
    };
    let public_values = file
        .public_values
        .map(|p| {
            p.values
                .iter()
                .map(|v| v.trim().as_bytes().to_vec())
                .filter(|v| !v.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let policy = match file.policy {
        None => Policy::default(),
        Some(p) => c.policy(p)?,
    };
    let prefilter = Prefilter::new(keywords);
    if validation == Validation::Full {
        prefilter.validate().map_err(|e| c.err(e))?;
    }
    Ok(Ruleset {
        origin: origin.to_owned(),
        rules,
        patterns,
        allowlist,
        policy,
        prefilter,
        keep_inline_allowed: false,
        public_values,
        sources: [0; 32],
    })
}

/// The keywords of every pattern, each with the patterns it triggers, in first-seen order, and
/// the patterns that have none (limited to some paths).
#[derive(Default)]
struct KeywordIndex {
    keywords: Vec<String>,
    triggers: Vec<Vec<usize>>,
    at_word_start: Vec<Vec<bool>>,
    unkeyed: Vec<usize>,
    index: std::collections::HashMap<String, usize>,
}

impl KeywordIndex {
    /// Records that `keyword` (lowercased already) triggers pattern `pattern`, whose regex is
    /// `regex`.
    fn add(&mut self, keyword: String, pattern: usize, regex: &str) {
        let at_word_start = starts_with_word_then(regex, &keyword);
        let ki = *self.index.entry(keyword.clone()).or_insert_with(|| {
            self.keywords.push(keyword);
            self.triggers.push(Vec::new());
            self.at_word_start.push(Vec::new());
            self.triggers.len() - 1
        });
        if !self.triggers[ki].contains(&pattern) {
            self.triggers[ki].push(pattern);
            self.at_word_start[ki].push(at_word_start);
        }
    }
}

/// Whether every match of `regex` starts with a word boundary and then `keyword` (compared
/// without case): the source reads `\b`, then optionally the opening of a group, then the
/// keyword's characters as plain literals. Only a keyword that starts with a letter, a digit or
/// `_` qualifies (a boundary before such a character means a non-word character before it).
fn starts_with_word_then(regex: &str, keyword: &str) -> bool {
    let Some(first) = keyword.bytes().next() else {
        return false;
    };
    if !(first.is_ascii_alphanumeric() || first == b'_') {
        return false;
    }
    let Some(mut rest) = regex.strip_prefix("\\b") else {
        return false;
    };
    for open in ["(?P<secret>", "(?:"] {
        if let Some(r) = rest.strip_prefix(open) {
            rest = r;
            break;
        }
    }
    rest.len() >= keyword.len()
        && rest.is_char_boundary(keyword.len())
        && rest[..keyword.len()].eq_ignore_ascii_case(keyword)
        && keyword
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// What compiling one file needs everywhere: its origin (for errors), how much to check, and
/// its fragments (for regexes).
struct Compiler<'a> {
    origin: &'a str,
    validation: Validation,
    fragments: &'a std::collections::BTreeMap<String, String>,
}

impl Compiler<'_> {
    /// A configuration error of this file.
    fn err(&self, msg: String) -> Error {
        Error::config(self.origin, msg)
    }

    /// Fragment names are lowercase letters, digits and '_'.
    fn check_fragment_names(&self) -> Result<()> {
        for name in self.fragments.keys() {
            if !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                || name.is_empty()
            {
                return Err(self.err(format!(
                    "fragments.{name}: a fragment's name is lowercase letters, digits and '_'"
                )));
            }
        }
        Ok(())
    }

    /// A regex with its fragments expanded, checked as far as the validation asks.
    fn lazy(&self, what: &str, src: &str) -> Result<LazyRegex> {
        let src =
            expand_fragments(src, self.fragments).map_err(|e| self.err(format!("{what}: {e}")))?;
        let src = src.as_str();
        if self.validation != Validation::Trusted {
            check_regex_syntax(src).map_err(|e| self.err(format!("{what}: invalid regex: {e}")))?;
        }
        let l = LazyRegex::new(src);
        if self.validation == Validation::Full {
            l.get()
                .map_err(|e| self.err(format!("{what}: regex cannot be built: {e}")))?;
        }
        Ok(l)
    }

    /// Several regexes of one field.
    fn many(&self, what: &str, v: &[String]) -> Result<Vec<LazyRegex>> {
        v.iter().map(|s| self.lazy(what, s)).collect()
    }

    /// A list of path globs, built now under full validation.
    fn globs(&self, what: &str, g: &[String]) -> Result<PathFilter> {
        let f = PathFilter::new(g).map_err(|e| self.err(format!("{what}: {e}")))?;
        if self.validation == Validation::Full {
            f.build_now()
                .map_err(|e| self.err(format!("{what}: {e}")))?;
        }
        Ok(f)
    }

    /// Checks what a rule must have (text, examples, a sane entropy, a checksum only on
    /// secrets).
    fn check_rule_fields(&self, r: &RuleSyntax) -> Result<()> {
        let what = |field: &str| self.err(format!("rule {}: {field}", r.id));
        if r.description.trim().is_empty() {
            return Err(what("description is empty"));
        }
        if r.remediation.trim().is_empty() {
            return Err(what("remediation is empty"));
        }
        if r.examples.is_empty() {
            return Err(what(
                "has no examples (every rule needs at least one example that must match)",
            ));
        }
        if r.negative_examples.is_empty() {
            return Err(what(
                "has no negative_examples (every rule needs at least one example that must not match)",
            ));
        }
        if let Some(e) = r.entropy {
            if !(0.0..=8.0).contains(&e) {
                return Err(what("entropy must be between 0 and 8 bits per byte"));
            }
        }
        let checksum = r.checksum.or(r.patterns.iter().find_map(|p| p.checksum));
        if let (Some(c), false) = (checksum, r.kind == Kind::Secret) {
            // A setting's value is the whole matched code, never a token.
            return Err(what(&format!(
                "checksum = \"{}\" needs kind = \"secret\"",
                c.as_str()
            )));
        }
        Ok(())
    }

    /// Compiles rule number `rule_idx`, adding its patterns to `patterns` and their keywords
    /// to `keywords`.
    fn rule(
        &self,
        r: RuleSyntax,
        rule_idx: usize,
        patterns: &mut Vec<Pattern>,
        keywords: &mut KeywordIndex,
    ) -> Result<Rule> {
        self.check_rule_fields(&r)?;
        let (pattern_ids, path_restricted) = self.patterns(&r, rule_idx, patterns, keywords)?;
        let what = |field: &str| format!("rule {}: {field}", r.id);
        let weak = match &r.weak {
            None => None,
            Some(w) => Some(self.weak(&r.id, w)?),
        };
        let examples = |list: &[ExampleSyntax]| -> Result<Vec<Example>> {
            list.iter()
                .map(|e| self.example(&r, path_restricted, e))
                .collect()
        };
        Ok(Rule {
            description: r.description.clone(),
            kind: r.kind,
            severity: r.severity,
            entropy: r.entropy,
            paths: self.globs(&what("paths"), &r.paths)?,
            skip_paths: self.globs(&what("skip_paths"), &r.skip_paths)?,
            allow: self.many(&what("allow"), &r.allow)?,
            allow_lines: self.many(&what("allow_lines"), &r.allow_lines)?,
            skip_if_enclosed_by: self.many(&what("skip_if_enclosed_by"), &r.skip_if_enclosed_by)?,
            file_requires: self.many(&what("file_requires"), &r.file_requires)?,
            skip_if_file_matches: self
                .many(&what("skip_if_file_matches"), &r.skip_if_file_matches)?,
            block_requires: self.many(&what("block_requires"), &r.block_requires)?,
            scope: r.scope,
            unless_in_tree: self.many(&what("unless_in_tree"), &r.unless_in_tree)?,
            weak,
            binary: r.binary,
            fallback: r.fallback,
            skip_in_docstrings: r.skip_in_docstrings,
            distinctive: r.distinctive,
            remediation: r.remediation.clone(),
            references: r.references.clone(),
            examples: examples(&r.examples)?,
            negative_examples: examples(&r.negative_examples)?,
            patterns: pattern_ids,
            id: r.id,
        })
    }

    /// Compiles a rule's forms (its `regex`, then its `patterns`) into `patterns`, their
    /// keywords into `keywords`. Returns the forms' indices, and whether the rule or any form
    /// applies only to some paths.
    fn patterns(
        &self,
        r: &RuleSyntax,
        rule_idx: usize,
        patterns: &mut Vec<Pattern>,
        keywords: &mut KeywordIndex,
    ) -> Result<(Vec<usize>, bool)> {
        let mut forms = Vec::new();
        if let Some(re) = &r.regex {
            forms.push(super::syntax::PatternSyntax {
                regex: re.clone(),
                keywords: Vec::new(),
                paths: Vec::new(),
                window_after: None,
                remediation: None,
                checksum: None,
                receivers: Vec::new(),
                receivers_bound_by: Vec::new(),
            });
        }
        forms.extend(r.patterns.iter().cloned());
        if forms.is_empty() {
            return Err(self.err(format!("rule {}: has neither regex nor patterns", r.id)));
        }
        let mut pattern_ids = Vec::new();
        let mut path_restricted = !r.paths.is_empty();
        for (n, p) in forms.into_iter().enumerate() {
            let pw = format!("rule {}: pattern {}", r.id, n + 1);
            let kws = if p.keywords.is_empty() {
                &r.keywords
            } else {
                &p.keywords
            };
            if kws.is_empty() && r.paths.is_empty() && p.paths.is_empty() {
                return Err(self.err(format!(
                    "{pw} has no keywords and no paths (a form without keywords runs on the whole of every file its paths select; on every file it would be slow: give keywords, or paths)"
                )));
            }
            if !p.paths.is_empty() {
                path_restricted = true;
            }
            let pat_idx = patterns.len();
            if kws.is_empty() {
                keywords.unkeyed.push(pat_idx);
            }
            for k in kws {
                let k = k.to_ascii_lowercase();
                if k.is_empty() {
                    return Err(self.err(format!("{pw}: empty keyword")));
                }
                keywords.add(k, pat_idx, &p.regex);
            }
            if !p.receivers.is_empty() || !p.receivers_bound_by.is_empty() {
                if !has_group(&p.regex, "receiver") {
                    return Err(self.err(format!(
                        "{pw}: receivers and receivers_bound_by need a group named `receiver` in the regex"
                    )));
                }
                if let Some(b) = p.receivers_bound_by.iter().find(|b| !has_group(b, "bind")) {
                    return Err(self.err(format!(
                        "{pw}: receivers_bound_by {b:?} has no group named `bind`"
                    )));
                }
            }
            patterns.push(Pattern {
                rule: rule_idx,
                regex: self.lazy(&pw, &p.regex)?,
                paths: self.globs(&pw, &p.paths)?,
                window_after: p.window_after.unwrap_or(0),
                remediation: p.remediation,
                checksum: p.checksum.or(r.checksum),
                receivers: self.many(&format!("{pw}: receivers"), &p.receivers)?,
                receivers_bound_by: self
                    .many(&format!("{pw}: receivers_bound_by"), &p.receivers_bound_by)?,
            });
            pattern_ids.push(pat_idx);
        }
        Ok((pattern_ids, path_restricted))
    }

    /// One example of a rule; a bare text is checked at the rule's `example_path` (or
    /// `example.txt`, unless the rule applies only to some paths).
    fn example(&self, r: &RuleSyntax, path_restricted: bool, e: &ExampleSyntax) -> Result<Example> {
        Ok(match e {
            ExampleSyntax::WithPath { path, text } => Example {
                path: path.clone(),
                text: text.clone(),
            },
            ExampleSyntax::Text(text) => {
                let path = match (&r.example_path, path_restricted) {
                    (Some(p), _) => p.clone(),
                    (None, false) => "example.txt".to_owned(),
                    (None, true) => {
                        return Err(self.err(format!(
                            "rule {}: applies only to some paths: give example_path or write examples as {{ path, text }}",
                            r.id
                        )))
                    }
                };
                Example {
                    path,
                    text: text.clone(),
                }
            }
        })
    }

    /// A rule's weak-value class.
    fn weak(&self, id: &str, w: &WeakSyntax) -> Result<Weak> {
        let what = |field: &str| format!("rule {id}: {field}");
        Ok(Weak {
            severity: w.severity,
            below_len: w.below_len,
            below_entropy: w.below_entropy,
            values: self.many(&what("weak value"), &w.values)?,
            paths: self.globs(&what("weak paths"), &w.paths)?,
            enclosed_by: self.many(&what("weak enclosed_by"), &w.enclosed_by)?,
            lines: self.many(&what("weak lines"), &w.lines)?,
            places: w
                .places
                .iter()
                .map(|p| {
                    Ok(WeakPlace {
                        paths: self.globs(&what("weak places paths"), &p.paths)?,
                        lines: self.many(&what("weak places lines"), &p.lines)?,
                    })
                })
                .collect::<Result<Vec<_>>>()?,
        })
    }

    /// The file's own allow patterns.
    fn allowlist(&self, a: &super::syntax::AllowlistSyntax) -> Result<Allowlist> {
        check_allow_bounds(a).map_err(|e| self.err(e))?;
        Ok(Allowlist {
            values: self.many("allowlist.values", &a.values)?,
            paths: self.globs("allowlist.paths", &a.paths)?,
            lines: self.many("allowlist.lines", &a.lines)?,
            extra_paths: Vec::new(),
        })
    }

    /// The `[policy]` table over the defaults.
    fn policy(&self, p: PolicySyntax) -> Result<Policy> {
        let mut policy = Policy::default();
        if let Some(b) = p.block {
            policy.block = b;
        }
        if let Some(f) = p.fail_open {
            policy.fail_open = f;
        }
        if let Some(t) = p.time_budget_secs {
            policy.time_budget = Duration::try_from_secs_f64(t)
                .ok()
                .filter(|d| !d.is_zero() && t > 0.0)
                .ok_or_else(|| {
                    self.err(format!(
                        "policy.time_budget_secs must be a positive number of seconds, not {t:?}"
                    ))
                })?;
        }
        if let Some(m) = p.max_blob_bytes {
            policy.max_blob_bytes = m;
        }
        if let Some(m) = p.max_findings_shown {
            policy.max_findings_shown = m;
        }
        if let Some(s) = p.skip_paths {
            policy.skip_paths = self.globs("policy.skip_paths", &s)?;
        }
        if let Some(a) = p.allow_repo_config {
            policy.allow_repo_config = a;
        }
        if let Some(o) = p.oversize {
            policy.oversize = o;
        }
        if let Some(a) = p.inline_allow {
            policy.inline_allow = a;
        }
        if let Some(b) = p.bypass {
            if let Some(e) = b.enabled {
                policy.bypass_enabled = e;
            }
            if let Some(o) = b.option {
                if o.trim().is_empty() {
                    return Err(self.err("policy.bypass.option is empty".into()));
                }
                policy.bypass_option = o;
            }
            policy.bypass_log = b.log.map(Into::into);
        }
        Ok(policy)
    }
}
