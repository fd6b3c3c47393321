//! Debian on ktailor's kernels: a root file system (krootfs) and a UEFI
//! disk image (kimage) holding it with the target's kernel, whose command
//! line is built in because UEFI firmware passes none.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::build::BuildSummary;
use crate::prepare::What;
use crate::session::TreeSpec;
use crate::{Event, Events};

/// The rootfs spec of `init` (sysvinit or systemd) on `suite`.
pub fn rootfs_spec(
    init: &str,
    suite: &str,
    packages: &[String],
    mirror: &Option<String>,
) -> Result<krootfs::RootfsSpec> {
    Ok(krootfs::RootfsSpec {
        init: init.parse().map_err(|e| anyhow::anyhow!("--init: {e}"))?,
        suite: suite.to_string(),
        extra_packages: packages.to_vec(),
        mirror: mirror.clone(),
    })
}

/// Builds (or finds in the cache) a root file system tar.
pub fn build_rootfs(
    spec: &krootfs::RootfsSpec,
    cache: &Path,
    ev: Events<'_>,
) -> Result<krootfs::Rootfs> {
    let r = krootfs::build(spec, cache, &|m: &str| {
        ev(Event::Note(&format!("rootfs: {m}")));
    })?;
    {
        ev(Event::Note(&format!(
            "rootfs: {} ({}, {}{:.1} s)",
            r.tar.display(),
            kimage::human(r.bytes),
            if r.cache_hit { "cache hit, " } else { "" },
            r.duration.as_secs_f64()
        )));
    }
    Ok(r)
}

#[derive(Serialize)]
/// A root file system as reports show it.
pub struct RootfsSummary {
    pub tar: PathBuf,
    pub cache_hit: bool,
    pub bytes: u64,
    pub seconds: f64,
    pub key: String,
    pub packages: Vec<String>,
}

impl From<&krootfs::Rootfs> for RootfsSummary {
    fn from(r: &krootfs::Rootfs) -> Self {
        RootfsSummary {
            tar: r.tar.clone(),
            cache_hit: r.cache_hit,
            bytes: r.bytes,
            seconds: r.duration.as_secs_f64(),
            key: r.key.clone(),
            packages: r.packages.clone(),
        }
    }
}

/// A disk image as the user asks for it.
#[derive(Clone, Debug)]
pub struct ImageRequest {
    /// The kernel target, e.g. ec2-nitro.
    pub target: String,
    /// sysvinit or systemd.
    pub init: String,
    /// Extra features for the kernel.
    pub with: Vec<String>,
    pub arch: Option<String>,
    pub tree: TreeSpec,
    /// Build directory (default: `<target>-image`'s own) and make jobs.
    pub out: Option<PathBuf>,
    pub jobs: usize,
    /// A root file system tar to use instead of building (or reusing) one.
    pub rootfs: Option<PathBuf>,
    /// A kernel to use instead of building the target's.
    pub kernel_image: Option<PathBuf>,
    /// Extra packages for the root file system.
    pub packages: Vec<String>,
    /// The OpenSSH public key authorized for `admin`.
    pub ssh_key: PathBuf,
    pub output: PathBuf,
    /// Disk size, e.g. "2G".
    pub size: String,
}

/// What a Debian root on a ktailor kernel needs from the kernel, as catalog
/// features, and why: checked before anything builds (here and in
/// `ktailor ladder`'s disk steps).
pub const IMAGE_NEEDS: &[(&str, &str)] = &[
    ("ext4", "the root file system is ext4"),
    (
        "partition-tables",
        "the kernel finds its root by GPT PARTUUID",
    ),
    ("devtmpfs-automount", "no initramfs mounts /dev before init"),
    ("unix-sockets", "sshd, udev and syslog talk over AF_UNIX"),
    ("multiuser", "sshd drops privileges with setgroups"),
    ("unix98-ptys", "SSH sessions need a pty"),
    ("futex", "glibc's threads and rsyslog need futexes"),
    ("file-locking", "cron and ifupdown take file locks"),
];

