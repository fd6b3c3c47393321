//! Real QEMU runs (TCG) of tiny Linux 6.12 kernels.
//!
//! The kernels are built with kbuild into `ksrc::cache_root()/test-builds/`
//! and reused, so only the first run builds (minutes each):
//! - `kbuild-tinyconfig-6.12-x86_64`: plain tinyconfig, shared with kbuild's
//!   own test. No printk, no TTY: a kernel that boots without a word.
//! - `kvm-serial-6.12`: tinyconfig plus a serial console, initramfs and ELF
//!   support: panics without an initramfs, runs our init with one.
//!
//! After every run the process table must hold no QEMU naming the run's
//! serial log, whatever the verdict.
//!
//! Real tier (every test here starts QEMU; `scripts/test` runs them with
//! `--include-ignored`). Each test holds the lock on the build directory
//! of the kernel it boots (ktestkit::lock_dir), so no other test binary
//! rebuilds it meanwhile.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use kvm::{kvm_usable, run, Accel, Hang, Verdict, VmError, VmSpec};
use kvm::{Firmware, Machine, MachineType, Nic};

/// One kernel build or VM at a time: the machine has few cores, and a TCG
/// guest starved of CPU would look hung.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn exclusive() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

fn tree() -> ksrc::KernelTree {
    ktestkit::tree("6.12")
}

fn make(tree: &ksrc::KernelTree, out: &Path, target: &str) {
    ktestkit::make(tree, out, "x86_64", target)
}

fn build(tree: &ksrc::KernelTree, config: String, dir: &ktestkit::DirLock) -> PathBuf {
    let mut spec = kbuild::BuildSpec::new(tree, "x86_64", config, dir.dir().to_path_buf());
    spec.nice = true;
    let r = kbuild::build(&spec, &|_| {}).unwrap_or_else(|e| panic!("{e}"));
    r.image
}

/// Plain tinyconfig, shared with kbuild's and the doctor's tests
/// (ktestkit): whichever runs first builds it for all. Keep the lock while
/// the kernel boots.
fn silent_kernel() -> (ktestkit::DirLock, PathBuf) {
    let dir = ktestkit::lock_dir(&ktestkit::tinyconfig_612_dir());
    static K: OnceLock<PathBuf> = OnceLock::new();
    let image = K
        .get_or_init(|| ktestkit::tinyconfig_612_kernel(&dir).image)
        .clone();
    (dir, image)
}

/// tinyconfig + what the seed adds for console output and an initramfs.
/// Keep the lock while the kernel boots.
fn serial_kernel() -> (ktestkit::DirLock, PathBuf) {
    let dir = ktestkit::lock_dir(&ktestkit::test_dir("kvm-serial-6.12"));
    static K: OnceLock<PathBuf> = OnceLock::new();
    let image = K
        .get_or_init(|| {
            let tree = tree();
            let gen = ktestkit::lock_dir(&ktestkit::test_dir("kvm-serial-config-6.12"));
            let gen = gen.dir();
            make(&tree, gen, "tinyconfig");
            let mut config = std::fs::read_to_string(gen.join(".config")).unwrap();
            config.push_str(
                "CONFIG_PRINTK=y\nCONFIG_TTY=y\nCONFIG_SERIAL_8250=y\nCONFIG_SERIAL_8250_CONSOLE=y\n\
                 CONFIG_BLK_DEV_INITRD=y\nCONFIG_BINFMT_ELF=y\n",
            );
            std::fs::write(gen.join(".config"), config).unwrap();
            make(&tree, gen, "olddefconfig");
            let config = std::fs::read_to_string(gen.join(".config")).unwrap();
            build(&tree, config, &dir)
        })
        .clone();
    (dir, image)
}

/// An initramfs whose /init prints a probe line and reboots, which
/// `-no-reboot` turns into QEMU exiting. No libc: the kernel has no futexes
/// or anything else glibc's startup might want.
fn rebooting_initramfs(dir: &Path) -> PathBuf {
    const INIT_C: &str = r#"
static long sys(long n, long a, long b, long c, long d) {
    register long r10 __asm__("r10") = d;
    long r;
    __asm__ volatile ("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10)
                      : "rcx", "r11", "memory");
    return r;
}
void _start(void) {
    static const char msg[] = "KTAILOR-PROBE hello from init\n";
    sys(1 /* write */, 1, (long)msg, sizeof msg - 1, 0);
    sys(169 /* reboot */, 0xfee1dead, 672274793, 0x01234567 /* RESTART */, 0);
    for (;;) {}
}
"#;
    let root = dir.join("root");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(dir.join("init.c"), INIT_C).unwrap();
    let ok = Command::new("gcc")
        .args([
            "-static",
            "-nostdlib",
            "-no-pie",
            "-O2",
            "-fno-stack-protector",
            "-o",
        ])
        .arg(root.join("init"))
        .arg(dir.join("init.c"))
        .status()
        .unwrap()
        .success();
    assert!(ok, "gcc builds the test init");
    let cpio = dir.join("initramfs.cpio");
    let ok = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "cd '{}' && echo init | cpio --quiet -o -H newc > '{}'",
            root.display(),
            cpio.display()
        ))
        .status()
        .unwrap()
        .success();
    assert!(ok, "cpio packs the test initramfs");
    cpio
}

