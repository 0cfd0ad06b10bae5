//! `secretgate install`: writes the hooks that call this binary.
//!
//! A hook is a small POSIX shell script that runs this executable by its absolute path, so it
//! works whatever `PATH` git or the server gives hooks, and fails closed (with a message saying
//! so) if the executable is gone. The scripts are the files of `hooks/` (the ones an admin may
//! copy by hand instead), compiled in, with the binary's path and a `--config` file filled in. Every script written here carries [`MARKER`]; a file without
//! it belongs to someone else and is never silently overwritten: the developer's own pre-commit
//! hook is kept and chained, a server's existing pre-receive hook makes the install refuse and
//! say how to combine the two.
//!
//! Nothing is written through a symbolic link, which anyone able to commit to the repository (or
//! to write in a server's repository folder) could plant: a hook is written to a new temporary
//! file, created exclusively under a name nobody can guess, and renamed into place, and a link at
//! the hook's name or at a folder on the way to it makes the install refuse.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::say;
use super::Stream::{Stderr, Stdout};
use crate::cli::{Config, Flavor};
use crate::error::{Error, Result};
use crate::policy::Exit;

/// The line that marks a hook as written by secretgate (and so safe to replace).
pub const MARKER: &str = "secretgate-managed-hook";

/// The name an existing pre-commit hook is kept under; the installed hook runs it first.
pub const CHAINED_SUFFIX: &str = ".secretgate-chained";

/// The admin's configuration file, used by the hooks when it exists (unless
/// `SECRETGATE_ADMIN_CONFIG` names another place: a machine with several setups, or a test
/// that must not see the host's file).
pub const ADMIN_CONFIG: &str = "/etc/secretgate/config.toml";

/// Quotes a string for a POSIX shell.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn io_err(path: &Path, e: std::io::Error) -> Error {
    Error::Io {
        path: path.to_owned(),
        source: e,
    }
}

/// The absolute path of this executable, as hooks must call it.
fn this_exe() -> Result<String> {
    let exe = std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .map_err(|e| io_err(Path::new("<current executable>"), e))?;
    exe.to_str().map(str::to_owned).ok_or_else(|| {
        Error::Usage(format!(
            "the path of this executable ({}) is not UTF-8; install it elsewhere",
            exe.display()
        ))
    })
}

/// `--config FILE` given at install time, as an absolute path baked into the hook.
fn baked_config(config: &Config) -> Result<Option<String>> {
    let Some(p) = &config.config else {
        return Ok(None);
    };
    // Load it now, so a broken file fails the install rather than every commit or push.
    crate::rules::load_file(p)?;
    let abs = p.canonicalize().map_err(|e| io_err(p, e))?;
    Ok(Some(abs.to_str().map(str::to_owned).ok_or_else(|| {
        Error::Usage(format!("{} is not a UTF-8 path", abs.display()))
    })?))
}

/// The hook scripts of `hooks/`, as an admin copies them by hand: the installer writes the same
/// text, with the binary's path and the `--config` file filled in ([`fill`]).
const PRE_COMMIT_HOOK: &str = include_str!("../../hooks/pre-commit");
const GIT_HOOK: &str = include_str!("../../hooks/pre-receive");
const GITLAB_HOOK: &str = include_str!("../../hooks/gitlab/pre-receive.d/secretgate");
const GITEA_HOOK: &str = include_str!("../../hooks/gitea/pre-receive.d/secretgate");

/// The line of every script that finds the binary: `$SECRETGATE_BIN`, else `secretgate` on
/// `PATH`. The installer puts the binary's absolute path in its place.
const FIND_BIN_LINE: &str = "bin=${SECRETGATE_BIN:-$(command -v secretgate 2>/dev/null)}\n";

/// The lines of every script that run `secretgate <command>` with the admin's configuration
/// when it exists. The installer puts a `--config` file given to it in their place.
fn admin_exec_lines(command: &str) -> String {
    format!(
        "config=${{SECRETGATE_ADMIN_CONFIG:-{ADMIN_CONFIG}}}\nif [ -f \"$config\" ]; then\n    \
         exec \"$bin\" {command} --config \"$config\"\nfi\nexec \"$bin\" {command}\n"
    )
}

