//! The `secretgate` binary: parses the command line, starts diagnostics on stderr, runs the
//! command and turns the outcome into the contract's exit code.

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

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
        .with_target(false)
        .without_time()
        .try_init();
}

/// The error as one line with no control character: a path or a ref named by a pusher (or a
/// file name on disk) must not drive the terminal or reorder the line (bidirectional controls,
/// line separators), and one error is one line.
fn printable(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for c in message.chars() {
        if c.is_control() || secretgate::finding::is_bidi_or_separator(c) {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("\\x{b:02x}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn main() -> ExitCode {
    let cli = match secretgate::cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let config = cli.into_config();
    init_tracing(config.verbosity);
    match secretgate::run(&config) {
        Ok(exit) => ExitCode::from(exit as u8),
        Err(e) => {
            let err = anyhow::Error::new(e);
            eprintln!("secretgate: error: {}", printable(&format!("{err:#}")));
            let code = err
                .downcast_ref::<secretgate::Error>()
                .map(|e| e.exit_code())
                .unwrap_or(3);
            ExitCode::from(code)
        }
    }
}
