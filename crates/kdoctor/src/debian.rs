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

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};
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
    let (package, version) = find_package(&tree.kernelversion, debarch)?;
    let parent = dir
        .parent()
        .context("cache directory has no parent")?
        .to_path_buf();
    std::fs::create_dir_all(&parent)
        .with_context(|| format!("cannot create {}", parent.display()))?;
    let work = tempfile::Builder::new()
        .prefix(".debian-fetch-")
        .tempdir_in(&parent)
        .with_context(|| {
            format!(
                "cannot create a temporary directory in {}",
                parent.display()
            )
        })?;

    let dbg_package = match package.strip_suffix("-unsigned") {
        Some(p) => format!("{p}-dbg"),
        None => bail!("{package} is not an -unsigned image package"),
    };
    let t = Instant::now();
    run(
        Command::new("apt-get")
            .arg("download")
            .arg(format!("{package}={version}"))
            .arg(format!("{dbg_package}={version}"))
            .current_dir(work.path()),
        &format!("apt-get download {package}={version} {dbg_package}={version}"),
        "check the network and run `apt-get update` (scripts/setup does)",
    )?;
    let download_ms = t.elapsed().as_millis() as u64;
    let deb_of = |name: &str| -> Result<PathBuf> {
        let prefix = format!("{name}_");
        std::fs::read_dir(work.path())
            .with_context(|| format!("cannot list {}", work.path().display()))?
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.extension().is_some_and(|e| e == "deb")
                    && p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with(&prefix))
            })
            .with_context(|| format!("apt-get download {name} produced no .deb"))
    };
    let (deb, dbg_deb) = (deb_of(&package)?, deb_of(&dbg_package)?);
    let deb_bytes = [&deb, &dbg_deb]
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();

    let t = Instant::now();
    let root = work.path().join("root");
    run(
        Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root),
        &format!("dpkg-deb -x {}", deb.display()),
        "dpkg-deb comes with dpkg; is this a Debian system?",
    )?;
    let _ = std::fs::remove_file(&deb);
    // Merged-/usr packages put modules in usr/lib/modules; depmod -b takes
    // the directory holding lib/modules.
    let (base, modules_rel) = ["", "usr"]
        .iter()
        .map(|p| (root.join(p), Path::new(p).join("lib/modules")))
        .find(|(b, _)| b.join("lib/modules").is_dir())
        .with_context(|| format!("{package} has no lib/modules directory"))?;
    let release = single_entry(&base.join("lib/modules"))
        .with_context(|| format!("{package}: which kernel release is in lib/modules?"))?;
    extract_member(
        &dbg_deb,
        &format!("./usr/lib/debug/boot/System.map-{release}"),
        &root,
    )?;
    let _ = std::fs::remove_file(&dbg_deb);
    let extract_ms = t.elapsed().as_millis() as u64;

    let t = Instant::now();
    run(
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
        dbg_package,
        version,
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
    // An interrupted earlier attempt left a directory without provenance.
    if dir.exists() && load(&dir).is_none() {
        std::fs::remove_dir_all(&dir)
            .with_context(|| format!("cannot remove the incomplete {}", dir.display()))?;
    }
    if let Err(e) = std::fs::rename(&stage, &dir) {
        // Someone without the lock finished first: use their copy.
        if let Some(k) = load(&dir) {
            return Ok(k);
        }
        return Err(e).with_context(|| format!("cannot create {}", dir.display()));
    }
    Ok(DebianKernel {
        dir,
        provenance,
        fetched: true,
    })
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

/// Reads one member out of a package's data archive, stopping as soon as
/// it has been read (`tar --occurrence=1`), so a member near the start of a
/// large package costs little.
fn extract_member(deb: &Path, member: &str, into: &Path) -> Result<()> {
    std::fs::create_dir_all(into).with_context(|| format!("cannot create {}", into.display()))?;
    let what = format!("{member} from {}", deb.display());
    let mut dpkg = Command::new("dpkg-deb")
        .arg("--fsys-tarfile")
        .arg(deb)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot run dpkg-deb to read {what}"))?;
    let stdout = dpkg.stdout.take().context("dpkg-deb has no stdout")?;
    let tar = Command::new("tar")
        .args(["-x", "--occurrence=1", "-C"])
        .arg(into)
        .arg(member)
        .stdin(stdout)
        .output();
    // tar stops reading early, so dpkg-deb dies of a broken pipe: its
    // status says nothing; the extracted file does.
    let _ = dpkg.kill();
    let _ = dpkg.wait();
    let tar = tar.with_context(|| format!("cannot run tar to read {what}"))?;
    let file = into.join(member);
    if !tar.status.success() || !file.is_file() {
        bail!(
            "cannot extract {what}: {}",
            String::from_utf8_lossy(&tar.stderr).trim()
        );
    }
    Ok(())
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

fn run(cmd: &mut Command, what: &str, advice: &str) -> Result<()> {
    let out = cmd
        .output()
        .map_err(|e| anyhow::anyhow!("cannot run {what}: {e}; {advice}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(10).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!(
            "{what} failed ({}):\n{}\n{advice}",
            out.status,
            tail.join("\n")
        );
    }
    Ok(())
}

fn capture(cmd: &mut Command) -> Option<String> {
    let out = cmd.output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The upstream part of a Debian version: `1:6.12.117-1~deb12u1` →
/// `6.12.117`.
fn upstream(version: &str) -> &str {
    let v = version.split_once(':').map_or(version, |(_, v)| v);
    v.rsplit_once('-').map_or(v, |(u, _)| u)
}

/// The unsigned image package built from the tree's source version.
fn find_package(kernelversion: &str, debarch: &str) -> Result<(String, String)> {
    let series: Vec<&str> = kernelversion.splitn(3, '.').take(2).collect();
    let series = series.join(".");
    let source_version = capture(
        Command::new("dpkg-query")
            .args(["-W", "-f=${Version}"])
            .arg(format!("linux-source-{series}")),
    )
    .filter(|v| upstream(v) == kernelversion);
    // Flavour-less images only: `6.12.117+deb12-amd64`, `6.1.0-28-amd64`,
    // not `...-cloud-amd64` or `...-rt-amd64`.
    let pattern = format!(r"^linux-image-[0-9][0-9.]*[-+][0-9a-z.]*-{debarch}-unsigned$");
    let names = capture(Command::new("apt-cache").args(["search", "--names-only", &pattern]))
        .context("apt-cache search failed; is this a Debian system with apt?")?;
    let names: Vec<&str> = names
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    if names.is_empty() {
        bail!(
            "apt knows no linux-image-*-{debarch}-unsigned package; run `apt-get update` \
             (scripts/setup does) on a Debian system whose sources carry Linux {series}"
        );
    }
    let records = capture(Command::new("apt-cache").arg("show").args(&names))
        .context("apt-cache show failed")?;
    let mut found: Vec<(String, String)> = Vec::new();
    for rec in records.split("\n\n") {
        let field = |k: &str| {
            rec.lines()
                .find_map(|l| l.strip_prefix(k).map(|v| v.trim().to_string()))
        };
        if let (Some(p), Some(v)) = (field("Package:"), field("Version:")) {
            let wanted = match &source_version {
                Some(sv) => &v == sv,
                None => upstream(&v) == kernelversion,
            };
            if wanted && !found.contains(&(p.clone(), v.clone())) {
                found.push((p, v));
            }
        }
    }
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
    fn upstream_versions() {
        assert_eq!(upstream("6.12.117-1~deb12u1"), "6.12.117");
        assert_eq!(upstream("1:6.1.192-2"), "6.1.192");
        assert_eq!(upstream("6.1"), "6.1");
    }

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
