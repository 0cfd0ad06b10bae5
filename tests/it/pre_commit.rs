//! `secretgate pre-commit` through a real `git commit` and the hook `secretgate install
//! pre-commit` writes: what is refused, what is accepted, and that the staged content (the
//! index git commits, including the temporary ones of `git commit -a` and `git commit <paths>`)
//! is what gets judged.

use std::path::Path;
use std::process::Output;

use crate::gitutil::{
    git_cmd, git_output, make_executable, secretgate, secretgate_bin, text, Repo, Sandbox,
};

const SECRET: &str = "s3cr3t-Xk29fLq0pZ8vB7nM";
const OTHER_SECRET: &str = "Qm7vLx2Rt9Wp4Zk8Nc3Jh6Yd";
const AWS_ID: &str = "AKIA4HKQ7ZPLX3MWVN2T";
const AWS_SECRET: &str = "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";

/// A work tree on branch `main` with the hook installed.
fn hooked(sb: &Sandbox, name: &str) -> Repo {
    let r = sb.work(name);
    let o = secretgate(sb.path(), &["install", "pre-commit", "-C", name]);
    assert!(o.status.success(), "install failed: {}", text(&o));
    r
}

fn head(r: &Repo) -> Option<String> {
    let o = git_output(&r.dir, &["rev-parse", "--verify", "-q", "HEAD"]);
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).trim().to_owned())
}

/// `git commit <args>` through the hook.
fn commit(r: &Repo, args: &[&str]) -> Output {
    let mut all = vec!["commit", "-m", "change"];
    all.extend_from_slice(args);
    git_output(&r.dir, &all)
}

/// Commits through the hook and asserts git refused and no commit was made.
#[track_caller]
fn assert_refused(r: &Repo, args: &[&str]) -> String {
    let before = head(r);
    let o = commit(r, args);
    let out = text(&o);
    assert!(!o.status.success(), "the commit went through:\n{out}");
    assert!(
        out.contains("secretgate: commit rejected"),
        "not refused by secretgate:\n{out}"
    );
    assert_eq!(head(r), before, "a commit was made:\n{out}");
    out
}

/// Commits through the hook and asserts it was made.
#[track_caller]
fn assert_accepted(r: &Repo, args: &[&str]) -> String {
    let before = head(r);
    let o = commit(r, args);
    let out = text(&o);
    assert!(o.status.success(), "the commit was refused:\n{out}");
    assert_ne!(head(r), before, "no commit was made:\n{out}");
    out
}

fn add(r: &Repo, path: &str, content: impl AsRef<[u8]>) {
    r.write(path, content);
    r.git(&["add", "--", path]);
}

fn flask_app(secret_line: &str, run_line: &str) -> String {
    format!(
        "import os\n\nfrom flask import Flask\n\napp = Flask(__name__)\n{secret_line}\n\n\n@app.route(\"/\")\ndef index():\n    return \"hello\"\n\n\nif __name__ == \"__main__\":\n    {run_line}\n"
    )
}

#[test]
fn refuses_a_staged_secret_key() {
    let sb = Sandbox::new();
    let r = hooked(&sb, "w");
    add(
        &r,
        "app.py",
        flask_app(
            &format!("app.config[\"SECRET_KEY\"] = \"{SECRET}\""),
            "app.run()",
        ),
    );
    let out = assert_refused(&r, &[]);
    assert!(out.contains("app.py:6"), "{out}");
    assert!(out.contains("flask-secret-key"), "{out}");
    assert!(out.contains("os.environ[\"SECRET_KEY\"]"), "{out}");
    assert!(out.contains("no history needs rewriting"), "{out}");
    assert!(!out.contains(SECRET), "the secret was printed:\n{out}");
    assert!(!out.contains("git rebase"), "{out}");
}

#[test]
fn refuses_debug_mode() {
    let sb = Sandbox::new();
    let r = hooked(&sb, "w");
    add(&r, "app.py", flask_app("", "app.run(debug=True)"));
    let out = assert_refused(&r, &[]);
    assert!(
        out.contains("app.py:15") && out.contains("flask-debug"),
        "{out}"
    );
    assert!(out.contains("FLASK_DEBUG"), "{out}");
}

#[test]
fn refuses_flask_debug_in_a_dotenv() {
    let sb = Sandbox::new();
    let r = hooked(&sb, "w");
    add(&r, "README.md", "# app\n");
    assert_accepted(&r, &[]);
    add(&r, ".env", "FLASK_APP=app\nFLASK_DEBUG=1\n");
    let out = assert_refused(&r, &[]);
    assert!(
        out.contains(".env:2") && out.contains("flask-debug"),
        "{out}"
    );
}

#[test]
fn refuses_an_aws_access_key() {
    let sb = Sandbox::new();
    let r = hooked(&sb, "w");
    add(
        &r,
        "deploy.py",
        format!("import boto3\n\nclient = boto3.client(\n    \"s3\",\n    aws_access_key_id=\"{AWS_ID}\",\n    aws_secret_access_key=\"{AWS_SECRET}\",\n)\n"),
    );
    let out = assert_refused(&r, &[]);
    assert!(out.contains("aws-access-key-id"), "{out}");
    assert!(out.contains("deploy.py:5"), "{out}");
    assert!(!out.contains(AWS_ID), "the key id was printed:\n{out}");
}

