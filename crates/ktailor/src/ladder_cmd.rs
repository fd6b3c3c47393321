//! `ktailor ladder`: the seed's milestones (data/ladder.toml), built in one
//! directory one after another so every step is an incremental build of the
//! last, each booted and checked by its probes and every earlier step's; the
//! disk steps at the end boot a Debian image and check it over SSH.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Result};
use kpipeline::fmt::secs;
use kpipeline::ladder::{self, report, LadderRequest};

use crate::args::{command_line, relay_command, BaseArg, InitArg, TreeArgs, VmArgs};
use crate::ui::Ui;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    tree: TreeArgs,
    /// Architecture; the ladder's machines are x86 QEMU boards.
    #[arg(long, default_value = "x86_64")]
    arch: String,
    /// Start from tinyconfig (default: EXPERT=y, so FUTEX, EPOLL and the
    /// like start off as in the seed) or allnoconfig.
    #[arg(long, value_enum, default_value = "tinyconfig")]
    base: BaseArg,
    /// Stop after this step.
    #[arg(long)]
    until: Option<String>,
    /// Build directory shared by every step (default: <cache>/builds/ladder-<base>-<version>-<arch>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Parallel make jobs (default: one per CPU).
    #[arg(short = 'j', long, default_value_t = 0)]
    jobs: usize,
    #[command(flatten)]
    vm: VmArgs,
    /// The disk steps' Debian root (default: each step's `image.init`,
    /// sysvinit); systemd adds data/ladder.toml's `systemd-features` to the
    /// disk steps' kernels.
    #[arg(long, value_enum)]
    init: Option<InitArg>,
    /// Longest a disk step's boot and SSH checks may take, in seconds.
    #[arg(long, default_value_t = 900)]
    disk_timeout: u64,
    /// Write ladder.md, ladder.json and ladder-size.svg here (default: <out>/report).
    #[arg(long)]
    report: Option<PathBuf>,
    /// Print every console line as it arrives.
    #[arg(long, short)]
    verbose: bool,
    /// Print the JSON report on standard output.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> Result<ExitCode> {
    if let Err(m) = kbuild::check_deps() {
        bail!("{m}");
    }
    let req = LadderRequest {
        tree: a.tree.spec(),
        arch: a.arch.clone(),
        base: a.base.base(),
        until: a.until.clone(),
        out: a.out.clone(),
        jobs: a.jobs,
        vm: a.vm.options(),
        init: a.init.map(InitArg::init),
        disk_timeout: Duration::from_secs(a.disk_timeout),
        report: a.report.clone(),
        command: command_line(),
        relay: relay_command()?,
    };
    let ui = Ui::new(a.json, a.verbose);
    let (rep, report_dir) = ladder::run(&req, &ui.ev())?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&rep)?);
    } else {
        println!("{}", report::table(&rep));
        println!(
            "{} in {}; report: {}",
            if rep.ok { "PASS" } else { "FAIL" },
            secs(rep.total_s),
            report_dir.display()
        );
    }
    Ok(if rep.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
