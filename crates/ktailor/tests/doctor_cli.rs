//! `ktailor doctor` end to end, on the real Linux 6.12 tree: the seed's
//! symptoms from files, direct questions, a real QEMU machine over QMP,
//! --apply through the solver, validation, and bad input.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{ktailor, text};
use serde_json::Value;

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/doctor")
        .join(name)
        .display()
        .to_string()
}

fn assert_stderr_has(out: &Output, want: &str) {
    let err = text(&out.stderr);
    assert!(err.contains(want), "wanted {want:?} on stderr:\n{err}");
}

/// Runs `ktailor doctor ARGS --json`, requires success, returns the report.
fn doctor_json(args: &[&str]) -> Value {
    let mut all = vec!["doctor"];
    all.extend_from_slice(args);
    all.push("--json");
    let out = ktailor(&all);
    assert!(
        out.status.success(),
        "ktailor {all:?} failed ({}):\n{}",
        out.status,
        text(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "ktailor {all:?} --json printed invalid JSON ({e}):\n{}",
            text(&out.stdout)
        )
    })
}

fn suggestion<'a>(r: &'a Value, option: &str) -> Option<&'a Value> {
    r["suggestions"]
        .as_array()
        .expect("suggestions is a list")
        .iter()
        .find(|s| s["option"] == option)
}

