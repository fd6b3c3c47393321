//! The source index: for one kernel tree and architecture, every
//! conditional syscall, file system type, address family, PCI/virtio ID and
//! option-naming log message, each with the option expression that compiles
//! it in. Built from the makefiles and C sources (no compiler), cached as
//! JSON because a build reads the whole tree.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::cond::{Cond, Config};
use crate::cpp::{self, MacroFacts};
use crate::kbuild;
use crate::scan::{self, FileScan, PciMatch, PCI_ANY_ID};

/// Bumped whenever the index's meaning changes, so old caches are rebuilt.
pub const FORMAT: u32 = 10;

/// Where a thing is defined and when that code is compiled.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Site {
    pub file: String,
    pub line: u32,
    /// Kbuild guard of the file AND the `#if` blocks around the line.
    pub cond: Cond,
    /// The object it is linked into (the module name when built `=m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Syscall {
    pub name: String,
    /// `COMPAT_SYSCALL_DEFINE` / `COND_SYSCALL_COMPAT`.
    pub compat: bool,
    /// Listed in kernel/sys_ni.c: may be configured out (ENOSYS).
    pub conditional: bool,
    pub sites: Vec<Site>,
    /// OR of the sites; `n` for a conditional syscall this architecture
    /// never defines.
    pub cond: Cond,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Filesystem {
    pub name: String,
    /// The `struct file_system_type` variable (how System.map shows it).
    pub var: String,
    pub site: Site,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Family {
    /// Canonical name (`AF_UNIX`), or the expression as written when it
    /// could not be resolved.
    pub family: String,
    pub number: Option<u32>,
    pub var: String,
    pub site: Site,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PciId {
    #[serde(flatten)]
    pub ids: PciMatch,
    pub table: String,
    pub site: Site,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct VirtioId {
    pub device: u32,
    pub vendor: u32,
    pub table: String,
    pub site: Site,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Message {
    /// The format string as written (printf conversions kept).
    pub format: String,
    pub options: Vec<String>,
    pub func: String,
    pub site: Site,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Stats {
    pub makefiles: usize,
    pub dirs: usize,
    pub source_files: usize,
    pub files_read: usize,
    pub files_scanned: usize,
    pub syscalls: usize,
    pub conditional_syscalls: usize,
    pub filesystems: usize,
    pub families: usize,
    pub pci_ids: usize,
    pub pci_tables: usize,
    pub pci_unparsed: usize,
    /// Entries in tables no driver registers (quirk and LED lists).
    pub pci_unused: usize,
    /// Entries only driver_override can bind (vfio variant drivers).
    pub pci_override_only: usize,
    pub virtio_ids: usize,
    pub virtio_unused: usize,
    pub messages: usize,
    pub build_ms: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Index {
    pub format: u32,
    pub kernelversion: String,
    pub arch: String,
    pub srcarch: String,
    pub tree: String,
    pub stats: Stats,
    pub syscalls: Vec<Syscall>,
    pub filesystems: Vec<Filesystem>,
    pub families: Vec<Family>,
    /// Address family names and numbers from include/linux/socket.h.
    pub family_numbers: Vec<(String, u32)>,
    pub pci: Vec<PciId>,
    pub virtio: Vec<VirtioId>,
    /// virtio device ID → `VIRTIO_ID_*` name.
    pub virtio_names: BTreeMap<u32, String>,
    pub messages: Vec<Message>,
    /// Every C file Kbuild compiles, with its guard.
    pub files: BTreeMap<String, Cond>,
}

/// `__ARCH_WANT_*` switches from the architecture's unistd.h.
struct ArchFacts {
    wants: HashMap<String, Cond>,
}

impl MacroFacts for ArchFacts {
    fn defined(&self, name: &str) -> Option<Cond> {
        if let Some(c) = self.wants.get(name) {
            return Some(c.clone());
        }
        if name.starts_with("__ARCH_WANT_") {
            return Some(Cond::False);
        }
        match name {
            "__KERNEL__" => Some(Cond::True),
            "__ASSEMBLY__" | "__ASSEMBLER__" | "__GENKSYMS__" | "__CHECKER__" => Some(Cond::False),
            _ => None,
        }
    }
}

impl ArchFacts {
    fn load(root: &Path, srcarch: &str) -> ArchFacts {
        let mut wants = HashMap::new();
        for rel in [
            format!("arch/{srcarch}/include/asm/unistd.h"),
            format!("arch/{srcarch}/include/uapi/asm/unistd.h"),
        ] {
            if let Ok(t) = std::fs::read_to_string(root.join(rel)) {
                let pp = cpp::preprocess(&t, &cpp::NoFacts);
                for d in &pp.defines {
                    if d.name.starts_with("__ARCH_WANT_") {
                        let c = pp.cond(d.cond).clone();
                        let cur = wants.remove(&d.name).unwrap_or(Cond::False);
                        wants.insert(d.name.clone(), Cond::or([cur, c]));
                    }
                }
            }
        }
        ArchFacts { wants }
    }
}

struct FileResult {
    path: String,
    /// Quoted includes, resolved relative to the file.
    includes: Vec<(String, u32)>,
    scan: Option<FileScan>,
}

impl Index {
    /// Reads the tree. Takes tens of seconds on a full kernel tree; use
    /// [`Index::load_or_build`] to pay that once.
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

        // Who includes whom (for unity builds and tables in headers).
        let mut includers: HashMap<String, Vec<(String, u32)>> = HashMap::new();
        for r in &results {
            for (inc, line) in &r.includes {
                includers
                    .entry(inc.clone())
                    .or_default()
                    .push((r.path.clone(), *line));
            }
        }
        let mut resolver = GuardResolver {
            kb: &kb,
            includers: &includers,
            memo: HashMap::new(),
            pp_cache: HashMap::new(),
            root,
            facts: &facts,
        };

        let mut stats = Stats {
            makefiles: kb.makefiles,
            dirs: kb.dirs.len(),
            source_files: paths.len(),
            files_read: results.len(),
            ..Default::default()
        };
        let families = scan::address_families(&read);
        let virtio_names: BTreeMap<u32, String> = scan::virtio_names(&read).into_iter().collect();
        let mut cond_syscalls: HashSet<(String, bool)> = HashSet::new();
        let mut sys_sites: BTreeMap<(String, bool), Vec<Site>> = BTreeMap::new();
        let mut idx = Index {
            format: FORMAT,
            kernelversion: kernelversion.to_string(),
            arch: arch.to_string(),
            srcarch: srcarch.to_string(),
            tree: root.display().to_string(),
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
        for r in &results {
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
        stats.build_ms = start.elapsed().as_millis() as u64;
        idx.stats = stats;
        Ok(idx)
    }

    /// The cache file for a tree and architecture.
    pub fn cache_path(cache_root: &Path, root: &Path, kernelversion: &str, arch: &str) -> PathBuf {
        let mut h = Sha256::new();
        h.update(format!(
            "{FORMAT}\0{}\0{kernelversion}\0{arch}\0{}",
            root.display(),
            env!("CARGO_PKG_VERSION")
        ));
        let key = hex::encode(&h.finalize()[..6]);
        cache_root
            .join("doctor")
            .join(format!("index-{kernelversion}-{arch}-{key}.json"))
    }

    /// Loads the cached index, or builds and caches it. A cache that does
    /// not parse or has another format is rebuilt, never trusted.
    pub fn load_or_build(
        tree: &ksrc::KernelTree,
        arch: &str,
        srcarch: &str,
        cache_root: &Path,
    ) -> Result<(Index, CacheInfo)> {
        let path = Index::cache_path(cache_root, &tree.root, &tree.kernelversion, arch);
        let t = Instant::now();
        // Another process (or test thread) building the same index: wait
        // for it, then load its result rather than building it twice.
        let _lock = lock_file(&path.with_extension("lock"))?;
        if let Ok(bytes) = std::fs::read(&path) {
            if let Ok(idx) = serde_json::from_slice::<Index>(&bytes) {
                if idx.format == FORMAT
                    && idx.arch == arch
                    && idx.kernelversion == tree.kernelversion
                {
                    return Ok((
                        idx,
                        CacheInfo {
                            path,
                            loaded: true,
                            bytes: bytes.len() as u64,
                            ms: t.elapsed().as_millis() as u64,
                        },
                    ));
                }
            }
        }
        let idx = Index::build(&tree.root, &tree.kernelversion, arch, srcarch)?;
        let bytes = idx.save(&path)?;
        prune_stale(&path, &idx);
        Ok((
            idx,
            CacheInfo {
                path,
                loaded: false,
                bytes,
                ms: t.elapsed().as_millis() as u64,
            },
        ))
    }

    /// Writes the index atomically (a reader never sees half a file).
    pub fn save(&self, path: &Path) -> Result<u64> {
        let dir = path.parent().context("cache path has no directory")?;
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let data = serde_json::to_vec(self)?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        std::io::Write::write_all(&mut tmp, &data)?;
        tmp.persist(path)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {}", path.display(), e.error))?;
        Ok(data.len() as u64)
    }

    // -- lookups ----------------------------------------------------------

    /// A syscall by the name strace or a person uses (`fstat` is the
    /// kernel's `newfstat`; a `sys_` prefix is accepted).
    pub fn syscall(&self, name: &str) -> Option<&Syscall> {
        let n = name
            .trim()
            .trim_start_matches("sys_")
            .trim_start_matches("__x64_sys_");
        let find = |n: &str| self.syscalls.iter().find(|s| s.name == n && !s.compat);
        find(n)
            .or_else(|| find(&format!("new{n}")))
            .or_else(|| n.strip_prefix('_').and_then(find))
    }

    pub fn filesystem(&self, name: &str) -> Vec<&Filesystem> {
        self.filesystems
            .iter()
            .filter(|f| f.name == name.trim())
            .collect()
    }

    /// An address family by `AF_UNIX`, `PF_UNIX`, `AF_LOCAL`, `unix` or `1`.
    pub fn family(&self, q: &str) -> Vec<&Family> {
        let q = q.trim();
        let number = q.parse::<u32>().ok().or_else(|| {
            let up = q.to_ascii_uppercase();
            let cands = [up.clone(), format!("AF_{up}"), up.replacen("PF_", "AF_", 1)];
            cands.iter().find_map(|c| {
                self.family_numbers
                    .iter()
                    .find(|(n, _)| n == c)
                    .map(|(_, v)| *v)
            })
        });
        self.families
            .iter()
            .filter(|f| match number {
                Some(n) => f.number == Some(n),
                None => f.family.eq_ignore_ascii_case(q),
            })
            .collect()
    }

    /// The family's canonical name for a number.
    pub fn family_name(&self, n: u32) -> Option<&str> {
        self.family_numbers
            .iter()
            .find(|(a, x)| *x == n && a.starts_with("AF_"))
            .map(|(a, _)| a.as_str())
    }

    /// Messages whose format matches a log line (format literals appear in
    /// order in the line).
    pub fn messages_matching(&self, line: &str) -> Vec<&Message> {
        self.messages
            .iter()
            .filter(|m| format_matches(&m.format, line))
            .collect()
    }
}

/// An exclusive lock on `path` (created if needed), held until the file
/// is dropped. Locks are per open file, so threads of one process exclude
/// each other too.
pub(crate) fn lock_file(path: &Path) -> Result<std::fs::File> {
    use std::os::unix::io::AsRawFd;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .with_context(|| format!("cannot open the lock file {}", path.display()))?;
    loop {
        // SAFETY: flock on a descriptor this function owns; no memory is
        // shared with the kernel.
        let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
        if r == 0 {
            return Ok(f);
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e).with_context(|| format!("cannot lock {}", path.display()));
        }
    }
}

/// Removes caches of the same tree and architecture written by another
/// index format: they are never read again and each is megabytes.
fn prune_stale(current: &Path, idx: &Index) {
    #[derive(Deserialize)]
    struct Head {
        format: u32,
        tree: String,
    }
    let (Some(dir), Some(name)) = (current.parent(), current.file_name()) else {
        return;
    };
    let prefix = format!("index-{}-{}-", idx.kernelversion, idx.arch);
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let n = e.file_name();
        let n = n.to_string_lossy();
        if n == name.to_string_lossy() || !n.starts_with(&prefix) || !n.ends_with(".json") {
            continue;
        }
        let stale = match std::fs::read(e.path()) {
            Ok(b) => match serde_json::from_slice::<Head>(&b) {
                Ok(h) => h.tree == idx.tree && h.format != FORMAT,
                Err(_) => true,
            },
            Err(_) => false,
        };
        if stale {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct CacheInfo {
    pub path: PathBuf,
    /// True when read from the cache, false when built now.
    pub loaded: bool,
    pub bytes: u64,
    pub ms: u64,
}

/// Does a printf format match a line? Its literal pieces (between
/// conversions) must appear in order; very short pieces are ignored.
pub fn format_matches(format: &str, line: &str) -> bool {
    let mut pieces = Vec::new();
    let mut cur = String::new();
    let mut it = format.chars().peekable();
    while let Some(c) = it.next() {
        if c == '%' {
            if it.peek() == Some(&'%') {
                it.next();
                cur.push('%');
                continue;
            }
            // Skip flags, width, length and the conversion letter.
            while let Some(&n) = it.peek() {
                it.next();
                if n.is_ascii_alphabetic() && !matches!(n, 'l' | 'h' | 'z' | 't' | 'j' | 'L' | 'q')
                {
                    // %pX: pointer extensions continue with letters.
                    if n == 'p' {
                        while it.peek().is_some_and(|x| x.is_ascii_alphanumeric()) {
                            it.next();
                        }
                    }
                    break;
                }
            }
            pieces.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    pieces.push(cur);
    let mut pos = 0;
    let mut matched = 0;
    for p in pieces {
        let p = p.trim_matches(|c: char| c.is_whitespace());
        if p.len() < 3 {
            continue;
        }
        match line[pos..].find(p) {
            Some(i) => {
                pos += i + p.len();
                matched += p.len();
            }
            None => return false,
        }
    }
    matched >= 8
}

/// Quoted `#include`s of a file, resolved relative to it.
fn quoted_includes(path: &str, bytes: &[u8]) -> Vec<(String, u32)> {
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
struct GuardResolver<'a> {
    kb: &'a kbuild::Kbuild,
    includers: &'a HashMap<String, Vec<(String, u32)>>,
    memo: HashMap<String, Cond>,
    /// Conditions of include lines in includer files.
    pp_cache: HashMap<String, HashMap<u32, Cond>>,
    root: &'a Path,
    facts: &'a ArchFacts,
}

impl GuardResolver<'_> {
    fn guard(&mut self, path: &str) -> Cond {
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
            if let Ok(b) = std::fs::read(self.root.join(file)) {
                let pp = cpp::preprocess(&String::from_utf8_lossy(&b), self.facts);
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
    fn module(&self, path: &str) -> Option<String> {
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

/// Does a table entry match a device? `class` is the 24-bit class code
/// (base, sub, prog-if), or the 16-bit base+sub that `lspci -n` prints
/// (values up to 0xffff), in which case the prog-if is not compared.
pub fn pci_matches(m: &PciMatch, vendor: u32, device: u32, class: Option<u32>) -> bool {
    let id_ok = |want: u32, have: u32| want == PCI_ANY_ID || want == have;
    if !id_ok(m.vendor, vendor) || !id_ok(m.device, device) {
        return false;
    }
    if m.class_mask == 0 {
        return true;
    }
    match class {
        Some(c) if c > 0xffff => (c & m.class_mask) == (m.class & m.class_mask),
        Some(c) => {
            let mask = m.class_mask & 0xffff00;
            ((c << 8) & mask) == (m.class & mask)
        }
        None => false,
    }
}

/// Evaluates a site against a configuration: built in, module, or absent.
pub fn built(site: &Site, cfg: &Config) -> crate::cond::Tri {
    site.cond.eval(cfg)
}
