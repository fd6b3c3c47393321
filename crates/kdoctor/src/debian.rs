//! Debian's own build of a kernel tree, as evidence to check the index
//! against: the `linux-image-*-unsigned` package built from the same
//! `linux-source` version, fetched with `apt-get download`, unpacked with
//! `dpkg-deb -x` (never installed) and, because `modules.alias` is generated
//! at install time rather than shipped, indexed with `depmod -b`.
//!
//! The image package's `/boot/System.map-*` is a one-line stub ("The real
//! System.map is in the linux-image-<version>-dbg package"), so the real
//! one comes from the matching `-dbg` package (1 GB): only that member is
//! read out of it (`dpkg-deb --fsys-tarfile | tar --occurrence=1`; it is
//! near the start of the archive) and the package is deleted.
//!
//! What is kept, under `<cache>/doctor/debian-<kernelversion>-amd64/`:
//! `.config` and `System.map` (so the directory is a build directory for
//! [`crate::validate::check_build`]), `modules.alias`, `modules.builtin`,
//! `modules.order`, and `provenance.json`, written last: a directory
//! without it is an interrupted provisioning and is redone. The package
//! and its unpacked modules (hundreds of megabytes) are removed.
//!
//! apt and dpkg are driven through [`ksrc::apt`] (which ksrc's own
//! `linux-source` provisioning uses too): which versions exist is asked at
//! run time (`dpkg-query`, `apt-cache search`, `apt-cache madison`), never
//! pinned; what is Debian-kernel specific (which package, the `-dbg`
//! System.map, depmod, what is kept) is here.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use ksrc::apt;
use serde::{Deserialize, Serialize};

/// Written last into a provisioned directory.
const PROVENANCE: &str = "provenance.json";
/// The files kept from the package (destination name, path in the
/// unpacked package with `{rel}` for the kernel release).
const KEPT: [(&str, &str); 5] = [
    (".config", "boot/config-{rel}"),
    ("System.map", "usr/lib/debug/boot/System.map-{rel}"),
    ("modules.alias", "{modules}/modules.alias"),
    ("modules.builtin", "{modules}/modules.builtin"),
    ("modules.order", "{modules}/modules.order"),
];

/// Where the package came from and what fetching it cost.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Provenance {
    /// `linux-image-6.12.117+deb12-amd64-unsigned`.
    pub package: String,
    /// The `-dbg` package the real System.map comes from.
    pub dbg_package: String,
    /// The packages' version, equal to the tree's `linux-source` version when
    /// that package is installed (`6.12.117-1~deb12u1`).
    pub version: String,
    /// `uname -r` of that kernel (`6.12.117+deb12-amd64`).
    pub release: String,
    /// Both packages.
    pub deb_bytes: u64,
    pub download_ms: u64,
    pub extract_ms: u64,
    pub depmod_ms: u64,
}

/// A provisioned Debian kernel.
#[derive(Clone, Debug, Serialize)]
pub struct DebianKernel {
    pub dir: PathBuf,
    #[serde(flatten)]
    pub provenance: Provenance,
    /// Fetched by this call (false: read from the cache).
    pub fetched: bool,
}

impl DebianKernel {
    /// The kernel's configuration (`/boot/config-<release>`).
    pub fn config(&self) -> PathBuf {
        self.dir.join(".config")
    }
    pub fn system_map(&self) -> PathBuf {
        self.dir.join("System.map")
    }
    pub fn modules_alias(&self) -> PathBuf {
        self.dir.join("modules.alias")
    }
}

/// Debian's architecture name for a kernel ARCH.
fn debian_arch(arch: &str) -> Result<&'static str> {
    Ok(match arch {
        "x86_64" | "amd64" => "amd64",
        "arm64" | "aarch64" => "arm64",
        other => bail!(
            "Debian's built kernel is only fetched for x86_64 and arm64, not {other:?}; \
             validate against a build directory instead (ktailor doctor --validate-build DIR)"
        ),
    })
}

/// The cache directory for a kernel version and architecture.
pub fn cache_dir(cache_root: &Path, kernelversion: &str, arch: &str) -> Result<PathBuf> {
    Ok(cache_root
        .join("doctor")
        .join(format!("debian-{kernelversion}-{}", debian_arch(arch)?)))
}

