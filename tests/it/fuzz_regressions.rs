//! Every input that ever crashed a fuzz target (`fuzz/regressions/<target>/`), and the fuzz
//! seeds (`fuzz/seeds/<target>/`), run through the same checks as the fuzz targets on every
//! `cargo test`: a bug the fuzzer found stays fixed without cargo-fuzz.

use std::path::{Path, PathBuf};

fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(kind)
        .join(target);
    // A missing folder is a failure, not "nothing to check": a moved or renamed folder would
    // otherwise turn these tests into ones that cannot fail.
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(d) => d
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && !p.ends_with(".gitkeep"))
            .collect(),
        Err(e) => panic!("cannot read {}: {e}", dir.display()),
    };
    files.sort();
    files
}

fn run_all(kind: &str) -> usize {
    let mut n = 0;
    for (target, check) in crate::checks::TARGETS {
        for file in inputs(kind, target) {
            let data = std::fs::read(&file).unwrap();
            eprintln!("{target}: {}", file.display());
            check(&data);
            n += 1;
        }
    }
    n
}

#[test]
fn every_input_that_ever_crashed_a_fuzz_target_passes() {
    let n = run_all("regressions");
    eprintln!("{n} regression inputs");
    assert!(n > 0, "the regression inputs are where they should be");
}

#[test]
fn the_fuzz_seeds_pass() {
    assert!(run_all("seeds") > 0, "the seeds are where they should be");
}
