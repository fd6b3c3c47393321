//! Guards of files: through Kbuild, and through `#include "x.c"` (unity
//! builds) and local headers, where a file gets its includer's guard AND
//! the `#if` around the include line.

use std::collections::HashMap;

use super::facts::ArchFacts;
use crate::cond::Cond;
use crate::{cpp, kbuild, scan};

/// Quoted `#include`s of a file, resolved relative to it.
pub(super) fn quoted_includes(path: &str, bytes: &[u8]) -> Vec<(String, u32)> {
    let mut out = Vec::new();
    if memchr::memmem::find(bytes, b"include").is_none() {
        return out;
    }
    let dir = path.rsplit_once('/').map(|x| x.0).unwrap_or("");
    for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
        let l = line.trim_ascii_start();
        let Some(rest) = l.strip_prefix(b"#") else {
            continue;
        };
        let rest = rest.trim_ascii_start();
        let Some(rest) = rest.strip_prefix(b"include") else {
            continue;
        };
        let rest = rest.trim_ascii_start();
        let Some(rest) = rest.strip_prefix(b"\"") else {
            continue;
        };
        let Some(end) = memchr::memchr(b'"', rest) else {
            continue;
        };
        let inc = String::from_utf8_lossy(&rest[..end]);
        out.push((scan::normalize(&format!("{dir}/{inc}")), i as u32 + 1));
    }
    out
}

/// Guards of files, through Kbuild and through `#include "x.c"` / local
/// headers.
pub(super) struct GuardResolver<'a> {
    kb: &'a kbuild::Kbuild,
    includers: &'a HashMap<String, Vec<(String, u32)>>,
    memo: HashMap<String, Cond>,
    /// Conditions of include lines in includer files.
    pp_cache: HashMap<String, HashMap<u32, Cond>>,
    /// Reads a file of the tree (lossily UTF-8).
    read: &'a dyn Fn(&str) -> Option<String>,
    facts: &'a ArchFacts,
}

impl<'a> GuardResolver<'a> {
    pub(super) fn new(
        kb: &'a kbuild::Kbuild,
        includers: &'a HashMap<String, Vec<(String, u32)>>,
        read: &'a dyn Fn(&str) -> Option<String>,
        facts: &'a ArchFacts,
    ) -> GuardResolver<'a> {
        GuardResolver {
            kb,
            includers,
            memo: HashMap::new(),
            pp_cache: HashMap::new(),
            read,
            facts,
        }
    }

    pub(super) fn guard(&mut self, path: &str) -> Cond {
        self.guard_in(path, &mut Vec::new())
    }

    fn guard_in(&mut self, path: &str, stack: &mut Vec<String>) -> Cond {
        if let Some(c) = self.memo.get(path) {
            return c.clone();
        }
        if stack.iter().any(|p| p == path) || stack.len() > 8 {
            return Cond::False;
        }
        stack.push(path.to_string());
        let mut alts = vec![self.kb.files.get(path).cloned().unwrap_or(Cond::False)];
        let incs = self.includers.get(path).cloned().unwrap_or_default();
        for (inc, line) in incs {
            let g = self.guard_in(&inc, stack);
            if g == Cond::False {
                continue;
            }
            let at = self.include_cond(&inc, line);
            alts.push(Cond::and([g, at]));
        }
        stack.pop();
        let g = Cond::or(alts);
        self.memo.insert(path.to_string(), g.clone());
        g
    }

    fn include_cond(&mut self, file: &str, line: u32) -> Cond {
        if !self.pp_cache.contains_key(file) {
            let mut m = HashMap::new();
            if let Some(text) = (self.read)(file) {
                let pp = cpp::preprocess(&text, self.facts);
                for inc in &pp.includes {
                    m.insert(inc.line, pp.cond(inc.cond).clone());
                }
            }
            self.pp_cache.insert(file.to_string(), m);
        }
        self.pp_cache
            .get(file)
            .and_then(|m| m.get(&line))
            .cloned()
            .unwrap_or(Cond::True)
    }

    /// The object a file ends up in: its own, or its includer's.
    pub(super) fn module(&self, path: &str) -> Option<String> {
        let mut p = path.to_string();
        for _ in 0..4 {
            if let Some(m) = self.kb.modules.get(&p).and_then(|m| m.first()) {
                return Some(m.clone());
            }
            let inc = self.includers.get(&p)?.iter().find(|(i, _)| {
                self.memo.get(i).is_some_and(|c| *c != Cond::False) || self.kb.files.contains_key(i)
            })?;
            p = inc.0.clone();
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unity_builds_take_the_includers_guard_and_the_include_lines_if() {
        let kb = kbuild::Kbuild {
            files: [(
                "kernel/sched/build.c".to_string(),
                Cond::Tri("SCHED".into()),
            )]
            .into_iter()
            .collect(),
            modules: [(
                "kernel/sched/build.c".to_string(),
                vec!["sched".to_string()],
            )]
            .into_iter()
            .collect(),
            ..Default::default()
        };
        let unity = b"#include \"core.c\"\n#ifdef CONFIG_RT\n# include \"rt.c\"\n#endif\n";
        let incs = quoted_includes("kernel/sched/build.c", unity);
        assert_eq!(
            incs,
            vec![
                ("kernel/sched/core.c".to_string(), 1),
                ("kernel/sched/rt.c".to_string(), 3)
            ]
        );
        let mut includers: HashMap<String, Vec<(String, u32)>> = HashMap::new();
        for (inc, line) in incs {
            includers
                .entry(inc)
                .or_default()
                .push(("kernel/sched/build.c".to_string(), line));
        }
        let read = |p: &str| {
            (p == "kernel/sched/build.c").then(|| String::from_utf8_lossy(unity).into_owned())
        };
        let facts = ArchFacts::from_headers(Vec::new());
        let mut r = GuardResolver::new(&kb, &includers, &read, &facts);
        assert_eq!(r.guard("kernel/sched/core.c").to_string(), "SCHED");
        assert_eq!(r.guard("kernel/sched/rt.c").to_string(), "SCHED && RT=y");
        assert_eq!(r.guard("kernel/other.c"), Cond::False);
        assert_eq!(r.module("kernel/sched/rt.c").as_deref(), Some("sched"));
    }
}