/// Debian's build of `tree` for `arch`, fetched into the cache on first use.
///
/// The package is the flavour-less `linux-image-<abi>-<arch>-unsigned`
/// whose version is the installed `linux-source-<series>` package's (the
/// tree is that package's tarball), or, when no such package is installed,
/// the one whose upstream version is the tree's `make kernelversion`.
pub fn provision(tree: &ksrc::KernelTree, arch: &str, cache_root: &Path) -> Result<DebianKernel> {
    let dir = cache_dir(cache_root, &tree.kernelversion, arch)?;
    if let Some(k) = load(&dir) {
        return Ok(k);
    }
    // One download at a time; whoever waited finds the result.
    let mut lock = dir.clone().into_os_string();
    lock.push(".lock");
    let _lock = crate::index::lock_file(Path::new(&lock))?;
    if let Some(k) = load(&dir) {
        return Ok(k);
    }
    let debarch = debian_arch(arch)?;
    let image = find_package(&tree.kernelversion, debarch)?;
    let parent = dir
        .parent()
        .context("cache directory has no parent")?
        .to_path_buf();
    let work = apt::staging_dir(&parent, ".debian-fetch-")?;

    let dbg = apt::PackageVersion {
        package: match image.package.strip_suffix("-unsigned") {
            Some(p) => format!("{p}-dbg"),
            None => bail!("{} is not an -unsigned image package", image.package),
        },
        version: image.version.clone(),
    };
    let t = Instant::now();
    let debs = apt::download(work.path(), &[image.clone(), dbg.clone()])?;
    let download_ms = t.elapsed().as_millis() as u64;
    let (deb, dbg_deb) = (&debs[0], &debs[1]);
    let deb_bytes = debs
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();

    let t = Instant::now();
    let root = work.path().join("root");
    apt::unpack(deb, &root)?;
    let _ = std::fs::remove_file(deb);
    let package = image.package;
    // Merged-/usr packages put modules in usr/lib/modules; depmod -b takes
    // the directory holding lib/modules.
    let (base, modules_rel) = ["", "usr"]
        .iter()
        .map(|p| (root.join(p), Path::new(p).join("lib/modules")))
        .find(|(b, _)| b.join("lib/modules").is_dir())
        .with_context(|| format!("{package} has no lib/modules directory"))?;
    let release = single_entry(&base.join("lib/modules"))
        .with_context(|| format!("{package}: which kernel release is in lib/modules?"))?;
    apt::extract_member(
        dbg_deb,
        &format!("./usr/lib/debug/boot/System.map-{release}"),
        &root,
    )?;
    let _ = std::fs::remove_file(dbg_deb);
    let extract_ms = t.elapsed().as_millis() as u64;

    let t = Instant::now();
    apt::run(
        Command::new(find_depmod()?)
            .arg("-b")
            .arg(&base)
            .arg(&release),
        &format!("depmod -b {} {release}", base.display()),
        "depmod comes with kmod: apt-get install -y kmod",
    )?;
    let depmod_ms = t.elapsed().as_millis() as u64;

    let stage = work.path().join("keep");
    std::fs::create_dir_all(&stage)?;
    let modules = modules_rel.join(&release);
    for (name, from) in KEPT {
        let from = from
            .replace("{rel}", &release)
            .replace("{modules}", &modules.to_string_lossy());
        let src = root.join(&from);
        std::fs::copy(&src, stage.join(name))
            .with_context(|| format!("{package} has no {from}"))?;
    }
    let provenance = Provenance {
        package,
        dbg_package: dbg.package,
        version: image.version,
        release,
        deb_bytes,
        download_ms,
        extract_ms,
        depmod_ms,
    };
    std::fs::write(
        stage.join(PROVENANCE),
        serde_json::to_vec_pretty(&provenance)?,
    )?;
    // An interrupted earlier attempt left a directory without provenance;
    // someone without the lock may have finished first: use their copy.
    match apt::publish(&stage, &dir, |d| load(d).is_some())? {
        apt::Published::Ours => Ok(DebianKernel {
            dir,
            provenance,
            fetched: true,
        }),
        apt::Published::Theirs => {
            load(&dir).with_context(|| format!("cannot read {}", dir.display()))
        }
    }
}

/// A completely provisioned directory.
fn load(dir: &Path) -> Option<DebianKernel> {
    let p: Provenance = serde_json::from_slice(&std::fs::read(dir.join(PROVENANCE)).ok()?).ok()?;
    KEPT.iter()
        .all(|(n, _)| dir.join(n).is_file())
        .then(|| DebianKernel {
            dir: dir.to_path_buf(),
            provenance: p,
            fetched: false,
        })
}

fn single_entry(dir: &Path) -> Result<String> {
    let names: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    match names.as_slice() {
        [one] => Ok(one.clone()),
        _ => bail!(
            "expected one directory in {}, found {names:?}",
            dir.display()
        ),
    }
}

/// depmod lives in /sbin, which a non-root PATH may lack.
fn find_depmod() -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join("depmod"))
        .find(|p| p.is_file())
        .context("depmod not found; it comes with kmod: apt-get install -y kmod")
}

/// The unsigned image package built from the tree's source version.
fn find_package(kernelversion: &str, debarch: &str) -> Result<apt::PackageVersion> {
    let series: Vec<&str> = kernelversion.splitn(3, '.').take(2).collect();
    let series = series.join(".");
    let source_version = apt::installed_version(&format!("linux-source-{series}"))
        .filter(|v| apt::upstream(v) == kernelversion);
    // Flavour-less images only: `6.12.117+deb12-amd64`, `6.1.0-28-amd64`,
    // not `...-cloud-amd64` or `...-rt-amd64`.
    let pattern = format!(r"^linux-image-[0-9][0-9.]*[-+][0-9a-z.]*-{debarch}-unsigned$");
    let names = apt::search_names(&pattern)?;
    if names.is_empty() {
        bail!(
            "apt knows no linux-image-*-{debarch}-unsigned package; run `apt-get update` \
             (scripts/setup does) on a Debian system whose sources carry Linux {series}"
        );
    }
    let mut found: Vec<apt::PackageVersion> = apt::madison(&names)?
        .into_iter()
        .filter(|pv| match &source_version {
            Some(sv) => &pv.version == sv,
            None => apt::upstream(&pv.version) == kernelversion,
        })
        .collect();
    found.sort();
    match found.pop() {
        Some(pv) => Ok(pv),
        None => bail!(
            "no linux-image-*-{debarch}-unsigned package of version {} in apt's lists \
             (Linux {kernelversion}); run `apt-get update`, or install the linux-source-{series} \
             package that matches the available images",
            source_version.as_deref().unwrap_or(kernelversion)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_architectures_are_a_clear_error() {
        let e = cache_dir(Path::new("/c"), "6.12.117", "riscv").unwrap_err();
        assert!(e.to_string().contains("--validate-build"), "{e}");
        assert_eq!(
            cache_dir(Path::new("/c"), "6.12.117", "x86_64").unwrap(),
            Path::new("/c/doctor/debian-6.12.117-amd64")
        );
    }
}
