//! The gate's trust boundary, end to end through real pushes into a hooked bare repository:
//! every commit a push makes reachable that no existing ref reached is judged, whatever the
//! server already stores; nothing a pusher controls (a rename, a path, a message, a marker, a
//! broken object) buys trust; no value reaches the pusher's terminal.

use crate::gitutil::{git, secretgate_bin, Repo, Sandbox, Server};

const KEY: &str = "8f42a73054b1749f8f58848be5e6502c";
const AWS: &str = "AKIAZ7Q3XK4LM2NP5RTV";
const GHP: &str = "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";

/// A server with one clean commit on main, a clone of it, and the server's config when given.
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
fn rejected(p: &crate::gitutil::Pushed) {
    assert!(!p.ok, "push should be rejected:\n{}", p.stderr);
}

/// Runs `f` with the server's hook removed: history that got in before the hook was installed.
fn without_hook<T>(server: &Server, f: impl FnOnce() -> T) -> T {
    let hook = server.dir.join("hooks/pre-receive");
    let saved = std::fs::read(&hook).unwrap();
    std::fs::remove_file(&hook).unwrap();
    let out = f();
    std::fs::write(&hook, saved).unwrap();
    crate::gitutil::make_executable(&hook);
    out
}

#[test]
fn a_commit_force_pushed_away_is_judged_when_a_push_restores_it() {
    let (_sb, server, repo) = setup(None);
    let leak = without_hook(&server, || {
        let c = repo.commit_file("config.py", format!("SECRET_KEY = \"{KEY}\"\n"), "leak");
        assert!(repo.push(&server, &["HEAD:refs/heads/main"]).ok);
        // Cleaned up by a force push: the commit stays in the server's store, on no ref.
        repo.git(&["reset", "-q", "--hard", "HEAD~1"]);
        assert!(
            repo.push_with(&server, &["--force"], &["HEAD:refs/heads/main"])
                .ok
        );
        c
    });
    let p = repo.push(&server, &[&format!("{leak}:refs/heads/restore")]);
    rejected(&p);
    assert!(p.stderr.contains("config.py:1"), "{}", p.stderr);
    assert!(p.stderr.contains(&leak[..10]), "{}", p.stderr);
    assert_eq!(server.rev("refs/heads/restore"), None);
    // A tag is no way around it either.
    let p = repo.push(&server, &[&format!("{leak}:refs/tags/v-restore")]);
    rejected(&p);
}

#[test]
fn history_stored_before_the_hook_is_judged_when_named() {
    let (_sb, server, repo) = setup(None);
    // Pushed before the hook existed, then its branch deleted: stored, reached by no ref.
    let (leak, child) = without_hook(&server, || {
        repo.git(&["checkout", "-q", "-b", "side"]);
        let leak = repo.commit_file("keys.py", format!("aws = \"{AWS}\"\n"), "keys");
        let child = repo.commit_file("readme.txt", "docs\n", "docs");
        assert!(repo.push(&server, &["HEAD:refs/heads/side"]).ok);
        assert!(repo.push(&server, &[":refs/heads/side"]).ok);
        (leak, child)
    });
    // A later push names a commit whose parent is the stored, unreachable one.
    let p = repo.push(&server, &[&format!("{child}:refs/heads/feature")]);
    rejected(&p);
    assert!(p.stderr.contains("keys.py:1"), "{}", p.stderr);
    assert!(p.stderr.contains(&leak[..10]), "{}", p.stderr);
}

#[test]
fn a_smuggled_commit_is_judged_when_a_later_push_names_it() {
    let (_sb, server, repo) = setup(None);
    // Objects planted in the server's store beside an accepted update (what a hand-made pack
    // can do): fetched into a hidden ref, which is then deleted.
    repo.git(&["checkout", "-q", "-b", "smuggle"]);
    let leak = repo.commit_file("deploy/.env", format!("SECRET_KEY={KEY}\n"), "env");
    git(
        &server.dir,
        &[
            "fetch",
            "-q",
            repo.dir.to_str().unwrap(),
            &format!("{leak}:refs/hidden/x"),
        ],
    );
    git(&server.dir, &["update-ref", "-d", "refs/hidden/x"]);
    let p = repo.push(&server, &[&format!("{leak}:refs/heads/main")]);
    rejected(&p);
    assert!(p.stderr.contains("deploy/.env:1"), "{}", p.stderr);
}

