//! Real repositories for the tests: the `git` binary in a scrubbed environment, working
//! repositories, and bare "servers" whose `hooks/pre-receive` runs the built secretgate.
//!
//! Nothing here mocks git: a push goes through `git push`, `receive-pack` and its quarantine,
//! and a commit through `git commit` and `.git/hooks/pre-commit`.

// Each test crate that includes this module uses only some of it.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use tempfile::TempDir;

/// The built binary.
pub fn secretgate_bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("secretgate")
}

/// The home folder of commands run in `dir`: `.home` in the sandbox that holds `dir` (the
/// nearest folder named `secretgate-test-*`), else one in cargo's temporary folder for tests.
/// Git reads files there even with the global config off (`$XDG_CONFIG_HOME/git/ignore`, whose
/// patterns would make `git add .env` fail), so the developer's own must never be it.
pub fn home_for(dir: &Path) -> PathBuf {
    let home = sandbox_root(dir).join(".home");
    std::fs::create_dir_all(home.join(".config")).expect("create the test home");
    home
}

/// The temporary folder (`TMPDIR`) of commands run in `dir`: `.tmp` in the sandbox that holds
/// `dir`, so that what a hook or git leaves in its temporary folder is the test's to check, and
/// no other test's files are seen there.
pub fn tmp_for(dir: &Path) -> PathBuf {
    let tmp = sandbox_root(dir).join(".tmp");
    std::fs::create_dir_all(&tmp).expect("create the test TMPDIR");
    tmp
}

/// The sandbox holding `dir` (the nearest folder named `secretgate-test-*`), else cargo's
/// temporary folder for tests.
fn sandbox_root(dir: &Path) -> PathBuf {
    dir.ancestors()
        .find(|a| {
            a.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("secretgate-test-"))
        })
        .map_or_else(
            || PathBuf::from(env!("CARGO_TARGET_TMPDIR")),
            Path::to_owned,
        )
}

/// A command in `dir` with nothing inherited that could change what git or secretgate does:
/// no `GIT_*` from an outer hook, no `SECRETGATE*`, `GL_*` or `RUST_*`, no system or global git
/// config, a home folder and a temporary folder inside the sandbox ([`home_for`],
/// [`tmp_for`]), the admin's configuration file looked for inside the sandbox too, no standard
/// input.
fn scrubbed(program: impl AsRef<std::ffi::OsStr>, dir: &Path) -> Command {
    let mut c = Command::new(program);
    c.current_dir(dir);
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        if ["GIT_", "SECRETGATE", "GL_", "RUST_"]
            .iter()
            .any(|p| k.starts_with(p))
        {
            c.env_remove(&k);
        }
    }
    let home = home_for(dir);
    c.env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("HOME", home)
        .env("TMPDIR", tmp_for(dir))
        // The hooks read the admin's file at /etc/secretgate/config.toml when it exists: the
        // host's must not change what a test sees. A test that wants one sets this again.
        .env(
            "SECRETGATE_ADMIN_CONFIG",
            sandbox_root(dir).join(".admin-config.toml"),
        )
        .stdin(Stdio::null());
    c
}

/// The built binary in `dir`, in the scrubbed environment, without colour.
pub fn secretgate_cmd(dir: &Path) -> Command {
    let mut c = scrubbed(secretgate_bin(), dir);
    c.env("NO_COLOR", "1");
    c
}

/// Runs the binary in `dir` with `args` and no input.
pub fn secretgate(dir: &Path, args: &[&str]) -> Output {
    secretgate_cmd(dir)
        .args(args)
        .output()
        .expect("secretgate runs")
}

/// A run's exit code and output, for assertion messages.
pub fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout ---\n{}--- stderr ---\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A `git` command in the scrubbed environment, with fixed identities and dates.
pub fn git_cmd(dir: &Path) -> Command {
    tool_cmd("git", dir)
}

