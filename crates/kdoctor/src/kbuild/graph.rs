//! The descent: from the root `Kbuild` (and the architecture's
//! `core-y`/`drivers-y`/`libs-y`) through every `obj-$(CONFIG_X) += dir/`,
//! each directory's guard the OR over every way Kbuild reaches it, each
//! file's the AND of its directory's and its list entry's.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use super::makefile::{join, parse_file, Entry, Tree};
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

/// Reads the makefiles of `tree` for `srcarch`.
pub fn walk_tree(tree: &Tree<'_>, arch: &str, srcarch: &str) -> Kbuild {
    let mut kb = Kbuild::default();
    let mut vars: HashMap<String, String> = HashMap::new();
    vars.insert("ARCH".into(), arch.into());
    vars.insert("SRCARCH".into(), srcarch.into());
    vars.insert("srctree".into(), ".".into());

    // The architecture's top-level objects: ARCH_CORE, ARCH_LIB,
    // ARCH_DRIVERS in the root Kbuild.
    let arch_mk = parse_file(tree, &format!("arch/{srcarch}/Makefile"), &vars);
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
            parse_file(tree, "Kbuild", &dvars)
        } else {
            parse_file(tree, &format!("{dir}/Kbuild"), &dvars)
                .or_else(|| parse_file(tree, &format!("{dir}/Makefile"), &dvars))
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
            if (tree.is_file)(&f) {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Walks an in-memory tree.
    fn walk_files(files: &[(&str, &str)]) -> Kbuild {
        let map: HashMap<&str, &str> = files.iter().copied().collect();
        let read = |rel: &str| map.get(rel).map(|t| t.to_string());
        let is_file = |rel: &str| map.contains_key(rel);
        walk_tree(
            &Tree {
                read: &read,
                is_file: &is_file,
            },
            "x86_64",
            "x86",
        )
    }

    #[test]
    fn nesting_composites_and_blocks() {
        let kb = walk_files(&[
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
