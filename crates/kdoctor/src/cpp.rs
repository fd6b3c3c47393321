//! Just enough of the C preprocessor to answer "under which options is this
//! line compiled" and "what numbers does this ID table hold", without
//! running a compiler: comments, line continuations, the `#if` stack (read
//! as options where it tests options, kept verbatim where it does not), and
//! macro expansion for device-ID tables, which are mostly macros
//! (`PCI_VDEVICE(INTEL, 0x10d3)`, per-driver wrappers, IDs from headers).

use std::collections::{HashMap, HashSet};

use crate::cond::Cond;

/// Removes comments, keeping newlines and string/char literals, so line
/// numbers stay true and a `//` inside a string is not a comment.
pub fn strip_comments(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'/' && i + 1 < b.len() && b[i + 1] == b'*' {
            i += 2;
            out.extend_from_slice(b"  ");
            while i < b.len() && !(b[i] == b'*' && i + 1 < b.len() && b[i + 1] == b'/') {
                out.push(if b[i] == b'\n' { b'\n' } else { b' ' });
                i += 1;
            }
            i = (i + 2).min(b.len());
            out.extend_from_slice(b"  ");
        } else if c == b'/' && i + 1 < b.len() && b[i + 1] == b'/' {
            while i < b.len() && b[i] != b'\n' {
                // A `\` before the newline continues a `//` comment.
                if b[i] == b'\\' && i + 1 < b.len() && b[i + 1] == b'\n' {
                    out.push(b' ');
                    out.push(b'\n');
                    i += 2;
                    continue;
                }
                out.push(b' ');
                i += 1;
            }
        } else if c == b'"' || c == b'\'' {
            out.push(c);
            i += 1;
            while i < b.len() && b[i] != c && b[i] != b'\n' {
                if b[i] == b'\\' && i + 1 < b.len() {
                    out.push(b[i]);
                    out.push(b[i + 1]);
                    i += 2;
                    continue;
                }
                out.push(b[i]);
                i += 1;
            }
            if i < b.len() {
                out.push(b[i]);
                i += 1;
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Physical lines joined at backslash-newline; each with its first line
/// number (1-based).
pub fn logical_lines(text: &str) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut start = 0u32;
    let mut open = false;
    for (i, line) in text.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if !open {
            start = i as u32 + 1;
            cur.clear();
        }
        if let Some(body) = line.strip_suffix('\\') {
            cur.push_str(body);
            cur.push(' ');
            open = true;
        } else {
            cur.push_str(line);
            open = false;
            out.push((start, std::mem::take(&mut cur)));
        }
    }
    if open {
        out.push((start, cur));
    }
    out
}

/// Answers for identifiers in `#if` that are not `CONFIG_` symbols
/// (`__ARCH_WANT_*`, `BITS_PER_LONG`): `None` keeps the test opaque.
pub trait MacroFacts {
    fn defined(&self, name: &str) -> Option<Cond>;
}

/// No facts: every non-option test stays opaque.
pub struct NoFacts;
impl MacroFacts for NoFacts {
    fn defined(&self, _: &str) -> Option<Cond> {
        None
    }
}

/// A directive-free line with the condition it is compiled under.
#[derive(Clone, Debug)]
pub struct Line {
    pub no: u32,
    pub text: String,
    /// Index into [`Preprocessed::conds`].
    pub cond: u32,
}

#[derive(Clone, Debug)]
pub struct Define {
    pub name: String,
    pub params: Option<Vec<String>>,
    pub body: String,
    pub line: u32,
    pub cond: u32,
}

#[derive(Clone, Debug)]
pub struct Include {
    pub path: String,
    /// `"x.h"` (resolved next to the file) rather than `<x.h>`.
    pub quoted: bool,
    pub line: u32,
    pub cond: u32,
}

/// One source file after the `#if` walk.
#[derive(Clone, Debug, Default)]
pub struct Preprocessed {
    pub lines: Vec<Line>,
    pub conds: Vec<Cond>,
    pub defines: Vec<Define>,
    pub includes: Vec<Include>,
}

impl Preprocessed {
    pub fn cond(&self, idx: u32) -> &Cond {
        self.conds.get(idx as usize).unwrap_or(&Cond::True)
    }
}

struct Frame {
    /// Condition of the branch being compiled.
    cur: Cond,
    /// Negations of all earlier branches (for `#elif` / `#else`).
    taken: Vec<Cond>,
}

/// Walks a file's directives, recording the condition of every other line.
pub fn preprocess(src: &str, facts: &dyn MacroFacts) -> Preprocessed {
    let stripped = strip_comments(src);
    let lines = logical_lines(&stripped);
    let mut pp = Preprocessed {
        conds: vec![Cond::True],
        ..Default::default()
    };
    let mut stack: Vec<Frame> = Vec::new();
    let mut cur_idx: u32 = 0;
    // Names this file defines, for `#ifdef NAME` on its own macros.
    let mut local: HashMap<String, Cond> = HashMap::new();
    let recompute = |stack: &Vec<Frame>, pp: &mut Preprocessed| -> u32 {
        let c = Cond::and(stack.iter().map(|f| f.cur.clone()));
        if let Some(i) = pp.conds.iter().position(|x| *x == c) {
            return i as u32;
        }
        pp.conds.push(c);
        (pp.conds.len() - 1) as u32
    };
    let mut i = 0;
    while i < lines.len() {
        let (no, ref text) = lines[i];
        let t = text.trim_start();
        let Some(dir) = t.strip_prefix('#') else {
            if !t.trim().is_empty() {
                pp.lines.push(Line {
                    no,
                    text: text.clone(),
                    cond: cur_idx,
                });
            }
            i += 1;
            continue;
        };
        let dir = dir.trim_start();
        let (word, rest) = split_word(dir);
        let rest = rest.trim();
        let resolve = |name: &str, local: &HashMap<String, Cond>| -> Cond {
            if let Some(s) = name.strip_prefix("CONFIG_") {
                if let Some(s) = s.strip_suffix("_MODULE") {
                    return Cond::M(s.to_string());
                }
                return Cond::Y(s.to_string());
            }
            if let Some(c) = local.get(name) {
                return c.clone();
            }
            facts
                .defined(name)
                .unwrap_or_else(|| Cond::Opaque(format!("defined {name}")))
        };
        match word {
            "if" | "ifdef" | "ifndef" => {
                let c = match word {
                    "if" => parse_if(rest, &|n| Some(resolve(n, &local)), facts),
                    "ifdef" => resolve(first_ident(rest), &local),
                    _ => {
                        let name = first_ident(rest);
                        // Include guard: `#ifndef X` then `#define X`.
                        let next_defines = lines.get(i + 1).is_some_and(|(_, n)| {
                            let n = n.trim_start();
                            n.strip_prefix('#').is_some_and(|d| {
                                let (w, r) = split_word(d.trim_start());
                                w == "define" && first_ident(r.trim()) == name
                            })
                        });
                        if next_defines && !name.starts_with("CONFIG_") {
                            Cond::True
                        } else {
                            Cond::not(resolve(name, &local))
                        }
                    }
                };
                stack.push(Frame {
                    cur: c.clone(),
                    taken: vec![Cond::not(c)],
                });
                cur_idx = recompute(&stack, &mut pp);
            }
            "elif" | "elifdef" | "elifndef" => {
                if let Some(f) = stack.last_mut() {
                    let c = match word {
                        "elif" => parse_if(rest, &|n| Some(resolve(n, &local)), facts),
                        "elifdef" => resolve(first_ident(rest), &local),
                        _ => Cond::not(resolve(first_ident(rest), &local)),
                    };
                    f.cur = Cond::and(f.taken.iter().cloned().chain([c.clone()]));
                    f.taken.push(Cond::not(c));
                }
                cur_idx = recompute(&stack, &mut pp);
            }
            "else" => {
                if let Some(f) = stack.last_mut() {
                    f.cur = Cond::and(f.taken.iter().cloned());
                }
                cur_idx = recompute(&stack, &mut pp);
            }
            "endif" => {
                stack.pop();
                cur_idx = recompute(&stack, &mut pp);
            }
            "define" => {
                if let Some(d) = parse_define(rest, no, cur_idx) {
                    local.insert(d.name.clone(), pp.cond(cur_idx).clone());
                    pp.defines.push(d);
                }
            }
            "undef" => {
                local.insert(first_ident(rest).to_string(), Cond::False);
            }
            "include" => {
                let r = rest.trim();
                let (quoted, path) = if let Some(p) = r.strip_prefix('"') {
                    (true, p.split('"').next().unwrap_or(""))
                } else if let Some(p) = r.strip_prefix('<') {
                    (false, p.split('>').next().unwrap_or(""))
                } else {
                    (false, "")
                };
                if !path.is_empty() {
                    pp.includes.push(Include {
                        path: path.to_string(),
                        quoted,
                        line: no,
                        cond: cur_idx,
                    });
                }
            }
            _ => {}
        }
        i += 1;
    }
    pp
}

fn split_word(s: &str) -> (&str, &str) {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    (&s[..end], &s[end..])
}

fn first_ident(s: &str) -> &str {
    split_word(s.trim_start()).0
}

fn parse_define(rest: &str, line: u32, cond: u32) -> Option<Define> {
    let (name, after) = split_word(rest);
    if name.is_empty() {
        return None;
    }
    let (params, body) = if let Some(p) = after.strip_prefix('(') {
        let close = p.find(')')?;
        let params = p[..close]
            .split(',')
            .map(|x| x.trim().to_string())
            .filter(|x| !x.is_empty())
            .collect();
        (Some(params), p[close + 1..].trim().to_string())
    } else {
        (None, after.trim().to_string())
    };
    Some(Define {
        name: name.to_string(),
        params,
        body,
        line,
        cond,
    })
}

// ---------------------------------------------------------------------------
// Tokens

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokKind {
    Ident,
    Number,
    Str,
    Char,
    Punct,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tok {
    pub kind: TokKind,
    /// For strings: the contents with escapes resolved; else the spelling.
    pub text: String,
    pub line: u32,
    pub cond: u32,
}

impl Tok {
    pub fn is(&self, s: &str) -> bool {
        self.kind != TokKind::Str && self.text == s
    }
}

const PUNCT3: [&str; 2] = ["<<=", ">>="];
const PUNCT2: [&str; 19] = [
    "->", "++", "--", "<<", ">>", "<=", ">=", "==", "!=", "&&", "||", "##", "+=", "-=", "*=", "/=",
    "|=", "&=", "^=",
];

pub fn tokenize(text: &str, line: u32, cond: u32, out: &mut Vec<Tok>) {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let s = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            // String prefixes (L"..", u8"..") are rare in the kernel; an
            // identifier followed by a quote is just two tokens.
            out.push(Tok {
                kind: TokKind::Ident,
                text: text[s..i].to_string(),
                line,
                cond,
            });
        } else if c.is_ascii_digit() || (c == b'.' && i + 1 < b.len() && b[i + 1].is_ascii_digit())
        {
            let s = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.' || b[i] == b'_') {
                i += 1;
            }
            out.push(Tok {
                kind: TokKind::Number,
                text: text[s..i].to_string(),
                line,
                cond,
            });
        } else if c == b'"' || c == b'\'' {
            let q = c;
            i += 1;
            let mut v = String::new();
            let s = i;
            while i < b.len() && b[i] != q {
                if b[i] == b'\\' && i + 1 < b.len() {
                    i += 1;
                    match b[i] {
                        b'n' => v.push('\n'),
                        b't' => v.push('\t'),
                        b'\\' => v.push('\\'),
                        b'"' => v.push('"'),
                        b'\'' => v.push('\''),
                        b'0'..=b'7' => {
                            // Octal escapes: log levels (\001) and NULs.
                            let mut n = 0u32;
                            let mut k = 0;
                            while k < 3 && i < b.len() && (b'0'..=b'7').contains(&b[i]) {
                                n = n * 8 + (b[i] - b'0') as u32;
                                i += 1;
                                k += 1;
                            }
                            i -= 1;
                            if let Some(ch) = char::from_u32(n) {
                                v.push(ch);
                            }
                        }
                        other => v.push(other as char),
                    }
                    i += 1;
                    continue;
                }
                // Copy UTF-8 sequences whole.
                let ch_len = utf8_len(b[i]);
                let end = (i + ch_len).min(b.len());
                v.push_str(std::str::from_utf8(&b[i..end]).unwrap_or("?"));
                i = end;
            }
            let _ = s;
            i = (i + 1).min(b.len());
            out.push(Tok {
                kind: if q == b'"' {
                    TokKind::Str
                } else {
                    TokKind::Char
                },
                text: v,
                line,
                cond,
            });
        } else {
            let rest = &text[i..];
            let p = PUNCT3
                .iter()
                .chain(PUNCT2.iter())
                .find(|p| rest.starts_with(**p))
                .map(|p| p.len())
                .unwrap_or_else(|| utf8_len(c));
            let end = (i + p).min(b.len());
            out.push(Tok {
                kind: TokKind::Punct,
                text: String::from_utf8_lossy(&b[i..end]).into_owned(),
                line,
                cond,
            });
            i = end;
        }
    }
}

