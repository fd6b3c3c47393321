//! The build step: a prepared configuration built out of tree with the
//! kernel's own make, incrementally, in a directory that belongs to it.

use std::path::Path;

use serde::Serialize;

use crate::fmt::{mib, secs};
use crate::prepare::Prepared;
use crate::{Event, Events, Refused};

/// What a build reports, for people and for `--json`.
#[derive(Clone, Debug, Serialize)]
pub struct BuildSummary {
    pub kernelversion: String,
    pub arch: String,
    pub name: String,
    pub out_dir: String,
    pub config_lines: usize,
    pub builtin: usize,
    pub modules: usize,
    pub vmlinux_bytes: u64,
    pub image: String,
    pub image_bytes: u64,
    pub seconds: f64,
    pub incremental: bool,
    pub compiled: usize,
    pub log: String,
}

impl BuildSummary {
    pub fn new(p: &Prepared, r: &kbuild::BuildReport) -> BuildSummary {
        BuildSummary {
            kernelversion: p.session.tree.kernelversion.clone(),
            arch: p.arch.clone(),
            name: p.name.clone(),
            out_dir: r.out_dir.display().to_string(),
            config_lines: r.config_lines,
            builtin: r.builtin,
            modules: r.modules,
            vmlinux_bytes: r.vmlinux_bytes,
            image: r.image.display().to_string(),
            image_bytes: r.image_bytes,
            seconds: r.duration.as_secs_f64(),
            incremental: r.incremental,
            compiled: r.compiled,
            log: r.log.display().to_string(),
        }
    }

    /// One line: sizes, counts, time.
    pub fn line(&self) -> String {
        format!(
            "{}: {} (vmlinux {}), {} CONFIG lines, {} =y, {} ({}{} objects compiled)",
            self.name,
            mib(self.image_bytes),
            mib(self.vmlinux_bytes),
            self.config_lines,
            self.builtin,
            secs(self.seconds),
            if self.incremental {
                "incremental, "
            } else {
                ""
            },
            self.compiled
        )
    }
}

/// Builds `p` into `out` with `jobs` make jobs (0: one per CPU), sending
/// progress to `ev`. A failed build is a [`Refused::Build`] error.
pub fn build(
    p: &Prepared,
    out: &Path,
    jobs: usize,
    ev: Events<'_>,
) -> anyhow::Result<kbuild::BuildReport> {
    ev(Event::Note(&format!(
        "building Linux {} {} ({}) in {}",
        p.session.tree.kernelversion,
        p.arch,
        p.name,
        out.display()
    )));
    let mut spec = kbuild::BuildSpec::new(
        &p.session.tree,
        &p.arch,
        p.config.clone(),
        out.to_path_buf(),
    );
    spec.jobs = jobs;
    match kbuild::build(&spec, &|pr: kbuild::BuildProgress| ev(Event::Build(&pr))) {
        Ok(r) => {
            ev(Event::Note(&BuildSummary::new(p, &r).line()));
            Ok(r)
        }
        Err(e) => Err(Refused::Build(e).into()),
    }
}
