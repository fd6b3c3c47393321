//! Statements to menu tree, following scripts/kconfig/parser.y's grammar and
//! actions (menu_add_entry, menu_add_prop, ...), with error recovery at end
//! of line so that one run reports every syntax error with file:line.

use crate::db::{Db, Dialect, ROOT_MENU};
use crate::diag::{Diag, Error};
use crate::host::Host;
use crate::lexer::{Lexer, Tok};
use crate::macros::{Flavor, Pos};
use crate::model::*;

#[derive(Clone, Copy)]
enum Attach {
    List(MenuId),
    Next(MenuId),
}

struct Parser<'h> {
    lx: Lexer<'h>,
    peeked: Option<Tok>,
    db: Db,
    current_menu: MenuId,
    current_entry: MenuId,
    attach: Attach,
    current_choice: Option<MenuId>,
    errors: Vec<Diag>,
    /// Open `(` and `!` in the expression being parsed.
    nesting: u32,
}

/// conf's bison stack gives up near 10000 levels ("memory exhausted").
/// Recursive descent overflows a 2 MiB thread stack (debug build) at
/// about 300, so stop far below that, at a depth no real Kconfig nears.
const MAX_NESTING: u32 = 128;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Block {
    Top,
    Menu,
    If,
    Choice,
}

/// Parse the tree rooted at `top` (usually "Kconfig"). Returns the database
/// with the menu tree finalized, and the warnings conf would print.
pub fn parse(host: &dyn Host, top: &str, dialect: Dialect) -> Result<(Db, Vec<Diag>), Error> {
    if host.speculate() {
        speculative_prefetch(host, top, dialect);
    }
    parse_once(host, top, dialect)
}

/// Marks output that a speculative pass made up; commands containing it
/// depend on an earlier probe and are not worth running ahead of time.
const PENDING: &str = "\u{1}ktailor-pending\u{1}";

/// Records shell commands instead of running them.
struct Recorder<'a> {
    inner: &'a dyn Host,
    cmds: std::cell::RefCell<Vec<String>>,
}

impl Host for Recorder<'_> {
    fn read_file(&self, name: &str) -> std::io::Result<Vec<u8>> {
        self.inner.read_file(name)
    }
    fn getenv(&self, name: &str) -> Option<String> {
        self.inner.getenv(name)
    }
    fn shell(&self, cmd: &str) -> Result<Vec<u8>, String> {
        if !cmd.contains(PENDING) {
            self.cmds.borrow_mut().push(cmd.to_string());
        }
        Ok(PENDING.as_bytes().to_vec())
    }
    fn info(&self, _msg: &str) {}
}

/// Parse once with shell calls stubbed to learn which commands the real
/// parse will run, and hand the independent ones to the host to run in
/// parallel. The result of this pass is thrown away.
fn speculative_prefetch(host: &dyn Host, top: &str, dialect: Dialect) {
    let rec = Recorder {
        inner: host,
        cmds: Default::default(),
    };
    let _ = parse_once(&rec, top, dialect);
    let mut cmds = rec.cmds.into_inner();
    let mut seen = std::collections::HashSet::new();
    cmds.retain(|c| seen.insert(c.clone()));
    host.prefetch(&cmds);
}

fn parse_once(host: &dyn Host, top: &str, dialect: Dialect) -> Result<(Db, Vec<Diag>), Error> {
    let lx =
        Lexer::new(host, top, dialect == Dialect::Legacy).map_err(|d| Error::Parse(vec![d]))?;
    let mut p = Parser {
        lx,
        peeked: None,
        db: Db::new(dialect),
        current_menu: ROOT_MENU,
        current_entry: ROOT_MENU,
        attach: Attach::List(ROOT_MENU),
        current_choice: None,
        errors: Vec::new(),
        nesting: 0,
    };
    if let Some(prefix) = host.getenv("CONFIG_") {
        p.db.config_prefix = prefix;
    }
    let res = p.parse_input();
    let mut warnings = std::mem::take(&mut p.lx.diags.warnings);
    if let Err(fatal) = res {
        p.errors.push(fatal);
    }
    if !p.errors.is_empty() {
        return Err(Error::Parse(p.errors));
    }
    let mut db = p.db;
    db.files = p.lx.file_names;
    if db.menu(ROOT_MENU).prompt.is_none() {
        let prop = db.props.len();
        db.props.push(Prop {
            kind: PropKind::Menu,
            text: Some("Main menu".into()),
            expr: None,
            visible_expr: None,
            visible_tri: Default::default(),
            menu: ROOT_MENU,
            file: FileId(0),
            line: 0,
            choice_members: Vec::new(),
        });
        db.menu_mut(ROOT_MENU).prompt = Some(PropId(prop as u32));
    }
    db.compute_hash_order();
    crate::menu::finalize(&mut db, &mut warnings);
    let errs = crate::menu::check(&mut db);
    if !errs.is_empty() {
        return Err(Error::Parse(errs));
    }
    db.conf_changed = true;
    Ok((db, warnings))
}

