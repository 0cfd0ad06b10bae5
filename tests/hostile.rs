//! Hostile and broken input, as a table: whatever a pusher, a repository or a rules file throws
//! at secretgate, the answer is a defined exit code of the contract and, for an error, one clear
//! line that names the problem. Never a panic (exit 101), never a crash by signal, never a hang
//! (every run is killed after 30 s), and never a raw ESC byte in any output, so nothing a pusher
//! names a file or writes in a commit message can drive the terminal of whoever reads the report.

mod gitutil;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gitutil::{git, make_executable, secretgate_bin, Repo, Sandbox, Server};
use serde_json::Value;

const ZERO: &str = "0000000000000000000000000000000000000000";
const KEY: &str = "8f42a73054b1749f8f58848be5e6502c";
/// Every run is killed after this long: a hang is a failure, not a stuck test suite.
const HANG: Duration = Duration::from_secs(30);

fn secret_py() -> String {
    format!("SECRET_KEY = \"{KEY}\"\n")
}

/// At most the first `n` bytes of `s` (on a character boundary).
fn cut(s: &str, n: usize) -> String {
    let mut end = s.len().min(n);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    if end < s.len() {
        format!("{}… ({} bytes)", &s[..end], s.len())
    } else {
        s.to_owned()
    }
}

/// What one run of the binary did.
struct Ran {
    what: String,
    code: i32,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    secs: f64,
}

impl Ran {
    fn out(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    fn err(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    fn show(&self) -> String {
        format!(
            "{} exited with {} after {:.2} s\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.what,
            self.code,
            self.secs,
            cut(&self.out(), 6000),
            cut(&self.err(), 6000)
        )
    }

    /// No panic, no crash, no raw escape byte: true of every run, whatever its input.
    #[track_caller]
    fn sound(&self) -> &Self {
        assert_ne!(self.code, 101, "a panic:\n{}", self.show());
        assert!(self.code >= 0, "killed by a signal:\n{}", self.show());
        assert!(
            (0..=3).contains(&self.code),
            "exit code outside the contract:\n{}",
            self.show()
        );
        let err = self.err();
        assert!(!err.contains("panicked"), "a panic:\n{}", self.show());
        assert!(!err.contains("overflowed"), "{}", self.show());
        assert!(
            !self.stdout.contains(&0x1b) && !self.stderr.contains(&0x1b),
            "a raw ESC byte in the output:\n{}",
            self.show()
        );
        self
    }

    /// Sound, with this exit code; for an error, one line naming it: `secretgate: error: ...`
    /// (the run stopped) or `ERROR ...` (logged, and the run went on with the rest).
    #[track_caller]
    fn expect(&self, code: i32, needle: &str) -> &Self {
        self.sound();
        assert_eq!(self.code, code, "unexpected exit code\n{}", self.show());
        if code >= 2 {
            let err = self.err();
            let line = err
                .lines()
                .filter(|l| l.starts_with("secretgate: error: ") || l.starts_with("ERROR "))
                .find(|l| l.contains(needle))
                .unwrap_or_else(|| panic!("no error line naming {needle:?}:\n{}", self.show()));
            assert!(line.len() < 600, "one short line:\n{}", self.show());
        } else if !needle.is_empty() {
            assert!(
                self.out().contains(needle) || self.err().contains(needle),
                "{needle:?} should be in the output:\n{}",
                self.show()
            );
        }
        self
    }
}

/// Runs a command with `stdin`, killing it after [`HANG`].
#[track_caller]
fn run(mut cmd: Command, stdin: Vec<u8>) -> Ran {
    let what = format!("{cmd:?}");
    let what = cut(&what, 300);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd.spawn().expect("the binary starts");
    let mut input = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        // The binary may stop reading early (an error on the first line): not our failure.
        let _ = input.write_all(&stdin);
    });
    let read = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = r.read_to_end(&mut v);
            v
        })
    };
    let out = read(Box::new(child.stdout.take().unwrap()));
    let err = read(Box::new(child.stderr.take().unwrap()));
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > HANG {
            let _ = child.kill();
            let _ = child.wait();
            panic!("hung: {what} was killed after {} s", HANG.as_secs());
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let secs = start.elapsed().as_secs_f64();
    let _ = writer.join();
    Ran {
        what,
        code: status.code().unwrap_or(-1),
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
        secs,
    }
}

/// The binary in `dir`, with nothing inherited that changes what it does.
fn sg(dir: &Path, args: &[&str]) -> Command {
    let mut c = gitutil::secretgate_cmd(dir);
    c.args(args);
    c
}

/// `secretgate ARGS` in `dir` with no input.
#[track_caller]
fn sg_run(dir: &Path, args: &[&str]) -> Ran {
    run(sg(dir, args), Vec::new())
}

/// The pre-receive hook run by hand in the bare repository `git_dir`, as git runs it without a
/// quarantine (new commits are those no ref reaches).
#[track_caller]
fn hook(git_dir: &Path, extra: &[&str], stdin: impl Into<Vec<u8>>) -> Ran {
    let mut c = sg(git_dir, &["pre-receive"]);
    c.args(extra).env("GIT_DIR", git_dir);
    run(c, stdin.into())
}

/// A server holding one clean commit on `main`, and the work repository it came from.
fn server_with_main(sb: &Sandbox, config: Option<&str>) -> (Server, Repo, String) {
    let server = sb.server("server.git", config);
    let repo = sb.work("work");
    let head = repo.commit_file("app.py", "print('hello')\n", "initial");
    let p = repo.push(&server, &["HEAD:refs/heads/main"]);
    assert!(p.ok, "{}", p.stderr);
    (server, repo, head)
}

/// Puts `commit` (made in `repo`) into the server's store with no ref to it, as the objects of
/// a push are before the hook accepts it.
fn plant(server: &Server, repo: &Repo, commit: &str) {
    git(
        &server.dir,
        &[
            "fetch",
            "-q",
            repo.dir.to_str().unwrap(),
            &format!("{commit}:refs/hidden/x"),
        ],
    );
    git(&server.dir, &["update-ref", "-d", "refs/hidden/x"]);
}

/// The file of the loose object `id` in `git_dir`.
fn loose(git_dir: &Path, id: &str) -> PathBuf {
    let p = git_dir.join("objects").join(&id[..2]).join(&id[2..]);
    assert!(
        p.is_file(),
        "{id} is a loose object in {}",
        git_dir.display()
    );
    p
}

/// Replaces a (read-only) object file's bytes.
fn overwrite(p: &Path, data: &[u8]) {
    let mut perm = std::fs::metadata(p).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perm.set_readonly(false);
    std::fs::set_permissions(p, perm).unwrap();
    std::fs::write(p, data).unwrap();
}

