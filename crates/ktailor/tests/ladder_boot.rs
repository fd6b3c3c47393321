//! Issue 4's acceptance on the real thing: Linux 6.12 x86_64 built by the
//! kernel's own make, booted in QEMU under TCG, judged by the in-guest
//! probes.
//!
//! One test walks the ladder to the virtio step in one build directory (so
//! the console, initramfs and virtio steps are all built and booted, each an
//! incremental build of the last), and between the console step and the
//! rest it keeps the console kernel to show the failure verdicts: a missing
//! initramfs, a panic and a hang, each with a clear verdict, the console's
//! tail, a non-zero exit and no QEMU left in the process table.
//!
//! Real tier: `scripts/test` runs the ladder with `--include-ignored`.

use std::os::unix::fs::PermissionsExt;
mod common;

use common::{json, ktailor, text};
use ktestkit::qemus_mentioning;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The ladder's one build directory; the test locks it
/// (ktestkit::lock_dir) for as long as it builds and boots there.
fn build_dir() -> PathBuf {
    ktestkit::test_dir("ladder-tinyconfig-6.12-x86_64")
}

fn ladder_until(step: &str, report: &Path) -> serde_json::Value {
    let out = build_dir();
    let o = ktailor(&[
        "ladder",
        "--kernel",
        "6.12",
        "--until",
        step,
        "--accel",
        "tcg",
        "-j",
        "2",
        "--out",
        &out.to_string_lossy(),
        "--report",
        &report.to_string_lossy(),
        "--json",
    ]);
    let v = json(&o);
    assert!(
        o.status.success(),
        "ladder --until {step} failed:\n{}\n{}",
        serde_json::to_string_pretty(&v["steps"]).unwrap(),
        text(&o.stderr)
    );
    v
}

fn step<'a>(v: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no step {name}"))
}

