//! Checking the index against kernels that were really built: does the
//! guard, evaluated on the build's `.config`, predict what ended up in
//! vmlinux?
//!
//! The evidence is System.map (`nm -n vmlinux`):
//! - syscalls: `kernel/sys_ni.c` gives every conditional syscall a *weak*
//!   `__x64_sys_NAME` that returns -ENOSYS. A real `SYSCALL_DEFINE` makes a
//!   strong `T`/`t` symbol that overrides it; if none is linked, the weak
//!   stub stays and System.map shows `W`. As a second, independent check,
//!   the stub's address is computed from `kernel/sys_ni.o` (its offset
//!   there plus where sys_ni.o's text landed, found through
//!   `sys_ni_syscall`): a syscall is "not built" when System.map's address
//!   is the stub's.
//! - file systems and address families: the `struct file_system_type` /
//!   `struct net_proto_family` variable is referenced by the registration
//!   call in the same file, so it is in vmlinux (a local `d`/`b`/`r` symbol)
//!   exactly when that code is built in. Names can repeat across files
//!   (`fs_type`), so a name is judged by count: as many built-in
//!   definitions predicted as System.map holds.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::Command;

use serde::Serialize;

use crate::cond::{Config, Tri};
use crate::index::Index;

#[derive(Clone, Debug, Default)]
pub struct SystemMap {
    pub syms: HashMap<String, Vec<(u64, char)>>,
}

impl SystemMap {
    pub fn parse(text: &str) -> SystemMap {
        let mut syms: HashMap<String, Vec<(u64, char)>> = HashMap::new();
        for line in text.lines() {
            let mut it = line.split_whitespace();
            let (Some(a), Some(t), Some(n)) = (it.next(), it.next(), it.next()) else {
                continue;
            };
            let (Ok(addr), Some(ty)) = (u64::from_str_radix(a, 16), t.chars().next()) else {
                continue;
            };
            syms.entry(n.to_string()).or_default().push((addr, ty));
        }
        SystemMap { syms }
    }

    pub fn get(&self, name: &str) -> &[(u64, char)] {
        self.syms.get(name).map(|v| v.as_slice()).unwrap_or(&[])
    }
}

/// One prediction that disagreed with the build.
#[derive(Clone, Debug, Serialize)]
pub struct Mismatch {
    pub what: String,
    pub predicted: String,
    pub actual: String,
    pub guard: String,
    pub site: String,
    /// The Kconfig symbols the guard reads (for judging release drift).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub symbols: Vec<String>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Category {
    pub matches: usize,
    pub total: usize,
    pub mismatches: Vec<Mismatch>,
    /// Entries with nothing to compare (e.g. compat syscalls without
    /// IA32_EMULATION: no symbol either way).
    pub skipped: usize,
    /// How many were compiled in (per System.map): a check where
    /// everything is absent would prove little.
    pub built: usize,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    pub categories: BTreeMap<String, Category>,
    /// Syscalls where the weak-type and the address checks disagree (they
    /// never should; kept visible rather than resolved silently).
    pub method_disagreements: Vec<String>,
    /// How many syscalls the address check could judge (0 when nm or
    /// kernel/sys_ni.o was unavailable).
    pub address_checked: usize,
    /// Mismatches taken out of `categories` because the build was recorded
    /// from another point release and the tree's Kconfig gives one of the
    /// guard's symbols another value (see [`explain_drift`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub drift_explained: Vec<DriftExplained>,
}

/// A mismatch the release drift accounts for, and the evidence.
#[derive(Clone, Debug, Serialize)]
pub struct DriftExplained {
    pub category: String,
    pub mismatch: Mismatch,
    /// `SYM: recorded VALUE, this tree VALUE` for each guard symbol that
    /// differs.
    pub changed: Vec<String>,
}

impl Report {
    /// Every prediction matched, and the two syscall checks agreed.
    pub fn all_match(&self) -> bool {
        self.categories.values().all(|c| c.mismatches.is_empty())
            && self.method_disagreements.is_empty()
    }
}

impl std::fmt::Display for Report {
    /// One line per category, a line per mismatch, then the address check.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (cat, c) in &self.categories {
            writeln!(
                f,
                "  {cat}: {}/{} match, {} compiled in, {} not comparable",
                c.matches, c.total, c.built, c.skipped
            )?;
            for m in &c.mismatches {
                writeln!(
                    f,
                    "    MISMATCH {}: predicted {}, System.map says {} (guard {} at {})",
                    m.what, m.predicted, m.actual, m.guard, m.site
                )?;
            }
        }
        write!(
            f,
            "  address check: {} syscalls judged{}",
            self.address_checked,
            if self.address_checked == 0 {
                " (no kernel/sys_ni.o or nm)"
            } else {
                ""
            }
        )?;
        for d in &self.method_disagreements {
            write!(f, "\n    METHOD DISAGREEMENT {d}")?;
        }
        for d in &self.drift_explained {
            write!(
                f,
                "\n    DRIFT {}/{}: {}",
                d.category,
                d.mismatch.what,
                d.changed.join("; ")
            )?;
        }
        Ok(())
    }
}

