//! `ktailor config`: from a target, features and fragments to a .config in
//! which every requested value holds.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Result};
use kcatalog::Catalog;
use kpipeline::fmt::did_you_mean;
use kpipeline::output::write_atomic;
use kpipeline::prepare::open_session;
use kpipeline::tailor::{self, Wanted};
use serde::Serialize;

use crate::args::{BaseArg, TreeArgs};
use crate::ui::Ui;

#[derive(clap::Args)]
pub struct Args {
    /// A named target (see `ktailor targets`).
    #[arg(long)]
    target: Option<String>,
    /// Extra features, comma-separated (see `ktailor features`).
    #[arg(long, value_delimiter = ',')]
    with: Vec<String>,
    /// Features to leave out of the target, comma-separated.
    #[arg(long, value_delimiter = ',')]
    without: Vec<String>,
    /// Start from allnoconfig or tinyconfig (default: the target's base, else tinyconfig).
    #[arg(long, value_enum)]
    base: Option<BaseArg>,
    /// A config fragment (CONFIG_X=y / # CONFIG_X is not set lines) to apply; repeatable.
    #[arg(long)]
    fragment: Vec<PathBuf>,
    /// Architecture (default: the target's, else x86_64).
    #[arg(long)]
    arch: Option<String>,
    #[command(flatten)]
    tree: TreeArgs,
    /// Where to write the .config.
    #[arg(long, short)]
    output: PathBuf,
    /// Where to write the fragment that reproduces it with the kernel's tools
    /// (default: OUTPUT.fragment).
    #[arg(long)]
    fragment_out: Option<PathBuf>,
    /// Print a JSON report.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Report<'a> {
    kernelversion: &'a str,
    arch: &'a str,
    base: &'a str,
    target: Option<&'a str>,
    features: Vec<&'a str>,
    requested: usize,
    additions: &'a [ksolve::Addition],
    unknown: &'a [ksolve::Unknown],
    output: String,
    fragment: String,
    lines: usize,
    builtin: usize,
    cmdline: Vec<String>,
}

pub fn run(a: Args) -> Result<ExitCode> {
    let cat = Catalog::builtin();
    if a.target.is_none() && a.with.is_empty() && a.fragment.is_empty() {
        bail!("nothing to configure: give --target, --with or --fragment");
    }
    let wanted = Wanted {
        target: a.target.clone(),
        with: a.with.clone(),
        without: a.without.clone(),
        base: a.base.map(BaseArg::base),
        arch: a.arch.clone(),
    };
    let r = tailor::resolve(&cat, &wanted)?;
    let (arch, base, features) = (r.arch.clone(), r.base, &r.features);
    let ui = Ui::new(a.json, false);
    let s = open_session(&a.tree.spec(), &arch, &ui.ev())?;
    let t = tailor::tailor(&s, &r, &a.fragment)?;
    for w in &t.warnings {
        eprintln!("{w}");
    }
    let (sol, requests, cmdline) = (&t.solution, &t.requests, &t.needs.cmdline);
    write_atomic(&a.output, sol.config.as_bytes())?;
    let frag_path = a.fragment_out.clone().unwrap_or_else(|| {
        let mut p = a.output.clone().into_os_string();
        p.push(".fragment");
        PathBuf::from(p)
    });
    write_atomic(&frag_path, sol.fragment.as_bytes())?;

    let lines = sol.config.lines().count();
    let builtin = sol.config.lines().filter(|l| l.ends_with("=y")).count();
    let base_name = tailor::base_name(base);
    if a.json {
        let r = Report {
            kernelversion: &s.tree.kernelversion,
            arch: &arch,
            base: base_name,
            target: a.target.as_deref(),
            features: features.iter().map(|f| f.name.as_str()).collect(),
            requested: requests.len(),
            additions: &sol.additions,
            unknown: &sol.unknown,
            output: a.output.display().to_string(),
            fragment: frag_path.display().to_string(),
            lines,
            builtin,
            cmdline: cmdline.clone(),
        };
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        eprintln!(
            "{} values requested ({} features), {} added:",
            requests.len(),
            features.len(),
            sol.additions.len()
        );
        for ad in &sol.additions {
            eprintln!("  + CONFIG_{}={}  ({})", ad.symbol, ad.value, ad.reason);
        }
        for u in &sol.unknown {
            eprintln!(
                "  ! CONFIG_{} ({}) is not a symbol of Linux {} {}{}",
                u.symbol,
                u.origin,
                s.tree.kernelversion,
                arch,
                did_you_mean(&u.suggestions)
            );
        }
        eprintln!(
            "{}: {lines} lines, {builtin} =y ({base_name} base, Linux {} {arch}); fragment: {}",
            a.output.display(),
            s.tree.kernelversion,
            frag_path.display()
        );
        if !cmdline.is_empty() {
            eprintln!("kernel command line: {}", cmdline.join(" "));
        }
    }
    Ok(if sol.unknown.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
