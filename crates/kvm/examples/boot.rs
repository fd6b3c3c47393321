//! Boots a kernel once and prints the verdict: a manual check of what the
//! tests automate.
//!
//! `cargo run -p kvm --example boot -- BZIMAGE [INITRD] [pc|q35|microvm] [auto|kvm|tcg]`

use std::path::PathBuf;
use std::time::Duration;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(kernel) = args.first() else {
        eprintln!("usage: boot BZIMAGE [INITRD|-] [pc|q35|microvm] [auto|kvm|tcg]");
        std::process::exit(2);
    };
    let machine = kvm::Machine::new(match args.get(2).map(String::as_str) {
        Some("q35") => kvm::MachineType::Q35,
        Some("microvm") => kvm::MachineType::Microvm,
        _ => kvm::MachineType::Pc,
    });
    let dir = std::env::temp_dir().join(format!("ktailor-boot-{}", std::process::id()));
    let mut spec = kvm::VmSpec::new(kernel.into(), machine, dir.join("serial.log"));
    spec.initrd = args.get(1).filter(|s| *s != "-").map(PathBuf::from);
    spec.append = "console=ttyS0 printk.time=1".into();
    spec.accel = match args.get(3).map(String::as_str) {
        Some("kvm") => kvm::Accel::Kvm,
        Some("tcg") => kvm::Accel::Tcg,
        _ => kvm::Accel::Auto,
    };
    spec.idle_timeout = Duration::from_secs(20);
    match kvm::run(&spec, &mut |line, _| println!("{line}")) {
        Ok(r) => {
            println!("\nqemu-system-x86_64 {}", r.qemu_args.join(" "));
            println!("{r}");
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
