//! Helpers shared by the real-kernel tests of several crates.
//!
//! Why a crate: kernel builds are the expensive part of the suite (minutes
//! each on two cores, cold). Tests in different crates that need the same
//! kernel must build it in the same directory, with the same steps, so that
//! whichever test binary runs first pays and the others find it built.
//! Keeping those steps in one place is what guarantees they stay the same.

use std::path::{Path, PathBuf};
use std::process::Command;

pub use kbuild::BuildReport;
pub use ksrc::KernelTree;

/// The Linux `ver` tree ("6.12", "6.1"), provisioned from Debian's
/// linux-source package when needed. Panics with what to do.
pub fn tree(ver: &str) -> KernelTree {
    ksrc::resolve_kernel(ver, &ksrc::cache_root()).unwrap_or_else(|e| {
        panic!("Linux {ver} source is needed (scripts/setup installs linux-source-{ver}): {e:#}")
    })
}

/// `<cache>/test-builds/<name>`: build directories kept between runs, so
/// only a cold run compiles.
pub fn test_dir(name: &str) -> PathBuf {
    ksrc::cache_root().join("test-builds").join(name)
}

/// Runs the tree's own `make ARCH=<arch> <target>` out of tree in `out`, as
/// a person would (niced, not a sub-make of the test runner). Panics with
/// make's stderr on failure.
pub fn make(tree: &KernelTree, out: &Path, arch: &str, target: &str) {
    std::fs::create_dir_all(out).unwrap_or_else(|e| panic!("create {}: {e}", out.display()));
    let o = Command::new("nice")
        .args(["-n", "19", "make", "-s", "-C"])
        .arg(&tree.root)
        .arg(format!("O={}", out.display()))
        .arg(format!("ARCH={arch}"))
        .arg(format!(
            "-j{}",
            std::thread::available_parallelism().map_or(2, |n| n.get())
        ))
        .arg(target)
        .env("LC_ALL", "C")
        .env_remove("MAKEFLAGS")
        .env_remove("MFLAGS")
        .env_remove("MAKELEVEL")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run make (scripts/setup installs it): {e}"));
    assert!(
        o.status.success(),
        "make {target} in {} failed: {}",
        out.display(),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// The `.config` of `make ARCH=x86_64 tinyconfig` on Linux 6.12, made by the
/// kernel's own make (in `tinyconfig-gen-6.12-x86_64`).
pub fn tinyconfig_612(tree: &KernelTree) -> String {
    let gen = test_dir("tinyconfig-gen-6.12-x86_64");
    make(tree, &gen, "x86_64", "tinyconfig");
    std::fs::read_to_string(gen.join(".config")).unwrap_or_else(|e| panic!("{e}"))
}

/// Where the plain 6.12 x86_64 tinyconfig kernel is built: kbuild's,
/// kvm's and the doctor's tests all use this one directory.
pub fn tinyconfig_612_dir() -> PathBuf {
    test_dir("kbuild-tinyconfig-6.12-x86_64")
}

/// The plain 6.12 x86_64 tinyconfig kernel, built (or found up to date)
/// by kbuild in [`tinyconfig_612_dir`]. kbuild locks the directory, so
/// test binaries running at once wait for each other.
pub fn tinyconfig_612_kernel() -> BuildReport {
    let tree = tree("6.12");
    let config = tinyconfig_612(&tree);
    let mut spec = kbuild::BuildSpec::new(&tree, "x86_64", config, tinyconfig_612_dir());
    spec.nice = true;
    kbuild::build(&spec, &|_| {}).unwrap_or_else(|e| panic!("{e}"))
}
