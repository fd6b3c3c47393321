//! ktailor's in-guest probe program.
//!
//! It runs as `/init` of a freshly built kernel (or under busybox's init),
//! checks one kernel feature per probe, prints one JSON line per probe on the
//! console, and ends the virtual machine. The host side reads the console and
//! maps failures back to the Kconfig options that would fix them; that is why
//! a missing feature is reported, never fatal.
//!
//! Configuration comes from the environment, which the kernel fills from
//! unknown `key=value` boot parameters: `KTPROBES` (comma list or `all`),
//! `KTDISK`, `KTIP`, `KTPORT`, `KTFS`, `KTNIC`, `KTPOWEROFF`, plus `KTSCRIPT`
//! (the `#!` script the `script` probe runs, default `/ktailor-script`)
//! and `KTTIMEOUT` (seconds `tcp-listen` waits, default 30).
//!
//! Safety on a developer's machine: only a *guest* (PID 1, or `/` being an
//! initramfs's ramfs/tmpfs) mounts, mounts disks, touches network interfaces,
//! waits for TCP connections or reboots. Anywhere else those probes report
//! `skip`, so running the binary on a host is harmless.

pub mod config;
pub mod json;
pub mod mounts;
pub mod net;
pub mod output;
pub mod probes;
pub mod protocol;
pub mod sys;

use std::panic::{catch_unwind, AssertUnwindSafe};

use config::{Config, ALL_PROBES};
use output::{Outcome, Reporter};
use probes::Ctx;

/// argv[1] that makes the program exit 43 at once: the `elf64` probe's child.
pub const ELF_CHILD_ARG: &str = "--elf-child";
/// argv[1] the kernel passes when it runs `/ktailor-script`
/// (`#!/init --script-child`): the `script` probe's child exits 42.
pub const SCRIPT_CHILD_ARG: &str = "--script-child";
pub const ELF_CHILD_EXIT: i32 = 43;
pub const SCRIPT_CHILD_EXIT: i32 = 42;

/// Runs a probe; a panic (a bug, never a missing feature) becomes a failure
/// so that init still reaches the end and reboots instead of panicking the
/// kernel with "Attempted to kill init".
fn guarded(f: impl FnOnce() -> Outcome) -> Outcome {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|p| {
        let msg = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        Outcome::fail(format!("probe panicked: {msg}"))
    })
}

/// The whole program after argv dispatch; returns the exit code (when it
/// returns at all: as PID 1 it reboots).
pub fn run(args: &[String]) -> i32 {
    let pid = sys::getpid();
    let cfg = Config::from_env();
    let root = sys::fs_magic("/")
        .map(sys::magic_name)
        .unwrap_or_else(|e| e.to_string());
    let guest = pid == 1 || sys::is_initramfs_root("/");
    let where_ = format!("pid {pid}, / is {root}");
    let (release, machine) = sys::uname();
    output::line(&format!(
        "ktailor-probe {}: Linux {release} {machine}, {where_}, {} mode, {} probes",
        env!("CARGO_PKG_VERSION"),
        if guest { "guest" } else { "host" },
        cfg.probes.len() + cfg.unknown.len()
    ));
    let ctx = Ctx {
        cfg,
        pid,
        guest,
        where_,
        argv0: args.first().cloned().unwrap_or_else(|| "/init".into()),
    };
    let mut rep = Reporter::default();
    for &name in ALL_PROBES {
        if let Some(spec) = mounts::MOUNTS.iter().find(|m| m.probe == name) {
            // A guest mounts everything: later probes need /proc and /sys
            // even when only they were asked for.
            if !(guest || ctx.cfg.wants(name)) {
                continue;
            }
            let o = guarded(|| mounts::mount_probe(spec, &ctx));
            if name == "devtmpfs" && pid == 1 {
                mounts::reopen_console_if_lost();
            }
            if ctx.cfg.wants(name) {
                rep.report(name, &o);
            }
            continue;
        }
        if ctx.cfg.wants(name) {
            let o = guarded(|| probes::run(name, &ctx));
            rep.report(name, &o);
        }
    }
    for name in &ctx.cfg.unknown {
        rep.report(
            name,
            &Outcome::fail("unknown probe name (the vocabulary is data/probes.toml)"),
        );
    }
    rep.done();
    finish(&ctx)
}

/// Ends the machine when we own it. `RB_AUTOBOOT` rather than power-off:
/// QEMU runs with `-no-reboot`, which turns a reset into an exit, and reset
/// works without ACPI, which a minimal kernel does not have.
fn finish(ctx: &Ctx) -> i32 {
    let owns_machine = ctx.pid == 1 || (ctx.cfg.poweroff && ctx.guest);
    if !owns_machine {
        if ctx.cfg.poweroff {
            output::line(&format!(
                "ktailor-probe: KTPOWEROFF ignored: not in a guest ({})",
                ctx.where_
            ));
        }
        return 0;
    }
    output::line("ktailor-probe: done; rebooting (QEMU -no-reboot exits here)");
    // SAFETY: sync and reboot take no pointers.
    unsafe {
        libc::sync();
        libc::reboot(libc::RB_AUTOBOOT);
    }
    output::line(&format!(
        "ktailor-probe: {}",
        sys::SysError::last("reboot(RB_AUTOBOOT)")
    ));
    if ctx.pid == 1 {
        // Returning would panic the kernel ("Attempted to kill init"),
        // which hides the output we just printed behind a stack trace.
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
    1
}
