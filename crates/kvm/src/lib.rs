//! Booting kernels in QEMU and judging what happened.
//!
//! ktailor proves a config by booting it, and most boots of a kernel being
//! trimmed fail: they panic, go silent, or never start. A run therefore ends
//! in a [`Verdict`] rather than an error, and errors are kept for runs that
//! could not be attempted (bad spec, missing files). The serial console is
//! the only channel: it is streamed line by line to a callback that can
//! answer the guest (type on the console, connect to a forwarded port) or end
//! the run, and is saved whole to a log.
//!
//! KVM is used when it works. Under nested virtualisation `/dev/kvm` can
//! exist while guests hang or abort, so [`Accel::Auto`] asks [`kvm_usable`],
//! which boots firmware for real, before trusting it.

mod cmdline;
mod console;
mod control;
mod health;
mod qmp;

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use cmdline::{AccelUsed, MachineType};
pub use console::BootTime;
pub use control::{Control, HostForward};
pub use health::{kvm_usable, kvm_usable_with};
pub use qmp::{parse_query_pci, query_pci, PciFunction, PciQuery};

use ksys::process::{spawn_group, GroupChild, GroupOptions};

/// Kills every QEMU this process started and has not reaped yet, and
/// removes their scratch directories.
///
/// QEMU runs through [`ksys::process`], so this is
/// [`ksys::process::kill_all`]: it stops every process group ksys started
/// (a `make` or an `mmdebstrap` too). `run` installs a SIGINT/SIGTERM/SIGHUP
/// handler that calls it; a program that installs its own handler must do
/// so before its first `run` and call this from it.
pub fn kill_all_vms() {
    ksys::process::kill_all();
}

/// How to run the guest's CPU.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Accel {
    /// KVM when [`kvm_usable_with`] says it works with the run's QEMU
    /// binary, else TCG.
    #[default]
    Auto,
    Kvm,
    Tcg,
}

/// The firmware a machine boots.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Firmware {
    /// SeaBIOS, QEMU's default.
    Bios,
    /// OVMF; the kernel then needs `CONFIG_EFI_STUB` to be loaded.
    Uefi,
}

impl Firmware {
    pub fn as_str(self) -> &'static str {
        match self {
            Firmware::Bios => "bios",
            Firmware::Uefi => "uefi",
        }
    }
}

/// How a disk is attached to the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DiskInterface {
    /// SATA: q35's built-in ICH9 AHCI, or an added `ahci` controller on pc.
    Ahci,
    /// PIIX IDE on pc; the same SATA ports as `Ahci` on q35.
    Ide,
    /// virtio-blk-pci, or virtio-blk-device on microvm.
    VirtioBlk,
    Nvme,
    /// A scsi-hd on one virtio-scsi-pci controller.
    VirtioScsi,
}

impl DiskInterface {
    pub fn as_str(self) -> &'static str {
        match self {
            DiskInterface::Ahci => "ahci",
            DiskInterface::Ide => "ide",
            DiskInterface::VirtioBlk => "virtio-blk",
            DiskInterface::Nvme => "nvme",
            DiskInterface::VirtioScsi => "virtio-scsi",
        }
    }
}

/// A network card, on QEMU's user-mode network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nic {
    /// QEMU's device model (`e1000`, `virtio-net-pci`, ...); a virtio
    /// model becomes virtio-net-device on microvm.
    pub model: String,
    /// Forward host ports to [`VmSpec::forward_ports`] on the guest.
    pub hostfwd: bool,
}

/// The machine QEMU starts: board, memory, CPUs, firmware and NICs. The
/// console is always the first serial port; disks are [`VmSpec::disks`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Machine {
    pub machine: MachineType,
    pub memory_mb: u32,
    pub cpus: u32,
    pub firmware: Firmware,
    pub nics: Vec<Nic>,
}

impl Machine {
    /// `machine` with 256 MiB, one CPU, BIOS and no NIC.
    pub fn new(machine: MachineType) -> Machine {
        Machine {
            machine,
            memory_mb: 256,
            cpus: 1,
            firmware: Firmware::Bios,
            nics: Vec::new(),
        }
    }
}

/// OVMF's code and variable store templates.
#[derive(Clone, Debug)]
pub struct Ovmf {
    pub code: PathBuf,
    /// Copied for each run: the guest writes its variables, and runs must
    /// not see each other's.
    pub vars: PathBuf,
}

impl Default for Ovmf {
    fn default() -> Self {
        Ovmf {
            code: "/usr/share/OVMF/OVMF_CODE_4M.fd".into(),
            vars: "/usr/share/OVMF/OVMF_VARS_4M.fd".into(),
        }
    }
}

