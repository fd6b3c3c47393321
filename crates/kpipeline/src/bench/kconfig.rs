//! `ktailor bench kconfig`: time our engine against the tree's own conf in
//! the same run on the same machine, and report ratios, never absolute
//! thresholds (those would only measure the machine).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::{Event, Events};

/// The measurement as the user asks for it.
#[derive(Clone, Debug)]
pub struct BenchKconfigRequest {
    /// Kernel source (directory or version).
    pub kernel: String,
    pub arch: String,
    /// Runs per measurement; medians are reported.
    pub runs: usize,
    pub cache: Option<PathBuf>,
    /// The `ktailor` executable to time (the engine as users run it).
    pub exe: PathBuf,
}

#[derive(Serialize, Clone, Copy, Default)]
pub struct Sample {
    pub wall_ms: f64,
    pub cpu_ms: f64,
    pub max_rss_kb: u64,
}

#[derive(Serialize)]
pub struct Row {
    pub case: String,
    pub tool: String,
    pub runs: usize,
    pub median: Sample,
    /// conf's median wall time divided by this row's (1.0 for conf itself).
    pub speedup_vs_conf: f64,
}

#[derive(Serialize)]
pub struct BenchKconfigReport {
    pub kernel: String,
    pub kernelversion: String,
    pub arch: String,
    pub rows: Vec<Row>,
}

/// Run a command to completion and read its resource usage from wait4,
/// which (unlike getrusage on all children) is per process.
fn measure(cmd: &mut Command) -> Result<Sample> {
    let t = Instant::now();
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("spawning benchmark command")?;
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain data; wait4 fills it for our own child.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    let wall = t.elapsed().as_secs_f64() * 1000.0;
    if r < 0 {
        bail!("wait4 failed: {}", std::io::Error::last_os_error());
    }
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        bail!("benchmark command failed: {cmd:?}");
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 * 1000.0 + t.tv_usec as f64 / 1000.0;
    Ok(Sample {
        wall_ms: wall,
        cpu_ms: tv(ru.ru_utime) + tv(ru.ru_stime),
        max_rss_kb: ru.ru_maxrss as u64,
    })
}

fn median(mut v: Vec<Sample>) -> Sample {
    let mid = v.len() / 2;
    let pick = |f: &dyn Fn(&Sample) -> f64, v: &mut Vec<Sample>| {
        v.sort_by(|a, b| f(a).total_cmp(&f(b)));
        f(&v[mid])
    };
    Sample {
        wall_ms: pick(&|s| s.wall_ms, &mut v),
        cpu_ms: pick(&|s| s.cpu_ms, &mut v),
        max_rss_kb: pick(&|s| s.max_rss_kb as f64, &mut v) as u64,
    }
}