fn pc() -> Machine {
    Machine {
        memory_mb: 128,
        ..Machine::new(MachineType::Pc)
    }
}

fn tcg_spec(kernel: PathBuf, serial_log: PathBuf) -> VmSpec {
    let mut s = VmSpec::new(kernel, pc(), serial_log);
    s.append = "console=ttyS0 printk.time=1".into();
    s.accel = Accel::Tcg;
    s.timeout = Duration::from_secs(180);
    s.idle_timeout = Duration::from_secs(60);
    s
}

/// QEMU processes whose command line mentions `token`.
fn qemus_naming(token: &str) -> Vec<u32> {
    ktestkit::qemus_mentioning(token)
        .into_iter()
        .map(|(pid, _)| pid)
        .collect()
}

/// The directory of the `-pidfile` on a QEMU's command line: the run's
/// scratch directory.
fn scratch_dir(pid: u32) -> Option<PathBuf> {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let args: Vec<String> = cmdline
        .split(|&b| b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let i = args.iter().position(|a| a == "-pidfile")?;
    Path::new(args.get(i + 1)?).parent().map(Path::to_path_buf)
}

fn assert_no_qemu_left(serial_log: &Path) {
    let token = serial_log.to_str().unwrap();
    let left = qemus_naming(token);
    assert!(left.is_empty(), "QEMU left running: {left:?}");
}

fn tmp() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("ktailor-kvm-test-")
        .tempdir()
        .unwrap()
}

#[test]
#[ignore = "real tier: boots QEMU (scripts/test runs it)"]
fn kernel_without_init_panics_and_the_tail_shows_it() {
    let _one = exclusive();
    let (_dir, kernel) = serial_kernel();
    let d = tmp();
    let log = d.path().join("serial.log");
    let spec = tcg_spec(kernel, log.clone());
    let mut seen = 0;
    let r = run(&spec, &mut |_, _| seen += 1).unwrap();
    assert_no_qemu_left(&log);
    eprintln!("{r}");
    match &r.verdict {
        Verdict::Panic { message } => {
            assert!(message.contains("No working init found"), "{message}")
        }
        other => panic!("expected a panic, got {other:?}\n{r}"),
    }
    assert_eq!(seen, r.lines);
    assert!(r
        .tail
        .iter()
        .any(|l| l.contains("Kernel panic - not syncing")));
    assert!(r.to_string().contains("| "), "the report quotes the tail");
    assert_eq!(r.boot, None, "init never ran");
    let raw = std::fs::read_to_string(&log).unwrap();
    assert!(
        raw.contains("Linux version 6.12"),
        "QEMU wrote the serial log"
    );
}

#[test]
#[ignore = "real tier: boots QEMU (scripts/test runs it)"]
fn kernel_without_console_is_judged_hung() {
    let _one = exclusive();
    let (_dir, kernel) = silent_kernel();
    let d = tmp();
    let log = d.path().join("serial.log");
    let mut spec = tcg_spec(kernel, log.clone());
    spec.idle_timeout = Duration::from_secs(5);
    spec.timeout = Duration::from_secs(60);
    let r = run(&spec, &mut |_, _| {}).unwrap();
    assert_no_qemu_left(&log);
    eprintln!("{r}");
    assert_eq!(
        r.verdict,
        Verdict::Hung(Hang::Silent(Duration::from_secs(5)))
    );
    // SeaBIOS greets on the serial port; the kernel says nothing after it.
    assert!(r.tail.iter().all(|l| !l.contains("Linux version")), "{r}");
    assert!(r.tail.iter().any(|l| l.contains("SeaBIOS")), "{r}");
}

#[test]
#[ignore = "real tier: boots QEMU (scripts/test runs it)"]
fn overall_timeout_ends_a_talkative_run() {
    let _one = exclusive();
    let (_dir, kernel) = serial_kernel();
    let d = tmp();
    let log = d.path().join("serial.log");
    let mut spec = tcg_spec(kernel, log.clone());
    spec.timeout = Duration::from_secs(1);
    let r = run(&spec, &mut |_, _| {}).unwrap();
    assert_no_qemu_left(&log);
    assert_eq!(
        r.verdict,
        Verdict::Hung(Hang::Timeout(Duration::from_secs(1))),
        "{r}"
    );
}

