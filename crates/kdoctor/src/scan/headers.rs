//! The headers a file sees: quoted and `<...>` includes resolved as the
//! kernel's `-I` flags resolve them, each header parsed once per index
//! build (shared by the scanning threads), and the layered macro tables a
//! file's ID tables are expanded with. Files are read only through
//! [`Shared::read`].

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use super::decl::enum_constants;
use crate::cpp::{self, Layered, Macros, Preprocessed, Tok, TokKind};

/// Context shared by every file of a tree.
pub struct Shared<'a> {
    pub facts: &'a (dyn cpp::MacroFacts + Sync),
    pub macros: &'a Macros,
    /// Reads another file of the tree (local headers of a driver).
    pub read: &'a (dyn Fn(&str) -> Option<String> + Sync),
    /// The headers (`.h`, relative paths) in a directory.
    pub headers_in_dir: &'a (dyn Fn(&str) -> Vec<String> + Sync),
    pub srcarch: &'a str,
    pub headers: &'a HeaderCache,
    /// Extra `-I` directories for files in a directory (from its Makefile).
    pub include_dirs: &'a (dyn Fn(&str) -> Vec<String> + Sync),
}

/// A quoted include as the compiler finds it: next to the including
/// file, then in the Makefile's `-I` directories, then like `<...>`.
pub(super) fn resolve_quoted(
    sh: &Shared<'_>,
    from_dir: &str,
    inc: &str,
) -> Option<(String, Arc<Header>)> {
    let p = normalize(&format!("{from_dir}/{inc}"));
    if let Some(h) = header(sh, &p) {
        return Some((p, h));
    }
    resolve_angle(sh, from_dir, inc)
}

/// Appends a header's tokens as if included at `line` under `cond`.
pub(super) fn splice_header(
    out: &mut Vec<Tok>,
    sh: &Shared<'_>,
    dir: &str,
    inc: &str,
    line: u32,
    cond: u32,
) {
    let Some((path, _)) = resolve_quoted(sh, dir, inc) else {
        return;
    };
    if let Some(text) = (sh.read)(&path) {
        let hp = cpp::preprocess(&text, sh.facts);
        for mut t in cpp::tokens_of(&hp) {
            t.line = line;
            t.cond = cond;
            out.push(t);
        }
    }
}

pub(super) fn layered<'a>(sh: &'a Shared<'_>, hs: &'a [Arc<Header>], m: &'a Macros) -> Layered<'a> {
    let mut v: Vec<&Macros> = vec![sh.macros];
    v.extend(hs.iter().map(|h| &h.macros));
    v.push(m);
    Layered(v)
}

/// A header's own macros and includes, parsed once per index build.
pub struct Header {
    pub(super) macros: Macros,
    pub(super) includes: Vec<(bool, String)>,
}

/// Cache of parsed headers shared by the scanning threads.
pub type HeaderCache = Mutex<HashMap<String, Option<Arc<Header>>>>;

pub(super) fn header(sh: &Shared<'_>, path: &str) -> Option<Arc<Header>> {
    if let Ok(c) = sh.headers.lock() {
        if let Some(h) = c.get(path) {
            return h.clone();
        }
    }
    let h = (sh.read)(path).map(|text| {
        let pp = cpp::preprocess(&text, sh.facts);
        let mut macros = Macros::default();
        macros.add_defines(&pp.defines);
        Arc::new(Header {
            macros,
            includes: pp
                .includes
                .iter()
                .map(|i| (i.quoted, i.path.clone()))
                .collect(),
        })
    });
    if let Ok(mut c) = sh.headers.lock() {
        c.insert(path.to_string(), h.clone());
    }
    h
}

/// `<linux/x.h>` as the kernel's `-I` flags find it (the Makefile's own
/// `-I` directories for `from_dir` first).
pub(super) fn resolve_angle(
    sh: &Shared<'_>,
    from_dir: &str,
    p: &str,
) -> Option<(String, Arc<Header>)> {
    for d in (sh.include_dirs)(from_dir) {
        let c = normalize(&format!("{d}/{p}"));
        if let Some(h) = header(sh, &c) {
            return Some((c, h));
        }
    }
    let cands = [
        format!("arch/{}/include/{p}", sh.srcarch),
        format!("include/{p}"),
        format!("arch/{}/include/uapi/{p}", sh.srcarch),
        format!("include/uapi/{p}"),
    ];
    cands
        .into_iter()
        .find_map(|c| header(sh, &c).map(|h| (c, h)))
}

