//! `.config` files as symbol assignments, so two configs can be compared by
//! what they ask for rather than by comments and line order.

use std::collections::BTreeMap;
use std::fmt;

use kconfig::dotconfig::{self, Value};
use kconfig::Tri;

/// Symbol (without `CONFIG_`) to the value that counts, read with the
/// kernel's rules (`kconfig::dotconfig`); `# CONFIG_X is not set` is `n`.
pub(crate) type Assignments = BTreeMap<String, Value>;

pub(crate) fn parse(text: &str) -> Assignments {
    dotconfig::parse(".config", text).map()
}

/// Counts of a `.config`: the `grep ^CONFIG_ | wc -l` people quote (the
/// assignments that are not `n`), and how many of those are built in or
/// modules.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub lines: usize,
    pub builtin: usize,
    pub modules: usize,
}

pub(crate) fn counts(text: &str) -> Counts {
    let mut c = Counts::default();
    for e in dotconfig::parse(".config", text).entries {
        match e.value {
            Value::Tri(Tri::N) => continue,
            Value::Tri(Tri::Y) => c.builtin += 1,
            Value::Tri(Tri::M) => c.modules += 1,
            _ => {}
        }
        c.lines += 1;
    }
    c
}

/// A symbol whose value `make olddefconfig` changed: the config asked for
/// one thing and the kernel's conf settled on another.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigChange {
    pub symbol: String,
    /// The value given, `None` when the config did not mention the symbol.
    pub asked: Option<String>,
    /// The value conf wrote, `None` when conf dropped the symbol (unknown to
    /// this tree, or its dependencies are not met).
    pub got: Option<String>,
}

fn as_line(sym: &str, val: Option<&str>) -> String {
    match val {
        None => format!("(CONFIG_{sym} absent)"),
        Some("n") => format!("# CONFIG_{sym} is not set"),
        Some(v) => format!("CONFIG_{sym}={v}"),
    }
}

impl fmt::Display for ConfigChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} -> {}",
            as_line(&self.symbol, self.asked.as_deref()),
            as_line(&self.symbol, self.got.as_deref())
        )
    }
}

/// The symbols whose values differ. An absent symbol counts as `n`, because
/// that is what the build sees: conf leaves invisible `n` symbols out, and a
/// config that omits them asks for the same kernel.
pub(crate) fn changes(asked: &Assignments, got: &Assignments) -> Vec<ConfigChange> {
    const N: Value = Value::Tri(Tri::N);
    let mut syms: Vec<&String> = asked.keys().chain(got.keys()).collect();
    syms.sort();
    syms.dedup();
    syms.into_iter()
        .filter_map(|s| {
            let a = asked.get(s);
            let g = got.get(s);
            (a.unwrap_or(&N) != g.unwrap_or(&N)).then(|| ConfigChange {
                symbol: s.clone(),
                asked: a.map(Value::to_string),
                got: g.map(Value::to_string),
            })
        })
        .collect()
}

/// Same kernel, whatever the comments, order or spelled-out `n`s say.
pub(crate) fn equivalent(a: &Assignments, b: &Assignments) -> bool {
    changes(a, b).is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONF: &str = "#\n# Automatically generated file; DO NOT EDIT.\n#\nCONFIG_CC_VERSION_TEXT=\"gcc (Debian 12.2.0-14) 12.2.0\"\nCONFIG_64BIT=y\n# CONFIG_SMP is not set\nCONFIG_E1000=m\nCONFIG_LOG_BUF_SHIFT=17\n";

    #[test]
    fn parses_values_and_not_set() {
        let a = parse(CONF);
        assert_eq!(a["64BIT"], Value::Tri(Tri::Y));
        assert_eq!(a["SMP"], Value::Tri(Tri::N));
        assert_eq!(a["E1000"], Value::Tri(Tri::M));
        assert_eq!(
            a["CC_VERSION_TEXT"],
            Value::Str("gcc (Debian 12.2.0-14) 12.2.0".into())
        );
        assert_eq!(a["LOG_BUF_SHIFT"].to_string(), "17");
        assert_eq!(a.len(), 5);
    }

    #[test]
    fn counts_match_grep() {
        assert_eq!(
            counts(CONF),
            Counts {
                lines: 4,
                builtin: 1,
                modules: 1
            }
        );
    }

    #[test]
    fn absent_equals_not_set() {
        let a = parse("CONFIG_A=y\n");
        let b = parse("CONFIG_A=y\n# CONFIG_B is not set\n");
        assert!(equivalent(&a, &b));
        assert!(!equivalent(&a, &parse("CONFIG_A=m\n")));
    }

    #[test]
    fn changes_say_what_was_asked_and_what_came_out() {
        let asked = parse("CONFIG_A=y\nCONFIG_GONE=y\n# CONFIG_C is not set\n");
        let got = parse("CONFIG_A=y\nCONFIG_B=y\n# CONFIG_C is not set\n");
        let c = changes(&asked, &got);
        let shown: Vec<String> = c.iter().map(|c| c.to_string()).collect();
        assert_eq!(
            shown,
            [
                "(CONFIG_B absent) -> CONFIG_B=y",
                "CONFIG_GONE=y -> (CONFIG_GONE absent)"
            ]
        );
    }
}
