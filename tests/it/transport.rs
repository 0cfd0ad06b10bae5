//! The server hook behind the transports servers really receive pushes through: SSH (the
//! distribution's `sshd`) and smart HTTP (`git http-backend` behind a small HTTP server written
//! here), both on loopback and started and stopped by the tests.
//!
//! A push through either must be judged exactly as a local one: the same `remote:` lines reach
//! the pusher (path and line, rule, the replacement that reads the environment), a rejected push
//! leaves the ref where it was, and a clean one lands.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::gitutil::{git, Pushed, Repo, Sandbox, Server};

const KEY: &str = "8f42a73054b1749f8f58848be5e6502c";

/// The commit a rejected push carries, made the same way in every test so that its id (and so
/// the whole message) is the same whatever the transport.
fn commit_secret(repo: &Repo) -> String {
    repo.commit_file(
        "app/config.py",
        format!("import os\nSECRET_KEY = \"{KEY}\"\n"),
        "Add config",
    )
}

/// A server with one clean commit on main, a working clone, and the `remote:` lines of the
/// rejection of [`commit_secret`] pushed the ordinary local way, to compare against.
fn setup(sb: &Sandbox) -> (Server, Repo, Vec<String>) {
    let server = sb.server("server.git", None);
    let repo = sb.work("work");
    repo.commit_file("app.py", "print('hello')\n", "initial");
    let p = repo.push(&server, &["HEAD:refs/heads/main"]);
    assert!(p.ok, "clean initial push must be accepted:\n{}", p.stderr);

    let local = sb.server("local.git", None);
    assert!(repo.push(&local, &["HEAD:refs/heads/main"]).ok);
    let c = commit_secret(&repo);
    let p = repo.push(&local, &["HEAD:refs/heads/main"]);
    assert!(!p.ok, "{}", p.stderr);
    repo.git(&["reset", "-q", "--hard", "HEAD~1"]);
    assert_eq!(
        commit_secret(&repo),
        c,
        "the same commit is made again (fixed dates)"
    );
    (server, repo, p.remote_lines())
}

/// The rejection arrived whole: git's verdict, and the hook's lines as the local push saw them.
#[track_caller]
fn assert_rejected_like_local(p: &Pushed, local: &[String], transport: &str) {
    let e = &p.stderr;
    assert!(!p.ok, "{transport}: the push must be rejected:\n{e}");
    assert!(
        e.contains("pre-receive hook declined"),
        "{transport}: git says the hook declined:\n{e}"
    );
    let remote = p.remote_lines();
    let line_with = |what: &[&str]| remote.iter().any(|l| what.iter().all(|w| l.contains(w)));
    assert!(
        line_with(&["remote: secretgate: push rejected"]),
        "{transport}: {e}"
    );
    assert!(
        line_with(&["remote: ", "app/config.py:2", "flask-secret-key (high)"]),
        "{transport}: path:line and rule on one remote line:\n{e}"
    );
    assert!(
        line_with(&[
            "remote: ",
            r#"app.config["SECRET_KEY"] = os.environ["SECRET_KEY"]"#
        ]),
        "{transport}: the os.environ line:\n{e}"
    );
    assert!(line_with(&["8f42…(32 chars)"]), "{transport}: {e}");
    assert!(
        !e.contains(KEY),
        "{transport}: never the whole secret:\n{e}"
    );
    assert_eq!(
        remote, local,
        "{transport}: the same remote lines as a local push"
    );
}

/// Pushes the secret (rejected, ref unmoved), then a clean commit in its place (accepted).
fn reject_then_accept(
    server: &Server,
    repo: &Repo,
    local: &[String],
    transport: &str,
    push: impl Fn() -> Pushed,
) {
    let before = server.rev("refs/heads/main");
    let p = push();
    assert_rejected_like_local(&p, local, transport);
    assert_eq!(
        server.rev("refs/heads/main"),
        before,
        "{transport}: the ref must not move"
    );

    repo.git(&["reset", "-q", "--hard", "HEAD~1"]);
    let clean = repo.commit_file(
        "app/config.py",
        "import os\nSECRET_KEY = os.environ[\"SECRET_KEY\"]\n",
        "Config from the environment",
    );
    let p = push();
    assert!(p.ok, "{transport}: a clean push is accepted:\n{}", p.stderr);
    assert_eq!(
        server.rev("refs/heads/main").as_deref(),
        Some(clean.as_str()),
        "{transport}: the clean push lands"
    );
    assert!(
        !p.stderr.contains("remote: secretgate"),
        "{transport}: silent on success:\n{}",
        p.stderr
    );
}

