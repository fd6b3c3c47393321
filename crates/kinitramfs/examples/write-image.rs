//! Writes one of the images to a file, for booting by hand:
//!
//! ```text
//! cargo run -p kinitramfs --example write-image -- probe /tmp/probe.cpio.gz
//! qemu-system-x86_64 -nographic -no-reboot -kernel bzImage \
//!     -initrd /tmp/probe.cpio.gz -append "console=ttyS0 KTPROBES=all"
//! ```
//!
//! A name ending in `.gz` gets gzip; anything else is a plain cpio.

use kinitramfs::{busybox_initramfs, compress, hello_initramfs, probe_initramfs, Compression};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(kind), Some(path)) = (args.first(), args.get(1)) else {
        eprintln!("usage: write-image probe|hello|busybox OUT[.gz]");
        std::process::exit(2);
    };
    let cpio = match kind.as_str() {
        "probe" => probe_initramfs(&[]),
        "hello" => hello_initramfs(&[]),
        "busybox" => match busybox_initramfs(&[]) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("write-image: {e}");
                std::process::exit(1);
            }
        },
        other => {
            eprintln!("write-image: unknown image {other:?} (probe, hello or busybox)");
            std::process::exit(2);
        }
    };
    let c = if path.ends_with(".gz") {
        Compression::Gzip
    } else {
        Compression::None
    };
    if let Err(e) = std::fs::write(path, compress(&cpio, c)) {
        eprintln!("write-image: {path}: {e}");
        std::process::exit(1);
    }
}
