//! The little of GNU make's semantics needed to read kernel Makefiles: the
//! one Makefile reader of the workspace (ksrc reads the top and arch
//! Makefiles for conf's environment; kdoctor's Kbuild walk reads every
//! `Kbuild`/`Makefile` for which options compile which file).
//!
//! We never evaluate a Makefile. The reading follows make's own rules for
//! line continuation, comments, directives (`ifeq`/`ifdef`/`else`/`endif`/
//! `include`), assignments (a plain variable, or a computed name such as
//! `obj-$(CONFIG_X)`), variable references and `$(shell)` output, so values
//! come out exactly as make would see them. Everything here is pure text
//! processing except [`make_shell`] and [`which`], thin wrappers that run a
//! command or look at the file system.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Joins backslash-continued lines the way make does outside recipes: the
/// backslash-newline and the whitespace around it become one space.
pub fn logical_lines(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    for raw in text.lines() {
        let piece = match &cur {
            Some(_) => raw.trim_start(),
            None => raw,
        };
        let (body, continued) = match piece.strip_suffix('\\') {
            Some(b) if !b.ends_with('\\') => (b.trim_end(), true),
            _ => (piece, false),
        };
        let acc = match cur.take() {
            Some(mut acc) => {
                if !acc.is_empty() && !body.is_empty() {
                    acc.push(' ');
                }
                acc.push_str(body);
                acc
            }
            None => body.to_string(),
        };
        if continued {
            cur = Some(acc);
        } else {
            out.push(acc);
        }
    }
    if let Some(acc) = cur {
        out.push(acc);
    }
    out
}

/// Cuts a line at its first unescaped `#`, as make does for non-recipe lines.
pub fn strip_comment(line: &str) -> &str {
    let bytes = line.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'#' && (i == 0 || bytes[i - 1] != b'\\') {
            return &line[..i];
        }
    }
    line
}

/// One `NAME op value` line, optionally prefixed by `export`/`override`.
#[derive(Debug, PartialEq, Eq)]
pub struct Assignment<'a> {
    pub exported: bool,
    pub name: &'a str,
    pub op: &'a str,
    pub value: &'a str,
}

/// Parses an assignment; the value keeps make's rules: leading whitespace
/// dropped, trailing whitespace kept, comments removed.
pub fn assignment(line: &str) -> Option<Assignment<'_>> {
    // Tab-led lines are recipes only after a rule; arch Makefiles indent
    // conditional assignments with tabs, so they are read as assignments.
    let mut rest = strip_comment(line).trim_start();
    let mut exported = false;
    loop {
        if let Some(r) = strip_keyword(rest, "export") {
            exported = true;
            rest = r;
        } else if let Some(r) = strip_keyword(rest, "override") {
            rest = r;
        } else {
            break;
        }
    }
    let name_end = rest
        .find(|c: char| c.is_whitespace() || matches!(c, ':' | '?' | '+' | '=' | '!'))
        .unwrap_or(rest.len());
    let name = &rest[..name_end];
    if name.is_empty() || name.contains('$') || name.contains('(') {
        return None;
    }
    let after = rest[name_end..].trim_start();
    let op = ["::=", ":=", "?=", "+=", "!=", "="]
        .into_iter()
        .find(|op| after.starts_with(op))?;
    let value = after[op.len()..].trim_start();
    Some(Assignment {
        exported,
        name,
        op,
        value,
    })
}

fn strip_keyword<'a>(s: &'a str, kw: &str) -> Option<&'a str> {
    let r = s.strip_prefix(kw)?;
    if r.starts_with([' ', '\t']) {
        Some(r.trim_start())
    } else {
        None
    }
}

/// The names an `export ...` line exports, without or with an assignment.
pub fn exported_names(line: &str) -> Vec<&str> {
    if let Some(a) = assignment(line) {
        return if a.exported { vec![a.name] } else { Vec::new() };
    }
    let line = strip_comment(line);
    match strip_keyword(line.trim_start(), "export") {
        Some(rest) => rest.split_whitespace().collect(),
        None => Vec::new(),
    }
}

/// Tracks `ifeq`/`ifdef`/... nesting so callers can tell unconditional
/// assignments from conditional ones.
pub fn conditional_delta(line: &str) -> i32 {
    match directive(line) {
        Some(Directive::If(..)) => 1,
        Some(Directive::Endif) => -1,
        _ => 0,
    }
}

