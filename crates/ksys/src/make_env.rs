//! The environment the kernel's `make` runs in.
//!
//! Why: make imports every environment variable as a make variable, and
//! the kernel's build reads many of them (`KCONFIG_ALLCONFIG`, `LLVM`,
//! `CROSS_COMPILE`, `KBUILD_OUTPUT`, `KCFLAGS`, `LOCALVERSION`, ...; see
//! `Documentation/kbuild/kbuild.rst` and `kconfig.rst`, and the `?=` and
//! `$(origin ...)` lines of the top Makefile). A variable left in a
//! person's shell would silently change what ktailor builds or what
//! Kconfig decides: a config solved for gcc rebuilt with clang is no longer
//! a fixpoint, a `KCONFIG_ALLCONFIG` rewrites every `make *config`. A
//! parent make's `MAKEFLAGS` would also hand our make its jobserver and
//! override `-j`. So every place that runs the kernel's make (or computes
//! what make would compute) starts from the same clean environment, and a
//! variable reaches make only when ktailor sets it on purpose.
//!
//! `LC_ALL=C` is set too: English messages for the error scan and a stable
//! compiler version text in `.config`.

use std::ffi::OsStr;
use std::process::Command;

/// Variables removed by exact name.
const EXACT: &[&str] = &[
    // make's own: a parent make's jobserver and flags, extra makefiles.
    "MAKEFLAGS",
    "MFLAGS",
    "MAKELEVEL",
    "MAKEFILES",
    "MAKEOVERRIDES",
    "MAKECMDGOALS",
    "GNUMAKEFLAGS",
    "VPATH",
    // Architecture and toolchain.
    "ARCH",
    "SUBARCH",
    "SRCARCH",
    "CROSS_COMPILE",
    "cross_compiling",
    "LLVM",
    "LLVM_IAS",
    "CC",
    "CPP",
    "LD",
    "AR",
    "NM",
    "OBJCOPY",
    "OBJDUMP",
    "READELF",
    "STRIP",
    "HOSTCC",
    "HOSTCXX",
    "HOSTLD",
    "HOSTAR",
    "HOSTRUSTC",
    "HOSTPKG_CONFIG",
    "RUSTC",
    "RUSTDOC",
    "RUSTFMT",
    "CLIPPY_DRIVER",
    "BINDGEN",
    "RUST_LIB_SRC",
    "PAHOLE",
    "PYTHON3",
    "PERL",
    "LEX",
    "YACC",
    // Flags the Makefile documents as taken from the environment.
    "KCFLAGS",
    "KCPPFLAGS",
    "KAFLAGS",
    "KRUSTFLAGS",
    "KDOCFLAGS",
    "CFLAGS_KERNEL",
    "CFLAGS_MODULE",
    "AFLAGS_KERNEL",
    "AFLAGS_MODULE",
    "LDFLAGS_MODULE",
    "RUSTFLAGS_KERNEL",
    "RUSTFLAGS_MODULE",
    "HOSTCFLAGS",
    "HOSTCXXFLAGS",
    "HOSTRUSTFLAGS",
    "HOSTLDFLAGS",
    "HOSTLDLIBS",
    "USERCFLAGS",
    "USERLDFLAGS",
    "CHECK",
    "CHECKFLAGS",
    // Command-line knobs (verbosity, warnings, checkers, output, module dir).
    "O",
    "V",
    "W",
    "C",
    "M",
    "Q",
    "CLIPPY",
    // Release and install.
    "LOCALVERSION",
    "KERNELRELEASE",
    "KERNELVERSION",
    "MODLIB",
    "INSTALLKERNEL",
    // Tree layout.
    "srctree",
    "objtree",
    "SRCTREE",
    "IGNORE_DIRS",
    "ALLSOURCE_ARCHS",
];

/// Variables removed by prefix: every Kconfig and Kbuild knob
/// (`KCONFIG_CONFIG`, `KCONFIG_ALLCONFIG`, `KCONFIG_SEED`, `KBUILD_OUTPUT`,
/// `KBUILD_BUILD_TIMESTAMP`, ...), install paths, clang and LLVM settings,
/// and `CONFIG_*`, which the build's makefiles would read for any option
/// the configuration leaves unset.
const PREFIXES: &[&str] = &[
    "KCONFIG_", "KBUILD_", "INSTALL_", "CLANG_", "LLVM_", "CONFIG_",
];