// ---------------------------------------------------------------------------------------------
// SSH

const SSHD: &str = "/usr/sbin/sshd";

/// An `sshd` of our own: its host key, config and log in the sandbox, on a loopback port.
struct Sshd {
    child: Child,
    port: u16,
    client_key: PathBuf,
    user: String,
    log: PathBuf,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Sshd {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `GIT_SSH_COMMAND` for a push through this server.
    fn ssh_command(&self) -> String {
        format!(
            "ssh -F /dev/null -i '{}' -p {} -o StrictHostKeyChecking=no \
             -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o IdentitiesOnly=yes \
             -o ConnectTimeout=10 -o LogLevel=ERROR",
            self.client_key.display(),
            self.port
        )
    }

    /// The scp-style address of a repository on this server.
    fn url(&self, repo: &Path) -> String {
        format!("{}@127.0.0.1:{}", self.user, repo.display())
    }
}

fn keygen(path: &Path) {
    let o = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "secretgate-test",
            "-f",
        ])
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .expect("ssh-keygen runs (package openssh-client)");
    assert!(
        o.status.success(),
        "ssh-keygen failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn current_user() -> String {
    let o = Command::new("id").arg("-un").output().expect("id runs");
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

/// Starts sshd on a free loopback port, accepting only a throwaway key made here.
fn start_sshd(sb: &Sandbox) -> Sshd {
    assert!(
        Path::new(SSHD).exists(),
        "the SSH transport test needs {SSHD}: install openssh-server \
         (apt-get install -y openssh-server; .ci/run does it)"
    );
    let dir = sb.path().join("sshd");
    std::fs::create_dir_all(&dir).unwrap();
    let host_key = dir.join("host_ed25519");
    let client_key = dir.join("client_ed25519");
    keygen(&host_key);
    keygen(&client_key);
    let authorized = dir.join("authorized_keys");
    std::fs::copy(client_key.with_extension("pub"), &authorized).unwrap();
    let user = current_user();
    let log = dir.join("sshd.log");

    // The port is picked free, then released for sshd: retry if something took it meanwhile.
    let mut last_log = String::new();
    for _ in 0..3 {
        let port = free_port();
        let config = dir.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\n\
                 ListenAddress 127.0.0.1\n\
                 HostKey {host}\n\
                 PidFile none\n\
                 AuthorizedKeysFile {authorized}\n\
                 StrictModes no\n\
                 UsePAM no\n\
                 PubkeyAuthentication yes\n\
                 PasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\n\
                 PermitRootLogin prohibit-password\n\
                 AllowUsers {user}\n\
                 UseDNS no\n\
                 PrintMotd no\n\
                 X11Forwarding no\n\
                 AllowTcpForwarding no\n\
                 LogLevel VERBOSE\n\
                 SetEnv GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null LC_ALL=C\n",
                host = host_key.display(),
                authorized = authorized.display(),
            ),
        )
        .unwrap();
        let check = Command::new(SSHD)
            .arg("-t")
            .arg("-f")
            .arg(&config)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let why = String::from_utf8_lossy(&check.stderr).into_owned();
        assert!(
            check.status.success(),
            "sshd rejects its test configuration: {why}{}",
            if why.contains("privilege separation directory") {
                "\ncreate it: mkdir -p -m 0755 /run/sshd (.ci/run does it)"
            } else {
                ""
            }
        );
        let child = Command::new(SSHD)
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("sshd starts");
        let mut sshd = Sshd {
            child,
            port,
            client_key: client_key.clone(),
            user: user.clone(),
            log: log.clone(),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = sshd.child.try_wait() {
                break;
            }
            if sshd.log().contains("Server listening on 127.0.0.1") {
                return sshd;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        last_log = sshd.log();
    }
    panic!("sshd did not start listening:\n{last_log}");
}

#[test]
fn push_over_ssh_is_judged_like_a_local_one() {
    let started = Instant::now();
    let sb = Sandbox::new();
    let (server, repo, local) = setup(&sb);
    let sshd = start_sshd(&sb);
    let url = sshd.url(&server.dir);
    let ssh = sshd.ssh_command();
    let push = || {
        let p = repo.push_url(
            &url,
            &[("GIT_SSH_COMMAND", ssh.as_str())],
            &["HEAD:refs/heads/main"],
        );
        assert!(
            !p.stderr.contains("Permission denied") && !p.stderr.contains("Could not read from"),
            "ssh failed:\n{}\nsshd log:\n{}",
            p.stderr,
            sshd.log()
        );
        p
    };
    reject_then_accept(&server, &repo, &local, "ssh", push);
    assert!(
        sshd.log().contains("Accepted publickey"),
        "the pushes went through sshd:\n{}",
        sshd.log()
    );
    eprintln!("ssh transport: {:?}", started.elapsed());
}

// ---------------------------------------------------------------------------------------------
// Smart HTTP

/// A minimal HTTP/1.1 server that hands every request to `git http-backend` (CGI), one thread
/// per connection, one request per connection.
struct HttpServer {
    port: u16,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
    /// Requests whose body came with `Transfer-Encoding: chunked`.
    chunked: Arc<AtomicUsize>,
    /// What went wrong, and what http-backend said on stderr.
    log: Arc<Mutex<String>>,
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

impl HttpServer {
    /// Serves the repositories under `root` (`GIT_PROJECT_ROOT`).
    fn start(root: &Path) -> HttpServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let chunked = Arc::new(AtomicUsize::new(0));
        let log = Arc::new(Mutex::new(String::new()));
        let accept = {
            let (stop, chunked, log) = (stop.clone(), chunked.clone(), log.clone());
            let root = root.to_owned();
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let (root, chunked, log) = (root.clone(), chunked.clone(), log.clone());
                    std::thread::spawn(move || {
                        if let Err(e) = serve(conn, &root, &chunked, &log) {
                            log.lock().unwrap().push_str(&format!("bridge: {e}\n"));
                        }
                    });
                }
            })
        };
        HttpServer {
            port,
            stop,
            accept: Some(accept),
            chunked,
            log,
        }
    }

    fn url(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}/{name}", self.port)
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

