//! What the index holds: per kernel tree and architecture, every
//! conditional syscall, file system type, address family, PCI/virtio ID and
//! option-naming message, each with the site that defines it and the guard
//! that compiles it. Plain data, serialized as the cache.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::cond::Cond;
use crate::scan::PciMatch;

/// Bumped whenever the index's meaning changes, so old caches are rebuilt.
pub const FORMAT: u32 = 10;

/// Where a thing is defined and when that code is compiled.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Site {
    pub file: String,
    pub line: u32,
    /// Kbuild guard of the file AND the `#if` blocks around the line.
    pub cond: Cond,
    /// The object it is linked into (the module name when built `=m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Syscall {
    pub name: String,
    /// `COMPAT_SYSCALL_DEFINE` / `COND_SYSCALL_COMPAT`.
    pub compat: bool,
    /// Listed in kernel/sys_ni.c: may be configured out (ENOSYS).
    pub conditional: bool,
    pub sites: Vec<Site>,
    /// OR of the sites; `n` for a conditional syscall this architecture
    /// never defines.
    pub cond: Cond,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Filesystem {
    pub name: String,
    /// The `struct file_system_type` variable (how System.map shows it).
    pub var: String,
    pub site: Site,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Family {
    /// Canonical name (`AF_UNIX`), or the expression as written when it
    /// could not be resolved.
    pub family: String,
    pub number: Option<u32>,
    pub var: String,
    pub site: Site,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PciId {
    #[serde(flatten)]
    pub ids: PciMatch,
    pub table: String,
    pub site: Site,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct VirtioId {
    pub device: u32,
    pub vendor: u32,
    pub table: String,
    pub site: Site,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Message {
    /// The format string as written (printf conversions kept).
    pub format: String,
    pub options: Vec<String>,
    pub func: String,
    pub site: Site,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Stats {
    pub makefiles: usize,
    pub dirs: usize,
    pub source_files: usize,
    pub files_read: usize,
    pub files_scanned: usize,
    pub syscalls: usize,
    pub conditional_syscalls: usize,
    pub filesystems: usize,
    pub families: usize,
    pub pci_ids: usize,
    pub pci_tables: usize,
    pub pci_unparsed: usize,
    /// Entries in tables no driver registers (quirk and LED lists).
    pub pci_unused: usize,
    /// Entries only driver_override can bind (vfio variant drivers).
    pub pci_override_only: usize,
    pub virtio_ids: usize,
    pub virtio_unused: usize,
    pub messages: usize,
    pub build_ms: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Index {
    pub format: u32,
    pub kernelversion: String,
    pub arch: String,
    pub srcarch: String,
    pub tree: String,
    pub stats: Stats,
    pub syscalls: Vec<Syscall>,
    pub filesystems: Vec<Filesystem>,
    pub families: Vec<Family>,
    /// Address family names and numbers from include/linux/socket.h.
    pub family_numbers: Vec<(String, u32)>,
    pub pci: Vec<PciId>,
    pub virtio: Vec<VirtioId>,
    /// virtio device ID → `VIRTIO_ID_*` name.
    pub virtio_names: BTreeMap<u32, String>,
    pub messages: Vec<Message>,
    /// Every C file Kbuild compiles, with its guard.
    pub files: BTreeMap<String, Cond>,
}