fn utf8_len(b: u8) -> usize {
    match b {
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf7 => 4,
        _ => 1,
    }
}

/// All non-directive lines of a file as one token stream.
pub fn tokens_of(pp: &Preprocessed) -> Vec<Tok> {
    let mut out = Vec::new();
    for l in &pp.lines {
        tokenize(&l.text, l.no, l.cond, &mut out);
    }
    out
}

// ---------------------------------------------------------------------------
// `#if` expressions

/// Reads an `#if` expression as a condition on options. `ident` resolves a
/// bare or `defined()` identifier.
pub fn parse_if(text: &str, ident: &dyn Fn(&str) -> Option<Cond>, _facts: &dyn MacroFacts) -> Cond {
    let mut toks = Vec::new();
    tokenize(text, 0, 0, &mut toks);
    let mut p = IfParser {
        t: &toks,
        i: 0,
        ident,
    };
    let c = p.or();
    if p.i < toks.len() {
        // Trailing tokens we did not understand (a ternary, say).
        return Cond::Opaque(text.trim().to_string());
    }
    c
}

struct IfParser<'a> {
    t: &'a [Tok],
    i: usize,
    ident: &'a dyn Fn(&str) -> Option<Cond>,
}

enum Val {
    C(Cond),
    Num(i64),
    /// A symbolic integer we know how to compare (BITS_PER_LONG).
    BitsPerLong,
    Other(String),
}

