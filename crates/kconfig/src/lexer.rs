//! Tokens from Kconfig text, with `source` file nesting, help-text
//! indentation rules and macro expansion, matching conf's flex scanner
//! (scripts/kconfig/lexer.l) rule for rule.
//!
//! The second stage (`next`) drops blank lines and decides the line number a
//! statement is attributed to, like conf's `yylex` wrapper. Both affect
//! diagnostics only, but we keep them identical so messages match conf's.

use std::collections::HashMap;

use crate::diag::{Diag, Diags};
use crate::host::Host;
use crate::macros::{Macros, Pos};
use crate::model::FileId;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tok {
    Eof,
    Eol,
    Word(String),
    WordQuote(String),
    AssignVal(String),
    HelpText(String),
    Bool,
    Choice,
    Comment,
    Config,
    DefBool,
    DefTristate,
    Default,
    Depends,
    EndChoice,
    EndIf,
    EndMenu,
    Help,
    Hex,
    If,
    Imply,
    Int,
    MainMenu,
    Menu,
    MenuConfig,
    Modules,
    On,
    Optional,
    Prompt,
    Range,
    Select,
    Source,
    StringKw,
    Tristate,
    Visible,
    Or,
    And,
    Equal,
    Unequal,
    Less,
    LessEqual,
    Greater,
    GreaterEqual,
    Not,
    OpenParen,
    CloseParen,
    ColonEqual,
    PlusEqual,
}

impl Tok {
    /// How a token is named in "expected ..." messages.
    pub fn describe(&self) -> String {
        match self {
            Tok::Eof => "end of file".into(),
            Tok::Eol => "end of line".into(),
            Tok::Word(w) => format!("'{w}'"),
            Tok::WordQuote(w) => format!("\"{w}\""),
            Tok::AssignVal(_) => "a value".into(),
            Tok::HelpText(_) => "help text".into(),
            other => format!("'{}'", keyword_text(other).unwrap_or("?")),
        }
    }
}

const KEYWORDS: &[(&str, Tok)] = &[
    ("bool", Tok::Bool),
    ("choice", Tok::Choice),
    ("comment", Tok::Comment),
    ("config", Tok::Config),
    ("def_bool", Tok::DefBool),
    ("def_tristate", Tok::DefTristate),
    ("default", Tok::Default),
    ("depends", Tok::Depends),
    ("endchoice", Tok::EndChoice),
    ("endif", Tok::EndIf),
    ("endmenu", Tok::EndMenu),
    ("help", Tok::Help),
    ("hex", Tok::Hex),
    ("if", Tok::If),
    ("imply", Tok::Imply),
    ("int", Tok::Int),
    ("mainmenu", Tok::MainMenu),
    ("menu", Tok::Menu),
    ("menuconfig", Tok::MenuConfig),
    ("modules", Tok::Modules),
    ("on", Tok::On),
    ("optional", Tok::Optional),
    ("prompt", Tok::Prompt),
    ("range", Tok::Range),
    ("select", Tok::Select),
    ("source", Tok::Source),
    ("string", Tok::StringKw),
    ("tristate", Tok::Tristate),
    ("visible", Tok::Visible),
    ("||", Tok::Or),
    ("&&", Tok::And),
    ("=", Tok::Equal),
    ("!=", Tok::Unequal),
    ("<", Tok::Less),
    ("<=", Tok::LessEqual),
    (">", Tok::Greater),
    (">=", Tok::GreaterEqual),
    ("!", Tok::Not),
    ("(", Tok::OpenParen),
    (")", Tok::CloseParen),
    (":=", Tok::ColonEqual),
    ("+=", Tok::PlusEqual),
];

fn keyword_text(t: &Tok) -> Option<&'static str> {
    KEYWORDS.iter().find(|(_, k)| k == t).map(|(s, _)| *s)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    Initial,
    AssignVal,
    Help,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Eol,
    HelpText,
    Word,
    AssignOp,
    Other,
}

struct FileBuf {
    data: Vec<u8>,
    pos: usize,
    lineno: u32,
    file: FileId,
    /// Line of the `source` statement in the includer, for recursion reports.
    source_lineno: u32,
}

