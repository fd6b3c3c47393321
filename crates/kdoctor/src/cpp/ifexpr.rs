//! `#if` expressions read as conditions on options: `defined()`,
//! `IS_ENABLED()`/`IS_BUILTIN()`/`IS_MODULE()`, `&&`/`||`/`!`, comparisons
//! with `BITS_PER_LONG` (as `64BIT`); what tests other macros stays opaque
//! unless a [`MacroFacts`] answers it.

use super::int::parse_int;
use super::token::{tokenize, Tok, TokKind};
use crate::cond::Cond;

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

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(text: &str) -> String {
        let ident = |n: &str| n.strip_prefix("CONFIG_").map(|s| Cond::Y(s.to_string()));
        parse_if(text, &ident, &NoFacts).to_string()
    }

    #[test]
    fn options_and_opaque_tests() {
        assert_eq!(
            cond("IS_ENABLED(CONFIG_A) && !IS_BUILTIN(CONFIG_B)"),
            "A!=n && !B=y"
        );
        assert_eq!(
            cond("defined(CONFIG_A) || IS_MODULE(CONFIG_C)"),
            "A=y || C=m"
        );
        assert_eq!(cond("BITS_PER_LONG == 64"), "64BIT=y");
        assert_eq!(cond("0"), "n");
        assert_eq!(
            cond("LINUX_VERSION_CODE >= KERNEL_VERSION(2,6,0)"),
            "[LINUX_VERSION_CODE >= KERNEL_VERSION ( 2 , 6 , 0 )]"
        );
    }
}