impl IfParser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.t.get(self.i)
    }
    fn eat(&mut self, s: &str) -> bool {
        if self.peek().is_some_and(|t| t.is(s)) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn or(&mut self) -> Cond {
        let mut v = vec![self.and()];
        while self.eat("||") {
            v.push(self.and());
        }
        Cond::or(v)
    }
    fn and(&mut self) -> Cond {
        let mut v = vec![self.cmp()];
        while self.eat("&&") {
            v.push(self.cmp());
        }
        Cond::and(v)
    }
    fn cmp(&mut self) -> Cond {
        let start = self.i;
        let a = self.unary();
        let op = match self.peek() {
            Some(t) if ["==", "!=", "<", ">", "<=", ">="].contains(&t.text.as_str()) => {
                t.text.clone()
            }
            _ => return to_cond(a),
        };
        self.i += 1;
        let b = self.unary();
        let text = self.t[start..self.i]
            .iter()
            .map(|t| t.text.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        compare(a, &op, b).unwrap_or(Cond::Opaque(text))
    }
    fn unary(&mut self) -> Val {
        if self.eat("!") {
            return Val::C(Cond::not(to_cond(self.unary())));
        }
        let Some(t) = self.peek().cloned() else {
            return Val::Other(String::new());
        };
        self.i += 1;
        match t.kind {
            TokKind::Number => match parse_int(&t.text) {
                Some(n) => Val::Num(n as i64),
                None => Val::Other(t.text),
            },
            TokKind::Punct if t.text == "(" => {
                let c = self.or();
                self.eat(")");
                Val::C(c)
            }
            TokKind::Ident if t.text == "defined" => {
                let paren = self.eat("(");
                let name = self.peek().map(|t| t.text.clone()).unwrap_or_default();
                self.i += 1;
                if paren {
                    self.eat(")");
                }
                Val::C((self.ident)(&name).unwrap_or(Cond::Opaque(format!("defined {name}"))))
            }
            TokKind::Ident
                if ["IS_ENABLED", "IS_BUILTIN", "IS_MODULE", "IS_REACHABLE"]
                    .contains(&t.text.as_str()) =>
            {
                self.eat("(");
                let name = self.peek().map(|t| t.text.clone()).unwrap_or_default();
                self.i += 1;
                self.eat(")");
                let Some(sym) = name.strip_prefix("CONFIG_") else {
                    return Val::Other(format!("{}({name})", t.text));
                };
                let sym = sym.to_string();
                Val::C(match t.text.as_str() {
                    "IS_BUILTIN" => Cond::Y(sym),
                    "IS_MODULE" => Cond::M(sym),
                    _ => Cond::Set(sym),
                })
            }
            TokKind::Ident if t.text == "BITS_PER_LONG" || t.text == "__BITS_PER_LONG" => {
                Val::BitsPerLong
            }
            TokKind::Ident => {
                // A function-like macro we do not know: swallow its
                // arguments so the rest still parses.
                if self.peek().is_some_and(|x| x.is("(")) {
                    let s = self.i - 1;
                    let mut depth = 0;
                    while let Some(x) = self.peek() {
                        if x.is("(") {
                            depth += 1;
                        } else if x.is(")") {
                            depth -= 1;
                            if depth == 0 {
                                self.i += 1;
                                break;
                            }
                        }
                        self.i += 1;
                    }
                    let text = self.t[s..self.i]
                        .iter()
                        .map(|t| t.text.as_str())
                        .collect::<Vec<_>>()
                        .join("");
                    return Val::Other(text);
                }
                if t.text.starts_with("CONFIG_") {
                    return Val::C((self.ident)(&t.text).unwrap_or(Cond::Opaque(t.text)));
                }
                match (self.ident)(&t.text) {
                    Some(c) if !matches!(c, Cond::Opaque(_)) => Val::C(c),
                    _ => Val::Other(t.text),
                }
            }
            _ => Val::Other(t.text),
        }
    }
}

fn to_cond(v: Val) -> Cond {
    match v {
        Val::C(c) => c,
        Val::Num(0) => Cond::False,
        Val::Num(_) => Cond::True,
        Val::BitsPerLong => Cond::True,
        Val::Other(s) => Cond::Opaque(s),
    }
}

fn compare(a: Val, op: &str, b: Val) -> Option<Cond> {
    let num = |x: i64, y: i64| match op {
        "==" => x == y,
        "!=" => x != y,
        "<" => x < y,
        ">" => x > y,
        "<=" => x <= y,
        _ => x >= y,
    };
    match (a, b) {
        (Val::Num(x), Val::Num(y)) => Some(if num(x, y) { Cond::True } else { Cond::False }),
        (Val::BitsPerLong, Val::Num(y)) => bits(num(64, y), num(32, y)),
        (Val::Num(x), Val::BitsPerLong) => bits(num(x, 64), num(x, 32)),
        _ => None,
    }
}

/// A comparison on the word size, as a condition on `64BIT`.
fn bits(if64: bool, if32: bool) -> Option<Cond> {
    Some(match (if64, if32) {
        (true, true) => Cond::True,
        (false, false) => Cond::False,
        (true, false) => Cond::Y("64BIT".into()),
        (false, true) => Cond::not(Cond::Y("64BIT".into())),
    })
}

pub fn parse_int(s: &str) -> Option<u64> {
    let t = s.trim_end_matches(['u', 'U', 'l', 'L']);
    if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()
    } else if let Some(b) = t.strip_prefix("0b").or_else(|| t.strip_prefix("0B")) {
        u64::from_str_radix(b, 2).ok()
    } else if t.len() > 1 && t.starts_with('0') {
        u64::from_str_radix(&t[1..], 8).ok()
    } else {
        t.parse().ok()
    }
}

