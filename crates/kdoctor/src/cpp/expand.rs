//! Macro expansion over token streams: object-like and function-like
//! macros, `#` stringizing, `##` pasting, GNU `, ## __VA_ARGS__`, with
//! layered macro tables and a budget so a recursive header cannot hang.

use std::collections::{HashMap, HashSet};

use super::directives::Define;
use super::token::{tokenize, Tok, TokKind};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpp::directives::preprocess;
    use crate::cpp::ifexpr::NoFacts;
    use crate::cpp::int::eval_int;

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
}
