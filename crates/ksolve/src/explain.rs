//! Why a symbol has the value it has: its prompts, dependencies (with the
//! value of every term), what selects or implies it, its defaults, and where
//! it is defined. The minimal change to enable it is the solver's job; the
//! command line combines the two.

use kconfig::model::PropKind;
use kconfig::{Db, SymId, Tri};
use serde::Serialize;

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Term {
    pub symbol: String,
    pub value: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Explanation {
    pub symbol: String,
    #[serde(rename = "type")]
    pub ty: String,
    pub value: String,
    /// Where the value comes from, in words.
    pub because: String,
    pub prompts: Vec<String>,
    /// Whether the user can change it here (a prompt is visible).
    pub visible: String,
    pub depends_on: String,
    /// Every symbol in the dependency expression, with its value.
    pub depends_terms: Vec<Term>,
    pub selected_by: Vec<Term>,
    pub implied_by: Vec<Term>,
    pub selects: Vec<String>,
    pub implies: Vec<String>,
    pub defaults: Vec<String>,
    pub range: Option<String>,
    pub defined_at: Vec<String>,
    pub help: Option<String>,
}

fn terms(st: &mut Db, e: Option<kconfig::model::ExprId>) -> Vec<Term> {
    let syms: Vec<SymId> = st
        .expr_syms(e)
        .into_iter()
        .filter(|s| !Db::is_const_yn(*s) && !st.sym(*s).menus.is_empty())
        .collect();
    syms.into_iter()
        .map(|s| Term {
            symbol: st.sym_name(s).to_string(),
            value: st.value_str(s),
        })
        .collect()
}

/// Explain `s` in the evaluated configuration `st`. `user_set` says whether
/// the configuration file assigned it (conf does not keep that distinction
/// after evaluation, so the caller tells us).
pub fn explain(st: &mut Db, s: SymId, user_set: bool) -> Explanation {
    let value = st.value_str(s);
    let sym = st.sym(s).clone();
    let name = st.sym_name(s).to_string();
    let prompts: Vec<String> = st
        .prompts_of(s)
        .into_iter()
        .map(|p| {
            let pr = st.prop(p);
            let text = pr.text.clone().unwrap_or_default();
            if pr.visible_expr.is_some() {
                format!("\"{text}\" if {}", st.expr_str(pr.visible_expr))
            } else {
                format!("\"{text}\"")
            }
        })
        .collect();
    let selected_by: Vec<Term> = st
        .or_terms(sym.rev_dep)
        .into_iter()
        .map(|t| Term {
            symbol: st.expr_str(Some(t)),
            value: st.expr_calc(Some(t)).as_str().to_string(),
        })
        .collect();
    let implied_by: Vec<Term> = st
        .or_terms(sym.implied)
        .into_iter()
        .map(|t| Term {
            symbol: st.expr_str(Some(t)),
            value: st.expr_calc(Some(t)).as_str().to_string(),
        })
        .collect();
    let props_text = |kind: PropKind, st: &Db| -> Vec<String> {
        st.props_of(s, kind)
            .map(|p| {
                let pr = st.prop(p);
                let target = st.expr_str(pr.expr);
                // Conditions carry the enclosing menus' dependencies; show
                // only what the entry itself wrote when it is simple.
                match pr.visible_expr {
                    None => target,
                    Some(_) => format!("{target} if {}", st.expr_str(pr.visible_expr)),
                }
            })
            .collect()
    };
    let defaults = props_text(PropKind::Default, st);
    let range = props_text(PropKind::Range, st).into_iter().next();
    let selects = props_text(PropKind::Select, st);
    let implies = props_text(PropKind::Imply, st);
    let defined_at = sym
        .menus
        .iter()
        .map(|m| {
            let mm = st.menu(*m);
            format!("{}:{}", st.file_name(mm.file), mm.line)
        })
        .collect();
    let help = sym.menus.iter().find_map(|m| st.menu(*m).help.clone());

    // No select at all means n (expr_calc(None) is y, the rule for deps).
    let rev = match sym.rev_dep {
        Some(_) => st.expr_calc(sym.rev_dep),
        None => Tri::N,
    };
    let is_tri = sym.ty.is_tri_like();
    let because = if sym.visible != Tri::N && user_set {
        "set in the configuration file".to_string()
    } else if is_tri && rev != Tri::N && value != "n" {
        let who: Vec<String> = selected_by
            .iter()
            .filter(|t| t.value != "n")
            .map(|t| t.symbol.clone())
            .collect();
        format!("selected by {}", who.join(", "))
    } else if sym.visible != Tri::N {
        if is_tri && value == "n" {
            "not set (the prompt is visible; allnoconfig answers no)".to_string()
        } else {
            "its default (nothing set it)".to_string()
        }
    } else {
        // Hidden or absent prompt: the first default whose condition holds.
        let active = st
            .props_of(s, PropKind::Default)
            .collect::<Vec<_>>()
            .into_iter()
            .find(|p| {
                let cond = st.prop(*p).visible_expr;
                st.expr_calc(cond) != Tri::N
            })
            .map(|p| st.expr_str(st.prop(p).expr));
        let hidden = st
            .prompts_of(s)
            .first()
            .map(|p| {
                format!(
                    " (its prompt is hidden: {})",
                    st.expr_str(st.prop(*p).visible_expr)
                )
            })
            .unwrap_or_else(|| " (it has no prompt)".to_string());
        match active {
            Some(d) => format!("its default {d}{hidden}"),
            None => format!("nothing sets it{hidden}"),
        }
    };
    let dep = sym.dir_dep;
    let depends_on = st.expr_str(dep);
    let depends_terms = terms(st, dep);
    Explanation {
        symbol: name,
        ty: sym.ty.name().to_string(),
        value,
        because,
        prompts,
        visible: sym.visible.as_str().to_string(),
        depends_on,
        depends_terms,
        selected_by,
        implied_by,
        selects,
        implies,
        defaults,
        range,
        defined_at,
        help,
    }
}
