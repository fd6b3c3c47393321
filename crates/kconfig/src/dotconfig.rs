//! `.config` files and fragments as symbol assignments, read with the rules
//! of the kernel's `scripts/kconfig/confdata.c` (`conf_read_simple`), but
//! without a Kconfig tree.
//!
//! This is the one reader of `.config` text: `confdata` (conf's own
//! read, which also needs the symbols' types) shares its line grammar
//! ([`classify`]) and string unescaping ([`unescape`]), and every other crate
//! reads configurations through [`parse`].
//!
//! The rules, as conf applies them (6.12):
//!
//! - a line ends at `\n`; a `\r` right before it is dropped, and a NUL ends
//!   the line early (conf handles lines as C strings);
//! - blank lines and comments are ignored, except the exact comment
//!   `# CONFIG_X is not set`, which assigns `n`;
//! - `CONFIG_X=value` assigns; any other line is "unexpected data" (a
//!   warning naming file and line), including lines with leading blanks;
//! - a value is `y`, `m` or `n`; a string in double quotes where a backslash
//!   takes the next character literally and anything after the closing quote
//!   is ignored; a decimal number; or `0x` hex. `CONFIG_X=n` is the same as
//!   `# CONFIG_X is not set`. conf reads other spellings only for some
//!   symbol types (`yes` as `y` for a bool, `ff` for a hex): they are kept
//!   as [`Value::Other`] with a warning, so nothing is dropped silently;
//! - a symbol assigned twice keeps the last value, with conf's warning
//!   `override: reassigning to symbol X` naming both lines.
//!
//! Nothing here panics on any input: a bad line is a warning, never an error.

use std::collections::BTreeMap;
use std::fmt;

use crate::diag::Diag;
use crate::model::Tri;

/// The prefix conf uses unless `CONFIG_` is overridden in its environment.
pub const PREFIX: &str = "CONFIG_";

/// One line as conf's `conf_read_simple` sees it, before the symbol lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RawLine<'a> {
    /// A blank line, a comment, or (6.1) `CONFIG_X` without `=`.
    Skip,
    /// `# CONFIG_X is not set`: the symbol name (without prefix).
    NotSet(&'a str),
    /// `CONFIG_X=value`: the symbol name and the value as written.
    Assign(&'a str, &'a str),
    /// Anything else; conf warns `unexpected data: <text>`.
    Unexpected(&'a str),
}

/// conf's line grammar. `raw` is one line as `getline` returns it (with its
/// `\n`, if any); `legacy` selects the rules of 6.1's conf, which keeps the
/// line ending, accepts anything after `is not set` and ignores a
/// `CONFIG_X` line without `=`.
pub(crate) fn classify<'a>(raw: &'a str, prefix: &str, legacy: bool) -> RawLine<'a> {
    let mut line = raw;
    if !legacy {
        // getline_stripped: the `\r` goes only together with a `\n`.
        if let Some(l) = line.strip_suffix('\n') {
            line = l.strip_suffix('\r').unwrap_or(l);
        }
    }
    if let Some(z) = line.find('\0') {
        line = &line[..z];
    }
    if !legacy && line.is_empty() {
        return RawLine::Skip;
    }
    if let Some(rest) = line.strip_prefix('#') {
        let Some(after) = rest.strip_prefix(' ').and_then(|p| p.strip_prefix(prefix)) else {
            return RawLine::Skip;
        };
        let Some(sp) = after.find(' ') else {
            return RawLine::Skip;
        };
        let tail = &after[sp + 1..];
        let not_set = if legacy {
            tail.starts_with("is not set")
        } else {
            tail == "is not set"
        };
        return if not_set {
            RawLine::NotSet(&after[..sp])
        } else {
            RawLine::Skip
        };
    }
    if let Some(after) = line.strip_prefix(prefix) {
        let Some(eq) = after.find('=') else {
            return if legacy {
                RawLine::Skip
            } else {
                RawLine::Unexpected(line)
            };
        };
        let mut v = &after[eq + 1..];
        if legacy {
            if let Some(nl) = v.find('\n') {
                v = &v[..nl];
                v = v.strip_suffix('\r').unwrap_or(v);
            }
        }
        return RawLine::Assign(&after[..eq], v);
    }
    if legacy {
        if line.starts_with(['\r', '\n']) {
            return RawLine::Skip;
        }
        let end = line.find(['\r', '\n']).unwrap_or(line.len());
        return RawLine::Unexpected(&line[..end]);
    }
    RawLine::Unexpected(line)
}

