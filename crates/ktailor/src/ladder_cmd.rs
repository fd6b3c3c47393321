//! `ktailor ladder`: the seed's milestones (data/ladder.toml), built in one
//! directory one after another so every step is an incremental build of the
//! last, each booted and checked by its probes and every earlier step's.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use kboot::Plan;
use kcatalog::{Base, Catalog, Ladder};
use serde::Serialize;

use crate::boot_cmd::{self, BootReport, VmArgs};
use crate::build_cmd::{self, Prepared};
use crate::config_cmd::BaseArg;
use crate::ladder_report;
use crate::session::{Session, TreeArgs};
use crate::tailor::{self, Wanted};

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

/// One rung's measurements.
#[derive(Serialize)]
pub struct StepRow {
    pub name: String,
    pub seed: String,
    pub features: Vec<String>,
    /// CONFIG values this step turned on (or changed) relative to the last.
    pub options_added: Vec<String>,
    pub config_lines: usize,
    pub builtin: usize,
    pub vmlinux_bytes: u64,
    pub image_bytes: u64,
    pub build_s: f64,
    pub compiled: usize,
    pub incremental: bool,
    /// Probes this step newly proves, and the ones carried from earlier steps.
    pub new_probes: Vec<String>,
    pub required_probes: Vec<String>,
    pub probes_passed: usize,
    pub boot: Option<BootReport>,
    pub ok: bool,
    /// Why the step failed (build or boot), empty when it passed.
    pub failures: Vec<String>,
}

#[derive(Serialize)]
pub struct LadderReport {
    pub kernelversion: String,
    pub arch: String,
    pub base: String,
    pub out_dir: String,
    pub command: String,
    pub total_s: f64,
    pub steps: Vec<StepRow>,
    pub ok: bool,
}

/// `SYM=value` lines that are set (not `is not set`) in a .config.
fn set_values(config: &str) -> BTreeMap<&str, &str> {
    config
        .lines()
        .filter_map(|l| l.strip_prefix("CONFIG_"))
        .filter_map(|l| l.split_once('='))
        .collect()
}

fn added(prev: &str, now: &str) -> Vec<String> {
    let p = set_values(prev);
    set_values(now)
        .into_iter()
        .filter(|(k, v)| p.get(k) != Some(v))
        .map(|(k, v)| format!("{k}={v}"))
        .collect()
}