/// The kernel command line an image's kernel carries: the root by
/// PARTUUID, the serial console, and `extra` (a target's or the features'
/// parameters) except any `root=` or `console=` of its own.
pub fn image_cmdline(extra: &[String], partuuid: &str) -> String {
    let mut v = vec![
        format!("root=PARTUUID={partuuid}"),
        "rootwait".to_string(),
        "rw".to_string(),
        "console=ttyS0,115200".to_string(),
        // EBS volumes can pause longer than the default 30 s; EC2's own
        // images set the NVMe timeout to the maximum.
        "nvme_core.io_timeout=4294967295".to_string(),
    ];
    for c in extra {
        if !c.starts_with("root=") && !c.starts_with("console=") && !v.contains(c) {
            v.push(c.clone());
        }
    }
    v.join(" ")
}

/// A config fragment that builds `cmdline` into the kernel (UEFI firmware
/// starting the EFI stub passes no command line).
pub fn cmdline_fragment(cmdline: &str) -> String {
    format!(
        "CONFIG_CMDLINE_BOOL=y\nCONFIG_CMDLINE=\"{}\"\n",
        cmdline.replace('\\', "\\\\").replace('"', "\\\"")
    )
}

/// What [`make_image`] made.
#[derive(Serialize)]
pub struct MadeImage {
    pub manifest: kimage::Manifest,
    pub rootfs: Option<RootfsSummary>,
    pub kernel: Option<BuildSummary>,
}

/// Everything `ktailor image` does but print: the target's kernel (built
/// or reused from its build directory), the root file system, the disk
/// image and its manifest. A failed build is a [`crate::Refused`] error.
pub fn make_image(a: &ImageRequest, ev: Events<'_>) -> Result<MadeImage> {
    let cat = kcatalog::Catalog::builtin();
    let target = cat
        .target(&a.target)
        .with_context(|| format!("unknown target {:?}", a.target))?
        .clone();
    let key_text = std::fs::read_to_string(&a.ssh_key)
        .with_context(|| format!("cannot read the SSH key {}", a.ssh_key.display()))?;
    let key = kimage::parse_public_key(&key_text, &a.ssh_key.display().to_string())?;
    let size = kimage::parse_size(&a.size)?;
    kimage::Layout::new(size)?;
    kimage::check_tools()?;
    let init: krootfs::Init = a.init.parse().map_err(|e| anyhow::anyhow!("--init: {e}"))?;
    let mut names = target.features.clone();
    names.extend(a.with.iter().cloned());
    let features: Vec<String> = cat
        .closure(&names)
        .map_err(anyhow::Error::msg)?
        .iter()
        .map(|f| f.name.clone())
        .collect();
    let mut needs: Vec<(&str, &str)> = IMAGE_NEEDS.to_vec();
    if target.machine.firmware == kcatalog::Firmware::Uefi {
        needs.push((
            "efi",
            "UEFI firmware starts the kernel through its EFI stub",
        ));
    }
    if a.init == "systemd" {
        needs.push((
            "systemd",
            "systemd refuses to boot without what its README requires",
        ));
    }
    if a.kernel_image.is_none() {
        for (f, why) in &needs {
            if !features.iter().any(|x| x == f) {
                bail!(
                    "target {} lacks the feature {f} that the image needs ({why}); add it with --with {f}",
                    target.name
                );
            }
        }
    }
    let partuuid = kimage::root_partuuid_for(&target.name);
    // The same command line a boot of the target would use (features'
    // then the target's), with the image's root and console.
    let what = What {
        target: Some(target.name.clone()),
        with: a.with.clone(),
        arch: a.arch.clone(),
        tree: a.tree.clone(),
        ..Default::default()
    };
    let resolved = crate::tailor::resolve(&cat, &what.wanted())?;
    let cmdline = image_cmdline(&resolved.needs().cmdline, &partuuid);

    // The kernel: the target's, with the image's command line built in.
    let (kernel, summary, build_checks, kernelversion, arch) = match &a.kernel_image {
        Some(k) => (
            k.clone(),
            None,
            vec!["kernel given with --kernel-image: its drivers were not checked".to_string()],
            String::new(),
            a.arch.clone().unwrap_or_else(|| target.arch.to_string()),
        ),
        None => {
            let frag = tempfile::NamedTempFile::new().context("cannot create a temporary file")?;
            std::fs::write(frag.path(), cmdline_fragment(&cmdline))?;
            let what = What {
                fragments: vec![frag.path().to_path_buf()],
                ..what.clone()
            };
            let mut p = crate::prepare::prepare(&what, ev)?;
            // Its own build directory: the built-in command line differs
            // from `ktailor build --target`'s, and both stay incremental.
            p.name = format!("{}-image", target.name);
            let out = a.out.clone().unwrap_or_else(|| p.default_out());
            let r = crate::build::build(&p, &out, a.jobs, ev)?;
            let checks = ena_checks(&out);
            (
                r.image.clone(),
                Some(BuildSummary::new(&p, &r)),
                checks,
                p.session.tree.kernelversion.clone(),
                p.arch.clone(),
            )
        }
    };
    let release = kimage::kernel_release(&kernel)?;

    let cache = a.tree.cache_dir();
    let (rootfs_tar, rootfs_json) = match &a.rootfs {
        Some(t) => (t.clone(), None),
        None => {
            let spec = rootfs_spec(&a.init, "bookworm", &a.packages, &None)?;
            let r = build_rootfs(&spec, &cache, ev)?;
            (r.tar.clone(), Some(RootfsSummary::from(&r)))
        }
    };
    let _ = init;
    let rep = kimage::build(
        &kimage::ImageSpec {
            kernel: kernel.clone(),
            rootfs_tar,
            ssh_keys: vec![key],
            output: a.output.clone(),
            size,
            root_partuuid: partuuid,
        },
        &|m| ev(Event::Note(&format!("image: {m}"))),
    )?;
    let manifest = kimage::Manifest {
        target: target.name.clone(),
        init: a.init.clone(),
        kernel_release: release,
        kernelversion,
        arch,
        cmdline,
        image: rep,
        build_checks,
    };
    manifest.save(&a.output)?;
    Ok(MadeImage {
        manifest,
        rootfs: rootfs_json,
        kernel: summary,
    })
}

