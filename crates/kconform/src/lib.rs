//! Conformance harness: runs the kernel's own `scripts/kconfig/conf` (through
//! its Makefile, out of tree) and `ktailor kconfig` on the same cases and
//! compares their outputs byte for byte.
//!
//! ```no_run
//! let mut cfg = kconform::Config::new(kconform::Suite::Ci);
//! cfg.ktailor = Some("target/debug/ktailor".into());
//! let summary = kconform::run(&cfg)?;
//! print!("{}", summary.text());
//! assert!(summary.passed());
//! # Ok::<(), anyhow::Error>(())
//! ```

mod cases;
mod exec;
mod ktailor;
mod oracle;
mod report;
mod tree;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

pub use cases::{default_rand, Invocation, Job, Mode, Suite};
pub use report::{CaseResult, Counts, Status, Summary};
pub use tree::{cache_root, resolve_kernel, KernelTree};

/// Trees used when none is given: the newest series ktailor targets first
/// (it gets the broad `ci` subset), then an older one.
pub const DEFAULT_KERNELS: [&str; 2] = ["6.12", "6.1"];

/// What to run and how.
#[derive(Clone, Debug)]
pub struct Config {
    /// Directories or versions (`6.12`); empty means [`DEFAULT_KERNELS`].
    pub kernels: Vec<String>,
    pub suite: Suite,
    /// Keep only cases of these ARCH (or SRCARCH) values; empty keeps all.
    pub arches: Vec<String>,
    /// Keep only cases of these kinds; empty keeps all.
    pub modes: Vec<Mode>,
    /// Parallel workers; 0 means the number of available cores.
    pub jobs: usize,
    /// The ktailor binary; required unless `oracle_only`.
    pub ktailor: Option<PathBuf>,
    /// Randconfig seeds per arch (1..=N); None means the suite's default.
    pub limit_rand: Option<usize>,
    /// Cache root; None means [`cache_root`]. Oracle outputs live in `conform/` under it.
    pub cache_dir: Option<PathBuf>,
    /// Only run (and cache) the oracle side.
    pub oracle_only: bool,
    /// Ignore cached oracle results (they are rewritten).
    pub refresh_oracle: bool,
    /// Per process, for either side.
    pub timeout: Duration,
    /// One line on stderr per finished case.
    pub progress: bool,
}

impl Config {
    pub fn new(suite: Suite) -> Self {
        Config {
            kernels: Vec::new(),
            suite,
            arches: Vec::new(),
            modes: Vec::new(),
            jobs: 0,
            ktailor: None,
            limit_rand: None,
            cache_dir: None,
            oracle_only: false,
            refresh_oracle: false,
            timeout: Duration::from_secs(600),
            progress: true,
        }
    }

    fn cache_root(&self) -> PathBuf {
        self.cache_dir.clone().unwrap_or_else(tree::cache_root)
    }
}

/// The resolved trees and the jobs to run on them.
#[derive(Clone, Debug)]
pub struct Plan {
    pub trees: Vec<KernelTree>,
    pub jobs: Vec<Job>,
}

impl Plan {
    pub fn case_count(&self) -> usize {
        self.jobs.iter().map(|j| j.cases.len()).sum()
    }

    /// Number of cases per tree (kernelversion) and kind.
    pub fn counts(&self) -> Vec<(String, BTreeMap<Mode, usize>)> {
        let mut out: Vec<(String, BTreeMap<Mode, usize>)> = self
            .trees
            .iter()
            .map(|t| (t.kernelversion.clone(), BTreeMap::new()))
            .collect();
        for job in &self.jobs {
            for case in &job.cases {
                *out[job.tree].1.entry(case.mode).or_default() += 1;
            }
        }
        out
    }
}

/// Resolves the trees and enumerates the cases, without running anything.
pub fn plan(cfg: &Config) -> Result<Plan> {
    let cache = cfg.cache_root();
    let specs: Vec<String> = if cfg.kernels.is_empty() {
        DEFAULT_KERNELS.iter().map(|s| s.to_string()).collect()
    } else {
        cfg.kernels.clone()
    };
    let rand = cfg.limit_rand.unwrap_or_else(|| default_rand(cfg.suite));
    let mut trees = Vec::new();
    let mut jobs = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let tree = resolve_kernel(spec, &cache)?;
        let tree_jobs = match cfg.suite {
            Suite::Ci => cases::ci_jobs(&tree, i == 0, rand)?,
            Suite::Full => cases::full_jobs(&tree, rand)?,
        };
        for mut job in cases::filter_jobs(tree_jobs, &cfg.arches, &cfg.modes) {
            job.tree = i;
            jobs.push(job);
        }
        trees.push(tree);
    }
    Ok(Plan { trees, jobs })
}

/// Runs the suite described by `cfg`.
pub fn run(cfg: &Config) -> Result<Summary> {
    let plan = plan(cfg)?;
    execute(cfg, &plan)
}

