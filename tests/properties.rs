//! The fuzz targets' invariants as property tests, with a small fixed number of cases and a fixed
//! seed, so that every `cargo test` (and CI, which has no cargo-fuzz) checks them on inputs
//! shaped to reach the interesting paths: hook input that is nearly right, rules whose regexes
//! are arbitrary, and source text made of the pieces secret rules look for.

#[path = "../fuzz/checks.rs"]
mod checks;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestRunner};

/// A deterministic runner of `cases` cases that writes no files.
fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(0x5ec7_e6a7),
        ..Config::default()
    })
}

#[track_caller]
fn check<S: Strategy>(cases: u32, strategy: S, f: impl Fn(S::Value))
where
    S::Value: std::fmt::Debug,
{
    let result = runner(cases).run(&strategy, |v| {
        f(v);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// Concatenations of pieces (and a few arbitrary bytes).
fn pieces(list: &'static [&'static str], max: usize) -> BoxedStrategy<Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            8 => prop::sample::select(list).prop_map(|s| s.as_bytes().to_vec()),
            1 => prop::collection::vec(any::<u8>(), 0..4),
        ],
        0..max,
    )
    .prop_map(|v| v.concat())
    .boxed()
}

const HEX: &str = "8f42a73054b1749f8f58848be5e6502c8f42a730";
const ZERO: &str = "0000000000000000000000000000000000000000";

#[test]
fn hook_input_is_parsed_or_rejected_with_its_line() {
    check(200, prop::collection::vec(any::<u8>(), 0..200), |v| {
        checks::hook_input(&v)
    });
    const LINE_PIECES: &[&str] = &[
        HEX,
        ZERO,
        "8F42A73054B1749F8F58848BE5E6502C8F42A730",
        "8f42a730",
        " ",
        "  ",
        "\n",
        "\r\n",
        "\r",
        "\t",
        "\0",
        "\x1b[31m",
        "refs/heads/main",
        "refs/tags/v1",
        "HEAD",
        "main",
        "refs/heads/caf\u{e9}",
        "zz",
    ];
    check(400, pieces(LINE_PIECES, 12), |v| checks::hook_input(&v));
}

#[test]
fn rules_with_arbitrary_regexes_load_or_fail_cleanly() {
    let regex = prop::collection::vec(
        prop::sample::select(
            &[
                "a",
                "tok_",
                "(",
                ")",
                "(?P<secret>",
                "(?P<name>",
                "[",
                "]",
                "a-z",
                "0-9",
                "^",
                "$",
                "*",
                "+",
                "?",
                "{2}",
                "{1,3}",
                "{",
                "}",
                "|",
                ".",
                "\\",
                "\\b",
                "\\w",
                "\\s",
                "\\d",
                "\\x1b",
                "(?i)",
                "(?u)",
                "(?m)",
                "\"",
                "'",
                "\n",
                " ",
                "=",
                "\\p{L}",
                "\u{e9}",
            ][..],
        ),
        0..10,
    )
    .prop_map(|v| v.concat());
    let text = pieces(
        &[
            "tok_",
            "a",
            "0123456789abcdef",
            " = ",
            "\"",
            "\n",
            "secretgate:allow",
            "\x1b",
            "A",
            "=",
        ],
        10,
    );
    let strategy = (
        regex.clone(),
        prop::sample::select(&["tok_", "a", "", "\u{e9}", "TOK_"][..]),
        regex,
        text.clone(),
        0u32..200,
        text,
    );
    check(150, strategy, |(re, kw, allow, example, window, scan)| {
        let mut data = Vec::new();
        for (i, part) in [
            re.as_bytes(),
            kw.as_bytes(),
            &example,
            allow.as_bytes(),
            window.to_string().as_bytes(),
            &scan,
        ]
        .iter()
        .enumerate()
        {
            if i > 0 {
                data.push(0xff);
            }
            data.extend_from_slice(part);
        }
        checks::rules_regex(&data);
    });
}

#[test]
fn rules_files_load_or_fail_with_one_configuration_error() {
    const TOML_PIECES: &[&str] = &[
        "[[rules]]\n",
        "id = \"t\"\n",
        "id = \"t\"\n",
        "description = \"d\"\n",
        "kind = \"secret\"\n",
        "kind = \"debug\"\n",
        "severity = \"high\"\n",
        "keywords = [\"tok_\"]\n",
        "keywords = [\"\"]\n",
        "regex = 'tok_(?P<secret>\\w+)'\n",
        "regex = '('\n",
        "remediation = \"r {name}\"\n",
        "examples = [\"tok_abc\"]\n",
        "negative_examples = [\"x\"]\n",
        "paths = [\"*.py\"]\n",
        "paths = [\"[\"]\n",
        "example_path = \"a.py\"\n",
        "entropy = 3.5\n",
        "entropy = 9\n",
        "scope = \"tree\"\n",
        "unless_in_tree = [\"x\"]\n",
        "[[rules.patterns]]\n",
        "window_after = 10\n",
        "[rules.weak]\n",
        "severity = \"low\"\n",
        "below_len = 3\n",
        "[allowlist]\n",
        "values = [\"^x$\"]\n",
        "[policy]\n",
        "time_budget_secs = 0\n",
        "time_budget_secs = 1e300\n",
        "max_blob_bytes = 18446744073709551615\n",
        "block = [\"medium\"]\n",
        "[extend]\n",
        "default = true\n",
        "disabled_rules = [\"flask-debug\"]\n",
        "unknown = 1\n",
        "= \n",
        "\"",
        "\n",
    ];
    check(120, pieces(TOML_PIECES, 16), |v| checks::rules_toml(&v));
}

#[test]
fn detector_matches_agree_with_the_text() {
    const SOURCE_PIECES: &[&str] = &[
        "SECRET_KEY",
        "app.secret_key",
        "app.config[\"SECRET_KEY\"]",
        "JWT_SECRET_KEY",
        "password",
        "api_key",
        " = ",
        "=",
        ": ",
        "\"",
        "'",
        "\"\"\"",
        "'''",
        "\n",
        "\r\n",
        "    ",
        "\t",
        "#",
        "8f42a73054b1749f8f58848be5e6502c",
        "k8#Jd93!xLq0-vV2_pRt7Zy",
        "AKIAIOSFODNN7EXAMPLE",
        "ghp_8kQz3Lm9Xv2Nw7Rt5Yp1Bc4Df6Gh0Jk2Mn4P",
        "os.environ[\"SECRET_KEY\"]",
        "app.run(debug=True)",
        "DEBUG = True",
        "FLASK_DEBUG=1",
        "class DevelopmentConfig(Config):",
        "def view():",
        "@app.route('/x', methods=['POST'])",
        "from flask import Flask",
        "secretgate:allow",
        "export ",
        "ENV ",
        "\x1b[31m",
        "\u{e9}",
        "\u{a0}",
        "\0",
    ];
    let strategy = (any::<u8>(), pieces(SOURCE_PIECES, 40));
    check(250, strategy, |(path, text)| {
        let mut data = vec![path];
        data.extend_from_slice(&text);
        checks::detector(&data);
    });
}

#[test]
fn one_pass_location_helpers_agree_with_the_plain_ones() {
    const LAYOUT: &[&str] = &[
        "\n", "    ", "  ", "\t", "\r", "#", "\"", "'", "\"\"\"", "'''", "\\", "a", "b:",
        "class C:", "def f():", "@d",
    ];
    check(400, pieces(LAYOUT, 60), |v| checks::check_location(&v));
}
