//! `ktailor rootfs` and `ktailor image`: a Debian root file system, and a
//! UEFI disk image holding it with the target's kernel.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::build_cmd::{self, MakeArgs, What};
use crate::session::TreeArgs;

#[derive(clap::Args)]
pub struct RootfsArgs {
    /// sysvinit (the seed's Devuan world) or systemd.
    #[arg(long, default_value = "sysvinit")]
    pub init: String,
    #[arg(long, default_value = "bookworm")]
    pub suite: String,
    /// Extra packages, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub packages: Vec<String>,
    /// A Debian mirror URL (default: the host's apt sources).
    #[arg(long)]
    pub mirror: Option<String>,
    /// Where to put the tar (default: only the cache).
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Cache directory (default: $KTAILOR_CACHE, $XDG_CACHE_HOME/ktailor, ~/.cache/ktailor).
    #[arg(long)]
    pub cache: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

pub(crate) fn rootfs_spec(
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

pub(crate) fn build_rootfs(
    spec: &krootfs::RootfsSpec,
    cache: &Path,
    quiet: bool,
) -> Result<krootfs::Rootfs> {
    let r = krootfs::build(spec, cache, &|m: &str| {
        if !quiet {
            eprintln!("rootfs: {m}");
        }
    })?;
    if !quiet {
        eprintln!(
            "rootfs: {} ({}, {}{:.1} s)",
            r.tar.display(),
            kimage::human(r.bytes),
            if r.cache_hit { "cache hit, " } else { "" },
            r.duration.as_secs_f64()
        );
    }
    Ok(r)
}

pub fn rootfs(a: RootfsArgs) -> Result<ExitCode> {
    let cache = a.cache.clone().unwrap_or_else(ksrc::cache_root);
    let spec = rootfs_spec(&a.init, &a.suite, &a.packages, &a.mirror)?;
    let r = build_rootfs(&spec, &cache, a.json)?;
    if let Some(out) = &a.output {
        // A copy, written whole before it takes the name.
        let dir = out
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let tmp = tempfile::NamedTempFile::new_in(dir)
            .with_context(|| format!("cannot create a file in {}", dir.display()))?;
        std::fs::copy(&r.tar, tmp.path())
            .with_context(|| format!("cannot copy {} to {}", r.tar.display(), out.display()))?;
        tmp.persist(out)
            .with_context(|| format!("cannot write {}", out.display()))?;
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&RootfsJson::from(&r))?);
    } else {
        println!("{}", a.output.as_ref().unwrap_or(&r.tar).display());
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Serialize)]
struct RootfsJson {
    tar: PathBuf,
    cache_hit: bool,
    bytes: u64,
    seconds: f64,
    key: String,
    packages: Vec<String>,
}

impl From<&krootfs::Rootfs> for RootfsJson {
    fn from(r: &krootfs::Rootfs) -> Self {
        RootfsJson {
            tar: r.tar.clone(),
            cache_hit: r.cache_hit,
            bytes: r.bytes,
            seconds: r.duration.as_secs_f64(),
            key: r.key.clone(),
            packages: r.packages.clone(),
        }
    }
}

#[derive(clap::Args)]
pub struct ImageArgs {
    /// The kernel target (see data/targets.toml), e.g. ec2-nitro.
    #[arg(long)]
    pub target: String,
    #[arg(long, default_value = "sysvinit")]
    pub init: String,
    /// Extra features for the kernel, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub with: Vec<String>,
    #[arg(long)]
    pub arch: Option<String>,
    #[command(flatten)]
    pub tree: TreeArgs,
    #[command(flatten)]
    pub make: MakeArgs,
    /// Use this root file system tar instead of building (or reusing) one.
    #[arg(long)]
    pub rootfs: Option<PathBuf>,
    /// Use this kernel (an EFI-stub bzImage whose built-in command line names the root) instead of building the target's.
    #[arg(long)]
    pub kernel_image: Option<PathBuf>,
    /// Extra packages for the root file system, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub packages: Vec<String>,
    /// The OpenSSH public key authorized for the `admin` user.
    #[arg(long)]
    pub ssh_key: PathBuf,
    #[arg(long, short)]
    pub output: PathBuf,
    #[arg(long, default_value = "2G")]
    pub size: String,
    /// Print the commands that turn the image into an AMI.
    #[arg(long)]
    pub print_upload: bool,
    #[arg(long)]
    pub json: bool,
}

