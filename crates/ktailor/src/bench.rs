//! `ktailor bench kconfig`: time our engine against the tree's own conf in
//! the same run on the same machine, and report ratios, never absolute
//! thresholds (those would only measure the machine).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use kpipeline::bench::kconfig::{self, BenchKconfigRequest};

use crate::ui::Ui;

#[derive(clap::Args)]
pub struct Args {
    /// Kernel source (directory or version, as for `ktailor kconfig`).
    #[arg(long, default_value = "6.12")]
    kernel: String,
    /// Architecture.
    #[arg(long, default_value = "x86_64")]
    arch: String,
    /// Runs per measurement; medians are reported.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Cache directory (default: the ktailor cache).
    #[arg(long)]
    cache: Option<PathBuf>,
}

pub fn run(a: Args) -> Result<ExitCode> {
    let req = BenchKconfigRequest {
        kernel: a.kernel.clone(),
        arch: a.arch.clone(),
        runs: a.runs,
        cache: a.cache.clone(),
        exe: std::env::current_exe()?,
    };
    // Progress goes to stderr even with --json: the runs take minutes.
    let ui = Ui::new(false, false);
    let rep = kconfig::run(&req, &ui.ev())?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&rep)?);
    } else {
        print!("{}", rep.render());
    }
    Ok(ExitCode::SUCCESS)
}