#[test]
fn accepts_the_same_lines_loaded_from_the_environment() {
    let sb = Sandbox::new();
    let r = hooked(&sb, "w");
    add(
        &r,
        "app.py",
        flask_app(
            "app.config[\"SECRET_KEY\"] = os.environ[\"SECRET_KEY\"]",
            "app.run(debug=os.environ.get(\"FLASK_DEBUG\") == \"1\")",
        ),
    );
    add(&r, ".env", "FLASK_APP=app\nFLASK_DEBUG=0\n");
    add(
        &r,
        "deploy.py",
        "import os\n\nimport boto3\n\nclient = boto3.client(\n    \"s3\",\n    aws_access_key_id=os.environ[\"AWS_ACCESS_KEY_ID\"],\n    aws_secret_access_key=os.environ[\"AWS_SECRET_ACCESS_KEY\"],\n)\n",
    );
    let out = assert_accepted(&r, &[]);
    assert!(!out.contains("secretgate"), "{out}");
}

#[test]
fn judges_the_staged_content_not_the_work_tree() {
    let sb = Sandbox::new();
    let r = hooked(&sb, "w");
    add(&r, "app.py", flask_app("", "app.run()"));
    assert_accepted(&r, &[]);

    // Staged: the secret. On disk: fixed but not staged. The commit would hold the secret.
    add(
        &r,
        "app.py",
        flask_app(&format!("app.secret_key = \"{SECRET}\""), "app.run()"),
    );
    r.write(
        "app.py",
        flask_app("app.secret_key = os.environ[\"SECRET_KEY\"]", "app.run()"),
    );
    let out = assert_refused(&r, &[]);
    assert!(out.contains("app.py:6"), "{out}");

    // Staged: clean. On disk: a secret and debug mode, not staged. The commit holds neither.
    add(
        &r,
        "app.py",
        flask_app("app.secret_key = os.environ[\"SECRET_KEY\"]", "app.run()"),
    );
    r.write(
        "app.py",
        flask_app(
            &format!("app.secret_key = \"{SECRET}\""),
            "app.run(debug=True)",
        ),
    );
    assert_accepted(&r, &[]);
    let committed = r.git(&["show", "HEAD:app.py"]);
    assert!(!committed.contains(SECRET));
}

#[test]
fn judges_only_lines_the_commit_adds() {
    let sb = Sandbox::new();
    let r = hooked(&sb, "w");
    // A secret already in the history (committed without the hook) is the audit's business.
    r.commit_file(
        "config.py",
        format!("SECRET_KEY = \"{SECRET}\"\nNAME = \"app\"\n"),
        "old",
    );
    add(
        &r,
        "config.py",
        format!("SECRET_KEY = \"{SECRET}\"\nNAME = \"app2\"\nTIMEOUT = 3\n"),
    );
    assert_accepted(&r, &[]);
    add(
        &r,
        "config.py",
        format!(
            "SECRET_KEY = \"{SECRET}\"\nNAME = \"app2\"\nTIMEOUT = 3\nSECURITY_PASSWORD_SALT = \"{OTHER_SECRET}\"\n"
        ),
    );
    let out = assert_refused(&r, &[]);
    assert!(out.contains("config.py:4"), "{out}");
    assert!(!out.contains("config.py:1 "), "{out}");
}

#[test]
fn works_on_an_unborn_branch() {
    let sb = Sandbox::new();
    let r = hooked(&sb, "w");
    assert_eq!(head(&r), None);
    add(&r, "settings.py", format!("SECRET_KEY = \"{SECRET}\"\n"));
    assert_refused(&r, &[]);
    assert_eq!(head(&r), None);
    add(
        &r,
        "settings.py",
        "SECRET_KEY = os.environ[\"SECRET_KEY\"]\n",
    );
    assert_accepted(&r, &[]);
    // A branch of its own with no commit yet, in a repository that has commits.
    r.git(&["checkout", "-q", "--orphan", "fresh"]);
    add(&r, "app.py", flask_app("", "app.run(debug=True)"));
    assert_refused(&r, &[]);
}

#[test]
fn git_commit_all_and_git_commit_paths_use_their_temporary_index() {
    let sb = Sandbox::new();
    let r = hooked(&sb, "w");
    add(&r, "app.py", flask_app("", "app.run()"));
    add(&r, "notes.txt", "notes\n");
    assert_accepted(&r, &[]);

    // Changed on disk only: `git commit -a` and `git commit app.py` commit it.
    r.write("app.py", flask_app("", "app.run(debug=True)"));
    let out = assert_refused(&r, &["-a"]);
    assert!(out.contains("app.py:15"), "{out}");
    assert_refused(&r, &["app.py"]);
    assert_refused(&r, &["-a", "-q"]);

    // Staged: the debug line. `git commit notes.txt` commits only notes.txt.
    r.git(&["add", "app.py"]);
    r.write("notes.txt", "more notes\n");
    assert_accepted(&r, &["notes.txt"]);
    assert_eq!(r.git(&["show", "HEAD:notes.txt"]), "more notes");
    // The staged debug line is still staged, and still refused.
    assert_refused(&r, &[]);
    // Fixed on disk: `git commit -a` stages and commits the fix.
    r.write("app.py", flask_app("", "app.run(port=8000)"));
    assert_accepted(&r, &["-a"]);
}