/// Macros a table in `path` can see: the shared ID headers, the headers
/// it includes (quoted ones next to it, a few levels; `<...>` ones two
/// levels, where vendor IDs of driver families live), sibling headers when
/// the table itself is in a header (its includer's context), enum
/// constants and its own defines. Returned bottom to top.
pub(super) fn file_layers(
    path: &str,
    pp: &Preprocessed,
    toks: &[Tok],
    module: Option<&str>,
    sh: &Shared<'_>,
) -> (Vec<Arc<Header>>, Macros) {
    let mut layers: Vec<Arc<Header>> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    seen.insert(path.to_string());
    // (includer path, quoted, as written, quoted depth, angle depth)
    let mut queue: std::collections::VecDeque<(String, bool, String, u8, u8)> = pp
        .includes
        .iter()
        .map(|i| (path.to_string(), i.quoted, i.path.clone(), 0, 0))
        .collect();
    if path.ends_with(".h") {
        for sib in (sh.headers_in_dir)(path.rsplit_once('/').map(|x| x.0).unwrap_or("")) {
            if seen.insert(sib.clone()) {
                if let Some(h) = header(sh, &sib) {
                    layers.push(h);
                }
            }
        }
    }
    while let Some((from, quoted, inc, qd, ad)) = queue.pop_front() {
        let dir = from.rsplit_once('/').map(|x| x.0).unwrap_or("");
        let found = if quoted {
            resolve_quoted(sh, dir, &inc)
        } else {
            resolve_angle(sh, dir, &inc)
        };
        let Some((p, h)) = found else { continue };
        if !seen.insert(p.clone()) {
            continue;
        }
        for (q, i) in &h.includes {
            let (nq, na) = if *q { (qd + 1, ad) } else { (qd, ad + 1) };
            if nq <= 4 && na <= 2 {
                queue.push_back((p.clone(), *q, i.clone(), nq, na));
            }
        }
        layers.push(h);
    }
    // Nearer headers must win over the ones they include.
    layers.reverse();
    let mut local = Macros::default();
    local.add_defines(&pp.defines);
    if let Some(module) = module {
        local
            .map
            .insert("KBUILD_MODNAME".into(), number_macro(TokKind::Str, module));
    }
    let enums = {
        let mut all: Vec<&Macros> = vec![sh.macros];
        all.extend(layers.iter().map(|h| &h.macros));
        all.push(&local);
        enum_constants(toks, &Layered(all))
    };
    for (name, v) in enums {
        local
            .map
            .entry(name)
            .or_insert_with(|| number_macro(TokKind::Number, &v.to_string()));
    }
    (layers, local)
}

pub(super) fn number_macro(kind: TokKind, text: &str) -> cpp::Macro {
    cpp::Macro {
        params: None,
        body: vec![Tok {
            kind,
            text: text.to_string(),
            line: 0,
            cond: 0,
        }],
    }
}

pub fn normalize(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for s in p.split('/') {
        match s {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            x => parts.push(x),
        }
    }
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalized() {
        assert_eq!(normalize("drivers/net/../scsi/./x.h"), "drivers/scsi/x.h");
        assert_eq!(normalize("/a//b/"), "a/b");
    }

    #[test]
    fn quoted_includes_fall_back_to_makefile_dirs_then_include() {
        let files = [
            ("drivers/x/local.h", "#define L 1\n"),
            ("drivers/common/c.h", "#define C 2\n"),
            ("include/linux/g.h", "#define G 3\n"),
        ];
        let read = |p: &str| {
            files
                .iter()
                .find(|(n, _)| *n == p)
                .map(|(_, t)| t.to_string())
        };
        let dirs = |d: &str| {
            if d == "drivers/x" {
                vec!["drivers/common".to_string()]
            } else {
                Vec::new()
            }
        };
        let none = |_: &str| Vec::new();
        let m = Macros::default();
        let cache = HeaderCache::default();
        let sh = Shared {
            facts: &cpp::NoFacts,
            macros: &m,
            read: &read,
            headers_in_dir: &none,
            srcarch: "x86",
            headers: &cache,
            include_dirs: &dirs,
        };
        let found = |inc: &str| resolve_quoted(&sh, "drivers/x", inc).map(|(p, _)| p);
        assert_eq!(found("local.h").as_deref(), Some("drivers/x/local.h"));
        assert_eq!(found("c.h").as_deref(), Some("drivers/common/c.h"));
        assert_eq!(found("linux/g.h").as_deref(), Some("include/linux/g.h"));
        assert_eq!(found("missing.h"), None);
        assert!(
            cache.lock().unwrap().contains_key("drivers/x/missing.h"),
            "misses are cached too"
        );
    }
}