/// A disk image attached to the guest.
#[derive(Clone, Debug)]
pub struct VmDisk {
    /// A raw or qcow2 image (told apart by its first bytes).
    pub path: PathBuf,
    pub interface: DiskInterface,
}

/// One QEMU run.
#[derive(Clone, Debug)]
pub struct VmSpec {
    /// The QEMU binary; only x86 machines are supported.
    pub qemu: PathBuf,
    pub kernel: PathBuf,
    pub initrd: Option<PathBuf>,
    pub append: String,
    /// Board, memory, CPUs, firmware and NICs.
    pub machine: Machine,
    pub disks: Vec<VmDisk>,
    pub accel: Accel,
    /// Longest the whole run may take.
    pub timeout: Duration,
    /// Longest the console may stay silent before the guest counts as hung.
    pub idle_timeout: Duration,
    /// Where QEMU writes every byte of the serial console (raw, CRLF line
    /// ends). Its path also names the run in `ps`, which is how tests find
    /// leftover QEMUs.
    pub serial_log: PathBuf,
    /// Guest TCP ports forwarded from free host ports on each NIC with
    /// `hostfwd` (the seed's `hostfwd=tcp::5555-:22`).
    pub forward_ports: Vec<u16>,
    pub ovmf: Ovmf,
    /// Appended to QEMU's arguments as they are.
    pub extra_args: Vec<String>,
    /// Boot what the firmware finds on the disks (a UEFI loader on an ESP)
    /// instead of `-kernel`: `kernel`, `initrd` and `append` are then
    /// unused, as on a real machine booting its own disk.
    pub firmware_boot: bool,
    /// Extra options for the first NIC's user-mode network
    /// (`net=169.254.0.0/16`, `guestfwd=...`): how the EC2 simulator puts
    /// its metadata service where EC2 has it.
    pub user_net: Vec<String>,
    /// Set from any thread to end the run (verdict `Stopped`): for work
    /// that runs beside the console, such as SSH checks, which has no
    /// console line to stop on.
    pub stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

impl VmSpec {
    /// A spec with the defaults ktailor boots with: serial console on
    /// ttyS0 with printk timestamps, `Accel::Auto`, two minutes in all and 30
    /// seconds of silence at most, port 22 forwarded.
    pub fn new(kernel: PathBuf, machine: Machine, serial_log: PathBuf) -> VmSpec {
        VmSpec {
            qemu: "qemu-system-x86_64".into(),
            kernel,
            initrd: None,
            append: "console=ttyS0".into(),
            machine,
            disks: Vec::new(),
            accel: Accel::Auto,
            timeout: Duration::from_secs(120),
            idle_timeout: Duration::from_secs(30),
            serial_log,
            forward_ports: vec![22],
            ovmf: Ovmf::default(),
            extra_args: Vec::new(),
            firmware_boot: false,
            user_net: Vec::new(),
            stop: None,
        }
    }
}

/// Why a guest was judged hung.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hang {
    /// The console said nothing for this long.
    Silent(Duration),
    /// The whole run exceeded `VmSpec::timeout` while output still came.
    Timeout(Duration),
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// `Kernel panic - not syncing: <message>`.
    Panic {
        message: String,
    },
    Hung(Hang),
    /// QEMU exited by itself with status 0: the guest rebooted or powered
    /// off, which `-no-reboot` turns into an exit. A triple fault resets the
    /// machine and ends up here too; the log tail tells them apart.
    Exited,
    /// QEMU refused to start or died: bad arguments, missing firmware,
    /// unusable accelerator.
    QemuFailed {
        status: String,
        stderr: String,
    },
    /// The callback called [`Control::stop`].
    Stopped,
}

/// What a run produced.
#[derive(Clone, Debug)]
pub struct RunResult {
    pub verdict: Verdict,
    /// `None` when init never visibly ran (e.g. a panic right after the
    /// kernel's `Run /sbin/init` attempts).
    pub boot: Option<BootTime>,
    pub accel: AccelUsed,
    /// QEMU's arguments, without the program name.
    pub qemu_args: Vec<String>,
    pub forwards: Vec<HostForward>,
    /// The last console lines, for a report.
    pub tail: Vec<String>,
    pub lines: usize,
    pub duration: Duration,
    pub serial_log: PathBuf,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Panic { message } => write!(f, "kernel panic: {message}"),
            Verdict::Hung(Hang::Silent(d)) => {
                write!(f, "hung: no console output for {}s", d.as_secs())
            }
            Verdict::Hung(Hang::Timeout(d)) => write!(f, "timed out after {}s", d.as_secs()),
            Verdict::Exited => write!(f, "guest shut down"),
            Verdict::QemuFailed { status, stderr } => {
                write!(f, "QEMU failed ({status}): {}", stderr.trim())
            }
            Verdict::Stopped => write!(f, "stopped"),
        }
    }
}

