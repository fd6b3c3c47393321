//! Real mmdebstrap builds of both rootfs flavours (a minute or two each on a
//! cold cache, from the host's apt sources), inspected through their tars.
//!
//! The builds land in the shared cache (`ksrc::cache_root()/rootfs/`), so a
//! rerun, or the image step's tests, find them there.
//!
//! As root, `sshd_*` tests also extract each tree and, in private mount,
//! UTS and PID namespaces (`unshare`, nothing leaks to the host), run the
//! tree's IMDS script against a fake metadata service and its sshd, then
//! log in as admin with the key the script installed and run sudo.
//!
//! Real tier (mmdebstrap, Debian's archive, root), except the cache-key
//! check: `scripts/test` runs them with `--include-ignored`. Without root,
//! mmdebstrap or ssh they fail, saying what is missing; they never skip.

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use krootfs::{Init, Rootfs, RootfsSpec};
use ktestkit::is_root;

fn build(init: Init) -> Rootfs {
    let spec = RootfsSpec::bookworm(init);
    let r = krootfs::build(&spec, &ksrc::cache_root(), &|l| eprintln!("[{init}] {l}"))
        .unwrap_or_else(|e| panic!("building the {init} rootfs: {e}"));
    eprintln!(
        "[{init}] {} ({}), {} MB, {:.1} s, {} packages",
        r.tar.display(),
        if r.cache_hit { "cache hit" } else { "built" },
        r.bytes / 1_000_000,
        r.duration.as_secs_f64(),
        r.packages.len()
    );
    r
}

#[derive(Debug)]
struct Ent {
    kind: tar::EntryType,
    mode: u32,
    uid: u64,
    link: Option<String>,
    data: Option<Vec<u8>>,
}

/// Every entry of a tar by normalized path (no leading `./`), with the
/// content of small files under etc/, home/ and usr/local/.
struct Tree(BTreeMap<String, Ent>);

impl Tree {
    fn load(tar_path: &Path) -> Tree {
        let f = std::fs::File::open(tar_path).unwrap();
        let mut ar = tar::Archive::new(std::io::BufReader::new(f));
        let mut map = BTreeMap::new();
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            let path = e.path().unwrap().to_string_lossy().into_owned();
            let path = path
                .trim_start_matches("./")
                .trim_end_matches('/')
                .to_string();
            let h = e.header();
            let kind = h.entry_type();
            let mode = h.mode().unwrap() & 0o7777;
            let uid = h.uid().unwrap();
            let link = e
                .link_name()
                .unwrap()
                .map(|l| l.to_string_lossy().into_owned());
            let small = kind.is_file()
                && e.size() < 1 << 20
                && ["etc/", "home/", "usr/local/"]
                    .iter()
                    .any(|p| path.starts_with(p));
            let data = small.then(|| {
                let mut v = vec![];
                e.read_to_end(&mut v).unwrap();
                v
            });
            map.insert(
                path,
                Ent {
                    kind,
                    mode,
                    uid,
                    link,
                    data,
                },
            );
        }
        Tree(map)
    }

    fn get(&self, p: &str) -> &Ent {
        self.0
            .get(p)
            .unwrap_or_else(|| panic!("{p} is not in the tree"))
    }

    fn text(&self, p: &str) -> String {
        let e = self.get(p);
        String::from_utf8(
            e.data
                .clone()
                .unwrap_or_else(|| panic!("{p} has no content")),
        )
        .unwrap()
    }

    fn has(&self, p: &str) -> bool {
        self.0.contains_key(p)
    }

    fn under<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a String, &'a Ent)> + 'a {
        self.0.iter().filter(move |(p, _)| p.starts_with(prefix))
    }
}

