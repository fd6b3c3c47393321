//! Whether KVM actually runs guests here.
//!
//! `/dev/kvm` existing proves little: under nested virtualisation guests
//! can hang or make QEMU abort. The only reliable test is to run something,
//! so this boots SeaBIOS with no disks under KVM, with the CPU model `run`
//! would use, and watches its debug port for the end of POST. Under working
//! KVM SeaBIOS gets there in a fraction of a second (TCG needs about half a
//! second); where nested KVM traps every I/O access slowly it takes many
//! seconds, and a kernel then looks hung, so slow counts as unusable.

use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::reaper::VmProcess;

static ANSWER: OnceLock<bool> = OnceLock::new();

/// Lines SeaBIOS writes to its debug port once POST is over and it looks
/// for something to boot.
const POST_DONE: [&str; 2] = ["Booting from ", "No bootable device"];

/// Whether guests run under KVM on this machine. The first call does the
/// check (at most `timeout`); the answer is kept for the life of the process,
/// because the machine does not change under us and every `Accel::Auto` run
/// asks.
pub fn kvm_usable(timeout: Duration) -> bool {
    *ANSWER.get_or_init(|| check(timeout))
}

fn check(timeout: Duration) -> bool {
    let openable = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok();
    if !openable {
        return false;
    }
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
    let mut cmd = Command::new("qemu-system-x86_64");
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
    let Ok(mut vm) = VmProcess::spawn(cmd, Some(dir.path().to_path_buf())) else {
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
    vm.kill();
    ok
}