/// The repository's one pack.
fn pack_of(git_dir: &Path) -> PathBuf {
    std::fs::read_dir(git_dir.join("objects/pack"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "pack"))
        .expect("a pack")
}

#[test]
fn pre_receive_input_table() {
    let sb = Sandbox::new();
    let (server, _repo, head) = server_with_main(&sb, None);
    let h = head.as_str();
    let upper = head.to_uppercase();
    let missing = "1234567890abcdef1234567890abcdef12345678";
    let long_garbage = vec![b'x'; 1 << 20];
    let mut too_much = vec![b'\n'; 64 << 20];
    too_much.push(b'\n');
    let cases: Vec<(&str, Vec<u8>, i32, &str)> = vec![
        ("empty input: nothing to do", vec![], 0, ""),
        ("blank lines only", b"\n\n\n".to_vec(), 0, ""),
        (
            "a valid update of a ref to what it has",
            format!("{ZERO} {h} refs/heads/main\n").into(),
            0,
            "",
        ),
        (
            "the last line without its newline",
            format!("{ZERO} {h} refs/heads/other").into(),
            0,
            "",
        ),
        (
            "CRLF line endings",
            format!("{ZERO} {h} refs/heads/a\r\n{ZERO} {h} refs/heads/b\r\n").into(),
            0,
            "",
        ),
        (
            "a deletion",
            format!("{h} {ZERO} refs/heads/main\n").into(),
            0,
            "",
        ),
        (
            "a ref name that is not UTF-8",
            b"0000000000000000000000000000000000000000 "
                .iter()
                .chain(h.as_bytes())
                .chain(b" refs/heads/caf\xe9\n")
                .copied()
                .collect(),
            0,
            "",
        ),
        (
            "garbage",
            b"garbage\n".to_vec(),
            2,
            "malformed hook input, line 1",
        ),
        (
            "garbage on the second line",
            format!("{ZERO} {h} refs/heads/main\nnot an update\n").into(),
            2,
            "line 2",
        ),
        (
            "truncated after the new id",
            format!("{ZERO} {h}\n").into(),
            2,
            "expected \"<old-oid> <new-oid> <refname>\"",
        ),
        (
            "truncated in the middle of the new id",
            format!("{ZERO} {}", &h[..17]).into(),
            2,
            "expected",
        ),
        (
            "truncated in the middle of the old id",
            b"00000000000000".to_vec(),
            2,
            "expected",
        ),
        (
            "non-hex id",
            format!("{ZERO} {}zz refs/heads/x\n", &h[..38]).into(),
            2,
            "is not a 40-digit hexadecimal object id",
        ),
        (
            "an id one digit short",
            format!("{ZERO} {} refs/heads/x\n", &h[..39]).into(),
            2,
            "40-digit",
        ),
        (
            "an id one digit long",
            format!("{ZERO} {h}0 refs/heads/x\n").into(),
            2,
            "40-digit",
        ),
        (
            "a SHA-256 id in a SHA-1 repository",
            format!("{ZERO} {h}{} refs/heads/x\n", &h[..24]).into(),
            2,
            "40-digit",
        ),
        (
            "upper-case hex",
            format!("{ZERO} {upper} refs/heads/x\n").into(),
            0,
            "",
        ),
        (
            "two spaces between the ids",
            format!("{ZERO}  {h} refs/heads/x\n").into(),
            2,
            "40-digit",
        ),
        (
            "a ref with a space",
            format!("{ZERO} {h} refs/heads/has space\n").into(),
            2,
            "is not a valid ref name",
        ),
        (
            "a ref with a trailing space",
            format!("{ZERO} {h} refs/heads/x \n").into(),
            2,
            "is not a valid ref name",
        ),
        (
            "a ref with ESC",
            format!("{ZERO} {h} refs/heads/\x1b[31mred\n").into(),
            2,
            "\"refs/heads/\\x1b[31mred\" is not a valid ref name",
        ),
        (
            "a ref with a tab",
            format!("{ZERO} {h} refs/heads/a\tb\n").into(),
            2,
            "refs/heads/a\\x09b",
        ),
        (
            "a ref with a bare CR",
            format!("{ZERO} {h} refs/heads/a\rb\n").into(),
            2,
            "is not a valid ref name",
        ),
        (
            "a ref with NUL",
            format!("{ZERO} {h} refs/heads/a\0b\n").into(),
            2,
            "is not a valid ref name",
        ),
        (
            "a ref outside refs/",
            format!("{ZERO} {h} main\n").into(),
            2,
            "is not a valid ref name",
        ),
        (
            "an empty ref name",
            format!("{ZERO} {h} \n").into(),
            2,
            "is not a valid ref name",
        ),
        (
            "one megabyte of garbage on one line",
            long_garbage,
            2,
            "malformed hook input, line 1",
        ),
        ("more than 64 MiB of input", too_much, 2, "more than 64 MiB"),
        (
            "an object the repository does not have",
            format!("{ZERO} {missing} refs/heads/x\n").into(),
            3,
            missing,
        ),
    ];
    for (what, stdin, code, needle) in cases {
        let r = hook(&server.dir, &[], stdin);
        eprintln!("{what}: exit {} in {:.2} s", r.code, r.secs);
        r.expect(code, needle);
        if code == 2 {
            assert!(
                r.err().contains("not with your code"),
                "{what}: the pusher is told the scanner failed:\n{}",
                r.show()
            );
        }
    }
    // Not a repository at all.
    let mut c = sg(sb.path(), &["pre-receive"]);
    c.env("GIT_DIR", sb.path().join("nowhere"));
    run(c, format!("{ZERO} {h} refs/heads/x\n").into()).expect(3, "cannot open a git repository");
}

