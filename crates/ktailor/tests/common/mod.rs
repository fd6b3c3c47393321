//! Helpers the CLI's end-to-end tests share: run the built `ktailor` and
//! read its JSON. What other crates' tests share too (trees, locked build
//! directories, QEMU processes left behind, SSH keys) is in ktestkit.

#![allow(dead_code)]

use std::process::{Command, Output};

/// Runs the `ktailor` this test binary was built with, as a user would:
/// not a sub-make of cargo, no standard input.
pub fn ktailor(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ktailor"))
        .args(args)
        .env_remove("MAKEFLAGS")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("ktailor runs")
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Standard output as JSON, or a panic showing both streams.
pub fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}); stdout:\n{}\nstderr:\n{}",
            text(&o.stdout),
            text(&o.stderr)
        )
    })
}
