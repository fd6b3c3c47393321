//! One boot of a disk image, judged over SSH.
//!
//! Machines:
//! - `ec2-sim`: what an EC2 Nitro instance shows a guest, as far as QEMU
//!   can: q35, OVMF (UEFI boot from the disk's ESP), the disk as NVMe (as
//!   EBS appears), virtio-net standing in for ENA (QEMU has no ENA model),
//!   and the instance metadata service (IMDSv2, token required) at
//!   169.254.169.254, served by [`kimds`] on 127.0.0.1 and reached through
//!   QEMU user networking's `guestfwd` on the 169.254.0.0/16 network.
//! - `qemu`: q35 + virtio-blk with the kernel from the image's ESP loaded
//!   directly (`-kernel`), the seed's development loop.
//!
//! The guest runs on a throwaway overlay (`-snapshot`): like launching a
//! new instance from an AMI, every run starts from the image as built.
//! SSH is forwarded from 127.0.0.1 only.

pub mod ssh;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use serde::Serialize;

pub use ssh::Ssh;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Input(String),
    #[error(transparent)]
    Vm(#[from] kvm::VmError),
    #[error(transparent)]
    Image(#[from] kimage::ImageError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> RunError {
    let what = what.into();
    move |source| RunError::Io { what, source }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MachineKind {
    Ec2Sim,
    Qemu,
}

impl MachineKind {
    pub fn parse(s: &str) -> Result<MachineKind, RunError> {
        match s {
            "ec2-sim" | "ec2" => Ok(MachineKind::Ec2Sim),
            "qemu" => Ok(MachineKind::Qemu),
            _ => Err(RunError::Input(format!(
                "unknown machine {s:?}; use ec2-sim or qemu"
            ))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            MachineKind::Ec2Sim => "ec2-sim",
            MachineKind::Qemu => "qemu",
        }
    }

    /// The block device the root partition appears as.
    pub fn root_device(self) -> &'static str {
        match self {
            MachineKind::Ec2Sim => "/dev/nvme0n1p1",
            MachineKind::Qemu => "/dev/vda1",
        }
    }
}

/// The hostname and instance id the simulated metadata service reports.
pub const IMDS_HOSTNAME: &str = "ip-172-31-7-117.ec2.internal";
pub const IMDS_INSTANCE_ID: &str = "i-0ktailor0000sim";

/// One run.
#[derive(Clone, Debug)]
pub struct RunSpec {
    pub image: PathBuf,
    pub machine: MachineKind,
    /// The private key whose public half the image authorizes.
    pub ssh_key: PathBuf,
    /// Public keys the metadata service serves (ec2-sim).
    pub imds_keys: Vec<String>,
    /// A private key whose public half only the metadata service knows:
    /// logging in with it proves the guest's first-boot step used IMDSv2.
    pub imds_login_key: Option<PathBuf>,
    pub accel: kvm::Accel,
    /// The program (and leading arguments) QEMU starts for each guest
    /// connection to the metadata address; the server's address is
    /// appended (`ktailor imds-relay 127.0.0.1:PORT`).
    pub relay: Vec<String>,
    /// Leave the guest running after the checks, until it powers off.
    pub keep_running: bool,
    /// Longest the whole boot + checks may take.
    pub timeout: Duration,
    /// Serial log and scratch files go here, or in a `run-N` directory in
    /// it while other runs use it ([`ksys::RunDir`];
    /// [`RunReport::serial_log`] says where).
    pub workdir: PathBuf,
    pub memory_mb: u32,
    pub cpus: u32,
    /// Commands (name, shell command) run over SSH after the checks, before
    /// the power-off; what they print lands in [`RunReport::extra`].
    pub extra_commands: Vec<(String, String)>,
    /// Console lines to time (name, text the line contains): when each
    /// first appeared, from QEMU's start, lands in [`RunReport::console_marks`].
    pub console_marks: Vec<(String, String)>,
}

/// One check, with what it saw.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    pub name: String,
    pub pass: bool,
    pub evidence: String,
}

/// When one of [`RunSpec::console_marks`] first appeared on the console.
#[derive(Clone, Debug, Serialize)]
pub struct ConsoleMark {
    pub name: String,
    /// From QEMU's start; `None` if the line never came.
    pub seconds: Option<f64>,
}

/// What one of [`RunSpec::extra_commands`] printed.
#[derive(Clone, Debug, Serialize)]
pub struct ExtraOutput {
    pub name: String,
    pub command: String,
    pub ok: bool,
    pub stdout: String,
}

/// A metadata request the guest made.
#[derive(Clone, Debug, Serialize)]
pub struct ImdsRequest {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub token_valid: bool,
    pub at_seconds: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    pub image: PathBuf,
    pub machine: MachineKind,
    pub accel: String,
    pub verdict: String,
    pub checks: Vec<Check>,
    /// From QEMU's start (firmware included) to the first SSH login.
    pub boot_to_login_seconds: Option<f64>,
    pub seconds: f64,
    pub serial_log: PathBuf,
    pub imds_requests: Vec<ImdsRequest>,
    /// The console's last lines (for a failure's report).
    pub tail: Vec<String>,
    /// What was checked of the hardware QEMU cannot run (from the image
    /// manifest: the ENA driver in the build).
    pub build_checks: Vec<String>,
    /// The outputs of [`RunSpec::extra_commands`] (none if no login).
    pub extra: Vec<ExtraOutput>,
    pub console_marks: Vec<ConsoleMark>,
}

impl RunReport {
    pub fn passed(&self) -> bool {
        !self.checks.is_empty() && self.checks.iter().all(|c| c.pass)
    }
}

/// Every check a run can report, in the order a run reports them. Which of
/// them a run makes depends on the machine (`uefi`, `imds-hostname`,
/// `imds-key-login` and `imds-v2` on ec2-sim only, `imds-key-login` only
/// with an [`RunSpec::imds_login_key`]) and on the root's init (`systemd`
/// for a systemd root, the `running-*` checks for sysvinit). `ktailor
/// ladder` holds the check names in data/ladder.toml against this list; a
/// test here holds it against the checks this file makes.
pub const CHECKS: &[&str] = &[
    "login",
    "pty",
    "kernel",
    "root-device",
    "uefi",
    "systemd",
    "running-sshd",
    "running-cron",
    "running-rsyslogd",
    "running-elogind",
    "sshd-no-passwords",
    "imds-hostname",
    "imds-key-login",
    "clean-logs",
    "imds-v2",
];

/// Lines the seed's kernel printed, or its userspace logged, while an
/// option was missing. A booted system whose console or kernel log shows
/// one of them is missing a feature even if everything else works.
pub const SEED_ERRORS: &[&str] = &[
    "Function not implemented",
    "Address family not supported by protocol",
    "futex facility returned an unexpected error",
    "Failed to mount cgroup",
    "can't lock",
    "openpty",
    "Cannot open root device",
    "'devpts' is not supported",
    "Kernel panic",
];

/// Console lines after which the system will not come up by itself: the
/// run ends there instead of waiting for SSH until the timeout.
pub const FATAL: &[&str] = &[
    "Press Enter for maintenance",
    "Give root password for maintenance",
    "Kernel panic - not syncing",
    "Cannot open root device",
    "You are in emergency mode",
];

/// Boots the image and runs the checks. `progress` hears what happens.
pub fn run(spec: &RunSpec, progress: &dyn Fn(&str)) -> Result<RunReport, RunError> {
    let started = Instant::now();
    if !spec.image.is_file() {
        return Err(RunError::Input(format!(
            "{} is not a disk image file (make one with `ktailor image`)",
            spec.image.display()
        )));
    }
    for k in std::iter::once(&spec.ssh_key).chain(spec.imds_login_key.as_ref()) {
        let text = std::fs::read_to_string(k)
            .map_err(io(format!("cannot read the SSH key {}", k.display())))?;
        if !text.contains("PRIVATE KEY") {
            return Err(RunError::Input(format!(
                "{} is not a private key; give the key whose .pub the image authorizes",
                k.display()
            )));
        }
    }
    let manifest = kimage::Manifest::load(&spec.image)?;
    // This run's own directory: the workdir, or while other runs use it a
    // free `run-N` in it, so concurrent runs of one image do not share a
    // serial log, kernel or known_hosts. Held until the run is over.
    let run_dir = ksys::RunDir::take(&spec.workdir).map_err(io(format!(
        "cannot take a run directory in {}",
        spec.workdir.display()
    )))?;
    let serial_log = run_dir.path().join("serial.log");

    let machine = kvm::Machine {
        memory_mb: spec.memory_mb,
        cpus: spec.cpus,
        nics: vec![kvm::Nic {
            model: "virtio-net-pci".into(),
            hostfwd: true,
        }],
        ..kvm::Machine::new(kvm::MachineType::Q35)
    };
    let mut vm = kvm::VmSpec::new(PathBuf::new(), machine, serial_log.clone());
    vm.accel = spec.accel;
    vm.forward_ports = vec![22];
    vm.extra_args.push("-snapshot".into());
    let imds = match spec.machine {
        MachineKind::Ec2Sim => {
            vm.machine.firmware = kvm::Firmware::Uefi;
            vm.firmware_boot = true;
            vm.disks = vec![kvm::VmDisk {
                path: spec.image.clone(),
                interface: kvm::DiskInterface::Nvme,
            }];
            let server = kimds::Imds::start(kimds::Config {
                instance_id: IMDS_INSTANCE_ID.into(),
                hostname: IMDS_HOSTNAME.into(),
                public_keys: spec.imds_keys.clone(),
            })
            .map_err(io("cannot start the metadata service on 127.0.0.1"))?;
            if spec.relay.is_empty() {
                return Err(RunError::Input(
                    "ec2-sim needs a relay program for the metadata service".into(),
                ));
            }
            let mut cmd = spec.relay.join(" ");
            cmd.push(' ');
            cmd.push_str(&server.addr().to_string());
            vm.user_net = vec![
                // QEMU refuses a guestfwd to 169.254.169.254 on its default
                // 10.0.2.0/24 network; on the link-local /16 it works.
                "net=169.254.0.0/16".into(),
                format!("guestfwd=tcp:169.254.169.254:80-cmd:{cmd}"),
            ];
            Some(server)
        }
        MachineKind::Qemu => {
            let kernel = run_dir.path().join("BOOTX64.EFI");
            kimage::extract_kernel(&spec.image, &kernel)?;
            vm.kernel = kernel;
            // What the image's kernel has built in; given again here so a
            // kernel without it (`--kernel-image`, a ladder step) finds the
            // root too. A kernel that has it sees each parameter twice,
            // with the same value.
            vm.append = manifest
                .as_ref()
                .map(|m| m.cmdline.clone())
                .unwrap_or_else(|| "console=ttyS0,115200".into());
            vm.disks = vec![kvm::VmDisk {
                path: spec.image.clone(),
                interface: kvm::DiskInterface::VirtioBlk,
            }];
            None
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    vm.stop = Some(stop.clone());
    if spec.keep_running {
        vm.timeout = Duration::from_secs(7 * 24 * 3600);
        vm.idle_timeout = vm.timeout;
    } else {
        vm.timeout = spec.timeout;
        // The console goes quiet once the system is up; the checks' own
        // deadline ends a run that never becomes reachable.
        vm.idle_timeout = spec.timeout;
    }

    let (tx, rx) = mpsc::channel::<Checked>();
    let mut checker_started = false;
    let checker_spec = spec.clone();
    let manifest2 = manifest.clone();
    let stop2 = stop.clone();
    let workdir = run_dir.path().to_path_buf();
    let serial2 = serial_log.clone();
    progress(&format!(
        "booting {} on {}",
        spec.image.display(),
        spec.machine.name()
    ));
    let mut fatal: Option<String> = None;
    let mut marks: Vec<Option<Duration>> = vec![None; spec.console_marks.len()];
    let result = kvm::run(&vm, &mut |line, control| {
        for (m, (_, needle)) in marks.iter_mut().zip(&spec.console_marks) {
            if m.is_none() && line.contains(needle.as_str()) {
                *m = Some(control.elapsed());
            }
        }
        if fatal.is_none() && FATAL.iter().any(|f| line.contains(f)) {
            // Nothing will answer SSH after this: end now, not at the timeout.
            fatal = Some(line.trim().to_string());
            stop2.store(true, Ordering::SeqCst);
        }
        if checker_started {
            return;
        }
        checker_started = true;
        let Some(port) = control.host_port(22) else {
            stop2.store(true, Ordering::SeqCst);
            return;
        };
        let qemu_started = Instant::now() - control.elapsed();
        let (spec, manifest, stop, workdir, serial, tx) = (
            checker_spec.clone(),
            manifest2.clone(),
            stop2.clone(),
            workdir.clone(),
            serial2.clone(),
            tx.clone(),
        );
        std::thread::spawn(move || {
            let checked = check_guest(
                &spec,
                manifest.as_ref(),
                port,
                qemu_started,
                &workdir,
                &serial,
                &stop,
            );
            let _ = tx.send(checked);
            if !spec.keep_running {
                // Powered off over SSH, or never reachable: either way the
                // run is over once the guest has had time to halt.
                let deadline = Instant::now() + Duration::from_secs(60);
                while Instant::now() < deadline && !stop.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(200));
                }
                stop.store(true, Ordering::SeqCst);
            }
        });
    })?;
    drop(tx);
    let checked = rx.recv_timeout(Duration::from_secs(120)).ok();
    let mut imds_requests = Vec::new();
    if let Some(server) = &imds {
        imds_requests = server
            .requests()
            .into_iter()
            .map(|r| ImdsRequest {
                method: r.method,
                path: r.path,
                status: r.status,
                token_valid: r.token_valid,
                at_seconds: r.at.as_secs_f64(),
            })
            .collect();
    }
    let (mut checks, boot_to_login, extra) = match checked {
        Some(mut c) => {
            if let (Some(f), Some(first)) = (&fatal, c.checks.first_mut()) {
                if !first.pass {
                    first.evidence = format!("{}; the console said: {f}", first.evidence);
                }
            }
            (c.checks, c.boot_to_login, c.extra)
        }
        None => (
            vec![Check {
                name: "login".into(),
                pass: false,
                evidence: format!(
                    "the guest ended before any SSH check ran ({})",
                    result.verdict
                ),
            }],
            None,
            Vec::new(),
        ),
    };
    if spec.machine == MachineKind::Ec2Sim {
        checks.push(imds_check(&imds_requests));
    }
    Ok(RunReport {
        image: spec.image.clone(),
        machine: spec.machine,
        accel: result.accel.as_str().to_string(),
        verdict: result.verdict.to_string(),
        checks,
        boot_to_login_seconds: boot_to_login.map(|d| d.as_secs_f64()),
        seconds: started.elapsed().as_secs_f64(),
        serial_log,
        imds_requests,
        tail: result.tail,
        build_checks: manifest.map(|m| m.build_checks).unwrap_or_default(),
        extra,
        console_marks: spec
            .console_marks
            .iter()
            .zip(marks)
            .map(|((name, _), at)| ConsoleMark {
                name: name.clone(),
                seconds: at.map(|d| d.as_secs_f64()),
            })
            .collect(),
    })
}

/// The guest did the IMDSv2 dance: a token, then the key with it.
fn imds_check(reqs: &[ImdsRequest]) -> Check {
    let token = reqs
        .iter()
        .any(|r| r.method == "PUT" && r.path == "/latest/api/token" && r.status == 200);
    let key = reqs.iter().any(|r| {
        r.method == "GET"
            && r.path == "/latest/meta-data/public-keys/0/openssh-key"
            && r.status == 200
            && r.token_valid
    });
    Check {
        name: "imds-v2".into(),
        pass: token && key,
        evidence: format!(
            "{} request(s): {}",
            reqs.len(),
            reqs.iter()
                .map(|r| format!("{} {} -> {}", r.method, r.path, r.status))
                .collect::<Vec<_>>()
                .join("; ")
        ),
    }
}

struct Checked {
    checks: Vec<Check>,
    boot_to_login: Option<Duration>,
    extra: Vec<ExtraOutput>,
}

fn check(name: &str, pass: bool, evidence: impl Into<String>) -> Check {
    Check {
        name: name.into(),
        pass,
        evidence: evidence.into(),
    }
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").trim().to_string()
}

/// Everything checked over SSH, then the power-off.
fn check_guest(
    spec: &RunSpec,
    manifest: Option<&kimage::Manifest>,
    port: u16,
    qemu_started: Instant,
    workdir: &Path,
    serial: &Path,
    stop: &AtomicBool,
) -> Checked {
    let mut checks = Vec::new();
    let known_hosts = manifest.and_then(|m| {
        let p = workdir.join("known_hosts");
        ssh::write_known_hosts(&p, port, &m.image.host_keys)
            .ok()
            .map(|_| p)
    });
    let ssh = Ssh {
        port,
        user: "admin".into(),
        key: spec.ssh_key.clone(),
        known_hosts: known_hosts.clone(),
    };
    let deadline = qemu_started + spec.timeout.saturating_sub(Duration::from_secs(30));
    let login = ssh.wait_for_login(deadline, &|| stop.load(Ordering::SeqCst));
    if !login.ok() {
        checks.push(check(
            "login",
            false,
            format!(
                "no SSH login as admin on 127.0.0.1:{port}: {}",
                first_line(&login.stderr)
            ),
        ));
        return Checked {
            checks,
            boot_to_login: None,
            extra: Vec::new(),
        };
    }
    let boot_to_login = qemu_started.elapsed();
    checks.push(check(
        "login",
        true,
        format!(
            "admin@127.0.0.1:{port} with the image's key after {:.1} s{}",
            boot_to_login.as_secs_f64(),
            if known_hosts.is_some() {
                ", host key matches the image's"
            } else {
                " (no manifest: host key not verified)"
            }
        ),
    ));

    let tty = ssh.run_tty("tty");
    let t = first_line(&tty.stdout);
    checks.push(check(
        "pty",
        t.starts_with("/dev/pts/"),
        if t.is_empty() {
            first_line(&tty.stderr)
        } else {
            format!("tty: {t}")
        },
    ));

    let uname = first_line(&ssh.run("uname -r").stdout);
    match manifest {
        Some(m) => checks.push(check(
            "kernel",
            uname == m.kernel_release,
            format!("uname -r: {uname} (built: {})", m.kernel_release),
        )),
        None => checks.push(check(
            "kernel",
            !uname.is_empty(),
            format!("uname -r: {uname}"),
        )),
    }

    let root = first_line(&ssh.run("findmnt -no SOURCE /").stdout);
    checks.push(check(
        "root-device",
        root == spec.machine.root_device(),
        format!("/ is {root} (expected {})", spec.machine.root_device()),
    ));
    if spec.machine == MachineKind::Ec2Sim {
        let efi = ssh.run("test -d /sys/firmware/efi && echo uefi");
        checks.push(check(
            "uefi",
            efi.stdout.contains("uefi"),
            if efi.stdout.contains("uefi") {
                "/sys/firmware/efi exists: booted by UEFI firmware".to_string()
            } else {
                "no /sys/firmware/efi".to_string()
            },
        ));
    }

    let init = manifest.map(|m| m.init.as_str()).unwrap_or("sysvinit");
    if init == "systemd" {
        let s = ssh.run("systemctl is-system-running --wait");
        let state = first_line(&s.stdout);
        let failed = ssh.run("systemctl --failed --plain --no-legend");
        checks.push(check(
            "systemd",
            state == "running",
            format!(
                "systemctl is-system-running: {state}{}",
                if failed.stdout.trim().is_empty() {
                    String::new()
                } else {
                    format!(
                        "; failed units: {}",
                        failed.stdout.trim().replace('\n', "; ")
                    )
                }
            ),
        ));
    } else {
        let ps = ssh.run("ps -eo comm=").stdout;
        let running: Vec<&str> = ps.lines().map(str::trim).collect();
        for (what, names) in [
            ("sshd", &["sshd"][..]),
            ("cron", &["cron"][..]),
            ("rsyslogd", &["rsyslogd"][..]),
            ("elogind", &["elogind", "elogind-daemon"][..]),
        ] {
            let found = names.iter().find(|n| running.contains(n));
            checks.push(check(
                &format!("running-{what}"),
                found.is_some(),
                match found {
                    Some(n) => format!("process {n} is running"),
                    None => format!("no {} process", names.join("/")),
                },
            ));
        }
    }

    let sshd = ssh.run("sudo -n /usr/sbin/sshd -T");
    let t = sshd.stdout.to_ascii_lowercase();
    let refuses = t.lines().any(|l| l.trim() == "passwordauthentication no")
        && t.lines()
            .any(|l| l.trim() == "kbdinteractiveauthentication no")
        && t.lines().any(|l| l.trim() == "permitrootlogin no");
    checks.push(check(
        "sshd-no-passwords",
        refuses,
        if sshd.ok() {
            "sshd -T: passwordauthentication no, kbdinteractiveauthentication no, permitrootlogin no"
                .to_string()
        } else {
            format!("sudo sshd -T failed: {}", first_line(&sshd.stderr))
        },
    ));

    if spec.machine == MachineKind::Ec2Sim {
        let h = first_line(&ssh.run("hostname").stdout);
        checks.push(check(
            "imds-hostname",
            h == IMDS_HOSTNAME || IMDS_HOSTNAME.starts_with(&format!("{h}.")),
            format!("hostname: {h} (metadata service: {IMDS_HOSTNAME})"),
        ));
        if let Some(k) = &spec.imds_login_key {
            let other = Ssh {
                key: k.clone(),
                ..ssh.clone()
            };
            let o = other.run("true");
            checks.push(check(
                "imds-key-login",
                o.ok(),
                if o.ok() {
                    format!(
                        "logged in with {}, whose public key only the metadata service served",
                        k.display()
                    )
                } else {
                    format!(
                        "login with {} refused: {}",
                        k.display(),
                        first_line(&o.stderr)
                    )
                },
            ));
        }
    }

    let dmesg = ssh.run("sudo -n dmesg");
    let console = std::fs::read_to_string(serial).unwrap_or_default();
    let mut bad: Vec<String> = Vec::new();
    for (source, text) in [("dmesg", &dmesg.stdout), ("console", &console)] {
        for l in text.lines() {
            if SEED_ERRORS.iter().any(|e| l.contains(e)) {
                let l = format!("{source}: {}", l.trim());
                if !bad.contains(&l) {
                    bad.push(l);
                }
            }
        }
    }
    checks.push(check(
        "clean-logs",
        dmesg.ok() && bad.is_empty(),
        if !dmesg.ok() {
            format!("sudo dmesg failed: {}", first_line(&dmesg.stderr))
        } else if bad.is_empty() {
            format!(
                "dmesg ({} lines) and the console hold none of the seed's {} error lines",
                dmesg.stdout.lines().count(),
                SEED_ERRORS.len()
            )
        } else {
            bad.iter().take(5).cloned().collect::<Vec<_>>().join(" | ")
        },
    ));

    let extra = spec
        .extra_commands
        .iter()
        .map(|(name, command)| {
            let o = ssh.run(command);
            ExtraOutput {
                name: name.clone(),
                command: command.clone(),
                ok: o.ok(),
                stdout: o.stdout,
            }
        })
        .collect();

    if !spec.keep_running {
        // The connection drops as the guest goes down: no status to judge.
        let _ = ssh.run("sudo -n poweroff");
    } else {
        // The caller is blocked in the console loop until the guest powers
        // off, so the person who asked to keep it running is told here how
        // to reach it, and what the checks found, while it runs.
        for c in &checks {
            eprintln!(
                "{} {:<20} {}",
                if c.pass { "pass" } else { "FAIL" },
                c.name,
                c.evidence
            );
        }
        eprintln!(
            "the guest keeps running: ssh -p {port} -i {} {}admin@127.0.0.1 \
             (power it off from inside, e.g. `sudo poweroff`, to end the run)",
            spec.ssh_key.display(),
            known_hosts
                .as_ref()
                .map(|k| format!("-o UserKnownHostsFile={} ", k.display()))
                .unwrap_or_default()
        );
    }
    Checked {
        checks,
        boot_to_login: Some(boot_to_login),
        extra,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The string literal at the start of `s` (after whitespace), if any.
    fn literal(s: &str) -> Option<&str> {
        let s = s.trim_start().strip_prefix('"')?;
        s.split_once('"').map(|(l, _)| l)
    }

    #[test]
    fn checks_lists_every_check_made() {
        let src = include_str!("lib.rs");
        let src = &src[..src.find("#[cfg(test)]").unwrap()];
        let mut made: Vec<String> = Vec::new();
        for pat in ["check(", "name: "] {
            for (i, _) in src.match_indices(pat) {
                if let Some(l) = literal(&src[i + pat.len()..]) {
                    if !l.contains(' ') {
                        made.push(l.to_string());
                    }
                }
            }
        }
        // `running-{what}` for each daemon in the sysvinit table.
        for c in CHECKS {
            if let Some(what) = c.strip_prefix("running-") {
                assert!(src.contains(&format!("(\"{what}\", &[")), "no {c}");
                made.push(c.to_string());
            }
        }
        for m in &made {
            assert!(
                CHECKS.contains(&m.as_str()),
                "check {m:?} is missing from CHECKS"
            );
        }
        for c in CHECKS {
            assert!(
                made.iter().any(|m| m == c),
                "CHECKS lists {c:?}, which no code makes"
            );
        }
    }
}
