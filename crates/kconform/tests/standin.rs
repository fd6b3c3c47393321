//! The harness against a stand-in ktailor that runs the kernel's own conf:
//! it must call everything identical, and everything different once the
//! stand-in corrupts its output. Needs the 6.12 tree (provisioned by
//! scripts/setup); without it the tests fail rather than skip. Real tier:
//! `scripts/test` runs them with `--include-ignored`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use kconform::{Config, Mode, Status, Suite};

fn standin() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/oracle-standin.sh")
}

fn config(ktailor: PathBuf) -> Config {
    let mut cfg = Config::new(Suite::Ci);
    cfg.kernels = vec!["6.12".to_string()];
    cfg.arches = vec!["x86_64".to_string()];
    cfg.modes = vec![Mode::Allnoconfig, Mode::Savedefconfig];
    cfg.ktailor = Some(ktailor);
    cfg.progress = false;
    if let Err(e) = kconform::plan(&cfg) {
        panic!("cannot plan the conformance cases (run scripts/setup): {e:#}");
    }
    cfg
}

#[test]
#[ignore = "real tier: needs a kernel tree (scripts/test runs it)"]
fn detects_identical_and_different_outputs() {
    let cfg = config(standin());
    let s = kconform::run(&cfg).unwrap();
    assert_eq!(s.results.len(), 2, "{}", s.text());
    assert!(
        s.results.iter().all(|r| r.status == Status::Identical),
        "{}",
        s.to_markdown()
    );
    assert!(s.passed());

    let dir = tempfile::tempdir().unwrap();
    let corrupt = dir.path().join("ktailor");
    std::fs::write(
        &corrupt,
        format!(
            "#!/bin/sh\nKCONFORM_STANDIN_CORRUPT=1 exec '{}' \"$@\"\n",
            standin().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&corrupt, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut cfg = cfg;
    cfg.ktailor = Some(corrupt);
    let s = kconform::run(&cfg).unwrap();
    assert_eq!(s.mismatches(), 2, "{}", s.text());
    assert!(!s.passed());
    let md = s.to_markdown();
    assert!(md.contains("+# corrupted by oracle-standin"), "{md}");
    assert!(s.to_json().unwrap().contains("\"status\": \"different\""));
}

#[test]
#[ignore = "real tier: needs a kernel tree (scripts/test runs it)"]
fn missing_ktailor_is_an_error_not_a_failure_per_case() {
    let cfg = config(PathBuf::from("/nonexistent/ktailor"));
    assert!(kconform::run(&cfg).is_err());
}
