//! Guard conditions: when a piece of kernel code is compiled in.
//!
//! Kbuild and the C preprocessor test options in different ways (`obj-$(X)`
//! takes the tristate value, `#ifdef CONFIG_X` is only true for `=y`,
//! `IS_ENABLED` for `y` or `m`), and a file reached through an `obj-m`
//! directory is a module even if its own line says `obj-y`. Keeping the value
//! tristate and combining with min/max (as Kconfig does) makes "built into
//! vmlinux" (`=y`) and "available at all" (`>= m`) two readings of one
//! expression.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A tristate value: `N < M < Y` (kconfig's one `Tri`).
pub use kconfig::Tri;

/// When something is compiled. Atoms name symbols without `CONFIG_`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Cond {
    True,
    False,
    /// `obj-m`: only ever a module.
    Mod,
    /// `obj-$(CONFIG_X)`: the symbol's own tristate value.
    Tri(String),
    /// `#ifdef CONFIG_X`, `defined(CONFIG_X)`, `IS_BUILTIN`, `ifeq ($(CONFIG_X),y)`.
    Y(String),
    /// `IS_ENABLED`, `ifdef CONFIG_X`, `ifneq ($(CONFIG_X),)`: `y` or `m`.
    Set(String),
    /// `IS_MODULE`, `ifeq ($(CONFIG_X),m)`.
    M(String),
    /// A test we could not read as options (kept verbatim, assumed to hold).
    Opaque(String),
    Not(Box<Cond>),
    And(Vec<Cond>),
    Or(Vec<Cond>),
}

/// A parsed `.config`: symbol (without prefix) to value; absent means `n`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    pub values: BTreeMap<String, String>,
}

impl Config {
    /// Reads a `.config` with kconfig's one reader (the last assignment
    /// wins); what it cannot read is skipped, because a log or a
    /// half-written file must not stop a diagnosis. `n` values are left
    /// out (absent means `n`); strings are unquoted.
    pub fn parse(text: &str) -> Config {
        use kconfig::dotconfig::Value;
        let values = kconfig::dotconfig::parse(".config", text)
            .map()
            .into_iter()
            .filter_map(|(k, v)| match v {
                Value::Tri(Tri::N) => None,
                Value::Str(s) => Some((k, s)),
                v => Some((k, v.to_string())),
            })
            .collect();
        Config { values }
    }

    pub fn tri(&self, sym: &str) -> Tri {
        self.values
            .get(sym)
            .map(|v| v.parse().unwrap_or(Tri::N))
            .unwrap_or(Tri::N)
    }

    pub fn get(&self, sym: &str) -> Option<&str> {
        self.values.get(sym).map(|s| s.as_str())
    }
}

impl Cond {
    pub fn and(parts: impl IntoIterator<Item = Cond>) -> Cond {
        Cond::join(parts, true)
    }

    pub fn or(parts: impl IntoIterator<Item = Cond>) -> Cond {
        Cond::join(parts, false)
    }

    /// `and` (`conj`) or `or`: flattens nested joins of the same kind, drops
    /// the identity and duplicates, and short-circuits on the absorbing
    /// constant, so conditions stay small enough to print as advice.
    fn join(parts: impl IntoIterator<Item = Cond>, conj: bool) -> Cond {
        let (identity, absorbing) = if conj {
            (Cond::True, Cond::False)
        } else {
            (Cond::False, Cond::True)
        };
        let mut out: Vec<Cond> = Vec::new();
        for p in parts {
            if p == identity {
                continue;
            }
            if p == absorbing {
                return absorbing;
            }
            let items = match p {
                Cond::And(v) if conj => v,
                Cond::Or(v) if !conj => v,
                x => vec![x],
            };
            for x in items {
                if !out.contains(&x) {
                    out.push(x);
                }
            }
        }
        match out.len() {
            0 => identity,
            1 => out.pop().unwrap_or(identity),
            _ if conj => Cond::And(out),
            _ => Cond::Or(out),
        }
    }

    #[allow(clippy::should_implement_trait)]
    pub fn not(c: Cond) -> Cond {
        match c {
            Cond::True => Cond::False,
            Cond::False => Cond::True,
            Cond::Not(x) => *x,
            x => Cond::Not(Box::new(x)),
        }
    }

