//! `ktailor build`: solve a target (or take a .config) and build it out of
//! tree with the kernel's own make, incrementally, in a directory that
//! belongs to the target.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use kcatalog::Catalog;
use kconfig::{Input, Mode, RunOptions};
use serde::Serialize;

use crate::config_cmd::BaseArg;
use crate::session::{Session, TreeArgs};
use crate::tailor::{self, Wanted};

/// Options that say which kernel to build, shared with `boot`.
#[derive(clap::Args, Clone)]
pub struct What {
    /// A named target (see data/targets.toml).
    #[arg(long)]
    pub target: Option<String>,
    /// Build this .config instead (normalised with olddefconfig first, as make would).
    #[arg(long, conflicts_with_all = ["with", "without", "base", "fragment"])]
    pub config: Option<PathBuf>,
    /// Extra features, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub with: Vec<String>,
    /// Features to leave out of the target, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub without: Vec<String>,
    /// Start from allnoconfig or tinyconfig (default: the target's base).
    #[arg(long, value_enum)]
    pub base: Option<BaseArg>,
    /// A config fragment to apply on top; repeatable.
    #[arg(long)]
    pub fragment: Vec<PathBuf>,
    /// Architecture (default: the target's, else x86_64).
    #[arg(long)]
    pub arch: Option<String>,
    #[command(flatten)]
    pub tree: TreeArgs,
}

/// Options for make, shared with `boot` and `ladder`.
#[derive(clap::Args, Clone)]
pub struct MakeArgs {
    /// Build directory (make O=); reused so rebuilds are incremental
    /// (default: <cache>/builds/<target>-<version>-<arch>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Parallel make jobs (default: one per CPU).
    #[arg(short = 'j', long, default_value_t = 0)]
    pub jobs: usize,
}

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub what: What,
    #[command(flatten)]
    pub make: MakeArgs,
    /// Print a JSON report on standard output.
    #[arg(long)]
    pub json: bool,
}

/// A configuration ready to build, and what the features want at boot.
pub struct Prepared {
    pub session: Session,
    pub name: String,
    pub arch: String,
    pub config: String,
    pub cmdline: Vec<String>,
    pub filesystems: Vec<String>,
    pub probes: Vec<String>,
    pub target: Option<kcatalog::Target>,
}

/// What a build reports, for people and for `--json`.
#[derive(Serialize)]
pub struct BuildSummary {
    pub kernelversion: String,
    pub arch: String,
    pub name: String,
    pub out_dir: String,
    pub config_lines: usize,
    pub builtin: usize,
    pub modules: usize,
    pub vmlinux_bytes: u64,
    pub image: String,
    pub image_bytes: u64,
    pub seconds: f64,
    pub incremental: bool,
    pub compiled: usize,
    pub log: String,
}

impl BuildSummary {
    pub fn new(p: &Prepared, r: &kbuild::BuildReport) -> BuildSummary {
        BuildSummary {
            kernelversion: p.session.tree.kernelversion.clone(),
            arch: p.arch.clone(),
            name: p.name.clone(),
            out_dir: r.out_dir.display().to_string(),
            config_lines: r.config_lines,
            builtin: r.builtin,
            modules: r.modules,
            vmlinux_bytes: r.vmlinux_bytes,
            image: r.image.display().to_string(),
            image_bytes: r.image_bytes,
            seconds: r.duration.as_secs_f64(),
            incremental: r.incremental,
            compiled: r.compiled,
            log: r.log.display().to_string(),
        }
    }

    pub fn line(&self) -> String {
        format!(
            "{}: {} (vmlinux {}), {} CONFIG lines, {} =y, {} ({}{} objects compiled)",
            self.name,
            mib(self.image_bytes),
            mib(self.vmlinux_bytes),
            self.config_lines,
            self.builtin,
            secs(self.seconds),
            if self.incremental {
                "incremental, "
            } else {
                ""
            },
            self.compiled
        )
    }
}

pub fn mib(b: u64) -> String {
    format!("{:.2} MiB", b as f64 / (1024.0 * 1024.0))
}

pub fn secs(s: f64) -> String {
    if s >= 60.0 {
        format!("{}m{:02}s", (s / 60.0) as u64, (s % 60.0) as u64)
    } else {
        format!("{s:.1}s")
    }
}