pub struct Lexer<'h> {
    host: &'h dyn Host,
    stack: Vec<FileBuf>,
    state: State,
    prev: Kind,
    prev_prev: Kind,
    /// Line of the first token of the current statement (conf's cur_lineno).
    pub cur_lineno: u32,
    /// File of the current buffer (conf's cur_filename).
    pub cur_file: FileId,
    pub file_names: Vec<String>,
    file_ids: HashMap<String, FileId>,
    pub macros: Macros,
    pub diags: Diags,
    legacy: bool,
    help_first_ts: usize,
    help_last_ts: usize,
    help_text: Vec<u8>,
    done: bool,
    top_eol_sent: bool,
}

type Res<T> = Result<T, Diag>;

impl<'h> Lexer<'h> {
    /// Open the top-level Kconfig file. `legacy` enables the pre-6.11
    /// `optional` keyword.
    pub fn new(host: &'h dyn Host, top: &str, legacy: bool) -> Res<Lexer<'h>> {
        let data = host
            .read_file(top)
            .map_err(|_| Diag::at("", 0, format!("can't find file {top}")))?;
        let mut lx = Lexer {
            host,
            stack: Vec::new(),
            state: State::Initial,
            prev: Kind::Eol,
            prev_prev: Kind::Eol,
            cur_lineno: 0,
            cur_file: FileId(0),
            file_names: Vec::new(),
            file_ids: HashMap::new(),
            macros: Macros::new(),
            diags: Diags::default(),
            legacy,
            help_first_ts: 0,
            help_last_ts: 0,
            help_text: Vec::new(),
            done: false,
            top_eol_sent: false,
        };
        let file = lx.file_lookup(top);
        lx.cur_file = file;
        lx.stack.push(FileBuf {
            data,
            pos: 0,
            lineno: 1,
            file,
            source_lineno: 0,
        });
        Ok(lx)
    }

    pub fn host(&self) -> &'h dyn Host {
        self.host
    }

    pub fn file_lookup(&mut self, name: &str) -> FileId {
        if let Some(id) = self.file_ids.get(name) {
            return *id;
        }
        let id = FileId(self.file_names.len() as u32);
        self.file_names.push(name.to_string());
        self.file_ids.insert(name.to_string(), id);
        id
    }

    pub fn cur_filename(&self) -> &str {
        &self.file_names[self.cur_file.idx()]
    }

    /// The lexer's own line (conf's yylineno), used by macro diagnostics.
    pub fn yylineno(&self) -> u32 {
        self.stack.last().map(|b| b.lineno).unwrap_or(0)
    }

    /// `zconf_nextfile`: continue reading from `name` until its end.
    pub fn push_file(&mut self, name: &str) -> Res<()> {
        let includer = self.cur_filename().to_string();
        let data = self.host.read_file(name).map_err(|_| {
            Diag::at(
                &includer,
                self.cur_lineno,
                format!("can't open file \"{name}\""),
            )
        })?;
        let recursive = self
            .stack
            .iter()
            .any(|b| self.file_names[b.file.idx()] == name);
        if recursive {
            let mut msg = format!(
                "Recursive inclusion detected.\nInclusion path:\n  current file : {name}\n  included from: {includer}:{}",
                self.cur_lineno
            );
            for i in (1..self.stack.len()).rev() {
                let f = &self.file_names[self.stack[i - 1].file.idx()];
                let l = self.stack[i].source_lineno;
                msg.push_str(&format!("\n  included from: {f}:{l}"));
            }
            return Err(Diag::at("", 0, msg));
        }
        let file = self.file_lookup(name);
        self.stack.push(FileBuf {
            data,
            pos: 0,
            lineno: 1,
            file,
            source_lineno: self.cur_lineno,
        });
        self.cur_file = file;
        Ok(())
    }

    /// Called by the parser right after `help` + end of line.
    pub fn start_help(&mut self) {
        self.help_text.clear();
        self.help_first_ts = 0;
        self.help_last_ts = 0;
        self.state = State::Help;
    }

    /// conf's second-stage `yylex`.
    pub fn next_token(&mut self) -> Res<Tok> {
        loop {
            let tok = self.lex1()?;
            if matches!(self.prev, Kind::Eol | Kind::HelpText) {
                if tok == Tok::Eol {
                    continue;
                }
                self.cur_lineno = self.yylineno();
            }
            let kind = match &tok {
                Tok::Eol => Kind::Eol,
                Tok::HelpText(_) => Kind::HelpText,
                Tok::Word(_) => Kind::Word,
                Tok::Equal | Tok::ColonEqual | Tok::PlusEqual => Kind::AssignOp,
                _ => Kind::Other,
            };
            if self.prev_prev == Kind::Eol && self.prev == Kind::Word && kind == Kind::AssignOp {
                self.state = State::AssignVal;
            }
            self.prev_prev = self.prev;
            self.prev = kind;
            return Ok(tok);
        }
    }

