//! Shared by the fuzz targets: an in-memory tree and a driver that pushes a
//! parsed database through the conf modes, so evaluation and .config
//! writing get fuzzed too, not just the parser.

#![allow(dead_code)]

use kconfig::testutil::MemHost;
use kconfig::{Db, Input, Mode, Run, RunOptions};

/// Inputs are capped so one execution stays well under libFuzzer's timeout
/// even when a macro or expression blows up quadratically (conf does too).
pub const MAX_INPUT: usize = 16 * 1024;

/// The environment a kernel tree's Kconfig expects, so real files used as
/// seeds get past their first `$(SRCARCH)` and `$(shell,...)` lines.
pub fn host() -> MemHost {
    MemHost::default()
        .env("ARCH", "x86_64")
        .env("SRCARCH", "x86")
        .env("KERNELVERSION", "6.12.0")
        .env("CC", "gcc")
        .env("LD", "ld")
        .shell("echo y", "y")
        .shell("echo n", "n")
}

/// Run the modes a user would run on `db` and feed one result back in.
/// Only panics and hangs are bugs here: arbitrary trees need not be
/// consistent.
pub fn exercise(db: &Db, seed: u32) {
    let opts = RunOptions {
        warn_unknown: true,
        ..Default::default()
    };
    let modes: [Run; 3] = [
        Mode::Allyesconfig.into(),
        Mode::Allmodconfig.into(),
        Mode::Randconfig.with_seed(seed),
    ];
    for mode in modes {
        let Ok(out) = db.clone().run_mode(mode, None, None, &opts) else {
            continue;
        };
        let input = Input {
            name: ".config",
            data: out.output.as_bytes(),
        };
        let _ = db
            .clone()
            .run_mode(Mode::Olddefconfig, Some(input), None, &opts);
        let _ = db
            .clone()
            .run_mode(Mode::Savedefconfig, Some(input), None, &opts);
    }
}
