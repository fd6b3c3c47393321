//! `ktailor boot`: boot a target's kernel in QEMU with ktailor's userspace
//! and report, probe by probe, what works.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use kpipeline::boot::{self, BootRequest};
use serde::Serialize;

use crate::args::{MakeArgs, VmArgs, WhatArgs};
use crate::ui::Ui;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    what: WhatArgs,
    #[command(flatten)]
    make: MakeArgs,
    #[command(flatten)]
    vm: VmArgs,
    /// Boot this kernel image instead of building the target's (its .config
    /// is looked for beside it and in the directories above).
    #[arg(long)]
    kernel_image: Option<PathBuf>,
    /// What runs in the guest: none, hello, probe or busybox (default: the target's).
    #[arg(long)]
    userspace: Option<String>,
    /// Probes to require instead of the features' (comma-separated).
    #[arg(long, value_delimiter = ',')]
    probes: Option<Vec<String>>,
    /// An initramfs to use instead of ktailor's.
    #[arg(long)]
    initrd: Option<PathBuf>,
    /// A host file to put into ktailor's initramfs, as HOST[:GUEST] (GUEST
    /// defaults to /NAME; mode comes from the host file); repeatable.
    #[arg(long, value_name = "HOST[:GUEST]")]
    add_file: Vec<String>,
    /// A disk image for the machine's disk slots, in order; repeatable.
    #[arg(long)]
    disk: Vec<PathBuf>,
    /// Extra kernel parameters; repeatable.
    #[arg(long)]
    append: Vec<String>,
    /// Where the initramfs, disks and serial log go (default: beside the build).
    #[arg(long)]
    workdir: Option<PathBuf>,
    /// Say what would boot (kernel, machine, command line, required probes)
    /// without building or booting.
    #[arg(long)]
    dry_run: bool,
    /// Print every console line as it arrives.
    #[arg(long, short)]
    verbose: bool,
    /// Print a JSON report on standard output.
    #[arg(long)]
    json: bool,
}

/// What `--dry-run` reports.
#[derive(Serialize)]
struct DryRun {
    name: String,
    kernel: PathBuf,
    machine: String,
    userspace: String,
    /// Kernel parameters from the features, the target and --append.
    cmdline: Vec<String>,
    filesystems: Vec<String>,
    /// Probes the boot would require.
    probes: Vec<String>,
}

impl Args {
    fn request(&self) -> BootRequest {
        BootRequest {
            what: self.what.what(),
            out: self.make.out.clone(),
            jobs: self.make.jobs,
            vm: self.vm.options(),
            kernel_image: self.kernel_image.clone(),
            userspace: self.userspace.clone(),
            probes: self.probes.clone(),
            initrd: self.initrd.clone(),
            add_files: self.add_file.clone(),
            disks: self.disk.clone(),
            append: self.append.clone(),
            workdir: self.workdir.clone(),
        }
    }
}

pub fn run(a: Args) -> Result<ExitCode> {
    let ui = Ui::new(a.json, a.verbose);
    let ev = ui.ev();
    let req = a.request();
    if a.dry_run {
        let b = boot::booting(&req, &ev)?;
        let plan = boot::plan(&b, &req)?;
        let d = DryRun {
            name: b.name.clone(),
            kernel: b.image.clone(),
            machine: plan.machine.machine.to_string(),
            userspace: plan.userspace.as_str().to_string(),
            cmdline: plan.cmdline.clone(),
            filesystems: plan.filesystems.clone(),
            probes: plan.probes.clone(),
        };
        if a.json {
            println!("{}", serde_json::to_string_pretty(&d)?);
        } else {
            println!(
                "{} on the {} machine ({} userspace)",
                d.kernel.display(),
                d.machine,
                d.userspace
            );
            println!("command line: {}", d.cmdline.join(" "));
            println!("required probes: {}", d.probes.join(" "));
        }
        return Ok(ExitCode::SUCCESS);
    }
    if req.kernel_image.is_none() {
        if let Err(m) = kbuild::check_deps() {
            anyhow::bail!("{m}");
        }
    }
    let booted = boot::boot(&req, &ev)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&booted.report)?);
    } else {
        print!("{}", booted.report.render());
    }
    Ok(if booted.outcome.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
