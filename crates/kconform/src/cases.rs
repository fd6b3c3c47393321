//! What gets compared: case enumeration from a kernel tree.

use std::fmt;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::tree::{self, KernelTree};

/// A `ktailor kconfig` mode, which is also a make target of the kernel.
/// Reports, oracle cache keys and `--mode` use its make-target names
/// (`allnoconfig`, ...).
pub use kconfig::Mode;

/// Which set of cases to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Suite {
    /// A few minutes on 2 cores with a cold oracle cache.
    Ci,
    /// Every arch, every shipped defconfig of the main arches, hundreds of randconfigs.
    Full,
}

impl fmt::Display for Suite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Suite::Ci => "ci",
            Suite::Full => "full",
        })
    }
}

/// One run of conf, on either side.
///
/// `input` is another invocation whose oracle output is the starting
/// .config: both sides start from the kernel's own bytes, so a mismatch
/// always points at the mode under test and never at its input.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Invocation {
    pub arch: String,
    pub mode: Mode,
    /// File name under arch/<srcarch>/configs; None means the arch's KBUILD_DEFCONFIG.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub defconfig: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<Box<Invocation>>,
}

impl Invocation {
    pub fn simple(arch: &str, mode: Mode) -> Self {
        Invocation {
            arch: arch.to_string(),
            mode,
            defconfig: None,
            seed: None,
            input: None,
        }
    }

    fn without_arch(&self) -> String {
        let mut s = self.mode.name().to_string();
        if let Some(d) = &self.defconfig {
            s.push(' ');
            s.push_str(d);
        }
        if let Some(seed) = self.seed {
            s.push_str(&format!(" seed={seed}"));
        }
        if let Some(input) = &self.input {
            s.push_str(" < ");
            s.push_str(&input.without_arch());
        }
        s
    }

    /// Human-readable case name, e.g. `x86_64 savedefconfig < defconfig x86_64_defconfig`.
    pub fn label(&self) -> String {
        format!("{} {}", self.arch, self.without_arch())
    }

    /// The invocation at the bottom of the input chain: cases sharing it are
    /// run by one worker so the shared oracle run happens once.
    pub fn root(&self) -> &Invocation {
        match &self.input {
            Some(i) => i.root(),
            None => self,
        }
    }
}

/// Cases run in order by one worker, sharing their input chain.
#[derive(Clone, Debug)]
pub struct Job {
    pub tree: usize,
    pub cases: Vec<Invocation>,
}

fn defconfig_arch(srcarch: &str, file: &str) -> String {
    if srcarch == "x86" {
        // ARCH=x86_64 hides the 64BIT prompt, which would turn i386_defconfig
        // into a 64-bit config: nobody builds it that way.
        if file.starts_with("i386") {
            "i386".to_string()
        } else {
            "x86_64".to_string()
        }
    } else {
        srcarch.to_string()
    }
}

fn all_configs(arch: &str) -> Vec<Job> {
    [
        Mode::Allnoconfig,
        Mode::Allyesconfig,
        Mode::Allmodconfig,
        Mode::Alldefconfig,
    ]
    .into_iter()
    .map(|m| Job {
        tree: 0,
        cases: vec![Invocation::simple(arch, m)],
    })
    .collect()
}

fn defconfig_job(arch: &str, file: Option<&str>, with_save: bool) -> Job {
    let def = Invocation {
        arch: arch.to_string(),
        mode: Mode::Defconfig,
        defconfig: file.map(str::to_string),
        seed: None,
        input: None,
    };
    let mut cases = vec![def.clone()];
    if with_save {
        cases.push(Invocation {
            arch: arch.to_string(),
            mode: Mode::Savedefconfig,
            defconfig: None,
            seed: None,
            input: Some(Box::new(def)),
        });
    }
    Job { tree: 0, cases }
}

fn rand_job(arch: &str, seed: u64) -> Job {
    let rand = Invocation {
        arch: arch.to_string(),
        mode: Mode::Randconfig,
        defconfig: None,
        seed: Some(seed),
        input: None,
    };
    let old = Invocation {
        arch: arch.to_string(),
        mode: Mode::Olddefconfig,
        defconfig: None,
        seed: None,
        input: Some(Box::new(rand.clone())),
    };
    Job {
        tree: 0,
        cases: vec![rand, old],
    }
}

/// Default randconfig count per arch, per suite.
pub fn default_rand(suite: Suite) -> usize {
    match suite {
        Suite::Ci => 10,
        Suite::Full => 200,
    }
}

