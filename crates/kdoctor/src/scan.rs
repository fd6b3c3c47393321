//! Reading one C file for the things a doctor looks up: syscall
//! definitions, file system types, address families, PCI and virtio ID
//! tables, and log messages that name an option. Each hit carries its line
//! and the `#if` condition around it; the file's Kbuild guard is added by
//! the index.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::cond::Cond;
use crate::cpp::{self, Layered, Macros, Preprocessed, Tok, TokKind};

#[derive(Clone, Debug, Default)]
pub struct FileScan {
    pub path: String,
    pub conds: Vec<Cond>,
    pub syscalls: Vec<SyscallHit>,
    pub cond_syscalls: Vec<(String, bool)>,
    pub fs: Vec<NamedHit>,
    pub af: Vec<NamedHit>,
    pub pci: Vec<PciHit>,
    pub pci_unparsed: usize,
    pub virtio: Vec<VirtioHit>,
    pub msgs: Vec<MsgHit>,
    /// `MODULE_DEVICE_TABLE(kind, NAME)` as (kind, NAME), and
    /// `.id_table = NAME` as ("id_table", NAME): which ID tables a driver
    /// actually uses (others are lookup tables for quirks and LEDs).
    pub table_refs: Vec<(String, String)>,
    pub has_pci_driver: bool,
    pub has_virtio_driver: bool,
    /// Entries only a driver_override can bind (vfio variants).
    pub pci_override_only: usize,
}

#[derive(Clone, Debug)]
pub struct SyscallHit {
    pub name: String,
    pub compat: bool,
    pub line: u32,
    pub cond: u32,
    /// A condition the macro itself adds (`SYSCALL32_DEFINEn` is the compat
    /// definition under CONFIG_COMPAT and the native one without it).
    pub extra: Option<Cond>,
}

/// A `file_system_type` (`name` = `.name`) or `net_proto_family`
/// (`name` = the family's value, resolved to a number in `number`).
#[derive(Clone, Debug)]
pub struct NamedHit {
    pub name: String,
    pub number: Option<u32>,
    pub var: String,
    pub line: u32,
    pub cond: u32,
}

/// One `pci_device_id` entry, as the PCI core matches it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PciMatch {
    pub vendor: u32,
    pub device: u32,
    pub subvendor: u32,
    pub subdevice: u32,
    pub class: u32,
    pub class_mask: u32,
}

pub const PCI_ANY_ID: u32 = 0xffff_ffff;

#[derive(Clone, Debug)]
pub struct PciHit {
    pub m: PciMatch,
    pub table: String,
    pub line: u32,
    pub cond: u32,
}

#[derive(Clone, Debug)]
pub struct VirtioHit {
    pub device: u32,
    pub vendor: u32,
    pub table: String,
    pub line: u32,
    pub cond: u32,
}

#[derive(Clone, Debug)]
pub struct MsgHit {
    pub format: String,
    pub options: Vec<String>,
    pub func: String,
    pub line: u32,
    pub cond: u32,
}

/// Cheap byte-level tests deciding whether a file needs the full scan.
pub struct Markers {
    pub any: bool,
    pub tables: bool,
}

pub fn markers(b: &[u8]) -> Markers {
    let has = |s: &str| memchr::memmem::find(b, s.as_bytes()).is_some();
    let tables = has("pci_device_id") || has("virtio_device_id");
    let any = tables
        || has("SYSCALL_DEFINE")
        || has("SYSCALL32_DEFINE")
        || has("file_system_type")
        || has("net_proto_family")
        || has("COND_SYSCALL")
        || config_in_string(b);
    Markers { any, tables }
}

