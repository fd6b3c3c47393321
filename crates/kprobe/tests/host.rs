//! Runs the real binary on the host and checks the console protocol.
//!
//! A host is "not a guest", so the probes that would mount, reconfigure the
//! network or reboot only report `skip` here; the PID-1 path is exercised
//! inside fresh PID/mount/network namespaces when the tests run as root.
//!
//! Those root tests are the real tier: `#[ignore]`d, run by `scripts/test`
//! (as root) with `--include-ignored`, failing rather than skipping when
//! they cannot do their job.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use kprobe::config::ALL_PROBES;
use ktestkit::{can_unshare, have};
use serde_json::Value;

const EXE: &str = env!("CARGO_BIN_EXE_ktailor-probe");

/// Syscalls every kernel a developer or CI runs on has.
const HOST_SURELY_HAS: &[&str] = &[
    "epoll",
    "futex",
    "unix-socket",
    "memfd",
    "signalfd",
    "timerfd",
    "eventfd",
    "inotify",
];

const ENV_KEYS: &[&str] = &[
    "KTPROBES",
    "KTDISK",
    "KTIP",
    "KTPORT",
    "KTFS",
    "KTNIC",
    "KTPOWEROFF",
    "KTSCRIPT",
    "KTTIMEOUT",
];

fn command(program: &str, env: &[(&str, &str)]) -> Command {
    let mut c = Command::new(program);
    for k in ENV_KEYS {
        c.env_remove(k);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

struct Report {
    results: Vec<(String, Value)>,
    done: Value,
    stdout: String,
}

impl Report {
    fn get(&self, probe: &str) -> &Value {
        let hits: Vec<&Value> = self
            .results
            .iter()
            .filter(|(p, _)| p == probe)
            .map(|(_, v)| v)
            .collect();
        assert_eq!(
            hits.len(),
            1,
            "{probe} must appear exactly once:\n{}",
            self.stdout
        );
        hits[0]
    }

    fn status(&self, probe: &str) -> &str {
        self.get(probe)["status"].as_str().unwrap_or("?")
    }
}

/// Parses and validates every protocol line.
fn parse(out: &Output) -> Report {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut results = Vec::new();
    let mut done = None;
    for line in stdout.lines() {
        if let Some(json) = line.strip_prefix("KTAILOR-PROBE ") {
            let v: Value =
                serde_json::from_str(json).unwrap_or_else(|e| panic!("bad JSON {json:?}: {e}"));
            let obj = v.as_object().expect("an object");
            let probe = obj["probe"]
                .as_str()
                .expect("probe is a string")
                .to_string();
            let status = obj["status"].as_str().expect("status is a string");
            assert!(["pass", "fail", "skip"].contains(&status), "{line}");
            assert!(obj["detail"].is_string(), "{line}");
            if let Some(e) = obj.get("errno") {
                assert_eq!(status, "fail", "errno only on failures: {line}");
                assert!(e.as_str().is_some_and(|e| e.starts_with('E')), "{line}");
            }
            for k in obj.keys() {
                assert!(
                    ["probe", "status", "detail", "errno"].contains(&k.as_str()),
                    "{line}"
                );
            }
            results.push((probe, v));
        } else if let Some(json) = line.strip_prefix("KTAILOR-PROBE-DONE ") {
            assert!(done.is_none(), "one DONE line");
            done = Some(serde_json::from_str(json).expect("DONE is JSON"));
        } else if let Some(json) = line.strip_prefix("KTAILOR-PROBE-LISTENING ") {
            let v: Value = serde_json::from_str(json).expect("LISTENING is JSON");
            assert!(v["port"].is_u64());
        } else {
            assert!(!line.starts_with("KTAILOR"), "unknown protocol line {line}");
        }
    }
    let done: Value = done.unwrap_or_else(|| panic!("no DONE line:\n{stdout}"));
    let count = |s: &str| results.iter().filter(|(_, v)| v["status"] == s).count() as u64;
    assert_eq!(done["pass"].as_u64(), Some(count("pass")), "{stdout}");
    assert_eq!(done["fail"].as_u64(), Some(count("fail")), "{stdout}");
    assert_eq!(done["skip"].as_u64(), Some(count("skip")), "{stdout}");
    Report {
        results,
        done,
        stdout,
    }
}

#[test]
fn all_probes_once_on_the_host() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("ktailor-script");
    std::fs::write(&script, format!("#!{EXE} --script-child\n")).unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = command(
        EXE,
        &[
            ("KTSCRIPT", script.to_str().unwrap()),
            ("KTFS", "proc,sysfs"),
        ],
    )
    .output()
    .unwrap();
    assert!(out.status.success(), "{out:?}");
    let r = parse(&out);
    assert_eq!(r.results.len(), ALL_PROBES.len(), "{}", r.stdout);
    for p in ALL_PROBES {
        r.get(p);
    }
    for p in HOST_SURELY_HAS {
        assert_eq!(r.status(p), "pass", "{p}: {}", r.get(p));
    }
    assert_eq!(r.status("console"), "pass");
    assert_eq!(r.status("elf64"), "pass", "{}", r.get("elf64"));
    assert_eq!(r.status("script"), "pass", "{}", r.get("script"));
    assert_eq!(r.status("filesystems"), "pass", "{}", r.get("filesystems"));
    // Results come in the documented order: tcp-listen last.
    let order: Vec<&str> = r.results.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(order, ALL_PROBES);
    if !kprobe::sys::is_initramfs_root("/") {
        for p in ["loopback", "link-up", "static-ip", "tcp-listen"] {
            assert_eq!(
                r.status(p),
                "skip",
                "{p} must not touch the host: {}",
                r.get(p)
            );
        }
    }
    assert!(r.done["pass"].as_u64().unwrap() >= HOST_SURELY_HAS.len() as u64);
}

#[test]
fn subset_order_and_unknown_names() {
    let out = command(EXE, &[("KTPROBES", "memfd,bogus,epoll,epoll,console")])
        .output()
        .unwrap();
    assert!(out.status.success());
    let r = parse(&out);
    let order: Vec<&str> = r.results.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(order, ["console", "epoll", "memfd", "bogus"]);
    assert_eq!(r.status("bogus"), "fail");
    assert_eq!(r.done["fail"], 1);
}

#[test]
fn bad_settings_fail_probes_not_the_program() {
    let out = command(
        EXE,
        &[
            (
                "KTPROBES",
                "static-ip,tcp-listen,filesystems,ext4-mount,script",
            ),
            ("KTIP", "10.0.2/99"),
            ("KTPORT", "notaport"),
            ("KTFS", "no-such-fs"),
            ("KTSCRIPT", "/nonexistent/script"),
        ],
    )
    .output()
    .unwrap();
    assert!(out.status.success());
    let r = parse(&out);
    assert_eq!(r.results.len(), 5);
    assert_eq!(r.status("filesystems"), "fail", "{}", r.get("filesystems"));
    assert_eq!(r.status("ext4-mount"), "skip");
    assert_eq!(r.status("script"), "skip");
}

#[test]
fn child_modes_exit_at_once() {
    let st = Command::new(EXE).arg("--elf-child").output().unwrap();
    assert_eq!(st.status.code(), Some(43));
    assert!(st.stdout.is_empty());
    let st = Command::new(EXE)
        .args(["--script-child", "/ktailor-script"])
        .output()
        .unwrap();
    assert_eq!(st.status.code(), Some(42));
}

/// The vocabulary is shared with data/features.toml through
/// data/probes.toml; the program must speak exactly that language.
#[test]
fn names_match_data_probes_toml() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/probes.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut names: Vec<String> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("name = \""))
        .filter_map(|l| l.strip_suffix('"'))
        .map(str::to_string)
        .collect();
    names.sort();
    let mut ours: Vec<String> = ALL_PROBES.iter().map(|s| s.to_string()).collect();
    ours.sort();
    assert_eq!(names, ours);
}

