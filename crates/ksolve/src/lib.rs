//! The requirement solver: from "I want these CONFIG values" to a
//! configuration in which every one of them holds, adding the fewest other
//! assignments it can find (dependencies, choice members, `||` alternatives,
//! EXPERT for `if EXPERT` prompts, selectors for promptless symbols), each
//! with its reason — or a clear refusal naming the unmet term and its chain.
//!
//! The configuration is computed exactly as the kernel would compute it:
//! `make allnoconfig` with `KCONFIG_ALLCONFIG` holding the base's fragments
//! plus the assignments. So the result is a fixpoint of `make olddefconfig`,
//! nothing not asked for is switched on, and the fragment we write reproduces
//! it with the kernel's own tools.

mod explain;
mod plan;

use std::collections::BTreeMap;

use kconfig::{Db, Input, Mode, RunOptions, SymId};

pub use explain::{explain, Explanation, Term};
pub use plan::Step;

/// One value the user asked for, and where the request came from.
#[derive(Clone, Debug)]
pub struct Request {
    pub symbol: String,
    pub value: String,
    /// e.g. "feature e1000", "fragment seed.config:12", "--with".
    pub origin: String,
}

/// Something the solver added on its own, and why.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Addition {
    pub symbol: String,
    pub value: String,
    pub reason: String,
}

/// A requested symbol this kernel does not define.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Unknown {
    pub symbol: String,
    pub origin: String,
    pub suggestions: Vec<String>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Solution {
    /// The .config, as `make allnoconfig` writes it.
    pub config: String,
    /// Base fragments plus every assignment: `KCONFIG_ALLCONFIG=<this> make
    /// allnoconfig` (or `merge_config.sh -n`) reproduces `config`.
    pub fragment: String,
    pub additions: Vec<Addition>,
    pub unknown: Vec<Unknown>,
}

/// Why a request cannot hold.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SolveError {
    pub symbol: String,
    pub wanted: String,
    pub origin: String,
    /// From the request down to the term that cannot change.
    pub chain: Vec<String>,
}

impl std::fmt::Display for SolveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CONFIG_{}={} ({}) cannot take effect:",
            self.symbol, self.wanted, self.origin
        )?;
        for (i, c) in self.chain.iter().enumerate() {
            write!(f, "\n  {}{}", "  ".repeat(i), c)?;
        }
        Ok(())
    }
}

impl std::error::Error for SolveError {}

/// The solver for one parsed tree and base.
pub struct Solver<'a> {
    pristine: &'a Db,
    /// Lines that precede the assignments in KCONFIG_ALLCONFIG (the base's
    /// fragments; empty for plain allnoconfig).
    base_fragment: String,
}

/// Assignments in the order they were decided, with their reasons.
#[derive(Clone, Debug, Default)]
pub(crate) struct Assignments {
    pub order: Vec<String>,
    pub values: BTreeMap<String, (String, String)>, // symbol -> (value, reason)
}

impl Assignments {
    fn set(&mut self, sym: &str, val: &str, reason: &str) {
        if !self.values.contains_key(sym) {
            self.order.push(sym.to_string());
        }
        self.values
            .insert(sym.to_string(), (val.to_string(), reason.to_string()));
    }
    fn get(&self, sym: &str) -> Option<&str> {
        self.values.get(sym).map(|(v, _)| v.as_str())
    }
    fn text(&self, db: &Db) -> String {
        let mut s = String::new();
        for name in &self.order {
            let (v, _) = &self.values[name];
            let line = line_for(db, name, v);
            s.push_str(&line);
            s.push('\n');
        }
        s
    }
}

/// A .config line for a value, quoting strings as conf does.
pub fn line_for(db: &Db, name: &str, v: &str) -> String {
    let p = &db.config_prefix;
    let ty = db.sym_find(name).map(|id| db.sym(id).ty);
    match ty {
        Some(kconfig::SymType::String) => format!("{p}{name}={}", kconfig::dotconfig::escape(v)),
        _ if v == "n" => format!("# {p}{name} is not set"),
        _ => format!("{p}{name}={v}"),
    }
}

