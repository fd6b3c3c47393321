//! Which options compile which source file, read from the Kbuild makefiles
//! the way Kbuild descends them: from the root `Kbuild` through every
//! `obj-$(CONFIG_X) += dir/`, with the architecture's `core-y`/`drivers-y`/
//! `libs-y`, composite objects (`foo-y := a.o b.o`, `foo-$(CONFIG_Y) += c.o`)
//! and `ifeq`/`ifdef` blocks. Nothing is run; a test we cannot read as
//! options is kept verbatim (see [`Cond::Opaque`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use crate::cond::Cond;

/// What the makefiles say about one tree and architecture.
#[derive(Clone, Debug, Default)]
pub struct Kbuild {
    /// Source file (relative, `fs/eventpoll.c`) to when it is compiled.
    pub files: HashMap<String, Cond>,
    /// Source file to the object(s) it is linked into: the module name
    /// when the object is built as `=m` (`e1000`, `virtio_net`).
    pub modules: HashMap<String, Vec<String>>,
    /// Directory (relative, `` for the root, `fs/ext4`) to its guard.
    pub dirs: BTreeMap<String, Cond>,
    /// Extra `-I` directories a Makefile gives its objects (`ccflags-y +=
    /// -I$(srctree)/drivers/...`), relative to the tree: quoted includes
    /// that are not next to the file are found there.
    pub include_dirs: HashMap<String, Vec<String>>,
    pub makefiles: usize,
}

#[derive(Clone, Debug)]
struct Entry {
    /// `obj`, `lib`, `core`, ... or a composite object's name.
    list: String,
    /// The suffix and the enclosing `ifeq` blocks.
    cond: Cond,
    items: Vec<String>,
}

#[derive(Default)]
struct Makefile {
    entries: Vec<Entry>,
    include_dirs: Vec<String>,
    /// `X-y` / `X-$(CONFIG_Y)` lists as `$(X-y)` sees them: each item
    /// with the condition under which it is in the list (`:=` replaces
    /// what came before, under its own condition).
    lists: HashMap<String, Vec<(String, Cond)>>,
}

/// The condition under which an assignment to `X-<suffix>` lands in `X-y`.
fn lands_in_y(sc: &Cond) -> Cond {
    match sc {
        Cond::Tri(s) => Cond::Y(s.clone()),
        Cond::Mod => Cond::False,
        c => c.clone(),
    }
}

