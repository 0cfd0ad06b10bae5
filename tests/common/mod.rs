//! Helpers shared by the integration tests: running the binary, reading its reports, reading the
//! fixture's `EXPECTED` manifest and writing throwaway trees and rules files.

// Each test crate that includes this module uses only some of it.
#![allow(dead_code)]

use std::fmt;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

/// The Flask fixture tree, relative to the crate root.
pub const FIXTURE: &str = "tests/fixtures/flask";

/// The crate root (where `Cargo.toml` is).
pub fn crate_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `secretgate` binary, started in the crate root, with none of the variables that change
/// its behaviour inherited from the developer's shell, and a home folder of its own (in cargo's
/// temporary folder for tests), so the developer's git configuration is never read.
pub fn secretgate() -> Command {
    let mut cmd = Command::cargo_bin("secretgate").expect("the secretgate binary is built");
    let home = Path::new(env!("CARGO_TARGET_TMPDIR")).join(".home");
    std::fs::create_dir_all(home.join(".config")).expect("create the test home");
    cmd.current_dir(crate_root())
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("HOME", &home)
        .env_remove("SECRETGATE_CONFIG")
        .env_remove("SECRETGATE_LOG")
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR");
    cmd
}

/// What a run of the binary did.
#[derive(Debug, Clone)]
pub struct Run {
    /// What the run was, for messages.
    pub what: String,
    /// The exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output, lossily decoded.
    pub stdout: String,
    /// Standard error, lossily decoded.
    pub stderr: String,
}

impl fmt::Display for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "`{}` exited with {}", self.what, self.code)?;
        writeln!(f, "--- stdout ---\n{}", self.stdout)?;
        write!(f, "--- stderr ---\n{}", self.stderr)
    }
}

impl Run {
    /// Asserts the exit code, showing the whole run when it differs.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "unexpected exit code\n{self}");
        self
    }

    /// Standard output and standard error together, for "appears nowhere" checks.
    pub fn all_output(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    /// Standard output parsed as the JSON array `--format json` prints.
    #[track_caller]
    pub fn json(&self) -> Vec<Value> {
        match serde_json::from_str::<Value>(&self.stdout) {
            Ok(Value::Array(a)) => a,
            Ok(other) => panic!("stdout is JSON but not an array: {other}\n{self}"),
            Err(e) => panic!("stdout is not JSON: {e}\n{self}"),
        }
    }

    /// Standard output parsed as JSON lines (`--format jsonl`): one object per non-empty line.
    #[track_caller]
    pub fn jsonl(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .enumerate()
            .map(|(i, l)| match serde_json::from_str::<Value>(l) {
                Ok(v @ Value::Object(_)) => v,
                Ok(other) => panic!("jsonl line {} is not an object: {other}\n{self}", i + 1),
                Err(e) => panic!("jsonl line {} is not JSON: {e}\n{self}", i + 1),
            })
            .collect()
    }
}

/// Runs a prepared command and captures what it did.
#[track_caller]
pub fn run(cmd: &mut Command) -> Run {
    let what = format!("{:?}", cmd);
    let out = cmd.output().expect("the secretgate binary starts");
    Run {
        what,
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `secretgate ARGS...` in `dir` (the crate root when `None`).
#[track_caller]
pub fn run_in(dir: Option<&Path>, args: &[&str]) -> Run {
    let mut cmd = secretgate();
    if let Some(d) = dir {
        cmd.current_dir(d);
    }
    cmd.args(args);
    run(&mut cmd)
}

/// A finding reduced to what the `EXPECTED` manifest lists.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    /// Path relative to the fixture root.
    pub path: String,
    /// 1-based line.
    pub line: u64,
    /// Rule id.
    pub rule: String,
    /// `high`, `medium` or `low`.
    pub severity: String,
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}:{}",
            self.path, self.line, self.rule, self.severity
        )
    }
}

impl Key {
    /// The same place and rule, whatever the severity.
    pub fn place(&self) -> (&str, u64, &str) {
        (&self.path, self.line, &self.rule)
    }
}