fn bad(msg: impl Into<String>) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, msg.into())
}

fn read_line(r: &mut impl BufRead) -> std::io::Result<String> {
    let mut line = String::new();
    r.read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// Reads a `Transfer-Encoding: chunked` body.
fn read_chunked(r: &mut impl BufRead) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line = read_line(r)?;
        let size = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size, 16).map_err(|_| bad(format!("chunk {line:?}")))?;
        if size == 0 {
            // Trailers, up to the empty line.
            while !read_line(r)?.is_empty() {}
            return Ok(body);
        }
        let start = body.len();
        body.resize(start + size, 0);
        r.read_exact(&mut body[start..])?;
        if !read_line(r)?.is_empty() {
            return Err(bad("chunk not followed by CRLF"));
        }
    }
}

/// One request: parse it, run `git http-backend`, translate its CGI answer into HTTP.
fn serve(
    conn: TcpStream,
    root: &Path,
    chunked: &AtomicUsize,
    log: &Mutex<String>,
) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut out = conn.try_clone()?;
    let mut r = BufReader::new(conn);
    let request = read_line(&mut r)?;
    if request.is_empty() {
        return Ok(()); // the wake-up connection of Drop
    }
    let mut parts = request.split(' ');
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return Err(bad(format!("request line {request:?}")));
    };
    let mut headers: HashMap<String, String> = HashMap::new();
    loop {
        let line = read_line(&mut r)?;
        if line.is_empty() {
            break;
        }
        let (k, v) = line
            .split_once(':')
            .ok_or_else(|| bad(format!("header {line:?}")))?;
        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
    }
    if headers
        .get("expect")
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
    {
        out.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
    }
    let body = if headers
        .get("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    {
        chunked.fetch_add(1, Ordering::SeqCst);
        read_chunked(&mut r)?
    } else {
        let len: usize = headers
            .get("content-length")
            .map(|v| v.parse().map_err(|_| bad("content-length")))
            .transpose()?
            .unwrap_or(0);
        let mut b = vec![0; len];
        r.read_exact(&mut b)?;
        b
    };
    let (path, query) = target.split_once('?').unwrap_or((target, ""));

    let mut cgi = crate::gitutil::git_cmd(root);
    cgi.arg("http-backend")
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("SERVER_PROTOCOL", "HTTP/1.1")
        .env("REQUEST_METHOD", method)
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env("REMOTE_USER", "tester")
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("CONTENT_LENGTH", body.len().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(t) = headers.get("content-type") {
        cgi.env("CONTENT_TYPE", t);
    }
    if let Some(e) = headers.get("content-encoding") {
        cgi.env("HTTP_CONTENT_ENCODING", e);
    }
    if let Some(p) = headers.get("git-protocol") {
        cgi.env("GIT_PROTOCOL", p);
    }
    let mut child = cgi.spawn()?;
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || stdin.write_all(&body));
    let o = child.wait_with_output()?;
    let _ = feeder.join();
    if !o.stderr.is_empty() {
        log.lock()
            .unwrap()
            .push_str(&String::from_utf8_lossy(&o.stderr));
    }

    // The CGI answer: headers (Status: among them), an empty line, the body.
    let split = o
        .stdout
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| {
            o.stdout
                .windows(2)
                .position(|w| w == b"\n\n")
                .map(|i| (i, 2))
        })
        .ok_or_else(|| bad(format!("http-backend answered no headers ({})", o.status)))?;
    let head = String::from_utf8_lossy(&o.stdout[..split.0]).into_owned();
    let payload = &o.stdout[split.0 + split.1..];
    let mut status = "200 OK".to_owned();
    let mut response = String::new();
    for line in head.lines().map(|l| l.trim_end_matches('\r')) {
        match line.split_once(':') {
            Some((k, v)) if k.eq_ignore_ascii_case("status") => status = v.trim().to_owned(),
            Some((k, _)) if k.eq_ignore_ascii_case("content-length") => {}
            _ => response.push_str(&format!("{line}\r\n")),
        }
    }
    out.write_all(
        format!(
            "HTTP/1.1 {status}\r\n{response}Content-Length: {}\r\nConnection: close\r\n\r\n",
            payload.len()
        )
        .as_bytes(),
    )?;
    out.write_all(payload)?;
    out.flush()
}

