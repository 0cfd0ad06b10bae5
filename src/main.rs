//! The `secretgate` binary: parses the command line, starts diagnostics on stderr, runs the
//! command and turns the outcome into the contract's exit code.

use std::process::ExitCode;

use clap::Parser;
use secretgate::Exit;
use tracing_subscriber::fmt::format::{FmtSpan, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

/// Diagnostics in the one style every message of the binary has (`secretgate: error: ...`,
/// `secretgate: warning: ...`), not a logger's (`ERROR ...`): the person reading a hook's
/// output should not have to tell two formats apart.
struct OneStyle;

impl<S, N> FormatEvent<S, N> for OneStyle
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let level = match *event.metadata().level() {
            tracing::Level::ERROR => "error",
            tracing::Level::WARN => "warning",
            tracing::Level::INFO => "info",
            tracing::Level::DEBUG => "debug",
            tracing::Level::TRACE => "trace",
        };
        write!(writer, "secretgate: {level}: ")?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

fn init_tracing(verbosity: i8) {
    let level = match verbosity {
        i8::MIN..=-2 => "off",
        -1 => "error",
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_env("SECRETGATE_LOG")
        .unwrap_or_else(|_| EnvFilter::new(format!("secretgate={level}")));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .with_span_events(FmtSpan::NONE)
        .event_format(OneStyle)
        .try_init();
}

fn main() -> ExitCode {
    let cli = match secretgate::cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                Exit::Usage
            } else {
                Exit::Clean
            });
        }
    };
    let config = cli.into_config();
    init_tracing(config.verbosity);
    match secretgate::run(&config) {
        Ok(exit) => ExitCode::from(exit),
        Err(e) => {
            // The library's errors carry their context (and an I/O error its cause) in their
            // own text: printing the chain as well would say the cause twice.
            let code = e.exit_code();
            let err = anyhow::Error::new(e);
            eprintln!(
                "secretgate: error: {}",
                secretgate::escape::printable(&err.to_string())
            );
            ExitCode::from(code)
        }
    }
}