// ---------------------------------------------------------------------------
// Macro expansion

#[derive(Clone, Debug)]
pub struct Macro {
    pub params: Option<Vec<String>>,
    pub body: Vec<Tok>,
}

/// Macros visible to a table: the ID headers plus the driver's own.
#[derive(Clone, Debug, Default)]
pub struct Macros {
    pub map: HashMap<String, Macro>,
}

impl Macros {
    pub fn add_defines(&mut self, defs: &[Define]) {
        for d in defs {
            let mut body = Vec::new();
            tokenize(&d.body, 0, 0, &mut body);
            self.map.insert(
                d.name.clone(),
                Macro {
                    params: d.params.clone(),
                    body,
                },
            );
        }
    }

    pub fn expand(&self, toks: &[Tok]) -> Vec<Tok> {
        Layered(vec![self]).expand(toks)
    }
}

/// Macro tables searched last to first: the shared ID headers at the
/// bottom, a driver's own headers and file on top, without copying the
/// shared tables for every file.
pub struct Layered<'a>(pub Vec<&'a Macros>);

impl Layered<'_> {
    fn get(&self, name: &str) -> Option<&Macro> {
        self.0.iter().rev().find_map(|m| m.map.get(name))
    }

    /// Expands every macro in `toks`; expansions take the position (line
    /// and condition) of the invocation. Bounded, so a pathological or
    /// recursive header cannot hang the index.
    pub fn expand(&self, toks: &[Tok]) -> Vec<Tok> {
        let mut budget = 200_000usize;
        self.expand_with(toks, &HashSet::new(), &mut budget, 0)
    }

    fn expand_with(
        &self,
        toks: &[Tok],
        hide: &HashSet<String>,
        budget: &mut usize,
        depth: usize,
    ) -> Vec<Tok> {
        let mut out = Vec::with_capacity(toks.len());
        let mut i = 0;
        while i < toks.len() {
            let t = &toks[i];
            *budget = budget.saturating_sub(1);
            let m = if t.kind == TokKind::Ident && !hide.contains(&t.text) && depth < 32 {
                self.get(&t.text)
            } else {
                None
            };
            let Some(m) = m.filter(|_| *budget > 0) else {
                out.push(t.clone());
                i += 1;
                continue;
            };
            let mut hide2 = hide.clone();
            hide2.insert(t.text.clone());
            match &m.params {
                None => {
                    let body: Vec<Tok> = m.body.iter().map(|b| at(b, t)).collect();
                    let body = paste(body);
                    out.extend(self.expand_with(&body, &hide2, budget, depth + 1));
                    i += 1;
                }
                Some(params) => {
                    if !toks.get(i + 1).is_some_and(|x| x.is("(")) {
                        out.push(t.clone());
                        i += 1;
                        continue;
                    }
                    let (args, next) = collect_args(toks, i + 1);
                    let mut body = Vec::new();
                    let mut k = 0;
                    while k < m.body.len() {
                        let b = &m.body[k];
                        // GNU `, ## __VA_ARGS__`: the comma goes away
                        // with empty variadic arguments.
                        if b.is(",")
                            && m.body.get(k + 1).is_some_and(|x| x.is("##"))
                            && m.body.get(k + 2).is_some_and(|x| x.text == "__VA_ARGS__")
                        {
                            let va = arg_of(params, &args, "__VA_ARGS__").unwrap_or(&[]);
                            if !va.is_empty() {
                                body.push(at(b, t));
                                body.extend(va.iter().map(|x| at(x, t)));
                            }
                            k += 3;
                            continue;
                        }
                        let pasted = m.body.get(k + 1).is_some_and(|x| x.is("##"))
                            || (k > 0 && m.body[k - 1].is("##"));
                        if b.is("#") && m.body.get(k + 1).is_some() {
                            // Stringize.
                            let name = &m.body[k + 1].text;
                            if let Some(a) = arg_of(params, &args, name) {
                                let s = a.iter().map(|x| x.text.as_str()).collect::<Vec<_>>();
                                body.push(Tok {
                                    kind: TokKind::Str,
                                    text: s.join(" "),
                                    line: t.line,
                                    cond: t.cond,
                                });
                                k += 2;
                                continue;
                            }
                        }
                        if b.kind == TokKind::Ident {
                            if let Some(a) = arg_of(params, &args, &b.text) {
                                if pasted {
                                    body.extend(a.iter().map(|x| at(x, t)));
                                } else {
                                    let ex = self.expand_with(a, hide, budget, depth + 1);
                                    body.extend(ex.iter().map(|x| at(x, t)));
                                }
                                k += 1;
                                continue;
                            }
                        }
                        body.push(at(b, t));
                        k += 1;
                    }
                    let body = paste(body);
                    out.extend(self.expand_with(&body, &hide2, budget, depth + 1));
                    i = next;
                }
            }
        }
        out
    }
}