    fn buf(&mut self) -> &mut FileBuf {
        self.stack.last_mut().expect("lexer has an open file")
    }

    fn peek_at(&self, off: usize) -> Option<u8> {
        let b = self.stack.last()?;
        b.data.get(b.pos + off).copied()
    }

    fn bump(&mut self, n: usize) {
        let b = self.buf();
        for _ in 0..n {
            if b.data.get(b.pos) == Some(&b'\n') {
                b.lineno += 1;
            }
            b.pos += 1;
        }
    }

    fn warn(&mut self, line: u32, msg: String) {
        let f = self.cur_filename().to_string();
        self.diags.warn(Diag::at(&f, line, msg));
    }

    fn at_eof(&mut self) -> Res<Tok> {
        self.state = State::Initial;
        if self.done {
            return Ok(Tok::Eof);
        }
        if self.prev != Kind::Eol && self.prev != Kind::HelpText {
            let l = self.yylineno();
            self.warn(l, "no new line at end of file".into());
        }
        if self.stack.len() > 1 {
            self.stack.pop();
            self.cur_file = self.stack.last().map(|b| b.file).unwrap_or(FileId(0));
            return Ok(Tok::Eol);
        }
        // Up to 6.10 the top file also ended with one end-of-line token, so
        // a last statement without a newline still parsed (with a warning).
        if self.legacy && !self.top_eol_sent {
            self.top_eol_sent = true;
            return Ok(Tok::Eol);
        }
        self.done = true;
        Ok(Tok::Eof)
    }

    fn lex1(&mut self) -> Res<Tok> {
        match self.state {
            State::Help => self.lex_help(),
            State::AssignVal => self.lex_assign_val(),
            State::Initial => self.lex_initial(),
        }
    }

    fn lex_assign_val(&mut self) -> Res<Tok> {
        loop {
            match self.peek_at(0) {
                None => return self.at_eof(),
                Some(b'\n') => {
                    self.bump(1);
                    self.state = State::Initial;
                    return Ok(Tok::Eol);
                }
                Some(b' ') | Some(b'\t') => self.bump(1),
                Some(_) => {
                    let b = self.stack.last().expect("open file");
                    let end = b.data[b.pos..]
                        .iter()
                        .position(|&c| c == b'\n')
                        .map(|p| b.pos + p)
                        .unwrap_or(b.data.len());
                    let s = String::from_utf8_lossy(&b.data[b.pos..end]).into_owned();
                    let n = end - b.pos;
                    self.bump(n);
                    return Ok(Tok::AssignVal(s));
                }
            }
        }
    }

    fn end_help(&mut self) -> Tok {
        self.state = State::Initial;
        Tok::HelpText(String::from_utf8_lossy(&std::mem::take(&mut self.help_text)).into_owned())
    }

    fn lex_help(&mut self) -> Res<Tok> {
        loop {
            let Some(c0) = self.peek_at(0) else {
                return Ok(self.end_help());
            };
            let mut blanks = 0;
            while matches!(self.peek_at(blanks), Some(b' ') | Some(b'\t')) {
                blanks += 1;
            }
            match self.peek_at(blanks) {
                Some(b'\n') => {
                    let after = self.peek_at(blanks + 1);
                    self.bump(blanks + 1);
                    match after {
                        Some(c) if c != b' ' && c != b'\t' && c != b'\n' => {
                            return Ok(self.end_help());
                        }
                        _ => self.help_text.push(b'\n'),
                    }
                }
                _ if blanks > 0 => {
                    let mut ts = 0usize;
                    for k in 0..blanks {
                        if self.peek_at(k) == Some(b'\t') {
                            ts = (ts & !7) + 8;
                        } else {
                            ts += 1;
                        }
                    }
                    self.bump(blanks);
                    self.help_last_ts = ts;
                    if self.help_first_ts != 0 {
                        if ts < self.help_first_ts {
                            return Ok(self.end_help());
                        }
                        let mut rel = ts - self.help_first_ts;
                        while rel > 8 {
                            self.help_text.extend_from_slice(b"        ");
                            rel -= 8;
                        }
                        self.help_text.extend(std::iter::repeat_n(b' ', rel));
                    }
                }
                None if blanks > 0 => {
                    // Trailing blanks at end of file: consumed, then EOF.
                    self.bump(blanks);
                }
                _ => {
                    debug_assert!(c0 != b' ' && c0 != b'\t' && c0 != b'\n');
                    let b = self.stack.last().expect("open file");
                    let end = b.data[b.pos..]
                        .iter()
                        .position(|&c| c == b'\n')
                        .map(|p| b.pos + p)
                        .unwrap_or(b.data.len());
                    let mut line = b.data[b.pos..end].to_vec();
                    while matches!(line.last(), Some(b' ') | Some(b'\t')) {
                        line.pop();
                    }
                    let n = end - b.pos;
                    self.bump(n);
                    self.help_text.extend_from_slice(&line);
                    if self.help_first_ts == 0 {
                        self.help_first_ts = self.help_last_ts;
                    }
                }
            }
        }
    }

