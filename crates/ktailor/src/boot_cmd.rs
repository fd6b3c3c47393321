//! `ktailor boot`: boot a target's kernel in QEMU with ktailor's userspace
//! and report, probe by probe, what works.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use kboot::{Outcome, Plan, Userspace};
use serde::Serialize;

use crate::build_cmd::{self, MakeArgs, What};

#[derive(Clone, Copy, Debug, clap::ValueEnum, PartialEq, Eq)]
pub enum AccelArg {
    Auto,
    Kvm,
    Tcg,
}

impl AccelArg {
    pub fn accel(self) -> kboot::Accel {
        match self {
            AccelArg::Auto => kboot::Accel::Auto,
            AccelArg::Kvm => kboot::Accel::Kvm,
            AccelArg::Tcg => kboot::Accel::Tcg,
        }
    }
}

/// QEMU options shared with `ladder`.
#[derive(clap::Args, Clone)]
pub struct VmArgs {
    /// auto uses KVM only after a short health check shows guests run under it.
    #[arg(long, value_enum, default_value = "auto")]
    pub accel: AccelArg,
    /// Longest a boot may take, in seconds.
    #[arg(long, default_value_t = 180)]
    pub timeout: u64,
    /// Longest the console may stay silent before the guest counts as hung, in seconds.
    #[arg(long, default_value_t = 45)]
    pub idle_timeout: u64,
}

impl VmArgs {
    /// Sets the plan's accelerator and time limits from the options.
    pub fn apply(&self, plan: &mut Plan) {
        plan.accel = self.accel.accel();
        plan.timeout = Duration::from_secs(self.timeout);
        plan.idle_timeout = Duration::from_secs(self.idle_timeout);
    }
}

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    what: What,
    #[command(flatten)]
    make: MakeArgs,
    #[command(flatten)]
    vm: VmArgs,
    /// Boot this kernel image instead of building the target's (its .config
    /// is looked for beside it and in the directories above).
    #[arg(long)]
    kernel_image: Option<PathBuf>,
    /// What runs in the guest: none, hello, probe or busybox (default: the target's).
    #[arg(long)]
    userspace: Option<String>,
    /// Probes to require instead of the features' (comma-separated).
    #[arg(long, value_delimiter = ',')]
    probes: Option<Vec<String>>,
    /// An initramfs to use instead of ktailor's.
    #[arg(long)]
    initrd: Option<PathBuf>,
    /// A host file to put into ktailor's initramfs, as HOST[:GUEST] (GUEST
    /// defaults to /NAME; mode comes from the host file); repeatable.
    #[arg(long, value_name = "HOST[:GUEST]")]
    add_file: Vec<String>,
    /// A disk image for the machine's disk slots, in order; repeatable.
    #[arg(long)]
    disk: Vec<PathBuf>,
    /// Extra kernel parameters; repeatable.
    #[arg(long)]
    append: Vec<String>,
    /// Where the initramfs, disks and serial log go (default: beside the build).
    #[arg(long)]
    workdir: Option<PathBuf>,
    /// Print every console line as it arrives.
    #[arg(long, short)]
    verbose: bool,
    /// Print a JSON report on standard output.
    #[arg(long)]
    json: bool,
}