/// What a Debian root on a ktailor kernel needs from the kernel, as catalog
/// features, and why: checked before anything builds (here and in
/// `ktailor ladder`'s disk steps).
pub(crate) const IMAGE_NEEDS: &[(&str, &str)] = &[
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
pub(crate) fn image_cmdline(extra: &[String], partuuid: &str) -> String {
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
pub(crate) fn cmdline_fragment(cmdline: &str) -> String {
    format!(
        "CONFIG_CMDLINE_BOOL=y\nCONFIG_CMDLINE=\"{}\"\n",
        cmdline.replace('\\', "\\\\").replace('"', "\\\"")
    )
}

#[derive(Serialize)]
struct ImageJson<'a> {
    manifest: &'a kimage::Manifest,
    rootfs: Option<RootfsJson>,
    kernel: Option<build_cmd::BuildSummary>,
}

/// What [`make_image`] made.
pub struct MadeImage {
    pub manifest: kimage::Manifest,
    rootfs: Option<RootfsJson>,
    pub build: Option<build_cmd::BuildSummary>,
}

pub fn image(a: ImageArgs) -> Result<ExitCode> {
    let made = match make_image(&a, a.json)? {
        Ok(m) => m,
        Err(code) => return Ok(code),
    };
    let manifest = &made.manifest;
    if a.json {
        let j = ImageJson {
            manifest,
            rootfs: made.rootfs,
            kernel: made.build,
        };
        println!("{}", serde_json::to_string_pretty(&j)?);
    } else {
        let r = &manifest.image;
        println!(
            "{}: {} disk ({} allocated), kernel {} ({}), root {} of files, {} host keys, {:.1} s",
            a.output.display(),
            kimage::human(r.disk_bytes),
            kimage::human(r.allocated_bytes),
            manifest.kernel_release,
            kimage::human(r.kernel_bytes),
            kimage::human(r.tree_bytes),
            r.host_keys.len(),
            r.seconds
        );
        for c in &manifest.build_checks {
            println!("  {c}");
        }
    }
    if a.print_upload {
        print_upload(&a.output, &a.target);
    }
    Ok(ExitCode::SUCCESS)
}

/// Everything `ktailor image` does but print: the target's kernel (built
/// or reused from its build directory), the root file system, the disk
/// image and its manifest. Progress goes to stderr unless `quiet`; an
/// `Err(code)` is a build that already reported its failure.
pub fn make_image(a: &ImageArgs, quiet: bool) -> Result<std::result::Result<MadeImage, ExitCode>> {
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
    if target.machine.firmware == "uefi" {
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
    let cmdline = image_cmdline(&target.cmdline, &partuuid);

    // The kernel: the target's, with the image's command line built in.
    let (kernel, summary, build_checks, kernelversion, arch) = match &a.kernel_image {
        Some(k) => (
            k.clone(),
            None,
            vec!["kernel given with --kernel-image: its drivers were not checked".to_string()],
            String::new(),
            a.arch.clone().unwrap_or_else(|| target.arch.clone()),
        ),
        None => {
            let frag = tempfile::NamedTempFile::new().context("cannot create a temporary file")?;
            std::fs::write(frag.path(), cmdline_fragment(&cmdline))?;
            let what = What {
                target: Some(target.name.clone()),
                config: None,
                with: a.with.clone(),
                without: Vec::new(),
                base: None,
                fragment: vec![frag.path().to_path_buf()],
                arch: a.arch.clone(),
                tree: a.tree.clone(),
            };
            let mut p = match build_cmd::prepare(&what, quiet)? {
                Ok(p) => p,
                Err(code) => return Ok(Err(code)),
            };
            // Its own build directory: the built-in command line differs
            // from `ktailor build --target`'s, and both stay incremental.
            p.name = format!("{}-image", target.name);
            let out = a
                .make
                .out
                .clone()
                .unwrap_or_else(|| build_cmd::default_out(&p, &a.tree));
            let r = match build_cmd::build_reported(&p, &out, a.make.jobs, quiet) {
                Ok(r) => r,
                Err(code) => return Ok(Err(code)),
            };
            let checks = ena_checks(&out);
            (
                r.image.clone(),
                Some(build_cmd::BuildSummary::new(&p, &r)),
                checks,
                p.session.tree.kernelversion.clone(),
                p.arch.clone(),
            )
        }
    };
    let release = kimage::kernel_release(&kernel)?;

    let cache = a.tree.cache.clone().unwrap_or_else(ksrc::cache_root);
    let (rootfs_tar, rootfs_json) = match &a.rootfs {
        Some(t) => (t.clone(), None),
        None => {
            let spec = rootfs_spec(&a.init, "bookworm", &a.packages, &None)?;
            let r = build_rootfs(&spec, &cache, quiet)?;
            (r.tar.clone(), Some(RootfsJson::from(&r)))
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
        &|m| {
            if !quiet {
                eprintln!("image: {m}");
            }
        },
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
    Ok(Ok(MadeImage {
        manifest,
        rootfs: rootfs_json,
        build: summary,
    }))
}

/// ENA cannot run under QEMU: check that the build has its driver and its
/// PCI table (1d0f:ec20 and friends) compiled in.
pub(crate) fn ena_checks(build: &Path) -> Vec<String> {
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

fn print_upload(image: &Path, target: &str) {
    let name = image.display();
    println!(
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
    );
}
