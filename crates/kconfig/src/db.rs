//! The configuration database and the small operations every layer uses:
//! symbol lookup, arena allocation, and expression printing.

use std::collections::HashMap;

use crate::model::*;

/// Which generation of conf's semantics to follow.
///
/// Linux 6.11 reworked choices (no more choice symbols with values, no
/// tristate or optional choices, member priority lists). Everything we need
/// from before that is what 6.1 does; from after, what 6.12 does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// Linux up to 6.10 (verified against 6.1).
    Legacy,
    /// Linux 6.11 and later (verified against 6.12).
    Modern,
}

impl Dialect {
    /// Pick the dialect from a kernel version string such as "6.12.117".
    pub fn for_kernel_version(v: &str) -> Dialect {
        let mut it = v.split(['.', '-']).map(|p| p.parse::<u32>().unwrap_or(0));
        let major = it.next().unwrap_or(0);
        let minor = it.next().unwrap_or(0);
        if (major, minor) >= (6, 11) {
            Dialect::Modern
        } else {
            Dialect::Legacy
        }
    }

    fn hash_size(self) -> u32 {
        match self {
            Dialect::Legacy => 9973,
            Dialect::Modern => 1 << 14,
        }
    }
}

/// The parsed Kconfig tree plus conf's evaluation state.
#[derive(Clone, Debug)]
pub struct Db {
    pub dialect: Dialect,
    pub syms: Vec<Symbol>,
    pub props: Vec<Prop>,
    pub menus: Vec<Menu>,
    pub exprs: Vec<Expr>,
    pub files: Vec<String>,
    by_name: HashMap<String, Vec<SymId>>,
    bucket_seq: HashMap<u32, u32>,
    /// conf's `for_all_symbols` order (hash buckets ascending, newest first
    /// within a bucket). A few legacy loops depend on it.
    pub hash_order: Vec<SymId>,
    pub modules_sym: SymId,
    pub(crate) modules_val: Tri,
    pub(crate) conf_changed: bool,
    /// `CONFIG_` unless the environment said otherwise.
    pub config_prefix: String,
    /// Count of "unmet direct dependencies" warnings (KCONFIG_WERROR).
    pub(crate) dep_warnings: Vec<String>,
}

pub const ROOT_MENU: MenuId = MenuId(0);

fn fnv32(s: &str) -> u32 {
    let mut h: u32 = 2166136261;
    for &b in s.as_bytes() {
        // conf hashes `char`, which is signed on x86: sign-extend.
        h = (h ^ (b as i8 as i32 as u32)).wrapping_mul(0x01000193);
    }
    h
}

impl Db {
    pub fn new(dialect: Dialect) -> Db {
        let mut db = Db {
            dialect,
            syms: Vec::new(),
            props: Vec::new(),
            menus: vec![Menu::default()],
            exprs: Vec::new(),
            files: Vec::new(),
            by_name: HashMap::new(),
            bucket_seq: HashMap::new(),
            hash_order: Vec::new(),
            modules_sym: SYM_N,
            modules_val: Tri::N,
            conf_changed: false,
            config_prefix: "CONFIG_".to_string(),
            dep_warnings: Vec::new(),
        };
        for (name, tri) in [("y", Tri::Y), ("m", Tri::M), ("n", Tri::N)] {
            let mut s = Symbol::new(Some(name.to_string()), F_CONST | F_VALID);
            s.ty = SymType::Tristate;
            s.curr_tri = tri;
            s.curr_val = name.to_string();
            db.syms.push(s);
        }
        db
    }

    pub fn sym(&self, id: SymId) -> &Symbol {
        &self.syms[id.idx()]
    }
    pub fn sym_mut(&mut self, id: SymId) -> &mut Symbol {
        &mut self.syms[id.idx()]
    }
    pub fn prop(&self, id: PropId) -> &Prop {
        &self.props[id.idx()]
    }
    pub fn menu(&self, id: MenuId) -> &Menu {
        &self.menus[id.idx()]
    }
    pub fn menu_mut(&mut self, id: MenuId) -> &mut Menu {
        &mut self.menus[id.idx()]
    }
    pub fn expr(&self, id: ExprId) -> Expr {
        self.exprs[id.idx()]
    }

