//! `ktailor config`: from a target, features and fragments to a .config in
//! which every requested value holds.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use kcatalog::{Base, Catalog};
use ksolve::{Request, Solver};
use serde::Serialize;

use crate::session::{Session, TreeArgs};

#[derive(Clone, Copy, Debug, clap::ValueEnum, PartialEq, Eq)]
pub enum BaseArg {
    Allnoconfig,
    Tinyconfig,
}

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

/// Requests from a fragment file; bad lines are errors naming file:line.
pub fn read_fragment(path: &Path) -> Result<Vec<Request>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read fragment {}", path.display()))?;
    parse_fragment(&path.display().to_string(), &text)
}

pub fn parse_fragment(name: &str, text: &str) -> Result<Vec<Request>> {
    let mut v = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let origin = format!("{name}:{}", i + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# CONFIG_") {
            if let Some(sym) = rest.strip_suffix(" is not set") {
                v.push(Request {
                    symbol: sym.to_string(),
                    value: "n".into(),
                    origin,
                });
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        match line.strip_prefix("CONFIG_").and_then(|r| r.split_once('=')) {
            Some((sym, val)) if !sym.is_empty() => v.push(Request {
                symbol: sym.to_string(),
                value: val.to_string(),
                origin,
            }),
            _ => bail!(
                "{origin}: expected CONFIG_NAME=value or '# CONFIG_NAME is not set', got {raw:?}"
            ),
        }
    }
    Ok(v)
}

pub fn run(a: Args) -> Result<ExitCode> {
    let cat = Catalog::builtin();
    let target = match &a.target {
        Some(t) => Some(cat.target(t).with_context(|| {
            let names: Vec<&str> = cat.targets.iter().map(|t| t.name.as_str()).collect();
            format!("unknown target {t:?}; targets: {}", names.join(", "))
        })?),
        None => None,
    };
    if target.is_none() && a.with.is_empty() && a.fragment.is_empty() {
        bail!("nothing to configure: give --target, --with or --fragment");
    }
    let arch = a
        .arch
        .clone()
        .or_else(|| target.map(|t| t.arch.clone()))
        .unwrap_or_else(|| "x86_64".into());
    let base = match a.base {
        Some(BaseArg::Allnoconfig) => Base::Allnoconfig,
        Some(BaseArg::Tinyconfig) => Base::Tinyconfig,
        None => target.map(|t| t.base).unwrap_or(Base::Tinyconfig),
    };

    let mut names: Vec<String> = target.map(|t| t.features.clone()).unwrap_or_default();
    for w in &a.with {
        if cat.feature(w).is_none() {
            let s = cat.suggest_feature(w);
            bail!("unknown feature {w:?}{}", did_you_mean(&s));
        }
        if !names.contains(w) {
            names.push(w.clone());
        }
    }
    for w in &a.without {
        if cat.feature(w).is_none() {
            bail!(
                "unknown feature {w:?}{}",
                did_you_mean(&cat.suggest_feature(w))
            );
        }
        names.retain(|n| n != w);
    }
    let features = cat.closure(&names).map_err(anyhow::Error::msg)?;
    for w in &a.without {
        if let Some(f) = features.iter().find(|f| f.requires.contains(w)) {
            bail!("--without {w}: feature {} requires it", f.name);
        }
    }

    let s = Session::open(&a.tree, &arch)?;
    let mut requests = Vec::new();
    let mut cmdline: Vec<String> = Vec::new();
    for f in &features {
        if !f.arches.is_empty() && !f.arches.contains(&arch) {
            continue;
        }
        for r in f.config_for(&s.tree.kernelversion) {
            requests.push(Request {
                symbol: r.symbol.clone(),
                value: r.value.clone(),
                origin: format!("feature {}", f.name),
            });
        }
        for c in &f.cmdline {
            if !cmdline.contains(c) {
                cmdline.push(c.clone());
            }
        }
    }
    if let Some(t) = target {
        for c in &t.cmdline {
            if !cmdline.contains(c) {
                cmdline.push(c.clone());
            }
        }
    }
    for p in &a.fragment {
        requests.extend(read_fragment(p)?);
    }

    let solver = Solver::new(&s.db, s.base_fragment(base)?);
    let sol = match solver.solve(&requests) {
        Ok(sol) => sol,
        Err(e) => {
            if a.json {
                println!("{}", serde_json::to_string_pretty(&e)?);
            }
            eprintln!("ktailor: {e}");
            return Ok(ExitCode::from(1));
        }
    };
    crate::output::write_atomic(&a.output, sol.config.as_bytes())?;
    let frag_path = a.fragment_out.clone().unwrap_or_else(|| {
        let mut p = a.output.clone().into_os_string();
        p.push(".fragment");
        PathBuf::from(p)
    });
    crate::output::write_atomic(&frag_path, sol.fragment.as_bytes())?;

    let lines = sol.config.lines().count();
    let builtin = sol.config.lines().filter(|l| l.ends_with("=y")).count();
    let base_name = match base {
        Base::Allnoconfig => "allnoconfig",
        Base::Tinyconfig => "tinyconfig",
    };
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

pub fn did_you_mean(s: &[impl AsRef<str>]) -> String {
    if s.is_empty() {
        String::new()
    } else {
        let v: Vec<&str> = s.iter().map(|x| x.as_ref()).collect();
        format!("; did you mean {}?", v.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragment_lines() {
        let r = parse_fragment(
            "f",
            "CONFIG_A=y\n# CONFIG_B is not set\n\n# c\nCONFIG_S=\"x y\"\n",
        )
        .unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!((r[1].symbol.as_str(), r[1].value.as_str()), ("B", "n"));
        assert_eq!(r[2].value, "\"x y\"");
        assert_eq!(r[2].origin, "f:5");
        let e = parse_fragment("f", "CONFIG_A=y\nnonsense\n").unwrap_err();
        assert!(e.to_string().starts_with("f:2:"), "{e}");
    }
}
