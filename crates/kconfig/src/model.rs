//! The parsed configuration database: symbols, properties, menu nodes and
//! expressions, all in arenas indexed by small copyable ids.
//!
//! conf mutates a web of pointers while it evaluates (cached visibility on
//! properties, flags on symbols, choice priority lists). Arenas let us keep
//! that exact state machine in safe Rust: evaluation takes `&mut Db` and walks
//! expressions by id without holding borrows.

use std::cell::Cell;

/// Kconfig's three-valued logic. The numeric order (n < m < y) is what
/// `EXPR_AND` (min) and `EXPR_OR` (max) rely on.
///
/// With the `serde` feature it serializes as `"N"`, `"M"`, `"Y"` (the
/// variant names); its `.config` spelling is [`Tri::as_str`] / `Display`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Tri {
    #[default]
    N = 0,
    M = 1,
    Y = 2,
}

impl std::ops::Not for Tri {
    type Output = Tri;
    fn not(self) -> Tri {
        match self {
            Tri::N => Tri::Y,
            Tri::M => Tri::M,
            Tri::Y => Tri::N,
        }
    }
}

impl Tri {
    pub fn and(self, o: Tri) -> Tri {
        self.min(o)
    }
    pub fn or(self, o: Tri) -> Tri {
        self.max(o)
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Tri::N => "n",
            Tri::M => "m",
            Tri::Y => "y",
        }
    }
    /// `y` or `m`: built in or a module (the kernel's `IS_ENABLED`).
    pub fn is_enabled(self) -> bool {
        self != Tri::N
    }
}

impl From<bool> for Tri {
    fn from(b: bool) -> Tri {
        if b {
            Tri::Y
        } else {
            Tri::N
        }
    }
}

impl std::fmt::Display for Tri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// `y`, `m` or `n` exactly, as a `.config` spells them.
impl std::str::FromStr for Tri {
    type Err = String;
    fn from_str(s: &str) -> Result<Tri, String> {
        match s {
            "y" => Ok(Tri::Y),
            "m" => Ok(Tri::M),
            "n" => Ok(Tri::N),
            _ => Err(format!("{s:?} is not y, m or n")),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SymType {
    Unknown,
    Bool,
    Tristate,
    Int,
    Hex,
    String,
}

impl SymType {
    pub fn name(self) -> &'static str {
        match self {
            SymType::Bool => "bool",
            SymType::Tristate => "tristate",
            SymType::Int => "integer",
            SymType::Hex => "hex",
            SymType::String => "string",
            SymType::Unknown => "unknown",
        }
    }
    pub fn is_tri_like(self) -> bool {
        matches!(self, SymType::Bool | SymType::Tristate)
    }
}

macro_rules! id_type {
    ($name:ident) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub u32);
        impl $name {
            pub fn idx(self) -> usize {
                self.0 as usize
            }
        }
    };
}
id_type!(SymId);
id_type!(PropId);
id_type!(MenuId);
id_type!(ExprId);
id_type!(FileId);

impl Default for FileId {
    /// The top-level Kconfig file is always file 0.
    fn default() -> Self {
        FileId(0)
    }
}

/// The constant symbols conf keeps outside its hash table.
pub const SYM_Y: SymId = SymId(0);
pub const SYM_M: SymId = SymId(1);
pub const SYM_N: SymId = SymId(2);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CmpOp {
    Equal,
    Unequal,
    Lth,
    Leq,
    Gth,
    Geq,
}

