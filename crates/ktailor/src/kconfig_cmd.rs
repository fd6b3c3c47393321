//! `ktailor kconfig <MODE>`: the kernel's configuration targets, computed by
//! our engine with the environment and compiler probes conf would see.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use kconfig::{Input, Mode, RunOptions};
use serde::Serialize;

use crate::args::TreeArgs;
use crate::ui::Ui;

#[derive(clap::Args)]
pub struct Args {
    /// Which configuration target to compute.
    #[arg(value_enum)]
    mode: Mode,
    #[command(flatten)]
    tree: TreeArgs,
    /// Target architecture as `make ARCH=` spells it (x86_64, arm64, riscv, ...).
    #[arg(long)]
    arch: String,
    /// The starting .config (olddefconfig, savedefconfig).
    #[arg(long)]
    input: Option<PathBuf>,
    /// The defconfig file (defconfig mode; default: the arch's KBUILD_DEFCONFIG).
    #[arg(long)]
    defconfig: Option<PathBuf>,
    /// Values that take precedence, as KCONFIG_ALLCONFIG does (all*config, randconfig).
    #[arg(long)]
    allconfig: Option<PathBuf>,
    /// randconfig seed, as KCONFIG_SEED (decimal or 0x hex; default: time-based).
    #[arg(long)]
    seed: Option<String>,
    /// randconfig probabilities, as KCONFIG_PROBABILITY.
    #[arg(long)]
    probability: Option<String>,
    /// Where to write the result ("-" for standard output).
    #[arg(long, short)]
    output: PathBuf,
    /// Print a JSON report on standard output instead of the summary line.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Report {
    mode: Mode,
    kernel: String,
    kernelversion: String,
    arch: String,
    output: String,
    lines: usize,
    builtin: usize,
    modules: usize,
    seed: Option<String>,
    warnings: Vec<String>,
    unknown_symbols: Vec<UnknownSym>,
    unmet_dependencies: Vec<String>,
    parse_ms: u64,
    total_ms: u64,
    shell_cache_hits: u64,
    shell_commands_run: u64,
}

#[derive(Serialize)]
struct UnknownSym {
    file: String,
    line: u32,
    symbol: String,
}

/// Parse a number like conf's `strtol(s, &end, 0)` for KCONFIG_SEED.
fn parse_seed(s: &str) -> Result<u32> {
    let t = s.trim();
    let v = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        i64::from_str_radix(h, 16)
    } else if t.len() > 1 && t.starts_with('0') {
        i64::from_str_radix(&t[1..], 8)
    } else {
        t.parse::<i64>()
    };
    match v {
        Ok(n) => Ok(n as u32),
        Err(_) => bail!("--seed {s:?} is not a number (decimal, 0x hex or 0 octal)"),
    }
}

fn time_seed() -> u32 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let sec = d.as_secs() as u32;
    let usec = d.subsec_micros();
    sec.wrapping_add(1).wrapping_mul(usec.wrapping_add(1))
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {what} {}", path.display()))
}

pub fn run(a: Args) -> Result<ExitCode> {
    let t0 = Instant::now();
    let ui = Ui::new(a.json, false);
    let kpipeline::Session {
        tree,
        env,
        host,
        db,
        parse_ms,
        ..
    } = kpipeline::prepare::open_session(&a.tree.spec(), &a.arch, &ui.ev())?;
    let opts = RunOptions {
        probability: a.probability.clone(),
        warn_unknown: true,
    };

    let seed = match (a.mode, &a.seed) {
        (Mode::Randconfig, Some(s)) => Some(parse_seed(s)?),
        (Mode::Randconfig, None) => Some(time_seed()),
        _ => None,
    };

    let needs_input = a.mode.takes_input();
    if needs_input && a.input.is_none() {
        bail!("{:?} needs --input FILE: the .config to start from", a.mode);
    }
    let input_data = match &a.input {
        Some(p) => Some((p.display().to_string(), read(p, "input config")?)),
        None => None,
    };
    let allconfig_data = match &a.allconfig {
        Some(p) => Some((p.display().to_string(), read(p, "allconfig")?)),
        None => None,
    };
    let as_input = |d: &Option<(String, Vec<u8>)>| -> Option<(String, Vec<u8>)> { d.clone() };

    let mut db = db;
    let outcome = match a.mode {
        Mode::Tinyconfig => db.tinyconfig(&host, &env.srcarch, &opts),
        Mode::Defconfig => {
            let (name, data) = match &a.defconfig {
                Some(p) => (p.display().to_string(), read(p, "defconfig")?),
                None => {
                    let rel = format!("arch/{}/configs/{}", env.srcarch, env.defconfig);
                    let data = read(&tree.root.join(&rel), "defconfig").with_context(|| {
                        format!("{} has no default defconfig; pass --defconfig FILE", a.arch)
                    })?;
                    (rel, data)
                }
            };
            db.run_mode(
                Mode::Defconfig,
                Some(Input {
                    name: &name,
                    data: &data,
                }),
                None,
                &opts,
            )
        }
        m => {
            let mode = match seed {
                Some(seed) => m.with_seed(seed),
                None => m.into(),
            };
            let inp = as_input(&input_data);
            let all = as_input(&allconfig_data);
            db.run_mode(
                mode,
                inp.as_ref().map(|(n, d)| Input { name: n, data: d }),
                all.as_ref().map(|(n, d)| Input { name: n, data: d }),
                &opts,
            )
        }
    }
    .map_err(|e| anyhow::anyhow!("{e}"))?;

    kpipeline::output::write_atomic(&a.output, outcome.output.as_bytes())?;

    for w in &outcome.warnings {
        eprintln!("{}", w.conf_warning());
    }
    for d in &outcome.dep_warnings {
        eprint!("{d}");
    }
    let lines = outcome.output.lines().count();
    let builtin = outcome.output.lines().filter(|l| l.ends_with("=y")).count();
    let modules = outcome.output.lines().filter(|l| l.ends_with("=m")).count();
    let stats = host.stats();
    let total_ms = t0.elapsed().as_millis() as u64;
    if a.json {
        let r = Report {
            mode: a.mode,
            kernel: tree.root.display().to_string(),
            kernelversion: tree.kernelversion.clone(),
            arch: a.arch.clone(),
            output: a.output.display().to_string(),
            lines,
            builtin,
            modules,
            seed: seed.map(|s| format!("0x{s:X}")),
            warnings: outcome.warnings.iter().map(|w| w.conf_warning()).collect(),
            unknown_symbols: outcome
                .unknown
                .iter()
                .map(|(f, l, s)| UnknownSym {
                    file: f.clone(),
                    line: *l,
                    symbol: s.clone(),
                })
                .collect(),
            unmet_dependencies: outcome.dep_warnings.clone(),
            parse_ms,
            total_ms,
            shell_cache_hits: stats.hits,
            shell_commands_run: stats.commands_run,
        };
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        for m in &outcome.messages {
            eprintln!("{m}");
        }
        if a.output.as_os_str() != "-" {
            eprintln!(
                "{}: {} lines, {} =y, {} =m ({} {}, {} ms)",
                a.output.display(),
                lines,
                builtin,
                modules,
                tree.kernelversion,
                a.arch,
                total_ms
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_parse_like_strtol_base0() {
        assert_eq!(parse_seed("10").unwrap(), 10);
        assert_eq!(parse_seed("0x1F").unwrap(), 31);
        assert_eq!(parse_seed("010").unwrap(), 8);
        assert!(parse_seed("ten").is_err());
    }
}
