//! The feature catalog and the targets built from it: data, not code.
//!
//! A *feature* is something a user wants from a kernel ("serial console",
//! "ext4", "UNIX sockets") expressed as the CONFIG values it needs, why, what
//! a user sees without it, and which in-guest probes prove it works. A
//! *target* is a named composition of features plus the QEMU machine it is
//! meant for. Both live in `data/*.toml` at the repository root and are
//! compiled into the binary, so ktailor works from any directory; a user can
//! point `--catalog DIR` at their own copy.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

mod ladder;
mod names;
pub use ladder::{DiskImage, Ladder, Probe, Probes, Step};
pub use names::{
    Arch, Base, DiskContent, DiskInit, DiskInterface, DiskMachine, Firmware, MachineType, Needs,
    NicModel, UnknownName, Userspace,
};

const BUILTIN_FEATURES: &str = include_str!("../../../data/features.toml");
const BUILTIN_TARGETS: &str = include_str!("../../../data/targets.toml");

/// One `SYMBOL=value` a feature needs. Values are written as in a .config:
/// `y`, `m`, `n`, a number, or a quoted string.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Requirement {
    pub symbol: String,
    pub value: String,
}

impl Requirement {
    pub fn parse(s: &str) -> Result<Requirement, String> {
        let s = s.trim();
        let s = s.strip_prefix("CONFIG_").unwrap_or(s);
        let (sym, val) = s
            .split_once('=')
            .ok_or_else(|| format!("{s:?}: expected SYMBOL=value"))?;
        let sym = sym.trim();
        if sym.is_empty() || !sym.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(format!("{s:?}: {sym:?} is not a Kconfig symbol name"));
        }
        let val = val.trim();
        if val.is_empty() {
            return Err(format!("{s:?}: empty value"));
        }
        Ok(Requirement {
            symbol: sym.to_string(),
            value: val.to_string(),
        })
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CONFIG_{}={}", self.symbol, self.value)
    }
}

impl<'de> Deserialize<'de> for Requirement {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Requirement::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A note that a symbol is often mistaken for this feature.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Confusion {
    pub symbol: String,
    pub note: String,
}

/// Requirements that replace `config` on some kernel versions, for symbols
/// that were renamed or split.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    /// A version range such as `<6.6` or `>=6.11`.
    pub kernel: String,
    pub config: Vec<Requirement>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Feature {
    pub name: String,
    pub summary: String,
    pub why: String,
    #[serde(default)]
    pub config: Vec<Requirement>,
    /// Other features this one needs (by name).
    #[serde(default)]
    pub requires: Vec<String>,
    /// What a user sees without it: messages, errno names, behaviours.
    #[serde(default)]
    pub symptoms: Vec<String>,
    /// In-guest probes that prove it works (names shared with the probe program).
    #[serde(default)]
    pub probes: Vec<String>,
    #[serde(default)]
    pub confused_with: Vec<Confusion>,
    /// Architectures it applies to (empty: all).
    #[serde(default)]
    pub arches: Vec<Arch>,
    /// Kernel command-line parameters it wants (e.g. `console=ttyS0`).
    #[serde(default)]
    pub cmdline: Vec<String>,
    /// File system names it makes appear in /proc/filesystems (checked by
    /// the `filesystems` probe).
    #[serde(default)]
    pub filesystems: Vec<String>,
    #[serde(default)]
    pub variants: Vec<Variant>,
}

impl Feature {
    /// The requirements for a kernel version ("6.12.117").
    pub fn config_for(&self, kernelversion: &str) -> &[Requirement] {
        for v in &self.variants {
            if version_matches(&v.kernel, kernelversion) {
                return &v.config;
            }
        }
        &self.config
    }
}

fn version_tuple(v: &str) -> (u32, u32) {
    let mut it = v
        .split(['.', '-'])
        .map(|p| p.trim().parse::<u32>().unwrap_or(0));
    (it.next().unwrap_or(0), it.next().unwrap_or(0))
}

/// `<6.6`, `<=6.6`, `>6.6`, `>=6.11`, `=6.1` against "6.12.117".
pub fn version_matches(range: &str, kernelversion: &str) -> bool {
    let k = version_tuple(kernelversion);
    let r = range.trim();
    let (op, v) = if let Some(v) = r.strip_prefix(">=") {
        (">=", v)
    } else if let Some(v) = r.strip_prefix("<=") {
        ("<=", v)
    } else if let Some(v) = r.strip_prefix('<') {
        ("<", v)
    } else if let Some(v) = r.strip_prefix('>') {
        (">", v)
    } else if let Some(v) = r.strip_prefix('=') {
        ("=", v)
    } else {
        ("=", r)
    };
    let v = version_tuple(v);
    match op {
        ">=" => k >= v,
        "<=" => k <= v,
        "<" => k < v,
        ">" => k > v,
        _ => k == v,
    }
}

/// A network card QEMU attaches.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Nic {
    /// QEMU device model: e1000, e1000e, rtl8139 or virtio-net-pci.
    pub model: NicModel,
    /// Forward a host port to the guest's TCP listener (the seed's nc test).
    #[serde(default)]
    pub hostfwd: bool,
}