/// PID 1 in new PID, mount, network, UTS and IPC namespaces: the guest code
/// path for real (mounts, lo, the reboot that ends the namespace), with
/// nothing leaking to the host.
#[test]
#[ignore = "real tier: needs root (scripts/test runs it)"]
fn as_pid1_in_namespaces() {
    if !can_unshare() {
        panic!("this test needs root and unshare(1) with PID namespaces: run it as root after scripts/setup");
    }
    let out = command("unshare", &[("KTTIMEOUT", "1"), ("KTFS", "proc,tmpfs")])
        .args([
            "--pid",
            "--fork",
            "--mount",
            "--propagation",
            "private",
            "--net",
            "--uts",
            "--ipc",
            EXE,
        ])
        .output()
        .unwrap();
    let r = parse(&out);
    assert_eq!(r.results.len(), ALL_PROBES.len());
    assert!(r.stdout.starts_with("ktailor-probe "), "{}", r.stdout);
    assert!(r.stdout.contains(", pid 1, "), "{}", r.stdout);
    for p in ["procfs", "tmpfs", "elf64", "loopback", "filesystems"] {
        assert_eq!(r.status(p), "pass", "{p}: {}", r.get(p));
    }
    // A new network namespace has only lo: no NIC, nothing to listen for.
    for p in ["link-up", "static-ip", "tcp-listen"] {
        assert_eq!(r.status(p), "skip", "{p}: {}", r.get(p));
    }
    assert!(r.stdout.contains("rebooting"), "{}", r.stdout);
    // reboot(RB_AUTOBOOT) in a PID namespace kills its init with SIGHUP.
    use std::os::unix::process::ExitStatusExt;
    assert!(
        out.status.signal() == Some(libc::SIGHUP) || out.status.code() == Some(128 + libc::SIGHUP),
        "{:?}",
        out.status
    );
}

