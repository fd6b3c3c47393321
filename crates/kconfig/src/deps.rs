//! Recursive dependency detection (conf's `sym_check_deps`).
//!
//! Evaluation itself cannot loop (a symbol is marked valid before its
//! dependencies are computed), but conf refuses trees with dependency cycles,
//! so we do too, with the same rules (choices are checked as one unit) and a
//! message that walks the cycle.

use crate::db::{is_choice, is_choice_value, Db, Dialect, ROOT_MENU};
use crate::diag::Diag;
use crate::model::*;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Via {
    None,
    DirDep,
    RevDep,
    Implied,
    PropVisible(PropKind),
    PropDefault,
}

struct Checker<'a> {
    db: &'a mut Db,
    stack: Vec<(SymId, Via)>,
    errors: Vec<Diag>,
}

pub fn check_recursive(db: &mut Db) -> Vec<Diag> {
    let order: Vec<SymId> = match db.dialect {
        Dialect::Modern => db
            .subtree(ROOT_MENU)
            .into_iter()
            .filter_map(|m| db.menu(m).sym)
            .collect(),
        Dialect::Legacy => db.hash_order.clone(),
    };
    let mut c = Checker {
        db,
        stack: Vec::new(),
        errors: Vec::new(),
    };
    for s in order {
        c.check_deps(s);
    }
    for s in c.db.syms.iter_mut() {
        s.flags &= !(F_CHECK | F_CHECKED);
    }
    c.errors
}