#[test]
fn corrupt_and_missing_objects_pre_receive_and_audit() {
    let sb = Sandbox::new();
    let (server, repo, base) = server_with_main(&sb, None);
    // Three pushes, each on top of `main` alone, planted before anything is broken.
    let on_main = |branch: &str, path: &str, text: &str| -> String {
        repo.git(&["checkout", "-q", "-B", branch, &base]);
        let c = repo.commit_file(path, text, branch);
        plant(&server, &repo, &c);
        c
    };
    let c1 = on_main("one", "config.py", &secret_py());
    let blob = repo.git(&["rev-parse", "one:config.py"]);
    let c2 = on_main("two", "other.py", "x = 1\n");
    let c3 = on_main("three", "third.py", "y = 2\n");

    // A corrupt loose blob in the pushed commit.
    overwrite(&loose(&server.dir, &blob), b"this is not zlib data");
    let update = format!("{ZERO} {c1} refs/heads/main\n");
    hook(&server.dir, &[], update.as_str()).expect(3, &blob);
    git(&server.dir, &["update-ref", "refs/heads/dirty", &c1]);
    sg_run(&server.dir, &["audit", "."]).expect(3, &blob);
    git(&server.dir, &["update-ref", "-d", "refs/heads/dirty"]);

    // A corrupt loose commit.
    overwrite(&loose(&server.dir, &c2), b"x\x9c garbage");
    hook(&server.dir, &[], format!("{ZERO} {c2} refs/heads/main\n")).expect(3, &c2);

    // A loose object that is valid zlib but not a valid object.
    let mut z = Vec::new();
    {
        // zlib of "commit 5\0hello": a commit object whose body is no commit at all.
        let body = b"commit 5\0hello";
        z.extend_from_slice(&[0x78, 0x01, 0x01]);
        z.extend_from_slice(&(body.len() as u16).to_le_bytes());
        z.extend_from_slice(&(!(body.len() as u16)).to_le_bytes());
        z.extend_from_slice(body);
        let (mut a, mut b) = (1u32, 0u32);
        for &x in body {
            a = (a + u32::from(x)) % 65521;
            b = (b + a) % 65521;
        }
        z.extend_from_slice(&((b << 16) | a).to_be_bytes());
    }
    overwrite(&loose(&server.dir, &c3), &z);
    hook(&server.dir, &[], format!("{ZERO} {c3} refs/heads/main\n")).expect(3, &c3);

    // A missing blob.
    let sb2 = Sandbox::new();
    let (server2, repo2, _) = server_with_main(&sb2, None);
    let c4 = repo2.commit_file("config.py", secret_py(), "add config");
    plant(&server2, &repo2, &c4);
    let blob4 = repo2.git(&["rev-parse", "HEAD:config.py"]);
    std::fs::remove_file(loose(&server2.dir, &blob4)).unwrap();
    hook(&server2.dir, &[], format!("{ZERO} {c4} refs/heads/main\n")).expect(3, &blob4);
}

#[test]
fn corrupt_and_truncated_packs_pre_receive_and_audit() {
    for truncate in [false, true] {
        let sb = Sandbox::new();
        let (server, repo, _) = server_with_main(&sb, None);
        let c = repo.commit_file("config.py", secret_py(), "add config");
        git(
            &server.dir,
            &[
                "fetch",
                "-q",
                repo.dir.to_str().unwrap(),
                &format!("{c}:refs/hidden/x"),
            ],
        );
        git(&server.dir, &["repack", "-q", "-a", "-d"]);
        git(&server.dir, &["prune-packed"]);
        git(&server.dir, &["update-ref", "-d", "refs/hidden/x"]);
        let pack = pack_of(&server.dir);
        let mut data = std::fs::read(&pack).unwrap();
        if truncate {
            data.truncate(data.len() / 2);
        } else {
            let end = data.len() - 20;
            for b in &mut data[12..end] {
                *b ^= 0x5a;
            }
        }
        overwrite(&pack, &data);
        let r = hook(&server.dir, &[], format!("{ZERO} {c} refs/heads/main\n"));
        r.expect(3, "");
        assert!(r.err().contains("secret scanner failed"), "{}", r.show());
        sg_run(&server.dir, &["audit", "."]).expect(3, "");
        sg_run(&server.dir, &["audit", ".", "--format", "json"]).expect(3, "");
    }
}

#[test]
fn repositories_without_a_usable_head() {
    let sb = Sandbox::new();
    let make = |name: &str| -> Repo {
        let r = sb.work(name);
        r.commit_file("app.py", "print(1)\n", "initial");
        r.git(&["checkout", "-q", "-b", "side"]);
        r.commit_file("config.py", secret_py(), "secret on side");
        r.git(&["checkout", "-q", "main"]);
        r
    };

    // No HEAD file: not a repository, for git as for us.
    let r = make("no-head");
    std::fs::remove_file(r.dir.join(".git/HEAD")).unwrap();
    sg_run(&r.dir, &["audit", "."]).expect(3, "cannot open a git repository");
    sg_run(&r.dir, &["pre-commit"]).expect(3, "cannot find a git repository");

    // HEAD is garbage: the audit still reads every ref, and says the repository is broken.
    let r = make("garbage-head");
    std::fs::write(r.dir.join(".git/HEAD"), "this is not a ref\n").unwrap();
    let a = sg_run(&r.dir, &["audit", "."]);
    a.expect(3, "cannot read HEAD");
    assert!(a.out().contains("flask-secret-key"), "{}", a.show());
    sg_run(&r.dir, &["pre-commit"]).expect(3, "cannot read HEAD");

    // HEAD names a branch that does not exist: the audit reads every other ref, and the
    // pre-commit hook judges the index against the empty tree, as on an unborn branch.
    let r = make("unborn-head");
    r.git(&["symbolic-ref", "HEAD", "refs/heads/nowhere"]);
    sg_run(&r.dir, &["audit", "."]).expect(1, "flask-secret-key");
    r.write("staged.py", secret_py());
    r.git(&["add", "staged.py"]);
    sg_run(&r.dir, &["pre-commit"]).expect(1, "staged.py");

    // A detached HEAD at an object that does not exist.
    let r = make("detached-missing");
    std::fs::write(
        r.dir.join(".git/HEAD"),
        "1234567890abcdef1234567890abcdef12345678\n",
    )
    .unwrap();
    let missing = "1234567890abcdef1234567890abcdef12345678";
    sg_run(&r.dir, &["audit", "."]).expect(3, missing);
    sg_run(&r.dir, &["pre-commit"]).expect(3, missing);

    // A repository with no commit at all.
    let r = sb.work("empty");
    sg_run(&r.dir, &["audit", "."]).expect(0, "");
    sg_run(&r.dir, &["pre-commit"]).expect(0, "");
}

/// Writes the hook into a bare repository made some other way than `Sandbox::server`.
fn install_hook(dir: &Path) {
    let hook = dir.join("hooks").join("pre-receive");
    std::fs::create_dir_all(hook.parent().unwrap()).unwrap();
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\nexec '{}' pre-receive\n",
            secretgate_bin().display()
        ),
    )
    .unwrap();
    make_executable(&hook);
}

