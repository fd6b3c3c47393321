//! `minimize`: the smallest configuration that still passes a target's
//! checks, found by building and booting every step ([`search`]), every
//! verdict kept in a [`journal`] so a killed run resumes without repeating
//! a build.
//!
//! The predicate is the target's own: build (incremental, in one reused
//! directory, ccache when the host has it) and boot on the target's machine
//! with the target's probes; a configuration that does not build fails,
//! with the build error as its reason. Disk-image targets (checks over SSH)
//! are refused for now.

pub mod journal;
pub mod search;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use kconfig::{Db, Input, Mode, RunOptions, Tri};
use serde::Serialize;

use crate::boot::{self, BootRequest, Booting, VmOptions};
use crate::fmt::did_you_mean;
use crate::prepare::{self, Prepared, What};
use crate::session::TreeSpec;
use crate::{Event, Events};
use journal::{config_hash, Header, Journal};
use search::{enabled, Kept, Oracle, Step, StepOutcome, Tested, Verdict};

/// A minimization as the user asks for it.
#[derive(Clone, Debug, Default)]
pub struct MinimizeRequest {
    /// The target whose machine and checks judge every step.
    pub target: String,
    /// Start from this .config instead of the target's solved one.
    pub config: Option<PathBuf>,
    pub arch: Option<String>,
    pub tree: TreeSpec,
    /// Symbols never removed.
    pub keep: Vec<String>,
    /// Stop after this many builds (the journal keeps them; run again to go on).
    pub max_builds: Option<usize>,
    /// Journal directory (default: `<cache>/minimize/<target>-<version>-<arch>`).
    pub journal: Option<PathBuf>,
    /// Build directory (default: `<cache>/builds/minimize-<target>-<version>-<arch>`).
    pub out: Option<PathBuf>,
    pub jobs: usize,
    pub vm: VmOptions,
}

/// A kernel's size and boot, before or after.
#[derive(Clone, Debug, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct Measure {
    pub builtin: usize,
    pub modules: usize,
    pub image_bytes: u64,
    pub vmlinux_bytes: u64,
    pub boot_to_init_s: Option<f64>,
}

/// What a minimization found.
#[derive(Serialize)]
pub struct MinimizeReport {
    pub target: String,
    pub kernelversion: String,
    pub arch: String,
    pub journal: PathBuf,
    pub candidates: usize,
    pub removed: Vec<String>,
    pub kept: Vec<Kept>,
    pub steps: Vec<Step>,
    /// Builds made now, and tests answered by the journal or without a
    /// build (the engine kept every symbol asked to go).
    pub builds: usize,
    pub journal_hits: usize,
    pub no_change: usize,
    pub seconds: f64,
    pub before: Measure,
    pub after: Measure,
    /// The minimal configuration and its fragment against the base.
    pub config: String,
    pub fragment: String,
}

/// Stopped by --max-builds: the journal keeps what was done.
#[derive(Debug, thiserror::Error)]
#[error("--max-builds reached")]
struct BudgetSpent;

/// The engine and the target's build+boot, journaled.
struct Judge<'a> {
    db: &'a Db,
    p: Prepared,
    out: PathBuf,
    req: &'a MinimizeRequest,
    boot_req: BootRequest,
    journal: Journal,
    builds: usize,
    ev: Events<'a>,
}

impl Judge<'_> {
    /// Builds and boots `config`: the verdict, and what was measured
    /// (nothing when it did not build).
    fn run(&mut self, config: &str) -> Result<(Verdict, Option<Measure>)> {
        self.p.config = config.to_string();
        let quiet = |e: Event<'_>| {
            if !matches!(e, Event::Note(_) | Event::Console(_)) {
                (self.ev)(e)
            }
        };
        let r = match crate::build::build(&self.p, &self.out, self.req.jobs, &quiet) {
            Ok(r) => r,
            Err(e) => {
                let reason = match e.downcast_ref::<crate::Refused>() {
                    Some(crate::Refused::Build(b)) => format!("build failed: {b}"),
                    _ => return Err(e),
                };
                return Ok((
                    Verdict {
                        pass: false,
                        reason,
                    },
                    None,
                ));
            }
        };
        let b = Booting::from_build(&self.p, &r.image, &self.out);
        let plan = boot::plan(&b, &self.boot_req)?;
        let o = boot::boot_plan(&plan, &quiet)?;
        let init = o
            .run
            .boot
            .as_ref()
            .and_then(|x| x.kernel)
            .map(|d| d.as_secs_f64());
        let v = Verdict {
            pass: o.ok(),
            reason: o.failures.first().cloned().unwrap_or_default(),
        };
        Ok((v, Some(measure(&r, init))))
    }
}