/// KTPOWEROFF outside a guest must not reboot anything. Run as pid 2 of a
/// fresh PID namespace so that even a wrong decision could only end that
/// namespace, never the machine running the tests.
#[test]
#[ignore = "real tier: needs root (scripts/test runs it)"]
fn poweroff_is_ignored_outside_a_guest() {
    if !can_unshare() || kprobe::sys::is_initramfs_root("/") {
        panic!("this test needs root, unshare(1), and a host whose / is not an initramfs: run it as root after scripts/setup");
    }
    let out = command("unshare", &[("KTPOWEROFF", "1"), ("KTPROBES", "console")])
        .args([
            "--pid",
            "--fork",
            "sh",
            "-c",
            &format!("{EXE}; echo after=$?"),
        ])
        .output()
        .unwrap();
    let r = parse(&out);
    assert_eq!(r.results.len(), 1);
    assert!(r.stdout.contains("KTPOWEROFF ignored"), "{}", r.stdout);
    assert!(r.stdout.contains("after=0"), "{}", r.stdout);
}

#[test]
fn env_keys_are_documented_in_the_library() {
    // A guard against drifting docs: every variable the tests clear is one
    // the crate documents.
    let lib =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    let missing: BTreeMap<&str, bool> = ENV_KEYS
        .iter()
        .map(|k| (*k, lib.contains(k)))
        .filter(|(_, ok)| !ok)
        .collect();
    assert!(missing.is_empty(), "{missing:?}");
}

/// Detaches a loop device however the test ends.
struct Loop(String);

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.0]).status();
    }
}

