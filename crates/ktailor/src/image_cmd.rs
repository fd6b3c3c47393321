//! `ktailor rootfs` and `ktailor image`: a Debian root file system, and a
//! UEFI disk image holding it with the target's kernel.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use kpipeline::image::{self, ImageRequest, RootfsSummary};

use crate::args::{MakeArgs, TreeArgs};
use crate::ui::Ui;

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

pub fn rootfs(a: RootfsArgs) -> Result<ExitCode> {
    let cache = a.cache.clone().unwrap_or_else(ksrc::cache_root);
    let ui = Ui::new(a.json, false);
    let spec = image::rootfs_spec(&a.init, &a.suite, &a.packages, &a.mirror)?;
    let r = image::build_rootfs(&spec, &cache, &ui.ev())?;
    if let Some(out) = &a.output {
        // A copy, written whole before it takes the name.
        let tmp = ksys::AtomicFile::new(out)
            .with_context(|| format!("cannot create a file beside {}", out.display()))?;
        std::fs::copy(&r.tar, tmp.path())
            .with_context(|| format!("cannot copy {} to {}", r.tar.display(), out.display()))?;
        tmp.commit()
            .with_context(|| format!("cannot write {}", out.display()))?;
    }
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&RootfsSummary::from(&r))?
        );
    } else {
        println!("{}", a.output.as_ref().unwrap_or(&r.tar).display());
    }
    Ok(ExitCode::SUCCESS)
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

impl ImageArgs {
    fn request(&self) -> ImageRequest {
        ImageRequest {
            target: self.target.clone(),
            init: self.init.clone(),
            with: self.with.clone(),
            arch: self.arch.clone(),
            tree: self.tree.spec(),
            out: self.make.out.clone(),
            jobs: self.make.jobs,
            rootfs: self.rootfs.clone(),
            kernel_image: self.kernel_image.clone(),
            packages: self.packages.clone(),
            ssh_key: self.ssh_key.clone(),
            output: self.output.clone(),
            size: self.size.clone(),
        }
    }
}

pub fn image(a: ImageArgs) -> Result<ExitCode> {
    let ui = Ui::new(a.json, false);
    let made = image::make_image(&a.request(), &ui.ev())?;
    let manifest = &made.manifest;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&made)?);
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
        println!("{}", image::upload_commands(&a.output, &a.target));
    }
    Ok(ExitCode::SUCCESS)
}