/// Another program (git, or a real tool a test drives, such as the pre-commit framework) in
/// `dir`, in the scrubbed environment, with git's identities and dates fixed.
pub fn tool_cmd(program: &str, dir: &Path) -> Command {
    let mut c = scrubbed(program, dir);
    c.env("GIT_AUTHOR_NAME", "Ada Lovelace")
        .env("GIT_AUTHOR_EMAIL", "ada@example.com")
        .env("GIT_AUTHOR_DATE", "2024-01-02T03:04:05Z")
        .env("GIT_COMMITTER_NAME", "Ada Lovelace")
        .env("GIT_COMMITTER_EMAIL", "ada@example.com")
        .env("GIT_COMMITTER_DATE", "2024-01-02T03:04:05Z")
        .env("LC_ALL", "C")
        .env_remove("NO_COLOR");
    c
}

/// The longest a push may take in a test: a hook that hangs fails its own test, with the whole
/// process group (git, receive-pack, the hook) killed, instead of stalling the suite.
pub const PUSH_HANG: std::time::Duration = std::time::Duration::from_secs(300);

/// Runs `c` in a process group of its own and returns its output; past [`PUSH_HANG`] the group
/// is killed and the test fails, naming `what`.
pub fn guarded_output(mut c: Command, what: &str) -> Output {
    use std::os::unix::process::CommandExt;
    c.process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = c.spawn().unwrap_or_else(|e| panic!("{what} starts: {e}"));
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let o = child.wait_with_output();
        let _ = tx.send(());
        o
    });
    if rx.recv_timeout(PUSH_HANG).is_err() {
        // The shell's own `kill`: the whole group, whatever procps a machine has.
        let _ = Command::new("sh")
            .args(["-c", &format!("kill -KILL -{pid}")])
            .status();
        let _ = waiter.join();
        panic!("hung: {what} was killed after {} s", PUSH_HANG.as_secs());
    }
    waiter
        .join()
        .expect("the waiting thread")
        .unwrap_or_else(|e| panic!("{what} ran: {e}"))
}

/// Runs git and returns its output, whatever the exit code.
pub fn git_output(dir: &Path, args: &[&str]) -> Output {
    git_cmd(dir).args(args).output().expect("git runs")
}

