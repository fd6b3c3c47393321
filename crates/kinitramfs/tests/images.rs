//! The three images: structure (through our reader and GNU cpio), the
//! embedded probe binary, and — as root — each image's /init actually run
//! as PID 1 of fresh namespaces in a chroot of the unpacked image.
//!
//! The tests that need root, GNU cpio or busybox-static (what
//! scripts/setup installs) are the real tier: `#[ignore]`d, run by
//! `scripts/test` with `--include-ignored`, and failing, not skipping,
//! when what they need is missing.

use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use kinitramfs::cpio::{self, Entry, Kind};
use kinitramfs::{
    busybox_initramfs, busybox_initramfs_from, elf, find_busybox, hello_initramfs, probe_initramfs,
    BusyboxError, PROBE,
};
use ktestkit::{can_unshare, have};

fn entry<'a>(es: &'a [Entry], name: &str) -> &'a Entry {
    let hits: Vec<&Entry> = es.iter().filter(|e| e.name == name).collect();
    assert_eq!(hits.len(), 1, "{name} exactly once");
    hits[0]
}

fn write_exe(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

fn check_skeleton(es: &[Entry]) {
    for d in ["dev", "proc", "sys", "tmp", "mnt", "root"] {
        assert_eq!(entry(es, d).kind(), Some(Kind::Dir), "{d}");
    }
    assert_eq!(
        entry(es, "dev/console").kind(),
        Some(Kind::CharDev { major: 5, minor: 1 })
    );
    assert_eq!(
        entry(es, "dev/null").kind(),
        Some(Kind::CharDev { major: 1, minor: 3 })
    );
    assert_eq!(entry(es, "tmp").perm(), 0o1777);
}

#[test]
fn probe_binary_is_static_and_runs() {
    let info = elf::inspect(PROBE).expect("PROBE is an ELF");
    assert!(
        info.is_64 && info.machine == 62 && !info.dynamic,
        "{info:?}"
    );
    let dir = tempfile::tempdir().unwrap();
    let exe = write_exe(dir.path(), "ktailor-probe", PROBE);
    if have("file") {
        let out = Command::new("file").arg(&exe).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("statically linked"), "{text}");
        assert!(text.contains("x86-64"), "{text}");
    }
    let out = Command::new(&exe)
        .env_clear()
        .env("KTPROBES", "console,epoll,futex,memfd,elf64")
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(r#"KTAILOR-PROBE-DONE {"pass":5,"fail":0,"skip":0}"#),
        "{stdout}"
    );
    eprintln!("embedded probe: {} bytes", PROBE.len());
}

#[test]
fn probe_image_layout() {
    let extra = vec![
        ("/etc/ktailor.txt".to_string(), b"hi".to_vec(), 0o644),
        (
            "/ktailor-script".to_string(),
            b"#!/init --script-child\n".to_vec(),
            0o700,
        ),
        (String::new(), b"dropped".to_vec(), 0o644),
    ];
    let img = probe_initramfs(&extra);
    assert_eq!(img, probe_initramfs(&extra), "reproducible");
    let es = cpio::read(&img).unwrap();
    check_skeleton(&es);
    let init = entry(&es, "init");
    assert_eq!(init.kind(), Some(Kind::File(PROBE.to_vec())));
    assert_eq!(init.perm(), 0o755);
    let script = entry(&es, "ktailor-script");
    assert_eq!(script.data, b"#!/init --script-child\n");
    assert_eq!(script.perm(), 0o700, "extra overrides in place");
    assert_eq!(entry(&es, "etc/ktailor.txt").data, b"hi");
    let etc = es.iter().position(|e| e.name == "etc").unwrap();
    let txt = es.iter().position(|e| e.name == "etc/ktailor.txt").unwrap();
    assert!(etc < txt);
}

