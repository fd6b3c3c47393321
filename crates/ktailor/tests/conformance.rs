//! Byte-for-byte conformance of `ktailor kconfig` with the kernel's own
//! scripts/kconfig/conf, on kconform's `ci` suite (Linux 6.12 broadly, 6.1 as
//! a smoke test).
//!
//! The kernel trees must already be extracted in the ktailor cache. Oracle
//! outputs are cached under `<cache>/conform/`, so only the first run pays
//! for the kernel's own conf (about 1.5 minutes on 2 cores). Real tier:
//! `scripts/test` runs it with `--include-ignored`.

use std::path::PathBuf;

#[test]
#[ignore = "real tier: needs the kernel trees and make (scripts/test runs it)"]
fn ci_suite_is_byte_identical_to_kernel_conf() {
    let mut cfg = kconform::Config::new(kconform::Suite::Ci);
    cfg.ktailor = Some(PathBuf::from(env!("CARGO_BIN_EXE_ktailor")));
    let summary = kconform::run(&cfg).expect("the conformance harness could not run");

    let report = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("conformance.md");
    match std::fs::write(&report, summary.to_markdown()) {
        Ok(()) => println!("report: {}", report.display()),
        Err(e) => println!("could not write {}: {e}", report.display()),
    }
    println!("{}", summary.text());

    let bad: Vec<String> = summary
        .results
        .iter()
        .filter(|r| {
            matches!(
                r.status,
                kconform::Status::Different | kconform::Status::KtailorFailed
            )
        })
        .take(30)
        .map(|r| format!("{} {}: {}", r.tree, r.case, r.status.name()))
        .collect();
    assert_eq!(
        summary.mismatches(),
        0,
        "outputs differ from the kernel's conf (details in {}):\n{}",
        report.display(),
        bad.join("\n")
    );
    assert_eq!(
        summary.ktailor_failures(),
        0,
        "ktailor failed (details in {}):\n{}",
        report.display(),
        bad.join("\n")
    );
}
