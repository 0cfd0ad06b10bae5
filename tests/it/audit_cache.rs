//! `secretgate audit --cache DIR`: a second audit reads only what it has not judged under the
//! same rules, and its report is the first's; new commits are attributed as without a cache;
//! other rules start the cache over; a corrupt, unwritable or shared cache never changes a
//! result; no value is written to the cache.

use std::path::{Path, PathBuf};

use crate::gitutil::{secretgate, secretgate_cmd, text, Repo, Sandbox};
use serde_json::Value;

const KEY: &str = "9f2c4e6a8b0d1f3e5a7c9b1d3f5e7a9c";
const TOKEN: &str = "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";

/// A history of a few dozen files, one of them holding a key in one version.
fn history(sb: &Sandbox) -> Repo {
    let r = sb.work("app");
    for i in 0..30 {
        r.write(
            &format!("pkg/mod{i}.py"),
            format!("def f{i}():\n    return {i}\n"),
        );
    }
    r.write("README.md", "# app\n");
    r.commit_all("start");
    r.commit_file("config.py", format!("SECRET_KEY = \"{KEY}\"\n"), "key");
    r.commit_file(
        "config.py",
        "import os\nSECRET_KEY = os.environ[\"SECRET_KEY\"]\n",
        "key from the environment",
    );
    r.write("pkg/mod3.py", "def f3():\n    return 33\n");
    r.commit_all("change");
    r
}

