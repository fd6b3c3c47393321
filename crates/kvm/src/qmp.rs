//! What PCI devices a target's machine has, asked of QEMU itself.
//!
//! The seed's author read `info qtree` and guessed which drivers that
//! meant. Here QEMU starts the target's machine (board, NICs, disks) paused
//! before the first instruction (`-S`, no kernel, no firmware run), and its
//! QMP socket answers `query-pci`: every function on every bus, behind
//! every bridge, with vendor, device, class and subsystem IDs. Then `quit`.
//! QEMU runs in its own process group and is killed on every way out (see
//! `ksys::process`), so no query leaves a QEMU behind.

use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use crate::cmdline::{self, AccelUsed, Resolved};
use crate::{io_err, DiskInterface, Firmware, Machine, VmDisk, VmError, VmSpec};
use ksys::process::{spawn_group, GroupChild, GroupOptions};

/// How long QEMU may take to create its QMP socket, and to answer one
/// command. Starting a paused machine takes well under a second; the
/// margin is for loaded machines.
const START_TIMEOUT: Duration = Duration::from_secs(60);
const REPLY_TIMEOUT: Duration = Duration::from_secs(60);
/// Size of the empty disk images standing in for the target's disks (the
/// contents do not matter to the PCI topology).
const DISK_BYTES: u64 = 1 << 20;

/// One PCI function, as `query-pci` reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PciFunction {
    pub bus: u32,
    pub slot: u32,
    pub function: u32,
    pub vendor: u32,
    pub device: u32,
    /// Base class and subclass (`0x0200`, Ethernet); QMP does not report
    /// the programming interface.
    pub class: u32,
    /// QEMU's name for the class (`Ethernet controller`).
    pub class_desc: Option<String>,
    pub subsystem_vendor: Option<u32>,
    pub subsystem: Option<u32>,
    /// The `-device id=`, empty for built-in devices.
    pub qdev_id: String,
    /// For a bridge: the bus behind it.
    pub secondary_bus: Option<u32>,
    /// The bridges between the root bus and this function (`00:1e.0`).
    pub behind: Vec<String>,
}

impl PciFunction {
    /// `bb:ss.f`, as lspci prints it.
    pub fn addr(&self) -> String {
        format!("{:02x}:{:02x}.{}", self.bus, self.slot, self.function)
    }

    /// One line in the style of `lspci -nn`, with the subsystem.
    pub fn line(&self) -> String {
        let mut s = format!(
            "{} {} [{:04x}]: {:04x}:{:04x}",
            self.addr(),
            self.class_desc.as_deref().unwrap_or("Class"),
            self.class,
            self.vendor,
            self.device
        );
        if let (Some(v), Some(d)) = (self.subsystem_vendor, self.subsystem) {
            s.push_str(&format!(" (sub {v:04x}:{d:04x})"));
        }
        if !self.behind.is_empty() {
            s.push_str(&format!(" behind {}", self.behind.join(" > ")));
        }
        s
    }
}

/// The answer to [`query_pci`].
#[derive(Clone, Debug, Serialize)]
pub struct PciQuery {
    pub devices: Vec<PciFunction>,
    /// QEMU's version from the QMP greeting.
    pub qemu_version: Option<String>,
    /// The QEMU binary and its arguments.
    pub qemu: PathBuf,
    pub qemu_args: Vec<String>,
    pub duration: Duration,
}

