//! Symbol evaluation: conf's `sym_calc_value` state machine (symbol.c),
//! for both dialects. Values are computed lazily and cached until
//! [`Db::clear_all_valid`]; visibility and dependency tristates are cached on
//! the symbol and its properties, exactly where conf caches them, because
//! later steps (writing, savedefconfig, randconfig) read those caches.

use crate::db::{is_choice, is_choice_value, Db, Dialect};
use crate::model::*;

impl Db {
    fn legacy(&self) -> bool {
        self.dialect == Dialect::Legacy
    }

    /// `sym_get_type`: tristates read as bools when modules are off (and,
    /// legacy, for a choice value in a `y` choice).
    pub fn get_type(&self, s: SymId) -> SymType {
        let sym = self.sym(s);
        if sym.ty == SymType::Tristate {
            if self.legacy() && is_choice_value(self, s) && sym.visible == Tri::Y {
                return SymType::Bool;
            }
            if self.modules_val == Tri::N {
                return SymType::Bool;
            }
        }
        sym.ty
    }

    pub fn expr_calc(&mut self, e: Option<ExprId>) -> Tri {
        let Some(e) = e else { return Tri::Y };
        match self.expr(e) {
            Expr::Sym(s) => {
                self.calc_value(s);
                self.sym(s).curr_tri
            }
            Expr::And(a, b) => {
                let x = self.expr_calc(Some(a));
                let y = self.expr_calc(Some(b));
                x.and(y)
            }
            Expr::Or(a, b) => {
                let x = self.expr_calc(Some(a));
                let y = self.expr_calc(Some(b));
                x.or(y)
            }
            Expr::Not(a) => !self.expr_calc(Some(a)),
            Expr::Cmp(op, a, b) => self.calc_compare(op, a, b),
            Expr::Range(..) => Tri::N,
        }
    }

    fn calc_compare(&mut self, op: CmpOp, a: SymId, b: SymId) -> Tri {
        self.calc_value(a);
        self.calc_value(b);
        let s1 = self.get_string_value(a);
        let s2 = self.get_string_value(b);
        let (t1, t2) = (self.sym(a).ty, self.sym(b).ty);
        let mut k1 = Kind::Str;
        let mut k2 = Kind::Str;
        let (mut v1, mut v2) = (0i64, 0i64);
        if t1 != SymType::String || t2 != SymType::String {
            (k1, v1) = parse_value(&s1, t1);
            (k2, v2) = parse_value(&s2, t2);
        }
        let res = if k1 == Kind::Str || k2 == Kind::Str {
            s1.as_bytes().cmp(s2.as_bytes())
        } else if k1 == Kind::Unsigned || k2 == Kind::Unsigned {
            (v1 as u64).cmp(&(v2 as u64))
        } else {
            v1.cmp(&v2)
        };
        use std::cmp::Ordering::*;
        let ok = match op {
            CmpOp::Equal => res == Equal,
            CmpOp::Unequal => res != Equal,
            CmpOp::Lth => res == Less,
            CmpOp::Leq => res != Greater,
            CmpOp::Gth => res == Greater,
            CmpOp::Geq => res != Less,
        };
        if ok {
            Tri::Y
        } else {
            Tri::N
        }
    }

    /// First default (or range) whose condition is not `n`; caches each
    /// condition's value on the property like conf does.
    fn first_visible_prop(&mut self, s: SymId, kind: PropKind) -> Option<PropId> {
        let props: Vec<PropId> = self.props_of(s, kind).collect();
        for p in props {
            let v = self.expr_calc(self.prop(p).visible_expr);
            self.prop(p).visible_tri.set(v);
            if v != Tri::N {
                return Some(p);
            }
        }
        None
    }

    pub fn default_prop(&mut self, s: SymId) -> Option<PropId> {
        self.first_visible_prop(s, PropKind::Default)
    }

    pub fn range_prop(&mut self, s: SymId) -> Option<PropId> {
        self.first_visible_prop(s, PropKind::Range)
    }

    fn range_val(&mut self, s: SymId, base: u32) -> i64 {
        self.calc_value(s);
        let base = match self.sym(s).ty {
            SymType::Int => 10,
            SymType::Hex => 16,
            _ => base,
        };
        c_strtoll(&self.sym(s).curr_val, base).0
    }

