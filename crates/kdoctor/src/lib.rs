//! The doctor: from what a failing boot shows (a serial log, an strace, a
//! PCI ID, a probe result) to the CONFIG option that fixes it, answered
//! from the kernel source rather than guessed.
//!
//! Two halves. The [`Index`] reads one kernel tree (makefiles and C, no
//! compiler) and records, for every conditional syscall, file system type,
//! address family, PCI/virtio ID and option-naming log message, the option
//! expression that compiles it in. [`diagnose`] matches inputs against the
//! index and the hand-written rules in `data/symptoms.toml` (for messages
//! that name nothing), then asks the solver what to set, so advice includes
//! the dependencies and `EXPERT` switches an option really needs.

pub mod cond;
pub mod cpp;
pub mod debian;
pub mod diagnose;
pub mod index;
pub mod inputs;
pub mod kbuild;
pub mod rules;
pub mod scan;
pub mod validate;

pub use cond::{Cond, Config, Tri};
pub use index::{CacheInfo, Family, Filesystem, Index, Message, PciId, Site, Syscall, VirtioId};

pub use diagnose::{
    diagnose, diagnose_with, innermost, pci_lookup, pci_lookup_sub, Evidence, Guard, Kind, Note,
    Report, Setting, Suggestion,
};
pub use inputs::{InitKind, Inputs, Question};
pub use rules::Symptoms;
