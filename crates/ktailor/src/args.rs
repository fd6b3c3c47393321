//! Options several commands share, and their translation into the
//! pipeline's requests.

use std::path::PathBuf;
use std::time::Duration;

use kcatalog::{Base, DiskInit};
use kpipeline::boot::VmOptions;
use kpipeline::prepare::What;
use kpipeline::TreeSpec;

/// Options shared by the commands that read a kernel tree.
#[derive(clap::Args, Clone)]
pub struct TreeArgs {
    /// Kernel source: a directory (used read-only) or a version such as 6.12
    /// (provisioned from Debian's linux-source package into the cache).
    #[arg(long, default_value = "6.12")]
    pub kernel: String,
    /// Run every $(shell,...) probe instead of using the cache.
    #[arg(long)]
    pub no_shell_cache: bool,
    /// Cache directory (default: $KTAILOR_CACHE, $XDG_CACHE_HOME/ktailor, ~/.cache/ktailor).
    #[arg(long)]
    pub cache: Option<PathBuf>,
}

impl TreeArgs {
    pub fn spec(&self) -> TreeSpec {
        TreeSpec {
            kernel: self.kernel.clone(),
            no_shell_cache: self.no_shell_cache,
            cache: self.cache.clone(),
        }
    }
}

#[derive(Clone, Copy, Debug, clap::ValueEnum, PartialEq, Eq)]
pub enum BaseArg {
    Allnoconfig,
    Tinyconfig,
}

impl BaseArg {
    pub fn base(self) -> Base {
        match self {
            BaseArg::Allnoconfig => Base::Allnoconfig,
            BaseArg::Tinyconfig => Base::Tinyconfig,
        }
    }
}

/// Options that say which kernel to build, shared by `build` and `boot`.
#[derive(clap::Args, Clone)]
pub struct WhatArgs {
    /// A named target (see data/targets.toml).
    #[arg(long)]
    pub target: Option<String>,
    /// Build this .config instead (normalised with olddefconfig first, as
    /// make would); with --target, booted on the target's machine.
    #[arg(long, conflicts_with_all = ["with", "without", "base", "fragment"])]
    pub config: Option<PathBuf>,
    /// Extra features, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub with: Vec<String>,
    /// Features to leave out of the target, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub without: Vec<String>,
    /// Start from allnoconfig or tinyconfig (default: the target's base).
    #[arg(long, value_enum)]
    pub base: Option<BaseArg>,
    /// A config fragment to apply on top; repeatable.
    #[arg(long)]
    pub fragment: Vec<PathBuf>,
    /// Architecture (default: the target's, else x86_64).
    #[arg(long)]
    pub arch: Option<String>,
    #[command(flatten)]
    pub tree: TreeArgs,
}

impl WhatArgs {
    pub fn what(&self) -> What {
        What {
            target: self.target.clone(),
            config: self.config.clone(),
            with: self.with.clone(),
            without: self.without.clone(),
            base: self.base.map(BaseArg::base),
            fragments: self.fragment.clone(),
            arch: self.arch.clone(),
            tree: self.tree.spec(),
        }
    }
}

/// Options for make, shared by `build`, `boot`, `image` and the benchmarks.
#[derive(clap::Args, Clone)]
pub struct MakeArgs {
    /// Build directory (make O=); reused so rebuilds are incremental
    /// (default: <cache>/builds/<target>-<version>-<arch>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Parallel make jobs (default: one per CPU).
    #[arg(short = 'j', long, default_value_t = 0)]
    pub jobs: usize,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum, PartialEq, Eq)]
pub enum AccelArg {
    Auto,
    Kvm,
    Tcg,
}

impl AccelArg {
    pub fn accel(self) -> kboot::Accel {
        match self {
            AccelArg::Auto => kboot::Accel::Auto,
            AccelArg::Kvm => kboot::Accel::Kvm,
            AccelArg::Tcg => kboot::Accel::Tcg,
        }
    }
}

/// QEMU options shared by `boot` and `ladder`.
#[derive(clap::Args, Clone)]
pub struct VmArgs {
    /// auto uses KVM only after a short health check shows guests run under it.
    #[arg(long, value_enum, default_value = "auto")]
    pub accel: AccelArg,
    /// Longest a boot may take, in seconds.
    #[arg(long, default_value_t = 180)]
    pub timeout: u64,
    /// Longest the console may stay silent before the guest counts as hung, in seconds.
    #[arg(long, default_value_t = 45)]
    pub idle_timeout: u64,
    /// The QEMU binary (the KVM health check runs it too).
    #[arg(long, default_value = "qemu-system-x86_64")]
    pub qemu: PathBuf,
}

impl VmArgs {
    pub fn options(&self) -> VmOptions {
        VmOptions {
            accel: self.accel.accel(),
            timeout: Duration::from_secs(self.timeout),
            idle_timeout: Duration::from_secs(self.idle_timeout),
            qemu: self.qemu.clone(),
        }
    }
}

/// The init system of a Debian root.
#[derive(Clone, Copy, Debug, clap::ValueEnum, PartialEq, Eq)]
pub enum InitArg {
    Sysvinit,
    Systemd,
}

impl InitArg {
    pub fn init(self) -> DiskInit {
        match self {
            InitArg::Sysvinit => DiskInit::Sysvinit,
            InitArg::Systemd => DiskInit::Systemd,
        }
    }
}

/// `ktailor imds-relay` as QEMU must run it: this very executable.
pub fn relay_command() -> anyhow::Result<Vec<String>> {
    use anyhow::Context;
    let exe = std::env::current_exe().context("cannot find ktailor's own executable")?;
    Ok(vec![exe.display().to_string(), "imds-relay".into()])
}

/// The command line as typed, for reports.
pub fn command_line() -> String {
    std::env::args()
        .map(|a| if a.contains(' ') { format!("{a:?}") } else { a })
        .collect::<Vec<_>>()
        .join(" ")
}
