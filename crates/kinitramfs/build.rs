//! Builds crates/kprobe as a fully static x86_64 executable and leaves it in
//! OUT_DIR for `include_bytes!`.
//!
//! A cargo dependency cannot do this: the probe needs its own target
//! (`--target x86_64-unknown-linux-gnu`, so `+crt-static` reaches the probe
//! but not build scripts), its own rustflags and its own profile settings,
//! none of which a dependency edge can carry. So this runs a nested cargo.
//!
//! Deadlock and interference: the nested cargo gets a target directory
//! inside OUT_DIR (the outer cargo holds the lock on its own), runs
//! `--offline` (the outer cargo already resolved and downloaded the
//! workspace, so the package cache is not needed for writing), joins the
//! outer jobserver through CARGO_MAKEFLAGS (so `-j` still bounds the whole
//! build), and sees none of the outer build's per-crate environment
//! (clippy's wrapper, RUSTFLAGS, CARGO_TARGET_DIR, build-script variables).
//!
//! `KTAILOR_PROBE_BIN=/path/to/ktailor-probe` skips the nested build and
//! embeds that file instead (for cross builds or a prebuilt probe).

use std::env;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{exit, Command};

const TARGET: &str = "x86_64-unknown-linux-gnu";

fn fail(msg: &str) -> ! {
    // Build scripts report errors through stderr and a non-zero exit.
    eprintln!("error: kinitramfs: {msg}");
    exit(1);
}

fn main() {
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").unwrap_or_else(|| fail("OUT_DIR not set")));
    let manifest_dir = PathBuf::from(
        env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| fail("CARGO_MANIFEST_DIR not set")),
    );
    // Lexical parents, not canonicalize: a workspace reached through a
    // symlink must stay that workspace.
    let root = manifest_dir
        .parent()
        .and_then(Path::parent)
        .unwrap_or_else(|| fail("kinitramfs is expected at <workspace>/crates/kinitramfs"))
        .to_path_buf();
    let dest = out_dir.join("ktailor-probe");

    println!("cargo:rerun-if-env-changed=KTAILOR_PROBE_BIN");
    if let Some(prebuilt) = env::var_os("KTAILOR_PROBE_BIN") {
        println!("cargo:rerun-if-changed={}", Path::new(&prebuilt).display());
        if let Err(e) = std::fs::copy(&prebuilt, &dest) {
            fail(&format!(
                "copying KTAILOR_PROBE_BIN={}: {e}",
                Path::new(&prebuilt).display()
            ));
        }
        return;
    }

    for p in [
        root.join("crates/kprobe/src"),
        root.join("crates/kprobe/Cargo.toml"),
        root.join("Cargo.toml"),
        root.join("Cargo.lock"),
    ] {
        println!("cargo:rerun-if-changed={}", p.display());
    }

    let target_dir = out_dir.join("probe-target");
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(&cargo);
    cmd.arg("build")
        .arg("--release")
        .arg("--offline")
        .args(["-p", "kprobe", "--bin", "ktailor-probe"])
        .args(["--target", TARGET])
        .arg("--manifest-path")
        .arg(root.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        .arg("--quiet");
    for (key, _) in env::vars_os() {
        if strip_var(&key) {
            cmd.env_remove(&key);
        }
    }
    // Static glibc; a plain (non-PIE) executable is the simplest thing for
    // the kernel's ELF loader and `file` calls it "statically linked".
    cmd.env(
        "CARGO_ENCODED_RUSTFLAGS",
        ["-Ctarget-feature=+crt-static", "-Crelocation-model=static"].join("\x1f"),
    );
    // Size matters (the image is copied into every VM's memory); the
    // workspace's release profile keeps debug info for profiling the host
    // tools, which the probe does not want. Unwinding stays on: the probe
    // turns a panicking probe into a failure line instead of killing init.
    for (k, v) in [
        ("CARGO_PROFILE_RELEASE_DEBUG", "false"),
        ("CARGO_PROFILE_RELEASE_STRIP", "symbols"),
        ("CARGO_PROFILE_RELEASE_OPT_LEVEL", "s"),
        ("CARGO_PROFILE_RELEASE_LTO", "true"),
        ("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "1"),
        ("CARGO_PROFILE_RELEASE_PANIC", "unwind"),
        ("CARGO_PROFILE_RELEASE_INCREMENTAL", "false"),
    ] {
        cmd.env(k, v);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| fail(&format!("running {}: {e}", Path::new(&cargo).display())));
    if !out.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&out.stderr));
        fail(&format!(
            "building the static probe failed ({}). It needs glibc's static \
             libraries (Debian: apt-get install libc6-dev) and the {TARGET} \
             standard library (rustup target add {TARGET}); or set \
             KTAILOR_PROBE_BIN to a prebuilt static ktailor-probe.",
            out.status
        ));
    }
    let built = target_dir
        .join(TARGET)
        .join("release")
        .join("ktailor-probe");
    if let Err(e) = std::fs::copy(&built, &dest) {
        fail(&format!("copying {}: {e}", built.display()));
    }
}

/// Whether an inherited variable belongs to the outer build and would
/// change or break the nested one.
fn strip_var(key: &OsStr) -> bool {
    let Some(k) = key.to_str() else { return false };
    const KEEP: &[&str] = &["CARGO_HOME", "CARGO_MAKEFLAGS"];
    const KEEP_PREFIXES: &[&str] = &[
        "CARGO_NET_",
        "CARGO_HTTP_",
        "CARGO_REGISTRIES_",
        "CARGO_REGISTRY_",
        "CARGO_TERM_",
    ];
    const DROP: &[&str] = &[
        "RUSTFLAGS",
        "RUSTDOCFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "CLIPPY_ARGS",
        "CLIPPY_CONF_DIR",
        "TARGET",
        "HOST",
        "OUT_DIR",
        "OPT_LEVEL",
        "PROFILE",
        "DEBUG",
        "NUM_JOBS",
        "RUSTC_LINKER",
    ];
    if KEEP.contains(&k) || KEEP_PREFIXES.iter().any(|p| k.starts_with(p)) {
        return false;
    }
    k.starts_with("CARGO_") || k.starts_with("__CARGO") || DROP.contains(&k)
}