/// A script of `hooks/` as the installer writes it: the binary at `bin` (`None`: found as the
/// script finds it, for a hook shared with the project), run with `--config config` when one
/// was given to the install.
fn fill(template: &str, command: &str, bin: Option<&str>, config: Option<&str>) -> String {
    let mut text = template.to_owned();
    if let Some(b) = bin {
        text = text.replacen(FIND_BIN_LINE, &format!("bin={}\n", sh_quote(b)), 1);
    }
    if let Some(c) = config {
        text = text.replacen(
            &admin_exec_lines(command),
            &format!("exec \"$bin\" {command} --config {}\n", sh_quote(c)),
            1,
        );
    }
    text
}

/// Text of the pre-commit hook; `bin` is `None` for a hook that finds `secretgate` on `PATH`.
fn pre_commit_script(bin: Option<&str>, config: Option<&str>) -> String {
    fill(PRE_COMMIT_HOOK, "pre-commit", bin, config)
}

/// Text of the pre-receive hook for one flavor of server.
fn pre_receive_script(bin: &str, config: Option<&str>, flavor: Flavor) -> String {
    let template = match flavor {
        Flavor::Git => GIT_HOOK,
        Flavor::Gitlab => GITLAB_HOOK,
        Flavor::Gitea => GITEA_HOOK,
    };
    fill(template, "pre-receive", Some(bin), config)
}

/// What is at a hook's path now.
enum Existing {
    Nothing,
    Ours,
    Theirs,
    /// The pre-commit framework's own hook (https://pre-commit.com), which runs what
    /// `.pre-commit-config.yaml` lists: chaining it breaks once `pre-commit install` runs again.
    Framework,
}

/// The line every hook script the pre-commit framework writes carries.
const FRAMEWORK_MARK: &[u8] = b"generated by pre-commit";

/// What is at `path`. A symbolic link there is refused rather than classified: it may have been
/// planted in the repository to point anywhere, and the install neither writes through a link
/// nor keeps one as a chained hook that would run whatever it points to.
fn existing(path: &Path) -> Result<Existing> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Existing::Nothing),
        Err(e) => Err(io_err(path, e)),
        Ok(m) if m.file_type().is_symlink() => Err(Error::Usage(format!(
            "{} is a symbolic link; secretgate does not write hooks through links, so nothing \
             was changed (replace it with the file it points to, or remove it, and install again)",
            path.display()
        ))),
        // A folder, a pipe (never read: that would wait for a writer), a device.
        Ok(m) if !m.is_file() => Ok(Existing::Theirs),
        Ok(_) => match std::fs::read(path) {
            Ok(text) => Ok(
                if memchr::memmem::find(&text, MARKER.as_bytes()).is_some() {
                    Existing::Ours
                } else if memchr::memmem::find(&text, FRAMEWORK_MARK).is_some() {
                    Existing::Framework
                } else {
                    Existing::Theirs
                },
            ),
            // Unreadable: someone else's.
            Err(_) => Ok(Existing::Theirs),
        },
    }
}

/// Makes sure `base/rel` is a directory, creating the folders of `rel` one at a time and
/// refusing any of them that is a symbolic link: `base` is where the user pointed the install
/// (a git directory, a work tree), but the folders under it may come from the repository's
/// content (a committed `.githooks` link, a `hooks` link planted in a server's repository), and
/// writing through such a link would write a file wherever it points. Returns `base/rel`.
fn hook_folder(base: &Path, rel: &Path) -> Result<PathBuf> {
    use std::path::Component;

    if !base.is_dir() {
        std::fs::create_dir_all(base).map_err(|e| io_err(base, e))?;
    }
    let mut dir = base.to_owned();
    for c in rel.components() {
        match c {
            Component::Normal(name) => dir.push(name),
            Component::CurDir => continue,
            // `hooks_location` takes paths that leave `base` as a `base` of their own.
            _ => {
                return Err(Error::Usage(format!(
                    "{} is not a plain path under {}",
                    rel.display(),
                    base.display()
                )))
            }
        }
        let meta = match std::fs::symlink_metadata(&dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                match std::fs::create_dir(&dir) {
                    Ok(()) => continue,
                    // Made by someone else meanwhile: look at what it is.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        std::fs::symlink_metadata(&dir).map_err(|e| io_err(&dir, e))?
                    }
                    Err(e) => return Err(io_err(&dir, e)),
                }
            }
            Err(e) => return Err(io_err(&dir, e)),
            Ok(m) => m,
        };
        if meta.file_type().is_symlink() {
            return Err(Error::Usage(format!(
                "{} is a symbolic link; secretgate does not write hooks through links in a \
                 repository, so nothing was changed (make it a real folder, or remove it, and \
                 install again)",
                dir.display()
            )));
        }
        if !meta.is_dir() {
            return Err(Error::Usage(format!(
                "{} is not a folder, so no hook can be written in it; nothing was changed",
                dir.display()
            )));
        }
    }
    Ok(dir)
}