/// Whether an environment variable changes a kernel build or Kconfig when
/// inherited.
pub fn is_build_var(name: &str) -> bool {
    EXACT.contains(&name) || PREFIXES.iter().any(|p| name.starts_with(p))
}

/// Whether make should inherit `name` from our environment: not a build
/// variable, and valid UTF-8 (a name we cannot read, we cannot vouch for).
pub fn inherits(name: &OsStr) -> bool {
    name.to_str().is_some_and(|n| !is_build_var(n))
}

/// Prepares `cmd` (make, or a program that runs make) to run in the clean
/// environment: every inherited build variable is removed, except those
/// set on `cmd` itself (`cmd.env("KCONFIG_SEED", ..)`, before or after this
/// call), and `LC_ALL=C` unless `cmd` sets `LC_ALL`.
pub fn clean(cmd: &mut Command) {
    let explicit: Vec<std::ffi::OsString> = cmd
        .get_envs()
        .filter(|(_, v)| v.is_some())
        .map(|(k, _)| k.to_os_string())
        .collect();
    for (name, _) in std::env::vars_os() {
        if !inherits(&name) && !explicit.contains(&name) {
            cmd.env_remove(&name);
        }
    }
    if !explicit.iter().any(|k| k == "LC_ALL") {
        cmd.env("LC_ALL", "C");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variables_that_change_a_build_are_build_vars() {
        for v in [
            "KCONFIG_CONFIG",
            "KCONFIG_ALLCONFIG",
            "KCONFIG_OVERWRITECONFIG",
            "KCONFIG_AUTOCONFIG",
            "KCONFIG_AUTOHEADER",
            "KCONFIG_TRISTATE",
            "KCONFIG_NOSILENTUPDATE",
            "KCONFIG_SEED",
            "KCONFIG_PROBABILITY",
            "KCONFIG_WARN_UNKNOWN_SYMBOLS",
            "KCONFIG_WERROR",
            "LLVM",
            "LLVM_IAS",
            "CC",
            "LD",
            "AR",
            "HOSTCC",
            "CROSS_COMPILE",
            "ARCH",
            "SRCARCH",
            "O",
            "KBUILD_OUTPUT",
            "KBUILD_BUILD_TIMESTAMP",
            "INSTALL_MOD_PATH",
            "W",
            "C",
            "V",
            "CLANG_FLAGS",
            "MAKEFLAGS",
            "MFLAGS",
            "MAKELEVEL",
            "KCFLAGS",
            "LOCALVERSION",
            "CONFIG_DEBUG_INFO",
        ] {
            assert!(is_build_var(v), "{v}");
        }
    }

    #[test]
    fn ordinary_variables_pass() {
        for v in [
            "PATH",
            "HOME",
            "TMPDIR",
            "TERM",
            "CCACHE_DIR",
            "KTAILOR_CACHE",
            "LANG",
            "COLUMNS",
        ] {
            assert!(!is_build_var(v), "{v}");
            assert!(inherits(OsStr::new(v)), "{v}");
        }
    }

    #[test]
    fn explicit_settings_survive_in_either_order() {
        let mut c = Command::new("make");
        c.env("KCONFIG_SEED", "7");
        clean(&mut c);
        c.env("LLVM", "1");
        let envs: Vec<_> = c.get_envs().collect();
        assert!(envs.contains(&(OsStr::new("KCONFIG_SEED"), Some(OsStr::new("7")))));
        assert!(envs.contains(&(OsStr::new("LLVM"), Some(OsStr::new("1")))));
        assert!(envs.contains(&(OsStr::new("LC_ALL"), Some(OsStr::new("C")))));
        let mut c = Command::new("make");
        c.env("LC_ALL", "en_US.UTF-8");
        clean(&mut c);
        assert!(c
            .get_envs()
            .any(|e| e == (OsStr::new("LC_ALL"), Some(OsStr::new("en_US.UTF-8")))));
    }
}
