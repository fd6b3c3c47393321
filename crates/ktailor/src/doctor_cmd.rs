//! `ktailor doctor`: from what a failing boot shows (a serial log, an
//! strace, lspci output, probe results, a QEMU machine's PCI devices, or a
//! direct question) to the option that fixes it, answered from the kernel
//! source through kdoctor's index; `--apply` adds the answers to a config
//! through the solver. `--validate-build` checks the index itself against
//! a built kernel.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use kpipeline::doctor::{self, DoctorRequest};

use crate::args::TreeArgs;
use crate::ui::Ui;

#[derive(clap::Args)]
pub struct Args {
    /// Architecture (default: the --qemu-target's, else x86_64).
    #[arg(long)]
    arch: Option<String>,
    #[command(flatten)]
    tree: TreeArgs,
    /// The kernel's .config: says which suggestions already hold, and is
    /// what the solver (and --apply) adds to.
    #[arg(long)]
    config: Option<PathBuf>,
    /// A serial console log or dmesg output.
    #[arg(long)]
    log: Option<PathBuf>,
    /// `strace -f` output (ENOSYS, EAFNOSUPPORT, ENODEV results).
    #[arg(long)]
    strace: Option<PathBuf>,
    /// `lspci -n` or `lspci -nn` output.
    #[arg(long)]
    lspci: Option<PathBuf>,
    /// Start this catalog target's QEMU machine paused and ask QMP
    /// `query-pci` which PCI devices it has.
    #[arg(long, value_name = "TARGET")]
    qemu_target: Option<String>,
    /// The QEMU binary for --qemu-target.
    #[arg(long, default_value = "qemu-system-x86_64")]
    qemu: PathBuf,
    /// Probe results (`KTAILOR-PROBE {...}` lines) from a boot.
    #[arg(long)]
    probes: Option<PathBuf>,
    /// A syscall that returns ENOSYS (repeatable).
    #[arg(long, value_name = "NAME")]
    syscall: Vec<String>,
    /// An address family that is not supported, e.g. AF_UNIX (repeatable).
    #[arg(long, value_name = "AF_X")]
    af: Vec<String>,
    /// A file system type that cannot be mounted, e.g. devpts (repeatable).
    #[arg(long, value_name = "NAME")]
    fs: Vec<String>,
    /// A PCI device: vendor:device in hex, optionally with the class code
    /// (24-bit, or base+sub as `lspci -n` prints it) (repeatable).
    #[arg(long, value_name = "VVVV:DDDD[:CLASS]")]
    pci: Vec<String>,
    /// The init program (or `script`, `elf64`, `elf32`): decides between
    /// BINFMT_SCRIPT, BINFMT_ELF and 64BIT for exec errors.
    #[arg(long, value_name = "FILE")]
    init: Option<String>,
    /// Add the suggestions to --config through the solver and write the
    /// result (to --out, else back to --config, atomically).
    #[arg(long)]
    apply: bool,
    /// With --apply: only suggestions scoring at least this (0-100).
    #[arg(long, default_value_t = 50)]
    min_score: u32,
    /// With --apply: where to write the configuration.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Check the index against a built kernel: a directory with .config and
    /// System.map (kernel/sys_ni.o too, for the address check). Exits 1 on
    /// a mismatch.
    #[arg(long, value_name = "DIR")]
    validate_build: Option<PathBuf>,
    /// Check the index against Debian's build of the same kernel version
    /// (fetched into the cache with apt-get download, never installed).
    #[arg(long)]
    validate_debian: bool,
    /// Print a JSON report.
    #[arg(long)]
    json: bool,
}

impl Args {
    fn request(&self) -> DoctorRequest {
        DoctorRequest {
            arch: self.arch.clone(),
            tree: self.tree.spec(),
            config: self.config.clone(),
            log: self.log.clone(),
            strace: self.strace.clone(),
            lspci: self.lspci.clone(),
            qemu_target: self.qemu_target.clone(),
            qemu: self.qemu.clone(),
            probes: self.probes.clone(),
            syscall: self.syscall.clone(),
            af: self.af.clone(),
            fs: self.fs.clone(),
            pci: self.pci.clone(),
            init: self.init.clone(),
            apply: self.apply,
            min_score: self.min_score,
            out: self.out.clone(),
            validate_build: self.validate_build.clone(),
            validate_debian: self.validate_debian,
        }
    }
}

pub fn run(a: Args) -> Result<ExitCode> {
    let ui = Ui::new(a.json, false);
    let r = doctor::diagnose(&a.request(), &ui.ev())?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        print!("{}", r.render());
    }
    Ok(if r.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
