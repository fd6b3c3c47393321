//! Initramfs images for ktailor's boot tests.
//!
//! Three kinds of userspace, one per rung of the seed's ladder:
//!
//! - [`hello_initramfs`]: the seed's "hello world" `/init` (a 230-byte static
//!   ELF, see [`elf::hello_elf`]).
//! - [`probe_initramfs`]: the probe program ([`PROBE`], crates/kprobe built
//!   fully static) as `/init`, checking one kernel feature per probe.
//! - [`busybox_initramfs`]: Debian's static busybox with its applet links and
//!   a `/bin/sh` init script, which runs the probe program as a child.
//!
//! Archives are newc cpio written by [`cpio::Builder`], byte-for-byte
//! reproducible, optionally gzip-compressed ([`compress`]) when the kernel
//! config says it can unpack gzip ([`compression_for`]).

pub mod cpio;
pub mod elf;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

pub use cpio::{Builder, CpioError, Entry, Kind};
use thiserror::Error;

/// The probe program (`ktailor-probe`), a static x86_64 executable.
///
/// Built by this crate's build.rs with a nested `cargo build` of
/// crates/kprobe for `x86_64-unknown-linux-gnu` with
/// `-C target-feature=+crt-static` (glibc's libc.a), so the initramfs needs
/// no loader or shared libraries.
pub const PROBE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/ktailor-probe"));

/// The `#!` script the probe's `script` probe executes: the kernel runs
/// `/init --script-child /ktailor-script`, and the probe, seeing that
/// argument, exits 42. It needs BINFMT_SCRIPT and nothing else.
pub const PROBE_SCRIPT: &str = "#!/init --script-child\n";

/// An extra file for an image: path, content, permission bits.
pub type ExtraFile = (String, Vec<u8>, u32);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
}

impl Compression {
    /// File name suffix for an image compressed this way.
    pub fn extension(self) -> &'static str {
        match self {
            Compression::None => "cpio",
            Compression::Gzip => "cpio.gz",
        }
    }
}

/// The compression a kernel built from `config_text` (a .config) can unpack.
///
/// Gzip when `CONFIG_RD_GZIP=y` (the seed's choice), otherwise none: an
/// uncompressed cpio unpacks with BLK_DEV_INITRD alone, whatever other
/// `RD_*` decompressors are or are not built in, so it is the safe fallback.
pub fn compression_for(config_text: &str) -> Compression {
    let config = kconfig::dotconfig::parse(".config", config_text);
    if config.tri("RD_GZIP") == kconfig::Tri::Y {
        Compression::Gzip
    } else {
        Compression::None
    }
}

/// Compresses a cpio archive. Gzip output is reproducible: flate2 writes
/// mtime 0, no file name, and a fixed OS byte.
pub fn compress(cpio: &[u8], c: Compression) -> Vec<u8> {
    match c {
        Compression::None => cpio.to_vec(),
        Compression::Gzip => {
            let mut enc = flate2::GzBuilder::new().mtime(0).write(
                Vec::with_capacity(cpio.len() / 2),
                flate2::Compression::best(),
            );
            // Writing into a Vec cannot fail; keep the API infallible.
            let _ = enc.write_all(cpio);
            enc.finish().unwrap_or_default()
        }
    }
}

/// The skeleton every image shares: the directories init mounts on and the
/// two device nodes the kernel needs before any devtmpfs exists
/// (/dev/console for init's stdio; /dev/null because Rust's runtime opens
/// it when fds 0-2 are closed).
fn skeleton() -> Builder {
    Builder::new()
        .dir("/dev", 0o755)
        .char_dev("/dev/console", 0o600, 5, 1)
        .char_dev("/dev/null", 0o666, 1, 3)
        .dir("/proc", 0o555)
        .dir("/sys", 0o555)
        .dir("/tmp", 0o1777)
        .dir("/mnt", 0o755)
        .dir("/root", 0o700)
}

fn add_extra(mut b: Builder, extra: &[ExtraFile]) -> Builder {
    for (path, bytes, mode) in extra {
        b.add(path, Kind::File(bytes.clone()), *mode);
    }
    b
}

