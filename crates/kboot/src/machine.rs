//! The catalog's machine (`kcatalog::Machine`, read from data/*.toml) as
//! kvm's description of what QEMU starts (`kvm::Machine`).
//!
//! kvm knows nothing of the catalog's data format and the catalog nothing
//! of QEMU; kboot depends on both, so the conversion lives here. It is
//! total: every name the catalog accepts has a QEMU counterpart.

use std::path::Path;

use kcatalog::{DiskInterface, Firmware, MachineType, NicModel};

/// kvm's machine for a catalog machine: board, memory, CPUs, firmware and
/// NICs. Disks are images kboot prepares from the machine's `disks`
/// ([`crate::boot`]); their interfaces convert with [`vm_interface`].
pub fn vm_machine(m: &kcatalog::Machine) -> kvm::Machine {
    kvm::Machine {
        machine: vm_machine_type(m.machine),
        memory_mb: m.memory_mb,
        cpus: m.cpus,
        firmware: vm_firmware(m.firmware),
        nics: m
            .nics
            .iter()
            .map(|n| kvm::Nic {
                model: vm_nic_model(n.model).into(),
                hostfwd: n.hostfwd,
            })
            .collect(),
    }
}

pub fn vm_machine_type(m: MachineType) -> kvm::MachineType {
    match m {
        MachineType::Pc => kvm::MachineType::Pc,
        MachineType::Q35 => kvm::MachineType::Q35,
        MachineType::Microvm => kvm::MachineType::Microvm,
    }
}

pub fn vm_firmware(f: Firmware) -> kvm::Firmware {
    match f {
        Firmware::Bios => kvm::Firmware::Bios,
        Firmware::Uefi => kvm::Firmware::Uefi,
    }
}

pub fn vm_interface(i: DiskInterface) -> kvm::DiskInterface {
    match i {
        DiskInterface::Ahci => kvm::DiskInterface::Ahci,
        DiskInterface::Ide => kvm::DiskInterface::Ide,
        DiskInterface::VirtioBlk => kvm::DiskInterface::VirtioBlk,
        DiskInterface::Nvme => kvm::DiskInterface::Nvme,
        DiskInterface::VirtioScsi => kvm::DiskInterface::VirtioScsi,
    }
}

/// QEMU's device name for a catalog NIC model.
pub fn vm_nic_model(m: NicModel) -> &'static str {
    match m {
        NicModel::E1000 => "e1000",
        NicModel::E1000e => "e1000e",
        NicModel::Rtl8139 => "rtl8139",
        NicModel::VirtioNetPci => "virtio-net-pci",
    }
}

/// [`kvm::query_pci`] on a catalog machine: its board, NICs and an empty
/// disk on each of its disks' interfaces.
pub fn query_pci(qemu: &Path, m: &kcatalog::Machine) -> Result<kvm::PciQuery, kvm::VmError> {
    let disks: Vec<kvm::DiskInterface> =
        m.disks.iter().map(|d| vm_interface(d.interface)).collect();
    kvm::query_pci(qemu, &vm_machine(m), &disks)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The two crates spell every name alike, so what a report prints from
    /// the catalog is what QEMU was given.
    #[test]
    fn names_survive_the_conversion() {
        for &m in MachineType::ALL {
            assert_eq!(vm_machine_type(m).as_str(), m.as_str());
        }
        for &f in Firmware::ALL {
            assert_eq!(vm_firmware(f).as_str(), f.as_str());
        }
        for &i in DiskInterface::ALL {
            assert_eq!(vm_interface(i).as_str(), i.as_str());
        }
        for &n in NicModel::ALL {
            assert_eq!(vm_nic_model(n), n.as_str());
        }
    }

    #[test]
    fn every_target_machine_converts() {
        for t in kcatalog::Catalog::builtin().targets {
            let m = &t.machine;
            let v = vm_machine(m);
            assert_eq!(v.machine.as_str(), m.machine.as_str(), "{}", t.name);
            assert_eq!(v.firmware.as_str(), m.firmware.as_str(), "{}", t.name);
            assert_eq!((v.memory_mb, v.cpus), (m.memory_mb, m.cpus), "{}", t.name);
            let nics: Vec<(&str, bool)> = v
                .nics
                .iter()
                .map(|n| (n.model.as_str(), n.hostfwd))
                .collect();
            let want: Vec<(&str, bool)> = m
                .nics
                .iter()
                .map(|n| (n.model.as_str(), n.hostfwd))
                .collect();
            assert_eq!(nics, want, "{}", t.name);
        }
    }
}