#[test]
fn hello_image_runs_on_the_host() {
    let img = hello_initramfs(&[]);
    let es = cpio::read(&img).unwrap();
    check_skeleton(&es);
    let init = entry(&es, "init");
    assert_eq!(init.perm(), 0o755);
    let dir = tempfile::tempdir().unwrap();
    let exe = write_exe(dir.path(), "init", &init.data);
    // Not PID 1: it prints and exits 0 instead of rebooting.
    let out = Command::new(&exe).output().unwrap();
    assert_eq!(out.stdout, b"hello world\n");
    assert_eq!(out.status.code(), Some(0));
    if have("file") {
        let out = Command::new("file").arg(&exe).output().unwrap();
        assert!(String::from_utf8_lossy(&out.stdout).contains("statically linked"));
    }
}

#[test]
#[ignore = "real tier: needs GNU cpio (scripts/test runs it)"]
fn gnu_cpio_reads_the_images() {
    if !have("cpio") {
        panic!("this test needs a cpio(1): run it as root after scripts/setup");
    }
    for img in [probe_initramfs(&[]), hello_initramfs(&[])] {
        let listing = cpio_list(&img);
        for want in [
            "dev/console",
            "dev/null",
            "init",
            "proc",
            "sys",
            "tmp",
            "mnt",
            "root",
        ] {
            assert!(
                listing.lines().any(|l| l.ends_with(&format!(" {want}"))),
                "{want} in\n{listing}"
            );
        }
        let console = listing
            .lines()
            .find(|l| l.ends_with(" dev/console"))
            .unwrap();
        assert!(
            console.starts_with("crw-------") && console.contains("5,"),
            "{console}"
        );
    }
}