#[test]
fn pushes_into_a_shallow_server_repository() {
    let sb = Sandbox::new();
    let up = sb.work("upstream");
    let first = up.commit_file("a.py", "a = 1\n", "one");
    up.commit_file("b.py", "b = 2\n", "two");
    up.commit_file("c.py", "c = 3\n", "three");
    let url = format!("file://{}", up.dir.display());
    git(
        sb.path(),
        &["clone", "-q", "--bare", "--depth", "1", &url, "server.git"],
    );
    let server = Server {
        dir: sb.path().join("server.git"),
    };
    assert!(
        server.dir.join("shallow").is_file(),
        "the server is shallow"
    );
    install_hook(&server.dir);

    let dev = sb.work("dev");
    dev.git(&["pull", "-q", &url, "main"]);
    dev.commit_file("config.py", secret_py(), "secret");
    let p = dev.push(&server, &["HEAD:refs/heads/main"]);
    assert!(!p.ok, "{}", p.stderr);
    assert!(p.stderr.contains("config.py:1"), "{}", p.stderr);
    assert!(!p.stderr.contains("panicked"), "{}", p.stderr);

    dev.git(&["reset", "-q", "--hard", "HEAD~1"]);
    dev.commit_file("d.py", "d = 4\n", "clean");
    let p = dev.push(&server, &["HEAD:refs/heads/main"]);
    assert!(p.ok, "{}", p.stderr);

    // A branch from before the shallow boundary: the server has none of its history.
    dev.git(&["checkout", "-q", "-b", "old", &first]);
    dev.commit_file("old.py", secret_py(), "secret on an old branch");
    // git sends only the new commit (the server should have its parent), so git itself
    // refuses the push ("missing necessary objects"); the hook, unable to read the parent,
    // rejects it too, with the missing object named, and does not crash.
    let p = dev.push(&server, &["HEAD:refs/heads/old"]);
    assert!(!p.ok, "{}", p.stderr);
    assert!(p.stderr.contains(&first), "{}", p.stderr);
    assert!(!p.stderr.contains("panicked"), "{}", p.stderr);

    // The hook by hand: nothing new, and a commit past the boundary.
    let tip = server.rev("refs/heads/main").unwrap();
    hook(&server.dir, &[], format!("{ZERO} {tip} refs/heads/copy\n")).expect(0, "");
    sg_run(&server.dir, &["audit", "."]).sound();
}

/// A file of one line of `len` bytes: random-looking text, keyword hits that are not secrets,
/// a dense run of `dense` hard-coded keys (many matches on the same enormous line), filler.
fn one_line(len: usize, dense: usize) -> (Vec<u8>, Vec<usize>) {
    let mut v = Vec::with_capacity(len);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let alphabet = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/";
    while v.len() < len / 4 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.push(alphabet[(x % 64) as usize]);
    }
    while v.len() < len / 2 {
        v.extend_from_slice(b"secret_key is not set; password: none; api_key ");
    }
    let mut starts = Vec::new();
    for _ in 0..dense {
        let unit = format!("SECRET_KEY = \"{KEY}\"; ");
        starts.push(v.len() + "SECRET_KEY = \"".len());
        v.extend_from_slice(unit.as_bytes());
    }
    v.resize(len, b'a');
    (v, starts)
}

const BIG_CONFIG: &str =
    "[extend]\ndefault = true\n[policy]\nmax_blob_bytes = 104857600\ntime_budget_secs = 600\n";

#[test]
fn a_fifty_megabyte_line_is_scanned_quickly() {
    let sb = Sandbox::new();
    let (data, starts) = one_line(50 << 20, 2000);
    let dir = sb.path().join("files");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("settings.py"), &data).unwrap();
    let cfg = sb.path().join("big.toml");
    std::fs::write(&cfg, BIG_CONFIG).unwrap();

    // The default cap lists it without reading it.
    sg_run(&dir, &["scan", "."]).expect(0, "over the");

    let r = sg_run(
        &dir,
        &[
            "scan",
            ".",
            "--format",
            "json",
            "--config",
            cfg.to_str().unwrap(),
        ],
    );
    r.expect(1, "");
    // Linear, whatever the machine's load: a tenth of the line (a tenth of the keys) in the same
    // run takes about a tenth of the time; a scan quadratic in the matches would take a hundredth.
    let (small, _) = one_line(5 << 20, 200);
    std::fs::write(dir.join("small.py"), &small).unwrap();
    let small_dir = sb.path().join("small");
    std::fs::create_dir_all(&small_dir).unwrap();
    std::fs::rename(dir.join("small.py"), small_dir.join("settings.py")).unwrap();
    let r_small = sg_run(
        &small_dir,
        &[
            "scan",
            ".",
            "--format",
            "json",
            "--config",
            cfg.to_str().unwrap(),
        ],
    );
    r_small.expect(1, "");
    let ratio = r.secs / r_small.secs.max(0.01);
    eprintln!(
        "scan of a 50 MB line: {:.2} s; of a 5 MB line: {:.2} s; ratio {ratio:.1}",
        r.secs, r_small.secs
    );
    assert!(ratio < 30.0, "50 MB took {ratio:.1} times 5 MB: not linear");
    let found: Vec<Value> = serde_json::from_slice(&r.stdout).unwrap();
    let keys: Vec<&Value> = found
        .iter()
        .filter(|f| f["rule_id"] == "flask-secret-key")
        .collect();
    assert_eq!(keys.len(), starts.len(), "{}", r.show());
    for (f, &s) in keys.iter().zip(&starts) {
        assert_eq!(f["line"], 1);
        assert_eq!(f["column"], s + 1);
    }

    // The same file through a real push.
    let server = sb.server("server.git", Some(BIG_CONFIG));
    let repo = sb.work("work");
    repo.commit_file("settings.py", &data, "one long line");
    let start = Instant::now();
    let p = repo.push(&server, &["HEAD:refs/heads/main"]);
    let secs = start.elapsed().as_secs_f64();
    assert!(!p.ok, "{}", p.stderr);
    assert!(p.stderr.contains("settings.py:1"), "{}", p.stderr);
    assert!(p.stderr.contains("and 1980 more"), "{}", p.stderr);
    eprintln!("push of a 50 MB line: {secs:.2} s");
    assert!(!p.stderr.contains("panicked"), "{}", p.stderr);
}

/// Runs `git fast-import` on `stream` in `git_dir`.
fn fast_import(git_dir: &Path, stream: &[u8]) {
    let mut c = gitutil::git_cmd(git_dir);
    c.args(["fast-import", "--quiet"]).stdin(Stdio::piped());
    let mut child = c.spawn().unwrap();
    child.stdin.take().unwrap().write_all(stream).unwrap();
    assert!(child.wait().unwrap().success(), "git fast-import failed");
}

