//! The source index: for one kernel tree and architecture, every
//! conditional syscall, file system type, address family, PCI/virtio ID and
//! option-naming log message, each with the option expression that compiles
//! it in. Built from the makefiles and C sources (no compiler), cached as
//! JSON because a build reads the whole tree.
//!
//! `model` is the data, `query` the questions asked of it, `build` reads a
//! tree (the I/O), `assemble` turns what was read into an index (with
//! `guard`: a file's guard through Kbuild and its includers, and `facts`:
//! what `#if` tests on non-options mean), `cache` keeps it on disk.

mod assemble;
mod build;
mod cache;
mod facts;
mod guard;
mod model;
mod query;

pub(crate) use cache::lock_file;
pub use cache::CacheInfo;
pub use model::{
    Family, Filesystem, Index, Message, PciId, Site, Stats, Syscall, VirtioId, FORMAT,
};
pub use query::{built, format_matches, pci_matches};
