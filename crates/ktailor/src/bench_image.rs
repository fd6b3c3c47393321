//! `ktailor bench image`: the `ec2-nitro` image against Debian's own cloud
//! kernel, in the same run, on the same machine (see
//! [`kpipeline::bench::image`] for the method).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use kpipeline::bench::image::{self, BenchImageRequest};

use crate::args::{relay_command, AccelArg, MakeArgs, TreeArgs};
use crate::ui::Ui;

#[derive(clap::Args)]
pub struct Args {
    /// The ktailor target to compare (its kernel gets the image's command line built in).
    #[arg(long, default_value = "ec2-nitro")]
    target: String,
    /// Boots per image; medians are reported.
    #[arg(long, default_value_t = 1)]
    runs: usize,
    #[arg(long, value_enum, default_value = "auto")]
    accel: AccelArg,
    #[arg(long, default_value_t = 1024)]
    memory: u32,
    #[arg(long, default_value_t = 2)]
    cpus: u32,
    /// Longest one boot + checks may take, in seconds.
    #[arg(long, default_value_t = 900)]
    timeout: u64,
    /// Disk size of both images.
    #[arg(long, default_value = "2G")]
    size: String,
    /// Images, keys, serial logs (default: <cache>/bench/image).
    #[arg(long)]
    workdir: Option<PathBuf>,
    /// Keep the two disk images after the runs.
    #[arg(long)]
    keep_images: bool,
    #[command(flatten)]
    tree: TreeArgs,
    #[command(flatten)]
    make: MakeArgs,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> Result<ExitCode> {
    let req = BenchImageRequest {
        target: a.target.clone(),
        runs: a.runs,
        accel: a.accel.accel(),
        memory: a.memory,
        cpus: a.cpus,
        timeout: Duration::from_secs(a.timeout),
        size: a.size.clone(),
        workdir: a.workdir.clone(),
        keep_images: a.keep_images,
        tree: a.tree.spec(),
        out: a.make.out.clone(),
        jobs: a.make.jobs,
        relay: relay_command()?,
    };
    let ui = Ui::new(a.json, false);
    let rep = image::run(&req, &ui.ev())?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&rep)?);
    } else {
        print!("{}", rep.render());
    }
    Ok(if rep.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