#[test]
fn twenty_thousand_files_in_one_commit() {
    let sb = Sandbox::new();
    let server = sb.server("server.git", None);
    let repo = sb.work("work");
    // Made without the file system (20,000 files on disk cost more than everything else).
    let mut stream = b"commit refs/heads/many\ncommitter A <a@example.com> 1700000000 +0000\n\
                       data 10\nmany files\n"
        .to_vec();
    for i in 0..20_000 {
        let data = format!("x = {i}\n");
        stream.extend_from_slice(
            format!(
                "M 100644 inline pkg{:02}/m{i}.py\ndata {}\n{data}\n",
                i % 50,
                data.len()
            )
            .as_bytes(),
        );
    }
    let data = secret_py();
    stream.extend_from_slice(
        format!(
            "M 100644 inline pkg07/settings.py\ndata {}\n{data}\n",
            data.len()
        )
        .as_bytes(),
    );
    fast_import(&repo.dir, &stream);
    // The whole commit staged on an unborn branch: what a first commit of it would judge.
    repo.git(&["read-tree", "many"]);
    let r = sg_run(&repo.dir, &["pre-commit"]);
    r.expect(1, "pkg07/settings.py:1");
    // Against git on the same machine in the same run (what git itself does with the same
    // 20,000 files: their staged diff, and the same push into a server without the hook), not
    // against a wall clock: the bound (40 times; a debug build measures about 5) catches a walk
    // that went quadratic, whatever the machine's speed or load. Speed itself is measured by
    // the benchmarks (scripts/bench-pre-commit.sh, scripts/bench-pre-receive.sh).
    let floor = |args: &[&str]| {
        let start = Instant::now();
        let o = gitutil::git_output(&repo.dir, args);
        assert!(o.status.success(), "git {args:?}");
        start.elapsed().as_secs_f64().max(0.01)
    };
    let staged = floor(&["diff", "--cached", "-p"]);
    eprintln!(
        "pre-commit of 20,000 files: {:.2} s, git diff --cached -p {staged:.2} s",
        r.secs
    );
    assert!(
        r.secs < 40.0 * staged,
        "pre-commit took {:.2} s, git diff --cached -p {staged:.2} s",
        r.secs
    );
    let start = Instant::now();
    let p = repo.push(&server, &["many:refs/heads/main"]);
    let secs = start.elapsed().as_secs_f64();
    assert!(!p.ok, "{}", p.stderr);
    assert!(p.stderr.contains("pkg07/settings.py:1"), "{}", p.stderr);
    // The same push into a server without the hook: what git's own side of it costs.
    let plain = sb.path().join("plain.git");
    gitutil::git(
        sb.path(),
        &[
            "init",
            "-q",
            "--bare",
            "-b",
            "main",
            plain.to_str().unwrap(),
        ],
    );
    let start = Instant::now();
    let o = gitutil::git_output(
        &repo.dir,
        &[
            "push",
            "-q",
            plain.to_str().unwrap(),
            "many:refs/heads/main",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let unhooked = start.elapsed().as_secs_f64().max(0.01);
    eprintln!("push of 20,000 files: {secs:.2} s, without the hook {unhooked:.2} s");
    assert!(
        secs < 40.0 * unhooked,
        "the push took {secs:.2} s, the same push without the hook {unhooked:.2} s"
    );
}

/// A commit whose only file is `depth` directories deep, made by `git fast-import` (git itself
/// refuses to write or read trees deeper than `core.maxTreeDepth`).
fn deep_commit(git_dir: &Path, depth: usize) -> String {
    let path = vec!["d"; depth].join("/") + "/config.py";
    let data = secret_py();
    let stream = format!(
        "commit refs/heads/deep\ncommitter A <a@example.com> 1700000000 +0000\ndata 4\ndeep\n\
         M 100644 inline {path}\ndata {}\n{data}\n",
        data.len()
    );
    fast_import(git_dir, stream.as_bytes());
    let id = git(git_dir, &["rev-parse", "refs/heads/deep"]);
    git(git_dir, &["update-ref", "-d", "refs/heads/deep"]);
    id
}

#[test]
fn deeply_nested_trees() {
    let sb = Sandbox::new();
    // 200 levels, through the real thing.
    let server = sb.server("server.git", None);
    let repo = sb.work("work");
    let deep = vec!["d"; 200].join("/") + "/config.py";
    repo.write(&deep, secret_py());
    repo.git(&["add", "-A"]);
    sg_run(&repo.dir, &["pre-commit"]).expect(1, "d/d/d/d/");
    sg_run(&repo.dir, &["scan", "."]).expect(1, "d/d/d/d/");
    repo.git(&["commit", "-q", "--no-verify", "-m", "deep"]);
    sg_run(&repo.dir, &["audit", "."]).expect(1, "d/d/d/d/");
    let p = repo.push(&server, &["HEAD:refs/heads/main"]);
    assert!(!p.ok, "{}", p.stderr);
    assert!(p.stderr.contains(&format!("{deep}:1")), "{}", p.stderr);

    // At git's limit and past it, made by hand in the server's store.
    let bare = sb.path().join("bare.git");
    git(sb.path(), &["init", "-q", "--bare", bare.to_str().unwrap()]);
    let ok = deep_commit(&bare, 4000);
    hook(&bare, &[], format!("{ZERO} {ok} refs/heads/main\n")).expect(1, "");
    let too_deep = deep_commit(&bare, 5000);
    hook(&bare, &[], format!("{ZERO} {too_deep} refs/heads/main\n"))
        .expect(3, "nested deeper than 4096 levels");
    git(&bare, &["update-ref", "refs/heads/ok", &ok]);
    sg_run(&bare, &["audit", "."]).expect(1, "");
    git(&bare, &["update-ref", "refs/heads/deep", &too_deep]);
    let a = sg_run(&bare, &["audit", "."]);
    a.expect(3, "");
    assert!(
        a.err().contains("nested deeper than 4096 levels"),
        "{}",
        a.show()
    );
}

/// A file name and a commit message with ESC, newline, tab and a byte that is not UTF-8.
const EVIL_NAME: &[u8] = b"e\x1b[31mvil\n\tname\xff.py";
const EVIL_SHOWN: &str = "e\\x1b[31mvil\\x0a\\x09name\\xff.py";

#[test]
fn control_characters_are_escaped_in_every_output() {
    use std::os::unix::ffi::OsStrExt;
    let sb = Sandbox::new();
    let server = sb.server("server.git", None);
    let repo = sb.work("work");
    repo.commit_file("README.md", "hello\n", "initial");
    assert!(repo.push(&server, &["HEAD:refs/heads/main"]).ok);
    let name = std::ffi::OsStr::from_bytes(EVIL_NAME);
    std::fs::write(repo.dir.join(name), secret_py()).unwrap();
    std::fs::write(
        repo.dir.join("run.py"),
        "app.run(debug=True)  # \x1b]0;title\x07\n",
    )
    .unwrap();
    repo.git(&["add", "-A"]);

    let formats = ["human", "json", "jsonl", "sarif"];
    for f in formats {
        let r = sg_run(&repo.dir, &["scan", ".", "--format", f]);
        r.expect(1, "");
        if f == "human" {
            assert!(r.out().contains(EVIL_SHOWN), "{}", r.show());
        }
        if f == "json" {
            let v: Vec<Value> = serde_json::from_slice(&r.stdout).unwrap();
            assert!(v.iter().any(|x| x["path"] == EVIL_SHOWN), "{}", r.show());
        }
        sg_run(&repo.dir, &["pre-commit", "--format", f]).expect(1, "");
    }
    let r = sg_run(&repo.dir, &["pre-commit"]);
    r.expect(1, EVIL_SHOWN);

    let mut c = gitutil::git_cmd(&repo.dir);
    c.args([
        "commit",
        "-q",
        "--no-verify",
        "-m",
        "subject \x1b[2J\x1b[31mred\ttab",
    ])
    .env("GIT_AUTHOR_NAME", "Mallory \x1b[5m");
    assert!(c.status().unwrap().success());
    for f in formats {
        sg_run(&repo.dir, &["audit", ".", "--format", f]).expect(1, "");
    }
    let a = sg_run(&repo.dir, &["audit", "."]);
    assert!(a.out().contains(EVIL_SHOWN), "{}", a.show());
    let p = repo.push(&server, &["HEAD:refs/heads/main"]);
    assert!(!p.ok, "{}", p.stderr);
    assert!(p.stderr.contains(EVIL_SHOWN), "{}", p.stderr);
    assert!(
        p.stderr.contains("subject \\x1b[2J\\x1b[31mred\\x09tab"),
        "{}",
        p.stderr
    );
    assert!(!p.stderr.contains('\x1b'), "{}", p.stderr);

    // The same push judged by hand, with every report format.
    let c = repo.git(&["rev-parse", "HEAD"]);
    plant(&server, &repo, &c);
    let base = server.rev("refs/heads/main").unwrap();
    for f in formats {
        hook(
            &server.dir,
            &["--format", f],
            format!("{base} {c} refs/heads/main\n"),
        )
        .expect(1, "");
    }
    // A file name with ESC given on the command line that does not exist.
    sg_run(&repo.dir, &["scan", "no\x1b[31msuch"]).expect(3, "no\\x1b[31msuch");
    sg_run(&repo.dir, &["scan", ".", "--config", "no\x1b[31m.toml"]).expect(2, "no\\x1b");
}

/// A rule with these regex and keywords (a TOML array), and `extra` lines (examples, paths).
fn rule(id: &str, regex: &str, keywords: &str, extra: &str) -> String {
    format!(
        "[[rules]]\nid = \"{id}\"\ndescription = \"test\"\nkind = \"secret\"\nseverity = \"high\"\n\
         keywords = {keywords}\nregex = '''{regex}'''\nremediation = \"fix it\"\n{extra}"
    )
}

const EXAMPLES: &str = "examples = [\"tok_0123456789abcdef\"]\nnegative_examples = [\"nope\"]\n";

#[test]
fn broken_rules_files_are_one_clear_error() {
    let sb = Sandbox::new();
    let dir = sb.path().join("files");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("a.txt"), "token = tok_0123456789abcdef\n").unwrap();
    let good = rule(
        "tok",
        r"tok_(?P<secret>[0-9a-f]{16})",
        "[\"tok_\"]",
        EXAMPLES,
    );
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("TOML syntax", b"[[rules]\nid = ".to_vec(), "line 1"),
        (
            "an unknown top-level table",
            format!("{good}[polcy]\nblock = []\n").into(),
            "unknown field `polcy`",
        ),
        (
            "an unknown field in a rule",
            format!("{good}regexx = 'a'\n").into(),
            "unknown field `regexx`",
        ),
        (
            "an unknown field in the policy",
            format!("{good}[policy]\nfail_closed = true\n").into(),
            "unknown field `fail_closed`",
        ),
        (
            "a duplicate id",
            format!("{good}{good}").into(),
            "rule tok: duplicate id",
        ),
        (
            "a rule without examples",
            rule("tok", "tok_", "[\"tok_\"]", "negative_examples = [\"x\"]\n").into(),
            "has no examples",
        ),
        (
            "a rule without negative examples",
            rule("tok", "tok_", "[\"tok_\"]", "examples = [\"tok_\"]\n").into(),
            "has no negative_examples",
        ),
        (
            "a bad glob",
            rule(
                "tok",
                "tok_",
                "[\"tok_\"]",
                &format!("paths = [\"src/[a-\"]\nexample_path = \"src/a.py\"\n{EXAMPLES}"),
            )
            .into(),
            "bad path glob",
        ),
        (
            "an invalid regex",
            rule("tok", "tok_(", "[\"tok_\"]", EXAMPLES).into(),
            "invalid regex",
        ),
        (
            "a regex too big to build",
            rule(
                "tok",
                "tok_(?:[a-z]{100}){100}{100}",
                "[\"tok_\"]",
                EXAMPLES,
            )
            .into(),
            "regex cannot be built",
        ),
        (
            "an empty keyword",
            rule("tok", "tok_", "[\"\"]", EXAMPLES).into(),
            "empty keyword",
        ),
        (
            "no keywords",
            rule("tok", "tok_", "[]", EXAMPLES).into(),
            "has no keywords",
        ),
        (
            "a bad rule id",
            rule("Tok Rule", "tok_", "[\"tok_\"]", EXAMPLES).into(),
            "must be lowercase",
        ),
        (
            "an impossible entropy",
            rule(
                "tok",
                "tok_",
                "[\"tok_\"]",
                &format!("entropy = nan\n{EXAMPLES}"),
            )
            .into(),
            "entropy must be between 0 and 8",
        ),
        (
            "a time budget too large for a clock",
            format!("{good}[policy]\ntime_budget_secs = 1e300\n").into(),
            "time_budget_secs",
        ),
        (
            "a negative time budget",
            format!("{good}[policy]\ntime_budget_secs = -1\n").into(),
            "time_budget_secs",
        ),
        (
            "a rules file that is not UTF-8",
            b"[[rules]]\nid = \"caf\xe9\"\n".to_vec(),
            "UTF-8",
        ),
        (
            "a repository-only key in a server config",
            format!("{good}[extend]\ndefault = true\ndisabled_rules = [\"no-such-rule\"]\n").into(),
            "no built-in rule",
        ),
    ];
    for (what, text, needle) in cases {
        let cfg = sb.path().join("rules.toml");
        std::fs::write(&cfg, &text).unwrap();
        let c = cfg.to_str().unwrap();
        eprintln!("{what}");
        let r = sg_run(&dir, &["scan", ".", "--config", c]);
        r.expect(2, needle);
        assert_eq!(r.err().trim().lines().count(), 1, "{what}: {}", r.show());
        sg_run(&dir, &["rules", "check", c]).sound();
        let r = hook(&dir, &["--config", c], Vec::new());
        r.expect(2, needle);
        assert!(r.err().contains("not with your code"), "{}", r.show());
    }
    // Limits that are only large.
    for extra in [
        "[policy]\nmax_blob_bytes = 18446744073709551615\n",
        "[policy]\nmax_findings_shown = 18446744073709551615\n",
        "[policy]\ntime_budget_secs = 1e15\n",
    ] {
        let cfg = sb.path().join("large.toml");
        std::fs::write(&cfg, format!("{good}{extra}")).unwrap();
        sg_run(&dir, &["scan", ".", "--config", cfg.to_str().unwrap()]).expect(1, "tok");
    }
    let cfg = sb.path().join("window.toml");
    std::fs::write(
        &cfg,
        "[[rules]]\nid = \"w\"\ndescription = \"w\"\nkind = \"secret\"\nseverity = \"high\"\n\
         keywords = [\"tok_\"]\nremediation = \"x\"\nexamples = [\"tok_abc\"]\n\
         negative_examples = [\"nope\"]\n[[rules.patterns]]\nregex = 'tok_\\w+'\n\
         window_after = 18446744073709551615\n",
    )
    .unwrap();
    sg_run(&dir, &["scan", ".", "--config", cfg.to_str().unwrap()]).expect(1, "[w]");
}

