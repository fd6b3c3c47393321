//! Boot a built kernel the way a target describes, and judge it.
//!
//! `kvm` knows QEMU and consoles; this crate knows what ktailor puts in the
//! guest and what counts as success. It assembles the userspace a machine
//! asks for (no initramfs, the seed's hello world, the probe program as
//! init, or busybox running the probes), the scratch disks, and the kernel
//! command line that tells the probe program what to check; it answers the
//! guest's TCP listener through the forwarded port; and it turns the console
//! into a verdict per probe. "It booted" is never the criterion: a boot
//! passes only when every probe it expected reported `pass` (or, for the
//! rungs without probes, when the console showed the expected text).

pub mod machine;
pub mod probes;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub use ksys::RunDir;
pub use kvm::Accel;
use kvm::{RunResult, Verdict, VmDisk, VmSpec};
use serde::Serialize;

pub use machine::{query_pci, vm_machine};
pub use probes::{parse_line, Done, Line, ProbeResult};

/// What runs in the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Userspace {
    /// No initramfs: the console is all there is.
    None,
    /// The seed's static hello world as /init.
    Hello,
    /// ktailor's probe program as /init.
    Probe,
    /// busybox with proc/sys/dev mounted by a shell script, then the probes.
    Busybox,
}

/// The catalog's userspaces but `disk`, which boots a root file system
/// from a disk image (`ktailor run`, krun) rather than an initramfs.
impl TryFrom<kcatalog::Userspace> for Userspace {
    type Error = BootError;

    fn try_from(u: kcatalog::Userspace) -> Result<Userspace, BootError> {
        Ok(match u {
            kcatalog::Userspace::None => Userspace::None,
            kcatalog::Userspace::Hello => Userspace::Hello,
            kcatalog::Userspace::Probe => Userspace::Probe,
            kcatalog::Userspace::Busybox => Userspace::Busybox,
            kcatalog::Userspace::Disk => {
                return Err(BootError::Unsupported(
                    "this target boots a root file system from a disk image, which ktailor \
                     does not build yet; boot its kernel with ktailor's probes instead \
                     (--userspace probe)"
                        .into(),
                ))
            }
        })
    }
}

impl From<Userspace> for kcatalog::Userspace {
    fn from(u: Userspace) -> kcatalog::Userspace {
        match u {
            Userspace::None => kcatalog::Userspace::None,
            Userspace::Hello => kcatalog::Userspace::Hello,
            Userspace::Probe => kcatalog::Userspace::Probe,
            Userspace::Busybox => kcatalog::Userspace::Busybox,
        }
    }
}

impl std::fmt::Display for Userspace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

impl Userspace {
    pub fn as_str(self) -> &'static str {
        match self {
            Userspace::None => "none",
            Userspace::Hello => "hello",
            Userspace::Probe => "probe",
            Userspace::Busybox => "busybox",
        }
    }

    /// Whether this userspace runs ktailor's probes.
    pub fn runs_probes(self) -> bool {
        matches!(self, Userspace::Probe | Userspace::Busybox)
    }
}

/// Everything one boot needs.
#[derive(Clone, Debug)]
pub struct Plan {
    pub kernel: PathBuf,
    /// The kernel's .config: picks the initramfs compression and explains
    /// failures (no BLK_DEV_INITRD, no serial console).
    pub config: String,
    pub machine: kcatalog::Machine,
    pub userspace: Userspace,
    /// Probes that must pass, in any order.
    pub probes: Vec<String>,
    /// File systems the `filesystems` probe must find.
    pub filesystems: Vec<String>,
    /// Kernel parameters beyond `console=ttyS0` and the probe's own.
    pub cmdline: Vec<String>,
    /// Console text that proves a boot without probes.
    pub expect: Option<String>,
    pub accel: Accel,
    pub timeout: Duration,
    pub idle_timeout: Duration,
    /// Where the initramfs, disk images and serial log go: the directory
    /// itself, or a `run-N` directory in it while other boots use it (see
    /// [`run_dir`]).
    pub workdir: PathBuf,
    /// Disk images to attach instead of the machine's scratch disks.
    pub disks: Vec<PathBuf>,
    /// An initramfs to use instead of the one `userspace` implies.
    pub initrd: Option<PathBuf>,
    /// Files added to ktailor's initramfs (they may replace its own).
    pub files: Vec<kinitramfs::ExtraFile>,
    /// The QEMU binary; also the one the KVM health check of
    /// `Accel::Auto` runs.
    pub qemu: PathBuf,
}

