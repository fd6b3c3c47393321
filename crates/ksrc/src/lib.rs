//! Kernel source trees as the Kconfig engine needs them.
//!
//! The engine must reproduce `scripts/kconfig/conf` byte for byte, and conf's
//! answers depend on more than the Kconfig files: on the environment the
//! kernel's Makefile hands it and on the output of the compilers its
//! `$(shell,...)` macros probe. This crate supplies all three without running
//! make: it finds (or extracts) a tree, derives the environment conf would
//! see, and runs shell commands in that environment behind a persistent cache,
//! because those probes are where conf spends most of its time.

pub mod apt;
mod env;
mod host;
pub mod make;
mod tree;

use std::path::PathBuf;

pub use env::{kconfig_env, kconfig_env_with, srcarch_of, KconfigEnv, UNOBSERVED_VARS};
pub use host::{ShellCacheOptions, ShellStats, TreeHost};
pub use tree::{resolve_kernel, KernelTree};

/// Where every ktailor tool keeps extracted trees and caches.
///
/// One root shared by all tools, so a tree extracted by one command is reused
/// by the next; `$KTAILOR_CACHE` wins so tests and CI can isolate themselves.
pub fn cache_root() -> PathBuf {
    let non_empty = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = non_empty("KTAILOR_CACHE") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = non_empty("XDG_CACHE_HOME") {
        return PathBuf::from(dir).join("ktailor");
    }
    let home = non_empty("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    home.join(".cache").join("ktailor")
}
