//! The seed's milestones as data (`data/ladder.toml`), and the probe
//! vocabulary (`data/probes.toml`) with what each probe needs from the QEMU
//! machine to mean anything.
//!
//! Two kinds of step: probe steps boot an initramfs (`userspace` `none`,
//! `hello`, `busybox` or `probe`) and are proved by `expect` text or probes;
//! disk steps (`userspace = "disk"`) boot a Debian disk image described by
//! `image` and are proved by the named checks of the SSH-checked run
//! (`ktailor run`'s checks, made by the krun crate). This crate is data and
//! does not depend on krun: check names are strings here, and a test in
//! ktailor (`ladder_cmd`) holds every name in `data/ladder.toml` against
//! `krun::CHECKS`.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::{
    Catalog, CatalogError, DiskInit, DiskMachine, Firmware, Machine, MachineType, Needs, Userspace,
};

const BUILTIN_LADDER: &str = include_str!("../../../data/ladder.toml");
const BUILTIN_PROBES: &str = include_str!("../../../data/probes.toml");

/// One rung: the features it adds (cumulative with every earlier rung), the
/// machine it boots on, and what proves it.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub name: String,
    /// The seed's words for this milestone.
    pub seed: String,
    pub features: Vec<String>,
    pub machine: Machine,
    /// Probes this step newly proves; earlier steps' probes must still pass.
    #[serde(default)]
    pub probes: Vec<String>,
    /// Console text that proves a step that runs no probe program.
    #[serde(default)]
    pub expect: Option<String>,
    /// Disk steps only (`userspace = "disk"`): the Debian image it boots.
    #[serde(default)]
    pub image: Option<DiskImage>,
    /// Disk steps only: checks of the run (names from krun) this step newly
    /// requires; every earlier disk step's checks must still pass.
    #[serde(default)]
    pub checks: Vec<String>,
}

impl Step {
    /// Whether the step boots a Debian disk image (judged by checks).
    pub fn is_disk(&self) -> bool {
        self.machine.userspace == Userspace::Disk
    }
}

