//! The process `signals_do_not_orphan_qemu` signals: it boots a silent
//! kernel under TCG with generous timeouts and waits to be killed, so the
//! test can check that SIGTERM, SIGINT and SIGKILL leave no QEMU behind.
//! Usage: signal_child BZIMAGE SERIAL_LOG

use std::path::PathBuf;
use std::time::Duration;

use kvm::{run, Accel, VmSpec};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(kernel), Some(log)) = (args.first(), args.get(1)) else {
        eprintln!("usage: signal_child BZIMAGE SERIAL_LOG");
        std::process::exit(2);
    };
    let machine = kvm::Machine::new(kvm::MachineType::Pc);
    let mut spec = VmSpec::new(PathBuf::from(kernel), machine, PathBuf::from(log));
    spec.append = "console=ttyS0 printk.time=1".into();
    spec.accel = Accel::Tcg;
    spec.timeout = Duration::from_secs(600);
    spec.idle_timeout = Duration::from_secs(600);
    let _ = run(&spec, &mut |_, _| {});
}
