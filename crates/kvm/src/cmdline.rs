//! From a machine description to QEMU arguments.
//!
//! Kept free of I/O so every machine/NIC/disk combination can be checked in
//! unit tests without starting QEMU.

use std::path::Path;

use crate::{DiskInterface, Firmware, HostForward, VmError, VmSpec};

/// QEMU's machine types (`-machine`); each wires disks differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MachineType {
    /// i440FX + PIIX: IDE on board.
    Pc,
    /// Q35 + ICH9: AHCI on board.
    Q35,
    /// No PCI: virtio-mmio devices only.
    Microvm,
}

impl MachineType {
    /// The `-machine` argument.
    pub fn as_str(self) -> &'static str {
        match self {
            MachineType::Pc => "pc",
            MachineType::Q35 => "q35",
            MachineType::Microvm => "microvm",
        }
    }

    fn has_pci(self) -> bool {
        !matches!(self, MachineType::Microvm)
    }
}

/// The accelerator a run ends up with once `Accel::Auto` is decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccelUsed {
    Kvm,
    Tcg,
}

impl AccelUsed {
    pub fn as_str(self) -> &'static str {
        match self {
            AccelUsed::Kvm => "kvm",
            AccelUsed::Tcg => "tcg",
        }
    }
}

/// The CPU model under KVM: the host's, so the guest sees the features the
/// kernel will find on real hardware. The health check uses the same model,
/// because a model KVM cannot provide makes QEMU abort.
pub(crate) const KVM_CPU: &str = "host";

/// Device and property names: keeps a NIC model from smuggling extra
/// `,key=value` options into an argument.
fn is_word(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// QEMU's option syntax doubles commas inside values.
pub(crate) fn escape(path: &Path) -> Result<String, VmError> {
    let s = path.to_str().ok_or_else(|| {
        VmError::Invalid(format!(
            "{} is not valid UTF-8; QEMU options cannot carry it",
            path.display()
        ))
    })?;
    Ok(s.replace(',', ",,"))
}

fn plain(path: &Path) -> Result<String, VmError> {
    path.to_str().map(str::to_string).ok_or_else(|| {
        VmError::Invalid(format!(
            "{} is not valid UTF-8; QEMU options cannot carry it",
            path.display()
        ))
    })
}

fn nic_device(model: &str, board: MachineType) -> Result<String, VmError> {
    if !is_word(model) {
        return Err(VmError::Invalid(format!(
            "NIC model {model:?} is not a QEMU device name"
        )));
    }
    let virtio = matches!(model, "virtio-net" | "virtio-net-pci" | "virtio");
    Ok(match (virtio, board) {
        (true, MachineType::Microvm) => "virtio-net-device".into(),
        (true, _) => "virtio-net-pci".into(),
        (false, MachineType::Microvm) => {
            return Err(VmError::Invalid(format!(
                "microvm has no PCI bus for a {model} NIC; use virtio-net"
            )))
        }
        (false, _) => model.to_string(),
    })
}

/// Where the first bytes say the image is a qcow2; raw otherwise.
pub(crate) fn disk_format(path: &Path) -> &'static str {
    use std::io::Read;
    let mut magic = [0u8; 4];
    let is_qcow2 = std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .map(|_| magic == *b"QFI\xfb")
        .unwrap_or(false);
    if is_qcow2 {
        "qcow2"
    } else {
        "raw"
    }
}

/// Everything `run` decided before starting QEMU.
pub(crate) struct Resolved<'a> {
    pub accel: AccelUsed,
    pub forwards: &'a [HostForward],
    /// The writable copy of the UEFI variable store.
    pub ovmf_vars: Option<&'a Path>,
    pub pidfile: &'a Path,
}

