//! Building an index from a tree on disk: the I/O half (the Kbuild walk,
//! listing the directories Kbuild visits, reading and scanning every C
//! file and header on several threads). Turning the scans into an index is
//! [`assemble`], which reads further files only through the reader it is
//! given.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::Result;

use super::assemble::{assemble, FileResult, Files, Tree};
use super::facts::ArchFacts;
use super::guard::quoted_includes;
use super::model::Index;
use crate::{kbuild, scan};

impl Index {
    /// Reads the tree. Takes tens of seconds on a full kernel tree; use
    /// [`Index::load_or_build`] to pay that once.
    ///
    /// The reading is here (the Kbuild walk, listing directories, reading
    /// and scanning files on several threads); what the files say becomes
    /// an index in [`assemble`].
    pub fn build(root: &Path, kernelversion: &str, arch: &str, srcarch: &str) -> Result<Index> {
        let start = Instant::now();
        let kb = kbuild::walk(root, arch, srcarch);
        let facts = ArchFacts::load(root, srcarch);
        let read = |rel: &str| -> Option<String> {
            std::fs::read(root.join(rel))
                .ok()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
        };
        let shared = scan::shared_macros(&read, &facts);

        // Every C file and header in a directory Kbuild visits.
        let mut paths: Vec<String> = Vec::new();
        // Kbuild directories, and the directories of objects a parent
        // Makefile names by path (iwlwifi's `pcie/drv.o`).
        let mut dirs: std::collections::BTreeSet<String> = kb.dirs.keys().cloned().collect();
        for f in kb.files.keys() {
            if let Some((d, _)) = f.rsplit_once('/') {
                dirs.insert(d.to_string());
            }
        }
        for dir in &dirs {
            if dir.is_empty() {
                continue;
            }
            let Ok(rd) = std::fs::read_dir(root.join(dir)) else {
                continue;
            };
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if (name.ends_with(".c") || name.ends_with(".h"))
                    && e.file_type().map(|t| t.is_file()).unwrap_or(false)
                {
                    paths.push(format!("{dir}/{name}"));
                }
            }
        }
        // sys_ni.c lists the syscalls that may be missing.
        if !paths.iter().any(|p| p == "kernel/sys_ni.c") && root.join("kernel/sys_ni.c").is_file() {
            paths.push("kernel/sys_ni.c".into());
        }
        paths.sort();

        let next = AtomicUsize::new(0);
        let results: Mutex<Vec<FileResult>> = Mutex::new(Vec::with_capacity(paths.len()));
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            .clamp(1, 8);
        let mut by_dir: HashMap<String, Vec<String>> = HashMap::new();
        for p in &paths {
            if p.ends_with(".h") {
                let d = p.rsplit_once('/').map(|x| x.0).unwrap_or("");
                by_dir.entry(d.to_string()).or_default().push(p.clone());
            }
        }
        let headers_in_dir = |d: &str| by_dir.get(d).cloned().unwrap_or_default();
        let header_cache = scan::HeaderCache::default();
        let include_dirs = |d: &str| -> Vec<String> {
            // The Makefile of this directory or of one above it (objects
            // named by path from a parent Makefile).
            let mut cur = d;
            for _ in 0..3 {
                if let Some(v) = kb.include_dirs.get(cur) {
                    return v.clone();
                }
                match cur.rsplit_once('/') {
                    Some((p, _)) => cur = p,
                    None => break,
                }
            }
            Vec::new()
        };
        let sh = scan::Shared {
            facts: &facts,
            macros: &shared,
            read: &read,
            headers_in_dir: &headers_in_dir,
            srcarch,
            headers: &header_cache,
            include_dirs: &include_dirs,
        };
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    let mut local = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(p) = paths.get(i) else { break };
                        let Ok(bytes) = std::fs::read(root.join(p)) else {
                            continue;
                        };
                        let includes = quoted_includes(p, &bytes);
                        let mk = scan::markers(&bytes);
                        let scan = if mk.any {
                            let text = String::from_utf8_lossy(&bytes);
                            let module = kb
                                .modules
                                .get(p)
                                .and_then(|m| m.first())
                                .map(|s| s.as_str());
                            Some(scan::scan_file(p, &text, module, &sh))
                        } else {
                            None
                        };
                        local.push(FileResult {
                            path: p.clone(),
                            includes,
                            scan,
                        });
                    }
                    if let Ok(mut r) = results.lock() {
                        r.extend(local);
                    }
                });
            }
        });
        let mut results = results.into_inner().unwrap_or_default();
        results.sort_by(|a, b| a.path.cmp(&b.path));
        let files = Files {
            listed: paths.len(),
            results,
        };
        let mut idx = assemble(
            &Tree {
                root: &root.display().to_string(),
                kernelversion,
                arch,
                srcarch,
            },
            &kb,
            &facts,
            &files,
            &read,
        );
        idx.stats.build_ms = start.elapsed().as_millis() as u64;
        Ok(idx)
    }
}