/// The image a disk step boots: a Debian bookworm root with `init`, and
/// the step's kernel, booted on `machine`.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DiskImage {
    pub init: DiskInit,
    pub machine: DiskMachine,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LadderFile {
    /// Features added to every disk step from the first one whose root is
    /// systemd (`image.init`, or `ktailor ladder --init systemd`).
    #[serde(default, rename = "systemd-features")]
    systemd_features: Vec<String>,
    #[serde(rename = "step")]
    steps: Vec<Step>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Probe {
    pub name: String,
    pub what: String,
    #[serde(default)]
    pub needs: Option<Needs>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProbeFile {
    #[serde(rename = "probe")]
    probes: Vec<Probe>,
}

/// The probe vocabulary.
#[derive(Clone, Debug)]
pub struct Probes {
    pub probes: Vec<Probe>,
}

impl Probes {
    pub fn builtin() -> Probes {
        Probes::from_str("data/probes.toml", BUILTIN_PROBES)
            .expect("the built-in probes are validated by tests")
    }

    pub fn from_str(name: &str, text: &str) -> Result<Probes, CatalogError> {
        let f: ProbeFile =
            toml::from_str(text).map_err(|e| CatalogError(format!("{name}: {e}")))?;
        let mut seen = BTreeSet::new();
        for p in &f.probes {
            if !seen.insert(p.name.as_str()) {
                return Err(CatalogError(format!(
                    "{name}: probe {:?} is listed twice",
                    p.name
                )));
            }
        }
        Ok(Probes { probes: f.probes })
    }

    pub fn get(&self, name: &str) -> Option<&Probe> {
        self.probes.iter().find(|p| p.name == name)
    }

    /// Whether `machine` can show this probe passing: a NIC probe on a
    /// machine without a NIC proves nothing either way.
    pub fn applies(&self, name: &str, machine: &Machine) -> bool {
        match self.get(name).and_then(|p| p.needs) {
            None => true,
            Some(Needs::Nic) => !machine.nics.is_empty(),
            Some(Needs::Disk) => !machine.disks.is_empty(),
            Some(Needs::Uefi) => machine.firmware == Firmware::Uefi,
        }
    }
}

/// The ladder: steps in order.
#[derive(Clone, Debug)]
pub struct Ladder {
    pub steps: Vec<Step>,
    /// What a systemd root adds to the disk steps' features.
    pub systemd_features: Vec<String>,
}

impl Ladder {
    pub fn builtin(cat: &Catalog) -> Ladder {
        Ladder::from_str("data/ladder.toml", BUILTIN_LADDER, cat, &Probes::builtin())
            .expect("the built-in ladder is validated by tests")
    }

    /// Parses and checks a ladder: feature and probe names must exist, step
    /// names must be unique, a probe step needs probes or `expect` text, and
    /// a disk step needs `image` and checks (and nothing of a probe step's).
    pub fn from_str(
        name: &str,
        text: &str,
        cat: &Catalog,
        probes: &Probes,
    ) -> Result<Ladder, CatalogError> {
        let f: LadderFile =
            toml::from_str(text).map_err(|e| CatalogError(format!("{name}: {e}")))?;
        let mut seen = BTreeSet::new();
        let mut any_probes = false;
        for feat in &f.systemd_features {
            if cat.feature(feat).is_none() {
                return Err(CatalogError(format!(
                    "{name}: systemd-features names unknown feature {feat:?}"
                )));
            }
        }
        for s in &f.steps {
            if !seen.insert(s.name.as_str()) {
                return Err(CatalogError(format!(
                    "{name}: step {:?} is defined twice",
                    s.name
                )));
            }
            for feat in &s.features {
                if cat.feature(feat).is_none() {
                    return Err(CatalogError(format!(
                        "{name}: step {:?} uses unknown feature {feat:?}",
                        s.name
                    )));
                }
            }
            for p in &s.probes {
                if probes.get(p).is_none() {
                    return Err(CatalogError(format!(
                        "{name}: step {:?} names unknown probe {p:?}",
                        s.name
                    )));
                }
            }
            if s.is_disk() {
                check_disk_step(name, s)?;
                continue;
            }
            if s.image.is_some() || !s.checks.is_empty() {
                return Err(CatalogError(format!(
                    "{name}: step {:?} has `image` or `checks` but boots userspace {:?}: only `userspace = \"disk\"` steps boot an image",
                    s.name, s.machine.userspace.as_str()
                )));
            }
            any_probes |= !s.probes.is_empty();
            if !any_probes && s.expect.is_none() {
                return Err(CatalogError(format!(
                    "{name}: step {:?} has neither probes (so far) nor `expect` text: nothing would prove it",
                    s.name
                )));
            }
        }
        if f.steps.is_empty() {
            return Err(CatalogError(format!("{name}: no [[step]]")));
        }
        Ok(Ladder {
            steps: f.steps,
            systemd_features: f.systemd_features,
        })
    }

    /// Checks of the disk steps `0..=i`, each once, in order of first use.
    pub fn checks_through(&self, i: usize) -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        for s in &self.steps[..=i] {
            for c in &s.checks {
                if !v.contains(c) {
                    v.push(c.clone());
                }
            }
        }
        v
    }

    /// Features of steps `0..=i`, each once, in order of first use.
    pub fn features_through(&self, i: usize) -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        for s in &self.steps[..=i] {
            for f in &s.features {
                if !v.contains(f) {
                    v.push(f.clone());
                }
            }
        }
        v
    }

    /// Probes of steps `0..=i`, each once, in order of first use.
    pub fn probes_through(&self, i: usize) -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        for s in &self.steps[..=i] {
            for p in &s.probes {
                if !v.contains(p) {
                    v.push(p.clone());
                }
            }
        }
        v
    }
}

