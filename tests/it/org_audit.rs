//! The audit at organisation scale: every repository under a server's folder in one report,
//! shards that run as separate processes and merge back into the whole, and bad input.

use std::path::Path;

use crate::gitutil::{git, secretgate, Sandbox};
use serde_json::Value;

const KEY: &str = "8f42a73054b1749f8f58848be5e6502c";

/// A server's folder in the shapes servers use: GitLab's hashed storage, Gitea's
/// `owner/name.git`, a plain work tree; a repository with nothing in it; a broken one.
fn server_root(sb: &Sandbox) -> std::path::PathBuf {
    let root = sb.path().join("repositories");
    let work = sb.work("src");
    work.commit_file("config.py", format!("SECRET_KEY = \"{KEY}\"\n"), "key");
    work.commit_file("app.py", "app.run(debug=True)\n", "debug");
    for (i, rel) in [
        "@hashed/ab/cd/abcd1234.git",
        "@hashed/ef/01/ef01abcd.git",
        "alice/shop.git",
        "bob/blog.git",
        "carol/tools.git",
    ]
    .iter()
    .enumerate()
    {
        let dir = root.join(rel);
        std::fs::create_dir_all(dir.parent().unwrap()).unwrap();
        git(
            sb.path(),
            &["init", "-q", "--bare", "-b", "main", dir.to_str().unwrap()],
        );
        if i != 3 {
            git(
                &work.dir,
                &["push", "-q", dir.to_str().unwrap(), "HEAD:refs/heads/main"],
            );
        }
    }
    // A work tree (not bare) with a different secret.
    let wt = root.join("team/notes");
    std::fs::create_dir_all(&wt).unwrap();
    git(&wt, &["init", "-q", "-b", "main"]);
    std::fs::write(
        wt.join(".env"),
        "SECRET_KEY=0e7c4a9f2b6d1e8a3c5f7b9d2e4a6c8f\n",
    )
    .unwrap();
    git(&wt, &["add", "."]);
    git(&wt, &["-c", "commit.gpgsign=false", "commit", "-qm", "env"]);
    root
}

fn json_of(o: &std::process::Output) -> Vec<Value> {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", crate::gitutil::text(o)))
}