impl Judge<'_> {
    /// Builds, boots and journals `config` (a build, counted).
    fn built(&mut self, config: &str) -> Result<(Verdict, Option<Measure>)> {
        let t = Instant::now();
        let (v, m) = self.run(config)?;
        self.builds += 1;
        self.journal
            .record(config, &v, m.as_ref(), t.elapsed().as_secs_f64())?;
        Ok((v, m))
    }

    /// The verdict and measurements of `config`, from the journal when it
    /// has both, else by building it.
    fn measured(&mut self, config: &str) -> Result<(Verdict, Option<Measure>)> {
        if let (Some(v), Some(m)) = (self.journal.get(config), self.journal.measure(config)) {
            return Ok((v.clone(), Some(m.clone())));
        }
        self.built(config)
    }
}

impl Oracle for Judge<'_> {
    fn resolve(&mut self, config: &str, remove: &[String]) -> Result<String> {
        resolve(self.db, config, remove)
    }

    fn test(&mut self, config: &str) -> Result<(Verdict, Tested)> {
        if let Some(v) = self.journal.get(config) {
            return Ok((v.clone(), Tested::Journal));
        }
        if self.req.max_builds.is_some_and(|m| self.builds >= m) {
            return Err(BudgetSpent.into());
        }
        let (v, _) = self.built(config)?;
        Ok((v, Tested::Built))
    }
}

