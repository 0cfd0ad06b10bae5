//! `secretgate install`: writes the hooks that call this binary.
//!
//! A hook is a small POSIX shell script that runs this executable by its absolute path, so it
//! works whatever `PATH` git or the server gives hooks, and fails closed (with a message saying
//! so) if the executable is gone. Every script written here carries [`MARKER`]; a file without
//! it belongs to someone else and is never silently overwritten: the developer's own pre-commit
//! hook is kept and chained, a server's existing pre-receive hook makes the install refuse and
//! say how to combine the two.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::Exit;
use crate::cli::{Config, Flavor};
use crate::error::{Error, Result};

/// The line that marks a hook as written by secretgate (and so safe to replace).
pub const MARKER: &str = "secretgate-managed-hook";

/// The name an existing pre-commit hook is kept under; the installed hook runs it first.
pub const CHAINED_SUFFIX: &str = ".secretgate-chained";

/// The admin's configuration file, used by the hooks when it exists.
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

/// The lines that run `secretgate <command>`, with the baked or the admin's configuration.
fn exec_lines(command: &str, config: Option<&str>) -> String {
    match config {
        Some(c) => format!("exec \"$bin\" {command} --config {}\n", sh_quote(c)),
        None => format!(
            "if [ -f {ADMIN_CONFIG} ]; then\n    exec \"$bin\" {command} --config {ADMIN_CONFIG}\nfi\nexec \"$bin\" {command}\n"
        ),
    }
}

/// Text of the pre-commit hook.
fn pre_commit_script(bin: &str, config: Option<&str>) -> String {
    format!(
        "#!/bin/sh\n\
         # {MARKER}: pre-commit\n\
         # Written by `secretgate install pre-commit`: refuses commits whose staged lines add\n\
         # secrets or unsafe Flask configuration. Run the install again to update it; delete this\n\
         # file to uninstall (a hook kept as pre-commit{CHAINED_SUFFIX} is then yours to restore).\n\
         chained=\"$(dirname -- \"$0\")/pre-commit{CHAINED_SUFFIX}\"\n\
         if [ -x \"$chained\" ]; then\n\
         \x20   \"$chained\" \"$@\" || exit $?\n\
         fi\n\
         bin={}\n\
         if [ ! -x \"$bin\" ]; then\n\
         \x20   echo \"secretgate: commit rejected: the secret scanner is missing ($bin is not an executable).\" >&2\n\
         \x20   echo \"secretgate: reinstall it and run 'secretgate install pre-commit' again.\" >&2\n\
         \x20   exit 1\n\
         fi\n\
         {}",
        sh_quote(bin),
        exec_lines("pre-commit", config)
    )
}

/// Text of the pre-receive hook for one flavor of server.
fn pre_receive_script(bin: &str, config: Option<&str>, flavor: Flavor) -> String {
    let (name, err) = match flavor {
        Flavor::Git => ("git", ""),
        Flavor::Gitlab => ("gitlab", "GL-HOOK-ERR: "),
        Flavor::Gitea => ("gitea", ""),
    };
    format!(
        "#!/bin/sh\n\
         # {MARKER}: pre-receive ({name})\n\
         # Written by `secretgate install pre-receive`: rejects pushes that add secrets or unsafe\n\
         # Flask configuration. Run the install again to update it; delete this file to uninstall.\n\
         bin={}\n\
         if [ ! -x \"$bin\" ]; then\n\
         \x20   echo \"{err}secretgate: push rejected: the secret scanner is missing on the server; tell the server's admin.\" >&2\n\
         \x20   exit 1\n\
         fi\n\
         {}",
        sh_quote(bin),
        exec_lines("pre-receive", config)
    )
}

/// What is at a hook's path now.
enum Existing {
    Nothing,
    Ours,
    Theirs,
}

fn existing(path: &Path) -> Result<Existing> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Existing::Nothing),
        Err(e) => Err(io_err(path, e)),
        Ok(m) if m.is_dir() => Ok(Existing::Theirs),
        Ok(_) => match std::fs::read(path) {
            Ok(text) => Ok(
                if memchr::memmem::find(&text, MARKER.as_bytes()).is_some() {
                    Existing::Ours
                } else {
                    Existing::Theirs
                },
            ),
            // A dangling symbolic link, say: someone else's.
            Err(_) => Ok(Existing::Theirs),
        },
    }
}

/// Writes an executable script by writing a temporary file beside it and renaming it, so git
/// never runs half a hook.
fn write_script(path: &Path, text: &str) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
    let tmp = dir.join(format!(
        ".{}.secretgate-tmp-{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("hook"),
        std::process::id()
    ));
    let r = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            f.set_permissions(std::fs::Permissions::from_mode(0o755))?;
        }
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r.map_err(|e| io_err(path, e))
}

