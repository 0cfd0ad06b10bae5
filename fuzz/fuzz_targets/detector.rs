//! Fuzz target `detector`: see `checks::detector` for what it feeds and what must hold.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::detector(data));