#[test]
fn a_branch_from_an_old_commit_judges_only_what_it_adds() {
    let (_sb, server, repo) = setup(None);
    let base = without_hook(&server, || {
        let c = repo.commit_file("config.py", format!("SECRET_KEY = \"{KEY}\"\n"), "old");
        repo.commit_file("more.py", "x = 1\n", "more");
        repo.commit_file("more.py", "x = 2\n", "more");
        assert!(repo.push(&server, &["HEAD:refs/heads/main"]).ok);
        c
    });
    // A branch from a commit in the middle of main (not a tip): the old secret is reachable
    // from main, so it is not judged again; the new commit is.
    repo.git(&["checkout", "-q", "-b", "topic", &base]);
    repo.commit_file("topic.py", "y = 1\n", "topic");
    let p = repo.push(&server, &["HEAD:refs/heads/topic"]);
    assert!(p.ok, "{}", p.stderr);
    repo.commit_file("topic.py", format!("TOKEN = \"{GHP}\"\n"), "token");
    let p = repo.push(&server, &["HEAD:refs/heads/topic2"]);
    rejected(&p);
    assert!(p.stderr.contains("topic.py:1"), "{}", p.stderr);
    assert!(!p.stderr.contains("config.py"), "{}", p.stderr);
}

#[test]
fn a_mirror_push_of_many_tags_walks_each_commit_once() {
    let (sb, server, _repo) = setup(None);
    let src = sb.work("mirror");
    // 300 commits, a tag on each, one secret in the middle.
    crate::gitutil::fast_import(&src.dir, &[], |w| {
        for i in 1..=300u32 {
            let body = if i == 150 {
                format!("SECRET_KEY = \"{KEY}\"\n")
            } else {
                format!("n = {i}\n")
            };
            write!(
                w,
                "commit refs/heads/main\nmark :{i}\ncommitter A <a@b.c> {} +0000\ndata 2\nc\n\
                 M 100644 inline f{}.py\ndata {}\n{body}\nreset refs/tags/t{i}\nfrom :{i}\n\n",
                1_700_000_000 + i,
                i % 7,
                body.len()
            )?;
        }
        Ok(())
    });
    let url = server.dir.to_str().unwrap().to_owned();
    let o = git_out(&src.dir, &["push", "-q", "--mirror", &url]);
    assert!(!o.0, "the secret rejects the mirror push: {}", o.1);
    let hits = o.1.matches("flask-secret-key").count();
    assert!(hits >= 1, "{}", o.1);
    assert!(
        o.1.matches("f3.py:1  flask-secret-key").count() == 1,
        "one finding, once, whatever the number of tags: {}",
        o.1
    );
    assert!(!o.1.contains("time budget"), "{}", o.1);
}

use std::io::Write as _;

