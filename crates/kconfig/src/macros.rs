//! The Kconfig macro language (Documentation/kbuild/kconfig-macro-language.rst):
//! variables (`=`, `:=`, `+=`), user functions with `$(1)`..., the built-in
//! functions and environment fallback.
//!
//! Expansion happens while lexing, so errors carry the lexer's current file
//! and line, and `$(shell,...)` goes through the [`Host`] (which may cache).

use std::collections::HashMap;

use crate::diag::{Diag, Diags};
use crate::host::Host;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    Recursive,
    Simple,
    Append,
}

struct Variable {
    value: String,
    flavor: Flavor,
    exp_count: u32,
}

/// Where an expansion happens, for `$(filename)`, `$(lineno)` and errors.
#[derive(Clone, Copy)]
pub struct Pos<'a> {
    pub file: &'a str,
    pub line: u32,
}

pub struct Macros {
    vars: HashMap<String, Variable>,
    /// Every `$(shell,...)` command run, in order (for cache prefetching).
    pub shell_log: Vec<String>,
}

const FUNCTION_MAX_ARGS: usize = 16;

type Res<T> = Result<T, Diag>;

struct Ctx<'a> {
    host: &'a dyn Host,
    pos: Pos<'a>,
    diags: &'a mut Diags,
}

impl Default for Macros {
    fn default() -> Self {
        Self::new()
    }
}

impl Macros {
    pub fn new() -> Macros {
        Macros {
            vars: HashMap::new(),
            shell_log: Vec::new(),
        }
    }

    /// `variable_add`: a `NAME = value` / `:=` / `+=` statement.
    pub fn add_variable(
        &mut self,
        name: &str,
        value: &str,
        flavor: Flavor,
        host: &dyn Host,
        pos: Pos,
        diags: &mut Diags,
    ) -> Res<()> {
        let (flavor, append) = match self.vars.get(name) {
            Some(v) if flavor == Flavor::Append => (v.flavor, true),
            Some(_) => (flavor, false),
            None if flavor == Flavor::Append => (Flavor::Recursive, false),
            None => (flavor, false),
        };
        let new_value = if flavor == Flavor::Simple {
            let mut ctx = Ctx { host, pos, diags };
            self.expand_string(value.as_bytes(), &[], &mut ctx)?
        } else {
            value.to_string()
        };
        match self.vars.get_mut(name) {
            Some(v) => {
                v.flavor = flavor;
                if append {
                    v.value.push(' ');
                    v.value.push_str(&new_value);
                } else {
                    v.value = new_value;
                }
            }
            None => {
                self.vars.insert(
                    name.to_string(),
                    Variable {
                        value: new_value,
                        flavor,
                        exp_count: 0,
                    },
                );
            }
        }
        Ok(())
    }

    /// Expand one `$(...)` reference. `s[*i]` is the byte after the `$`.
    /// On return `*i` points after the reference. A `$` not followed by `(`
    /// is literal, as in conf.
    pub fn expand_dollar(
        &mut self,
        s: &[u8],
        i: &mut usize,
        host: &dyn Host,
        pos: Pos,
        diags: &mut Diags,
    ) -> Res<String> {
        let mut ctx = Ctx { host, pos, diags };
        self.expand_dollar_args(s, i, &[], &mut ctx)
    }

    /// `expand_one_token`: expand until a byte that cannot be part of a
    /// symbol name. Returns the expansion and the index where it stopped.
    pub fn expand_token(
        &mut self,
        s: &[u8],
        host: &dyn Host,
        pos: Pos,
        diags: &mut Diags,
    ) -> Res<(String, usize)> {
        let mut ctx = Ctx { host, pos, diags };
        let mut i = 0;
        let out = self.expand_until(s, &mut i, is_end_of_token, &[], &mut ctx)?;
        Ok((out, i))
    }

    fn expand_string(&mut self, s: &[u8], args: &[String], ctx: &mut Ctx) -> Res<String> {
        let mut i = 0;
        self.expand_until(s, &mut i, |_| false, args, ctx)
    }

