//! Tables every file of a tree shares, read from well-known headers: the
//! PCI and virtio ID macros, virtio device names, address family numbers.

use std::collections::HashMap;

use super::decl::enum_constants;
use super::headers::number_macro;
use crate::cpp::{self, Layered, Macros, TokKind};

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
