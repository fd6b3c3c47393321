//! Finishing the menu tree after parsing (conf's `_menu_finalize`):
//! propagate `depends on` from enclosing menus/ifs/choices into every
//! property, build reverse dependencies for `select`/`imply`, create the
//! automatic submenus, flatten `if` blocks, and (legacy) decide which symbols
//! are choice values.
//!
//! conf also simplifies expressions here (expr_transform, eliminate_dups).
//! Those rewrites preserve tristate values, so we keep expressions as written:
//! evaluation gives the same answers and `explain` shows what the author wrote.

use crate::db::{is_choice, is_choice_value, Db, Dialect, ROOT_MENU};
use crate::diag::Diag;
use crate::model::*;

pub fn finalize(db: &mut Db, warnings: &mut Vec<Diag>) {
    finalize_rec(db, ROOT_MENU, false, warnings);
}

fn children(db: &Db, m: MenuId) -> Vec<MenuId> {
    let mut v = Vec::new();
    let mut c = db.menu(m).list;
    while let Some(id) = c {
        v.push(id);
        c = db.menu(id).next;
    }
    v
}

/// `rewrite_m`: a literal `m` in a dependency becomes `m && MODULES`, so it
/// reads as `n` when modules are off.
fn rewrite_m(db: &mut Db, e: Option<ExprId>) -> Option<ExprId> {
    let e = e?;
    Some(match db.expr(e) {
        Expr::Not(a) => {
            let a = rewrite_m(db, Some(a)).expect("operand exists");
            db.new_expr(Expr::Not(a))
        }
        Expr::And(a, b) => {
            let a = rewrite_m(db, Some(a)).expect("operand exists");
            let b = rewrite_m(db, Some(b)).expect("operand exists");
            db.new_expr(Expr::And(a, b))
        }
        Expr::Or(a, b) => {
            let a = rewrite_m(db, Some(a)).expect("operand exists");
            let b = rewrite_m(db, Some(b)).expect("operand exists");
            db.new_expr(Expr::Or(a, b))
        }
        Expr::Sym(s) if s == SYM_M => {
            let m = db.expr_sym(db.modules_sym);
            db.new_expr(Expr::And(e, m))
        }
        _ => e,
    })
}