#[test]
fn renames_add_only_their_edits() {
    let sb = Sandbox::new();
    let r = hooked(&sb, "w");
    let old = format!("import os\n\nSECRET_KEY = \"{SECRET}\"\nNAME = \"app\"\n");
    r.commit_file("config.py", &old, "known finding");

    r.git(&["mv", "config.py", "settings.py"]);
    assert_accepted(&r, &[]);

    std::fs::create_dir(r.dir.join("instance")).unwrap();
    r.git(&["mv", "settings.py", "instance/settings.py"]);
    r.write(
        "instance/settings.py",
        format!("{old}DEBUG = False\nSECURITY_PASSWORD_SALT = \"{OTHER_SECRET}\"\n"),
    );
    r.git(&["add", "-A"]);
    let out = assert_refused(&r, &[]);
    assert!(out.contains("instance/settings.py:6"), "{out}");
    assert!(!out.contains("settings.py:3"), "{out}");

    r.write("instance/settings.py", format!("{old}DEBUG = False\n"));
    r.git(&["add", "-A"]);
    assert_accepted(&r, &[]);
}

#[test]
fn binary_files_are_committed_and_text_beside_them_still_judged() {
    let sb = Sandbox::new();
    let r = hooked(&sb, "w");
    let mut blob = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    blob.extend_from_slice(format!("SECRET_KEY = \"{SECRET}\"\n").as_bytes());
    blob.extend((0..4096u32).map(|i| (i * 7 % 251) as u8));
    add(&r, "static/logo.png", &blob);
    assert_accepted(&r, &[]);

    blob.extend_from_slice(b"\0more");
    add(&r, "static/logo.png", &blob);
    add(&r, "app.py", flask_app("", "app.run(debug=True)"));
    let out = assert_refused(&r, &[]);
    assert!(
        out.contains("app.py:15") && !out.contains("logo.png"),
        "{out}"
    );
}

#[test]
fn deletions_mode_changes_symlinks_and_submodules_add_nothing() {
    let sb = Sandbox::new();
    let r = hooked(&sb, "w");
    r.commit_file(
        "config.py",
        format!("SECRET_KEY = \"{SECRET}\"\n"),
        "known finding",
    );
    r.commit_file(
        "old.py",
        format!("SECRET_KEY = \"{OTHER_SECRET}\"\n"),
        "another",
    );

    // Mode only.
    r.git(&["update-index", "--chmod=+x", "config.py"]);
    assert_accepted(&r, &[]);
    // Deletion.
    r.git(&["rm", "-q", "old.py"]);
    assert_accepted(&r, &[]);
    // A symbolic link whose target text looks like a secret assignment.
    std::os::unix::fs::symlink(format!("SECRET_KEY={OTHER_SECRET}"), r.dir.join("link.py"))
        .unwrap();
    r.git(&["add", "link.py"]);
    // A submodule (gitlink) entry.
    let commit = r.git(&["rev-parse", "HEAD"]);
    r.git(&[
        "update-index",
        "--add",
        "--cacheinfo",
        &format!("160000,{commit},vendor/lib"),
    ]);
    assert_accepted(&r, &[]);
    let tree = r.git(&["ls-tree", "HEAD"]);
    assert!(tree.contains("120000") && tree.contains("vendor"), "{tree}");
    // A symbolic link replaced by a file: the file is new content.
    r.git(&["rm", "-q", "--cached", "link.py"]);
    std::fs::remove_file(r.dir.join("link.py")).unwrap();
    add(&r, "link.py", format!("SECRET_KEY = \"{OTHER_SECRET}x\"\n"));
    assert_refused(&r, &[]);
}