    fn lex_initial(&mut self) -> Res<Tok> {
        loop {
            let Some(c) = self.peek_at(0) else {
                return self.at_eof();
            };
            match c {
                b'#' => {
                    while let Some(c) = self.peek_at(0) {
                        if c == b'\n' {
                            break;
                        }
                        self.bump(1);
                    }
                }
                b' ' | b'\t' => self.bump(1),
                b'\\' if self.peek_at(1) == Some(b'\n') => self.bump(2),
                b'\n' => {
                    self.bump(1);
                    return Ok(Tok::Eol);
                }
                b'"' | b'\'' => {
                    self.bump(1);
                    return self.lex_string(c);
                }
                c if is_word_char(c) || c == b'$' => {
                    if let Some(t) = self.lex_word()? {
                        return Ok(t);
                    }
                }
                _ => {
                    let two = [c, self.peek_at(1).unwrap_or(0)];
                    let op = match &two {
                        b"||" => Some((Tok::Or, 2)),
                        b"&&" => Some((Tok::And, 2)),
                        b"!=" => Some((Tok::Unequal, 2)),
                        b"<=" => Some((Tok::LessEqual, 2)),
                        b">=" => Some((Tok::GreaterEqual, 2)),
                        b":=" => Some((Tok::ColonEqual, 2)),
                        b"+=" => Some((Tok::PlusEqual, 2)),
                        _ => match c {
                            b'=' => Some((Tok::Equal, 1)),
                            b'<' => Some((Tok::Less, 1)),
                            b'>' => Some((Tok::Greater, 1)),
                            b'!' => Some((Tok::Not, 1)),
                            b'(' => Some((Tok::OpenParen, 1)),
                            b')' => Some((Tok::CloseParen, 1)),
                            _ => None,
                        },
                    };
                    match op {
                        Some((t, n)) => {
                            self.bump(n);
                            return Ok(t);
                        }
                        None => {
                            let l = self.yylineno();
                            let shown = if c.is_ascii() {
                                (c as char).to_string()
                            } else {
                                format!("\\x{c:02x}")
                            };
                            self.warn(l, format!("ignoring unsupported character '{shown}'"));
                            self.bump(1);
                        }
                    }
                }
            }
        }
    }

    /// `{n}+` (keyword or word) or `({n}|$)+` (expanded word).
    fn lex_word(&mut self) -> Res<Option<Tok>> {
        let b = self.stack.last().expect("open file");
        let start = b.pos;
        let mut end = start;
        let mut has_dollar = false;
        while let Some(&c) = b.data.get(end) {
            if is_word_char(c) {
                end += 1;
            } else if c == b'$' {
                has_dollar = true;
                end += 1;
            } else {
                break;
            }
        }
        if !has_dollar {
            let w = String::from_utf8_lossy(&b.data[start..end]).into_owned();
            self.bump(end - start);
            for (kw, tok) in KEYWORDS {
                if *kw == w {
                    if *tok == Tok::Optional && !self.legacy {
                        break;
                    }
                    return Ok(Some(tok.clone()));
                }
            }
            return Ok(Some(Tok::Word(w)));
        }
        // expand_token: the token plus the rest of the line, expanded up to
        // the first byte that can't be in a symbol name; the rest is re-read.
        let line_end = b.data[start..]
            .iter()
            .position(|&c| c == b'\n')
            .map(|p| start + p)
            .unwrap_or(b.data.len());
        let text = b.data[start..line_end].to_vec();
        let pos = Pos {
            file: &self.file_names[self.cur_file.idx()],
            line: b.lineno,
        };
        let (out, used) = self
            .macros
            .expand_token(&text, self.host, pos, &mut self.diags)?;
        self.bump(used);
        if out.is_empty() {
            Ok(None)
        } else {
            Ok(Some(Tok::Word(out)))
        }
    }

