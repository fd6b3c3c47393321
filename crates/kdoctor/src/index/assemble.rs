//! From scanned files to an index, without touching the disk except
//! through the reader it is given: each hit gets its file's guard (Kbuild,
//! includers) AND its `#if` condition, ID tables count only when a driver
//! registers them, syscalls are ORed over their definitions.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::facts::ArchFacts;
use super::guard::GuardResolver;
use super::model::{
    Family, Filesystem, Index, Message, PciId, Site, Stats, Syscall, VirtioId, FORMAT,
};
use crate::cond::Cond;
use crate::kbuild;
use crate::scan::{self, FileScan};

/// Which tree and architecture an index is of.
pub(super) struct Tree<'a> {
    /// The tree's path as recorded (`Index::tree`).
    pub root: &'a str,
    pub kernelversion: &'a str,
    pub arch: &'a str,
    pub srcarch: &'a str,
}

/// One file read and scanned.
pub(super) struct FileResult {
    pub path: String,
    /// Quoted includes, resolved relative to the file.
    pub includes: Vec<(String, u32)>,
    pub scan: Option<FileScan>,
}

/// Every file read, sorted by path, and how many were listed.
pub(super) struct Files {
    pub listed: usize,
    pub results: Vec<FileResult>,
}

/// The index of what the files say (`stats.build_ms` is the caller's).
pub(super) fn assemble(
    tree: &Tree<'_>,
    kb: &kbuild::Kbuild,
    facts: &ArchFacts,
    files: &Files,
    read: &dyn Fn(&str) -> Option<String>,
) -> Index {
    let results = &files.results;

    // Who includes whom (for unity builds and tables in headers).
    let mut includers: HashMap<String, Vec<(String, u32)>> = HashMap::new();
    for r in results {
        for (inc, line) in &r.includes {
            includers
                .entry(inc.clone())
                .or_default()
                .push((r.path.clone(), *line));
        }
    }
    let mut resolver = GuardResolver::new(kb, &includers, read, facts);

    let mut stats = Stats {
        makefiles: kb.makefiles,
        dirs: kb.dirs.len(),
        source_files: files.listed,
        files_read: results.len(),
        ..Default::default()
    };
    let families = scan::address_families(read);
    let virtio_names: BTreeMap<u32, String> = scan::virtio_names(read).into_iter().collect();
    let mut cond_syscalls: HashSet<(String, bool)> = HashSet::new();
    let mut sys_sites: BTreeMap<(String, bool), Vec<Site>> = BTreeMap::new();
    let mut idx = Index {
        format: FORMAT,
        kernelversion: tree.kernelversion.to_string(),
        arch: tree.arch.to_string(),
        srcarch: tree.srcarch.to_string(),
        tree: tree.root.to_string(),
        stats: Stats::default(),
        syscalls: Vec::new(),
        filesystems: Vec::new(),
        families: Vec::new(),
        family_numbers: families.clone(),
        pci: Vec::new(),
        virtio: Vec::new(),
        virtio_names,
        messages: Vec::new(),
        files: BTreeMap::new(),
    };
    let mut tables: HashSet<(String, String)> = HashSet::new();
    // Which ID tables drivers use: referenced by MODULE_DEVICE_TABLE or
    // a driver's .id_table, in the file or a file that includes it.
    let scans: HashMap<&str, &FileScan> = results
        .iter()
        .filter_map(|r| r.scan.as_ref().map(|s| (r.path.as_str(), s)))
        .collect();
    let includes_of: HashMap<&str, &Vec<(String, u32)>> = results
        .iter()
        .map(|r| (r.path.as_str(), &r.includes))
        .collect();
    let used = |path: &str, table: &str, kind: &str| -> bool {
        // The file, who includes it, and what it includes (echoaudio's
        // boards include the common driver that registers the table).
        let mut files = vec![path.to_string()];
        if let Some(incs) = includers.get(path) {
            files.extend(incs.iter().map(|(p, _)| p.clone()));
        }
        if let Some(incs) = includes_of.get(path) {
            files.extend(incs.iter().map(|(p, _)| p.clone()));
        }
        files.iter().filter_map(|f| scans.get(f.as_str())).any(|s| {
            let driver = if kind == "pci" {
                s.has_pci_driver
            } else {
                s.has_virtio_driver
            };
            s.table_refs
                .iter()
                .any(|(k, n)| n == table && (k == kind || (k == "id_table" && driver)))
        })
    };
    for r in results {
        let Some(s) = &r.scan else { continue };
        stats.files_scanned += 1;
        stats.pci_unparsed += s.pci_unparsed;
        stats.pci_override_only += s.pci_override_only;
        for c in &s.cond_syscalls {
            cond_syscalls.insert(c.clone());
        }
        let nothing = s.syscalls.is_empty()
            && s.fs.is_empty()
            && s.af.is_empty()
            && s.pci.is_empty()
            && s.virtio.is_empty()
            && s.msgs.is_empty();
        if nothing {
            continue;
        }
        let fg = resolver.guard(&r.path);
        let module = resolver.module(&r.path);
        let site = |line: u32, cond: u32| Site {
            file: r.path.clone(),
            line,
            cond: Cond::and([
                fg.clone(),
                s.conds.get(cond as usize).cloned().unwrap_or(Cond::True),
            ]),
            module: module.clone(),
        };
        for h in &s.syscalls {
            let mut st = site(h.line, h.cond);
            if let Some(x) = &h.extra {
                st.cond = Cond::and([st.cond, x.clone()]);
            }
            sys_sites
                .entry((h.name.clone(), h.compat))
                .or_default()
                .push(st);
        }
        for h in &s.fs {
            idx.filesystems.push(Filesystem {
                name: h.name.clone(),
                var: h.var.clone(),
                site: site(h.line, h.cond),
            });
        }
        for h in &s.af {
            let canon = h
                .number
                .and_then(|n| {
                    families
                        .iter()
                        .find(|(a, x)| *x == n && a.starts_with("AF_"))
                })
                .map(|(a, _)| a.clone())
                .unwrap_or_else(|| h.name.clone());
            idx.families.push(Family {
                family: canon,
                number: h.number,
                var: h.var.clone(),
                site: site(h.line, h.cond),
            });
        }
        for h in &s.pci {
            if !used(&r.path, &h.table, "pci") {
                stats.pci_unused += 1;
                continue;
            }
            tables.insert((r.path.clone(), h.table.clone()));
            idx.pci.push(PciId {
                ids: h.m.clone(),
                table: h.table.clone(),
                site: site(h.line, h.cond),
            });
        }
        for h in &s.virtio {
            if !used(&r.path, &h.table, "virtio") {
                stats.virtio_unused += 1;
                continue;
            }
            idx.virtio.push(VirtioId {
                device: h.device,
                vendor: h.vendor,
                table: h.table.clone(),
                site: site(h.line, h.cond),
            });
        }
        for h in &s.msgs {
            idx.messages.push(Message {
                format: h.format.clone(),
                options: h.options.clone(),
                func: h.func.clone(),
                site: site(h.line, h.cond),
            });
        }
    }
    for key in &cond_syscalls {
        sys_sites.entry(key.clone()).or_default();
    }
    for ((name, compat), sites) in sys_sites {
        let cond = Cond::or(sites.iter().map(|s| s.cond.clone()));
        idx.syscalls.push(Syscall {
            conditional: cond_syscalls.contains(&(name.clone(), compat)),
            name,
            compat,
            sites,
            cond,
        });
    }
    for (f, c) in &kb.files {
        if f.ends_with(".c") {
            idx.files.insert(f.clone(), c.clone());
        }
    }
    stats.syscalls = idx.syscalls.len();
    stats.conditional_syscalls = idx.syscalls.iter().filter(|s| s.conditional).count();
    stats.filesystems = idx.filesystems.len();
    stats.families = idx.families.len();
    stats.pci_ids = idx.pci.len();
    stats.pci_tables = tables.len();
    stats.virtio_ids = idx.virtio.len();
    stats.messages = idx.messages.len();
    idx.stats = stats;
    idx
}
