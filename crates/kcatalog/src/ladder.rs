//! The seed's milestones as data (`data/ladder.toml`), and the probe
//! vocabulary (`data/probes.toml`) with what each probe needs from the QEMU
//! machine to mean anything.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::{Catalog, CatalogError, Machine};

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
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LadderFile {
    #[serde(rename = "step")]
    steps: Vec<Step>,
}

/// What a probe needs from the machine before its failure means anything:
/// a NIC for the network probes, a disk for the block probes, UEFI for `efi`.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Needs {
    Nic,
    Disk,
    Uefi,
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
            Some(Needs::Uefi) => machine.firmware == "uefi",
        }
    }
}

/// The ladder: steps in order.
#[derive(Clone, Debug)]
pub struct Ladder {
    pub steps: Vec<Step>,
}

impl Ladder {
    pub fn builtin(cat: &Catalog) -> Ladder {
        Ladder::from_str("data/ladder.toml", BUILTIN_LADDER, cat, &Probes::builtin())
            .expect("the built-in ladder is validated by tests")
    }

    /// Parses and checks a ladder: feature and probe names must exist, step
    /// names must be unique, and a step needs probes or `expect` text.
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
        Ok(Ladder { steps: f.steps })
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
            model: "e1000".into(),
            hostfwd: true,
        });
        assert!(p.applies("tcp-listen", &m));
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
}