/// How many temporary names [`write_script`] tries before giving up: another name is taken
/// only when one already exists, which a planted file or link can cause, not chance.
const TMP_ATTEMPTS: u32 = 16;

/// A name for a temporary file that nobody can guess in advance (so nobody can plant a link
/// there), without a dependency for randomness: the keys of the standard library's hasher are
/// drawn from the operating system's random source.
fn tmp_name(attempt: u32) -> String {
    use std::hash::{BuildHasher as _, Hash as _, Hasher as _};

    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
        .hash(&mut h);
    attempt.hash(&mut h);
    format!(
        ".secretgate-hook.{}.{:016x}.tmp",
        std::process::id(),
        h.finish()
    )
}

/// Creates a new temporary file in `dir` under one of the names `name` gives for attempts 1, 2,
/// ... [`TMP_ATTEMPTS`], exclusively (`O_CREAT | O_EXCL`: it fails rather than open anything
/// already there, a symbolic link included, even one pointing nowhere), executable.
fn create_tmp(dir: &Path, name: impl Fn(u32) -> String) -> Result<(PathBuf, std::fs::File)> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o755);
    }
    let mut attempt = 1;
    loop {
        let tmp = dir.join(name(attempt));
        match options.open(&tmp) {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < TMP_ATTEMPTS => {
                attempt += 1
            }
            Err(e) => return Err(io_err(&tmp, e)),
        }
    }
}

/// Writes an executable script at `path` (in a folder [`hook_folder`] checked) by writing a new
/// temporary file beside it, syncing it and renaming it over `path`: git never runs half a hook,
/// and nothing already at either name (a planted symbolic link, say) is ever opened or written
/// through.
fn write_script(path: &Path, text: &str) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    // The callers checked this already; checked again just before writing.
    existing(path)?;
    let (tmp, mut f) = create_tmp(dir, tmp_name)?;
    let r = (|| {
        f.write_all(text.as_bytes())?;
        // The mode given at creation is narrowed by the umask; hooks must be executable.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            f.set_permissions(std::fs::Permissions::from_mode(0o755))?;
        }
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r.map_err(|e| io_err(path, e))
}

/// Where git runs a work tree's hooks from: `core.hooksPath` (relative to the top of the work
/// tree, as git takes it), else the common git directory's `hooks`. Given as a trusted base
/// and the folders under it that belong to the repository (see [`hook_folder`]): a
/// `core.hooksPath` inside the work tree or the git directory is checked from there, one
/// elsewhere (the user's own folder of hooks, say) is the user's choice and taken whole.
fn hooks_location(repo: &gix::Repository) -> Result<(PathBuf, PathBuf)> {
    let configured = repo
        .config_snapshot()
        .trusted_path("core.hooksPath")
        .map_err(|e| Error::repo("core.hooksPath is invalid", e))?;
    let top = repo.workdir().unwrap_or_else(|| repo.git_dir()).to_owned();
    let Some(p) = configured else {
        return Ok((repo.common_dir().to_owned(), PathBuf::from("hooks")));
    };
    let full = if p.is_absolute() { p } else { top.join(p) };
    let plain = |rel: &Path| {
        rel.components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
    };
    for base in [top.as_path(), repo.git_dir(), repo.common_dir()] {
        if let Ok(rel) = full.strip_prefix(base) {
            if plain(rel) {
                return Ok((base.to_owned(), rel.to_owned()));
            }
        }
    }
    Ok((full, PathBuf::new()))
}