    fn expand_until(
        &mut self,
        s: &[u8],
        i: &mut usize,
        is_end: impl Fn(u8) -> bool,
        args: &[String],
        ctx: &mut Ctx,
    ) -> Res<String> {
        let mut out: Vec<u8> = Vec::new();
        let mut start = *i;
        loop {
            let c = s.get(*i).copied().unwrap_or(0);
            if c == b'$' {
                out.extend_from_slice(&s[start..*i]);
                *i += 1;
                let e = self.expand_dollar_args(s, i, args, ctx)?;
                out.extend_from_slice(e.as_bytes());
                start = *i;
                continue;
            }
            if c == 0 || is_end(c) {
                break;
            }
            *i += 1;
        }
        out.extend_from_slice(&s[start..*i]);
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    fn expand_dollar_args(
        &mut self,
        s: &[u8],
        i: &mut usize,
        args: &[String],
        ctx: &mut Ctx,
    ) -> Res<String> {
        if s.get(*i) != Some(&b'(') {
            return Ok("$".to_string());
        }
        let p = *i + 1;
        let mut q = p;
        let mut nest = 0i32;
        loop {
            match s.get(q) {
                None | Some(0) => {
                    return Err(self.err(
                        ctx,
                        format!(
                            "unterminated reference to '{}': missing ')'",
                            String::from_utf8_lossy(&s[p..])
                        ),
                    ))
                }
                Some(b'(') => nest += 1,
                Some(b')') => {
                    if nest == 0 {
                        break;
                    }
                    nest -= 1;
                }
                _ => {}
            }
            q += 1;
        }
        *i = q + 1;
        self.eval_clause(&s[p..q], args, ctx)
    }

    fn eval_clause(&mut self, s: &[u8], args: &[String], ctx: &mut Ctx) -> Res<String> {
        if let Some(n) = parse_strtoul_whole(s) {
            if n > 0 && (n as usize) <= args.len() {
                return Ok(args[n as usize - 1].clone());
            }
        }
        // Split at top-level commas.
        let mut parts: Vec<&[u8]> = Vec::new();
        let mut nest = 0i32;
        let mut prev = 0;
        for (k, &c) in s.iter().enumerate() {
            if nest == 0 && c == b',' {
                if parts.len() >= FUNCTION_MAX_ARGS {
                    return Err(self.err(ctx, "too many function arguments".into()));
                }
                parts.push(&s[prev..k]);
                prev = k + 1;
            } else if c == b'(' {
                nest += 1;
            } else if c == b')' {
                nest -= 1;
            }
        }
        if parts.len() >= FUNCTION_MAX_ARGS {
            return Err(self.err(ctx, "too many function arguments".into()));
        }
        parts.push(&s[prev..]);

        let name = self.expand_string(parts[0], args, ctx)?;
        let mut new_args = Vec::with_capacity(parts.len() - 1);
        for p in &parts[1..] {
            new_args.push(self.expand_string(p, args, ctx)?);
        }

        if let Some(r) = self.variable_expand(&name, &new_args, ctx)? {
            return Ok(r);
        }
        if let Some(r) = self.function_expand(&name, &new_args, ctx)? {
            return Ok(r);
        }
        if new_args.is_empty() && !name.is_empty() {
            if let Some(v) = ctx.host.getenv(&name) {
                return Ok(v);
            }
        }
        Ok(String::new())
    }

    fn variable_expand(
        &mut self,
        name: &str,
        args: &[String],
        ctx: &mut Ctx,
    ) -> Res<Option<String>> {
        let (value, flavor) = match self.vars.get_mut(name) {
            None => return Ok(None),
            Some(v) => {
                if args.is_empty() && v.exp_count > 0 {
                    let msg = format!("Recursive variable '{name}' references itself (eventually)");
                    return Err(self.err(ctx, msg));
                }
                if v.exp_count > 1000 {
                    return Err(self.err(ctx, "Too deep recursive expansion".into()));
                }
                v.exp_count += 1;
                (v.value.clone(), v.flavor)
            }
        };
        let res = if flavor == Flavor::Recursive {
            self.expand_string(value.as_bytes(), args, ctx)
        } else {
            Ok(value)
        };
        if let Some(v) = self.vars.get_mut(name) {
            v.exp_count -= 1;
        }
        res.map(Some)
    }

    fn function_expand(
        &mut self,
        name: &str,
        args: &[String],
        ctx: &mut Ctx,
    ) -> Res<Option<String>> {
        let (min, max) = match name {
            "error-if" | "warning-if" => (2, 2),
            "filename" | "lineno" => (0, 0),
            "info" | "shell" => (1, 1),
            _ => return Ok(None),
        };
        if args.len() < min {
            let m = format!("too few function arguments passed to '{name}'");
            return Err(self.err(ctx, m));
        }
        if args.len() > max {
            let m = format!("too many function arguments passed to '{name}'");
            return Err(self.err(ctx, m));
        }
        let out = match name {
            "error-if" => {
                if args[0] == "y" {
                    return Err(self.err(ctx, args[1].clone()));
                }
                String::new()
            }
            "warning-if" => {
                if args[0] == "y" {
                    ctx.diags
                        .warn(Diag::at(ctx.pos.file, ctx.pos.line, args[1].clone()));
                }
                String::new()
            }
            "filename" => ctx.pos.file.to_string(),
            "lineno" => ctx.pos.line.to_string(),
            "info" => {
                ctx.host.info(&args[0]);
                String::new()
            }
            "shell" => {
                self.shell_log.push(args[0].clone());
                match ctx.host.shell(&args[0]) {
                    Ok(raw) => shell_output(&raw),
                    Err(e) => return Err(self.err(ctx, format!("{}: {e}", args[0]))),
                }
            }
            _ => unreachable!("function table and match agree"),
        };
        Ok(Some(out))
    }

    fn err(&self, ctx: &Ctx, msg: String) -> Diag {
        Diag::at(ctx.pos.file, ctx.pos.line, msg)
    }
}

/// conf's `do_shell` post-processing: at most 4095 bytes, trailing newlines
/// dropped, inner newlines folded to spaces, cut at a NUL.
pub fn shell_output(raw: &[u8]) -> String {
    let mut n = raw.len().min(4096);
    if n == 4096 {
        n -= 1;
    }
    let mut buf = raw[..n].to_vec();
    while buf.last() == Some(&b'\n') {
        buf.pop();
    }
    for b in buf.iter_mut() {
        if *b == b'\n' {
            *b = b' ';
        }
    }
    if let Some(z) = buf.iter().position(|&b| b == 0) {
        buf.truncate(z);
    }
    String::from_utf8_lossy(&buf).into_owned()
}

fn is_end_of_token(c: u8) -> bool {
    !(c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
}

/// `strtoul(s, &end, 10)` where the whole string must be consumed.
fn parse_strtoul_whole(s: &[u8]) -> Option<u64> {
    let mut i = 0;
    while i < s.len() && (s[i] == b' ' || (b'\t'..=b'\r').contains(&s[i])) {
        i += 1;
    }
    let mut neg = false;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        neg = s[i] == b'-';
        i += 1;
    }
    let start = i;
    let mut n: u64 = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        n = n.saturating_mul(10).saturating_add((s[i] - b'0') as u64);
        i += 1;
    }
    if i == start || i != s.len() {
        return None;
    }
    Some(if neg { n.wrapping_neg() } else { n })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::MemHost;

