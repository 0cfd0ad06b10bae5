//! Integration tests of `secretgate scan` and `secretgate rules`, through the binary, against the
//! command-line contract (INTERFACE.md) and the Flask fixture tree (tests/fixtures/flask).

use std::collections::BTreeMap;

use crate::common::{
    crate_root, field, keys_of, read_expected, run, run_in, secretgate, tempdir, valid_rule, write,
    Key, FIXTURE,
};
use serde_json::Value;

/// A long, random-looking key, invented for these tests.
const PLANTED: &str = "Zq8vR2#mKx7!pLw4_Tn9uEj3-Yc6HbA1sGd5";

/// A hard-coded key and debug mode in one small app.
fn unsafe_app() -> String {
    format!(
        "import os\n\
         from flask import Flask\n\
         \n\
         app = Flask(__name__)\n\
         app.config[\"SECRET_KEY\"] = \"{PLANTED}\"\n\
         \n\
         if __name__ == \"__main__\":\n\
         \x20   app.run(debug=True)\n"
    )
}

fn findings_of_rule<'a>(findings: &'a [Value], rule: &str) -> Vec<&'a Value> {
    findings
        .iter()
        .filter(|f| field(f, "rule_id") == rule)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The fixture tree

#[test]
fn expected_manifest_is_well_formed() {
    let root = crate_root().join(FIXTURE);
    let expected = read_expected(&root.join("EXPECTED")).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        expected.len() >= 40,
        "EXPECTED lists only {}",
        expected.len()
    );
    let mut problems = Vec::new();
    for k in &expected {
        let text = match std::fs::read_to_string(root.join(&k.path)) {
            Ok(t) => t,
            Err(e) => {
                problems.push(format!("{k}: cannot read the file: {e}"));
                continue;
            }
        };
        let Some(line) = text.lines().nth(k.line as usize - 1) else {
            problems.push(format!(
                "{k}: the file has only {} lines",
                text.lines().count()
            ));
            continue;
        };
        let lower = line.to_ascii_lowercase();
        let plausible = match k.rule.as_str() {
            "flask-secret-key" => lower.contains("secret") || lower.contains("salt"),
            // A form over several lines is reported where it starts (`app.run(` with
            // `debug=True` below it).
            "flask-debug" => {
                lower.contains("debug") || lower.contains("flask_env") || lower.contains(".run(")
            }
            _ => true,
        };
        if !plausible {
            problems.push(format!(
                "{k}: that line does not look like a {} form: {line:?} (line numbers drifted?)",
                k.rule
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "EXPECTED does not match the fixture files:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn expected_manifests_compare_as_multisets() {
    let dir = tempdir();
    let file = write(
        dir.path(),
        "EXPECTED",
        "# two values of one rule on one line\napp.py:3:flask-secret-key:high\napp.py:3:flask-secret-key:high\n",
    );
    let expected = read_expected(&file).unwrap();
    assert_eq!(expected.len(), 2);
    // One finding where two are due is a failure.
    let one = vec![expected[0].clone()];
    assert_eq!(crate::common::missing_from(&expected, &one).len(), 1);
    assert!(crate::common::missing_from(&one, &expected).is_empty());
    assert!(crate::common::missing_from(&expected, &expected).is_empty());
}

#[test]
fn fixture_findings_match_expected() {
    let root = crate_root().join(FIXTURE);
    let expected = read_expected(&root.join("EXPECTED")).unwrap_or_else(|e| panic!("{e}"));
    let r = run_in(None, &["scan", "--format", "json", FIXTURE]);
    assert!(
        r.code == 0 || r.code == 1,
        "the scan itself failed (not a findings mismatch)\n{r}"
    );
    let findings = r.json();
    let prefix = format!("{FIXTURE}/");
    let found_list = keys_of(&findings, &prefix);
    let mut found = found_list.clone();
    found.sort();

    // Details of each unexpected finding, to show the developer what fired.
    let mut detail: BTreeMap<Key, String> = BTreeMap::new();
    for (k, f) in found_list.iter().zip(&findings) {
        detail.entry(k.clone()).or_insert_with(|| {
            format!(
                "col {}, value {}: {}",
                f.get("column").and_then(Value::as_u64).unwrap_or(0),
                field(f, "secret"),
                field(f, "message")
            )
        });
    }

    // As multisets: two values of one rule on one line are two findings, and both are due.
    let missing = crate::common::missing_from(&expected, &found);
    let unexpected = crate::common::missing_from(&found, &expected);
    if missing.is_empty() && unexpected.is_empty() {
        return;
    }
    // Same place and rule, other severity: report once, as a severity mismatch.
    let mut wrong_severity = Vec::new();
    let mut only_missing = Vec::new();
    for m in &missing {
        match unexpected.iter().find(|u| u.place() == m.place()) {
            Some(u) => wrong_severity.push(format!(
                "{}:{}:{}: expected {}, reported {}",
                m.path, m.line, m.rule, m.severity, u.severity
            )),
            None => only_missing.push(m.to_string()),
        }
    }
    let only_unexpected: Vec<String> = unexpected
        .iter()
        .filter(|u| !missing.iter().any(|m| m.place() == u.place()))
        .map(|u| format!("{u}  ({})", detail.get(u).map(String::as_str).unwrap_or("")))
        .collect();
    let section = |title: &str, items: &[String]| {
        if items.is_empty() {
            String::new()
        } else {
            format!("\n{title} ({}):\n  {}\n", items.len(), items.join("\n  "))
        }
    };
    panic!(
        "`secretgate scan {FIXTURE}` does not report what {FIXTURE}/EXPECTED lists \
         ({} expected, {} reported, {} distinct).\n{}{}{}",
        expected.len(),
        findings.len(),
        found.len(),
        section(
            "MISSING: expected, not reported (a rule misses this form)",
            &only_missing
        ),
        section(
            "UNEXPECTED: reported, not expected (a false positive, or EXPECTED is out of date)",
            &only_unexpected
        ),
        section("WRONG SEVERITY", &wrong_severity),
    );
}

// ---------------------------------------------------------------------------------------------
// Exit codes

#[test]
fn exit_1_when_a_high_finding_exists() {
    let dir = tempdir();
    write(dir.path(), "app.py", &unsafe_app());
    let r = run_in(Some(dir.path()), &["scan", "--format", "json", "."]);
    r.expect_code(1);
    let findings = r.json();
    assert!(
        findings.iter().any(|f| field(f, "severity") == "high"),
        "exit 1 but no high finding\n{r}"
    );
}

#[test]
fn exit_0_when_only_low_findings() {
    let dir = tempdir();
    write(
        dir.path(),
        "app.py",
        "from flask import Flask\n\napp = Flask(__name__)\napp.secret_key = \"dev\"\n",
    );
    let r = run_in(Some(dir.path()), &["scan", "--format", "json", "."]);
    r.expect_code(0);
    let findings = r.json();
    assert!(
        !findings.is_empty(),
        "a development SECRET_KEY (\"dev\") must be reported, at low severity\n{r}"
    );
    assert!(
        findings.iter().all(|f| field(f, "severity") == "low"),
        "only low findings expected\n{r}"
    );
}

#[test]
fn exit_0_when_nothing_found() {
    let dir = tempdir();
    write(
        dir.path(),
        "app.py",
        "import os\nfrom flask import Flask\n\napp = Flask(__name__)\n\
         app.config[\"SECRET_KEY\"] = os.environ[\"SECRET_KEY\"]\n",
    );
    let r = run_in(Some(dir.path()), &["scan", "--format", "json", "."]);
    r.expect_code(0);
    assert!(r.json().is_empty(), "no finding expected\n{r}");
    run_in(Some(dir.path()), &["scan", "."]).expect_code(0);
}

#[test]
fn exit_2_for_a_bad_flag() {
    let dir = tempdir();
    run_in(Some(dir.path()), &["scan", "--no-such-flag", "."]).expect_code(2);
    run_in(Some(dir.path()), &["scan", "--format", "xml", "."]).expect_code(2);
    run_in(Some(dir.path()), &["no-such-command"]).expect_code(2);
}

#[test]
fn exit_3_for_a_nonexistent_path() {
    let dir = tempdir();
    let r = run_in(Some(dir.path()), &["scan", "no/such/path"]);
    r.expect_code(3);
    assert!(
        r.stderr.contains("no/such/path"),
        "the error should name the path\n{r}"
    );
}

/// Scans an empty folder with `--config` set to a rules file holding `rules`; expects exit 2
/// and returns standard error.
#[track_caller]
fn broken_config(rules: &str) -> String {
    let dir = tempdir();
    let cfg = write(dir.path(), "rules.toml", rules);
    write(dir.path(), "tree/app.py", "print('hello')\n");
    let r = run_in(
        Some(dir.path()),
        &["scan", "--config", cfg.to_str().unwrap(), "tree"],
    );
    r.expect_code(2);
    assert!(
        !r.stderr.trim().is_empty(),
        "a broken rules file needs a message\n{r}"
    );
    r.stderr
}

#[test]
fn a_valid_config_file_is_accepted() {
    // The base of the broken files below: it must itself load.
    let dir = tempdir();
    let cfg = write(dir.path(), "rules.toml", &valid_rule("test-token"));
    write(dir.path(), "tree/app.py", "token = tok_0123456789abcdef\n");
    let r = run_in(
        Some(dir.path()),
        &[
            "scan",
            "--format",
            "json",
            "--config",
            cfg.to_str().unwrap(),
            "tree",
        ],
    );
    r.expect_code(1);
    let findings = r.json();
    assert_eq!(findings.len(), 1, "{r}");
    assert_eq!(field(&findings[0], "rule_id"), "test-token");
}

#[test]
fn exit_2_for_a_toml_syntax_error() {
    let text = format!("{}\n[[rules]\nid = \"oops\"\n", valid_rule("test-token"));
    let err = broken_config(&text);
    assert!(
        err.contains("line"),
        "a TOML error should say which line: {err}"
    );
}

#[test]
fn exit_2_for_an_invalid_regex() {
    let good = r"regex = '''\btok_(?P<secret>[0-9a-f]{16})\b'''";
    let bad = r"regex = '''tok_(?P<secret>[0-9a-f'''";
    let text = valid_rule("bad-regex-rule").replace(good, bad);
    assert!(text.contains(bad), "test setup: {text}");
    let err = broken_config(&text);
    assert!(
        err.contains("bad-regex-rule"),
        "an invalid regex should name its rule: {err}"
    );
}

#[test]
fn exit_2_for_an_unknown_field() {
    let text = valid_rule("test-token").replace(
        "kind = \"secret\"",
        "kind = \"secret\"\nseverty_override = \"low\"",
    );
    let err = broken_config(&text);
    assert!(
        err.contains("severty_override"),
        "an unknown field should be named: {err}"
    );
}

#[test]
fn exit_2_for_a_duplicate_rule_id() {
    let text = format!("{}{}", valid_rule("twice"), valid_rule("twice"));
    let err = broken_config(&text);
    assert!(
        err.contains("twice") && err.to_lowercase().contains("duplicate"),
        "a duplicate id should be named as such: {err}"
    );
}

#[test]
fn exit_2_for_a_rule_without_examples() {
    let text =
        valid_rule("no-examples").replace("examples = [\"token = tok_0123456789abcdef\"]\n", "");
    assert!(!text.contains("\nexamples"), "test setup: {text}");
    let err = broken_config(&text);
    assert!(
        err.contains("no-examples") && err.contains("example"),
        "a rule without examples should be named: {err}"
    );
}

// ---------------------------------------------------------------------------------------------
// Formats

/// Scans the unsafe app in a fresh folder with `args` after `scan`.
fn scan_unsafe_app(args: &[&str]) -> crate::common::Run {
    let dir = tempdir();
    write(dir.path(), "app.py", &unsafe_app());
    let mut all = vec!["scan"];
    all.extend_from_slice(args);
    all.push("app.py");
    run_in(Some(dir.path()), &all)
}

#[test]
fn json_findings_have_every_contract_field() {
    let r = scan_unsafe_app(&["--format", "json"]);
    r.expect_code(1);
    let findings = r.json();
    assert!(!findings.is_empty(), "{r}");
    for f in &findings {
        let obj = f.as_object().expect("a finding is an object");
        for name in [
            "rule_id",
            "kind",
            "severity",
            "path",
            "line",
            "column",
            "commit",
            "author",
            "date",
            "ref",
            "secret",
            "entropy",
            "fingerprint",
            "message",
            "remediation",
        ] {
            assert!(obj.contains_key(name), "field {name} missing in {f}");
        }
        for name in [
            "rule_id",
            "path",
            "secret",
            "fingerprint",
            "message",
            "remediation",
        ] {
            assert!(
                f[name].as_str().is_some_and(|s| !s.is_empty()),
                "{name} should be a non-empty string in {f}"
            );
        }
        assert!(
            matches!(field(f, "kind"), "secret" | "debug" | "config"),
            "{f}"
        );
        assert!(
            matches!(field(f, "severity"), "high" | "medium" | "low"),
            "{f}"
        );
        assert_eq!(field(f, "path"), "app.py", "{f}");
        assert!(f["line"].as_u64().is_some_and(|n| n >= 1), "{f}");
        assert!(f["column"].as_u64().is_some_and(|n| n >= 1), "{f}");
        for name in ["commit", "author", "date", "ref"] {
            assert!(f[name].is_null(), "{name} must be null for scan: {f}");
        }
        assert!(f["entropy"].is_null() || f["entropy"].is_number(), "{f}");
        assert!(
            !field(f, "message").contains('\n'),
            "message is one line: {f}"
        );
    }
    let debug = findings_of_rule(&findings, "flask-debug");
    assert_eq!(debug.len(), 1, "{r}");
    assert_eq!(debug[0]["line"], 8, "{r}");
    assert_eq!(debug[0]["column"], 19, "column of `True`\n{r}");
    assert_eq!(field(debug[0], "kind"), "debug");
}

#[test]
fn jsonl_prints_one_object_per_line() {
    let array = scan_unsafe_app(&["--format", "json"]).json();
    let r = scan_unsafe_app(&["--format", "jsonl"]);
    r.expect_code(1);
    let lines = r.jsonl();
    assert_eq!(lines.len(), array.len(), "{r}");
    assert_eq!(
        r.stdout.lines().filter(|l| !l.trim().is_empty()).count(),
        array.len()
    );
    for (a, b) in array.iter().zip(&lines) {
        assert_eq!(a, b, "json and jsonl disagree");
    }
}

#[test]
fn sarif_has_rules_help_locations_and_fingerprints() {
    let r = scan_unsafe_app(&["--format", "sarif"]);
    r.expect_code(1);
    let log: Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}\n{r}"));
    assert_eq!(log["version"], "2.1.0");
    let run0 = &log["runs"][0];
    let rules = run0["tool"]["driver"]["rules"]
        .as_array()
        .unwrap_or_else(|| panic!("no runs[0].tool.driver.rules\n{r}"));
    assert!(!rules.is_empty());
    for rule in rules {
        assert!(rule["id"].as_str().is_some_and(|s| !s.is_empty()), "{rule}");
        assert!(
            rule["help"]["text"].as_str().is_some_and(|s| !s.is_empty()),
            "rule without help text: {rule}"
        );
    }
    let ids: Vec<&str> = rules.iter().filter_map(|x| x["id"].as_str()).collect();
    let results = run0["results"].as_array().expect("results");
    assert!(!results.is_empty(), "{r}");
    for res in results {
        let id = res["ruleId"].as_str().expect("ruleId");
        assert!(
            ids.contains(&id),
            "result's rule {id} is not in the driver's rules"
        );
        let loc = &res["locations"][0]["physicalLocation"];
        assert_eq!(loc["artifactLocation"]["uri"], "app.py", "{res}");
        assert!(
            loc["region"]["startLine"].as_u64().is_some_and(|n| n >= 1),
            "{res}"
        );
        let fp = res["partialFingerprints"]
            .as_object()
            .unwrap_or_else(|| panic!("no partialFingerprints: {res}"));
        assert!(!fp.is_empty(), "{res}");
    }
    assert!(
        results.iter().any(|x| x["ruleId"] == "flask-debug"
            && x["locations"][0]["physicalLocation"]["region"]["startLine"] == 8),
        "{r}"
    );
}

#[test]
fn human_report_shows_path_line_column() {
    let json = scan_unsafe_app(&["--format", "json"]).json();
    let r = scan_unsafe_app(&[]);
    r.expect_code(1);
    for f in &json {
        let place = format!("{}:{}:{}", field(f, "path"), f["line"], f["column"]);
        assert!(r.stdout.contains(&place), "human report lacks {place}\n{r}");
        assert!(r.stdout.contains(field(f, "rule_id")), "{r}");
    }
}

#[test]
fn human_report_has_no_colour_off_a_terminal() {
    let dir = tempdir();
    write(dir.path(), "app.py", &unsafe_app());
    // stdout is a pipe here, so no colour even without NO_COLOR...
    let r = run_in(Some(dir.path()), &["scan", "app.py"]);
    r.expect_code(1);
    assert!(!r.stdout.is_empty());
    assert!(!r.stdout.contains('\x1b'), "ESC in piped output\n{r}");
    assert!(!r.stderr.contains('\x1b'), "ESC in stderr\n{r}");
    // ...and none with NO_COLOR.
    let mut cmd = secretgate();
    cmd.current_dir(dir.path())
        .env("NO_COLOR", "1")
        .args(["scan", "app.py"]);
    let r = run(&mut cmd);
    r.expect_code(1);
    assert!(!r.all_output().contains('\x1b'), "ESC with NO_COLOR\n{r}");
}

// ---------------------------------------------------------------------------------------------
// Redaction

#[test]
fn no_format_or_verbosity_prints_the_secret() {
    let dir = tempdir();
    write(
        dir.path(),
        "config.py",
        &format!("SECRET_KEY = \"{PLANTED}\"\n"),
    );
    write(dir.path(), "app.py", &unsafe_app());
    let windows: Vec<&str> = (0..=PLANTED.len() - 8)
        .map(|i| &PLANTED[i..i + 8])
        .collect();
    for format in ["human", "json", "jsonl", "sarif"] {
        for verbosity in [None, Some("-v"), Some("-vvv")] {
            let mut args = vec!["scan", "--format", format];
            args.extend(verbosity);
            args.push(".");
            let r = run_in(Some(dir.path()), &args);
            r.expect_code(1);
            let out = r.all_output();
            assert!(
                !out.contains(PLANTED),
                "the full secret leaked with {args:?}\n{r}"
            );
            if let Some(w) = windows.iter().find(|w| out.contains(**w)) {
                panic!("8 characters of the secret ({w:?}) leaked with {args:?}\n{r}");
            }
        }
    }
    // The `secret` field: at most the first 4 characters, then the length.
    let r = run_in(Some(dir.path()), &["scan", "--format", "json", "."]);
    let findings = r.json();
    let planted: Vec<&Value> = findings_of_rule(&findings, "flask-secret-key")
        .into_iter()
        .filter(|f| field(f, "secret").ends_with(&format!("…({} chars)", PLANTED.len())))
        .collect();
    assert_eq!(
        planted.len(),
        2,
        "the planted key should be found in config.py and app.py, redacted as \
         \"<prefix>…({} chars)\"\n{r}",
        PLANTED.len()
    );
    for f in planted {
        let secret = field(f, "secret");
        let prefix = secret.split('…').next().unwrap_or("");
        assert!(
            prefix.chars().count() <= 4,
            "more than 4 characters shown: {secret}"
        );
        assert!(
            PLANTED.starts_with(prefix),
            "not a prefix of the value: {secret}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Standard input

#[test]
fn stdin_is_scanned_under_the_given_name() {
    let mut cmd = secretgate();
    cmd.args([
        "scan",
        "--format",
        "json",
        "-",
        "--stdin-filename",
        "app.py",
    ])
    .write_stdin(unsafe_app());
    let r = run(&mut cmd);
    r.expect_code(1);
    let findings = r.json();
    let debug = findings_of_rule(&findings, "flask-debug");
    assert_eq!(debug.len(), 1, "{r}");
    assert_eq!(field(debug[0], "path"), "app.py");
    assert_eq!(debug[0]["line"], 8);
    assert_eq!(
        findings_of_rule(&findings, "flask-secret-key").len(),
        1,
        "{r}"
    );
}

#[test]
fn stdin_filename_decides_which_paths_are_skipped() {
    // The same content, named as a template (never scanned) or as documentation (not scanned by
    // the Flask rules), produces nothing.
    for name in [".env.example", "docs/configuration.rst", "README.md"] {
        let mut cmd = secretgate();
        cmd.args(["scan", "--format", "json", "-", "--stdin-filename", name])
            .write_stdin(unsafe_app());
        let r = run(&mut cmd);
        r.expect_code(0);
        assert!(r.json().is_empty(), "{name} should not be scanned\n{r}");
    }
}

// ---------------------------------------------------------------------------------------------
// Baseline

#[test]
fn baseline_suppresses_known_findings() {
    let dir = tempdir();
    write(dir.path(), "tree/app.py", &unsafe_app());
    let report = dir.path().join("baseline.json");
    let r = run_in(
        Some(dir.path()),
        &[
            "scan",
            "--format",
            "json",
            "--output",
            report.to_str().unwrap(),
            "tree",
        ],
    );
    r.expect_code(1);
    let known: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(&report).expect("report written"))
            .expect("the report is a JSON array");
    assert!(!known.is_empty());
    let r = run_in(
        Some(dir.path()),
        &[
            "scan",
            "--format",
            "json",
            "--baseline",
            report.to_str().unwrap(),
            "tree",
        ],
    );
    r.expect_code(0);
    assert!(
        r.json().is_empty(),
        "the baseline should hide every finding\n{r}"
    );

    // A new finding is still reported.
    write(dir.path(), "tree/other.py", "app.debug = True\n");
    let r = run_in(
        Some(dir.path()),
        &[
            "scan",
            "--format",
            "json",
            "--baseline",
            report.to_str().unwrap(),
            "tree",
        ],
    );
    let findings = r.json();
    assert!(
        findings
            .iter()
            .all(|f| field(f, "path").ends_with("other.py")),
        "{r}"
    );
    assert!(
        !findings.is_empty(),
        "a new finding must still be reported\n{r}"
    );
}

// ---------------------------------------------------------------------------------------------
// Remediation

#[test]
fn remediation_loads_the_value_from_the_environment() {
    let r = scan_unsafe_app(&["--format", "json"]);
    let findings = r.json();
    let key = findings_of_rule(&findings, "flask-secret-key");
    assert_eq!(key.len(), 1, "{r}");
    assert!(
        field(key[0], "remediation").contains(r#"os.environ["SECRET_KEY"]"#),
        "SECRET_KEY remediation: {}",
        field(key[0], "remediation")
    );
    let debug = findings_of_rule(&findings, "flask-debug");
    assert_eq!(debug.len(), 1, "{r}");
    assert!(
        field(debug[0], "remediation").contains("FLASK_DEBUG"),
        "debug remediation: {}",
        field(debug[0], "remediation")
    );
}

// ---------------------------------------------------------------------------------------------
// Rules

#[test]
fn builtin_rules_pass_their_own_examples() {
    let r = run_in(None, &["rules", "check"]);
    r.expect_code(0);
    assert!(r.stdout.contains(" 0 failed"), "{r}");
}

#[test]
fn rules_check_checks_the_config_file_given() {
    let dir = tempdir();
    let bad = valid_rule("tok").replace(
        "examples = [\"token = tok_0123456789abcdef\"]",
        "examples = [\"token = tok_nothexnothexnot\"]",
    );
    let file = write(dir.path(), "rules.toml", &bad);
    let f = file.to_str().unwrap();
    for args in [
        vec!["--config", f, "rules", "check"],
        vec!["rules", "check", "--config", f],
        vec!["rules", "check", f],
    ] {
        let r = run_in(None, &args);
        r.expect_code(1);
        assert!(r.stdout.contains("FAIL rule tok"), "{r}");
        assert!(r.stdout.contains("1 rules"), "{r}");
    }
}

#[test]
fn jobs_has_an_upper_bound() {
    for jobs in ["0", "257", "100000"] {
        let r = run_in(None, &["scan", "--jobs", jobs, "src/lib.rs"]);
        r.expect_code(2);
        assert!(r.stderr.contains("secretgate: error: --jobs"), "{r}");
    }
    run_in(None, &["scan", "--jobs", "256", "src/lib.rs"]).expect_code(0);
}

#[test]
fn rules_list_shows_the_flask_rules() {
    let r = run_in(None, &["rules", "list"]);
    r.expect_code(0);
    for id in ["flask-secret-key", "flask-debug"] {
        assert!(r.stdout.contains(id), "{id} not listed\n{r}");
    }
    let r = run_in(None, &["rules", "list", "--format", "json"]);
    r.expect_code(0);
    let listed = r.json();
    for id in ["flask-secret-key", "flask-debug"] {
        assert!(
            listed.iter().any(|x| field(x, "id") == id),
            "{id} not in the JSON list\n{r}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Inline allow

#[test]
fn secretgate_allow_suppresses_its_line() {
    let dir = tempdir();
    write(
        dir.path(),
        "app.py",
        "from flask import Flask\n\
         app = Flask(__name__)\n\
         app.run(debug=True)  # secretgate:allow\n\
         app.run(debug=True)\n",
    );
    let r = run_in(Some(dir.path()), &["scan", "--format", "json", "."]);
    r.expect_code(1);
    let lines: Vec<u64> = r.json().iter().filter_map(|f| f["line"].as_u64()).collect();
    assert_eq!(lines, vec![4], "only the line without the marker\n{r}");

    write(
        dir.path(),
        "app.py",
        "app.run(debug=True)  # secretgate:allow\n",
    );
    let r = run_in(Some(dir.path()), &["scan", "--format", "json", "."]);
    r.expect_code(0);
    assert!(r.json().is_empty(), "{r}");
}

#[test]
fn a_folders_own_allowlist_applies_to_its_scan() {
    let dir = tempdir();
    let key = "SECRET_KEY = \"8f42a73054b1749f8f58848be5e6502c\"\n";
    write(dir.path(), "fixtures/config.py", key);
    write(dir.path(), "app/config.py", key);
    let root = dir.path().to_str().unwrap();
    let r = run_in(None, &["scan", "--format", "json", root]);
    assert_eq!(r.json().len(), 2, "{r}");
    write(
        dir.path(),
        ".secretgate.toml",
        "[allowlist]\npaths = [\"fixtures/**\"]\n",
    );
    // Not trusted by default: the tree being scanned could silence its own scan. Said on
    // stderr.
    let r = run_in(None, &["scan", "--format", "json", root]);
    assert_eq!(r.json().len(), 2, "{r}");
    assert!(
        r.stderr.contains(".secretgate.toml: ignored") && r.stderr.contains("--repo-config"),
        "{r}"
    );
    let r = run_in(None, &["scan", "--repo-config", "--format", "json", root]);
    let found = r.json();
    assert_eq!(found.len(), 1, "{r}");
    assert!(field(&found[0], "path").ends_with("app/config.py"), "{r}");
    assert!(!r.stderr.contains("ignored"), "{r}");
    write(dir.path(), ".secretgate.toml", "[policy]\nblock = []\n");
    let r = run_in(None, &["scan", "--repo-config", root]);
    assert_eq!(r.code, 2, "a folder cannot change the policy\n{r}");
    run_in(None, &["scan", root]).expect_code(1);
}

#[test]
fn documentation_examples_of_passwords_warn_instead_of_blocking() {
    let dir = tempdir();
    let url = "postgresql://app:Zq8xL2mP9vK4nB7c@db.internal/app";
    write(
        dir.path(),
        "docs/setup.rst",
        &format!("Connect with ``{url}``.\n"),
    );
    write(
        dir.path(),
        "app/db.py",
        &format!("DATABASE_URL = \"{url}\"\n"),
    );
    let r = run_in(
        None,
        &["scan", "--format", "json", dir.path().to_str().unwrap()],
    );
    let mut got: Vec<(String, String)> = r
        .json()
        .iter()
        .map(|f| {
            let p = field(f, "path");
            let short = if p.ends_with("setup.rst") {
                "docs"
            } else {
                "code"
            };
            (short.to_owned(), field(f, "severity").to_owned())
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("code".to_owned(), "high".to_owned()),
            ("docs".to_owned(), "medium".to_owned())
        ],
        "{r}"
    );
}

// ---------------------------------------------------------------------------------------------
// Docstrings

#[test]
fn code_after_an_escaped_quote_in_a_docstring_is_scanned() {
    let dir = tempdir();
    let code = "SECRET_KEY = \"8f42c1d9e7b3a5f60c2d4e8a1b9f7c3e\"\napp.run(debug=True)\n";
    // The lines of the Flask rules that skip docstrings, in a scan of `text` as app.py.
    let scan = |text: &str| {
        write(dir.path(), "app.py", text);
        let r = run_in(Some(dir.path()), &["scan", "--format", "json", "app.py"]);
        let findings = r.json();
        let lines = |rule| -> Vec<u64> {
            findings_of_rule(&findings, rule)
                .iter()
                .filter_map(|f| f["line"].as_u64())
                .collect()
        };
        (lines("flask-secret-key"), lines("flask-debug"), r)
    };
    // In a docstring, the lines are an example, not configuration.
    let (key, debug, r) = scan(&format!("\"\"\"Example:\n{code}\"\"\"\n"));
    assert!(key.is_empty() && debug.is_empty(), "{r}");
    // Here the string is `a\"""` and a newline, closed by the quotes that start line 2: the
    // lines after it are code.
    let (key, debug, r) = scan(&format!("N = \"\"\"a\\\"\"\"\n\"\"\"\n{code}"));
    r.expect_code(1);
    assert_eq!(key, vec![3], "{r}");
    assert_eq!(debug, vec![4], "{r}");
}

// ---------------------------------------------------------------------------------------------
// Symbolic links and special files

/// A FIFO at `p`, made with the `mkfifo` binary.
fn mkfifo(p: &std::path::Path) {
    let ok = std::process::Command::new("mkfifo")
        .arg(p)
        .status()
        .expect("mkfifo runs");
    assert!(ok.success(), "mkfifo {}", p.display());
}

#[test]
fn a_file_named_through_a_symlink_is_scanned_and_special_files_are_named() {
    let tmp = tempdir();
    let d = tmp.path();
    write(d, "mounted/app.py", &unsafe_app());
    std::os::unix::fs::symlink(d.join("mounted/app.py"), d.join("link.py")).unwrap();
    std::os::unix::fs::symlink(d.join("mounted"), d.join("dirlink")).unwrap();
    mkfifo(&d.join("fifo"));
    std::fs::create_dir(d.join("tree")).unwrap();
    mkfifo(&d.join("tree/pipe"));
    // A link inside a tree, to a file outside it: not followed.
    std::os::unix::fs::symlink(d.join("mounted/app.py"), d.join("tree/outside.py")).unwrap();

    // Named explicitly through a link (as a Kubernetes config mount is): its target is scanned,
    // reported under the name given (a folder's files from the folder: no repository here).
    let r = run_in(Some(d), &["scan", "--format", "json", "link.py"]);
    r.expect_code(1);
    let found = r.json();
    assert!(!found.is_empty(), "{r}");
    assert!(found.iter().all(|f| field(f, "path") == "link.py"), "{r}");
    let r = run_in(Some(d), &["scan", "--format", "json", "dirlink"]);
    r.expect_code(1);
    assert!(r.json().iter().all(|f| field(f, "path") == "app.py"), "{r}");

    // A FIFO (named, or inside a tree) is not read and is named as not scanned.
    let r = run_in(Some(d), &["scan", "fifo"]);
    r.expect_code(0);
    assert!(r.stdout.contains("fifo: a FIFO, not a regular file"), "{r}");
    let r = run_in(Some(d), &["scan", "tree"]);
    r.expect_code(0);
    assert!(
        r.stdout.contains("tree/pipe: a FIFO, not a regular file"),
        "{r}"
    );
    assert!(
        r.stdout.contains("0 scanned"),
        "the outside link is not followed: {r}"
    );
    let r = run_in(Some(d), &["scan", "/dev/null"]);
    assert!(r.stdout.contains("/dev/null: a character device"), "{r}");
}

// ---------------------------------------------------------------------------------------------
// Files over the size cap

#[test]
fn files_over_the_cap_are_named_in_every_format_and_block_by_policy() {
    let tmp = tempdir();
    let d = tmp.path();
    let mut big = unsafe_app();
    big.push_str(&"# padding\n".repeat(40));
    write(d, "tree/big.py", &big);
    let warn = write(
        d,
        "warn.toml",
        "[extend]\ndefault = true\n[policy]\nmax_blob_bytes = 200\n",
    );
    let block = write(
        d,
        "block.toml",
        "[extend]\ndefault = true\n[policy]\nmax_blob_bytes = 200\noversize = \"block\"\n",
    );
    let (warn, block) = (warn.to_str().unwrap(), block.to_str().unwrap());

    // Findings-only formats stay findings only, and stderr names the file.
    for format in ["json", "jsonl"] {
        let r = run_in(
            Some(d),
            &["scan", "tree", "--format", format, "--config", warn],
        );
        r.expect_code(0);
        assert!(r.stdout.trim().is_empty() || r.stdout.trim() == "[]", "{r}");
        assert!(r.stderr.contains("big.py"), "{r}");
        let r = run_in(
            Some(d),
            &["scan", "tree", "--format", format, "--config", block],
        );
        r.expect_code(1);
        assert!(r.stderr.contains("oversize = \"block\""), "{r}");
        assert!(r.stderr.contains("big.py"), "{r}");
    }
    // Human: in the report, and blocking by policy.
    let r = run_in(Some(d), &["scan", "tree", "--config", warn]);
    r.expect_code(0);
    assert!(r.stdout.contains("big.py"), "{r}");
    run_in(Some(d), &["scan", "tree", "--config", block]).expect_code(1);
    // SARIF: one notification per file not scanned.
    let r = run_in(
        Some(d),
        &["scan", "tree", "--format", "sarif", "--config", warn],
    );
    r.expect_code(0);
    let log: Value = serde_json::from_str(&r.stdout).unwrap();
    let notes = log["runs"][0]["invocations"][0]["toolExecutionNotifications"]
        .as_array()
        .unwrap_or_else(|| panic!("no notifications: {r}"));
    assert_eq!(notes.len(), 1, "{r}");
    assert!(
        notes[0]["message"]["text"]
            .as_str()
            .unwrap()
            .contains("big.py"),
        "{r}"
    );
    // Standard input over the cap.
    let mut cmd = secretgate();
    cmd.current_dir(d)
        .args(["scan", "-", "--format", "json", "--config", block])
        .write_stdin(big.clone());
    let r = run(&mut cmd);
    r.expect_code(1);
    assert!(r.stderr.contains("standard input"), "{r}");
}

// ---------------------------------------------------------------------------------------------
// Errors: one style, said once

#[test]
fn an_unwritable_output_is_refused_before_any_work() {
    let dir = tempdir();
    let missing = dir.path().join("no-such-folder/report.json");
    let r = run_in(
        None,
        &[
            "scan",
            FIXTURE,
            "--format",
            "json",
            "--output",
            missing.to_str().unwrap(),
        ],
    );
    r.expect_code(2);
    assert_eq!(r.stdout, "", "{r}");
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{r}");
    assert!(lines[0].starts_with("secretgate: error: --output "), "{r}");
    // The cause once, not repeated by the error's chain.
    assert_eq!(
        lines[0].matches("No such file or directory").count(),
        1,
        "{r}"
    );
    // A folder is no report file either; a file that can be written is left as it was.
    run_in(
        None,
        &["audit", ".", "--output", dir.path().to_str().unwrap()],
    )
    .expect_code(2);
    let ok = dir.path().join("ok.json");
    run_in(None, &["rules", "list", "--output", ok.to_str().unwrap()]).expect_code(0);
    assert!(ok.exists());
    // A FIFO is opened once, for the report: the reader gets it whole.
    let fifo = dir.path().join("report.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
    };
    run_in(
        None,
        &[
            "rules",
            "list",
            "--format",
            "json",
            "--output",
            fifo.to_str().unwrap(),
        ],
    )
    .expect_code(0);
    let got = reader.join().unwrap();
    assert!(got.trim_end().ends_with(']'), "{got}");
}

#[test]
fn an_unreadable_path_is_one_error_line_in_the_one_style() {
    let r = run_in(None, &["scan", "/nonexistent/secretgate-test"]);
    r.expect_code(3);
    let errors: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.contains("nonexistent"))
        .collect();
    assert_eq!(errors.len(), 1, "{r}");
    assert!(
        errors[0].starts_with("secretgate: error: /nonexistent/secretgate-test: "),
        "{r}"
    );
    assert_eq!(errors[0].matches("os error").count(), 1, "{r}");
    // Every diagnostic line has the binary's style, not a logger's.
    for l in r.stderr.lines() {
        assert!(l.starts_with("secretgate: "), "{r}");
    }
}

#[test]
fn an_invalid_repository_config_is_named_as_the_repositorys_own() {
    let dir = tempdir();
    write(dir.path(), ".secretgate.toml", "[allowlist\n");
    let r = run_in(
        None,
        &["scan", "--repo-config", dir.path().to_str().unwrap()],
    );
    r.expect_code(2);
    assert!(
        r.stderr
            .contains("secretgate: error: the repository's own .secretgate.toml ("),
        "{r}"
    );
}

// ---------------------------------------------------------------------------------------------
// Paths: the same however the folder was typed

/// Fingerprints and paths of a json scan of `target` run in `cwd`.
fn fingerprints(cwd: &std::path::Path, target: &str) -> Vec<(String, String)> {
    let r = run_in(Some(cwd), &["scan", "--format", "json", target]);
    r.expect_code(1);
    let mut v: Vec<(String, String)> = r
        .json()
        .iter()
        .map(|f| {
            (
                field(f, "path").to_owned(),
                field(f, "fingerprint").to_owned(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn paths_and_fingerprints_do_not_depend_on_how_the_folder_was_typed() {
    let tmp = tempdir();
    let d = tmp.path();
    write(d, "proj/app/app.py", &unsafe_app());
    let proj = d.join("proj");
    let abs = proj.to_str().unwrap();
    // Outside a repository: from the folder scanned.
    let dot = fingerprints(&proj, ".");
    assert_eq!(dot[0].0, "app/app.py", "{dot:?}");
    assert_eq!(fingerprints(&proj, "app")[0].0, "app.py");
    assert_eq!(dot, fingerprints(&proj, abs));
    assert_eq!(dot, fingerprints(d, abs));
    // Inside a repository: from its top, wherever the scan starts and whatever it names.
    let o = std::process::Command::new("git")
        .args(["init", "-q"])
        .current_dir(&proj)
        .output()
        .expect("git runs");
    assert!(o.status.success());
    let app = proj.join("app");
    let top = fingerprints(&proj, ".");
    assert_eq!(top[0].0, "app/app.py", "{top:?}");
    assert_eq!(top, fingerprints(&app, "."));
    assert_eq!(top, fingerprints(d, app.to_str().unwrap()));
    assert_eq!(top, fingerprints(&app, "app.py"));
    // A baseline written from one spelling silences the scan from another.
    let baseline = d.join("baseline.json");
    run_in(
        Some(&proj),
        &[
            "scan",
            ".",
            "--format",
            "json",
            "--output",
            baseline.to_str().unwrap(),
        ],
    )
    .expect_code(1);
    run_in(
        Some(d),
        &["scan", abs, "--baseline", baseline.to_str().unwrap()],
    )
    .expect_code(0);
}

#[test]
fn sarif_locations_are_relative_to_a_named_base_and_only_fired_rules_are_listed() {
    let tmp = tempdir();
    let d = tmp.path();
    write(d, "site/app.py", &unsafe_app());
    let site = d.join("site");
    let r = run_in(
        Some(d),
        &["scan", "--format", "sarif", site.to_str().unwrap()],
    );
    r.expect_code(1);
    let log: Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}\n{r}"));
    let run0 = &log["runs"][0];
    let driver = &run0["tool"]["driver"];
    assert!(
        driver["informationUri"]
            .as_str()
            .is_some_and(|u| u.starts_with("https://")),
        "{r}"
    );
    let base = run0["originalUriBaseIds"]["%SRCROOT%"]["uri"]
        .as_str()
        .unwrap_or_else(|| panic!("no base\n{r}"));
    let canonical = site.canonicalize().unwrap();
    assert_eq!(base, format!("file://{}/", canonical.display()), "{r}");
    let results = run0["results"].as_array().unwrap();
    for res in results {
        let loc = &res["locations"][0]["physicalLocation"]["artifactLocation"];
        assert_eq!(loc["uri"], "app.py", "{res}");
        assert_eq!(loc["uriBaseId"], "%SRCROOT%", "{res}");
        let i = res["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(driver["rules"][i]["id"], res["ruleId"], "{res}");
    }
    let mut fired: Vec<&str> = results
        .iter()
        .filter_map(|x| x["ruleId"].as_str())
        .collect();
    fired.sort();
    fired.dedup();
    let listed: Vec<&str> = driver["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|x| x["id"].as_str())
        .collect();
    assert_eq!(
        listed.len(),
        fired.len(),
        "only the rules that fired: {listed:?}"
    );
    assert!(r.stdout.len() < 20_000, "{} bytes", r.stdout.len());
}

// ---------------------------------------------------------------------------------------------
// Options per subcommand

#[test]
fn each_subcommand_takes_and_lists_only_the_options_that_apply() {
    // A list of rules is not a SARIF log.
    let r = run_in(None, &["rules", "list", "--format", "sarif"]);
    r.expect_code(2);
    assert!(r.stderr.contains("sarif"), "{r}");
    let r = run_in(None, &["rules", "list", "--format", "json"]);
    r.expect_code(0);
    assert!(!r.json().is_empty(), "{r}");

    let help = |args: &[&str]| {
        let mut a = args.to_vec();
        a.push("--help");
        let r = run_in(None, &a);
        r.expect_code(0);
        r.stdout
    };
    for report in [&["scan"][..], &["audit"], &["pre-commit"], &["pre-receive"]] {
        let h = help(report);
        for opt in [
            "--format",
            "--output",
            "--baseline",
            "--jobs",
            "--config",
            "--verbose",
        ] {
            assert!(h.contains(opt), "{report:?} --help lacks {opt}:\n{h}");
        }
        assert!(h.contains("sarif"), "{h}");
    }
    for colored in [&["scan"][..], &["audit"]] {
        assert!(help(colored).contains("--color"));
    }
    for quiet in [
        &["install", "pre-commit"][..],
        &["install", "pre-receive"],
        &["rules", "check"],
    ] {
        let h = help(quiet);
        for opt in ["--format", "--output", "--baseline", "--jobs", "--color"] {
            assert!(!h.contains(opt), "{quiet:?} --help lists {opt}:\n{h}");
        }
        assert!(h.contains("--config"), "{h}");
    }
    let h = help(&["rules", "list"]);
    assert!(
        h.contains("--format") && !h.contains("sarif") && !h.contains("--baseline"),
        "{h}"
    );
    // What does not apply is refused, not ignored.
    run_in(None, &["install", "pre-commit", "--format", "json"]).expect_code(2);
}

// ---------------------------------------------------------------------------------------------
// What users expect: completions, a man page, the configuration in force

#[test]
fn completions_for_every_shell_and_a_man_page() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let r = run_in(None, &["completions", shell]);
        r.expect_code(0);
        assert!(r.stdout.contains("secretgate"), "{shell}: {r}");
        assert!(r.stdout.contains("pre-commit"), "{shell}: {r}");
    }
    // bash itself accepts the bash script.
    let dir = tempdir();
    let script = write(
        dir.path(),
        "secretgate.bash",
        &run_in(None, &["completions", "bash"]).stdout,
    );
    let o = std::process::Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .expect("bash runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    run_in(None, &["completions", "tcsh"]).expect_code(2);

    let r = run_in(None, &["man"]);
    r.expect_code(0);
    assert!(r.stdout.contains(".TH secretgate 1"), "{r}");
    for sub in ["scan", "audit", "install", "completions"] {
        assert!(r.stdout.contains(sub), "{sub} missing from the man page");
    }
}

#[test]
fn config_show_names_where_each_part_came_from() {
    let dir = tempdir();
    let d = dir.path();
    let cfg = write(
        d,
        "admin.toml",
        "[extend]\ndefault = true\n[policy]\nfail_open = true\n[allowlist]\nvalues = ['^admin-ok$']\n",
    );
    write(
        d,
        "repo/.secretgate.toml",
        "[allowlist]\npaths = ['fixtures/**']\n",
    );
    let o = std::process::Command::new("git")
        .args(["init", "-q"])
        .current_dir(d.join("repo"))
        .output()
        .expect("git runs");
    assert!(o.status.success());
    let cfg = cfg.to_str().unwrap();
    let r = run_in(Some(&d.join("repo")), &["config", "show", "--config", cfg]);
    r.expect_code(0);
    let line = |needle: &str| -> String {
        r.stdout
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle:?}\n{r}"))
            .to_owned()
    };
    assert!(
        line("flask-secret-key").ends_with("built-in rules.toml"),
        "{r}"
    );
    assert!(line("fail_open").ends_with(cfg), "{r}");
    assert!(line("fail_open").contains("true"), "{r}");
    assert!(line("max_blob_bytes").ends_with("default"), "{r}");
    assert!(line("admin-ok").ends_with(cfg), "{r}");
    assert!(line("fixtures/**").contains("the repository's own"), "{r}");
    assert!(
        line("bypass.log").contains("$GIT_DIR/secretgate-bypass.jsonl"),
        "{r}"
    );
}

#[test]
fn the_human_report_is_compact_and_long_with_v() {
    let dir = tempdir();
    write(dir.path(), "app.py", &unsafe_app());
    write(dir.path(), "other.py", &unsafe_app());
    let r = run_in(Some(dir.path()), &["scan", "--color", "never", "."]);
    r.expect_code(1);
    let json = run_in(Some(dir.path()), &["scan", "--format", "json", "."]).json();
    // One line per finding, with its place, rule and redacted value.
    for f in &json {
        let place = format!("{}:{}:{}: ", field(f, "path"), f["line"], f["column"]);
        let line = r
            .stdout
            .lines()
            .find(|l| l.starts_with(&place))
            .unwrap_or_else(|| panic!("no line for {place}\n{r}"));
        assert!(
            line.contains(field(f, "rule_id")) && line.contains(field(f, "secret")),
            "{r}"
        );
    }
    // Each fix once, however many findings share it.
    let fix = field(&json[0], "remediation")
        .lines()
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(r.stdout.matches(fix.as_str()).count(), 1, "{r}");
    assert!(!r.stdout.contains("    fix: "), "{r}");
    // -v: every finding in full, its fix with it.
    let v = run_in(Some(dir.path()), &["scan", "-v", "--color", "never", "."]);
    v.expect_code(1);
    assert_eq!(v.stdout.matches("    fix: ").count(), json.len(), "{v}");
}