/// What both flavours must have.
fn check_common(t: &Tree, r: &Rootfs) {
    let hostkeys: Vec<_> = t.under("etc/ssh/ssh_host_").map(|(p, _)| p).collect();
    assert!(
        hostkeys.is_empty(),
        "ssh host keys in the tree: {hostkeys:?}"
    );
    if t.has("etc/machine-id") {
        assert_eq!(t.text("etc/machine-id"), "", "/etc/machine-id is not empty");
    }
    assert!(!t.has("var/lib/dbus/machine-id"));
    assert!(
        !t.has("etc/resolv.conf"),
        "the build host's resolv.conf leaked in"
    );

    // Accounts: no password anywhere, root locked, admin key-only.
    let shadow = t.text("etc/shadow");
    assert!(
        !shadow.contains('$'),
        "a password hash in /etc/shadow:\n{shadow}"
    );
    let pw = |user: &str| {
        shadow
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{user}:")))
            .and_then(|rest| rest.split(':').next())
            .unwrap_or_else(|| panic!("{user} is not in /etc/shadow"))
            .to_string()
    };
    assert!(
        pw("root").starts_with('!'),
        "root is not locked: {}",
        pw("root")
    );
    assert_eq!(pw("admin"), "*");
    let passwd = t.text("etc/passwd");
    let admin = passwd
        .lines()
        .find(|l| l.starts_with("admin:"))
        .expect("admin in /etc/passwd");
    let f: Vec<&str> = admin.split(':').collect();
    assert_eq!((f[5], f[6]), ("/home/admin", "/bin/bash"), "{admin}");
    let uid: u64 = f[2].parse().unwrap();
    assert_eq!(t.get("home/admin").uid, uid);
    let ssh_dir = t.get("home/admin/.ssh");
    assert_eq!((ssh_dir.mode, ssh_dir.uid), (0o700, uid));
    let group = t.text("etc/group");
    let sudo = group.lines().find(|l| l.starts_with("sudo:")).unwrap();
    assert!(
        sudo.rsplit(':')
            .next()
            .unwrap()
            .split(',')
            .any(|m| m == "admin"),
        "{sudo}"
    );
    let sudoers = t.get("etc/sudoers.d/90-admin");
    assert_eq!((sudoers.mode, sudoers.uid), (0o440, 0));
    assert!(t
        .text("etc/sudoers.d/90-admin")
        .contains("admin ALL=(ALL:ALL) NOPASSWD: ALL"));

    let sshd = t.text("etc/ssh/sshd_config.d/ktailor.conf");
    for line in [
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PermitRootLogin no",
        "PubkeyAuthentication yes",
    ] {
        assert!(sshd.lines().any(|l| l == line), "{line} missing:\n{sshd}");
    }
    assert!(t
        .text("etc/ssh/sshd_config")
        .contains("Include /etc/ssh/sshd_config.d/*.conf"));

    assert_eq!(t.text("etc/hostname"), "ktailor\n");
    assert!(t.text("etc/hosts").contains("127.0.1.1\tktailor"));
    assert!(t.text("etc/fstab").contains("placeholder"));

    let imds = t.get("usr/local/sbin/ktailor-imds");
    assert_eq!(imds.mode, 0o755);
    assert_eq!(
        t.text("usr/local/sbin/ktailor-imds"),
        krootfs::hooks::IMDS_SCRIPT
    );

    let lists: Vec<_> = t
        .under("var/lib/apt/lists/")
        .filter(|(_, e)| e.kind.is_file() && e.link.is_none())
        .map(|(p, _)| p)
        .filter(|p| !p.ends_with("/lock"))
        .collect();
    assert!(lists.is_empty(), "apt lists left: {lists:?}");
    assert!(!t
        .0
        .keys()
        .any(|p| p.starts_with("var/cache/apt/") && p.ends_with(".bin")));

    for p in [
        "openssh-server=",
        "sudo=",
        "udev=",
        "iproute2=",
        "procps=",
        "strace=",
    ] {
        assert!(
            r.packages.iter().any(|x| x.starts_with(p)),
            "{p} not installed"
        );
    }
}