fn git_out(dir: &std::path::Path, args: &[&str]) -> (bool, String) {
    let mut c = crate::gitutil::git_cmd(dir);
    c.args(args);
    let o = crate::gitutil::guarded_output(c, &format!("git {}", args.join(" ")));
    (
        o.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

#[test]
fn no_other_value_on_the_line_reaches_the_pusher() {
    let (sb, server, repo) = setup(None);
    let report = sb.path().join("report.json");
    let hook = server.dir.join("hooks/pre-receive");
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\nexec '{}' pre-receive --format json --output '{}'\n",
            secretgate_bin().display(),
            report.display()
        ),
    )
    .unwrap();
    crate::gitutil::make_executable(&hook);
    repo.commit_file(
        "app.py",
        format!(
            "from flask import Flask\napp = Flask(__name__)\n\
             app.config.update(SECRET_KEY=\"{KEY}\", DEBUG=True)\n\
             app.run(debug=True, ssl_context=(\"c.pem\", \"{KEY}\"))\n"
        ),
        &format!("add app {GHP}"),
    );
    repo.git(&["tag", "-a", "-m", &format!("release {GHP}"), "v1"]);
    let p = repo.push(
        &server,
        &[
            "HEAD:refs/heads/main",
            &format!("refs/tags/v1:refs/tags/{AWS}"),
        ],
    );
    rejected(&p);
    let json = std::fs::read_to_string(&report).unwrap();
    // What the hook said (git itself echoes the refspec it was given).
    let said = p.remote_lines().join("\n");
    for out in [&said, &json] {
        for v in [KEY, GHP, AWS] {
            // At most a quarter of a value, four characters, ever shows.
            assert!(!out.contains(&v[..8]), "{v} leaked:\n{out}");
        }
    }
    // The debug finding is there, with its code redacted.
    assert!(p.stderr.contains("flask-debug"), "{}", p.stderr);
    // The tokens in the commit message, the tag message and the ref name are findings.
    assert!(p.stderr.contains("(commit message)"), "{}", p.stderr);
    assert!(p.stderr.contains("(tag message)"), "{}", p.stderr);
    assert!(p.stderr.contains("(ref name)"), "{}", p.stderr);
}

#[test]
fn a_token_in_a_commit_message_blocks_prose_does_not() {
    let (_sb, server, repo) = setup(None);
    repo.commit_file("a.py", "x = 1\n", &format!("deploy with token {GHP}"));
    let p = repo.push(&server, &["HEAD:refs/heads/main"]);
    rejected(&p);
    assert!(p.stderr.contains("(commit message):1"), "{}", p.stderr);
    assert!(p.stderr.contains("github-pat-classic"), "{}", p.stderr);
    // Generic and Flask rules do not read messages.
    repo.git(&["reset", "-q", "--hard", "HEAD~1"]);
    repo.commit_file(
        "a.py",
        "x = 2\n",
        &format!("set SECRET_KEY = \"{KEY}\" password = hunter2hunter2 in docs"),
    );
    let p = repo.push(&server, &["HEAD:refs/heads/main"]);
    assert!(p.ok, "{}", p.stderr);
}

#[test]
fn a_rename_out_of_an_unscanned_path_carries_no_trust() {
    let (_sb, server, repo) = setup(None);
    // An example file is not judged for Flask settings: accepted.
    repo.commit_file(
        "settings.py.example",
        format!("SECRET_KEY = \"{KEY}\"\n"),
        "example",
    );
    let p = repo.push(&server, &["HEAD:refs/heads/main"]);
    assert!(p.ok, "{}", p.stderr);
    // Renamed to the real settings file: every line is judged at the new path.
    repo.git(&["mv", "settings.py.example", "settings.py"]);
    repo.git(&["commit", "-q", "-m", "use it"]);
    let p = repo.push(&server, &["HEAD:refs/heads/main"]);
    rejected(&p);
    assert!(p.stderr.contains("settings.py:1"), "{}", p.stderr);
    // A rename with an edit, too.
    repo.git(&["reset", "-q", "--hard", "HEAD~1"]);
    repo.git(&["mv", "settings.py.example", "settings.py"]);
    repo.write("settings.py", format!("SECRET_KEY = \"{KEY}\"\nX = 1\n"));
    repo.git(&["commit", "-qam", "use it, edited"]);
    let p = repo.push(&server, &["HEAD:refs/heads/main"]);
    rejected(&p);
    assert!(p.stderr.contains("settings.py:1"), "{}", p.stderr);
    // A rename between two paths judged alike adds nothing.
    repo.git(&["reset", "-q", "--hard", "HEAD~1"]);
    repo.commit_file("a/x.txt", "plain\n", "x");
    assert!(repo.push(&server, &["HEAD:refs/heads/main"]).ok);
}

