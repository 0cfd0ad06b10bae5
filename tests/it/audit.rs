//! `secretgate audit` over histories built with the real `git` binary: attribution to the commit,
//! path and line that brought a value in, through deletions, branches, tags, merges, renames,
//! shallow and partial clones and broken objects; and, on a small history, the proof that the
//! audit finds exactly what `secretgate scan` finds in every commit's checkout.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::gitutil::{git, git_cmd, git_output, secretgate, text, Repo, Sandbox};
use serde_json::Value;

const K1: &str = "9f2c4e6a8b0d1f3e5a7c9b1d3f5e7a9c";
const K2: &str = "3b5d7f9a1c3e5b7d9f1a3c5e7b9d1f3a";
const K3: &str = "e1d2c3b4a5968778695a4b3c2d1e0f9a";
const TOKEN: &str = "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";

/// What an audit printed with `--format json`.
struct Audit {
    code: i32,
    findings: Vec<Value>,
    out: Output,
}

impl Audit {
    fn only(&self, path: &str) -> &Value {
        let f: Vec<&Value> = self.findings.iter().filter(|f| f["path"] == path).collect();
        assert_eq!(f.len(), 1, "one finding at {path}:\n{}", text(&self.out));
        f[0]
    }

    fn paths(&self) -> BTreeSet<String> {
        self.findings
            .iter()
            .map(|f| f["path"].as_str().unwrap().to_owned())
            .collect()
    }
}

fn audit(dir: &Path, extra: &[&str]) -> Audit {
    let mut args = vec!["audit", ".", "--format", "json"];
    args.extend_from_slice(extra);
    let out = secretgate(dir, &args);
    let code = out.status.code().unwrap_or(-1);
    let findings: Vec<Value> = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not a JSON report ({e}):\n{}", text(&out)));
    Audit {
        code,
        findings,
        out,
    }
}

