//! Kernel source trees: locating them and reading the few facts the harness needs.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Serialize;

/// A kernel source tree the harness runs against.
#[derive(Clone, Debug, Serialize)]
pub struct KernelTree {
    /// What the user asked for (`6.12`, or a path), kept for messages.
    pub spec: String,
    /// Canonical path, so cache keys do not depend on how the tree was named.
    pub root: PathBuf,
    /// `make kernelversion` as computed from the top Makefile, e.g. `6.12.117`.
    pub kernelversion: String,
    /// VERSION, PATCHLEVEL, SUBLEVEL and EXTRAVERSION from the top Makefile:
    /// part of the oracle cache key, so a re-extracted newer point release of
    /// the same series never reuses stale outputs.
    pub version_fields: [String; 4],
}

/// Cache root shared by all ktailor tools, so kconform finds the trees
/// ktailor extracted and keeps its oracle cache beside them.
pub fn cache_root() -> PathBuf {
    ksrc::cache_root()
}

/// Turns `6.12` or a directory into a tree, the same way ktailor does (ksrc
/// extracts Debian's linux-source on first use), and adds the Makefile
/// version fields the oracle cache key needs.
pub fn resolve_kernel(spec: &str, cache: &Path) -> Result<KernelTree> {
    let t = ksrc::resolve_kernel(spec, cache)?;
    let makefile = std::fs::read_to_string(t.root.join("Makefile"))
        .with_context(|| format!("kernel {spec}: cannot read {}/Makefile", t.root.display()))?;
    let version_fields = parse_version_fields(&makefile)
        .with_context(|| format!("kernel {spec}: {}/Makefile", t.root.display()))?;
    Ok(KernelTree {
        spec: spec.to_string(),
        root: t.root,
        kernelversion: t.kernelversion,
        version_fields,
    })
}

/// Reads the leading `VERSION = ...` style assignments of the top Makefile.
pub(crate) fn parse_version_fields(makefile: &str) -> Result<[String; 4]> {
    const NAMES: [&str; 4] = ["VERSION", "PATCHLEVEL", "SUBLEVEL", "EXTRAVERSION"];
    let mut found: [Option<String>; 4] = Default::default();
    for line in makefile.lines().take(200) {
        let Some((name, value)) = line.split_once('=') else {
            continue;
        };
        let name = name.trim();
        if let Some(i) = NAMES.iter().position(|n| *n == name) {
            if found[i].is_none() {
                found[i] = Some(value.trim().to_string());
            }
        }
    }
    let mut out: [String; 4] = Default::default();
    for (i, slot) in found.into_iter().enumerate() {
        match slot {
            Some(v) => out[i] = v,
            None => bail!("no {} assignment", NAMES[i]),
        }
    }
    if out[0].is_empty() {
        bail!("empty VERSION");
    }
    Ok(out)
}

/// The ARCH values to test for each directory under arch/.
///
/// x86 has no ARCH=x86 build in practice: users pick x86_64 or i386, and
/// those select different Kconfig defaults (64BIT has no prompt), so both are
/// tested.
pub fn arches(tree: &KernelTree) -> Result<Vec<String>> {
    let dir = tree.root.join("arch");
    let mut names = Vec::new();
    for entry in
        std::fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))?
    {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            if let Some(name) = entry.file_name().to_str() {
                names.push(name.to_string());
            }
        }
    }
    names.sort();
    let mut out = Vec::new();
    for name in names {
        if name == "x86" {
            out.push("x86_64".to_string());
            out.push("i386".to_string());
        } else {
            out.push(name);
        }
    }
    Ok(out)
}

/// SRCARCH as the top Makefile derives it from ARCH.
pub fn srcarch(arch: &str) -> &str {
    ksrc::srcarch_of(arch)
}

/// Variables some ARCH values need on the make command line.
///
/// UML's Kconfig sources arch/$(SUBARCH)/um/Kconfig; pinning SUBARCH keeps
/// the result independent of the host's `uname -m`.
pub fn arch_make_vars(arch: &str) -> Vec<(String, String)> {
    if arch == "um" {
        vec![("SUBARCH".to_string(), "x86".to_string())]
    } else {
        Vec::new()
    }
}

/// Files `arch/<srcarch>/configs/*defconfig` (sorted), the defconfigs users build from.
pub fn defconfig_files(tree: &KernelTree, srcarch: &str) -> Result<Vec<String>> {
    let dir = tree.root.join("arch").join(srcarch).join("configs");
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for entry in
        std::fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))?
    {
        let entry = entry?;
        if !entry.file_type()?.is_file() {
            continue;
        }
        if let Some(name) = entry.file_name().to_str() {
            if name.ends_with("defconfig") {
                out.push(name.to_string());
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_fields() {
        let mk = "# SPDX\nVERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 117\nEXTRAVERSION =\nNAME = x\n";
        assert_eq!(parse_version_fields(mk).unwrap(), ["6", "12", "117", ""]);
        let mk = "VERSION = 6\nPATCHLEVEL = 1\nSUBLEVEL =\nEXTRAVERSION = -rc3\n";
        assert_eq!(parse_version_fields(mk).unwrap(), ["6", "1", "", "-rc3"]);
        assert!(parse_version_fields("PATCHLEVEL = 1\n").is_err());
    }

    #[test]
    fn resolves_directory_and_version() {
        let cache = tempfile::tempdir().unwrap();
        let root = cache.path().join("src").join("linux-source-9.9");
        std::fs::create_dir_all(root.join("arch/x86/configs")).unwrap();
        std::fs::create_dir_all(root.join("arch/arm64")).unwrap();
        std::fs::create_dir_all(root.join("scripts/kconfig")).unwrap();
        std::fs::write(root.join("scripts/kconfig/conf.c"), "").unwrap();
        std::fs::write(root.join("arch/Kconfig"), "").unwrap();
        std::fs::write(
            root.join("Makefile"),
            "VERSION = 9\nPATCHLEVEL = 9\nSUBLEVEL = 1\nEXTRAVERSION =\n",
        )
        .unwrap();
        std::fs::write(root.join("arch/x86/configs/x86_64_defconfig"), "").unwrap();
        std::fs::write(root.join("arch/x86/configs/tiny.config"), "").unwrap();
        let t = resolve_kernel("9.9", cache.path()).unwrap();
        assert_eq!(t.kernelversion, "9.9.1");
        let t2 = resolve_kernel(root.to_str().unwrap(), cache.path()).unwrap();
        assert_eq!(t.root, t2.root);
        assert_eq!(arches(&t).unwrap(), ["arm64", "x86_64", "i386"]);
        assert_eq!(defconfig_files(&t, "x86").unwrap(), ["x86_64_defconfig"]);
        assert!(resolve_kernel("no such thing", cache.path()).is_err());
    }
}
