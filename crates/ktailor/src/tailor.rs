//! From a target, features and fragments to a solved configuration: the step
//! `config`, `build`, `boot` and `ladder` share, so they can never disagree
//! about what a target means.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use kcatalog::{Base, Catalog, Feature, Target};
use ksolve::{Request, Solution, SolveError, Solver};

use crate::session::Session;

/// What the user asked for.
#[derive(Clone, Debug, Default)]
pub struct Wanted {
    pub target: Option<String>,
    pub with: Vec<String>,
    pub without: Vec<String>,
    pub base: Option<Base>,
    pub arch: Option<String>,
}

/// The features and base a request resolves to, before the kernel is read.
pub struct Resolved<'c> {
    pub target: Option<&'c Target>,
    pub features: Vec<&'c Feature>,
    pub base: Base,
    pub arch: String,
}

/// A solved configuration and what comes with it.
pub struct Tailored {
    pub requests: Vec<Request>,
    pub solution: Solution,
    /// Kernel parameters the features and target want.
    pub cmdline: Vec<String>,
    /// File systems the features make available.
    pub filesystems: Vec<String>,
    /// Probes that prove the features, in catalog order, each once.
    pub probes: Vec<String>,
}

pub fn base_name(b: Base) -> &'static str {
    match b {
        Base::Allnoconfig => "allnoconfig",
        Base::Tinyconfig => "tinyconfig",
    }
}

pub fn did_you_mean(s: &[impl AsRef<str>]) -> String {
    if s.is_empty() {
        String::new()
    } else {
        let v: Vec<&str> = s.iter().map(|x| x.as_ref()).collect();
        format!("; did you mean {}?", v.join(", "))
    }
}

/// Names → features (with everything they require), checking every name.
pub fn resolve<'c>(cat: &'c Catalog, w: &Wanted) -> Result<Resolved<'c>> {
    let target = match &w.target {
        Some(t) => Some(cat.target(t).with_context(|| {
            let names: Vec<&str> = cat.targets.iter().map(|t| t.name.as_str()).collect();
            format!("unknown target {t:?}; targets: {}", names.join(", "))
        })?),
        None => None,
    };
    let arch = w
        .arch
        .clone()
        .or_else(|| target.map(|t| t.arch.clone()))
        .unwrap_or_else(|| "x86_64".into());
    let base = w
        .base
        .or_else(|| target.map(|t| t.base))
        .unwrap_or(Base::Tinyconfig);
    let mut names: Vec<String> = target.map(|t| t.features.clone()).unwrap_or_default();
    for x in &w.with {
        if cat.feature(x).is_none() {
            bail!(
                "unknown feature {x:?}{}",
                did_you_mean(&cat.suggest_feature(x))
            );
        }
        if !names.contains(x) {
            names.push(x.clone());
        }
    }
    for x in &w.without {
        if cat.feature(x).is_none() {
            bail!(
                "unknown feature {x:?}{}",
                did_you_mean(&cat.suggest_feature(x))
            );
        }
        names.retain(|n| n != x);
    }
    let features = cat.closure(&names).map_err(anyhow::Error::msg)?;
    for x in &w.without {
        if let Some(f) = features.iter().find(|f| f.requires.contains(x)) {
            bail!("--without {x}: feature {} requires it", f.name);
        }
    }
    Ok(Resolved {
        target,
        features,
        base,
        arch,
    })
}

fn push_once(v: &mut Vec<String>, x: &str) {
    if !v.iter().any(|y| y == x) {
        v.push(x.to_string());
    }
}

/// Solves the resolved request against the session's kernel. The inner
/// `Err` is a request that cannot hold (reported to the user, not a crash).
pub fn tailor(
    s: &Session,
    r: &Resolved<'_>,
    fragments: &[PathBuf],
) -> Result<Result<Tailored, SolveError>> {
    let mut requests = Vec::new();
    let mut cmdline: Vec<String> = Vec::new();
    let mut filesystems: Vec<String> = Vec::new();
    let mut probes: Vec<String> = Vec::new();
    for f in &r.features {
        if !f.arches.is_empty() && !f.arches.contains(&r.arch) {
            continue;
        }
        for q in f.config_for(&s.tree.kernelversion) {
            requests.push(Request {
                symbol: q.symbol.clone(),
                value: q.value.clone(),
                origin: format!("feature {}", f.name),
            });
        }
        for c in &f.cmdline {
            push_once(&mut cmdline, c);
        }
        for x in &f.filesystems {
            push_once(&mut filesystems, x);
        }
        for p in &f.probes {
            push_once(&mut probes, p);
        }
    }
    if let Some(t) = r.target {
        for c in &t.cmdline {
            push_once(&mut cmdline, c);
        }
    }
    for p in fragments {
        requests.extend(crate::config_cmd::read_fragment(p)?);
    }
    let solver = Solver::new(&s.db, s.base_fragment(r.base)?);
    Ok(solver.solve(&requests).map(|solution| Tailored {
        requests,
        solution,
        cmdline,
        filesystems,
        probes,
    }))
}