impl CmpOp {
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Equal => "=",
            CmpOp::Unequal => "!=",
            CmpOp::Lth => "<",
            CmpOp::Leq => "<=",
            CmpOp::Gth => ">",
            CmpOp::Geq => ">=",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Expr {
    Sym(SymId),
    Not(ExprId),
    And(ExprId, ExprId),
    Or(ExprId, ExprId),
    Cmp(CmpOp, SymId, SymId),
    Range(SymId, SymId),
}

// Symbol flags, named after conf's SYMBOL_* bits.
pub const F_CONST: u32 = 0x0001;
pub const F_CHECK: u32 = 0x0008;
pub const F_CHOICE: u32 = 0x0010; // legacy dialect only
pub const F_CHOICEVAL: u32 = 0x0020; // legacy dialect only
pub const F_VALID: u32 = 0x0080;
pub const F_OPTIONAL: u32 = 0x0100; // legacy dialect only
pub const F_WRITE: u32 = 0x0200;
pub const F_WRITTEN: u32 = 0x0800;
pub const F_NO_WRITE: u32 = 0x1000; // legacy dialect only
pub const F_CHECKED: u32 = 0x2000;
pub const F_WARNED: u32 = 0x8000;
pub const F_DEF_USER: u32 = 0x10000;
pub const F_NEED_SET_CHOICE_VALUES: u32 = 0x100000; // legacy dialect only

/// `struct symbol`. Fields that conf caches during evaluation are plain
/// fields here; `Db` methods keep them up to date exactly as conf does.
#[derive(Clone, Debug)]
pub struct Symbol {
    /// `None` for choices (and unnamed legacy choices).
    pub name: Option<String>,
    pub ty: SymType,
    pub flags: u32,
    pub curr_tri: Tri,
    /// `curr.val` for int/hex/string (and bool/tristate, where conf keeps a
    /// string it never reads back).
    pub curr_val: String,
    /// Legacy dialect: a choice's `curr.val` points at the selected member.
    pub curr_choice: Option<SymId>,
    pub def_tri: Tri,
    pub def_val: Option<String>,
    /// Legacy dialect: a choice's `def[S_DEF_USER].val`.
    pub def_choice: Option<SymId>,
    pub visible: Tri,
    pub menus: Vec<MenuId>,
    pub props: Vec<PropId>,
    pub dir_dep: Option<ExprId>,
    pub dir_dep_tri: Tri,
    pub rev_dep: Option<ExprId>,
    pub rev_dep_tri: Tri,
    pub implied: Option<ExprId>,
    pub implied_tri: Tri,
    /// Modern dialect: the choice menu this symbol is a member of
    /// (`!list_empty(&sym->choice_link)`).
    pub choice_member_of: Option<MenuId>,
    /// Position in conf's symbol hash table, for `for_all_symbols` order.
    pub hash_bucket: u32,
    pub hash_seq: u32,
}

impl Symbol {
    pub fn new(name: Option<String>, flags: u32) -> Symbol {
        Symbol {
            name,
            ty: SymType::Unknown,
            flags,
            curr_tri: Tri::N,
            curr_val: String::new(),
            curr_choice: None,
            def_tri: Tri::N,
            def_val: None,
            def_choice: None,
            visible: Tri::N,
            menus: Vec::new(),
            props: Vec::new(),
            dir_dep: None,
            dir_dep_tri: Tri::N,
            rev_dep: None,
            rev_dep_tri: Tri::N,
            implied: None,
            implied_tri: Tri::N,
            choice_member_of: None,
            hash_bucket: 0,
            hash_seq: 0,
        }
    }
    pub fn has_value(&self) -> bool {
        self.flags & F_DEF_USER != 0
    }
    pub fn name_or_choice(&self) -> &str {
        self.name.as_deref().unwrap_or("<choice>")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PropKind {
    Prompt,
    Comment,
    Menu,
    Default,
    Select,
    Imply,
    Range,
    /// Legacy dialect: the list of a choice's members.
    Choice,
}

impl PropKind {
    pub fn name(self) -> &'static str {
        match self {
            PropKind::Prompt => "prompt",
            PropKind::Comment => "comment",
            PropKind::Menu => "menu",
            PropKind::Default => "default",
            PropKind::Select => "select",
            PropKind::Imply => "imply",
            PropKind::Range => "range",
            PropKind::Choice => "choice",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Prop {
    pub kind: PropKind,
    pub text: Option<String>,
    pub expr: Option<ExprId>,
    pub visible_expr: Option<ExprId>,
    pub visible_tri: Cell<Tri>,
    pub menu: MenuId,
    pub file: FileId,
    pub line: u32,
    /// Legacy `P_CHOICE`: members in order.
    pub choice_members: Vec<SymId>,
}

#[derive(Clone, Debug, Default)]
pub struct Menu {
    pub sym: Option<SymId>,
    pub prompt: Option<PropId>,
    pub dep: Option<ExprId>,
    pub visibility: Option<ExprId>,
    pub parent: Option<MenuId>,
    pub next: Option<MenuId>,
    pub list: Option<MenuId>,
    pub help: Option<String>,
    pub file: FileId,
    pub line: u32,
    /// Modern dialect: `menu->choice_members`, in priority order.
    pub choice_members: Vec<SymId>,
    pub is_choice: bool,
}
