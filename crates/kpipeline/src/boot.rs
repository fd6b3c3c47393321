//! The boot step: a kernel (built here or given), the machine and the
//! probes its target implies, one QEMU boot, and the verdict.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use kboot::{Outcome, Plan, Userspace};
use serde::Serialize;

use crate::fmt::truncate;
use crate::prepare::{self, What};
use crate::tailor::{self, BootNeeds};
use crate::{Event, Events};

/// QEMU options a boot takes from the user.
#[derive(Clone, Debug)]
pub struct VmOptions {
    pub accel: kboot::Accel,
    /// Longest a boot may take.
    pub timeout: Duration,
    /// Longest the console may stay silent before the guest counts as hung.
    pub idle_timeout: Duration,
    /// The QEMU binary (also the one the KVM health check runs).
    pub qemu: PathBuf,
}

impl Default for VmOptions {
    fn default() -> Self {
        VmOptions {
            accel: kboot::Accel::Auto,
            timeout: Duration::from_secs(180),
            idle_timeout: Duration::from_secs(45),
            qemu: "qemu-system-x86_64".into(),
        }
    }
}

impl VmOptions {
    /// Sets the plan's accelerator and time limits.
    pub fn apply(&self, plan: &mut Plan) {
        plan.accel = self.accel;
        plan.timeout = self.timeout;
        plan.idle_timeout = self.idle_timeout;
        plan.qemu = self.qemu.clone();
    }
}

/// A boot as the user asked for it.
#[derive(Clone, Debug, Default)]
pub struct BootRequest {
    pub what: What,
    /// Build directory (default: the configuration's own) and make jobs.
    pub out: Option<PathBuf>,
    pub jobs: usize,
    pub vm: VmOptions,
    /// Boot this kernel image instead of building one.
    pub kernel_image: Option<PathBuf>,
    /// What runs in the guest (default: the target's).
    pub userspace: Option<String>,
    /// Probes to require instead of the features'.
    pub probes: Option<Vec<String>>,
    pub initrd: Option<PathBuf>,
    /// Files for ktailor's initramfs, `HOST[:GUEST]`.
    pub add_files: Vec<String>,
    pub disks: Vec<PathBuf>,
    /// Extra kernel parameters.
    pub append: Vec<String>,
    pub workdir: Option<PathBuf>,
}

/// A boot as `--json` reports it.
#[derive(Clone, Debug, Serialize)]
pub struct BootReport {
    pub ok: bool,
    pub verdict: String,
    pub accel: String,
    pub userspace: String,
    pub kernel: String,
    pub append: String,
    /// Kernel clock when init started (from the kernel log).
    pub boot_to_init_s: Option<f64>,
    /// Host clock from QEMU's start to init's first output.
    pub host_to_init_s: Option<f64>,
    pub seconds: f64,
    pub expected: Vec<String>,
    pub probes: Vec<kboot::ProbeResult>,
    /// Console text that proves a boot without probes, and whether it came.
    pub expect: Option<String>,
    pub expect_seen: bool,
    pub failures: Vec<String>,
    pub hints: Vec<String>,
    pub tail: Vec<String>,
    pub serial_log: String,
    pub qemu_args: Vec<String>,
}

impl BootReport {
    pub fn new(o: &Outcome, userspace: Userspace, kernel: &Path) -> BootReport {
        let boot = o.run.boot.as_ref();
        BootReport {
            ok: o.ok(),
            verdict: o.run.verdict.to_string(),
            accel: o.run.accel.as_str().to_string(),
            userspace: userspace.as_str().to_string(),
            kernel: kernel.display().to_string(),
            append: o.append.clone(),
            boot_to_init_s: boot.and_then(|b| b.kernel).map(|d| d.as_secs_f64()),
            host_to_init_s: boot.and_then(|b| b.host).map(|d| d.as_secs_f64()),
            seconds: o.run.duration.as_secs_f64(),
            expected: o.expected.clone(),
            probes: o.probes.clone(),
            expect: o.expect.clone(),
            expect_seen: o.expect_seen,
            failures: o.failures.clone(),
            hints: o.hints.clone(),
            tail: if o.ok() {
                Vec::new()
            } else {
                o.run.tail.clone()
            },
            serial_log: o.run.serial_log.display().to_string(),
            qemu_args: o.run.qemu_args.clone(),
        }
    }

    /// Required probes whose result that counts is a pass.
    pub fn passed(&self) -> usize {
        self.expected
            .iter()
            .filter(|e| kboot::probes::last(&self.probes, e).is_some_and(|p| p.passed()))
            .count()
    }