fn finalize_rec(db: &mut Db, parent: MenuId, inside_choice: bool, warnings: &mut Vec<Diag>) {
    let legacy = db.dialect == Dialect::Legacy;
    let sym = db.menu(parent).sym;
    let parent_is_choice = sym.is_some_and(|s| is_choice(db, s));

    if db.menu(parent).list.is_some() {
        let parentdep = if legacy && parent_is_choice {
            let s = sym.expect("choice has a symbol");
            if db.sym(s).ty == SymType::Unknown {
                let first = children(db, parent)
                    .into_iter()
                    .filter_map(|c| db.menu(c).sym)
                    .map(|cs| db.sym(cs).ty)
                    .find(|t| *t != SymType::Unknown);
                if let Some(t) = first {
                    db.sym_mut(s).ty = t;
                }
            }
            let cty = db.sym(s).ty;
            for c in children(db, parent) {
                if let Some(cs) = db.menu(c).sym {
                    if db.sym(cs).ty == SymType::Unknown {
                        db.sym_mut(cs).ty = cty;
                    }
                }
            }
            Some(db.expr_sym(s))
        } else {
            db.menu(parent).dep
        };

        for c in children(db, parent) {
            let own = db.menu(c).dep;
            let rw = rewrite_m(db, own);
            let basedep = db.expr_and(parentdep, rw);
            db.menu_mut(c).dep = basedep;
            let props: Vec<PropId> = match db.menu(c).sym {
                Some(cs) => db.sym(cs).props.clone(),
                None => db.menu(c).prompt.into_iter().collect(),
            };
            for p in props {
                if db.prop(p).menu != c {
                    continue;
                }
                let vis = db.prop(p).visible_expr;
                let rw = rewrite_m(db, vis);
                let dep = db.expr_and(basedep, rw);
                db.props[p.idx()].visible_expr = dep;
                let kind = db.prop(p).kind;
                if kind == PropKind::Select || kind == PropKind::Imply {
                    let es = db.prop_sym(p).expect("select/imply names a symbol");
                    let me = db.expr_sym(db.menu(c).sym.expect("select/imply on a symbol"));
                    let term = db.expr_and(Some(me), dep);
                    if kind == PropKind::Select {
                        let cur = db.sym(es).rev_dep;
                        db.sym_mut(es).rev_dep = db.expr_or(cur, term);
                    } else {
                        let cur = db.sym(es).implied;
                        db.sym_mut(es).implied = db.expr_or(cur, term);
                    }
                }
            }
        }

        let mut c = db.menu(parent).list;
        while let Some(id) = c {
            finalize_rec(db, id, parent_is_choice, warnings);
            c = db.menu(id).next;
        }
    } else if let Some(s) = sym {
        if legacy || !inside_choice {
            auto_submenu(db, parent, s, warnings);
            let pd = db.menu(parent).dep;
            let cur = db.sym(s).dir_dep;
            db.sym_mut(s).dir_dep = db.expr_or(cur, pd);
        }
    }

    let mut c = db.menu(parent).list;
    while let Some(id) = c {
        if legacy && parent_is_choice {
            if let Some(cs) = db.menu(id).sym {
                if !is_choice_value(db, cs) {
                    mark_legacy_choice_value(db, parent, id, cs, warnings);
                }
            }
        }
        let flatten = db.menu(id).list.is_some()
            && db.menu(id).prompt.is_none_or(|p| db.prop(p).text.is_none());
        if flatten {
            let first = db.menu(id).list.expect("checked");
            let mut last = first;
            loop {
                db.menu_mut(last).parent = Some(parent);
                match db.menu(last).next {
                    Some(n) => last = n,
                    None => break,
                }
            }
            let after = db.menu(id).next;
            db.menu_mut(last).next = after;
            db.menu_mut(id).next = Some(first);
            db.menu_mut(id).list = None;
        }
        c = db.menu(id).next;
    }

    if let Some(s) = sym {
        if db.sym(s).flags & F_WARNED == 0 {
            if db.sym(s).ty == SymType::Unknown {
                let m = db.menu(parent);
                warnings.push(Diag::at(
                    db.file_name(m.file),
                    m.line,
                    "warning: config symbol defined without type",
                ));
            }
            db.sym_mut(s).flags |= F_WARNED;
        }
        if legacy && db.sym(s).flags & F_OPTIONAL == 0 {
            if let Some(p) = db.menu(parent).prompt {
                let vis = db.prop(p).visible_expr;
                let m = db.expr_sym(SYM_M);
                let t = db.expr_and(vis, Some(m));
                let cur = db.sym(s).rev_dep;
                db.sym_mut(s).rev_dep = db.expr_or(cur, t);
            }
        }
    }
}

fn mark_legacy_choice_value(
    db: &mut Db,
    choice_menu: MenuId,
    m: MenuId,
    cs: SymId,
    warnings: &mut Vec<Diag>,
) {
    let choice = db.menu(choice_menu).sym.expect("choice has a symbol");
    db.sym_mut(cs).flags |= F_CHOICEVAL;
    if db.menu(m).prompt.is_none() {
        let mm = db.menu(m);
        warnings.push(Diag::at(
            db.file_name(mm.file),
            mm.line,
            "warning: choice value must have a prompt",
        ));
    }
    if db.sym(choice).ty == SymType::Tristate && db.sym(cs).ty != SymType::Tristate {
        let base = db.new_expr(Expr::Cmp(CmpOp::Equal, choice, SYM_Y));
        let d = db.menu(m).dep;
        db.menu_mut(m).dep = db.expr_and(Some(base), d);
        for p in db.sym(cs).props.clone() {
            if db.prop(p).menu != m {
                continue;
            }
            let v = db.prop(p).visible_expr;
            db.props[p.idx()].visible_expr = db.expr_and(Some(base), v);
        }
    }
    // menu_add_symbol(P_CHOICE, choice) on the member, and append the member
    // to the choice's own P_CHOICE list.
    let e = db.expr_sym(choice);
    let id = PropId(db.props.len() as u32);
    db.props.push(Prop {
        kind: PropKind::Choice,
        text: None,
        expr: Some(e),
        visible_expr: None,
        visible_tri: Default::default(),
        menu: m,
        file: db.menu(m).file,
        line: db.menu(m).line,
        choice_members: Vec::new(),
    });
    db.sym_mut(cs).props.push(id);
    let cp = db.props_of(choice, PropKind::Choice).next();
    if let Some(cp) = cp {
        db.props[cp.idx()].choice_members.push(cs);
    }
}