impl Plan {
    pub fn new(
        kernel: PathBuf,
        config: String,
        machine: kcatalog::Machine,
        workdir: PathBuf,
    ) -> Result<Plan, BootError> {
        let userspace = Userspace::try_from(machine.userspace)?;
        Ok(Plan {
            kernel,
            config,
            machine,
            userspace,
            probes: Vec::new(),
            filesystems: Vec::new(),
            cmdline: Vec::new(),
            expect: None,
            accel: Accel::Auto,
            timeout: Duration::from_secs(180),
            idle_timeout: Duration::from_secs(45),
            workdir,
            disks: Vec::new(),
            initrd: None,
            files: Vec::new(),
            qemu: "qemu-system-x86_64".into(),
        })
    }
}

/// Takes a directory for one boot in `workdir`: the workdir itself, or
/// while other boots use it the first free `run-N` in it, locked until the
/// [`RunDir`] is dropped (see [`ksys::RunDir`]: boots sharing a workdir
/// must not clobber each other's serial log, initramfs and disks).
pub fn run_dir(workdir: &Path) -> Result<RunDir, BootError> {
    RunDir::take(workdir).map_err(io_err(format!(
        "cannot take a run directory in {}",
        workdir.display()
    )))
}

/// A boot's result: the run, each probe, and whether the boot proved what
/// it was meant to.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub run: RunResult,
    pub probes: Vec<ProbeResult>,
    pub done: Option<Done>,
    pub expect_seen: bool,
    /// Probe lines that did not parse (a kernel message in the middle).
    pub garbled: Vec<String>,
    /// Why the boot failed; empty when it passed.
    pub failures: Vec<String>,
    /// Likely causes read off the config, for failures.
    pub hints: Vec<String>,
    pub expected: Vec<String>,
    pub expect: Option<String>,
    pub append: String,
    pub initrd: Option<PathBuf>,
}