/// The test of a conditional directive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IfKind {
    /// `ifeq (a,b)`
    Eq,
    /// `ifneq (a,b)`
    Neq,
    /// `ifdef NAME`
    Def,
    /// `ifndef NAME`
    Ndef,
}

impl IfKind {
    pub fn keyword(self) -> &'static str {
        match self {
            IfKind::Eq => "ifeq",
            IfKind::Neq => "ifneq",
            IfKind::Def => "ifdef",
            IfKind::Ndef => "ifndef",
        }
    }

    fn of_keyword(word: &str) -> Option<IfKind> {
        Some(match word {
            "ifeq" => IfKind::Eq,
            "ifneq" => IfKind::Neq,
            "ifdef" => IfKind::Def,
            "ifndef" => IfKind::Ndef,
            _ => return None,
        })
    }
}

/// A directive line: what make acts on before any assignment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Directive<'a> {
    /// `ifeq (a,b)`, `ifdef X`, ...: the test and its arguments (trimmed).
    If(IfKind, &'a str),
    /// `else`, or `else ifeq ...` (see [`conditional`]): the rest of the
    /// line, trimmed, empty for a plain `else`.
    Else(&'a str),
    Endif,
    /// `include`, or `-include`/`sinclude` (`optional`): the file names as
    /// written, unexpanded.
    Include {
        optional: bool,
        files: &'a str,
    },
}

/// Reads a (logical) line as a directive; comments are ignored.
pub fn directive(line: &str) -> Option<Directive<'_>> {
    let t = strip_comment(line).trim();
    let (word, rest) = t.split_once(char::is_whitespace).unwrap_or((t, ""));
    let rest = rest.trim();
    if let Some(kind) = IfKind::of_keyword(word) {
        return Some(Directive::If(kind, rest));
    }
    Some(match word {
        "else" => Directive::Else(rest),
        "endif" => Directive::Endif,
        "include" => Directive::Include {
            optional: false,
            files: rest,
        },
        "-include" | "sinclude" => Directive::Include {
            optional: true,
            files: rest,
        },
        _ => return None,
    })
}

/// The conditional of an `else ifeq (a,b)` line's rest: `ifeq (a,b)` →
/// (Eq, `(a,b)`).
pub fn conditional(text: &str) -> Option<(IfKind, &str)> {
    let (word, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    Some((IfKind::of_keyword(word)?, rest.trim()))
}

/// The two operands of `ifeq`/`ifneq`: `(a,b)` (split at the first comma
/// outside `$(...)`), `"a" "b"` or `'a' 'b'`; each trimmed.
pub fn ifeq_operands(args: &str) -> Option<(String, String)> {
    let r = args.trim();
    if let Some(inner) = r.strip_prefix('(').and_then(|x| x.strip_suffix(')')) {
        let i = find_top(inner, ",")?;
        return Some((
            inner[..i].trim().to_string(),
            inner[i + 1..].trim().to_string(),
        ));
    }
    let q = r.chars().next()?;
    if q != '"' && q != '\'' {
        return None;
    }
    let mut parts = r.split(q).filter(|s| !s.trim().is_empty());
    let a = parts.next()?.to_string();
    let b = parts.next().unwrap_or("").to_string();
    Some((a, b))
}

/// An assignment whose left side may be computed, as Kbuild lists are
/// (`obj-$(CONFIG_X) += a.o`, `$(mod)-y := b.o`): the first operator
/// (`:=`, `+=`, `?=`, `::=`, then `=`) outside `$(...)`; name and value
/// trimmed, after `export`/`override` as for [`assignment`]. `==` and
/// `!=` are comparisons here, not assignments.
pub fn computed_assignment(line: &str) -> Option<Assignment<'_>> {
    let mut t = strip_comment(line).trim();
    let mut exported = false;
    loop {
        if let Some(r) = strip_keyword(t, "export") {
            exported = true;
            t = r;
        } else if let Some(r) = strip_keyword(t, "override") {
            t = r;
        } else {
            break;
        }
    }
    let (name, op, value) = split_assignment(t)?;
    Some(Assignment {
        exported,
        name: name.trim(),
        op,
        value,
    })
}