    pub fn sym_name(&self, id: SymId) -> &str {
        self.sym(id).name_or_choice()
    }

    pub fn is_const_yn(id: SymId) -> bool {
        id == SYM_Y || id == SYM_M || id == SYM_N
    }

    /// conf's `sym_lookup`: find or create. `flags` non-zero means "a
    /// constant (quoted) symbol".
    pub fn sym_lookup(&mut self, name: Option<&str>, flags: u32) -> SymId {
        if let Some(n) = name {
            match n {
                "y" => return SYM_Y,
                "m" => return SYM_M,
                "n" => return SYM_N,
                _ => {}
            }
            if let Some(ids) = self.by_name.get(n) {
                for &id in ids {
                    let f = self.syms[id.idx()].flags;
                    let hit = if flags != 0 {
                        f & flags != 0
                    } else {
                        let excl = match self.dialect {
                            Dialect::Legacy => F_CONST | F_CHOICE,
                            Dialect::Modern => F_CONST,
                        };
                        f & excl == 0
                    };
                    if hit {
                        return id;
                    }
                }
            }
        }
        let id = SymId(self.syms.len() as u32);
        let mut s = Symbol::new(name.map(str::to_string), flags);
        let bucket = name
            .map(|n| fnv32(n) % self.dialect.hash_size())
            .unwrap_or(0);
        let seq = self.bucket_seq.entry(bucket).or_insert(0);
        s.hash_bucket = bucket;
        s.hash_seq = *seq;
        *seq += 1;
        self.syms.push(s);
        if let Some(n) = name {
            self.by_name.entry(n.to_string()).or_default().push(id);
        }
        id
    }

    /// conf's `sym_find`: a non-constant symbol by name, never creating one.
    pub fn sym_find(&self, name: &str) -> Option<SymId> {
        match name {
            "y" => return Some(SYM_Y),
            "m" => return Some(SYM_M),
            "n" => return Some(SYM_N),
            _ => {}
        }
        let ids = self.by_name.get(name)?;
        ids.iter()
            .copied()
            .find(|id| self.syms[id.idx()].flags & F_CONST == 0)
    }