/// Solves the request (or normalises `--config`) into a .config.
/// `Ok(Err(code))` is a request the user must change, already reported.
pub fn prepare(w: &What, json: bool) -> Result<std::result::Result<Prepared, ExitCode>> {
    let cat = Catalog::builtin();
    if let Some(path) = &w.config {
        let arch = w.arch.clone().unwrap_or_else(|| "x86_64".into());
        let mut session = Session::open(&w.tree, &arch)?;
        let data = std::fs::read(path)
            .with_context(|| format!("cannot read the config {}", path.display()))?;
        let name = path.display().to_string();
        let out = session
            .db
            .run_mode(
                Mode::OldDefconfig,
                Some(Input {
                    name: &name,
                    data: &data,
                }),
                None,
                &RunOptions {
                    warn_unknown: true,
                    ..Default::default()
                },
            )
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        for wgn in &out.warnings {
            eprintln!("{wgn}");
        }
        for (file, line, sym) in &out.unknown {
            eprintln!("{file}:{line}: CONFIG_{sym} is not a symbol of this kernel; ignored");
        }
        if out.output.as_bytes() != data.as_slice() {
            eprintln!(
                "note: {} is not an olddefconfig fixpoint; building what `make olddefconfig` makes of it",
                path.display()
            );
        }
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().trim_start_matches('.').to_string())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "config".into());
        return Ok(Ok(Prepared {
            session,
            name: stem,
            arch,
            config: out.output,
            cmdline: vec!["console=ttyS0".into()],
            filesystems: Vec::new(),
            probes: Vec::new(),
            target: None,
        }));
    }
    if w.target.is_none() && w.with.is_empty() && w.fragment.is_empty() {
        bail!("nothing to build: give --target, --config, --with or --fragment");
    }
    let wanted = Wanted {
        target: w.target.clone(),
        with: w.with.clone(),
        without: w.without.clone(),
        base: w.base.map(BaseArg::base),
        arch: w.arch.clone(),
    };
    let r = tailor::resolve(&cat, &wanted)?;
    let session = Session::open(&w.tree, &r.arch)?;
    let t = match tailor::tailor(&session, &r, &w.fragment)? {
        Ok(t) => t,
        Err(e) => {
            if json {
                println!("{}", serde_json::to_string_pretty(&e)?);
            }
            eprintln!("ktailor: {e}");
            return Ok(Err(ExitCode::from(1)));
        }
    };
    for u in &t.solution.unknown {
        eprintln!(
            "ktailor: CONFIG_{} ({}) is not a symbol of Linux {}{}",
            u.symbol,
            u.origin,
            session.tree.kernelversion,
            tailor::did_you_mean(&u.suggestions)
        );
    }
    if !t.solution.unknown.is_empty() {
        return Ok(Err(ExitCode::from(1)));
    }
    let mut name = w.target.clone().unwrap_or_else(|| "custom".into());
    if w.target.is_some() && (!w.with.is_empty() || !w.without.is_empty() || !w.fragment.is_empty())
    {
        name.push_str("-custom");
    }
    Ok(Ok(Prepared {
        name,
        arch: r.arch.clone(),
        config: t.solution.config,
        cmdline: t.cmdline,
        filesystems: t.filesystems,
        probes: t.probes,
        target: r.target.cloned(),
        session,
    }))
}

/// The default build directory of a configuration.
pub fn default_out(p: &Prepared, tree: &TreeArgs) -> PathBuf {
    let cache = tree.cache.clone().unwrap_or_else(ksrc::cache_root);
    cache.join("builds").join(format!(
        "{}-{}-{}",
        p.name, p.session.tree.kernelversion, p.arch
    ))
}

/// Builds with a progress bar on a terminal (nothing otherwise).
pub fn run_build(
    p: &Prepared,
    out: &Path,
    jobs: usize,
    show_progress: bool,
) -> std::result::Result<kbuild::BuildReport, kbuild::BuildError> {
    let mut spec = kbuild::BuildSpec::new(
        &p.session.tree,
        &p.arch,
        p.config.clone(),
        out.to_path_buf(),
    );
    spec.jobs = jobs;
    let bar = if show_progress && std::io::stderr().is_terminal() {
        let b = indicatif::ProgressBar::new_spinner();
        b.enable_steady_tick(Duration::from_millis(200));
        Some(b)
    } else {
        None
    };
    let result = kbuild::build(&spec, &|pr: kbuild::BuildProgress| {
        let Some(b) = &bar else { return };
        match pr.estimated_total {
            Some(total) if pr.phase == kbuild::BuildPhase::Compile => {
                if b.length() != Some(total as u64) {
                    b.set_length(total as u64);
                    b.set_style(
                        indicatif::ProgressStyle::with_template(
                            "{elapsed:>4} [{bar:30}] {pos}/{len} {msg}",
                        )
                        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                        .progress_chars("=> "),
                    );
                }
                b.set_position(pr.compiled.min(total) as u64);
            }
            _ => b.set_position(pr.compiled as u64),
        }
        let phase = match pr.phase {
            kbuild::BuildPhase::Config => "olddefconfig",
            kbuild::BuildPhase::Compile => "make",
            kbuild::BuildPhase::Done => "done",
        };
        b.set_message(format!("{phase} {}", pr.step));
    });
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    result
}

/// Builds `p` into `out`, saying what it does unless `json`; a failed build
/// is reported here and becomes exit status 1.
pub fn build_reported(
    p: &Prepared,
    out: &Path,
    jobs: usize,
    json: bool,
) -> std::result::Result<kbuild::BuildReport, ExitCode> {
    if !json {
        eprintln!(
            "building Linux {} {} ({}) in {}",
            p.session.tree.kernelversion,
            p.arch,
            p.name,
            out.display()
        );
    }
    match run_build(p, out, jobs, !json) {
        Ok(r) => {
            if !json {
                eprintln!("{}", BuildSummary::new(p, &r).line());
            }
            Ok(r)
        }
        Err(e) => {
            eprintln!("ktailor: build failed: {e}");
            Err(ExitCode::from(1))
        }
    }
}

pub fn run(a: Args) -> Result<ExitCode> {
    if let Err(m) = kbuild::check_deps() {
        bail!("{m}");
    }
    let p = match prepare(&a.what, a.json)? {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    let out = a
        .make
        .out
        .clone()
        .unwrap_or_else(|| default_out(&p, &a.what.tree));
    let report = match build_reported(&p, &out, a.make.jobs, a.json) {
        Ok(r) => r,
        Err(code) => return Ok(code),
    };
    let s = BuildSummary::new(&p, &report);
    if a.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        println!("image: {}", s.image);
        println!("log: {}", s.log);
    }
    Ok(ExitCode::SUCCESS)
}
