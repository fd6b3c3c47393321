//! From a target, features and fragments to a solved configuration, and to
//! what the kernel needs at boot (command line, file systems, probes). Every
//! step that asks "what does this target mean?" — config, build, boot from
//! a build or from a given image, the ladder — asks here, so they can never
//! disagree.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use kcatalog::{Base, Catalog, Feature, Target};
use ksolve::{Request, Solution, Solver};

use crate::fmt::did_you_mean;
use crate::session::Session;
use crate::Refused;

/// What the user asked for.
#[derive(Clone, Debug, Default)]
pub struct Wanted {
    pub target: Option<String>,
    pub with: Vec<String>,
    pub without: Vec<String>,
    pub base: Option<Base>,
    pub arch: Option<String>,
}

/// The features and base a request resolves to, before the kernel is read.
pub struct Resolved<'c> {
    pub target: Option<&'c Target>,
    pub features: Vec<&'c Feature>,
    pub base: Base,
    pub arch: String,
}

/// What a kernel's features and target want at boot.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct BootNeeds {
    /// Kernel parameters, each once, features first then the target's.
    pub cmdline: Vec<String>,
    /// File systems the features make available.
    pub filesystems: Vec<String>,
    /// Probes that prove the features, in catalog order, each once.
    pub probes: Vec<String>,
}

/// A solved configuration and what comes with it.
pub struct Tailored {
    pub requests: Vec<Request>,
    pub solution: Solution,
    pub needs: BootNeeds,
    /// What the fragments' readers warned about (reassigned symbols).
    pub warnings: Vec<String>,
}

pub fn base_name(b: Base) -> &'static str {
    match b {
        Base::Allnoconfig => "allnoconfig",
        Base::Tinyconfig => "tinyconfig",
    }
}

/// Names → features (with everything they require), checking every name.
pub fn resolve<'c>(cat: &'c Catalog, w: &Wanted) -> Result<Resolved<'c>> {
    let target = match &w.target {
        Some(t) => Some(cat.target(t).with_context(|| {
            let names: Vec<&str> = cat.targets.iter().map(|t| t.name.as_str()).collect();
            format!("unknown target {t:?}; targets: {}", names.join(", "))
        })?),
        None => None,
    };
    let arch = w
        .arch
        .clone()
        .or_else(|| target.map(|t| t.arch.to_string()))
        .unwrap_or_else(|| "x86_64".into());
    let base = w
        .base
        .or_else(|| target.map(|t| t.base))
        .unwrap_or(Base::Tinyconfig);
    let mut names: Vec<String> = target.map(|t| t.features.clone()).unwrap_or_default();
    for x in w.with.iter().chain(&w.without) {
        if cat.feature(x).is_none() {
            bail!(
                "unknown feature {x:?}{}",
                did_you_mean(&cat.suggest_feature(x))
            );
        }
    }
    for x in &w.with {
        if !names.contains(x) {
            names.push(x.clone());
        }
    }
    names.retain(|n| !w.without.contains(n));
    let features = cat.closure(&names).map_err(anyhow::Error::msg)?;
    for x in &w.without {
        if let Some(f) = features.iter().find(|f| f.requires.contains(x)) {
            bail!("--without {x}: feature {} requires it", f.name);
        }
    }
    Ok(Resolved {
        target,
        features,
        base,
        arch,
    })
}

fn push_once(v: &mut Vec<String>, x: &str) {
    if !v.iter().any(|y| y == x) {
        v.push(x.to_string());
    }
}

impl Resolved<'_> {
    /// The features that apply on this architecture.
    pub fn arch_features(&self) -> impl Iterator<Item = &Feature> + '_ {
        self.features
            .iter()
            .copied()
            .filter(|f| f.arches.is_empty() || f.arches.iter().any(|a| a.as_str() == self.arch))
    }

    /// What the kernel wants at boot: the command line of the features
    /// (for this architecture) and then the target's; their file systems
    /// and probes.
    pub fn needs(&self) -> BootNeeds {
        let mut n = BootNeeds::default();
        for f in self.arch_features() {
            for c in &f.cmdline {
                push_once(&mut n.cmdline, c);
            }
            for x in &f.filesystems {
                push_once(&mut n.filesystems, x);
            }
            for p in &f.probes {
                push_once(&mut n.probes, p);
            }
        }
        if let Some(t) = self.target {
            for c in &t.cmdline {
                push_once(&mut n.cmdline, c);
            }
        }
        n
    }

    /// The CONFIG requests of the features for this kernel version.
    pub fn requests(&self, kernelversion: &str) -> Vec<Request> {
        let mut v = Vec::new();
        for f in self.arch_features() {
            for q in f.config_for(kernelversion) {
                v.push(Request {
                    symbol: q.symbol.clone(),
                    value: q.value.clone(),
                    origin: format!("feature {}", f.name),
                });
            }
        }
        v
    }
}

