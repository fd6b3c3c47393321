//! The seed's destination on the real thing: Debian (sysvinit) on the
//! `ec2-nitro` kernel, in a UEFI disk image booted from NVMe on the EC2
//! simulator, checked over SSH, with a key that only the simulated
//! metadata service (IMDSv2) knows also logging in.
//!
//! Real components only: the kernel built by the kernel's own make,
//! mmdebstrap from Debian's archive, sfdisk/mkfs.vfat/mtools/mke2fs, OVMF,
//! QEMU (TCG), OpenSSH on both sides. The kernel, the root file system and
//! the build directory are cached under the ktailor cache, so only a cold
//! run builds them. Real tier: `scripts/test` runs these with
//! `--include-ignored`.

mod common;

use common::{json, ktailor, text};
use ktestkit::{qemus_mentioning, ssh_keygen as keygen};
use std::path::{Path, PathBuf};
use std::process::Command;

fn pubkey(key: &Path) -> String {
    ktestkit::ssh_pubkey(key).to_string_lossy().into_owned()
}

/// The build directory `ktailor image --target ec2-nitro` uses on 6.12,
/// locked (ktestkit::lock_dir) for as long as the test builds and boots
/// images from it.
fn lock_image_build_dir() -> ktestkit::DirLock {
    let tree = ktestkit::tree("6.12");
    ktestkit::lock_dir(
        &ksrc::cache_root()
            .join("builds")
            .join(format!("ec2-nitro-image-{}-x86_64", tree.kernelversion)),
    )
}

/// A file of the image's root file system, read with debugfs.
fn read_from_image(image: &Path, root_offset: u64, path: &str) -> String {
    let o = Command::new("debugfs")
        .args(["-R", &format!("cat {path}")])
        .arg(format!("{}?offset={root_offset}", image.display()))
        .output()
        .expect("debugfs runs (e2fsprogs)");
    assert!(o.status.success(), "debugfs: {}", text(&o.stderr));
    text(&o.stdout)
}

fn image(dir: &Path, name: &str, login: &Path) -> (PathBuf, serde_json::Value) {
    let out = dir.join(name);
    let o = ktailor(&[
        "image",
        "--target",
        "ec2-nitro",
        "--init",
        "sysvinit",
        "--kernel",
        "6.12",
        "-j",
        "2",
        "--ssh-key",
        &pubkey(login),
        "--output",
        &out.to_string_lossy(),
        "--json",
    ]);
    let v = json(&o);
    assert!(
        o.status.success(),
        "ktailor image failed:\n{}",
        text(&o.stderr)
    );
    (out, v)
}

