//! Planning one request: which assignments would make a symbol take a value,
//! judged against the current evaluated configuration. Alternatives (`||`,
//! several selectors, several prompts) are all planned and the cheapest plan
//! wins; ties go to the earliest alternative, as a person reading the
//! Kconfig would pick. The caller applies the plan and re-evaluates, so a
//! plan only has to be right about the next step, not perfect.

use kconfig::model::{CmpOp, Expr, ExprId, PropKind, SYM_M, SYM_N, SYM_Y};
use kconfig::{Db, SymId, SymType, Tri};

use crate::Assignments;

/// One assignment a plan needs.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Step {
    pub symbol: String,
    pub value: String,
    pub reason: String,
}

/// A plan, or the chain of reasons it is impossible.
type R = Result<Vec<Step>, Vec<String>>;

const MAX_DEPTH: usize = 48;

pub(crate) struct Planner<'a> {
    st: &'a mut Db,
    a: &'a Assignments,
    path: Vec<SymId>,
    /// Plans per (symbol, on?) for this pass: the evaluated state does not
    /// change while planning, and without this a symbol selected by dozens
    /// of others makes the search exponential.
    memo: std::collections::HashMap<(SymId, bool), R>,
    /// How many times a cycle on the current path cut the search short.
    cycles: usize,
}

fn merge(mut a: Vec<Step>, b: Vec<Step>) -> R {
    for s in b {
        match a.iter().find(|x| x.symbol == s.symbol) {
            Some(x) if x.value == s.value => {}
            Some(x) => {
                return Err(vec![format!(
                    "CONFIG_{} would have to be both {} and {}",
                    s.symbol, x.value, s.value
                )])
            }
            None => a.push(s),
        }
    }
    Ok(a)
}