/// Reads an `EXPECTED` manifest: `path:line:rule_id:severity` a line, `#` comments, blank lines.
/// It is a multiset, sorted: a key listed twice expects two findings (two values of one rule on
/// one line), so one finding where two are due is a failure, not a match.
pub fn read_expected(file: &Path) -> Result<Vec<Key>, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let mut keys = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |why: &str| format!("{}:{}: {why}: {raw:?}", file.display(), n + 1);
        // The path may not contain ':', the other three fields never do: split from the right.
        let mut parts = line.rsplitn(4, ':');
        let severity = parts.next().ok_or_else(|| bad("no severity"))?;
        let rule = parts.next().ok_or_else(|| bad("no rule id"))?;
        let number = parts.next().ok_or_else(|| bad("no line number"))?;
        let path = parts.next().ok_or_else(|| bad("no path"))?;
        if !matches!(severity, "high" | "medium" | "low") {
            return Err(bad("severity must be high, medium or low"));
        }
        let number: u64 = number
            .parse()
            .map_err(|_| bad("the line number is not a number"))?;
        if number == 0 || path.is_empty() || rule.is_empty() {
            return Err(bad("empty path or rule, or line 0"));
        }
        let key = Key {
            path: path.to_owned(),
            line: number,
            rule: rule.to_owned(),
            severity: severity.to_owned(),
        };
        keys.push(key);
    }
    keys.sort();
    Ok(keys)
}

/// The keys of `a` not matched one for one by keys of `b` (multiset difference): a key twice
/// in `a` and once in `b` is left once.
pub fn missing_from(a: &[Key], b: &[Key]) -> Vec<Key> {
    let mut left: std::collections::BTreeMap<&Key, usize> = std::collections::BTreeMap::new();
    for k in b {
        *left.entry(k).or_default() += 1;
    }
    let mut out = Vec::new();
    for k in a {
        match left.get_mut(k) {
            Some(n) if *n > 0 => *n -= 1,
            _ => out.push(k.clone()),
        }
    }
    out
}

/// A string field of a JSON finding ("" when absent).
pub fn field<'a>(finding: &'a Value, name: &str) -> &'a str {
    finding.get(name).and_then(Value::as_str).unwrap_or("")
}

/// Reduces JSON findings to keys, with `prefix` (the folder that was scanned, `/`-terminated)
/// taken off their paths. A path outside `prefix` is kept whole, so it shows as unexpected.
pub fn keys_of(findings: &[Value], prefix: &str) -> Vec<Key> {
    findings
        .iter()
        .map(|f| {
            let path = field(f, "path");
            let path = path.strip_prefix("./").unwrap_or(path);
            Key {
                path: path.strip_prefix(prefix).unwrap_or(path).to_owned(),
                line: f.get("line").and_then(Value::as_u64).unwrap_or(0),
                rule: field(f, "rule_id").to_owned(),
                severity: field(f, "severity").to_owned(),
            }
        })
        .collect()
}

/// Writes `text` to `dir/rel`, creating folders; returns the file's path.
pub fn write(dir: &Path, rel: &str, text: &str) -> PathBuf {
    let p = dir.join(rel);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).expect("create the folder");
    }
    std::fs::write(&p, text).expect("write the file");
    p
}

/// A fresh temporary folder.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("secretgate-test-")
        .tempdir()
        .expect("create a temporary folder")
}

/// A complete, valid rule (for rules files that break exactly one thing), with `id`.
pub fn valid_rule(id: &str) -> String {
    format!(
        r#"
[[rules]]
id = "{id}"
description = "Test token"
kind = "secret"
severity = "high"
keywords = ["tok_"]
regex = '''\btok_(?P<secret>[0-9a-f]{{16}})\b'''
remediation = "Load it from the environment."
examples = ["token = tok_0123456789abcdef"]
negative_examples = ["token = tok_nothex"]
"#
    )
}