    /// The value under a configuration. Opaque tests count as true: they
    /// are mostly compiler or architecture checks that hold for the tree we
    /// indexed, and the validation against built kernels measures the cost.
    pub fn eval(&self, cfg: &Config) -> Tri {
        match self {
            Cond::True | Cond::Opaque(_) => Tri::Y,
            Cond::False => Tri::N,
            Cond::Mod => Tri::M,
            Cond::Tri(s) => cfg.tri(s),
            Cond::Y(s) => Tri::from(cfg.tri(s) == Tri::Y),
            Cond::Set(s) => Tri::from(cfg.tri(s) != Tri::N),
            Cond::M(s) => Tri::from(cfg.tri(s) == Tri::M),
            Cond::Not(x) => !x.eval(cfg),
            Cond::And(v) => v.iter().map(|x| x.eval(cfg)).min().unwrap_or(Tri::Y),
            Cond::Or(v) => v.iter().map(|x| x.eval(cfg)).max().unwrap_or(Tri::N),
        }
    }

    /// Every symbol mentioned, in order of first appearance.
    pub fn symbols(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.walk_syms(&mut out);
        out
    }

    fn walk_syms(&self, out: &mut Vec<String>) {
        match self {
            Cond::Tri(s) | Cond::Y(s) | Cond::Set(s) | Cond::M(s) if !out.contains(s) => {
                out.push(s.clone());
            }
            Cond::Not(x) => x.walk_syms(out),
            Cond::And(v) | Cond::Or(v) => v.iter().for_each(|x| x.walk_syms(out)),
            _ => {}
        }
    }

    pub fn has_opaque(&self) -> bool {
        match self {
            Cond::Opaque(_) => true,
            Cond::Not(x) => x.has_opaque(),
            Cond::And(v) | Cond::Or(v) => v.iter().any(|x| x.has_opaque()),
            _ => false,
        }
    }

    /// The alternatives (disjunctive normal form), each a list of literals
    /// `(symbol test, wanted)`. Capped: guards are small, and a runaway
    /// product must not hang a diagnosis.
    pub fn alternatives(&self) -> Vec<Vec<Literal>> {
        let mut v = self.dnf(false);
        v.truncate(64);
        v
    }

    fn dnf(&self, neg: bool) -> Vec<Vec<Literal>> {
        const CAP: usize = 256;
        match (self, neg) {
            (Cond::True, false) | (Cond::False, true) => vec![vec![]],
            (Cond::True, true) | (Cond::False, false) => vec![],
            (Cond::Opaque(_), _) | (Cond::Mod, _) => vec![vec![]],
            (Cond::Not(x), n) => x.dnf(!n),
            (Cond::Tri(s), n) | (Cond::Set(s), n) => vec![vec![Literal {
                symbol: s.clone(),
                on: !n,
            }]],
            (Cond::Y(s), n) => vec![vec![Literal {
                symbol: s.clone(),
                on: !n,
            }]],
            (Cond::M(s), false) => vec![vec![Literal {
                symbol: s.clone(),
                on: true,
            }]],
            (Cond::M(s), true) => vec![vec![Literal {
                symbol: s.clone(),
                on: false,
            }]],
            (Cond::And(v), false) | (Cond::Or(v), true) => {
                let mut acc: Vec<Vec<Literal>> = vec![vec![]];
                for x in v {
                    let alts = x.dnf(neg);
                    let mut next = Vec::new();
                    for a in &acc {
                        for b in &alts {
                            let mut c = a.clone();
                            let mut ok = true;
                            for l in b {
                                if c.iter().any(|k| k.symbol == l.symbol && k.on != l.on) {
                                    ok = false;
                                    break;
                                }
                                if !c.contains(l) {
                                    c.push(l.clone());
                                }
                            }
                            if ok && next.len() < CAP {
                                next.push(c);
                            }
                        }
                    }
                    acc = next;
                }
                acc
            }
            (Cond::Or(v), false) | (Cond::And(v), true) => {
                let mut out = Vec::new();
                for x in v {
                    for a in x.dnf(neg) {
                        if out.len() < CAP && !out.contains(&a) {
                            out.push(a);
                        }
                    }
                }
                out
            }
        }
    }

