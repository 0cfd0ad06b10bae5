//! The shared pieces of the rules format: `[fragments]` (named regex pieces written `{{name}}`)
//! `[remediation_footer]` (advice appended per kind) and `[remediation_template]` (the frame of
//! a rule's `fix` and `rotate`), and how they combine with the
//! built-in rules when a user file extends them.

use secretgate::rules::{self, Ruleset};

/// A minimal secret rule whose regex is `regex`, with one example and one negative example.
fn rule(id: &str, regex: &str, example: &str, negative: &str, extra: &str) -> String {
    format!(
        r#"
[[rules]]
id = "{id}"
description = "test rule"
kind = "secret"
severity = "high"
keywords = ["tok_"]
regex = '''{regex}'''
remediation = "Move it to the environment."
{extra}
examples = ['{example}']
negative_examples = ['{negative}']
"#
    )
}

/// The same rule without its `remediation` (for `fix` and `rotate`).
fn without_remediation(rule: &str) -> String {
    rule.replace("remediation = \"Move it to the environment.\"\n", "")
}

fn found(rules: &Ruleset, text: &str, id: &str) -> bool {
    rules
        .scan(b"settings.py", text.as_bytes())
        .iter()
        .any(|m| rules.rules[m.rule].id == id)
}

fn remediation<'a>(rules: &'a Ruleset, id: &str) -> &'a str {
    &rules
        .rules
        .iter()
        .find(|r| r.id == id)
        .expect("rule")
        .remediation
}

#[test]
fn fragments_expand_inside_regexes_and_allow_lists() {
    let text = format!(
        "[fragments]\nbody = '''[a-z0-9]{{12}}'''\nwhole = '''tok_{{{{body}}}}'''\n{}",
        rule(
            "frag",
            r"\b(?P<secret>{{whole}})\b",
            "t = tok_a1b2c3d4e5f6",
            "t = tok_a1b2",
            "allow = ['''{{placeholder}}''']\n"
        )
    )
    .replace("{{placeholder}}", "^tok_0+$");
    let rules = rules::load_str(&text, "test.toml").expect("loads");
    assert!(found(&rules, "t = tok_a1b2c3d4e5f6", "frag"));
    assert!(!found(&rules, "t = tok_a1b2", "frag"));
    // A fragment is one group: a quantifier after it applies to all of it.
    assert!(rules.patterns[0]
        .regex
        .source()
        .contains("(?:tok_(?:[a-z0-9]{12}))"));
}

#[test]
fn an_unknown_fragment_is_an_error_that_names_it() {
    let text = rule("frag", r"(?P<secret>tok_{{nothing}})", "tok_1", "x", "");
    let err = rules::load_str(&text, "test.toml").expect_err("unknown fragment");
    assert!(err.to_string().contains("{{nothing}}"), "{err}");
}

#[test]
fn a_fragment_that_uses_itself_is_an_error() {
    let text = format!(
        "[fragments]\nloop = '''a{{{{loop}}}}'''\n{}",
        rule("frag", r"(?P<secret>tok_{{loop}})", "tok_1", "x", "")
    );
    assert!(rules::load_str(&text, "test.toml").is_err());
}

#[test]
fn the_footer_is_appended_per_kind_unless_a_rule_opts_out() {
    let text = format!(
        "[remediation_footer]\nsecret = '''\nRotate it.'''\n{}{}",
        rule(
            "with-footer",
            r"(?P<secret>tok_[a-z0-9]{12})",
            "tok_a1b2c3d4e5f6",
            "x",
            ""
        ),
        rule(
            "without-footer",
            r"(?P<secret>tok_[A-Z0-9]{12})",
            "tok_A1B2C3D4E5F6",
            "x",
            "footer = false\n"
        )
    );
    let rules = rules::load_str(&text, "test.toml").expect("loads");
    assert_eq!(
        remediation(&rules, "with-footer"),
        "Move it to the environment.\nRotate it."
    );
    assert_eq!(
        remediation(&rules, "without-footer"),
        "Move it to the environment."
    );
}

