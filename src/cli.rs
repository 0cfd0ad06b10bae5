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

/// Options every subcommand takes (before or after it).
#[derive(Debug, Args)]
struct Common {
    /// The rules and policy to use (default: the built-in rules.toml).
    #[arg(long, global = true, env = "SECRETGATE_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// More diagnostics on stderr (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Fewer diagnostics on stderr.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    quiet: u8,
}

/// The options of the commands that write a report of findings (each lists only these in its
/// `--help`, and no other command takes them).
#[derive(Debug, Args)]
struct ReportArgs {
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = FormatArg::Human)]
    format: FormatArg,
    /// Write the report to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// A JSON report of known findings: findings with the same fingerprint are not reported.
    #[arg(long, value_name = "FILE")]
    baseline: Option<PathBuf>,
    /// Worker threads (default: all cores).
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
}

/// Colour, for the commands whose human report is coloured.
#[derive(Debug, Args)]
struct ColorArgs {
    /// When to colour the human report.
    #[arg(long, value_enum, default_value_t = ColorArg::Auto)]
    color: ColorArg,
}

/// The formats `rules list` prints (a list of rules is not a SARIF log).
#[derive(Debug, Clone, Copy, ValueEnum)]
enum ListFormat {
    Human,
    Json,
    Jsonl,
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
    PreReceive {
        #[command(flatten)]
        report: ReportArgs,
    },
    /// Client hook: judge the staged change (or, from the pre-commit framework outside a
    /// commit, the files given or the range PRE_COMMIT_FROM_REF..PRE_COMMIT_TO_REF).
    PreCommit {
        /// Run as if started in DIR.
        #[arg(short = 'C', value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Files to judge whole (what the pre-commit framework passes); ignored while git is
        /// committing (GIT_INDEX_FILE set), where the staged added lines are judged.
        files: Vec<PathBuf>,
        #[command(flatten)]
        report: ReportArgs,
    },
    /// Scan every blob reachable from every ref, each once, attributed to where it came in.
    Audit {
        /// The repository (default: the current directory).
        #[arg(conflicts_with = "root")]
        repo: Option<PathBuf>,
        /// Only the commits `git rev-list REVSPEC` lists.
        #[arg(long, value_name = "REVSPEC")]
        range: Option<String>,
        /// Audit every git repository under DIR (bare or not), into one report.
        #[arg(long, value_name = "DIR")]
        root: Option<PathBuf>,
        /// With --root: only shard I of N (1-based), a partition stable as repositories come
        /// and go (by a hash of each one's path under the root).
        #[arg(long, value_name = "I/N", requires = "root")]
        shard: Option<String>,
        /// Keep what each blob's scan found in DIR (one file per repository), and read only
        /// the blobs not scanned before under the same rules and binary: a nightly re-audit
        /// reads what is new. Any other change of the rules starts the cache over.
        #[arg(long, value_name = "DIR")]
        cache: Option<PathBuf>,
        #[command(flatten)]
        report: ReportArgs,
        #[command(flatten)]
        color: ColorArgs,
    },
    /// Join reports (json, jsonl or sarif) into one, without duplicates.
    Merge {
        /// The reports, e.g. one per shard.
        #[arg(required = true, value_name = "REPORT")]
        reports: Vec<PathBuf>,
        #[command(flatten)]
        report: ReportArgs,
        #[command(flatten)]
        color: ColorArgs,
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
        #[command(flatten)]
        report: ReportArgs,
        #[command(flatten)]
        color: ColorArgs,
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
    /// Remove a hook `secretgate install` wrote (and put back the hook it chained).
    Uninstall {
        #[command(subcommand)]
        command: UninstallArgs,
    },
    /// Show the configuration in force: rules, policy, allow patterns, and where each came from.
    Config {
        #[command(subcommand)]
        command: ConfigArgs,
    },
    /// Print a completion script for a shell, e.g. `secretgate completions bash > secretgate.bash`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), e.g. `secretgate man > secretgate.1`.
    Man,
}

#[derive(Debug, Subcommand)]
enum ConfigArgs {
    /// Rules, policy and allow patterns in force here, each with its source.
    Show {
        /// Write it to FILE instead of stdout.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum UninstallArgs {
    /// Remove the pre-commit hook `install pre-commit` wrote; a hook it chained is put back.
    PreCommit {
        /// The repository (default: the current directory).
        #[arg(short = 'C', value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Remove the pre-receive hook `install pre-receive` wrote.
    PreReceive {
        /// The bare repository.
        #[arg(long, value_name = "BARE_REPO")]
        repo: PathBuf,
        /// Which server reads the hook.
        #[arg(long, value_enum, default_value_t = Flavor::Git)]
        flavor: Flavor,
    },
}

#[derive(Debug, Subcommand)]
enum RulesArgs {
    /// The rules in force.
    List {
        /// Output format on stdout.
        #[arg(long, value_enum, default_value_t = ListFormat::Human)]
        format: ListFormat,
        /// Write the list to FILE instead of stdout.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
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
    /// `audit [REPO] [--range REVSPEC]`, or `audit --root DIR [--shard I/N]`.
    Audit {
        /// The repository.
        repo: PathBuf,
        /// The revision range.
        range: Option<String>,
        /// `--root`: every repository under this folder.
        root: Option<PathBuf>,
        /// `--shard`, as given (checked when the audit starts).
        shard: Option<String>,
        /// `--cache`: where scan results are kept between audits.
        cache: Option<PathBuf>,
    },
    /// `merge REPORT...`.
    Merge {
        /// The reports.
        reports: Vec<PathBuf>,
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
    /// `uninstall pre-commit`.
    UninstallPreCommit {
        /// The repository.
        dir: Option<PathBuf>,
    },
    /// `uninstall pre-receive`.
    UninstallPreReceive {
        /// The bare repository.
        repo: PathBuf,
        /// The server software.
        flavor: Flavor,
    },
    /// `config show`.
    ConfigShow,
    /// `completions SHELL`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// `man`.
    Man,
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

/// The report options of a command that takes none.
fn no_report() -> ReportArgs {
    ReportArgs {
        format: FormatArg::Human,
        output: None,
        baseline: None,
        jobs: None,
    }
}

impl Cli {
    /// Turns parsed arguments into a [`Config`].
    pub fn into_config(self) -> Config {
        let c = self.common;
        let (command, report, color) = self.command.split();
        Config {
            command,
            config: c.config,
            format: match report.format {
                FormatArg::Human => Format::Human,
                FormatArg::Json => Format::Json,
                FormatArg::Jsonl => Format::Jsonl,
                FormatArg::Sarif => Format::Sarif,
            },
            output: report.output,
            baseline: report.baseline,
            jobs: report.jobs,
            verbosity: (c.verbose.min(3) as i8) - (c.quiet.min(3) as i8),
            color,
        }
    }
}

impl CommandArgs {
    /// The command, its report options, and its colour option (where it has one).
    fn split(self) -> (Command, ReportArgs, ColorArg) {
        match self {
            CommandArgs::PreReceive { report } => (Command::PreReceive, report, ColorArg::Auto),
            CommandArgs::PreCommit { dir, files, report } => {
                (Command::PreCommit { dir, files }, report, ColorArg::Auto)
            }
            CommandArgs::Audit {
                repo,
                range,
                root,
                shard,
                cache,
                report,
                color: k,
            } => (
                Command::Audit {
                    repo: repo.unwrap_or_else(|| PathBuf::from(".")),
                    range,
                    root,
                    shard,
                    cache,
                },
                report,
                k.color,
            ),
            CommandArgs::Merge {
                reports,
                report,
                color: k,
            } => (Command::Merge { reports }, report, k.color),
            CommandArgs::Scan {
                paths,
                stdin_filename,
                repo_config,
                report,
                color: k,
            } => (
                Command::Scan {
                    repo_config,
                    paths: if paths.is_empty() {
                        vec![PathBuf::from(".")]
                    } else {
                        paths
                    },
                    stdin_filename,
                },
                report,
                k.color,
            ),
            CommandArgs::Rules { command } => {
                let (command, report) = command.command();
                (command, report, ColorArg::Auto)
            }
            CommandArgs::Install { command } => (command.command(), no_report(), ColorArg::Auto),
            CommandArgs::Uninstall { command } => (command.command(), no_report(), ColorArg::Auto),
            CommandArgs::Config { command } => {
                let (command, report) = command.command();
                (command, report, ColorArg::Auto)
            }
            CommandArgs::Completions { shell } => {
                (Command::Completions { shell }, no_report(), ColorArg::Auto)
            }
            CommandArgs::Man => (Command::Man, no_report(), ColorArg::Auto),
        }
    }
}

impl RulesArgs {
    /// The command, and the report options of `rules list`.
    fn command(self) -> (Command, ReportArgs) {
        match self {
            RulesArgs::List { format, output } => (
                Command::RulesList,
                ReportArgs {
                    format: match format {
                        ListFormat::Human => FormatArg::Human,
                        ListFormat::Json => FormatArg::Json,
                        ListFormat::Jsonl => FormatArg::Jsonl,
                    },
                    output,
                    ..no_report()
                },
            ),
            RulesArgs::Check { file } => (Command::RulesCheck { file }, no_report()),
        }
    }
}

impl InstallArgs {
    /// The command.
    fn command(self) -> Command {
        match self {
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
        }
    }
}

impl UninstallArgs {
    /// The command.
    fn command(self) -> Command {
        match self {
            UninstallArgs::PreCommit { dir } => Command::UninstallPreCommit { dir },
            UninstallArgs::PreReceive { repo, flavor } => {
                Command::UninstallPreReceive { repo, flavor }
            }
        }
    }
}

impl ConfigArgs {
    /// The command, and the output of `config show`.
    fn command(self) -> (Command, ReportArgs) {
        match self {
            ConfigArgs::Show { output } => (
                Command::ConfigShow,
                ReportArgs {
                    output,
                    ..no_report()
                },
            ),
        }
    }
}