pub(crate) fn qemu_args(spec: &VmSpec, r: &Resolved<'_>) -> Result<Vec<String>, VmError> {
    let m = &spec.machine;
    let board = m.machine;
    let firmware = m.firmware;
    if !(16..=1 << 20).contains(&m.memory_mb) {
        return Err(VmError::Invalid(format!(
            "memory_mb {} is out of range (16 MiB to 1 TiB)",
            m.memory_mb
        )));
    }
    if !(1..=255).contains(&m.cpus) {
        return Err(VmError::Invalid(format!(
            "cpus {} is out of range (1 to 255)",
            m.cpus
        )));
    }
    let mut a: Vec<String> = Vec::new();
    let mut push = |xs: &[&str]| a.extend(xs.iter().map(|s| s.to_string()));
    push(&["-machine", board.as_str()]);
    push(&["-accel", r.accel.as_str()]);
    if r.accel == AccelUsed::Kvm {
        push(&["-cpu", KVM_CPU]);
    }
    push(&["-m", &format!("{}M", m.memory_mb)]);
    push(&["-smp", &m.cpus.to_string()]);
    // No default NIC, CD-ROM, VGA or monitor: the guest sees exactly the
    // devices the target names, so a driver that probes means the target
    // asked for it.
    push(&["-nodefaults", "-no-user-config", "-nographic", "-no-reboot"]);
    let log = escape(&spec.serial_log)?;
    push(&[
        "-chardev",
        &format!("stdio,id=ser0,signal=off,logfile={log},logappend=off"),
    ]);
    push(&["-serial", "chardev:ser0"]);
    push(&["-pidfile", &plain(r.pidfile)?]);
    if firmware == Firmware::Uefi {
        if board == MachineType::Microvm {
            return Err(VmError::Invalid(
                "microvm cannot boot UEFI firmware; use pc or q35".into(),
            ));
        }
        let vars = r.ovmf_vars.ok_or_else(|| {
            VmError::Invalid("UEFI needs a copy of the OVMF variable store".into())
        })?;
        push(&[
            "-drive",
            &format!(
                "if=pflash,format=raw,unit=0,readonly=on,file={}",
                escape(&spec.ovmf.code)?
            ),
        ]);
        push(&[
            "-drive",
            &format!("if=pflash,format=raw,unit=1,file={}", escape(vars)?),
        ]);
    }
    if spec.firmware_boot {
        if firmware != Firmware::Uefi {
            return Err(VmError::Invalid(
                "booting from the disk needs UEFI firmware (machine firmware = \"uefi\")".into(),
            ));
        }
    } else {
        push(&["-kernel", &plain(&spec.kernel)?]);
        if let Some(initrd) = &spec.initrd {
            // -initrd takes a comma-separated list, so a comma must be doubled.
            push(&["-initrd", &escape(initrd)?]);
        }
        push(&["-append", &spec.append]);
    }

    for (i, nic) in m.nics.iter().enumerate() {
        let device = nic_device(&nic.model, board)?;
        let mut netdev = format!("user,id=n{i}");
        if i == 0 {
            for opt in &spec.user_net {
                // One option each: a value may hold a command line with
                // spaces, never a second option smuggled in unescaped.
                if opt.contains(',') {
                    return Err(VmError::Invalid(format!(
                        "user-net option {opt:?} holds a comma; QEMU would read two options"
                    )));
                }
                netdev.push(',');
                netdev.push_str(opt);
            }
        }
        for f in r.forwards.iter().filter(|f| f.nic == i) {
            netdev.push_str(&format!(
                ",hostfwd=tcp:127.0.0.1:{}-:{}",
                f.host_port, f.guest_port
            ));
        }
        push(&["-netdev", &netdev]);
        // No PXE option ROM: we boot with -kernel, and under UEFI the ROM
        // would make OVMF try the network before giving up.
        let rom = if board.has_pci() { ",romfile=" } else { "" };
        push(&["-device", &format!("{device},netdev=n{i}{rom}")]);
    }

    let mut ahci_added = false;
    let mut scsi_added = false;
    let (mut sata_port, mut ide_slot) = (0usize, 0usize);
    for (i, disk) in spec.disks.iter().enumerate() {
        let file = escape(&disk.path)?;
        let format = disk_format(&disk.path);
        push(&[
            "-drive",
            &format!("if=none,id=d{i},file={file},format={format}"),
        ]);
        let iface = disk.interface;
        if iface != DiskInterface::VirtioBlk && !board.has_pci() {
            return Err(VmError::Invalid(format!(
                "microvm has no PCI bus for a {} disk; use virtio-blk",
                iface.as_str()
            )));
        }
        use DiskInterface::{Ahci, Ide, Nvme, VirtioBlk, VirtioScsi};
        let device = match (iface, board) {
            (VirtioBlk, MachineType::Microvm) => format!("virtio-blk-device,drive=d{i}"),
            (VirtioBlk, _) => format!("virtio-blk-pci,drive=d{i}"),
            (Nvme, _) => format!("nvme,serial=ktailor{i},drive=d{i}"),
            // q35's built-in ich9-ahci exposes one bus per port; q35 has no
            // parallel IDE, so `ide` means the same SATA ports there.
            (Ahci | Ide, MachineType::Q35) => {
                if sata_port >= 6 {
                    return Err(VmError::Invalid("q35 has 6 SATA ports".into()));
                }
                sata_port += 1;
                format!("ide-hd,drive=d{i},bus=ide.{}", sata_port - 1)
            }
            (Ahci, _) => {
                if !ahci_added {
                    push(&["-device", "ahci,id=ahci0"]);
                    ahci_added = true;
                }
                if sata_port >= 6 {
                    return Err(VmError::Invalid("an AHCI controller has 6 ports".into()));
                }
                sata_port += 1;
                format!("ide-hd,drive=d{i},bus=ahci0.{}", sata_port - 1)
            }
            (Ide, _) => {
                if ide_slot >= 4 {
                    return Err(VmError::Invalid(
                        "the PIIX IDE controller takes 4 disks".into(),
                    ));
                }
                ide_slot += 1;
                let s = ide_slot - 1;
                format!("ide-hd,drive=d{i},bus=ide.{},unit={}", s / 2, s % 2)
            }
            (VirtioScsi, _) => {
                if !scsi_added {
                    push(&["-device", "virtio-scsi-pci,id=scsi0"]);
                    scsi_added = true;
                }
                format!("scsi-hd,drive=d{i},bus=scsi0.0")
            }
        };
        push(&["-device", &device]);
    }
    a.extend(spec.extra_args.iter().cloned());
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Accel, Machine, Nic, VmDisk};
    use std::path::PathBuf;
    use DiskInterface::{Ahci, Ide, Nvme, VirtioBlk};
    use Firmware::{Bios, Uefi};
    use MachineType::{Microvm, Pc, Q35};

    fn machine(kind: MachineType, firmware: Firmware, nics: &[&str]) -> Machine {
        Machine {
            firmware,
            nics: nics
                .iter()
                .map(|m| Nic {
                    model: (*m).into(),
                    hostfwd: true,
                })
                .collect(),
            ..Machine::new(kind)
        }
    }

    fn spec(m: Machine, disks: &[(&str, DiskInterface)]) -> VmSpec {
        let mut s = VmSpec::new(
            PathBuf::from("/k/bzImage"),
            m,
            PathBuf::from("/tmp/serial.log"),
        );
        s.initrd = Some(PathBuf::from("/k/initrd.cpio"));
        s.accel = Accel::Tcg;
        s.disks = disks
            .iter()
            .map(|(p, i)| VmDisk {
                path: PathBuf::from(p),
                interface: *i,
            })
            .collect();
        s
    }

    fn args(s: &VmSpec, accel: AccelUsed) -> Result<String, VmError> {
        let forwards: Vec<HostForward> = s
            .machine
            .nics
            .iter()
            .enumerate()
            .filter(|(_, n)| n.hostfwd)
            .map(|(i, _)| HostForward {
                nic: i,
                guest_port: 22,
                host_port: 40000 + i as u16,
            })
            .collect();
        let vars = PathBuf::from("/run/vars.fd");
        let r = Resolved {
            accel,
            forwards: &forwards,
            ovmf_vars: Some(&vars),
            pidfile: Path::new("/run/qemu.pid"),
        };
        qemu_args(s, &r).map(|a| a.join(" "))
    }

    const COMMON: &str = "-nodefaults -no-user-config -nographic -no-reboot \
        -chardev stdio,id=ser0,signal=off,logfile=/tmp/serial.log,logappend=off \
        -serial chardev:ser0 -pidfile /run/qemu.pid";

    #[test]
    fn pc_with_e1000_and_ide() {
        let s = spec(machine(Pc, Bios, &["e1000"]), &[("/d/root.img", Ide)]);
        let got = args(&s, AccelUsed::Tcg).unwrap();
        println!("pc/e1000/ide: qemu-system-x86_64 {got}");
        assert_eq!(
            got,
            format!(
                "-machine pc -accel tcg -m 256M -smp 1 {COMMON} \
                 -kernel /k/bzImage -initrd /k/initrd.cpio -append console=ttyS0 \
                 -netdev user,id=n0,hostfwd=tcp:127.0.0.1:40000-:22 -device e1000,netdev=n0,romfile= \
                 -drive if=none,id=d0,file=/d/root.img,format=raw \
                 -device ide-hd,drive=d0,bus=ide.0,unit=0"
            )
        );
    }

    #[test]
    fn q35_with_virtio_net_ahci_virtio_blk_nvme_on_kvm() {
        let s = spec(
            machine(Q35, Bios, &["virtio-net"]),
            &[
                ("/d/a.img", Ahci),
                ("/d/b.img", VirtioBlk),
                ("/d/c,1.img", Nvme),
            ],
        );
        let got = args(&s, AccelUsed::Kvm).unwrap();
        println!("q35/virtio-net/ahci/virtio-blk/nvme: qemu-system-x86_64 {got}");
        assert!(got.starts_with("-machine q35 -accel kvm -cpu host -m 256M"));
        assert!(got.contains("-device virtio-net-pci,netdev=n0,romfile="));
        assert!(got.contains(
            "-drive if=none,id=d0,file=/d/a.img,format=raw -device ide-hd,drive=d0,bus=ide.0"
        ));
        assert!(got.contains("-device virtio-blk-pci,drive=d1"));
        assert!(got.contains(
            "-drive if=none,id=d2,file=/d/c,,1.img,format=raw -device nvme,serial=ktailor2,drive=d2"
        ));
        assert!(!got.contains("-device ahci"), "q35 has its own AHCI");
    }

    #[test]
    fn firmware_boot_leaves_out_the_kernel_and_user_net_options_join_the_first_nic() {
        let mut s = spec(
            machine(Q35, Uefi, &["virtio-net-pci", "e1000"]),
            &[("/d/disk.raw", Nvme)],
        );
        s.firmware_boot = true;
        s.user_net = vec![
            "net=169.254.0.0/16".into(),
            "guestfwd=tcp:169.254.169.254:80-cmd:/bin/relay 127.0.0.1:9".into(),
        ];
        let got = args(&s, AccelUsed::Tcg).unwrap();
        assert!(!got.contains("-kernel") && !got.contains("-append") && !got.contains("-initrd"));
        assert!(got.contains(
            "-netdev user,id=n0,net=169.254.0.0/16,guestfwd=tcp:169.254.169.254:80-cmd:/bin/relay 127.0.0.1:9,hostfwd="
        ), "{got}");
        assert!(got.contains("-netdev user,id=n1,hostfwd="), "{got}");
        assert!(got.contains("nvme,serial=ktailor0,drive=d0"));

        s.user_net = vec!["net=10.0.0.0/8,hostfwd=tcp::22-:22".into()];
        assert!(
            matches!(args(&s, AccelUsed::Tcg), Err(VmError::Invalid(m)) if m.contains("comma"))
        );
        s.user_net.clear();
        s.machine.firmware = Bios;
        assert!(matches!(args(&s, AccelUsed::Tcg), Err(VmError::Invalid(m)) if m.contains("UEFI")));
    }

    #[test]
    fn uefi_uses_ovmf_and_a_private_vars_copy() {
        let s = spec(machine(Q35, Uefi, &[]), &[]);
        let got = args(&s, AccelUsed::Tcg).unwrap();
        println!("q35/uefi: qemu-system-x86_64 {got}");
        assert!(got.contains(
            "-drive if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd \
             -drive if=pflash,format=raw,unit=1,file=/run/vars.fd"
        ));
    }

    #[test]
    fn pc_ahci_adds_a_controller_once() {
        let s = spec(
            machine(Pc, Bios, &[]),
            &[("/d/a.img", Ahci), ("/d/b.img", Ahci)],
        );
        let got = args(&s, AccelUsed::Tcg).unwrap();
        assert_eq!(got.matches("-device ahci,id=ahci0").count(), 1);
        assert!(got.contains("bus=ahci0.0") && got.contains("bus=ahci0.1"));
    }

    #[test]
    fn microvm_takes_virtio_only() {
        let s = spec(
            machine(Microvm, Bios, &["virtio-net-pci"]),
            &[("/d/a.img", VirtioBlk)],
        );
        let got = args(&s, AccelUsed::Tcg).unwrap();
        assert!(got.contains("-device virtio-net-device,netdev=n0"));
        assert!(got.contains("-device virtio-blk-device,drive=d0"));
        let s = spec(machine(Microvm, Bios, &["e1000"]), &[]);
        assert!(args(&s, AccelUsed::Tcg).is_err());
        let s = spec(machine(Microvm, Uefi, &[]), &[]);
        assert!(args(&s, AccelUsed::Tcg).is_err());
        let s = spec(machine(Microvm, Bios, &[]), &[("/d/a.img", Nvme)]);
        assert!(args(&s, AccelUsed::Tcg).is_err());
    }

    #[test]
    fn bad_values_are_errors_not_arguments() {
        // Machine type, firmware and disk interface are enums; the NIC
        // model is QEMU's device name and must be one word.
        for nic in ["e1000,romfile=x", "", "e1000 -S"] {
            let s = spec(machine(Pc, Bios, &[nic]), &[("/d/a.img", Ide)]);
            assert!(
                matches!(args(&s, AccelUsed::Tcg), Err(VmError::Invalid(_))),
                "{nic:?}"
            );
        }
        let mut s = spec(machine(Pc, Bios, &[]), &[]);
        s.machine.memory_mb = 0;
        assert!(args(&s, AccelUsed::Tcg).is_err());
        s.machine.memory_mb = 64;
        s.machine.cpus = 0;
        assert!(args(&s, AccelUsed::Tcg).is_err());
    }

    #[test]
    fn qcow2_is_recognised_by_its_magic() {
        let d = tempfile::tempdir().unwrap();
        let q = d.path().join("a.img");
        std::fs::write(&q, b"QFI\xfb\0\0\0\x03rest").unwrap();
        assert_eq!(disk_format(&q), "qcow2");
        let r = d.path().join("b.img");
        std::fs::write(&r, [0u8; 512]).unwrap();
        assert_eq!(disk_format(&r), "raw");
        assert_eq!(disk_format(&d.path().join("missing")), "raw");
    }
}