#[test]
fn fix_and_rotate_fill_the_template_of_the_kind_before_the_footer() {
    let extra = "fix = '''\nkey = os.environ[\"{name}\"]\nclient = Client(key)'''\nrotate = '''in the dashboard.'''\n";
    let text = format!(
        "[remediation_template]\nsecret = '''\nRead it from the environment:\n    {{fix}}\nRevoke it: {{rotate}}'''\n[remediation_footer]\nsecret = '''\nRotate it.'''\n{}",
        without_remediation(&rule(
            "templated",
            r"(?P<secret>tok_[a-z0-9]{12})",
            "tok_a1b2c3d4e5f6",
            "x",
            extra
        ))
    );
    let rules = rules::load_str(&text, "test.toml").expect("loads");
    assert_eq!(
        remediation(&rules, "templated"),
        "Read it from the environment:\n    key = os.environ[\"{name}\"]\n    client = Client(key)\nRevoke it: in the dashboard.\nRotate it."
    );
}

#[test]
fn fix_without_a_template_or_beside_a_remediation_is_an_error() {
    let extra = "fix = '''k = os.environ[\"K\"]'''\nrotate = '''in the dashboard.'''\n";
    let one = |extra: &str| {
        rule(
            "t",
            r"(?P<secret>tok_[a-z0-9]{12})",
            "tok_a1b2c3d4e5f6",
            "x",
            extra,
        )
    };
    let err =
        rules::load_str(&without_remediation(&one(extra)), "test.toml").expect_err("no template");
    assert!(
        err.to_string().contains("remediation_template.secret"),
        "{err}"
    );
    let both = format!(
        "[remediation_template]\nsecret = '''{{fix}} {{rotate}}'''\n{}",
        one(extra)
    );
    let err = rules::load_str(&both, "test.toml").expect_err("both");
    assert!(err.to_string().contains("keep one"), "{err}");
    let err = rules::load_str(&one("fix = 'k'\n"), "test.toml").expect_err("fix alone");
    assert!(err.to_string().contains("go together"), "{err}");
}

#[test]
fn built_in_provider_rules_share_one_template() {
    // The frame is written once in rules.toml; every provider rule that gives `fix` gets it.
    let syntax = rules::builtin_syntax().expect("parses");
    let templated = syntax.rules.iter().filter(|r| r.fix.is_some()).count();
    assert!(templated > 150, "{templated}");
    let rules = rules::builtin().expect("built-in rules");
    assert!(remediation(&rules, "stripe-live-secret")
        .starts_with("Read it at run time from the environment or a secret manager, e.g.\n    "));
}

#[test]
fn an_extending_file_uses_built_in_fragments_but_keeps_its_remediations() {
    let text = format!(
        "[extend]\ndefault = true\n{}",
        rule(
            "mine",
            r"\b(?P<secret>tok_[a-z0-9]{12})\b",
            "t = tok_a1b2c3d4e5f6",
            "t = tok_example12345",
            "allow = ['''{{placeholder}}''']\n"
        )
    );
    let rules = rules::load_str(&text, "extend.toml").expect("loads");
    assert_eq!(remediation(&rules, "mine"), "Move it to the environment.");
    assert!(found(&rules, "t = tok_a1b2c3d4e5f6", "mine"));
    assert!(!found(&rules, "t = tok_example12345", "mine"));
    // The built-in rules keep their footer.
    assert!(remediation(&rules, "stripe-live-secret").contains("considered leaked"));
}

#[test]
fn every_built_in_secret_rule_says_the_credential_is_leaked() {
    let rules = rules::builtin().expect("built-in rules");
    for r in rules.rules.iter().filter(|r| r.kind == rules::Kind::Secret) {
        assert!(
            r.remediation.contains("considered leaked"),
            "{}: {}",
            r.id,
            r.remediation
        );
    }
}

#[test]
fn the_json_compiled_at_build_time_is_the_toml() {
    let from_toml = rules::parse_builtin().expect("rules.toml parses");
    let from_json = rules::builtin_syntax().expect("the built-in JSON parses");
    assert_eq!(format!("{from_toml:?}"), format!("{from_json:?}"));
}

/// A `tok_` token whose last 6 characters are the GitHub-format checksum of the 30 before them,
/// and the same token with its last character changed.
const TOK_VALID: &str = "tok_Mq8ZtV3kP1xR7nL2wY9cB4dF6gH0jS2wFGpD";
const TOK_MADE_UP: &str = "tok_Mq8ZtV3kP1xR7nL2wY9cB4dF6gH0jS2wFGpE";

fn only<'a>(
    rules: &Ruleset,
    found: &'a [secretgate::detect::Match],
    id: &str,
) -> &'a secretgate::detect::Match {
    let mine: Vec<_> = found
        .iter()
        .filter(|m| rules.rules[m.rule].id == id)
        .collect();
    assert_eq!(mine.len(), 1, "{found:#?}");
    mine[0]
}

