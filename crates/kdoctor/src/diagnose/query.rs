//! Index queries the doctor and its callers share: which drivers (and
//! guards) a PCI device needs, through the ID tables and the virtio hop,
//! and which option of a guard to name.

use serde::{Deserialize, Serialize};

use crate::cond::Cond;
use crate::index::{self, Index, Site};
use crate::scan;

/// What a PCI device needs: the drivers whose ID tables match it, each with
/// its guard. `class` is the 24-bit class code, or the 16-bit base+sub
/// `lspci -n` prints (then the prog-if is not compared).
pub fn pci_lookup(index: &Index, vendor: u32, device: u32, class: Option<u32>) -> Vec<Guard> {
    pci_lookup_sub(index, vendor, device, class, None)
}

/// A guard: the option expression under which something is compiled.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Guard {
    pub subject: String,
    /// The innermost option of the cheapest alternative.
    pub symbol: Option<String>,
    pub expr: String,
    pub cond: Cond,
    pub file: String,
    pub line: u32,
    pub module: Option<String>,
    /// `vendor+device`, `class`, `vendor`, `device` (any vendor), or
    /// `virtio` (the virtio driver behind a virtio-pci device).
    pub matched_by: String,
    /// The hops from the question to the code.
    pub via: Vec<String>,
    /// The entry names a subsystem the question did not give: it matches
    /// only some boards with these IDs.
    pub needs_subsystem: bool,
}

/// Transitional (legacy) virtio-pci device IDs → virtio device IDs (virtio
/// spec 1.x, "PCI Device ID" table; modern devices are 0x1040 + ID).
const VIRTIO_TRANSITIONAL: [(u32, u32); 7] = [
    (0x1000, 1), // network
    (0x1001, 2), // block
    (0x1002, 5), // memory balloon
    (0x1003, 3), // console
    (0x1004, 8), // SCSI host
    (0x1005, 4), // entropy source
    (0x1009, 9), // 9P transport
];

