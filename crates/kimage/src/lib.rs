//! Bootable UEFI disk images from a kernel and a root file system tar, with
//! no root-only steps beyond unpacking the tar with its owners: no loop
//! devices, no mounts.
//!
//! The disk is written by Debian's own tools, used on byte ranges of one
//! file: `sfdisk` (GPT, backup header included), `mkfs.vfat --offset` and
//! mtools (the ESP), `mke2fs -d -E offset=` (the ext4 root, filled from a
//! directory). Why tools and not the `gpt`/`fatfs` crates: these are the
//! reference implementations every distribution's image builders use; the
//! ext4 side has no Rust writer at all, so the tools are needed anyway, and
//! one toolset is simpler to check than two.
//!
//! Per image (never cached, never shared): SSH host keys, the authorized
//! key, the identifiers in [`layout::Ids`] except the root PARTUUID, which
//! is fixed per target because the kernel carries it.

pub mod layout;
pub mod sshkey;
mod tree;
pub mod uki;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use serde::{Deserialize, Serialize};

pub use layout::{parse_size, root_partuuid_for, uuid_from, Ids, Layout};
pub use sshkey::parse_public_key;
pub use uki::{build_uki, PeSection, UkiReport};

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("{0}")]
    Input(String),
    #[error(
        "{what} needs {need_h}, but the disk is {disk_h}; give a larger --size",
        need_h = human(*need),
        disk_h = human(*disk)
    )]
    TooSmall { disk: u64, need: u64, what: String },
    #[error("{tool} is missing; install it with: apt-get install -y {package}")]
    MissingTool { tool: String, package: String },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{command} failed ({status}):\n{stderr}")]
    Tool {
        command: String,
        status: String,
        stderr: String,
    },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ImageError {
    let what = what.into();
    move |source| ImageError::Io { what, source }
}

pub fn human(b: u64) -> String {
    if b >= 1 << 30 {
        format!("{:.2} GiB", b as f64 / (1u64 << 30) as f64)
    } else {
        format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64)
    }
}

/// The tools an image needs, and the Debian package of each.
pub const TOOLS: &[(&str, &str)] = &[
    ("sfdisk", "fdisk"),
    ("mkfs.vfat", "dosfstools"),
    ("mmd", "mtools"),
    ("mcopy", "mtools"),
    ("mke2fs", "e2fsprogs"),
    ("ssh-keygen", "openssh-client"),
    ("tar", "tar"),
];

/// Refuses early when a tool is missing, naming its package.
pub fn check_tools() -> Result<(), ImageError> {
    for (tool, package) in TOOLS {
        if find_in_path(tool).is_none() {
            return Err(ImageError::MissingTool {
                tool: tool.to_string(),
                package: package.to_string(),
            });
        }
    }
    Ok(())
}

fn find_in_path(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

/// What to put on the disk.
#[derive(Clone, Debug)]
pub struct ImageSpec {
    /// A kernel with the EFI stub and a built-in command line naming
    /// `root=PARTUUID=<root_partuuid>`.
    pub kernel: PathBuf,
    /// The root file system (`ktailor rootfs`): must have an `admin` user.
    pub rootfs_tar: PathBuf,
    /// authorized_keys lines for `admin` (checked with [`parse_public_key`]).
    pub ssh_keys: Vec<String>,
    pub output: PathBuf,
    pub size: u64,
    pub root_partuuid: String,
}

/// What was made, for people, `--json` and `ktailor run`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ImageReport {
    pub output: PathBuf,
    pub disk_bytes: u64,
    /// Where the ext4 root starts (for `debugfs IMAGE?offset=N`).
    pub root_offset: u64,
    /// Bytes the sparse image really occupies.
    pub allocated_bytes: u64,
    pub root_bytes: u64,
    pub esp_bytes: u64,
    /// Bytes of files in the unpacked root file system.
    pub tree_bytes: u64,
    pub kernel_bytes: u64,
    pub ids: Ids,
    /// The image's SSH host public keys (`ssh-keygen -A`), generated for
    /// this image only: `ktailor run` checks the guest against them.
    pub host_keys: Vec<String>,
    pub seconds: f64,
}

/// Fresh random identifiers, with the given root PARTUUID.
pub fn new_ids(root_partuuid: &str) -> Result<Ids, ImageError> {
    use std::io::Read;
    let mut r = [0u8; 52];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut r))
        .map_err(io("cannot read /dev/urandom"))?;
    let take = |i: usize| {
        let mut b = [0u8; 16];
        b.copy_from_slice(&r[i..i + 16]);
        uuid_from(b)
    };
    Ok(Ids {
        disk_guid: take(0),
        root_partuuid: root_partuuid.to_string(),
        esp_partuuid: take(16),
        root_fs_uuid: take(32),
        esp_volume_id: hex::encode_upper(&r[48..52]),
    })
}

