//! Unified Kernel Images: a kernel, its initramfs, its command line and
//! the OS's os-release in one PE file that UEFI firmware starts as
//! `\EFI\BOOT\BOOTX64.EFI`, through systemd's EFI stub.
//!
//! This is systemd-stub's documented recipe (systemd-stub(7), "Assembling
//! Kernel Images"), for systemd releases without `ukify` (bookworm has
//! 252): `objcopy` adds the sections `.osrel`, `.cmdline`, `.linux` and
//! `.initrd` to the stub, each at a virtual address after the stub's last
//! section and after the one before it, aligned. The stub finds them by
//! name at run time, hands the command line and the initramfs to the
//! kernel and starts it.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{io, run, ImageError};

/// Where Debian's `systemd-boot-efi` puts the x86-64 stub.
pub const SYSTEMD_STUB: &str = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub";
/// The package that carries [`SYSTEMD_STUB`].
pub const STUB_PACKAGE: &str = "systemd-boot-efi";

/// Sections are placed at least this aligned (a page), and more if the
/// stub's own SectionAlignment asks for it.
const MIN_ALIGN: u64 = 4096;

/// One section of a PE file, as `objdump -h` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeSection {
    pub name: String,
    pub size: u64,
    /// Virtual address, ImageBase included (objdump's VMA column).
    pub vma: u64,
    pub file_offset: u64,
}

/// What [`build_uki`] made.
#[derive(Clone, Debug)]
pub struct UkiReport {
    pub output: PathBuf,
    pub bytes: u64,
    /// The added sections, in order, where objcopy put them.
    pub sections: Vec<PeSection>,
    /// The alignment the sections were placed at.
    pub align: u64,
}

/// The sections of a PE file (`objdump -h`).
pub fn pe_sections(file: &Path) -> Result<Vec<PeSection>, ImageError> {
    let text = objdump(file, "-h")?;
    let hex = |s: &str| u64::from_str_radix(s, 16).ok();
    let mut out = Vec::new();
    for l in text.lines() {
        // "  0 .text  0000bff0  0000000000004000  0000000000004000  00000400  2**4"
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() != 7 || f[0].parse::<u32>().is_err() || !f[6].starts_with("2**") {
            continue;
        }
        if let (Some(size), Some(vma), Some(file_offset)) = (hex(f[2]), hex(f[3]), hex(f[5])) {
            out.push(PeSection {
                name: f[1].to_string(),
                size,
                vma,
                file_offset,
            });
        }
    }
    if out.is_empty() {
        return Err(ImageError::Input(format!(
            "{}: objdump -h shows no sections (not a PE file?)",
            file.display()
        )));
    }
    Ok(out)
}

/// ImageBase and SectionAlignment from a PE file's optional header
/// (`objdump -p`).
pub fn pe_base_and_alignment(file: &Path) -> Result<(u64, u64), ImageError> {
    let text = objdump(file, "-p")?;
    let field = |name: &str| {
        text.lines().find_map(|l| {
            let mut f = l.split_whitespace();
            (f.next() == Some(name))
                .then(|| f.next().and_then(|v| u64::from_str_radix(v, 16).ok()))
                .flatten()
        })
    };
    match (field("ImageBase"), field("SectionAlignment")) {
        (Some(base), Some(align)) if align.is_power_of_two() => Ok((base, align)),
        _ => Err(ImageError::Input(format!(
            "{}: objdump -p shows no ImageBase/SectionAlignment (not a PE file?)",
            file.display()
        ))),
    }
}

