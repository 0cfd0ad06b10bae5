//! The server hook, end to end: real `git push` into real bare repositories whose
//! `hooks/pre-receive` runs the built binary, so git's quarantine is the real one.

use std::io::Write;
use std::process::Stdio;

use crate::gitutil::{git, Repo, Sandbox, Server};

const KEY: &str = "8f42a73054b1749f8f58848be5e6502c";
const ZERO: &str = "0000000000000000000000000000000000000000";

fn secret_config() -> String {
    format!("import os\nSECRET_KEY = \"{KEY}\"\n")
}

/// A server with one clean commit on main, and a clone of it.
fn setup(config: Option<&str>) -> (Sandbox, Server, Repo) {
    let sb = Sandbox::new();
    let server = sb.server("server.git", config);
    let repo = sb.work("work");
    repo.commit_file("app.py", "print('hello')\n", "initial");
    let p = repo.push(&server, &["HEAD:refs/heads/main"]);
    assert!(p.ok, "clean initial push must be accepted:\n{}", p.stderr);
    (sb, server, repo)
}

#[track_caller]
fn assert_rejected(p: &crate::gitutil::Pushed) {
    assert!(!p.ok, "push should be rejected:\n{}", p.stderr);
    assert!(
        p.stderr.contains("pre-receive hook declined"),
        "git should say the hook declined:\n{}",
        p.stderr
    );
}

