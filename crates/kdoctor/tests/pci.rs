//! Acceptance 3: the PCI index names the right option for the devices
//! QEMU and EC2 present, and its recall against Debian's modules.alias for
//! the same kernel.

mod common;

use kdoctor::{pci_lookup, validate};

/// (what, vendor, device, class, options one of which must be named)
type Device = (&'static str, u32, u32, Option<u32>, &'static [&'static str]);

const DEVICES: &[Device] = &[
    ("e1000", 0x8086, 0x100e, Some(0x020000), &["E1000"]),
    ("e1000e", 0x8086, 0x10d3, Some(0x020000), &["E1000E"]),
    (
        "rtl8139",
        0x10ec,
        0x8139,
        Some(0x020000),
        &["8139CP", "8139TOO"],
    ),
    (
        "virtio-net legacy",
        0x1af4,
        0x1000,
        Some(0x020000),
        &["VIRTIO_NET"],
    ),
    (
        "virtio-net modern",
        0x1af4,
        0x1041,
        Some(0x020000),
        &["VIRTIO_NET"],
    ),
    (
        "virtio-net transport",
        0x1af4,
        0x1000,
        None,
        &["VIRTIO_PCI"],
    ),
    (
        "virtio-net modern transport",
        0x1af4,
        0x1041,
        None,
        &["VIRTIO_PCI"],
    ),
    (
        "virtio-blk legacy",
        0x1af4,
        0x1001,
        Some(0x010000),
        &["VIRTIO_BLK"],
    ),
    (
        "virtio-blk modern",
        0x1af4,
        0x1042,
        Some(0x010000),
        &["VIRTIO_BLK"],
    ),
    (
        "virtio-scsi legacy",
        0x1af4,
        0x1004,
        Some(0x010000),
        &["SCSI_VIRTIO"],
    ),
    (
        "virtio-scsi modern",
        0x1af4,
        0x1048,
        Some(0x010000),
        &["SCSI_VIRTIO"],
    ),
    (
        "ahci by class",
        0x1234,
        0x5678,
        Some(0x010601),
        &["SATA_AHCI"],
    ),
    ("ich9 ahci", 0x8086, 0x2922, Some(0x010601), &["SATA_AHCI"]),
    (
        "nvme by class",
        0x1234,
        0x5678,
        Some(0x010802),
        &["BLK_DEV_NVME"],
    ),
    ("qemu nvme", 0x1b36, 0x0010, None, &["BLK_DEV_NVME"]),
    (
        "xhci by class",
        0x1234,
        0x5678,
        Some(0x0c0330),
        &["USB_XHCI_PCI", "USB_XHCI_HCD"],
    ),
    ("ena pf", 0x1d0f, 0xec20, None, &["ENA_ETHERNET"]),
    ("ena vf", 0x1d0f, 0xec21, None, &["ENA_ETHERNET"]),
];

#[test]
#[ignore = "real tier: needs a kernel tree (scripts/test runs it)"]
fn qemu_and_ec2_devices() {
    let k = common::kernel();
    let mut failures = Vec::new();
    for (what, v, d, c, want) in DEVICES {
        let guards = pci_lookup(&k.index, *v, *d, *c);
        let named: Vec<String> = guards.iter().flat_map(|g| g.cond.symbols()).collect();
        let inner: Vec<String> = guards.iter().filter_map(|g| g.symbol.clone()).collect();
        if !want.iter().any(|w| inner.iter().any(|i| i == w)) {
            failures.push(format!(
                "{what}: innermost options {inner:?}, wanted one of {want:?}"
            ));
        }
        for g in &guards {
            assert!(
                !g.file.is_empty() && g.line > 0,
                "{what}: guard without a source line"
            );
        }
        let _ = named;
    }
    // xhci: the PCI glue depends on the HCD; both are in its guard.
    let x = pci_lookup(&k.index, 0x1234, 0x5678, Some(0x0c0330));
    let syms: Vec<String> = x.iter().flat_map(|g| g.cond.symbols()).collect();
    assert!(syms.iter().any(|s| s == "USB_XHCI_HCD"), "{syms:?}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
#[ignore = "real tier: needs a kernel tree (scripts/test runs it)"]
fn virtio_hop_says_how() {
    let k = common::kernel();
    let g = pci_lookup(&k.index, 0x1af4, 0x1042, None);
    let blk = g
        .iter()
        .find(|g| g.symbol.as_deref() == Some("VIRTIO_BLK"))
        .expect("virtio-blk");
    assert_eq!(blk.matched_by, "virtio");
    assert!(blk.via[0].contains("VIRTIO_ID_BLOCK"), "{:?}", blk.via);
    // A device ID outside the virtio range is not hopped.
    let g = pci_lookup(&k.index, 0x1af4, 0x1100, None);
    assert!(g.iter().all(|g| g.matched_by != "virtio"));
}

/// Recall against Debian's modules.alias for the same kernel: the
/// linux-image package of the tree's source version, fetched and indexed
/// with depmod into the cache on first use (`kdoctor::debian`; see
/// docs/DOCTOR.md).
#[test]
#[ignore = "real tier: needs a kernel tree and Debian's kernel packages (scripts/test runs it)"]
fn recall_against_debian_modules_alias() {
    let k = common::kernel();
    let d = common::debian(&k);
    let alias = d.modules_alias();
    let text = std::fs::read_to_string(&alias)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", alias.display()));
    let aliases = validate::parse_pci_aliases(&text);
    assert!(aliases.len() > 1000, "{} aliases", aliases.len());
    let r = validate::pci_recall(&k.index, &aliases);
    let frac = r.found as f64 / r.aliases as f64;
    eprintln!(
        "PCI recall vs {}: {}/{} aliases ({:.1}%), {}/{} modules; missing {:?}",
        alias.display(),
        r.found,
        r.aliases,
        100.0 * frac,
        r.modules_found,
        r.modules,
        r.missing
    );
    assert!(frac >= 0.95, "recall {frac}");
}