/// Consecutive entries after a symbol that depend on it become its children
/// (conf's automatic submenus). Only the tree shape changes.
fn auto_submenu(db: &mut Db, parent: MenuId, s: SymId, warnings: &mut Vec<Diag>) {
    let basedep = db.menu(parent).prompt.and_then(|p| db.prop(p).visible_expr);
    let base_terms = db.and_terms(basedep);
    let mut last: Option<MenuId> = None;
    let mut m = db.menu(parent).next;
    while let Some(id) = m {
        let dep = match db.menu(id).prompt {
            Some(p) => db.prop(p).visible_expr,
            None => db.menu(id).dep,
        };
        if !contains_symbol(db, dep, s) {
            break;
        }
        if !depends_symbol(db, dep, s) {
            // Superset: every condition of the symbol's prompt also holds here.
            let terms = db.and_terms(dep);
            let superset = base_terms
                .iter()
                .all(|b| terms.iter().any(|t| db.expr_eq(*b, *t)));
            if !superset {
                break;
            }
        }
        finalize_rec(db, id, false, warnings);
        db.menu_mut(id).parent = Some(parent);
        last = Some(id);
        m = db.menu(id).next;
    }
    if let Some(l) = last {
        let first = db.menu(parent).next;
        db.menu_mut(parent).list = first;
        let after = db.menu(l).next;
        db.menu_mut(parent).next = after;
        db.menu_mut(l).next = None;
    }
}

fn contains_symbol(db: &Db, e: Option<ExprId>, s: SymId) -> bool {
    let Some(e) = e else { return false };
    match db.expr(e) {
        Expr::And(a, b) | Expr::Or(a, b) => {
            contains_symbol(db, Some(a), s) || contains_symbol(db, Some(b), s)
        }
        Expr::Sym(x) => x == s,
        Expr::Cmp(_, a, b) => a == s || b == s,
        Expr::Not(a) => contains_symbol(db, Some(a), s),
        Expr::Range(..) => false,
    }
}

fn depends_symbol(db: &Db, e: Option<ExprId>, s: SymId) -> bool {
    let Some(e) = e else { return false };
    match db.expr(e) {
        Expr::And(a, b) => depends_symbol(db, Some(a), s) || depends_symbol(db, Some(b), s),
        Expr::Sym(x) => x == s,
        Expr::Cmp(CmpOp::Equal, a, b) => a == s && (b == SYM_Y || b == SYM_M),
        Expr::Cmp(CmpOp::Unequal, a, b) => a == s && b == SYM_N,
        _ => false,
    }
}

/// Post-parse checks that make conf refuse a tree.
pub fn check(db: &mut Db) -> Vec<Diag> {
    let mut errs = Vec::new();
    if db.dialect == Dialect::Modern {
        for m in db.subtree(ROOT_MENU) {
            if !db.menu(m).is_choice {
                continue;
            }
            for c in db.subtree(m) {
                let Some(cs) = db.menu(c).sym else { continue };
                for &p in &db.sym(cs).props {
                    let pr = db.prop(p);
                    if pr.kind == PropKind::Default {
                        errs.push(Diag::at(
                            db.file_name(pr.file),
                            pr.line,
                            "error: defaults for choice values not supported",
                        ));
                    }
                    if pr.menu != c
                        && pr.kind == PropKind::Prompt
                        && db.menu(pr.menu).parent != db.menu(c).parent
                    {
                        errs.push(Diag::at(
                            db.file_name(pr.file),
                            pr.line,
                            "error: choice value has a prompt outside its choice group",
                        ));
                    }
                }
            }
        }
    }
    errs.extend(crate::deps::check_recursive(db));
    errs
}