fn options(r: &Value) -> Vec<String> {
    r["suggestions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["option"].as_str().unwrap().to_string())
        .collect()
}

/// A tinyconfig for Linux 6.12 x86_64, computed by `ktailor kconfig`.
fn tinyconfig(dir: &Path) -> PathBuf {
    let p = dir.join("tiny.config");
    let out = ktailor(&[
        "kconfig",
        "tinyconfig",
        "--arch",
        "x86_64",
        "-o",
        p.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "tinyconfig: {}", text(&out.stderr));
    p
}

#[test]
#[ignore = "real tier: needs a kernel tree (scripts/test runs it)"]
fn seed_log_and_strace_name_the_seeds_options() {
    let r = doctor_json(&[
        "--log",
        &fixture("seed-boot.log"),
        "--strace",
        &fixture("seed.strace"),
    ]);
    let got = options(&r);
    for want in [
        "PROC_FS",
        "SYSFS",
        "NET",
        "UNIX98_PTYS",
        "POSIX_TIMERS",
        "FUTEX",
        "MULTIUSER",
        "UNIX",
        "EPOLL",
        "SIGNALFD",
        "TIMERFD",
        "INOTIFY_USER",
    ] {
        let s = suggestion(&r, want).unwrap_or_else(|| panic!("no {want} in {got:?}"));
        assert!(
            s["source"].as_str().is_some_and(|x| !x.is_empty()),
            "{want} has no source: {s}"
        );
        let ev = &s["evidence"][0];
        assert!(
            ev["input"] == "log" || ev["input"] == "strace",
            "{want}: evidence {ev}"
        );
        assert!(ev["line"].as_u64().unwrap() > 0, "{want}: evidence {ev}");
    }
    // The index reports its size and whether the cache was used.
    let idx = &r["index"];
    assert!(idx["bytes"].as_u64().unwrap() > 1_000_000, "{idx}");
    assert!(idx["cache_used"].is_boolean() && idx["build_ms"].as_u64().unwrap() > 0);
    assert_eq!(
        r["kernelversion"]
            .as_str()
            .unwrap()
            .split('.')
            .take(2)
            .collect::<Vec<_>>(),
        ["6", "12"]
    );
}

#[test]
#[ignore = "real tier: needs a kernel tree (scripts/test runs it)"]
fn default_output_is_a_ranked_list_with_evidence_and_source() {
    let out = ktailor(&["doctor", "--log", &fixture("seed-boot.log")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert!(
        stdout.contains(" 1. CONFIG_"),
        "not a ranked list:\n{stdout}"
    );
    assert!(stdout.contains("CONFIG_PROC_FS=y"), "{stdout}");
    assert!(
        stdout.contains("evidence  log:3: mount: mounting none on /proc failed"),
        "{stdout}"
    );
    assert!(stdout.contains("source    fs/proc/"), "{stdout}");
    // One line on stderr about the index: cached or built, size, time.
    let line = stderr
        .lines()
        .find(|l| l.starts_with("doctor: index of Linux 6.12"))
        .unwrap_or_else(|| panic!("no index line on stderr:\n{stderr}"));
    assert!(
        line.contains(" MB") && line.contains(" ms") || line.contains(" s ("),
        "{line}"
    );
    // A second run uses the cache.
    let again = ktailor(&["doctor", "--syscall", "read"]);
    assert_stderr_has(&again, "loaded from cache");
}

#[test]
#[ignore = "real tier: needs a kernel tree (scripts/test runs it)"]
fn epoll_on_a_tinyconfig_needs_its_expert_prompt() {
    let d = tempfile::tempdir().unwrap();
    let tiny = tinyconfig(d.path());
    let cfg = std::fs::read_to_string(&tiny).unwrap();
    assert!(cfg.contains("CONFIG_EXPERT=y") && cfg.contains("# CONFIG_EPOLL is not set"));
    let r = doctor_json(&[
        "--config",
        tiny.to_str().unwrap(),
        "--syscall",
        "epoll_create1",
    ]);
    let s = suggestion(&r, "EPOLL").unwrap_or_else(|| panic!("no EPOLL: {r}"));
    assert_eq!(s["already_satisfied"], false);
    assert!(
        s["prompt"].as_str().unwrap().contains("if EXPERT"),
        "the EXPERT note: {}",
        s["prompt"]
    );
    assert!(s["source"].as_str().unwrap().starts_with("fs/eventpoll.c:"));
    assert!(s["set"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l == "CONFIG_EPOLL=y"));
    // The text form says it too.
    let out = ktailor(&[
        "doctor",
        "--config",
        tiny.to_str().unwrap(),
        "--syscall",
        "epoll_create1",
    ]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("CONFIG_EPOLL=y")
            && stdout.contains("if EXPERT")
            && stdout.contains("[not set]"),
        "{stdout}"
    );
}

#[test]
#[ignore = "real tier: needs a kernel tree (scripts/test runs it)"]
fn apply_adds_the_suggestions_through_the_solver() {
    let d = tempfile::tempdir().unwrap();
    let tiny = tinyconfig(d.path());
    let before = std::fs::read_to_string(&tiny).unwrap();
    let out_path = d.path().join("fixed.config");
    let r = doctor_json(&[
        "--config",
        tiny.to_str().unwrap(),
        "--syscall",
        "epoll_create1",
        "--af",
        "AF_UNIX",
        "--apply",
        "--out",
        out_path.to_str().unwrap(),
    ]);
    let fixed = std::fs::read_to_string(&out_path).unwrap();
    for l in ["CONFIG_EPOLL=y", "CONFIG_UNIX=y", "CONFIG_NET=y"] {
        assert!(
            fixed.lines().any(|x| x == l),
            "{l} missing from {}",
            out_path.display()
        );
    }
    assert_eq!(
        std::fs::read_to_string(&tiny).unwrap(),
        before,
        "--out leaves --config alone"
    );
    assert_eq!(r["applied"]["output"], out_path.to_str().unwrap());
    // Applied again, everything already holds.
    let r = doctor_json(&[
        "--config",
        out_path.to_str().unwrap(),
        "--syscall",
        "epoll_create1",
    ]);
    assert_eq!(suggestion(&r, "EPOLL").unwrap()["already_satisfied"], true);
}

#[test]
#[ignore = "real tier: needs a kernel tree (scripts/test runs it)"]
fn ena_pci_id_names_the_ena_driver() {
    let r = doctor_json(&["--pci", "1d0f:ec20"]);
    let s = suggestion(&r, "ENA_ETHERNET")
        .unwrap_or_else(|| panic!("no ENA_ETHERNET: {:?}", options(&r)));
    assert!(s["source"]
        .as_str()
        .unwrap()
        .contains("drivers/net/ethernet/amazon/ena/"));
    assert_eq!(s["kind"], "pci");
    // A question the index has no answer for is a note, not an error.
    let r = doctor_json(&["--fs", "no-such-fs"]);
    assert!(r["suggestions"].as_array().unwrap().is_empty());
    assert!(!r["notes"].as_array().unwrap().is_empty(), "{r}");
}

#[test]
#[ignore = "real tier: needs a kernel tree and QEMU (scripts/test runs it)"]
fn qemu_virtio_target_lists_the_virtio_options_and_leaves_no_qemu() {
    let r = doctor_json(&["--qemu-target", "qemu-virtio"]);
    let got = options(&r);
    for want in ["VIRTIO_PCI", "VIRTIO_NET", "VIRTIO_BLK"] {
        let s = suggestion(&r, want).unwrap_or_else(|| panic!("no {want} in {got:?}"));
        assert!(s["score"].as_u64().unwrap() >= 80, "{want} ranks high: {s}");
        assert_eq!(s["evidence"][0]["input"], "qmp");
    }
    let devices = r["qemu"]["devices"].as_array().unwrap();
    assert!(devices.len() >= 5, "{devices:?}");
    let net = devices
        .iter()
        .find(|d| d["vendor"] == 0x1af4 && d["class"] == 0x0200)
        .expect("virtio-net among the devices");
    assert_eq!(net["board"], false);
    assert!(net["options"]
        .as_array()
        .unwrap()
        .iter()
        .any(|o| o == "VIRTIO_NET"));
    // q35's own devices are listed, with what their drivers would be, and
    // rank below what the target uses.
    let host = devices
        .iter()
        .find(|d| d["class"] == 0x0600)
        .expect("the host bridge");
    assert_eq!(host["board"], true);
    assert!(host["unused"].is_string());
    let ahci = suggestion(&r, "SATA_AHCI").expect("the q35 AHCI is reported");
    assert!(ahci["score"].as_u64().unwrap() < 50, "{ahci}");
    let left: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| text(&c).replace('\0', " "))
        .filter(|c| c.contains("qemu-system") && c.contains("ktailor-qmp-"))
        .collect();
    assert!(left.is_empty(), "QEMU left running: {left:?}");
    // The default output names them too.
    let out = ktailor(&["doctor", "--qemu-target", "qemu-virtio"]);
    let stdout = text(&out.stdout);
    for want in [
        "CONFIG_VIRTIO_PCI=y",
        "CONFIG_VIRTIO_NET=y",
        "CONFIG_VIRTIO_BLK=y",
    ] {
        assert!(stdout.contains(want), "{want} missing:\n{stdout}");
    }
}

#[test]
#[ignore = "real tier: needs a kernel tree and Debian's kernel packages (scripts/test runs it)"]
fn validate_debian_and_bad_build_directories() {
    let r = doctor_json(&["--validate-debian"]);
    let v = &r["validation"][0];
    assert_eq!(v["ok"], true, "{v}");
    let cats = &v["categories"];
    assert!(
        cats["syscalls (native, __x64_sys_)"]["total"]
            .as_u64()
            .unwrap()
            > 200
    );
    assert!(
        cats["syscalls (compat, __ia32_compat_sys_)"]["total"]
            .as_u64()
            .unwrap()
            > 40
    );
    // The same kernel judged against a config without EPOLL: exit 1, and
    // the mismatch is named.
    let debian = Path::new(v["build"].as_str().unwrap());
    let wrong = tempfile::tempdir().unwrap();
    let config = std::fs::read_to_string(debian.join(".config")).unwrap();
    assert!(config.contains("CONFIG_EPOLL=y\n"));
    std::fs::write(
        wrong.path().join(".config"),
        config.replace("CONFIG_EPOLL=y\n", "# CONFIG_EPOLL is not set\n"),
    )
    .unwrap();
    std::fs::copy(debian.join("System.map"), wrong.path().join("System.map")).unwrap();
    let out = ktailor(&["doctor", "--validate-build", wrong.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("MISMATCH epoll_create1: predicted not built in, System.map says built in"),
        "{stdout}"
    );
    // A directory that is not a build, and Debian's System.map stub.
    let d = tempfile::tempdir().unwrap();
    let out = ktailor(&["doctor", "--validate-build", d.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert_stderr_has(&out, "no .config there");
    std::fs::write(d.path().join(".config"), "CONFIG_64BIT=y\n").unwrap();
    std::fs::write(
        d.path().join("System.map"),
        "ffffffffffffffff B The real System.map is in the linux-image-<version>-dbg package\n",
    )
    .unwrap();
    let out = ktailor(&["doctor", "--validate-build", d.path().to_str().unwrap()]);
    assert_ne!(out.status.code(), Some(0));
    assert_stderr_has(&out, "not a real System.map");
}

#[test]
fn bad_input_is_a_clear_error_not_a_panic() {
    let cases: &[(&[&str], &str)] = &[
        (&["--pci", "zz"], "--pci \"zz\": expected VVVV:DDDD[:CLASS]"),
        (&["--pci", "1af4:10411"], "--pci \"1af4:10411\""),
        (&["--pci", "8086:100e:zzzz"], "--pci \"8086:100e:zzzz\""),
        (
            &["--log", "/nonexistent/serial.log"],
            "cannot read --log /nonexistent/serial.log",
        ),
        (
            &["--strace", "/nonexistent/s"],
            "cannot read --strace /nonexistent/s",
        ),
        (
            &["--qemu-target", "no-such-target"],
            "unknown --qemu-target \"no-such-target\"",
        ),
        (
            &["--init", "/nonexistent/init", "--syscall", "read"],
            "--init /nonexistent/init",
        ),
        (&["--syscall", "read", "--apply"], "--apply needs --config"),
        (&[], "nothing to diagnose"),
        (
            &["--syscall", "read", "--kernel", "/nonexistent"],
            "/nonexistent",
        ),
    ];
    for (args, want) in cases {
        let mut all = vec!["doctor"];
        all.extend_from_slice(args);
        let out = ktailor(&all);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{all:?}: {err}");
        assert!(err.contains(want), "{all:?}: wanted {want:?} in:\n{err}");
        assert!(!err.contains("panicked"), "{all:?} panicked:\n{err}");
    }
    // (Every case is refused before the kernel tree is read: this test is
    // the fast tier. A question the tree has no answer for is checked in
    // `ena_pci_id_names_the_ena_driver`.)
}