type Res<T> = Result<T, Diag>;

impl<'h> Parser<'h> {
    fn peek(&mut self) -> Res<&Tok> {
        if self.peeked.is_none() {
            self.peeked = Some(self.lx.next_token()?);
        }
        Ok(self.peeked.as_ref().expect("just filled"))
    }

    fn take(&mut self) -> Res<Tok> {
        self.peek()?;
        Ok(self.peeked.take().expect("just filled"))
    }

    fn here(&self) -> (String, u32) {
        (self.lx.cur_filename().to_string(), self.lx.cur_lineno)
    }

    fn error(&mut self, msg: impl Into<String>) {
        let (f, l) = self.here();
        self.errors.push(Diag::at(&f, l, msg));
    }

    /// Report an unexpected token and skip to the end of its line
    /// (bison's `error T_EOL` recovery).
    fn syntax_error(&mut self, expected: &str) -> Res<()> {
        let got = self.peek()?.describe();
        self.error(format!(
            "syntax error: unexpected {got}, expected {expected}"
        ));
        self.skip_line()
    }

    fn skip_line(&mut self) -> Res<()> {
        loop {
            match self.take()? {
                Tok::Eol | Tok::Eof => return Ok(()),
                Tok::Help => {
                    // A stray help still switches the lexer into help mode.
                }
                _ => {}
            }
        }
    }

    fn expect_eol(&mut self) -> Res<bool> {
        if *self.peek()? == Tok::Eol {
            self.take()?;
            Ok(true)
        } else {
            self.syntax_error("end of line")?;
            Ok(false)
        }
    }

    fn expect_quote(&mut self, what: &str) -> Res<Option<String>> {
        match self.peek()?.clone() {
            Tok::WordQuote(s) => {
                self.take()?;
                Ok(Some(s))
            }
            _ => {
                self.syntax_error(what)?;
                Ok(None)
            }
        }
    }

    fn parse_input(&mut self) -> Res<()> {
        if *self.peek()? == Tok::MainMenu {
            self.take()?;
            if let Some(text) = self.expect_quote("a quoted menu title")? {
                if self.expect_eol()? {
                    self.add_prompt(PropKind::Menu, &text, None);
                }
            }
        }
        self.parse_stmts(Block::Top)?;
        match self.peek()? {
            Tok::Eof => Ok(()),
            t => {
                let t = t.describe();
                self.error(format!("unexpected {t} outside of any block"));
                Ok(())
            }
        }
    }

    /// Statements until end of file or an `end*` keyword (left for the caller).
    fn parse_stmts(&mut self, block: Block) -> Res<()> {
        loop {
            let t = self.peek()?.clone();
            match t {
                Tok::Eof | Tok::EndMenu | Tok::EndChoice | Tok::EndIf => return Ok(()),
                Tok::Eol => {
                    self.take()?;
                }
                Tok::Config => self.parse_config(false)?,
                Tok::Comment => self.parse_comment()?,
                Tok::If => self.parse_if(block == Block::Choice)?,
                Tok::MenuConfig if block != Block::Choice => self.parse_config(true)?,
                Tok::Menu if block != Block::Choice => self.parse_menu()?,
                Tok::Choice if block != Block::Choice => self.parse_choice()?,
                Tok::Source if block != Block::Choice => self.parse_source()?,
                Tok::Word(w) if block != Block::Choice => {
                    self.take()?;
                    let op = match self.peek()? {
                        Tok::Equal => Some(Flavor::Recursive),
                        Tok::ColonEqual => Some(Flavor::Simple),
                        Tok::PlusEqual => Some(Flavor::Append),
                        _ => None,
                    };
                    match op {
                        Some(flavor) => {
                            self.take()?;
                            let val = match self.peek()?.clone() {
                                Tok::AssignVal(v) => {
                                    self.take()?;
                                    v
                                }
                                _ => String::new(),
                            };
                            if self.expect_eol()? {
                                let (f, _) = self.here();
                                let pos = Pos {
                                    file: &f,
                                    line: self.lx.yylineno(),
                                };
                                let host = self.lx_host();
                                self.lx.macros.add_variable(
                                    &w,
                                    &val,
                                    flavor,
                                    host,
                                    pos,
                                    &mut self.lx.diags,
                                )?;
                            }
                        }
                        None => {
                            self.error(format!("unknown statement \"{w}\""));
                            self.skip_line()?;
                        }
                    }
                }
                _ => {
                    self.error("invalid statement");
                    self.skip_line()?;
                }
            }
        }
    }