/// Times conf and ktailor on allnoconfig and olddefconfig, checking that
/// they agree.
pub fn run(a: &BenchKconfigRequest, ev: Events<'_>) -> Result<BenchKconfigReport> {
    if a.runs == 0 {
        bail!("--runs must be at least 1");
    }
    let cache = a.cache.clone().unwrap_or_else(ksrc::cache_root);
    let tree = ksrc::resolve_kernel(&a.kernel, &cache)?;
    let env = ksrc::kconfig_env(&tree, &a.arch)?;
    let objdir = cache
        .join("bench")
        .join(format!("{}-{}", tree.kernelversion, a.arch));
    std::fs::create_dir_all(&objdir)?;
    let conf = objdir.join("scripts/kconfig/conf");
    if !conf.exists() {
        ev(Event::Note(&format!(
            "building the tree's conf in {} ...",
            objdir.display()
        )));
        let mut make = Command::new("make");
        ksys::make_env::clean(&mut make);
        let st = make
            .args(["-s", "-C"])
            .arg(&tree.root)
            .arg(format!("O={}", objdir.display()))
            .arg(format!("ARCH={}", a.arch))
            .arg("allnoconfig")
            .stdout(Stdio::null())
            .status()
            .context("running make (apt-get install -y build-essential flex bison)")?;
        if !st.success() || !conf.exists() {
            bail!("could not build {}", conf.display());
        }
    }
    let conf_cmd = |args: &[&str]| {
        let mut c = Command::new(&conf);
        c.args(args)
            .arg(&env.kconfig)
            .env_clear()
            .envs(&env.vars)
            .current_dir(&objdir);
        c
    };
    // The olddefconfig input: the arch's defconfig expanded by conf itself.
    let defconfig = format!("arch/{}/configs/{}", env.srcarch, env.defconfig);
    measure(&mut conf_cmd(&[&format!("--defconfig={defconfig}")]))?;
    let input = objdir.join("bench-input.config");
    std::fs::copy(objdir.join(".config"), &input)?;

    let exe = a.exe.clone();
    let warm_cache = cache.clone();
    let scratch = tempfile::tempdir()?;
    let ours = |mode: &str, cache_dir: &Path| {
        let mut c = Command::new(&exe);
        c.args(["kconfig", mode, "--arch", &a.arch, "--kernel"])
            .arg(&tree.root)
            .arg("--cache")
            .arg(cache_dir)
            .arg("-o")
            .arg(scratch.path().join("out.config"));
        if mode == "olddefconfig" {
            c.arg("--input").arg(&input);
        }
        c
    };

    let mut rows = Vec::new();
    for mode in ["allnoconfig", "olddefconfig"] {
        let mut conf_s = Vec::new();
        let mut cold_s = Vec::new();
        let mut warm_s = Vec::new();
        // Populate the warm cache once.
        measure(&mut ours(mode, &warm_cache))?;
        for i in 0..a.runs {
            ev(Event::Note(&format!("{mode}: run {}/{}", i + 1, a.runs)));
            if mode == "olddefconfig" {
                std::fs::copy(&input, objdir.join(".config"))?;
            }
            conf_s.push(measure(&mut conf_cmd(&[&format!("--{mode}")]))?);
            let cold = tempfile::tempdir()?;
            cold_s.push(measure(&mut ours(mode, cold.path()))?);
            warm_s.push(measure(&mut ours(mode, &warm_cache))?);
        }
        // Same answer, or the timing means nothing.
        let ours_out = std::fs::read(scratch.path().join("out.config"))?;
        let conf_out = std::fs::read(objdir.join(".config"))?;
        if ours_out != conf_out {
            bail!("{mode}: ktailor and conf disagree; run the conformance harness");
        }
        let c = median(conf_s);
        for (tool, s) in [
            ("conf", c),
            ("ktailor cold cache", median(cold_s)),
            ("ktailor warm cache", median(warm_s)),
        ] {
            rows.push(Row {
                case: mode.to_string(),
                tool: tool.to_string(),
                runs: a.runs,
                median: s,
                speedup_vs_conf: c.wall_ms / s.wall_ms,
            });
        }
    }
    let rep = BenchKconfigReport {
        kernel: tree.root.display().to_string(),
        kernelversion: tree.kernelversion.clone(),
        arch: a.arch.clone(),
        rows,
    };
    Ok(rep)
}

impl BenchKconfigReport {
    /// The Markdown table of medians and speed-ups.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let runs = self.rows.first().map_or(0, |r| r.runs);
        let _ = writeln!(
            out,
            "Linux {} {}, median of {runs} runs\n",
            self.kernelversion, self.arch
        );
        let _ = writeln!(
            out,
            "| case | tool | wall | CPU | peak RSS | speed-up vs conf |\n|---|---|---|---|---|---|"
        );
        for r in &self.rows {
            let _ = writeln!(
                out,
                "| {} | {} | {:.0} ms | {:.0} ms | {:.1} MB | {:.1}x |",
                r.case,
                r.tool,
                r.median.wall_ms,
                r.median.cpu_ms,
                r.median.max_rss_kb as f64 / 1024.0,
                r.speedup_vs_conf
            );
        }
        out
    }
}