    fn validate_range(&mut self, s: SymId) {
        let base = match self.sym(s).ty {
            SymType::Int => 10,
            SymType::Hex => 16,
            _ => return,
        };
        let Some(p) = self.range_prop(s) else { return };
        let Some(Expr::Range(lo, hi)) = self.prop(p).expr.map(|e| self.expr(e)) else {
            return;
        };
        let val = c_strtoll(&self.sym(s).curr_val, base).0;
        let mut range_sym = lo;
        if val >= self.range_val(lo, base) {
            range_sym = hi;
            if val <= self.range_val(hi, base) {
                return;
            }
        }
        let v = self.sym(range_sym).curr_val.clone();
        self.sym_mut(s).curr_val = v;
    }

    /// The member symbol a legacy choice value belongs to (its P_CHOICE).
    pub fn legacy_choice_of(&self, s: SymId) -> Option<SymId> {
        let p = self.props_of(s, PropKind::Choice).next()?;
        self.prop_sym(p)
    }

    /// Members of a legacy choice symbol, in declaration order.
    pub fn legacy_choice_members(&self, choice: SymId) -> Vec<SymId> {
        self.props_of(choice, PropKind::Choice)
            .next()
            .map(|p| self.prop(p).choice_members.clone())
            .unwrap_or_default()
    }

    /// `sym_get_choice_menu` (modern): the choice block a member sits in.
    pub fn choice_menu_of(&self, s: SymId) -> Option<MenuId> {
        let first = self
            .sym(s)
            .menus
            .iter()
            .copied()
            .find(|m| self.menu(*m).prompt.is_some())?;
        let mut m = self.menu(first).parent;
        while let Some(id) = m {
            if self.menu(id).sym.is_some() {
                break;
            }
            m = self.menu(id).parent;
        }
        let id = m?;
        let cs = self.menu(id).sym?;
        if is_choice(self, cs) {
            Some(id)
        } else {
            None
        }
    }

    fn calc_visibility(&mut self, s: SymId) {
        let legacy = self.legacy();
        let choice_sym = if legacy && is_choice_value(self, s) {
            self.legacy_choice_of(s)
        } else {
            None
        };
        let mut tri = Tri::N;
        for p in self.prompts_of(s) {
            let mut v = self.expr_calc(self.prop(p).visible_expr);
            if let Some(cs) = choice_sym {
                if self.sym(s).ty == SymType::Tristate
                    && v == Tri::M
                    && self.sym(cs).curr_tri == Tri::Y
                {
                    v = Tri::N;
                }
            }
            self.prop(p).visible_tri.set(v);
            tri = tri.or(v);
        }
        if tri == Tri::M && (self.sym(s).ty != SymType::Tristate || self.modules_val == Tri::N) {
            tri = Tri::Y;
        }
        self.sym_mut(s).visible = tri;
        if is_choice_value(self, s) {
            return;
        }
        let bool_ty = self.get_type(s) == SymType::Bool;
        let fix = |t: Tri| if t == Tri::M && bool_ty { Tri::Y } else { t };
        let d = self.sym(s).dir_dep;
        let dir = match d {
            Some(e) => self.expr_calc(Some(e)),
            None => Tri::Y,
        };
        let r = self.sym(s).rev_dep;
        let rev = match r {
            Some(e) => self.expr_calc(Some(e)),
            None => Tri::N,
        };
        let i = self.sym(s).implied;
        let imp = match i {
            Some(e) => self.expr_calc(Some(e)),
            None => Tri::N,
        };
        // conf recomputes the type between these; it cannot change here.
        let sym = self.sym_mut(s);
        sym.dir_dep_tri = fix(dir);
        sym.rev_dep_tri = fix(rev);
        sym.implied_tri = fix(imp);
    }

    /// `sym_choice_default` (modern: the choice block).
    pub fn choice_default(&mut self, choice: MenuId) -> Option<SymId> {
        let cs = self.menu(choice).sym?;
        let props: Vec<PropId> = self.props_of(cs, PropKind::Default).collect();
        for p in props {
            let v = self.expr_calc(self.prop(p).visible_expr);
            self.prop(p).visible_tri.set(v);
            if v == Tri::N {
                continue;
            }
            if let Some(d) = self.prop_sym(p) {
                if self.sym(d).visible != Tri::N {
                    return Some(d);
                }
            }
        }
        if self.legacy() {
            return self
                .legacy_choice_members(cs)
                .into_iter()
                .find(|m| self.sym(*m).visible != Tri::N);
        }
        self.subtree(choice)
            .into_iter()
            .filter_map(|m| self.menu(m).sym)
            .find(|m| self.sym(*m).visible != Tri::N)
    }

