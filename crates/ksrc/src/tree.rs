//! Finding a kernel source tree, extracting Debian's tarball when needed.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::{apt, make};

/// Written into an extraction before it is renamed into place, so its
/// presence proves the extraction ran to completion.
const MARKER: &str = ".ktailor-extracted";

/// A kernel source tree ready to be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelTree {
    /// Canonical path: cache keys and `srctree` must not depend on how the
    /// tree was named.
    pub root: PathBuf,
    /// `make kernelversion`, e.g. `6.12.117`: conf exports it as
    /// KERNELVERSION and it tells point releases of one series apart.
    pub kernelversion: String,
}

/// Turns a directory or a version such as `6.12` into a tree.
///
/// A version names Debian's `linux-source-<version>` package; its tarball is
/// extracted once under `<cache>/src` and reused afterwards.
pub fn resolve_kernel(spec: &str, cache: &Path) -> Result<KernelTree> {
    let as_path = Path::new(spec);
    if as_path.is_dir() {
        return tree_from_dir(as_path);
    }
    if !looks_like_version(spec) {
        bail!(
            "kernel {spec:?}: not a directory and not a version like 6.12; \
             pass a kernel source directory or a Debian linux-source version"
        );
    }
    let src = cache.join("src");
    let dest = src.join(format!("linux-source-{spec}"));
    if looks_complete(&dest) {
        return tree_from_dir(&dest);
    }
    if dest.exists() {
        bail!(
            "kernel {spec}: {} exists but is not a complete source tree; delete it and retry",
            dest.display()
        );
    }
    let tarball = PathBuf::from(format!("/usr/src/linux-source-{spec}.tar.xz"));
    if !tarball.is_file() {
        install_package(spec, &tarball)?;
    }
    extract(spec, &tarball, &src, &dest)?;
    tree_from_dir(&dest)
}

fn looks_like_version(spec: &str) -> bool {
    let mut parts = spec.split('.');
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    spec.contains('.') && parts.all(all_digits)
}

/// A tree counts as complete when it has our marker, or, for trees someone
/// else extracted, when the files every kconfig run needs are there.
fn looks_complete(dir: &Path) -> bool {
    dir.join(MARKER).is_file()
        || (dir.join("Makefile").is_file()
            && dir.join("scripts/kconfig/conf.c").is_file()
            && dir.join("arch").is_dir())
}

fn tree_from_dir(dir: &Path) -> Result<KernelTree> {
    for need in ["Makefile", "scripts/kconfig/conf.c"] {
        if !dir.join(need).is_file() {
            bail!(
                "{} is not a Linux source tree: {need} is missing; \
                 pass the top directory of a kernel source tree",
                dir.display()
            );
        }
    }
    let root = dir
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", dir.display()))?;
    let makefile = std::fs::read_to_string(root.join("Makefile"))
        .with_context(|| format!("cannot read {}/Makefile", root.display()))?;
    let kernelversion =
        kernelversion(&makefile).with_context(|| format!("{}/Makefile", root.display()))?;
    Ok(KernelTree {
        root,
        kernelversion,
    })
}

/// VERSION, PATCHLEVEL, SUBLEVEL, EXTRAVERSION as the top Makefile assigns
/// them (first assignment wins: they open the file).
pub(crate) fn version_fields(makefile: &str) -> Result<[String; 4]> {
    const NAMES: [&str; 4] = ["VERSION", "PATCHLEVEL", "SUBLEVEL", "EXTRAVERSION"];
    let mut found: [Option<String>; 4] = Default::default();
    for line in make::logical_lines(makefile) {
        if let Some(a) = make::assignment(&line) {
            if let Some(i) = NAMES.iter().position(|n| *n == a.name) {
                if found[i].is_none() {
                    found[i] = Some(a.value.to_string());
                }
            }
        }
        if found.iter().all(Option::is_some) {
            break;
        }
    }
    let mut out: [String; 4] = Default::default();
    for (i, f) in found.into_iter().enumerate() {
        match f {
            Some(v) => out[i] = v,
            None => bail!(
                "no {} assignment; is this a kernel top-level Makefile?",
                NAMES[i]
            ),
        }
    }
    Ok(out)
}