/// Bytes that do not compress (so a pack of them is as big as they are).
fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        v.extend_from_slice(&seed.to_le_bytes());
    }
    v.truncate(len);
    v
}

#[test]
fn push_over_smart_http_is_judged_like_a_local_one() {
    let started = Instant::now();
    let sb = Sandbox::new();
    let (server, repo, local) = setup(&sb);
    git(&server.dir, &["config", "http.receivepack", "true"]);
    let http = HttpServer::start(sb.path());
    let url = http.url("server.git");
    let push = || {
        let p = repo.push_url(&url, &[], &["HEAD:refs/heads/main"]);
        assert!(
            !p.stderr.contains("fatal: unable to access")
                && !p.stderr.contains("RPC failed")
                && !p.stderr.contains("HTTP 4"),
            "http failed:\n{}\nserver log:\n{}",
            p.stderr,
            http.log()
        );
        p
    };
    reject_then_accept(&server, &repo, &local, "http", push);

    // A push bigger than git's 1 MiB http.postBuffer goes out chunked: judged all the same.
    let before = server.rev("refs/heads/main");
    repo.write("assets/blob.bin", noise(3 << 20, 0x9e37_79b9_7f4a_7c15));
    repo.commit_all("a large asset");
    commit_secret_again(&repo);
    let p = push();
    assert!(!p.ok, "{}", p.stderr);
    assert!(
        p.stderr
            .contains("remote:     app/settings.py:1  flask-secret-key (high)"),
        "{}",
        p.stderr
    );
    assert_eq!(
        server.rev("refs/heads/main"),
        before,
        "the ref must not move"
    );
    assert!(
        http.chunked.load(Ordering::SeqCst) > 0,
        "the large push was sent chunked"
    );
    repo.git(&["reset", "-q", "--hard", "HEAD~1"]);
    let p = push();
    assert!(p.ok, "the large clean push is accepted:\n{}", p.stderr);
    assert_eq!(
        server.rev("refs/heads/main").as_deref(),
        Some(repo.git(&["rev-parse", "HEAD"]).as_str())
    );
    eprintln!("http transport: {:?}", started.elapsed());
}

fn commit_secret_again(repo: &Repo) {
    repo.commit_file(
        "app/settings.py",
        format!("SECRET_KEY = \"{KEY}\"\n"),
        "settings",
    );
}
