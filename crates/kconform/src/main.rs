use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;

use kconform::{Config, Mode, Suite};

/// Compare `ktailor kconfig` against the kernel's own scripts/kconfig/conf, byte for byte.
///
/// Exit status: 0 when every compared case is identical, 1 on any mismatch
/// or ktailor failure, 2 when the harness itself could not run. Cases where
/// the kernel's own conf fails are reported as oracle-failed and do not count.
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    /// Kernel tree: a directory or a version like 6.12 (repeatable; default 6.12 and 6.1).
    /// With the ci suite the first tree gets the broad subset, later ones a smoke test.
    #[arg(long = "kernel", value_name = "DIR|VERSION")]
    kernels: Vec<String>,
    #[arg(long, value_enum, default_value_t = Suite::Ci)]
    suite: Suite,
    /// Only cases for this ARCH (or SRCARCH, e.g. x86), repeatable.
    #[arg(long = "arch", value_name = "ARCH")]
    arches: Vec<String>,
    /// Only cases of this kind, repeatable.
    #[arg(long = "mode", value_enum, value_name = "MODE")]
    modes: Vec<Mode>,
    /// Parallel workers (default: available cores).
    #[arg(long)]
    jobs: Option<usize>,
    /// The ktailor binary (default: next to this one, then $PATH).
    #[arg(long, value_name = "PATH")]
    ktailor: Option<PathBuf>,
    /// Write a Markdown report here.
    #[arg(long, value_name = "FILE.md")]
    report: Option<PathBuf>,
    /// Write per-case results as JSON here.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Randconfig seeds per arch (default: 10 for ci, 200 for full).
    #[arg(long, value_name = "N")]
    limit_rand: Option<usize>,
    /// Only run the kernel's conf, filling the oracle cache.
    #[arg(long)]
    oracle_only: bool,
    /// Re-run the oracle even when a cached result exists.
    #[arg(long)]
    refresh_oracle: bool,
    /// Seconds before a single make or ktailor run is killed.
    #[arg(long, default_value_t = 600, value_name = "SECS")]
    timeout: u64,
    /// Cache root (default: $KTAILOR_CACHE, $XDG_CACHE_HOME/ktailor or ~/.cache/ktailor).
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Print the cases and their counts, run nothing.
    #[arg(long)]
    list: bool,
    /// No per-case progress lines.
    #[arg(long, short)]
    quiet: bool,
}

/// Prefers the ktailor built alongside kconform, so `cargo build` output
/// directories work without installing anything.
fn default_ktailor() -> Option<PathBuf> {
    let sibling = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join("ktailor")))
        .filter(|p| p.is_file());
    sibling.or_else(|| {
        std::env::var_os("PATH").and_then(|path| {
            std::env::split_paths(&path)
                .map(|d| d.join("ktailor"))
                .find(|p| p.is_file())
        })
    })
}

fn write_file(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

fn real_main(cli: Cli) -> Result<bool> {
    let mut cfg = Config::new(cli.suite);
    cfg.kernels = cli.kernels;
    cfg.arches = cli.arches;
    cfg.modes = cli.modes;
    cfg.jobs = cli.jobs.unwrap_or(0);
    cfg.limit_rand = cli.limit_rand;
    cfg.cache_dir = cli.cache_dir;
    cfg.oracle_only = cli.oracle_only;
    cfg.refresh_oracle = cli.refresh_oracle;
    cfg.timeout = Duration::from_secs(cli.timeout.max(1));
    cfg.progress = !cli.quiet;
    let plan = kconform::plan(&cfg)?;
    if cli.list {
        for job in &plan.jobs {
            for case in &job.cases {
                println!("{} {}", plan.trees[job.tree].kernelversion, case.label());
            }
        }
        for (tree, kinds) in plan.counts() {
            for (kind, n) in kinds {
                println!("# {tree} {kind}: {n}");
            }
        }
        println!("# total: {} cases", plan.case_count());
        return Ok(true);
    }
    if !cfg.oracle_only {
        // Cases run in their own directories: a relative path must be
        // resolved against ours now, or every case fails to start it.
        cfg.ktailor = cli
            .ktailor
            .map(|p| std::path::absolute(&p).unwrap_or(p))
            .or_else(default_ktailor);
    }
    eprintln!(
        "kconform: {} cases on {}",
        plan.case_count(),
        plan.trees
            .iter()
            .map(|t| format!("{} ({})", t.kernelversion, t.root.display()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let summary = kconform::execute(&cfg, &plan)?;
    if let Some(path) = &cli.report {
        write_file(path, &summary.to_markdown())?;
    }
    if let Some(path) = &cli.json {
        write_file(path, &summary.to_json()?)?;
    }
    eprint!("{}", summary.text());
    let failed: Vec<String> = summary
        .results
        .iter()
        .filter(|r| r.status == kconform::Status::OracleFailed)
        .map(|r| format!("{} {}", r.tree, r.case))
        .collect();
    if !failed.is_empty() {
        eprintln!("oracle-failed: {}", failed.join(", "));
    }
    Ok(summary.passed())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match real_main(cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("kconform: {e:#}");
            ExitCode::from(2)
        }
    }
}