/// Offsets of symbols inside an object file (`nm`), for the stub-address
/// check. None when nm or the object is unavailable.
fn object_offsets(obj: &Path) -> Option<HashMap<String, u64>> {
    let out = Command::new("nm").arg(obj).output().ok()?;
    if !out.status.success() {
        return None;
    }
    Some(parse_nm(&String::from_utf8_lossy(&out.stdout)))
}

/// Symbol offsets from `nm` output (undefined symbols, which have no
/// address, are left out).
pub fn parse_nm(text: &str) -> HashMap<String, u64> {
    let mut m = HashMap::new();
    for line in text.lines() {
        let mut it = line.split_whitespace();
        if let (Some(a), Some(_t), Some(n)) = (it.next(), it.next(), it.next()) {
            if let Ok(v) = u64::from_str_radix(a, 16) {
                m.insert(n.to_string(), v);
            }
        }
    }
    m
}

/// Compares the index with one build directory (holding `.config`,
/// `System.map` and `kernel/sys_ni.o`).
pub fn check_build(idx: &Index, build: &Path) -> std::io::Result<Report> {
    let b = Build::load(build)?;
    Ok(check(idx, &b.config, &b.map, b.sys_ni.as_ref()))
}

/// What a build directory holds for [`check`].
pub struct Build {
    pub config: Config,
    pub map: SystemMap,
    /// Symbol offsets in kernel/sys_ni.o (None without nm or the object).
    pub sys_ni: Option<HashMap<String, u64>>,
}

impl Build {
    pub fn load(dir: &Path) -> std::io::Result<Build> {
        Ok(Build {
            config: Config::parse(&std::fs::read_to_string(dir.join(".config"))?),
            map: SystemMap::parse(&std::fs::read_to_string(dir.join("System.map"))?),
            sys_ni: object_offsets(&dir.join("kernel/sys_ni.o")),
        })
    }
}

