//! `ktailor build`: solve a target (or take a .config) and build it out of
//! tree with the kernel's own make, incrementally, in a directory that
//! belongs to the target.

use std::process::ExitCode;

use anyhow::{bail, Result};
use kpipeline::build::BuildSummary;

use crate::args::{MakeArgs, WhatArgs};
use crate::ui::Ui;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub what: WhatArgs,
    #[command(flatten)]
    pub make: MakeArgs,
    /// Print a JSON report on standard output.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: Args) -> Result<ExitCode> {
    if let Err(m) = kbuild::check_deps() {
        bail!("{m}");
    }
    let ui = Ui::new(a.json, false);
    let ev = ui.ev();
    let p = kpipeline::prepare::prepare(&a.what.what(), &ev)?;
    let out = a.make.out.clone().unwrap_or_else(|| p.default_out());
    let report = kpipeline::build::build(&p, &out, a.make.jobs, &ev)?;
    let s = BuildSummary::new(&p, &report);
    if a.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        println!("image: {}", s.image);
        println!("log: {}", s.log);
    }
    Ok(ExitCode::SUCCESS)
}