pub fn run(a: Args) -> Result<ExitCode> {
    let started = Instant::now();
    if let Err(m) = kbuild::check_deps() {
        bail!("{m}");
    }
    let cat = Catalog::builtin();
    let ladder = Ladder::builtin(&cat);
    let last = match &a.until {
        Some(u) => ladder
            .steps
            .iter()
            .position(|s| &s.name == u)
            .with_context(|| {
                let names: Vec<&str> = ladder.steps.iter().map(|s| s.name.as_str()).collect();
                format!("no ladder step {u:?}; steps: {}", names.join(", "))
            })?,
        None => ladder.steps.len() - 1,
    };
    let base: Base = a.base.base();
    let mut prepared = Prepared {
        session: Session::open(&a.tree, &a.arch)?,
        name: format!("ladder-{}", tailor::base_name(base)),
        arch: a.arch.clone(),
        config: String::new(),
        cmdline: Vec::new(),
        filesystems: Vec::new(),
        probes: Vec::new(),
        target: None,
    };
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| build_cmd::default_out(&prepared, &a.tree));
    let report_dir = a.report.clone().unwrap_or_else(|| out.join("report"));
    // "Options added" by the first step are relative to the bare base.
    let bare = tailor::resolve(
        &cat,
        &Wanted {
            base: Some(base),
            arch: Some(a.arch.clone()),
            ..Default::default()
        },
    )?;
    let mut prev_config = match tailor::tailor(&prepared.session, &bare, &[])? {
        Ok(t) => t.solution.config,
        Err(e) => bail!("the bare {}: {e}", tailor::base_name(base)),
    };
    let mut rows: Vec<StepRow> = Vec::new();
    for (i, step) in ladder.steps.iter().enumerate().take(last + 1) {
        if !a.json {
            eprintln!("[{}/{}] {}: {}", i + 1, last + 1, step.name, step.seed);
        }
        let wanted = Wanted {
            with: ladder.features_through(i),
            base: Some(base),
            arch: Some(a.arch.clone()),
            ..Default::default()
        };
        let r = tailor::resolve(&cat, &wanted)?;
        let t = match tailor::tailor(&prepared.session, &r, &[])? {
            Ok(t) => t,
            Err(e) => bail!("step {}: {e}", step.name),
        };
        let mut row = StepRow {
            name: step.name.clone(),
            seed: step.seed.clone(),
            features: step.features.clone(),
            options_added: added(&prev_config, &t.solution.config),
            config_lines: 0,
            builtin: 0,
            vmlinux_bytes: 0,
            image_bytes: 0,
            build_s: 0.0,
            compiled: 0,
            incremental: false,
            new_probes: step.probes.clone(),
            required_probes: Vec::new(),
            probes_passed: 0,
            boot: None,
            ok: false,
            failures: Vec::new(),
        };
        prev_config = t.solution.config.clone();
        prepared.config = t.solution.config.clone();
        let built = build_cmd::run_build(&prepared, &out, a.jobs, !a.json);
        let report = match built {
            Ok(r) => r,
            Err(e) => {
                row.failures.push(format!("build failed: {e}"));
                if !a.json {
                    eprintln!("  FAIL: build failed: {e}");
                }
                rows.push(row);
                continue;
            }
        };
        row.config_lines = report.config_lines;
        row.builtin = report.builtin;
        row.vmlinux_bytes = report.vmlinux_bytes;
        row.image_bytes = report.image_bytes;
        row.build_s = report.duration.as_secs_f64();
        row.compiled = report.compiled;
        row.incremental = report.incremental;

        let mut plan = Plan::new(
            report.image.clone(),
            t.solution.config.clone(),
            step.machine.clone(),
            out.join("ktailor-boot").join(&step.name),
        )?;
        plan.probes = boot_cmd::applicable(&ladder.probes_through(i), &step.machine);
        plan.filesystems = t.filesystems.clone();
        plan.cmdline = t.cmdline.clone();
        plan.expect = step
            .expect
            .clone()
            .or_else(|| boot_cmd::default_expect(plan.userspace));
        a.vm.apply(&mut plan);
        row.required_probes = plan.probes.clone();
        let o = boot_cmd::boot_plan(&plan, a.verbose && !a.json)?;
        let b = BootReport::new(&o, plan.userspace, &report.image);
        row.probes_passed = b.passed();
        row.failures.extend(o.failures.iter().cloned());
        row.ok = o.ok();
        if !a.json {
            eprintln!(
                "  {}: {} CONFIG lines, {} =y, vmlinux {}, bzImage {}, build {}, {}",
                if row.ok { "PASS" } else { "FAIL" },
                row.config_lines,
                row.builtin,
                build_cmd::mib(row.vmlinux_bytes),
                build_cmd::mib(row.image_bytes),
                build_cmd::secs(row.build_s),
                {
                    let init = b
                        .boot_to_init_s
                        .map(|t| format!("init after {t:.2}s, "))
                        .unwrap_or_default();
                    format!("{init}{}", ladder_report::probes_cell(&row, Some(&b)))
                }
            );
            for f in &row.failures {
                eprintln!("    - {f}");
            }
            if !row.ok {
                eprintln!("    serial log: {}", b.serial_log);
            }
        }
        row.boot = Some(b);
        rows.push(row);
    }
    let ok = rows.iter().all(|r| r.ok);
    let rep = LadderReport {
        kernelversion: prepared.session.tree.kernelversion.clone(),
        arch: a.arch.clone(),
        base: tailor::base_name(base).into(),
        out_dir: out.display().to_string(),
        command: std::env::args()
            .map(|a| if a.contains(' ') { format!("{a:?}") } else { a })
            .collect::<Vec<_>>()
            .join(" "),
        total_s: started.elapsed().as_secs_f64(),
        steps: rows,
        ok,
    };
    std::fs::create_dir_all(&report_dir)
        .with_context(|| format!("cannot create {}", report_dir.display()))?;
    let md = ladder_report::markdown(&rep);
    crate::output::write_atomic(&report_dir.join("ladder.md"), md.as_bytes())?;
    let json = serde_json::to_string_pretty(&rep)?;
    crate::output::write_atomic(&report_dir.join("ladder.json"), json.as_bytes())?;
    crate::output::write_atomic(
        &report_dir.join("ladder-size.svg"),
        ladder_report::svg(&rep).as_bytes(),
    )?;
    if a.json {
        println!("{json}");
    } else {
        println!("{}", ladder_report::table(&rep));
        println!(
            "{} in {}; report: {}",
            if ok { "PASS" } else { "FAIL" },
            build_cmd::secs(rep.total_s),
            report_dir.display()
        );
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