fn at(b: &Tok, pos: &Tok) -> Tok {
    Tok {
        kind: b.kind,
        text: b.text.clone(),
        line: pos.line,
        cond: pos.cond,
    }
}

fn arg_of<'a>(params: &[String], args: &'a [Vec<Tok>], name: &str) -> Option<&'a [Tok]> {
    if name == "__VA_ARGS__" {
        let fixed = params.iter().filter(|p| p.as_str() != "...").count();
        return args.get(fixed).map(|v| v.as_slice());
    }
    let idx = params.iter().position(|p| p == name)?;
    Some(args.get(idx).map(|v| v.as_slice()).unwrap_or(&[]))
}

/// Arguments of an invocation starting at the `(` at `open`; returns them
/// and the index after the closing parenthesis.
fn collect_args(toks: &[Tok], open: usize) -> (Vec<Vec<Tok>>, usize) {
    let mut args = vec![Vec::new()];
    let mut depth = 0;
    let mut i = open;
    while i < toks.len() {
        let t = &toks[i];
        // Only parentheses group arguments: a comma inside braces still
        // separates them, as in C.
        if t.is("(") {
            depth += 1;
            if depth > 1 {
                if let Some(a) = args.last_mut() {
                    a.push(t.clone());
                }
            }
        } else if t.is(")") {
            depth -= 1;
            if depth == 0 {
                return (args, i + 1);
            }
            if let Some(a) = args.last_mut() {
                a.push(t.clone());
            }
        } else if t.is(",") && depth == 1 {
            args.push(Vec::new());
        } else {
            if let Some(a) = args.last_mut() {
                a.push(t.clone());
            }
        }
        i += 1;
    }
    (args, i)
}