/// Is there a line with a `"` before a `CONFIG_`? (Printed strings that
/// name an option; most `CONFIG_` mentions are in `#if` lines.)
fn config_in_string(b: &[u8]) -> bool {
    for pos in memchr::memmem::find_iter(b, b"CONFIG_") {
        let start = memchr::memrchr(b'\n', &b[..pos])
            .map(|x| x + 1)
            .unwrap_or(0);
        let line = &b[start..pos];
        if line.contains(&b'"') && !line.trim_ascii_start().starts_with(b"#") {
            return true;
        }
    }
    false
}

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
fn resolve_quoted(sh: &Shared<'_>, from_dir: &str, inc: &str) -> Option<(String, Arc<Header>)> {
    let p = normalize(&format!("{from_dir}/{inc}"));
    if let Some(h) = header(sh, &p) {
        return Some((p, h));
    }
    resolve_angle(sh, from_dir, inc)
}

pub fn scan_file(path: &str, src: &str, module: Option<&str>, sh: &Shared<'_>) -> FileScan {
    let pp = cpp::preprocess(src, sh.facts);
    let toks = cpp::tokens_of(&pp);
    let mut fs = FileScan {
        path: path.to_string(),
        ..Default::default()
    };
    let is_sys_ni = path.ends_with("kernel/sys_ni.c");
    let ident = |i: usize| {
        toks.get(i)
            .filter(|t| t.kind == TokKind::Ident)
            .map(|t| t.text.as_str())
    };
    let mut local: Option<(Vec<Arc<Header>>, Macros)> = None;
    let mut i = 0;
    while i < toks.len() {
        let t = &toks[i];
        if t.kind == TokKind::Ident {
            let w = t.text.as_str();
            if w == "MODULE_DEVICE_TABLE" && toks.get(i + 1).is_some_and(|x| x.is("(")) {
                if let (Some(k), Some(n)) = (ident(i + 2), ident(i + 4)) {
                    fs.table_refs.push((k.to_string(), n.to_string()));
                }
            } else if w == "id_table" && toks.get(i + 1).is_some_and(|x| x.is("=")) {
                let j = if toks.get(i + 2).is_some_and(|x| x.is("&")) {
                    i + 3
                } else {
                    i + 2
                };
                if let Some(n) = ident(j) {
                    fs.table_refs.push(("id_table".into(), n.to_string()));
                }
            }
            if let Some(kinds) = syscall_macro(w) {
                if toks.get(i + 1).is_some_and(|x| x.is("(")) {
                    if let Some(name) = ident(i + 2) {
                        for (compat, extra) in kinds {
                            fs.syscalls.push(SyscallHit {
                                name: name.to_string(),
                                compat,
                                line: t.line,
                                cond: t.cond,
                                extra,
                            });
                        }
                    }
                }
            } else if is_sys_ni && (w == "COND_SYSCALL" || w == "COND_SYSCALL_COMPAT") {
                if let (true, Some(name)) =
                    (toks.get(i + 1).is_some_and(|x| x.is("(")), ident(i + 2))
                {
                    fs.cond_syscalls
                        .push((name.to_string(), w == "COND_SYSCALL_COMPAT"));
                }
            } else if w == "struct" {
                match ident(i + 1) {
                    Some("file_system_type") | Some("net_proto_family") => {
                        let kind = ident(i + 1).unwrap_or("");
                        if let (Some(var), Some((body, end))) =
                            (ident(i + 2), initializer(&toks, i + 3, false))
                        {
                            let (hs, m) = local
                                .get_or_insert_with(|| file_layers(path, &pp, &toks, module, sh));
                            let body = layered(sh, hs, m).expand(body);
                            if kind == "file_system_type" {
                                if let Some(name) = field_string(&body, "name") {
                                    fs.fs.push(NamedHit {
                                        name,
                                        number: None,
                                        var: var.to_string(),
                                        line: t.line,
                                        cond: t.cond,
                                    });
                                }
                            } else if let Some(v) = field_tokens(&body, "family") {
                                let raw = v.iter().map(|t| t.text.as_str()).collect::<String>();
                                fs.af.push(NamedHit {
                                    name: raw,
                                    number: cpp::eval_int(&v).and_then(|n| u32::try_from(n).ok()),
                                    var: var.to_string(),
                                    line: t.line,
                                    cond: t.cond,
                                });
                            }
                            i = end;
                            continue;
                        }
                    }
                    _ => {}
                }
            } else if w == "pci_device_id" || w == "virtio_device_id" {
                if let (Some(var), true) =
                    (ident(i + 1), toks.get(i + 2).is_some_and(|x| x.is("[")))
                {
                    if let Some((body, end)) = initializer(&toks, i + 2, true) {
                        let (hs, m) =
                            local.get_or_insert_with(|| file_layers(path, &pp, &toks, module, sh));
                        let body = layered(sh, hs, m).expand(body);
                        table_entries(&mut fs, path, w, var, &body);
                        i = end;
                        continue;
                    }
                }
            }
        } else if t.kind == TokKind::Str && t.text.contains("CONFIG_") {
            if let Some(m) = message_at(&toks, i) {
                fs.msgs.push(m);
            }
            // Skip the rest of a concatenated literal.
            while toks.get(i + 1).is_some_and(|x| x.kind == TokKind::Str) {
                i += 1;
            }
        }
        i += 1;
    }
    // Tables built by macros around a shared ID header (cxgb4 defines
    // CH_PCI_DEVICE_ID_TABLE_DEFINE_BEGIN and includes t4_pci_id_tbl.h):
    // splice the quoted headers in and expand the whole file.
    if pp
        .defines
        .iter()
        .any(|d| d.body.contains("pci_device_id") || d.body.contains("virtio_device_id"))
    {
        let mut spliced: Vec<Tok> = Vec::new();
        let dir = path.rsplit_once('/').map(|x| x.0).unwrap_or("");
        let mut incs = pp.includes.iter().filter(|i| i.quoted).peekable();
        for t in &toks {
            while let Some(inc) = incs.next_if(|inc| inc.line < t.line) {
                splice_header(&mut spliced, sh, dir, &inc.path, inc.line, inc.cond);
            }
            spliced.push(t.clone());
        }
        for inc in incs {
            splice_header(&mut spliced, sh, dir, &inc.path, inc.line, inc.cond);
        }
        let (hs, m) = local.get_or_insert_with(|| file_layers(path, &pp, &toks, module, sh));
        let expanded = layered(sh, hs, m).expand(&spliced);
        let known: HashSet<String> = fs
            .pci
            .iter()
            .map(|h| h.table.clone())
            .chain(fs.virtio.iter().map(|h| h.table.clone()))
            .collect();
        let mut k = 0;
        while k < expanded.len() {
            let w = expanded[k].text.as_str();
            if (w == "pci_device_id" || w == "virtio_device_id")
                && expanded[k].kind == TokKind::Ident
            {
                if let (Some(var), true) = (
                    expanded.get(k + 1).filter(|t| t.kind == TokKind::Ident),
                    expanded.get(k + 2).is_some_and(|x| x.is("[")),
                ) {
                    if let Some((body, end)) = initializer(&expanded, k + 2, true) {
                        if !known.contains(&var.text) {
                            let w = w.to_string();
                            let var = var.text.clone();
                            table_entries(&mut fs, path, &w, &var, body);
                        }
                        k = end;
                        continue;
                    }
                }
            }
            k += 1;
        }
    }
    fs.has_pci_driver = src.contains("struct pci_driver");
    fs.has_virtio_driver = src.contains("struct virtio_driver");
    fs.conds = pp.conds;
    fs
}