    /// `sym_calc_choice` (modern): pick the member that is `y`.
    pub fn calc_choice(&mut self, choice: MenuId) -> Option<SymId> {
        let members = self.menu(choice).choice_members.clone();
        let mut res = None;
        for &s in &members {
            self.calc_visibility(s);
            if self.sym(s).visible == Tri::N {
                continue;
            }
            if self.sym(s).has_value() && self.sym(s).def_tri == Tri::Y {
                res = Some(s);
                break;
            }
        }
        if res.is_none() {
            res = self.choice_default(choice);
            if let Some(r) = res {
                if self.sym(r).has_value() && self.sym(r).def_tri == Tri::N {
                    res = None;
                }
            }
        }
        let sub = self.subtree(choice);
        if res.is_none() {
            res = sub.iter().filter_map(|m| self.menu(*m).sym).find(|s| {
                let sym = self.sym(*s);
                sym.visible != Tri::N && !sym.has_value()
            });
        }
        if res.is_none() {
            res = members
                .iter()
                .rev()
                .copied()
                .find(|s| self.sym(*s).visible != Tri::N);
        }
        for m in sub {
            let Some(s) = self.menu(m).sym else { continue };
            if self.sym(s).visible == Tri::N {
                continue;
            }
            let v = if Some(s) == res { Tri::Y } else { Tri::N };
            let sym = self.sym_mut(s);
            sym.curr_tri = v;
            sym.flags |= F_VALID | F_WRITE;
        }
        res
    }

    /// `sym_calc_choice` (legacy): the selected member of a `y` choice.
    fn calc_choice_legacy(&mut self, cs: SymId) -> Option<SymId> {
        let mut flags = self.sym(cs).flags;
        for m in self.legacy_choice_members(cs) {
            self.calc_visibility(m);
            if self.sym(m).visible != Tri::N {
                flags &= self.sym(m).flags;
            }
        }
        self.sym_mut(cs).flags &= flags | !F_DEF_USER;
        if let Some(d) = self.sym(cs).def_choice {
            if self.sym(d).visible != Tri::N {
                return Some(d);
            }
        }
        let d = self.legacy_choice_default(cs);
        if d.is_none() {
            self.sym_mut(cs).curr_tri = Tri::N;
        }
        d
    }

    pub fn legacy_choice_default(&mut self, cs: SymId) -> Option<SymId> {
        let props: Vec<PropId> = self.props_of(cs, PropKind::Default).collect();
        for p in props {
            let v = self.expr_calc(self.prop(p).visible_expr);
            self.prop(p).visible_tri.set(v);
            if v == Tri::N {
                continue;
            }
            if let Some(d) = self.prop_sym(p) {
                if self.sym(d).visible != Tri::N {
                    return Some(d);
                }
            }
        }
        self.legacy_choice_members(cs)
            .into_iter()
            .find(|m| self.sym(*m).visible != Tri::N)
    }

    /// `set_all_choice_values` (legacy).
    pub(crate) fn set_all_choice_values(&mut self, cs: SymId) {
        for m in self.legacy_choice_members(cs) {
            if !self.sym(m).has_value() {
                self.sym_mut(m).def_tri = Tri::N;
            }
        }
        let sym = self.sym_mut(cs);
        sym.flags |= F_DEF_USER;
        sym.flags &= !(F_VALID | F_NEED_SET_CHOICE_VALUES);
    }

    fn warn_unmet_dep(&mut self, s: SymId) {
        let mut msg = format!(
            "\nWARNING: unmet direct dependencies detected for {}\n  Depends on [{}]: {}\n",
            self.sym_name(s),
            if self.sym(s).dir_dep_tri == Tri::M {
                'm'
            } else {
                'n'
            },
            self.expr_str(self.sym(s).dir_dep)
        );
        for (want, title) in [
            (Tri::Y, "  Selected by [y]:\n"),
            (Tri::M, "  Selected by [m]:\n"),
        ] {
            let mut first = true;
            for t in self.or_terms(self.sym(s).rev_dep) {
                if self.expr_calc(Some(t)) == want {
                    if first {
                        msg.push_str(title);
                        first = false;
                    }
                    msg.push_str(&format!("  - {}\n", self.expr_str(Some(t))));
                }
            }
        }
        self.dep_warnings.push(msg);
    }