/// Applies `##`: glues the tokens on either side into one (re-read, so
/// `PCI_VENDOR_ID_` ## `INTEL` is one identifier).
fn paste(body: Vec<Tok>) -> Vec<Tok> {
    if !body.iter().any(|t| t.is("##")) {
        return body;
    }
    let mut out: Vec<Tok> = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        if body[i].is("##") {
            if let (Some(prev), Some(next)) = (out.pop(), body.get(i + 1)) {
                let glued = format!("{}{}", prev.text, next.text);
                let mut re = Vec::new();
                tokenize(&glued, prev.line, prev.cond, &mut re);
                if re.len() == 1 && prev.kind != TokKind::Str && next.kind != TokKind::Str {
                    out.extend(re);
                } else {
                    out.push(prev);
                    out.push(next.clone());
                }
                i += 2;
                continue;
            }
            i += 1;
            continue;
        }
        out.push(body[i].clone());
        i += 1;
    }
    out
}

// ---------------------------------------------------------------------------
// Integer constant expressions

/// Evaluates an integer constant expression (already macro-expanded);
/// `None` when it uses something we cannot know (an enum, a variable).
pub fn eval_int(toks: &[Tok]) -> Option<i128> {
    let mut p = IntParser { t: toks, i: 0 };
    let v = p.ternary()?;
    if p.i == toks.len() {
        Some(v)
    } else {
        None
    }
}