#[test]
fn a_checksum_keeps_valid_tokens_and_demotes_made_up_ones() {
    use secretgate::detect::ValueNote;
    let text = rule(
        "tok",
        r"\b(?P<secret>tok_[0-9A-Za-z]{36})\b",
        &format!("t = {TOK_VALID}"),
        "t = tok_short",
        "checksum = \"github\"\n",
    );
    let rules = rules::load_str(&text, "test.toml").expect("loads");
    let valid = rules.scan(b"app.py", format!("t = {TOK_VALID}").as_bytes());
    let m = only(&rules, &valid, "tok");
    assert_eq!(m.severity, rules::Severity::High);
    assert_eq!(m.note, None);
    let made_up = rules.scan(b"app.py", format!("t = {TOK_MADE_UP}").as_bytes());
    let m = only(&rules, &made_up, "tok");
    assert_eq!(m.severity, rules::Severity::Low);
    assert_eq!(m.note, Some(ValueNote::ChecksumMismatch));
    assert!(ValueNote::ChecksumMismatch.text().contains("checksum"));
}

#[test]
fn a_form_names_its_own_checksum_and_other_shapes_keep_their_severity() {
    let text = format!(
        r#"
[[rules]]
id = "tok"
description = "test rule"
kind = "secret"
severity = "high"
keywords = ["tok_"]
remediation = "Move it to the environment."
examples = ['t = {TOK_VALID}', 't = tok_0173caf3-6fd6-43e7-8632-31aa69a7ee72']
negative_examples = ['t = tok_short']

[[rules.patterns]]
regex = '''\b(?P<secret>tok_[0-9A-Za-z]{{36}})\b'''
checksum = "github"

[[rules.patterns]]
regex = '''\b(?P<secret>tok_[0-9a-f]{{8}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{12}})\b'''
"#
    );
    let rules = rules::load_str(&text, "test.toml").expect("loads");
    assert_eq!(
        rules.patterns[0].checksum,
        Some(rules::syntax::Checksum::Github)
    );
    assert_eq!(rules.patterns[1].checksum, None);
    let made_up = rules.scan(b"app.py", format!("t = {TOK_MADE_UP}").as_bytes());
    assert_eq!(only(&rules, &made_up, "tok").severity, rules::Severity::Low);
    let uuid = rules.scan(b"app.py", b"t = tok_0173caf3-6fd6-43e7-8632-31aa69a7ee72");
    assert_eq!(only(&rules, &uuid, "tok").severity, rules::Severity::High);
}

#[test]
fn a_checksum_must_be_a_known_one_on_a_secret_rule() {
    let unknown = rule(
        "tok",
        r"\b(?P<secret>tok_[0-9A-Za-z]{36})\b",
        TOK_VALID,
        "x",
        "checksum = \"luhn\"\n",
    );
    let err = rules::load_str(&unknown, "test.toml").expect_err("unknown checksum");
    assert!(err.to_string().contains("luhn"), "{err}");
    let setting = rule(
        "tok",
        r"\b(?P<secret>tok_[0-9A-Za-z]{36})\b",
        TOK_VALID,
        "x",
        "checksum = \"github\"\n",
    )
    .replace("kind = \"secret\"", "kind = \"config\"");
    let err = rules::load_str(&setting, "test.toml").expect_err("checksum on a setting");
    assert!(err.to_string().contains("checksum"), "{err}");
}

/// Every built-in rule with a checksum shows both sides in its examples: a token whose
/// checksum passes blocks (the rule's severity), one whose checksum fails warns (low) and says
/// why. Without the check, the made-up examples would block.
#[test]
fn built_in_checksummed_rules_block_valid_tokens_and_warn_on_made_up_ones() {
    use secretgate::detect::checksum::{verify, Verdict};
    let rules = rules::builtin().expect("built-in rules");
    let mut checked = Vec::new();
    for (idx, r) in rules.rules.iter().enumerate() {
        if !r
            .patterns
            .iter()
            .any(|&p| rules.patterns[p].checksum.is_some())
        {
            continue;
        }
        let (mut valid, mut made_up) = (0, 0);
        for ex in &r.examples {
            for m in rules
                .scan(ex.path.as_bytes(), ex.text.as_bytes())
                .iter()
                .filter(|m| m.rule == idx)
            {
                let Some(c) = rules.patterns[m.pattern].checksum else {
                    continue;
                };
                match verify(c, &m.value) {
                    Some(Verdict::Valid) => {
                        valid += 1;
                        assert_eq!(m.severity, r.severity, "{}: {}", r.id, ex.text);
                    }
                    Some(Verdict::Mismatch) => {
                        made_up += 1;
                        assert_eq!(m.severity, rules::Severity::Low, "{}: {}", r.id, ex.text);
                        assert_eq!(
                            m.note,
                            Some(secretgate::detect::ValueNote::ChecksumMismatch)
                        );
                    }
                    None => {}
                }
            }
        }
        assert!(
            valid > 0 && made_up > 0,
            "{}: {valid} valid, {made_up} made up",
            r.id
        );
        checked.push(r.id.as_str());
    }
    for id in [
        "github-pat-classic",
        "github-oauth",
        "github-app-token",
        "github-refresh-token",
        "npm-token",
        "grafana-token",
    ] {
        assert!(checked.contains(&id), "{id} has no checksum: {checked:?}");
    }
}