fn say(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// Where git runs a work tree's hooks from: `core.hooksPath` (relative to the top of the work
/// tree, as git takes it), else the common git directory's `hooks`.
fn hooks_dir(repo: &gix::Repository) -> Result<PathBuf> {
    let configured = repo
        .config_snapshot()
        .trusted_path("core.hooksPath")
        .map_err(|e| Error::repo("core.hooksPath is invalid", e))?;
    Ok(match configured {
        Some(p) if p.is_absolute() => p,
        Some(p) => repo.workdir().unwrap_or_else(|| repo.git_dir()).join(p),
        None => repo.common_dir().join("hooks"),
    })
}

/// Installs `.git/hooks/pre-commit` in `dir`.
pub fn pre_commit(config: &Config, dir: Option<&Path>) -> Result<Exit> {
    let start = dir.unwrap_or(Path::new("."));
    let start = start.canonicalize().map_err(|e| io_err(start, e))?;
    let repo = gix::discover(&start).map_err(|e| {
        Error::repo(
            format!("cannot find a git repository at {}", start.display()),
            e,
        )
    })?;
    if repo.workdir().is_none() {
        return Err(Error::Usage(format!(
            "{} is a bare repository: a pre-commit hook needs a work tree \
             (for a server, use `secretgate install pre-receive --repo {}`)",
            repo.git_dir().display(),
            repo.git_dir().display()
        )));
    }
    let bin = this_exe()?;
    let baked = baked_config(config)?;
    let hooks = hooks_dir(&repo)?;
    let path = hooks.join("pre-commit");
    let chained = hooks.join(format!("pre-commit{CHAINED_SUFFIX}"));
    let script = pre_commit_script(&bin, baked.as_deref());
    match existing(&path)? {
        Existing::Nothing => {
            write_script(&path, &script)?;
            say(&format!("secretgate: installed {}\n", path.display()));
        }
        Existing::Ours => {
            write_script(&path, &script)?;
            say(&format!("secretgate: updated {}\n", path.display()));
        }
        Existing::Theirs => {
            if !matches!(existing(&chained)?, Existing::Nothing) {
                return Err(Error::Usage(format!(
                    "{path} is another tool's hook, and {chained} already exists, so neither can \
                     be kept automatically. Nothing was changed. To run secretgate too, add this \
                     line to {path} where it should run (before any final `exec`):\n    \
                     {bin} pre-commit || exit $?",
                    path = path.display(),
                    chained = chained.display(),
                    bin = sh_quote(&bin),
                )));
            }
            std::fs::rename(&path, &chained).map_err(|e| io_err(&path, e))?;
            if let Err(e) = write_script(&path, &script) {
                // Put the developer's hook back rather than leave no hook at all.
                let _ = std::fs::rename(&chained, &path);
                return Err(e);
            }
            say(&format!(
                "secretgate: installed {}\n\
                 secretgate: the hook that was there is kept as {} and runs first.\n",
                path.display(),
                chained.display()
            ));
        }
    }
    Ok(Exit::Clean)
}

/// Installs the pre-receive hook of a bare repository.
pub fn pre_receive(config: &Config, repo_path: &Path, flavor: Flavor) -> Result<Exit> {
    let repo_path = repo_path
        .canonicalize()
        .map_err(|e| Error::repo(format!("cannot open {}", repo_path.display()), e))?;
    let repo = crate::source::git::open_repo(&repo_path)?;
    let git_dir = repo.git_dir().to_owned();
    let bin = this_exe()?;
    let baked = baked_config(config)?;
    let path = match flavor {
        Flavor::Git => git_dir.join("hooks").join("pre-receive"),
        Flavor::Gitlab => git_dir
            .join("custom_hooks")
            .join("pre-receive.d")
            .join("secretgate"),
        Flavor::Gitea => git_dir
            .join("hooks")
            .join("pre-receive.d")
            .join("secretgate"),
    };
    let script = pre_receive_script(&bin, baked.as_deref(), flavor);
    let verb = match existing(&path)? {
        Existing::Nothing => "installed",
        Existing::Ours => "updated",
        Existing::Theirs => {
            let how = match flavor {
                Flavor::Git => format!(
                    "To run both, move it aside and make hooks/pre-receive a script that gives \
                     each the same input, e.g.:\n    \
                     #!/bin/sh\n    \
                     input=$(cat)\n    \
                     printf '%s\\n' \"$input\" | /path/to/the-existing-hook || exit $?\n    \
                     printf '%s\\n' \"$input\" | {} pre-receive",
                    sh_quote(&bin)
                ),
                Flavor::Gitlab | Flavor::Gitea => {
                    "Rename or remove that file (it is not secretgate's), then install again."
                        .to_owned()
                }
            };
            return Err(Error::Usage(format!(
                "{} already exists and was not written by secretgate; nothing was changed. {how}",
                path.display()
            )));
        }
    };
    write_script(&path, &script)?;
    say(&format!("secretgate: {verb} {}\n", path.display()));
    match flavor {
        Flavor::Git => {
            if let Ok(Some(h)) = repo.config_snapshot().trusted_path("core.hooksPath") {
                say(&format!(
                    "secretgate: warning: this repository sets core.hooksPath ({}), so git runs the \
                     hooks there, not this one: install the hook there too, or unset core.hooksPath.\n",
                    h.display()
                ));
            }
        }
        Flavor::Gitea => {
            let runner = git_dir.join("hooks").join("pre-receive");
            let runs_dir = std::fs::read(&runner)
                .map(|t| memchr::memmem::find(&t, b"pre-receive.d").is_some())
                .unwrap_or(false);
            if !runs_dir {
                say(&format!(
                    "secretgate: warning: {} does not run hooks/pre-receive.d/*: Gitea writes it \
                     for the repositories it manages (Site Administration > Resynchronize \
                     pre-receive, update and post-receive hooks).\n",
                    runner.display()
                ));
            }
        }
        Flavor::Gitlab => {
            say(
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
    fn scripts_carry_the_marker_and_fail_closed() {
        let s = pre_commit_script("/usr/bin/secretgate", None);
        assert!(s.starts_with("#!/bin/sh\n") && s.contains(MARKER));
        assert!(s.contains("exit 1") && s.contains(ADMIN_CONFIG));
        let s = pre_receive_script("/x", Some("/etc/a.toml"), Flavor::Gitlab);
        assert!(s.contains("GL-HOOK-ERR: ") && s.contains("--config '/etc/a.toml'"));
        assert!(!s.contains(ADMIN_CONFIG));
    }
}