    /// conf's `sym_calc_value`.
    pub fn calc_value(&mut self, s: SymId) {
        if self.sym(s).flags & F_VALID != 0 {
            return;
        }
        let legacy = self.legacy();
        if legacy && is_choice_value(self, s) && self.sym(s).flags & F_NEED_SET_CHOICE_VALUES != 0 {
            self.sym_mut(s).flags &= !F_NEED_SET_CHOICE_VALUES;
            if let Some(cs) = self.legacy_choice_of(s) {
                self.calc_value(cs);
            }
        }
        self.sym_mut(s).flags |= F_VALID;
        let old_tri = self.sym(s).curr_tri;
        let old_val = self.sym(s).curr_val.clone();
        let old_choice = self.sym(s).curr_choice;

        let ty = self.sym(s).ty;
        let mut new_tri = Tri::N;
        let mut new_val = match ty {
            SymType::Int if !legacy => "0".to_string(),
            SymType::Hex if !legacy => "0x0".to_string(),
            SymType::Int | SymType::Hex | SymType::String => String::new(),
            SymType::Bool | SymType::Tristate => "n".to_string(),
            SymType::Unknown => {
                let sym = self.sym_mut(s);
                sym.curr_val = sym.name.clone().unwrap_or_default();
                sym.curr_tri = Tri::N;
                return;
            }
        };
        self.sym_mut(s).flags &= !F_WRITE;
        self.calc_visibility(s);
        if self.sym(s).visible != Tri::N {
            self.sym_mut(s).flags |= F_WRITE;
        }
        {
            let sym = self.sym_mut(s);
            sym.curr_tri = new_tri;
            sym.curr_val = new_val.clone();
            sym.curr_choice = None;
        }

        match self.get_type(s) {
            SymType::Bool | SymType::Tristate => {
                let modern_choice = if legacy { None } else { self.choice_menu_of(s) };
                if let Some(cm) = modern_choice {
                    self.calc_choice(cm);
                    new_tri = self.sym(s).curr_tri;
                } else if legacy && is_choice_value(self, s) && self.sym(s).visible == Tri::Y {
                    let cs = self.legacy_choice_of(s);
                    let sel = cs.and_then(|c| self.sym(c).curr_choice);
                    new_tri = if sel == Some(s) { Tri::Y } else { Tri::N };
                } else {
                    let sym = self.sym(s);
                    if sym.visible != Tri::N && sym.has_value() {
                        new_tri = sym.def_tri.and(sym.visible);
                    } else {
                        if self.sym(s).rev_dep_tri != Tri::N {
                            self.sym_mut(s).flags |= F_WRITE;
                        }
                        if !is_choice(self, s) {
                            if let Some(p) = self.default_prop(s) {
                                let v = self.expr_calc(self.prop(p).expr);
                                new_tri = v.and(self.prop(p).visible_tri.get());
                                if new_tri != Tri::N {
                                    self.sym_mut(s).flags |= F_WRITE;
                                }
                            }
                            let imp = self.sym(s).implied_tri;
                            if imp != Tri::N {
                                self.sym_mut(s).flags |= F_WRITE;
                                new_tri = new_tri.or(imp).and(self.sym(s).dir_dep_tri);
                            }
                        }
                    }
                    if self.sym(s).dir_dep_tri < self.sym(s).rev_dep_tri {
                        self.warn_unmet_dep(s);
                    }
                    new_tri = new_tri.or(self.sym(s).rev_dep_tri);
                }
                if new_tri == Tri::M && self.get_type(s) == SymType::Bool {
                    new_tri = Tri::Y;
                }
            }
            SymType::String | SymType::Hex | SymType::Int => {
                let sym = self.sym(s);
                if sym.visible != Tri::N && sym.has_value() {
                    new_val = sym.def_val.clone().unwrap_or_default();
                } else if let Some(p) = self.default_prop(s) {
                    if let Some(ds) = self.prop_sym(p) {
                        self.sym_mut(s).flags |= F_WRITE;
                        self.calc_value(ds);
                        new_val = self.sym(ds).curr_val.clone();
                    }
                }
            }
            SymType::Unknown => {}
        }

        {
            let sym = self.sym_mut(s);
            sym.curr_tri = new_tri;
            sym.curr_val = new_val;
        }
        if legacy && is_choice(self, s) && new_tri == Tri::Y {
            let sel = self.calc_choice_legacy(s);
            self.sym_mut(s).curr_choice = sel;
        }
        self.validate_range(s);

        let sym = self.sym(s);
        let changed =
            sym.curr_tri != old_tri || sym.curr_val != old_val || sym.curr_choice != old_choice;
        if changed && s == self.modules_sym {
            self.modules_val = self.sym(s).curr_tri;
        }

        if legacy {
            if is_choice(self, s) {
                let write = self.sym(s).flags & F_WRITE != 0;
                for m in self.legacy_choice_members(s) {
                    if write && self.sym(m).visible != Tri::N {
                        self.sym_mut(m).flags |= F_WRITE;
                    }
                }
            }
            if self.sym(s).flags & F_NO_WRITE != 0 {
                self.sym_mut(s).flags &= !F_WRITE;
            }
            if self.sym(s).flags & F_NEED_SET_CHOICE_VALUES != 0 {
                self.set_all_choice_values(s);
            }
        } else if is_choice(self, s) {
            self.sym_mut(s).flags &= !F_WRITE;
        }
    }

