//! Fuzz target `rules_regex`: see `checks::rules_regex` for what it feeds and what must hold.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::rules_regex(data));
