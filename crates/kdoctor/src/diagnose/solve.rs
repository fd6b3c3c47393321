//! Advice through the solver: what else a suggestion's requests need
//! (dependencies, `EXPERT` for prompts it hides) over the given
//! configuration, as fragment lines, and the option's prompt.

use std::collections::HashMap;

use kconfig::Db;

use super::report::{Setting, Suggestion};

/// Solves requests over one base configuration, each set of requests once.
pub(super) struct Advisor<'a> {
    db: &'a Db,
    solver: ksolve::Solver<'a>,
    cache: HashMap<Vec<String>, Result<ksolve::Solution, String>>,
}

impl<'a> Advisor<'a> {
    pub(super) fn new(db: &'a Db, base_fragment: String) -> Advisor<'a> {
        Advisor {
            db,
            solver: ksolve::Solver::new(db, base_fragment),
            cache: HashMap::new(),
        }
    }

    /// Fills in what the solver adds for `s.requests`, the fragment lines
    /// to set, and why it could not, if it could not.
    pub(super) fn advise(&mut self, s: &mut Suggestion) {
        let solver = &self.solver;
        let res = self.cache.entry(s.requests.clone()).or_insert_with(|| {
            let reqs: Vec<ksolve::Request> = s
                .requests
                .iter()
                .map(|r| ksolve::Request {
                    symbol: r.clone(),
                    value: "y".into(),
                    origin: format!("doctor: {}", s.option),
                })
                .collect();
            solver.solve(&reqs).map_err(|e| e.to_string())
        });
        match res {
            Ok(sol) => {
                s.additions = sol
                    .additions
                    .iter()
                    .map(|a| Setting {
                        symbol: a.symbol.clone(),
                        value: a.value.clone(),
                        reason: a.reason.clone(),
                    })
                    .collect();
                let mut set: Vec<String> = s
                    .requests
                    .iter()
                    .map(|r| ksolve::line_for(self.db, r, "y"))
                    .collect();
                set.extend(
                    s.additions
                        .iter()
                        .map(|a| ksolve::line_for(self.db, &a.symbol, &a.value)),
                );
                s.set = set;
                if !sol.unknown.is_empty() {
                    s.solve_error = Some(format!(
                        "not in this kernel: {}",
                        sol.unknown
                            .iter()
                            .map(|u| u.symbol.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
            }
            Err(e) => s.solve_error = Some(e.clone()),
        }
    }
}

/// The option's first prompt and when it is visible: `"Enable futex
/// support" if EXPERT`.
pub(super) fn prompt_of(db: &Db, name: &str) -> Option<String> {
    let id = db.sym_find(name)?;
    let p = *db.prompts_of(id).first()?;
    let pr = db.prop(p);
    let text = pr.text.clone().unwrap_or_default();
    Some(if pr.visible_expr.is_some() {
        format!("\"{text}\" if {}", db.expr_str(pr.visible_expr))
    } else {
        format!("\"{text}\"")
    })
}