/// The probe program as `/init`, `/ktailor-script` for the `script` probe,
/// the skeleton, then `extra` (which may override any of them). Extra paths
/// that cannot be stored (empty, NUL, under a file) are left out; build with
/// [`Builder`] directly to get them as errors.
pub fn probe_initramfs(extra: &[ExtraFile]) -> Vec<u8> {
    let b = skeleton()
        .file("/init", PROBE, 0o755)
        .file("/ktailor-script", PROBE_SCRIPT, 0o755);
    add_extra(b, extra).finish()
}

/// The seed's hello-world step: `/init` prints "hello world" and, being
/// init, reboots (which ends QEMU under `-no-reboot`). Needs only
/// BLK_DEV_INITRD, BINFMT_ELF, 64BIT and a console.
pub fn hello_initramfs(extra: &[ExtraFile]) -> Vec<u8> {
    add_extra(skeleton().file("/init", elf::hello_elf(), 0o755), extra).finish()
}

/// Checks files a user named for an image: each must be stored as given, so
/// a path that cannot be (empty, NUL, under one of the image's own files)
/// is an error naming it rather than a file silently missing in the guest.
pub fn check_extra(extra: &[ExtraFile]) -> Result<(), CpioError> {
    let b = skeleton()
        .file("/init", Vec::new(), 0o755)
        .file("/ktailor-probe", Vec::new(), 0o755)
        .file("/ktailor-script", Vec::new(), 0o755)
        .file("/bin/busybox", Vec::new(), 0o755);
    add_extra(b, extra).try_finish().map(drop)
}

#[derive(Debug, Error)]
pub enum BusyboxError {
    #[error(
        "busybox-static is not installed (no static busybox found); install it with: \
         apt-get install -y busybox-static"
    )]
    NotInstalled,
    #[error("{0}: not a static busybox ({1}); install Debian's busybox-static: apt-get install -y busybox-static")]
    NotStatic(PathBuf, &'static str),
    #[error("reading {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("running {0} --list-full: {1}")]
    List(PathBuf, String),
    #[error("building the archive: {0}")]
    Cpio(#[from] CpioError),
}

/// Where Debian's busybox-static put its binary: asks dpkg first (the
/// package owns exactly one `.../bin/busybox`), then the usual paths, and
/// accepts only a static x86_64 ELF (the dynamic `busybox` package would
/// need a loader the initramfs does not have).
pub fn find_busybox() -> Result<PathBuf, BusyboxError> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Ok(out) = Command::new("dpkg").args(["-L", "busybox-static"]).output() {
        if out.status.success() {
            for l in String::from_utf8_lossy(&out.stdout).lines() {
                if l.ends_with("/bin/busybox") {
                    candidates.push(PathBuf::from(l));
                }
            }
        }
    }
    candidates.extend(["/bin/busybox", "/usr/bin/busybox"].map(PathBuf::from));
    for c in candidates {
        if let Ok(bytes) = std::fs::read(&c) {
            if matches!(elf::inspect(&bytes), Some(i) if !i.dynamic && i.is_64 && i.machine == 62) {
                return Ok(c);
            }
        }
    }
    Err(BusyboxError::NotInstalled)
}

/// The busybox image's `/init`: the seed's init script, then the probes.
///
/// The mounts are the seed's (and print the seed's errors when a file system
/// is missing); the probe program runs as a child of the shell with
/// KTPOWEROFF=1 so that it ends the machine itself. `reboot -f` afterwards
/// is the fallback when the probe could not run at all (no BINFMT_ELF for
/// it, say): -f skips init's shutdown sequence, since this script is init.
pub const BUSYBOX_INIT: &str = r#"#!/bin/sh
# ktailor busybox init (the seed's busybox step, then the probe program).
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
echo "ktailor busybox init: $(/bin/busybox uname -sr), running /ktailor-probe"
KTPOWEROFF=1 /ktailor-probe
echo "ktailor busybox init: /ktailor-probe exited with $?"
/bin/busybox sync
/bin/busybox reboot -f
/bin/busybox poweroff -f
while :; do /bin/busybox sleep 3600; done
"#;

/// In the busybox image the probe is `/ktailor-probe` and `/init` is the
/// shell script, so the `script` probe's interpreter must be the probe
/// itself: `#!/init` would start a second copy of init.
pub const BUSYBOX_PROBE_SCRIPT: &str = "#!/ktailor-probe --script-child\n";