/// Appends a header's tokens as if included at `line` under `cond`.
fn splice_header(out: &mut Vec<Tok>, sh: &Shared<'_>, dir: &str, inc: &str, line: u32, cond: u32) {
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

/// Records the entries of one ID table (already macro-expanded).
fn table_entries(fs: &mut FileScan, path: &str, kind: &str, var: &str, body: &[Tok]) {
    for item in items(body) {
        let (line, cond) = (item[0].line, item[0].cond);
        if kind == "pci_device_id" {
            match pci_entry(item) {
                Some(Some(None)) => fs.pci_override_only += 1,
                Some(Some(Some(m))) => fs.pci.push(PciHit {
                    m,
                    table: var.to_string(),
                    line,
                    cond,
                }),
                Some(None) => {}
                None => {
                    fs.pci_unparsed += 1;
                    if std::env::var_os("KDOCTOR_DEBUG").is_some() {
                        let t: Vec<&str> = item.iter().map(|t| t.text.as_str()).collect();
                        eprintln!("unparsed pci {path}:{line}: {}", t.join(" "));
                    }
                }
            }
        } else if let Some(v) = fields(item, &["device", "vendor"]) {
            let dev = v[0].unwrap_or(0) as u32;
            if dev != 0 {
                fs.virtio.push(VirtioHit {
                    device: dev,
                    vendor: v[1].unwrap_or(0) as u32,
                    table: var.to_string(),
                    line,
                    cond,
                });
            }
        }
    }
}

fn layered<'a>(sh: &'a Shared<'_>, hs: &'a [Arc<Header>], m: &'a Macros) -> Layered<'a> {
    let mut v: Vec<&Macros> = vec![sh.macros];
    v.extend(hs.iter().map(|h| &h.macros));
    v.push(m);
    Layered(v)
}

/// `SYSCALL_DEFINEn` / `COMPAT_SYSCALL_DEFINEn` → the definitions it
/// makes: (compat, extra condition). `SYSCALL32_DEFINEn`
/// (include/linux/syscalls.h) is `COMPAT_SYSCALL_DEFINEn` under
/// CONFIG_COMPAT and `SYSCALL_DEFINEn` otherwise.
fn syscall_macro(w: &str) -> Option<Vec<(bool, Option<Cond>)>> {
    let (kinds, rest) = if let Some(r) = w.strip_prefix("COMPAT_SYSCALL_DEFINE") {
        (vec![(true, None)], r)
    } else if let Some(r) = w.strip_prefix("SYSCALL32_DEFINE") {
        let compat = Cond::Y("COMPAT".into());
        (
            vec![
                (true, Some(compat.clone())),
                (false, Some(Cond::not(compat))),
            ],
            r,
        )
    } else {
        (vec![(false, None)], w.strip_prefix("SYSCALL_DEFINE")?)
    };
    match rest.as_bytes() {
        [b'0'..=b'6'] => Some(kinds),
        _ => None,
    }
}

/// From `start`, find `= {` before any `;` and return the tokens inside
/// the braces and the index after the closing brace. `array` requires the
/// declarator to be an array (`[...]` before `=`).
fn initializer(toks: &[Tok], start: usize, array: bool) -> Option<(&[Tok], usize)> {
    let mut i = start;
    let mut saw_bracket = false;
    while i < toks.len() && i < start + 40 {
        let t = &toks[i];
        if t.is(";") || t.is("{") || t.is(")") {
            return None;
        }
        if t.is("[") {
            saw_bracket = true;
        }
        if t.is("=") {
            break;
        }
        i += 1;
    }
    if array && !saw_bracket {
        return None;
    }
    if !toks.get(i).is_some_and(|t| t.is("=")) || !toks.get(i + 1).is_some_and(|t| t.is("{")) {
        return None;
    }
    let open = i + 1;
    let mut depth = 0;
    for (k, t) in toks.iter().enumerate().skip(open) {
        if t.is("{") {
            depth += 1;
        } else if t.is("}") {
            depth -= 1;
            if depth == 0 {
                return Some((&toks[open + 1..k], k + 1));
            }
        }
    }
    None
}

/// Top-level `{ ... }` items of an array initializer (their contents).
fn items(body: &[Tok]) -> Vec<&[Tok]> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    for (k, t) in body.iter().enumerate() {
        if t.is("{") {
            if depth == 0 {
                start = k + 1;
            }
            depth += 1;
        } else if t.is("}") {
            depth -= 1;
            if depth == 0 && k > start {
                out.push(&body[start..k]);
            }
        }
    }
    out
}