/// The report as JSON, the exit code and stderr.
fn audit(dir: &Path, extra: &[&str]) -> (i32, Value, String) {
    let mut args = vec!["audit", ".", "--format", "json"];
    args.extend_from_slice(extra);
    let out = secretgate(dir, &args);
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not a JSON report ({e}):\n{}", text(&out)));
    (
        out.status.code().unwrap_or(-1),
        report,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// How many blobs the human report says came from the cache.
fn cached_blobs(dir: &Path, cache: &Path) -> u64 {
    let out = secretgate(
        dir,
        &[
            "audit",
            ".",
            "--color",
            "never",
            "--cache",
            cache.to_str().unwrap(),
        ],
    );
    let report = text(&out);
    report
        .lines()
        .flat_map(|l| l.split(';'))
        .find_map(|part| {
            part.trim()
                .strip_suffix(" judged before (from the cache)")
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

fn cache_dir(sb: &Sandbox) -> PathBuf {
    sb.path().join("cache")
}

fn arg(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn a_second_audit_reads_only_new_blobs_and_reports_the_same() {
    let sb = Sandbox::new();
    let r = history(&sb);
    let cache = cache_dir(&sb);
    let (code0, plain, _) = audit(&r.dir, &[]);
    let (code1, first, _) = audit(&r.dir, &["--cache", arg(&cache)]);
    assert_eq!((code0, code1), (1, 1));
    assert_eq!(first, plain, "a cold cache changes nothing");
    let known = cached_blobs(&r.dir, &cache);
    assert!(
        known >= 30,
        "the second audit judged {known} blobs from the cache"
    );
    let (code2, second, _) = audit(&r.dir, &["--cache", arg(&cache)]);
    assert_eq!(code2, 1);
    assert_eq!(
        second, plain,
        "the warm cache's report is the plain audit's"
    );

    // A new commit brings a new value: attributed to it, as without a cache.
    r.write("pkg/extra.py", "X = 1\n");
    let new = r.commit_file(
        "deploy/settings.py",
        format!("TOKEN = \"{TOKEN}\"\n"),
        "token",
    );
    let (_, plain, _) = audit(&r.dir, &[]);
    let (_, warm, _) = audit(&r.dir, &["--cache", arg(&cache)]);
    assert_eq!(warm, plain);
    let token = plain
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "deploy/settings.py")
        .expect("the new token is reported");
    assert_eq!(token["commit"], new.as_str());
    // What was judged is not read again: the new clean file joins the cache; the file with a
    // match is read every time (no value is kept).
    assert_eq!(cached_blobs(&r.dir, &cache), known + 1);
}

/// A configuration that adds one rule finding `needle` (the same shape whatever the needle, so
/// the path classes do not tell two such configurations apart: only the cache's key does).
fn marker_config(sb: &Sandbox, name: &str, needle: &str) -> PathBuf {
    let config = sb.path().join(name);
    std::fs::write(
        &config,
        format!(
            r#"
[extend]
default = true

[[rules]]
id = "internal-function-marker"
description = "A marker the team forbids"
kind = "config"
severity = "high"
keywords = ["return"]
regex = '{needle}'
remediation = "Return something else."
examples = ["    {needle}"]
negative_examples = ["    return None"]
"#
        ),
    )
    .unwrap();
    config
}

#[test]
fn other_rules_start_the_cache_over() {
    let sb = Sandbox::new();
    let r = history(&sb);
    let cache = cache_dir(&sb);
    let before = marker_config(&sb, "before.toml", "return 99");
    let after = marker_config(&sb, "after.toml", "return 33");
    let (_, first, _) = audit(&r.dir, &["--config", arg(&before), "--cache", arg(&cache)]);
    assert!(
        !first.to_string().contains("internal-function-marker"),
        "{first}"
    );
    // The blob holding `return 33` was judged clean under the first rules; the second find it.
    let (_, plain, _) = audit(&r.dir, &["--config", arg(&after)]);
    let (_, cached, _) = audit(&r.dir, &["--config", arg(&after), "--cache", arg(&cache)]);
    assert_eq!(cached, plain);
    assert!(
        plain
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["rule_id"] == "internal-function-marker"),
        "the new rule's finding: {plain}"
    );
    // The repository's own allow patterns are part of the rules too.
    r.write(".secretgate.toml", "[allowlist]\nvalues = ['^9f2c4e6a']\n");
    r.commit_all("allow the old key");
    let (_, plain, _) = audit(&r.dir, &[]);
    let (_, cached, _) = audit(&r.dir, &["--cache", arg(&cache)]);
    assert_eq!(cached, plain);
}

#[test]
fn a_corrupt_or_unwritable_cache_is_a_warning_and_never_a_wrong_result() {
    let sb = Sandbox::new();
    let r = history(&sb);
    let (_, plain, _) = audit(&r.dir, &[]);

    // Corrupt: flipped bytes, truncated, garbage: a warning, the full result, a fresh file.
    let cache = cache_dir(&sb);
    audit(&r.dir, &["--cache", arg(&cache)]);
    let file = std::fs::read_dir(&cache)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "cache"))
        .expect("a cache file");
    let good = std::fs::read(&file).unwrap();
    let mut flipped = good.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x40;
    for bad in [
        flipped,
        good[..good.len() / 3].to_vec(),
        b"garbage".to_vec(),
    ] {
        std::fs::write(&file, &bad).unwrap();
        let (code, report, err) = audit(&r.dir, &["--cache", arg(&cache)]);
        assert_eq!((code, &report), (1, &plain), "{err}");
        assert!(
            err.contains("started over") && err.contains(file.to_str().unwrap()),
            "the warning names the file: {err}"
        );
        assert_eq!(std::fs::read(&file).unwrap().len(), good.len(), "rebuilt");
    }

    // The kept tree diffs: corrupt, a warning naming the file, and the full result.
    let diffs = file.with_extension("diffs");
    let mut bad = std::fs::read(&diffs).expect("a file of kept tree diffs");
    let mid = bad.len() / 2;
    bad[mid] ^= 0x40;
    std::fs::write(&diffs, &bad).unwrap();
    let (code, report, err) = audit(&r.dir, &["--cache", arg(&cache)]);
    assert_eq!((code, &report), (1, &plain), "{err}");
    assert!(
        err.contains("started over") && err.contains(diffs.to_str().unwrap()),
        "{err}"
    );

    // A folder that cannot be made: a usage error before any work, in one line.
    let not_dir = sb.path().join("not-a-folder");
    std::fs::write(&not_dir, "x").unwrap();
    let out = secretgate(&r.dir, &["audit", ".", "--cache", arg(&not_dir)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(out.stdout.is_empty(), "{}", text(&out));
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("--cache") && err.contains("not-a-folder"),
        "{err}"
    );

    // A cache file that cannot be replaced (a folder in its place): a warning at the end, and
    // the full result.
    let blocked = sb.path().join("blocked");
    audit(&r.dir, &["--cache", arg(&blocked)]);
    for e in std::fs::read_dir(&blocked).unwrap().flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "cache") {
            std::fs::remove_file(&p).unwrap();
            std::fs::create_dir(&p).unwrap();
        }
    }
    let (code, report, err) = audit(&r.dir, &["--cache", arg(&blocked)]);
    assert_eq!((code, &report), (1, &plain), "{err}");
    assert!(
        err.contains("not kept") || err.contains("started over"),
        "{err}"
    );
}

#[test]
fn runs_sharing_a_cache_agree_and_no_value_is_written_to_it() {
    let sb = Sandbox::new();
    let r = history(&sb);
    r.commit_file(
        "deploy/settings.py",
        format!("TOKEN = \"{TOKEN}\"\n"),
        "token",
    );
    let (_, plain, _) = audit(&r.dir, &[]);
    let cache = cache_dir(&sb);
    let children: Vec<_> = (0..4)
        .map(|_| {
            secretgate_cmd(&r.dir)
                .args(["audit", ".", "--format", "json", "--cache", arg(&cache)])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report, plain, "{}", text(&out));
        assert!(
            !String::from_utf8_lossy(&out.stderr).contains("cache file"),
            "no warning: {}",
            text(&out)
        );
    }
    let (_, warm, err) = audit(&r.dir, &["--cache", arg(&cache)]);
    assert_eq!(warm, plain, "{err}");
    for e in std::fs::read_dir(&cache).unwrap().flatten() {
        let bytes = std::fs::read(e.path()).unwrap();
        for value in [KEY, TOKEN, &TOKEN[4..20], &KEY[..12]] {
            assert!(
                !bytes.windows(value.len()).any(|w| w == value.as_bytes()),
                "{} holds a value",
                e.path().display()
            );
        }
    }
}

#[test]
fn a_root_audit_with_a_cache_reports_what_it_reports_without() {
    let sb = Sandbox::new();
    let r = history(&sb);
    let root = sb.path().join("repositories");
    for rel in ["alice/app.git", "bob/app.git"] {
        let dir = root.join(rel);
        std::fs::create_dir_all(&dir).unwrap();
        crate::gitutil::git(&dir, &["init", "-q", "--bare", "-b", "main"]);
        r.git(&["push", "-q", dir.to_str().unwrap(), "HEAD:refs/heads/main"]);
    }
    let cache = cache_dir(&sb);
    let run = |extra: &[&str]| {
        let mut args = vec!["audit", "--root", arg(&root), "--format", "json"];
        args.extend_from_slice(extra);
        let out = secretgate(sb.path(), &args);
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        (out.status.code(), report)
    };
    let plain = run(&[]);
    assert_eq!(run(&["--cache", arg(&cache)]), plain);
    assert_eq!(run(&["--cache", arg(&cache)]), plain);
    let files = std::fs::read_dir(&cache)
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "cache"))
        .count();
    assert_eq!(files, 2, "one cache file per repository");
    let diffs = std::fs::read_dir(&cache)
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "diffs"))
        .count();
    assert_eq!(diffs, 2, "one file of tree diffs per repository");
}

#[test]
fn a_warm_audit_reads_no_tree_and_no_blob_it_has_judged() {
    let sb = Sandbox::new();
    let r = history(&sb);
    let cache = cache_dir(&sb);
    let (_, first, _) = audit(&r.dir, &["--cache", arg(&cache)]);
    // Take away, behind the cache's back, the oldest commit's tree and a file judged clean:
    // the warm audit does not read them, so it does not miss them.
    let loose = |spec: &str| {
        let id = r.git(&["rev-parse", spec]);
        let id = id.trim();
        r.dir.join(".git/objects").join(&id[..2]).join(&id[2..])
    };
    let start = r.git(&["rev-parse", ":/^start"]);
    let files: Vec<_> = [format!("{start}^{{tree}}"), format!("{start}:pkg/mod7.py")]
        .iter()
        .map(|spec| loose(spec))
        .collect();
    for f in files {
        std::fs::remove_file(f).unwrap();
    }
    let (code, warm, err) = audit(&r.dir, &["--cache", arg(&cache)]);
    assert_eq!((code, &warm), (1, &first), "{err}");
    // Without the cache, the same audit finds them missing (exit 3).
    let (code, _, err) = audit(&r.dir, &[]);
    assert_eq!(code, 3, "{err}");
}