fn split_assignment(t: &str) -> Option<(&str, &'static str, &str)> {
    for op in [":=", "+=", "?=", "::="] {
        if let Some(i) = find_top(t, op) {
            return Some((&t[..i], op, t[i + op.len()..].trim()));
        }
    }
    let i = find_top(t, "=")?;
    if t[i..].starts_with("==") || t[..i].ends_with(['!', ':', '+', '?']) {
        return None;
    }
    Some((&t[..i], "=", t[i + 1..].trim()))
}

/// The first occurrence of `pat` outside `$(...)`/`${...}`.
pub fn find_top(t: &str, pat: &str) -> Option<usize> {
    let b = t.as_bytes();
    let mut depth = 0i32;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'(' | b'{' => depth += 1,
            b')' | b'}' => depth -= 1,
            _ => {}
        }
        if depth == 0 && b[i..].starts_with(pat.as_bytes()) {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// The inside of a word that is one whole reference: `$(X)` or `${X}` →
/// `X` (`$(subst m,y,$(CONFIG_A))` → `subst m,y,$(CONFIG_A)`).
pub fn reference(word: &str) -> Option<&str> {
    word.strip_prefix("$(")
        .and_then(|x| x.strip_suffix(')'))
        .or_else(|| word.strip_prefix("${").and_then(|x| x.strip_suffix('}')))
}

/// make's `$(shell)` post-processing: CR-LF and LF become spaces, trailing
/// newlines are dropped, output stops at a NUL byte.
pub fn fold_shell_output(bytes: &[u8]) -> String {
    let bytes = match bytes.iter().position(|&b| b == 0) {
        Some(n) => &bytes[..n],
        None => bytes,
    };
    let mut out: Vec<u8> = Vec::with_capacity(bytes.len());
    let mut keep = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'\r' && bytes.get(i + 1) == Some(&b'\n') {
            i += 1;
            continue;
        }
        if b == b'\n' {
            out.push(b' ');
        } else {
            out.push(b);
            keep = out.len();
        }
        i += 1;
    }
    out.truncate(keep);
    String::from_utf8_lossy(&out).into_owned()
}

/// Runs `cmd` like make's `$(shell)`: through /bin/sh, stderr untouched by
/// the caller's expectations (commands redirect it themselves), stdout folded.
/// A command that cannot be started yields an empty string, as in make.
pub(crate) fn make_shell(cmd: &str, env: &BTreeMap<String, String>) -> String {
    let out = Command::new("/bin/sh")
        .arg("-c")
        .arg(cmd)
        .env_clear()
        .envs(env)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output();
    match out {
        Ok(o) => fold_shell_output(&o.stdout),
        Err(_) => String::new(),
    }
}