#[test]
#[ignore = "real tier: builds a kernel and a Debian image, boots QEMU (scripts/test runs it)"]
fn debian_sysvinit_on_ec2_nitro_boots_by_uefi_from_nvme_and_passes_ssh_checks() {
    let _build_dir = lock_image_build_dir();
    let tmp = tempfile::tempdir().unwrap();
    let login = keygen(tmp.path(), "login");
    let imds = keygen(tmp.path(), "imds-only");

    let (disk, first) = image(tmp.path(), "disk.raw", &login);
    let m = &first["manifest"];
    let root_offset = m["image"]["root_offset"].as_u64().unwrap();
    // No password anywhere; root locked.
    let shadow = read_from_image(&disk, root_offset, "/etc/shadow");
    assert!(shadow.lines().count() > 10, "{shadow}");
    for l in shadow.lines() {
        let hash = l.split(':').nth(1).unwrap_or("");
        assert!(
            !hash.starts_with('$') && !hash.is_empty(),
            "/etc/shadow holds a password or an empty one: {l}"
        );
    }
    // The key given is the one authorized, and fstab names this image's root.
    let ak = read_from_image(&disk, root_offset, "/home/admin/.ssh/authorized_keys");
    let login_pub = std::fs::read_to_string(pubkey(&login)).unwrap();
    assert!(ak.contains(login_pub.trim()), "{ak}");
    let fstab = read_from_image(&disk, root_offset, "/etc/fstab");
    assert!(fstab.contains(m["image"]["ids"]["root_fs_uuid"].as_str().unwrap()));
    let host_keys: Vec<String> = m["image"]["host_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_string())
        .collect();
    assert!(host_keys.iter().any(|k| k.starts_with("ssh-ed25519 ")));
    assert!(m["build_checks"][0]
        .as_str()
        .unwrap()
        .contains("has ena_pci_tbl"));

    // Killed midway (SIGKILL while the root is being written): no image
    // under the output's name; the next build in the directory removes the
    // killed one's work directory.
    let killed = tmp.path().join("killed.raw");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ktailor"))
        .args([
            "image",
            "--target",
            "ec2-nitro",
            "--kernel",
            "6.12",
            "-j",
            "2",
            "--ssh-key",
        ])
        .arg(pubkey(&login))
        .arg("--output")
        .arg(&killed)
        .env_remove("MAKEFLAGS")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::BufRead;
        let err = std::io::BufReader::new(child.stderr.take().unwrap());
        let mut seen = Vec::new();
        for line in err.lines() {
            let line = line.unwrap();
            let stop = line.contains("writing the ext4 root");
            seen.push(line);
            if stop {
                break;
            }
        }
        assert!(
            seen.last()
                .is_some_and(|l| l.contains("writing the ext4 root")),
            "never reached the ext4 step: {seen:?}"
        );
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!killed.exists(), "a killed build left {}", killed.display());
    let leftovers = |dir: &Path| {
        std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with(".ktailor-image-")
            })
            .count()
    };
    assert_eq!(
        leftovers(tmp.path()),
        1,
        "the killed build's work directory"
    );

    // A second image reuses the kernel and the root file system, and has
    // host keys of its own.
    let (_disk2, second) = image(tmp.path(), "disk2.raw", &login);
    assert_eq!(second["rootfs"]["cache_hit"], true, "{second}");
    assert_eq!(
        leftovers(tmp.path()),
        0,
        "stale work directories are removed"
    );
    assert_eq!(second["kernel"]["compiled"], 0, "{second}");
    for k in second["manifest"]["image"]["host_keys"].as_array().unwrap() {
        assert!(
            !host_keys.contains(&k.as_str().unwrap().to_string()),
            "two images share the host key {k}"
        );
    }

    let work = tmp.path().join("run");
    let o = ktailor(&[
        "run",
        &disk.to_string_lossy(),
        "--machine",
        "ec2-sim",
        "--accel",
        "tcg",
        "--ssh-key",
        &login.to_string_lossy(),
        "--imds-key",
        &pubkey(&imds),
        "--imds-login-key",
        &imds.to_string_lossy(),
        "--workdir",
        &work.to_string_lossy(),
        "--json",
    ]);
    let v = json(&o);
    let checks = v["checks"].as_array().unwrap();
    let failed: Vec<&serde_json::Value> = checks.iter().filter(|c| c["pass"] != true).collect();
    assert!(
        o.status.success() && failed.is_empty(),
        "failed checks: {}\nconsole tail:\n{}\n{}",
        serde_json::to_string_pretty(&failed).unwrap(),
        v["tail"]
            .as_array()
            .map(|t| t
                .iter()
                .map(|l| l.as_str().unwrap_or(""))
                .collect::<Vec<_>>()
                .join("\n"))
            .unwrap_or_default(),
        text(&o.stderr)
    );
    let names: Vec<&str> = checks.iter().map(|c| c["name"].as_str().unwrap()).collect();
    for want in [
        "login",
        "pty",
        "kernel",
        "root-device",
        "uefi",
        "running-sshd",
        "running-cron",
        "running-rsyslogd",
        "running-elogind",
        "sshd-no-passwords",
        "imds-hostname",
        "imds-key-login",
        "clean-logs",
        "imds-v2",
    ] {
        assert!(names.contains(&want), "check {want} missing from {names:?}");
    }
    assert!(v["boot_to_login_seconds"].as_f64().unwrap() > 0.0);
    eprintln!(
        "ec2-sim: boot to login {:.1} s, run {:.1} s",
        v["boot_to_login_seconds"].as_f64().unwrap(),
        v["seconds"].as_f64().unwrap()
    );
    assert!(
        qemus_mentioning(&work).is_empty(),
        "QEMU left running: {:?}",
        qemus_mentioning(&work)
    );
}

#[test]
#[ignore = "real tier: needs ssh-keygen from openssh-client (scripts/test runs it)"]
fn bad_input_is_refused_before_any_work() {
    let tmp = tempfile::tempdir().unwrap();
    let login = keygen(tmp.path(), "k");
    let out = tmp.path().join("never.raw");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            // the private key where the public one belongs
            vec!["--ssh-key".into(), login.to_string_lossy().into_owned()],
            "private key",
        ),
        (
            vec![
                "--ssh-key".into(),
                pubkey(&login),
                "--size".into(),
                "100M".into(),
            ],
            "give a larger --size",
        ),
        (
            vec![
                "--ssh-key".into(),
                pubkey(&login),
                "--size".into(),
                "2X".into(),
            ],
            "expected e.g. 2G",
        ),
        (
            vec![
                "--ssh-key".into(),
                pubkey(&login),
                "--init".into(),
                "systemd".into(),
            ],
            "lacks the feature systemd",
        ),
    ];
    for (extra, want) in cases {
        let mut args: Vec<String> = vec![
            "image".into(),
            "--target".into(),
            "ec2-nitro".into(),
            "--output".into(),
            out.to_string_lossy().into_owned(),
        ];
        args.extend(extra);
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = ktailor(&argv);
        assert!(!o.status.success(), "{args:?} succeeded");
        assert!(
            text(&o.stderr).contains(want),
            "{args:?}: {}",
            text(&o.stderr)
        );
        assert!(!out.exists(), "{args:?} left an image");
    }
}
