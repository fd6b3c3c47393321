//! `ktailor bench image`: the `ec2-nitro` image against Debian's own cloud
//! kernel, in the same run, on the same machine.
//!
//! One root file system serves both: the sysvinit tree plus
//! `linux-image-cloud-amd64` and `initramfs-tools`, whose postinst makes
//! `/boot/initrd.img-*` inside mmdebstrap. Image (a) boots Debian's kernel
//! and that initramfs as a Unified Kernel Image (systemd's EFI stub, see
//! [`kimage::uki`]); image (b) is what `ktailor image --target ec2-nitro`
//! makes of the same tar (its kernel ignores /boot). Both are
//! `\EFI\BOOT\BOOTX64.EFI` on the ESP, started by the same OVMF from the
//! same NVMe disk on the EC2 simulator, and checked by the same `krun`
//! checks; the runs alternate (a, b, a, b, ...) so load on the host falls
//! on both. Reported: boot to login (firmware included), kernel
//! (+initramfs) bytes, MemAvailable once the checks are done, the image's
//! allocated bytes, and Debian/ktailor ratios.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::fmt::mib;
use crate::image;
use crate::keys::{keygen, pub_path};
use crate::session::TreeSpec;
use crate::{Event, Events};

/// Debian's cloud kernel (bookworm: 6.1) and what builds its initramfs.
const DEBIAN_PACKAGES: &[&str] = &["linux-image-cloud-amd64", "initramfs-tools"];

/// The goals: Debian's time to login over ours, and Debian's kernel +
/// initramfs bytes over our kernel's.
const GOAL_FASTER: f64 = 2.0;
const GOAL_SMALLER: f64 = 5.0;

/// The comparison as the user asks for it.
#[derive(Clone, Debug)]
pub struct BenchImageRequest {
    /// The ktailor target to compare.
    pub target: String,
    /// Boots per image; medians are reported.
    pub runs: usize,
    pub accel: kboot::Accel,
    pub memory: u32,
    pub cpus: u32,
    /// Longest one boot + checks may take.
    pub timeout: Duration,
    /// Disk size of both images.
    pub size: String,
    /// Images, keys, serial logs (default: `<cache>/bench/image`).
    pub workdir: Option<PathBuf>,
    /// Keep the two disk images after the runs.
    pub keep_images: bool,
    pub tree: TreeSpec,
    pub out: Option<PathBuf>,
    pub jobs: usize,
    /// `ktailor imds-relay`, for the EC2 simulator.
    pub relay: Vec<String>,
}

#[derive(Serialize)]
pub struct RunSample {
    /// QEMU start (firmware included) to the first SSH login.
    boot_to_login_seconds: Option<f64>,
    /// QEMU start to the kernel's first console line (`Linux version`):
    /// firmware, the EFI stub, decompression.
    kernel_seconds: Option<f64>,
    /// QEMU start to sysvinit's first line (`INIT: version`): the kernel,
    /// and Debian's initramfs, done.
    init_seconds: Option<f64>,
    /// The kernel's first line to init's: the kernel (+ initramfs) alone.
    kernel_to_init_seconds: Option<f64>,
    mem_available_kib: Option<u64>,
    mem_total_kib: Option<u64>,
    checks_passed: usize,
    checks_total: usize,
    /// `name: evidence` of every check that failed.
    failed: Vec<String>,
    accel: String,
    serial_log: PathBuf,
}

#[derive(Serialize)]
pub struct Side {
    name: String,
    kernel_release: String,
    /// The kernel (Debian's vmlinuz; ktailor's bzImage).
    kernel_bytes: u64,
    /// The initramfs (0: none).
    initramfs_bytes: u64,
    /// What the firmware starts: the UKI, or the bzImage itself.
    boot_file_bytes: u64,
    cmdline: String,
    image: PathBuf,
    image_disk_bytes: u64,
    image_allocated_bytes: u64,
    image_build_seconds: f64,
    runs: Vec<RunSample>,
    median_boot_to_login_seconds: Option<f64>,
    median_kernel_seconds: Option<f64>,
    median_init_seconds: Option<f64>,
    median_kernel_to_init_seconds: Option<f64>,
    median_mem_available_kib: Option<u64>,
    median_mem_total_kib: Option<u64>,
    all_checks_passed: bool,
}

impl Side {
    fn kernel_initramfs_bytes(&self) -> u64 {
        self.kernel_bytes + self.initramfs_bytes
    }
}