pub fn check(
    idx: &Index,
    cfg: &Config,
    map: &SystemMap,
    ni_offsets: Option<&HashMap<String, u64>>,
) -> Report {
    let mut rep = Report::default();
    let base = ni_offsets.and_then(|o| {
        let off = o.get("sys_ni_syscall")?;
        let at = map.get("sys_ni_syscall").first()?.0;
        Some(at - off)
    });
    let sys_prefixes = [("syscalls (native, __x64_sys_)", false, "__x64_sys_")];
    let ia32 = cfg.tri("IA32_EMULATION") == Tri::Y;
    for (cat, compat, prefix) in sys_prefixes.into_iter().chain([(
        "syscalls (compat, __ia32_compat_sys_)",
        true,
        "__ia32_compat_sys_",
    )]) {
        let mut c = Category::default();
        for s in idx
            .syscalls
            .iter()
            .filter(|s| s.conditional && s.compat == compat)
        {
            let sym = format!("{prefix}{}", s.name);
            let entries = map.get(&sym);
            if compat && !ia32 {
                c.skipped += 1;
                continue;
            }
            let Some(&(addr, ty)) = entries.first() else {
                c.skipped += 1;
                continue;
            };
            let weak = ty == 'W' || ty == 'w';
            let actual_built = !weak;
            if let (Some(b), Some(o)) = (base, ni_offsets.and_then(|o| o.get(&sym))) {
                let stub = addr == b + o;
                rep.address_checked += 1;
                if stub == actual_built {
                    rep.method_disagreements.push(format!(
                        "{sym}: System.map type {ty}, address {}the sys_ni.o stub",
                        if stub { "is " } else { "is not " }
                    ));
                }
            }
            let predicted = s.cond.eval(cfg) == Tri::Y;
            c.total += 1;
            c.built += actual_built as usize;
            if predicted == actual_built {
                c.matches += 1;
            } else {
                c.mismatches.push(Mismatch {
                    what: s.name.clone(),
                    predicted: yes_no(predicted),
                    actual: yes_no(actual_built),
                    guard: s.cond.to_string(),
                    symbols: s.cond.symbols(),
                    site: s
                        .sites
                        .iter()
                        .map(|x| format!("{}:{}", x.file, x.line))
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
        }
        rep.categories.insert(cat.to_string(), c);
    }

    let fs = idx
        .filesystems
        .iter()
        .map(|f| (f.name.clone(), f.var.clone(), &f.site))
        .collect::<Vec<_>>();
    rep.categories
        .insert("filesystems".into(), by_variable(&fs, cfg, map));
    let af = idx
        .families
        .iter()
        .map(|f| (f.family.clone(), f.var.clone(), &f.site))
        .collect::<Vec<_>>();
    rep.categories
        .insert("address families".into(), by_variable(&af, cfg, map));
    rep
}

fn yes_no(b: bool) -> String {
    if b { "built in" } else { "not built in" }.to_string()
}

fn by_variable(
    items: &[(String, String, &crate::index::Site)],
    cfg: &Config,
    map: &SystemMap,
) -> Category {
    let mut groups: BTreeMap<&str, Vec<(&str, &crate::index::Site)>> = BTreeMap::new();
    for (name, var, site) in items {
        groups
            .entry(var.as_str())
            .or_default()
            .push((name.as_str(), site));
    }
    let mut c = Category::default();
    for (var, entries) in groups {
        let predicted = entries
            .iter()
            .filter(|(_, s)| s.cond.eval(cfg) == Tri::Y)
            .count();
        // A function-local static shows up as `name.N`.
        let local = map
            .syms
            .iter()
            .filter(|(k, _)| {
                k.strip_prefix(var)
                    .and_then(|r| r.strip_prefix('.'))
                    .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            })
            .flat_map(|(_, v)| v.iter());
        let actual = map
            .get(var)
            .iter()
            .chain(local)
            .filter(|(_, t)| matches!(t, 'd' | 'D' | 'b' | 'B' | 'r' | 'R'))
            .count();
        c.total += entries.len();
        c.built += actual.min(entries.len());
        if predicted == actual {
            c.matches += entries.len();
        } else {
            let names: Vec<&str> = entries.iter().map(|(n, _)| *n).collect();
            c.mismatches.push(Mismatch {
                what: format!("{} ({var})", names.join(", ")),
                predicted: format!("{predicted} of {} built in", entries.len()),
                actual: format!("{actual} in System.map"),
                guard: entries
                    .iter()
                    .map(|(_, s)| s.cond.to_string())
                    .collect::<Vec<_>>()
                    .join(" | "),
                symbols: {
                    let mut v: Vec<String> =
                        entries.iter().flat_map(|(_, s)| s.cond.symbols()).collect();
                    v.sort();
                    v.dedup();
                    v
                },
                site: entries
                    .iter()
                    .map(|(_, s)| format!("{}:{}", s.file, s.line))
                    .collect::<Vec<_>>()
                    .join(", "),
            });
            // Entries the counts still account for are right.
            let wrong = predicted.abs_diff(actual).min(entries.len());
            c.matches += entries.len() - wrong;
        }
    }
    c
}

/// How a recorded build's kernel release relates to the tree being judged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Release {
    /// The same `make kernelversion`.
    Same,
    /// Another point release of the same major.minor (Debian ships them
    /// without notice): the build still says what that code compiles to,
    /// so it is judged, and what the drift can explain is set apart.
    PointDrift { recorded: String, tree: String },
}

/// Why a recorded build cannot judge this tree.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReleaseError {
    #[error(
        "the recorded build is of Linux {recorded}, the tree is {tree}: another major.minor \
         (re-record it from this tree)"
    )]
    OtherSeries { recorded: String, tree: String },
    #[error("cannot read a kernel version from {0:?} (expected e.g. 6.12.118)")]
    Unreadable(String),
}

/// `6.12.118`, `6.12.118-rc1`, `6.12.0+deb12-amd64` → (6, 12).
fn major_minor(v: &str) -> Option<(u32, u32)> {
    let mut it = v.trim().split(['.', '-', '+']);
    let major = it.next()?.parse().ok()?;
    let minor = it.next()?.parse().ok()?;
    Some((major, minor))
}

/// Compares the kernel release a build was recorded from with the tree's:
/// equal, a point-release drift (accepted, to be reported), or another
/// series (refused: its Kconfig and syscalls differ too much to judge).
pub fn compare_release(recorded: &str, tree: &str) -> Result<Release, ReleaseError> {
    let (recorded, tree) = (recorded.trim(), tree.trim());
    let r = major_minor(recorded).ok_or_else(|| ReleaseError::Unreadable(recorded.into()))?;
    let t = major_minor(tree).ok_or_else(|| ReleaseError::Unreadable(tree.into()))?;
    if r != t {
        return Err(ReleaseError::OtherSeries {
            recorded: recorded.into(),
            tree: tree.into(),
        });
    }
    Ok(if recorded == tree {
        Release::Same
    } else {
        Release::PointDrift {
            recorded: recorded.into(),
            tree: tree.into(),
        }
    })
}