/// The repository holding `dir` (default: the current directory).
fn discover(dir: Option<&Path>) -> Result<gix::Repository> {
    let start = dir.unwrap_or(Path::new("."));
    let start = start.canonicalize().map_err(|e| io_err(start, e))?;
    gix::discover(&start).map_err(|e| {
        Error::repo(
            format!("cannot find a git repository at {}", start.display()),
            e,
        )
    })
}

/// A path as the installer shows it (escaped).
fn shown(p: &Path) -> String {
    crate::escape::escape(p.as_os_str().as_encoded_bytes())
}

/// Installs `.git/hooks/pre-commit` in `dir`.
pub fn pre_commit(config: &Config, dir: Option<&Path>) -> Result<Exit> {
    let repo = discover(dir)?;
    if repo.workdir().is_none() {
        return Err(Error::Usage(format!(
            "{} is a bare repository: a pre-commit hook needs a work tree \
             (for a server, use `secretgate install pre-receive --repo {}`)",
            repo.git_dir().display(),
            repo.git_dir().display()
        )));
    }
    let exe = this_exe()?;
    let baked = baked_config(config)?;
    let (base, rel) = hooks_location(&repo)?;
    // A `core.hooksPath` inside the work tree is a folder of hooks the project commits and
    // shares: this machine's path to the binary must not go there, so that hook finds
    // `secretgate` on PATH.
    let shared = repo.workdir().is_some_and(|w| base == w) && !rel.starts_with(".git");
    let bin = (!shared).then_some(exe.as_str());
    let hooks = hook_folder(&base, &rel)?;
    let path = hooks.join("pre-commit");
    let script = pre_commit_script(bin, baked.as_deref());
    match existing(&path)? {
        Existing::Nothing => {
            write_script(&path, &script)?;
            say(Stdout, &format!("secretgate: installed {}\n", shown(&path)));
        }
        Existing::Ours => {
            write_script(&path, &script)?;
            say(Stdout, &format!("secretgate: updated {}\n", shown(&path)));
        }
        Existing::Framework => return Err(refuse_framework(&path)),
        Existing::Theirs => chain_theirs(&hooks, &script, bin)?,
    }
    if shared {
        say(
            Stdout,
            &format!(
                "secretgate: {} is inside the work tree (core.hooksPath), where it is shared \
                 with the project, so the hook runs `secretgate` from PATH rather than {}: \
                 everyone who commits needs secretgate on PATH.\n",
                shown(&hooks),
                exe
            ),
        );
        if let Some(c) = &baked {
            say(
                Stdout,
                &format!(
                    "secretgate: warning: the hook also names --config {c}, a path on this \
                     machine.\n"
                ),
            );
        }
    }
    Ok(Exit::Clean)
}

/// The pre-commit framework's hook is at `path`: says how to run secretgate from the
/// framework's configuration instead, and returns the error that ends the install.
fn refuse_framework(path: &Path) -> Error {
    say(
        Stderr,
        &format!(
            "{} is the pre-commit framework's hook; it runs the hooks listed in \
             .pre-commit-config.yaml.\n\
             To run secretgate with it, add this to .pre-commit-config.yaml instead:\n\
             \x20 - repo: local\n\
             \x20   hooks:\n\
             \x20     - id: secretgate\n\
             \x20       name: secretgate\n\
             \x20       entry: secretgate pre-commit\n\
             \x20       language: system\n\
             \x20       pass_filenames: true\n\
             \x20       always_run: true\n\
             \x20       require_serial: true\n\
             (or use this project's repository with `id: secretgate`; see the README).\n",
            shown(path)
        ),
    );
    Error::Usage(format!(
        "{} belongs to the pre-commit framework; nothing was changed: add secretgate to \
         .pre-commit-config.yaml instead",
        shown(path)
    ))
}

