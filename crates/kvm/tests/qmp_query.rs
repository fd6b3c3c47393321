//! `query_pci` against real QEMU: the catalog's machines start paused, QMP
//! lists their PCI functions, and no QEMU is left behind, whether the query
//! succeeded or QEMU refused to start.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use kcatalog::Catalog;
use kvm::{query_pci, PciFunction, VmError};

/// One query at a time, so "no QEMU of ours is running" is a statement
/// about the query that just ended.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn exclusive() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

const QEMU: &str = "qemu-system-x86_64";

/// Live QEMUs started by `query_pci` (its scratch directories are named
/// `ktailor-qmp-*`, and every QEMU it starts names its socket there).
fn qmp_qemus() -> Vec<String> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").expect("read /proc").flatten() {
        if !e
            .file_name()
            .to_string_lossy()
            .bytes()
            .all(|b| b.is_ascii_digit())
        {
            continue;
        }
        let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains("qemu-system") && cmdline.contains("ktailor-qmp-") {
            found.push(format!("{}: {cmdline}", e.file_name().to_string_lossy()));
        }
    }
    found
}

fn assert_no_qemu_left() {
    let left = qmp_qemus();
    assert!(left.is_empty(), "QEMU left running: {left:?}");
}

fn machine_of(target: &str) -> kcatalog::Machine {
    Catalog::builtin()
        .targets
        .into_iter()
        .find(|t| t.name == target)
        .unwrap_or_else(|| panic!("no target {target} in data/targets.toml"))
        .machine
}

fn has(devs: &[PciFunction], vendor: u32, devices: &[u32]) -> bool {
    devs.iter()
        .any(|d| d.vendor == vendor && devices.contains(&d.device))
}

#[test]
fn qemu_virtio_lists_its_virtio_devices_and_the_q35_chipset() {
    let _g = exclusive();
    assert_no_qemu_left();
    let q = query_pci(Path::new(QEMU), &machine_of("qemu-virtio")).unwrap_or_else(|e| {
        panic!("query-pci on qemu-virtio: {e} (scripts/setup installs qemu-system-x86)")
    });
    for d in &q.devices {
        eprintln!("{}", d.line());
    }
    eprintln!(
        "QEMU {:?}: {} functions in {:.2} s",
        q.qemu_version,
        q.devices.len(),
        q.duration.as_secs_f64()
    );
    assert!(q.qemu_version.is_some());
    // virtio-net and virtio-blk, transitional (0x1000/0x1001) or modern.
    assert!(has(&q.devices, 0x1af4, &[0x1000, 0x1041]), "no virtio-net");
    assert!(has(&q.devices, 0x1af4, &[0x1001, 0x1042]), "no virtio-blk");
    // q35: the MCH host bridge, the ICH9 LPC (ISA) bridge and SATA.
    assert!(has(&q.devices, 0x8086, &[0x29c0]), "no q35 host bridge");
    assert!(has(&q.devices, 0x8086, &[0x2918]), "no ICH9 LPC bridge");
    assert!(has(&q.devices, 0x8086, &[0x2922]), "no ICH9 AHCI");
    let net = q
        .devices
        .iter()
        .find(|d| d.vendor == 0x1af4 && d.class == 0x0200)
        .expect("virtio-net has the Ethernet class");
    assert_eq!(net.subsystem_vendor, Some(0x1af4));
    assert!(q.qemu_args.iter().any(|a| a == "-S"), "{:?}", q.qemu_args);
    assert!(!q.qemu_args.iter().any(|a| a == "-kernel"));
    assert_no_qemu_left();
}

#[test]
fn pc_with_e1000_and_an_ahci_disk() {
    let _g = exclusive();
    let mut m = machine_of("qemu-e1000");
    m.disks.push(kcatalog::Disk {
        interface: "ahci".into(),
        content: "ext4-scratch".into(),
        size_mb: 64,
    });
    let q = query_pci(Path::new(QEMU), &m).expect("query-pci on pc");
    assert!(has(&q.devices, 0x8086, &[0x1237]), "no i440FX host bridge");
    assert!(has(&q.devices, 0x8086, &[0x7000]), "no PIIX3 ISA bridge");
    assert!(has(&q.devices, 0x8086, &[0x7010]), "no PIIX3 IDE");
    assert!(has(&q.devices, 0x8086, &[0x100e]), "no e1000");
    assert!(has(&q.devices, 0x8086, &[0x2922]), "no AHCI controller");
    assert_no_qemu_left();
}

#[test]
fn qemu_refusing_to_start_is_an_error_with_its_reason_and_no_leftover() {
    let _g = exclusive();
    let mut m = machine_of("qemu-e1000");
    m.nics[0].model = "no-such-nic".into();
    let e = query_pci(Path::new(QEMU), &m).expect_err("an unknown NIC model");
    let msg = e.to_string();
    assert!(msg.contains("no-such-nic"), "{msg}");
    assert_no_qemu_left();
    // A machine type this QEMU does not have: it dies before QMP is up.
    let mut m = machine_of("qemu-e1000");
    m.machine = "pc-i440fx-99.9".into();
    let msg = query_pci(Path::new(QEMU), &m)
        .expect_err("an unknown machine type")
        .to_string();
    assert!(msg.contains("pc-i440fx-99.9"), "{msg}");
    assert_no_qemu_left();
    // Arguments we refuse to build never reach QEMU.
    let mut m = machine_of("qemu-e1000");
    m.machine = "pc,accel=kvm".into();
    assert!(matches!(
        query_pci(Path::new(QEMU), &m),
        Err(VmError::Invalid(_))
    ));
    let missing = query_pci(Path::new("/nonexistent/qemu-system-x86_64"), &m);
    assert!(missing.is_err());
    let e = query_pci(
        Path::new("/nonexistent/qemu-system-x86_64"),
        &machine_of("qemu-e1000"),
    )
    .expect_err("no such binary");
    assert!(e.to_string().contains("apt-get install"), "{e}");
    assert_no_qemu_left();
}
