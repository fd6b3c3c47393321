//! Where everything goes on the disk: pure arithmetic, so every size and
//! offset is checked in unit tests without writing an image.
//!
//! Layout (GPT, 512-byte sectors, 1 MiB alignment):
//! - partition 1, the ext4 root, from the end of the ESP to 1 MiB before
//!   the end of the disk (room for the backup GPT);
//! - partition 2, the EFI System Partition (FAT16), first on the disk.
//!
//! The root is partition 1 so that `/dev/nvme0n1p1` and `/dev/vda1` (the
//! seed's and the targets' names) stay true; the kernel still finds it by
//! PARTUUID, which does not depend on numbering.

use crate::ImageError;

pub const SECTOR: u64 = 512;
pub const MIB: u64 = 1 << 20;
/// ESP size: the kernel is a few MiB; FAT16 needs at least ~16 MiB, and a
/// small FAT32 runs out of root directory slots.
pub const ESP_BYTES: u64 = 64 * MIB;
/// Smallest disk we make: ESP + 1 MiB GPT + 1 MiB backup + a usable root.
pub const MIN_DISK: u64 = ESP_BYTES + 2 * MIB + 64 * MIB;

/// GPT partition type GUIDs (UEFI spec; Linux filesystem data).
pub const TYPE_ESP: &str = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
pub const TYPE_LINUX: &str = "0FC63DAF-8483-4772-8E79-3D69D8477DE4";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    pub disk_bytes: u64,
    pub esp_offset: u64,
    pub esp_bytes: u64,
    pub root_offset: u64,
    pub root_bytes: u64,
}

impl Layout {
    /// The layout of a disk of `disk_bytes` (rounded down to whole MiB).
    pub fn new(disk_bytes: u64) -> Result<Layout, ImageError> {
        let disk_bytes = disk_bytes / MIB * MIB;
        if disk_bytes < MIN_DISK {
            return Err(ImageError::TooSmall {
                disk: disk_bytes,
                need: MIN_DISK,
                what: "the partition layout (ESP, GPT and a root)".into(),
            });
        }
        let esp_offset = MIB;
        let root_offset = esp_offset + ESP_BYTES;
        Ok(Layout {
            disk_bytes,
            esp_offset,
            esp_bytes: ESP_BYTES,
            root_offset,
            root_bytes: disk_bytes - MIB - root_offset,
        })
    }

    /// The script `sfdisk` reads to write this GPT.
    pub fn sfdisk_script(&self, ids: &Ids) -> String {
        format!(
            "label: gpt\nlabel-id: {}\nunit: sectors\nfirst-lba: {}\n\n\
             start={}, size={}, type={TYPE_LINUX}, uuid={}, name=\"root\"\n\
             start={}, size={}, type={TYPE_ESP}, uuid={}, name=\"EFI System Partition\"\n",
            ids.disk_guid,
            MIB / SECTOR,
            self.root_offset / SECTOR,
            self.root_bytes / SECTOR,
            ids.root_partuuid,
            self.esp_offset / SECTOR,
            self.esp_bytes / SECTOR,
            ids.esp_partuuid,
        )
    }
}

/// The identifiers one image carries.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Ids {
    pub disk_guid: String,
    /// The root partition's GPT UUID: the kernel's built-in command line
    /// names it (`root=PARTUUID=`).
    pub root_partuuid: String,
    pub esp_partuuid: String,
    /// The ext4 file system UUID (`/etc/fstab` names it).
    pub root_fs_uuid: String,
    /// The FAT volume id, 8 hex digits.
    pub esp_volume_id: String,
}

/// A UUID string (version 4 layout) from 16 bytes.
pub fn uuid_from(bytes: [u8; 16]) -> String {
    let mut b = bytes;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// The root partition UUID of a target's images. Fixed per target, because
/// the kernel carries it in its built-in command line (firmware booting
/// `\EFI\BOOT\BOOTX64.EFI` passes none), and a per-image UUID would mean a
/// kernel rebuild per image. Two disks from one target attached to one
/// machine would collide, as two volumes made from one AMI do on EC2.
pub fn root_partuuid_for(target: &str) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(format!("ktailor-root-partition:{target}").as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    uuid_from(b)
}

/// Parses `2G`, `1536M`, `2GiB`, `4096` (bytes).
pub fn parse_size(s: &str) -> Result<u64, ImageError> {
    let t = s.trim();
    let bad = || {
        ImageError::Input(format!(
            "size {s:?}: expected e.g. 2G, 1536M or a byte count"
        ))
    };
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| bad())?;
    let mult = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        "T" | "TB" | "TIB" => 1 << 40,
        _ => return Err(bad()),
    };
    n.checked_mul(mult).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> Ids {
        Ids {
            disk_guid: "11111111-1111-4111-8111-111111111111".into(),
            root_partuuid: root_partuuid_for("ec2-nitro"),
            esp_partuuid: "22222222-2222-4222-8222-222222222222".into(),
            root_fs_uuid: "33333333-3333-4333-8333-333333333333".into(),
            esp_volume_id: "1234ABCD".into(),
        }
    }

    #[test]
    fn two_gib_disk() {
        let l = Layout::new(2 << 30).unwrap();
        assert_eq!(l.esp_offset, MIB);
        assert_eq!(l.root_offset, 65 * MIB);
        assert_eq!(l.root_offset + l.root_bytes, (2 << 30) - MIB);
        let s = l.sfdisk_script(&ids());
        assert!(s.contains("first-lba: 2048"), "{s}");
        assert!(s.contains(&format!(
            "start=133120, size={}, type={TYPE_LINUX}",
            l.root_bytes / 512
        )));
        assert!(s.contains(&format!("start=2048, size=131072, type={TYPE_ESP}")));
    }

    #[test]
    fn too_small_names_both_sizes() {
        let e = Layout::new(100 * MIB).unwrap_err().to_string();
        assert!(e.contains("100.0 MiB") && e.contains("130.0 MiB"), "{e}");
    }

    #[test]
    fn partuuid_is_stable_per_target_and_a_v4_uuid() {
        assert_eq!(
            root_partuuid_for("ec2-nitro"),
            root_partuuid_for("ec2-nitro")
        );
        assert_ne!(
            root_partuuid_for("ec2-nitro"),
            root_partuuid_for("debian-sysvinit")
        );
        // Pinned: kernels built with this in CONFIG_CMDLINE must keep finding
        // the root of images made later.
        assert_eq!(
            root_partuuid_for("ec2-nitro"),
            "ccad49d8-6227-4d80-ac1f-a718b7edf8a4"
        );
        let u = root_partuuid_for("x");
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
    }

    #[test]
    fn sizes() {
        for (s, want) in [
            ("2G", Some(2u64 << 30)),
            ("1536M", Some(1536 << 20)),
            ("2GiB", Some(2 << 30)),
            (" 4096 ", Some(4096)),
            ("1k", Some(1024)),
            ("2X", None),
            ("G", None),
            ("", None),
            ("99999999999999999999G", None),
            ("18446744073709551615T", None),
        ] {
            assert_eq!(parse_size(s).ok(), want, "{s:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn layout_partitions_never_overlap(mib in 0u64..100_000) {
            if let Ok(l) = Layout::new(mib * MIB) {
                proptest::prop_assert!(l.esp_offset + l.esp_bytes <= l.root_offset);
                proptest::prop_assert!(l.root_offset + l.root_bytes + MIB <= l.disk_bytes);
                proptest::prop_assert!(l.root_bytes >= 64 * MIB);
                proptest::prop_assert_eq!(l.root_offset % MIB, 0);
            }
        }
    }
}