    /// Every non-constant named symbol, sorted by name (for reports).
    pub fn named_symbols(&self) -> impl Iterator<Item = SymId> + '_ {
        self.hash_order.iter().copied().filter(move |id| {
            let s = self.sym(*id);
            s.name.is_some() && s.flags & F_CONST == 0
        })
    }

    pub(crate) fn compute_hash_order(&mut self) {
        let mut v: Vec<SymId> = (3..self.syms.len() as u32).map(SymId).collect();
        v.sort_by_key(|id| {
            let s = &self.syms[id.idx()];
            (s.hash_bucket, std::cmp::Reverse(s.hash_seq))
        });
        self.hash_order = v;
    }

    pub fn new_expr(&mut self, e: Expr) -> ExprId {
        let id = ExprId(self.exprs.len() as u32);
        self.exprs.push(e);
        id
    }

    pub fn expr_sym(&mut self, s: SymId) -> ExprId {
        self.new_expr(Expr::Sym(s))
    }

    /// `expr_alloc_and`: a missing operand means "y".
    pub fn expr_and(&mut self, a: Option<ExprId>, b: Option<ExprId>) -> Option<ExprId> {
        match (a, b) {
            (None, x) | (x, None) => x,
            (Some(a), Some(b)) => Some(self.new_expr(Expr::And(a, b))),
        }
    }

    /// `expr_alloc_or`: a missing operand is dropped.
    pub fn expr_or(&mut self, a: Option<ExprId>, b: Option<ExprId>) -> Option<ExprId> {
        match (a, b) {
            (None, x) | (x, None) => x,
            (Some(a), Some(b)) => Some(self.new_expr(Expr::Or(a, b))),
        }
    }

    /// The first visible-or-not property of a kind, for symbols that
    /// can only have one meaningful one.
    pub fn props_of(&self, s: SymId, kind: PropKind) -> impl Iterator<Item = PropId> + '_ {
        self.sym(s)
            .props
            .iter()
            .copied()
            .filter(move |p| self.prop(*p).kind == kind)
    }

    /// Prompts of a symbol in conf's `for_all_prompts` sense: every property
    /// with text, which includes a menuconfig's P_MENU prompt.
    pub fn prompts_of(&self, s: SymId) -> Vec<PropId> {
        self.sym(s)
            .props
            .iter()
            .copied()
            .filter(|p| self.prop(*p).text.is_some())
            .collect()
    }

    pub fn prop_sym(&self, p: PropId) -> Option<SymId> {
        match self.prop(p).expr.map(|e| self.expr(e)) {
            Some(Expr::Sym(s)) => Some(s),
            _ => None,
        }
    }

    pub fn file_name(&self, f: FileId) -> &str {
        self.files.get(f.idx()).map(String::as_str).unwrap_or("")
    }

    /// Depth-first successor within the subtree `root` (conf's `menu_next`).
    pub fn menu_next(&self, m: MenuId, root: MenuId) -> Option<MenuId> {
        if let Some(l) = self.menu(m).list {
            return Some(l);
        }
        let mut cur = m;
        while cur != root && self.menu(cur).next.is_none() {
            cur = self.menu(cur).parent?;
        }
        if cur == root {
            return None;
        }
        self.menu(cur).next
    }

    /// All menu nodes under `root` in conf's depth-first order (root excluded).
    pub fn subtree(&self, root: MenuId) -> Vec<MenuId> {
        let mut v = Vec::new();
        let mut m = self.menu_next(root, root);
        while let Some(id) = m {
            v.push(id);
            m = self.menu_next(id, root);
        }
        v
    }

    /// `expr_print`, the format conf uses in warnings and menuconfig help.
    pub fn expr_str(&self, e: Option<ExprId>) -> String {
        let mut out = String::new();
        match e {
            None => out.push('y'),
            Some(e) => self.expr_print(e, 0, &mut out),
        }
        out
    }

    fn expr_print(&self, e: ExprId, prev: u8, out: &mut String) {
        // Precedence classes as in expr_compare_type: OR < AND < NOT < CMP.
        let class = |x: &Expr| match x {
            Expr::Or(..) => 1,
            Expr::And(..) => 2,
            Expr::Not(..) => 3,
            Expr::Cmp(op, ..) => match op {
                CmpOp::Equal | CmpOp::Unequal => 4,
                _ => 5,
            },
            _ => 6,
        };
        let ex = self.expr(e);
        let me = class(&ex);
        // expr_compare_type(prev, me) > 0: parenthesise when the enclosing
        // operator binds tighter than this one.
        let paren = prev != 0 && me < 6 && prev > me;
        if paren {
            out.push('(');
        }
        match ex {
            Expr::Sym(s) => out.push_str(self.sym_name(s)),
            Expr::Not(a) => {
                out.push('!');
                self.expr_print(a, 3, out);
            }
            Expr::Cmp(op, a, b) => {
                out.push_str(self.sym_name(a));
                out.push_str(op.as_str());
                out.push_str(self.sym_name(b));
            }
            Expr::Or(a, b) => {
                self.expr_print(a, 1, out);
                out.push_str(" || ");
                self.expr_print(b, 1, out);
            }
            Expr::And(a, b) => {
                self.expr_print(a, 2, out);
                out.push_str(" && ");
                self.expr_print(b, 2, out);
            }
            Expr::Range(a, b) => {
                out.push('[');
                out.push_str(self.sym_name(a));
                out.push(' ');
                out.push_str(self.sym_name(b));
                out.push(']');
            }
        }
        if paren {
            out.push(')');
        }
    }

    /// Leaves of a top-level `||` chain (for "Selected by" lists).
    pub fn or_terms(&self, e: Option<ExprId>) -> Vec<ExprId> {
        let mut v = Vec::new();
        fn walk(db: &Db, e: ExprId, v: &mut Vec<ExprId>) {
            match db.expr(e) {
                Expr::Or(a, b) => {
                    walk(db, a, v);
                    walk(db, b, v);
                }
                _ => v.push(e),
            }
        }
        if let Some(e) = e {
            walk(self, e, &mut v);
        }
        v
    }

    /// Leaves of a top-level `&&` chain.
    pub fn and_terms(&self, e: Option<ExprId>) -> Vec<ExprId> {
        let mut v = Vec::new();
        fn walk(db: &Db, e: ExprId, v: &mut Vec<ExprId>) {
            match db.expr(e) {
                Expr::And(a, b) => {
                    walk(db, a, v);
                    walk(db, b, v);
                }
                _ => v.push(e),
            }
        }
        if let Some(e) = e {
            walk(self, e, &mut v);
        }
        v
    }

    /// Structural equality of two expressions.
    pub fn expr_eq(&self, a: ExprId, b: ExprId) -> bool {
        if a == b {
            return true;
        }
        match (self.expr(a), self.expr(b)) {
            (Expr::Sym(x), Expr::Sym(y)) => x == y,
            (Expr::Not(x), Expr::Not(y)) => self.expr_eq(x, y),
            (Expr::And(a1, a2), Expr::And(b1, b2)) | (Expr::Or(a1, a2), Expr::Or(b1, b2)) => {
                (self.expr_eq(a1, b1) && self.expr_eq(a2, b2))
                    || (self.expr_eq(a1, b2) && self.expr_eq(a2, b1))
            }
            (Expr::Cmp(o1, a1, a2), Expr::Cmp(o2, b1, b2)) => o1 == o2 && a1 == b1 && a2 == b2,
            (Expr::Range(a1, a2), Expr::Range(b1, b2)) => a1 == b1 && a2 == b2,
            _ => false,
        }
    }

    /// Symbols an expression mentions (each once, in order of appearance).
    pub fn expr_syms(&self, e: Option<ExprId>) -> Vec<SymId> {
        let mut v: Vec<SymId> = Vec::new();
        fn add(v: &mut Vec<SymId>, s: SymId) {
            if !v.contains(&s) {
                v.push(s);
            }
        }
        fn walk(db: &Db, e: ExprId, v: &mut Vec<SymId>) {
            match db.expr(e) {
                Expr::Sym(s) => add(v, s),
                Expr::Not(a) => walk(db, a, v),
                Expr::And(a, b) | Expr::Or(a, b) => {
                    walk(db, a, v);
                    walk(db, b, v);
                }
                Expr::Cmp(_, a, b) | Expr::Range(a, b) => {
                    add(v, a);
                    add(v, b);
                }
            }
        }
        if let Some(e) = e {
            walk(self, e, &mut v);
        }
        v
    }
}

/// A choice's own symbol (conf's `sym_is_choice`).
pub fn is_choice(db: &Db, s: SymId) -> bool {
    match db.dialect {
        Dialect::Legacy => db.sym(s).flags & F_CHOICE != 0,
        Dialect::Modern => db.sym(s).name.is_none(),
    }
}

/// A member of a choice (conf's `sym_is_choice_value`).
pub fn is_choice_value(db: &Db, s: SymId) -> bool {
    match db.dialect {
        Dialect::Legacy => db.sym(s).flags & F_CHOICEVAL != 0,
        Dialect::Modern => db.sym(s).choice_member_of.is_some(),
    }
}
