//! Nothing leaks: known values are planted in every form the rules find, and every output of
//! every mode is searched for them. No full value may appear anywhere: not in the rejection
//! text, the reports (human, json, jsonl, sarif), the bypass log, a baseline, or stderr at the
//! most verbose log level.

use std::path::Path;

use crate::gitutil::Sandbox;

/// Values planted in the files below, each found by some rule.
const PLANTED: &[&str] = &[
    "8f42a73054b1749f8f58848be5e6502c",
    "k8#Jd93!xLq0-vV2_pRt7Zy",
    "AKIAIEQH746YNG7BY3A4",
    "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",
    "Xk9mQ2vL8pR4wZa8F3kL9qPz",
    "S3cr3t-Pa55w0rd-9f8e",
    "c41f9e2b7a3d5068e1f2a9b4c7d3e6f1",
    "q7Wm3Zt9Rv2Kx8Ln5Bp4",
    "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",
];

/// Values that only ride along: on a line a settings rule reports, or in a commit message.
const BESIDE_A_SETTING: usize = 6;

fn plant(repo: &crate::gitutil::Repo) {
    repo.write(
        "app/config.py",
        format!(
            "SECRET_KEY = \"{}\"\nJWT_SECRET_KEY = '{}'\n",
            PLANTED[0], PLANTED[1]
        ),
    );
    repo.write("deploy/.env", format!("AWS_ACCESS_KEY_ID={}\n", PLANTED[2]));
    repo.write(
        "ci/token.py",
        format!("GITHUB_TOKEN = \"{}\"\n", PLANTED[3]),
    );
    repo.write(
        "settings.py",
        format!("MAIL_PASSWORD = \"{}\"\n", PLANTED[4]),
    );
    // Values on the same lines as debug settings: the debug finding's code must not carry them.
    repo.write(
        "app/__init__.py",
        format!(
            "from flask import Flask\napp = Flask(__name__)\n\
             app.config.update(SECRET_KEY=\"{}\", DEBUG=True)\n\
             app.run(debug=True, ssl_context=(\"c.pem\", \"{}\"))\n",
            PLANTED[BESIDE_A_SETTING],
            PLANTED[BESIDE_A_SETTING + 1]
        ),
    );
    repo.write(
        "Dockerfile",
        format!(
            "FROM python:3.12\nENV FLASK_DEBUG=1 SECRET_KEY={}\n",
            PLANTED[BESIDE_A_SETTING]
        ),
    );
    repo.write(
        "db.py",
        format!(
            "SQLALCHEMY_DATABASE_URI = \"postgresql://app:{}@db.internal/app\"\n",
            PLANTED[5]
        ),
    );
}

#[track_caller]
fn assert_clean(what: &str, text: &str) {
    for v in PLANTED {
        assert!(
            !text.contains(v),
            "{what} contains the full value {v:?}:\n{text}"
        );
        // No piece either: at most a quarter of a value, four characters at most, may be
        // shown, so no five characters of one appear anywhere.
        for w in v.as_bytes().windows(5) {
            let piece = std::str::from_utf8(w).unwrap();
            assert!(
                !text.contains(piece),
                "{what} contains {piece:?}, a piece of {v:?}:\n{text}"
            );
        }
    }
}

fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let o = crate::gitutil::secretgate_cmd(dir)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn scan_reports_and_logs_never_hold_a_value() {
    let sb = Sandbox::new();
    let repo = sb.work("work");
    plant(&repo);
    let mut found = 0;
    for format in ["human", "json", "jsonl", "sarif"] {
        let (code, out, err) = run(
            &repo.dir,
            &["scan", "-vvv", "--format", format, "."],
            &[("SECRETGATE_LOG", "trace")],
        );
        assert_eq!(code, 1, "{format}: {out}{err}");
        assert_clean(&format!("scan --format {format} stdout"), &out);
        assert_clean(&format!("scan --format {format} stderr"), &err);
        if format == "json" {
            found = serde_json::from_str::<Vec<serde_json::Value>>(&out)
                .unwrap()
                .len();
        }
    }
    assert!(
        found >= PLANTED.len(),
        "every planted value is found ({found})"
    );
    // The audit of the same files, committed, in every format.
    repo.commit_all("planted");
    for format in ["human", "json", "jsonl", "sarif"] {
        let (code, out, err) = run(
            &repo.dir,
            &["audit", "-vvv", "--format", format, "."],
            &[("SECRETGATE_LOG", "trace")],
        );
        assert_eq!(code, 1, "audit {format}: {out}{err}");
        assert_clean(&format!("audit --format {format} stdout"), &out);
        assert_clean(&format!("audit --format {format} stderr"), &err);
    }
    // A baseline written from the report holds fingerprints, never values.
    let baseline = sb.path().join("baseline.json");
    let (_, _, _) = run(
        &repo.dir,
        &[
            "scan",
            "--format",
            "json",
            "--output",
            baseline.to_str().unwrap(),
            ".",
        ],
        &[],
    );
    assert_clean("baseline", &std::fs::read_to_string(&baseline).unwrap());
    let (code, out, err) = run(
        &repo.dir,
        &["scan", "--baseline", baseline.to_str().unwrap(), "."],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn the_rejection_and_the_bypass_log_never_hold_a_value() {
    let sb = Sandbox::new();
    let log = sb.path().join("bypass.jsonl");
    let cfg = format!(
        "[extend]\ndefault = true\n[policy]\nmax_findings_shown = 100\n[policy.bypass]\nenabled = true\nlog = '{}'\n",
        log.display()
    );
    let server = sb.server("server.git", Some(&cfg));
    let hook = server.dir.join("hooks/pre-receive");
    let text = std::fs::read_to_string(&hook).unwrap();
    std::fs::write(&hook, text.replace(" pre-receive", " -vvv pre-receive")).unwrap();
    let repo = sb.work("work");
    plant(&repo);
    // A token in the commit's subject, the tag's message and a ref's name: findings, and
    // redacted wherever the hook echoes them.
    let token = PLANTED[BESIDE_A_SETTING + 2];
    repo.commit_all(&format!("planted {token}"));
    repo.git(&["tag", "-a", "-m", &format!("release {token}"), "v1"]);
    let p = repo.push(
        &server,
        &[
            "HEAD:refs/heads/main",
            &format!("refs/tags/v1:refs/tags/t-{token}"),
        ],
    );
    assert!(!p.ok, "{}", p.stderr);
    // git itself echoes the refspecs it was given; the hook's own lines are the `remote:` ones.
    let said = p.remote_lines().join("\n");
    assert!(said.contains("(commit message)"), "{said}");
    assert!(said.contains("(tag message)"), "{said}");
    assert!(said.contains("(ref name)"), "{said}");
    assert!(said.contains("flask-debug"), "{said}");
    assert_clean("the rejection", &said);
    let p = repo.push(&server, &["HEAD:refs/heads/main"]);
    assert!(!p.ok, "{}", p.stderr);
    assert!(p.stderr.contains("AKIA…(20 chars)"), "{}", p.stderr);
    assert_clean("the rejection", &p.stderr);
    let p = repo.push_with(
        &server,
        &["-o", "secretgate.skip=planted test values"],
        &["HEAD:refs/heads/main"],
    );
    assert!(p.ok, "{}", p.stderr);
    assert_clean("the bypass message", &p.stderr);
    assert_clean("the bypass log", &std::fs::read_to_string(&log).unwrap());
}