impl<'a> Planner<'a> {
    pub(crate) fn new(st: &'a mut Db, a: &'a Assignments) -> Planner<'a> {
        Planner {
            st,
            a,
            path: Vec::new(),
            memo: std::collections::HashMap::new(),
            cycles: 0,
        }
    }

    /// The cheapest successful plan; if none, the failure of the first
    /// option. A plan costs its assignments plus everything they switch on
    /// through `select` (a proxy for code size: the smallest kernel wins, not
    /// the shortest list).
    fn cheapest(&mut self, options: Vec<R>) -> R {
        let mut best: Option<(usize, Vec<Step>)> = None;
        let mut first_err: Option<Vec<String>> = None;
        for o in options {
            match o {
                Ok(p) => {
                    let c = self.cost(&p);
                    if best.as_ref().is_none_or(|(bc, _)| c < *bc) {
                        best = Some((c, p));
                    }
                }
                Err(e) => {
                    if first_err.is_none() {
                        first_err = Some(e);
                    }
                }
            }
        }
        match best {
            Some((_, p)) => Ok(p),
            None => Err(first_err.unwrap_or_else(|| vec!["no way to satisfy it".into()])),
        }
    }

    fn cost(&mut self, plan: &[Step]) -> usize {
        let mut seen = std::collections::HashSet::new();
        let mut stack: Vec<SymId> = Vec::new();
        let mut new_steps = 0;
        for st in plan {
            // Already decided (requested or added earlier): free, and so is
            // what it selects — it is coming anyway.
            if self.a.get(&st.symbol) == Some(st.value.as_str()) {
                continue;
            }
            new_steps += 1;
            if st.value == "n" {
                continue;
            }
            if let Some(id) = self.st.sym_find(&st.symbol) {
                stack.push(id);
            }
        }
        while let Some(s) = stack.pop() {
            if !seen.insert(s) {
                continue;
            }
            let targets: Vec<SymId> = self
                .st
                .props_of(s, PropKind::Select)
                .filter_map(|p| self.st.prop_sym(p))
                .collect();
            for t in targets {
                if self.tri(t) == Tri::N {
                    stack.push(t);
                }
            }
        }
        new_steps + seen.len()
    }

    fn name(&self, s: SymId) -> String {
        self.st.sym_name(s).to_string()
    }

    fn tri(&mut self, s: SymId) -> Tri {
        self.st.calc_value(s);
        self.st.sym(s).curr_tri
    }

    fn val(&mut self, e: Option<ExprId>) -> Tri {
        self.st.expr_calc(e)
    }

    fn show(&mut self, e: Option<ExprId>) -> String {
        let v = self.val(e);
        format!("{} [={}]", self.st.expr_str(e), v.as_str())
    }

    /// A step setting `s`, unless an explicit request says otherwise.
    fn step(&self, s: SymId, value: &str, reason: &str) -> R {
        let name = self.st.sym_name(s).to_string();
        if let Some(v) = self.a.get(&name) {
            if v != value {
                let why = self
                    .a
                    .values
                    .get(&name)
                    .map(|x| x.1.clone())
                    .unwrap_or_default();
                return Err(vec![format!(
                    "it needs CONFIG_{name}={value}, but CONFIG_{name}={v} is {why}"
                )]);
            }
        }
        Ok(vec![Step {
            symbol: name,
            value: value.to_string(),
            reason: reason.to_string(),
        }])
    }

    fn enter(&mut self, s: SymId) -> Result<(), Vec<String>> {
        if self.path.contains(&s) {
            self.cycles += 1;
            return Err(vec![format!(
                "{} depends on itself through {}",
                self.name(s),
                self.path
                    .iter()
                    .map(|x| self.st.sym_name(*x).to_string())
                    .collect::<Vec<_>>()
                    .join(" -> ")
            )]);
        }
        if self.path.len() > MAX_DEPTH {
            return Err(vec!["dependency chain too deep".into()]);
        }
        self.path.push(s);
        Ok(())
    }

    fn visible_prompts(&self, s: SymId) -> Vec<Option<ExprId>> {
        self.st
            .prompts_of(s)
            .into_iter()
            .map(|p| self.st.prop(p).visible_expr)
            .collect()
    }

    /// A request: exactly this value.
    pub(crate) fn require_exact(&mut self, s: SymId, want: &str, why: &str) -> R {
        let ty = self.st.sym(s).ty;
        match ty {
            SymType::Bool | SymType::Tristate => match want {
                "n" => self.off(s, why),
                "m" => {
                    let modules = self.st.modules_sym;
                    if modules == SYM_N {
                        return Err(vec!["this kernel has no loadable module support".into()]);
                    }
                    let m = self.at_least(modules, Tri::Y, "modules are needed for =m requests")?;
                    let p = self.settable(s, Tri::M, want, why)?;
                    merge(m, p)
                }
                _ => self.at_least(s, Tri::Y, why),
            },
            _ => self.settable(s, Tri::Y, want, why),
        }
    }

    /// Make one of `s`'s prompts visible (at `level`) and set it to `value`.
    fn settable(&mut self, s: SymId, level: Tri, value: &str, why: &str) -> R {
        let name = self.name(s);
        let prompts = self.visible_prompts(s);
        if prompts.is_empty() {
            return Err(vec![format!(
                "{name} has no prompt: its value comes only from defaults and selects"
            )]);
        }
        self.enter(s)?;
        let mut opts = Vec::new();
        for vis in prompts {
            let r = self
                .satisfy(
                    vis,
                    level,
                    &format!("{name} can only be set when this holds"),
                )
                .map_err(|mut c| {
                    let shown = self.show(vis);
                    c.insert(0, format!("{name} can be set only if {shown}"));
                    c
                });
            opts.push(r.and_then(|p| merge(p, self.step(s, value, why)?)));
        }
        self.path.pop();
        self.cheapest(opts)
    }

    /// Make a bool/tristate at least `level` (we build in, so `m` is met with `y`).
    fn at_least(&mut self, s: SymId, level: Tri, why: &str) -> R {
        if self.tri(s) >= level {
            return Ok(Vec::new());
        }
        if let Some(r) = self.memo.get(&(s, true)) {
            return r.clone();
        }
        let before = self.cycles;
        let r = self.at_least_uncached(s, why);
        // A failure caused by a cycle through the current path is not a
        // property of the symbol: don't remember it.
        if r.is_ok() || self.cycles == before {
            self.memo.insert((s, true), r.clone());
        }
        r
    }

    fn at_least_uncached(&mut self, s: SymId, why: &str) -> R {
        let name = self.name(s);
        if s == SYM_Y || s == SYM_M || s == SYM_N || self.st.sym(s).menus.is_empty() {
            let what = if self.st.sym(s).menus.is_empty() && !Db::is_const_yn(s) {
                format!("{name} is not defined for this architecture or kernel")
            } else {
                format!("{name} is the constant {}", self.tri(s).as_str())
            };
            return Err(vec![what]);
        }
        if !self.st.sym(s).ty.is_tri_like() {
            return Err(vec![format!(
                "{name} is {}, it cannot be used as a condition",
                self.st.sym(s).ty.name()
            )]);
        }
        self.enter(s)?;
        let mut opts = Vec::new();
        let prompts = self.visible_prompts(s);
        let has_prompt = !prompts.is_empty();
        for vis in prompts {
            let reason = if why.is_empty() {
                format!("needed for {name}")
            } else {
                why.to_string()
            };
            let shown = self.st.expr_str(vis);
            let r = self
                .satisfy(vis, Tri::Y, &format!("{name} depends on {shown}"))
                .map_err(|mut c| {
                    let shown = self.show(vis);
                    c.insert(0, format!("{name} can be set only if {shown}"));
                    c
                });
            opts.push(r.and_then(|p| merge(p, self.step(s, "y", &reason)?)));
        }
        // Selected by something that can be switched on?
        let rev = self.st.sym(s).rev_dep;
        for t in self.st.or_terms(rev) {
            let shown = self.st.expr_str(Some(t));
            let r = self
                .satisfy(Some(t), Tri::Y, &format!("selects {name} ({why})"))
                .map_err(|mut c| {
                    c.insert(
                        0,
                        format!("{name} is selected by {shown}, which cannot hold"),
                    );
                    c
                });
            opts.push(r);
        }
        // A default that could become y (promptless symbols only: with a
        // visible prompt, allnoconfig's "n" wins over defaults).
        if !has_prompt {
            let defaults: Vec<_> = self.st.props_of(s, PropKind::Default).collect();
            for d in defaults {
                let cond = self.st.prop(d).visible_expr;
                let e = self.st.prop(d).expr;
                let shown = format!("{} if {}", self.st.expr_str(e), self.st.expr_str(cond));
                let r = self
                    .satisfy(cond, Tri::Y, &format!("{name} defaults to {shown}"))
                    .and_then(|p| {
                        let q = self.satisfy(e, Tri::Y, &format!("{name} defaults to {shown}"))?;
                        merge(p, q)
                    })
                    .map_err(|mut c| {
                        c.insert(
                            0,
                            format!("{name} has no prompt; its default {shown} cannot be y"),
                        );
                        c
                    });
                opts.push(r);
                // Only the first default whose condition holds applies.
                if self.val(cond) != Tri::N {
                    break;
                }
            }
            let imp = self.st.sym(s).implied;
            for t in self.st.or_terms(imp) {
                let r = self.satisfy(Some(t), Tri::Y, &format!("implies {name} ({why})"));
                opts.push(r);
            }
        }
        self.path.pop();
        if opts.is_empty() {
            return Err(vec![format!(
                "{name} has no prompt, nothing selects it and it has no default"
            )]);
        }
        self.cheapest(opts)
    }

    /// Make a bool/tristate n.
    fn off(&mut self, s: SymId, why: &str) -> R {
        if self.tri(s) == Tri::N {
            return Ok(Vec::new());
        }
        if let Some(r) = self.memo.get(&(s, false)) {
            return r.clone();
        }
        let before = self.cycles;
        let r = self.off_uncached(s, why);
        if r.is_ok() || self.cycles == before {
            self.memo.insert((s, false), r.clone());
        }
        r
    }

    fn off_uncached(&mut self, s: SymId, why: &str) -> R {
        let name = self.name(s);
        if Db::is_const_yn(s) {
            return Err(vec![format!("{name} is a constant")]);
        }
        self.enter(s)?;
        let mut plan = Vec::new();
        let res = (|| {
            let rev = self.st.sym(s).rev_dep;
            if rev.is_some() && self.val(rev) != Tri::N {
                let shown = self.show(rev);
                let p = self
                    .falsify(rev, &format!("it selects {name}, which must be off"))
                    .map_err(|mut c| {
                        c.insert(0, format!("{name} is selected by {shown}"));
                        c
                    })?;
                plan = merge(plan.clone(), p)?;
            }
            if self.st.sym(s).visible != Tri::N {
                return merge(plan.clone(), self.step(s, "n", why)?);
            }
            let prompts = self.visible_prompts(s);
            if prompts.is_empty() {
                let d = self.default_text(s);
                return Err(vec![format!(
                    "{name} has no prompt and defaults to {d}; it cannot be switched off"
                )]);
            }
            let mut opts = Vec::new();
            for vis in prompts {
                let r = self
                    .satisfy(
                        vis,
                        Tri::Y,
                        &format!("{name} can only be switched off when this holds"),
                    )
                    .map_err(|mut c| {
                        let shown = self.show(vis);
                        c.insert(0, format!("{name} can be changed only if {shown}"));
                        c
                    });
                opts.push(r.and_then(|p| merge(p, self.step(s, "n", why)?)));
            }
            merge(plan.clone(), self.cheapest(opts)?)
        })();
        self.path.pop();
        res
    }

    fn default_text(&mut self, s: SymId) -> String {
        let d: Vec<_> = self.st.props_of(s, PropKind::Default).collect();
        for p in d {
            let cond = self.st.prop(p).visible_expr;
            if self.val(cond) != Tri::N {
                let e = self.st.prop(p).expr;
                return self.show(e);
            }
        }
        "n".into()
    }

    /// Make an expression at least `level`.
    fn satisfy(&mut self, e: Option<ExprId>, level: Tri, why: &str) -> R {
        if self.val(e) >= level {
            return Ok(Vec::new());
        }
        let Some(id) = e else { return Ok(Vec::new()) };
        match self.st.expr(id) {
            Expr::Sym(s) => self.at_least(s, Tri::Y, why),
            Expr::And(a, b) => {
                let p = self.satisfy(Some(a), level, why)?;
                let q = self.satisfy(Some(b), level, why)?;
                merge(p, q)
            }
            Expr::Or(a, b) => {
                let p = self.satisfy(Some(a), level, why);
                let q = self.satisfy(Some(b), level, why);
                self.cheapest(vec![p, q])
            }
            Expr::Not(x) => self.falsify(Some(x), why),
            Expr::Cmp(op, a, b) => self.satisfy_cmp(op, a, b, why),
            Expr::Range(..) => Ok(Vec::new()),
        }
    }

    fn satisfy_cmp(&mut self, op: CmpOp, a: SymId, b: SymId, why: &str) -> R {
        let is_tri_const = |x: SymId| x == SYM_Y || x == SYM_M || x == SYM_N;
        let (sym, other, op) = if is_tri_const(a) || self.st.sym(a).menus.is_empty() {
            let flipped = match op {
                CmpOp::Lth => CmpOp::Gth,
                CmpOp::Leq => CmpOp::Geq,
                CmpOp::Gth => CmpOp::Lth,
                CmpOp::Geq => CmpOp::Leq,
                o => o,
            };
            (b, a, flipped)
        } else {
            (a, b, op)
        };
        if self.st.sym(sym).menus.is_empty() {
            let (l, r) = (self.name(a), self.name(b));
            return Err(vec![format!(
                "{l} {} {r} is fixed by the build environment and does not hold",
                op.as_str()
            )]);
        }
        let ty = self.st.sym(sym).ty;
        if ty.is_tri_like() && is_tri_const(other) {
            return match (op, other) {
                (CmpOp::Equal, o) if o == SYM_N => self.off(sym, why),
                (CmpOp::Equal, o) if o == SYM_M => self.require_exact(sym, "m", why),
                (CmpOp::Equal, _) => self.at_least(sym, Tri::Y, why),
                (CmpOp::Unequal, o) if o == SYM_N => self.at_least(sym, Tri::Y, why),
                (CmpOp::Unequal, o) if o == SYM_Y => self.off(sym, why),
                _ => Err(vec![format!(
                    "cannot satisfy {} {} {}",
                    self.name(sym),
                    op.as_str(),
                    self.name(other)
                )]),
            };
        }
        // int/hex/string against a literal
        self.st.calc_value(other);
        let lit = self.st.get_string_value(other);
        let target = match op {
            CmpOp::Equal | CmpOp::Leq | CmpOp::Geq => Some(lit.clone()),
            CmpOp::Gth if ty == SymType::Int => {
                lit.parse::<i64>().ok().map(|n| (n + 1).to_string())
            }
            CmpOp::Lth if ty == SymType::Int => {
                lit.parse::<i64>().ok().map(|n| (n - 1).to_string())
            }
            _ => None,
        };
        match target {
            Some(t) => self.require_exact(sym, &t, why),
            None => Err(vec![format!(
                "cannot satisfy {} {} {}",
                self.name(sym),
                op.as_str(),
                lit
            )]),
        }
    }

    /// Make an expression n.
    fn falsify(&mut self, e: Option<ExprId>, why: &str) -> R {
        let Some(id) = e else {
            return Err(vec!["an always-true condition cannot be made false".into()]);
        };
        if self.val(e) == Tri::N {
            return Ok(Vec::new());
        }
        match self.st.expr(id) {
            Expr::Sym(s) => self.off(s, why),
            Expr::And(a, b) => {
                let p = self.falsify(Some(a), why);
                let q = self.falsify(Some(b), why);
                self.cheapest(vec![p, q])
            }
            Expr::Or(a, b) => {
                let p = self.falsify(Some(a), why)?;
                let q = self.falsify(Some(b), why)?;
                merge(p, q)
            }
            Expr::Not(x) => self.satisfy(Some(x), Tri::Y, why),
            Expr::Cmp(CmpOp::Equal, a, b) if b == SYM_Y || b == SYM_M => self.off(a, why),
            Expr::Cmp(CmpOp::Equal, a, b) if b == SYM_N => self.at_least(a, Tri::Y, why),
            Expr::Cmp(CmpOp::Unequal, a, b) if b == SYM_N => self.off(a, why),
            Expr::Cmp(CmpOp::Unequal, a, b) if b == SYM_Y => self.at_least(a, Tri::Y, why),
            _ => {
                let shown = self.show(e);
                Err(vec![format!("cannot make {shown} false")])
            }
        }
    }
}