struct IntParser<'a> {
    t: &'a [Tok],
    i: usize,
}

const BINOPS: [(&str, u8); 18] = [
    ("||", 1),
    ("&&", 2),
    ("|", 3),
    ("^", 4),
    ("&", 5),
    ("==", 6),
    ("!=", 6),
    ("<", 7),
    (">", 7),
    ("<=", 7),
    (">=", 7),
    ("<<", 8),
    (">>", 8),
    ("+", 9),
    ("-", 9),
    ("*", 10),
    ("/", 10),
    ("%", 10),
];

impl IntParser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.t.get(self.i)
    }
    fn ternary(&mut self) -> Option<i128> {
        let c = self.bin(1)?;
        if self.peek().is_some_and(|t| t.is("?")) {
            self.i += 1;
            // GNU `x ?: y`.
            let a = if self.peek().is_some_and(|t| t.is(":")) {
                c
            } else {
                self.ternary()?
            };
            if !self.peek().is_some_and(|t| t.is(":")) {
                return None;
            }
            self.i += 1;
            let b = self.ternary()?;
            return Some(if c != 0 { a } else { b });
        }
        Some(c)
    }
    fn bin(&mut self, min: u8) -> Option<i128> {
        let mut lhs = self.unary()?;
        while let Some(t) = self.peek() {
            if t.kind != TokKind::Punct {
                break;
            }
            let Some(&(op, prec)) = BINOPS.iter().find(|(o, _)| *o == t.text) else {
                break;
            };
            if prec < min {
                break;
            }
            self.i += 1;
            let rhs = self.bin(prec + 1)?;
            lhs = match op {
                "||" => ((lhs != 0) || (rhs != 0)) as i128,
                "&&" => ((lhs != 0) && (rhs != 0)) as i128,
                "|" => lhs | rhs,
                "^" => lhs ^ rhs,
                "&" => lhs & rhs,
                "==" => (lhs == rhs) as i128,
                "!=" => (lhs != rhs) as i128,
                "<" => (lhs < rhs) as i128,
                ">" => (lhs > rhs) as i128,
                "<=" => (lhs <= rhs) as i128,
                ">=" => (lhs >= rhs) as i128,
                "<<" => lhs.checked_shl(u32::try_from(rhs).ok()?)?,
                ">>" => lhs.checked_shr(u32::try_from(rhs).ok()?)?,
                "+" => lhs.checked_add(rhs)?,
                "-" => lhs.checked_sub(rhs)?,
                "*" => lhs.checked_mul(rhs)?,
                "/" => lhs.checked_div(rhs)?,
                _ => lhs.checked_rem(rhs)?,
            };
        }
        Some(lhs)
    }
    fn unary(&mut self) -> Option<i128> {
        let t = self.peek()?.clone();
        self.i += 1;
        match (t.kind, t.text.as_str()) {
            (TokKind::Punct, "-") => self.unary().map(|v| -v),
            (TokKind::Punct, "+") => self.unary(),
            // Kernel IDs are 32-bit: ~0 is 0xffffffff, not -1.
            (TokKind::Punct, "~") => self.unary().map(|v| (!v) & 0xffff_ffff),
            (TokKind::Punct, "!") => self.unary().map(|v| (v == 0) as i128),
            (TokKind::Punct, "(") => {
                // A cast: `(u32)x`, `(unsigned int)x`, `(__u16)x`.
                let save = self.i;
                let mut k = self.i;
                while self
                    .t
                    .get(k)
                    .is_some_and(|x| x.kind == TokKind::Ident && is_type_word(&x.text))
                {
                    k += 1;
                }
                if k > save && self.t.get(k).is_some_and(|x| x.is(")")) {
                    self.i = k + 1;
                    return self.unary();
                }
                let v = self.ternary()?;
                if !self.peek().is_some_and(|x| x.is(")")) {
                    return None;
                }
                self.i += 1;
                Some(v)
            }
            (TokKind::Number, s) => parse_int(s).map(|v| v as i128),
            (TokKind::Char, s) => s.chars().next().map(|c| c as i128),
            _ => None,
        }
    }
}