/// [`pci_lookup`] with the subsystem IDs when known: entries that name a
/// subsystem must then match it, and a transitional virtio device's
/// subsystem device ID is its virtio ID. Catch-all entries (any vendor,
/// any device, no class: pci-stub, xen-pciback) are left out: they bind
/// only when told to.
pub fn pci_lookup_sub(
    index: &Index,
    vendor: u32,
    device: u32,
    class: Option<u32>,
    sub: Option<(u32, u32)>,
) -> Vec<Guard> {
    let subdevice = sub.map(|s| s.1);
    let subject = match class {
        Some(c) if c > 0xffff => format!("pci {vendor:04x}:{device:04x} class {c:06x}"),
        Some(c) => format!("pci {vendor:04x}:{device:04x} class {c:04x}"),
        None => format!("pci {vendor:04x}:{device:04x}"),
    };
    let mut out: Vec<Guard> = Vec::new();
    for e in &index.pci {
        if !index::pci_matches(&e.ids, vendor, device, class) {
            continue;
        }
        let names_sub = e.ids.subvendor != scan::PCI_ANY_ID || e.ids.subdevice != scan::PCI_ANY_ID;
        if let (true, Some((sv, sd))) = (names_sub, sub) {
            let ok = |want: u32, have: u32| want == scan::PCI_ANY_ID || want == have;
            if !ok(e.ids.subvendor, sv) || !ok(e.ids.subdevice, sd) {
                continue;
            }
        }
        let any = "any";
        let matched_by = if e.ids.vendor != scan::PCI_ANY_ID && e.ids.device != scan::PCI_ANY_ID {
            "vendor+device"
        } else if e.ids.class_mask != 0 {
            "class"
        } else if e.ids.vendor != scan::PCI_ANY_ID {
            "vendor"
        } else if e.ids.device != scan::PCI_ANY_ID {
            "device"
        } else {
            any
        };
        let mut via = vec![format!(
            "{} entry {} in {}:{}",
            e.table,
            describe_ids(&e.ids),
            e.site.file,
            e.site.line
        )];
        if matched_by == "any" {
            continue;
        }
        if names_sub {
            via.push(format!(
                "only for subsystem {:04x}:{:04x}",
                e.ids.subvendor & 0xffff,
                e.ids.subdevice & 0xffff
            ));
        }
        let mut g = guard_of(&subject, &e.site, matched_by, via);
        g.needs_subsystem = names_sub && sub.is_none();
        push_guard(&mut out, g);
    }
    // virtio-pci: the transport matched above (vendor 0x1af4, any device);
    // the device itself is driven by the virtio driver for its virtio ID.
    if vendor == 0x1af4 && (0x1000..=0x107f).contains(&device) {
        let vid = if device >= 0x1040 {
            Some(device - 0x1040)
        } else {
            subdevice.filter(|s| *s != 0).or_else(|| {
                VIRTIO_TRANSITIONAL
                    .iter()
                    .find(|(d, _)| *d == device)
                    .map(|(_, v)| *v)
            })
        };
        if let Some(vid) = vid {
            let name = index
                .virtio_names
                .get(&vid)
                .cloned()
                .unwrap_or_else(|| format!("virtio ID {vid}"));
            // The virtio driver works only over the virtio-pci transport
            // (matched above by vendor), so the device needs both: asking
            // for them together also lets the solver pick the transport to
            // select VIRTIO rather than some other virtio driver.
            let transport = out
                .iter()
                .find(|g| g.matched_by == "vendor" && g.file.contains("virtio_pci"))
                .map(|g| g.cond.clone());
            for v in index.virtio.iter().filter(|v| v.device == vid) {
                let via = vec![
                    format!("virtio-pci {device:04x} is virtio device {vid} ({name})"),
                    format!("{} in {}:{}", v.table, v.site.file, v.site.line),
                ];
                let mut g = guard_of(&subject, &v.site, "virtio", via);
                if let Some(t) = &transport {
                    g.cond = Cond::and([t.clone(), g.cond]);
                    g.expr = g.cond.to_string();
                    g.symbol = innermost(&g.cond);
                }
                push_guard(&mut out, g);
            }
        }
    }
    let rank = |g: &Guard| match g.matched_by.as_str() {
        "vendor+device" => 0,
        "virtio" => 1,
        "class" => 2,
        "vendor" | "device" => 3,
        _ => 4,
    };
    out.sort_by_key(rank);
    out
}

fn describe_ids(m: &scan::PciMatch) -> String {
    let f = |v: u32| {
        if v == scan::PCI_ANY_ID {
            "*".to_string()
        } else {
            format!("{v:04x}")
        }
    };
    let mut s = format!("{}:{}", f(m.vendor), f(m.device));
    if m.class_mask != 0 {
        s.push_str(&format!(" class {:06x}/{:06x}", m.class, m.class_mask));
    }
    s
}

fn push_guard(out: &mut Vec<Guard>, g: Guard) {
    if !out
        .iter()
        .any(|x| x.file == g.file && x.cond == g.cond && x.matched_by == g.matched_by)
    {
        out.push(g);
    }
}

fn guard_of(subject: &str, site: &Site, matched_by: &str, via: Vec<String>) -> Guard {
    Guard {
        subject: subject.to_string(),
        symbol: innermost(&site.cond),
        expr: site.cond.to_string(),
        cond: site.cond.clone(),
        file: site.file.clone(),
        line: site.line,
        module: site.module.clone(),
        matched_by: matched_by.to_string(),
        via,
        needs_subsystem: false,
    }
}