/// Debian over ktailor, per metric.
#[derive(Serialize)]
pub struct Ratios {
    boot_to_login: Option<f64>,
    /// The kernel's first console line to init's.
    kernel_to_init: Option<f64>,
    kernel_initramfs_bytes: f64,
    mem_available: Option<f64>,
    image_allocated_bytes: f64,
}

#[derive(Serialize)]
pub struct Goals {
    faster_to_login: f64,
    faster_met: bool,
    smaller: f64,
    smaller_met: bool,
    met: bool,
}

#[derive(Serialize)]
pub struct BenchImageReport {
    machine: String,
    accel: String,
    memory_mb: u32,
    cpus: u32,
    runs: usize,
    host_cpus: usize,
    load_before: String,
    load_after: String,
    rootfs_tar: PathBuf,
    rootfs_key: String,
    debian: Side,
    ktailor: Side,
    ratios: Ratios,
    goals: Goals,
}

/// Debian's kernel, its initramfs and os-release, copied out of the tar.
struct DebianBoot {
    release: String,
    vmlinuz: PathBuf,
    initrd: PathBuf,
    osrel: String,
}

fn extract_debian_boot(tar: &Path, dir: &Path) -> Result<DebianBoot> {
    let list = Command::new("tar")
        .arg("-tf")
        .arg(tar)
        .stdin(Stdio::null())
        .output()
        .context("cannot run tar")?;
    anyhow::ensure!(list.status.success(), "tar -tf {} failed", tar.display());
    let names: Vec<String> = String::from_utf8_lossy(&list.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    let find = |prefix: &str| -> Vec<&String> {
        names
            .iter()
            .filter(|n| n.trim_start_matches("./").starts_with(prefix))
            .collect()
    };
    let kernels = find("boot/vmlinuz-");
    let [vmlinuz] = kernels[..] else {
        bail!(
            "{}: expected one /boot/vmlinuz-* (Debian's cloud kernel), found {}",
            tar.display(),
            kernels.len()
        );
    };
    let release = vmlinuz
        .trim_start_matches("./")
        .trim_start_matches("boot/vmlinuz-")
        .to_string();
    let initrd = names
        .iter()
        .find(|n| n.trim_start_matches("./") == format!("boot/initrd.img-{release}"))
        .with_context(|| {
            format!(
                "{}: no /boot/initrd.img-{release}: the kernel's postinst did not run \
                 update-initramfs in mmdebstrap (is initramfs-tools in the tree?)",
                tar.display()
            )
        })?;
    let osrel = find("usr/lib/os-release");
    let osrel = osrel
        .first()
        .with_context(|| format!("{}: no /usr/lib/os-release", tar.display()))?;
    let out = dir.join("debian-boot");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out)?;
    let st = Command::new("tar")
        .arg("-xf")
        .arg(tar)
        .arg("-C")
        .arg(&out)
        .args([vmlinuz.as_str(), initrd.as_str(), osrel.as_str()])
        .stdin(Stdio::null())
        .status()
        .context("cannot run tar")?;
    anyhow::ensure!(st.success(), "cannot extract /boot from {}", tar.display());
    let osrel = std::fs::read_to_string(out.join("usr/lib/os-release"))?;
    Ok(DebianBoot {
        vmlinuz: out.join(format!("boot/vmlinuz-{release}")),
        initrd: out.join(format!("boot/initrd.img-{release}")),
        release,
        osrel,
    })
}