    /// The plain report: a probe table, the verdict and, on failure, why.
    pub fn render(&self) -> String {
        let mut s = String::new();
        if !self.probes.is_empty() {
            let w = self.probes.iter().map(|p| p.probe.len()).max().unwrap_or(5);
            for p in &self.probes {
                let mark = if self.expected.contains(&p.probe) {
                    ""
                } else {
                    " (not required)"
                };
                let _ = writeln!(
                    s,
                    "  {:w$}  {:4}  {}{mark}",
                    p.probe,
                    p.status,
                    truncate(&p.detail, 90)
                );
            }
        }
        let passed = self.passed();
        let mut line = format!("{} ({}, {:.1}s)", self.verdict, self.accel, self.seconds);
        if let Some(t) = self.boot_to_init_s {
            let _ = write!(line, "; init after {t:.2}s");
        }
        if let (Some(e), true) = (&self.expect, self.expect_seen) {
            let _ = write!(line, "; the console showed {e:?}");
        }
        if !self.expected.is_empty() {
            let _ = write!(
                line,
                "; {passed}/{} required probes passed",
                self.expected.len()
            );
        }
        let _ = writeln!(s, "{}: {line}", if self.ok { "PASS" } else { "FAIL" });
        if !self.ok {
            for f in &self.failures {
                let _ = writeln!(s, "  - {f}");
            }
            if !self.tail.is_empty() {
                let _ = writeln!(s, "  console tail:");
                for l in &self.tail[self.tail.len().saturating_sub(15)..] {
                    let _ = writeln!(s, "  | {l}");
                }
            }
            for h in &self.hints {
                let _ = writeln!(s, "  hint: {h}");
            }
        }
        let _ = writeln!(s, "serial log: {}", self.serial_log);
        s
    }
}

/// The text that proves a boot without probes.
pub fn default_expect(u: Userspace) -> Option<String> {
    match u {
        Userspace::None => Some("Linux version".into()),
        Userspace::Hello => Some("hello world".into()),
        Userspace::Probe | Userspace::Busybox => None,
    }
}

/// The .config of a built image: beside it or in a directory above
/// (`O=DIR/arch/x86/boot/bzImage` → `DIR/.config`).
fn config_near(image: &Path) -> Option<String> {
    let mut dir = image.parent();
    for _ in 0..5 {
        let d = dir?;
        if let Ok(t) = std::fs::read_to_string(d.join(".config")) {
            return Some(t);
        }
        dir = d.parent();
    }
    None
}

/// Probes that `machine` can show, from the features' probes.
pub fn applicable(probes: &[String], machine: &kcatalog::Machine) -> Vec<String> {
    let vocab = kcatalog::Probes::builtin();
    probes
        .iter()
        .filter(|p| vocab.applies(p, machine))
        .cloned()
        .collect()
}

/// Runs a plan, passing console lines on (kvm kills QEMU's process group
/// on every way out).
pub fn boot_plan(plan: &Plan, ev: Events<'_>) -> Result<Outcome> {
    Ok(kboot::boot(plan, &mut |line| ev(Event::Console(line)))?)
}

/// A kernel ready to boot and what its target and features expect.
#[derive(Clone, Debug)]
pub struct Booting {
    pub name: String,
    pub image: PathBuf,
    pub config: String,
    pub machine: kcatalog::Machine,
    pub needs: BootNeeds,
    pub workdir: PathBuf,
}

impl Booting {
    /// A given kernel image: the request's target (with its features,
    /// resolved exactly as a build of it would be) says the machine and
    /// what to expect; without one, a PC with nothing attached.
    pub fn from_image(what: &What, img: &Path) -> Result<Booting> {
        if !img.is_file() {
            bail!("kernel image {} does not exist", img.display());
        }
        let config = match &what.config {
            Some(c) => std::fs::read_to_string(c)
                .with_context(|| format!("cannot read {}", c.display()))?,
            None => config_near(img).unwrap_or_default(),
        };
        let (machine, needs) = if what.target.is_some() || what.customised() {
            let cat = kcatalog::Catalog::builtin();
            let r = tailor::resolve(&cat, &what.wanted())?;
            let machine = r
                .target
                .map(|t| t.machine.clone())
                .unwrap_or_else(|| kcatalog::Machine::bare(kcatalog::MachineType::Pc));
            (machine, r.needs())
        } else {
            (
                kcatalog::Machine::bare(kcatalog::MachineType::Pc),
                BootNeeds::default(),
            )
        };
        let name = what.target.clone().unwrap_or_else(|| "image".into());
        Ok(Booting {
            workdir: what.tree.cache_dir().join("boot").join(&name),
            name,
            image: img.to_path_buf(),
            config,
            machine,
            needs,
        })
    }

    /// A kernel just built from `p` into `out`.
    pub fn from_build(p: &prepare::Prepared, image: &Path, out: &Path) -> Booting {
        Booting {
            name: p.name.clone(),
            image: image.to_path_buf(),
            config: p.config.clone(),
            machine: p.machine(),
            needs: p.needs.clone(),
            workdir: out.join("ktailor-boot"),
        }
    }
}