/// (repository, fingerprint) of each finding, sorted: what must agree between runs.
fn keys(found: &[Value]) -> Vec<(String, String)> {
    let mut k: Vec<(String, String)> = found
        .iter()
        .map(|f| {
            (
                f["repository"].as_str().unwrap_or("").to_owned(),
                f["fingerprint"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    k.sort();
    k
}

#[test]
fn root_audit_names_each_repository_and_equals_auditing_each_alone() {
    let sb = Sandbox::new();
    let root = server_root(&sb);
    let o = secretgate(
        sb.path(),
        &[
            "audit",
            "--root",
            root.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", crate::gitutil::text(&o));
    let found = json_of(&o);
    let repos: std::collections::BTreeSet<&str> = found
        .iter()
        .map(|f| f["repository"].as_str().unwrap())
        .collect();
    assert_eq!(
        repos.into_iter().collect::<Vec<_>>(),
        vec![
            "@hashed/ab/cd/abcd1234.git",
            "@hashed/ef/01/ef01abcd.git",
            "alice/shop.git",
            "carol/tools.git",
            "team/notes",
        ]
    );
    // The same findings as auditing each repository alone.
    let mut alone = Vec::new();
    for rel in [
        "@hashed/ab/cd/abcd1234.git",
        "@hashed/ef/01/ef01abcd.git",
        "alice/shop.git",
        "bob/blog.git",
        "carol/tools.git",
        "team/notes",
    ] {
        let o = secretgate(
            sb.path(),
            &[
                "audit",
                root.join(rel).to_str().unwrap(),
                "--format",
                "json",
            ],
        );
        for mut f in json_of(&o) {
            f["repository"] = Value::String(rel.to_owned());
            alone.push(f);
        }
    }
    assert_eq!(keys(&found), keys(&alone));
    // The human report counts per repository.
    let o = secretgate(sb.path(), &["audit", "--root", root.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("repositories audited: 6"), "{text}");
    assert!(text.contains("alice/shop.git: "), "{text}");
}

#[test]
fn shards_run_apart_and_merge_into_the_whole() {
    let sb = Sandbox::new();
    let root = server_root(&sb);
    let whole = json_of(&secretgate(
        sb.path(),
        &[
            "audit",
            "--root",
            root.to_str().unwrap(),
            "--format",
            "json",
        ],
    ));
    let mut reports = Vec::new();
    let mut total = 0;
    for i in 1..=3 {
        let out = sb.path().join(format!("shard-{i}.json"));
        let o = secretgate(
            sb.path(),
            &[
                "audit",
                "--root",
                root.to_str().unwrap(),
                "--shard",
                &format!("{i}/3"),
                "--format",
                "json",
                "--output",
                out.to_str().unwrap(),
            ],
        );
        assert!(
            matches!(o.status.code(), Some(0 | 1)),
            "{}",
            crate::gitutil::text(&o)
        );
        let part: Vec<Value> = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
        total += part.len();
        reports.push(out);
    }
    // Together the shards are the whole run, with no finding twice.
    assert_eq!(total, whole.len());
    let mut args = vec!["merge", "--format", "json"];
    let paths: Vec<String> = reports.iter().map(|p| p.display().to_string()).collect();
    args.extend(paths.iter().map(String::as_str));
    // A report given twice adds nothing.
    args.push(&paths[0]);
    let merged = json_of(&secretgate(sb.path(), &args));
    assert_eq!(keys(&merged), keys(&whole));
    // JSON lines and SARIF merge too.
    for (format, ext) in [("jsonl", "jsonl"), ("sarif", "sarif")] {
        let mut outs = Vec::new();
        for i in 1..=3 {
            let out = sb.path().join(format!("shard-{i}.{ext}"));
            secretgate(
                sb.path(),
                &[
                    "audit",
                    "--root",
                    root.to_str().unwrap(),
                    "--shard",
                    &format!("{i}/3"),
                    "--format",
                    format,
                    "--output",
                    out.to_str().unwrap(),
                ],
            );
            outs.push(out.display().to_string());
        }
        let mut args = vec!["merge", "--format", format];
        args.extend(outs.iter().map(String::as_str));
        let o = secretgate(sb.path(), &args);
        assert_eq!(o.status.code(), Some(1), "{}", crate::gitutil::text(&o));
        let n = if format == "sarif" {
            let v: Value = serde_json::from_slice(&o.stdout).unwrap();
            v["runs"][0]["results"].as_array().unwrap().len()
        } else {
            String::from_utf8_lossy(&o.stdout).lines().count()
        };
        assert_eq!(n, whole.len(), "{format}");
    }
}

#[test]
fn a_broken_repository_is_reported_and_the_others_go_on() {
    let sb = Sandbox::new();
    let root = server_root(&sb);
    // Looks like a bare repository, holds nothing git can read.
    let broken = root.join("zed/broken.git");
    std::fs::create_dir_all(broken.join("objects")).unwrap();
    std::fs::create_dir_all(broken.join("refs")).unwrap();
    std::fs::write(broken.join("HEAD"), "garbage\n").unwrap();
    let o = secretgate(
        sb.path(),
        &[
            "audit",
            "--root",
            root.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    assert_eq!(o.status.code(), Some(3), "{}", crate::gitutil::text(&o));
    let found = json_of(&o);
    assert!(found.iter().any(|f| f["repository"] == "alice/shop.git"));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("zed/broken.git"),
        "{}",
        crate::gitutil::text(&o)
    );
}

#[test]
fn bad_shards_and_reports_are_clear_errors() {
    let sb = Sandbox::new();
    let root = server_root(&sb);
    for bad in ["0/3", "4/3", "1/0", "x", "1-3", "/3"] {
        let o = secretgate(
            sb.path(),
            &["audit", "--root", root.to_str().unwrap(), "--shard", bad],
        );
        assert_eq!(
            o.status.code(),
            Some(2),
            "{bad}: {}",
            crate::gitutil::text(&o)
        );
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("--shard"),
            "{}",
            crate::gitutil::text(&o)
        );
        assert!(!crate::gitutil::text(&o).contains("panicked"));
    }
    let junk = sb.path().join("junk.json");
    std::fs::write(&junk, "{\"not\": \"a report\"}\n").unwrap();
    let o = secretgate(sb.path(), &["merge", junk.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", crate::gitutil::text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("not a secretgate report"),
        "{}",
        crate::gitutil::text(&o)
    );
    let o = secretgate(sb.path(), &["audit", "--root", "/nonexistent/root"]);
    assert!(
        matches!(o.status.code(), Some(2 | 3)),
        "{}",
        crate::gitutil::text(&o)
    );
    let _ = Path::new("");
}