/// Reads the makefiles of `root` for `srcarch`.
pub fn walk(root: &Path, arch: &str, srcarch: &str) -> Kbuild {
    let mut kb = Kbuild::default();
    let mut vars: HashMap<String, String> = HashMap::new();
    vars.insert("ARCH".into(), arch.into());
    vars.insert("SRCARCH".into(), srcarch.into());
    vars.insert("srctree".into(), ".".into());

    // The architecture's top-level objects: ARCH_CORE, ARCH_LIB,
    // ARCH_DRIVERS in the root Kbuild.
    let arch_mk = parse_file(root, &format!("arch/{srcarch}/Makefile"), &vars);
    let mut arch_lists: HashMap<&str, Vec<(String, Cond)>> = HashMap::new();
    arch_lists.insert("ARCH_LIB", vec![("lib/".into(), Cond::True)]);
    if let Some(mk) = &arch_mk {
        kb.makefiles += 1;
        for e in &mk.entries {
            let key = match e.list.as_str() {
                "core" => "ARCH_CORE",
                "drivers" => "ARCH_DRIVERS",
                "libs" => "ARCH_LIB",
                _ => continue,
            };
            for it in &e.items {
                if it.ends_with('/') {
                    arch_lists
                        .entry(key)
                        .or_default()
                        .push((it.clone(), e.cond.clone()));
                }
            }
        }
    }

    // Directory graph: parent dir -> (child dir, edge condition).
    let mut edges: Vec<(String, String, Cond)> = Vec::new();
    let mut file_entries: Vec<(String, String, Cond, String)> = Vec::new(); // dir, file, cond, module
    let mut seen: HashSet<String> = HashSet::new();
    let mut queue: Vec<String> = vec![String::new()];
    while let Some(dir) = queue.pop() {
        if !seen.insert(dir.clone()) {
            continue;
        }
        let mut dvars = vars.clone();
        dvars.insert("src".into(), dir.trim_end_matches('/').to_string());
        dvars.insert("obj".into(), dir.trim_end_matches('/').to_string());
        let mk = if dir.is_empty() {
            parse_file(root, "Kbuild", &dvars)
        } else {
            parse_file(root, &format!("{dir}/Kbuild"), &dvars)
                .or_else(|| parse_file(root, &format!("{dir}/Makefile"), &dvars))
        };
        let Some(mut mk) = mk else { continue };
        kb.makefiles += 1;
        if !mk.include_dirs.is_empty() {
            kb.include_dirs
                .insert(dir.clone(), std::mem::take(&mut mk.include_dirs));
        }
        if dir.is_empty() {
            // Substitute the arch lists the top Makefile exports.
            let mut extra = Vec::new();
            for e in &mut mk.entries {
                let mut keep = Vec::new();
                for it in std::mem::take(&mut e.items) {
                    if let Some(list) = it
                        .strip_prefix("$(")
                        .and_then(|x| x.strip_suffix(')'))
                        .and_then(|k| arch_lists.get(k))
                    {
                        for (d, c) in list {
                            extra.push(Entry {
                                list: e.list.clone(),
                                cond: Cond::and([e.cond.clone(), c.clone()]),
                                items: vec![d.clone()],
                            });
                        }
                    } else {
                        keep.push(it);
                    }
                }
                e.items = keep;
            }
            mk.entries.extend(extra);
        }
        let composite: HashMap<&str, Vec<&Entry>> = {
            let mut m: HashMap<&str, Vec<&Entry>> = HashMap::new();
            for e in &mk.entries {
                if !is_link_list(&e.list) {
                    m.entry(e.list.as_str()).or_default().push(e);
                }
            }
            m
        };
        for e in mk.entries.iter().filter(|e| is_link_list(&e.list)) {
            for it in &e.items {
                if it.ends_with('/') {
                    let child = join(&dir, it);
                    if child.is_empty() || child.starts_with("..") {
                        continue;
                    }
                    edges.push((dir.clone(), child.clone(), e.cond.clone()));
                    queue.push(child);
                } else if let Some(stem) = it.strip_suffix(".o") {
                    let module = Path::new(stem)
                        .file_name()
                        .map(|s| s.to_string_lossy().replace('-', "_"))
                        .unwrap_or_default();
                    match composite.get(stem) {
                        Some(parts) => {
                            for p in parts {
                                for part in &p.items {
                                    if let Some(ps) = part.strip_suffix(".o") {
                                        file_entries.push((
                                            dir.clone(),
                                            join(&dir, ps),
                                            Cond::and([e.cond.clone(), p.cond.clone()]),
                                            module.clone(),
                                        ));
                                    }
                                }
                            }
                        }
                        None => file_entries.push((
                            dir.clone(),
                            join(&dir, stem),
                            e.cond.clone(),
                            module,
                        )),
                    }
                }
            }
        }
    }

    // Guards of directories: OR over every way Kbuild reaches them.
    let mut parents: HashMap<String, Vec<(String, Cond)>> = HashMap::new();
    for (p, c, cond) in &edges {
        parents
            .entry(c.clone())
            .or_default()
            .push((p.clone(), cond.clone()));
    }
    let mut memo: HashMap<String, Cond> = HashMap::new();
    for d in &seen {
        let g = dir_guard(d, &parents, &mut memo, &mut Vec::new());
        kb.dirs.insert(d.clone(), g);
    }
    for (dir, stem, cond, module) in file_entries {
        let dg = kb.dirs.get(&dir).cloned().unwrap_or(Cond::False);
        let g = Cond::and([dg, cond]);
        for ext in ["c", "S"] {
            let f = format!("{stem}.{ext}");
            if root.join(&f).is_file() {
                let cur = kb.files.remove(&f).unwrap_or(Cond::False);
                kb.files.insert(f.clone(), Cond::or([cur, g.clone()]));
                let mods = kb.modules.entry(f).or_default();
                if !mods.contains(&module) {
                    mods.push(module.clone());
                }
                break;
            }
        }
    }
    kb
}