/// Debian's static busybox with its applet links, [`BUSYBOX_INIT`] as
/// `/init`, the probe program as `/ktailor-probe`, then `extra`.
pub fn busybox_initramfs(extra: &[ExtraFile]) -> Result<Vec<u8>, BusyboxError> {
    busybox_initramfs_from(&find_busybox()?, extra)
}

/// [`busybox_initramfs`] with an explicit busybox binary.
pub fn busybox_initramfs_from(
    busybox: &Path,
    extra: &[ExtraFile],
) -> Result<Vec<u8>, BusyboxError> {
    let bin = std::fs::read(busybox).map_err(|e| BusyboxError::Read(busybox.to_path_buf(), e))?;
    match elf::inspect(&bin) {
        None => {
            return Err(BusyboxError::NotStatic(
                busybox.to_path_buf(),
                "not an ELF file",
            ))
        }
        Some(i) if i.dynamic => {
            return Err(BusyboxError::NotStatic(
                busybox.to_path_buf(),
                "dynamically linked",
            ))
        }
        Some(i) if !i.is_64 || i.machine != 62 => {
            return Err(BusyboxError::NotStatic(busybox.to_path_buf(), "not x86_64"))
        }
        Some(_) => {}
    }
    let out = Command::new(busybox)
        .arg("--list-full")
        .output()
        .map_err(|e| BusyboxError::List(busybox.to_path_buf(), e.to_string()))?;
    if !out.status.success() {
        return Err(BusyboxError::List(
            busybox.to_path_buf(),
            format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        ));
    }
    let mut b = skeleton().file("/bin/busybox", bin, 0o755);
    for applet in String::from_utf8_lossy(&out.stdout).lines() {
        let applet = applet.trim();
        if applet.is_empty() || applet == "bin/busybox" {
            continue;
        }
        b.add(applet, Kind::Symlink("/bin/busybox".into()), 0o777);
    }
    let b = b
        .file("/init", BUSYBOX_INIT, 0o755)
        .file("/ktailor-probe", PROBE, 0o755)
        .file("/ktailor-script", BUSYBOX_PROBE_SCRIPT, 0o755);
    Ok(add_extra(b, extra).try_finish()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compression_choice() {
        assert_eq!(
            compression_for("CONFIG_BLK_DEV_INITRD=y\nCONFIG_RD_GZIP=y\n"),
            Compression::Gzip
        );
        assert_eq!(
            compression_for("CONFIG_BLK_DEV_INITRD=y\n"),
            Compression::None
        );
        assert_eq!(
            compression_for("# CONFIG_RD_GZIP is not set\nCONFIG_RD_XZ=y\n"),
            Compression::None
        );
        assert_eq!(compression_for("CONFIG_RD_GZIP=m\n"), Compression::None);
        // conf does not read a line with leading blanks, so neither do we.
        assert_eq!(compression_for("  CONFIG_RD_GZIP=y\r\n"), Compression::None);
        assert_eq!(compression_for("CONFIG_RD_GZIP=y\r\n"), Compression::Gzip);
        assert_eq!(compression_for(""), Compression::None);
        assert_eq!(Compression::Gzip.extension(), "cpio.gz");
    }

    #[test]
    fn user_files_that_cannot_be_stored_are_errors() {
        let ok = |p: &str| (p.to_string(), b"x".to_vec(), 0o644);
        assert!(check_extra(&[ok("/etc/motd"), ok("init")]).is_ok());
        for (bad, want) in [
            ("", "names the root"),
            ("/", "names the root"),
            ("/init/x", "\"init\""),
            ("/a\0b", "NUL"),
        ] {
            let e = check_extra(&[ok(bad)]).unwrap_err().to_string();
            assert!(e.contains(want), "{bad:?}: {e}");
        }
    }

    #[test]
    fn gzip_is_reproducible_and_round_trips() {
        use std::io::Read;
        let data = probe_initramfs(&[]);
        let a = compress(&data, Compression::Gzip);
        let b = compress(&data, Compression::Gzip);
        assert_eq!(a, b);
        assert_eq!(&a[..4], &[0x1f, 0x8b, 8, 0]);
        assert_eq!(&a[4..8], &[0, 0, 0, 0], "mtime 0");
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&a[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);
        assert_eq!(compress(&data, Compression::None), data);
    }
}
