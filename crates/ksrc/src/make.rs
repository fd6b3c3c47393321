//! The little of GNU make's semantics needed to read kernel Makefiles.
//!
//! We never evaluate a Makefile. We read a handful of assignments whose shape
//! is stable across kernel versions, and these helpers make that reading
//! follow make's own rules for line continuation, comments and `$(shell)`
//! output, so values come out exactly as make would export them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Joins backslash-continued lines the way make does outside recipes: the
/// backslash-newline and the whitespace around it become one space.
pub(crate) fn logical_lines(text: &str) -> Vec<String> {
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
pub(crate) fn strip_comment(line: &str) -> &str {
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
pub(crate) struct Assignment<'a> {
    pub exported: bool,
    pub name: &'a str,
    pub op: &'a str,
    pub value: &'a str,
}

/// Parses an assignment; the value keeps make's rules: leading whitespace
/// dropped, trailing whitespace kept, comments removed.
pub(crate) fn assignment(line: &str) -> Option<Assignment<'_>> {
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
pub(crate) fn exported_names(line: &str) -> Vec<&str> {
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
pub(crate) fn conditional_delta(line: &str) -> i32 {
    let t = strip_comment(line).trim_start();
    let first = t.split_whitespace().next().unwrap_or("");
    match first {
        "ifeq" | "ifneq" | "ifdef" | "ifndef" => 1,
        "endif" => -1,
        _ => 0,
    }
}

/// make's `$(shell)` post-processing: CR-LF and LF become spaces, trailing
/// newlines are dropped, output stops at a NUL byte.
pub(crate) fn fold_shell_output(bytes: &[u8]) -> String {
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
    fn shell_output_is_folded_like_make() {
        assert_eq!(fold_shell_output(b"a\nb\n\n"), "a b");
        assert_eq!(fold_shell_output(b"a\r\nb\r\n"), "a b");
        assert_eq!(fold_shell_output(b"a  \n"), "a  ");
        assert_eq!(fold_shell_output(b"a\0b"), "a");
        assert_eq!(fold_shell_output(b""), "");
    }
}
