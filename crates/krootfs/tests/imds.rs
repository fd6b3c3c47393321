//! The first-boot IMDS script (`assets/ktailor-imds`) against a throwaway
//! local HTTP server standing in for EC2's metadata service.
//!
//! The script runs with `IMDS_HOST=127.0.0.1 IMDS_PORT=<port>` and
//! `KTAILOR_IMDS_ROOT=<tempdir>`, so it writes below the temp dir and skips
//! hostname(1), chown and logger.

mod common;

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{serve, Behaviour, KEY, TOKEN};

fn script_path(dir: &Path) -> PathBuf {
    let p = dir.join("ktailor-imds");
    std::fs::write(&p, krootfs::hooks::IMDS_SCRIPT).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

/// A fake root: /etc/hosts as the rootfs ships it, /home/admin.
fn fake_root() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("etc")).unwrap();
    std::fs::create_dir_all(root.path().join("home/admin")).unwrap();
    std::fs::write(root.path().join("etc/hostname"), "ktailor\n").unwrap();
    std::fs::write(
        root.path().join("etc/hosts"),
        "127.0.0.1\tlocalhost\n127.0.1.1\tktailor\n::1\t\tlocalhost ip6-localhost ip6-loopback\n",
    )
    .unwrap();
    root
}

fn run(root: &Path, port: u16) -> (Output, Duration) {
    let bin = tempfile::tempdir().unwrap();
    let script = script_path(bin.path());
    let t = Instant::now();
    let out = Command::new("bash")
        .arg(&script)
        .env("IMDS_HOST", "127.0.0.1")
        .env("IMDS_PORT", port.to_string())
        .env("KTAILOR_IMDS_ROOT", root)
        .output()
        .unwrap();
    (out, t.elapsed())
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn read(root: &Path, p: &str) -> String {
    std::fs::read_to_string(root.join(p)).unwrap_or_default()
}

fn mode(root: &Path, p: &str) -> u32 {
    std::fs::metadata(root.join(p))
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

fn installs_key_and_hostname(chunked: bool) {
    let server = serve(Behaviour::Ec2 { chunked });
    let root = fake_root();
    let r = root.path();
    let (out, took) = run(r, server.port);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert_eq!(
        read(r, "home/admin/.ssh/authorized_keys"),
        format!("{KEY}\n")
    );
    assert_eq!(mode(r, "home/admin/.ssh"), 0o700);
    assert_eq!(mode(r, "home/admin/.ssh/authorized_keys"), 0o600);
    assert_eq!(read(r, "etc/hostname"), "ip-10-0-0-5\n");
    let hosts = read(r, "etc/hosts");
    assert!(
        hosts.contains("127.0.1.1\tip-10-0-0-5.ec2.internal ip-10-0-0-5\n"),
        "{hosts}"
    );
    assert!(
        hosts.contains("127.0.0.1\tlocalhost\n") && !hosts.contains("ktailor"),
        "{hosts}"
    );
    let err = stderr(&out);
    assert!(
        err.contains("ktailor-imds: ssh key for admin: 1 added"),
        "{err}"
    );
    assert!(
        err.contains("ktailor-imds: hostname ip-10-0-0-5 (ip-10-0-0-5.ec2.internal)"),
        "{err}"
    );

    // The protocol: IMDSv2 token first, then the two GETs with it.
    let reqs = server.requests.lock().unwrap().clone();
    assert_eq!(reqs.len(), 3, "{reqs:?}");
    assert_eq!(
        (reqs[0].method.as_str(), reqs[0].path.as_str()),
        ("PUT", "/latest/api/token")
    );
    assert_eq!(
        reqs[0].header("X-aws-ec2-metadata-token-ttl-seconds"),
        Some("300")
    );
    assert_eq!(reqs[1].path, "/latest/meta-data/public-keys/0/openssh-key");
    assert_eq!(reqs[2].path, "/latest/meta-data/hostname");
    for r in &reqs {
        assert_eq!(r.version, "HTTP/1.1");
        assert_eq!(r.header("Host"), Some("127.0.0.1"));
        assert_eq!(r.header("Connection"), Some("close"));
    }
    for r in &reqs[1..] {
        assert_eq!(r.method, "GET");
        assert_eq!(r.header("X-aws-ec2-metadata-token"), Some(TOKEN));
    }

    // A second boot adds nothing.
    let (out, _) = run(r, server.port);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        read(r, "home/admin/.ssh/authorized_keys"),
        format!("{KEY}\n")
    );
    assert!(
        stderr(&out).contains("0 added, 1 already present"),
        "{}",
        stderr(&out)
    );
    assert_eq!(read(r, "etc/hosts").matches("127.0.1.1").count(), 1);
}

#[test]
fn installs_the_key_and_hostname_from_imdsv2() {
    installs_key_and_hostname(false);
}

#[test]
fn understands_chunked_responses() {
    installs_key_and_hostname(true);
}

#[test]
fn keeps_existing_keys_and_fixes_a_missing_final_newline() {
    let server = serve(Behaviour::Ec2 { chunked: false });
    let root = fake_root();
    let r = root.path();
    std::fs::create_dir_all(r.join("home/admin/.ssh")).unwrap();
    std::fs::write(
        r.join("home/admin/.ssh/authorized_keys"),
        "ssh-rsa AAAAold old@key",
    )
    .unwrap();
    let (out, _) = run(r, server.port);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        read(r, "home/admin/.ssh/authorized_keys"),
        format!("ssh-rsa AAAAold old@key\n{KEY}\n")
    );
}