impl Outcome {
    pub fn ok(&self) -> bool {
        self.failures.is_empty()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BootError {
    #[error("{0}")]
    Unsupported(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot make the ext4 scratch disk {path}: {message}")]
    Mkfs { path: PathBuf, message: String },
    #[error(transparent)]
    Busybox(#[from] kinitramfs::BusyboxError),
    #[error(transparent)]
    Vm(#[from] kvm::VmError),
}

fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BootError {
    let what = what.into();
    move |source| BootError::Io { what, source }
}

/// The file the ext4 scratch disk carries; the `ext4-mount` probe reads it
/// back, so a mount that "worked" on the wrong device cannot pass.
const SCRATCH_FILE: (&str, &str) = ("ktailor-probe.txt", "ktailor");

/// The line the host sends to the guest's listener (the seed's `nc` test).
pub const HELLO: &[u8] = b"ktailor-hello\n";

/// The device name a disk on `interface` gets first in the guest.
pub fn guest_disk(interface: kcatalog::DiskInterface) -> &'static str {
    use kcatalog::DiskInterface::*;
    match interface {
        Ahci | Ide | VirtioScsi => "/dev/sda",
        VirtioBlk => "/dev/vda",
        Nvme => "/dev/nvme0n1",
    }
}

/// Makes an ext4 image holding [`SCRATCH_FILE`] with e2fsprogs' `mke2fs -d`
/// (no root, no loop device). Written beside `path` and renamed into place.
pub fn make_ext4_scratch(path: &Path, size_mb: u32) -> Result<(), BootError> {
    // A unique temporary image (removed on any failure) and a content
    // directory named after it, so two calls for one path cannot mix.
    let tmp = ksys::AtomicFile::new(path).map_err(io_err(format!(
        "cannot create a file beside {}",
        path.display()
    )))?;
    let dir = tmp.path().with_extension("content");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(io_err(format!("cannot create {}", dir.display())))?;
    std::fs::write(dir.join(SCRATCH_FILE.0), SCRATCH_FILE.1)
        .map_err(io_err(format!("cannot write into {}", dir.display())))?;
    let out = Command::new("mke2fs")
        .args([
            "-q",
            "-F",
            "-t",
            "ext4",
            "-L",
            "ktailor",
            "-E",
            "root_owner=0:0",
            "-d",
        ])
        .arg(&dir)
        .arg(tmp.path())
        .arg(format!("{}M", size_mb.max(8)))
        .env("E2FSPROGS_FAKE_TIME", "0")
        .output();
    let _ = std::fs::remove_dir_all(&dir);
    let out = match out {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(BootError::Mkfs {
                path: path.to_path_buf(),
                message: "mke2fs is not installed; install it with: apt-get install -y e2fsprogs"
                    .into(),
            })
        }
        Err(e) => {
            return Err(BootError::Mkfs {
                path: path.to_path_buf(),
                message: e.to_string(),
            })
        }
    };
    if !out.status.success() {
        return Err(BootError::Mkfs {
            path: path.to_path_buf(),
            message: format!(
                "mke2fs {}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    tmp.commit()
        .map_err(io_err(format!("cannot create {}", path.display())))
}

/// `CONFIG_<sym>=y` in the kernel's .config.
fn config_has(config: &str, sym: &str) -> bool {
    kconfig::dotconfig::parse(".config", config).tri(sym) == kconfig::Tri::Y
}

/// The kernel command line: the console, the machine's and caller's extras,
/// then the probe program's settings (the kernel hands unknown `K=V`
/// parameters to init as environment variables).
fn command_line(plan: &Plan, expected: &[String], disk: Option<&str>) -> String {
    // printk.time=1 timestamps every kernel line even without
    // CONFIG_PRINTK_TIME, which is how boot-to-init is read off the log.
    let mut parts: Vec<String> = vec!["console=ttyS0".into(), "printk.time=1".into()];
    for c in &plan.cmdline {
        if !parts.contains(c) {
            parts.push(c.clone());
        }
    }
    if plan.userspace.runs_probes() {
        let mut probes: Vec<&str> = expected.iter().map(String::as_str).collect();
        if probes.is_empty() {
            probes = vec!["console", "initramfs"];
        }
        parts.push(format!("KTPROBES={}", probes.join(",")));
        if let Some(d) = disk {
            parts.push(format!("KTDISK={d}"));
        }
        if !plan.filesystems.is_empty() {
            parts.push(format!("KTFS={}", plan.filesystems.join(",")));
        }
    }
    parts.join(" ")
}

/// Writes the initramfs the plan's userspace needs; `None` for `none`.
fn write_initrd(plan: &Plan) -> Result<Option<PathBuf>, BootError> {
    if !plan.files.is_empty() && (plan.initrd.is_some() || plan.userspace == Userspace::None) {
        return Err(BootError::Unsupported(
            "files can only be added to ktailor's own initramfs: drop --initrd, or use \
             --userspace hello, probe or busybox"
                .into(),
        ));
    }
    if let Some(p) = &plan.initrd {
        return Ok(Some(p.clone()));
    }
    let f = &plan.files;
    let cpio = match plan.userspace {
        Userspace::None => return Ok(None),
        Userspace::Hello => kinitramfs::hello_initramfs(f),
        Userspace::Probe => kinitramfs::probe_initramfs(f),
        Userspace::Busybox => kinitramfs::busybox_initramfs(f)?,
    };
    let c = kinitramfs::compression_for(&plan.config);
    let path = plan.workdir.join(format!(
        "initramfs-{}.{}",
        plan.userspace.as_str(),
        c.extension()
    ));
    let bytes = kinitramfs::compress(&cpio, c);
    ksys::write_atomic(&path, &bytes)
        .map_err(io_err(format!("cannot write {}", path.display())))?;
    Ok(Some(path))
}

/// The disks to attach, and the guest device of the first ext4 scratch disk.
fn prepare_disks(plan: &Plan) -> Result<(Vec<VmDisk>, Option<&'static str>), BootError> {
    let mut disks = Vec::new();
    let mut scratch_dev = None;
    for (i, d) in plan.machine.disks.iter().enumerate() {
        let path = if let Some(p) = plan.disks.get(i) {
            p.clone()
        } else if d.content == kcatalog::DiskContent::Ext4Scratch {
            let p = plan.workdir.join(format!("disk{i}-ext4.img"));
            make_ext4_scratch(&p, d.size_mb)?;
            if scratch_dev.is_none() {
                scratch_dev = Some(guest_disk(d.interface));
            }
            p
        } else {
            return Err(BootError::Unsupported(format!(
                "the machine wants a {:?} disk image, which ktailor does not build yet; \
                 give one with --disk FILE",
                d.content.as_str()
            )));
        };
        disks.push(VmDisk {
            path,
            interface: machine::vm_interface(d.interface),
        });
    }
    Ok((disks, scratch_dev))
}

/// Boots `plan`, passing every console line to `on_line` as it arrives.
///
/// The boot's files go in its own [`RunDir`] of `plan.workdir`, held until
/// it has been judged, so boots sharing a workdir do not clobber each
/// other; [`RunResult::serial_log`] says where its log is.
pub fn boot(plan: &Plan, on_line: &mut dyn FnMut(&str)) -> Result<Outcome, BootError> {
    let run_dir = run_dir(&plan.workdir)?;
    let plan = &Plan {
        workdir: run_dir.path().to_path_buf(),
        ..plan.clone()
    };
    let expected: Vec<String> = if plan.userspace.runs_probes() {
        plan.probes.clone()
    } else {
        Vec::new()
    };
    let initrd = write_initrd(plan)?;
    let (disks, scratch) = prepare_disks(plan)?;
    let append = command_line(plan, &expected, scratch);

    let mut spec = VmSpec::new(
        plan.kernel.clone(),
        vm_machine(&plan.machine),
        plan.workdir.join("serial.log"),
    );
    spec.qemu = plan.qemu.clone();
    spec.initrd = initrd.clone();
    spec.append = append.clone();
    spec.disks = disks;
    spec.accel = plan.accel;
    spec.timeout = plan.timeout;
    spec.idle_timeout = plan.idle_timeout;

    let mut results: Vec<ProbeResult> = Vec::new();
    let mut done = None;
    let mut garbled = Vec::new();
    let mut expect_seen = false;
    let mut send_error: Option<String> = None;
    let stop_on_expect = plan.userspace == Userspace::None;
    let run = kvm::run(&spec, &mut |line, ctl| {
        on_line(line);
        if let Some(e) = &plan.expect {
            if !expect_seen && line.contains(e.as_str()) {
                expect_seen = true;
                if stop_on_expect {
                    ctl.stop();
                }
            }
        }
        match parse_line(line) {
            Some(Line::Probe(p)) => results.push(p),
            Some(Line::Listening(port)) => {
                if let Err(e) = ctl.send_to_guest_port(port, HELLO) {
                    send_error = Some(format!(
                        "could not send to the guest's port {port} through hostfwd: {e}"
                    ));
                }
            }
            Some(Line::Done(d)) => done = Some(d),
            Some(Line::Garbled(g)) => garbled.push(g),
            None => {}
        }
    })?;

    let mut failures = Vec::new();
    judge(
        plan,
        &run,
        &expected,
        &results,
        done.is_some(),
        expect_seen,
        &mut failures,
    );
    if let Some(e) = send_error {
        failures.push(e);
    }
    let hints = if failures.is_empty() {
        Vec::new()
    } else {
        hints(plan, &run, initrd.is_some())
    };
    Ok(Outcome {
        run,
        probes: results,
        done,
        expect_seen,
        garbled,
        failures,
        hints,
        expected,
        expect: plan.expect.clone(),
        append,
        initrd,
    })
}

fn judge(
    plan: &Plan,
    run: &RunResult,
    expected: &[String],
    results: &[ProbeResult],
    done: bool,
    expect_seen: bool,
    failures: &mut Vec<String>,
) {
    let verdict_ok = match &run.verdict {
        Verdict::Exited => true,
        Verdict::Stopped => true,
        // Without userspace the kernel ends in "VFS: Unable to mount root
        // fs": the rung is about the console, and the panic is expected.
        Verdict::Panic { .. } => plan.userspace == Userspace::None,
        Verdict::Hung(_) | Verdict::QemuFailed { .. } => false,
    };
    if !verdict_ok {
        failures.push(run.verdict.to_string());
    }
    if let Some(e) = &plan.expect {
        if !expect_seen {
            failures.push(format!("the console never showed {e:?}"));
        }
    }
    if plan.userspace.runs_probes() {
        if !done && verdict_ok {
            failures.push("the probe program never finished (no KTAILOR-PROBE-DONE line)".into());
        }
        for want in expected {
            match probes::last(results, want) {
                Some(r) if r.passed() => {}
                Some(r) => failures.push(format!("probe {want}: {} ({})", r.status, r.detail)),
                None => failures.push(format!("probe {want}: no result")),
            }
        }
    }
}

/// Likely causes of a failed boot that the config alone shows.
fn hints(plan: &Plan, run: &RunResult, has_initrd: bool) -> Vec<String> {
    let c = &plan.config;
    let mut h = Vec::new();
    if run.lines == 0 && !(config_has(c, "SERIAL_8250_CONSOLE") && config_has(c, "PRINTK")) {
        h.push(
            "the console printed nothing and the config lacks PRINTK or SERIAL_8250_CONSOLE \
             (feature serial-console)"
                .into(),
        );
    }
    if has_initrd && !config_has(c, "BLK_DEV_INITRD") {
        h.push(
            "an initramfs was given but the config lacks BLK_DEV_INITRD, so the kernel ignores \
             it (feature initramfs)"
                .into(),
        );
    }
    let tail = run.tail.join("\n");
    if tail.contains("Unable to mount root fs") && plan.userspace != Userspace::None {
        h.push("no root file system: the initramfs did not unpack or was not given".into());
    }
    if tail.contains("error -8") && !config_has(c, "BINFMT_ELF") {
        h.push(
            "/init is an ELF binary and the config lacks BINFMT_ELF (feature binfmt-elf)".into(),
        );
    }
    h.push(format!(
        "for a diagnosis from the kernel source: ktailor doctor --log {}",
        run.serial_log.display()
    ));
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(userspace: &str) -> Plan {
        let m = kcatalog::Machine {
            userspace: userspace.parse().unwrap(),
            ..kcatalog::Machine::bare(kcatalog::MachineType::Pc)
        };
        Plan::new("k".into(), String::new(), m, "/tmp".into()).unwrap()
    }

    #[test]
    fn command_lines() {
        let mut p = plan("probe");
        p.cmdline = vec!["console=ttyS0".into(), "quiet".into()];
        p.filesystems = vec!["ext4".into(), "proc".into()];
        let a = command_line(&p, &["epoll".into(), "ext4-mount".into()], Some("/dev/vda"));
        assert_eq!(
            a,
            "console=ttyS0 printk.time=1 quiet KTPROBES=epoll,ext4-mount KTDISK=/dev/vda KTFS=ext4,proc"
        );
        let a = command_line(&plan("none"), &[], None);
        assert_eq!(a, "console=ttyS0 printk.time=1");
    }

    #[test]
    fn added_files_land_in_the_initramfs() {
        let d = tempfile::tempdir().unwrap();
        let mut p = plan("probe");
        p.workdir = d.path().to_path_buf();
        p.files = vec![("/etc/mine".into(), b"mine".to_vec(), 0o600)];
        let path = write_initrd(&p).unwrap().unwrap();
        let es = kinitramfs::cpio::read(&std::fs::read(path).unwrap()).unwrap();
        let e = es.iter().find(|e| e.name == "etc/mine").unwrap();
        assert_eq!((e.data.as_slice(), e.perm()), (&b"mine"[..], 0o600));
        assert!(es.iter().any(|e| e.name == "init"));
        // Files cannot go into an initramfs ktailor does not write.
        for mut q in [plan("none"), plan("probe")] {
            q.files = p.files.clone();
            if q.userspace == Userspace::Probe {
                q.initrd = Some("/x.cpio".into());
            }
            let e = write_initrd(&q).unwrap_err().to_string();
            assert!(e.contains("own initramfs"), "{e}");
        }
    }

    #[test]
    fn disk_userspace_is_a_clear_error() {
        let e = Userspace::try_from(kcatalog::Userspace::Disk)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--userspace probe"), "{e}");
        for &u in kcatalog::Userspace::ALL {
            if let Ok(b) = Userspace::try_from(u) {
                assert_eq!(b.as_str(), u.as_str());
                assert_eq!(kcatalog::Userspace::from(b), u);
            }
        }
    }

    #[test]
    #[ignore = "real tier: needs mke2fs and debugfs (scripts/test runs it)"]
    fn scratch_disk_is_ext4_with_the_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("d.img");
        make_ext4_scratch(&p, 16).unwrap();
        let img = std::fs::read(&p).unwrap();
        assert_eq!(img.len(), 16 << 20);
        // ext2/3/4 superblock magic at 1024 + 56.
        assert_eq!(&img[1024 + 56..1024 + 58], &[0x53, 0xef]);
        let out = Command::new("debugfs")
            .args(["-R", "cat /ktailor-probe.txt"])
            .arg(&p)
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "ktailor");
    }

    /// A stand-in for QEMU: writes a line naming itself to the serial log
    /// QEMU would write (`logfile=` of the console chardev) and to the
    /// console, waits, writes another, and exits as a powered-off guest.
    const FAKE_QEMU: &str = r#"#!/bin/sh
for a in "$@"; do
  case "$a" in
    *logfile=*) log=${a#*logfile=}; log=${log%%,*} ;;
  esac
done
echo "boot $$" > "$log"; echo "boot $$"
sleep 1
echo "still $$" >> "$log"; echo "still $$"
"#;

    /// Installs `text` as an executable in `dir`. Copied by install(1), so
    /// no descriptor of ours is open for writing on it when another test
    /// thread forks (exec would then fail with ETXTBSY).
    fn executable(dir: &Path, name: &str, text: &str) -> PathBuf {
        let src = dir.join(format!("{name}.src"));
        std::fs::write(&src, text).unwrap();
        let dst = dir.join(name);
        let ok = Command::new("install")
            .arg("-m755")
            .arg(&src)
            .arg(&dst)
            .status()
            .unwrap()
            .success();
        assert!(ok);
        dst
    }

    #[test]
    fn two_boots_of_one_workdir_do_not_share_files() {
        let d = tempfile::tempdir().unwrap();
        let qemu = executable(d.path(), "fake-qemu", FAKE_QEMU);
        let kernel = d.path().join("bzImage");
        std::fs::write(&kernel, b"not a kernel").unwrap();
        let workdir = d.path().join("boot");
        let mut p = plan("none");
        p.kernel = kernel;
        p.workdir = workdir.clone();
        p.qemu = qemu;
        p.accel = Accel::Tcg;
        p.timeout = Duration::from_secs(60);
        let runs: Vec<_> = (0..2)
            .map(|_| {
                let p = p.clone();
                std::thread::spawn(move || boot(&p, &mut |_| {}).unwrap())
            })
            .collect();
        let outcomes: Vec<Outcome> = runs.into_iter().map(|t| t.join().unwrap()).collect();
        let logs: Vec<&PathBuf> = outcomes.iter().map(|o| &o.run.serial_log).collect();
        assert_ne!(logs[0], logs[1], "both boots wrote {}", logs[0].display());
        for (o, log) in outcomes.iter().zip(&logs) {
            assert!(log.starts_with(&workdir), "{}", log.display());
            // The log holds one QEMU's lines, both of them: the other
            // boot neither truncated it nor wrote into it.
            let text = std::fs::read_to_string(log).unwrap();
            let pid = text.lines().next().unwrap().strip_prefix("boot ").unwrap();
            assert_eq!(
                text,
                format!("boot {pid}\nstill {pid}\n"),
                "{}",
                log.display()
            );
            assert_eq!(o.run.tail, [format!("boot {pid}"), format!("still {pid}")]);
        }
        // Sequential boots reuse the workdir itself.
        let again = boot(&p, &mut |_| {}).unwrap();
        assert_eq!(again.run.serial_log, workdir.join("serial.log"));
    }

    #[test]
    fn concurrent_boots_write_their_initramfs_apart() {
        let d = tempfile::tempdir().unwrap();
        let w = d.path().join("w");
        let (a, b) = (run_dir(&w).unwrap(), run_dir(&w).unwrap());
        let mut pa = plan("probe");
        pa.workdir = a.path().to_path_buf();
        let mut pb = plan("probe");
        pb.workdir = b.path().to_path_buf();
        let ia = write_initrd(&pa).unwrap().unwrap();
        let ib = write_initrd(&pb).unwrap().unwrap();
        assert_ne!(ia, ib);
        assert!(ia.is_file() && ib.is_file());
    }
}
