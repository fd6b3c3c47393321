//! One Makefile read as Kbuild lists: `obj-$(CONFIG_X) += a.o dir/`,
//! composite objects (`foo-y`, `foo-objs`, `foo-$(CONFIG_Y)`), conditional
//! lists referenced as `$(mmu-y)`, `ifeq`/`ifdef` blocks, `include` and
//! `ccflags-y += -I...`. The make syntax comes from [`ksrc::make`]; what
//! it means for Kbuild (conditions on options) is here.

use std::collections::HashMap;

use ksrc::make::{self, Directive, IfKind};

use crate::cond::Cond;

/// How the walk sees a tree: files by path relative to its top.
pub struct Tree<'a> {
    /// A file's text (lossily UTF-8), None when it cannot be read.
    pub read: &'a dyn Fn(&str) -> Option<String>,
    pub is_file: &'a dyn Fn(&str) -> bool,
}

#[derive(Clone, Debug)]
pub(super) struct Entry {
    /// `obj`, `lib`, `core`, ... or a composite object's name.
    pub(super) list: String,
    /// The suffix and the enclosing `ifeq` blocks.
    pub(super) cond: Cond,
    pub(super) items: Vec<String>,
}

#[derive(Default)]
pub(super) struct Makefile {
    pub(super) entries: Vec<Entry>,
    pub(super) include_dirs: Vec<String>,
    /// `X-y` / `X-$(CONFIG_Y)` lists as `$(X-y)` sees them: each item
    /// with the condition under which it is in the list (`:=` replaces
    /// what came before, under its own condition).
    pub(super) lists: HashMap<String, Vec<(String, Cond)>>,
}

/// The condition under which an assignment to `X-<suffix>` lands in `X-y`.
fn lands_in_y(sc: &Cond) -> Cond {
    match sc {
        Cond::Tri(s) => Cond::Y(s.clone()),
        Cond::Mod => Cond::False,
        c => c.clone(),
    }
}

/// `dir` + relative `item`, normalized (`a/b` + `../c/` = `a/c`).
pub(super) fn join(dir: &str, item: &str) -> String {
    let mut parts: Vec<&str> = if dir.is_empty() {
        Vec::new()
    } else {
        dir.split('/').filter(|s| !s.is_empty()).collect()
    };
    for p in item.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return "..".into();
                }
            }
            x => parts.push(x),
        }
    }
    parts.join("/")
}

/// The Makefile at `rel`, with `vars` as make sees them on entry; None
/// when there is no such file.
pub(super) fn parse_file(
    tree: &Tree<'_>,
    rel: &str,
    vars: &HashMap<String, String>,
) -> Option<Makefile> {
    let text = (tree.read)(rel)?;
    let mut mk = Makefile::default();
    let mut vars = vars.clone();
    parse_text(tree, &text, &mut vars, &mut mk, 0);
    Some(mk)
}

struct Frame {
    cur: Cond,
    taken: Vec<Cond>,
    /// How many `endif`s this frame needs (`else ifeq` nests without one).
    extra: Vec<Cond>,
}

