//! One module per subcommand, each with a `run` that returns the exit status.
//!
//! The shared plumbing (loading rules and the baseline, opening the report's destination,
//! sizing the thread pool) lives here so that every mode behaves the same way.

pub mod audit;
pub mod config;
pub mod docs;
pub mod hook;
pub mod install;
pub mod merge;
pub mod pre_commit;
pub mod pre_receive;
pub mod progress;
pub mod rules;
pub mod scan;

use std::io::{self, IsTerminal, Write};

use crate::cli::{ColorArg, Config};
use crate::error::{Error, Result};
use crate::policy::{Baseline, Verdict};
use crate::report::Style;
use crate::rules::Ruleset;
use crate::stats::Stats;

/// The most worker threads `--jobs` may ask for: each has a [`WORKER_STACK`] of address space
/// and its own caches, so a typo (100000) must be an error, not a machine brought to a halt.
pub const MAX_JOBS: usize = 256;

/// The stack of every thread that walks trees or delta chains: deep enough for the deepest
/// tree git accepts (`MAX_TREE_DEPTH` levels, one call each) even in a debug build, which needs
/// 16 MiB for 4,000 levels (the default 2 MiB overflowed at 1,000). Only the pages a walk
/// touches are ever committed.
pub const WORKER_STACK: usize = 32 << 20;

/// The stream a command speaks to a person on: a hook's standard error (the terminal of the
/// person whose commit or push is judged; git relays a server hook's as `remote:` lines), the
/// installer's standard output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// Writes text to a stream in one write, and flushes it. A failed write is ignored: the person
/// may be gone (a closed terminal), and what the command decided stands.
pub fn say(stream: Stream, text: &str) {
    fn put(mut out: impl Write, text: &str) {
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }
    match stream {
        Stream::Stdout => put(io::stdout().lock(), text),
        Stream::Stderr => put(io::stderr().lock(), text),
    }
}

/// Loads the rules in force for this run.
pub fn load_rules(config: &Config) -> Result<Ruleset> {
    crate::rules::load(config.config.as_deref())
}

/// Names a configuration error in a repository's own `.secretgate.toml` as that file's, so
/// that nobody looks for the mistake in the admin's `--config` (or the built-in rules).
pub fn repo_config_error(e: Error) -> Error {
    match e {
        Error::Config { origin, message } => Error::Config {
            origin: format!("the repository's own .secretgate.toml ({origin})"),
            message,
        },
        e => e,
    }
}

/// Checks, before any work, that `--output FILE` can be written: a typo in a folder name must
/// not cost a whole audit. A file that did not exist is removed again (it is created when the
/// report is written).
pub fn check_output(config: &Config) -> Result<()> {
    let Some(p) = &config.output else {
        return Ok(());
    };
    let existed = match std::fs::metadata(p) {
        Ok(m) if m.is_dir() => {
            return Err(Error::Usage(format!(
                "--output {}: is a folder, not a file",
                crate::escape::escape(p.as_os_str().as_encoded_bytes())
            )))
        }
        // A pipe or a device (`/dev/stdout`, a FIFO a reader waits on) is opened once, when
        // the report is written: opening it here would wait for a reader, or end its input.
        Ok(m) if !m.is_file() => return Ok(()),
        Ok(_) => true,
        Err(_) => std::fs::symlink_metadata(p).is_ok(),
    };
    let r = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(p);
    match r {
        Ok(_) => {
            if !existed {
                let _ = std::fs::remove_file(p);
            }
            Ok(())
        }
        Err(e) => Err(Error::Usage(format!(
            "--output {}: cannot be written ({})",
            crate::escape::escape(p.as_os_str().as_encoded_bytes()),
            io_reason(&e)
        ))),
    }
}

/// An I/O error's reason without the `(os error N)` suffix.
fn io_reason(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}

/// Loads `--baseline`, if given.
pub fn load_baseline(config: &Config) -> Result<Option<Baseline>> {
    config.baseline.as_deref().map(Baseline::load).transpose()
}

/// Where the report goes: `--output FILE` or stdout.
pub fn open_output(config: &Config) -> Result<Box<dyn Write>> {
    Ok(match &config.output {
        Some(p) => Box::new(io::BufWriter::new(std::fs::File::create(p).map_err(
            |e| Error::Io {
                path: p.clone(),
                source: e,
            },
        )?)),
        None => Box::new(io::BufWriter::new(io::stdout().lock())),
    })
}

/// Colour for the human report: on a terminal, unless `NO_COLOR` or `--output`.
pub fn style(config: &Config) -> Style {
    let color = match config.color {
        ColorArg::Always => true,
        ColorArg::Never => false,
        ColorArg::Auto => {
            config.output.is_none()
                && io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        }
    };
    Style {
        color,
        verbose: config.verbosity > 0,
    }
}

/// Runs `f` on a pool of `--jobs` threads.
pub fn with_pool<T: Send>(config: &Config, f: impl FnOnce() -> T + Send) -> Result<T> {
    let mut b = rayon::ThreadPoolBuilder::new().stack_size(WORKER_STACK);
    if let Some(n) = config.jobs {
        if n == 0 {
            return Err(Error::Usage("--jobs must be at least 1".into()));
        }
        b = b.num_threads(n);
    }
    let pool = b
        .build()
        .map_err(|e| Error::Usage(format!("cannot start worker threads: {e}")))?;
    Ok(pool.install(f))
}

/// Treats a closed pipe on stdout (`secretgate scan | head`) as success.
pub fn report_io(r: io::Result<()>, config: &Config) -> Result<()> {
    match r {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Error::Io {
            path: config.output.clone().unwrap_or_else(|| "<stdout>".into()),
            source: e,
        }),
    }
}

/// Writes the report of a verdict (to stdout or `--output`), with the verdict's counts.
pub fn write_verdict(
    config: &Config,
    verdict: &Verdict,
    rules: &Ruleset,
    summary: Stats,
) -> Result<()> {
    write_verdict_at(config, verdict, rules, summary, None)
}

/// [`write_verdict`], with the absolute folder the findings' paths are relative to.
pub fn write_verdict_at(
    config: &Config,
    verdict: &Verdict,
    rules: &Ruleset,
    mut summary: Stats,
    base: Option<&std::path::Path>,
) -> Result<()> {
    summary.blocking = verdict.blocking.len();
    summary.warnings = verdict.warnings.len();
    summary.baselined = verdict.baselined;
    let mut out = open_output(config)?;
    let r = crate::report::write_with_base(
        config.format,
        &mut out,
        &verdict.all(),
        rules,
        &summary,
        style(config),
        base,
    )
    .and_then(|()| out.flush());
    report_io(r, config)
}