#[test]
fn no_service_exits_zero_at_once() {
    // A port nobody listens on: connection refused.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let root = fake_root();
    let (out, took) = run(root.path(), port);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert!(
        stderr(&out).contains("no instance metadata service"),
        "{}",
        stderr(&out)
    );
    assert!(!root.path().join("home/admin/.ssh").exists());
    assert_eq!(read(root.path(), "etc/hostname"), "ktailor\n");
}

#[test]
fn a_silent_service_is_given_up_within_the_five_second_budget() {
    let server = serve(Behaviour::Silent);
    let root = fake_root();
    let (out, took) = run(root.path(), server.port);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(took < Duration::from_millis(5500), "{took:?}");
    assert!(
        stderr(&out).contains("no instance metadata service"),
        "{}",
        stderr(&out)
    );
    assert!(!root.path().join("home/admin/.ssh").exists());
}

#[test]
fn a_refused_token_changes_nothing() {
    let server = serve(Behaviour::Forbidden);
    let root = fake_root();
    let (out, _) = run(root.path(), server.port);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no IMDSv2 token (HTTP 403)"),
        "{}",
        stderr(&out)
    );
    assert_eq!(server.requests.lock().unwrap().len(), 1);
    assert!(!root.path().join("home/admin/.ssh").exists());
}

#[test]
fn no_key_still_sets_the_hostname() {
    let server = serve(Behaviour::NoKey);
    let root = fake_root();
    let r = root.path();
    let (out, _) = run(r, server.port);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no ssh key from the metadata service (HTTP 404)"),
        "{}",
        stderr(&out)
    );
    assert!(!r.join("home/admin/.ssh/authorized_keys").exists());
    assert_eq!(read(r, "etc/hostname"), "ip-10-0-0-5\n");
}

#[test]
fn a_malformed_hostname_is_ignored() {
    let server = serve(Behaviour::BadHostname);
    let root = fake_root();
    let r = root.path();
    let (out, _) = run(r, server.port);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("ignoring a malformed hostname"),
        "{}",
        stderr(&out)
    );
    assert_eq!(read(r, "etc/hostname"), "ktailor\n");
    assert_eq!(
        read(r, "home/admin/.ssh/authorized_keys"),
        format!("{KEY}\n")
    );
}

#[test]
fn the_script_is_valid_bash() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("bash")
        .arg("-n")
        .arg(script_path(dir.path()))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}