/// The `full` suite for one tree.
pub fn full_jobs(tree: &KernelTree, rand: usize) -> Result<Vec<Job>> {
    let mut jobs = Vec::new();
    for arch in tree::arches(tree)? {
        jobs.extend(all_configs(&arch));
    }
    for srcarch in ["x86", "arm64", "riscv"] {
        if !tree.root.join("arch").join(srcarch).is_dir() {
            continue;
        }
        let default_arches: &[&str] = if srcarch == "x86" {
            &["x86_64", "i386"]
        } else {
            &[srcarch]
        };
        // The arch's default (KBUILD_DEFCONFIG) exercises ktailor's own
        // choice of defconfig file, which the per-file cases bypass.
        for arch in default_arches {
            jobs.push(defconfig_job(arch, None, true));
        }
        for file in tree::defconfig_files(tree, srcarch)? {
            jobs.push(defconfig_job(
                &defconfig_arch(srcarch, &file),
                Some(&file),
                true,
            ));
        }
    }
    for arch in ["x86_64", "arm64"] {
        if tree.root.join("arch").join(tree::srcarch(arch)).is_dir() {
            jobs.extend((1..=rand as u64).map(|s| rand_job(arch, s)));
            jobs.push(Job {
                tree: 0,
                cases: vec![Invocation::simple(arch, Mode::Tinyconfig)],
            });
        }
    }
    Ok(jobs)
}

/// The `ci` suite for one tree. The primary (first) tree gets the broad
/// subset; further trees only a smoke test, so an older series stays covered
/// without doubling the run time.
pub fn ci_jobs(tree: &KernelTree, primary: bool, rand: usize) -> Result<Vec<Job>> {
    let mut jobs = Vec::new();
    let has = |arch: &str| tree.root.join("arch").join(tree::srcarch(arch)).is_dir();
    if !primary {
        if has("x86_64") {
            for mode in [Mode::Allnoconfig, Mode::Allyesconfig] {
                jobs.push(Job {
                    tree: 0,
                    cases: vec![Invocation::simple("x86_64", mode)],
                });
            }
            jobs.push(defconfig_job("x86_64", Some("x86_64_defconfig"), false));
        }
        return Ok(jobs);
    }
    for arch in ["x86_64", "arm64", "riscv"] {
        if has(arch) {
            jobs.extend(all_configs(arch));
        }
    }
    if has("x86_64") {
        jobs.push(defconfig_job("x86_64", Some("x86_64_defconfig"), true));
    }
    if has("arm64") {
        jobs.push(defconfig_job("arm64", Some("defconfig"), true));
    }
    if has("x86_64") {
        jobs.push(Job {
            tree: 0,
            cases: vec![Invocation::simple("x86_64", Mode::Tinyconfig)],
        });
    }
    for arch in ["x86_64", "arm64"] {
        if has(arch) {
            jobs.extend((1..=rand as u64).map(|s| rand_job(arch, s)));
        }
    }
    Ok(jobs)
}

/// Keeps the cases matching the filters; the inputs they need are still
/// generated, only not reported.
pub fn filter_jobs(jobs: Vec<Job>, arches: &[String], modes: &[Mode]) -> Vec<Job> {
    jobs.into_iter()
        .filter_map(|mut job| {
            job.cases.retain(|c| {
                (arches.is_empty()
                    || arches
                        .iter()
                        .any(|a| *a == c.arch || a == tree::srcarch(&c.arch)))
                    && (modes.is_empty() || modes.contains(&c.mode))
            });
            (!job.cases.is_empty()).then_some(job)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        let j = rand_job("x86_64", 7);
        assert_eq!(j.cases[0].label(), "x86_64 randconfig seed=7");
        assert_eq!(
            j.cases[1].label(),
            "x86_64 olddefconfig < randconfig seed=7"
        );
        assert_eq!(j.cases[1].root(), &j.cases[0]);
        let d = defconfig_job("arm64", Some("defconfig"), true);
        assert_eq!(
            d.cases[1].label(),
            "arm64 savedefconfig < defconfig defconfig"
        );
    }

    #[test]
    fn filtering_keeps_jobs_with_matching_cases() {
        let jobs = vec![rand_job("x86_64", 1), rand_job("arm64", 1)];
        let f = filter_jobs(jobs.clone(), &["x86".to_string()], &[Mode::Olddefconfig]);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].cases.len(), 1);
        assert_eq!(f[0].cases[0].mode, Mode::Olddefconfig);
        assert_eq!(filter_jobs(jobs, &[], &[]).len(), 2);
    }

    #[test]
    fn x86_defconfig_arch() {
        assert_eq!(defconfig_arch("x86", "i386_defconfig"), "i386");
        assert_eq!(defconfig_arch("x86", "x86_64_defconfig"), "x86_64");
        assert_eq!(defconfig_arch("riscv", "nommu_virt_defconfig"), "riscv");
    }
}