/// Another tool's pre-commit hook is in `hooks`: keeps it as the chained hook (which the
/// installed one runs first) and installs `script`, or, when a chained hook exists already,
/// says how to run both and refuses.
fn chain_theirs(hooks: &Path, script: &str, bin: Option<&str>) -> Result<()> {
    let path = hooks.join("pre-commit");
    let chained = hooks.join(format!("pre-commit{CHAINED_SUFFIX}"));
    if !matches!(existing(&chained)?, Existing::Nothing) {
        say(
            Stderr,
            &format!(
                "To run secretgate too, add this line to {} where it should run (before any \
                 final `exec`):\n    {} pre-commit || exit $?\n",
                shown(&path),
                bin.map_or_else(|| "secretgate".to_owned(), sh_quote),
            ),
        );
        return Err(Error::Usage(format!(
            "{} is another tool's hook, and {} already exists, so neither can be kept \
             automatically; nothing was changed",
            shown(&path),
            shown(&chained),
        )));
    }
    std::fs::rename(&path, &chained).map_err(|e| io_err(&path, e))?;
    if let Err(e) = write_script(&path, script) {
        // Put the developer's hook back rather than leave no hook at all.
        let _ = std::fs::rename(&chained, &path);
        return Err(e);
    }
    say(
        Stdout,
        &format!(
            "secretgate: installed {}\n\
             secretgate: the hook that was there is kept as {} and runs first.\n",
            shown(&path),
            shown(&chained)
        ),
    );
    Ok(())
}

/// `secretgate uninstall pre-commit`: removes the hook `install pre-commit` wrote and puts
/// back the hook it chained, so that uninstalling leaves the repository as it was. A hook that
/// is not secretgate's is never removed.
pub fn uninstall_pre_commit(dir: Option<&Path>) -> Result<Exit> {
    let repo = discover(dir)?;
    let (base, rel) = hooks_location(&repo)?;
    let hooks = base.join(rel);
    let path = hooks.join("pre-commit");
    let chained = hooks.join(format!("pre-commit{CHAINED_SUFFIX}"));
    match existing(&path)? {
        Existing::Ours => {}
        Existing::Nothing => {
            say(
                Stdout,
                &format!(
                    "secretgate: no pre-commit hook at {}; nothing to remove\n",
                    shown(&path)
                ),
            );
            return Ok(Exit::Clean);
        }
        Existing::Theirs | Existing::Framework => {
            return Err(Error::Usage(format!(
                "{} was not written by secretgate; nothing was removed",
                shown(&path)
            )))
        }
    }
    match existing(&chained)? {
        Existing::Nothing => {
            std::fs::remove_file(&path).map_err(|e| io_err(&path, e))?;
            say(Stdout, &format!("secretgate: removed {}\n", shown(&path)));
        }
        _ => {
            // The rename replaces our hook in one step: git never sees no hook in between.
            std::fs::rename(&chained, &path).map_err(|e| io_err(&chained, e))?;
            say(
                Stdout,
                &format!(
                    "secretgate: removed {}; the hook it ran first is back in its place\n",
                    shown(&path)
                ),
            );
        }
    }
    Ok(Exit::Clean)
}

/// `secretgate uninstall pre-receive`: removes the hook `install pre-receive` wrote for that
/// flavor of server; a hook that is not secretgate's is never removed.
pub fn uninstall_pre_receive(repo_path: &Path, flavor: Flavor) -> Result<Exit> {
    let repo = crate::source::repo::open_repo(repo_path)?;
    let rel = match flavor {
        Flavor::Git => "hooks/pre-receive",
        Flavor::Gitlab => "custom_hooks/pre-receive.d/secretgate",
        Flavor::Gitea => "hooks/pre-receive.d/secretgate",
    };
    let path = repo.git_dir().join(rel);
    let shown = crate::escape::escape(path.as_os_str().as_encoded_bytes());
    match existing(&path)? {
        Existing::Ours => {
            std::fs::remove_file(&path).map_err(|e| io_err(&path, e))?;
            say(Stdout, &format!("secretgate: removed {shown}\n"));
            Ok(Exit::Clean)
        }
        Existing::Nothing => {
            say(
                Stdout,
                &format!("secretgate: no hook at {shown}; nothing to remove\n"),
            );
            Ok(Exit::Clean)
        }
        Existing::Theirs | Existing::Framework => Err(Error::Usage(format!(
            "{shown} was not written by secretgate; nothing was removed"
        ))),
    }
}