impl fmt::Display for RunResult {
    /// The verdict, boot time, and for failures the console's last lines.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}, {:.1}s)",
            self.verdict,
            self.accel.as_str(),
            self.duration.as_secs_f64()
        )?;
        if let Some(b) = &self.boot {
            if let Some(k) = b.kernel {
                write!(f, "; init after {:.3}s (kernel clock)", k.as_secs_f64())?;
            }
            if let Some(h) = b.host {
                write!(
                    f,
                    "; init output after {:.3}s (host clock)",
                    h.as_secs_f64()
                )?;
            }
        }
        if !matches!(self.verdict, Verdict::Exited | Verdict::Stopped) {
            writeln!(f)?;
            if self.tail.is_empty() {
                writeln!(f, "  (the console printed nothing)")?;
            }
            for l in &self.tail {
                writeln!(f, "  | {l}")?;
            }
            write!(f, "  serial log: {}", self.serial_log.display())?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum VmError {
    #[error("invalid VM spec: {0}")]
    Invalid(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error("{path} is missing: {advice}")]
    Missing { path: PathBuf, advice: String },
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> VmError {
    let what = what.into();
    move |source| VmError::Io { what, source }
}

/// Console lines a report quotes.
const TAIL_LINES: usize = 40;
/// After a panic the backtrace follows; wait this long for it at most.
const PANIC_GRACE: Duration = Duration::from_secs(3);
/// Stderr kept for a `QemuFailed` verdict.
const STDERR_LIMIT: usize = 16 * 1024;
/// Runs retried when QEMU cannot bind a host port another process took
/// between our probe and QEMU's bind.
const PORT_RETRIES: usize = 3;
/// How long the KVM health check may take when `Accel::Auto` runs it: ten
/// times what SeaBIOS needs under working KVM, a fraction of what it needs
/// where KVM is too slow to boot a kernel.
const KVM_CHECK: Duration = Duration::from_secs(3);
/// How often a run with [`VmSpec::stop`] looks at the flag.
const STOP_POLL: Duration = Duration::from_millis(200);

/// Boots `spec` and streams the console to `on_line` until the run ends.
///
/// `on_line` gets each complete line without its line end and without
/// terminal control sequences; a prompt with no newline after it is not
/// delivered until the line completes (the raw log has everything).
///
/// Returns `Err` only when the run could not be attempted; everything the
/// guest or QEMU did is in the verdict. QEMU is killed, with its process
/// group, before this returns, whichever way it returns.
pub fn run(
    spec: &VmSpec,
    on_line: &mut dyn FnMut(&str, &mut Control),
) -> Result<RunResult, VmError> {
    check_files(spec)?;
    let accel = match spec.accel {
        Accel::Kvm => AccelUsed::Kvm,
        Accel::Tcg => AccelUsed::Tcg,
        // The QEMU this run will start, not the default one: a QEMU given
        // with --qemu may not do KVM where the default does, or the reverse.
        Accel::Auto if kvm_usable_with(&spec.qemu, KVM_CHECK) => AccelUsed::Kvm,
        Accel::Auto => AccelUsed::Tcg,
    };
    let mut attempt = 0;
    loop {
        attempt += 1;
        let r = run_once(spec, accel, on_line)?;
        let port_taken = matches!(&r.verdict, Verdict::QemuFailed { stderr, .. }
            if stderr.contains("host forwarding rule"));
        if !(port_taken && !r.forwards.is_empty() && attempt < PORT_RETRIES && r.lines == 0) {
            return Ok(r);
        }
    }
}

fn check_files(spec: &VmSpec) -> Result<(), VmError> {
    let need = |p: &Path, what: &str| {
        if p.is_file() {
            Ok(())
        } else {
            Err(VmError::Missing {
                path: p.to_path_buf(),
                advice: format!("the {what} to boot must be a file"),
            })
        }
    };
    if !spec.firmware_boot {
        need(&spec.kernel, "kernel")?;
        if let Some(i) = &spec.initrd {
            need(i, "initramfs")?;
        }
    }
    for d in &spec.disks {
        need(&d.path, "disk image")?;
    }
    if spec.machine.firmware == Firmware::Uefi {
        for p in [&spec.ovmf.code, &spec.ovmf.vars] {
            if !p.is_file() {
                return Err(VmError::Missing {
                    path: p.clone(),
                    advice: "UEFI boots need OVMF; install it with: apt-get install -y ovmf".into(),
                });
            }
        }
    }
    Ok(())
}

/// Free host ports for the forwards. Another process may take one before
/// QEMU binds it; `run` retries when that happens.
fn pick_forwards(spec: &VmSpec) -> Result<Vec<HostForward>, VmError> {
    let mut out = Vec::new();
    let mut held = Vec::new();
    for (nic, n) in spec.machine.nics.iter().enumerate() {
        if !n.hostfwd {
            continue;
        }
        for &guest_port in &spec.forward_ports {
            let l =
                TcpListener::bind("127.0.0.1:0").map_err(io_err("cannot find a free host port"))?;
            let host_port = l
                .local_addr()
                .map_err(io_err("cannot find a free host port"))?
                .port();
            // Held until all are picked, so they differ.
            held.push(l);
            out.push(HostForward {
                nic,
                guest_port,
                host_port,
            });
        }
    }
    Ok(out)
}

enum Event {
    Line(String),
    Eof,
}

/// Lines longer than this are cut: a guest spewing bytes with no newline
/// must not grow our memory without bound.
const MAX_LINE: usize = 16 * 1024;

fn spawn_line_reader(pipe: impl Read + Send + 'static, tx: mpsc::Sender<Event>) {
    std::thread::spawn(move || {
        let mut r = BufReader::new(pipe);
        let mut line = Vec::new();
        loop {
            let chunk = match r.fill_buf() {
                Ok([]) | Err(_) => break,
                Ok(c) => c,
            };
            let (take, complete) = match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (chunk.len(), false),
            };
            let room = MAX_LINE.saturating_sub(line.len());
            line.extend_from_slice(&chunk[..take.min(room)]);
            r.consume(take);
            if complete || line.len() >= MAX_LINE {
                let text = console::strip_control(&String::from_utf8_lossy(&line));
                line.clear();
                if tx.send(Event::Line(text)).is_err() {
                    return;
                }
            }
        }
        let _ = tx.send(Event::Eof);
    });
}

/// Collects QEMU's stderr until it closes, which happens when QEMU is gone.
fn spawn_stderr_collector(pipe: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut pipe = pipe;
        let mut out = Vec::new();
        let mut chunk = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut chunk) {
            if n == 0 {
                break;
            }
            let room = STDERR_LIMIT.saturating_sub(out.len());
            out.extend_from_slice(&chunk[..n.min(room)]);
        }
        out
    })
}