fn parse_text(
    tree: &Tree<'_>,
    text: &str,
    vars: &mut HashMap<String, String>,
    mk: &mut Makefile,
    depth: usize,
) {
    let mut stack: Vec<Frame> = Vec::new();
    let mut in_rule = false;
    for line in make::logical_lines(text) {
        if line.starts_with('\t') && in_rule {
            continue;
        }
        let t = make::strip_comment(&line).trim();
        if t.is_empty() {
            continue;
        }
        let cur = || {
            Cond::and(
                stack
                    .iter()
                    .flat_map(|f| f.extra.iter().cloned().chain([f.cur.clone()])),
            )
        };
        match make::directive(t) {
            Some(Directive::If(kind, args)) => {
                let c = make_cond(kind, args, vars);
                stack.push(Frame {
                    cur: c.clone(),
                    taken: vec![Cond::not(c)],
                    extra: Vec::new(),
                });
                in_rule = false;
                continue;
            }
            Some(Directive::Else(rest)) => {
                if let Some(f) = stack.last_mut() {
                    let neg = Cond::and(f.taken.iter().cloned());
                    if rest.is_empty() {
                        f.cur = neg;
                    } else {
                        let c = match make::conditional(rest) {
                            Some((kind, args)) => make_cond(kind, args, vars),
                            None => {
                                let (w, r) =
                                    rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
                                Cond::Opaque(format!("{w} {}", r.trim()))
                            }
                        };
                        f.cur = Cond::and([neg, c.clone()]);
                        f.taken.push(Cond::not(c));
                    }
                }
                continue;
            }
            Some(Directive::Endif) => {
                stack.pop();
                continue;
            }
            Some(Directive::Include { files, .. }) if depth < 4 => {
                for inc in files.split_whitespace() {
                    let p = expand_vars(inc, vars);
                    let p = p.trim_start_matches("./");
                    let p = join("", p);
                    if let Some(t2) = (tree.read)(&p) {
                        // Included text is parsed under the current blocks.
                        let base = cur();
                        let before = mk.entries.len();
                        parse_text(tree, &t2, vars, mk, depth + 1);
                        for e in &mut mk.entries[before..] {
                            e.cond = Cond::and([base.clone(), e.cond.clone()]);
                        }
                    }
                }
                continue;
            }
            _ => {}
        }
        let Some(a) = make::computed_assignment(t) else {
            // A rule line starts a recipe context.
            in_rule = !line.starts_with('\t') && t.contains(':');
            continue;
        };
        in_rule = false;
        let (lhs, op, rhs) = (a.name, a.op, a.value);
        let rhs_expanded = expand_vars(rhs, vars);
        // Plain variables feed later `$(var)` references.
        if !lhs.contains('$') {
            let v = vars.entry(lhs.to_string()).or_default();
            if op == "+=" {
                v.push(' ');
                v.push_str(&rhs_expanded);
            } else {
                *v = rhs_expanded.clone();
            }
        }
        if lhs.starts_with("ccflags-")
            || lhs.starts_with("subdir-ccflags-")
            || lhs == "EXTRA_CFLAGS"
        {
            let src = vars.get("src").cloned().unwrap_or_default();
            let mut words = rhs.split_whitespace();
            while let Some(w) = words.next() {
                let p = match w.strip_prefix("-I") {
                    Some("") => words.next().unwrap_or(""),
                    Some(p) => p,
                    None => continue,
                };
                let p = p
                    .replace("$(srctree)/", "")
                    .replace("$(src)", &src)
                    .replace("$(obj)", &src);
                if !p.contains('$') && !p.is_empty() {
                    let p = join("", &p);
                    if !mk.include_dirs.contains(&p) {
                        mk.include_dirs.push(p);
                    }
                }
            }
            continue;
        }
        let Some((list, sfx)) = split_list(lhs) else {
            continue;
        };
        let Some(sc) = suffix_cond(sfx) else { continue };
        let base = Cond::and([cur(), sc.clone()]);
        // `$(X-y)` references to conditional lists keep their conditions.
        let mut items: Vec<String> = Vec::new();
        let mut cond_items: Vec<(String, Cond)> = Vec::new();
        for w in rhs.split_whitespace() {
            let listref = make::reference(w).and_then(|r| {
                r.strip_suffix("-y")
                    .or_else(|| r.strip_suffix("-objs"))
                    .filter(|n| mk.lists.contains_key(*n))
            });
            if let Some(name) = listref {
                cond_items.extend(mk.lists[name].iter().cloned());
            } else if w.starts_with("$(ARCH_") {
                items.push(w.to_string());
            } else {
                items.extend(
                    expand_vars(w, vars)
                        .split_whitespace()
                        .filter(|s| s.ends_with(".o") || s.ends_with('/'))
                        .map(|s| s.to_string()),
                );
            }
        }
        if list != "obj" {
            let lc = Cond::and([cur(), lands_in_y(&sc)]);
            let l = mk.lists.entry(list.to_string()).or_default();
            if op != "+=" {
                for (_, c) in l.iter_mut() {
                    *c = Cond::and([c.clone(), Cond::not(lc.clone())]);
                }
            }
            l.extend(items.iter().map(|i| (i.clone(), lc.clone())));
            l.extend(
                cond_items
                    .iter()
                    .map(|(i, c)| (i.clone(), Cond::and([lc.clone(), c.clone()]))),
            );
        }
        for (it, c) in cond_items {
            mk.entries.push(Entry {
                list: list.to_string(),
                cond: Cond::and([base.clone(), c]),
                items: vec![it],
            });
        }
        if items.is_empty() {
            continue;
        }
        mk.entries.push(Entry {
            list: list.to_string(),
            cond: base,
            items,
        });
    }
}