/// Where `gitaly hooks set` expects the hook inside its tarball.
pub const GITLAB_TARBALL_ENTRY: &str = "custom_hooks/pre-receive.d/secretgate";

/// One ustar member: a regular file named `name` with `mode`, holding `data`. Written by hand
/// (the format is a 512-byte header and the data padded to 512 bytes) rather than with a
/// dependency, for one file.
fn ustar_member(name: &str, mode: u32, data: &[u8], mtime: u64) -> Result<Vec<u8>> {
    if name.len() > 100 {
        return Err(Error::Usage(format!("{name} is too long for a tar header")));
    }
    let mut h = [0u8; 512];
    let mut put = |at: usize, field: &[u8]| h[at..at + field.len()].copy_from_slice(field);
    put(0, name.as_bytes());
    put(100, format!("{mode:07o}\0").as_bytes());
    put(108, b"0000000\0");
    put(116, b"0000000\0");
    put(124, format!("{:011o}\0", data.len()).as_bytes());
    put(136, format!("{mtime:011o}\0").as_bytes());
    put(148, b"        ");
    put(156, b"0");
    put(257, b"ustar\0");
    put(263, b"00");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let mut out = h.to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
    Ok(out)
}

/// A tar archive of one executable file, ended as tar ends archives (two zero blocks, the
/// whole padded to 10 KiB records).
fn ustar_one(name: &str, data: &[u8], mtime: u64) -> Result<Vec<u8>> {
    let mut out = ustar_member(name, 0o755, data, mtime)?;
    out.resize(out.len() + 1024, 0);
    out.resize(out.len().div_ceil(10240) * 10240, 0);
    Ok(out)
}

/// `install pre-receive --flavor gitlab --tarball FILE`: the hook in the tarball current GitLab
/// takes for a repository's server hooks (`gitaly hooks set` reads it on standard input; its
/// root holds `custom_hooks/`), since the repositories' folders are gitaly's, not the admin's.
pub fn gitlab_tarball(config: &Config, file: &Path, flavor: Flavor) -> Result<Exit> {
    if flavor != Flavor::Gitlab {
        return Err(Error::Usage(
            "--tarball is for GitLab only (add --flavor gitlab)".into(),
        ));
    }
    let bin = this_exe()?;
    let baked = baked_config(config)?;
    let script = pre_receive_script(&bin, baked.as_deref(), Flavor::Gitlab);
    let mtime = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let tar = ustar_one(GITLAB_TARBALL_ENTRY, script.as_bytes(), mtime)?;
    std::fs::write(file, tar).map_err(|e| io_err(file, e))?;
    let shown = crate::escape::escape(file.as_os_str().as_encoded_bytes());
    say(Stdout, &format!(
        "secretgate: wrote {shown} ({GITLAB_TARBALL_ENTRY}, calling {bin}).\n\
         secretgate: apply it on the GitLab server, where {bin} must exist, as the git user:\n\
         \x20   gitaly hooks set --storage <storage> --repository <relative path> --config <gitaly config.toml> < {shown}\n\
         secretgate: for every repository instead, put the hook in <custom_hooks_dir>/pre-receive.d/ \
         (gitaly['configuration'][:hooks][:custom_hooks_dir]).\n"
    ));
    Ok(Exit::Clean)
}

/// Whether a dispatcher at `hooks/pre-receive` runs the scripts of `hooks/pre-receive.d/`:
/// it names the folder, or, as Gitea writes it, the folder of the hook it is run as
/// (`for hook in ${GIT_DIR}/hooks/${hookname}.d/*`, with `hookname=$(basename $0)`).
fn runs_pre_receive_d(script: &[u8]) -> bool {
    [
        &b"pre-receive.d"[..],
        b"${hookname}.d",
        b"$hookname.d",
        b"$(basename $0).d",
    ]
    .iter()
    .any(|p| memchr::memmem::find(script, p).is_some())
}

