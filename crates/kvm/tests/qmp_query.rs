//! `query_pci` against real QEMU: machines like the catalog's targets start
//! paused, QMP lists their PCI functions, and no QEMU is left behind,
//! whether the query succeeded or QEMU refused to start.
//!
//! Real tier: every test starts QEMU (`scripts/test` runs them with
//! `--include-ignored`).

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use kvm::{query_pci, DiskInterface, Machine, MachineType, Nic, PciFunction, VmError};

/// One query at a time, so "no QEMU of ours is running" is a statement
/// about the query that just ended.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn exclusive() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

const QEMU: &str = "qemu-system-x86_64";

/// Live QEMUs started by `query_pci` (its scratch directories are named
/// `ktailor-qmp-*`, and every QEMU it starts names its socket there).
fn qmp_qemus() -> Vec<(u32, String)> {
    ktestkit::qemus_mentioning("ktailor-qmp-")
}

fn assert_no_qemu_left() {
    let left = qmp_qemus();
    assert!(left.is_empty(), "QEMU left running: {left:?}");
}

/// The machines of data/targets.toml's qemu-e1000 (pc, an e1000) and
/// qemu-virtio (q35, virtio-net and a virtio-blk disk).
fn machine_of(target: &str) -> (Machine, Vec<DiskInterface>) {
    let (machine, nic, disks) = match target {
        "qemu-e1000" => (MachineType::Pc, "e1000", vec![]),
        "qemu-virtio" => (
            MachineType::Q35,
            "virtio-net-pci",
            vec![DiskInterface::VirtioBlk],
        ),
        other => panic!("no machine for {other}"),
    };
    let m = Machine {
        nics: vec![Nic {
            model: nic.into(),
            hostfwd: true,
        }],
        ..Machine::new(machine)
    };
    (m, disks)
}

fn has(devs: &[PciFunction], vendor: u32, devices: &[u32]) -> bool {
    devs.iter()
        .any(|d| d.vendor == vendor && devices.contains(&d.device))
}

#[test]
#[ignore = "real tier: starts QEMU (scripts/test runs it)"]
fn qemu_virtio_lists_its_virtio_devices_and_the_q35_chipset() {
    let _g = exclusive();
    assert_no_qemu_left();
    let (m, disks) = machine_of("qemu-virtio");
    let q = query_pci(Path::new(QEMU), &m, &disks).unwrap_or_else(|e| {
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
#[ignore = "real tier: starts QEMU (scripts/test runs it)"]
fn pc_with_e1000_and_an_ahci_disk() {
    let _g = exclusive();
    let (m, _) = machine_of("qemu-e1000");
    let q = query_pci(Path::new(QEMU), &m, &[DiskInterface::Ahci]).expect("query-pci on pc");
    assert!(has(&q.devices, 0x8086, &[0x1237]), "no i440FX host bridge");
    assert!(has(&q.devices, 0x8086, &[0x7000]), "no PIIX3 ISA bridge");
    assert!(has(&q.devices, 0x8086, &[0x7010]), "no PIIX3 IDE");
    assert!(has(&q.devices, 0x8086, &[0x100e]), "no e1000");
    assert!(has(&q.devices, 0x8086, &[0x2922]), "no AHCI controller");
    assert_no_qemu_left();
}

#[test]
#[ignore = "real tier: starts QEMU (scripts/test runs it)"]
fn qemu_refusing_to_start_is_an_error_with_its_reason_and_no_leftover() {
    let _g = exclusive();
    let (mut m, _) = machine_of("qemu-e1000");
    m.nics[0].model = "no-such-nic".into();
    let e = query_pci(Path::new(QEMU), &m, &[]).expect_err("an unknown NIC model");
    let msg = e.to_string();
    assert!(msg.contains("no-such-nic"), "{msg}");
    assert_no_qemu_left();
    // A QEMU that dies before QMP is up (as one without the machine type
    // does): its stderr is the reason.
    let d = tempfile::tempdir().unwrap();
    let fake = d.path().join("qemu-system-x86_64");
    std::fs::write(
        &fake,
        "#!/bin/sh\necho 'qemu-system-x86_64: unsupported machine type' >&2\nexit 1\n",
    )
    .unwrap();
    let mut perm = std::fs::metadata(&fake).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
    std::fs::set_permissions(&fake, perm).unwrap();
    let (m, _) = machine_of("qemu-e1000");
    let msg = query_pci(&fake, &m, &[])
        .expect_err("QEMU died")
        .to_string();
    assert!(msg.contains("unsupported machine type"), "{msg}");
    assert_no_qemu_left();
    // Arguments we refuse to build never reach QEMU.
    let (mut m, _) = machine_of("qemu-e1000");
    m.nics[0].model = "e1000,romfile=x".into();
    assert!(matches!(
        query_pci(Path::new(QEMU), &m, &[]),
        Err(VmError::Invalid(_))
    ));
    // ... before QEMU is even looked for.
    let missing = query_pci(Path::new("/nonexistent/qemu-system-x86_64"), &m, &[]);
    assert!(matches!(missing, Err(VmError::Invalid(_))), "{missing:?}");
    let (m, _) = machine_of("qemu-e1000");
    let e = query_pci(Path::new("/nonexistent/qemu-system-x86_64"), &m, &[])
        .expect_err("no such binary");
    assert!(e.to_string().contains("apt-get install"), "{e}");
    assert_no_qemu_left();
}
