//! Arbitrary bytes as the `.config` of a fixed, well-formed tree, read by
//! olddefconfig and savedefconfig in both dialects.
//!
//! Besides "no panic", this checks what makes `make olddefconfig` safe to
//! repeat: whatever garbage came in, what we write reads back without a
//! single warning and is a fixpoint.
#![no_main]

#[path = "common.rs"]
mod common;

use kconfig::{parse, Db, Dialect, Input, Mode, Outcome, RunOptions};
use libfuzzer_sys::fuzz_target;

const FIXTURE: &str = include_str!("fixture.Kconfig");

fn parse_fixture(dialect: Dialect) -> Db {
    let host = common::host().file("Kconfig", FIXTURE);
    let (db, warnings) = parse(&host, "Kconfig", dialect).expect("fixture parses");
    assert!(warnings.is_empty(), "{warnings:?}");
    db
}

thread_local! {
    // Parsed once: only the .config changes between runs.
    static MODERN: Db = parse_fixture(Dialect::Modern);
    static LEGACY: Db = parse_fixture(Dialect::Legacy);
}

fn pristine(dialect: Dialect) -> Db {
    match dialect {
        Dialect::Modern => MODERN.with(Db::clone),
        Dialect::Legacy => LEGACY.with(Db::clone),
    }
}

fn run(dialect: Dialect, mode: Mode, data: &[u8]) -> Outcome {
    let opts = RunOptions {
        warn_unknown: true,
        ..Default::default()
    };
    let input = Input {
        name: ".config",
        data,
    };
    pristine(dialect)
        .run_mode(mode, Some(input), None, &opts)
        .expect("reading a .config never fails")
}

/// Our own output must read back silently and unchanged.
fn assert_fixpoint(dialect: Dialect, out: &Outcome) {
    let again = run(dialect, Mode::Olddefconfig, out.output.as_bytes());
    assert!(
        again.warnings.is_empty(),
        "{dialect:?}: our own output reads with warnings: {:?}\n{}",
        again.warnings,
        out.output
    );
    assert_eq!(out.output, again.output, "{dialect:?}: not a fixpoint");
}

fuzz_target!(|data: &[u8]| {
    if data.len() > common::MAX_INPUT {
        return;
    }
    for dialect in [Dialect::Modern, Dialect::Legacy] {
        let old = run(dialect, Mode::Olddefconfig, data);
        let _ = run(dialect, Mode::Savedefconfig, data);
        match dialect {
            Dialect::Modern => assert_fixpoint(dialect, &old),
            // 6.1's conf_read drops an out-of-range int/hex user value only
            // after every symbol was computed with it, so dependents such
            // as `if N > 50` keep the stale answer in the first write
            // (CONFIG_N=840 with `range 1 100` writes BIG=y next to N=10).
            // The real 6.1 conf does exactly that; one more round settles.
            Dialect::Legacy => {
                let settled = run(dialect, Mode::Olddefconfig, old.output.as_bytes());
                assert!(settled.warnings.is_empty(), "{:?}", settled.warnings);
                assert_fixpoint(dialect, &settled);
            }
        }
    }
});