/// The option to name: the innermost (last) positive one of the first
/// alternative, the most specific switch (`NET && UNIX` → UNIX), because
/// the outer ones are usually its Kconfig dependencies anyway.
pub fn innermost(c: &Cond) -> Option<String> {
    c.alternatives()
        .first()
        .and_then(|a| a.iter().rev().find(|l| l.on).map(|l| l.symbol.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::{PciId, Stats, VirtioId, FORMAT};
    use crate::scan::{PciMatch, PCI_ANY_ID};

    fn site(file: &str, cond: Cond) -> Site {
        Site {
            file: file.into(),
            line: 1,
            cond,
            module: None,
        }
    }

    fn pci(vendor: u32, device: u32, class: u32, mask: u32, file: &str, opt: &str) -> PciId {
        PciId {
            ids: PciMatch {
                vendor,
                device,
                subvendor: PCI_ANY_ID,
                subdevice: PCI_ANY_ID,
                class,
                class_mask: mask,
            },
            table: "tbl".into(),
            site: site(file, Cond::Tri(opt.into())),
        }
    }

    fn index() -> Index {
        Index {
            format: FORMAT,
            kernelversion: "6.12.0".into(),
            arch: "x86_64".into(),
            srcarch: "x86".into(),
            tree: "/t".into(),
            stats: Stats::default(),
            syscalls: Vec::new(),
            filesystems: Vec::new(),
            families: Vec::new(),
            family_numbers: Vec::new(),
            pci: vec![
                pci(
                    0x1af4,
                    PCI_ANY_ID,
                    0,
                    0,
                    "drivers/virtio/virtio_pci_common.c",
                    "VIRTIO_PCI",
                ),
                pci(
                    PCI_ANY_ID,
                    PCI_ANY_ID,
                    0x010601,
                    0xffffff,
                    "drivers/ata/ahci.c",
                    "SATA_AHCI",
                ),
                pci(
                    PCI_ANY_ID,
                    PCI_ANY_ID,
                    0,
                    0,
                    "drivers/pci/pci-stub.c",
                    "PCI_STUB",
                ),
            ],
            virtio: vec![VirtioId {
                device: 1,
                vendor: PCI_ANY_ID,
                table: "id_table".into(),
                site: site("drivers/net/virtio_net.c", Cond::Tri("VIRTIO_NET".into())),
            }],
            virtio_names: [(1, "VIRTIO_ID_NET".to_string())].into_iter().collect(),
            messages: Vec::new(),
            files: Default::default(),
        }
    }

    #[test]
    fn virtio_devices_need_the_transport_and_the_driver() {
        let idx = index();
        // Transitional 1af4:1000 is virtio ID 1, modern 1af4:1041 too.
        for dev in [0x1000, 0x1041] {
            let g = pci_lookup(&idx, 0x1af4, dev, None);
            assert_eq!(g[0].matched_by, "virtio", "{g:?}");
            assert_eq!(g[0].expr, "VIRTIO_PCI && VIRTIO_NET");
            assert_eq!(g[0].symbol.as_deref(), Some("VIRTIO_NET"));
            assert!(g[0].via[0].contains("VIRTIO_ID_NET"), "{:?}", g[0].via);
            assert_eq!(g[1].matched_by, "vendor");
        }
        // A transitional device's subsystem device ID is its virtio ID.
        let g = pci_lookup_sub(&idx, 0x1af4, 0x1000, None, Some((0x1af4, 2)));
        assert!(g.iter().all(|g| g.matched_by != "virtio"), "{g:?}");
    }

    #[test]
    fn classes_match_and_catch_alls_never_bind() {
        let idx = index();
        let g = pci_lookup(&idx, 0x8086, 0x2922, Some(0x0106));
        assert_eq!(g.len(), 1, "pci-stub binds only when told to: {g:?}");
        assert_eq!(
            (g[0].matched_by.as_str(), g[0].expr.as_str()),
            ("class", "SATA_AHCI")
        );
        assert_eq!(g[0].subject, "pci 8086:2922 class 0106");
        assert!(pci_lookup(&idx, 0x8086, 0x2922, None).is_empty());
    }

    #[test]
    fn the_innermost_option_of_the_first_alternative() {
        let c = Cond::or([
            Cond::and([Cond::Tri("NET".into()), Cond::Tri("UNIX".into())]),
            Cond::Tri("OTHER".into()),
        ]);
        assert_eq!(innermost(&c).as_deref(), Some("UNIX"));
        assert_eq!(innermost(&Cond::True), None);
    }
}