    /// `sym_clear_all_valid`: forget every computed value.
    pub fn clear_all_valid(&mut self) {
        for i in 0..self.hash_order.len() {
            let id = self.hash_order[i];
            self.sym_mut(id).flags &= !F_VALID;
        }
        self.conf_changed = true;
        let m = self.modules_sym;
        self.calc_value(m);
    }

    /// `sym_get_string_value`.
    pub fn get_string_value(&self, s: SymId) -> String {
        let sym = self.sym(s);
        match sym.ty {
            SymType::Bool | SymType::Tristate => sym.curr_tri.as_str().to_string(),
            _ => sym.curr_val.clone(),
        }
    }

    /// The computed value, as it would appear after `CONFIG_X=`.
    pub fn value_str(&mut self, s: SymId) -> String {
        self.calc_value(s);
        self.get_string_value(s)
    }

    /// `sym_get_string_default`: what the value would be with no user input.
    pub fn get_string_default(&mut self, s: SymId) -> String {
        self.calc_visibility(s);
        let m = self.modules_sym;
        self.calc_value(m);
        let ty = self.sym(s).ty;
        let mut val = Tri::N;
        let mut str_val = String::new();
        if let Some(p) = self.default_prop(s) {
            match ty {
                SymType::Bool | SymType::Tristate => {
                    let v = self.expr_calc(self.prop(p).expr);
                    val = v.and(self.prop(p).visible_tri.get());
                }
                _ => {
                    if let Some(ds) = self.prop_sym(p) {
                        self.calc_value(ds);
                        str_val = self.sym(ds).curr_val.clone();
                    }
                }
            }
        }
        val = val.or(self.sym(s).rev_dep_tri);
        if val == Tri::M
            && !is_choice_value(self, s)
            && self.sym(self.modules_sym).curr_tri == Tri::N
        {
            val = Tri::Y;
        }
        if ty == SymType::Bool && val == Tri::M {
            val = Tri::Y;
        }
        if val < self.sym(s).implied_tri {
            val = self.sym(s).implied_tri;
        }
        match ty {
            SymType::Bool | SymType::Tristate => val.as_str().to_string(),
            SymType::Int if !self.legacy() && str_val.is_empty() => "0".into(),
            SymType::Hex if !self.legacy() && str_val.is_empty() => "0x0".into(),
            SymType::Unknown if self.legacy() => String::new(),
            _ => str_val,
        }
    }

    /// `sym_tristate_within_range`.
    pub fn tristate_within_range(&self, s: SymId, val: Tri) -> bool {
        let ty = self.get_type(s);
        let sym = self.sym(s);
        if sym.visible == Tri::N || !ty.is_tri_like() {
            return false;
        }
        if ty == SymType::Bool && val == Tri::M {
            return false;
        }
        if sym.visible <= sym.rev_dep_tri {
            return false;
        }
        if self.legacy() && is_choice_value(self, s) && sym.visible == Tri::Y {
            return val == Tri::Y;
        }
        val >= sym.rev_dep_tri && val <= sym.visible
    }