/// Another tool's pre-receive hook is at `path`: says how to run both (plain git) or to move
/// it aside, and returns the error that ends the install.
fn refuse_theirs(path: &Path, flavor: Flavor, bin: &str) -> Error {
    match flavor {
        Flavor::Git => say(
            Stderr,
            &format!(
                "To run both, move it aside and make hooks/pre-receive a script that gives \
                 each the same input, e.g.:\n    \
                 #!/bin/sh\n    \
                 input=$(cat)\n    \
                 printf '%s\\n' \"$input\" | /path/to/the-existing-hook || exit $?\n    \
                 printf '%s\\n' \"$input\" | {} pre-receive\n",
                sh_quote(bin)
            ),
        ),
        Flavor::Gitlab | Flavor::Gitea => say(
            Stderr,
            "Rename or remove that file (it is not secretgate's), then install again.\n",
        ),
    }
    Error::Usage(format!(
        "{} already exists and was not written by secretgate; nothing was changed",
        shown(path)
    ))
}

/// Installs the pre-receive hook of a bare repository.
pub fn pre_receive(config: &Config, repo_path: &Path, flavor: Flavor) -> Result<Exit> {
    let repo_path = repo_path
        .canonicalize()
        .map_err(|e| Error::repo(format!("cannot open {}", repo_path.display()), e))?;
    let repo = crate::source::repo::open_repo(&repo_path)?;
    let git_dir = repo.git_dir().to_owned();
    let bin = this_exe()?;
    let baked = baked_config(config)?;
    let (folder, name) = match flavor {
        Flavor::Git => ("hooks", "pre-receive"),
        Flavor::Gitlab => ("custom_hooks/pre-receive.d", "secretgate"),
        Flavor::Gitea => ("hooks/pre-receive.d", "secretgate"),
    };
    let path = hook_folder(&git_dir, Path::new(folder))?.join(name);
    let script = pre_receive_script(&bin, baked.as_deref(), flavor);
    let verb = match existing(&path)? {
        Existing::Nothing => "installed",
        Existing::Ours => "updated",
        Existing::Theirs | Existing::Framework => return Err(refuse_theirs(&path, flavor, &bin)),
    };
    write_script(&path, &script)?;
    say(Stdout, &format!("secretgate: {verb} {}\n", path.display()));
    match flavor {
        Flavor::Git => {
            if let Ok(Some(h)) = repo.config_snapshot().trusted_path("core.hooksPath") {
                say(Stdout, &format!(
                    "secretgate: warning: this repository sets core.hooksPath ({}), so git runs the \
                     hooks there, not this one: install the hook there too, or unset core.hooksPath.\n",
                    h.display()
                ));
            }
        }
        Flavor::Gitea => {
            let runner = git_dir.join("hooks").join("pre-receive");
            let runs_dir = std::fs::read(&runner)
                .map(|t| runs_pre_receive_d(&t))
                .unwrap_or(false);
            if !runs_dir {
                say(
                    Stdout,
                    &format!(
                    "secretgate: warning: {} does not run hooks/pre-receive.d/*: Gitea writes it \
                     for the repositories it manages (Site Administration > Resynchronize \
                     pre-receive, update and post-receive hooks).\n",
                    runner.display()
                ),
                );
            }
        }
        Flavor::Gitlab => {
            say(
                Stdout,
                "secretgate: GitLab runs it as the git user: make sure that user owns the file \
                 and can run the binary.\n",
            );
        }
    }
    Ok(Exit::Clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_for_the_shell() {
        assert_eq!(sh_quote("/a b/c"), "'/a b/c'");
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn temporary_files_never_open_what_is_already_there() {
        use std::os::unix::fs::{symlink, PermissionsExt};

        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let outside = d.join("outside");
        std::fs::write(&outside, "keep").unwrap();
        // The first names tried are taken: a link to a file, a link to nowhere (opening it to
        // create would create its target), a file.
        symlink(&outside, d.join("t1")).unwrap();
        symlink(d.join("created-through-the-link"), d.join("t2")).unwrap();
        std::fs::write(d.join("t3"), "theirs").unwrap();
        let (tmp, f) = create_tmp(d, |n| format!("t{n}")).unwrap();
        assert_eq!(tmp, d.join("t4"));
        assert!(f.metadata().unwrap().is_file());
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "keep");
        assert!(!d.join("created-through-the-link").exists());
        assert_eq!(std::fs::read_to_string(d.join("t3")).unwrap(), "theirs");
        drop(f);

        // Every name taken: an error naming the last one, and nothing written.
        let e = create_tmp(d, |_| "t1".to_owned()).unwrap_err();
        assert!(e.to_string().contains("t1"), "{e}");
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "keep");

        // Names are not predictable, and carry the pattern the tests look for.
        let (a, b) = (tmp_name(1), tmp_name(1));
        assert_ne!(a, b);
        assert!(a.starts_with(&format!(".secretgate-hook.{}.", std::process::id())));
        assert!(a.ends_with(".tmp"));

        // A script is written executable, through a new file, and nothing else is left.
        let hook = d.join("hook");
        write_script(&hook, "#!/bin/sh\n").unwrap();
        let m = std::fs::symlink_metadata(&hook).unwrap();
        assert!(m.is_file());
        assert_eq!(m.permissions().mode() & 0o777, 0o755);
        let mut names: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["hook", "outside", "t1", "t2", "t3", "t4"]);
    }

    #[test]
    fn a_tar_member_has_a_valid_header() {
        let t = ustar_one("a/b", b"hello", 0).unwrap();
        assert_eq!(t.len(), 10240);
        assert_eq!(&t[..3], b"a/b");
        assert_eq!(&t[100..108], b"0000755\0");
        assert_eq!(&t[257..263], b"ustar\0");
        assert_eq!(&t[512..517], b"hello");
        let sum: u32 = t[..512]
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    u32::from(b)
                }
            })
            .sum();
        let stored = u32::from_str_radix(std::str::from_utf8(&t[148..154]).unwrap(), 8).unwrap();
        assert_eq!(sum, stored);
        assert!(ustar_one(&"x".repeat(101), b"", 0).is_err());
    }

    #[test]
    fn gitea_dispatchers_are_recognised_by_the_folder_they_run() {
        assert!(runs_pre_receive_d(
            b"hookname=$(basename $0)\nfor hook in ${GIT_DIR}/hooks/${hookname}.d/*; do"
        ));
        assert!(runs_pre_receive_d(
            b"for h in \"$GIT_DIR\"/hooks/pre-receive.d/*"
        ));
        assert!(!runs_pre_receive_d(
            b"#!/bin/sh\nexec gitea hook pre-receive\n"
        ));
    }

    #[test]
    fn every_script_has_the_lines_the_installer_fills_in() {
        for (template, command) in [
            (PRE_COMMIT_HOOK, "pre-commit"),
            (GIT_HOOK, "pre-receive"),
            (GITLAB_HOOK, "pre-receive"),
            (GITEA_HOOK, "pre-receive"),
        ] {
            assert_eq!(template.matches(FIND_BIN_LINE).count(), 1, "{template}");
            let exec = admin_exec_lines(command);
            assert_eq!(template.matches(&exec).count(), 1, "{template}");
            assert!(template.ends_with(&exec), "{template}");
            let s = fill(template, command, Some("/x y/sg"), Some("/c.toml"));
            assert!(
                s.contains("\nbin='/x y/sg'\n") && !s.contains("command -v"),
                "{s}"
            );
            assert!(s.ends_with(&format!("exec \"$bin\" {command} --config '/c.toml'\n")));
        }
        assert!(PRE_COMMIT_HOOK.contains(&format!("/pre-commit{CHAINED_SUFFIX}\"\n")));
    }

    #[test]
    fn scripts_carry_the_marker_and_fail_closed() {
        let s = pre_commit_script(Some("/usr/bin/secretgate"), None);
        let shared = pre_commit_script(None, None);
        assert!(shared.contains("command -v secretgate") && !shared.contains("/usr/bin"));
        assert!(s.starts_with("#!/bin/sh\n") && s.contains(MARKER));
        assert!(s.contains("exit 1") && s.contains(ADMIN_CONFIG));
        let s = pre_receive_script("/x", Some("/etc/a.toml"), Flavor::Gitlab);
        assert!(s.contains("GL-HOOK-ERR: ") && s.contains("--config '/etc/a.toml'"));
        assert!(!s.contains(&admin_exec_lines("pre-receive")) && !s.contains("[ -f \"$config\" ]"));
    }
}