fn median_f(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

fn median_u(v: Vec<u64>) -> Option<u64> {
    median_f(v.into_iter().map(|x| x as f64).collect()).map(|x| x.round() as u64)
}

/// `MemTotal:  1012345 kB` lines of /proc/meminfo.
fn meminfo_kib(text: &str, field: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(field)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

struct Boot<'a> {
    args: &'a BenchImageRequest,
    key: &'a Path,
    imds_key: &'a Path,
    imds_pub: &'a str,
    ev: Events<'a>,
}

impl Boot<'_> {
    fn once(&self, image: &Path, workdir: PathBuf) -> Result<RunSample> {
        let spec = krun::RunSpec {
            image: image.to_path_buf(),
            machine: krun::MachineKind::Ec2Sim,
            ssh_key: self.key.to_path_buf(),
            imds_keys: vec![self.imds_pub.to_string()],
            imds_login_key: Some(self.imds_key.to_path_buf()),
            accel: self.args.accel,
            relay: self.args.relay.clone(),
            keep_running: false,
            timeout: self.args.timeout,
            workdir,
            memory_mb: self.args.memory,
            cpus: self.args.cpus,
            extra_commands: vec![(
                "meminfo".into(),
                "grep -E '^(MemTotal|MemAvailable):' /proc/meminfo".into(),
            )],
            console_marks: vec![
                ("kernel".into(), "Linux version".into()),
                ("init".into(), "INIT: version".into()),
            ],
        };
        let ev = self.ev;
        let rep = krun::run(&spec, &|m| ev(Event::Note(&format!("bench: {m}"))))?;
        let meminfo = rep
            .extra
            .iter()
            .find(|e| e.name == "meminfo" && e.ok)
            .map(|e| e.stdout.clone())
            .unwrap_or_default();
        let mark = |name: &str| {
            rep.console_marks
                .iter()
                .find(|m| m.name == name)
                .and_then(|m| m.seconds)
        };
        let s = RunSample {
            boot_to_login_seconds: rep.boot_to_login_seconds,
            kernel_seconds: mark("kernel"),
            init_seconds: mark("init"),
            kernel_to_init_seconds: match (mark("kernel"), mark("init")) {
                (Some(k), Some(i)) => Some(i - k),
                _ => None,
            },
            mem_available_kib: meminfo_kib(&meminfo, "MemAvailable"),
            mem_total_kib: meminfo_kib(&meminfo, "MemTotal"),
            checks_passed: rep.checks.iter().filter(|c| c.pass).count(),
            checks_total: rep.checks.len(),
            failed: rep
                .checks
                .iter()
                .filter(|c| !c.pass)
                .map(|c| format!("{}: {}", c.name, c.evidence))
                .collect(),
            accel: rep.accel.clone(),
            serial_log: rep.serial_log.clone(),
        };
        {
            ev(Event::Note(&format!(
                "bench: {}: {}/{} checks, boot to login {}, MemAvailable {}",
                image.display(),
                s.checks_passed,
                s.checks_total,
                s.boot_to_login_seconds
                    .map(|t| format!("{t:.1} s"))
                    .unwrap_or_else(|| "never".into()),
                s.mem_available_kib
                    .map(|k| format!("{k} kB"))
                    .unwrap_or_else(|| "?".into())
            )));
            for f in &s.failed {
                ev(Event::Note(&format!("bench:   FAIL {f}")));
            }
        }
        Ok(s)
    }
}

fn finish(side: &mut Side) {
    side.median_boot_to_login_seconds = median_f(
        side.runs
            .iter()
            .filter_map(|r| r.boot_to_login_seconds)
            .collect(),
    );
    side.median_kernel_seconds =
        median_f(side.runs.iter().filter_map(|r| r.kernel_seconds).collect());
    side.median_init_seconds = median_f(side.runs.iter().filter_map(|r| r.init_seconds).collect());
    side.median_kernel_to_init_seconds = median_f(
        side.runs
            .iter()
            .filter_map(|r| r.kernel_to_init_seconds)
            .collect(),
    );
    side.median_mem_available_kib = median_u(
        side.runs
            .iter()
            .filter_map(|r| r.mem_available_kib)
            .collect(),
    );
    side.median_mem_total_kib =
        median_u(side.runs.iter().filter_map(|r| r.mem_total_kib).collect());
    side.all_checks_passed = side
        .runs
        .iter()
        .all(|r| r.failed.is_empty() && r.checks_total > 0);
}

