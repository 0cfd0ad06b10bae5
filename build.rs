//! Turns the built-in `rules.toml`, with the files under `rules/` it includes, into one JSON
//! document at build time, and lists the included files for the binary.
//!
//! Every hook run starts by loading the built-in rules, and parsing several thousand lines of
//! TOML was the largest part of a one-commit push's start-up; the same data read as JSON costs a
//! fraction of it. The files stay TOML for the people who write rules; `secretgate rules check`
//! and a test still read the TOML itself, so the two forms cannot drift apart unnoticed.

use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=rules.toml");
    println!("cargo:rerun-if-changed=rules");
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"));
    let text =
        std::fs::read_to_string(manifest.join("rules.toml")).expect("rules.toml is readable");
    // A TOML error is reported with its position by the binary itself (`rules check`); here it
    // only must not stop the build, so the JSON is then left empty and the binary falls back to
    // the TOML.
    let table = text.parse::<toml::Table>().ok();
    let names: Vec<String> = table
        .as_ref()
        .and_then(|t| t.get("include"))
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    // The included files built into the binary: those that exist (a missing one is named by the
    // binary's own error).
    let mut list = String::from("&[\n");
    for name in &names {
        let path = manifest.join(name);
        if path.is_file() {
            list.push_str(&format!(
                "    ({name:?}, include_str!({:?})),\n",
                path.display().to_string()
            ));
        }
    }
    list.push(']');
    std::fs::write(out.join("builtin_includes.rs"), list).expect("OUT_DIR is writable");
    let json = table
        .and_then(|t| merged(t, &manifest))
        .map(|t| serde_json::to_string(&t).expect("TOML values are JSON values"))
        .unwrap_or_default();
    std::fs::write(out.join("builtin_rules.json"), json).expect("OUT_DIR is writable");
}

/// The table with the included files' rules appended in order, or `None` when one of them is
/// missing or does not parse.
fn merged(mut table: toml::Table, manifest: &Path) -> Option<toml::Table> {
    let names = match table.remove("include") {
        Some(toml::Value::Array(a)) => a,
        Some(_) => return None,
        None => Vec::new(),
    };
    let mut rules = match table.remove("rules") {
        Some(toml::Value::Array(a)) => a,
        Some(_) => return None,
        None => Vec::new(),
    };
    for name in names {
        let text = std::fs::read_to_string(manifest.join(name.as_str()?)).ok()?;
        let mut inc = text.parse::<toml::Table>().ok()?;
        match inc.remove("rules") {
            Some(toml::Value::Array(a)) => rules.extend(a),
            Some(_) => return None,
            None => {}
        }
    }
    table.insert("rules".into(), toml::Value::Array(rules));
    Some(table)
}