/// Starts `machine` paused in `qemu` (a qemu-system-x86_64) with its NICs
/// and an empty disk on each of `disks`, lists its PCI functions over QMP,
/// and quits it.
///
/// The firmware is not run, so a UEFI machine is queried as BIOS: the
/// pflash devices it adds are not PCI functions.
pub fn query_pci(
    qemu: &Path,
    machine: &Machine,
    disks: &[DiskInterface],
) -> Result<PciQuery, VmError> {
    let started = Instant::now();
    let work = tempfile::Builder::new()
        .prefix("ktailor-qmp-")
        .tempdir()
        .map_err(io_err("cannot create a temporary directory"))?;
    let mut m = machine.clone();
    m.firmware = Firmware::Bios;
    // The arguments a boot would use, so the query sees the same devices:
    // board, memory, NICs and disks wired exactly the same way.
    let mut spec = VmSpec::new(
        work.path().join("no-kernel"),
        m,
        work.path().join("serial.log"),
    );
    spec.qemu = qemu.to_path_buf();
    spec.forward_ports.clear();
    for (i, &interface) in disks.iter().enumerate() {
        let path = work.path().join(format!("disk{i}.img"));
        let f = std::fs::File::create(&path)
            .map_err(io_err(format!("cannot create {}", path.display())))?;
        f.set_len(DISK_BYTES)
            .map_err(io_err(format!("cannot size {}", path.display())))?;
        spec.disks.push(VmDisk { path, interface });
    }
    let pidfile = work.path().join("qemu.pid");
    let full = cmdline::qemu_args(
        &spec,
        &Resolved {
            accel: AccelUsed::Tcg,
            forwards: &[],
            ovmf_vars: None,
            pidfile: &pidfile,
        },
    )?;
    let socket = work.path().join("qmp.sock");
    let mut args = without_boot_args(&full);
    args.extend([
        "-S".to_string(),
        "-qmp".to_string(),
        format!("unix:{},server=on,wait=off", cmdline::escape(&socket)?),
    ]);

    let mut cmd = Command::new(qemu);
    cmd.args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let opts = GroupOptions::default().scratch(work.path().to_path_buf());
    let mut vm = spawn_group(&mut cmd, &opts).map_err(|e| {
        let what = if e.kind() == io::ErrorKind::NotFound {
            format!(
                "cannot run {}; install it with: apt-get install -y qemu-system-x86",
                qemu.display()
            )
        } else {
            format!("cannot run {}", qemu.display())
        };
        VmError::Io { what, source: e }
    })?;
    let stderr = vm
        .child_mut()
        .stderr
        .take()
        .map(crate::spawn_stderr_collector);
    let died = |vm: &mut GroupChild, status: String| {
        let _ = vm.kill();
        let bytes = stderr.and_then(|h| h.join().ok()).unwrap_or_default();
        qmp_error(format!(
            "QEMU could not start machine {:?} ({status}): {}",
            machine.machine.as_str(),
            String::from_utf8_lossy(&bytes).trim()
        ))
    };
    let talk = match connect(&mut vm, &socket) {
        Ok(stream) => converse(stream),
        Err(Start::Died(status)) => return Err(died(&mut vm, status)),
        Err(Start::Failed(e)) => Err(e),
    };
    let (qemu_version, devices) = match talk {
        Ok(r) => r,
        // QEMU opens the socket before it creates devices, so a bad
        // device shows up as a dropped connection: say why QEMU died.
        Err(e) => match ended(&mut vm, Duration::from_secs(5)) {
            Some(status) => return Err(died(&mut vm, status)),
            None => return Err(e),
        },
    };
    if ended(&mut vm, Duration::from_secs(5)).is_none() {
        let _ = vm.kill();
    }
    Ok(PciQuery {
        devices,
        qemu_version,
        qemu: qemu.to_path_buf(),
        qemu_args: args,
        duration: started.elapsed(),
    })
}

/// The boot arguments minus what only a boot needs: the kernel, initramfs
/// and command line.
fn without_boot_args(args: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len());
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if matches!(a.as_str(), "-kernel" | "-initrd" | "-append") {
            it.next();
            continue;
        }
        out.push(a.clone());
    }
    out
}

fn qmp_error(msg: String) -> VmError {
    VmError::Io {
        what: "QMP".into(),
        source: io::Error::other(msg),
    }
}

/// The QMP conversation: greeting, capabilities, `query-pci`, `quit`.
/// Returns QEMU's version and the PCI functions.
fn converse(stream: UnixStream) -> Result<(Option<String>, Vec<PciFunction>), VmError> {
    let mut qmp = Qmp::new(stream)?;
    let greeting = qmp.read_message()?;
    let version = greeting.pointer("/QMP/version/qemu").map(|v| {
        let n = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
        format!("{}.{}.{}", n("major"), n("minor"), n("micro"))
    });
    qmp.execute("qmp_capabilities")?;
    let buses = qmp.execute("query-pci")?;
    let devices = parse_query_pci(&buses)?;
    // A polite quit; the caller kills the group if QEMU lingers.
    let _ = qmp.execute("quit");
    Ok((version, devices))
}

enum Start {
    /// QEMU exited (with this status) before listening.
    Died(String),
    Failed(VmError),
}

