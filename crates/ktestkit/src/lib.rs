//! Helpers shared by the tests of several crates: kernel trees, the build
//! directories kept under the cache and the locks on them, the shared
//! tinyconfig kernel, what the host has (root, namespaces, tools), QEMU
//! processes left behind, SSH keys.
//!
//! Why a crate: kernel builds are the expensive part of the suite (minutes
//! each on two cores, cold). Tests in different crates that need the same
//! kernel must build it in the same directory, with the same steps, so that
//! whichever test binary runs first pays and the others find it built.
//! Keeping those steps in one place is what guarantees they stay the same.
//!
//! Everything here serves the real tier (tests marked
//! `#[ignore = "real tier: ..."]`, which `scripts/test` runs with
//! `--include-ignored`); the fast tier (`cargo test`) needs none of it
//! except [`is_root`], [`have`] and the like.

use std::path::{Path, PathBuf};
use std::process::Command;

pub use kbuild::BuildReport;
pub use ksrc::KernelTree;

// ---- kernel trees, build directories, make ----

/// The Linux `ver` tree ("6.12", "6.1"), provisioned from Debian's
/// linux-source package when needed. Panics with what to do: a real-tier
/// test fails, never skips, without its tree.
pub fn tree(ver: &str) -> KernelTree {
    ksrc::resolve_kernel(ver, &ksrc::cache_root()).unwrap_or_else(|e| {
        panic!("Linux {ver} source is needed (scripts/setup installs linux-source-{ver}): {e:#}")
    })
}

/// `<cache>/test-builds/<name>`: build directories kept between runs, so
/// only a cold run compiles. Lock one with [`lock_dir`] while using it.
pub fn test_dir(name: &str) -> PathBuf {
    ksrc::cache_root().join("test-builds").join(name)
}

/// A test's exclusive hold on a directory shared between test binaries (a
/// build directory under the cache), released on drop.
///
/// Test binaries run at the same time (`cargo nextest`, two `cargo test`
/// processes) and the tests inside one binary run on parallel threads; a
/// test that builds into a shared directory, or reads what was built there,
/// holds this for as long as it does, so nobody else builds there
/// meanwhile. The lock is `flock(2)` on `<dir>.test.lock` beside the
/// directory (ksys::FileLock): the kernel drops it when the holder dies, and
/// it is not kbuild's own lock file inside the directory, which kbuild
/// takes for each build (taking that one here would deadlock the test
/// against its own build). A second `lock_dir` on the same directory waits,
/// also from the same process: hold one per directory at a time.
#[derive(Debug)]
pub struct DirLock {
    dir: PathBuf,
    _lock: ksys::FileLock,
}

impl DirLock {
    /// The locked directory (it may not exist yet).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Locks `dir` (see [`DirLock`]), waiting for the holder if there is one
/// and saying so on stderr. Panics if the lock file cannot be made.
pub fn lock_dir(dir: &Path) -> DirLock {
    let name = dir
        .file_name()
        .unwrap_or_else(|| panic!("{} names no directory to lock", dir.display()));
    let parent = dir.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("create {}: {e}", parent.display()));
    let mut file = name.to_owned();
    file.push(".test.lock");
    let path = parent.join(file);
    let lock = ksys::FileLock::lock_or_wait(&path, ksys::LockMode::Exclusive, &|m| {
        eprintln!("ktestkit: {m}")
    })
    .unwrap_or_else(|e| panic!("cannot lock {}: {e}", path.display()));
    DirLock {
        dir: dir.to_path_buf(),
        _lock: lock,
    }
}

