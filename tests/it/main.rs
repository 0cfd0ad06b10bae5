//! The integration tests, in one binary (as ripgrep's are): each group is a module, so the suite
//! links the library and gix once instead of once per file. The heavy groups that measure
//! memory and time or push hundreds of megabytes (`tests/concurrency.rs`, `tests/hostile.rs`)
//! stay binaries of their own, run after this one, so that their measurements are not shared
//! with other tests' processes.
//!
//! Every test builds real repositories with the real `git` binary in a scrubbed sandbox
//! ([`gitutil::Sandbox`]) and runs the built `secretgate`.

#[path = "../../fuzz/checks.rs"]
mod checks;
#[path = "../common/mod.rs"]
mod common;
#[path = "../gitutil/mod.rs"]
mod gitutil;

mod audit;
mod audit_cache;
mod decoded;
mod forms;
mod fuzz_regressions;
mod hardening;
mod install;
mod keyless;
mod leaks;
mod org_audit;
mod pre_commit;
mod pre_receive;
mod properties;
mod rules_format;
mod scan;
mod severity;
mod transport;
mod trust;
