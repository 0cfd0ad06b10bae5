//! The Flask hardening rules (escaping, error disclosure, identity from the client) on a
//! fixture project where every unsafe form has a safe twin: the same exact findings through
//! `scan`, `pre-receive` and `pre-commit`, and the policy's split between blocking and warning.

use std::path::Path;

use crate::common::{keys_of, read_expected, run_in, Key};
use crate::gitutil::{secretgate_bin, Sandbox};

const FIXTURE: &str = "tests/fixtures/hardening";

fn expected() -> Vec<Key> {
    read_expected(&crate::common::crate_root().join(FIXTURE).join("EXPECTED")).unwrap()
}

/// The same findings as EXPECTED, as multisets (two findings due on one line need two).
#[track_caller]
fn assert_same(found: Vec<Key>, how: &str) {
    let expected = expected();
    let missing: Vec<String> = crate::common::missing_from(&expected, &found)
        .iter()
        .map(|k| k.to_string())
        .collect();
    let extra: Vec<String> = crate::common::missing_from(&found, &expected)
        .iter()
        .map(|k| k.to_string())
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{how}: missing {missing:#?}\nunexpected {extra:#?}"
    );
}

/// Copies the fixture (without EXPECTED) into a work tree.
fn copy_fixture(to: &Path) {
    let from = crate::common::crate_root().join(FIXTURE);
    for entry in walk(&from) {
        let rel = entry.strip_prefix(&from).unwrap();
        if rel == Path::new("EXPECTED") {
            continue;
        }
        let dest = to.join(rel);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(&entry, dest).unwrap();
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn scan_reports_exactly_the_unsafe_forms() {
    let r = run_in(None, &["scan", "--format", "json", FIXTURE]);
    assert_eq!(r.code, 1, "high findings block\n{r}");
    assert_same(keys_of(&r.json(), &format!("{FIXTURE}/")), "scan");
    for f in r.json() {
        let rem = crate::common::field(&f, "remediation");
        assert!(!rem.is_empty(), "every finding says how to fix it: {f}");
    }
}

#[test]
fn pre_receive_reports_the_same_and_blocks_on_high() {
    let sb = Sandbox::new();
    let server = sb.server("server.git", None);
    let report = sb.path().join("report.json");
    std::fs::write(
        server.dir.join("hooks/pre-receive"),
        format!(
            "#!/bin/sh\nexec '{}' pre-receive --format json --output '{}'\n",
            secretgate_bin().display(),
            report.display()
        ),
    )
    .unwrap();
    let repo = sb.work("work");
    copy_fixture(&repo.dir);
    repo.commit_all("shop");
    let p = repo.push(&server, &["HEAD:refs/heads/main"]);
    assert!(!p.ok, "{}", p.stderr);
    assert!(
        p.stderr.contains("flask-template-injection"),
        "{}",
        p.stderr
    );
    assert!(
        p.stderr
            .contains(r#"render_template_string("<p>Hello {{ name }}</p>""#),
        "the safe line is shown: {}",
        p.stderr
    );
    let findings: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_same(keys_of(&findings, ""), "pre-receive");
}

#[test]
fn medium_findings_warn_and_let_the_push_through() {
    let sb = Sandbox::new();
    let server = sb.server("server.git", None);
    let repo = sb.work("work");
    repo.write(
        "app/templates/post.html",
        "<article>{{ post.body|safe }}</article>\n",
    );
    repo.write(
        "app/views.py",
        "from flask import request\n\n@bp.route(\"/n\", methods=[\"DELETE\"])\ndef n():\n    owner_id = request.args[\"owner_id\"]\n    Note.query.filter_by(owner_id=owner_id).delete()\n",
    );
    let c = repo.commit_all("medium only");
    let p = repo.push(&server, &["HEAD:refs/heads/main"]);
    assert!(p.ok, "{}", p.stderr);
    assert_eq!(server.rev("refs/heads/main").as_deref(), Some(c.as_str()));
    assert!(p.stderr.contains("secretgate: warning"), "{}", p.stderr);
    assert!(
        p.stderr.contains("app/templates/post.html:1"),
        "{}",
        p.stderr
    );
    assert!(
        p.stderr.contains("flask-client-controlled-identity"),
        "{}",
        p.stderr
    );
    assert!(p.stderr.contains(r#"session["user_id"]"#), "{}", p.stderr);
}

#[test]
fn pre_commit_reports_the_same_and_blocks_on_high() {
    let sb = Sandbox::new();
    let repo = sb.work("work");
    let install = std::process::Command::new(secretgate_bin())
        .args(["install", "pre-commit", "-C"])
        .arg(&repo.dir)
        .output()
        .unwrap();
    assert!(install.status.success(), "{install:?}");
    copy_fixture(&repo.dir);
    repo.git(&["add", "-A"]);
    // The staged change, judged as the hook judges it, reported as JSON.
    let out = std::process::Command::new(secretgate_bin())
        .current_dir(&repo.dir)
        .args(["pre-commit", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let findings: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_same(keys_of(&findings, ""), "pre-commit");
    // A real commit through the installed hook is refused and does not exist.
    let o = crate::gitutil::git_output(&repo.dir, &["commit", "-q", "-m", "shop"]);
    assert!(!o.status.success(), "the commit must be refused");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("commit rejected"), "{err}");
    assert!(
        !crate::gitutil::git_output(&repo.dir, &["rev-parse", "-q", "--verify", "HEAD"])
            .status
            .success(),
        "no commit was made"
    );
    // Only medium findings: the commit goes through and the warning is printed.
    repo.git(&["rm", "-rq", "--cached", "."]);
    repo.git(&["add", "app/templates/greet.html"]);
    let o = crate::gitutil::git_output(&repo.dir, &["commit", "-q", "-m", "template"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("warning"), "{err}");
    assert!(err.contains("jinja-safe-filter"), "{err}");
}

fn audit_json(dir: &Path) -> Vec<serde_json::Value> {
    let out = std::process::Command::new(secretgate_bin())
        .current_dir(dir)
        .args(["audit", "--format", "json", "."])
        .output()
        .unwrap();
    assert!(
        matches!(out.status.code(), Some(0) | Some(1)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn audit_reports_the_same_and_a_flask_app_without_error_handler_once() {
    let sb = Sandbox::new();
    let repo = sb.work("work");
    copy_fixture(&repo.dir);
    let head = repo.commit_all("shop");
    let findings = audit_json(&repo.dir);
    let mut want = expected();
    want.push(Key {
        path: "app/__init__.py".into(),
        line: 10,
        rule: "flask-no-error-handler".into(),
        severity: "low".into(),
    });
    want.sort();
    let mut found = keys_of(&findings, "");
    found.sort();
    assert_eq!(found, want);
    let tree = findings
        .iter()
        .find(|f| f["rule_id"] == "flask-no-error-handler")
        .unwrap();
    assert_eq!(tree["commit"], head.as_str());
    assert_eq!(tree["present_at_head"], true);

    // A handler registered anywhere in the tree clears it.
    repo.write(
        "app/errors.py",
        "from flask import render_template\n\ndef init(app):\n    @app.errorhandler(500)\n    def internal_error(e):\n        return render_template(\"500.html\"), 500\n",
    );
    repo.commit_all("error pages");
    let findings = audit_json(&repo.dir);
    assert!(
        !findings
            .iter()
            .any(|f| f["rule_id"] == "flask-no-error-handler"),
        "{findings:#?}"
    );
}