/// Writes the image: everything goes to a temporary file next to the
/// output, renamed over it only when complete, so a failure or a kill never
/// leaves a half-written image under the output's name.
pub fn build(spec: &ImageSpec, progress: &dyn Fn(&str)) -> Result<ImageReport, ImageError> {
    let started = Instant::now();
    check_tools()?;
    let layout = Layout::new(spec.size)?;
    let kernel_bytes = std::fs::metadata(&spec.kernel)
        .map_err(io(format!(
            "cannot read the kernel {}",
            spec.kernel.display()
        )))?
        .len();
    if kernel_bytes + layout::MIB > layout.esp_bytes {
        return Err(ImageError::TooSmall {
            disk: layout.esp_bytes,
            need: kernel_bytes + layout::MIB,
            what: format!("the kernel {}", spec.kernel.display()),
        });
    }
    if spec.ssh_keys.is_empty() {
        return Err(ImageError::Input(
            "no SSH key to authorize: nobody could log in (give --ssh-key)".into(),
        ));
    }
    let dir = spec
        .output
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io(format!("cannot create {}", dir.display())))?;
    remove_stale_work_dirs(dir);
    let work = tempfile::Builder::new()
        .prefix(&format!("{WORK_PREFIX}{}-", std::process::id()))
        .tempdir_in(dir)
        .map_err(io(format!(
            "cannot create a work directory in {}",
            dir.display()
        )))?;
    let ids = new_ids(&spec.root_partuuid)?;

    progress("unpacking the root file system");
    let root = work.path().join("root");
    tree::unpack(&spec.rootfs_tar, &root)?;
    let tree_bytes = tree::size(&root)?;
    // ext4 needs room beyond the files: inode tables, the journal, reserved
    // blocks; a fifth more plus 128 MiB is what mke2fs -d needed in practice.
    let need = tree_bytes + tree_bytes / 5 + 128 * layout::MIB;
    if need > layout.root_bytes {
        return Err(ImageError::TooSmall {
            disk: spec.size,
            need: need + layout.root_offset + layout::MIB,
            what: format!(
                "the root file system ({} of files in {})",
                human(tree_bytes),
                spec.rootfs_tar.display()
            ),
        });
    }
    progress("adding host keys, the authorized key and fstab");
    let host_keys = tree::personalize(&root, &spec.ssh_keys, &ids)?;

    let tmp = work.path().join("disk.raw");
    {
        let f =
            std::fs::File::create(&tmp).map_err(io(format!("cannot create {}", tmp.display())))?;
        f.set_len(layout.disk_bytes)
            .map_err(io(format!("cannot size {}", tmp.display())))?;
    }
    progress("partitioning (GPT)");
    run_with_input(
        Command::new("sfdisk")
            .args(["--quiet", "--no-reread", "--no-tell-kernel"])
            .arg(&tmp),
        layout.sfdisk_script(&ids).as_bytes(),
    )?;
    progress("formatting the ESP and copying the kernel");
    let esp_sector = (layout.esp_offset / layout::SECTOR).to_string();
    run(Command::new("mkfs.vfat")
        .args(["-F", "16", "-n", "ESP", "-i", &ids.esp_volume_id])
        .arg(format!("--offset={esp_sector}"))
        .arg(&tmp)
        .arg((layout.esp_bytes / 1024).to_string()))?;
    let esp = format!("{}@@{}", tmp.display(), layout.esp_offset);
    run(Command::new("mmd").env("MTOOLS_SKIP_CHECK", "1").args([
        "-i",
        &esp,
        "::/EFI",
        "::/EFI/BOOT",
    ]))?;
    run(Command::new("mcopy")
        .env("MTOOLS_SKIP_CHECK", "1")
        .args(["-i", &esp])
        .arg(&spec.kernel)
        .arg("::/EFI/BOOT/BOOTX64.EFI"))?;
    progress("writing the ext4 root");
    run(Command::new("mke2fs")
        .args([
            "-q",
            "-F",
            "-t",
            "ext4",
            "-b",
            "4096",
            "-L",
            "root",
            "-U",
            &ids.root_fs_uuid,
        ])
        .arg("-E")
        .arg(format!("offset={},root_owner=0:0", layout.root_offset))
        .arg("-d")
        .arg(&root)
        .arg(&tmp)
        .arg((layout.root_bytes / 4096).to_string()))?;

    let allocated_bytes = {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(&tmp)
            .map(|m| m.blocks() * 512)
            .unwrap_or(0)
    };
    // Synced, renamed over the output, directory synced: the work
    // directory is beside the output, so on the same file system.
    ksys::fs::publish_file(&tmp, &spec.output).map_err(io(format!(
        "cannot move the image to {}",
        spec.output.display()
    )))?;
    Ok(ImageReport {
        output: spec.output.clone(),
        disk_bytes: layout.disk_bytes,
        root_offset: layout.root_offset,
        allocated_bytes,
        root_bytes: layout.root_bytes,
        esp_bytes: layout.esp_bytes,
        tree_bytes,
        kernel_bytes,
        ids,
        host_keys,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Work directories are named `.ktailor-image-<pid>-XXXXXX` beside the
/// output: a build killed with SIGKILL cannot remove its own, so the next
/// build in that directory removes those whose process is gone.
const WORK_PREFIX: &str = ".ktailor-image-";

fn remove_stale_work_dirs(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(WORK_PREFIX)
            .and_then(|r| r.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory,
/// synced and renamed, so readers see the old file or the new, never a
/// half-written one ([`ksys::write_atomic`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ImageError> {
    ksys::write_atomic(path, bytes).map_err(io(format!("cannot write {}", path.display())))
}

/// The manifest `ktailor image` writes next to an image
/// (`IMAGE.ktailor.json`) for `ktailor run`: what kernel it carries and
/// which host keys the guest must present.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub target: String,
    pub init: String,
    pub kernel_release: String,
    pub kernelversion: String,
    pub arch: String,
    pub cmdline: String,
    pub image: ImageReport,
    /// What was verified of drivers QEMU cannot run (ENA), and how.
    #[serde(default)]
    pub build_checks: Vec<String>,
}

impl Manifest {
    pub fn path_for(image: &Path) -> PathBuf {
        let mut s = image.as_os_str().to_owned();
        s.push(".ktailor.json");
        PathBuf::from(s)
    }

    pub fn load(image: &Path) -> Result<Option<Manifest>, ImageError> {
        let p = Manifest::path_for(image);
        match std::fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b).map(Some).map_err(|e| {
                ImageError::Input(format!(
                    "{}: not a ktailor image manifest ({e})",
                    p.display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ImageError::Io {
                what: format!("cannot read {}", p.display()),
                source: e,
            }),
        }
    }

    pub fn save(&self, image: &Path) -> Result<(), ImageError> {
        let text = serde_json::to_vec_pretty(self).map_err(|e| ImageError::Input(e.to_string()))?;
        write_atomic(&Manifest::path_for(image), &text)
    }
}

/// Copies the kernel out of an image's ESP (for direct `-kernel` boots of
/// the same disk).
pub fn extract_kernel(image: &Path, out: &Path) -> Result<(), ImageError> {
    let esp = format!("{}@@{}", image.display(), layout::MIB);
    // Through a temporary file: a run booting `out` while another run
    // extracts it must not read half a kernel.
    let tmp = ksys::AtomicFile::new(out)
        .map_err(io(format!("cannot create a file beside {}", out.display())))?;
    run(Command::new("mcopy")
        .env("MTOOLS_SKIP_CHECK", "1")
        .args(["-o", "-i", &esp, "::/EFI/BOOT/BOOTX64.EFI"])
        .arg(tmp.path()))?;
    tmp.commit()
        .map_err(io(format!("cannot write {}", out.display())))
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

fn run(cmd: &mut Command) -> Result<(), ImageError> {
    run_with_input(cmd, b"")
}

fn run_with_input(cmd: &mut Command, input: &[u8]) -> Result<(), ImageError> {
    let what = describe(cmd);
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(io(format!("cannot run {what}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input)
            .map_err(io(format!("cannot feed {what}")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(io(format!("cannot run {what}")))?;
    if out.status.success() {
        Ok(())
    } else {
        let mut stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        stderr.push_str(&String::from_utf8_lossy(&out.stdout));
        Err(ImageError::Tool {
            command: what,
            status: out.status.to_string(),
            stderr: stderr.trim().to_string(),
        })
    }
}

/// The release (`uname -r`) a bzImage carries in its setup header: the
/// boot protocol's `kernel_version` field points at the version string
/// (Documentation/arch/x86/boot.rst), so no build directory is needed.
pub fn kernel_release(bzimage: &Path) -> Result<String, ImageError> {
    use std::io::Read;
    let mut head = vec![0u8; 0x10000];
    let n = std::fs::File::open(bzimage)
        .and_then(|mut f| f.read(&mut head))
        .map_err(io(format!("cannot read {}", bzimage.display())))?;
    head.truncate(n);
    let not = || {
        ImageError::Input(format!(
            "{} is not an x86 bzImage (no setup header with a version string)",
            bzimage.display()
        ))
    };
    if head.get(0x202..0x206) != Some(b"HdrS") {
        return Err(not());
    }
    let off = u16::from_le_bytes([head[0x20E], head[0x20F]]) as usize;
    let start = 0x200 + off;
    let text = head.get(start..).ok_or_else(not)?;
    let end = text
        .iter()
        .position(|&b| b == 0 || b == b' ')
        .ok_or_else(not)?;
    let v = std::str::from_utf8(&text[..end]).map_err(|_| not())?;
    if off == 0 || v.is_empty() {
        return Err(not());
    }
    Ok(v.to_string())
}