#[test]
fn inside_a_merge_only_lines_neither_side_had_count() {
    let sb = Sandbox::new();
    let r = hooked(&sb, "w");
    r.commit_file("config.py", "NAME = \"app\"\nTIMEOUT = 1\n", "base");
    r.git(&["checkout", "-q", "-b", "feature"]);
    // The feature branch already holds a finding (committed without the hook).
    r.commit_file(
        "config.py",
        format!("NAME = \"app\"\nTIMEOUT = 2\nSECRET_KEY = \"{SECRET}\"\n"),
        "feature",
    );
    r.git(&["checkout", "-q", "main"]);
    r.commit_file("config.py", "NAME = \"app\"\nTIMEOUT = 3\n", "main");

    let o = git_output(&r.dir, &["merge", "feature"]);
    assert!(!o.status.success(), "expected a conflict: {}", text(&o));
    // While paths are unmerged the hook has nothing to judge there, and git refuses anyway.
    let o = secretgate(&r.dir, &["pre-commit"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!commit(&r, &[]).status.success());

    // A resolution that adds a value neither side had is refused.
    add(
        &r,
        "config.py",
        format!("NAME = \"app\"\nTIMEOUT = 3\nSECRET_KEY = \"{SECRET}\"\nSECURITY_PASSWORD_SALT = \"{OTHER_SECRET}\"\n"),
    );
    let out = assert_refused(&r, &["--no-edit"]);
    assert!(
        out.contains("config.py:4") && !out.contains("config.py:3"),
        "{out}"
    );
    assert!(r.dir.join(".git/MERGE_HEAD").exists());

    // Keeping what the merged branch already had is not new.
    add(
        &r,
        "config.py",
        format!("NAME = \"app\"\nTIMEOUT = 3\nSECRET_KEY = \"{SECRET}\"\n"),
    );
    assert_accepted(&r, &["--no-edit"]);
    assert_eq!(r.git(&["rev-list", "--count", "--merges", "HEAD"]), "1");
}

#[test]
fn a_merge_concluded_by_git_commit_does_not_block_again_on_the_branch() {
    let sb = Sandbox::new();
    let r = hooked(&sb, "w");
    r.commit_file("app.py", flask_app("", "app.run()"), "base");
    r.git(&["checkout", "-q", "-b", "feature"]);
    r.commit_file(
        "config.py",
        format!("SECRET_KEY = \"{SECRET}\"\n"),
        "feature",
    );
    r.git(&["checkout", "-q", "main"]);
    r.commit_file("README.md", "# app\n", "main");
    r.git(&["merge", "--no-commit", "--no-ff", "feature"]);
    assert_accepted(&r, &["--no-edit"]);
}

#[test]
fn works_from_a_linked_worktree_and_a_subdirectory() {
    let sb = Sandbox::new();
    let r = hooked(&sb, "w");
    r.commit_file("README.md", "# app\n", "base");
    let wt = sb.path().join("wt");
    r.git(&["worktree", "add", "-q", "-b", "side", wt.to_str().unwrap()]);
    let w = Repo { dir: wt };
    add(&w, "pkg/app.py", flask_app("", "app.run(debug=True)"));
    let o = git_output(&w.dir.join("pkg"), &["commit", "-m", "x"]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("pkg/app.py:15"), "{}", text(&o));
}

#[test]
fn allow_comments_baseline_and_the_projects_config_work_as_in_scan() {
    let sb = Sandbox::new();
    let r = hooked(&sb, "w");
    add(
        &r,
        "app.py",
        flask_app("", "app.run(debug=True)  # secretgate:allow (local tool)"),
    );
    assert_accepted(&r, &[]);

    // A baseline made from the JSON report silences known findings.
    add(&r, "settings.py", format!("SECRET_KEY = \"{SECRET}\"\n"));
    let o = secretgate(&r.dir, &["pre-commit", "--format", "json"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let findings = report.as_array().unwrap();
    assert_eq!(findings.len(), 1, "{report}");
    assert_eq!(findings[0]["rule_id"], "flask-secret-key");
    assert_eq!(findings[0]["path"], "settings.py");
    assert_eq!(findings[0]["line"], 1);
    assert!(findings[0]["commit"].is_null());
    let baseline = sb.path().join("baseline.json");
    std::fs::write(&baseline, &o.stdout).unwrap();
    let o = secretgate(
        &r.dir,
        &["pre-commit", "--baseline", baseline.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    // The project's .secretgate.toml may allow values for this repository.
    r.write(
        ".secretgate.toml",
        format!("[allowlist]\nvalues = ['''^{SECRET}$''']\n"),
    );
    assert_accepted(&r, &[]);
    add(&r, "other.py", format!("SECRET_KEY = \"{OTHER_SECRET}\"\n"));
    assert_refused(&r, &[]);
    // Once tracked, the staged version counts (what is committed, and what a server reads).
    r.write(
        ".secretgate.toml",
        format!("[allowlist]\nvalues = ['''^{OTHER_SECRET}$''']\n"),
    );
    r.git(&["add", ".secretgate.toml"]);
    r.write(".secretgate.toml", "[allowlist]\nvalues = []\n");
    assert_accepted(&r, &[]);
    r.git(&["add", ".secretgate.toml"]);
    add(&r, "third.py", format!("SECRET_KEY = \"{OTHER_SECRET}\"\n"));
    assert_refused(&r, &[]);
    r.git(&["rm", "-q", "--cached", ".secretgate.toml"]);
    // ... and nothing else: a policy in it is a configuration error, which refuses too.
    r.write(".secretgate.toml", "[policy]\nblock = []\n");
    let o = commit(&r, &[]);
    assert!(!o.status.success());
    let o = secretgate(&r.dir, &["pre-commit"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("may only contain [allowlist]"),
        "{}",
        text(&o)
    );
}

#[test]
fn oversized_files_are_listed_not_read() {
    let sb = Sandbox::new();
    let r = sb.work("w");
    let config = sb.path().join("rules.toml");
    std::fs::write(
        &config,
        "[extend]\ndefault = true\n\n[policy]\nmax_blob_bytes = 200\n",
    )
    .unwrap();
    let mut big = format!("SECRET_KEY = \"{SECRET}\"\n");
    big.push_str(&"# padding\n".repeat(40));
    add(&r, "big.py", &big);
    let o = secretgate(
        &r.dir,
        &["pre-commit", "--config", config.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("big.py"), "{}", text(&o));
    add(&r, "small.py", format!("SECRET_KEY = \"{SECRET}\"\n"));
    let o = secretgate(
        &r.dir,
        &["pre-commit", "--config", config.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));

    // By policy, a file that cannot be read blocks the commit, and is named.
    r.git(&["rm", "-q", "--cached", "small.py"]);
    std::fs::write(
        &config,
        "[extend]\ndefault = true\n\n[policy]\nmax_blob_bytes = 200\noversize = \"block\"\n",
    )
    .unwrap();
    for format in ["human", "json"] {
        let o = secretgate(
            &r.dir,
            &[
                "pre-commit",
                "--format",
                format,
                "--config",
                config.to_str().unwrap(),
            ],
        );
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("big.py") && err.contains("rejected"),
            "{}",
            text(&o)
        );
    }
}

#[test]
fn git_reads_its_home_inside_the_sandbox() {
    // A global ignore file in the sandbox's home is honoured, so the developer's own (which
    // could make `git add .env` fail) is never read.
    let sb = Sandbox::new();
    let r = sb.work("w");
    let ignore = crate::gitutil::home_for(&r.dir).join(".config/git/ignore");
    std::fs::create_dir_all(ignore.parent().unwrap()).unwrap();
    std::fs::write(&ignore, "only-in-the-sandbox.txt\n").unwrap();
    assert!(ignore.starts_with(sb.path()), "{}", ignore.display());
    r.write("only-in-the-sandbox.txt", "x\n");
    let o = git_output(&r.dir, &["check-ignore", "-q", "only-in-the-sandbox.txt"]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn a_bare_repository_is_a_usage_error() {
    let sb = Sandbox::new();
    let r = sb.work("w");
    r.commit_file("README.md", "hello\n", "initial");
    let bare = sb.path().join("bare.git");
    crate::gitutil::git(
        sb.path(),
        &[
            "clone",
            "-q",
            "--bare",
            r.dir.to_str().unwrap(),
            bare.to_str().unwrap(),
        ],
    );
    for args in [vec!["pre-commit"], vec!["pre-commit", "--format", "json"]] {
        let o = secretgate(&bare, &args);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("is a bare repository"),
            "{}",
            text(&o)
        );
    }
    let o = secretgate(sb.path(), &["pre-commit", "-C", "bare.git"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = crate::gitutil::secretgate_cmd(sb.path())
        .arg("pre-commit")
        .env("GIT_DIR", &bare)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    // GIT_DIR naming a repository that is not bare: the current folder is the work tree.
    let o = crate::gitutil::secretgate_cmd(&r.dir)
        .arg("pre-commit")
        .env("GIT_DIR", r.dir.join(".git"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn dash_c_and_errors() {
    let sb = Sandbox::new();
    let r = sb.work("w");
    add(&r, "app.py", flask_app("", "app.run(debug=True)"));
    let o = secretgate(sb.path(), &["pre-commit", "-C", "w"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    // Not a repository: the hook cannot decide, so it refuses (exit 3).
    let plain = sb.path().join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    let o = secretgate(sb.path(), &["pre-commit", "-C", "plain"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("commit rejected because the secret scanner failed"));
}

#[test]
fn install_keeps_and_chains_an_existing_hook() {
    let sb = Sandbox::new();
    let r = sb.work("w");
    let hook = r.dir.join(".git/hooks/pre-commit");
    std::fs::write(
        &hook,
        "#!/bin/sh\necho ran >> \"$(git rev-parse --git-dir)/theirs-ran\"\nif [ -f STOP ]; then echo 'their hook says no' >&2; exit 7; fi\n",
    )
    .unwrap();
    make_executable(&hook);
    let o = secretgate(sb.path(), &["install", "pre-commit", "-C", "w"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("pre-commit.secretgate-chained"),
        "{}",
        text(&o)
    );
    // Installing again changes nothing about the chain.
    let o = secretgate(sb.path(), &["install", "pre-commit", "-C", "w"]);
    assert!(o.status.success(), "{}", text(&o));
    let chained =
        std::fs::read_to_string(r.dir.join(".git/hooks/pre-commit.secretgate-chained")).unwrap();
    assert!(chained.contains("their hook says no"));

    add(&r, "app.py", flask_app("", "app.run()"));
    assert_accepted(&r, &[]);
    add(&r, "app.py", flask_app("", "app.run(debug=True)"));
    assert_refused(&r, &[]);
    let runs = std::fs::read_to_string(r.dir.join(".git/theirs-ran")).unwrap();
    assert_eq!(runs.lines().count(), 2);
    // Their hook still has its say.
    add(&r, "app.py", flask_app("", "app.run(port=8000)"));
    r.write("STOP", "");
    let o = commit(&r, &[]);
    assert!(!o.status.success() && text(&o).contains("their hook says no"));
    std::fs::remove_file(r.dir.join("STOP")).unwrap();
    assert_accepted(&r, &[]);

    // A third hook appears over ours while the chained one exists: install refuses, and says how.
    std::fs::write(&hook, "#!/bin/sh\nexit 0\n").unwrap();
    let o = secretgate(sb.path(), &["install", "pre-commit", "-C", "w"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("pre-commit || exit $?"), "{}", text(&o));
    assert_eq!(
        std::fs::read_to_string(&hook).unwrap(),
        "#!/bin/sh\nexit 0\n"
    );
}

#[test]
fn install_respects_core_hooks_path() {
    let sb = Sandbox::new();
    let r = sb.work("w");
    r.git(&["config", "core.hooksPath", ".githooks"]);
    let o = secretgate(sb.path(), &["install", "pre-commit", "-C", "w"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(r.dir.join(".githooks/pre-commit").exists());
    assert!(!r.dir.join(".git/hooks/pre-commit").exists());
    // The folder is in the work tree, shared with the project: no path of this machine goes
    // into it, the hook finds secretgate on PATH, and the install says so.
    let script = std::fs::read_to_string(r.dir.join(".githooks/pre-commit")).unwrap();
    let bin = secretgate_bin();
    assert!(!script.contains(bin.to_str().unwrap()), "{script}");
    assert!(script.contains("command -v secretgate"), "{script}");
    assert!(text(&o).contains("from PATH"), "{}", text(&o));

    add(&r, "app.py", flask_app("", "app.run(debug=True)"));
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let o = git_cmd(&r.dir)
        .args(["commit", "-m", "change"])
        .env("PATH", &path)
        .output()
        .unwrap();
    assert!(
        !o.status.success() && text(&o).contains("secretgate: commit rejected"),
        "{}",
        text(&o)
    );
    // Without secretgate on PATH, the commit is refused and the message says why.
    let o = git_cmd(&r.dir)
        .args(["commit", "-m", "change"])
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    assert!(
        !o.status.success() && text(&o).contains("not on PATH"),
        "{}",
        text(&o)
    );
}

#[test]
fn install_refuses_to_chain_the_frameworks_hook() {
    let sb = Sandbox::new();
    let r = sb.work("w");
    r.write(".pre-commit-config.yaml", "repos: []\n");
    let o = framework(&r.dir, &["install"]);
    assert!(
        o.status.success(),
        "pre-commit install failed:\n{}",
        text(&o)
    );
    let hook = r.dir.join(".git/hooks/pre-commit");
    let before = std::fs::read(&hook).unwrap();
    let o = secretgate(sb.path(), &["install", "pre-commit", "-C", "w"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(out.contains(".pre-commit-config.yaml"), "{out}");
    assert!(out.contains("entry: secretgate pre-commit"), "{out}");
    assert_eq!(
        std::fs::read(&hook).unwrap(),
        before,
        "the framework's hook was changed"
    );
    assert!(!r
        .dir
        .join(".git/hooks/pre-commit.secretgate-chained")
        .exists());
}

#[test]
fn the_hand_copied_hook_script_finds_the_binary() {
    let sb = Sandbox::new();
    let r = sb.work("w");
    let hook = r.dir.join(".git/hooks/pre-commit");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("hooks/pre-commit"),
        &hook,
    )
    .unwrap();
    make_executable(&hook);
    add(&r, "app.py", flask_app("", "app.run(debug=True)"));
    let run = |bin: &str| {
        git_cmd(&r.dir)
            .env("SECRETGATE_BIN", bin)
            .args(["commit", "-m", "x"])
            .output()
            .unwrap()
    };
    let o = run(secretgate_bin().to_str().unwrap());
    assert!(
        !o.status.success() && text(&o).contains("commit rejected"),
        "{}",
        text(&o)
    );
    let o = run("/nonexistent/secretgate");
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("SECRETGATE_BIN"), "{}", text(&o));
    assert_eq!(head(&r), None);
}

/// The staged walk (index and HEAD's tree together, skipping directories the cache-tree
/// vouches for) must find exactly the files `git diff-index --cached` finds, whatever the
/// index looks like: random edits, additions, deletions, mode changes, directory/file swaps and
/// symbolic links over many rounds, committing now and then so that the cache-tree is partly
/// valid.
#[test]
fn the_staged_walk_agrees_with_git_diff_index() {
    use std::collections::BTreeSet;

    use secretgate::source::staged::{StagedEnv, StagedRepo};

    let sb = Sandbox::new();
    let r = sb.work("w");
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut rand = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let dirs = ["", "a/", "a/b/", "a/b/c/", "a-b/", "d/", "d/e/", "a0/"];
    let names = ["x.py", "y.txt", "a", "a.b", "z", "b"];
    let mut files: Vec<String> = Vec::new();
    for round in 0..40 {
        for _ in 0..1 + rand(6) {
            let dir = dirs[rand(dirs.len())];
            let path = format!("{dir}{}", names[rand(names.len())]);
            let full = r.dir.join(&path);
            match rand(7) {
                0..=2 => {
                    // Write a file, unless a directory or a file is in the way.
                    if full.is_dir()
                        || full
                            .ancestors()
                            .skip(1)
                            .any(|p| p.is_file() || p.is_symlink())
                    {
                        continue;
                    }
                    let _ = std::fs::remove_file(&full);
                    r.write(&path, format!("{path} {round} {}\n", rand(3)));
                    files.push(path);
                }
                3 if !files.is_empty() => {
                    let p = files.swap_remove(rand(files.len()));
                    let _ = std::fs::remove_file(r.dir.join(&p));
                }
                4 if !files.is_empty() => {
                    let p = &files[rand(files.len())];
                    let _ = git_output(&r.dir, &["update-index", "--chmod=+x", "--", p]);
                }
                5 if !full.exists() && !full.is_symlink() => {
                    if full
                        .ancestors()
                        .skip(1)
                        .any(|p| p.is_file() || p.is_symlink())
                    {
                        continue;
                    }
                    std::fs::create_dir_all(full.parent().unwrap()).unwrap();
                    std::os::unix::fs::symlink(format!("target-{}", rand(2)), &full).unwrap();
                    files.push(path);
                }
                6 => {
                    let d = r.dir.join(dir);
                    if !dir.is_empty() && d.is_dir() {
                        std::fs::remove_dir_all(&d).unwrap();
                        files.retain(|f| !f.starts_with(dir));
                    }
                }
                _ => {}
            }
        }
        r.git(&["add", "-A"]);
        files.retain(|f| r.dir.join(f).exists() || r.dir.join(f).is_symlink());

        // What git says: files (not links, not submodules) whose staged blob is new at the path,
        // less the pure renames (a blob that a deleted file held).
        let raw = git_output(
            &r.dir,
            &[
                "diff-index",
                "--cached",
                "--no-renames",
                "-z",
                "--raw",
                "HEAD",
            ],
        );
        let raw = if head(&r).is_some() {
            raw.stdout
        } else {
            git_output(
                &r.dir,
                &[
                    "diff-index",
                    "--cached",
                    "--no-renames",
                    "-z",
                    "--raw",
                    "4b825dc642cb6eb9a060e54bf8d69288fbee4904",
                ],
            )
            .stdout
        };
        let fields: Vec<&[u8]> = raw.split(|&b| b == 0).collect();
        let mut deleted = BTreeSet::new();
        let mut added = Vec::new();
        for pair in fields.chunks(2) {
            if pair.len() < 2 || pair[0].is_empty() {
                continue;
            }
            let meta = String::from_utf8_lossy(&pair[0][1..]).into_owned();
            let path = String::from_utf8_lossy(pair[1]).into_owned();
            let m: Vec<&str> = meta.split(' ').collect();
            let is_file = |mode: &str| mode.starts_with("100");
            let (old_file, new_file) = (is_file(m[0]), is_file(m[1]));
            if old_file && !new_file {
                deleted.insert(m[2].to_owned());
            }
            if new_file && !(old_file && m[2] == m[3]) {
                added.push((path, m[3].to_owned()));
            }
        }
        let expected: BTreeSet<(String, String)> = added
            .into_iter()
            .filter(|(_, id)| !deleted.contains(id))
            .collect();

        let repo = StagedRepo::open(Some(&r.dir), &StagedEnv::default()).unwrap();
        let got: BTreeSet<(String, String)> = repo
            .changes()
            .unwrap()
            .changes
            .iter()
            .filter_map(|c| c.new.map(|n| (c.path.to_string(), n.to_string())))
            .collect();
        assert_eq!(got, expected, "round {round}");

        if rand(3) == 0 {
            r.git(&[
                "commit",
                "-q",
                "--no-verify",
                "--allow-empty",
                "-m",
                "round",
            ]);
        }
    }
}

#[test]
fn a_large_first_commit_is_scanned_on_several_threads() {
    let sb = Sandbox::new();
    let r = sb.work("w");
    for i in 0..80 {
        r.write(
            &format!("pkg{}/mod{i}.py", i % 7),
            format!("VALUE_{i} = {i}\n"),
        );
    }
    r.write("pkg3/settings.py", format!("SECRET_KEY = \"{SECRET}\"\n"));
    r.write("pkg5/app.py", flask_app("", "app.run(debug=True)"));
    r.git(&["add", "-A"]);
    for jobs in ["1", "2", "4"] {
        let o = secretgate(&r.dir, &["pre-commit", "--jobs", jobs, "--format", "jsonl"]);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let got: Vec<(String, u64)> = lines
            .iter()
            .map(|f| {
                (
                    f["path"].as_str().unwrap().to_owned(),
                    f["line"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("pkg3/settings.py".to_owned(), 1),
                ("pkg5/app.py".to_owned(), 15)
            ],
            "--jobs {jobs}"
        );
    }
}

/// The pre-commit framework (https://pre-commit.com, the `pre-commit` package on PyPI), run in
/// `dir` with its cache inside the sandbox. `.ci/run` installs it; a test that needs it fails
/// (never skips) when it is missing.
fn framework(dir: &Path, args: &[&str]) -> Output {
    let home = crate::gitutil::home_for(dir).join("pre-commit-cache");
    match crate::gitutil::tool_cmd("pre-commit", dir)
        .env("PRE_COMMIT_HOME", &home)
        .args(args)
        .output()
    {
        Ok(o) => o,
        Err(e) => panic!(
            "the pre-commit framework is needed for this test and could not be run ({e}); \
             install it with `python3 -m pip install pre-commit` (.ci/run does)"
        ),
    }
}

/// A `.pre-commit-config.yaml` whose local hook is this repository's own
/// `.pre-commit-hooks.yaml` entry (same arguments, stages and file passing), calling the built
/// binary instead of building it with cargo.
fn framework_config() -> String {
    let manifest = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join(".pre-commit-hooks.yaml"),
    )
    .unwrap();
    assert!(manifest.contains("language: rust") && manifest.contains("entry: secretgate "));
    let hooks: String = manifest
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| {
            let l = l.replace("language: rust", "language: system").replace(
                "entry: secretgate ",
                &format!("entry: {} ", secretgate_bin().display()),
            );
            format!("      {l}\n")
        })
        .collect();
    format!("repos:\n  - repo: local\n    hooks:\n{hooks}")
}

/// A repository whose history already holds a secret in `config.py`, with the framework's
/// configuration committed.
fn framework_repo(sb: &Sandbox) -> (Repo, String, String) {
    let r = sb.work("fw");
    r.write(".pre-commit-config.yaml", framework_config());
    let clean = r.commit_file("README.md", "# app\n", "start");
    let leaky = r.commit_file(
        "config.py",
        format!("SECRET_KEY = \"{SECRET}\"\nTIMEOUT = 3\n"),
        "add config",
    );
    r.commit_file("notes.txt", "nothing here\n", "notes");
    (r, clean, leaky)
}

#[test]
fn the_framework_judges_committed_files_with_all_files_and_files() {
    let sb = Sandbox::new();
    let (r, _, _) = framework_repo(&sb);
    let o = framework(&r.dir, &["run", "--all-files"]);
    let out = text(&o);
    assert!(
        !o.status.success(),
        "--all-files passed on a committed secret:\n{out}"
    );
    assert!(
        out.contains("config.py:1") && out.contains("flask-secret-key"),
        "{out}"
    );
    assert!(out.contains("check failed"), "{out}");
    assert!(!out.contains(SECRET), "the value leaked:\n{out}");

    let o = framework(&r.dir, &["run", "--files", "config.py"]);
    assert!(
        !o.status.success(),
        "--files config.py passed:\n{}",
        text(&o)
    );
    let o = framework(&r.dir, &["run", "--files", "README.md", "notes.txt"]);
    assert!(o.status.success(), "clean files failed:\n{}", text(&o));
}

#[test]
fn the_framework_judges_the_lines_a_range_adds() {
    let sb = Sandbox::new();
    let (r, clean, leaky) = framework_repo(&sb);
    let o = framework(&r.dir, &["run", "--from-ref", &clean, "--to-ref", &leaky]);
    let out = text(&o);
    assert!(
        !o.status.success(),
        "the range that adds the secret passed:\n{out}"
    );
    assert!(out.contains("config.py:1"), "{out}");
    // A range after the secret came in adds nothing that blocks.
    let o = framework(&r.dir, &["run", "--from-ref", &leaky, "--to-ref", "HEAD"]);
    assert!(o.status.success(), "a clean range failed:\n{}", text(&o));
}

#[test]
fn through_the_framework_a_commit_is_judged_by_its_staged_added_lines() {
    let sb = Sandbox::new();
    let (r, _, _) = framework_repo(&sb);
    let o = framework(&r.dir, &["install"]);
    assert!(
        o.status.success(),
        "pre-commit install failed:\n{}",
        text(&o)
    );
    // The file already holds a secret; a commit that only adds a clean line to it passes.
    r.write(
        "config.py",
        format!("SECRET_KEY = \"{SECRET}\"\nTIMEOUT = 3\nRETRIES = 5\n"),
    );
    r.git(&["add", "config.py"]);
    assert_accepted(&r, &[]);
    // A commit that adds a secret is refused.
    r.write("settings.py", format!("SECRET_KEY = \"{OTHER_SECRET}\"\n"));
    r.git(&["add", "settings.py"]);
    let o = commit(&r, &[]);
    let out = text(&o);
    assert!(!o.status.success(), "the commit went through:\n{out}");
    assert!(
        out.contains("secretgate: commit rejected") && out.contains("settings.py:1"),
        "{out}"
    );
}

#[test]
fn errors_are_said_once() {
    let sb = Sandbox::new();
    // Not a repository: the person is told the scanner failed, and the reason once.
    let plain = sb.path().join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    let o = secretgate(sb.path(), &["pre-commit", "-C", "plain"]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert_eq!(
        err.matches("cannot find a git repository").count(),
        1,
        "{}",
        text(&o)
    );
    assert_eq!(err.matches("secretgate: error:").count(), 1, "{}", text(&o));
    assert!(!err.contains("ERROR"), "{}", text(&o));

    // The project's own .secretgate.toml is invalid: said to be the project's file.
    let r = sb.work("w");
    add(&r, ".secretgate.toml", "[allowlist\n");
    let o = secretgate(sb.path(), &["pre-commit", "-C", "w"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(
        out.contains("the repository's own .secretgate.toml"),
        "{out}"
    );
    assert!(
        out.contains("project's own .secretgate.toml is invalid"),
        "{out}"
    );
}

#[test]
fn refuses_a_change_to_the_second_literal_of_a_split_key() {
    let sb = Sandbox::new();
    let r = hooked(&sb, "w");
    let key = |second: &str| {
        format!("SECRET_KEY = ('change'\n              '{second}')\nDEBUG = False\n")
    };
    add(&r, "config.py", key("-me"));
    assert_accepted(&r, &[]);
    // Only the second line changes: the key it makes is new, and reported where it starts.
    add(&r, "config.py", key("-Xk29fLq0pZ8vB7nMq4Wd"));
    let out = assert_refused(&r, &[]);
    assert!(out.contains("config.py:1"), "{out}");
    assert!(out.contains("flask-secret-key"), "{out}");
}

#[test]
fn refuses_a_default_added_to_a_terraform_variable_named_as_a_secret() {
    let sb = Sandbox::new();
    let r = hooked(&sb, "w");
    let variables = |default: &str| {
        format!(
            "variable \"db_password\" {{\n  type      = string\n{default}  sensitive = true\n}}\n"
        )
    };
    add(&r, "infra/variables.tf", variables(""));
    assert_accepted(&r, &[]);
    // Only the default's line is added: the name it is judged by is in the header above it.
    add(
        &r,
        "infra/variables.tf",
        variables(&format!("  default   = \"{OTHER_SECRET}\"\n")),
    );
    let out = assert_refused(&r, &[]);
    assert!(out.contains("infra/variables.tf:1"), "{out}");
    assert!(out.contains("generic-secret"), "{out}");
    assert!(out.contains("TF_VAR_db_password"), "{out}");
    assert!(
        !out.contains(OTHER_SECRET),
        "the secret was printed:\n{out}"
    );
}