/// Runs an already computed plan (e.g. after showing its size).
pub fn execute(cfg: &Config, plan: &Plan) -> Result<Summary> {
    let start = Instant::now();
    let ktailor = if cfg.oracle_only {
        None
    } else {
        match &cfg.ktailor {
            Some(p) if p.is_file() => Some(p.clone()),
            Some(p) => bail!("ktailor binary {} does not exist", p.display()),
            None => bail!("no ktailor binary given (use --ktailor, or --oracle-only)"),
        }
    };
    let oracle = oracle::Oracle::new(&cfg.cache_root(), cfg.refresh_oracle, cfg.timeout)?;
    let total = plan.case_count();
    let workers = if cfg.jobs == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        cfg.jobs
    }
    .clamp(1, plan.jobs.len().max(1));

    // Position of each job's first case in enumeration order.
    let mut first = Vec::with_capacity(plan.jobs.len());
    let mut n = 0;
    for j in &plan.jobs {
        first.push(n);
        n += j.cases.len();
    }

    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<(usize, CaseResult)>();
    let mut slots: Vec<Option<CaseResult>> = vec![None; total];
    std::thread::scope(|s| {
        for _ in 0..workers {
            let tx = tx.clone();
            let (next, oracle, ktailor, first) = (&next, &oracle, &ktailor, &first);
            s.spawn(move || {
                let mut objdirs = oracle::ObjdirPool::default();
                loop {
                    let j = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = plan.jobs.get(j) else { break };
                    let tree = &plan.trees[job.tree];
                    let mut memo = HashMap::new();
                    for (k, inv) in job.cases.iter().enumerate() {
                        let r = run_case(
                            oracle,
                            ktailor.as_deref(),
                            job.tree,
                            tree,
                            inv,
                            &mut objdirs,
                            &mut memo,
                            cfg.timeout,
                        );
                        if tx.send((first[j] + k, r)).is_err() {
                            return;
                        }
                    }
                }
            });
        }
        drop(tx);
        let mut done = 0;
        for (idx, r) in rx {
            done += 1;
            if cfg.progress {
                eprintln!("{}", progress_line(done, total, &r));
            }
            slots[idx] = Some(r);
        }
    });
    Ok(Summary {
        suite: cfg.suite,
        oracle_only: cfg.oracle_only,
        trees: plan.trees.clone(),
        elapsed_seconds: start.elapsed().as_secs_f64(),
        results: slots.into_iter().flatten().collect(),
    })
}

fn progress_line(done: usize, total: usize, r: &CaseResult) -> String {
    let width = total.to_string().len();
    let oracle = if r.oracle_cached {
        "oracle cached".to_string()
    } else {
        format!("oracle {:.1}s", r.oracle_seconds)
    };
    let kt = r
        .ktailor_seconds
        .map(|s| format!(", ktailor {s:.1}s"))
        .unwrap_or_default();
    let why = match r.status {
        Status::OracleFailed => format!(" - {}", r.oracle_reason.as_deref().unwrap_or("")),
        Status::KtailorFailed => format!(" - {}", r.ktailor_exit.as_deref().unwrap_or("")),
        _ => String::new(),
    };
    format!(
        "[{done:>width$}/{total}] {} {}: {} ({oracle}{kt}){why}",
        r.tree,
        r.case,
        r.status.name()
    )
}

#[allow(clippy::too_many_arguments)]
fn run_case(
    oracle: &oracle::Oracle,
    ktailor: Option<&std::path::Path>,
    tree_idx: usize,
    tree: &KernelTree,
    inv: &Invocation,
    objdirs: &mut oracle::ObjdirPool,
    memo: &mut HashMap<Invocation, Arc<oracle::OracleResult>>,
    timeout: Duration,
) -> CaseResult {
    let o = oracle.get(tree_idx, tree, inv, objdirs, memo);
    let mut r = CaseResult {
        tree: tree.kernelversion.clone(),
        case: inv.label(),
        kind: inv.mode,
        invocation: inv.clone(),
        status: Status::OracleOk,
        oracle_command: o.command.clone(),
        oracle_cached: o.cached,
        oracle_seconds: o.seconds,
        oracle_reason: None,
        oracle_stdout: None,
        oracle_stderr: None,
        oracle_output: o.output.as_ref().map(|p| p.display().to_string()),
        ktailor_command: None,
        ktailor_seconds: None,
        ktailor_exit: None,
        ktailor_stderr: None,
        diff: None,
    };
    let oracle_bytes = o.output.as_ref().and_then(|p| std::fs::read(p).ok());
    let (true, Some(oracle_bytes)) = (o.ok, oracle_bytes) else {
        r.status = Status::OracleFailed;
        r.oracle_reason = Some(if o.reason.is_empty() {
            "oracle output vanished from the cache".to_string()
        } else {
            o.reason.clone()
        });
        r.oracle_stdout = Some(o.stdout.clone());
        r.oracle_stderr = Some(o.stderr.clone());
        return r;
    };
    let Some(ktailor) = ktailor else {
        return r;
    };
    // The input chain was resolved by oracle.get above, so it is memoised.
    let input = inv
        .input
        .as_ref()
        .and_then(|i| memo.get(i.as_ref()))
        .and_then(|ir| ir.output.clone());
    match ktailor::run(ktailor, tree, inv, input.as_deref(), timeout) {
        Err(e) => {
            r.status = Status::KtailorFailed;
            r.ktailor_exit = Some(format!("could not run: {e:#}"));
        }
        Ok(run) => {
            r.ktailor_command = Some(run.command);
            r.ktailor_seconds = Some(run.outcome.seconds);
            match run.output {
                None => {
                    r.status = Status::KtailorFailed;
                    r.ktailor_exit = Some(if run.outcome.success() {
                        "exit 0 but no output file".to_string()
                    } else {
                        run.outcome.describe()
                    });
                    r.ktailor_stderr = Some(run.outcome.stderr);
                }
                Some(bytes) if bytes == oracle_bytes => r.status = Status::Identical,
                Some(bytes) => {
                    r.status = Status::Different;
                    r.diff = Some(report::unified_diff(&oracle_bytes, &bytes));
                }
            }
        }
    }
    r
}