/// Runs the tree's own `make ARCH=<arch> <target>` out of tree in `out`, as
/// a person would (niced, not a sub-make of the test runner). Panics with
/// make's stderr on failure. `out` is the caller's to lock when shared.
pub fn make(tree: &KernelTree, out: &Path, arch: &str, target: &str) {
    std::fs::create_dir_all(out).unwrap_or_else(|e| panic!("create {}: {e}", out.display()));
    // kbuild's environment: nothing from the test runner's shell that
    // changes a kernel build or Kconfig (LLVM, KCONFIG_*, MAKEFLAGS, ...).
    let mut cmd = Command::new("nice");
    ksys::make_env::clean(&mut cmd);
    let o = cmd
        .args(["-n", "19", "make", "-s", "-C"])
        .arg(&tree.root)
        .arg(format!("O={}", out.display()))
        .arg(format!("ARCH={arch}"))
        .arg(format!(
            "-j{}",
            std::thread::available_parallelism().map_or(2, |n| n.get())
        ))
        .arg(target)
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
/// kernel's own make (in `tinyconfig-gen-6.12-x86_64`, locked meanwhile).
pub fn tinyconfig_612(tree: &KernelTree) -> String {
    let gen = lock_dir(&test_dir("tinyconfig-gen-6.12-x86_64"));
    make(tree, gen.dir(), "x86_64", "tinyconfig");
    std::fs::read_to_string(gen.dir().join(".config")).unwrap_or_else(|e| panic!("{e}"))
}

/// Where the plain 6.12 x86_64 tinyconfig kernel is built: kbuild's,
/// kvm's and the doctor's tests all use this one directory.
pub fn tinyconfig_612_dir() -> PathBuf {
    test_dir("kbuild-tinyconfig-6.12-x86_64")
}

/// The plain 6.12 x86_64 tinyconfig kernel, built (or found up to date)
/// by kbuild in [`tinyconfig_612_dir`], which the caller has locked and
/// keeps locked while it uses the kernel:
///
/// ```text
/// let dir = ktestkit::lock_dir(&ktestkit::tinyconfig_612_dir());
/// let kernel = ktestkit::tinyconfig_612_kernel(&dir).image;
/// ```
pub fn tinyconfig_612_kernel(dir: &DirLock) -> BuildReport {
    assert_eq!(
        dir.dir(),
        tinyconfig_612_dir(),
        "tinyconfig_612_kernel needs the lock on its own directory"
    );
    let tree = tree("6.12");
    let config = tinyconfig_612(&tree);
    let mut spec = kbuild::BuildSpec::new(&tree, "x86_64", config, dir.dir().to_path_buf());
    spec.nice = true;
    kbuild::build(&spec, &|_| {}).unwrap_or_else(|e| panic!("{e}"))
}

// ---- the host ----

/// Whether the tests run as root (the real tier does, in CI).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Whether we may make PID, mount and network namespaces with unshare(1)
/// (root outside a container that forbids it).
pub fn can_unshare() -> bool {
    is_root()
        && Command::new("unshare")
            .args(["--pid", "--fork", "--mount", "--net", "true"])
            .status()
            .is_ok_and(|s| s.success())
}

/// Whether `tool` is an executable on `PATH`.
pub fn have(tool: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let Some(path) = std::env::var_os("PATH") else {
        return false;
    };
    std::env::split_paths(&path).any(|d| {
        std::fs::metadata(d.join(tool))
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

// ---- QEMU and SSH ----

/// Live QEMU processes whose command line contains `needle` (a run's
/// directory or serial log, say): pid and command line, read from /proc.
/// A test that started QEMU asserts this is empty once the run is over.
pub fn qemus_mentioning(needle: impl AsRef<Path>) -> Vec<(u32, String)> {
    let needle = needle.as_ref().to_string_lossy();
    let mut found = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return found;
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains("qemu-system") && cmdline.contains(&*needle) {
            found.push((pid, cmdline));
        }
    }
    found
}

/// A new ed25519 key pair without a passphrase, `dir/name` and
/// `dir/name.pub`, made by ssh-keygen (openssh-client, which scripts/setup
/// installs). Returns the private key's path.
pub fn ssh_keygen(dir: &Path, name: &str) -> PathBuf {
    let key = dir.join(name);
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&key)
        .status()
        .expect("ssh-keygen runs (openssh-client; scripts/setup installs it)");
    assert!(st.success(), "ssh-keygen {}", key.display());
    key
}

/// The public half of a key made by [`ssh_keygen`]: `KEY.pub`.
pub fn ssh_pubkey(key: &Path) -> PathBuf {
    let mut p = key.as_os_str().to_owned();
    p.push(".pub");
    PathBuf::from(p)
}
