//! The closed sets of names the data files use (machine types, firmware,
//! userspaces, disk interfaces, ...), as enums.
//!
//! Each enum reads and writes exactly the names `data/*.toml` spells, so a
//! typo fails when the file is loaded, with an error that names the field,
//! the bad value and the names it could have been. `as_str` and `Display`
//! give the same names back for reports and JSON.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A value that is not one of a field's names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownName {
    /// The field as the data files spell it (`firmware`, `interface`).
    pub field: &'static str,
    pub value: String,
    /// Every name the field takes.
    pub expected: &'static [&'static str],
}

impl fmt::Display for UnknownName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} = {:?} is not one of: {}",
            self.field,
            self.value,
            self.expected.join(", ")
        )?;
        let near = self
            .expected
            .iter()
            .map(|n| (strsim::levenshtein(&self.value, n), *n))
            .filter(|(d, n)| *d <= 2.max(n.len() / 3))
            .min();
        if let Some((_, n)) = near {
            write!(f, " (did you mean {n:?}?)")?;
        }
        Ok(())
    }
}

impl std::error::Error for UnknownName {}

/// Defines a closed set of names: the enum, `ALL`, `NAMES`, `FIELD`,
/// `as_str`, `Display`, `FromStr` and serde as the names themselves.
macro_rules! names {
    (
        $(#[$meta:meta])*
        pub enum $ty:ident in $field:literal {
            $( $(#[$vmeta:meta])* $var:ident = $name:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $ty {
            $( $(#[$vmeta])* $var, )+
        }

        impl $ty {
            /// Every value, in the order the names are listed.
            pub const ALL: &'static [$ty] = &[$($ty::$var),+];
            /// Every name, in the same order.
            pub const NAMES: &'static [&'static str] = &[$($name),+];
            /// The field these names fill in the data files.
            pub const FIELD: &'static str = $field;

            /// The name as the data files spell it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $ty::$var => $name, )+
                }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = UnknownName;
            fn from_str(s: &str) -> Result<$ty, UnknownName> {
                match s {
                    $( $name => Ok($ty::$var), )+
                    _ => Err(UnknownName {
                        field: $field,
                        value: s.to_string(),
                        expected: $ty::NAMES,
                    }),
                }
            }
        }

        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<$ty, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

names! {
    /// A kernel architecture, as `make ARCH=` takes it.
    pub enum Arch in "arch" {
        X86_64 = "x86_64",
        I386 = "i386",
        X86 = "x86",
        Arm64 = "arm64",
        Arm = "arm",
        Riscv = "riscv",
        Powerpc = "powerpc",
        S390 = "s390",
        Loongarch = "loongarch",
        Mips = "mips",
        Sparc = "sparc",
        Parisc = "parisc",
        Alpha = "alpha",
        Arc = "arc",
        Csky = "csky",
        Hexagon = "hexagon",
        M68k = "m68k",
        Microblaze = "microblaze",
        Nios2 = "nios2",
        Openrisc = "openrisc",
        Sh = "sh",
        Um = "um",
        Xtensa = "xtensa",
    }
}

impl Arch {
    /// Whether QEMU's x86 machines (the only ones ktailor starts) run it.
    pub fn is_x86(self) -> bool {
        matches!(self, Arch::X86_64 | Arch::I386 | Arch::X86)
    }
}

names! {
    /// The configuration a target starts from.
    pub enum Base in "base" {
        Allnoconfig = "allnoconfig",
        Tinyconfig = "tinyconfig",
    }
}

names! {
    /// QEMU's machine type (`-machine`).
    pub enum MachineType in "machine" {
        /// i440FX + PIIX: IDE on board.
        Pc = "pc",
        /// Q35 + ICH9: AHCI on board.
        Q35 = "q35",
        /// No PCI: virtio-mmio devices only.
        Microvm = "microvm",
    }
}

names! {
    /// The firmware a machine boots.
    pub enum Firmware in "firmware" {
        /// SeaBIOS, QEMU's default; the kernel is loaded directly.
        Bios = "bios",
        /// OVMF; the kernel needs the EFI stub.
        Uefi = "uefi",
    }
}

names! {
    /// What the kernel boots into.
    pub enum Userspace in "userspace" {
        /// No initramfs: the console is all there is.
        None = "none",
        /// The seed's static hello world as /init.
        Hello = "hello",
        /// ktailor's probe program as /init.
        Probe = "probe",
        /// busybox with /proc, /sys and /dev, then the probes.
        Busybox = "busybox",
        /// The root file system on a disk (a Debian image).
        Disk = "disk",
    }
}

names! {
    /// How a disk is attached.
    pub enum DiskInterface in "interface" {
        Ahci = "ahci",
        Ide = "ide",
        VirtioBlk = "virtio-blk",
        Nvme = "nvme",
        VirtioScsi = "virtio-scsi",
    }
}

names! {
    /// What is on a disk.
    pub enum DiskContent in "content" {
        /// An ext4 image the probes mount (made by kboot).
        Ext4Scratch = "ext4-scratch",
        /// A Debian root file system with sysvinit.
        DebianSysvinit = "debian-sysvinit",
        /// A Debian root file system with systemd.
        DebianSystemd = "debian-systemd",
    }
}

impl DiskContent {
    /// Whether the disk holds a root file system.
    pub fn is_root(self) -> bool {
        matches!(
            self,
            DiskContent::DebianSysvinit | DiskContent::DebianSystemd
        )
    }
}

names! {
    /// A NIC model the catalog has a driver feature for (QEMU's device
    /// name).
    pub enum NicModel in "model" {
        E1000 = "e1000",
        E1000e = "e1000e",
        Rtl8139 = "rtl8139",
        VirtioNetPci = "virtio-net-pci",
    }
}

names! {
    /// The init system of a disk step's Debian root file system.
    pub enum DiskInit in "init" {
        Sysvinit = "sysvinit",
        Systemd = "systemd",
    }
}

impl DiskInit {
    /// The same as [`DiskInit::as_str`].
    pub fn name(self) -> &'static str {
        self.as_str()
    }
}

names! {
    /// How a disk step's image boots (krun's machines): `qemu` loads the
    /// kernel from the image's ESP directly onto a virtio-blk disk,
    /// `ec2-sim` boots the disk by UEFI firmware from NVMe with an IMDSv2
    /// mock.
    pub enum DiskMachine in "machine" {
        Qemu = "qemu",
        Ec2Sim = "ec2-sim",
    }
}

impl DiskMachine {
    /// The same as [`DiskMachine::as_str`].
    pub fn name(self) -> &'static str {
        self.as_str()
    }

    /// The firmware the step's `machine` must name.
    pub fn firmware(self) -> Firmware {
        match self {
            DiskMachine::Qemu => Firmware::Bios,
            DiskMachine::Ec2Sim => Firmware::Uefi,
        }
    }
}

names! {
    /// What a probe needs from the machine before its failure means
    /// anything: a NIC for the network probes, a disk for the block probes,
    /// UEFI for `efi`.
    pub enum Needs in "needs" {
        Nic = "nic",
        Disk = "disk",
        Uefi = "uefi",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for m in MachineType::ALL {
            assert_eq!(m.as_str().parse::<MachineType>(), Ok(*m));
            assert_eq!(m.to_string(), m.as_str());
        }
        assert_eq!(Arch::X86_64.as_str(), "x86_64");
        assert_eq!(DiskMachine::Ec2Sim.as_str(), "ec2-sim");
        assert_eq!(DiskInterface::VirtioBlk.to_string(), "virtio-blk");
        assert_eq!(format!("{:>5}", Firmware::Uefi), " uefi");
    }

    #[test]
    fn unknown_names_say_field_value_and_choices() {
        let e = "uefii".parse::<Firmware>().unwrap_err().to_string();
        assert_eq!(
            e,
            "firmware = \"uefii\" is not one of: bios, uefi (did you mean \"uefi\"?)"
        );
        let e = "floppy".parse::<DiskInterface>().unwrap_err().to_string();
        assert!(!e.contains("did you mean"), "{e}");
    }
}