impl Checker<'_> {
    fn choice_of(&self, s: SymId) -> Option<SymId> {
        match self.db.dialect {
            Dialect::Modern => self.db.choice_menu_of(s).and_then(|m| self.db.menu(m).sym),
            Dialect::Legacy => {
                if is_choice_value(self.db, s) {
                    self.db.legacy_choice_of(s)
                } else {
                    None
                }
            }
        }
    }

    fn members(&self, choice: SymId) -> Vec<SymId> {
        match self.db.dialect {
            Dialect::Modern => match self.db.sym(choice).menus.first() {
                Some(&m) => self
                    .db
                    .subtree(m)
                    .into_iter()
                    .filter_map(|x| self.db.menu(x).sym)
                    .collect(),
                None => Vec::new(),
            },
            Dialect::Legacy => self.db.legacy_choice_members(choice),
        }
    }

    fn check_deps(&mut self, s: SymId) -> Option<SymId> {
        let f = self.db.sym(s).flags;
        if f & F_CHECK != 0 {
            self.report(s);
            return Some(s);
        }
        if f & F_CHECKED != 0 {
            return None;
        }
        if let Some(choice) = self.choice_of(s) {
            self.stack.push((s, Via::None));
            let r = self.check_deps(choice);
            self.stack.pop();
            r
        } else if is_choice(self.db, s) {
            self.check_choice_deps(s)
        } else {
            self.db.sym_mut(s).flags |= F_CHECK | F_CHECKED;
            let r = self.check_sym_deps(s);
            self.db.sym_mut(s).flags &= !F_CHECK;
            r
        }
    }

    fn set_via(&mut self, v: Via) {
        if let Some(top) = self.stack.last_mut() {
            top.1 = v;
        }
    }

    fn check_sym_deps(&mut self, s: SymId) -> Option<SymId> {
        self.stack.push((s, Via::None));
        let r = (|| {
            for (via, e) in [
                (Via::DirDep, self.db.sym(s).dir_dep),
                (Via::RevDep, self.db.sym(s).rev_dep),
                (Via::Implied, self.db.sym(s).implied),
            ] {
                self.set_via(via);
                if let Some(r) = self.check_expr(e) {
                    return Some(r);
                }
            }
            let legacy = self.db.dialect == Dialect::Legacy;
            for p in self.db.sym(s).props.clone() {
                let kind = self.db.prop(p).kind;
                if kind == PropKind::Select
                    || kind == PropKind::Imply
                    || (legacy && kind == PropKind::Choice)
                {
                    continue;
                }
                self.set_via(Via::PropVisible(kind));
                if let Some(r) = self.check_expr(self.db.prop(p).visible_expr) {
                    return Some(r);
                }
                if kind != PropKind::Default || is_choice(self.db, s) {
                    continue;
                }
                self.set_via(Via::PropDefault);
                if let Some(r) = self.check_expr(self.db.prop(p).expr) {
                    return Some(r);
                }
            }
            None
        })();
        self.stack.pop();
        r
    }

    fn check_choice_deps(&mut self, choice: SymId) -> Option<SymId> {
        self.stack.push((choice, Via::None));
        let members = self.members(choice);
        for &m in &members {
            self.db.sym_mut(m).flags |= F_CHECK | F_CHECKED;
        }
        self.db.sym_mut(choice).flags |= F_CHECK | F_CHECKED;
        let mut r = self.check_sym_deps(choice);
        self.db.sym_mut(choice).flags &= !F_CHECK;
        if r.is_none() {
            for &m in &members {
                r = self.check_sym_deps(m);
                if r.is_some() {
                    break;
                }
            }
        }
        for &m in &members {
            self.db.sym_mut(m).flags &= !F_CHECK;
        }
        if let Some(r2) = r {
            if self.choice_of(r2) == Some(choice) {
                r = Some(choice);
            }
        }
        self.stack.pop();
        r
    }

    fn check_expr(&mut self, e: Option<ExprId>) -> Option<SymId> {
        let e = e?;
        match self.db.expr(e) {
            Expr::And(a, b) | Expr::Or(a, b) => self
                .check_expr(Some(a))
                .or_else(|| self.check_expr(Some(b))),
            Expr::Not(a) => self.check_expr(Some(a)),
            Expr::Cmp(_, a, b) => self.check_deps(a).or_else(|| self.check_deps(b)),
            Expr::Sym(s) => self.check_deps(s),
            Expr::Range(..) => None,
        }
    }

    fn report(&mut self, last: SymId) {
        let target = self.choice_of(last).unwrap_or(last);
        let Some(start) = self.stack.iter().rposition(|(s, _)| *s == target) else {
            self.errors
                .push(Diag::at("", 0, "unexpected recursive dependency error"));
            return;
        };
        let (file, line) = self
            .db
            .sym(target)
            .menus
            .first()
            .map(|m| {
                let mm = self.db.menu(*m);
                (self.db.file_name(mm.file).to_string(), mm.line)
            })
            .unwrap_or_default();
        let mut msg = String::from("error: recursive dependency detected!");
        let chain = &self.stack[start..];
        for (i, (s, via)) in chain.iter().enumerate() {
            let next = chain.get(i + 1).map(|x| x.0).unwrap_or(last);
            let a = self.db.sym_name(*s).to_string();
            let b = self.db.sym_name(next).to_string();
            let what = match via {
                Via::DirDep => format!("symbol {a} depends on {b}"),
                Via::RevDep => format!("symbol {a} is selected by {b}"),
                Via::Implied => format!("symbol {a} is implied by {b}"),
                Via::PropDefault => format!("symbol {a} default value contains {b}"),
                Via::PropVisible(k) => {
                    format!("symbol {a} {} is visible depending on {b}", k.name())
                }
                Via::None => format!("symbol {a} is part of a choice block with {b}"),
            };
            msg.push_str("\n\t");
            msg.push_str(&what);
        }
        msg.push_str("\nFor a resolution refer to Documentation/kbuild/kconfig-language.rst\nsubsection \"Kconfig recursive dependency limitations\"");
        self.errors.push(Diag::at(&file, line, msg));
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::MemHost;
    use crate::{parse, Dialect, Error};

    #[test]
    fn cycle_is_reported_with_chain() {
        let host = MemHost::default().file(
            "K",
            "config A\n\tbool \"a\"\n\tdepends on B\n\nconfig B\n\tbool \"b\"\n\tdepends on A\n",
        );
        match parse(&host, "K", Dialect::Modern) {
            Err(Error::Parse(d)) => {
                let s = d[0].to_string();
                assert!(s.contains("recursive dependency"), "{s}");
                assert!(s.contains("symbol A depends on B"), "{s}");
                assert!(s.contains("symbol B depends on A"), "{s}");
            }
            other => panic!("expected a recursion error, got {:?}", other.map(|_| ())),
        }
    }

    #[test]
    fn select_chain_without_cycle_is_fine() {
        let host = MemHost::default().file(
            "K",
            "config A\n\tbool \"a\"\n\tselect B\n\nconfig B\n\tbool\n\tselect C\n\nconfig C\n\tbool\n",
        );
        assert!(parse(&host, "K", Dialect::Modern).is_ok());
    }
}