/// `obj-$(CONFIG_X)` → (`obj`, `$(CONFIG_X)`); `ext4-y` → (`ext4`, `y`).
fn split_list(lhs: &str) -> Option<(&str, &str)> {
    // Whitespace only inside `$(...)` (`$(subst m,y,$(CONFIG_X))`).
    let mut depth = 0i32;
    for c in lhs.chars() {
        match c {
            '(' | '{' => depth += 1,
            ')' | '}' => depth -= 1,
            c if c.is_whitespace() && depth == 0 => return None,
            _ => {}
        }
    }
    if let Some(i) = lhs.find("-$(").or_else(|| lhs.find("-${")) {
        return Some((&lhs[..i], &lhs[i + 1..]));
    }
    let (a, b) = lhs.rsplit_once('-')?;
    if a.is_empty() {
        return None;
    }
    Some((a, b))
}

fn suffix_cond(sfx: &str) -> Option<Cond> {
    match sfx {
        "y" | "objs" => return Some(Cond::True),
        "m" => return Some(Cond::Mod),
        "n" | "" => return Some(Cond::False),
        _ => {}
    }
    let inner = make::reference(sfx)?;
    if let Some(s) = inner.strip_prefix("CONFIG_") {
        return Some(Cond::Tri(s.to_string()));
    }
    // `$(subst m,y,$(CONFIG_X))`: built in whenever X is on.
    if let Some(r) = inner.strip_prefix("subst m,y,") {
        if let Some(s) = make::reference(r.trim()).and_then(|x| x.strip_prefix("CONFIG_")) {
            return Some(Cond::Set(s.to_string()));
        }
    }
    // `$(if $(CONFIG_X),y)` and friends.
    if let Some(r) = inner.strip_prefix("if ") {
        let mut parts = r.splitn(2, ',');
        let c = parts.next().unwrap_or("").trim();
        let v = parts.next().unwrap_or("").trim();
        if let Some(s) = make::reference(c).and_then(|x| x.strip_prefix("CONFIG_")) {
            let base = Cond::Set(s.to_string());
            return Some(match v {
                "y" => base,
                "m" => Cond::and([base, Cond::Mod]),
                _ => Cond::Opaque(sfx.to_string()),
            });
        }
    }
    Some(Cond::Opaque(sfx.to_string()))
}

/// Expands `$(VAR)` for variables we know (not CONFIG_ ones, whose value
/// is the question).
fn expand_vars(s: &str, vars: &HashMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = s;
    let mut guard = 0;
    while let Some(i) = rest.find("$(") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let Some(j) = after.find(')') else {
            out.push_str(&rest[i..]);
            return out;
        };
        let name = &after[..j];
        match vars.get(name) {
            Some(v) if !name.starts_with("CONFIG_") && guard < 64 => {
                guard += 1;
                out.push_str(v)
            }
            _ => out.push_str(&rest[i..i + 3 + j]),
        }
        rest = &after[j + 1..];
    }
    out.push_str(rest);
    out
}