/// Writes `files` (relative path, text) under a new folder.
fn folder_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }
    dir
}

#[test]
fn included_files_add_rules_that_use_the_including_files_pieces() {
    let main = "include = [\"more/tokens.toml\"]\n[fragments]\nbody = '''[a-z0-9]{12}'''\n[remediation_template]\nsecret = '''Use {fix}. Then {rotate}'''\n";
    let included = without_remediation(&rule(
        "included",
        r"\b(?P<secret>tok_{{body}})\b",
        "t = tok_a1b2c3d4e5f6",
        "t = tok_a1b2",
        "fix = '''os.environ[\"T\"]'''\nrotate = '''rotate it.'''\n",
    ));
    let dir = folder_with(&[("rules.toml", main), ("more/tokens.toml", &included)]);
    let rules = rules::load_file(&dir.path().join("rules.toml")).expect("loads");
    assert!(found(&rules, "t = tok_a1b2c3d4e5f6", "included"));
    assert_eq!(
        remediation(&rules, "included"),
        "Use os.environ[\"T\"]. Then rotate it."
    );
    // What the rules depend on includes the included file: a cache keyed on it sees the change.
    let before = rules.identity();
    std::fs::write(
        dir.path().join("more/tokens.toml"),
        included.replace("test rule", "another test rule"),
    )
    .expect("write");
    let after = rules::load_file(&dir.path().join("rules.toml")).expect("loads");
    assert_ne!(before, after.identity());
}

#[test]
fn an_included_file_holds_rules_only_and_must_exist() {
    let main = "include = [\"extra.toml\"]\n";
    let with_fragments = format!(
        "[fragments]\nbody = 'x'\n{}",
        rule(
            "r",
            r"(?P<secret>tok_[a-z0-9]{12})",
            "tok_a1b2c3d4e5f6",
            "x",
            ""
        )
    );
    let dir = folder_with(&[("rules.toml", main), ("extra.toml", &with_fragments)]);
    let err = rules::load_file(&dir.path().join("rules.toml")).expect_err("fragments");
    assert!(err.to_string().contains("extra.toml"), "{err}");
    assert!(err.to_string().contains("only [[rules]]"), "{err}");
    let dir = folder_with(&[("rules.toml", main)]);
    let err = rules::load_file(&dir.path().join("rules.toml")).expect_err("missing");
    assert!(err.to_string().contains("extra.toml"), "{err}");
    let err = rules::load_str(main, "text").expect_err("no folder");
    assert!(err.to_string().contains("cannot include"), "{err}");
}

#[test]
fn every_file_under_rules_is_built_in_and_checked() {
    // A rules file added to the folder but not to rules.toml's include list would be silently
    // ignored: every one is named, and the built-in set holds each file's rules.
    let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let mut on_disk: Vec<String> = std::fs::read_dir(&folder)
        .expect("rules/")
        .map(|e| format!("rules/{}", e.expect("entry").file_name().to_string_lossy()))
        .collect();
    on_disk.sort();
    let mut built_in: Vec<String> = rules::BUILTIN_INCLUDES
        .iter()
        .map(|(n, _)| (*n).to_owned())
        .collect();
    built_in.sort();
    assert_eq!(on_disk, built_in);
    let syntax = rules::builtin_syntax().expect("built-in");
    for (name, text) in rules::BUILTIN_INCLUDES {
        let one = rules::parse(text, name).expect("parses");
        assert!(!one.rules.is_empty(), "{name}");
        for r in &one.rules {
            assert!(
                syntax.rules.iter().any(|b| b.id == r.id),
                "{name}: {}",
                r.id
            );
        }
    }
}
