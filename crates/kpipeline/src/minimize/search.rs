//! The search: from a passing configuration and its candidates to one from
//! which no single remaining candidate can be removed (1-minimal), with as
//! few predicate runs as it can manage.
//!
//! Delta debugging's complement reduction (Zeller and Hildebrandt), with
//! the Kconfig twist that removing a group removes more than the group:
//! the engine resolves each removal (what depends on it goes too, what is
//! selected stays), so every step re-reads which candidates are still set.
//! A removal whose resolved configuration equals the current one, or one
//! already tested (the journal), costs no build. Pure: the engine and the
//! build+boot are behind [`Oracle`].

use std::collections::BTreeSet;

use anyhow::Result;

/// What one tested configuration did.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Verdict {
    pub pass: bool,
    /// Why it failed: the first failed check's evidence, or the build error.
    pub reason: String,
}

/// The engine and the predicate, as the search sees them.
pub trait Oracle {
    /// `config` with every symbol of `remove` turned off, resolved as
    /// `make olddefconfig` would.
    fn resolve(&mut self, config: &str, remove: &[String]) -> Result<String>;
    /// Whether `config` passes (build, boot, checks); `cached` says it was
    /// answered without a build.
    fn test(&mut self, config: &str) -> Result<(Verdict, Tested)>;
}

/// The symbols a .config sets to y or m.
pub fn enabled(config: &str) -> BTreeSet<String> {
    kconfig::dotconfig::parse(".config", config)
        .map()
        .into_iter()
        .filter(|(_, v)| v.is_enabled())
        .map(|(k, _)| k)
        .collect()
}

/// How a test was answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tested {
    /// Built and booted now.
    Built,
    /// Found in the journal.
    Journal,
}

/// One removal tried, in order.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Step {
    /// The candidates asked to go.
    pub removed: Vec<String>,
    /// What else went with them (turned off by the engine).
    pub also_off: Vec<String>,
    pub outcome: StepOutcome,
}

#[derive(Clone, Debug, serde::Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum StepOutcome {
    /// The engine kept every asked symbol (selected by something kept):
    /// nothing to test.
    NoChange,
    Passed {
        journal: bool,
    },
    Failed {
        journal: bool,
        reason: String,
    },
}

/// Where the search ended.
#[derive(Clone, Debug)]
pub struct Found {
    pub config: String,
    /// Candidates still set in the result: each failed a check when removed
    /// alone (or could not be removed: selected by what stays).
    pub kept: Vec<Kept>,
    pub removed: Vec<String>,
    pub steps: Vec<Step>,
    pub builds: usize,
    pub journal_hits: usize,
}

/// A kept candidate and the evidence for keeping it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Kept {
    pub symbol: String,
    /// The check that failed without it, or why it could not go.
    pub evidence: String,
}

/// The search's state.
struct Run<'a> {
    oracle: &'a mut dyn Oracle,
    current: String,
    /// What `current` sets.
    on: BTreeSet<String>,
    steps: Vec<Step>,
    builds: usize,
    hits: usize,
    /// Why each candidate was last seen to be needed (for the report).
    evidence: std::collections::BTreeMap<String, String>,
    progress: &'a mut dyn FnMut(&Step),
}