/// An `ifeq`/`ifdef` line as a condition on options.
fn make_cond(kind: IfKind, rest: &str, vars: &HashMap<String, String>) -> Cond {
    match kind {
        IfKind::Def | IfKind::Ndef => {
            let name = rest.trim();
            let c = match name.strip_prefix("CONFIG_") {
                Some(s) => Cond::Set(s.to_string()),
                None => match vars.get(name) {
                    Some(v) if !v.trim().is_empty() => Cond::True,
                    _ => Cond::Opaque(format!("ifdef {name}")),
                },
            };
            if kind == IfKind::Ndef {
                Cond::not(c)
            } else {
                c
            }
        }
        IfKind::Eq | IfKind::Neq => {
            let opaque = || Cond::Opaque(format!("{} {rest}", kind.keyword()));
            let Some((a, b)) = make::ifeq_operands(rest) else {
                return opaque();
            };
            let c = eq_cond(&expand_vars(&a, vars), &expand_vars(&b, vars)).unwrap_or_else(opaque);
            if kind == IfKind::Neq {
                match c {
                    Cond::Opaque(_) => c,
                    c => Cond::not(c),
                }
            } else {
                c
            }
        }
    }
}

/// `$(CONFIG_A)$(CONFIG_B)` compared with `y`, `m` or empty.
fn eq_cond(a: &str, b: &str) -> Option<Cond> {
    let (refs, lit) = if a.contains("$(CONFIG_") {
        (a, b)
    } else if b.contains("$(CONFIG_") {
        (b, a)
    } else {
        // Two known strings: decide now.
        if a.contains("$(") || b.contains("$(") {
            return None;
        }
        return Some(if a.trim() == b.trim() {
            Cond::True
        } else {
            Cond::False
        });
    };
    let mut syms = Vec::new();
    let mut rest = refs.trim();
    while !rest.is_empty() {
        let r = rest.strip_prefix("$(CONFIG_")?;
        let j = r.find(')')?;
        syms.push(r[..j].to_string());
        rest = r[j + 1..].trim_start();
    }
    let lit = lit.trim();
    match (syms.len(), lit) {
        (_, "") => Some(Cond::and(syms.into_iter().map(|s| Cond::not(Cond::Set(s))))),
        (1, "y") => Some(Cond::Y(syms.remove(0))),
        (1, "m") => Some(Cond::M(syms.remove(0))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(files: &[(&str, &str)]) -> Makefile {
        let map: HashMap<&str, &str> = files.iter().copied().collect();
        let read = |rel: &str| map.get(rel).map(|t| t.to_string());
        let is_file = |rel: &str| map.contains_key(rel);
        let tree = Tree {
            read: &read,
            is_file: &is_file,
        };
        parse_file(&tree, "Makefile", &HashMap::new()).unwrap()
    }

    fn entries(mk: &Makefile) -> Vec<(String, String, String)> {
        mk.entries
            .iter()
            .map(|e| (e.list.clone(), e.cond.to_string(), e.items.join(" ")))
            .collect()
    }

    #[test]
    fn blocks_includes_and_variables() {
        let mk = parse(&[
            (
                "Makefile",
                "ifeq ($(CONFIG_A),y)\nobj-y += a.o\nelse ifdef CONFIG_B\nobj-y += b.o\nelse\nobj-y += c.o\nendif\n\
                 ifdef CONFIG_C\ninclude inc.mk\nendif\n\
                 objs := d.o \\\n  e.o # comment\nobj-$(CONFIG_D) += $(objs)\n\
                 x.o: x.c\n\tobj-y += not-a-list.o\n",
            ),
            ("inc.mk", "obj-$(CONFIG_I) += i.o\n"),
        ]);
        assert_eq!(
            entries(&mk),
            vec![
                ("obj".into(), "A=y".into(), "a.o".into()),
                ("obj".into(), "!A=y && B!=n".into(), "b.o".into()),
                ("obj".into(), "!A=y && !B!=n".into(), "c.o".into()),
                ("obj".into(), "C!=n && I".into(), "i.o".into()),
                ("obj".into(), "D".into(), "d.o e.o".into()),
            ]
        );
        assert!(parse(&[("Makefile", "obj-y += a.o\n")])
            .include_dirs
            .is_empty());
    }
}
