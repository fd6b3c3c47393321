//! `explain`: a symbol's value and why, the dependency chain with every
//! term's value, the catalog features that set it, and the smallest change
//! that would enable it.

use std::path::Path;

use anyhow::{Context, Result};
use kcatalog::Catalog;
use kconfig::{Input, Mode, RunOptions};
use ksolve::{Request, Solver};
use serde::Serialize;

use crate::session::Session;

/// A symbol explained.
#[derive(Serialize)]
pub struct Explained {
    #[serde(flatten)]
    pub explanation: ksolve::Explanation,
    pub features: Vec<String>,
    /// What else must be set for CONFIG_<SYMBOL>=y (empty if it already is).
    pub to_enable: Option<Vec<ksolve::Addition>>,
    pub to_enable_error: Option<String>,
}

/// Explains `name` (without CONFIG_) in `config` (default: the
/// allnoconfig base) of the session's kernel.
pub fn explain(s: &Session, arch: &str, name: &str, config: Option<&Path>) -> Result<Explained> {
    let name = name.to_string();
    let Some(id) =
        s.db.sym_find(&name)
            .filter(|id| !s.db.sym(*id).menus.is_empty())
    else {
        let sug = ksolve::suggest(&s.db, &name);
        anyhow::bail!(
            "{name} is not a symbol of Linux {} {}{}",
            s.tree.kernelversion,
            arch,
            crate::fmt::did_you_mean(&sug)
        );
    };

    let (cfg_text, cfg_name) = match config {
        Some(p) => (
            std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?,
            p.display().to_string(),
        ),
        None => (String::new(), String::new()),
    };
    let mut st = s.db.clone();
    let user_set = if config.is_some() {
        st.run_mode(
            Mode::Olddefconfig,
            Some(Input {
                name: &cfg_name,
                data: cfg_text.as_bytes(),
            }),
            None,
            &RunOptions::default(),
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        kconfig::dotconfig::parse(&cfg_name, &cfg_text)
            .get(&name)
            .is_some()
    } else {
        st.run_mode(Mode::Allnoconfig, None, None, &RunOptions::default())
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

    Ok(Explained {
        explanation: ex,
        features,
        to_enable,
        to_enable_error,
    })
}