/// A quoted `.config` string (`"a\"b"`) to its text (`a"b`), as conf reads
/// it: a backslash takes the next character literally, the first unescaped
/// `"` ends the string and anything after it is ignored. `None` when `v`
/// does not start with `"` or has no closing quote (conf: "invalid string
/// found").
pub fn unescape(v: &str) -> Option<String> {
    let body = v.strip_prefix('"')?;
    let mut out = String::with_capacity(body.len());
    let mut it = body.chars();
    while let Some(c) = it.next() {
        match c {
            '"' => return Some(out),
            '\\' => out.push(it.next()?),
            c => out.push(c),
        }
    }
    None
}

/// conf's `escape_string_value`: quote, and backslash `"` and `\`.
pub fn escape(v: &str) -> String {
    let mut o = String::with_capacity(v.len() + 2);
    o.push('"');
    for c in v.chars() {
        if c == '"' || c == '\\' {
            o.push('\\');
        }
        o.push(c);
    }
    o.push('"');
    o
}

/// A value as a `.config` assigns it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Value {
    /// `y`, `m`, `n`; `# CONFIG_X is not set` is `Tri(N)`.
    Tri(Tri),
    /// A quoted string, unescaped.
    Str(String),
    /// A decimal number as written (`17`, `-1`).
    Int(String),
    /// A `0x`/`0X` hex number as written.
    Hex(String),
    /// Anything else, as written (`yes`, `ff`, `y # comment`): conf reads
    /// some of these for some symbol types, so they are kept, with a warning.
    Other(String),
}

fn is_int(v: &str) -> bool {
    // sym_string_valid for S_INT: optional '-', no leading zeros.
    let digits = v.strip_prefix('-').unwrap_or(v);
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'))
}

fn is_hex(v: &str) -> bool {
    let Some(digits) = v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) else {
        return false;
    };
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Value {
    /// Reads a value as written after `=`. `Err` is the warning for a value
    /// conf would reject whatever the symbol's type; `Other` values parse
    /// but deserve a warning too (see [`Value::Other`]).
    pub fn parse(text: &str) -> Result<Value, String> {
        Ok(match text {
            "y" => Value::Tri(Tri::Y),
            "m" => Value::Tri(Tri::M),
            "n" => Value::Tri(Tri::N),
            "" => return Err("empty value".into()),
            t if t.starts_with('"') => {
                Value::Str(unescape(t).ok_or_else(|| "invalid string found".to_string())?)
            }
            t if is_int(t) => Value::Int(t.to_string()),
            t if is_hex(t) => Value::Hex(t.to_string()),
            t => Value::Other(t.to_string()),
        })
    }

    /// The tristate value, for `y`, `m` and `n`.
    pub fn tri(&self) -> Option<Tri> {
        match self {
            Value::Tri(t) => Some(*t),
            _ => None,
        }
    }

    /// `y` or `m`.
    pub fn is_enabled(&self) -> bool {
        self.tri().is_some_and(Tri::is_enabled)
    }
}

/// As written after `=` in a `.config`: strings quoted and escaped.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Tri(t) => f.write_str(t.as_str()),
            Value::Str(s) => f.write_str(&escape(s)),
            Value::Int(s) | Value::Hex(s) | Value::Other(s) => f.write_str(s),
        }
    }
}

/// One assignment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The symbol name without the prefix (`64BIT`).
    pub symbol: String,
    pub value: Value,
    /// 1-based line number.
    pub line: u32,
}

/// A configuration file read by [`parse`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Parsed {
    /// Every accepted assignment in file order, repeats included.
    pub entries: Vec<Entry>,
    /// `file:line` warnings: unexpected data, bad values, reassignments.
    pub warnings: Vec<Diag>,
}