    /// `sym_is_changeable`: can the user move this symbol at all?
    pub fn is_changeable(&self, s: SymId) -> bool {
        let sym = self.sym(s);
        (self.legacy() || !is_choice(self, s)) && sym.visible > sym.rev_dep_tri
    }

    /// `sym_string_valid`: is `v` a syntactically valid value for the type?
    pub fn string_valid(&self, s: SymId, v: &str) -> bool {
        let b = v.as_bytes();
        match self.sym(s).ty {
            SymType::String => true,
            SymType::Int => {
                let mut i = 0;
                if b.first() == Some(&b'-') {
                    i = 1;
                }
                match b.get(i) {
                    Some(c) if c.is_ascii_digit() => {
                        if *c == b'0' && b.len() > i + 1 {
                            return false;
                        }
                        b[i + 1..].iter().all(u8::is_ascii_digit)
                    }
                    _ => false,
                }
            }
            SymType::Hex => {
                let rest = if b.len() >= 2 && b[0] == b'0' && (b[1] == b'x' || b[1] == b'X') {
                    &b[2..]
                } else {
                    b
                };
                // conf's do/while checks the first byte even when empty.
                !rest.is_empty() && rest.iter().all(u8::is_ascii_hexdigit)
            }
            SymType::Bool | SymType::Tristate => {
                matches!(b.first(), Some(b'y' | b'Y' | b'm' | b'M' | b'n' | b'N'))
            }
            SymType::Unknown => false,
        }
    }

    /// `sym_string_within_range`.
    pub fn string_within_range(&mut self, s: SymId, v: &str) -> bool {
        match self.sym(s).ty {
            SymType::String => self.string_valid(s, v),
            SymType::Int | SymType::Hex => {
                if !self.string_valid(s, v) {
                    return false;
                }
                let base = if self.sym(s).ty == SymType::Int {
                    10
                } else {
                    16
                };
                let Some(p) = self.range_prop(s) else {
                    return true;
                };
                let Some(Expr::Range(lo, hi)) = self.prop(p).expr.map(|e| self.expr(e)) else {
                    return true;
                };
                let val = c_strtoll(v, base).0;
                val >= self.range_val(lo, base) && val <= self.range_val(hi, base)
            }
            SymType::Bool | SymType::Tristate => match v.as_bytes().first() {
                Some(b'y' | b'Y') => self.tristate_within_range(s, Tri::Y),
                Some(b'm' | b'M') => self.tristate_within_range(s, Tri::M),
                Some(b'n' | b'N') => self.tristate_within_range(s, Tri::N),
                _ => false,
            },
            SymType::Unknown => false,
        }
    }