fn is_link_list(l: &str) -> bool {
    matches!(l, "obj" | "lib" | "core" | "drivers" | "libs")
}

fn dir_guard(
    d: &str,
    parents: &HashMap<String, Vec<(String, Cond)>>,
    memo: &mut HashMap<String, Cond>,
    path: &mut Vec<String>,
) -> Cond {
    if d.is_empty() {
        return Cond::True;
    }
    if let Some(c) = memo.get(d) {
        return c.clone();
    }
    if path.iter().any(|p| p == d) {
        return Cond::False;
    }
    path.push(d.to_string());
    let mut alts = Vec::new();
    for (p, c) in parents.get(d).map(|v| v.as_slice()).unwrap_or(&[]) {
        let pg = dir_guard(p, parents, memo, path);
        alts.push(Cond::and([pg, c.clone()]));
    }
    path.pop();
    let g = Cond::or(alts);
    memo.insert(d.to_string(), g.clone());
    g
}

/// `dir` + relative `item`, normalized (`a/b` + `../c/` = `a/c`).
fn join(dir: &str, item: &str) -> String {
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

fn parse_file(root: &Path, rel: &str, vars: &HashMap<String, String>) -> Option<Makefile> {
    let text = std::fs::read(root.join(rel)).ok()?;
    let text = String::from_utf8_lossy(&text);
    let mut mk = Makefile::default();
    let mut vars = vars.clone();
    parse_text(root, &text, &mut vars, &mut mk, 0);
    Some(mk)
}

struct Frame {
    cur: Cond,
    taken: Vec<Cond>,
    /// How many `endif`s this frame needs (`else ifeq` nests without one).
    extra: Vec<Cond>,
}

fn parse_text(
    root: &Path,
    text: &str,
    vars: &mut HashMap<String, String>,
    mk: &mut Makefile,
    depth: usize,
) {
    let mut stack: Vec<Frame> = Vec::new();
    let mut in_rule = false;
    let mut joined = String::new();
    let mut logical: Vec<String> = Vec::new();
    for raw in text.lines() {
        if let Some(b) = raw.strip_suffix('\\') {
            joined.push_str(b);
            joined.push(' ');
            continue;
        }
        joined.push_str(raw);
        logical.push(std::mem::take(&mut joined));
    }
    if !joined.is_empty() {
        logical.push(joined);
    }
    for line in logical {
        if line.starts_with('\t') && in_rule {
            continue;
        }
        let line = strip_make_comment(&line);
        let t = line.trim();
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
        let (word, rest) = t.split_once(char::is_whitespace).unwrap_or((t, ""));
        match word {
            "ifeq" | "ifneq" | "ifdef" | "ifndef" => {
                let c = make_cond(word, rest.trim(), vars);
                stack.push(Frame {
                    cur: c.clone(),
                    taken: vec![Cond::not(c)],
                    extra: Vec::new(),
                });
                in_rule = false;
                continue;
            }
            "else" => {
                if let Some(f) = stack.last_mut() {
                    let rest = rest.trim();
                    let neg = Cond::and(f.taken.iter().cloned());
                    if rest.is_empty() {
                        f.cur = neg;
                    } else {
                        let (w2, r2) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
                        let c = make_cond(w2, r2.trim(), vars);
                        f.cur = Cond::and([neg, c.clone()]);
                        f.taken.push(Cond::not(c));
                    }
                }
                continue;
            }
            "endif" => {
                stack.pop();
                continue;
            }
            "include" | "-include" | "sinclude" if depth < 4 => {
                for inc in rest.split_whitespace() {
                    let p = expand_vars(inc, vars);
                    let p = p.trim_start_matches("./");
                    let p = join("", p);
                    if let Ok(t2) = std::fs::read(root.join(&p)) {
                        let t2 = String::from_utf8_lossy(&t2).into_owned();
                        // Included text is parsed under the current blocks.
                        let base = cur();
                        let before = mk.entries.len();
                        parse_text(root, &t2, vars, mk, depth + 1);
                        for e in &mut mk.entries[before..] {
                            e.cond = Cond::and([base.clone(), e.cond.clone()]);
                        }
                    }
                }
                continue;
            }
            _ => {}
        }
        let Some((lhs, op, rhs)) = split_assignment(t) else {
            // A rule line starts a recipe context.
            in_rule = !line.starts_with('\t') && t.contains(':');
            continue;
        };
        in_rule = false;
        let lhs = lhs.trim();
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
            let listref = strip_ref(w).and_then(|r| {
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

fn strip_make_comment(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut prev = ' ';
    for c in line.chars() {
        if c == '#' && prev != '\\' {
            break;
        }
        out.push(c);
        prev = c;
    }
    out
}

fn split_assignment(t: &str) -> Option<(&str, &'static str, &str)> {
    for op in [":=", "+=", "?=", "::="] {
        if let Some(i) = find_top(t, op) {
            return Some((&t[..i], op, t[i + op.len()..].trim()));
        }
    }
    let i = find_top(t, "=")?;
    // `ifeq`-less comparisons like `a == b` are not assignments.
    if t[i..].starts_with("==") || t[..i].ends_with(['!', ':', '+', '?']) {
        return None;
    }
    Some((&t[..i], "=", t[i + 1..].trim()))
}

/// First occurrence of `pat` outside `$(...)`.
fn find_top(t: &str, pat: &str) -> Option<usize> {
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
    let inner = strip_ref(sfx)?;
    if let Some(s) = inner.strip_prefix("CONFIG_") {
        return Some(Cond::Tri(s.to_string()));
    }
    // `$(subst m,y,$(CONFIG_X))`: built in whenever X is on.
    if let Some(r) = inner.strip_prefix("subst m,y,") {
        if let Some(s) = strip_ref(r.trim()).and_then(|x| x.strip_prefix("CONFIG_")) {
            return Some(Cond::Set(s.to_string()));
        }
    }
    // `$(if $(CONFIG_X),y)` and friends.
    if let Some(r) = inner.strip_prefix("if ") {
        let mut parts = r.splitn(2, ',');
        let c = parts.next().unwrap_or("").trim();
        let v = parts.next().unwrap_or("").trim();
        if let Some(s) = strip_ref(c).and_then(|x| x.strip_prefix("CONFIG_")) {
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

fn strip_ref(s: &str) -> Option<&str> {
    s.strip_prefix("$(")
        .and_then(|x| x.strip_suffix(')'))
        .or_else(|| s.strip_prefix("${").and_then(|x| x.strip_suffix('}')))
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
fn make_cond(word: &str, rest: &str, vars: &HashMap<String, String>) -> Cond {
    match word {
        "ifdef" | "ifndef" => {
            let name = rest.trim();
            let c = match name.strip_prefix("CONFIG_") {
                Some(s) => Cond::Set(s.to_string()),
                None => match vars.get(name) {
                    Some(v) if !v.trim().is_empty() => Cond::True,
                    _ => Cond::Opaque(format!("ifdef {name}")),
                },
            };
            if word == "ifndef" {
                Cond::not(c)
            } else {
                c
            }
        }
        "ifeq" | "ifneq" => {
            let Some((a, b)) = split_eq_args(rest) else {
                return Cond::Opaque(format!("{word} {rest}"));
            };
            let c = eq_cond(&expand_vars(&a, vars), &expand_vars(&b, vars))
                .unwrap_or_else(|| Cond::Opaque(format!("{word} {rest}")));
            if word == "ifneq" {
                match c {
                    Cond::Opaque(_) => c,
                    c => Cond::not(c),
                }
            } else {
                c
            }
        }
        _ => Cond::Opaque(format!("{word} {rest}")),
    }
}

fn split_eq_args(rest: &str) -> Option<(String, String)> {
    let r = rest.trim();
    if let Some(inner) = r.strip_prefix('(').and_then(|x| x.strip_suffix(')')) {
        let i = find_top(inner, ",")?;
        return Some((
            inner[..i].trim().to_string(),
            inner[i + 1..].trim().to_string(),
        ));
    }
    // ifeq "a" "b" / 'a' 'b'
    let q = r.chars().next()?;
    if q != '"' && q != '\'' {
        return None;
    }
    let mut parts = r.split(q).filter(|s| !s.trim().is_empty());
    let a = parts.next()?.to_string();
    let b = parts.next().unwrap_or("").to_string();
    Some((a, b))
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

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for (p, t) in files {
            let p = d.path().join(p);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, t).unwrap();
        }
        d
    }

    #[test]
    fn nesting_composites_and_blocks() {
        let d = tree(&[
            ("Kbuild", "obj-y += fs/\nobj-$(CONFIG_NET) += net/\nobj-y += $(ARCH_DRIVERS)\nobj-$(subst m,y,$(CONFIG_MMC)) += mmc/\n"),
            ("mmc/Makefile", "obj-y += host/sd.o\n"),
            ("mmc/host/sd.c", ""),
            ("arch/x86/Makefile", "drivers-$(CONFIG_PCI) += arch/x86/pci/\n"),
            ("arch/x86/pci/Makefile", "obj-y += common.o\n"),
            ("arch/x86/pci/common.c", ""),
            ("fs/Makefile", "mmu-y := nommu.o\nmmu-$(CONFIG_MMU) := mlock.o\nobj-y += $(mmu-y)\nobj-$(CONFIG_EPOLL) += eventpoll.o\nobj-$(CONFIG_EXT4_FS) += ext4/\nifeq ($(CONFIG_POSIX_TIMERS),y)\nobj-y += timers.o\nelse\nobj-y += stubs.o\nendif\n"),
            ("fs/eventpoll.c", ""),
            ("fs/mlock.c", ""),
            ("fs/nommu.c", ""),
            ("fs/timers.c", ""),
            ("fs/stubs.c", ""),
            ("fs/ext4/Makefile", "obj-$(CONFIG_EXT4_FS) += ext4.o\next4-y := super.o \\\n  inode.o\next4-$(CONFIG_EXT4_FS_POSIX_ACL) += acl.o\n"),
            ("fs/ext4/super.c", ""),
            ("fs/ext4/inode.c", ""),
            ("fs/ext4/acl.c", ""),
            ("net/Makefile", "obj-y := socket.o\nobj-$(CONFIG_UNIX) += unix/\n"),
            ("net/socket.c", ""),
            ("net/unix/Makefile", "ccflags-y += -I$(srctree)/include/x -I $(src)/../inc\nobj-$(CONFIG_UNIX) += unix.o\nunix-y := af_unix.o\n"),
            ("net/unix/af_unix.c", ""),
        ]);
        let kb = walk(d.path(), "x86_64", "x86");
        let g = |f: &str| kb.files.get(f).map(|c| c.to_string()).unwrap_or_default();
        assert_eq!(g("fs/eventpoll.c"), "EPOLL");
        assert_eq!(g("mmc/host/sd.c"), "MMC!=n");
        assert_eq!(g("fs/mlock.c"), "MMU=y");
        assert_eq!(g("fs/nommu.c"), "!MMU=y");
        assert_eq!(g("fs/ext4/inode.c"), "EXT4_FS");
        assert_eq!(g("fs/ext4/acl.c"), "EXT4_FS && EXT4_FS_POSIX_ACL");
        assert_eq!(g("fs/timers.c"), "POSIX_TIMERS=y");
        assert_eq!(g("fs/stubs.c"), "!POSIX_TIMERS=y");
        assert_eq!(g("net/socket.c"), "NET");
        assert_eq!(g("net/unix/af_unix.c"), "NET && UNIX");
        assert_eq!(g("arch/x86/pci/common.c"), "PCI");
        assert_eq!(kb.modules["fs/ext4/acl.c"], vec!["ext4".to_string()]);
        assert_eq!(
            kb.include_dirs["net/unix"],
            vec!["include/x".to_string(), "net/inc".to_string()]
        );
    }
}