/// A boot as `--json` reports it.
#[derive(Serialize)]
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
    pub fn print(&self) {
        if !self.probes.is_empty() {
            let w = self.probes.iter().map(|p| p.probe.len()).max().unwrap_or(5);
            for p in &self.probes {
                let mark = if self.expected.contains(&p.probe) {
                    ""
                } else {
                    " (not required)"
                };
                println!(
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
            line.push_str(&format!("; init after {t:.2}s"));
        }
        if let (Some(e), true) = (&self.expect, self.expect_seen) {
            line.push_str(&format!("; the console showed {e:?}"));
        }
        if !self.expected.is_empty() {
            line.push_str(&format!(
                "; {passed}/{} required probes passed",
                self.expected.len()
            ));
        }
        println!("{}: {line}", if self.ok { "PASS" } else { "FAIL" });
        if !self.ok {
            for f in &self.failures {
                println!("  - {f}");
            }
            if !self.tail.is_empty() {
                println!("  console tail:");
                for l in &self.tail[self.tail.len().saturating_sub(15)..] {
                    println!("  | {l}");
                }
            }
            for h in &self.hints {
                println!("  hint: {h}");
            }
        }
        println!("serial log: {}", self.serial_log);
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let t: String = s.chars().take(n).collect();
        format!("{t}…")
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

/// Runs a plan, echoing the console with `verbose` (kvm kills QEMU's process
/// group on every way out).
pub fn boot_plan(plan: &Plan, verbose: bool) -> Result<Outcome> {
    let o = kboot::boot(plan, &mut |line| {
        if verbose {
            eprintln!("| {line}");
        }
    })?;
    Ok(o)
}

/// A kernel ready to boot and what its features expect.
struct Booting {
    name: String,
    image: PathBuf,
    config: String,
    machine: kcatalog::Machine,
    cmdline: Vec<String>,
    filesystems: Vec<String>,
    probes: Vec<String>,
    workdir: PathBuf,
}

/// `--kernel-image`: the target (if any) says machine and probes.
fn from_image(a: &Args, img: &Path) -> Result<Booting> {
    let cat = kcatalog::Catalog::builtin();
    if !img.is_file() {
        bail!("kernel image {} does not exist", img.display());
    }
    let config = match &a.what.config {
        Some(c) => {
            std::fs::read_to_string(c).with_context(|| format!("cannot read {}", c.display()))?
        }
        None => config_near(img).unwrap_or_default(),
    };
    let (machine, features) = match &a.what.target {
        Some(t) => {
            let t = cat
                .target(t)
                .with_context(|| format!("unknown target {t:?}"))?;
            let fs = cat.closure(&t.features).map_err(anyhow::Error::msg)?;
            (t.machine.clone(), fs)
        }
        // A bare `--kernel-image` boots on a PC with nothing attached.
        None => (kcatalog::Machine::bare("pc"), Vec::new()),
    };
    let mut b = Booting {
        name: a.what.target.clone().unwrap_or_else(|| "image".into()),
        image: img.to_path_buf(),
        config,
        machine,
        cmdline: Vec::new(),
        filesystems: Vec::new(),
        probes: Vec::new(),
        workdir: PathBuf::new(),
    };
    for f in features {
        b.cmdline.extend(f.cmdline.iter().cloned());
        b.filesystems.extend(f.filesystems.iter().cloned());
        b.probes.extend(f.probes.iter().cloned());
    }
    for v in [&mut b.cmdline, &mut b.filesystems, &mut b.probes] {
        let mut seen = std::collections::BTreeSet::new();
        v.retain(|x| seen.insert(x.clone()));
    }
    let cache = a.what.tree.cache.clone().unwrap_or_else(ksrc::cache_root);
    b.workdir = cache.join("boot").join(&b.name);
    Ok(b)
}

/// No image: solve and build the target first. `Err(code)`: already reported.
fn from_build(a: &Args) -> Result<std::result::Result<Booting, ExitCode>> {
    if a.what.target.is_none() && a.what.config.is_none() {
        bail!("nothing to boot: give --target, or --kernel-image FILE");
    }
    // Refuse what cannot boot before spending minutes on a build.
    if let (Some(t), None) = (&a.what.target, &a.userspace) {
        if let Some(t) = kcatalog::Catalog::builtin().target(t) {
            Userspace::parse(&t.machine.userspace)?;
        }
    }
    let p = match build_cmd::prepare(&a.what, a.json)? {
        Ok(p) => p,
        Err(code) => return Ok(Err(code)),
    };
    let out = a
        .make
        .out
        .clone()
        .unwrap_or_else(|| build_cmd::default_out(&p, &a.what.tree));
    let r = match build_cmd::build_reported(&p, &out, a.make.jobs, a.json) {
        Ok(r) => r,
        Err(code) => return Ok(Err(code)),
    };
    Ok(Ok(Booting {
        name: p.name.clone(),
        image: r.image.clone(),
        config: p.config.clone(),
        machine: p
            .target
            .as_ref()
            .map(|t| t.machine.clone())
            .unwrap_or_else(|| kcatalog::Machine::bare("pc")),
        cmdline: p.cmdline.clone(),
        filesystems: p.filesystems.clone(),
        probes: p.probes.clone(),
        workdir: out.join("ktailor-boot"),
    }))
}

pub fn run(a: Args) -> Result<ExitCode> {
    // Read before the build so a typo costs seconds, not a kernel build.
    let files = read_add_files(&a.add_file)?;
    let b = match &a.kernel_image {
        Some(img) => from_image(&a, img)?,
        None => match from_build(&a)? {
            Ok(b) => b,
            Err(code) => return Ok(code),
        },
    };
    let mut machine = b.machine;
    if let Some(u) = &a.userspace {
        machine.userspace = u.clone();
    }
    let mut plan = Plan::new(
        b.image.clone(),
        b.config,
        machine.clone(),
        a.workdir.clone().unwrap_or(b.workdir),
    )?;
    plan.probes = match &a.probes {
        Some(p) => p.clone(),
        None => applicable(&b.probes, &machine),
    };
    plan.filesystems = b.filesystems;
    plan.cmdline = b.cmdline;
    plan.cmdline.extend(a.append.iter().cloned());
    plan.expect = default_expect(plan.userspace);
    a.vm.apply(&mut plan);
    plan.disks = a.disk.clone();
    plan.initrd = a.initrd.clone();
    plan.files = files;
    if !a.json {
        eprintln!(
            "booting {} ({} machine, {} userspace, {} required probes)",
            b.name,
            machine.machine,
            plan.userspace.as_str(),
            if matches!(plan.userspace, Userspace::Probe | Userspace::Busybox) {
                plan.probes.len()
            } else {
                0
            }
        );
    }
    let o = boot_plan(&plan, a.verbose && !a.json)?;
    let report = BootReport::new(&o, plan.userspace, &b.image);
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        report.print();
    }
    Ok(if o.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `--add-file HOST[:GUEST]` as initramfs entries. The split is at the last
/// `:` followed by `/`, so host paths with colons still work when GUEST is
/// absolute.
fn read_add_files(specs: &[String]) -> Result<Vec<kinitramfs::ExtraFile>> {
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