#[test]
#[ignore = "real tier: runs mmdebstrap against Debian's archive (scripts/test runs it)"]
fn sysvinit_rootfs() {
    let r = build(Init::Sysvinit);
    let t = Tree::load(&r.tar);
    check_common(&t, &r);
    for p in [
        "sysvinit-core=",
        "ifupdown=",
        "isc-dhcp-client=",
        "rsyslog=",
        "cron=",
        "elogind=",
    ] {
        assert!(
            r.packages.iter().any(|x| x.starts_with(p)),
            "{p} not installed"
        );
    }
    assert!(!r.packages.iter().any(|x| x.starts_with("systemd-sysv=")));
    assert!(
        t.has("etc/init.d/rsyslog"),
        "orphan-sysvinit-scripts' rsyslog script"
    );

    let inittab = t.text("etc/inittab");
    assert!(
        inittab
            .lines()
            .any(|l| l == "T0:2345:respawn:/sbin/getty -L ttyS0 115200 vt100"),
        "{inittab}"
    );
    assert_eq!(
        t.get("usr/sbin/getty").link.as_deref(),
        Some("agetty"),
        "/sbin is /usr/sbin"
    );

    let ifs = t.text("etc/network/interfaces");
    for line in [
        "auto lo",
        "iface lo inet loopback",
        "auto /e*/1=net0",
        "iface net0 inet dhcp",
    ] {
        assert!(ifs.lines().any(|l| l == line), "{line} missing:\n{ifs}");
    }

    // The IMDS init script is enabled and runs before sshd.
    assert_eq!(t.get("etc/init.d/ktailor-imds").mode, 0o755);
    assert_eq!(t.text("etc/init.d/ktailor-imds"), krootfs::hooks::IMDS_INIT);
    let start_link = |name: &str| {
        t.under("etc/rc2.d/S")
            .find(|(p, _)| p.ends_with(name) && p.len() == "etc/rc2.d/S00".len() + name.len())
            .map(|(p, e)| (p.clone(), e.link.clone().unwrap_or_default()))
            .unwrap_or_else(|| panic!("no etc/rc2.d/S??{name}"))
    };
    let (imds_link, target) = start_link("ktailor-imds");
    assert_eq!(target, "../init.d/ktailor-imds");
    let (ssh_link, _) = start_link("ssh");
    assert!(
        imds_link["etc/rc2.d/".len()..] < ssh_link["etc/rc2.d/".len()..],
        "{imds_link} !< {ssh_link}"
    );
}

#[test]
#[ignore = "real tier: runs mmdebstrap against Debian's archive (scripts/test runs it)"]
fn systemd_rootfs() {
    let r = build(Init::Systemd);
    let t = Tree::load(&r.tar);
    check_common(&t, &r);
    for p in ["systemd-sysv=", "systemd=", "dbus=", "libpam-systemd="] {
        assert!(
            r.packages.iter().any(|x| x.starts_with(p)),
            "{p} not installed"
        );
    }
    assert!(!r
        .packages
        .iter()
        .any(|x| x.starts_with("sysvinit-core=") || x.starts_with("elogind=")));
    let mid = t.get("etc/machine-id");
    assert!(mid.kind.is_file());
    assert_eq!(t.text("etc/machine-id"), "");

    let wants = "etc/systemd/system/getty.target.wants/serial-getty@ttyS0.service";
    assert_eq!(
        t.get(wants).link.as_deref(),
        Some("/lib/systemd/system/serial-getty@.service")
    );
    let net = t.text("etc/systemd/network/20-dhcp.network");
    assert!(
        net.contains("[Match]\nName=en* eth*\n") && net.contains("[Network]\nDHCP=yes\n"),
        "{net}"
    );
    for (link, target) in [
        (
            "etc/systemd/system/multi-user.target.wants/systemd-networkd.service",
            "/lib/systemd/system/systemd-networkd.service",
        ),
        (
            "etc/systemd/system/multi-user.target.wants/ktailor-imds.service",
            "/etc/systemd/system/ktailor-imds.service",
        ),
    ] {
        assert_eq!(t.get(link).link.as_deref(), Some(target), "{link}");
    }
    assert_eq!(
        t.text("etc/systemd/system/ktailor-imds.service"),
        krootfs::hooks::IMDS_UNIT
    );
    assert!(
        t.has("lib/systemd/systemd-networkd-wait-online")
            || t.has("usr/lib/systemd/systemd-networkd-wait-online")
    );
    assert!(t
        .text("etc/systemd/system/systemd-networkd-wait-online.service.d/ktailor.conf")
        .contains("--any"));
}

#[test]
#[ignore = "real tier: runs mmdebstrap against Debian's archive (scripts/test runs it)"]
fn second_build_is_a_fast_cache_hit() {
    for init in Init::ALL {
        let first = build(init);
        let again = build(init);
        assert!(
            again.cache_hit,
            "{init}: the second build was not a cache hit"
        );
        assert!(
            again.duration < Duration::from_secs(2),
            "{init}: {:?}",
            again.duration
        );
        assert_eq!(
            (&again.tar, &again.key, again.bytes),
            (&first.tar, &first.key, first.bytes)
        );
        assert_eq!(again.packages, first.packages);
        assert_eq!(first.key, krootfs::cache_key(&RootfsSpec::bookworm(init)));
        assert_eq!(
            first.tar.file_name().unwrap().to_string_lossy(),
            format!("{}.tar", first.key)
        );
        let sidecar = first.tar.with_extension("json");
        let m: krootfs::Manifest =
            serde_json::from_slice(&std::fs::read(&sidecar).unwrap()).unwrap();
        assert_eq!(
            (m.bytes, &m.spec),
            (first.bytes, &RootfsSpec::bookworm(init))
        );
        assert_eq!(m.include, krootfs::packages(&RootfsSpec::bookworm(init)));
        // No temporaries next to the entry.
        let dir = first.tar.parent().unwrap();
        let partial = dir.join(format!("{}.tar.partial", first.key));
        let work = dir.join(format!("{}.work", first.key));
        assert!(!partial.exists() && !work.exists());
    }
}