/// The plan for booting `b` as `req` asks: the machine (with the user's
/// userspace), the probes that machine can show, the command line.
pub fn plan(b: &Booting, req: &BootRequest) -> Result<Plan> {
    let mut machine = b.machine.clone();
    if let Some(u) = &req.userspace {
        machine.userspace = u.parse().map_err(|e| anyhow!("--userspace: {e}"))?;
    }
    let files = extra_files(&req.add_files)?;
    let mut plan = Plan::new(
        b.image.clone(),
        b.config.clone(),
        machine.clone(),
        req.workdir.clone().unwrap_or_else(|| b.workdir.clone()),
    )?;
    plan.probes = match &req.probes {
        Some(p) => p.clone(),
        None => applicable(&b.needs.probes, &machine),
    };
    plan.filesystems = b.needs.filesystems.clone();
    plan.cmdline = b.needs.cmdline.clone();
    plan.cmdline.extend(req.append.iter().cloned());
    plan.expect = default_expect(plan.userspace);
    req.vm.apply(&mut plan);
    plan.disks = req.disks.clone();
    plan.initrd = req.initrd.clone();
    plan.files = files;
    Ok(plan)
}

/// What [`boot`] did.
pub struct Booted {
    pub booting: Booting,
    pub plan: Plan,
    pub outcome: Outcome,
    pub report: BootReport,
    /// The build, when this boot built its kernel.
    pub build: Option<kbuild::BuildReport>,
}

/// Checks what can be checked before a build: the `--add-file`s, and that
/// the target's userspace is one ktailor can boot.
fn precheck(req: &BootRequest) -> Result<()> {
    extra_files(&req.add_files)?;
    match &req.userspace {
        Some(u) => {
            let u: kcatalog::Userspace = u.parse().map_err(|e| anyhow!("--userspace: {e}"))?;
            Userspace::try_from(u)?;
        }
        None => {
            if let Some(t) = req
                .what
                .target
                .as_ref()
                .and_then(|t| kcatalog::Catalog::builtin().target(t).cloned())
            {
                Userspace::try_from(t.machine.userspace)?;
            }
        }
    }
    Ok(())
}

/// What a boot would use, without building or booting: for `--dry-run`
/// and for checking that both ways of naming a kernel agree.
pub fn booting(req: &BootRequest, ev: Events<'_>) -> Result<Booting> {
    precheck(req)?;
    match &req.kernel_image {
        Some(img) => Booting::from_image(&req.what, img),
        None => {
            if req.what.target.is_none() && req.what.config.is_none() {
                bail!("nothing to boot: give --target, or --kernel-image FILE");
            }
            let p = prepare::prepare(&req.what, ev)?;
            let out = req.out.clone().unwrap_or_else(|| p.default_out());
            let rel = kbuild::image_path(&p.arch)
                .with_context(|| format!("ktailor does not build kernels for {}", p.arch))?;
            let image = out.join(rel);
            Ok(Booting::from_build(&p, &image, &out))
        }
    }
}

/// Builds (unless given an image), boots, and judges.
pub fn boot(req: &BootRequest, ev: Events<'_>) -> Result<Booted> {
    precheck(req)?;
    let (b, build) = match &req.kernel_image {
        Some(img) => (Booting::from_image(&req.what, img)?, None),
        None => {
            if req.what.target.is_none() && req.what.config.is_none() {
                bail!("nothing to boot: give --target, or --kernel-image FILE");
            }
            let p = prepare::prepare(&req.what, ev)?;
            let out = req.out.clone().unwrap_or_else(|| p.default_out());
            let r = crate::build::build(&p, &out, req.jobs, ev)?;
            (Booting::from_build(&p, &r.image, &out), Some(r))
        }
    };
    let plan = plan(&b, req)?;
    ev(Event::Note(&format!(
        "booting {} ({} machine, {} userspace, {} required probes)",
        b.name,
        plan.machine.machine,
        plan.userspace.as_str(),
        if plan.userspace.runs_probes() {
            plan.probes.len()
        } else {
            0
        }
    )));
    let outcome = boot_plan(&plan, ev)?;
    let report = BootReport::new(&outcome, plan.userspace, &b.image);
    Ok(Booted {
        booting: b,
        plan,
        outcome,
        report,
        build,
    })
}

/// `--add-file HOST[:GUEST]` as initramfs entries. The split is at the last
/// `:` followed by `/`, so host paths with colons still work when GUEST is
/// absolute.
pub fn extra_files(specs: &[String]) -> Result<Vec<kinitramfs::ExtraFile>> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    for spec in specs {
        let (host, guest) = match spec.rfind(":/") {
            Some(i) => (&spec[..i], spec[i + 1..].to_string()),
            None => {
                let name = Path::new(spec)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .ok_or_else(|| anyhow!("--add-file {spec:?}: names no file"))?;
                (spec.as_str(), format!("/{name}"))
            }
        };
        let meta = std::fs::metadata(host)
            .with_context(|| format!("--add-file {spec:?}: cannot read {host}"))?;
        if !meta.is_file() {
            bail!("--add-file {spec:?}: {host} is not a regular file");
        }
        let bytes = std::fs::read(host)
            .with_context(|| format!("--add-file {spec:?}: cannot read {host}"))?;
        out.push((guest, bytes, meta.permissions().mode() & 0o7777));
    }
    kinitramfs::check_extra(&out).map_err(|e| anyhow!("--add-file: {e}"))?;
    Ok(out)
}