fn cpio_list(img: &[u8]) -> String {
    let mut child = Command::new("cpio")
        .args(["-t", "-v", "--quiet"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(img).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
#[ignore = "real tier: needs busybox-static (scripts/test runs it)"]
fn busybox_image_layout() {
    let bb = match find_busybox() {
        Ok(p) => p,
        Err(e) => {
            panic!("busybox-static is needed: {e} (run scripts/setup as root)");
        }
    };
    let img = busybox_initramfs(&[("/etc/motd".into(), b"x".to_vec(), 0o644)]).unwrap();
    assert_eq!(
        img,
        busybox_initramfs_from(&bb, &[("/etc/motd".into(), b"x".to_vec(), 0o644)]).unwrap()
    );
    let es = cpio::read(&img).unwrap();
    check_skeleton(&es);
    assert_eq!(entry(&es, "bin/busybox").data, std::fs::read(&bb).unwrap());
    for applet in [
        "bin/sh",
        "bin/mount",
        "sbin/reboot",
        "usr/bin/nc",
        "sbin/ip",
    ] {
        if let Some(e) = es.iter().find(|e| e.name == applet) {
            assert_eq!(
                e.kind(),
                Some(Kind::Symlink("/bin/busybox".into())),
                "{applet}"
            );
        } else {
            assert_ne!(applet, "bin/sh", "bin/sh must exist");
        }
    }
    let init = entry(&es, "init");
    assert!(init.data.starts_with(b"#!/bin/sh\n"));
    assert_eq!(init.perm(), 0o755);
    let text = String::from_utf8_lossy(&init.data);
    assert!(text.contains("mount -t proc proc /proc"));
    assert!(text.contains("KTPOWEROFF=1 /ktailor-probe"));
    assert_eq!(entry(&es, "ktailor-probe").data, PROBE);
    assert_eq!(
        entry(&es, "ktailor-script").data,
        b"#!/ktailor-probe --script-child\n"
    );
    assert_eq!(entry(&es, "etc/motd").data, b"x");
}

#[test]
fn busybox_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    assert!(matches!(
        busybox_initramfs_from(&missing, &[]),
        Err(BusyboxError::Read(..))
    ));
    let text = write_exe(dir.path(), "text", b"#!/bin/sh\n");
    let e = busybox_initramfs_from(&text, &[]).unwrap_err();
    assert!(
        e.to_string().contains("apt-get install -y busybox-static"),
        "{e}"
    );
    // A dynamic executable (this test binary itself, usually) is refused.
    let me = std::env::current_exe().unwrap();
    if elf::inspect(&std::fs::read(&me).unwrap()).is_some_and(|i| i.dynamic) {
        assert!(matches!(
            busybox_initramfs_from(&me, &[]),
            Err(BusyboxError::NotStatic(..))
        ));
    }
    assert!(BusyboxError::NotInstalled
        .to_string()
        .contains("apt-get install -y busybox-static"));
}

/// Unpacks `img` with GNU cpio and runs its /init as PID 1 of new PID,
/// mount, network, UTS and IPC namespaces, chrooted into it. The shell
/// checks `$$` is 1 before exec'ing /init, so an init that reboots can only
/// ever end that PID namespace.
fn run_as_pid1(img: &[u8], env: &[(&str, &str)]) -> Output {
    if !can_unshare() || !have("cpio") {
        panic!("this test needs root, unshare(1) with PID namespaces, and cpio(1): run it as root after scripts/setup");
    }
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new("cpio")
        .args(["-i", "-d", "-m", "--quiet", "--no-absolute-filenames"])
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(img).unwrap();
    assert!(child.wait().unwrap().success());
    let root = dir.path().to_str().unwrap().to_string();
    let mut cmd = Command::new("unshare");
    cmd.env_clear().env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.args([
        "--pid",
        "--fork",
        "--mount",
        "--propagation",
        "private",
        "--net",
        "--uts",
        "--ipc",
        "sh",
        "-c",
        r#"[ "$$" = 1 ] || { echo "not pid 1: refusing"; exit 99; }; exec chroot "$0" /init"#,
        &root,
    ]);
    cmd.output().unwrap()
}

fn killed_by_reboot(out: &Output) -> bool {
    out.status.signal() == Some(libc::SIGHUP) || out.status.code() == Some(128 + libc::SIGHUP)
}

#[test]
#[ignore = "real tier: needs root (scripts/test runs it)"]
fn hello_image_as_pid1() {
    let out = run_as_pid1(&hello_initramfs(&[]), &[]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello world\n");
    assert!(killed_by_reboot(&out), "{:?}", out.status);
}

#[test]
#[ignore = "real tier: needs root (scripts/test runs it)"]
fn probe_image_as_pid1() {
    let out = run_as_pid1(
        &probe_initramfs(&[]),
        &[("KTTIMEOUT", "1"), ("KTFS", "proc,sysfs")],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(killed_by_reboot(&out), "{:?}\n{stdout}", out.status);
    for probe in [
        "console",
        "procfs",
        "sysfs",
        "devtmpfs",
        "tmpfs",
        "elf64",
        "script",
        "filesystems",
        "epoll",
    ] {
        let want = format!(r#"KTAILOR-PROBE {{"probe":"{probe}","status":"pass""#);
        assert!(stdout.contains(&want), "{probe} should pass:\n{stdout}");
    }
    assert!(stdout.contains("KTAILOR-PROBE-DONE "), "{stdout}");
}

#[test]
#[ignore = "real tier: needs root and busybox-static (scripts/test runs it)"]
fn busybox_image_as_pid1() {
    if find_busybox().is_err() {
        panic!("this test needs busybox-static: run it as root after scripts/setup");
    }
    let img = busybox_initramfs(&[]).unwrap();
    let out = run_as_pid1(
        &img,
        &[("KTPROBES", "console,procfs,sysfs,devtmpfs,script,elf64")],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(killed_by_reboot(&out), "{:?}\n{stdout}", out.status);
    assert!(stdout.contains("ktailor busybox init: Linux"), "{stdout}");
    for probe in ["console", "procfs", "sysfs", "devtmpfs", "script", "elf64"] {
        let want = format!(r#"KTAILOR-PROBE {{"probe":"{probe}","status":"pass""#);
        assert!(stdout.contains(&want), "{probe} should pass:\n{stdout}");
    }
    assert!(stdout.contains("/ktailor-probe exited with 0"), "{stdout}");
}