impl Run<'_> {
    /// Tries to remove `group` from the current configuration; true if it
    /// went (the current configuration then lacks it).
    fn try_remove(&mut self, group: &[String]) -> Result<bool> {
        let next = self.oracle.resolve(&self.current, group)?;
        let also_off: Vec<String> = Vec::new();
        let (went, outcome) = if next == self.current {
            if group.len() == 1 {
                self.evidence.insert(
                    group[0].clone(),
                    "cannot be turned off: selected or forced by what stays".into(),
                );
            }
            (false, StepOutcome::NoChange)
        } else {
            let (v, how) = self.oracle.test(&next)?;
            let journal = how == Tested::Journal;
            if journal {
                self.hits += 1;
            } else {
                self.builds += 1;
            }
            if v.pass {
                (true, StepOutcome::Passed { journal })
            } else {
                if group.len() == 1 {
                    self.evidence.insert(group[0].clone(), v.reason.clone());
                }
                (
                    false,
                    StepOutcome::Failed {
                        journal,
                        reason: v.reason,
                    },
                )
            }
        };
        let mut step = Step {
            removed: group.to_vec(),
            also_off,
            outcome,
        };
        if went {
            let on = enabled(&next);
            step.also_off = self
                .on
                .iter()
                .filter(|c| !group.contains(c) && !on.contains(*c))
                .cloned()
                .collect();
            self.current = next;
            self.on = on;
        }
        (self.progress)(&step);
        self.steps.push(step);
        Ok(went)
    }

    /// Removes what it can of `group`: the whole group in one test if it
    /// can go, else each half in turn. A failing half whose configuration
    /// was already tested costs nothing (the journal), which is what makes
    /// the halving cheap: after the first half goes, "the second half"
    /// is often a configuration already known to fail.
    fn reduce(&mut self, group: Vec<String>) -> Result<()> {
        let group: Vec<String> = group.into_iter().filter(|c| self.on.contains(c)).collect();
        if group.is_empty() || self.try_remove(&group)? || group.len() == 1 {
            return Ok(());
        }
        let mid = group.len() / 2;
        let (a, b) = group.split_at(mid);
        self.reduce(a.to_vec())?;
        self.reduce(b.to_vec())
    }
}

