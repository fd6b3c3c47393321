//! Reading and writing `.config` files (conf's confdata.c): the exact line
//! grammar, warnings, string escaping, menu comments and "# end of" markers.

use crate::db::{is_choice, is_choice_value, Db, Dialect, ROOT_MENU};
use crate::diag::Diag;
pub use crate::dotconfig::escape;
use crate::dotconfig::{classify, unescape, RawLine};
use crate::model::*;

/// What reading a configuration file reported.
#[derive(Debug, Default, Clone)]
pub struct ReadReport {
    pub warnings: Vec<Diag>,
    /// Symbols named in the file that this tree does not define.
    pub unknown: Vec<(u32, String)>,
}

impl Db {
    /// conf's `conf_read_simple(name, S_DEF_USER)`. `name` is used in messages.
    /// `warn_unknown` adds a warning per unknown symbol (conf does that only
    /// with KCONFIG_WARN_UNKNOWN_SYMBOLS; unknown symbols are always listed in
    /// the report so callers never drop them silently).
    pub fn read_config(&mut self, name: &str, data: &[u8], warn_unknown: bool) -> ReadReport {
        let legacy = self.dialect == Dialect::Legacy;
        let mut rep = ReadReport::default();
        for i in 0..self.hash_order.len() {
            let id = self.hash_order[i];
            let choice = is_choice(self, id);
            let s = self.sym_mut(id);
            s.flags &= !(F_DEF_USER | F_VALID);
            if legacy && choice {
                s.flags |= F_DEF_USER;
            }
            s.def_val = None;
            s.def_tri = Tri::N;
            s.def_choice = None;
        }
        let prefix = self.config_prefix.clone();
        let mut lineno = 0u32;
        let warn = |rep: &mut ReadReport, line: u32, msg: String| {
            rep.warnings.push(Diag::at(name, line, msg));
        };
        for raw in split_lines(data) {
            lineno += 1;
            let line = String::from_utf8_lossy(raw);
            let (sym_name, val) = match classify(&line, &prefix, legacy) {
                RawLine::Skip => continue,
                RawLine::Unexpected(text) => {
                    warn(&mut rep, lineno, format!("unexpected data: {text}"));
                    continue;
                }
                RawLine::NotSet(sym_name) => (sym_name, "n"),
                RawLine::Assign(sym_name, val) => (sym_name, val),
            };
            let Some(sym) = self.sym_find(sym_name) else {
                if warn_unknown {
                    warn(&mut rep, lineno, format!("unknown symbol: {sym_name}"));
                }
                rep.unknown.push((lineno, sym_name.to_string()));
                self.conf_changed = true;
                continue;
            };
            if self.sym(sym).flags & F_DEF_USER != 0 {
                let n = self.sym_name(sym).to_string();
                warn(
                    &mut rep,
                    lineno,
                    format!("override: reassigning to symbol {n}"),
                );
            }
            if let Err(msg) = self.set_sym_val(sym, val) {
                warn(&mut rep, lineno, msg);
                continue;
            }
            if legacy {
                if is_choice_value(self, sym) {
                    if let Some(cs) = self.legacy_choice_of(sym) {
                        let n = self.sym_name(sym).to_string();
                        match self.sym(sym).def_tri {
                            Tri::N => {}
                            Tri::M => {
                                if self.sym(cs).def_tri == Tri::Y {
                                    warn(
                                        &mut rep,
                                        lineno,
                                        format!("{n} creates inconsistent choice state"),
                                    );
                                    self.sym_mut(cs).flags &= !F_DEF_USER;
                                }
                            }
                            Tri::Y => {
                                if self.sym(cs).def_tri != Tri::N {
                                    warn(
                                        &mut rep,
                                        lineno,
                                        format!("override: {n} changes choice state"),
                                    );
                                }
                                self.sym_mut(cs).def_choice = Some(sym);
                            }
                        }
                        let t = self.sym(cs).def_tri.or(self.sym(sym).def_tri);
                        self.sym_mut(cs).def_tri = t;
                    }
                }
            } else if let Some(cm) = self.sym(sym).choice_member_of {
                // The last assignment in a file gets the highest priority.
                let list = &mut self.menu_mut(cm).choice_members;
                list.retain(|x| *x != sym);
                list.insert(0, sym);
            }
        }
        rep
    }

