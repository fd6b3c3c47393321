//! `ktailor minimize`: the smallest configuration that still passes a
//! target's checks, every step built and booted, resumable from its journal.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use kpipeline::fmt::{mib, secs};
use kpipeline::minimize::{self, MinimizeReport, MinimizeRequest};
use kpipeline::output::write_atomic;

use crate::args::{MakeArgs, TreeArgs, VmArgs};
use crate::ui::Ui;

#[derive(clap::Args)]
pub struct Args {
    /// The target whose machine and checks judge every step.
    #[arg(long)]
    target: String,
    /// Start from this .config instead of the target's own configuration.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Architecture (default: the target's).
    #[arg(long)]
    arch: Option<String>,
    #[command(flatten)]
    tree: TreeArgs,
    /// Symbols never to remove, comma-separated (without CONFIG_).
    #[arg(long, value_delimiter = ',')]
    keep: Vec<String>,
    /// Stop after this many builds (the journal keeps them; run again to go on).
    #[arg(long)]
    max_builds: Option<usize>,
    /// Journal directory (default: <cache>/minimize/<target>-<version>-<arch>).
    #[arg(long)]
    journal: Option<PathBuf>,
    /// make's build directory, reused by every step (default:
    /// <cache>/builds/minimize-<target>-<version>-<arch>) and jobs.
    #[command(flatten)]
    make: MakeArgs,
    #[command(flatten)]
    vm: VmArgs,
    /// Where minimal.config, minimal.fragment, report.md and report.json go
    /// (default: the journal directory).
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// Print the JSON report on standard output.
    #[arg(long)]
    json: bool,
}

fn markdown(r: &MinimizeReport) -> String {
    let mut s = format!(
        "# ktailor minimize {} (Linux {} {})\n\n{} candidates, {} removed, {} kept; {} builds, {} answered by the journal, {} kept by the engine without a build; {}.\n\n",
        r.target,
        r.kernelversion,
        r.arch,
        r.candidates,
        r.removed.len(),
        r.kept.len(),
        r.builds,
        r.journal_hits,
        r.no_change,
        secs(r.seconds)
    );
    let boot = |t: Option<f64>| t.map(|t| format!("{t:.2}s")).unwrap_or_else(|| "-".into());
    s.push_str("| | =y | bzImage | vmlinux | boot to init |\n|---|---|---|---|---|\n");
    for (name, m) in [("before", &r.before), ("after", &r.after)] {
        s.push_str(&format!(
            "| {name} | {} | {} | {} | {} |\n",
            m.builtin,
            mib(m.image_bytes),
            mib(m.vmlinux_bytes),
            boot(m.boot_to_init_s)
        ));
    }
    s.push_str("\n## Kept, and the evidence\n\n");
    for k in &r.kept {
        s.push_str(&format!("- CONFIG_{}: {}\n", k.symbol, k.evidence));
    }
    s.push_str("\n## Removed\n\n");
    for x in &r.removed {
        s.push_str(&format!("CONFIG_{x} "));
    }
    s.push('\n');
    s
}

pub fn run(a: Args) -> Result<ExitCode> {
    let req = MinimizeRequest {
        target: a.target.clone(),
        config: a.config.clone(),
        arch: a.arch.clone(),
        tree: a.tree.spec(),
        keep: a.keep.clone(),
        max_builds: a.max_builds,
        journal: a.journal.clone(),
        out: a.make.out.clone(),
        jobs: a.make.jobs,
        vm: a.vm.options(),
    };
    let ui = Ui::new(a.json, false);
    let r = minimize::run(&req, &ui.ev())?;
    let dir = a
        .output
        .clone()
        .unwrap_or_else(|| r.journal.parent().map(PathBuf::from).unwrap_or_default());
    write_atomic(&dir.join("minimal.config"), r.config.as_bytes())?;
    write_atomic(&dir.join("minimal.fragment"), r.fragment.as_bytes())?;
    let md = markdown(&r);
    write_atomic(&dir.join("report.md"), md.as_bytes())?;
    let json = serde_json::to_string_pretty(&r)?;
    write_atomic(&dir.join("report.json"), json.as_bytes())?;
    if a.json {
        println!("{json}");
    } else {
        print!("{md}");
        println!("\nfiles: {}", dir.display());
    }
    Ok(ExitCode::SUCCESS)
}
