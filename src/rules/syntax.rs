//! The serde mirror of `rules.toml`.
//!
//! Kept apart from the compiled form so that the file format can be read, validated and reported
//! on (with the rule id and the TOML position) before anything is compiled, and so that an unknown
//! field is an error rather than a silently ignored typo in a security policy.

use serde::Deserialize;

/// The whole configuration file: policy, global allowlist and rules.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Whether this file adds to the built-in rules instead of replacing them.
    #[serde(default)]
    pub extend: Option<Extend>,
    /// What blocks, what warns, and how hooks behave when they cannot decide.
    #[serde(default)]
    pub policy: Option<PolicySyntax>,
    /// Values, paths and lines that are never findings, whatever the rule.
    #[serde(default)]
    pub allowlist: Option<AllowlistSyntax>,
    /// Named regex pieces, written `{{name}}` inside any regex of the file (rules, allow
    /// lists, weak values): one placeholder list or quoted-value form written once instead of
    /// in every rule, so that a fix reaches every rule at once. A fragment may use fragments.
    #[serde(default)]
    pub fragments: std::collections::BTreeMap<String, String>,
    /// Text appended to the remediation of every rule of a kind that this file defines: the
    /// advice common to all leaked credentials is written once. It applies to this file's own
    /// rules only, so a user file that extends the built-in rules keeps its remediations as
    /// written.
    #[serde(default)]
    pub remediation_footer: Option<PerKindText>,
    /// The remediation of every rule of a kind that gives `fix` and `rotate` instead of a
    /// `remediation`: the sentences that frame a provider's own advice ("read it from the
    /// environment ..., revoke it at the provider: ...") are written once, each rule keeps only
    /// what is its own. `{fix}` and `{rotate}` stand for the rule's fields; each line of a `fix`
    /// over several lines starts under the first. Like the footer, it applies to this file's
    /// rules.
    #[serde(default)]
    pub remediation_template: Option<PerKindText>,
    /// Files whose `[[rules]]` come after this file's own, in this order (paths relative to
    /// this file's folder): a long rule set is kept as one file per family of providers and
    /// still read, checked and compiled as one file, with this file's fragments and templates.
    #[serde(default)]
    pub include: Vec<String>,
    /// The rules themselves.
    #[serde(default)]
    pub rules: Vec<RuleSyntax>,
    /// Keys published in tutorials, books and documentation: anyone who read them holds them.
    #[serde(default)]
    pub public_values: Option<PublicValuesSyntax>,
}

impl ConfigFile {
    /// Whether the file sets nothing but rules and an allowlist (either may be absent): what
    /// an included file (rules) and a repository's own file (an allowlist) are limited to. Every
    /// part of the format is named here once, so a part added later cannot slip past either
    /// check.
    pub fn holds_only_rules_and_allowlist(&self) -> bool {
        let ConfigFile {
            extend,
            policy,
            allowlist: _,
            fragments,
            remediation_footer,
            remediation_template,
            include,
            rules: _,
            public_values,
        } = self;
        extend.is_none()
            && policy.is_none()
            && fragments.is_empty()
            && remediation_footer.is_none()
            && remediation_template.is_none()
            && include.is_empty()
            && public_values.is_none()
    }
}

/// Values that are secrets nobody can keep: a finding whose value is one of them says so.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicValuesSyntax {
    /// The values, exactly as written between the quotes (surrounding spaces ignored).
    #[serde(default)]
    pub values: Vec<String>,
}

/// A text per kind of rule: a remediation footer, or a remediation template.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerKindText {
    /// For `kind = "secret"` rules.
    #[serde(default)]
    pub secret: Option<String>,
    /// For `kind = "debug"` rules.
    #[serde(default)]
    pub debug: Option<String>,
    /// For `kind = "config"` rules.
    #[serde(default)]
    pub config: Option<String>,
}

/// How a user file combines with the built-in rules.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Extend {
    /// Start from the built-in rules (and their allowlist and policy) and apply this file on top.
    #[serde(default)]
    pub default: bool,
    /// Built-in rule ids to drop.
    #[serde(default)]
    pub disabled_rules: Vec<String>,
}