/// Minimizes `start` (which must pass) over `candidates`, in `groups`
/// (each reduced by halving; put likely-needed candidates in groups of
/// their own and removable ones together).
pub fn minimize(
    oracle: &mut dyn Oracle,
    start: &str,
    groups: &[Vec<String>],
    progress: &mut dyn FnMut(&Step),
) -> Result<Found> {
    let candidates: Vec<String> = groups.concat();
    let mut run = Run {
        oracle,
        current: start.to_string(),
        on: enabled(start),
        steps: Vec::new(),
        builds: 0,
        hits: 0,
        evidence: Default::default(),
        progress,
    };
    for g in groups {
        run.reduce(g.clone())?;
    }
    let current = run.current.clone();
    let at_start = enabled(start);
    let kept: Vec<Kept> = candidates
        .iter()
        .filter(|c| run.on.contains(*c))
        .map(|c| Kept {
            symbol: c.clone(),
            evidence: run
                .evidence
                .get(c)
                .cloned()
                .unwrap_or_else(|| "needed (its removal failed with others')".into()),
        })
        .collect();
    let removed = candidates
        .iter()
        .filter(|c| at_start.contains(*c) && !run.on.contains(*c))
        .cloned()
        .collect();
    Ok(Found {
        config: current,
        kept,
        removed,
        steps: run.steps,
        builds: run.builds,
        journal_hits: run.hits,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// A toy engine: symbols with dependencies (turning one off turns off
    /// what depends on it) and selects (a selected symbol stays on); the
    /// predicate needs a fixed set of symbols.
    struct Toy {
        deps: BTreeMap<&'static str, Vec<&'static str>>,
        selects: BTreeMap<&'static str, Vec<&'static str>>,
        needed: BTreeSet<&'static str>,
        tested: BTreeMap<String, Verdict>,
        builds: usize,
    }

    fn set(config: &str) -> BTreeSet<String> {
        enabled(config)
    }

    fn text(s: &BTreeSet<String>) -> String {
        s.iter().map(|x| format!("CONFIG_{x}=y\n")).collect()
    }

    impl Oracle for Toy {
        fn resolve(&mut self, config: &str, remove: &[String]) -> Result<String> {
            let mut on = set(config);
            for r in remove {
                on.remove(r);
            }
            loop {
                let before = on.len();
                // What depends on something off goes off.
                let snapshot = on.clone();
                on.retain(|s| {
                    self.deps
                        .get(s.as_str())
                        .is_none_or(|d| d.iter().all(|x| snapshot.contains(*x)))
                });
                // What something on selects comes back.
                let sel: Vec<String> = on
                    .iter()
                    .flat_map(|s| self.selects.get(s.as_str()).cloned().unwrap_or_default())
                    .map(str::to_string)
                    .collect();
                on.extend(sel);
                if on.len() == before {
                    break;
                }
            }
            Ok(text(&on))
        }

        fn test(&mut self, config: &str) -> Result<(Verdict, Tested)> {
            if let Some(v) = self.tested.get(config) {
                return Ok((v.clone(), Tested::Journal));
            }
            self.builds += 1;
            let on = set(config);
            let missing: Vec<&&str> = self.needed.iter().filter(|n| !on.contains(**n)).collect();
            let v = Verdict {
                pass: missing.is_empty(),
                reason: missing
                    .first()
                    .map(|m| format!("probe for {m} failed"))
                    .unwrap_or_default(),
            };
            self.tested.insert(config.to_string(), v.clone());
            Ok((v, Tested::Built))
        }
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn finds_a_one_minimal_set_with_dependencies_and_selects() {
        let all = [
            "A", "B", "C", "D", "E", "F", "G", "H", "NET", "E1000", "ZLIB", "GZIP",
        ];
        let mut toy = Toy {
            deps: BTreeMap::from([("E1000", vec!["NET"])]),
            selects: BTreeMap::from([("GZIP", vec!["ZLIB"])]),
            needed: BTreeSet::from(["C", "E1000", "GZIP"]),
            tested: BTreeMap::new(),
            builds: 0,
        };
        let start = text(&all.iter().map(|s| s.to_string()).collect());
        let cands = names(&all);
        let found = minimize(&mut toy, &start, &[cands], &mut |_| {}).unwrap();
        let result = set(&found.config);
        let want: BTreeSet<String> = ["C", "E1000", "NET", "GZIP", "ZLIB"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(result, want);
        // 1-minimal: removing any one kept candidate fails or is impossible.
        for k in &found.kept {
            let next = toy
                .resolve(&found.config, std::slice::from_ref(&k.symbol))
                .unwrap();
            if next != found.config {
                assert!(!toy.test(&next).unwrap().0.pass, "{} removable", k.symbol);
            }
        }
        let zlib = found.kept.iter().find(|k| k.symbol == "ZLIB").unwrap();
        assert!(zlib.evidence.contains("selected"), "{zlib:?}");
        let c = found.kept.iter().find(|k| k.symbol == "C").unwrap();
        assert_eq!(c.evidence, "probe for C failed");
        assert_eq!(found.kept.len(), 5);
    }

    #[test]
    fn a_second_run_over_the_same_journal_builds_nothing() {
        let all = ["A", "B", "C", "D"];
        let mut toy = Toy {
            deps: BTreeMap::new(),
            selects: BTreeMap::new(),
            needed: BTreeSet::from(["B"]),
            tested: BTreeMap::new(),
            builds: 0,
        };
        let start = text(&all.iter().map(|s| s.to_string()).collect());
        let first = minimize(&mut toy, &start, &[names(&all)], &mut |_| {}).unwrap();
        assert!(first.builds > 0);
        let second = minimize(&mut toy, &start, &[names(&all)], &mut |_| {}).unwrap();
        assert_eq!(second.builds, 0);
        assert_eq!(second.journal_hits, first.builds + first.journal_hits);
        assert_eq!(second.config, first.config);
    }

    #[test]
    fn few_needed_among_many_cost_few_builds() {
        let all: Vec<String> = (0..64).map(|i| format!("S{i}")).collect();
        let mut toy = Toy {
            deps: BTreeMap::new(),
            selects: BTreeMap::new(),
            needed: BTreeSet::from(["S5", "S40"]),
            tested: BTreeMap::new(),
            builds: 0,
        };
        let start = text(&all.iter().cloned().collect());
        let found = minimize(&mut toy, &start, std::slice::from_ref(&all), &mut |_| {}).unwrap();
        assert_eq!(
            set(&found.config),
            BTreeSet::from(["S5".into(), "S40".into()])
        );
        // Two needed among 64: about 2 log2(64) tests, not 64.
        assert!(found.builds <= 2 * 2 * 6 + 1, "{} builds", found.builds);
    }
}
