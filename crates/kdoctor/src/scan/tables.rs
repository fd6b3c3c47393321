//! Device-ID tables: `pci_device_id` and `virtio_device_id` arrays read
//! entry by entry with C initializer semantics, the way the PCI core and
//! the virtio bus match them.

use serde::{Deserialize, Serialize};

use super::decl::{fields, items};
use crate::cpp::Tok;

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

/// What one ID table holds.
#[derive(Clone, Debug, Default)]
pub struct TableEntries {
    pub pci: Vec<PciHit>,
    pub virtio: Vec<VirtioHit>,
    pub pci_unparsed: usize,
    pub pci_override_only: usize,
}

/// The entries of one ID table (already macro-expanded); `kind` is
/// `pci_device_id` or `virtio_device_id`, `var` the table's name.
pub fn table_entries(path: &str, kind: &str, var: &str, body: &[Tok]) -> TableEntries {
    let mut out = TableEntries::default();
    for item in items(body) {
        let (line, cond) = (item[0].line, item[0].cond);
        if kind == "pci_device_id" {
            match pci_entry(item) {
                PciEntry::OverrideOnly => out.pci_override_only += 1,
                PciEntry::Match(m) => out.pci.push(PciHit {
                    m,
                    table: var.to_string(),
                    line,
                    cond,
                }),
                PciEntry::Terminator => {}
                PciEntry::Unreadable => {
                    out.pci_unparsed += 1;
                    if std::env::var_os("KDOCTOR_DEBUG").is_some() {
                        let t: Vec<&str> = item.iter().map(|t| t.text.as_str()).collect();
                        eprintln!("unparsed pci {path}:{line}: {}", t.join(" "));
                    }
                }
            }
        } else if let Some(v) = fields(item, &["device", "vendor"]) {
            let dev = v[0].unwrap_or(0) as u32;
            if dev != 0 {
                out.virtio.push(VirtioHit {
                    device: dev,
                    vendor: v[1].unwrap_or(0) as u32,
                    table: var.to_string(),
                    line,
                    cond,
                });
            }
        }
    }
    out
}

/// One `pci_device_id` initializer, as the PCI core would see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PciEntry {
    /// A device the core binds by these IDs.
    Match(PciMatch),
    /// Only `driver_override` can bind it (vfio variant drivers).
    OverrideOnly,
    /// The all-zero entry that ends a table.
    Terminator,
    /// Not understood (IDs we cannot evaluate).
    Unreadable,
}

/// Reads one (macro-expanded) entry with C initializer semantics.
pub fn pci_entry(item: &[Tok]) -> PciEntry {
    let Some(v) = fields(
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
    ) else {
        return PciEntry::Unreadable;
    };
    if v[7].is_some_and(|x| x != 0) {
        return PciEntry::OverrideOnly;
    }
    let (Some(vendor), Some(device)) = (v[0], v[1]) else {
        return PciEntry::Unreadable;
    };
    let get = |x: Option<i128>| x.map(|n| (n as u64 & 0xffff_ffff) as u32);
    let m = PciMatch {
        vendor: (vendor as u64 & 0xffff_ffff) as u32,
        device: (device as u64 & 0xffff_ffff) as u32,
        subvendor: get(v[2]).unwrap_or(PCI_ANY_ID),
        subdevice: get(v[3]).unwrap_or(PCI_ANY_ID),
        class: get(v[4]).unwrap_or(0),
        class_mask: get(v[5]).unwrap_or(0),
    };
    if m.vendor == 0 && m.device == 0 && m.class == 0 && m.class_mask == 0 {
        return PciEntry::Terminator;
    }
    PciEntry::Match(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpp::tokenize;

    fn entry(s: &str) -> PciEntry {
        let mut t = Vec::new();
        tokenize(s, 1, 0, &mut t);
        pci_entry(&t)
    }

    #[test]
    fn entries_as_the_pci_core_reads_them() {
        let PciEntry::Match(m) = entry("0x8086, 0x100e, 0xffffffff, 0xffffffff, 0, 0, 3") else {
            panic!("not a match");
        };
        assert_eq!(
            (m.vendor, m.device, m.subvendor),
            (0x8086, 0x100e, PCI_ANY_ID)
        );
        let PciEntry::Match(m) = entry(".vendor = 0x1af4, .device = 0x1000 + 1") else {
            panic!("not a match");
        };
        // Fields not named are zero, as in C (PCI_DEVICE() names them).
        assert_eq!((m.device, m.subdevice, m.class_mask), (0x1001, 0, 0));
        assert_eq!(entry("0,"), PciEntry::Terminator);
        assert_eq!(
            entry(".vendor = 0x10de, .device = 0x1, .override_only = 1"),
            PciEntry::OverrideOnly
        );
        assert_eq!(entry("VENDOR_UNKNOWN, 0x1"), PciEntry::Unreadable);
    }

    #[test]
    fn tables_keep_order_and_count_what_they_skip() {
        let mut t = Vec::new();
        tokenize("{ 1, 2 }, { X, 3 }, { 4, 5 }, { 0, }", 9, 1, &mut t);
        let e = table_entries("a.c", "pci_device_id", "tbl", &t);
        let devs: Vec<u32> = e.pci.iter().map(|h| h.m.device).collect();
        assert_eq!(devs, vec![2, 5]);
        assert_eq!((e.pci_unparsed, e.pci_override_only), (1, 0));
        assert_eq!((e.pci[0].table.as_str(), e.pci[0].line), ("tbl", 9));
        let mut t = Vec::new();
        tokenize("{ 1, 0xffffffff }, { 0 }", 1, 0, &mut t);
        let e = table_entries("v.c", "virtio_device_id", "id_table", &t);
        assert_eq!(e.virtio.len(), 1);
        assert_eq!((e.virtio[0].device, e.virtio[0].vendor), (1, 0xffffffff));
    }
}