#[test]
#[ignore = "real tier: boots QEMU (scripts/test runs it)"]
fn init_that_reboots_exits_cleanly_with_boot_times() {
    let _one = exclusive();
    let (_dir, kernel) = serial_kernel();
    let d = tmp();
    let log = d.path().join("serial.log");
    let mut spec = tcg_spec(kernel, log.clone());
    spec.initrd = Some(rebooting_initramfs(d.path()));
    let mut probe = None;
    let r = run(&spec, &mut |line, c| {
        if line.contains("KTAILOR-PROBE hello") {
            probe = Some(c.elapsed());
        }
    })
    .unwrap();
    assert_no_qemu_left(&log);
    eprintln!("{r}");
    assert_eq!(r.verdict, Verdict::Exited, "{r}");
    let boot = r.boot.clone().expect("boot time");
    assert_eq!(boot.init.as_deref(), Some("/init"));
    assert!(
        boot.kernel.is_some(),
        "printk.time=1 gives the kernel clock"
    );
    assert!(boot.host.is_some());
    assert!(probe.is_some());
    assert!(boot.host <= probe);
}

#[test]
#[ignore = "real tier: boots QEMU (scripts/test runs it)"]
fn callback_can_reach_the_forwarded_port_and_stop_the_vm() {
    let _one = exclusive();
    let (_dir, kernel) = serial_kernel();
    let d = tmp();
    let log = d.path().join("serial.log");
    let mut spec = tcg_spec(kernel, log.clone());
    spec.machine.machine = MachineType::Q35;
    spec.machine.nics.push(Nic {
        model: "e1000".into(),
        hostfwd: true,
    });
    let mut seen = Vec::new();
    let mut sent = None;
    let r = run(&spec, &mut |line, c| {
        seen.push(line.to_string());
        if line.contains("Linux version") {
            // The kernel has no e1000 driver: QEMU's user network accepts
            // the connection on the guest's behalf, which is all this checks.
            sent = Some(c.send_to_guest_port(22, b"ktailor-hello\n"));
            c.stop();
        }
    })
    .unwrap();
    assert_no_qemu_left(&log);
    assert_eq!(r.verdict, Verdict::Stopped, "{r}");
    assert!(seen.last().unwrap().contains("Linux version"));
    assert!(matches!(sent, Some(Ok(()))), "{sent:?}");
    assert_eq!(r.forwards.len(), 1);
    assert_eq!(r.forwards[0].guest_port, 22);
    let fwd = format!("hostfwd=tcp:127.0.0.1:{}-:22", r.forwards[0].host_port);
    assert!(
        r.qemu_args.iter().any(|a| a.contains(&fwd)),
        "{:?}",
        r.qemu_args
    );
}

#[test]
#[ignore = "real tier: boots QEMU (scripts/test runs it)"]
fn uefi_firmware_starts() {
    let _one = exclusive();
    // OVMF cannot start this kernel (no EFI stub), but it must get far
    // enough to say so on the console.
    let (_dir, kernel) = serial_kernel();
    let d = tmp();
    let log = d.path().join("serial.log");
    let mut spec = tcg_spec(kernel, log.clone());
    spec.machine.machine = MachineType::Q35;
    spec.machine.firmware = Firmware::Uefi;
    let r = run(&spec, &mut |line, c| {
        if line.contains("BdsDxe") {
            c.stop();
        }
    })
    .unwrap();
    assert_no_qemu_left(&log);
    assert_eq!(r.verdict, Verdict::Stopped, "{r}");
    assert!(r.qemu_args.iter().any(|a| a.contains("if=pflash")));
}

#[test]
#[ignore = "real tier: boots QEMU (scripts/test runs it)"]
fn qemu_failures_carry_its_stderr() {
    let _one = exclusive();
    let d = tmp();
    let kernel = d.path().join("not-a-kernel");
    std::fs::write(&kernel, b"nothing bootable").unwrap();
    let log = d.path().join("serial.log");
    let mut spec = tcg_spec(kernel.clone(), log.clone());
    let r = run(&spec, &mut |_, _| {}).unwrap();
    assert_no_qemu_left(&log);
    match &r.verdict {
        Verdict::QemuFailed { stderr, .. } => {
            assert!(stderr.contains("invalid kernel header"), "{stderr}")
        }
        other => panic!("{other:?}"),
    }

    let (_dir, serial) = serial_kernel();
    spec.kernel = serial;
    spec.machine.nics.push(Nic {
        model: "no-such-nic".into(),
        hostfwd: true,
    });
    let r = run(&spec, &mut |_, _| {}).unwrap();
    assert_no_qemu_left(&log);
    match &r.verdict {
        Verdict::QemuFailed { stderr, .. } => assert!(stderr.contains("no-such-nic"), "{stderr}"),
        other => panic!("{other:?}"),
    }
    spec.machine.nics.clear();

    // Not even started: files that are not there.
    let mut spec = tcg_spec(d.path().join("missing"), log.clone());
    assert!(matches!(
        run(&spec, &mut |_, _| {}),
        Err(VmError::Missing { .. })
    ));
    spec.kernel = kernel;
    spec.machine.firmware = Firmware::Uefi;
    spec.ovmf.code = d.path().join("no-OVMF_CODE.fd");
    let e = run(&spec, &mut |_, _| {}).unwrap_err();
    assert!(e.to_string().contains("apt-get install -y ovmf"), "{e}");
    spec.machine.firmware = Firmware::Bios;
    spec.qemu = d.path().join("no-qemu");
    let e = run(&spec, &mut |_, _| {}).unwrap_err();
    assert!(e.to_string().contains("qemu-system-x86"), "{e}");
}

