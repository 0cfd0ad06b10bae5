//! Fuzz target `hook_input`: see `checks::hook_input` for what it feeds and what must hold.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::hook_input(data));
