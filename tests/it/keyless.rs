//! Rules without keywords: a file that is the secret and nothing else (a Rails
//! `config/master.key`) has no keyword to find, so a rule limited to some paths may have none and
//! runs on the whole of the files those paths select, and on no other file.

use crate::common::{field, run_in, tempdir, valid_rule, write};
use crate::gitutil::{git_output, secretgate, text, Sandbox};

/// A Rails master key, invented for these tests.
const MASTER_KEY: &str = "5b1e0f4c9a7d2e8b3f6a1c0d9e4b7a2f";

fn rule_ids(r: &crate::common::Run) -> Vec<String> {
    r.json()
        .iter()
        .map(|f| field(f, "rule_id").to_owned())
        .collect()
}

#[test]
fn scan_finds_a_rails_master_key_only_at_its_paths() {
    let dir = tempdir();
    write(dir.path(), "config/master.key", &format!("{MASTER_KEY}\n"));
    write(
        dir.path(),
        "engines/billing/config/credentials/production.key",
        MASTER_KEY,
    );
    let r = run_in(Some(dir.path()), &["scan", "--format", "json", "."]);
    r.expect_code(1);
    let mut found: Vec<(String, String)> = r
        .json()
        .iter()
        .filter(|f| field(f, "rule_id") == "rails-master-key")
        .map(|f| (field(f, "path").to_owned(), field(f, "severity").to_owned()))
        .collect();
    found.sort();
    assert_eq!(
        found,
        [
            ("config/master.key".to_owned(), "high".to_owned()),
            (
                "engines/billing/config/credentials/production.key".to_owned(),
                "high".to_owned()
            ),
        ],
        "{r}"
    );
    assert!(
        !r.all_output().contains(MASTER_KEY),
        "the key was printed\n{r}"
    );

    // The same bytes elsewhere, and prose that names the file, are not this rule's.
    let dir = tempdir();
    write(dir.path(), "certs/server.key", &format!("{MASTER_KEY}\n"));
    write(
        dir.path(),
        "README.md",
        &format!(
            "Ask for config/master.key; it decrypts config/credentials.yml.enc.\n{MASTER_KEY}\n"
        ),
    );
    write(dir.path(), "config/master.key.example", MASTER_KEY);
    let r = run_in(Some(dir.path()), &["scan", "--format", "json", "."]);
    assert!(
        !rule_ids(&r).iter().any(|id| id == "rails-master-key"),
        "{r}"
    );
}

#[test]
fn a_users_rule_without_keywords_runs_at_its_paths_and_needs_them() {
    let dir = tempdir();
    let rule = valid_rule("whole-file-token")
        .replace(
            "keywords = [\"tok_\"]",
            "keywords = []\npaths = [\"*.tok\"]",
        )
        .replace(
            r"regex = '''\btok_(?P<secret>[0-9a-f]{16})\b'''",
            r"regex = '''\A(?P<secret>[0-9a-f]{16})\n?\z'''",
        )
        .replace(
            "examples = [\"token = tok_0123456789abcdef\"]",
            "examples = [{ path = \"a.tok\", text = \"0123456789abcdef\" }]",
        )
        .replace(
            "negative_examples = [\"token = tok_nothex\"]",
            "negative_examples = [{ path = \"a.txt\", text = \"0123456789abcdef\" }]",
        );
    let cfg = write(dir.path(), "rules.toml", &rule);
    write(dir.path(), "tree/deploy.tok", "89abcdef01234567\n");
    write(dir.path(), "tree/notes.txt", "89abcdef01234567\n");
    let cfg_arg = cfg.to_str().expect("a UTF-8 temporary path");
    let r = run_in(
        Some(dir.path()),
        &["scan", "--format", "json", "--config", cfg_arg, "tree"],
    );
    r.expect_code(1);
    let findings = r.json();
    assert_eq!(findings.len(), 1, "{r}");
    assert_eq!(field(&findings[0], "path"), "deploy.tok", "{r}");

    // Without paths it would run over every file: a configuration error that says so.
    let cfg = write(
        dir.path(),
        "rules.toml",
        &rule.replace("paths = [\"*.tok\"]\n", ""),
    );
    let r = run_in(
        Some(dir.path()),
        &["scan", "--config", cfg.to_str().expect("UTF-8"), "tree"],
    );
    r.expect_code(2);
    assert!(
        r.stderr.contains("whole-file-token") && r.stderr.contains("no keywords and no paths"),
        "{r}"
    );
}

#[test]
fn pre_commit_refuses_a_staged_master_key() {
    let sb = Sandbox::new();
    let r = sb.work("w");
    let o = secretgate(sb.path(), &["install", "pre-commit", "-C", "w"]);
    assert!(o.status.success(), "install failed: {}", text(&o));

    r.write("config/master.key", format!("{MASTER_KEY}\n"));
    r.git(&["add", "--", "config/master.key"]);
    let o = git_output(&r.dir, &["commit", "-m", "add the key"]);
    let out = text(&o);
    assert!(!o.status.success(), "the commit went through:\n{out}");
    assert!(
        out.contains("secretgate: commit rejected") && out.contains("rails-master-key"),
        "{out}"
    );
    assert!(out.contains("config/master.key:1"), "{out}");
    assert!(!out.contains(MASTER_KEY), "the key was printed:\n{out}");

    // A key file that is not a Rails one is not this rule's.
    r.git(&["rm", "-q", "--cached", "--", "config/master.key"]);
    r.write("tls/server.key", format!("{MASTER_KEY}\n"));
    r.git(&["add", "--", "tls/server.key"]);
    let o = git_output(&r.dir, &["commit", "-m", "add a key"]);
    let out = text(&o);
    assert!(!out.contains("rails-master-key"), "{out}");
}