fn strs(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// `ktailor boot` under TCG with its files in `workdir`, and its JSON report.
fn boot(args: &[&str], workdir: &Path) -> (Output, serde_json::Value) {
    let mut all = vec!["boot", "--accel", "tcg", "--json", "--workdir"];
    let w = workdir.to_string_lossy().into_owned();
    all.push(&w);
    all.extend_from_slice(args);
    let o = ktailor(&all);
    let v = json(&o);
    (o, v)
}

/// A boot that must fail: exit 1, the verdict, the tail, no QEMU left.
fn failing_boot(args: &[&str], workdir: &Path) -> serde_json::Value {
    let (o, v) = boot(args, workdir);
    assert_eq!(
        o.status.code(),
        Some(1),
        "a failing boot exits 1: {}",
        serde_json::to_string_pretty(&v).unwrap()
    );
    assert_eq!(v["ok"], false);
    assert!(
        !strs(&v["tail"]).is_empty() || v["verdict"].as_str().unwrap().starts_with("hung"),
        "the report quotes the console: {v}"
    );
    assert!(
        Path::new(v["serial_log"].as_str().unwrap()).is_file(),
        "serial log kept"
    );
    assert!(
        qemus_mentioning(workdir).is_empty(),
        "QEMU left behind: {:?}",
        qemus_mentioning(workdir)
    );
    v
}

/// An init that prints nothing and never returns: the console goes quiet
/// after the kernel's messages, which is what a hang looks like from the
/// host. Built with gcc, no libc.
fn silent_init_cpio(dir: &Path) -> PathBuf {
    let c = dir.join("spin.c");
    std::fs::write(
        &c,
        "void _start(void) { for (;;) { __asm__ volatile(\"pause\"); } }\n",
    )
    .unwrap();
    let exe = dir.join("spin");
    let st = Command::new("gcc")
        .args(["-static", "-nostdlib", "-O2", "-o"])
        .arg(&exe)
        .arg(&c)
        .status()
        .expect("gcc runs");
    assert!(st.success(), "gcc failed");
    let bin = std::fs::read(&exe).unwrap();
    let cpio = kinitramfs::Builder::new()
        .dir("/dev", 0o755)
        .char_dev("/dev/console", 0o600, 5, 1)
        .file("/init", bin, 0o755)
        .finish();
    let p = dir.join("spin.cpio");
    std::fs::write(&p, cpio).unwrap();
    p
}

#[test]
#[ignore = "real tier: builds kernels and boots QEMU (scripts/test runs it)"]
fn ladder_to_virtio_and_failure_verdicts() {
    let _build_dir = ktestkit::lock_dir(&build_dir());
    let tmp = tempfile::tempdir().unwrap();
    let report = tmp.path().join("report");

    // Step 1: the console. Nothing but kernel messages on ttyS0.
    let v = ladder_until("console", &report);
    let console = step(&v, "console");
    assert_eq!(console["ok"], true);
    assert_eq!(console["boot"]["expect_seen"], true);
    assert!(strs(&console["options_added"])
        .iter()
        .any(|o| o == "SERIAL_8250_CONSOLE=y"));
    // Keep this kernel (the next steps rebuild the directory).
    let keep = tmp.path().join("console");
    std::fs::create_dir_all(&keep).unwrap();
    let image = keep.join("bzImage");
    std::fs::copy(build_dir().join("arch/x86/boot/bzImage"), &image).unwrap();
    std::fs::copy(build_dir().join(".config"), keep.join(".config")).unwrap();
    let config = std::fs::read_to_string(keep.join(".config")).unwrap();
    assert!(!config.contains("CONFIG_BLK_DEV_INITRD=y"));
    let img = image.to_string_lossy().into_owned();

    // A missing initramfs: probes asked of a kernel that cannot unpack one.
    let v = failing_boot(
        &["--kernel-image", &img, "--target", "qemu-busybox"],
        &tmp.path().join("no-initramfs"),
    );
    assert!(
        v["verdict"].as_str().unwrap().starts_with("kernel panic"),
        "{v}"
    );
    assert!(
        strs(&v["tail"])
            .iter()
            .any(|l| l.contains("No working init found")),
        "{v}"
    );
    assert!(
        strs(&v["hints"])
            .iter()
            .any(|h| h.contains("BLK_DEV_INITRD")),
        "the hint names the option: {v}"
    );

    // Steps 2..7, incrementally in the same directory.
    let v = ladder_until("virtio", &report);
    let names: Vec<String> = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        names,
        [
            "console",
            "initramfs-hello",
            "busybox",
            "loopback",
            "e1000-tcp",
            "ahci-ext4",
            "virtio"
        ]
    );
    for s in v["steps"].as_array().unwrap() {
        assert_eq!(s["ok"], true, "step {} failed: {s}", s["name"]);
        assert_eq!(s["boot"]["accel"], "tcg");
    }
    let hello = step(&v, "initramfs-hello");
    assert_eq!(hello["boot"]["expect"], "hello world");
    assert_eq!(hello["boot"]["expect_seen"], true);
    assert!(hello["boot"]["boot_to_init_s"].as_f64().unwrap() > 0.0);
    // The virtio step re-proves the network and disk probes over virtio,
    // and every earlier probe still passes.
    let virtio = step(&v, "virtio");
    let required = strs(&virtio["required_probes"]);
    for p in [
        "elf64",
        "script",
        "procfs",
        "sysfs",
        "devtmpfs",
        "inet-socket",
        "pci",
        "nic",
        "link-up",
        "static-ip",
        "tcp-listen",
        "block-devices",
        "ext4-mount",
        "filesystems",
    ] {
        assert!(required.iter().any(|r| r == p), "virtio requires {p}");
    }
    let probes = virtio["boot"]["probes"].as_array().unwrap();
    for p in &required {
        let r = probes
            .iter()
            .rev()
            .find(|x| x["probe"] == p.as_str())
            .unwrap_or_else(|| panic!("no result for {p}"));
        assert_eq!(r["status"], "pass", "{p}: {r}");
    }
    assert_eq!(
        virtio["probes_passed"].as_u64().unwrap() as usize,
        required.len()
    );
    assert!(virtio["boot"]["append"]
        .as_str()
        .unwrap()
        .contains("KTDISK=/dev/vda"));
    let tcp = probes.iter().find(|x| x["probe"] == "tcp-listen").unwrap();
    assert!(
        tcp["detail"].as_str().unwrap().contains("ktailor-hello"),
        "{tcp}"
    );
    // Sizes grow, and the report files say so.
    let first = step(&v, "console")["vmlinux_bytes"].as_u64().unwrap();
    let last = virtio["vmlinux_bytes"].as_u64().unwrap();
    assert!(last > first, "{first} -> {last}");
    let md = std::fs::read_to_string(report.join("ladder.md")).unwrap();
    assert!(md.contains("| 7 | virtio |"), "{md}");
    assert!(md.contains("Growth from `console` to `virtio`"));
    let svg = std::fs::read_to_string(report.join("ladder-size.svg")).unwrap();
    assert_eq!(svg.matches("<rect").count(), 7 * 2 + 2);
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report.join("ladder.json")).unwrap())
            .unwrap();
    assert_eq!(j["steps"].as_array().unwrap().len(), 7);

    // A panic: init that does not exist, on the virtio kernel.
    let virtio_img = build_dir().join("arch/x86/boot/bzImage");
    let vimg = virtio_img.to_string_lossy().into_owned();
    let v = failing_boot(
        &[
            "--kernel-image",
            &vimg,
            "--userspace",
            "hello",
            "--append",
            "rdinit=/nonexistent",
            "--append",
            "init=/nonexistent",
        ],
        &tmp.path().join("panic"),
    );
    assert!(
        v["verdict"].as_str().unwrap().starts_with("kernel panic"),
        "{v}"
    );

    // A hang: init runs and the console goes silent for good.
    let spin = silent_init_cpio(tmp.path());
    let v = failing_boot(
        &[
            "--kernel-image",
            &vimg,
            "--userspace",
            "probe",
            "--initrd",
            &spin.to_string_lossy(),
            "--idle-timeout",
            "10",
        ],
        &tmp.path().join("hang"),
    );
    assert!(v["verdict"].as_str().unwrap().starts_with("hung"), "{v}");

    // A user's own file in ktailor's initramfs: it replaces the script the
    // `script` probe runs, and the guest proves it ran.
    let script = tmp.path().join("mine.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\necho KTAILOR-ADDED-FILE >/dev/console\nexit 42\n",
    )
    .unwrap();
    // The guest gets the host file's mode, so the script must be executable.
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let work = tmp.path().join("added");
    let added = format!("{}:/ktailor-script", script.display());
    let (o, v) = boot(
        &[
            "--kernel-image",
            &vimg,
            "--userspace",
            "busybox",
            "--probes",
            "script",
            "--add-file",
            &added,
        ],
        &work,
    );
    assert!(o.status.success(), "{v}");
    let log = std::fs::read_to_string(v["serial_log"].as_str().unwrap()).unwrap();
    assert!(log.contains("KTAILOR-ADDED-FILE"), "{log}");
    assert!(qemus_mentioning(&work).is_empty());
}

#[test]
#[ignore = "real tier: needs the kernel's build tools, which ktailor checks first (scripts/test runs it)"]
fn bad_requests_are_clear_errors() {
    // Each request is refused with exit 2 and an error that names the
    // culprit and what to use instead.
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["build", "--target", "no-such-target"],
            &["unknown target \"no-such-target\"", "qemu-virtio"],
        ),
        (
            &["boot", "--kernel-image", "/nonexistent/bzImage"],
            &["/nonexistent/bzImage"],
        ),
        (
            &[
                "boot",
                "--target",
                "qemu-console",
                "--add-file",
                "/nonexistent/file.sh:/init",
            ],
            &["--add-file", "/nonexistent/file.sh"],
        ),
        (
            &["ladder", "--until", "nope"],
            &["no ladder step \"nope\"", "elogind-clean"],
        ),
        (
            &[
                "boot",
                "--target",
                "debian-sysvinit",
                "--kernel-image",
                "/etc/hostname",
            ],
            &["--userspace probe"],
        ),
    ];
    for (args, needles) in cases {
        let o = ktailor(args);
        let e = text(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {e}");
        for n in *needles {
            assert!(e.contains(n), "{args:?}: wanted {n:?} in: {e}");
        }
    }
}
