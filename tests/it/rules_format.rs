//! The shared pieces of the rules format: `[fragments]` (named regex pieces written `{{name}}`)
//! and `[remediation_footer]` (advice appended per kind), and how they combine with the
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
    let from_toml =
        rules::parse(rules::BUILTIN_RULES, rules::BUILTIN_ORIGIN).expect("rules.toml parses");
    let from_json = rules::builtin_syntax().expect("the built-in JSON parses");
    assert_eq!(format!("{from_toml:?}"), format!("{from_json:?}"));
}