#[test]
fn cache_key_changes_with_packages_and_init() {
    let sysv = RootfsSpec::bookworm(Init::Sysvinit);
    let sd = RootfsSpec::bookworm(Init::Systemd);
    let mut vim = sysv.clone();
    vim.extra_packages.push("vim-tiny".into());
    let keys = [
        krootfs::cache_key(&sysv),
        krootfs::cache_key(&sd),
        krootfs::cache_key(&vim),
    ];
    assert_ne!(keys[0], keys[1]);
    assert_ne!(keys[0], keys[2]);
    assert_ne!(keys[1], keys[2]);
    assert_eq!(keys[0], krootfs::cache_key(&sysv.clone()));
}

// ---- log in to the tree's sshd (root only) ----

fn have(program: &str) -> bool {
    krootfs::find_program(program.as_ref(), None).is_some()
}

/// `unshare` into private mount, UTS and PID namespaces (with /proc mounted
/// for the tree) and `chroot` into `root`: nothing done inside touches the
/// host's mounts or hostname, and everything dies with the command.
fn in_tree(root: &Path) -> Command {
    let mut c = Command::new("unshare");
    c.args(["--mount", "--uts", "--pid", "--fork", "--kill-child"])
        .arg(format!("--mount-proc={}", root.join("proc").display()))
        .arg("chroot")
        .arg(root);
    c
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn ssh(key: &Path, port: u16, user: &str, extra: &[&str], cmd: &str) -> std::process::Output {
    Command::new("ssh")
        .arg("-i")
        .arg(key)
        .args(["-p", &port.to_string()])
        .args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=20",
            "-o",
            "LogLevel=ERROR",
            "-o",
            "IdentitiesOnly=yes",
        ])
        .args(extra)
        .arg(format!("{user}@127.0.0.1"))
        .arg(cmd)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// The tree of `r` extracted (as root, owners kept) to `<tempdir>/root`.
fn extract(r: &Rootfs) -> (tempfile::TempDir, PathBuf) {
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let st = Command::new("tar")
        .args(["--numeric-owner", "-xf"])
        .arg(&r.tar)
        .arg("-C")
        .arg(&root)
        .status()
        .unwrap();
    assert!(st.success(), "extracting {}", r.tar.display());
    (work, root)
}