    /// `conf_set_sym_val` for the user value.
    fn set_sym_val(&mut self, s: SymId, p: &str) -> Result<(), String> {
        let name = self.sym_name(s).to_string();
        let ty = self.sym(s).ty;
        let first = p.as_bytes().first().copied();
        match ty {
            SymType::Tristate | SymType::Bool => {
                let t = match first {
                    Some(b'm') if ty == SymType::Tristate => Tri::M,
                    Some(b'y') => Tri::Y,
                    Some(b'n') => Tri::N,
                    _ => return Err(format!("symbol value '{p}' invalid for {name}")),
                };
                let sym = self.sym_mut(s);
                sym.def_tri = t;
                sym.flags |= F_DEF_USER;
                Ok(())
            }
            SymType::String | SymType::Int | SymType::Hex => {
                let val = if ty == SymType::String {
                    // A string without its opening quote is dropped silently.
                    if !p.starts_with('"') {
                        return Ok(());
                    }
                    unescape(p).ok_or("invalid string found")?
                } else {
                    p.to_string()
                };
                if self.string_valid(s, &val) {
                    let sym = self.sym_mut(s);
                    sym.def_val = Some(val);
                    sym.flags |= F_DEF_USER;
                    Ok(())
                } else {
                    Err(format!("symbol value '{val}' invalid for {name}"))
                }
            }
            SymType::Unknown => Ok(()),
        }
    }

    /// conf's `conf_read`: read a user configuration and note whether the
    /// result differs from it.
    pub fn conf_read(&mut self, name: &str, data: &[u8], warn_unknown: bool) -> ReadReport {
        let legacy = self.dialect == Dialect::Legacy;
        self.conf_changed = false;
        let rep = self.read_config(name, data, warn_unknown);
        let m = self.modules_sym;
        self.calc_value(m);
        let mut unsaved = 0u32;
        for i in 0..self.hash_order.len() {
            let id = self.hash_order[i];
            self.calc_value(id);
            if is_choice(self, id) || (legacy && self.sym(id).flags & F_NO_WRITE != 0) {
                continue;
            }
            let sym = self.sym(id);
            let write = sym.flags & F_WRITE != 0;
            if sym.has_value() && write {
                let same = match sym.ty {
                    SymType::Bool | SymType::Tristate => sym.def_tri == sym.curr_tri,
                    _ => sym.def_val.as_deref() == Some(sym.curr_val.as_str()),
                };
                if same {
                    continue;
                }
            } else if !sym.has_value() && !write {
                continue;
            }
            unsaved += 1;
        }
        if legacy {
            for i in 0..self.hash_order.len() {
                let id = self.hash_order[i];
                if !self.sym(id).has_value() || is_choice_value(self, id) {
                    continue;
                }
                if self.sym(id).visible == Tri::N && unsaved == 0 {
                    self.sym_mut(id).flags &= !F_DEF_USER;
                }
                if matches!(
                    self.sym(id).ty,
                    SymType::String | SymType::Int | SymType::Hex
                ) {
                    let v = self.sym(id).def_val.clone().unwrap_or_default();
                    if !self.string_within_range(id, &v) {
                        self.sym_mut(id).flags &= !(F_VALID | F_DEF_USER);
                        unsaved += 1;
                    }
                }
            }
        }
        if unsaved > 0 || !rep.warnings.is_empty() {
            self.conf_changed = true;
        }
        rep
    }

    fn symbol_line(&self, s: SymId, out: &mut String) {
        let sym = self.sym(s);
        if sym.ty == SymType::Unknown {
            return;
        }
        let name = sym.name.as_deref().unwrap_or("");
        let val = self.get_string_value(s);
        if sym.ty.is_tri_like() && val == "n" {
            out.push_str(&format!("# {}{} is not set\n", self.config_prefix, name));
            return;
        }
        if sym.ty == SymType::String {
            out.push_str(&format!(
                "{}{}={}\n",
                self.config_prefix,
                name,
                escape(&val)
            ));
        } else {
            out.push_str(&format!("{}{}={}\n", self.config_prefix, name, val));
        }
    }