/// Waits for QEMU to listen on the socket, or to die trying.
fn connect(vm: &mut GroupChild, socket: &Path) -> Result<UnixStream, Start> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Ok(s) = UnixStream::connect(socket) {
            return Ok(s);
        }
        match vm.try_wait() {
            Ok(Some(status)) => return Err(Start::Died(status.to_string())),
            Ok(None) => {}
            Err(e) => {
                return Err(Start::Failed(VmError::Io {
                    what: "cannot wait for QEMU".into(),
                    source: e,
                }))
            }
        }
        if Instant::now() >= deadline {
            return Err(Start::Failed(qmp_error(format!(
                "QEMU did not open its QMP socket {} within {} s",
                socket.display(),
                START_TIMEOUT.as_secs()
            ))));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// How QEMU ended, if it ends within `wait` (it is then reaped). A QEMU
/// reaped earlier (while waiting for its socket) has ended too.
fn ended(vm: &mut GroupChild, wait: Duration) -> Option<String> {
    match vm.wait_timeout(wait) {
        Ok(Some(s)) => Some(s.to_string()),
        Ok(None) => None,
        Err(_) => Some("exited".into()),
    }
}

/// A QMP connection: one JSON object per line each way.
struct Qmp {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Qmp {
    fn new(stream: UnixStream) -> Result<Qmp, VmError> {
        stream
            .set_read_timeout(Some(REPLY_TIMEOUT))
            .map_err(io_err("cannot set a QMP read timeout"))?;
        let writer = stream
            .try_clone()
            .map_err(io_err("cannot duplicate the QMP socket"))?;
        Ok(Qmp {
            reader: BufReader::new(stream),
            writer,
        })
    }

    fn read_message(&mut self) -> Result<Value, VmError> {
        let mut line = String::new();
        let n = self
            .reader
            .read_line(&mut line)
            .map_err(io_err("cannot read from QMP"))?;
        if n == 0 {
            return Err(qmp_error("QEMU closed the QMP connection".into()));
        }
        serde_json::from_str(&line).map_err(|e| {
            qmp_error(format!(
                "QEMU sent something that is not JSON ({e}): {line}"
            ))
        })
    }

    /// Runs a command and returns its `return` value, skipping events.
    fn execute(&mut self, command: &str) -> Result<Value, VmError> {
        let msg = serde_json::json!({ "execute": command });
        writeln!(self.writer, "{msg}").map_err(io_err(format!("cannot send {command} to QMP")))?;
        loop {
            let v = self.read_message()?;
            if let Some(r) = v.get("return") {
                return Ok(r.clone());
            }
            if let Some(e) = v.get("error") {
                return Err(qmp_error(format!(
                    "{command} failed: {}",
                    e.get("desc")
                        .and_then(Value::as_str)
                        .unwrap_or("no reason given")
                )));
            }
            // An event ({"event": ...}); the reply is still to come.
        }
    }
}

/// Flattens `query-pci`'s answer (buses, devices, bridges with their own
/// device lists) into functions, recording the bridges above each.
pub fn parse_query_pci(v: &Value) -> Result<Vec<PciFunction>, VmError> {
    let buses = v
        .as_array()
        .ok_or_else(|| qmp_error(format!("query-pci returned {v}, not a list of buses")))?;
    let mut out = Vec::new();
    for b in buses {
        walk_devices(b.get("devices"), &[], &mut out)?;
    }
    Ok(out)
}

fn walk_devices(
    devices: Option<&Value>,
    behind: &[String],
    out: &mut Vec<PciFunction>,
) -> Result<(), VmError> {
    let Some(devices) = devices.and_then(Value::as_array) else {
        return Ok(());
    };
    for d in devices {
        let num = |p: &str| d.pointer(p).and_then(Value::as_u64).map(|n| n as u32);
        let need =
            |p: &str| num(p).ok_or_else(|| qmp_error(format!("query-pci device without {p}: {d}")));
        let f = PciFunction {
            bus: need("/bus")?,
            slot: need("/slot")?,
            function: need("/function")?,
            vendor: need("/id/vendor")?,
            device: need("/id/device")?,
            class: need("/class_info/class")?,
            class_desc: d
                .pointer("/class_info/desc")
                .and_then(Value::as_str)
                .map(str::to_string),
            subsystem_vendor: num("/id/subsystem-vendor"),
            subsystem: num("/id/subsystem"),
            qdev_id: d
                .get("qdev_id")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            secondary_bus: num("/pci_bridge/bus/secondary"),
            behind: behind.to_vec(),
        };
        let addr = f.addr();
        out.push(f);
        if let Some(br) = d.get("pci_bridge") {
            let mut path = behind.to_vec();
            path.push(addr);
            walk_devices(br.get("devices"), &path, out)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_pci_answers_flatten_with_bridges() {
        let v: Value = serde_json::from_str(
            r#"[{"bus":0,"devices":[
                {"bus":0,"slot":0,"function":0,"class_info":{"desc":"Host bridge","class":1536},
                 "id":{"device":10688,"vendor":32902,"subsystem":4352,"subsystem-vendor":6900},
                 "qdev_id":"","regions":[]},
                {"bus":0,"slot":30,"function":0,"class_info":{"class":1540},
                 "id":{"device":9294,"vendor":32902},"qdev_id":"br",
                 "pci_bridge":{"bus":{"number":1,"secondary":1,"subordinate":1},
                   "devices":[{"bus":1,"slot":1,"function":0,"class_info":{"desc":"Ethernet controller","class":512},
                     "id":{"device":4096,"vendor":6900,"subsystem":1,"subsystem-vendor":6900},"qdev_id":"n0"}]}}
            ]}]"#,
        )
        .unwrap();
        let d = parse_query_pci(&v).unwrap();
        assert_eq!(d.len(), 3);
        assert_eq!(
            (d[0].vendor, d[0].device, d[0].class),
            (0x8086, 0x29c0, 0x0600)
        );
        assert_eq!(d[1].secondary_bus, Some(1));
        assert_eq!(d[2].behind, vec!["00:1e.0".to_string()]);
        assert_eq!(
            d[2].line(),
            "01:01.0 Ethernet controller [0200]: 1af4:1000 (sub 1af4:0001) behind 00:1e.0"
        );
        assert!(parse_query_pci(&serde_json::json!({"bus": 0})).is_err());
        let bad = serde_json::json!([{"devices": [{"bus": 0}]}]);
        assert!(parse_query_pci(&bad).is_err());
    }

    #[test]
    fn boot_only_arguments_are_dropped() {
        let a: Vec<String> = [
            "-m", "256M", "-kernel", "/k", "-append", "x y", "-initrd", "/i", "-S",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(without_boot_args(&a), vec!["-m", "256M", "-S"]);
    }
}