/// Sets apart the mismatches that a point-release drift explains better
/// than a bug in the index: those whose guard reads a symbol to which this
/// tree's Kconfig gives another value than the recorded build had
/// (`current` is the recorded `.config` brought through this tree's
/// `olddefconfig`; a symbol the tree no longer defines drops out of it).
/// A mismatch whose guard symbols all keep their value stays a failure:
/// the same options then predict another build, which is the index's
/// fault whatever the release. Returns how many were set apart.
pub fn explain_drift(rep: &mut Report, recorded: &Config, current: &Config) -> usize {
    let mut moved = 0;
    for (cat, c) in rep.categories.iter_mut() {
        let mut keep = Vec::new();
        for m in c.mismatches.drain(..) {
            let changed: Vec<String> = m
                .symbols
                .iter()
                .filter(|s| recorded.get(s) != current.get(s))
                .map(|s| {
                    format!(
                        "{s}: recorded {}, this tree {}",
                        recorded.get(s).unwrap_or("n"),
                        current.get(s).unwrap_or("n (or undefined)")
                    )
                })
                .collect();
            if changed.is_empty() {
                keep.push(m);
            } else {
                moved += 1;
                rep.drift_explained.push(DriftExplained {
                    category: cat.clone(),
                    mismatch: m,
                    changed,
                });
            }
        }
        c.mismatches = keep;
    }
    moved
}

/// One `alias pci:...` line of modules.alias.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PciAlias {
    pub vendor: Option<u32>,
    pub device: Option<u32>,
    pub subvendor: Option<u32>,
    pub subdevice: Option<u32>,
    pub base: Option<u32>,
    pub sub: Option<u32>,
    pub progif: Option<u32>,
    pub module: String,
}

/// Parses the PCI aliases of a modules.alias file (other lines skipped).
pub fn parse_pci_aliases(text: &str) -> Vec<PciAlias> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut it = line.split_whitespace();
        let (Some("alias"), Some(pat), Some(module)) = (it.next(), it.next(), it.next()) else {
            continue;
        };
        let Some(p) = pat.strip_prefix("pci:") else {
            continue;
        };
        // v{8}d{8}sv{8}sd{8}bc{2}sc{2}i{2}, each field hex or `*`.
        let mut fields: Vec<Option<u32>> = Vec::new();
        let mut rest = p;
        let mut ok = true;
        for key in ["v", "d", "sv", "sd", "bc", "sc", "i"] {
            let Some(r) = rest.strip_prefix(key) else {
                ok = false;
                break;
            };
            let end = r
                .find(|c: char| !(c.is_ascii_hexdigit() || c == '*'))
                .unwrap_or(r.len());
            // `bc` starts with a hex digit `b`? No: keys are consumed in
            // order and values are upper-case hex, so a lower-case key
            // letter always ends the previous field.
            let end = r[..end]
                .find(|c: char| c.is_ascii_lowercase())
                .unwrap_or(end);
            // The pattern ends in `*` after the last field.
            let v = r[..end].trim_end_matches('*');
            let v = if v.is_empty() && end > 0 { "*" } else { v };
            fields.push(if v == "*" || v.is_empty() {
                None
            } else {
                u32::from_str_radix(v, 16).ok()
            });
            rest = &r[end..];
        }
        if !ok || fields.len() != 7 {
            continue;
        }
        out.push(PciAlias {
            vendor: fields[0],
            device: fields[1],
            subvendor: fields[2],
            subdevice: fields[3],
            base: fields[4],
            sub: fields[5],
            progif: fields[6],
            module: module.replace('-', "_"),
        });
    }
    out
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Recall {
    pub aliases: usize,
    /// Aliases for which a lookup of their IDs names an option through a
    /// driver with the alias's module name.
    pub found: usize,
    pub modules: usize,
    /// Modules with PCI aliases that the index knows under that name.
    pub modules_found: usize,
    /// Modules not found, with their alias counts (most first).
    pub missing: Vec<(String, usize)>,
    /// Modules found with some aliases not answered: (module, answered,
    /// total), most unanswered first.
    pub partial: Vec<(String, usize, usize)>,
}

