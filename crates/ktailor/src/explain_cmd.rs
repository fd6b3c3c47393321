//! `ktailor explain SYMBOL`: its value and why, the dependency chain with
//! every term's value, and the smallest change that would enable it.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use kcatalog::Catalog;
use kconfig::{Input, Mode, RunOptions};
use ksolve::{Request, Solver};
use serde::Serialize;

use crate::session::{Session, TreeArgs};

#[derive(clap::Args)]
pub struct Args {
    /// The symbol, with or without CONFIG_.
    symbol: String,
    /// Explain it in this configuration (default: the allnoconfig base).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Architecture.
    #[arg(long, default_value = "x86_64")]
    arch: String,
    #[command(flatten)]
    tree: TreeArgs,
    /// Print a JSON report.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Report {
    #[serde(flatten)]
    explanation: ksolve::Explanation,
    features: Vec<String>,
    /// What else must be set for CONFIG_<SYMBOL>=y (empty if it already is).
    to_enable: Option<Vec<ksolve::Addition>>,
    to_enable_error: Option<String>,
}

pub fn run(a: Args) -> Result<ExitCode> {
    let name = a
        .symbol
        .strip_prefix("CONFIG_")
        .unwrap_or(&a.symbol)
        .to_string();
    let s = Session::open(&a.tree, &a.arch)?;
    let Some(id) =
        s.db.sym_find(&name)
            .filter(|id| !s.db.sym(*id).menus.is_empty())
    else {
        let sug = ksolve::suggest(&s.db, &name);
        anyhow::bail!(
            "{name} is not a symbol of Linux {} {}{}",
            s.tree.kernelversion,
            a.arch,
            crate::tailor::did_you_mean(&sug)
        );
    };

    let (cfg_text, cfg_name) = match &a.config {
        Some(p) => (
            std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?,
            p.display().to_string(),
        ),
        None => (String::new(), String::new()),
    };
    let mut st = s.db.clone();
    let user_set = if a.config.is_some() {
        st.run_mode(
            Mode::OldDefconfig,
            Some(Input {
                name: &cfg_name,
                data: cfg_text.as_bytes(),
            }),
            None,
            &RunOptions::default(),
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        let set = format!("CONFIG_{name}=");
        let unset = format!("# CONFIG_{name} is not set");
        cfg_text.lines().any(|l| l.starts_with(&set) || l == unset)
    } else {
        st.run_mode(Mode::AllNo, None, None, &RunOptions::default())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        false
    };
    let ex = ksolve::explain(&mut st, id, user_set);

    let cat = Catalog::builtin();
    let features: Vec<String> = cat
        .features
        .iter()
        .filter(|f| f.config.iter().any(|r| r.symbol == name))
        .map(|f| f.name.clone())
        .collect();

    let (to_enable, to_enable_error) = if ex.value == "n" && s.db.sym(id).ty.is_tri_like() {
        let solver = Solver::new(&s.db, cfg_text.clone());
        match solver.solve(&[Request {
            symbol: name.clone(),
            value: "y".into(),
            origin: "explain".into(),
        }]) {
            Ok(sol) => (Some(sol.additions), None),
            Err(e) => (None, Some(e.to_string())),
        }
    } else {
        (None, None)
    };

    if a.json {
        let r = Report {
            explanation: ex,
            features,
            to_enable,
            to_enable_error,
        };
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "CONFIG_{} ({}) = {}: {}",
        ex.symbol, ex.ty, ex.value, ex.because
    );
    for p in &ex.prompts {
        println!("  prompt: {p}");
    }
    if ex.depends_on != "y" {
        println!("  depends on: {}", ex.depends_on);
        let terms: Vec<String> = ex
            .depends_terms
            .iter()
            .map(|t| format!("{}={}", t.symbol, t.value))
            .collect();
        println!("    where {}", terms.join(", "));
    }
    for t in &ex.selected_by {
        println!("  selected by: {} [={}]", t.symbol, t.value);
    }
    for t in &ex.implied_by {
        println!("  implied by: {} [={}]", t.symbol, t.value);
    }
    for d in &ex.defaults {
        println!("  default: {d}");
    }
    if let Some(r) = &ex.range {
        println!("  range: {r}");
    }
    for x in &ex.selects {
        println!("  selects: {x}");
    }
    for x in &ex.implies {
        println!("  implies: {x}");
    }
    for d in &ex.defined_at {
        println!("  defined at: {d}");
    }
    if !features.is_empty() {
        println!("  ktailor features: {}", features.join(", "));
    }
    if let Some(adds) = &to_enable {
        println!("  to enable it, set CONFIG_{}=y and:", ex.symbol);
        for ad in adds {
            println!("    CONFIG_{}={}  ({})", ad.symbol, ad.value, ad.reason);
        }
    }
    if let Some(e) = &to_enable_error {
        println!("  it cannot be enabled here: {e}");
    }
    Ok(ExitCode::SUCCESS)
}