impl<'a> Solver<'a> {
    pub fn new(pristine: &'a Db, base_fragment: String) -> Solver<'a> {
        Solver {
            pristine,
            base_fragment,
        }
    }

    /// Evaluate base + assignments the way `make allnoconfig` would.
    pub(crate) fn evaluate(&self, a: &Assignments) -> (Db, String) {
        let mut db = self.pristine.clone();
        let text = format!("{}{}", self.base_fragment, a.text(&db));
        let out = db
            .run_mode(
                Mode::Allnoconfig,
                None,
                Some(Input {
                    name: "ktailor-fragment",
                    data: text.as_bytes(),
                }),
                &RunOptions::default(),
            )
            .map(|o| o.output)
            .unwrap_or_default();
        (db, out)
    }

    /// The base configuration alone (for `explain` and diffs).
    pub fn base(&self) -> (Db, String) {
        self.evaluate(&Assignments::default())
    }

    /// Make every request hold, or say which cannot and why.
    pub fn solve(&self, requests: &[Request]) -> Result<Solution, SolveError> {
        let mut a = Assignments::default();
        let mut unknown = Vec::new();
        let mut known: Vec<(&Request, SymId)> = Vec::new();
        for r in requests {
            match self.pristine.sym_find(&r.symbol) {
                Some(id) if !self.pristine.sym(id).menus.is_empty() => {
                    let v =
                        normalize_value(self.pristine, id, &r.value).map_err(|m| SolveError {
                            symbol: r.symbol.clone(),
                            wanted: r.value.clone(),
                            origin: r.origin.clone(),
                            chain: vec![m],
                        })?;
                    if let Some(prev) = a.get(&r.symbol) {
                        if prev != v {
                            return Err(SolveError {
                                symbol: r.symbol.clone(),
                                wanted: v,
                                origin: r.origin.clone(),
                                chain: vec![format!(
                                    "an earlier request asks for CONFIG_{}={prev}",
                                    r.symbol
                                )],
                            });
                        }
                    }
                    a.set(&r.symbol, &v, &format!("requested ({})", r.origin));
                    known.push((r, id));
                }
                _ => unknown.push(Unknown {
                    symbol: r.symbol.clone(),
                    origin: r.origin.clone(),
                    suggestions: suggest(self.pristine, &r.symbol),
                }),
            }
        }
        let requested: Vec<String> = a.order.clone();

        // Plan, apply, re-evaluate: each round fixes what the previous left
        // unmet, until everything holds or a round makes no progress.
        let mut last_failure: Option<SolveError> = None;
        for _round in 0..64 {
            let (mut st, out) = self.evaluate(&a);
            let mut progress = false;
            let mut all_ok = true;
            for (r, id) in &known {
                let want = a.get(&r.symbol).unwrap_or("").to_string();
                if holds(&mut st, *id, &want) {
                    continue;
                }
                all_ok = false;
                let mut p = plan::Planner::new(&mut st, &a);
                match p.require_exact(*id, &want, &format!("CONFIG_{}={want}", r.symbol)) {
                    Ok(steps) => {
                        for s in steps {
                            if a.get(&s.symbol) != Some(s.value.as_str()) {
                                if requested.contains(&s.symbol) {
                                    // Never override an explicit request.
                                    continue;
                                }
                                a.set(&s.symbol, &s.value, &s.reason);
                                progress = true;
                            }
                        }
                        if !progress {
                            last_failure = Some(SolveError {
                                symbol: r.symbol.clone(),
                                wanted: want.clone(),
                                origin: r.origin.clone(),
                                chain: vec![format!(
                                    "CONFIG_{} is {} after all its dependencies hold; \
                                     something else forces it (a select or a range)",
                                    r.symbol,
                                    st.value_str(*id)
                                )],
                            });
                        }
                    }
                    Err(chain) => {
                        return Err(SolveError {
                            symbol: r.symbol.clone(),
                            wanted: want,
                            origin: r.origin.clone(),
                            chain,
                        })
                    }
                }
            }
            if all_ok {
                let fragment = format!("{}{}", self.base_fragment, a.text(self.pristine));
                let additions = a
                    .order
                    .iter()
                    .filter(|n| !requested.contains(n))
                    .map(|n| {
                        let (v, why) = &a.values[n];
                        Addition {
                            symbol: n.clone(),
                            value: v.clone(),
                            reason: why.clone(),
                        }
                    })
                    .collect();
                return Ok(Solution {
                    config: out,
                    fragment,
                    additions,
                    unknown,
                });
            }
            if !progress {
                break;
            }
        }
        Err(last_failure.unwrap_or_else(|| SolveError {
            symbol: String::new(),
            wanted: String::new(),
            origin: String::new(),
            chain: vec!["the solver did not converge".into()],
        }))
    }
}

/// Does symbol `id` have exactly value `want` in `st`?
pub(crate) fn holds(st: &mut Db, id: SymId, want: &str) -> bool {
    let v = st.value_str(id);
    if v == want {
        return true;
    }
    // Numbers compare by value (0x10 == 0X10 == 16 for hex).
    let ty = st.sym(id).ty;
    match ty {
        kconfig::SymType::Hex => {
            let p = |s: &str| {
                u64::from_str_radix(s.trim_start_matches("0x").trim_start_matches("0X"), 16).ok()
            };
            p(&v).is_some() && p(&v) == p(want)
        }
        _ => false,
    }
}

/// Check and normalise a requested value for the symbol's type.
fn normalize_value(db: &Db, id: SymId, v: &str) -> Result<String, String> {
    let s = db.sym(id);
    let name = db.sym_name(id);
    match s.ty {
        kconfig::SymType::Bool => match v {
            "y" | "n" => Ok(v.into()),
            "m" => Err(format!("{name} is a bool: it can be y or n, not m")),
            _ => Err(format!("{name} is a bool: {v:?} is not y or n")),
        },
        kconfig::SymType::Tristate => match v {
            "y" | "m" | "n" => Ok(v.into()),
            _ => Err(format!("{name} is a tristate: {v:?} is not y, m or n")),
        },
        kconfig::SymType::Int | kconfig::SymType::Hex => {
            if db.string_valid(id, v) {
                Ok(v.into())
            } else {
                Err(format!(
                    "{name} is {}: {v:?} is not a valid value",
                    s.ty.name()
                ))
            }
        }
        kconfig::SymType::String => Ok(unquote(v)),
        kconfig::SymType::Unknown => Err(format!("{name} has no type in this kernel")),
    }
}

/// A string value as written in a .config (`"a\"b"`) to its text (`a"b`),
/// read as conf reads it; text without an opening and closing quote is
/// taken as is.
fn unquote(v: &str) -> String {
    kconfig::dotconfig::unescape(v).unwrap_or_else(|| v.to_string())
}

/// The existing symbols closest to an unknown name.
pub fn suggest(db: &Db, name: &str) -> Vec<String> {
    let mut scored: Vec<(f64, String)> = db
        .named_symbols()
        .filter(|id| !db.sym(*id).menus.is_empty())
        .filter_map(|id| db.sym(id).name.clone())
        .map(|n| {
            let mut score = strsim::normalized_levenshtein(name, &n);
            // Shared words ("LOG_BUF_SHIFT" in "PRINTK_SAFE_LOG_BUF_SHIFT")
            // matter more than edit distance for renamed options.
            let words: Vec<&str> = name.split('_').filter(|w| w.len() > 2).collect();
            let shared = words
                .iter()
                .filter(|w| n.split('_').any(|x| x == **w))
                .count();
            if !words.is_empty() {
                score += 0.5 * shared as f64 / words.len() as f64;
            }
            if n.contains(name) || name.contains(n.as_str()) {
                score += 0.3;
            }
            (score, n)
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    scored
        .into_iter()
        .filter(|(s, _)| *s > 0.5)
        .take(3)
        .map(|(_, n)| n)
        .collect()
}