/// `config` with `remove` turned off, through `make olddefconfig`'s rules.
pub fn resolve(db: &Db, config: &str, remove: &[String]) -> Result<String> {
    let off: BTreeSet<&str> = remove.iter().map(String::as_str).collect();
    let mut text = String::with_capacity(config.len());
    for line in config.lines() {
        let sym = line
            .strip_prefix("CONFIG_")
            .and_then(|l| l.split_once('='))
            .map(|(k, _)| k);
        match sym {
            Some(s) if off.contains(s) => {
                text.push_str(&format!("# CONFIG_{s} is not set\n"));
            }
            _ => {
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    let mut db = db.clone();
    let out = db
        .run_mode(
            Mode::Olddefconfig,
            Some(Input {
                name: "minimize",
                data: text.as_bytes(),
            }),
            None,
            &RunOptions::default(),
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(out.output)
}

/// Symbols a user can turn off in `config`: bool/tristate, set, with a
/// visible prompt, not a choice member, not set by the base, not kept.
pub fn candidates(db: &Db, config: &str, base: &str, keep: &[String]) -> Result<Vec<String>> {
    let mut db = db.clone();
    db.run_mode(
        Mode::Olddefconfig,
        Some(Input {
            name: "input",
            data: config.as_bytes(),
        }),
        None,
        &RunOptions::default(),
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let on = enabled(config);
    let in_base = enabled(base);
    let mut v = Vec::new();
    for id in db.named_symbols() {
        let s = db.sym(id);
        let Some(name) = s.name.as_deref() else {
            continue;
        };
        if !on.contains(name)
            || in_base.contains(name)
            || keep.iter().any(|k| k == name)
            || !s.ty.is_tri_like()
            || s.visible == Tri::N
            || kconfig::db::is_choice_value(&db, id)
        {
            continue;
        }
        v.push(name.to_string());
    }
    v.sort();
    v.dedup();
    Ok(v)
}

/// The lines that take `base` to `config`: what differs, as a fragment
/// for `ktailor config --fragment` or merge_config.sh.
pub fn fragment_against(base: &str, config: &str) -> String {
    let b = kconfig::dotconfig::parse("base", base).map();
    let c = kconfig::dotconfig::parse("config", config).map();
    let mut out = String::new();
    for (k, v) in &c {
        let base_v = b.get(k);
        let off = v.tri() == Some(Tri::N);
        let differs = match base_v {
            Some(bv) => bv != v,
            None => !off,
        };
        if differs {
            out.push_str(&kconfig::dotconfig::line(k, v));
            out.push('\n');
        }
    }
    for (k, v) in &b {
        if v.is_enabled() && !c.contains_key(k) {
            out.push_str(&format!("# CONFIG_{k} is not set\n"));
        }
    }
    out
}

fn measure(r: &kbuild::BuildReport, init: Option<f64>) -> Measure {
    Measure {
        builtin: r.builtin,
        modules: r.modules,
        image_bytes: r.image_bytes,
        vmlinux_bytes: r.vmlinux_bytes,
        boot_to_init_s: init,
    }
}

/// Minimizes the target's configuration (or `--config`) against its checks.
pub fn run(req: &MinimizeRequest, ev: Events<'_>) -> Result<MinimizeReport> {
    let started = Instant::now();
    let cat = kcatalog::Catalog::builtin();
    let target = cat.target(&req.target).with_context(|| {
        let names: Vec<&str> = cat.targets.iter().map(|t| t.name.as_str()).collect();
        format!(
            "unknown target {:?}; targets: {}",
            req.target,
            names.join(", ")
        )
    })?;
    if target.machine.userspace == kcatalog::Userspace::Disk {
        bail!(
            "{} boots a Debian disk image; minimizing against its SSH checks is not built yet \
             (minimize a probe target such as qemu-virtio)",
            target.name
        );
    }
    let what = What {
        target: Some(req.target.clone()),
        config: req.config.clone(),
        arch: req.arch.clone(),
        tree: req.tree.clone(),
        ..Default::default()
    };
    let mut p = prepare::prepare(&what, ev)?;
    for k in &req.keep {
        if p.session.db.sym_find(k).is_none() {
            bail!(
                "--keep {k}: not a symbol of Linux {}{}",
                p.session.tree.kernelversion,
                did_you_mean(&ksolve::suggest(&p.session.db, k))
            );
        }
    }
    // The base's own configuration: what it sets is not a candidate.
    let base_fragment = p.session.base_fragment(target.base)?;
    let base = ksolve::Solver::new(&p.session.db, base_fragment)
        .solve(&[])
        .map_err(|e| anyhow::anyhow!("the bare base: {e}"))?
        .config;
    let start = p.config.clone();
    let cands = candidates(&p.session.db, &start, &base, &req.keep)?;
    // What the target's features ask for is likely needed (its probes
    // test it): each is tried alone, after the rest has been halved away
    // in groups, where most removals succeed.
    let asked: BTreeSet<String> = crate::tailor::resolve(&cat, &what.wanted())?
        .requests(&p.session.tree.kernelversion)
        .into_iter()
        .map(|r| r.symbol)
        .collect();
    let (likely, rest): (Vec<String>, Vec<String>) =
        cands.iter().cloned().partition(|c| asked.contains(c));
    let mut groups = vec![rest];
    groups.extend(likely.into_iter().map(|c| vec![c]));
    let kv = p.session.tree.kernelversion.clone();
    p.name = format!("minimize-{}", req.target);
    let out = req.out.clone().unwrap_or_else(|| p.default_out());
    let jdir = req.journal.clone().unwrap_or_else(|| {
        req.tree
            .cache_dir()
            .join("minimize")
            .join(format!("{}-{kv}-{}", req.target, p.arch))
    });
    let journal = Journal::open(
        &jdir,
        &Header {
            kernelversion: kv.clone(),
            arch: p.arch.clone(),
            target: req.target.clone(),
            input: config_hash(&start),
        },
    )?;
    if journal.dropped > 0 {
        ev(Event::Warning(&format!(
            "{}: {} unreadable line(s) dropped (a run killed mid-write)",
            journal.path().display(),
            journal.dropped
        )));
    }
    ev(Event::Note(&format!(
        "minimizing {} on Linux {kv} {}: {} candidates; journal {} ({} verdicts)",
        req.target,
        p.arch,
        cands.len(),
        journal.path().display(),
        journal.len()
    )));
    let db = p.session.db.clone();
    let boot_req = BootRequest {
        vm: req.vm.clone(),
        ..Default::default()
    };
    let arch = p.arch.clone();
    let mut judge = Judge {
        db: &db,
        p,
        out,
        req,
        boot_req,
        journal,
        builds: 0,
        ev,
    };
    // The input must pass before anything is removed; this boot is also
    // the "before" measurement (from the journal on a resumed run).
    let (v, before) = judge.measured(&start)?;
    if !v.pass {
        bail!(
            "the input configuration fails the {} checks before anything is removed: {}",
            req.target,
            v.reason
        );
    }
    let mut no_change = 0;
    let mut progress = |s: &Step| {
        if matches!(s.outcome, StepOutcome::NoChange) {
            no_change += 1;
        }
        let what = match &s.outcome {
            StepOutcome::NoChange => "kept by the engine".to_string(),
            StepOutcome::Passed { journal } => {
                format!("removed{}", if *journal { " (journal)" } else { "" })
            }
            StepOutcome::Failed { journal, reason } => format!(
                "needed{}: {reason}",
                if *journal { " (journal)" } else { "" }
            ),
        };
        let names = if s.removed.len() > 4 {
            format!(
                "{} symbols ({}, ...)",
                s.removed.len(),
                s.removed[..3].join(" ")
            )
        } else {
            s.removed.join(" ")
        };
        ev(Event::Note(&format!("  {names}: {what}")));
    };
    let found = search::minimize(&mut judge, &start, &groups, &mut progress);
    let found = match found {
        Ok(f) => f,
        Err(e) if e.is::<BudgetSpent>() => bail!(
            "--max-builds {} reached after {} builds; the journal {} keeps them: run again to go on",
            req.max_builds.unwrap_or(0),
            judge.builds,
            judge.journal.path().display()
        ),
        Err(e) => return Err(e),
    };
    // The result was measured when it was tested (or is the input).
    let (_, after) = judge.measured(&found.config)?;
    let fragment = fragment_against(&base, &found.config);
    Ok(MinimizeReport {
        target: req.target.clone(),
        kernelversion: kv,
        arch,
        journal: judge.journal.path().to_path_buf(),
        candidates: cands.len(),
        removed: found.removed,
        kept: found.kept,
        steps: found.steps,
        builds: judge.builds,
        journal_hits: found.journal_hits,
        no_change,
        seconds: started.elapsed().as_secs_f64(),
        before: before.unwrap_or_default(),
        after: after.unwrap_or_default(),
        config: found.config,
        fragment,
    })
}