/// The admin's policy; every field is optional so a file may set only what it changes.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySyntax {
    /// Severities whose findings block (exit 1, rejected push or commit).
    pub block: Option<Vec<Severity>>,
    /// When the hook cannot decide (error or time budget spent): accept instead of reject.
    pub fail_open: Option<bool>,
    /// Seconds a hook may spend before it gives up (and fails closed or open).
    pub time_budget_secs: Option<f64>,
    /// Blobs larger than this are not read; they are counted and listed.
    pub max_blob_bytes: Option<u64>,
    /// How many findings the pusher's message lists before "and N more".
    pub max_findings_shown: Option<usize>,
    /// Paths (globs) never scanned.
    pub skip_paths: Option<Vec<String>>,
    /// Whether the pushed repository's own `.secretgate.toml` may add allow rules on the server.
    pub allow_repo_config: Option<bool>,
    /// The push-option bypass.
    pub bypass: Option<BypassSyntax>,
    /// What a blob over `max_blob_bytes` does to the verdict: `warn` (default) or `block`. It
    /// is named in the pusher's message either way.
    pub oversize: Option<Oversize>,
    /// Whether a pushed `secretgate:allow` marker is honoured by the server hook (default
    /// `true`); honoured or not, it is shown in the verdict and logged.
    pub inline_allow: Option<bool>,
}

/// What an unread (oversize) blob does to a hook's verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Oversize {
    /// Named in the message; the push or commit goes through.
    #[default]
    Warn,
    /// Named in the message; the push or commit is rejected (nothing unread gets in).
    Block,
}

/// The admin-controlled escape hatch for pushes.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BypassSyntax {
    /// Whether `git push -o secretgate.skip="reason"` is honoured at all.
    pub enabled: Option<bool>,
    /// The push option's name.
    pub option: Option<String>,
    /// Where each bypass is appended as a JSON line.
    pub log: Option<String>,
}

/// Allow patterns that apply to every rule.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowlistSyntax {
    /// Regexes on the matched value (placeholders, references to the environment).
    #[serde(default)]
    pub values: Vec<String>,
    /// Globs of paths that are never scanned (examples, templates of config files).
    #[serde(default)]
    pub paths: Vec<String>,
    /// Regexes on the whole line holding the match.
    #[serde(default)]
    pub lines: Vec<String>,
}

/// What a rule finds: a leaked credential, debug mode, or another unsafe setting.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize, PartialOrd, Ord,
)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A credential or key.
    Secret,
    /// Debug mode or the debugger left on.
    Debug,
    /// Another unsafe configuration.
    Config,
}

/// What a rule judges: lines, or a whole tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// A match on a line (every mode).
    #[default]
    Line,
    /// A property of the whole tree at the tip (the audit only).
    Tree,
}

/// How bad a finding is; the policy maps severities to block or warn.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize, PartialOrd, Ord,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Warn only by default.
    Low,
    /// Warn only by default.
    Medium,
    /// Blocks by default.
    High,
}

impl Kind {
    /// The name used in reports and in `rules.toml`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Secret => "secret",
            Kind::Debug => "debug",
            Kind::Config => "config",
        }
    }
}

impl Severity {
    /// The name used in reports and in `rules.toml`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }
}

/// A checksum a provider builds into its tokens, which the detector recomputes from the value.
///
/// A value in the token's exact shape whose checksum does not match was not issued by the
/// provider (a hand-typed example, a test fixture, a token with characters edited away): such a
/// finding warns instead of blocking. The algorithms are in `detect::checksum`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Checksum {
    /// GitHub's token format (`ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_`), which npm's `npm_` tokens
    /// share: a prefix and `_`, 30 random base62 characters, then the CRC32 of those 30
    /// characters in 6 base62 digits.
    Github,
    /// Grafana's service-account tokens: `glsa_`, 32 random characters, `_`, then the CRC32 of
    /// everything before that `_` as 8 hex digits of its little-endian bytes.
    Grafana,
}

impl Checksum {
    /// The name used in `rules.toml`.
    pub fn as_str(self) -> &'static str {
        match self {
            Checksum::Github => "github",
            Checksum::Grafana => "grafana",
        }
    }
}