    fn lex_string(&mut self, quote: u8) -> Res<Tok> {
        let mut out: Vec<u8> = Vec::new();
        loop {
            let Some(c) = self.peek_at(0) else {
                self.state = State::Initial;
                return Ok(Tok::WordQuote(String::from_utf8_lossy(&out).into_owned()));
            };
            match c {
                b'$' => {
                    let b = self.stack.last().expect("open file");
                    let line_end = b.data[b.pos..]
                        .iter()
                        .position(|&c| c == b'\n')
                        .map(|p| b.pos + p)
                        .unwrap_or(b.data.len());
                    let text = b.data[b.pos + 1..line_end].to_vec();
                    let pos = Pos {
                        file: &self.file_names[self.cur_file.idx()],
                        line: b.lineno,
                    };
                    let mut i = 0;
                    let e = self.macros.expand_dollar(
                        &text,
                        &mut i,
                        self.host,
                        pos,
                        &mut self.diags,
                    )?;
                    self.bump(1 + i);
                    out.extend_from_slice(e.as_bytes());
                }
                b'\\' => {
                    match self.peek_at(1) {
                        Some(n) if n != b'\n' => {
                            out.push(n);
                            self.bump(2);
                        }
                        _ => self.bump(1),
                    };
                }
                b'\'' | b'"' => {
                    self.bump(1);
                    if c == quote {
                        return Ok(Tok::WordQuote(String::from_utf8_lossy(&out).into_owned()));
                    }
                    out.push(c);
                }
                b'\n' => {
                    let l = self.cur_lineno;
                    self.warn(l, "multi-line strings not supported".into());
                    return Ok(Tok::WordQuote(String::from_utf8_lossy(&out).into_owned()));
                }
                _ => {
                    out.push(c);
                    self.bump(1);
                }
            }
        }
    }
}

fn is_word_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'-'
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::MemHost;

    fn toks(src: &str) -> Vec<Tok> {
        let host = MemHost::default().file("K", src).env("ARCH", "x86");
        let mut lx = Lexer::new(&host, "K", false).unwrap();
        let mut v = Vec::new();
        loop {
            let t = lx.next_token().unwrap();
            if t == Tok::Eof {
                break;
            }
            if t == Tok::Help {
                v.push(t);
                assert_eq!(lx.next_token().unwrap(), Tok::Eol);
                lx.start_help();
                continue;
            }
            v.push(t);
        }
        v
    }

    #[test]
    fn words_keywords_and_operators() {
        use Tok::*;
        assert_eq!(
            toks("config FOO\n\tbool \"x\" if A&&!B||C!=y # c\n"),
            vec![
                Config,
                Word("FOO".into()),
                Eol,
                Bool,
                WordQuote("x".into()),
                If,
                Word("A".into()),
                And,
                Not,
                Word("B".into()),
                Or,
                Word("C".into()),
                Unequal,
                Word("y".into()),
                Eol
            ]
        );
    }

    #[test]
    fn assignment_values_are_raw() {
        use Tok::*;
        assert_eq!(
            toks("x := a b  # not a comment\ny =\n"),
            vec![
                Word("x".into()),
                ColonEqual,
                AssignVal("a b  # not a comment".into()),
                Eol,
                Word("y".into()),
                Equal,
                Eol
            ]
        );
    }

    #[test]
    fn strings_expand_macros_and_escapes() {
        use Tok::*;
        assert_eq!(
            toks("source \"arch/$(ARCH)/K\\\"x\"\n"),
            vec![Source, WordQuote("arch/x86/K\"x".into()), Eol]
        );
    }

    #[test]
    fn help_text_ends_at_dedent() {
        use Tok::*;
        let t = toks("help\n  line one\n\n    indented\n  two\nconfig X\n");
        assert_eq!(
            t,
            vec![
                Help,
                HelpText("line one\n\n  indented\ntwo".into()),
                Config,
                Word("X".into()),
                Eol
            ]
        );
    }

    #[test]
    fn help_then_option_on_smaller_indent() {
        use Tok::*;
        let t = toks("help\n\t  text\n\tdepends on A\n");
        assert_eq!(
            t,
            vec![
                Help,
                HelpText("text\n".into()),
                Depends,
                On,
                Word("A".into()),
                Eol
            ]
        );
    }
}