/// A disk QEMU attaches.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Disk {
    /// ahci, virtio-blk, nvme, ide, virtio-scsi
    pub interface: DiskInterface,
    /// What is on it: `ext4-scratch` (an ext4 image the probes mount),
    /// `debian-sysvinit`, `debian-systemd` (root file systems).
    pub content: DiskContent,
    #[serde(default = "default_disk_mb")]
    pub size_mb: u32,
}

fn default_disk_mb() -> u32 {
    64
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Machine {
    /// QEMU machine type: pc, q35, microvm.
    pub machine: MachineType,
    #[serde(default = "default_memory")]
    pub memory_mb: u32,
    #[serde(default = "default_cpus")]
    pub cpus: u32,
    /// bios or uefi
    #[serde(default = "default_firmware")]
    pub firmware: Firmware,
    #[serde(default)]
    pub nics: Vec<Nic>,
    #[serde(default)]
    pub disks: Vec<Disk>,
    /// What the kernel boots into: `probe` (our probe program as /init),
    /// `busybox` (busybox shell + probes), `hello` (a static hello world),
    /// `none` (no initramfs), `disk` (the root file system on a disk).
    pub userspace: Userspace,
}

impl Machine {
    /// A machine of QEMU type `machine` with nothing attached and no
    /// userspace: what booting a bare kernel image needs, with the same
    /// defaults a target gets when it leaves fields out.
    pub fn bare(machine: MachineType) -> Machine {
        Machine {
            machine,
            memory_mb: default_memory(),
            cpus: default_cpus(),
            firmware: default_firmware(),
            nics: Vec::new(),
            disks: Vec::new(),
            userspace: Userspace::None,
        }
    }
}

fn default_memory() -> u32 {
    256
}
fn default_cpus() -> u32 {
    1
}
fn default_firmware() -> Firmware {
    Firmware::Bios
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub name: String,
    pub summary: String,
    #[serde(default = "default_arch")]
    pub arch: Arch,
    #[serde(default = "default_base")]
    pub base: Base,
    pub features: Vec<String>,
    /// Extra kernel parameters beyond what the features ask for.
    #[serde(default)]
    pub cmdline: Vec<String>,
    pub machine: Machine,
}

fn default_arch() -> Arch {
    Arch::X86_64
}
fn default_base() -> Base {
    Base::Tinyconfig
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FeatureFile {
    #[serde(default, rename = "feature")]
    features: Vec<Feature>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetFile {
    #[serde(default, rename = "target")]
    targets: Vec<Target>,
}

#[derive(Clone, Debug)]
pub struct Catalog {
    pub features: Vec<Feature>,
    pub targets: Vec<Target>,
}

/// A problem in catalog data, naming the file and the entry.
#[derive(Debug)]
pub struct CatalogError(pub String);

impl fmt::Display for CatalogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for CatalogError {}

impl Catalog {
    /// The catalog compiled into ktailor.
    pub fn builtin() -> Catalog {
        Catalog::from_strs(
            ("data/features.toml", BUILTIN_FEATURES),
            ("data/targets.toml", BUILTIN_TARGETS),
        )
        .expect("the built-in catalog is validated by tests")
    }

    /// A catalog from a directory holding features.toml and targets.toml.
    pub fn load(dir: &Path) -> Result<Catalog, CatalogError> {
        let read = |n: &str| {
            let p = dir.join(n);
            std::fs::read_to_string(&p)
                .map(|s| (p.display().to_string(), s))
                .map_err(|e| CatalogError(format!("{}: {e}", p.display())))
        };
        let (fname, ftext) = read("features.toml")?;
        let (tname, ttext) = read("targets.toml")?;
        Catalog::from_strs((&fname, &ftext), (&tname, &ttext))
    }

    pub fn from_strs(
        features: (&str, &str),
        targets: (&str, &str),
    ) -> Result<Catalog, CatalogError> {
        let ff: FeatureFile =
            toml::from_str(features.1).map_err(|e| CatalogError(format!("{}: {e}", features.0)))?;
        let tf: TargetFile =
            toml::from_str(targets.1).map_err(|e| CatalogError(format!("{}: {e}", targets.0)))?;
        let cat = Catalog {
            features: ff.features,
            targets: tf.targets,
        };
        cat.validate(features.0, targets.0)?;
        Ok(cat)
    }

    fn validate(&self, ffile: &str, tfile: &str) -> Result<(), CatalogError> {
        let mut names = BTreeSet::new();
        for f in &self.features {
            if !names.insert(f.name.as_str()) {
                return Err(CatalogError(format!(
                    "{ffile}: feature {:?} is defined twice",
                    f.name
                )));
            }
            if f.config.is_empty() && f.requires.is_empty() {
                return Err(CatalogError(format!(
                    "{ffile}: feature {:?} needs no CONFIG value and no other feature",
                    f.name
                )));
            }
        }
        for f in &self.features {
            for r in &f.requires {
                if !names.contains(r.as_str()) {
                    return Err(CatalogError(format!(
                        "{ffile}: feature {:?} requires unknown feature {r:?}",
                        f.name
                    )));
                }
            }
        }
        let mut tnames = BTreeSet::new();
        for t in &self.targets {
            if !tnames.insert(t.name.as_str()) {
                return Err(CatalogError(format!(
                    "{tfile}: target {:?} is defined twice",
                    t.name
                )));
            }
            for f in &t.features {
                if !names.contains(f.as_str()) {
                    return Err(CatalogError(format!(
                        "{tfile}: target {:?} uses unknown feature {f:?}",
                        t.name
                    )));
                }
            }
        }
        // requires must not loop
        for f in &self.features {
            self.closure(std::slice::from_ref(&f.name))
                .map_err(|e| CatalogError(format!("{ffile}: {e}")))?;
        }
        Ok(())
    }

    pub fn feature(&self, name: &str) -> Option<&Feature> {
        self.features.iter().find(|f| f.name == name)
    }

    pub fn target(&self, name: &str) -> Option<&Target> {
        self.targets.iter().find(|t| t.name == name)
    }

    /// Features plus everything they require, each once, dependencies first.
    pub fn closure(&self, names: &[String]) -> Result<Vec<&Feature>, String> {
        let mut out: Vec<&Feature> = Vec::new();
        let mut state: BTreeMap<&str, u8> = BTreeMap::new();
        fn visit<'a>(
            cat: &'a Catalog,
            name: &str,
            state: &mut BTreeMap<&'a str, u8>,
            out: &mut Vec<&'a Feature>,
            path: &mut Vec<String>,
        ) -> Result<(), String> {
            let f = cat
                .feature(name)
                .ok_or_else(|| format!("unknown feature {name:?}"))?;
            match state.get(f.name.as_str()) {
                Some(2) => return Ok(()),
                Some(1) => {
                    path.push(name.to_string());
                    return Err(format!(
                        "features require each other: {}",
                        path.join(" -> ")
                    ));
                }
                _ => {}
            }
            state.insert(&f.name, 1);
            path.push(name.to_string());
            for r in &f.requires {
                visit(cat, r, state, out, path)?;
            }
            path.pop();
            state.insert(&f.name, 2);
            out.push(f);
            Ok(())
        }
        for n in names {
            visit(self, n, &mut state, &mut out, &mut Vec::new())?;
        }
        Ok(out)
    }

    /// Feature names closest to `name`, for "did you mean" messages.
    pub fn suggest_feature(&self, name: &str) -> Vec<&str> {
        let mut v: Vec<(usize, &str)> = self
            .features
            .iter()
            .map(|f| (strsim::levenshtein(name, &f.name), f.name.as_str()))
            .collect();
        v.sort();
        v.into_iter()
            .filter(|(d, _)| *d <= 3.max(name.len() / 3))
            .take(3)
            .map(|(_, n)| n)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalog_loads_and_validates() {
        let c = Catalog::builtin();
        assert!(!c.features.is_empty());
        assert!(!c.targets.is_empty());
    }

    #[test]
    fn requirement_syntax() {
        assert_eq!(
            Requirement::parse("CONFIG_FOO=y").unwrap(),
            Requirement {
                symbol: "FOO".into(),
                value: "y".into()
            }
        );
        assert!(Requirement::parse("FOO").is_err());
        assert!(Requirement::parse("FO O=y").is_err());
    }

    #[test]
    fn versions() {
        assert!(version_matches("<6.6", "6.1.192"));
        assert!(!version_matches("<6.6", "6.12.117"));
        assert!(version_matches(">=6.11", "6.12.117"));
    }

    /// A one-target targets.toml with the `replace`d lines swapped in.
    fn target_toml(replace: &[(&str, &str)]) -> String {
        let mut lines = vec![
            ("name", "name = 't'".to_string()),
            ("summary", "summary = 's'".to_string()),
            ("arch", "arch = 'x86_64'".to_string()),
            ("base", "base = 'tinyconfig'".to_string()),
            ("features", "features = ['a']".to_string()),
            ("machine", "[target.machine]".to_string()),
            ("machine.machine", "machine = 'q35'".to_string()),
            ("machine.firmware", "firmware = 'uefi'".to_string()),
            ("machine.userspace", "userspace = 'probe'".to_string()),
            (
                "machine.nics",
                "nics = [{ model = 'virtio-net-pci', hostfwd = true }]".to_string(),
            ),
            (
                "machine.disks",
                "disks = [{ interface = 'nvme', content = 'ext4-scratch' }]".to_string(),
            ),
        ];
        for (k, v) in replace {
            let l = lines.iter_mut().find(|(n, _)| n == k).expect(k);
            l.1 = v.to_string();
        }
        let body: Vec<String> = lines.into_iter().map(|(_, v)| v).collect();
        format!("[[target]]\n{}\n", body.join("\n"))
    }

    const ONE_FEATURE: &str = "[[feature]]\nname='a'\nsummary='s'\nwhy='w'\nconfig=['A=y']\n";

    #[test]
    fn every_named_field_is_typed() {
        let load = |t: &str| Catalog::from_strs(("f.toml", ONE_FEATURE), ("t.toml", t));
        let c = load(&target_toml(&[])).unwrap();
        let m = &c.targets[0].machine;
        assert_eq!(
            (c.targets[0].arch, c.targets[0].base),
            (Arch::X86_64, Base::Tinyconfig)
        );
        assert_eq!(
            (m.machine, m.firmware, m.userspace),
            (MachineType::Q35, Firmware::Uefi, Userspace::Probe)
        );
        assert_eq!(m.nics[0].model, NicModel::VirtioNetPci);
        assert_eq!(
            (m.disks[0].interface, m.disks[0].content),
            (DiskInterface::Nvme, DiskContent::Ext4Scratch)
        );
        // Names print as the data spells them, in text and in JSON alike.
        assert_eq!(m.disks[0].interface.to_string(), "nvme");
        let text = toml::to_string(m).unwrap();
        assert!(
            text.contains("machine = \"q35\"") && text.contains("firmware = \"uefi\""),
            "{text}"
        );

        // (line replaced, field as the error names it, the misspelt value)
        let cases: &[(&str, &str, &str, &str)] = &[
            ("arch", "arch = 'x86-64'", "arch", "x86-64"),
            ("base", "base = 'tinyconf'", "base", "tinyconf"),
            ("machine.machine", "machine = 'q53'", "machine", "q53"),
            (
                "machine.machine",
                "machine = 'ec2-sim'",
                "machine",
                "ec2-sim",
            ),
            ("machine.firmware", "firmware = 'efi'", "firmware", "efi"),
            (
                "machine.userspace",
                "userspace = 'busybx'",
                "userspace",
                "busybx",
            ),
            (
                "machine.userspace",
                "userspace = 'systemd'",
                "userspace",
                "systemd",
            ),
            (
                "machine.nics",
                "nics = [{ model = 'virtio-net' }]",
                "model",
                "virtio-net",
            ),
            (
                "machine.disks",
                "disks = [{ interface = 'virtio', content = 'ext4-scratch' }]",
                "interface",
                "virtio",
            ),
            (
                "machine.disks",
                "disks = [{ interface = 'nvme', content = 'ext4' }]",
                "content",
                "ext4",
            ),
        ];
        for (line, text, field, bad) in cases {
            let toml = target_toml(&[(line, text)]);
            let e = load(&toml).expect_err(text).to_string();
            let want = format!("{field} = {bad:?} is not one of: ");
            assert!(e.starts_with("t.toml: "), "{e}");
            assert!(e.contains(&want), "{text}: wanted {want:?} in:\n{e}");
        }
        // A feature's arches too.
        let f = format!("{ONE_FEATURE}arches = ['amd64']\n");
        let e = Catalog::from_strs(("f.toml", &f), ("t.toml", "")).unwrap_err();
        assert!(
            e.0.starts_with("f.toml: ") && e.0.contains("arch = \"amd64\" is not one of: x86_64"),
            "{e}"
        );
    }

    #[test]
    fn bad_references_are_reported_with_file() {
        let f = "[[feature]]\nname='a'\nsummary='s'\nwhy='w'\nconfig=['A=y']\nrequires=['b']\n";
        let e = Catalog::from_strs(("f.toml", f), ("t.toml", "")).unwrap_err();
        assert!(
            e.0.contains("f.toml") && e.0.contains("unknown feature \"b\""),
            "{e}"
        );
    }
}