fn objdump(file: &Path, flag: &str) -> Result<String, ImageError> {
    let o = Command::new("objdump")
        .arg(flag)
        .arg(file)
        .output()
        .map_err(|_| ImageError::MissingTool {
            tool: "objdump".into(),
            package: "binutils".into(),
        })?;
    if !o.status.success() {
        return Err(ImageError::Tool {
            command: format!("objdump {flag} {}", file.display()),
            status: o.status.to_string(),
            stderr: String::from_utf8_lossy(&o.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&o.stdout).into_owned())
}

fn align_up(v: u64, a: u64) -> u64 {
    v.div_ceil(a) * a
}

/// Builds a Unified Kernel Image at `out` from systemd's EFI `stub`, a
/// `kernel` (an EFI-stub bzImage), its `initrd`, the kernel `cmdline` and
/// the `osrel` text (the OS's os-release). Written to a temporary file
/// next to `out` and renamed when complete.
pub fn build_uki(
    stub: &Path,
    kernel: &Path,
    initrd: &Path,
    cmdline: &str,
    osrel: &str,
    out: &Path,
) -> Result<UkiReport, ImageError> {
    if !stub.is_file() {
        return Err(ImageError::Input(format!(
            "the EFI stub {} does not exist; install it with: apt-get install -y {STUB_PACKAGE}",
            stub.display()
        )));
    }
    for f in [kernel, initrd] {
        if !f.is_file() {
            return Err(ImageError::Input(format!("{} does not exist", f.display())));
        }
    }
    let (base, stub_align) = pe_base_and_alignment(stub)?;
    let align = stub_align.max(MIN_ALIGN);
    let end = pe_sections(stub)?
        .iter()
        .map(|s| s.vma + s.size)
        .max()
        .unwrap_or(base);

    let dir = out
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let work = tempfile::Builder::new()
        .prefix(".ktailor-uki-")
        .tempdir_in(dir)
        .map_err(io(format!(
            "cannot create a work directory in {}",
            dir.display()
        )))?;
    let osrel_file = work.path().join("os-release");
    std::fs::write(&osrel_file, osrel).map_err(io("cannot write the .osrel text"))?;
    // The stub hands .cmdline over as is; a trailing newline would end up
    // in the last parameter.
    let cmdline_file = work.path().join("cmdline");
    std::fs::write(&cmdline_file, cmdline.trim()).map_err(io("cannot write the .cmdline text"))?;

    let parts: [(&str, &Path); 4] = [
        (".osrel", &osrel_file),
        (".cmdline", &cmdline_file),
        (".linux", kernel),
        (".initrd", initrd),
    ];
    let tmp = work.path().join("uki.efi");
    let mut cmd = Command::new("objcopy");
    let mut next = end;
    for (name, file) in parts {
        let size = std::fs::metadata(file)
            .map_err(io(format!("cannot read {}", file.display())))?
            .len();
        let vma = base + align_up(next - base, align);
        cmd.arg("--add-section")
            .arg(format!("{name}={}", file.display()))
            .arg("--change-section-vma")
            .arg(format!("{name}={vma:#x}"));
        next = vma + size;
    }
    cmd.arg(stub).arg(&tmp);
    run(&mut cmd).map_err(|e| match e {
        ImageError::Io { .. } => ImageError::MissingTool {
            tool: "objcopy".into(),
            package: "binutils".into(),
        },
        e => e,
    })?;

    let all = pe_sections(&tmp)?;
    let sections: Vec<PeSection> = parts
        .iter()
        .map(|(name, _)| {
            all.iter()
                .find(|s| s.name == *name)
                .cloned()
                .ok_or_else(|| {
                    ImageError::Input(format!("objcopy made a UKI without a {name} section"))
                })
        })
        .collect::<Result<_, _>>()?;
    // The work directory is beside `out`: synced, renamed, directory synced.
    ksys::fs::publish_file(&tmp, out).map_err(io(format!("cannot write {}", out.display())))?;
    let bytes = std::fs::metadata(out)
        .map_err(io(format!("cannot read {}", out.display())))?
        .len();
    Ok(UkiReport {
        output: out.to_path_buf(),
        bytes,
        sections,
        align,
    })
}

/// The `.osrel` text of a root file system tree: its os-release.
pub fn tree_os_release(root: &Path) -> Option<String> {
    ["usr/lib/os-release", "etc/os-release"]
        .iter()
        .find_map(|p| std::fs::read_to_string(root.join(p)).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alignment_rounds_up() {
        assert_eq!(align_up(0x19134, 0x1000), 0x1a000);
        assert_eq!(align_up(0x1a000, 0x1000), 0x1a000);
        assert_eq!(align_up(0, 0x1000), 0);
    }
}