/// Splits an initializer's contents at top-level commas.
fn split_commas(body: &[Tok]) -> Vec<&[Tok]> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    for (k, t) in body.iter().enumerate() {
        if t.is("(") || t.is("{") || t.is("[") {
            depth += 1;
        } else if t.is(")") || t.is("}") || t.is("]") {
            depth -= 1;
        } else if t.is(",") && depth == 0 {
            out.push(&body[start..k]);
            start = k + 1;
        }
    }
    if start < body.len() {
        out.push(&body[start..]);
    }
    out
}

/// C initializer semantics: positional values fill fields in order, a
/// designator moves the cursor. Returns each field's value (None when it
/// is set to something we cannot evaluate), or None if an item is not
/// understood at all.
fn fields(item: &[Tok], names: &[&str]) -> Option<Vec<Option<i128>>> {
    let mut vals: Vec<Option<i128>> = vec![Some(0); names.len()];
    let mut cursor = 0usize;
    for part in split_commas(item) {
        if part.is_empty() {
            continue;
        }
        let (field, expr) = if part[0].is(".") && part.len() >= 3 && part[2].is("=") {
            let Some(idx) = names.iter().position(|n| *n == part[1].text) else {
                // A field we do not track (driver_data and friends).
                cursor = usize::MAX;
                continue;
            };
            (idx, &part[3..])
        } else {
            if cursor == usize::MAX {
                continue;
            }
            (cursor, part)
        };
        if field < names.len() {
            vals[field] = cpp::eval_int(expr);
        }
        cursor = field.saturating_add(1);
    }
    Some(vals)
}