#[test]
fn a_provider_token_blocks_in_an_allowlisted_path() {
    let (_sb, server, repo) = setup(None);
    repo.commit_file(
        "config.py.example",
        format!("AWS_ACCESS_KEY_ID = \"{AWS}\"\n"),
        "example",
    );
    let p = repo.push(&server, &["HEAD:refs/heads/main"]);
    rejected(&p);
    assert!(p.stderr.contains("config.py.example:1"), "{}", p.stderr);
    assert!(p.stderr.contains("aws-access-key-id"), "{}", p.stderr);
    // The provider's published documentation value is not a key.
    repo.git(&["reset", "-q", "--hard", "HEAD~1"]);
    repo.commit_file(
        "config.py.example",
        "AWS_ACCESS_KEY_ID = \"AKIAIOSFODNN7EXAMPLE\"\nSECRET_KEY = \"change-me\"\n",
        "example",
    );
    let p = repo.push(&server, &["HEAD:refs/heads/main"]);
    assert!(p.ok, "{}", p.stderr);
}

#[test]
fn broken_pushed_objects_reject_even_when_failing_open() {
    let (sb, server, repo) = setup(Some(
        "[extend]\ndefault = true\n[policy]\nfail_open = true\n",
    ));
    // A tree entry with a file mode that points at a tree: written with --literally.
    let inner = git(&repo.dir, &["write-tree"]);
    let mut entry = b"100644 config.py\0".to_vec();
    entry.extend((0..20).map(|i| u8::from_str_radix(&inner[2 * i..2 * i + 2], 16).unwrap()));
    let tree = {
        use std::process::Stdio;
        let mut child = crate::gitutil::git_cmd(&repo.dir)
            .args(["hash-object", "-t", "tree", "--literally", "-w", "--stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&entry).unwrap();
        let o = child.wait_with_output().unwrap();
        assert!(o.status.success());
        String::from_utf8(o.stdout).unwrap()
    };
    let parent = git(&repo.dir, &["rev-parse", "HEAD"]);
    let c = git(
        &repo.dir,
        &["commit-tree", tree.trim(), "-p", &parent, "-m", "odd"],
    );
    // A stock client refuses to pack that; a hand-made pack of the two objects goes through
    // receive-pack all the same (receive.fsckObjects is off by default).
    let pack = {
        use std::process::Stdio;
        let mut child = crate::gitutil::git_cmd(&repo.dir)
            .args(["pack-objects", "--stdout", "-q"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let list = format!("{}\n{}\n", c.trim(), tree.trim());
        child
            .stdin
            .take()
            .unwrap()
            .write_all(list.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap().stdout
    };
    let zero = "0".repeat(40);
    let (ok, said) = hand_push(&server.dir, &zero, c.trim(), "refs/heads/odd", &pack);
    assert!(!ok, "{said}");
    assert!(said.contains("objects cannot be read"), "{said}");
    assert!(!said.contains("could not check"), "{said}");
    assert_eq!(server.rev("refs/heads/odd"), None);
    drop(sb);
}

/// Speaks git's push protocol to `git receive-pack` directly: one ref update and a pack made
/// by hand, as a client other than git's can. Returns whether the update was accepted, and
/// everything receive-pack and its hook said.
fn hand_push(
    server: &std::path::Path,
    old: &str,
    new: &str,
    refname: &str,
    pack: &[u8],
) -> (bool, String) {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = crate::gitutil::git_cmd(server)
        .args(["receive-pack", "."])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    // The ref advertisement: pkt-lines up to a flush.
    loop {
        let mut len = [0u8; 4];
        out.read_exact(&mut len).unwrap();
        let n = usize::from_str_radix(std::str::from_utf8(&len).unwrap(), 16).unwrap();
        if n == 0 {
            break;
        }
        let mut line = vec![0u8; n - 4];
        out.read_exact(&mut line).unwrap();
    }
    let cmd = format!("{old} {new} {refname}\0report-status\n");
    let mut input = format!("{:04x}{cmd}0000", cmd.len() + 4).into_bytes();
    input.extend_from_slice(pack);
    {
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(&input).unwrap();
    }
    let mut rest = Vec::new();
    out.read_to_end(&mut rest).unwrap();
    let o = child.wait_with_output().unwrap();
    let report = String::from_utf8_lossy(&rest).into_owned();
    let said = format!("{report}\n{}", String::from_utf8_lossy(&o.stderr));
    (report.contains(&format!("ok {refname}")), said)
}

#[test]
fn inline_allows_are_shown_logged_and_can_be_refused() {
    let (sb, server, repo) = setup(None);
    repo.commit_file(
        "config.py",
        format!("SECRET_KEY = \"{KEY}\"  # secretgate:allow\n"),
        "allowed",
    );
    let p = repo.push(&server, &["HEAD:refs/heads/main"]);
    assert!(p.ok, "{}", p.stderr);
    assert!(
        p.stderr.contains("allowed inline by the pusher"),
        "{}",
        p.stderr
    );
    assert!(
        p.stderr.contains("config.py:1  flask-secret-key"),
        "{}",
        p.stderr
    );
    let log = std::fs::read_to_string(server.dir.join("secretgate-bypass.jsonl")).unwrap();
    assert!(log.contains("\"event\":\"inline-allow\""), "{log}");
    assert!(log.contains("flask-secret-key"), "{log}");
    assert!(!log.contains(&KEY[..8]), "{log}");

    // An admin who refuses inline allows.
    let strict = sb.server(
        "strict.git",
        Some("[extend]\ndefault = true\n[policy]\ninline_allow = false\n"),
    );
    let p = repo.push(&strict, &["HEAD:refs/heads/main"]);
    rejected(&p);
    assert!(
        p.stderr.contains("does not honour secretgate:allow"),
        "{}",
        p.stderr
    );
    assert!(p.stderr.contains("config.py:1"), "{}", p.stderr);
}

#[test]
fn an_oversize_blob_is_named_and_blocks_when_the_policy_says() {
    let big = "x = 1\n".repeat(30_000);
    for (policy, accepted) in [("warn", true), ("block", false)] {
        let (_sb, server, repo) = setup(Some(&format!(
            "[extend]\ndefault = true\n[policy]\nmax_blob_bytes = 100000\noversize = \"{policy}\"\n"
        )));
        repo.commit_file("data/big.py", &big, "big");
        let p = repo.push(&server, &["HEAD:refs/heads/main"]);
        assert_eq!(p.ok, accepted, "{policy}: {}", p.stderr);
        assert!(
            p.stderr.contains("data/big.py  180000 bytes (cap 100000)"),
            "{policy}: {}",
            p.stderr
        );
    }
}

#[test]
fn a_form_over_two_lines_is_judged_when_only_its_value_line_changes() {
    let (_sb, server, repo) = setup(None);
    repo.commit_file(
        "settings.py",
        "import os\nSECRET_KEY = \\\n    os.environ[\"SECRET_KEY\"]\n",
        "from the environment",
    );
    let p = repo.push(&server, &["HEAD:refs/heads/main"]);
    assert!(p.ok, "{}", p.stderr);
    // Only the second line changes; the finding is reported where the form starts.
    repo.commit_file(
        "settings.py",
        format!("import os\nSECRET_KEY = \\\n    \"{KEY}\"\n"),
        "inline",
    );
    let p = repo.push(&server, &["HEAD:refs/heads/main"]);
    rejected(&p);
    assert!(p.stderr.contains("settings.py:2"), "{}", p.stderr);
    // A private key is reported at its BEGIN line.
    repo.git(&["reset", "-q", "--hard", "HEAD~1"]);
    let body = "MIIEowIBAAKCAQEA7O+CwGw3rS4JZ6l2y5YZI6blnb9E+TthvVO/u6vjXSkDSu/+\n".repeat(6);
    repo.commit_file(
        "deploy/key.pem",
        format!("-----BEGIN RSA PRIVATE KEY-----\n{body}-----END RSA PRIVATE KEY-----\n"),
        "key",
    );
    let p = repo.push(&server, &["HEAD:refs/heads/main"]);
    rejected(&p);
    assert!(p.stderr.contains("deploy/key.pem:1"), "{}", p.stderr);
}

#[test]
fn a_token_in_a_notebooks_outputs_or_metadata_blocks() {
    let (_sb, server, repo) = setup(None);
    let nb = format!(
        "{{\"cells\":[{{\"cell_type\":\"code\",\"source\":[\"print(1)\\n\"],\
         \"outputs\":[{{\"output_type\":\"stream\",\"text\":[\"{AWS}\\n\"]}}],\
         \"metadata\":{{\"token\":\"{GHP}\"}}}}],\"metadata\":{{}},\"nbformat\":4,\"nbformat_minor\":5}}\n"
    );
    repo.commit_file("analysis.ipynb", nb, "notebook");
    let p = repo.push(&server, &["HEAD:refs/heads/main"]);
    rejected(&p);
    assert!(p.stderr.contains("aws-access-key-id"), "{}", p.stderr);
    assert!(p.stderr.contains("github-pat-classic"), "{}", p.stderr);
    // A Flask key written only in an output is prose there, not a setting.
    repo.git(&["reset", "-q", "--hard", "HEAD~1"]);
    let nb = format!(
        "{{\"cells\":[{{\"cell_type\":\"code\",\"source\":[\"print(1)\\n\"],\
         \"outputs\":[{{\"output_type\":\"stream\",\"text\":[\"SECRET_KEY = '{KEY}'\\n\"]}}]}}],\
         \"metadata\":{{}},\"nbformat\":4,\"nbformat_minor\":5}}\n"
    );
    repo.commit_file("analysis.ipynb", nb, "notebook");
    let p = repo.push(&server, &["HEAD:refs/heads/main"]);
    assert!(p.ok, "{}", p.stderr);
}

/// A tree written by hand (git's own tools never write one like this): entries out of git's
/// order, and one name twice. The one tree differ must still see every file the commit adds:
/// an entry that sorts before one the old tree shares, or that hides behind an identical
/// duplicate, is judged.
#[test]
fn a_hand_made_tree_out_of_order_or_with_a_name_twice_hides_nothing() {
    let (_sb, server, repo) = setup(None);
    let blob = |text: &str| {
        let mut c = crate::gitutil::git_cmd(&repo.dir);
        c.args(["hash-object", "-w", "--stdin"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped());
        let mut child = c.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let o = child.wait_with_output().unwrap();
        String::from_utf8(o.stdout).unwrap().trim().to_owned()
    };
    let tree = |entries: &[(&str, &str)]| {
        let mut raw = Vec::new();
        for (name, id) in entries {
            raw.extend_from_slice(format!("100644 {name}\0").as_bytes());
            for i in (0..id.len()).step_by(2) {
                raw.push(u8::from_str_radix(&id[i..i + 2], 16).unwrap());
            }
        }
        let mut c = crate::gitutil::git_cmd(&repo.dir);
        c.args(["hash-object", "-t", "tree", "-w", "--literally", "--stdin"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped());
        let mut child = c.spawn().unwrap();
        child.stdin.take().unwrap().write_all(&raw).unwrap();
        let o = child.wait_with_output().unwrap();
        assert!(o.status.success());
        String::from_utf8(o.stdout).unwrap().trim().to_owned()
    };
    let clean = blob("print('hello')\n");
    let other = blob("VALUE = 1\n");
    let secret = blob(&format!("SECRET_KEY = \"{KEY}\"\n"));
    let base = tree(&[("a.py", &other), ("b.py", &clean)]);
    let parent = repo.git(&["commit-tree", &base, "-m", "base"]);
    for (what, entries) in [
        (
            "out of order",
            vec![("b.py", clean.as_str()), ("a.py", secret.as_str())],
        ),
        (
            "a name twice",
            vec![
                ("a.py", other.as_str()),
                ("a.py", secret.as_str()),
                ("b.py", clean.as_str()),
            ],
        ),
    ] {
        let t = tree(&entries);
        let c = repo.git(&["commit-tree", &t, "-p", &parent, "-m", what]);
        let p = repo.push(&server, &[&format!("{c}:refs/heads/hand")]);
        rejected(&p);
        assert!(p.stderr.contains("a.py:1"), "{what}: {}", p.stderr);
        assert_eq!(server.rev("refs/heads/hand"), None, "{what}");
    }
}
