//! Reading one C file for the things a doctor looks up: syscall
//! definitions, file system types, address families, PCI and virtio ID
//! tables, and log messages that name an option. Each hit carries its line
//! and the `#if` condition around it; the file's Kbuild guard is added by
//! the index.
//!
//! [`scan_file`] walks one file's tokens; the layers under it are
//! `markers` (the byte-level prefilter), `decl` (initializers and enums),
//! `tables` (ID table entries), `syscalls`, `message`, `headers` (include
//! resolution and macro layers, reading through [`Shared::read`]) and
//! `tree` (tables from the tree's well-known headers). Nothing here opens
//! a file itself.

use std::collections::HashSet;
use std::sync::Arc;

use crate::cond::Cond;
use crate::cpp::{self, Macros, Tok, TokKind};

mod decl;
mod headers;
mod markers;
mod message;
mod syscalls;
mod tables;
mod tree;

use decl::{field_string, field_tokens, initializer};
use headers::{file_layers, layered, splice_header};
use message::message_at;
use syscalls::syscall_macro;

pub use headers::{normalize, Header, HeaderCache, Shared};
pub use markers::{markers, Markers};
pub use message::MsgHit;
pub use syscalls::SyscallHit;
pub use tables::{
    pci_entry, table_entries, PciEntry, PciHit, PciMatch, TableEntries, VirtioHit, PCI_ANY_ID,
};
pub use tree::{address_families, shared_macros, virtio_names};

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
                        add_entries(&mut fs, table_entries(path, w, var, &body));
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
                            add_entries(&mut fs, table_entries(path, &w, &var, body));
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

fn add_entries(fs: &mut FileScan, e: TableEntries) {
    fs.pci.extend(e.pci);
    fs.virtio.extend(e.virtio);
    fs.pci_unparsed += e.pci_unparsed;
    fs.pci_override_only += e.pci_override_only;
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
}