#[test]
fn secret_in_last_commit_is_rejected_with_the_fix() {
    let (_sb, server, repo) = setup(None);
    let before = server.rev("refs/heads/main");
    let c = repo.commit_file("app/config.py", secret_config(), "Add config");
    let p = repo.push(&server, &["HEAD:refs/heads/main"]);
    assert_rejected(&p);
    assert_eq!(
        server.rev("refs/heads/main"),
        before,
        "the ref must not move"
    );
    let e = &p.stderr;
    assert!(e.contains("remote: secretgate: push rejected"), "{e}");
    assert!(e.contains("app/config.py:2"), "{e}");
    assert!(e.contains("flask-secret-key"), "{e}");
    assert!(e.contains(&c[..10]), "short commit id: {e}");
    assert!(e.contains("Add config"), "commit subject: {e}");
    assert!(e.contains("refs/heads/main"), "{e}");
    assert!(
        e.contains(r#"app.config["SECRET_KEY"] = os.environ["SECRET_KEY"]"#),
        "the environment-variable line: {e}"
    );
    assert!(e.contains("git commit --amend"), "{e}");
    assert!(e.contains("rotate"), "{e}");
    assert!(e.contains("8f42…(32 chars)"), "redacted value: {e}");
    assert!(
        !e.contains(KEY),
        "the full secret must never be printed: {e}"
    );
}

#[test]
fn debug_mode_is_rejected_with_the_environment_replacement() {
    let (_sb, server, repo) = setup(None);
    repo.commit_file(
        "run.py",
        "from app import app\n\nif __name__ == \"__main__\":\n    app.run(debug=True)\n",
        "Run it",
    );
    let p = repo.push(&server, &["HEAD:refs/heads/main"]);
    assert_rejected(&p);
    assert!(p.stderr.contains("run.py:4"), "{}", p.stderr);
    assert!(p.stderr.contains("flask-debug"), "{}", p.stderr);
    assert!(
        p.stderr
            .contains(r#"app.run(debug=os.environ.get("FLASK_DEBUG") == "1")"#),
        "{}",
        p.stderr
    );
}

#[test]
fn secret_added_and_removed_within_the_push_is_still_rejected() {
    let (_sb, server, repo) = setup(None);
    let first = repo.commit_file("config.py", secret_config(), "oops");
    repo.commit_file(
        "config.py",
        "import os\nSECRET_KEY = os.environ[\"SECRET_KEY\"]\n",
        "fix",
    );
    let p = repo.push(&server, &["HEAD:refs/heads/main"]);
    assert_rejected(&p);
    assert!(p.stderr.contains(&first[..10]), "{}", p.stderr);
    assert!(
        p.stderr
            .contains(&format!("git rebase -i {}^", &first[..10])),
        "{}",
        p.stderr
    );
}

#[test]
fn clean_push_is_accepted() {
    let (_sb, server, repo) = setup(None);
    let c = repo.commit_file(
        "config.py",
        "import os\nSECRET_KEY = os.environ[\"SECRET_KEY\"]\napp.run(debug=os.environ.get(\"FLASK_DEBUG\") == \"1\")\n",
        "env",
    );
    let p = repo.push(&server, &["HEAD:refs/heads/main"]);
    assert!(p.ok, "{}", p.stderr);
    assert_eq!(server.rev("refs/heads/main").as_deref(), Some(c.as_str()));
    assert!(
        !p.stderr.contains("remote: secretgate"),
        "silent on success: {}",
        p.stderr
    );
}

/// A server whose history already holds a secret (pushed before the hook was installed).
fn server_with_old_secret() -> (Sandbox, Server, Repo, String) {
    let sb = Sandbox::new();
    let server = sb.server("server.git", None);
    let hook = server.dir.join("hooks/pre-receive");
    let saved = std::fs::read(&hook).unwrap();
    std::fs::remove_file(&hook).unwrap();
    let repo = sb.work("work");
    let old = repo.commit_file("config.py", secret_config(), "old secret");
    assert!(repo.push(&server, &["HEAD:refs/heads/main"]).ok);
    std::fs::write(&hook, saved).unwrap();
    crate::gitutil::make_executable(&hook);
    (sb, server, repo, old)
}

#[test]
fn new_branch_and_tags_of_old_commits_rescan_nothing() {
    let (_sb, server, repo, old) = server_with_old_secret();
    let p = repo.push(&server, &["HEAD:refs/heads/copy"]);
    assert!(p.ok, "a branch of commits the server has: {}", p.stderr);
    assert_eq!(server.rev("refs/heads/copy").as_deref(), Some(old.as_str()));
    repo.git(&["tag", "light"]);
    repo.git(&["tag", "-a", "-m", "release", "annotated"]);
    let p = repo.push(&server, &["refs/tags/light", "refs/tags/annotated"]);
    assert!(p.ok, "tags of an old commit: {}", p.stderr);
}

#[test]
fn force_push_scans_only_what_is_new() {
    let (_sb, server, repo, old) = server_with_old_secret();
    // Rewrite main to a clean history: accepted.
    repo.git(&["checkout", "-q", "--orphan", "clean"]);
    repo.git(&["rm", "-rq", "--cached", "."]);
    let clean = repo.commit_file("config.py", "SECRET_KEY = None\n", "clean");
    let p = repo.push_with(&server, &["--force"], &["HEAD:refs/heads/main"]);
    assert!(p.ok, "{}", p.stderr);
    assert_eq!(
        server.rev("refs/heads/main").as_deref(),
        Some(clean.as_str())
    );
    // Force it back to the old commit, which the server still stores but no ref reaches any
    // more: it is new again (git rev-list OLD --not --all), so its secret is judged.
    let p = repo.push_with(&server, &["--force"], &[&format!("{old}:refs/heads/main")]);
    assert_rejected(&p);
    assert!(p.stderr.contains("config.py:2"), "{}", p.stderr);
    // A force push that brings a new secret: rejected.
    repo.commit_file(
        "more.py",
        "JWT_SECRET_KEY = 'Zq8xL2mP9vK4nB7cR3tY6wQ1xx'\n",
        "jwt",
    );
    let p = repo.push_with(&server, &["--force"], &["HEAD:refs/heads/main"]);
    assert_rejected(&p);
    assert!(p.stderr.contains("more.py:1"), "{}", p.stderr);
    assert!(
        !p.stderr.contains("config.py"),
        "old findings not repeated: {}",
        p.stderr
    );
}

#[test]
fn deleting_a_ref_is_accepted() {
    let (_sb, server, repo, _old) = server_with_old_secret();
    assert!(repo.push(&server, &["HEAD:refs/heads/other"]).ok);
    let p = repo.push(&server, &[":refs/heads/other"]);
    assert!(p.ok, "{}", p.stderr);
    assert_eq!(server.rev("refs/heads/other"), None);
}

#[test]
fn tags_on_new_commits_are_scanned() {
    let (_sb, server, repo) = setup(None);
    repo.commit_file("config.py", secret_config(), "secret on a tag only");
    repo.git(&["tag", "-a", "-m", "v1", "v1"]);
    repo.git(&["tag", "light"]);
    let p = repo.push(&server, &["refs/tags/v1"]);
    assert_rejected(&p);
    assert!(p.stderr.contains("refs/tags/v1"), "{}", p.stderr);
    assert_eq!(server.rev("refs/tags/v1"), None);
    let p = repo.push(&server, &["refs/tags/light"]);
    assert_rejected(&p);
}

#[test]
fn two_refs_one_dirty_rejects_the_push_and_scans_shared_commits_once() {
    let (_sb, server, repo) = setup(None);
    repo.commit_file("config.py", secret_config(), "secret");
    repo.git(&["branch", "b2"]);
    let p = repo.push(
        &server,
        &["HEAD:refs/heads/main", "refs/heads/b2:refs/heads/b2"],
    );
    assert_rejected(&p);
    assert_eq!(
        p.stderr.matches("config.py:2").count(),
        1,
        "a commit on two refs is reported once: {}",
        p.stderr
    );
    assert_eq!(server.rev("refs/heads/b2"), None);
}

#[test]
fn merges_report_only_lines_in_no_parent() {
    let (_sb, server, repo, _old) = server_with_old_secret();
    // A side branch that already is on the server holds the old secret; merging it adds nothing.
    repo.git(&["checkout", "-q", "-b", "side"]);
    repo.commit_file("side.py", "x = 1\n", "side");
    assert!(repo.push(&server, &["HEAD:refs/heads/side"]).ok);
    repo.git(&["checkout", "-q", "main"]);
    repo.commit_file("main.py", "y = 2\n", "main work");
    repo.git(&["merge", "-q", "--no-edit", "side"]);
    let p = repo.push(&server, &["HEAD:refs/heads/main"]);
    assert!(p.ok, "clean merge: {}", p.stderr);
    // An evil merge: the merge commit itself adds a secret that is in neither parent.
    repo.git(&["checkout", "-q", "-b", "side2", "HEAD~1"]);
    repo.commit_file("side2.py", "z = 3\n", "side2");
    repo.git(&["checkout", "-q", "main"]);
    repo.git(&["merge", "-q", "--no-commit", "side2"]);
    repo.write("evil.py", "JWT_SECRET_KEY = 'Zq8xL2mP9vK4nB7cR3tY6wQ1xx'\n");
    repo.git(&["add", "evil.py"]);
    repo.git(&["commit", "-q", "--no-edit"]);
    let p = repo.push(&server, &["HEAD:refs/heads/main"]);
    assert_rejected(&p);
    assert!(p.stderr.contains("evil.py:1"), "{}", p.stderr);
    assert!(!p.stderr.contains("side2.py"), "{}", p.stderr);
}

#[test]
fn renames_add_nothing() {
    let (_sb, server, repo, _old) = server_with_old_secret();
    repo.git(&["mv", "config.py", "settings.py"]);
    repo.git(&["commit", "-q", "-m", "rename"]);
    let p = repo.push(&server, &["HEAD:refs/heads/main"]);
    assert!(p.ok, "a pure rename adds no line: {}", p.stderr);
    // Renamed and edited elsewhere in the file: only the edited line counts.
    std::fs::create_dir(repo.dir.join("conf")).unwrap();
    repo.git(&["mv", "settings.py", "conf/settings.py"]);
    let mut text = std::fs::read_to_string(repo.dir.join("conf/settings.py")).unwrap();
    text.push_str("DEBUG = False\n");
    repo.write("conf/settings.py", text);
    repo.commit_all("move and edit");
    let p = repo.push(&server, &["HEAD:refs/heads/main"]);
    assert!(p.ok, "{}", p.stderr);
}

#[test]
fn binary_files_are_skipped() {
    let (_sb, server, repo) = setup(None);
    let mut data = b"\x00\x01\x02PNG".to_vec();
    data.extend_from_slice(secret_config().as_bytes());
    repo.commit_file("logo.png", data, "binary");
    let p = repo.push(&server, &["HEAD:refs/heads/main"]);
    assert!(p.ok, "{}", p.stderr);
}

#[test]
fn files_over_the_size_cap_are_not_read() {
    let cfg = "[extend]\ndefault = true\n[policy]\nmax_blob_bytes = 1000\n";
    let (_sb, server, repo) = setup(Some(cfg));
    let mut big = secret_config();
    big.push_str(&"# padding\n".repeat(200));
    repo.commit_file("big.py", big, "big");
    let p = repo.push(&server, &["HEAD:refs/heads/main"]);
    assert!(p.ok, "{}", p.stderr);
    repo.commit_file("small.py", secret_config(), "small");
    let p = repo.push(&server, &["HEAD:refs/heads/main"]);
    assert_rejected(&p);
}

#[test]
fn non_utf8_paths_are_scanned_and_escaped() {
    let (_sb, server, repo) = setup(None);
    use std::os::unix::ffi::OsStrExt;
    let name = std::ffi::OsStr::from_bytes(b"conf\xff\x1b.py");
    std::fs::write(repo.dir.join(name), secret_config()).unwrap();
    repo.commit_all("weird name");
    let p = repo.push(&server, &["HEAD:refs/heads/main"]);
    assert_rejected(&p);
    assert!(p.stderr.contains("conf\\xff\\x1b.py:2"), "{}", p.stderr);
}

#[test]
fn warnings_do_not_block() {
    let (_sb, server, repo) = setup(None);
    let c = repo.commit_file(
        "app.py",
        "app.config[\"SECRET_KEY\"] = \"dev\"\n",
        "tutorial",
    );
    let p = repo.push(&server, &["HEAD:refs/heads/main"]);
    assert!(p.ok, "{}", p.stderr);
    assert_eq!(server.rev("refs/heads/main").as_deref(), Some(c.as_str()));
    assert!(p.stderr.contains("secretgate: warning"), "{}", p.stderr);
    assert!(p.stderr.contains("app.py:1"), "{}", p.stderr);
}

#[test]
fn a_thousand_commits_in_one_push() {
    let (_sb, server, repo) = setup(None);
    // fast-import: 1,000 commits, one file changed in each; a secret in commit 500.
    let mut script = String::new();
    let parent = repo.git(&["rev-parse", "HEAD"]);
    for i in 1..=1000 {
        let content = if i == 500 {
            secret_config()
        } else {
            format!("VALUE = {i}\n")
        };
        script.push_str(&format!(
            "commit refs/heads/main\ncommitter A <a@b.c> {} +0000\ndata 5\nc{i:04}\n",
            1_700_000_000 + i
        ));
        if i == 1 {
            script.push_str(&format!("from {parent}\n"));
        }
        script.push_str(&format!(
            "M 100644 inline f{}.py\ndata {}\n{}\n",
            i % 50,
            content.len(),
            content
        ));
    }
    let mut child = crate::gitutil::git_cmd(&repo.dir)
        .args(["fast-import", "--quiet", "--force"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
    repo.git(&["reset", "-q", "--hard", "main"]);
    let p = repo.push(&server, &["HEAD:refs/heads/main"]);
    assert_rejected(&p);
    assert_eq!(
        p.stderr.matches("flask-secret-key (high)").count(),
        1,
        "{}",
        p.stderr
    );
    assert!(p.stderr.contains("c0500"), "{}", p.stderr);
}

fn bypass_config(enabled: bool, log: &std::path::Path) -> String {
    format!(
        "[extend]\ndefault = true\n[policy.bypass]\nenabled = {enabled}\nlog = '{}'\n",
        log.display()
    )
}

#[test]
fn bypass_needs_a_reason_and_the_admin() {
    let sb = Sandbox::new();
    let log = sb.path().join("bypass.jsonl");
    let server = sb.server("on.git", Some(&bypass_config(true, &log)));
    let repo = sb.work("work");
    let c = repo.commit_file("config.py", secret_config(), "secret");
    // No reason: refused.
    let p = repo.push_with(
        &server,
        &["-o", "secretgate.skip"],
        &["HEAD:refs/heads/main"],
    );
    assert_rejected(&p);
    assert!(p.stderr.contains("needs a reason"), "{}", p.stderr);
    // Empty reason: refused.
    let p = repo.push_with(
        &server,
        &["-o", "secretgate.skip="],
        &["HEAD:refs/heads/main"],
    );
    assert_rejected(&p);
    assert!(!log.exists(), "nothing logged for refused bypasses");
    // With a reason: accepted and logged, without the secret.
    let p = repo.push_with(
        &server,
        &["-o", "secretgate.skip=test fixture, not a real key"],
        &["HEAD:refs/heads/main"],
    );
    assert!(p.ok, "{}", p.stderr);
    assert!(p.stderr.contains("bypass accepted"), "{}", p.stderr);
    assert_eq!(server.rev("refs/heads/main").as_deref(), Some(c.as_str()));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        !text.contains(KEY),
        "the log must not hold the secret: {text}"
    );
    let entry: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(entry["reason"], "test fixture, not a real key");
    assert_eq!(entry["commits"][0], c.as_str());
    assert_eq!(entry["refs"][0], "refs/heads/main");
    assert_eq!(entry["fingerprints"][0]["rule_id"], "flask-secret-key");
    assert!(entry["pusher"].is_string() && entry["time"].is_string());

    // Disabled on another server: refused even with a reason.
    let off = sb.server("off.git", Some(&bypass_config(false, &log)));
    let p = repo.push_with(
        &off,
        &["-o", "secretgate.skip=please"],
        &["HEAD:refs/heads/main"],
    );
    assert_rejected(&p);
    assert!(p.stderr.contains("not enabled"), "{}", p.stderr);
}

/// Runs the hook binary directly, as git would, with `stdin`.
fn run_hook(git_dir: &std::path::Path, stdin: &[u8], env: &[(&str, &str)]) -> (i32, String) {
    let mut cmd = crate::gitutil::secretgate_cmd(git_dir);
    cmd.arg("pre-receive")
        .env("GIT_DIR", git_dir)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let o = child.wait_with_output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn malformed_input_is_a_clear_error() {
    let (_sb, server, _repo) = setup(None);
    let head = server.rev("refs/heads/main").unwrap();
    for bad in [
        "garbage\n".to_owned(),
        format!("{ZERO} {head}\n"),
        format!("{ZERO} {} refs/heads/x\n", &head[..39]),
        format!("{ZERO} {}zz refs/heads/x\n", &head[..38]),
        format!("{ZERO} {head} refs/heads/has space\n"),
        format!("{ZERO} {head} refs/heads/ctl\x07\n"),
    ] {
        let (code, err) = run_hook(&server.dir, bad.as_bytes(), &[]);
        assert_eq!(code, 2, "input {bad:?}: {err}");
        assert!(err.contains("malformed hook input"), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn missing_objects_reject_unless_fail_open() {
    let (sb, server, _repo) = setup(None);
    let missing = "1234567890123456789012345678901234567890";
    let line = format!("{ZERO} {missing} refs/heads/x\n");
    let (code, err) = run_hook(&server.dir, line.as_bytes(), &[]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("secret scanner failed"), "{err}");
    assert!(err.contains(missing), "the missing id is named: {err}");
    let cfg = sb.path().join("open.toml");
    std::fs::write(
        &cfg,
        "[extend]\ndefault = true\n[policy]\nfail_open = true\n",
    )
    .unwrap();
    let (code, err) = run_hook(
        &server.dir,
        line.as_bytes(),
        &[("SECRETGATE_CONFIG", cfg.to_str().unwrap())],
    );
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("could not check"), "{err}");
}

#[test]
fn gitlab_sees_prefixed_lines() {
    let (_sb, server, repo) = setup(None);
    // Put the dirty commit in the server's store under a hidden ref, then run the hook by hand
    // as GitLab would (no quarantine: the walk falls back to "not reachable from any ref").
    let c = repo.commit_file("config.py", secret_config(), "secret");
    git(
        &server.dir,
        &[
            "fetch",
            "-q",
            repo.dir.to_str().unwrap(),
            "HEAD:refs/hidden/x",
        ],
    );
    let base = server.rev("refs/heads/main").unwrap();
    git(&server.dir, &["update-ref", "-d", "refs/hidden/x"]);
    let line = format!("{base} {c} refs/heads/main\n");
    let (code, err) = run_hook(&server.dir, line.as_bytes(), &[("GL_ID", "user-1")]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.lines().all(|l| l.starts_with("GL-HOOK-ERR: ")),
        "every line prefixed: {err}"
    );
    assert!(err.contains("config.py:2"), "{err}");
}

#[test]
fn time_budget_rejects_unless_fail_open() {
    for (fail_open, accepted) in [(false, false), (true, true)] {
        let cfg = format!(
            "[extend]\ndefault = true\n[policy]\ntime_budget_secs = 0.000001\nfail_open = {fail_open}\n"
        );
        let sb = Sandbox::new();
        let server = sb.server("server.git", Some(&cfg));
        let repo = sb.work("work");
        for i in 0..100 {
            repo.write(&format!("f{i}.py"), format!("x = {i}\n"));
        }
        repo.commit_all("many files");
        let p = repo.push(&server, &["HEAD:refs/heads/main"]);
        assert_eq!(p.ok, accepted, "{}", p.stderr);
        assert!(p.stderr.contains("time budget"), "{}", p.stderr);
        if accepted {
            assert!(p.stderr.contains("could not check"), "{}", p.stderr);
        } else {
            assert!(p.stderr.contains("not with your code"), "{}", p.stderr);
        }
    }
}

#[test]
fn repository_allowlist_only_when_the_admin_allows_it() {
    let allow = "[allowlist]\npaths = [\"fixtures/**\"]\n";
    for (allowed, accepted) in [(false, false), (true, true)] {
        let cfg = format!("[extend]\ndefault = true\n[policy]\nallow_repo_config = {allowed}\n");
        let sb = Sandbox::new();
        let server = sb.server("server.git", Some(&cfg));
        let repo = sb.work("work");
        repo.write(".secretgate.toml", allow);
        repo.write("fixtures/config.py", secret_config());
        repo.commit_all("fixtures");
        let p = repo.push(&server, &["HEAD:refs/heads/main"]);
        assert_eq!(
            p.ok, accepted,
            "allow_repo_config = {allowed}: {}",
            p.stderr
        );
    }
    // A repository file that tries to change the policy is refused.
    let cfg = "[extend]\ndefault = true\n[policy]\nallow_repo_config = true\n";
    let sb = Sandbox::new();
    let server = sb.server("server.git", Some(cfg));
    let repo = sb.work("work");
    repo.write(".secretgate.toml", "[policy]\nblock = []\n");
    repo.write("config.py", secret_config());
    repo.commit_all("try to loosen");
    let p = repo.push(&server, &["HEAD:refs/heads/main"]);
    assert_rejected(&p);
    assert!(
        p.stderr.contains("may only hold an [allowlist]"),
        "{}",
        p.stderr
    );
}

/// `pre-receive --baseline FILE`: a finding the admin's baseline knows (a previous JSON report,
/// matched by fingerprint) lets the push through; any other finding still rejects it.
#[test]
fn the_servers_baseline_lets_known_findings_through_and_nothing_else() {
    let (sb, server, repo) = setup(None);
    repo.write("config.py", secret_config());
    let report = crate::gitutil::secretgate(&repo.dir, &["scan", "--format", "json", "config.py"]);
    assert_eq!(
        report.status.code(),
        Some(1),
        "{}",
        crate::gitutil::text(&report)
    );
    let baseline = sb.path().join("baseline.json");
    std::fs::write(&baseline, &report.stdout).unwrap();
    server.set_hook(&format!(
        "#!/bin/sh\nexec '{}' pre-receive --baseline '{}'\n",
        crate::gitutil::secretgate_bin().display(),
        baseline.display()
    ));
    repo.commit_file("config.py", secret_config(), "the known key");
    let p = repo.push(&server, &["HEAD:refs/heads/main"]);
    assert!(p.ok, "a baselined finding does not block:\n{}", p.stderr);
    repo.commit_file(
        "settings.py",
        "SECRET_KEY = \"3b5d7f9a1c3e5b7d9f1a3c5e7b9d1f3a\"\n",
        "another key",
    );
    let p = repo.push(&server, &["HEAD:refs/heads/main"]);
    assert_rejected(&p);
    assert!(p.stderr.contains("settings.py:1"), "{}", p.stderr);
    assert!(!p.stderr.contains("config.py:2"), "{}", p.stderr);
}