/// `command -v`: the first executable named `name` on `path`; a name with a
/// slash is taken as a path.
pub(crate) fn which(name: &str, path: Option<&str>) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let is_exec = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    if name.is_empty() {
        return None;
    }
    if name.contains('/') {
        let p = PathBuf::from(name);
        return is_exec(&p).then_some(p);
    }
    for dir in path.unwrap_or("").split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let cand = Path::new(dir).join(name);
        if is_exec(&cand) {
            return Some(cand);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_collapses_whitespace() {
        let text = "A := x -o    \\\n\t\t  -name y \\\n\t-prune\nB = 1\n";
        assert_eq!(
            logical_lines(text),
            vec!["A := x -o -name y -prune", "B = 1"]
        );
    }

    #[test]
    fn assignments_follow_make_rules() {
        let a = assignment("export RUSTC_BOOTSTRAP := 1").unwrap();
        assert!(a.exported);
        assert_eq!((a.name, a.op, a.value), ("RUSTC_BOOTSTRAP", ":=", "1"));
        let a = assignment("EXTRAVERSION =").unwrap();
        assert_eq!((a.name, a.value), ("EXTRAVERSION", ""));
        let a = assignment("VERSION = 6 # six").unwrap();
        assert_eq!(a.value, "6 ");
        assert_eq!(assignment("\tCC = x").unwrap().value, "x");
        assert!(assignment("ifeq ($(A),B)").is_none());
        assert_eq!(
            assignment("KBUILD_DEFCONFIG\t:= shx3_defconfig")
                .unwrap()
                .value,
            "shx3_defconfig"
        );
    }

    #[test]
    fn export_lists() {
        assert_eq!(exported_names("export A B\tC"), vec!["A", "B", "C"]);
        assert_eq!(exported_names("export X := $(srctree)"), vec!["X"]);
        assert!(exported_names("exported := 1").is_empty());
        assert!(exported_names("# export A").is_empty());
    }

    #[test]
    fn directives() {
        assert_eq!(
            directive("ifeq ($(CONFIG_X),y) # c"),
            Some(Directive::If(IfKind::Eq, "($(CONFIG_X),y)"))
        );
        assert_eq!(
            directive("  ifndef  FOO"),
            Some(Directive::If(IfKind::Ndef, "FOO"))
        );
        assert_eq!(
            directive("else ifdef CONFIG_A"),
            Some(Directive::Else("ifdef CONFIG_A"))
        );
        assert_eq!(
            conditional("ifdef CONFIG_A"),
            Some((IfKind::Def, "CONFIG_A"))
        );
        assert_eq!(conditional("foo"), None);
        assert_eq!(directive("else"), Some(Directive::Else("")));
        assert_eq!(directive("endif # X"), Some(Directive::Endif));
        assert_eq!(
            directive("-include $(src)/a.mk"),
            Some(Directive::Include {
                optional: true,
                files: "$(src)/a.mk"
            })
        );
        assert_eq!(directive("ifeq($(A),b)"), None);
        assert_eq!(directive("obj-y += a.o"), None);
        assert_eq!(conditional_delta("ifneq ($(A),)"), 1);
        assert_eq!(conditional_delta("endif"), -1);
        assert_eq!(conditional_delta("# ifdef A"), 0);
    }

    #[test]
    fn ifeq_operand_forms() {
        let p = |s: &str| ifeq_operands(s);
        assert_eq!(
            p("($(CONFIG_A)$(CONFIG_B), y)"),
            Some(("$(CONFIG_A)$(CONFIG_B)".into(), "y".into()))
        );
        assert_eq!(
            p("($(call f,a,b),)"),
            Some(("$(call f,a,b)".into(), "".into()))
        );
        assert_eq!(p("\"a\" \"b\""), Some(("a".into(), "b".into())));
        assert_eq!(p("'a' ''"), Some(("a".into(), "".into())));
        assert_eq!(p("a b"), None);
    }

    #[test]
    fn computed_assignments_keep_references() {
        let a = computed_assignment("obj-$(CONFIG_NET) += net/ # x").unwrap();
        assert_eq!((a.name, a.op, a.value), ("obj-$(CONFIG_NET)", "+=", "net/"));
        let a = computed_assignment("mmu-$(CONFIG_MMU)\t:= mlock.o").unwrap();
        assert_eq!(
            (a.name, a.op, a.value),
            ("mmu-$(CONFIG_MMU)", ":=", "mlock.o")
        );
        let a = computed_assignment("x-$(if $(A),y) = a.o").unwrap();
        assert_eq!((a.name, a.op), ("x-$(if $(A),y)", "="));
        let a = computed_assignment("FOO = $(a:.c=.o)").unwrap();
        assert_eq!((a.name, a.value), ("FOO", "$(a:.c=.o)"));
        let a = computed_assignment("export KBUILD_X := $(y)").unwrap();
        assert!(a.exported);
        assert_eq!((a.name, a.value), ("KBUILD_X", "$(y)"));
        assert!(computed_assignment("a == b").is_none());
        assert!(computed_assignment("x != y").is_none());
        assert!(computed_assignment("$(obj)/a.o: b.c").is_none());
        assert_eq!(find_top("$(a:=b) := c", ":="), Some(8));
        assert_eq!(reference("$(CONFIG_X)"), Some("CONFIG_X"));
        assert_eq!(reference("${mmu-y}"), Some("mmu-y"));
        assert_eq!(reference("$(A)x"), None);
    }

    #[test]
    fn shell_output_is_folded_like_make() {
        assert_eq!(fold_shell_output(b"a\nb\n\n"), "a b");
        assert_eq!(fold_shell_output(b"a\r\nb\r\n"), "a b");
        assert_eq!(fold_shell_output(b"a  \n"), "a  ");
        assert_eq!(fold_shell_output(b"a\0b"), "a");
        assert_eq!(fold_shell_output(b""), "");
    }
}