impl Parsed {
    /// The value that counts for `symbol` (named without prefix): its last
    /// assignment. `None` when the file does not assign it.
    pub fn get(&self, symbol: &str) -> Option<&Value> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.symbol == symbol)
            .map(|e| &e.value)
    }

    /// The tristate value of `symbol`; `n` when it is absent or not `y`/`m`.
    pub fn tri(&self, symbol: &str) -> Tri {
        self.get(symbol).and_then(Value::tri).unwrap_or(Tri::N)
    }

    /// `CONFIG_<symbol>=y` or `=m`.
    pub fn is_enabled(&self, symbol: &str) -> bool {
        self.tri(symbol).is_enabled()
    }

    /// Symbol to the value that counts (the last one).
    pub fn map(&self) -> BTreeMap<String, Value> {
        self.entries
            .iter()
            .map(|e| (e.symbol.clone(), e.value.clone()))
            .collect()
    }
}

fn is_symbol_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Reads a `.config` or fragment with the `CONFIG_` prefix. `name` is the
/// file name used in warnings.
pub fn parse(name: &str, text: &str) -> Parsed {
    parse_with_prefix(name, text, PREFIX)
}

/// [`parse`] with another symbol prefix (conf's `CONFIG_` variable).
pub fn parse_with_prefix(name: &str, text: &str, prefix: &str) -> Parsed {
    let mut out = Parsed::default();
    let mut last_line: BTreeMap<&str, u32> = BTreeMap::new();
    for (i, raw) in text.split_inclusive('\n').enumerate() {
        let lineno = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let mut warn = |msg: String| out.warnings.push(Diag::at(name, lineno, msg));
        let (sym, value) = match classify(raw, prefix, false) {
            RawLine::Skip => continue,
            RawLine::Unexpected(text) => {
                warn(format!("unexpected data: {text}"));
                continue;
            }
            RawLine::NotSet(sym) => (sym, Ok(Value::Tri(Tri::N))),
            RawLine::Assign(sym, v) => (sym, Value::parse(v)),
        };
        if !is_symbol_name(sym) {
            warn(format!("malformed symbol name {prefix}{sym:?}"));
            continue;
        }
        let value = match value {
            Ok(v) => v,
            Err(e) => {
                warn(format!("{e} for {sym}"));
                continue;
            }
        };
        if let Value::Other(v) = &value {
            warn(format!(
                "value '{v}' for {sym} is not y, m, n, a quoted string, a number or 0x hex"
            ));
        }
        if let Some(prev) = last_line.insert(sym, lineno) {
            warn(format!(
                "override: reassigning to symbol {sym} (first set on line {prev})"
            ));
        }
        out.entries.push(Entry {
            symbol: sym.to_string(),
            value,
            line: lineno,
        });
    }
    out
}

/// The `.config` line for one assignment (without newline), as conf writes
/// it: `# CONFIG_X is not set` for `n`, strings quoted and escaped.
pub fn line(symbol: &str, value: &Value) -> String {
    line_with_prefix(PREFIX, symbol, value)
}

/// [`line`] with another symbol prefix.
pub fn line_with_prefix(prefix: &str, symbol: &str, value: &Value) -> String {
    match value {
        Value::Tri(Tri::N) => format!("# {prefix}{symbol} is not set"),
        v => format!("{prefix}{symbol}={v}"),
    }
}

