//! The command line, as the contract (INTERFACE.md) describes it.
//!
//! clap stays in this module: arguments become a plain [`Config`], so the rest of the crate can
//! be driven by tests and other programs without building argument vectors.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::report::Format;

/// Stops secrets and unsafe Flask configuration from entering git repositories.
#[derive(Debug, Parser)]
#[command(name = "secretgate", version, about, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    command: CommandArgs,
    #[command(flatten)]
    common: Common,
}

/// Options accepted after any subcommand.
#[derive(Debug, Args)]
struct Common {
    /// The rules and policy to use (default: the built-in rules.toml).
    #[arg(long, global = true, env = "SECRETGATE_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Output format on stdout.
    #[arg(long, global = true, value_enum, default_value_t = FormatArg::Human)]
    format: FormatArg,
    /// Write the report to FILE instead of stdout.
    #[arg(long, global = true, value_name = "FILE")]
    output: Option<PathBuf>,
    /// A JSON report of known findings: findings with the same fingerprint are not reported.
    #[arg(long, global = true, value_name = "FILE")]
    baseline: Option<PathBuf>,
    /// Worker threads (default: all cores).
    #[arg(long, global = true, value_name = "N")]
    jobs: Option<usize>,
    /// More diagnostics on stderr (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Fewer diagnostics on stderr.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    quiet: u8,
    /// When to colour the human report.
    #[arg(long, global = true, value_enum, default_value_t = ColorArg::Auto)]
    color: ColorArg,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FormatArg {
    Human,
    Json,
    Jsonl,
    Sarif,
}

/// When to use colour.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq, Default)]
pub enum ColorArg {
    /// On a terminal, unless `NO_COLOR` is set.
    #[default]
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

#[derive(Debug, Subcommand)]
enum CommandArgs {
    /// Server hook: judge the ref updates on stdin (`<old> <new> <ref>` lines).
    PreReceive,
    /// Client hook: judge the staged change (or, from the pre-commit framework outside a
    /// commit, the files given or the range PRE_COMMIT_FROM_REF..PRE_COMMIT_TO_REF).
    PreCommit {
        /// Run as if started in DIR.
        #[arg(short = 'C', value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Files to judge whole (what the pre-commit framework passes); ignored while git is
        /// committing (GIT_INDEX_FILE set), where the staged added lines are judged.
        files: Vec<PathBuf>,
    },
    /// Scan every blob reachable from every ref, each once, attributed to where it came in.
    Audit {
        /// The repository (default: the current directory).
        repo: Option<PathBuf>,
        /// Only the commits `git rev-list REVSPEC` lists.
        #[arg(long, value_name = "REVSPEC")]
        range: Option<String>,
    },
    /// Scan files and folders on disk; `-` reads stdin.
    Scan {
        /// Files and folders (default: the current directory).
        paths: Vec<PathBuf>,
        /// The path that rules see for standard input.
        #[arg(long, value_name = "PATH")]
        stdin_filename: Option<String>,
        /// Apply the allow patterns of a scanned folder's own `.secretgate.toml` (off by
        /// default: a tree being scanned could otherwise silence its own scan).
        #[arg(long)]
        repo_config: bool,
    },
    /// List or check rules.
    Rules {
        #[command(subcommand)]
        command: RulesArgs,
    },
    /// Install a hook that calls this binary.
    Install {
        #[command(subcommand)]
        command: InstallArgs,
    },
}

#[derive(Debug, Subcommand)]
enum RulesArgs {
    /// The rules in force.
    List,
    /// Validate a rules file and run every rule's examples.
    Check {
        /// The file (default: --config when given, else the built-in rules.toml).
        file: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum InstallArgs {
    /// Write .git/hooks/pre-commit (respecting core.hooksPath).
    PreCommit {
        /// The repository (default: the current directory).
        #[arg(short = 'C', value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Write the pre-receive hook of a bare repository on a server.
    PreReceive {
        /// The bare repository.
        #[arg(long, value_name = "BARE_REPO", required_unless_present = "tarball")]
        repo: Option<PathBuf>,
        /// Which server reads the hook.
        #[arg(long, value_enum, default_value_t = Flavor::Git)]
        flavor: Flavor,
        /// GitLab: write a tarball for `gitaly hooks set` (its root holds
        /// custom_hooks/pre-receive.d/secretgate) instead of writing into a repository.
        #[arg(long, value_name = "FILE")]
        tarball: Option<PathBuf>,
    },
}

/// Which server software runs the pre-receive hook.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Flavor {
    /// Plain git: `hooks/pre-receive`.
    Git,
    /// GitLab server hooks: `custom_hooks/pre-receive.d/`.
    Gitlab,
    /// Gitea: `hooks/pre-receive.d/`.
    Gitea,
}

/// What to do.
#[derive(Debug, Clone)]
pub enum Command {
    /// `pre-receive`.
    PreReceive,
    /// `pre-commit [-C DIR] [FILE...]`.
    PreCommit {
        /// Where to run.
        dir: Option<PathBuf>,
        /// Files named by the pre-commit framework.
        files: Vec<PathBuf>,
    },
    /// `audit [REPO] [--range REVSPEC]`.
    Audit {
        /// The repository.
        repo: PathBuf,
        /// The revision range.
        range: Option<String>,
    },
    /// `scan [PATH...]`.
    Scan {
        /// What to scan.
        paths: Vec<PathBuf>,
        /// The path rules see for stdin.
        stdin_filename: Option<String>,
        /// `--repo-config`: trust a scanned folder's own `.secretgate.toml`.
        repo_config: bool,
    },
    /// `rules list`.
    RulesList,
    /// `rules check [FILE]`.
    RulesCheck {
        /// The file to check.
        file: Option<PathBuf>,
    },
    /// `install pre-commit`.
    InstallPreCommit {
        /// The repository.
        dir: Option<PathBuf>,
    },
    /// `install pre-receive`.
    InstallPreReceive {
        /// The bare repository (absent when only a tarball is written).
        repo: Option<PathBuf>,
        /// The server software.
        flavor: Flavor,
        /// `--tarball FILE` (GitLab): the hook as a tarball for `gitaly hooks set`.
        tarball: Option<PathBuf>,
    },
}

/// Everything a run needs, free of clap.
#[derive(Debug, Clone)]
pub struct Config {
    /// What to do.
    pub command: Command,
    /// `--config`.
    pub config: Option<PathBuf>,
    /// `--format`.
    pub format: Format,
    /// `--output`.
    pub output: Option<PathBuf>,
    /// `--baseline`.
    pub baseline: Option<PathBuf>,
    /// `--jobs`.
    pub jobs: Option<usize>,
    /// `-v` count minus `-q` count.
    pub verbosity: i8,
    /// `--color`.
    pub color: ColorArg,
}

impl Cli {
    /// Turns parsed arguments into a [`Config`].
    pub fn into_config(self) -> Config {
        let c = self.common;
        let command = match self.command {
            CommandArgs::PreReceive => Command::PreReceive,
            CommandArgs::PreCommit { dir, files } => Command::PreCommit { dir, files },
            CommandArgs::Audit { repo, range } => Command::Audit {
                repo: repo.unwrap_or_else(|| PathBuf::from(".")),
                range,
            },
            CommandArgs::Scan {
                paths,
                stdin_filename,
                repo_config,
            } => Command::Scan {
                repo_config,
                paths: if paths.is_empty() {
                    vec![PathBuf::from(".")]
                } else {
                    paths
                },
                stdin_filename,
            },
            CommandArgs::Rules { command } => match command {
                RulesArgs::List => Command::RulesList,
                RulesArgs::Check { file } => Command::RulesCheck { file },
            },
            CommandArgs::Install { command } => match command {
                InstallArgs::PreCommit { dir } => Command::InstallPreCommit { dir },
                InstallArgs::PreReceive {
                    repo,
                    flavor,
                    tarball,
                } => Command::InstallPreReceive {
                    repo,
                    flavor,
                    tarball,
                },
            },
        };
        Config {
            command,
            config: c.config,
            format: match c.format {
                FormatArg::Human => Format::Human,
                FormatArg::Json => Format::Json,
                FormatArg::Jsonl => Format::Jsonl,
                FormatArg::Sarif => Format::Sarif,
            },
            output: c.output,
            baseline: c.baseline,
            jobs: c.jobs,
            verbosity: (c.verbose.min(3) as i8) - (c.quiet.min(3) as i8),
            color: c.color,
        }
    }
}