fn is_type_word(s: &str) -> bool {
    matches!(
        s,
        "u8" | "u16"
            | "u32"
            | "u64"
            | "__u8"
            | "__u16"
            | "__u32"
            | "__u64"
            | "unsigned"
            | "int"
            | "long"
            | "short"
            | "char"
            | "kernel_ulong_t"
            | "uint32_t"
            | "uint16_t"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_stack() {
        let src = "#ifdef CONFIG_A\nint a;\n#elif IS_ENABLED(CONFIG_B) && !defined(CONFIG_C)\nint b;\n#else\nint c;\n#endif\nint d;\n";
        let pp = preprocess(src, &NoFacts);
        let conds: Vec<String> = pp
            .lines
            .iter()
            .map(|l| pp.cond(l.cond).to_string())
            .collect();
        assert_eq!(
            conds,
            vec![
                "A=y",
                "!A=y && B!=n && !C=y",
                "!A=y && !(B!=n && !C=y)",
                "y"
            ]
        );
    }

    #[test]
    fn include_guard_is_not_a_condition() {
        let pp = preprocess("#ifndef _X_H\n#define _X_H\nint x;\n#endif\n", &NoFacts);
        assert_eq!(pp.cond(pp.lines[0].cond), &Cond::True);
    }

    #[test]
    fn bits_per_long() {
        let pp = preprocess("#if BITS_PER_LONG == 32\nint x;\n#endif\n", &NoFacts);
        assert_eq!(pp.cond(pp.lines[0].cond).to_string(), "!64BIT=y");
    }

    #[test]
    fn expand_and_eval() {
        let mut m = Macros::default();
        let pp = preprocess(
            "#define PCI_VENDOR_ID_INTEL 0x8086\n#define PCI_ANY_ID (~0)\n#define PCI_VDEVICE(vend, dev) .vendor = PCI_VENDOR_ID_##vend, .device = (dev), .subvendor = PCI_ANY_ID\n",
            &NoFacts,
        );
        m.add_defines(&pp.defines);
        let mut t = Vec::new();
        tokenize("PCI_VDEVICE(INTEL, 0x10d3)", 5, 0, &mut t);
        let e = m.expand(&t);
        let s: Vec<&str> = e.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(s[..4], [".", "vendor", "=", "0x8086"]);
        let any: Vec<Tok> = e[e.len() - 4..].to_vec();
        assert_eq!(eval_int(&any), Some(0xffff_ffff));
    }

    #[test]
    fn comments_and_strings() {
        let s = strip_comments("a /* x\ny */ b \"// not\" // c\nd");
        assert_eq!(s.lines().count(), 3);
        assert!(s.contains("\"// not\""));
        assert!(!s.contains(" c"));
    }
}