/// A disk step: an image to boot on a machine krun knows, checks to
/// judge it by, and nothing of a probe step's.
fn check_disk_step(name: &str, s: &Step) -> Result<(), CatalogError> {
    let err = |what: String| {
        Err(CatalogError(format!(
            "{name}: disk step {:?} {what}",
            s.name
        )))
    };
    let Some(image) = s.image else {
        return err(
            "has no `image` (e.g. image = { init = \"sysvinit\", machine = \"qemu\" })".into(),
        );
    };
    if !s.probes.is_empty() || s.expect.is_some() {
        return err("has probes or `expect` text: a disk step is judged by `checks` only".into());
    }
    if s.checks.is_empty() {
        return err("has no `checks`: nothing would prove it".into());
    }
    let mut seen = BTreeSet::new();
    for c in &s.checks {
        if c.is_empty() || c.contains(char::is_whitespace) {
            return err(format!("names a malformed check {c:?}"));
        }
        if !seen.insert(c.as_str()) {
            return err(format!("lists check {c:?} twice"));
        }
    }
    let m = &s.machine;
    if m.machine != MachineType::Q35 {
        return err(format!(
            "boots on {:?}: the image's machines (qemu, ec2-sim) are q35",
            m.machine.as_str()
        ));
    }
    if !m.nics.is_empty() || !m.disks.is_empty() {
        return err("lists nics or disks: the image's machine brings its own (virtio-net, and the image as virtio-blk or NVMe)".into());
    }
    if m.firmware != image.machine.firmware() {
        return err(format!(
            "says firmware {:?} but machine {} boots by {:?}",
            m.firmware.as_str(),
            image.machine,
            image.machine.firmware().as_str()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_ladder_and_probes_load() {
        let cat = Catalog::builtin();
        let l = Ladder::builtin(&cat);
        assert_eq!(l.steps[0].name, "console");
        let last = l.steps.len() - 1;
        assert!(l.probes_through(last).contains(&"epoll".to_string()));
        let p = Probes::builtin();
        let mut m = l.steps[0].machine.clone();
        assert!(!p.applies("tcp-listen", &m));
        assert!(p.applies("epoll", &m));
        m.nics.push(crate::Nic {
            model: crate::NicModel::E1000,
            hostfwd: true,
        });
        assert!(p.applies("tcp-listen", &m));
    }

    #[test]
    fn probe_needs_typos_fail() {
        let ok = "[[probe]]\nname = 'nic'\nwhat = 'w'\nneeds = 'nic'\n";
        let p = Probes::from_str("p.toml", ok).unwrap();
        assert_eq!(p.get("nic").unwrap().needs, Some(Needs::Nic));
        let e = Probes::from_str("p.toml", &ok.replace("'nic'\n", "'nics'\n")).unwrap_err();
        assert!(e.0.starts_with("p.toml: "), "{e}");
        assert!(
            e.0.contains("needs = \"nics\" is not one of: nic, disk, uefi"),
            "{e}"
        );
    }

    #[test]
    fn ladder_errors_name_the_step() {
        let cat = Catalog::builtin();
        let p = Probes::builtin();
        let bad = "[[step]]\nname='a'\nseed='s'\nfeatures=['nope']\nmachine={machine='pc',userspace='none'}\nexpect='x'\n";
        let e = Ladder::from_str("l.toml", bad, &cat, &p).unwrap_err();
        assert!(e.0.contains("l.toml") && e.0.contains("\"nope\""), "{e}");
        let bad = "[[step]]\nname='a'\nseed='s'\nfeatures=['printk']\nmachine={machine='pc',userspace='none'}\n";
        let e = Ladder::from_str("l.toml", bad, &cat, &p).unwrap_err();
        assert!(e.0.contains("nothing would prove it"), "{e}");
    }

    #[test]
    fn builtin_disk_steps_follow_the_probe_steps() {
        let cat = Catalog::builtin();
        let l = Ladder::builtin(&cat);
        let names: Vec<&str> = l.steps.iter().map(|s| s.name.as_str()).collect();
        let first_disk = l.steps.iter().position(Step::is_disk).unwrap();
        assert_eq!(names[first_disk - 1], "elogind-clean");
        assert!(l.steps[first_disk..].iter().all(Step::is_disk), "{names:?}");
        assert_eq!(
            &names[first_disk..],
            ["debian-virtio", "uefi-nvme", "debian-clean"]
        );
        let last = l.steps.len() - 1;
        let checks = l.checks_through(last);
        for c in ["login", "root-device", "uefi", "imds-v2", "clean-logs"] {
            assert!(checks.iter().any(|x| x == c), "{c} in {checks:?}");
        }
        assert!(l.checks_through(first_disk - 1).is_empty());
        assert_eq!(l.systemd_features, ["systemd", "ext4-acl", "vfat"]);
        // The last rung is the ec2-nitro kernel (plus the tmpfs the busybox
        // step mounts), so the ladder ends where `ktailor image --target
        // ec2-nitro` starts.
        let through: BTreeSet<String> = cat
            .closure(&l.features_through(last))
            .unwrap()
            .iter()
            .map(|f| f.name.clone())
            .collect();
        let nitro: BTreeSet<String> = cat
            .closure(&cat.target("ec2-nitro").unwrap().features)
            .unwrap()
            .iter()
            .map(|f| f.name.clone())
            .collect();
        let extra: Vec<&String> = through.difference(&nitro).collect();
        assert!(
            nitro.is_subset(&through),
            "{:?}",
            nitro.difference(&through)
        );
        assert_eq!(extra, ["tmpfs"]);
    }

    /// A one-step ladder: a disk step with `extra` TOML lines replacing the
    /// named defaults.
    fn disk_step(replace: &[(&str, &str)]) -> String {
        let mut lines = vec![
            ("name", "name = 'd'"),
            ("seed", "seed = 's'"),
            ("features", "features = ['printk']"),
            (
                "machine",
                "machine = { machine = 'q35', userspace = 'disk' }",
            ),
            ("image", "image = { init = 'sysvinit', machine = 'qemu' }"),
            ("checks", "checks = ['login']"),
        ];
        for (k, v) in replace {
            match lines.iter_mut().find(|(n, _)| n == k) {
                Some(l) => l.1 = v,
                None => lines.push((k, v)),
            }
        }
        let body: Vec<&str> = lines
            .iter()
            .map(|(_, v)| *v)
            .filter(|v| !v.is_empty())
            .collect();
        format!("[[step]]\n{}\n", body.join("\n"))
    }

    #[test]
    fn disk_steps_load_and_typos_fail() {
        let cat = Catalog::builtin();
        let p = Probes::builtin();
        let load = |t: &str| Ladder::from_str("l.toml", t, &cat, &p);
        let l = load(&disk_step(&[])).unwrap();
        assert_eq!(
            l.steps[0].image,
            Some(DiskImage {
                init: DiskInit::Sysvinit,
                machine: DiskMachine::Qemu
            })
        );
        let ec2 = disk_step(&[
            (
                "machine",
                "machine = { machine = 'q35', firmware = 'uefi', userspace = 'disk' }",
            ),
            ("image", "image = { init = 'systemd', machine = 'ec2-sim' }"),
        ]);
        let l = load(&format!("systemd-features = ['systemd']\n{ec2}")).unwrap();
        assert_eq!(l.steps[0].image.unwrap().machine, DiskMachine::Ec2Sim);
        assert_eq!(l.steps[0].image.unwrap().init, DiskInit::Systemd);

        let cases: &[(String, &str)] = &[
            // Typos in names, fields and values fail at load.
            (disk_step(&[("checks", "chekcs = ['login']")]), "unknown field `chekcs`"),
            (
                disk_step(&[("image", "image = { init = 'sysvinit', machine = 'qemu', size = '2G' }")]),
                "unknown field `size`",
            ),
            (
                disk_step(&[("image", "image = { init = 'sysvinit', machine = 'ec2' }")]),
                "machine = \"ec2\" is not one of: qemu, ec2-sim",
            ),
            (
                disk_step(&[("image", "image = { init = 'openrc', machine = 'qemu' }")]),
                "init = \"openrc\" is not one of: sysvinit, systemd",
            ),
            (
                format!("systemd-feature = ['systemd']\n{}", disk_step(&[])),
                "unknown field `systemd-feature`",
            ),
            (
                format!("systemd-features = ['systemdd']\n{}", disk_step(&[])),
                "\"systemdd\"",
            ),
            (
                disk_step(&[("machine", "machine = { machine = 'q35', userspace = 'disc' }")]),
                "userspace = \"disc\" is not one of: none, hello, probe, busybox, disk (did you mean \"disk\"?)",
            ),
            (
                disk_step(&[("machine", "machine = { machine = 'q35', firmware = 'UEFI', userspace = 'disk' }")]),
                "firmware = \"UEFI\" is not one of: bios, uefi",
            ),
            // A disk step needs an image and checks, and only those.
            (disk_step(&[("image", "")]), "has no `image`"),
            (disk_step(&[("checks", "")]), "nothing would prove it"),
            (disk_step(&[("checks", "checks = ['login', 'login']")]), "twice"),
            (disk_step(&[("probes", "probes = ['epoll']")]), "judged by `checks` only"),
            (
                disk_step(&[("machine", "machine = { machine = 'q35', firmware = 'uefi', userspace = 'disk' }")]),
                "boots by \"bios\"",
            ),
            (
                disk_step(&[("machine", "machine = { machine = 'pc', userspace = 'disk' }")]),
                "are q35",
            ),
            (
                disk_step(&[(
                    "machine",
                    "machine = { machine = 'q35', userspace = 'disk', nics = [{ model = 'e1000' }] }",
                )]),
                "brings its own",
            ),
            // ... and a probe step neither.
            (
                disk_step(&[("machine", "machine = { machine = 'pc', userspace = 'none' }")]),
                "only `userspace = \"disk\"` steps",
            ),
        ];
        for (text, want) in cases {
            let e = load(text).unwrap_err();
            assert!(e.0.contains(want), "{text}\nwanted {want:?} in: {e}");
            assert!(e.0.starts_with("l.toml"), "{e}");
        }
    }
}
