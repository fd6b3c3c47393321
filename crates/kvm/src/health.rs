//! Whether KVM actually runs guests here.
//!
//! `/dev/kvm` existing proves little: under nested virtualisation guests
//! can hang or make QEMU abort. The only reliable test is to run something,
//! so this boots SeaBIOS with no disks under KVM, with the CPU model `run`
//! would use, and watches its debug port for the end of POST. Under working
//! KVM SeaBIOS gets there in a fraction of a second (TCG needs about half a
//! second); where nested KVM traps every I/O access slowly it takes many
//! seconds, and a kernel then looks hung, so slow counts as unusable.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use ksys::process::{spawn_group, GroupOptions};

/// Answers per QEMU binary: a different QEMU (`--qemu`) can have a
/// different accelerator story (another version, a wrapper, a build
/// without KVM), so one binary's answer says nothing about another's.
static ANSWERS: OnceLock<Mutex<HashMap<PathBuf, bool>>> = OnceLock::new();

/// The QEMU `kvm_usable` asks: the one [`crate::VmSpec::new`] picks.
pub(crate) const DEFAULT_QEMU: &str = "qemu-system-x86_64";

/// Lines SeaBIOS writes to its debug port once POST is over and it looks
/// for something to boot.
const POST_DONE: [&str; 2] = ["Booting from ", "No bootable device"];

/// Whether guests run under KVM on this machine with the default QEMU
/// (`qemu-system-x86_64` from `PATH`); see [`kvm_usable_with`].
pub fn kvm_usable(timeout: Duration) -> bool {
    kvm_usable_with(Path::new(DEFAULT_QEMU), timeout)
}

/// Whether guests run under KVM on this machine with the QEMU binary
/// `qemu`, the one the boot will use. The first call for a binary does the
/// check (at most `timeout`); the answer is kept for the life of the
/// process, because the machine does not change under us and every
/// `Accel::Auto` run asks.
pub fn kvm_usable_with(qemu: &Path, timeout: Duration) -> bool {
    let answers = ANSWERS.get_or_init(Default::default);
    // Held across the check: two runs asking at once do one check.
    let mut a = answers.lock().unwrap_or_else(|e| e.into_inner());
    *a.entry(qemu.to_path_buf())
        .or_insert_with(|| check(qemu, timeout))
}

fn check(qemu: &Path, timeout: Duration) -> bool {
    let openable = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok();
    openable && boots_firmware(qemu, timeout)
}

/// Whether `qemu` gets SeaBIOS through POST under KVM within `timeout`.
fn boots_firmware(qemu: &Path, timeout: Duration) -> bool {
    let Ok(dir) = tempfile::Builder::new()
        .prefix("ktailor-kvm-check-")
        .tempdir()
    else {
        return false;
    };
    let log = dir.path().join("seabios.log");
    let Some(log_str) = log.to_str().map(|s| s.replace(',', ",,")) else {
        return false;
    };
    let mut cmd = Command::new(qemu);
    cmd.args([
        "-accel",
        "kvm",
        "-cpu",
        crate::cmdline::KVM_CPU,
        "-machine",
        "pc",
        "-m",
        "32M",
        "-nodefaults",
        "-no-user-config",
        "-nographic",
        "-no-reboot",
        "-chardev",
        &format!("file,id=dbg,path={log_str}"),
        "-device",
        "isa-debugcon,iobase=0x402,chardev=dbg",
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    let opts = GroupOptions::default().scratch(dir.path().to_path_buf());
    let Ok(mut vm) = spawn_group(&mut cmd, &opts) else {
        return false;
    };
    let deadline = Instant::now() + timeout;
    let ok = loop {
        let text = std::fs::read(&log).unwrap_or_default();
        let text = String::from_utf8_lossy(&text);
        if POST_DONE.iter().any(|m| text.contains(m)) {
            break true;
        }
        // QEMU exiting on its own before POST ends is the "abort" failure.
        if !matches!(vm.try_wait(), Ok(None)) || Instant::now() >= deadline {
            break false;
        }
        std::thread::sleep(Duration::from_millis(25));
    };
    let _ = vm.kill();
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Installs a shell script as an executable (copied by install(1): no
    /// descriptor of ours is open for writing on it when a test forks).
    fn script(dir: &Path, name: &str, text: &str) -> PathBuf {
        let src = dir.join(format!("{name}.src"));
        std::fs::write(&src, text).unwrap();
        let dst = dir.join(name);
        assert!(Command::new("install")
            .arg("-m755")
            .arg(&src)
            .arg(&dst)
            .status()
            .unwrap()
            .success());
        dst
    }

    #[test]
    fn the_check_runs_the_qemu_it_is_given() {
        let d = tempfile::tempdir().unwrap();
        // A "QEMU" whose firmware finishes POST: it writes SeaBIOS's line
        // to the debug console file, then idles like a guest would.
        let good = script(
            d.path(),
            "good-qemu",
            r#"#!/bin/sh
for a in "$@"; do
  case "$a" in file,id=dbg,path=*) log=${a#file,id=dbg,path=} ;; esac
done
echo "Booting from Hard Disk..." > "$log"
exec sleep 60
"#,
        );
        // One that cannot run guests under KVM: it gives up at once.
        let bad = script(d.path(), "bad-qemu", "#!/bin/sh\nexit 1\n");
        assert!(boots_firmware(&good, Duration::from_secs(20)));
        assert!(!boots_firmware(&bad, Duration::from_secs(20)));
        assert!(!boots_firmware(
            &d.path().join("no-such-qemu"),
            Duration::from_secs(20)
        ));
    }
}