fn sshd_login(init: Init) {
    assert!(
        is_root() && have("unshare") && have("ssh") && have("ssh-keygen"),
        "this test needs root, unshare, ssh and ssh-keygen: run it as root after scripts/setup"
    );
    let (work, root) = extract(&build(init));

    // A client key, served by a fake IMDS and installed by the tree's own
    // first-boot script (chown to admin included).
    let key = ktestkit::ssh_keygen(work.path(), "id_ed25519");
    let pubkey = std::fs::read_to_string(ktestkit::ssh_pubkey(&key)).unwrap();
    let imds = common::serve_key(common::Behaviour::Ec2 { chunked: false }, pubkey.trim());
    let out = in_tree(&root)
        .arg("env")
        .arg("IMDS_HOST=127.0.0.1")
        .arg(format!("IMDS_PORT={}", imds.port))
        .arg("/usr/local/sbin/ktailor-imds")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "ktailor-imds in the {init} tree: {err}"
    );
    assert!(err.contains("ssh key for admin: 1 added"), "{err}");
    assert_eq!(
        std::fs::read_to_string(root.join("etc/hostname")).unwrap(),
        "ip-10-0-0-5\n"
    );
    let ak = root.join("home/admin/.ssh/authorized_keys");
    assert_eq!(std::fs::read_to_string(&ak).unwrap().trim(), pubkey.trim());
    let meta = std::fs::metadata(&ak).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!((meta.uid(), meta.mode() & 0o777), (1000, 0o600));

    // Host keys as at first boot, then sshd with the tree's configuration.
    let out = in_tree(&root).args(["ssh-keygen", "-A"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::create_dir_all(root.join("run/sshd")).unwrap();
    let port = free_port();
    let sshd = Killed(
        in_tree(&root)
            .args([
                "/usr/sbin/sshd",
                "-D",
                "-e",
                "-o",
                "ListenAddress=127.0.0.1",
                "-p",
            ])
            .arg(port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let t = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "sshd did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let out = ssh(&key, port, "admin", &[], "id -un; sudo -n id -u");
    assert!(
        out.status.success(),
        "ssh admin@{init} tree: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "admin\n0\n");

    // Root may not log in, even with an authorized key; passwords are off.
    let root_ssh = root.join("root/.ssh");
    std::fs::create_dir_all(&root_ssh).unwrap();
    std::fs::write(root_ssh.join("authorized_keys"), &pubkey).unwrap();
    let out = ssh(&key, port, "root", &[], "true");
    assert!(!out.status.success(), "root logged in to the {init} tree");
    let out = ssh(
        &key,
        port,
        "admin",
        &[
            "-o",
            "PreferredAuthentications=password,keyboard-interactive",
        ],
        "true",
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "password login offered");
    assert!(err.contains("Permission denied (publickey)"), "{err}");
    drop(sshd);
}

#[test]
#[ignore = "real tier: needs root and mmdebstrap (scripts/test runs it)"]
fn sshd_sysvinit_tree_takes_the_imds_key() {
    sshd_login(Init::Sysvinit);
}

#[test]
#[ignore = "real tier: needs root and mmdebstrap (scripts/test runs it)"]
fn sshd_systemd_tree_takes_the_imds_key() {
    sshd_login(Init::Systemd);
}

#[test]
#[ignore = "real tier: runs mmdebstrap (scripts/test runs it)"]
fn unreachable_mirror_fails_naming_it() {
    assert!(
        have("mmdebstrap"),
        "this test needs mmdebstrap: run scripts/setup"
    );
    let cache = tempfile::tempdir().unwrap();
    let mut spec = RootfsSpec::bookworm(Init::Sysvinit);
    spec.mirror = Some("http://mirror.invalid/debian".into());
    let t = Instant::now();
    let err = krootfs::build(&spec, cache.path(), &|_| {}).unwrap_err();
    let msg = err.to_string();
    eprintln!("{msg}");
    assert!(
        matches!(err, krootfs::RootfsError::Mmdebstrap { .. }),
        "{err:?}"
    );
    assert!(msg.contains("from http://mirror.invalid/debian"), "{msg}");
    assert!(msg.contains("mirror.invalid"), "{msg}");
    assert!(t.elapsed() < Duration::from_secs(120), "{:?}", t.elapsed());
    // Nothing but the lock file is left.
    let left: Vec<_> = std::fs::read_dir(cache.path().join("rootfs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".lock"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// ifupdown in the tree expands `auto /e*/1=net0` against the host's
/// interfaces (sysfs mounted in a private mount namespace): loopback plus
/// the first interface named e*, brought up as the logical net0 by DHCP.
#[test]
#[ignore = "real tier: needs root and mmdebstrap (scripts/test runs it)"]
fn ifupdown_pattern_picks_the_first_e_interface() {
    assert!(
        is_root() && have("unshare"),
        "this test needs root and unshare: run it as root after scripts/setup"
    );
    let (_work, root) = extract(&build(Init::Sysvinit));
    let script = format!(
        "mount -t sysfs sysfs {sys} && chroot {root} ifquery --list --allow=auto && \
         chroot {root} ifup --no-act --verbose --all 2>&1",
        sys = root.join("sys").display(),
        root = root.display()
    );
    let out = Command::new("unshare")
        .args(["--mount", "--pid", "--fork", "--kill-child"])
        .arg(format!("--mount-proc={}", root.join("proc").display()))
        .args(["sh", "-c", &script])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: Vec<&str> = text
        .lines()
        .take_while(|l| !l.is_empty() && !l.contains(' '))
        .collect();
    assert_eq!(listed.first(), Some(&"lo"), "{text}");
    let host_e: Vec<String> = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('e'))
        .collect();
    match listed.get(1) {
        Some(nic) => {
            assert!(
                host_e.iter().any(|h| h == nic),
                "{nic} is not a host e* interface: {host_e:?}"
            );
            assert_eq!(listed.len(), 2, "{text}");
            assert!(
                text.contains(&format!("configuring interface {nic}=net0 (inet)")),
                "{text}"
            );
            assert!(text.contains("dhclient"), "{text}");
        }
        None => assert!(
            host_e.is_empty(),
            "no e* interface picked from {host_e:?}:\n{text}"
        ),
    }
}