    fn lx_host(&self) -> &'h dyn Host {
        self.lx.host()
    }

    fn parse_end(&mut self, expected: &str, opened: MenuId) -> Res<()> {
        let t = self.peek()?.clone();
        let found = match t {
            Tok::EndMenu => "menu",
            Tok::EndChoice => "choice",
            Tok::EndIf => "if",
            _ => {
                let m = self.db.menu(opened);
                let f = self.db_file(m.file);
                let line = m.line;
                self.errors.push(Diag::at(
                    &f,
                    line,
                    format!("missing end statement for this entry (expected 'end{expected}')"),
                ));
                self.menu_end_menu();
                return Ok(());
            }
        };
        self.take()?;
        self.expect_eol()?;
        if found != expected {
            self.error(format!("unexpected '{found}' within {expected} block"));
        } else {
            let opened_file = self.db.menu(opened).file;
            if opened_file != self.lx.cur_file {
                self.error(format!("'{found}' in different file than '{expected}'"));
                let f = self.db_file(opened_file);
                let l = self.db.menu(opened).line;
                self.errors
                    .push(Diag::at(&f, l, format!("location of the '{expected}'")));
            }
        }
        self.menu_end_menu();
        Ok(())
    }

    fn db_file(&self, f: FileId) -> String {
        self.lx.file_names.get(f.idx()).cloned().unwrap_or_default()
    }

    // ---- menu tree building (menu.c's menu_add_*) ----

    fn menu_add_entry(&mut self, sym: Option<SymId>) -> MenuId {
        let id = MenuId(self.db.menus.len() as u32);
        self.db.menus.push(Menu {
            sym,
            parent: Some(self.current_menu),
            file: self.lx.cur_file,
            line: self.lx.cur_lineno,
            ..Default::default()
        });
        match self.attach {
            Attach::List(p) => self.db.menu_mut(p).list = Some(id),
            Attach::Next(m) => self.db.menu_mut(m).next = Some(id),
        }
        self.attach = Attach::Next(id);
        self.current_entry = id;
        if let Some(s) = sym {
            self.db.sym_mut(s).menus.push(id);
        }
        id
    }

    fn menu_add_menu(&mut self) -> MenuId {
        self.attach = Attach::List(self.current_entry);
        self.current_menu = self.current_entry;
        self.current_menu
    }

    fn menu_end_menu(&mut self) {
        self.attach = Attach::Next(self.current_menu);
        self.current_menu = self.db.menu(self.current_menu).parent.unwrap_or(ROOT_MENU);
    }

    fn menu_add_dep(&mut self, dep: Option<ExprId>) {
        let cur = self.db.menu(self.current_entry).dep;
        let d = self.db.expr_and(cur, dep);
        self.db.menu_mut(self.current_entry).dep = d;
    }

    fn set_type(&mut self, ty: SymType) {
        let Some(s) = self.db.menu(self.current_entry).sym else {
            return;
        };
        let cur = self.db.sym(s).ty;
        if cur == ty {
            return;
        }
        if cur == SymType::Unknown {
            self.db.sym_mut(s).ty = ty;
            return;
        }
        let m = self.db.menu(self.current_entry);
        let (f, l) = (self.db_file(m.file), m.line);
        let name = self.db.sym_name(s).to_string();
        self.lx.diags.warn(Diag::at(
            &f,
            l,
            format!(
                "warning: ignoring type redefinition of '{name}' from '{}' to '{}'",
                cur.name(),
                ty.name()
            ),
        ));
    }

    fn add_prop(&mut self, kind: PropKind, expr: Option<ExprId>, dep: Option<ExprId>) -> PropId {
        let id = PropId(self.db.props.len() as u32);
        self.db.props.push(Prop {
            kind,
            text: None,
            expr,
            visible_expr: dep,
            visible_tri: Default::default(),
            menu: self.current_entry,
            file: self.lx.cur_file,
            line: self.lx.cur_lineno,
            choice_members: Vec::new(),
        });
        if let Some(s) = self.db.menu(self.current_entry).sym {
            self.db.sym_mut(s).props.push(id);
        }
        id
    }

    fn add_prompt(&mut self, kind: PropKind, text: &str, dep: Option<ExprId>) -> PropId {
        let id = self.add_prop(kind, None, dep);
        let trimmed = text.trim_start_matches(|c: char| c.is_ascii_whitespace());
        let (f, l) = self.here();
        if trimmed.len() != text.len() {
            self.lx
                .diags
                .warn(Diag::at(&f, l, "warning: leading whitespace ignored"));
        }
        if self.db.menu(self.current_entry).prompt.is_some() {
            self.lx
                .diags
                .warn(Diag::at(&f, l, "warning: prompt redefined"));
        }
        if kind == PropKind::Prompt {
            let mut m = self.current_entry;
            while let Some(parent) = self.db.menu(m).parent {
                m = parent;
                if let Some(v) = self.db.menu(m).visibility {
                    let cur = self.db.props[id.idx()].visible_expr;
                    self.db.props[id.idx()].visible_expr = self.db.expr_and(cur, Some(v));
                }
            }
        }
        self.db.menu_mut(self.current_entry).prompt = Some(id);
        self.db.props[id.idx()].text = Some(trimmed.to_string());
        id
    }

    // ---- statements ----

    fn parse_config(&mut self, menuconfig: bool) -> Res<()> {
        self.take()?;
        let name = match self.peek()?.clone() {
            Tok::Word(w) => {
                self.take()?;
                w
            }
            _ => {
                return self.syntax_error("a symbol name");
            }
        };
        if !self.expect_eol()? {
            return Ok(());
        }
        let sym = self.db.sym_lookup(Some(&name), 0);
        if self.db.dialect == Dialect::Legacy {
            self.db.sym_mut(sym).flags |= F_OPTIONAL;
        }
        self.menu_add_entry(Some(sym));
        self.parse_config_options(false)?;
        if menuconfig {
            match self.db.menu(self.current_entry).prompt {
                Some(p) => self.db.props[p.idx()].kind = PropKind::Menu,
                None => {
                    let (f, l) = self.here();
                    self.lx.diags.warn(Diag::at(
                        &f,
                        l,
                        "warning: menuconfig statement without prompt",
                    ));
                }
            }
        }
        if let Some(choice) = self.current_choice {
            if self.db.dialect == Dialect::Modern {
                let entry = self.current_entry;
                let m = self.db.menu(entry);
                let (f, l) = (self.db_file(m.file), m.line);
                if m.prompt.is_none() {
                    self.errors
                        .push(Diag::at(&f, l, "error: choice member must have a prompt"));
                }
                if self.db.sym(sym).ty != SymType::Bool {
                    self.errors
                        .push(Diag::at(&f, l, "error: choice member must be bool"));
                }
                if self.db.sym(sym).choice_member_of.is_none() {
                    self.db.sym_mut(sym).choice_member_of = Some(choice);
                    self.db.menu_mut(choice).choice_members.push(sym);
                }
            }
        }
        Ok(())
    }

    /// Options of a config entry, or of a choice when `choice` is set.
    fn parse_config_options(&mut self, choice: bool) -> Res<()> {
        let legacy = self.db.dialect == Dialect::Legacy;
        loop {
            let t = self.peek()?.clone();
            match t {
                Tok::Bool | Tok::Tristate | Tok::Int | Tok::Hex | Tok::StringKw
                    if !choice || legacy || t == Tok::Bool =>
                {
                    self.take()?;
                    let ty = match t {
                        Tok::Bool => SymType::Bool,
                        Tok::Tristate => SymType::Tristate,
                        Tok::Int => SymType::Int,
                        Tok::Hex => SymType::Hex,
                        _ => SymType::String,
                    };
                    if choice && legacy && !matches!(ty, SymType::Bool | SymType::Tristate) {
                        self.syntax_error("bool or tristate")?;
                        continue;
                    }
                    if choice && !legacy {
                        // 6.11+: `bool "prompt" [if expr]` is just a prompt.
                        let Some(text) = self.expect_quote("a quoted prompt")? else {
                            continue;
                        };
                        let dep = self.parse_if_expr()?;
                        if self.expect_eol()? {
                            self.add_prompt(PropKind::Prompt, &text, dep);
                        }
                        continue;
                    }
                    let mut prompt = None;
                    if let Tok::WordQuote(s) = self.peek()?.clone() {
                        self.take()?;
                        let dep = self.parse_if_expr()?;
                        prompt = Some((s, dep));
                    }
                    if self.expect_eol()? {
                        if let Some((s, dep)) = prompt {
                            self.add_prompt(PropKind::Prompt, &s, dep);
                        }
                        self.set_type(ty);
                    }
                }
                Tok::Prompt => {
                    self.take()?;
                    let Some(text) = self.expect_quote("a quoted prompt")? else {
                        continue;
                    };
                    let dep = self.parse_if_expr()?;
                    if self.expect_eol()? {
                        self.add_prompt(PropKind::Prompt, &text, dep);
                    }
                }
                Tok::Default | Tok::DefBool | Tok::DefTristate
                    if !(choice && t != Tok::Default) =>
                {
                    self.take()?;
                    let e = if choice {
                        match self.peek()?.clone() {
                            Tok::Word(w) => {
                                self.take()?;
                                let s = self.db.sym_lookup(Some(&w), 0);
                                Some(self.db.expr_sym(s))
                            }
                            _ => {
                                self.syntax_error("a symbol name")?;
                                continue;
                            }
                        }
                    } else {
                        match self.parse_expr()? {
                            Some(e) => Some(e),
                            None => continue,
                        }
                    };
                    let dep = self.parse_if_expr()?;
                    if self.expect_eol()? {
                        self.add_prop(PropKind::Default, e, dep);
                        match t {
                            Tok::DefBool => self.set_type(SymType::Bool),
                            Tok::DefTristate => self.set_type(SymType::Tristate),
                            _ => {}
                        }
                    }
                }
                Tok::Select | Tok::Imply if !choice => {
                    self.take()?;
                    let target = match self.peek()?.clone() {
                        Tok::Word(w) => {
                            self.take()?;
                            self.db.sym_lookup(Some(&w), 0)
                        }
                        _ => {
                            self.syntax_error("a symbol name")?;
                            continue;
                        }
                    };
                    let dep = self.parse_if_expr()?;
                    if self.expect_eol()? {
                        let e = self.db.expr_sym(target);
                        let kind = if t == Tok::Select {
                            PropKind::Select
                        } else {
                            PropKind::Imply
                        };
                        self.add_prop(kind, Some(e), dep);
                    }
                }
                Tok::Range if !choice => {
                    self.take()?;
                    let (Some(a), Some(b)) = (self.parse_symbol()?, self.parse_symbol()?) else {
                        self.syntax_error("two range bounds")?;
                        continue;
                    };
                    let dep = self.parse_if_expr()?;
                    if self.expect_eol()? {
                        let e = self.db.new_expr(Expr::Range(a, b));
                        self.add_prop(PropKind::Range, Some(e), dep);
                    }
                }
                Tok::Modules if !choice => {
                    self.take()?;
                    if self.expect_eol()? {
                        let s = self.db.menu(self.current_entry).sym.unwrap_or(SYM_N);
                        if self.db.modules_sym != SYM_N {
                            let a = self.db.sym_name(s).to_string();
                            let b = self.db.sym_name(self.db.modules_sym).to_string();
                            self.error(format!(
                                "symbol '{a}' redefines option 'modules' already defined by symbol '{b}'"
                            ));
                        } else {
                            self.db.modules_sym = s;
                        }
                    }
                }
                Tok::Optional if choice && legacy => {
                    self.take()?;
                    if self.expect_eol()? {
                        if let Some(s) = self.db.menu(self.current_entry).sym {
                            self.db.sym_mut(s).flags |= F_OPTIONAL;
                        }
                    }
                }
                Tok::Depends => self.parse_depends()?,
                Tok::Help => self.parse_help()?,
                _ => return Ok(()),
            }
        }
    }

    fn parse_depends(&mut self) -> Res<()> {
        self.take()?;
        if *self.peek()? != Tok::On {
            return self.syntax_error("'on'");
        }
        self.take()?;
        let Some(e) = self.parse_expr()? else {
            return Ok(());
        };
        if self.expect_eol()? {
            self.menu_add_dep(Some(e));
        }
        Ok(())
    }

    fn parse_help(&mut self) -> Res<()> {
        self.take()?;
        if *self.peek()? != Tok::Eol {
            return self.syntax_error("end of line after 'help'");
        }
        self.take()?;
        self.lx.start_help();
        let text = match self.take()? {
            Tok::HelpText(t) => t,
            _ => String::new(),
        };
        let (f, l) = self.here();
        let entry = self.current_entry;
        let name = self
            .db
            .menu(entry)
            .sym
            .map(|s| self.db.sym_name(s).to_string())
            .unwrap_or_default();
        if self.db.menu(entry).help.is_some() {
            self.lx.diags.warn(Diag::at(
                &f,
                l,
                format!("warning: '{name}' defined with more than one help text -- only the last one will be used"),
            ));
        }
        if text.trim().is_empty() {
            self.lx.diags.warn(Diag::at(
                &f,
                l,
                format!("warning: '{name}' defined with blank help text"),
            ));
        }
        self.db.menu_mut(entry).help = Some(text);
        Ok(())
    }

    fn parse_choice(&mut self) -> Res<()> {
        self.take()?;
        let legacy = self.db.dialect == Dialect::Legacy;
        let mut name = None;
        if legacy {
            if let Tok::Word(w) = self.peek()?.clone() {
                self.take()?;
                name = Some(w);
            }
        }
        if !self.expect_eol()? {
            // Keep going: the block structure still needs its endchoice.
        }
        let sym = if legacy {
            let s = self.db.sym_lookup(name.as_deref(), F_CHOICE);
            self.db.sym_mut(s).flags |= F_NO_WRITE | F_CHOICE;
            s
        } else {
            self.db.sym_lookup(None, 0)
        };
        let entry = self.menu_add_entry(Some(sym));
        self.db.menu_mut(entry).is_choice = true;
        if legacy {
            self.add_prop(PropKind::Choice, None, None);
        } else {
            self.set_type(SymType::Bool);
        }
        self.parse_config_options(true)?;
        if !legacy && self.db.menu(entry).prompt.is_none() {
            let m = self.db.menu(entry);
            let (f, l) = (self.db_file(m.file), m.line);
            self.errors
                .push(Diag::at(&f, l, "error: choice must have a prompt"));
        }
        self.menu_add_menu();
        let saved = self.current_choice;
        self.current_choice = Some(entry);
        self.parse_stmts(Block::Choice)?;
        self.current_choice = saved;
        self.parse_end("choice", entry)
    }

    fn parse_if(&mut self, in_choice: bool) -> Res<()> {
        self.take()?;
        let e = self.parse_expr()?;
        if !self.expect_eol()? {
            // Still open the block so endif matches.
        }
        let entry = self.menu_add_entry(None);
        self.menu_add_dep(e);
        self.menu_add_menu();
        let block = if in_choice { Block::Choice } else { Block::If };
        self.parse_stmts(block)?;
        self.parse_end("if", entry)
    }

    fn parse_menu(&mut self) -> Res<()> {
        self.take()?;
        let text = self.expect_quote("a quoted menu title")?;
        let entry = self.menu_add_entry(None);
        if let Some(t) = text {
            if self.expect_eol()? {
                self.add_prompt(PropKind::Menu, &t, None);
            }
        }
        loop {
            match self.peek()? {
                Tok::Visible => {
                    self.take()?;
                    let e = self.parse_if_expr()?;
                    if self.expect_eol()? {
                        let cur = self.db.menu(self.current_entry).visibility;
                        let v = self.db.expr_and(cur, e);
                        self.db.menu_mut(self.current_entry).visibility = v;
                    }
                }
                Tok::Depends => self.parse_depends()?,
                _ => break,
            }
        }
        self.menu_add_menu();
        self.parse_stmts(Block::Menu)?;
        self.parse_end("menu", entry)
    }

    fn parse_comment(&mut self) -> Res<()> {
        self.take()?;
        let Some(text) = self.expect_quote("a quoted comment")? else {
            return Ok(());
        };
        if !self.expect_eol()? {
            return Ok(());
        }
        self.menu_add_entry(None);
        self.add_prompt(PropKind::Comment, &text, None);
        while *self.peek()? == Tok::Depends {
            self.parse_depends()?;
        }
        Ok(())
    }

    fn parse_source(&mut self) -> Res<()> {
        self.take()?;
        let Some(name) = self.expect_quote("a quoted file name")? else {
            return Ok(());
        };
        if *self.peek()? != Tok::Eol {
            return self.syntax_error("end of line");
        }
        // Consume the end of line without reading ahead: the next token
        // must come from the sourced file.
        self.take()?;
        self.lx.push_file(&name)
    }

    // ---- expressions ----

    fn parse_if_expr(&mut self) -> Res<Option<ExprId>> {
        if *self.peek()? == Tok::If {
            self.take()?;
            return self.parse_expr();
        }
        Ok(None)
    }

    /// `expr`; on a syntax error, reports it, skips the line and returns None.
    fn parse_expr(&mut self) -> Res<Option<ExprId>> {
        match self.expr_or()? {
            Some(e) => Ok(Some(e)),
            None => {
                self.syntax_error("an expression")?;
                Ok(None)
            }
        }
    }

    fn expr_or(&mut self) -> Res<Option<ExprId>> {
        let Some(mut l) = self.expr_and()? else {
            return Ok(None);
        };
        while *self.peek()? == Tok::Or {
            self.take()?;
            let Some(r) = self.expr_and()? else {
                return Ok(None);
            };
            l = self.db.new_expr(Expr::Or(l, r));
        }
        Ok(Some(l))
    }

    fn expr_and(&mut self) -> Res<Option<ExprId>> {
        let Some(mut l) = self.expr_unary()? else {
            return Ok(None);
        };
        while *self.peek()? == Tok::And {
            self.take()?;
            let Some(r) = self.expr_unary()? else {
                return Ok(None);
            };
            l = self.db.new_expr(Expr::And(l, r));
        }
        Ok(Some(l))
    }

    /// One more level of nesting, or a fatal error past [`MAX_NESTING`]
    /// (errors end the parse, so the count needs no unwinding).
    fn enter(&mut self) -> Res<()> {
        if self.nesting >= MAX_NESTING {
            let (f, l) = self.here();
            return Err(Diag::at(&f, l, "expression nested too deeply"));
        }
        self.nesting += 1;
        Ok(())
    }

    fn expr_unary(&mut self) -> Res<Option<ExprId>> {
        match self.peek()? {
            Tok::Not => {
                self.take()?;
                self.enter()?;
                let e = self.expr_unary()?;
                self.nesting -= 1;
                let Some(e) = e else {
                    return Ok(None);
                };
                Ok(Some(self.db.new_expr(Expr::Not(e))))
            }
            Tok::OpenParen => {
                self.take()?;
                self.enter()?;
                let e = self.expr_or()?;
                self.nesting -= 1;
                let Some(e) = e else {
                    return Ok(None);
                };
                if *self.peek()? != Tok::CloseParen {
                    return Ok(None);
                }
                self.take()?;
                Ok(Some(e))
            }
            _ => {
                let Some(a) = self.parse_symbol()? else {
                    return Ok(None);
                };
                let op = match self.peek()? {
                    Tok::Equal => Some(CmpOp::Equal),
                    Tok::Unequal => Some(CmpOp::Unequal),
                    Tok::Less => Some(CmpOp::Lth),
                    Tok::LessEqual => Some(CmpOp::Leq),
                    Tok::Greater => Some(CmpOp::Gth),
                    Tok::GreaterEqual => Some(CmpOp::Geq),
                    _ => None,
                };
                match op {
                    None => Ok(Some(self.db.expr_sym(a))),
                    Some(op) => {
                        self.take()?;
                        let Some(b) = self.parse_symbol()? else {
                            return Ok(None);
                        };
                        Ok(Some(self.db.new_expr(Expr::Cmp(op, a, b))))
                    }
                }
            }
        }
    }

    fn parse_symbol(&mut self) -> Res<Option<SymId>> {
        match self.peek()?.clone() {
            Tok::Word(w) => {
                self.take()?;
                Ok(Some(self.db.sym_lookup(Some(&w), 0)))
            }
            Tok::WordQuote(w) => {
                self.take()?;
                Ok(Some(self.db.sym_lookup(Some(&w), F_CONST)))
            }
            _ => Ok(None),
        }
    }
}