/// ext4-mount and block-devices against a real ext4 image on a loop
/// device, as PID 1 in a private mount namespace (the /mnt mount never
/// reaches the host).
#[test]
#[ignore = "real tier: needs root (scripts/test runs it)"]
fn ext4_mount_on_a_loop_device() {
    if !can_unshare() || !have("mkfs.ext4") || !have("losetup") {
        panic!("this test needs root, unshare(1), mkfs.ext4 and losetup: run it as root after scripts/setup");
    }
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("ktailor-probe.txt"), "ktailor\n").unwrap();
    let img = dir.path().join("disk.img");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(8 << 20)
        .unwrap();
    let ok = Command::new("mkfs.ext4")
        .args(["-q", "-F", "-d"])
        .arg(&src)
        .arg(&img)
        .status()
        .unwrap();
    assert!(ok.success());
    let out = Command::new("losetup")
        .args(["-f", "--show"])
        .arg(&img)
        .output()
        .unwrap();
    if !out.status.success() {
        panic!("this test needs a free loop device: run it as root after scripts/setup");
    }
    let dev = Loop(String::from_utf8_lossy(&out.stdout).trim().to_string());
    let out = command(
        "unshare",
        &[
            ("KTDISK", dev.0.as_str()),
            ("KTPROBES", "ext4-mount,block-devices"),
        ],
    )
    .args([
        "--pid",
        "--fork",
        "--mount",
        "--propagation",
        "private",
        "--net",
        EXE,
    ])
    .output()
    .unwrap();
    let r = parse(&out);
    assert_eq!(r.status("ext4-mount"), "pass", "{}", r.get("ext4-mount"));
    assert_eq!(
        r.status("block-devices"),
        "pass",
        "{}",
        r.get("block-devices")
    );
}

/// The host side of tcp-listen for real: wait for the LISTENING line, then
/// connect from a thread that has joined the probe's network namespace and
/// send the hello line, as QEMU's hostfwd would.
#[test]
#[ignore = "real tier: needs root (scripts/test runs it)"]
fn tcp_listen_end_to_end() {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::os::fd::AsRawFd;
    if !can_unshare() {
        panic!("this test needs root and unshare(1): run it as root after scripts/setup");
    }
    let mut child = command(
        "unshare",
        &[
            ("KTPROBES", "loopback,link-up,static-ip,tcp-listen"),
            ("KTNIC", "lo"),
            ("KTIP", "127.0.0.2/8"),
            ("KTPORT", "2222"),
            ("KTTIMEOUT", "20"),
        ],
    )
    .args([
        "--pid",
        "--fork",
        "--mount",
        "--propagation",
        "private",
        "--net",
        EXE,
    ])
    .stdout(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut text = String::new();
    let port = loop {
        let mut line = String::new();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "no LISTENING line:\n{text}"
        );
        text.push_str(&line);
        if let Some(json) = line.trim_end().strip_prefix("KTAILOR-PROBE-LISTENING ") {
            let v: Value = serde_json::from_str(json).unwrap();
            break v["port"].as_u64().unwrap() as u16;
        }
    };
    assert_eq!(port, 2222);
    let me = child.id();
    let kids =
        std::fs::read_to_string(format!("/proc/{me}/task/{me}/children")).unwrap_or_default();
    let Some(pid) = kids.split_whitespace().next().map(str::to_string) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("this test needs a /proc/PID/task/TID/children: run it as root after scripts/setup");
    };
    let ns = std::fs::File::open(format!("/proc/{pid}/ns/net")).unwrap();
    let reply = std::thread::spawn(move || {
        // SAFETY: setns only changes this thread's network namespace.
        assert_eq!(
            unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) },
            0
        );
        let mut s = std::net::TcpStream::connect(("127.0.0.2", port)).unwrap();
        s.write_all(b"ktailor-hello\n").unwrap();
        let mut reply = String::new();
        s.read_to_string(&mut reply).unwrap();
        reply
    })
    .join()
    .unwrap();
    assert_eq!(reply, "ktailor-ok\n");
    reader.read_to_string(&mut text).unwrap();
    let _ = child.wait();
    let out = Output {
        status: std::os::unix::process::ExitStatusExt::from_raw(0),
        stdout: text.into_bytes(),
        stderr: Vec::new(),
    };
    let r = parse(&out);
    for p in ["loopback", "link-up", "static-ip", "tcp-listen"] {
        assert_eq!(r.status(p), "pass", "{p}: {}", r.get(p));
    }
}
