//! Compiles the built-in `rules.toml` into JSON at build time.
//!
//! Parsing the TOML is most of what a one-commit push or commit spends before it scans
//! anything: the TOML parser builds a table of every key before serde sees it. The same data as
//! JSON deserializes straight into the rules' syntax types, several times faster, so the binary
//! carries both: the JSON for start-up, the TOML for `secretgate rules check` and its error
//! positions. A rules.toml that does not parse fails the build.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=rules.toml");
    let text = std::fs::read_to_string("rules.toml").expect("rules.toml is readable");
    let value: toml::Value = match toml::from_str(&text) {
        Ok(v) => v,
        Err(e) => panic!("rules.toml does not parse: {e}"),
    };
    let json = serde_json::to_string(&value).expect("TOML values serialize to JSON");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("rules.json"), json).expect("OUT_DIR is writable");
}