/// Runs git, asserts success, returns stdout trimmed.
#[track_caller]
pub fn git(dir: &Path, args: &[&str]) -> String {
    let o = git_output(dir, args);
    assert!(
        o.status.success(),
        "git {args:?} failed in {}:\n{}{}",
        dir.display(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

/// A temporary directory holding the repositories of one test.
pub struct Sandbox {
    /// Kept alive for the test's duration.
    pub tmp: TempDir,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    /// A fresh sandbox.
    pub fn new() -> Self {
        Sandbox {
            tmp: tempfile::Builder::new()
                .prefix("secretgate-test-")
                .tempdir()
                .expect("temp dir"),
        }
    }

    /// The sandbox's path.
    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    /// A new working repository on branch `main`.
    pub fn work(&self, name: &str) -> Repo {
        let dir = self.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        git(&dir, &["init", "-q", "-b", "main"]);
        git(&dir, &["config", "commit.gpgsign", "false"]);
        Repo { dir }
    }

    /// A bare repository whose pre-receive hook runs secretgate, with `config` (a rules file's
    /// text) when given.
    pub fn server(&self, name: &str, config: Option<&str>) -> Server {
        let dir = self.path().join(name);
        git(
            self.path(),
            &["init", "-q", "--bare", "-b", "main", dir.to_str().unwrap()],
        );
        git(&dir, &["config", "receive.advertisePushOptions", "true"]);
        let mut args = String::new();
        if let Some(text) = config {
            let p = self.path().join(format!("{name}-secretgate.toml"));
            std::fs::write(&p, text).unwrap();
            args = format!(" --config '{}'", p.display());
        }
        let hook = dir.join("hooks").join("pre-receive");
        std::fs::write(
            &hook,
            format!(
                "#!/bin/sh\nexec '{}' pre-receive{args}\n",
                secretgate_bin().display()
            ),
        )
        .unwrap();
        make_executable(&hook);
        Server { dir }
    }
}

/// Sets the executable bits.
pub fn make_executable(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mut perm = std::fs::metadata(p).unwrap().permissions();
    perm.set_mode(0o755);
    std::fs::set_permissions(p, perm).unwrap();
}

/// A working repository.
pub struct Repo {
    /// Its work tree.
    pub dir: PathBuf,
}

/// What a push did.
#[derive(Debug)]
pub struct Pushed {
    /// Whether git reported success.
    pub ok: bool,
    /// Everything git printed (the hook's message arrives as `remote:` lines).
    pub stderr: String,
}

impl Pushed {
    fn of(o: Output) -> Self {
        Pushed {
            ok: o.status.success(),
            stderr: format!(
                "{}{}",
                String::from_utf8_lossy(&o.stderr),
                String::from_utf8_lossy(&o.stdout)
            ),
        }
    }

    /// The `remote:` lines (what the hook said), without the padding git's sideband adds at
    /// their end.
    pub fn remote_lines(&self) -> Vec<String> {
        self.stderr
            .lines()
            .filter(|l| l.starts_with("remote:"))
            .map(|l| l.trim_end().to_owned())
            .collect()
    }
}

/// Feeds a `git fast-import` stream, written by `write` as it goes (so large blobs never sit
/// in memory), to the repository at `dir`.
#[track_caller]
pub fn fast_import(
    dir: &Path,
    args: &[&str],
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) {
    let mut child = git_cmd(dir)
        .args(["fast-import", "--quiet"])
        .args(args)
        .stdin(Stdio::piped())
        .spawn()
        .expect("git fast-import runs");
    {
        let mut stdin = std::io::BufWriter::new(child.stdin.take().unwrap());
        write(&mut stdin).expect("write the fast-import stream");
        stdin.flush().expect("write the fast-import stream");
    }
    assert!(child.wait().unwrap().success(), "git fast-import failed");
}

impl Repo {
    /// Writes a file (creating folders).
    pub fn write(&self, path: &str, content: impl AsRef<[u8]>) -> &Self {
        let p = self.dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
        self
    }

    /// Runs git here.
    #[track_caller]
    pub fn git(&self, args: &[&str]) -> String {
        git(&self.dir, args)
    }

    /// Stages everything and commits; returns the new commit id.
    #[track_caller]
    pub fn commit_all(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--no-verify", "-m", message]);
        self.git(&["rev-parse", "HEAD"])
    }

    /// Writes one file and commits it.
    #[track_caller]
    pub fn commit_file(&self, path: &str, content: impl AsRef<[u8]>, message: &str) -> String {
        self.write(path, content);
        self.commit_all(message)
    }

    /// `git push <server> <refspecs...>` with extra arguments before the remote.
    pub fn push_with(&self, server: &Server, extra: &[&str], refspecs: &[&str]) -> Pushed {
        let mut args = vec!["push", "--porcelain"];
        args.extend_from_slice(extra);
        let remote = server.dir.to_str().unwrap().to_owned();
        args.push(&remote);
        args.extend_from_slice(refspecs);
        let mut c = git_cmd(&self.dir);
        c.args(&args);
        Pushed::of(guarded_output(c, "git push"))
    }

    /// `git push <url> <refspecs...>` with extra environment (`GIT_SSH_COMMAND`, ...).
    pub fn push_url(&self, url: &str, env: &[(&str, &str)], refspecs: &[&str]) -> Pushed {
        let mut c = git_cmd(&self.dir);
        c.args(["push", "--porcelain", url])
            .args(refspecs)
            .env("GIT_TERMINAL_PROMPT", "0")
            .envs(env.iter().copied());
        Pushed::of(guarded_output(c, "git push"))
    }

    /// `git push <server> <refspecs...>`.
    pub fn push(&self, server: &Server, refspecs: &[&str]) -> Pushed {
        self.push_with(server, &[], refspecs)
    }
}

/// A bare repository with the hook installed.
pub struct Server {
    /// Its git directory.
    pub dir: PathBuf,
}

impl Server {
    /// The id a ref points to, if it exists.
    pub fn rev(&self, refname: &str) -> Option<String> {
        let o = git_output(&self.dir, &["rev-parse", "--verify", "-q", refname]);
        o.status
            .success()
            .then(|| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    }

    /// Replaces `hooks/pre-receive` with `script`.
    pub fn set_hook(&self, script: &str) {
        let hook = self.dir.join("hooks").join("pre-receive");
        std::fs::write(&hook, script).unwrap();
        make_executable(&hook);
    }
}