#[test]
fn catastrophic_looking_regexes_run_in_linear_time() {
    let sb = Sandbox::new();
    let dir = sb.path().join("files");
    std::fs::create_dir_all(&dir).unwrap();
    let n = 4 << 20;
    let mut a = vec![b'a'; n];
    a.push(b'!');
    std::fs::write(dir.join("a.txt"), &a).unwrap();
    let mut x = vec![b'x'; n];
    x.push(b'\n');
    std::fs::write(dir.join("x.txt"), &x).unwrap();
    let mut ab = b"ab".repeat(n / 2);
    ab.push(b'c');
    std::fs::write(dir.join("ab.txt"), &ab).unwrap();
    let cases = [
        ("nested", r"(a+)+$", "[\"a\"]", "aaaa", "b", 0),
        ("alternation", r"(x|x|x)*y", "[\"x\"]", "xxxy", "xxx", 0),
        ("overlapping", r"(a|ab|abc)*c$", "[\"ab\"]", "abc", "ab", 1),
    ];
    // The built-in rules over the same files in the same run: the bound is relative to that
    // (a backtracking engine would take exponentially longer; the regex crate's is linear),
    // never to a wall clock that depends on the machine.
    let base = sg_run(&dir, &["scan", ".", "--format", "json"]).secs;
    for (what, re, kw, ex, neg, code) in cases {
        let cfg = sb.path().join(format!("{what}.toml"));
        std::fs::write(
            &cfg,
            format!(
                "[policy]\nmax_blob_bytes = 104857600\n{}",
                rule(
                    "slow",
                    re,
                    kw,
                    &format!("examples = [\"{ex}\"]\nnegative_examples = [\"{neg}\"]\n")
                )
            ),
        )
        .unwrap();
        let c = cfg.to_str().unwrap();
        sg_run(&dir, &["rules", "check", c]).expect(0, "");
        let r = sg_run(&dir, &["scan", ".", "--config", c, "--format", "json"]);
        r.expect(code, "");
        eprintln!("{what}: {:.2} s, built-in rules {base:.2} s", r.secs);
        assert!(
            r.secs < (20.0 * base).max(1.0),
            "{what}: {:.2} s, built-in rules {base:.2} s\n{}",
            r.secs,
            r.show()
        );
    }
}