/// Some(None) for the all-zero terminator, Some(Some(None)) for an entry
/// only `driver_override` can bind; None when unreadable.
#[allow(clippy::option_option)]
fn pci_entry(item: &[Tok]) -> Option<Option<Option<PciMatch>>> {
    let v = fields(
        item,
        &[
            "vendor",
            "device",
            "subvendor",
            "subdevice",
            "class",
            "class_mask",
            "driver_data",
            "override_only",
        ],
    )?;
    if v[7].is_some_and(|x| x != 0) {
        return Some(Some(None));
    }
    let vendor = v[0]?;
    let device = v[1]?;
    let get = |x: Option<i128>| x.map(|n| (n as u64 & 0xffff_ffff) as u32);
    let m = PciMatch {
        vendor: get(Some(vendor))?,
        device: get(Some(device))?,
        subvendor: get(v[2]).unwrap_or(PCI_ANY_ID),
        subdevice: get(v[3]).unwrap_or(PCI_ANY_ID),
        class: get(v[4]).unwrap_or(0),
        class_mask: get(v[5]).unwrap_or(0),
    };
    if m.vendor == 0 && m.device == 0 && m.class == 0 && m.class_mask == 0 {
        return Some(None);
    }
    Some(Some(Some(m)))
}

fn field_tokens(body: &[Tok], name: &str) -> Option<Vec<Tok>> {
    for part in split_commas(body) {
        if part.len() >= 3 && part[0].is(".") && part[1].text == name && part[2].is("=") {
            return Some(part[3..].to_vec());
        }
    }
    None
}

fn field_string(body: &[Tok], name: &str) -> Option<String> {
    let v = field_tokens(body, name)?;
    if v.is_empty() || !v.iter().all(|t| t.kind == TokKind::Str) {
        return None;
    }
    Some(v.iter().map(|t| t.text.as_str()).collect())
}

/// A header's own macros and includes, parsed once per index build.
pub struct Header {
    macros: Macros,
    includes: Vec<(bool, String)>,
}

/// Cache of parsed headers shared by the scanning threads.
pub type HeaderCache = Mutex<HashMap<String, Option<Arc<Header>>>>;