/// One rule as written in the file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSyntax {
    /// Stable identifier: reports, baselines and fingerprints use it.
    pub id: String,
    /// One line: what was found.
    pub description: String,
    /// What the rule finds.
    pub kind: Kind,
    /// How bad a finding is.
    pub severity: Severity,
    /// Case-insensitive literals; the rule's regexes run only near them. Empty only with
    /// `paths` (the rule's, or each form's): the regexes then run on the whole of every file
    /// those paths select.
    #[serde(default)]
    pub keywords: Vec<String>,
    /// Shorthand for a single pattern.
    #[serde(default)]
    pub regex: Option<String>,
    /// The forms the rule recognises, each with its own regex and paths.
    #[serde(default)]
    pub patterns: Vec<PatternSyntax>,
    /// Minimum Shannon entropy (bits per byte) of the value.
    #[serde(default)]
    pub entropy: Option<f64>,
    /// Only paths matching one of these globs are scanned by this rule.
    #[serde(default)]
    pub paths: Vec<String>,
    /// Paths matching one of these globs are not scanned by this rule.
    #[serde(default)]
    pub skip_paths: Vec<String>,
    /// Regexes on the value: a match means the value is not a finding.
    #[serde(default)]
    pub allow: Vec<String>,
    /// Regexes on the whole line: a match means the line is not a finding.
    #[serde(default)]
    pub allow_lines: Vec<String>,
    /// Regexes on the header of an enclosing indented block (a `class`, an `if`): a match means
    /// the line is gated (development config, environment check) and not a finding.
    #[serde(default)]
    pub skip_if_enclosed_by: Vec<String>,
    /// Regexes of which one must match somewhere in the file (a Flask import, say) for the
    /// rule to apply: context that no single line carries.
    #[serde(default)]
    pub file_requires: Vec<String>,
    /// Regexes of which none may match anywhere in the file (another framework's markers, say
    /// Django's `INSTALLED_APPS`): a match means the rule does not apply to that file.
    #[serde(default)]
    pub skip_if_file_matches: Vec<String>,
    /// Regexes of which one must match in the enclosing Python function, decorators included
    /// (a route that deletes or modifies something).
    #[serde(default)]
    pub block_requires: Vec<String>,
    /// `line` (default): a finding is a match on a line. `tree`: the rule judges a whole tree at
    /// once (the audit's tip): a file matching it is reported only when no file in the tree
    /// matches `unless_in_tree`.
    #[serde(default)]
    pub scope: Scope,
    /// For `scope = "tree"`: regexes of which one matching in any file of the tree (that the
    /// rule's paths select) means nothing is reported.
    #[serde(default)]
    pub unless_in_tree: Vec<String>,
    /// Values that are only development placeholders are reported at a lower severity.
    #[serde(default)]
    pub weak: Option<WeakSyntax>,
    /// Whether the rule also runs on binary content.
    #[serde(default)]
    pub binary: bool,
    /// In Python files, matches inside triple-quoted strings (docstrings: prose and examples)
    /// are not findings.
    #[serde(default)]
    pub skip_in_docstrings: bool,
    /// A catch-all rule: its finding is dropped when another rule found a value on the same bytes.
    #[serde(default)]
    pub fallback: bool,
    /// The value's own format says what it is (a provider's prefix, a checksum, a PEM header):
    /// no path allowlist silences it (a token in `settings.py.example` is as live as anywhere),
    /// and commit and tag messages are scanned for it.
    #[serde(default)]
    pub distinctive: bool,
    /// The provider's checksum, verified on the value of every form of the rule (a form may
    /// name its own): a value in the token's shape whose checksum fails is reported at low
    /// severity (a made-up token), one whose checksum passes keeps the rule's severity.
    #[serde(default)]
    pub checksum: Option<Checksum>,
    /// How to fix it; `{name}` is replaced by the matched setting's name. Empty when the rule
    /// gives `fix` and `rotate` for the file's `remediation_template` instead.
    #[serde(default)]
    pub remediation: String,
    /// The code that reads the value from the environment instead (`{fix}` in the file's
    /// remediation template for the rule's kind).
    #[serde(default)]
    pub fix: Option<String>,
    /// Where and how the provider revokes or rotates the value (`{rotate}` in the template).
    #[serde(default)]
    pub rotate: Option<String>,
    /// Whether the file's `remediation_footer` for this rule's kind is appended (default
    /// `true`): a rule whose remediation already says it all can opt out.
    #[serde(default = "yes")]
    pub footer: bool,
    /// Where to read more.
    #[serde(default)]
    pub references: Vec<String>,
    /// The path given to string examples.
    #[serde(default)]
    pub example_path: Option<String>,
    /// Inputs that must produce a finding of this rule.
    #[serde(default)]
    pub examples: Vec<ExampleSyntax>,
    /// Inputs that must not produce a finding of this rule.
    #[serde(default)]
    pub negative_examples: Vec<ExampleSyntax>,
}