fn human(dir: &Path, extra: &[&str]) -> (i32, String) {
    let mut args = vec!["audit", "."];
    args.extend_from_slice(extra);
    let out = secretgate(dir, &args);
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Stages everything and commits at a given date (the topological order breaks ties by date).
fn commit_at(r: &Repo, message: &str, day: u32) -> String {
    r.git(&["add", "-A"]);
    commit_index_at(r, message, day)
}

/// Commits the index as it is.
fn commit_index_at(r: &Repo, message: &str, day: u32) -> String {
    let when = format!("2024-02-{day:02}T10:00:00Z");
    let o = git_cmd(&r.dir)
        .env("GIT_AUTHOR_DATE", &when)
        .env("GIT_COMMITTER_DATE", &when)
        .args([
            "commit",
            "-q",
            "--no-verify",
            "--allow-empty",
            "-m",
            message,
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "commit failed: {o:?}");
    r.git(&["rev-parse", "HEAD"])
}

fn config_py(key: &str) -> String {
    format!("import os\nSECRET_KEY = \"{key}\"\nDEBUG = False\n")
}

#[test]
fn added_then_removed_is_reported_at_the_adding_commit_and_not_at_head() {
    let sb = Sandbox::new();
    let r = sb.work("w");
    r.write("README.md", "hello\n");
    commit_at(&r, "readme", 1);
    r.write("app/config.py", config_py(K1));
    let added = commit_at(&r, "add config", 2);
    r.git(&["rm", "-q", "app/config.py"]);
    commit_at(&r, "remove config", 3);

    let a = audit(&r.dir, &[]);
    assert_eq!(a.code, 1, "{}", text(&a.out));
    assert_eq!(a.findings.len(), 1, "{}", text(&a.out));
    let f = a.only("app/config.py");
    assert_eq!(f["rule_id"], "flask-secret-key");
    assert_eq!(f["commit"], added.as_str());
    assert_eq!(f["line"], 2);
    assert_eq!(f["column"], 15);
    assert_eq!(f["author"], "Ada Lovelace <ada@example.com>");
    assert_eq!(f["date"], "2024-02-02T10:00:00+00:00");
    assert_eq!(f["ref"], Value::Null);
    assert_eq!(f["present_at_head"], false);
    assert_eq!(f["occurrences"], 1);
    assert_eq!(f["first_commit"], added.as_str());
    assert_eq!(f["last_commit"], added.as_str());
    assert!(!f["secret"].as_str().unwrap().contains(K1));

    let (code, report) = human(&r.dir, &[]);
    assert_eq!(code, 1);
    assert!(
        report.contains("0 still present at the tip of main, 1 in history only"),
        "{report}"
    );
    assert!(report.contains("flask-secret-key  1 high"), "{report}");
    assert!(
        report.contains("git filter-repo --replace-text"),
        "{report}"
    );
    assert!(!report.contains(K1), "{report}");
}

#[test]
fn same_secret_in_two_files_and_on_two_branches() {
    let sb = Sandbox::new();
    let r = sb.work("w");
    r.write("README.md", "hello\n");
    let base = commit_at(&r, "readme", 1);
    r.write("config.py", config_py(K1));
    r.write(
        "settings.py",
        format!("# settings\n\nSECRET_KEY = '{K1}'\n"),
    );
    let on_main = commit_at(&r, "config on main", 2);
    r.write("README.md", "hello again\n");
    let main_tip = commit_at(&r, "readme again", 5);
    r.git(&["checkout", "-q", "-b", "feature", &base]);
    // The same value at the same path, in a file with other content: another blob.
    r.write("config.py", format!("import os\n\nSECRET_KEY = \"{K1}\"\n"));
    let on_feature = commit_at(&r, "config on feature", 3);
    r.git(&["checkout", "-q", "main"]);

    let a = audit(&r.dir, &[]);
    assert_eq!(a.findings.len(), 2, "{}", text(&a.out));
    let c = a.only("config.py");
    assert_eq!(
        c["commit"],
        on_main.as_str(),
        "the earlier of the two branches"
    );
    assert_eq!(c["line"], 2);
    // Held by the main commit, its child, and the feature commit.
    assert_eq!(c["occurrences"], 3);
    assert_eq!(c["first_commit"], on_main.as_str());
    assert_eq!(c["last_commit"], main_tip.as_str());
    assert_eq!(c["present_at_head"], true);
    let s = a.only("settings.py");
    assert_eq!(s["commit"], on_main.as_str());
    assert_eq!(s["line"], 3);
    assert_ne!(s["fingerprint"], c["fingerprint"]);
    let _ = on_feature;
}

#[test]
fn secret_reachable_only_from_a_tag() {
    let sb = Sandbox::new();
    let r = sb.work("w");
    r.write("README.md", "hello\n");
    commit_at(&r, "readme", 1);
    r.git(&["checkout", "-q", "-b", "release"]);
    r.write("deploy.py", format!("GITHUB_TOKEN = \"{TOKEN}\"\n"));
    let tagged = commit_at(&r, "release config", 2);
    r.git(&["tag", "-a", "v1.0", "-m", "release 1.0"]);
    r.git(&["checkout", "-q", "main"]);
    r.git(&["branch", "-q", "-D", "release"]);

    let a = audit(&r.dir, &[]);
    let f = a.only("deploy.py");
    assert_eq!(f["rule_id"], "github-pat-classic");
    assert_eq!(f["commit"], tagged.as_str());
    assert_eq!(f["line"], 1);
    assert_eq!(f["present_at_head"], false);
}

#[test]
fn merge_keeps_the_branch_commit_and_an_evil_merge_is_its_own() {
    let sb = Sandbox::new();
    let r = sb.work("w");
    r.write("README.md", "hello\n");
    commit_at(&r, "readme", 1);
    r.git(&["checkout", "-q", "-b", "feature"]);
    r.write("feature/config.py", config_py(K1));
    let on_branch = commit_at(&r, "feature config", 2);
    r.git(&["checkout", "-q", "main"]);
    r.write("docs.txt", "docs\n");
    commit_at(&r, "docs", 3);
    let o = git_cmd(&r.dir)
        .env("GIT_AUTHOR_DATE", "2024-02-04T10:00:00Z")
        .env("GIT_COMMITTER_DATE", "2024-02-04T10:00:00Z")
        .args(["merge", "-q", "--no-ff", "--no-commit", "feature"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    // A line the merge itself adds: in neither parent.
    r.write("merged.py", config_py(K2));
    let merge = commit_at(&r, "merge feature", 4);
    assert_eq!(
        r.git(&["rev-list", "--parents", "-n1", "HEAD"])
            .split(' ')
            .count(),
        3
    );

    let a = audit(&r.dir, &[]);
    assert_eq!(a.findings.len(), 2, "{}", text(&a.out));
    let f = a.only("feature/config.py");
    assert_eq!(f["commit"], on_branch.as_str());
    assert_eq!(f["present_at_head"], true);
    assert_eq!(f["occurrences"], 2);
    assert_eq!(f["last_commit"], merge.as_str());
    let m = a.only("merged.py");
    assert_eq!(m["commit"], merge.as_str());
    assert_eq!(m["line"], 2);
}

#[test]
fn renamed_file_is_attributed_to_the_commit_that_first_had_the_blob() {
    let sb = Sandbox::new();
    let r = sb.work("w");
    r.write("config.py", config_py(K1));
    let first = commit_at(&r, "config", 1);
    r.git(&["mv", "config.py", "settings.py"]);
    commit_at(&r, "rename", 2);
    r.write("settings.py", format!("{}TESTING = False\n", config_py(K1)));
    let edit = commit_at(&r, "edit", 3);
    std::fs::create_dir_all(r.dir.join("prod")).unwrap();
    r.git(&["mv", "settings.py", "prod/settings.py"]);
    let last = commit_at(&r, "move", 4);

    let a = audit(&r.dir, &[]);
    assert_eq!(a.findings.len(), 1, "{}", text(&a.out));
    let f = a.only("config.py");
    assert_eq!(f["commit"], first.as_str());
    assert_eq!(f["line"], 2);
    assert_eq!(f["present_at_head"], true);
    assert_eq!(f["occurrences"], 4);
    assert_eq!(f["last_commit"], last.as_str());
    let _ = edit;
}

#[test]
fn a_rename_with_a_small_edit_is_one_finding_at_the_introducing_commit() {
    let sb = Sandbox::new();
    let r = sb.work("w");
    // A file large enough that one edited line leaves it about 96% alike (git: R096).
    let mut body = String::from("import os\n");
    for i in 0..20 {
        body.push_str(&format!(
            "SETTING_{i} = os.environ.get(\"SETTING_{i}\", \"default\")\n"
        ));
    }
    body.push_str(&format!("SECRET_KEY = \"{K1}\"\n"));
    r.write("config.py", &body);
    let first = commit_at(&r, "config", 1);
    r.git(&["mv", "config.py", "settings.py"]);
    r.write("settings.py", body.replace("SETTING_3 ", "SETTING_THREE "));
    let renamed = commit_at(&r, "rename and edit", 2);
    let status = r.git(&["show", "--format=", "-M", "--name-status", &renamed]);
    assert!(
        status.starts_with("R09"),
        "git sees a rename with an edit: {status}"
    );

    let a = audit(&r.dir, &[]);
    assert_eq!(a.findings.len(), 1, "{}", text(&a.out));
    let f = a.only("config.py");
    assert_eq!(f["commit"], first.as_str());
    assert_eq!(f["present_at_head"], true);
    assert_eq!(f["occurrences"], 2);
    assert_eq!(f["last_commit"], renamed.as_str());

    // Two files deleted and two added, each renamed with an edit: each pairs with its own.
    r.write("a.py", format!("{body}A = 1\n"));
    r.write("b.py", format!("{}\nB = 2\n", config_py(K2)));
    commit_at(&r, "two more", 3);
    r.git(&["mv", "a.py", "a2.py"]);
    r.git(&["mv", "b.py", "b2.py"]);
    r.write("a2.py", format!("{body}A = 10\n"));
    r.write("b2.py", format!("{}\nB = 20\n", config_py(K2)));
    commit_at(&r, "rename both", 4);
    let a = audit(&r.dir, &[]);
    assert_eq!(
        a.paths(),
        ["a.py", "b.py", "config.py"].map(String::from).into(),
        "{}",
        text(&a.out)
    );
}

#[test]
fn commits_only_a_linked_worktrees_head_reaches_are_audited() {
    let sb = Sandbox::new();
    let r = sb.work("w");
    r.write("README.md", "hello\n");
    commit_at(&r, "readme", 1);
    let wt = sb.path().join("linked");
    r.git(&["worktree", "add", "-q", "--detach", wt.to_str().unwrap()]);
    let linked = Repo { dir: wt.clone() };
    linked.write("config.py", config_py(K1));
    let c = commit_at(&linked, "secret on a detached HEAD", 2);
    // git itself counts it as reachable from the main repository.
    assert!(r.git(&["rev-list", "--all"]).contains(&c));

    for dir in [&r.dir, &wt] {
        let a = audit(dir, &[]);
        assert_eq!(a.code, 1, "{}", text(&a.out));
        assert_eq!(a.only("config.py")["commit"], c.as_str());
    }
}

#[test]
fn refs_to_trees_and_blobs_and_symbolic_links_are_named_in_the_summary() {
    let sb = Sandbox::new();
    let r = sb.work("w");
    r.write("README.md", "hello\n");
    std::os::unix::fs::symlink("README.md", r.dir.join("link")).unwrap();
    commit_at(&r, "readme and a link", 1);
    let blob = r.git(&["hash-object", "-w", "--stdin"]);
    r.git(&["tag", "-a", "blobtag", "-m", "a blob", &blob]);
    r.git(&["tag", "treetag", "HEAD^{tree}"]);
    let (code, report) = human(&r.dir, &[]);
    assert_eq!(code, 0, "{report}");
    assert!(
        report.contains(
            "2 refs point to a tree or a blob, not a commit: not audited (refs/tags/blobtag, refs/tags/treetag)"
        ),
        "{report}"
    );
    assert!(
        report.contains("1 symbolic links (not followed, not scanned)"),
        "{report}"
    );
}

#[test]
fn shallow_clone_attributes_to_the_boundary_commit() {
    let sb = Sandbox::new();
    let r = sb.work("w");
    r.write("old.py", config_py(K1));
    commit_at(&r, "old secret", 1);
    r.git(&["rm", "-q", "old.py"]);
    r.write("config.py", config_py(K2));
    let c2 = commit_at(&r, "new secret", 2);
    r.write("README.md", "hello\n");
    let c3 = commit_at(&r, "readme", 3);
    r.write("later.py", config_py(K3));
    let c4 = commit_at(&r, "later secret", 4);

    let url = format!("file://{}", r.dir.display());
    git(sb.path(), &["clone", "-q", "--depth", "2", &url, "shallow"]);
    let shallow = sb.path().join("shallow");
    assert!(shallow.join(".git").join("shallow").is_file());

    let a = audit(&shallow, &[]);
    assert_eq!(a.code, 1, "{}", text(&a.out));
    assert_eq!(
        a.paths(),
        ["config.py", "later.py"].map(String::from).into()
    );
    // The boundary commit holds config.py: the first place this history can show.
    assert_eq!(a.only("config.py")["commit"], c3.as_str());
    assert_eq!(a.only("later.py")["commit"], c4.as_str());
    // The boundary attribution is marked in JSON too, and only there.
    assert_eq!(a.only("config.py")["shallow_boundary"], true);
    assert!(a.only("later.py").get("shallow_boundary").is_none());
    let (_, report) = human(&shallow, &[]);
    assert!(report.contains("shallow clone"), "{report}");
    let _ = c2;
}

fn loose_object_path(r: &Repo, spec: &str) -> (String, std::path::PathBuf) {
    let id = r.git(&["rev-parse", spec]);
    let p = r.dir.join(".git/objects").join(&id[..2]).join(&id[2..]);
    assert!(p.is_file(), "{spec} is a loose object");
    (id, p)
}

#[test]
fn corrupt_object_is_reported_with_its_id_and_the_audit_goes_on() {
    let sb = Sandbox::new();
    let r = sb.work("w");
    r.write("config.py", config_py(K1));
    let c1 = commit_at(&r, "config", 1);
    r.write("other.py", "print('other')\n");
    commit_at(&r, "other", 2);
    let (id, p) = loose_object_path(&r, "HEAD:other.py");
    let mut perm = std::fs::metadata(&p).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perm.set_readonly(false);
    std::fs::set_permissions(&p, perm).unwrap();
    std::fs::write(&p, b"this is not zlib data at all").unwrap();

    let a = audit(&r.dir, &[]);
    assert_eq!(a.code, 3, "{}", text(&a.out));
    assert_eq!(a.only("config.py")["commit"], c1.as_str());
    let stderr = String::from_utf8_lossy(&a.out.stderr);
    assert!(stderr.contains(&id), "the id is named:\n{stderr}");

    let (code, report) = human(&r.dir, &[]);
    assert_eq!(code, 3);
    assert!(report.contains("corrupt or missing objects"), "{report}");
    assert!(report.contains(&id), "{report}");
}

#[test]
fn missing_object_in_a_full_clone_is_an_error() {
    let sb = Sandbox::new();
    let r = sb.work("w");
    r.write("config.py", config_py(K1));
    commit_at(&r, "config", 1);
    r.write("other.py", "print('other')\n");
    commit_at(&r, "other", 2);
    let (id, p) = loose_object_path(&r, "HEAD:other.py");
    std::fs::remove_file(&p).unwrap();

    let a = audit(&r.dir, &[]);
    assert_eq!(a.code, 3, "{}", text(&a.out));
    assert!(a.paths().contains("config.py"));
    assert!(String::from_utf8_lossy(&a.out.stderr).contains(&id));
}

#[test]
fn blobs_a_partial_clone_never_fetched_are_a_warning() {
    let sb = Sandbox::new();
    let r = sb.work("w");
    r.write("config.py", config_py(K1));
    r.write(
        "app.py",
        "from flask import Flask\napp = Flask(__name__)\napp.run(debug=True)\n",
    );
    commit_at(&r, "app", 1);
    r.git(&["config", "uploadpack.allowFilter", "true"]);
    let url = format!("file://{}", r.dir.display());
    git(
        sb.path(),
        &[
            "clone",
            "-q",
            "--bare",
            "--filter=blob:none",
            &url,
            "partial.git",
        ],
    );
    let partial = sb.path().join("partial.git");
    // Fetch one of the two blobs (a lazy fetch from the promisor remote).
    let blob = r.git(&["rev-parse", "HEAD:app.py"]);
    git(&partial, &["cat-file", "-p", &blob]);

    let a = audit(&partial, &[]);
    assert_eq!(a.code, 1, "{}", text(&a.out));
    assert_eq!(a.paths(), ["app.py"].map(String::from).into());
    let (code, report) = human(&partial, &[]);
    assert_eq!(code, 1, "{report}");
    assert!(
        report.contains("never fetched by this partial clone"),
        "{report}"
    );
    assert!(report.contains("config.py"), "{report}");
    assert!(!report.contains("corrupt or missing"), "{report}");
}

#[test]
fn submodules_binary_lfs_and_oversized_blobs_are_counted_not_scanned() {
    let sb = Sandbox::new();
    let r = sb.work("w");
    r.write("config.py", config_py(K1));
    let mut binary = b"\x00\x01binary\n".to_vec();
    binary.extend_from_slice(config_py(K2).as_bytes());
    r.write("blob.bin", binary);
    r.write(
        "model.py",
        "version https://git-lfs.github.com/spec/v1\noid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 12345\n",
    );
    let mut big = "x = 1\n".repeat(200);
    big.push_str(&config_py(K3));
    r.write("big.py", big);
    commit_at(&r, "files", 1);
    // A submodule: a gitlink to a commit this repository does not have.
    r.git(&[
        "update-index",
        "--add",
        "--cacheinfo",
        "160000,1234567890123456789012345678901234567890,vendor/lib",
    ]);
    commit_index_at(&r, "submodule", 2);
    let cfg = sb.path().join("small.toml");
    std::fs::write(
        &cfg,
        "[extend]\ndefault = true\n\n[policy]\nmax_blob_bytes = 1000\n",
    )
    .unwrap();
    let cfg = cfg.to_str().unwrap();

    let a = audit(&r.dir, &["--config", cfg]);
    assert_eq!(a.code, 1, "{}", text(&a.out));
    assert_eq!(a.paths(), ["config.py"].map(String::from).into());
    let (code, report) = human(&r.dir, &["--config", cfg]);
    assert_eq!(code, 1, "{report}");
    assert!(report.contains("1 binary"), "{report}");
    assert!(report.contains("1 Git LFS pointers"), "{report}");
    assert!(report.contains("1 submodules (not followed)"), "{report}");
    assert!(report.contains("over the size cap"), "{report}");
    assert!(report.contains("big.py"), "{report}");
}

#[test]
fn range_restricts_to_what_rev_list_lists() {
    let sb = Sandbox::new();
    let r = sb.work("w");
    r.write("config.py", config_py(K1));
    let c1 = commit_at(&r, "a", 1);
    r.write(
        "app.py",
        "from flask import Flask\napp = Flask(__name__)\napp.run(debug=True)\n",
    );
    let c2 = commit_at(&r, "b", 2);
    r.write("deploy.py", format!("GITHUB_TOKEN = \"{TOKEN}\"\n"));
    let c3 = commit_at(&r, "c", 3);

    let range = format!("{c1}..{c3}");
    let a = audit(&r.dir, &["--range", &range]);
    assert_eq!(a.paths(), ["app.py", "deploy.py"].map(String::from).into());
    assert_eq!(a.only("app.py")["commit"], c2.as_str());
    assert_eq!(a.only("deploy.py")["commit"], c3.as_str());
    let (_, report) = human(&r.dir, &["--range", &range]);
    let count = r.git(&["rev-list", "--count", &range]);
    assert!(
        report.contains(&format!("{count} commits in {range}")),
        "{report}"
    );

    let a = audit(&r.dir, &["--range", &format!("^{c2} {c3}")]);
    assert_eq!(a.paths(), ["deploy.py"].map(String::from).into());
    let a = audit(&r.dir, &["--range", "main"]);
    assert_eq!(a.findings.len(), 3);
    assert_eq!(a.only("config.py")["commit"], c1.as_str());
    let a = audit(&r.dir, &["--range", "main~1...main"]);
    assert_eq!(a.paths(), ["deploy.py"].map(String::from).into());

    let o = secretgate(&r.dir, &["audit", ".", "--range", "no-such-branch"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

#[test]
fn baseline_shows_only_what_is_new() {
    let sb = Sandbox::new();
    let r = sb.work("w");
    r.write("config.py", config_py(K1));
    commit_at(&r, "config", 1);
    let baseline = sb.path().join("baseline.json");
    let o = secretgate(
        &r.dir,
        &[
            "audit",
            ".",
            "--format",
            "json",
            "--output",
            baseline.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    r.write("deploy.py", format!("GITHUB_TOKEN = \"{TOKEN}\"\n"));
    let c2 = commit_at(&r, "token", 2);

    let a = audit(&r.dir, &["--baseline", baseline.to_str().unwrap()]);
    assert_eq!(a.paths(), ["deploy.py"].map(String::from).into());
    assert_eq!(a.only("deploy.py")["commit"], c2.as_str());
    let (_, report) = human(&r.dir, &["--baseline", baseline.to_str().unwrap()]);
    assert!(report.contains("1 known from the baseline"), "{report}");
}

#[test]
fn bare_repository_with_merge_request_refs_and_its_own_allowlist() {
    let sb = Sandbox::new();
    let r = sb.work("w");
    r.write("config.py", config_py(K1));
    r.write(
        "app.py",
        "from flask import Flask\napp = Flask(__name__)\napp.run(debug=True)\n",
    );
    commit_at(&r, "config", 1);
    let bare = sb.path().join("server.git");
    git(
        sb.path(),
        &["init", "-q", "--bare", "-b", "main", bare.to_str().unwrap()],
    );
    r.git(&["push", "-q", bare.to_str().unwrap(), "main"]);
    r.git(&["checkout", "-q", "-b", "mr"]);
    r.write("deploy.py", format!("GITHUB_TOKEN = \"{TOKEN}\"\n"));
    let mr = commit_at(&r, "merge request", 2);
    r.git(&[
        "push",
        "-q",
        bare.to_str().unwrap(),
        "mr:refs/merge-requests/7/head",
    ]);

    let a = audit(&bare, &[]);
    assert_eq!(
        a.paths(),
        ["app.py", "config.py", "deploy.py"]
            .map(String::from)
            .into()
    );
    assert_eq!(a.only("deploy.py")["commit"], mr.as_str());
    assert_eq!(a.only("deploy.py")["present_at_head"], false);

    // The repository's own .secretgate.toml, at the top of HEAD's tree, may allow a value.
    r.git(&["checkout", "-q", "main"]);
    r.write(
        ".secretgate.toml",
        format!("[allowlist]\nvalues = ['''^{K1}$''']\n"),
    );
    commit_at(&r, "allow the test key", 3);
    r.git(&["push", "-q", bare.to_str().unwrap(), "main"]);
    let a = audit(&bare, &[]);
    assert_eq!(a.paths(), ["app.py", "deploy.py"].map(String::from).into());
}

#[test]
fn every_output_format_carries_the_audit_fields() {
    let sb = Sandbox::new();
    let r = sb.work("w");
    r.write("config.py", config_py(K1));
    let c1 = commit_at(&r, "config", 1);
    let o = secretgate(&r.dir, &["audit", ".", "--format", "jsonl"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let line: Value =
        serde_json::from_slice(o.stdout.split(|&b| b == b'\n').next().unwrap()).unwrap();
    for field in [
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
        "present_at_head",
        "occurrences",
        "first_commit",
        "last_commit",
    ] {
        assert!(line.get(field).is_some(), "{field} in {line}");
    }
    assert_eq!(line["commit"], c1.as_str());
    let o = secretgate(&r.dir, &["audit", ".", "--format", "sarif"]);
    let sarif: Value = serde_json::from_slice(&o.stdout).unwrap();
    let result = &sarif["runs"][0]["results"][0];
    assert_eq!(result["ruleId"], "flask-secret-key");
    assert_eq!(result["properties"]["commit"], c1.as_str());
    // No progress bar when stderr is not a terminal.
    assert!(!String::from_utf8_lossy(&o.stderr).contains("blobs ("));
}

/// A checkout of every commit, scanned with `secretgate scan`: fingerprint → (commit →
/// (line, column)).
fn scan_every_checkout(sb: &Sandbox, r: &Repo) -> BTreeMap<String, BTreeMap<String, (u64, u64)>> {
    let mut out: BTreeMap<String, BTreeMap<String, (u64, u64)>> = BTreeMap::new();
    for c in r.git(&["rev-list", "--all"]).lines() {
        let dir = sb.path().join(format!("checkout-{c}"));
        std::fs::create_dir_all(&dir).unwrap();
        let archive = git_output(&r.dir, &["archive", "--format=tar", c]);
        assert!(archive.status.success());
        let mut tar = Command::new("tar")
            .args(["-x", "-C", dir.to_str().unwrap()])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        tar.stdin
            .take()
            .unwrap()
            .write_all(&archive.stdout)
            .unwrap();
        assert!(tar.wait().unwrap().success());
        let o = secretgate(&dir, &["scan", ".", "--format", "json"]);
        assert!(matches!(o.status.code(), Some(0 | 1)), "{}", text(&o));
        let found: Vec<Value> = serde_json::from_slice(&o.stdout).unwrap();
        for f in found {
            out.entry(f["fingerprint"].as_str().unwrap().to_owned())
                .or_default()
                .insert(
                    c.to_owned(),
                    (f["line"].as_u64().unwrap(), f["column"].as_u64().unwrap()),
                );
        }
    }
    out
}

#[test]
fn findings_equal_the_union_of_scan_over_every_checkout() {
    let sb = Sandbox::new();
    let r = sb.work("w");
    let app_debug = "from flask import Flask\napp = Flask(__name__)\n\nif __name__ == '__main__':\n    app.run(debug=True)\n";
    r.write("README.md", "demo\n");
    r.write("app.py", app_debug);
    r.write("config.py", config_py(K1));
    let c1 = commit_at(&r, "start", 1);
    r.write("config.py", format!("{}TESTING = False\n", config_py(K1)));
    r.write("settings.py", "db_password = \"Xq7!mZ2#pL9vR4tW\"\n");
    commit_at(&r, "settings", 2);
    r.git(&["checkout", "-q", "-b", "feature", &c1]);
    r.write("config.py", config_py(K2));
    r.write(
        "deploy.py",
        format!("# deploy\nGITHUB_TOKEN = \"{TOKEN}\"\n"),
    );
    commit_at(&r, "feature", 3);
    r.git(&["checkout", "-q", "main"]);
    r.git(&["rm", "-q", "settings.py"]);
    r.write("app.py", "from flask import Flask\napp = Flask(__name__)\n");
    commit_at(&r, "cleanup", 4);
    let o = git_cmd(&r.dir)
        .env("GIT_AUTHOR_DATE", "2024-02-05T10:00:00Z")
        .env("GIT_COMMITTER_DATE", "2024-02-05T10:00:00Z")
        .args(["merge", "-q", "--no-ff", "-m", "merge feature", "feature"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    r.git(&["checkout", "-q", "-b", "tmp"]);
    r.write("extra/config.py", config_py(K3));
    r.write("extra/app.py", app_debug);
    commit_at(&r, "tagged only", 6);
    r.git(&["tag", "-a", "v0", "-m", "v0"]);
    r.git(&["checkout", "-q", "main"]);
    r.git(&["branch", "-q", "-D", "tmp"]);
    r.write(
        "config.py",
        format!("{}# K1 is back\nSECRET_KEY_OLD = \"{K1}\"\n", config_py(K2)),
    );
    commit_at(&r, "k1 again", 7);

    let expected = scan_every_checkout(&sb, &r);
    // Debug in app.py and extra/app.py, K1, K2 and K3, the password, the token.
    assert!(expected.len() >= 7, "{expected:?}");
    let a = audit(&r.dir, &[]);
    // Rules of `scope = "tree"` judge the project at its tip, not lines: scan has no
    // counterpart for them.
    let got: BTreeMap<String, &Value> = a
        .findings
        .iter()
        .filter(|f| f["rule_id"] != "flask-no-error-handler")
        .map(|f| (f["fingerprint"].as_str().unwrap().to_owned(), f))
        .collect();
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "the same fingerprints:\n{}",
        text(&a.out)
    );
    let head = r.git(&["rev-parse", "HEAD"]);
    for (fp, holders) in &expected {
        let f = got[fp];
        let first = f["first_commit"].as_str().unwrap();
        assert_eq!(f["commit"], first);
        assert_eq!(f["occurrences"], holders.len() as u64, "{f}");
        let (line, column) = holders[first];
        assert_eq!(
            (f["line"].as_u64(), f["column"].as_u64()),
            (Some(line), Some(column)),
            "{f}"
        );
        assert!(
            holders.contains_key(f["last_commit"].as_str().unwrap()),
            "{f}"
        );
        // No commit that holds it comes before the first one.
        for h in holders.keys().filter(|h| h.as_str() != first) {
            let o = git_output(&r.dir, &["merge-base", "--is-ancestor", h, first]);
            assert!(!o.status.success(), "{h} holds {fp} and precedes {first}");
        }
        assert_eq!(f["present_at_head"], holders.contains_key(&head), "{f}");
    }
}

/// A history of many versions of a few files, so that a repack stores most blobs as deltas.
fn many_versions(r: &Repo) {
    let mut body = String::new();
    for day in 1..=24u32 {
        body.push_str(&format!("OPTION_{day} = {day}\n"));
        r.write("config.py", format!("{}{body}", config_py(K1)));
        r.write("notes.txt", format!("{body}{day}\n"));
        if day == 12 {
            r.write("deploy.py", format!("GITHUB_TOKEN = \"{TOKEN}\"\n{body}"));
        }
        if day == 18 {
            r.write("deploy.py", format!("{body}\n"));
        }
        commit_at(r, &format!("v{day}"), day);
    }
}

fn fingerprints(a: &Audit) -> Vec<(String, String, u64, String, u64)> {
    let mut v: Vec<_> = a
        .findings
        .iter()
        .map(|f| {
            (
                f["fingerprint"].as_str().unwrap().to_owned(),
                f["commit"].as_str().unwrap().to_owned(),
                f["line"].as_u64().unwrap(),
                f["last_commit"].as_str().unwrap().to_owned(),
                f["occurrences"].as_u64().unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn packed_history_gives_the_same_findings_as_loose_objects() {
    let sb = Sandbox::new();
    let r = sb.work("w");
    many_versions(&r);
    let loose = audit(&r.dir, &[]);
    assert_eq!(loose.findings.len(), 2, "{}", text(&loose.out));
    r.git(&["repack", "-q", "-a", "-d", "-f", "--depth=8", "--window=30"]);
    r.git(&["prune-packed"]);
    let pack = std::fs::read_dir(r.dir.join(".git/objects/pack"))
        .unwrap()
        .filter_map(|e| e.ok())
        .find(|e| e.path().extension().is_some_and(|x| x == "idx"))
        .unwrap()
        .path();
    let verify = r.git(&["verify-pack", "-v", pack.to_str().unwrap()]);
    assert!(
        verify.contains("chain length = 3"),
        "deltas in the pack:\n{verify}"
    );
    let packed = audit(&r.dir, &[]);
    assert_eq!(
        fingerprints(&loose),
        fingerprints(&packed),
        "{}",
        text(&packed.out)
    );
    let (_, report) = human(&r.dir, &[]);
    assert!(!report.contains("errors"), "{report}");
}

#[test]
fn corrupt_pack_data_is_reported_and_the_rest_is_scanned() {
    let sb = Sandbox::new();
    let r = sb.work("w");
    many_versions(&r);
    r.git(&["repack", "-q", "-a", "-d", "-f", "--depth=8", "--window=30"]);
    r.git(&["prune-packed"]);
    let idx = std::fs::read_dir(r.dir.join(".git/objects/pack"))
        .unwrap()
        .filter_map(|e| e.ok())
        .find(|e| e.path().extension().is_some_and(|x| x == "idx"))
        .unwrap()
        .path();
    // The version of notes.txt of day 5, whatever its place in a delta chain.
    let target = r.git(&["rev-parse", "HEAD~19:notes.txt"]);
    let verify = r.git(&["verify-pack", "-v", idx.to_str().unwrap()]);
    let line = verify
        .lines()
        .find(|l| l.starts_with(&target))
        .expect("the blob is in the pack");
    let fields: Vec<&str> = line.split_whitespace().collect();
    let (size_in_pack, offset): (usize, usize) =
        (fields[3].parse().unwrap(), fields[4].parse().unwrap());
    let pack_path = idx.with_extension("pack");
    let mut data = std::fs::read(&pack_path).unwrap();
    // Garble the compressed data past the entry header.
    for b in &mut data[offset + 4..offset + size_in_pack.min(12)] {
        *b ^= 0x5a;
    }
    let mut perm = std::fs::metadata(&pack_path).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perm.set_readonly(false);
    std::fs::set_permissions(&pack_path, perm).unwrap();
    std::fs::write(&pack_path, data).unwrap();

    let a = audit(&r.dir, &[]);
    assert_eq!(a.code, 3, "{}", text(&a.out));
    assert_eq!(
        a.paths(),
        ["config.py", "deploy.py"].map(String::from).into(),
        "{}",
        text(&a.out)
    );
    assert!(
        String::from_utf8_lossy(&a.out.stderr).contains(&target),
        "{}",
        text(&a.out)
    );
}

/// A setting is one finding however its spacing changed over the history: debug mode turned on,
/// then the line reformatted, is one thing to fix, at the commit that turned it on. Two keys
/// with different values stay two findings.
#[test]
fn a_reformatted_setting_is_one_finding_and_two_values_are_two() {
    let sb = Sandbox::new();
    let r = sb.work("w");
    r.write("run.py", "from app import app\napp.run(debug = True)\n");
    r.write(
        "config.py",
        "SECRET_KEY = '9f2c4e6a8b0d1f3e5a7c9b1d3f5e7a9c'\n",
    );
    let first = commit_at(&r, "debug on", 1);
    r.write("run.py", "from app import app\napp.run(debug=True)\n");
    r.write(
        "config.py",
        "SECRET_KEY = '3b5d7f9a1c3e5b7d9f1a3c5e7b9d1f3a'\n",
    );
    commit_at(&r, "reformat, new key", 2);
    let a = audit(&r.dir, &[]);
    let debug = a.only("run.py");
    assert_eq!(debug["rule_id"], "flask-debug", "{debug}");
    assert_eq!(debug["commit"], first.as_str(), "{debug}");
    assert_eq!(debug["occurrences"], 2, "{debug}");
    let keys = a
        .findings
        .iter()
        .filter(|f| f["path"] == "config.py")
        .count();
    assert_eq!(keys, 2, "{}", text(&a.out));
}