    fn expand(m: &mut Macros, host: &MemHost, s: &str) -> String {
        let mut d = Diags::default();
        let pos = Pos {
            file: "Kconfig",
            line: 1,
        };
        let mut ctx = Ctx {
            host,
            pos,
            diags: &mut d,
        };
        m.expand_string(s.as_bytes(), &[], &mut ctx).unwrap()
    }

    fn add(m: &mut Macros, host: &MemHost, name: &str, v: &str, f: Flavor) {
        let mut d = Diags::default();
        let pos = Pos {
            file: "Kconfig",
            line: 1,
        };
        m.add_variable(name, v, f, host, pos, &mut d).unwrap();
    }

    #[test]
    fn variables_and_functions() {
        let host = MemHost::default().env("CC", "gcc");
        let mut m = Macros::new();
        add(
            &mut m,
            &host,
            "greet",
            "hello $(1) and $(2)",
            Flavor::Recursive,
        );
        assert_eq!(expand(&mut m, &host, "$(greet,a,b)"), "hello a and b");
        assert_eq!(expand(&mut m, &host, "x$(CC)y"), "xgccy");
        assert_eq!(expand(&mut m, &host, "$(UNDEFINED)"), "");
        assert_eq!(expand(&mut m, &host, "a$b"), "a$b");
        add(&mut m, &host, "empty", "", Flavor::Simple);
        add(&mut m, &host, "space", "$(empty) $(empty)", Flavor::Simple);
        assert_eq!(expand(&mut m, &host, "[$(space)]"), "[ ]");
        add(&mut m, &host, "l", "a", Flavor::Simple);
        add(&mut m, &host, "l", "b", Flavor::Append);
        assert_eq!(expand(&mut m, &host, "$(l)"), "a b");
        assert_eq!(expand(&mut m, &host, "$(filename):$(lineno)"), "Kconfig:1");
    }

    #[test]
    fn recursion_is_an_error_not_a_hang() {
        let host = MemHost::default();
        let mut m = Macros::new();
        add(&mut m, &host, "x", "$(x)", Flavor::Recursive);
        let mut d = Diags::default();
        let pos = Pos { file: "K", line: 3 };
        let mut ctx = Ctx {
            host: &host,
            pos,
            diags: &mut d,
        };
        let e = m.expand_string(b"$(x)", &[], &mut ctx).unwrap_err();
        assert!(e.msg.contains("references itself"), "{}", e.msg);
        assert_eq!(e.line, 3);
    }

    #[test]
    fn shell_output_is_folded_like_conf() {
        assert_eq!(shell_output(b"a\nb\n\n"), "a b");
        assert_eq!(shell_output(&vec![b'x'; 5000]).len(), 4095);
    }

    #[test]
    fn error_if() {
        let host = MemHost::default();
        let mut m = Macros::new();
        let mut d = Diags::default();
        let pos = Pos { file: "K", line: 9 };
        let mut ctx = Ctx {
            host: &host,
            pos,
            diags: &mut d,
        };
        let e = m
            .expand_string(b"$(error-if,y,boom)", &[], &mut ctx)
            .unwrap_err();
        assert_eq!(e.to_string(), "K:9: boom");
        assert_eq!(
            m.expand_string(b"$(error-if,n,boom)", &[], &mut ctx)
                .unwrap(),
            ""
        );
    }
}