fn run_once(
    spec: &VmSpec,
    accel: AccelUsed,
    on_line: &mut dyn FnMut(&str, &mut Control),
) -> Result<RunResult, VmError> {
    let work = tempfile::Builder::new()
        .prefix("ktailor-vm-")
        .tempdir()
        .map_err(io_err("cannot create a temporary directory"))?;
    let vars = if spec.machine.firmware == Firmware::Uefi {
        let copy = work.path().join("OVMF_VARS.fd");
        std::fs::copy(&spec.ovmf.vars, &copy)
            .map_err(io_err(format!("cannot copy {}", spec.ovmf.vars.display())))?;
        Some(copy)
    } else {
        None
    };
    let pidfile = work.path().join("qemu.pid");
    let forwards = pick_forwards(spec)?;
    let args = cmdline::qemu_args(
        spec,
        &cmdline::Resolved {
            accel,
            forwards: &forwards,
            ovmf_vars: vars.as_deref(),
            pidfile: &pidfile,
        },
    )?;
    if let Some(dir) = spec
        .serial_log
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir).map_err(io_err(format!("cannot create {}", dir.display())))?;
    }

    let mut cmd = Command::new(&spec.qemu);
    cmd.args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let opts = GroupOptions::default().scratch(work.path().to_path_buf());
    let mut vm = spawn_group(&mut cmd, &opts).map_err(|e| {
        let what = if e.kind() == io::ErrorKind::NotFound {
            format!(
                "cannot run {}; install it with: apt-get install -y qemu-system-x86",
                spec.qemu.display()
            )
        } else {
            format!("cannot run {}", spec.qemu.display())
        };
        VmError::Io { what, source: e }
    })?;
    let (tx, rx) = mpsc::channel();
    let child = vm.child_mut();
    let mut stdin = child.stdin.take();
    if let Some(out) = child.stdout.take() {
        spawn_line_reader(out, tx);
    }
    let stderr = child.stderr.take().map(spawn_stderr_collector);

    let mut tail: VecDeque<String> = VecDeque::with_capacity(TAIL_LINES);
    let mut boot = console::BootTracker::default();
    let mut lines = 0usize;
    let mut last_output = Instant::now();
    let mut panic: Option<(String, Instant)> = None;
    let mut control = Control {
        stdin: stdin.as_mut(),
        forwards: &forwards,
        started,
        stop: false,
    };
    let mut exited: Option<io::Result<ExitStatus>> = None;
    let verdict = loop {
        let now = Instant::now();
        let overall = started + spec.timeout;
        let silent = last_output + spec.idle_timeout;
        let mut deadline = overall.min(silent);
        if let Some((_, at)) = &panic {
            deadline = deadline.min(*at + PANIC_GRACE);
        }
        let stop_requested = || {
            spec.stop
                .as_ref()
                .is_some_and(|f| f.load(std::sync::atomic::Ordering::SeqCst))
        };
        if spec.stop.is_some() {
            if stop_requested() && panic.is_none() {
                break Verdict::Stopped;
            }
            deadline = deadline.min(now + STOP_POLL);
        }
        let event = rx.recv_timeout(deadline.saturating_duration_since(now));
        match event {
            Ok(Event::Line(line)) => {
                lines += 1;
                last_output = Instant::now();
                boot.line(&line, started.elapsed());
                if panic.is_none() {
                    if let Some(m) = console::panic_message(&line) {
                        panic = Some((m, Instant::now()));
                    }
                }
                let ended = line.contains(console::PANIC_END);
                if tail.len() == TAIL_LINES {
                    tail.pop_front();
                }
                tail.push_back(line);
                if let Some(l) = tail.back() {
                    on_line(l, &mut control);
                }
                if control.stop && panic.is_none() {
                    break Verdict::Stopped;
                }
                if ended || control.stop {
                    if let Some((message, _)) = panic.take() {
                        break Verdict::Panic { message };
                    }
                }
            }
            Ok(Event::Eof) | Err(RecvTimeoutError::Disconnected) => {
                exited = Some(wait_briefly(&mut vm));
                break match (panic.take(), &exited) {
                    (Some((message, _)), _) => Verdict::Panic { message },
                    (None, Some(Ok(s))) if s.success() => Verdict::Exited,
                    (None, Some(Ok(s))) => Verdict::QemuFailed {
                        status: s.to_string(),
                        stderr: String::new(),
                    },
                    (None, _) => Verdict::QemuFailed {
                        status: "unknown exit status".into(),
                        stderr: String::new(),
                    },
                };
            }
            Err(RecvTimeoutError::Timeout) => {
                let now = Instant::now();
                if spec.stop.is_some()
                    && now < overall.min(last_output + spec.idle_timeout)
                    && panic.as_ref().is_none_or(|(_, at)| now < *at + PANIC_GRACE)
                {
                    // Only the stop flag's poll interval ran out.
                    continue;
                }
                if let Some((message, _)) = panic.take() {
                    break Verdict::Panic { message };
                }
                break if now >= overall {
                    Verdict::Hung(Hang::Timeout(spec.timeout))
                } else {
                    Verdict::Hung(Hang::Silent(spec.idle_timeout))
                };
            }
        }
    };
    drop(stdin);
    if exited.is_none() {
        let _ = vm.kill();
    }
    // QEMU is gone, so its stderr has closed and the collector is done.
    let stderr = stderr.and_then(|h| h.join().ok()).unwrap_or_default();
    let verdict = match verdict {
        Verdict::QemuFailed { status, .. } => Verdict::QemuFailed {
            status,
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        },
        v => v,
    };
    // "Run /sbin/init" followed by a panic means init never ran.
    let boot = match verdict {
        Verdict::Panic { .. } if !boot.init_spoke() => None,
        _ => boot.result(),
    };
    Ok(RunResult {
        verdict,
        boot,
        accel,
        qemu_args: args,
        forwards,
        tail: tail.into(),
        lines,
        duration: started.elapsed(),
        serial_log: spec.serial_log.clone(),
    })
}

/// QEMU closed its console; give it a moment to exit, then make sure.
fn wait_briefly(vm: &mut GroupChild) -> io::Result<ExitStatus> {
    match vm.wait_timeout(Duration::from_secs(5))? {
        Some(s) => Ok(s),
        None => vm.kill(),
    }
}
