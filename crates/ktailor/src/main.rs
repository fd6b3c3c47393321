//! `ktailor`: build the smallest Linux kernel that does the job, and prove it
//! by booting it. This file only parses the command line and dispatches.

mod args;
mod bench;
mod bench_image;
mod boot_cmd;
mod build_cmd;
mod config_cmd;
mod doctor_cmd;
mod explain_cmd;
mod image_cmd;
mod kconfig_cmd;
mod ladder_cmd;
mod minimize_cmd;
mod run_cmd;
mod ui;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "ktailor", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Compute a configuration exactly as the kernel's own `make <mode>` would.
    Kconfig(kconfig_cmd::Args),
    /// Build a configuration from a target, features and fragments: every
    /// requested value holds, dependencies are added with reasons.
    Config(config_cmd::Args),
    /// Why a symbol has its value, and what it would take to enable it.
    Explain(explain_cmd::Args),
    /// Build a target's kernel (or a .config) out of tree, incrementally.
    Build(build_cmd::Args),
    /// Boot a target's kernel in QEMU and check, probe by probe, what works.
    Boot(Box<boot_cmd::Args>),
    /// Replay the seed's milestones: build each step incrementally, boot it, check its probes.
    Ladder(ladder_cmd::Args),
    /// The smallest configuration that still passes a target's checks,
    /// every step built and booted; resumable from its journal.
    Minimize(Box<minimize_cmd::Args>),
    /// From a symptom (log, strace, lspci, a QEMU machine, a question) to the
    /// option that fixes it, answered from the kernel source.
    Doctor(Box<doctor_cmd::Args>),
    /// Build (or reuse from the cache) a Debian root file system tar with mmdebstrap.
    Rootfs(image_cmd::RootfsArgs),
    /// A UEFI disk image: the target's kernel on an ESP, a Debian root, an SSH key for `admin`.
    Image(Box<image_cmd::ImageArgs>),
    /// Boot a disk image on the EC2 simulator (UEFI, NVMe, IMDSv2) or QEMU and check it over SSH.
    Run(run_cmd::Args),
    /// The program QEMU runs for each guest connection to the simulated metadata service.
    #[command(hide = true)]
    ImdsRelay(run_cmd::RelayArgs),
    /// Measure ktailor against the kernel's own tools, in the same run.
    #[command(subcommand)]
    Bench(BenchCmd),
}

#[derive(Subcommand)]
enum BenchCmd {
    /// allnoconfig and olddefconfig: the tree's conf vs ktailor (cold and warm cache).
    Kconfig(bench::Args),
    /// Debian's cloud kernel + initramfs vs the ec2-nitro kernel: same rootfs, same EC2 simulator.
    Image(Box<bench_image::Args>),
}

fn main() -> ExitCode {
    // Like any Unix filter, stop quietly when the reader goes away
    // (`ktailor explain X | head`) instead of panicking on EPIPE.
    // SAFETY: called before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    // Kconfig evaluation recurses along dependency chains; real trees stay
    // shallow, but a hostile tree must not overflow the stack. Give the work
    // a thread with room to spare.
    let worker = std::thread::Builder::new()
        .name("ktailor".into())
        .stack_size(512 << 20)
        .spawn(move || run(cli));
    match worker.map(|h| h.join()) {
        Ok(Ok(code)) => code,
        _ => {
            eprintln!("ktailor: error: internal failure");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> ExitCode {
    let res = match cli.cmd {
        Cmd::Kconfig(a) => kconfig_cmd::run(a),
        Cmd::Config(a) => config_cmd::run(a),
        Cmd::Explain(a) => explain_cmd::run(a),
        Cmd::Build(a) => build_cmd::run(a),
        Cmd::Boot(a) => boot_cmd::run(*a),
        Cmd::Ladder(a) => ladder_cmd::run(a),
        Cmd::Minimize(a) => minimize_cmd::run(*a),
        Cmd::Doctor(a) => doctor_cmd::run(*a),
        Cmd::Rootfs(a) => image_cmd::rootfs(a),
        Cmd::Image(a) => image_cmd::image(*a),
        Cmd::Run(a) => run_cmd::run(a),
        Cmd::ImdsRelay(a) => run_cmd::relay(a),
        Cmd::Bench(BenchCmd::Kconfig(a)) => bench::run(a),
        Cmd::Bench(BenchCmd::Image(a)) => bench_image::run(*a),
    };
    match res {
        Ok(code) => code,
        // A request the user must change: said plainly, status 1.
        Err(e) if e.downcast_ref::<kpipeline::Refused>().is_some() => {
            let r = e
                .downcast_ref::<kpipeline::Refused>()
                .expect("checked above");
            if ui::JSON.load(std::sync::atomic::Ordering::Relaxed) {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&r.json()).unwrap_or_default()
                );
            }
            let context: Vec<String> = e.chain().map(|c| c.to_string()).collect();
            if context.len() > 1 {
                eprintln!("ktailor: {}", context.join(": "));
            } else {
                eprintln!("ktailor: {r}");
            }
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("ktailor: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
