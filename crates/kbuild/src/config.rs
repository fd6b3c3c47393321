//! `.config` files as symbol assignments, so two configs can be compared by
//! what they ask for rather than by comments and line order.

use std::collections::BTreeMap;
use std::fmt;

/// Symbol (without `CONFIG_`) to value as written (`y`, `m`, `"str"`, `0x10`);
/// `# CONFIG_X is not set` reads as `n`.
pub(crate) type Assignments = BTreeMap<String, String>;

pub(crate) fn parse(text: &str) -> Assignments {
    let mut out = Assignments::new();
    for line in text.lines() {
        let line = line.trim_end();
        if let Some(rest) = line.strip_prefix("CONFIG_") {
            if let Some((sym, val)) = rest.split_once('=') {
                out.insert(sym.to_string(), val.to_string());
            }
        } else if let Some(rest) = line.strip_prefix("# CONFIG_") {
            if let Some(sym) = rest.strip_suffix(" is not set") {
                out.insert(sym.to_string(), "n".to_string());
            }
        }
    }
    out
}

/// Counts of a `.config`: the `grep ^CONFIG_ | wc -l` people quote, and how
/// many of those are built in or modules.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub lines: usize,
    pub builtin: usize,
    pub modules: usize,
}

pub(crate) fn counts(text: &str) -> Counts {
    let mut c = Counts::default();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("CONFIG_") {
            c.lines += 1;
            match rest.split_once('=').map(|(_, v)| v.trim_end()) {
                Some("y") => c.builtin += 1,
                Some("m") => c.modules += 1,
                _ => {}
            }
        }
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
    let value = |m: &Assignments, s: &str| m.get(s).cloned();
    let effective = |v: &Option<String>| v.clone().unwrap_or_else(|| "n".to_string());
    let mut syms: Vec<&String> = asked.keys().chain(got.keys()).collect();
    syms.sort();
    syms.dedup();
    syms.into_iter()
        .filter_map(|s| {
            let a = value(asked, s);
            let g = value(got, s);
            (effective(&a) != effective(&g)).then(|| ConfigChange {
                symbol: s.clone(),
                asked: a,
                got: g,
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
        assert_eq!(a["64BIT"], "y");
        assert_eq!(a["SMP"], "n");
        assert_eq!(a["E1000"], "m");
        assert_eq!(a["CC_VERSION_TEXT"], "\"gcc (Debian 12.2.0-14) 12.2.0\"");
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