/// The Makefile's KERNELVERSION rule:
/// `$(VERSION)$(if $(PATCHLEVEL),.$(PATCHLEVEL)$(if $(SUBLEVEL),.$(SUBLEVEL)))$(EXTRAVERSION)`.
pub(crate) fn kernelversion(makefile: &str) -> Result<String> {
    let [v, p, s, e] = version_fields(makefile)?;
    let mut out = v;
    if !p.is_empty() {
        out.push('.');
        out.push_str(&p);
        if !s.is_empty() {
            out.push('.');
            out.push_str(&s);
        }
    }
    out.push_str(&e);
    Ok(out)
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

fn install_package(spec: &str, tarball: &Path) -> Result<()> {
    let pkg = format!("linux-source-{spec}");
    if !is_root() {
        bail!(
            "{} is missing; install it with: sudo apt-get install -y {pkg} \
             (or pass a kernel source directory instead of a version)",
            tarball.display()
        );
    }
    let said = match apt::install(&pkg)? {
        apt::Install::Installed if tarball.is_file() => return Ok(()),
        apt::Install::Installed => String::new(),
        apt::Install::Failed { stderr_tail } => stderr_tail,
    };
    bail!(
        "apt-get install -y {pkg} did not provide {}: {said}; \
         check that {pkg} exists for this Debian release (apt-cache search linux-source)",
        tarball.display(),
    )
}

/// Extracts into a private directory next to `dest` and renames it into
/// place, so an interrupted extraction never looks like a tree.
fn extract(spec: &str, tarball: &Path, src: &Path, dest: &Path) -> Result<()> {
    std::fs::create_dir_all(src).with_context(|| format!("cannot create {}", src.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix(".ktailor-extract-")
        .tempdir_in(src)
        .with_context(|| format!("cannot create a temporary directory in {}", src.display()))?;
    let out = Command::new("tar")
        .arg("-xJf")
        .arg(tarball)
        .arg("-C")
        .arg(tmp.path())
        .output()
        .context("cannot run tar; install tar and xz-utils")?;
    if !out.status.success() {
        bail!(
            "tar -xJf {} failed: {}; check free space in {} and that xz-utils is installed",
            tarball.display(),
            String::from_utf8_lossy(&out.stderr).trim(),
            src.display()
        );
    }
    let expected = tmp.path().join(format!("linux-source-{spec}"));
    let top = if expected.is_dir() {
        expected
    } else {
        let dirs: Vec<PathBuf> = std::fs::read_dir(tmp.path())?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir())
            .collect();
        match dirs.as_slice() {
            [one] => one.clone(),
            _ => bail!(
                "{} does not hold a single top-level directory; cannot tell which is the tree",
                tarball.display()
            ),
        }
    };
    if !top.join("Makefile").is_file() || !top.join("scripts/kconfig/conf.c").is_file() {
        bail!(
            "{} does not contain a kernel source tree",
            tarball.display()
        );
    }
    std::fs::write(top.join(MARKER), format!("{}\n", tarball.display()))
        .context("cannot write the extraction marker")?;
    // Synced and moved into place without replacing anything: another
    // process may have finished the same extraction first, and its tree
    // stays (ours goes with the temporary directory).
    if let Err(e) = ksys::fs::publish_dir(&top, dest) {
        if !looks_complete(dest) {
            return Err(e)
                .with_context(|| format!("cannot move the extracted tree to {}", dest.display()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernelversion_follows_the_makefile_rule() {
        let mk = "VERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 117\nEXTRAVERSION =\nNAME = x\n";
        assert_eq!(kernelversion(mk).unwrap(), "6.12.117");
        let mk = "VERSION = 6\nPATCHLEVEL = 13\nSUBLEVEL = 0\nEXTRAVERSION = -rc3\n";
        assert_eq!(kernelversion(mk).unwrap(), "6.13.0-rc3");
        let mk = "VERSION = 6\nPATCHLEVEL =\nSUBLEVEL = 1\nEXTRAVERSION =\n";
        assert_eq!(kernelversion(mk).unwrap(), "6");
        assert!(kernelversion("all:\n\techo\n").is_err());
    }

    #[test]
    fn versions_and_dirs() {
        assert!(looks_like_version("6.12"));
        assert!(looks_like_version("6.1"));
        assert!(!looks_like_version("6"));
        assert!(!looks_like_version("6.x"));
        assert!(!looks_like_version("../linux"));
    }

    #[test]
    fn dir_without_kconfig_is_rejected_with_advice() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("Makefile"), "VERSION = 1\n").unwrap();
        let err = resolve_kernel(d.path().to_str().unwrap(), d.path()).unwrap_err();
        assert!(format!("{err:#}").contains("scripts/kconfig/conf.c is missing"));
    }

    #[test]
    fn garbage_spec_is_rejected() {
        let d = tempfile::tempdir().unwrap();
        let err = resolve_kernel("no-such-thing", d.path()).unwrap_err();
        assert!(format!("{err:#}").contains("not a directory and not a version"));
    }

    #[test]
    fn extracted_tree_in_cache_is_found() {
        let cache = tempfile::tempdir().unwrap();
        let t = cache.path().join("src/linux-source-9.9");
        std::fs::create_dir_all(t.join("scripts/kconfig")).unwrap();
        std::fs::create_dir_all(t.join("arch")).unwrap();
        std::fs::write(
            t.join("Makefile"),
            "VERSION = 9\nPATCHLEVEL = 9\nSUBLEVEL = 1\nEXTRAVERSION =\n",
        )
        .unwrap();
        std::fs::write(t.join("scripts/kconfig/conf.c"), "").unwrap();
        let tree = resolve_kernel("9.9", cache.path()).unwrap();
        assert_eq!(tree.kernelversion, "9.9.1");
        assert_eq!(tree.root, t.canonicalize().unwrap());
    }

    #[test]
    fn tarball_is_extracted_atomically() {
        let work = tempfile::tempdir().unwrap();
        let stage = work.path().join("stage/linux-source-9.8");
        std::fs::create_dir_all(stage.join("scripts/kconfig")).unwrap();
        std::fs::create_dir_all(stage.join("arch/x86")).unwrap();
        std::fs::write(
            stage.join("Makefile"),
            "VERSION = 9\nPATCHLEVEL = 8\nSUBLEVEL = 0\nEXTRAVERSION = -x\n",
        )
        .unwrap();
        std::fs::write(stage.join("scripts/kconfig/conf.c"), "").unwrap();
        let tarball = work.path().join("t.tar.xz");
        let ok = Command::new("tar")
            .arg("-cJf")
            .arg(&tarball)
            .arg("-C")
            .arg(work.path().join("stage"))
            .arg("linux-source-9.8")
            .status()
            .unwrap()
            .success();
        assert!(ok);
        let src = work.path().join("cache/src");
        let dest = src.join("linux-source-9.8");
        extract("9.8", &tarball, &src, &dest).unwrap();
        assert!(dest.join(MARKER).is_file());
        assert_eq!(tree_from_dir(&dest).unwrap().kernelversion, "9.8.0-x");
        // Nothing but the tree is left behind.
        let left: Vec<_> = std::fs::read_dir(&src).unwrap().collect();
        assert_eq!(left.len(), 1);
        // A second extraction that finishes after the first (two processes
        // provisioning at once) keeps the first tree and cleans up its own.
        std::fs::write(dest.join("first"), "").unwrap();
        extract("9.8", &tarball, &src, &dest).unwrap();
        assert!(dest.join("first").is_file(), "the first tree was replaced");
        let left: Vec<_> = std::fs::read_dir(&src).unwrap().collect();
        assert_eq!(left.len(), 1);
    }
}
