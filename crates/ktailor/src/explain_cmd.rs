//! `ktailor explain SYMBOL`: its value and why, the dependency chain with
//! every term's value, and the smallest change that would enable it.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use crate::args::TreeArgs;
use crate::ui::Ui;

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

pub fn run(a: Args) -> Result<ExitCode> {
    let name = a.symbol.strip_prefix("CONFIG_").unwrap_or(&a.symbol);
    let ui = Ui::new(a.json, false);
    let s = kpipeline::prepare::open_session(&a.tree.spec(), &a.arch, &ui.ev())?;
    let r = kpipeline::explain::explain(&s, &a.arch, name, a.config.as_deref())?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(ExitCode::SUCCESS);
    }
    let (ex, features, to_enable, to_enable_error) = (
        &r.explanation,
        &r.features,
        &r.to_enable,
        &r.to_enable_error,
    );
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