    /// conf's `conf_write`: the full `.config` text.
    pub fn write_config(&mut self) -> String {
        let mut out = String::new();
        let title = self
            .menu(ROOT_MENU)
            .prompt
            .and_then(|p| self.prop(p).text.clone())
            .unwrap_or_default();
        out.push_str("#\n# Automatically generated file; DO NOT EDIT.\n");
        out.push_str(&format!("# {title}\n#\n"));
        if !self.conf_changed {
            self.clear_all_valid();
        }
        let mut need_newline = false;
        let mut written: Vec<SymId> = Vec::new();
        let mut menu = self.menu(ROOT_MENU).list;
        while let Some(m) = menu {
            match self.menu(m).sym {
                None => {
                    if self.menu_is_visible(m) {
                        let p = self.menu(m).prompt.expect("visible menus have prompts");
                        let text = self.prop(p).text.clone().unwrap_or_default();
                        out.push_str(&format!("\n#\n# {text}\n#\n"));
                        need_newline = false;
                    }
                }
                Some(s) => {
                    if !is_choice(self, s) && self.sym(s).flags & F_WRITTEN == 0 {
                        self.calc_value(s);
                        if self.sym(s).flags & F_WRITE != 0 {
                            if need_newline {
                                out.push('\n');
                                need_newline = false;
                            }
                            self.sym_mut(s).flags |= F_WRITTEN;
                            written.push(s);
                            self.symbol_line(s, &mut out);
                        }
                    }
                }
            }
            if let Some(l) = self.menu(m).list {
                menu = Some(l);
                continue;
            }
            let mut cur = Some(m);
            menu = None;
            while let Some(c) = cur {
                if self.menu(c).sym.is_none() && c != ROOT_MENU && self.menu_is_visible(c) {
                    let p = self.menu(c).prompt.expect("visible menus have prompts");
                    if self.prop(p).kind == PropKind::Menu {
                        let text = self.prop(p).text.clone().unwrap_or_default();
                        out.push_str(&format!("# end of {text}\n"));
                        need_newline = true;
                    }
                }
                if let Some(n) = self.menu(c).next {
                    menu = Some(n);
                    break;
                }
                cur = self.menu(c).parent;
            }
        }
        for s in written {
            self.sym_mut(s).flags &= !F_WRITTEN;
        }
        self.conf_changed = false;
        out
    }

    /// conf's `conf_write_defconfig`: only what differs from the defaults.
    pub fn write_defconfig(&mut self) -> String {
        let legacy = self.dialect == Dialect::Legacy;
        let mut out = String::new();
        self.clear_all_valid();
        for m in self.subtree(ROOT_MENU) {
            let Some(s) = self.menu(m).sym else { continue };
            if is_choice(self, s) {
                continue;
            }
            self.calc_value(s);
            if self.sym(s).flags & F_WRITE == 0 {
                continue;
            }
            self.sym_mut(s).flags &= !F_WRITE;
            if !self.is_changeable(s) {
                continue;
            }
            if self.get_string_value(s) == self.get_string_default(s) {
                continue;
            }
            if legacy {
                if is_choice_value(self, s) {
                    if let Some(cs) = self.legacy_choice_of(s) {
                        let ds = self.legacy_choice_default(cs);
                        let optional = self.sym(cs).flags & F_OPTIONAL != 0;
                        if !optional
                            && ds == Some(s)
                            && self.sym(s).ty == SymType::Bool
                            && self.sym(s).curr_tri == Tri::Y
                        {
                            continue;
                        }
                    }
                }
            } else if let Some(cm) = self.choice_menu_of(s) {
                let ds = self.choice_default(cm);
                if ds == Some(s) && self.sym(s).curr_tri == Tri::Y {
                    continue;
                }
            }
            self.symbol_line(s, &mut out);
        }
        out
    }
}

/// Lines as `getline` returns them (each with its `\n`, if any).
fn split_lines(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = data;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .map(|p| p + 1)
            .unwrap_or(rest.len());
        let (line, r) = rest.split_at(end);
        rest = r;
        Some(line)
    })
}