fn yes() -> bool {
    true
}

/// One form of a rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatternSyntax {
    /// The regex; a group named `secret` (or `secret…`) holds the value, `name…` the setting.
    pub regex: String,
    /// Keywords for this form; default: the rule's.
    #[serde(default)]
    pub keywords: Vec<String>,
    /// Only these paths; default: the rule's.
    #[serde(default)]
    pub paths: Vec<String>,
    /// Bytes after the keyword's line the regex may reach (multi-line forms).
    #[serde(default)]
    pub window_after: Option<usize>,
    /// Remediation for this form; default: the rule's.
    #[serde(default)]
    pub remediation: Option<String>,
    /// The checksum of this form's values; default: the rule's.
    #[serde(default)]
    pub checksum: Option<Checksum>,
    /// Regexes on the object the form acts on (the regex's `receiver` group: `app` in
    /// `app.debug = True`): when given, a match is a finding only if its receiver matches one
    /// of these or is a name the file binds by `receivers_bound_by`. `.debug = True` on a
    /// logger or a parser is not Flask's debug mode.
    #[serde(default)]
    pub receivers: Vec<String>,
    /// Regexes run over the whole file, once and only when a receiver is not one of
    /// `receivers`: the `bind` group of each match is a name the file binds to the object the
    /// form is about (`web` in `web = Flask(__name__)`), and a receiver with that name is one.
    #[serde(default)]
    pub receivers_bound_by: Vec<String>,
}

/// When a value is a development placeholder rather than a real secret.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeakSyntax {
    /// The severity given to weak values.
    pub severity: Severity,
    /// Values shorter than this are weak.
    #[serde(default)]
    pub below_len: Option<usize>,
    /// Values with less entropy (bits per byte) than this are weak.
    #[serde(default)]
    pub below_entropy: Option<f64>,
    /// Regexes: a value matching one is weak.
    #[serde(default)]
    pub values: Vec<String>,
    /// Globs: every value in a file at one of these paths is weak (documentation examples).
    #[serde(default)]
    pub paths: Vec<String>,
    /// Regexes on the headers of enclosing indented blocks: a value inside one that matches is
    /// weak (`class TestingConfig(Config):`: a development place).
    #[serde(default)]
    pub enclosed_by: Vec<String>,
    /// Regexes on the value's line that qualify `paths`: when given, a value at one of those
    /// paths is weak only on a line that matches (documentation examples use example hosts; a
    /// real host's password in a README is a leak).
    #[serde(default)]
    pub lines: Vec<String>,
    /// Further places, each with its own lines: CI configuration is a development place for
    /// the passwords of the services a CI run starts itself, not for a token of an outside
    /// service, while documentation is one for every value (`paths` without `lines`).
    #[serde(default)]
    pub places: Vec<WeakPlaceSyntax>,
}

/// A development place of a weak class: paths, and optionally the lines that are weak there.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeakPlaceSyntax {
    /// Globs: the files of this place.
    pub paths: Vec<String>,
    /// Regexes on the value's line: when given, only a matching line is weak there.
    #[serde(default)]
    pub lines: Vec<String>,
}

/// An example: text alone (scanned at the rule's `example_path`) or text with its path.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ExampleSyntax {
    /// Text scanned at the rule's example path.
    Text(String),
    /// Text and the path it is scanned at.
    WithPath {
        /// The path the text is scanned at (rules select by path).
        path: String,
        /// The content.
        text: String,
    },
}
