//! System concerns shared by every ktailor crate (atomic writes, locks,
//! process groups, environment for make): one helper for each.
//!
//! Why one crate: each of these used to be written three to five times
//! across the workspace, each copy with its own gaps (a rename without
//! fsync, a lock that did not say what it waited for, a `make` stopped by
//! its pid while its compilers ran on, a reaper that could signal a
//! recycled process group). Fixing a gap once fixes it everywhere.
//!
//! - [`fs`]: atomic replacement of files and directory trees.
//! - [`lock`]: `flock` locks, exclusive or shared, that say what they wait
//!   for and are released on drop; [`RunDir`], one run's own directory in
//!   a work directory that concurrent runs share.
//! - [`process`]: children in their own process group, killed with the
//!   whole group on drop, on SIGINT/SIGTERM/SIGHUP and when we die.
//! - [`make_env`]: the environment the kernel's `make` runs in, without what
//!   the user's shell would leak into a kernel build or Kconfig.

pub mod fs;
pub mod lock;
pub mod make_env;
pub mod process;

pub use fs::{write_atomic, write_atomic_with, AtomicDir, AtomicFile};
pub use lock::{FileLock, LockMode, RunDir};
pub use process::{spawn_group, GroupChild, GroupOptions, Signal, Stop};
