//! Turns the built-in `rules.toml` into JSON at build time.
//!
//! Every hook run starts by loading the built-in rules, and parsing several thousand lines of
//! TOML was the largest part of a one-commit push's start-up; the same data read as JSON costs a
//! fraction of it. The file stays TOML for the people who write rules; `secretgate rules check`
//! and a test still read the TOML itself, so the two forms cannot drift apart unnoticed.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=rules.toml");
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"));
    let text =
        std::fs::read_to_string(manifest.join("rules.toml")).expect("rules.toml is readable");
    // A TOML error is reported with its position by the binary itself (`rules check`); here it
    // only must not stop the build, so the JSON is then left empty and the binary falls back to
    // the TOML.
    let json = match text.parse::<toml::Table>() {
        Ok(table) => serde_json::to_string(&table).expect("TOML values are JSON values"),
        Err(_) => String::new(),
    };
    std::fs::write(out.join("builtin_rules.json"), json).expect("OUT_DIR is writable");
}