fn header(sh: &Shared<'_>, path: &str) -> Option<Arc<Header>> {
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
fn resolve_angle(sh: &Shared<'_>, from_dir: &str, p: &str) -> Option<(String, Arc<Header>)> {
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
fn file_layers(
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

fn number_macro(kind: TokKind, text: &str) -> cpp::Macro {
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

/// `enum { A = 0x10, B, C }` constants of a file (device IDs are sometimes
/// enumerators rather than macros).
fn enum_constants(toks: &[Tok], macros: &Layered<'_>) -> Vec<(String, i128)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        if !toks[i].is("enum") {
            i += 1;
            continue;
        }
        let mut j = i + 1;
        if toks.get(j).is_some_and(|t| t.kind == TokKind::Ident) {
            j += 1;
        }
        if !toks.get(j).is_some_and(|t| t.is("{")) {
            i += 1;
            continue;
        }
        let Some(close) = toks[j..].iter().position(|t| t.is("}")).map(|p| p + j) else {
            break;
        };
        let mut next: i128 = 0;
        for part in split_commas(&toks[j + 1..close]) {
            let Some(name) = part.first().filter(|t| t.kind == TokKind::Ident) else {
                continue;
            };
            let v = if part.len() > 2 && part[1].is("=") {
                let ex = macros.expand(&part[2..]);
                match cpp::eval_int(&ex) {
                    Some(v) => v,
                    None => {
                        // Unknown value: later implicit values are unknown too.
                        next = i128::MIN;
                        continue;
                    }
                }
            } else if next == i128::MIN {
                continue;
            } else {
                next
            };
            out.push((name.text.clone(), v));
            next = v + 1;
        }
        i = close + 1;
    }
    out
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

/// Print-like calls whose format strings reach the kernel log.
fn is_print_call(name: &str) -> bool {
    const PREFIXES: [&str; 16] = [
        "pr_", "dev_", "netdev_", "pci_", "WARN", "panic", "drm_", "ata_", "ext4_msg", "btrfs_",
        "xfs_", "hid_", "snd_", "pm_pr", "bt_dev_", "shost_",
    ];
    name.contains("printk") || PREFIXES.iter().any(|p| name.starts_with(p))
}

/// The message whose format string starts at `toks[i]`, if it is the
/// format argument of a print-like call.
fn message_at(toks: &[Tok], i: usize) -> Option<MsgHit> {
    // Back to the unmatched `(` of the call.
    let mut k = i;
    let mut depth = 0;
    let mut first_str = i;
    while k > 0 {
        k -= 1;
        let t = &toks[k];
        if t.is(";") || t.is("{") || t.is("}") {
            return None;
        }
        if t.is(")") {
            depth += 1;
        } else if t.is("(") {
            if depth == 0 {
                break;
            }
            depth -= 1;
        } else if t.kind == TokKind::Str && depth == 0 && k + 1 == first_str {
            first_str = k;
        }
        if i - k > 64 {
            return None;
        }
    }
    let func = toks.get(k.checked_sub(1)?)?;
    if func.kind != TokKind::Ident || !is_print_call(&func.text) {
        return None;
    }
    let mut format = String::new();
    let mut j = first_str;
    while let Some(t) = toks.get(j) {
        if t.kind == TokKind::Str {
            format.push_str(&t.text);
        } else if t.kind == TokKind::Ident && t.text.starts_with("KERN_") {
            // a log level between literals
        } else {
            break;
        }
        j += 1;
    }
    // Log-level prefixes written as literals ("\001" "3").
    let format = match format.strip_prefix('\u{1}') {
        Some(r) => r.get(1..).unwrap_or("").to_string(),
        None => format,
    };
    let mut options = Vec::new();
    let b = format.as_bytes();
    for pos in memchr::memmem::find_iter(b, b"CONFIG_") {
        if pos > 0 && (b[pos - 1].is_ascii_alphanumeric() || b[pos - 1] == b'_') {
            continue;
        }
        let rest = &format[pos + 7..];
        let end = rest
            .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(rest.len());
        let name = rest[..end].trim_end_matches('_');
        if !name.is_empty() && !options.iter().any(|o: &String| o == name) {
            options.push(name.to_string());
        }
    }
    if options.is_empty() {
        return None;
    }
    Some(MsgHit {
        format: format.trim().to_string(),
        options,
        func: func.text.clone(),
        line: toks[i].line,
        cond: toks[i].cond,
    })
}

/// Macros every table can use: the PCI ID and virtio ID headers, the
/// PCI_DEVICE family and the socket family numbers.
pub fn shared_macros(read: &dyn Fn(&str) -> Option<String>, facts: &dyn cpp::MacroFacts) -> Macros {
    let mut m = Macros::default();
    for h in [
        "include/uapi/linux/virtio_ids.h",
        "include/linux/mod_devicetable.h",
        "include/linux/pci_ids.h",
        "include/linux/pci.h",
        "include/linux/socket.h",
    ] {
        if let Some(t) = read(h) {
            let pp = cpp::preprocess(&t, facts);
            m.add_defines(&pp.defines);
            // Enumerators too (PCI_ID_F_VFIO_DRIVER_OVERRIDE).
            let toks = cpp::tokens_of(&pp);
            for (name, v) in enum_constants(&toks, &Layered(vec![&m])) {
                m.map
                    .entry(name)
                    .or_insert_with(|| number_macro(TokKind::Number, &v.to_string()));
            }
        }
    }
    m
}

/// `VIRTIO_ID_NET` → 1 and back, from the virtio IDs header.
pub fn virtio_names(read: &dyn Fn(&str) -> Option<String>) -> HashMap<u32, String> {
    let mut out = HashMap::new();
    if let Some(t) = read("include/uapi/linux/virtio_ids.h") {
        let pp = cpp::preprocess(&t, &cpp::NoFacts);
        for d in pp.defines {
            if d.name.starts_with("VIRTIO_ID_") && d.params.is_none() {
                let num = d.body.split_whitespace().next().and_then(cpp::parse_int);
                if let Some(n) = num {
                    out.entry(n as u32).or_insert(d.name);
                }
            }
        }
    }
    out
}

/// `AF_UNIX` → 1, from include/linux/socket.h (first name wins for a
/// number, so 1 is AF_UNIX rather than AF_LOCAL).
pub fn address_families(read: &dyn Fn(&str) -> Option<String>) -> Vec<(String, u32)> {
    let mut out: Vec<(String, u32)> = Vec::new();
    if let Some(t) = read("include/linux/socket.h") {
        let pp = cpp::preprocess(&t, &cpp::NoFacts);
        let mut by_name: HashMap<String, u32> = HashMap::new();
        for d in pp.defines {
            if !(d.name.starts_with("AF_") || d.name.starts_with("PF_")) || d.params.is_some() {
                continue;
            }
            let b = d.body.trim();
            let n = cpp::parse_int(b)
                .map(|x| x as u32)
                .or_else(|| by_name.get(b).copied());
            if let Some(n) = n {
                by_name.insert(d.name.clone(), n);
                out.push((d.name, n));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared_for_test() -> Macros {
        let mut m = Macros::default();
        let pp = cpp::preprocess(
            "#define PCI_ANY_ID (~0)\n#define PCI_VENDOR_ID_INTEL 0x8086\n#define PCI_CLASS_STORAGE_SATA_AHCI 0x010601\n\
             #define PCI_DEVICE(vend,dev) .vendor = (vend), .device = (dev), .subvendor = PCI_ANY_ID, .subdevice = PCI_ANY_ID\n\
             #define PCI_VDEVICE(vend, dev) .vendor = PCI_VENDOR_ID_##vend, .device = (dev), .subvendor = PCI_ANY_ID, .subdevice = PCI_ANY_ID, 0, 0\n\
             #define PF_UNIX 1\n#define VIRTIO_ID_NET 1\n#define VIRTIO_DEV_ANY_ID 0xffffffff\n",
            &cpp::NoFacts,
        );
        m.add_defines(&pp.defines);
        m
    }

    #[test]
    fn tables_and_structs() {
        let src = r#"
#define E1000_DEV(d) { PCI_DEVICE(PCI_VENDOR_ID_INTEL, d) }
static const struct pci_device_id tbl[] = {
	E1000_DEV(0x100E),
#ifdef CONFIG_EXTRA
	{ PCI_VDEVICE(INTEL, 0x2922), board_ahci },
#endif
	{ PCI_ANY_ID, PCI_ANY_ID, PCI_ANY_ID, PCI_ANY_ID,
	  PCI_CLASS_STORAGE_SATA_AHCI, 0xffffff, board_ahci },
	{ 0, }
};
static struct file_system_type ext4_fs_type = {
	.owner = THIS_MODULE,
	.name = "ext4",
};
static const struct net_proto_family unix_family_ops = {
	.family = PF_UNIX,
};
static const struct virtio_device_id id_table[] = {
	{ VIRTIO_ID_NET, VIRTIO_DEV_ANY_ID },
	{ 0 },
};
MODULE_DEVICE_TABLE(pci, tbl);
static struct pci_driver drv = { .id_table = tbl };
SYSCALL_DEFINE1(epoll_create1, int, flags)
{
	pr_err("process %d attempted a POSIX timer syscall while CONFIG_POSIX_TIMERS is not set\n", 1);
}
"#;
        let m = shared_for_test();
        let read = |_: &str| None;
        let none = |_: &str| Vec::new();
        let cache = HeaderCache::default();
        let sh = Shared {
            facts: &cpp::NoFacts,
            macros: &m,
            read: &read,
            headers_in_dir: &none,
            srcarch: "x86",
            headers: &cache,
            include_dirs: &none,
        };
        let s = scan_file("drivers/x/x.c", src, Some("x"), &sh);
        assert_eq!(s.pci.len(), 3, "{:?}", s.pci);
        assert_eq!(s.pci[0].m.vendor, 0x8086);
        assert_eq!(s.pci[0].m.device, 0x100e);
        assert_eq!(s.pci[1].m.device, 0x2922);
        assert_eq!(s.conds[s.pci[1].cond as usize].to_string(), "EXTRA=y");
        assert_eq!(s.pci[2].m.class, 0x010601);
        assert_eq!(s.pci[2].m.class_mask, 0xffffff);
        assert_eq!(s.pci[2].m.vendor, PCI_ANY_ID);
        assert_eq!(s.fs[0].name, "ext4");
        assert_eq!(s.fs[0].var, "ext4_fs_type");
        assert_eq!(s.af[0].number, Some(1));
        assert_eq!(s.virtio[0].device, 1);
        assert_eq!(s.syscalls[0].name, "epoll_create1");
        assert!(s
            .table_refs
            .contains(&("pci".to_string(), "tbl".to_string())));
        assert!(s
            .table_refs
            .contains(&("id_table".to_string(), "tbl".to_string())));
        assert!(s.has_pci_driver);
        assert_eq!(s.msgs[0].options, vec!["POSIX_TIMERS".to_string()]);
    }

    /// `SYSCALL32_DEFINEn` is the compat syscall with CONFIG_COMPAT and the
    /// native one without (fanotify_mark; found validating Debian's kernel).
    #[test]
    fn syscall32_define_is_compat_or_native() {
        let k = syscall_macro("SYSCALL32_DEFINE6").unwrap();
        assert_eq!(k.len(), 2);
        assert_eq!(k[0], (true, Some(Cond::Y("COMPAT".into()))));
        assert!(!k[1].0);
        assert_eq!(k[1].1.as_ref().unwrap().to_string(), "!COMPAT=y");
        assert_eq!(
            syscall_macro("COMPAT_SYSCALL_DEFINE2"),
            Some(vec![(true, None)])
        );
        assert_eq!(syscall_macro("SYSCALL_DEFINE0"), Some(vec![(false, None)]));
        assert_eq!(syscall_macro("SYSCALL_DEFINE7"), None);
        assert!(markers(b"SYSCALL32_DEFINE0(sigreturn)").any);
    }
}