/// Requests from a fragment file; bad lines are errors naming file:line.
pub fn read_fragment(path: &std::path::Path) -> Result<Fragment> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read fragment {}", path.display()))?;
    parse_fragment(&path.display().to_string(), &text)
}

/// A fragment read by kconfig's one `.config` reader.
#[derive(Debug)]
pub struct Fragment {
    /// One request per symbol: the last assignment, as the kernel's tools
    /// take it.
    pub requests: Vec<Request>,
    /// Reassignments ("override: reassigning to symbol X (first set on
    /// line N)"), for the user to see.
    pub warnings: Vec<String>,
}

/// A fragment's lines as requests. A symbol set twice takes its last value
/// with a warning naming both lines, as merge_config.sh and conf do; any
/// other line the reader warns about is an error here (a request ktailor
/// cannot read is not one to drop silently).
pub fn parse_fragment(name: &str, text: &str) -> Result<Fragment> {
    let parsed = kconfig::dotconfig::parse(name, text);
    let mut warnings = Vec::new();
    for w in &parsed.warnings {
        if w.msg.starts_with("override:") {
            warnings.push(w.to_string());
        } else {
            bail!("{w}; expected CONFIG_NAME=value or '# CONFIG_NAME is not set'");
        }
    }
    let mut requests: Vec<Request> = Vec::new();
    for e in &parsed.entries {
        requests.retain(|r| r.symbol != e.symbol);
        requests.push(Request {
            symbol: e.symbol.clone(),
            value: e.value.to_string(),
            origin: format!("{name}:{}", e.line),
        });
    }
    Ok(Fragment { requests, warnings })
}

/// Solves the resolved request against the session's kernel. A request
/// that cannot hold is a [`Refused`] error (reported, not a crash).
pub fn tailor(s: &Session, r: &Resolved<'_>, fragments: &[PathBuf]) -> Result<Tailored> {
    let mut requests = r.requests(&s.tree.kernelversion);
    let mut warnings = Vec::new();
    for p in fragments {
        let f = read_fragment(p)?;
        requests.extend(f.requests);
        warnings.extend(f.warnings);
    }
    let solver = Solver::new(&s.db, s.base_fragment(r.base)?);
    let solution = solver
        .solve(&requests)
        .map_err(|e| anyhow::Error::new(Refused::Unsatisfiable(e)))?;
    Ok(Tailored {
        requests,
        solution,
        needs: r.needs(),
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragment_lines() {
        let f = parse_fragment(
            "f",
            "CONFIG_A=y\n# CONFIG_B is not set\n\n# c\nCONFIG_S=\"x y\"\n",
        )
        .unwrap();
        let r = &f.requests;
        assert_eq!(r.len(), 3);
        assert_eq!((r[1].symbol.as_str(), r[1].value.as_str()), ("B", "n"));
        assert_eq!(r[2].value, "\"x y\"");
        assert_eq!(r[2].origin, "f:5");
        assert!(f.warnings.is_empty());
        let e = parse_fragment("f", "CONFIG_A=y\nnonsense\n").unwrap_err();
        assert!(e.to_string().starts_with("f:2:"), "{e}");
        // Set twice (virtme-ng's list does this): the last value, a warning
        // naming both lines.
        let f = parse_fragment(
            "f",
            "# CONFIG_FB_VESA is not set\nCONFIG_A=y\nCONFIG_FB_VESA=y\n",
        )
        .unwrap();
        assert_eq!(f.requests.len(), 2);
        let v = f.requests.iter().find(|r| r.symbol == "FB_VESA").unwrap();
        assert_eq!((v.value.as_str(), v.origin.as_str()), ("y", "f:3"));
        assert_eq!(f.warnings.len(), 1);
        assert!(
            f.warnings[0].contains("f:3") && f.warnings[0].contains("line 1"),
            "{:?}",
            f.warnings
        );
    }

    #[test]
    fn needs_follow_features_then_target_and_drop_other_arches() {
        let cat = Catalog::builtin();
        for t in &cat.targets {
            let r = resolve(
                &cat,
                &Wanted {
                    target: Some(t.name.clone()),
                    ..Default::default()
                },
            )
            .unwrap();
            let n = r.needs();
            // The target's own parameters are all there, after the features'.
            for c in &t.cmdline {
                assert!(n.cmdline.contains(c), "{}: {c} missing", t.name);
            }
            let mut seen = std::collections::BTreeSet::new();
            assert!(n.cmdline.iter().all(|c| seen.insert(c)), "{}", t.name);
            // No feature for another architecture contributes.
            for f in &r.features {
                if !f.arches.is_empty() && !f.arches.iter().any(|a| a.as_str() == r.arch) {
                    for p in &f.probes {
                        let elsewhere = r.arch_features().any(|g| g.probes.contains(p));
                        assert!(elsewhere || !n.probes.contains(p), "{}: {p}", t.name);
                    }
                }
            }
        }
    }
}