#[test]
fn broken_baselines_are_configuration_errors() {
    let sb = Sandbox::new();
    let dir = sb.path().join("files");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.py"), secret_py()).unwrap();
    let cases: [(&str, &[u8], i32, &str); 6] = [
        ("not JSON", b"this is not json\n", 2, "not JSON"),
        ("a JSON array of numbers", b"[1, 2]", 2, "fingerprint"),
        (
            "a truncated array",
            b"[{\"fingerprint\": \"ab",
            2,
            "baseline",
        ),
        ("not UTF-8", b"[{\"fingerprint\": \"\xff\"}]", 2, "baseline"),
        ("empty", b"", 1, ""),
        ("an empty array", b"[]", 1, ""),
    ];
    for (what, text, code, needle) in cases {
        let b = sb.path().join("baseline.json");
        std::fs::write(&b, text).unwrap();
        eprintln!("{what}");
        let r = sg_run(&dir, &["scan", ".", "--baseline", b.to_str().unwrap()]);
        r.expect(code, needle);
    }
    // Never read from a FIFO (a hang) or a device (until memory runs out).
    let fifo = sb.path().join("baseline.fifo");
    mkfifo(&fifo);
    for (b, needle) in [
        (fifo.as_path(), "a FIFO, not a regular file"),
        (Path::new("/dev/zero"), "a character device"),
    ] {
        let r = sg_run(&dir, &["scan", ".", "--baseline", b.to_str().unwrap()]);
        r.expect(2, needle);
    }
}

/// A FIFO at `p`, made with the `mkfifo` binary.
fn mkfifo(p: &Path) {
    let ok = Command::new("mkfifo").arg(p).status().expect("mkfifo runs");
    assert!(ok.success(), "mkfifo {}", p.display());
}