#[test]
#[ignore = "real tier: boots QEMU (scripts/test runs it)"]
fn kvm_check_answers_in_time_and_leaves_no_qemu() {
    let _one = exclusive();
    let timeout = Duration::from_secs(3);
    let t = Instant::now();
    let usable = kvm_usable(timeout);
    let took = t.elapsed();
    eprintln!("kvm_usable: {usable} after {took:?}");
    // Killing and reaping QEMU comes on top of the timeout.
    assert!(took < timeout + Duration::from_secs(5), "{took:?}");
    assert!(qemus_naming("ktailor-kvm-check-").is_empty());

    // The answer is kept per QEMU binary: asking again about the same one,
    // even with no time left to check, answers as before without running
    // it again. Seen through a stand-in QEMU that counts its runs and gets
    // through POST at once (the check only runs QEMU where /dev/kvm opens,
    // as it does for root, and CI runs as root).
    let d = tmp();
    let runs = d.path().join("runs");
    let fake = d.path().join("qemu-system-x86_64");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\necho run >> '{}'\nfor a in \"$@\"; do\n  case \"$a\" in file,id=dbg,path=*) \
             log=${{a#file,id=dbg,path=}} ;; esac\ndone\necho 'Booting from Hard Disk...' > \"$log\"\n\
             exec sleep 60\n",
            runs.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let count = || {
        std::fs::read_to_string(&runs)
            .map(|t| t.lines().count())
            .unwrap_or(0)
    };
    let kvm_opens = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok();
    let first = kvm::kvm_usable_with(&fake, timeout);
    assert_eq!(first, kvm_opens, "the stand-in always gets through POST");
    assert_eq!(count(), usize::from(kvm_opens));
    assert_eq!(kvm::kvm_usable_with(&fake, Duration::ZERO), first);
    assert_eq!(count(), usize::from(kvm_opens), "the check ran again");
}

/// The `signal_child` example, which cargo builds next to this test.
fn signal_child() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|d| d.parent()).unwrap();
    let p = profile_dir.join("examples/signal_child");
    assert!(
        p.exists(),
        "{} is missing: cargo test builds it",
        p.display()
    );
    p
}

#[test]
#[ignore = "real tier: boots QEMU (scripts/test runs it)"]
fn signals_do_not_orphan_qemu() {
    let _one = exclusive();
    let (_dir, kernel) = silent_kernel();
    for (name, signal) in [
        ("SIGTERM", libc::SIGTERM),
        ("SIGINT", libc::SIGINT),
        ("SIGKILL", libc::SIGKILL),
    ] {
        let d = tmp();
        let log = d.path().join("serial.log");
        let mut child = Command::new(signal_child())
            .arg(&kernel)
            .arg(&log)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let token = log.to_str().unwrap().to_string();
        let t = Instant::now();
        let qemu = loop {
            if let Some(&pid) = qemus_naming(&token).first() {
                break pid;
            }
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "the child never started QEMU"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let scratch = scratch_dir(qemu).expect("QEMU's command line names its pidfile");
        assert!(scratch.is_dir());
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(child.id() as libc::pid_t, signal);
        }
        let status = child.wait().unwrap();
        let t = Instant::now();
        while !qemus_naming(&token).is_empty() && t.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_no_qemu_left(&log);
        eprintln!("{name}: child ended with {status}, its QEMU is gone");
        if signal == libc::SIGKILL {
            // Nothing of ours ran to clean up after SIGKILL.
            let _ = std::fs::remove_dir_all(&scratch);
        } else {
            // Exiting from the handler skips destructors; the handler
            // removes the run's scratch directory itself.
            assert!(!scratch.exists(), "{} is left", scratch.display());
        }
    }
}