/// Builds both images, boots them alternately, and compares.
pub fn run(a: &BenchImageRequest, ev: Events<'_>) -> Result<BenchImageReport> {
    if a.runs == 0 {
        bail!("--runs must be at least 1");
    }
    let size = kimage::parse_size(&a.size)?;
    kimage::check_tools()?;
    let stub = Path::new(kimage::uki::SYSTEMD_STUB);
    if !stub.is_file() {
        bail!(
            "{} is missing; install it with: apt-get install -y {}",
            stub.display(),
            kimage::uki::STUB_PACKAGE
        );
    }
    let cache = a.tree.cache_dir();
    let work = a
        .workdir
        .clone()
        .unwrap_or_else(|| cache.join("bench").join("image"));
    std::fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;
    let work = work.canonicalize()?;
    let load_before = loadavg();

    // One login key in the images, one only the metadata service serves.
    let (key, key_pub) = keygen(&work, "login")?;
    let (imds_key, imds_pub) = keygen(&work, "imds")?;

    // The shared root file system.
    let packages: Vec<String> = DEBIAN_PACKAGES.iter().map(|s| s.to_string()).collect();
    let spec = image::rootfs_spec("sysvinit", "bookworm", &packages, &None)?;
    let rootfs = image::build_rootfs(&spec, &cache, ev)?;

    // (a) Debian's kernel + initramfs as a UKI.
    let deb = extract_debian_boot(&rootfs.tar, &work)?;
    let deb_partuuid = kimage::root_partuuid_for("bench-debian-cloud");
    let deb_cmdline = format!(
        "root=PARTUUID={deb_partuuid} rw console=ttyS0,115200 nvme_core.io_timeout=4294967295"
    );
    let uki_path = work.join("debian-cloud.efi");
    let uki = kimage::build_uki(
        stub,
        &deb.vmlinuz,
        &deb.initrd,
        &deb_cmdline,
        &deb.osrel,
        &uki_path,
    )?;
    {
        ev(Event::Note(&format!(
            "bench: UKI {} ({}): {}",
            uki.output.display(),
            kimage::human(uki.bytes),
            uki.sections
                .iter()
                .map(|s| format!("{} at {:#x}", s.name, s.vma))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let deb_image = work.join("debian-cloud.raw");
    let deb_rep = kimage::build(
        &kimage::ImageSpec {
            kernel: uki_path.clone(),
            rootfs_tar: rootfs.tar.clone(),
            ssh_keys: vec![key_pub.clone()],
            output: deb_image.clone(),
            size,
            root_partuuid: deb_partuuid,
        },
        &|m| ev(Event::Note(&format!("image (debian): {m}"))),
    )?;
    let deb_manifest = kimage::Manifest {
        target: "debian-cloud".into(),
        init: "sysvinit".into(),
        kernel_release: kimage::kernel_release(&deb.vmlinuz)?,
        kernelversion: String::new(),
        arch: "x86_64".into(),
        cmdline: deb_cmdline.clone(),
        image: deb_rep,
        build_checks: Vec::new(),
    };
    anyhow::ensure!(
        deb_manifest.kernel_release == deb.release,
        "{} says it is {}, but its name says {}",
        deb.vmlinuz.display(),
        deb_manifest.kernel_release,
        deb.release
    );
    deb_manifest.save(&deb_image)?;
    let file_len = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let mut debian = Side {
        name: "Debian cloud kernel + initramfs".into(),
        kernel_release: deb_manifest.kernel_release.clone(),
        kernel_bytes: file_len(&deb.vmlinuz),
        initramfs_bytes: file_len(&deb.initrd),
        boot_file_bytes: uki.bytes,
        cmdline: deb_cmdline,
        image: deb_image.clone(),
        image_disk_bytes: deb_manifest.image.disk_bytes,
        image_allocated_bytes: deb_manifest.image.allocated_bytes,
        image_build_seconds: deb_manifest.image.seconds,
        runs: Vec::new(),
        median_boot_to_login_seconds: None,
        median_kernel_seconds: None,
        median_init_seconds: None,
        median_kernel_to_init_seconds: None,
        median_mem_available_kib: None,
        median_mem_total_kib: None,
        all_checks_passed: false,
    };

    // (b) `ktailor image` of the same tar.
    let ours_image = work.join(format!("ktailor-{}.raw", a.target));
    let made = image::make_image(
        &image::ImageRequest {
            target: a.target.clone(),
            init: "sysvinit".into(),
            with: Vec::new(),
            arch: None,
            tree: a.tree.clone(),
            out: a.out.clone(),
            jobs: a.jobs,
            rootfs: Some(rootfs.tar.clone()),
            kernel_image: None,
            packages: Vec::new(),
            ssh_key: pub_path(&key),
            output: ours_image.clone(),
            size: a.size.clone(),
        },
        ev,
    )?;
    let m = &made.manifest;
    let mut ours = Side {
        name: format!("ktailor {}", a.target),
        kernel_release: m.kernel_release.clone(),
        kernel_bytes: m.image.kernel_bytes,
        initramfs_bytes: 0,
        boot_file_bytes: m.image.kernel_bytes,
        cmdline: m.cmdline.clone(),
        image: ours_image.clone(),
        image_disk_bytes: m.image.disk_bytes,
        image_allocated_bytes: m.image.allocated_bytes,
        image_build_seconds: m.image.seconds,
        runs: Vec::new(),
        median_boot_to_login_seconds: None,
        median_kernel_seconds: None,
        median_init_seconds: None,
        median_kernel_to_init_seconds: None,
        median_mem_available_kib: None,
        median_mem_total_kib: None,
        all_checks_passed: false,
    };

    // The boots, alternating.
    let boot = Boot {
        args: a,
        key: &key,
        imds_key: &imds_key,
        imds_pub: &imds_pub,
        ev,
    };
    for i in 1..=a.runs {
        for (tag, side) in [("debian", &mut debian), ("ktailor", &mut ours)] {
            ev(Event::Note(&format!(
                "bench: run {i}/{}: {}",
                a.runs, side.name
            )));
            let dir = work.join(format!("run-{tag}-{i}"));
            let _ = std::fs::remove_dir_all(&dir);
            side.runs.push(boot.once(&side.image, dir)?);
        }
    }
    finish(&mut debian);
    finish(&mut ours);
    if !a.keep_images {
        for img in [&deb_image, &ours_image] {
            let _ = std::fs::remove_file(img);
            let _ = std::fs::remove_file(kimage::Manifest::path_for(img));
        }
    }

    let ratios = Ratios {
        boot_to_login: ratio(
            debian.median_boot_to_login_seconds,
            ours.median_boot_to_login_seconds,
        ),
        kernel_to_init: ratio(
            debian.median_kernel_to_init_seconds,
            ours.median_kernel_to_init_seconds,
        ),
        kernel_initramfs_bytes: debian.kernel_initramfs_bytes() as f64
            / ours.kernel_initramfs_bytes().max(1) as f64,
        mem_available: ratio(
            debian.median_mem_available_kib.map(|k| k as f64),
            ours.median_mem_available_kib.map(|k| k as f64),
        ),
        image_allocated_bytes: debian.image_allocated_bytes as f64
            / ours.image_allocated_bytes.max(1) as f64,
    };
    let faster = ratios.boot_to_login.unwrap_or(0.0);
    let goals = Goals {
        faster_to_login: faster,
        faster_met: faster >= GOAL_FASTER,
        smaller: ratios.kernel_initramfs_bytes,
        smaller_met: ratios.kernel_initramfs_bytes >= GOAL_SMALLER,
        met: faster >= GOAL_FASTER && ratios.kernel_initramfs_bytes >= GOAL_SMALLER,
    };
    let accel = ours
        .runs
        .iter()
        .chain(&debian.runs)
        .map(|r| r.accel.clone())
        .next()
        .unwrap_or_default();
    let rep = BenchImageReport {
        machine: "ec2-sim (q35, OVMF UEFI boot from the disk's ESP, NVMe disk, virtio-net, IMDSv2)"
            .into(),
        accel,
        memory_mb: a.memory,
        cpus: a.cpus,
        runs: a.runs,
        host_cpus: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        load_before,
        load_after: loadavg(),
        rootfs_tar: rootfs.tar.clone(),
        rootfs_key: rootfs.key.clone(),
        debian,
        ktailor: ours,
        ratios,
        goals,
    };
    Ok(rep)
}

impl BenchImageReport {
    /// Every check of every run passed on both sides.
    pub fn passed(&self) -> bool {
        self.debian.all_checks_passed && self.ktailor.all_checks_passed
    }
}

/// Debian over ktailor.
fn ratio(d: Option<f64>, o: Option<f64>) -> Option<f64> {
    match (d, o) {
        (Some(d), Some(o)) if o > 0.0 => Some(d / o),
        _ => None,
    }
}

fn x(r: Option<f64>) -> String {
    r.map(|r| format!("{r:.2}x")).unwrap_or_else(|| "-".into())
}

impl BenchImageReport {
    /// The comparison table and the goals.
    pub fn render(&self) -> String {
        let r = self;
        let mut out = String::new();
        let (d, o) = (&r.debian, &r.ktailor);
        let _ = writeln!(out,
        "{}, {}, {} vCPUs, {} MiB; same root file system ({}); median of {} run(s) each; host load {} -> {}\n",
        r.machine, r.accel, r.cpus, r.memory_mb, r.rootfs_key, r.runs, r.load_before, r.load_after
    );
        let _ = writeln!(
            out,
            "| metric | Debian {} | ktailor {} | Debian/ktailor |\n|---|---|---|---|",
            d.kernel_release, o.kernel_release
        );
        let secs = |s: Option<f64>| {
            s.map(|s| format!("{s:.1} s"))
                .unwrap_or_else(|| "never".into())
        };
        let _ = writeln!(
            out,
            "| boot to login (firmware included) | {} | {} | {} |",
            secs(d.median_boot_to_login_seconds),
            secs(o.median_boot_to_login_seconds),
            x(r.ratios.boot_to_login)
        );
        let _ = writeln!(out,
        "| - of which: QEMU start to the kernel's first line (firmware, EFI stub) | {} | {} | {} |",
        secs(d.median_kernel_seconds),
        secs(o.median_kernel_seconds),
        x(ratio(d.median_kernel_seconds, o.median_kernel_seconds))
    );
        let _ =
            writeln!(out,
        "| - of which: QEMU start to init's first line (+ kernel, initramfs) | {} | {} | {} |",
        secs(d.median_init_seconds),
        secs(o.median_init_seconds),
        x(ratio(d.median_init_seconds, o.median_init_seconds))
    );
        let _ = writeln!(
            out,
            "| - kernel (+ initramfs) alone: its first line to init's | {} | {} | {} |",
            secs(d.median_kernel_to_init_seconds),
            secs(o.median_kernel_to_init_seconds),
            x(r.ratios.kernel_to_init)
        );
        let kb = |side: &Side| {
            if side.initramfs_bytes > 0 {
                format!(
                    "{} ({} + {} initramfs)",
                    mib(side.kernel_initramfs_bytes()),
                    mib(side.kernel_bytes),
                    mib(side.initramfs_bytes)
                )
            } else {
                format!("{} (no initramfs)", mib(side.kernel_bytes))
            }
        };
        let _ = writeln!(
            out,
            "| kernel + initramfs | {} | {} | {:.2}x |",
            kb(d),
            kb(o),
            r.ratios.kernel_initramfs_bytes
        );
        let _ = writeln!(
            out,
            "| BOOTX64.EFI on the ESP | {} (UKI) | {} (bzImage) | {:.2}x |",
            mib(d.boot_file_bytes),
            mib(o.boot_file_bytes),
            d.boot_file_bytes as f64 / o.boot_file_bytes.max(1) as f64
        );
        let mem = |s: &Side| match (s.median_mem_available_kib, s.median_mem_total_kib) {
            (Some(a), Some(t)) => format!(
                "{:.1} MiB of {:.1} MiB",
                a as f64 / 1024.0,
                t as f64 / 1024.0
            ),
            (Some(a), None) => format!("{:.1} MiB", a as f64 / 1024.0),
            _ => "-".into(),
        };
        let _ = writeln!(
            out,
            "| MemAvailable after boot and checks | {} | {} | {} |",
            mem(d),
            mem(o),
            x(r.ratios.mem_available)
        );
        let _ = writeln!(
            out,
            "| image allocated ({} disk) | {} | {} | {:.2}x |",
            kimage::human(d.image_disk_bytes),
            mib(d.image_allocated_bytes),
            mib(o.image_allocated_bytes),
            r.ratios.image_allocated_bytes
        );
        let checks = |s: &Side| {
            s.runs
                .iter()
                .map(|r| format!("{}/{}", r.checks_passed, r.checks_total))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(out, "| checks per run | {} | {} | |", checks(d), checks(o));
        out.push('\n');
        let g = &r.goals;
        let _ = writeln!(out,
        "Goal at least {GOAL_FASTER}x faster to login: {} ({:.2}x). Goal at least {GOAL_SMALLER}x smaller kernel + initramfs: {} ({:.2}x). Goals {}.",
        if g.faster_met { "met" } else { "NOT met" },
        g.faster_to_login,
        if g.smaller_met { "met" } else { "NOT met" },
        g.smaller,
        if g.met { "met" } else { "NOT met" }
    );
        for s in [d, o] {
            for (i, run) in s.runs.iter().enumerate() {
                for f in &run.failed {
                    let _ = writeln!(out, "FAIL {} run {}: {f}", s.name, i + 1);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_fields() {
        let t = "MemTotal:        1004436 kB\nMemAvailable:     871220 kB\n";
        assert_eq!(meminfo_kib(t, "MemTotal"), Some(1004436));
        assert_eq!(meminfo_kib(t, "MemAvailable"), Some(871220));
        assert_eq!(meminfo_kib(t, "MemFree"), None);
    }

    #[test]
    fn medians() {
        assert_eq!(median_f(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median_f(vec![4.0, 1.0]), Some(2.5));
        assert_eq!(median_f(vec![]), None);
        assert_eq!(median_u(vec![10, 30, 20]), Some(20));
    }
}