/// PCI recall against a distribution's modules.alias: the fraction of
/// alias entries (module, IDs) for which [`crate::diagnose::pci_lookup`] on those
/// IDs returns that module's driver with an option. Wildcard IDs are
/// queried with a value no table names, so only an equally wild entry
/// answers.
pub fn pci_recall(idx: &Index, aliases: &[PciAlias]) -> Recall {
    const ODD: u32 = 0xfffe;
    let mut r = Recall::default();
    let mut by_module: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for a in aliases {
        r.aliases += 1;
        // The bytes the alias leaves open are the ones the entry's mask
        // ignores, so any value does.
        let class = match (a.base, a.sub, a.progif) {
            (None, None, None) => None,
            (b, s, i) => Some((b.unwrap_or(0) << 16) | (s.unwrap_or(0) << 8) | i.unwrap_or(0)),
        };
        let sub = match (a.subvendor, a.subdevice) {
            (None, None) => None,
            (sv, sd) => Some((sv.unwrap_or(ODD), sd.unwrap_or(ODD))),
        };
        let guards = crate::diagnose::pci_lookup_sub(
            idx,
            a.vendor.unwrap_or(ODD),
            a.device.unwrap_or(ODD),
            class,
            sub,
        );
        let hit = guards
            .iter()
            .any(|g| g.symbol.is_some() && g.module.as_deref() == Some(a.module.as_str()));
        let e = by_module.entry(a.module.as_str()).or_default();
        e.0 += 1;
        if hit {
            r.found += 1;
            e.1 += 1;
        }
    }
    let known: std::collections::HashSet<&str> = idx
        .pci
        .iter()
        .filter_map(|p| p.site.module.as_deref())
        .collect();
    r.modules = by_module.len();
    for (m, (n, f)) in &by_module {
        if known.contains(m) {
            r.modules_found += 1;
            if f < n {
                r.partial.push((m.to_string(), *f, *n));
            }
        } else {
            r.missing.push((m.to_string(), *n));
        }
    }
    r.missing
        .sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_of_one_series_drift_others_are_refused() {
        let drift = |r: &str, t: &str| Release::PointDrift {
            recorded: r.into(),
            tree: t.into(),
        };
        for (recorded, tree, want) in [
            ("6.12.117", "6.12.117", Ok(Release::Same)),
            ("6.12.117\n", "6.12.118", Ok(drift("6.12.117", "6.12.118"))),
            ("6.12.140", "6.12.118", Ok(drift("6.12.140", "6.12.118"))),
            (
                "6.1.192",
                "6.1.158-rc1",
                Ok(drift("6.1.192", "6.1.158-rc1")),
            ),
            (
                "6.1.192",
                "6.12.118",
                Err(ReleaseError::OtherSeries {
                    recorded: "6.1.192".into(),
                    tree: "6.12.118".into(),
                }),
            ),
            (
                "5.12.3",
                "6.12.3",
                Err(ReleaseError::OtherSeries {
                    recorded: "5.12.3".into(),
                    tree: "6.12.3".into(),
                }),
            ),
            ("", "6.12.1", Err(ReleaseError::Unreadable("".into()))),
        ] {
            assert_eq!(
                compare_release(recorded, tree),
                want,
                "{recorded} vs {tree}"
            );
        }
    }

    fn mismatch(what: &str, syms: &[&str]) -> Mismatch {
        Mismatch {
            what: what.into(),
            predicted: "built in".into(),
            actual: "not built in".into(),
            guard: syms.join(" && "),
            site: "x.c:1".into(),
            symbols: syms.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn drift_explains_only_mismatches_whose_guard_changed_value() {
        let mut rep = Report::default();
        rep.categories.insert(
            "syscalls".into(),
            Category {
                mismatches: vec![
                    mismatch("renamed", &["OLD_NAME"]),
                    mismatch("default_changed", &["A", "B"]),
                    mismatch("index_bug", &["A"]),
                ],
                ..Category::default()
            },
        );
        let recorded = Config::parse("CONFIG_OLD_NAME=y\nCONFIG_A=y\nCONFIG_B=y\n");
        let current = Config::parse("CONFIG_A=y\nCONFIG_B=m\n");
        assert_eq!(explain_drift(&mut rep, &recorded, &current), 2);
        let left: Vec<&str> = rep.categories["syscalls"]
            .mismatches
            .iter()
            .map(|m| m.what.as_str())
            .collect();
        assert_eq!(left, ["index_bug"], "an unchanged guard stays a failure");
        assert_eq!(
            rep.drift_explained[0].changed,
            ["OLD_NAME: recorded y, this tree n (or undefined)"]
        );
        assert_eq!(
            rep.drift_explained[1].changed,
            ["B: recorded y, this tree m"]
        );
        assert!(!rep.all_match());
    }
}