/// ENA cannot run under QEMU: check that the build has its driver and its
/// PCI table (1d0f:ec20 and friends) compiled in.
pub fn ena_checks(build: &Path) -> Vec<String> {
    let config = std::fs::read_to_string(build.join(".config")).unwrap_or_default();
    if !config.lines().any(|l| l == "CONFIG_ENA_ETHERNET=y") {
        return Vec::new();
    }
    let map = std::fs::read_to_string(build.join("System.map")).unwrap_or_default();
    let has = |s: &str| map.lines().any(|l| l.split_whitespace().nth(2) == Some(s));
    vec![format!(
        "ENA (QEMU has no model of it): CONFIG_ENA_ETHERNET=y, System.map {} ena_pci_tbl (the 1d0f:ec20/ec21 id table) and {} ena_probe",
        if has("ena_pci_tbl") { "has" } else { "LACKS" },
        if has("ena_probe") { "has" } else { "LACKS" }
    )]
}

/// The commands that turn the image into an AMI (printed, never run).
pub fn upload_commands(image: &Path, target: &str) -> String {
    let name = image.display();
    format!(
        "# Turn {name} into an AMI (needs AWS credentials; not run by ktailor):\n\
         # 1. upload the raw disk as an EBS snapshot (coldsnap: cargo install coldsnap)\n\
         SNAP=$(coldsnap upload {name})\n\
         # (or: aws s3 cp {name} s3://BUCKET/ && aws ec2 import-snapshot --disk-container Format=RAW,UserBucket={{S3Bucket=BUCKET,S3Key={file}}})\n\
         # 2. register it: UEFI boot, ENA, IMDSv2 only\n\
         aws ec2 register-image --name ktailor-{target}-$(date +%Y%m%d%H%M) \\\n  \
           --architecture x86_64 --boot-mode uefi --ena-support --imds-support v2.0 \\\n  \
           --virtualization-type hvm --root-device-name /dev/xvda \\\n  \
           --block-device-mappings \"DeviceName=/dev/xvda,Ebs={{SnapshotId=$SNAP,VolumeType=gp3,DeleteOnTermination=true}}\"",
        file = image.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default()
    )
}