    fn prec(&self) -> u8 {
        match self {
            Cond::Or(_) => 1,
            Cond::And(_) => 2,
            _ => 3,
        }
    }
}

/// One term of an alternative: the symbol must be enabled (`on`) or not.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Literal {
    pub symbol: String,
    pub on: bool,
}

impl fmt::Display for Cond {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sub = |f: &mut fmt::Formatter<'_>, c: &Cond, min: u8| -> fmt::Result {
            if c.prec() < min {
                write!(f, "({c})")
            } else {
                write!(f, "{c}")
            }
        };
        match self {
            Cond::True => write!(f, "y"),
            Cond::False => write!(f, "n"),
            Cond::Mod => write!(f, "m"),
            Cond::Tri(s) => write!(f, "{s}"),
            Cond::Y(s) => write!(f, "{s}=y"),
            Cond::Set(s) => write!(f, "{s}!=n"),
            Cond::M(s) => write!(f, "{s}=m"),
            Cond::Opaque(t) => write!(f, "[{t}]"),
            Cond::Not(x) => {
                write!(f, "!")?;
                sub(f, x, 3)
            }
            Cond::And(v) => {
                for (i, x) in v.iter().enumerate() {
                    if i > 0 {
                        write!(f, " && ")?;
                    }
                    sub(f, x, 2)?;
                }
                Ok(())
            }
            Cond::Or(v) => {
                for (i, x) in v.iter().enumerate() {
                    if i > 0 {
                        write!(f, " || ")?;
                    }
                    sub(f, x, 1)?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_flatten_and_simplify() {
        let a = || Cond::Y("A".into());
        let b = || Cond::Y("B".into());
        let c = || Cond::Y("C".into());
        let cases = [
            (Cond::and([]), Cond::True),
            (Cond::or([]), Cond::False),
            (Cond::and([Cond::True, a()]), a()),
            (Cond::or([Cond::False, a()]), a()),
            (Cond::and([a(), Cond::False, b()]), Cond::False),
            (Cond::or([a(), Cond::True, b()]), Cond::True),
            (Cond::and([a(), a()]), a()),
            (
                Cond::and([Cond::and([a(), b()]), c(), b()]),
                Cond::And(vec![a(), b(), c()]),
            ),
            (
                Cond::or([Cond::or([a(), b()]), c(), a()]),
                Cond::Or(vec![a(), b(), c()]),
            ),
            // A join of the other kind is one operand, not flattened.
            (
                Cond::and([Cond::or([a(), b()]), c()]),
                Cond::And(vec![Cond::Or(vec![a(), b()]), c()]),
            ),
            (
                Cond::or([Cond::and([a(), b()]), c()]),
                Cond::Or(vec![Cond::And(vec![a(), b()]), c()]),
            ),
        ];
        for (i, (got, want)) in cases.into_iter().enumerate() {
            assert_eq!(got, want, "case {i}");
        }
    }

    #[test]
    fn tristate_nesting() {
        let g = Cond::and([Cond::Tri("NET".into()), Cond::Tri("UNIX".into())]);
        let mut cfg = Config::parse("CONFIG_NET=y\nCONFIG_UNIX=m\n");
        assert_eq!(g.eval(&cfg), Tri::M);
        cfg.values.insert("UNIX".into(), "y".into());
        assert_eq!(g.eval(&cfg), Tri::Y);
        assert_eq!(g.to_string(), "NET && UNIX");
    }

    #[test]
    fn ifdef_is_builtin_only() {
        let g = Cond::Y("FOO".into());
        assert_eq!(g.eval(&Config::parse("CONFIG_FOO=m")), Tri::N);
        let n = Cond::not(Cond::Y("FOO".into()));
        assert_eq!(n.eval(&Config::parse("CONFIG_FOO=m")), Tri::Y);
    }

    #[test]
    fn alternatives() {
        let g = Cond::and([
            Cond::Tri("A".into()),
            Cond::or([Cond::Y("B".into()), Cond::not(Cond::Y("C".into()))]),
        ]);
        let alts = g.alternatives();
        assert_eq!(alts.len(), 2);
        assert_eq!(g.to_string(), "A && (B=y || !C=y)");
    }
}
