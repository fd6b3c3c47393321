//! The directive walk: the `#if`/`#ifdef`/`#elif`/`#else` stack (include
//! guards ignored), `#define`, `#undef` and `#include`, giving every other
//! line the condition it is compiled under.

use std::collections::HashMap;

use super::ifexpr::{parse_if, MacroFacts};
use super::text::{logical_lines, strip_comments};
use super::token::{tokenize, Tok};
use crate::cond::Cond;

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

/// All non-directive lines of a file as one token stream.
pub fn tokens_of(pp: &Preprocessed) -> Vec<Tok> {
    let mut out = Vec::new();
    for l in &pp.lines {
        tokenize(&l.text, l.no, l.cond, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpp::ifexpr::NoFacts;

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
}