#[test]
fn configuration_is_read_only_from_bounded_regular_files() {
    let sb = Sandbox::new();
    let dir = sb.path().join("files");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.py"), secret_py()).unwrap();
    let fifo = sb.path().join("config.fifo");
    mkfifo(&fifo);
    let big = sb.path().join("big.toml");
    std::fs::write(&big, format!("# {}\n", "x".repeat(2 << 20))).unwrap();
    let many = sb.path().join("many.toml");
    let values: Vec<String> = (0..5000).map(|i| format!("\"v{i}\"")).collect();
    std::fs::write(
        &many,
        format!(
            "[extend]\ndefault = true\n[allowlist]\nvalues = [{}]\n",
            values.join(", ")
        ),
    )
    .unwrap();
    let long = sb.path().join("long.toml");
    std::fs::write(
        &long,
        format!(
            "[extend]\ndefault = true\n[allowlist]\nvalues = [\"{}\"]\n",
            "a".repeat(5000)
        ),
    )
    .unwrap();
    let cases: [(&Path, &str); 5] = [
        (&fifo, "a FIFO, not a regular file"),
        (Path::new("/dev/zero"), "a character device"),
        (&big, "cap on configuration files"),
        (&many, "patterns, more than the 4096 allowed"),
        (&long, "a pattern of 5000 bytes"),
    ];
    // Refused before it is read whole (a 45 MB file once took 23 s and 8.5 GB): as quick as a
    // scan with a sound configuration, measured in the same run, not against a wall clock.
    let base = sg_run(&dir, &["scan", "."]).secs;
    for (cfg, needle) in cases {
        let c = cfg.to_str().unwrap();
        eprintln!("{c}");
        let r = sg_run(&dir, &["scan", ".", "--config", c]);
        r.expect(2, needle);
        assert!(
            r.secs < (10.0 * base).max(1.0),
            "{:.2} s, a sound scan {base:.2} s\n{}",
            r.secs,
            r.show()
        );
        sg_run(&dir, &["rules", "check", c]).expect(2, needle);
        let mut env = sg(&dir, &["scan", "."]);
        env.env("SECRETGATE_CONFIG", c);
        run(env, Vec::new()).expect(2, needle);
    }

    // A repository's own file committed as a symbolic link to /dev/zero: pre-commit and the
    // audit refuse it at once instead of reading until memory runs out.
    let repo = sb.work("linked");
    std::os::unix::fs::symlink("/dev/zero", repo.dir.join(".secretgate.toml")).unwrap();
    repo.commit_file("app.py", "print('hello')\n", "initial");
    repo.write("app.py", "print('hello again')\n");
    repo.git(&["add", "app.py"]);
    sg_run(&repo.dir, &["pre-commit"]).expect(2, ".secretgate.toml (staged): is a symbolic link");
    sg_run(&repo.dir, &["audit", "."]).expect(2, "is a symbolic link");
    let bare = sb.path().join("linked.git");
    git(
        sb.path(),
        &[
            "clone",
            "-q",
            "--bare",
            repo.dir.to_str().unwrap(),
            bare.to_str().unwrap(),
        ],
    );
    sg_run(&bare, &["audit", "."]).expect(2, ".secretgate.toml at HEAD: is a symbolic link");
    // Not tracked, only on disk: still not followed.
    repo.git(&["rm", "-q", "--cached", ".secretgate.toml"]);
    sg_run(&repo.dir, &["pre-commit"]).expect(2, "is a symbolic link");
    // A tracked file over the cap.
    std::fs::remove_file(repo.dir.join(".secretgate.toml")).unwrap();
    repo.write(".secretgate.toml", format!("# {}\n", "x".repeat(2 << 20)));
    repo.git(&["add", ".secretgate.toml"]);
    sg_run(&repo.dir, &["pre-commit"]).expect(2, "cap on configuration files");
}

#[test]
fn a_bypass_reason_of_invisible_characters_is_no_reason() {
    let sb = Sandbox::new();
    let log = sb.path().join("bypass.jsonl");
    let config = format!(
        "[extend]\ndefault = true\n[policy.bypass]\nenabled = true\nlog = '{}'\n",
        log.display()
    );
    let server = sb.server("server.git", Some(&config));
    let repo = sb.work("work");
    repo.commit_file("config.py", secret_py(), "secret");
    for reason in [
        "\u{200B}\u{200C}\u{200D}",
        "\u{2060}\u{FEFF}",
        "\u{202E}\u{2066}\u{200F} \u{2069}",
        "\u{0001}\u{007F} \u{2028}",
    ] {
        let opt = format!("secretgate.skip={reason}");
        let p = repo.push_with(&server, &["-o", &opt], &["HEAD:refs/heads/main"]);
        assert!(!p.ok, "{reason:?} accepted:\n{}", p.stderr);
        assert!(
            p.stderr.contains("needs a reason"),
            "{reason:?}:\n{}",
            p.stderr
        );
        assert!(!log.exists(), "{reason:?} was logged");
    }
    let p = repo.push_with(
        &server,
        &["-o", "secretgate.skip=\u{200B} fixture\u{202E} "],
        &["HEAD:refs/heads/main"],
    );
    assert!(p.ok, "{}", p.stderr);
    let text = std::fs::read_to_string(&log).unwrap();
    let entry: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(entry["reason"], "fixture");
}

#[test]
fn bidirectional_controls_and_line_separators_are_escaped_in_every_output() {
    const RAW: [char; 6] = [
        '\u{202E}', '\u{2066}', '\u{2069}', '\u{200F}', '\u{2028}', '\u{2029}',
    ];
    let sb = Sandbox::new();
    let repo = sb.work("work");
    repo.commit_file("README.md", "hello\n", "initial");
    let name = "set\u{202E}\u{2066}tings\u{2069}\u{200F}\u{2028}x\u{2029}.py";
    std::fs::write(repo.dir.join(name), secret_py()).unwrap();
    repo.git(&["add", "-A"]);
    let clean = |r: &Ran| {
        let all = format!("{}{}", r.out(), r.err());
        assert!(
            !all.contains(RAW),
            "a raw bidirectional control or separator:\n{}",
            r.show()
        );
    };
    for f in ["human", "json", "jsonl", "sarif"] {
        let r = sg_run(&repo.dir, &["scan", ".", "--format", f]);
        r.expect(1, "");
        clean(&r);
        let r = sg_run(&repo.dir, &["pre-commit", "--format", f]);
        r.expect(1, "");
        clean(&r);
    }
    let r = sg_run(&repo.dir, &["scan", "."]);
    assert!(r.out().contains("set\\xe2\\x80\\xae"), "{}", r.show());
    let mut c = gitutil::git_cmd(&repo.dir);
    c.args(["commit", "-q", "--no-verify", "-m", "subject \u{202E}"])
        .env("GIT_AUTHOR_NAME", "Eve \u{2066}x");
    assert!(c.status().unwrap().success());
    for f in ["human", "json"] {
        let r = sg_run(&repo.dir, &["audit", ".", "--format", f]);
        r.expect(1, "");
        clean(&r);
    }
    let r = sg_run(&repo.dir, &["scan", "no\u{202E}such"]);
    r.expect(3, "no\\xe2\\x80\\xaesuch");
    clean(&r);
}