/// A fragment with one line per symbol, in the map's order. Strings must not
/// contain a newline or NUL: no `.config` line can carry them.
pub fn write(values: &BTreeMap<String, Value>) -> String {
    let mut out = String::new();
    for (sym, v) in values {
        out.push_str(&line(sym, v));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msgs(p: &Parsed) -> Vec<String> {
        p.warnings.iter().map(|d| d.to_string()).collect()
    }

    #[test]
    fn values_and_lines() {
        // (line, symbol and value it assigns, warning it gives)
        type Case<'a> = (&'a str, Option<(&'a str, Value)>, Option<&'a str>);
        let cases: &[Case] = &[
            ("CONFIG_A=y", Some(("A", Value::Tri(Tri::Y))), None),
            ("CONFIG_A=m", Some(("A", Value::Tri(Tri::M))), None),
            ("CONFIG_A=n", Some(("A", Value::Tri(Tri::N))), None),
            (
                "# CONFIG_A is not set",
                Some(("A", Value::Tri(Tri::N))),
                None,
            ),
            ("CONFIG_A=y\0junk", Some(("A", Value::Tri(Tri::Y))), None),
            ("CONFIG_N=17", Some(("N", Value::Int("17".into()))), None),
            ("CONFIG_N=-1", Some(("N", Value::Int("-1".into()))), None),
            ("CONFIG_N=0", Some(("N", Value::Int("0".into()))), None),
            (
                "CONFIG_H=0x1F",
                Some(("H", Value::Hex("0x1F".into()))),
                None,
            ),
            ("CONFIG_H=0X0", Some(("H", Value::Hex("0X0".into()))), None),
            (r#"CONFIG_S="""#, Some(("S", Value::Str("".into()))), None),
            (
                r#"CONFIG_S="a \"b\" \\c""#,
                Some(("S", Value::Str(r#"a "b" \c"#.into()))),
                None,
            ),
            (
                r#"CONFIG_S="x"trailing"#,
                Some(("S", Value::Str("x".into()))),
                None,
            ),
            (
                r#"CONFIG_S="x = # y""#,
                Some(("S", Value::Str("x = # y".into()))),
                None,
            ),
            ("", None, None),
            ("#", None, None),
            ("# comment", None, None),
            ("#CONFIG_A is not set", None, None),
            ("# CONFIG_A is not set, really", None, None),
            ("# CONFIG_A  is not set", None, None),
            ("# CONFIG_A=y", None, None),
            (
                "CONFIG_A=yes",
                Some(("A", Value::Other("yes".into()))),
                Some("f:1: value 'yes' for A is not y, m, n, a quoted string, a number or 0x hex"),
            ),
            (
                "CONFIG_N=007",
                Some(("N", Value::Other("007".into()))),
                Some("f:1: value '007' for N is not y, m, n, a quoted string, a number or 0x hex"),
            ),
            (
                "CONFIG_A=y ",
                Some(("A", Value::Other("y ".into()))),
                Some("f:1: value 'y ' for A is not y, m, n, a quoted string, a number or 0x hex"),
            ),
            ("CONFIG_A=", None, Some("f:1: empty value for A")),
            (
                r#"CONFIG_S="open"#,
                None,
                Some("f:1: invalid string found for S"),
            ),
            (
                r#"CONFIG_S="open\""#,
                None,
                Some("f:1: invalid string found for S"),
            ),
            ("CONFIG_A", None, Some("f:1: unexpected data: CONFIG_A")),
            (
                "  CONFIG_A=y",
                None,
                Some("f:1: unexpected data:   CONFIG_A=y"),
            ),
            ("A=y", None, Some("f:1: unexpected data: A=y")),
            (
                "CONFIG_=y",
                None,
                Some("f:1: malformed symbol name CONFIG_\"\""),
            ),
            (
                "CONFIG_A B=y",
                None,
                Some("f:1: malformed symbol name CONFIG_\"A B\""),
            ),
        ];
        for (text, want, warning) in cases {
            for eol in ["", "\n", "\r\n"] {
                let p = parse("f", &format!("{text}{eol}"));
                let got: Vec<(&str, &Value)> = p
                    .entries
                    .iter()
                    .map(|e| (e.symbol.as_str(), &e.value))
                    .collect();
                let want: Vec<(&str, &Value)> = want.iter().map(|(s, v)| (*s, v)).collect();
                assert_eq!(got, want, "{text:?}{eol:?}");
                let w: Vec<String> = warning.iter().map(|w| w.to_string()).collect();
                assert_eq!(msgs(&p), w, "{text:?}{eol:?}");
            }
        }
    }

    #[test]
    fn last_assignment_wins_and_both_lines_are_named() {
        let p = parse(
            ".config",
            "CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_A=m\nCONFIG_B=y\nCONFIG_A=n\n",
        );
        assert_eq!(p.get("A"), Some(&Value::Tri(Tri::N)));
        assert_eq!(p.tri("B"), Tri::Y);
        assert_eq!(p.entries.len(), 5);
        assert_eq!(
            msgs(&p),
            [
                ".config:3: override: reassigning to symbol A (first set on line 1)",
                ".config:4: override: reassigning to symbol B (first set on line 2)",
                ".config:5: override: reassigning to symbol A (first set on line 3)",
            ]
        );
        assert_eq!(p.map().len(), 2);
    }

    #[test]
    fn lookups() {
        let p = parse(
            "f",
            "CONFIG_Y=y\nCONFIG_M=m\nCONFIG_N=n\n# CONFIG_U is not set\nCONFIG_S=\"y\"\n",
        );
        assert!(p.is_enabled("Y") && p.is_enabled("M"));
        assert!(!p.is_enabled("N") && !p.is_enabled("U") && !p.is_enabled("ABSENT"));
        assert!(!p.is_enabled("S"), "a string is not a tristate");
        assert_eq!(p.get("U"), Some(&Value::Tri(Tri::N)));
        assert_eq!(p.get("ABSENT"), None);
        assert_eq!(p.get("CONFIG_Y"), None, "names are without prefix");
        assert!(p.warnings.is_empty());
    }

    #[test]
    fn other_prefix() {
        let p = parse_with_prefix("f", "FOO_A=y\nCONFIG_B=y\n# FOO_C is not set\n", "FOO_");
        assert_eq!(p.map().keys().collect::<Vec<_>>(), ["A", "C"]);
        assert_eq!(msgs(&p), ["f:2: unexpected data: CONFIG_B=y"]);
    }

    #[test]
    fn writes_as_conf_does() {
        let mut m = BTreeMap::new();
        m.insert("A".to_string(), Value::Tri(Tri::N));
        m.insert("B".to_string(), Value::Str("a\"b\\".into()));
        m.insert("C".to_string(), Value::Hex("0x10".into()));
        m.insert("D".to_string(), Value::Tri(Tri::M));
        let text = write(&m);
        assert_eq!(
            text,
            "# CONFIG_A is not set\nCONFIG_B=\"a\\\"b\\\\\"\nCONFIG_C=0x10\nCONFIG_D=m\n"
        );
        let back = parse("f", &text);
        assert!(back.warnings.is_empty());
        assert_eq!(back.map(), m);
    }

    #[test]
    fn legacy_line_grammar() {
        use RawLine::*;
        let c = |l| classify(l, "CONFIG_", true);
        assert_eq!(c("CONFIG_A=y\r\n"), Assign("A", "y"));
        assert_eq!(c("CONFIG_A\n"), Skip);
        assert_eq!(c("# CONFIG_A is not set, really\n"), NotSet("A"));
        assert_eq!(c("\r\n"), Skip);
        assert_eq!(c("junk\r\n"), Unexpected("junk"));
        let m = |l| classify(l, "CONFIG_", false);
        assert_eq!(m("CONFIG_A=y\r"), Assign("A", "y\r"), "a lone \\r stays");
        assert_eq!(m("CONFIG_A=y\r\n"), Assign("A", "y"));
    }

    #[test]
    fn unescape_like_conf() {
        assert_eq!(unescape(r#""a\"b""#).as_deref(), Some("a\"b"));
        assert_eq!(unescape(r#""\\""#).as_deref(), Some("\\"));
        assert_eq!(unescape(r#""\x""#).as_deref(), Some("x"));
        assert_eq!(unescape(r#""a"b""#).as_deref(), Some("a"));
        assert_eq!(unescape(r#"a"#), None);
        assert_eq!(unescape(r#""a\"#), None);
        assert_eq!(unescape(r#"""#), None);
        for s in ["", "a\"b", "\\", "\"\"", "é ✓"] {
            assert_eq!(unescape(&escape(s)).as_deref(), Some(s));
        }
    }
}