    /// `menu_is_visible`.
    pub fn menu_is_visible(&mut self, m: MenuId) -> bool {
        let Some(p) = self.menu(m).prompt else {
            return false;
        };
        if let Some(v) = self.menu(m).visibility {
            if self.expr_calc(Some(v)) == Tri::N {
                return false;
            }
        }
        let sym = self.menu(m).sym;
        let visible = match sym {
            Some(s) => {
                self.calc_value(s);
                self.prop(p).visible_tri.get()
            }
            None => {
                let v = self.expr_calc(self.prop(p).visible_expr);
                self.prop(p).visible_tri.set(v);
                v
            }
        };
        if visible != Tri::N {
            return true;
        }
        let Some(s) = sym else { return false };
        if self.sym(s).curr_tri == Tri::N {
            return false;
        }
        let mut c = self.menu(m).list;
        while let Some(id) = c {
            if self.menu_is_visible(id) {
                if self.legacy() {
                    self.sym_mut(s).flags |= F_DEF_USER;
                }
                return true;
            }
            c = self.menu(id).next;
        }
        false
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Str,
    Signed,
    Unsigned,
}

/// `expr_parse_string`: how conf decides whether a comparison is numeric.
fn parse_value(s: &str, ty: SymType) -> (Kind, i64) {
    match ty {
        SymType::Bool | SymType::Tristate => {
            let v = match s {
                "n" => 0,
                "m" => 1,
                "y" => 2,
                _ => -1,
            };
            (Kind::Signed, v)
        }
        _ => {
            let (v, used, erange, kind) = match ty {
                SymType::Int => {
                    let (v, u, e) = c_strtoll(s, 10);
                    (v, u, e, Kind::Signed)
                }
                SymType::Hex => {
                    let (v, u, e) = c_strtoull(s, 16);
                    (v as i64, u, e, Kind::Unsigned)
                }
                _ => {
                    let (v, u, e) = c_strtoll(s, 0);
                    (v, u, e, Kind::Signed)
                }
            };
            let b = s.as_bytes();
            let ok = !erange && used == b.len() && used > 0 && b[used - 1].is_ascii_hexdigit();
            if ok {
                (kind, v)
            } else {
                (Kind::Str, 0)
            }
        }
    }
}

/// Digits of a C integer literal per `strtol` rules. Returns the magnitude
/// (saturating), bytes consumed, whether it overflowed u64, and negation.
fn c_strto_parts(s: &str, mut base: u32) -> (u64, usize, bool, bool) {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && (b[i] == b' ' || (b'\t'..=b'\r').contains(&b[i])) {
        i += 1;
    }
    let mut neg = false;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        neg = b[i] == b'-';
        i += 1;
    }
    let hexprefix = |i: usize| {
        i + 1 < b.len()
            && b[i] == b'0'
            && (b[i + 1] == b'x' || b[i + 1] == b'X')
            && b.get(i + 2).is_some_and(|c| c.is_ascii_hexdigit())
    };
    if base == 0 {
        if hexprefix(i) {
            base = 16;
            i += 2;
        } else if b.get(i) == Some(&b'0') {
            base = 8;
        } else {
            base = 10;
        }
    } else if base == 16 && hexprefix(i) {
        i += 2;
    }
    let start = i;
    let mut v: u64 = 0;
    let mut overflow = false;
    while i < b.len() {
        let d = match (b[i] as char).to_digit(36) {
            Some(d) if d < base => d as u64,
            _ => break,
        };
        match v.checked_mul(base as u64).and_then(|x| x.checked_add(d)) {
            Some(n) => v = n,
            None => {
                overflow = true;
                v = u64::MAX;
            }
        }
        i += 1;
    }
    if i == start {
        return (0, 0, false, false);
    }
    (v, i, overflow, neg)
}

/// glibc `strtoll`: (value, bytes consumed, ERANGE).
pub fn c_strtoll(s: &str, base: u32) -> (i64, usize, bool) {
    let (mag, used, overflow, neg) = c_strto_parts(s, base);
    if overflow {
        return (if neg { i64::MIN } else { i64::MAX }, used, true);
    }
    if neg {
        if mag > (i64::MAX as u64) + 1 {
            (i64::MIN, used, true)
        } else {
            ((mag as i64).wrapping_neg(), used, false)
        }
    } else if mag > i64::MAX as u64 {
        (i64::MAX, used, true)
    } else {
        (mag as i64, used, false)
    }
}

/// glibc `strtoull`.
pub fn c_strtoull(s: &str, base: u32) -> (u64, usize, bool) {
    let (mag, used, overflow, neg) = c_strto_parts(s, base);
    if overflow {
        return (u64::MAX, used, true);
    }
    (if neg { mag.wrapping_neg() } else { mag }, used, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strtoll_like_glibc() {
        assert_eq!(c_strtoll("  -12x", 10), (-12, 5, false));
        assert_eq!(c_strtoll("0x1f", 16), (31, 4, false));
        assert_eq!(c_strtoll("0x", 16), (0, 1, false));
        assert_eq!(c_strtoll("017", 0), (15, 3, false));
        assert_eq!(c_strtoll("0x10", 0), (16, 4, false));
        assert_eq!(c_strtoll("", 10), (0, 0, false));
        assert!(c_strtoll("99999999999999999999", 10).2);
    }

    #[test]
    fn numeric_comparison_kinds() {
        assert!(parse_value("10", SymType::Int).0 == Kind::Signed);
        assert!(parse_value("abc", SymType::String).0 == Kind::Str);
        assert!(parse_value("0x10", SymType::Hex).0 == Kind::Unsigned);
        assert!(parse_value("", SymType::Int).0 == Kind::Str);
    }
}
