//! The doctor's orchestration: from what a failing boot shows (a serial
//! log, an strace, lspci output, probe results, a QEMU machine's PCI
//! devices, or a direct question) to the option that fixes it, answered
//! from the kernel source through kdoctor's index; `apply` adds the answers
//! to a config through the solver; `validate_*` checks the index itself
//! against a built kernel.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use kcatalog::Catalog;
use kdoctor::{validate, CacheInfo, Index, InitKind, Inputs, Question, Report, Suggestion};
use serde::Serialize;

use crate::prepare::open_session;
use crate::session::{Session, TreeSpec};
use crate::{Event, Events};

/// `writeln!` into a String (cannot fail).
macro_rules! out {
    ($s:expr, $($t:tt)*) => {{ let _ = writeln!($s, $($t)*); }};
}

/// What to diagnose, and what to do with the answers.
#[derive(Clone, Debug, Default)]
pub struct DoctorRequest {
    /// Architecture (default: the qemu target's, else x86_64).
    pub arch: Option<String>,
    pub tree: TreeSpec,
    /// The kernel's .config: says which suggestions already hold, and is
    /// what the solver (and `apply`) adds to.
    pub config: Option<PathBuf>,
    /// A serial console log or dmesg output.
    pub log: Option<PathBuf>,
    /// `strace -f` output.
    pub strace: Option<PathBuf>,
    /// `lspci -n` or `lspci -nn` output.
    pub lspci: Option<PathBuf>,
    /// Start this catalog target's QEMU machine paused and ask QMP which
    /// PCI devices it has.
    pub qemu_target: Option<String>,
    /// The QEMU binary for `qemu_target`.
    pub qemu: PathBuf,
    /// Probe results (`KTAILOR-PROBE {...}` lines) from a boot.
    pub probes: Option<PathBuf>,
    pub syscall: Vec<String>,
    pub af: Vec<String>,
    pub fs: Vec<String>,
    pub pci: Vec<String>,
    /// The init program (or `script`, `elf64`, `elf32`, `missing`).
    pub init: Option<String>,
    /// Add the suggestions to `config` through the solver and write it.
    pub apply: bool,
    /// With `apply`: only suggestions scoring at least this (0-100).
    pub min_score: u32,
    /// With `apply`: where to write the configuration (default: `config`).
    pub out: Option<PathBuf>,
    /// Check the index against a built kernel's directory.
    pub validate_build: Option<PathBuf>,
    /// Check the index against Debian's build of the same kernel version.
    pub validate_debian: bool,
}

#[derive(Serialize)]
pub struct IndexInfo {
    path: String,
    /// Loaded from the cache (true) or built now (false).
    cache_used: bool,
    bytes: u64,
    /// Time to load or build it in this run.
    ms: u64,
    /// How long building it took (now or when it was cached).
    build_ms: u64,
    stats: kdoctor::index::Stats,
}

#[derive(Serialize)]
pub struct DeviceReport {
    #[serde(flatten)]
    function: kvm::PciFunction,
    line: String,
    /// Part of the board (present without the target's NICs and disks).
    board: bool,
    /// Why the target does not need a driver for it (None: it does).
    unused: Option<String>,
    /// The options of the drivers that match it (innermost of each guard).
    options: Vec<String>,
    drivers: Vec<kdoctor::Guard>,
}

#[derive(Serialize)]
pub struct QemuReport {
    target: String,
    machine: String,
    qemu_version: Option<String>,
    qemu_args: Vec<String>,
    query_ms: u64,
    devices: Vec<DeviceReport>,
}

#[derive(Serialize)]
pub struct Validation {
    build: String,
    /// Every prediction matched.
    ok: bool,
    #[serde(flatten)]
    report: validate::Report,
}

#[derive(Serialize)]
pub struct Applied {
    output: String,
    /// The options requested (the suggestions applied).
    requested: Vec<String>,
    additions: Vec<ksolve::Addition>,
    unknown: Vec<ksolve::Unknown>,
}

/// Everything the doctor found, for `--json` and for [`DoctorReport::render`].
#[derive(Serialize)]
pub struct DoctorReport {
    pub kernelversion: String,
    pub arch: String,
    pub tree: String,
    pub index: IndexInfo,
    pub init: Option<InitKind>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qemu: Option<QemuReport>,
    pub suggestions: Vec<Suggestion>,
    pub notes: Vec<kdoctor::Note>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub validation: Vec<Validation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applied: Option<Applied>,
    /// Whether symptoms were asked about (else only validation ran).
    #[serde(skip)]
    pub asked: bool,
}

impl DoctorReport {
    /// Every validation matched.
    pub fn ok(&self) -> bool {
        self.validation.iter().all(|v| v.ok)
    }
}

/// Reads an input file named by `flag`; logs may hold any bytes.
fn read_input(flag: &str, p: &Path) -> Result<String> {
    let bytes = std::fs::read(p).with_context(|| format!("cannot read {flag} {}", p.display()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn init_kind(arg: &str) -> Result<InitKind> {
    let p = Path::new(arg);
    if p.exists() {
        return InitKind::of_file(p).with_context(|| {
            format!("--init {arg}: not a script (#!) or an ELF file, so it cannot say which binfmt it needs")
        });
    }
    match arg {
        "script" => Ok(InitKind::Script),
        "elf64" => Ok(InitKind::Elf64),
        "elf32" => Ok(InitKind::Elf32),
        "missing" => Ok(InitKind::Missing),
        _ => bail!("--init {arg}: no such file (or give script, elf64, elf32 or missing)"),
    }
}

/// The direct questions, each checked so a typo is an error naming it.
fn questions(a: &DoctorRequest) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let named: [(&str, &str, &[String]); 4] = [
        ("--syscall", "syscall", &a.syscall),
        ("--af", "af", &a.af),
        ("--fs", "fs", &a.fs),
        ("--pci", "pci", &a.pci),
    ];
    for (flag, kind, values) in named {
        for v in values {
            let q = format!("{kind} {}", v.trim());
            if Question::parse(&q).is_none() {
                if kind == "pci" {
                    bail!(
                        "{flag} {v:?}: expected VVVV:DDDD[:CLASS], vendor and device as 4 hex digits \
                         and an optional hex class code (e.g. 1af4:1041 or 1234:5678:010802)"
                    );
                }
                bail!("{flag} needs a name, got {v:?}");
            }
            out.push(q);
        }
    }
    Ok(out)
}

/// Reads every input, asks the index, and (with `apply`) writes the
/// configuration. Notes (index and QEMU timings) go to `ev`.
pub fn diagnose(a: &DoctorRequest, ev: Events<'_>) -> Result<DoctorReport> {
    if a.apply && a.config.is_none() {
        bail!("--apply needs --config: the configuration to add the suggestions to");
    }
    if a.out.is_some() && !a.apply {
        bail!("--out is where --apply writes; give --apply too");
    }
    let target = match &a.qemu_target {
        Some(t) => {
            let cat = Catalog::builtin();
            let found = cat.target(t).cloned();
            Some(found.with_context(|| {
                let names: Vec<&str> = cat.targets.iter().map(|t| t.name.as_str()).collect();
                format!("unknown --qemu-target {t:?}; targets: {}", names.join(", "))
            })?)
        }
        None => None,
    };
    let arch = a
        .arch
        .clone()
        .or_else(|| target.as_ref().map(|t| t.arch.to_string()))
        .unwrap_or_else(|| "x86_64".into());

    // Read every input before the slow work, so bad input fails fast.
    let mut inputs = Inputs::new();
    let read =
        |flag: &str, p: &Option<PathBuf>| p.as_deref().map(|p| read_input(flag, p)).transpose();
    inputs.log = read("--log", &a.log)?;
    inputs.strace = read("--strace", &a.strace)?;
    inputs.lspci = read("--lspci", &a.lspci)?;
    inputs.probes = read("--probes", &a.probes)?;
    inputs.config = read("--config", &a.config)?;
    inputs.questions = questions(a)?;
    inputs.init = a.init.as_deref().map(init_kind).transpose()?;
    for (flag, dir) in a.validate_build.iter().map(|d| ("--validate-build", d)) {
        for f in [".config", "System.map"] {
            if !dir.join(f).is_file() {
                bail!(
                    "{flag} {}: no {f} there; give the O= directory of a kernel build",
                    dir.display()
                );
            }
        }
    }
    let asks = inputs.log.is_some()
        || inputs.strace.is_some()
        || inputs.lspci.is_some()
        || inputs.probes.is_some()
        || !inputs.questions.is_empty()
        || target.is_some();
    if !asks && a.validate_build.is_none() && !a.validate_debian {
        bail!(
            "nothing to diagnose: give --log, --strace, --lspci, --probes, --qemu-target, \
             --syscall, --af, --fs or --pci (or --validate-build DIR)"
        );
    }

    let s = open_session(&a.tree, &arch, ev)?;
    let cache = s.cache.clone();
    let (index, info) = Index::load_or_build(&s.tree, &arch, &s.env.srcarch, &cache)?;
    ev(Event::Note(&index_line(&index, &info)));

    let mut qemu = None;
    if let Some(t) = &target {
        if !t.arch.is_x86() {
            bail!(
                "--qemu-target {}: its arch is {}; only x86 machines are started",
                t.name,
                t.arch
            );
        }
        let q = kboot::machine::query_pci(&a.qemu, &t.machine)
            .with_context(|| format!("--qemu-target {}: querying its machine", t.name))?;
        // The bare board, to tell its built-in devices from the target's.
        let mut bare = t.machine.clone();
        bare.nics.clear();
        bare.disks.clear();
        let board = kboot::machine::query_pci(&a.qemu, &bare)
            .with_context(|| format!("--qemu-target {}: querying its bare board", t.name))?;
        ev(Event::Note(&format!(
            "QEMU {} ({} machine of {}): {} PCI functions ({} of the board) in {} ms",
            q.qemu_version.as_deref().unwrap_or("?"),
            t.machine.machine,
            t.name,
            q.devices.len(),
            board.devices.len(),
            (q.duration + board.duration).as_millis()
        )));
        let devices = machine_devices(&index, t, &q.devices, &board.devices);
        for (i, d) in devices.iter().enumerate() {
            inputs.devices.push(kdoctor::inputs::PciDevice {
                line_no: i + 1,
                line: d.line.clone(),
                vendor: d.function.vendor,
                device: d.function.device,
                class: Some(d.function.class),
                subvendor: d.function.subsystem_vendor,
                subdevice: d.function.subsystem,
            });
        }
        qemu = Some(QemuReport {
            target: t.name.clone(),
            machine: t.machine.machine.to_string(),
            qemu_version: q.qemu_version.clone(),
            qemu_args: q.qemu_args.clone(),
            query_ms: q.duration.as_millis() as u64,
            devices,
        });
    }

    let mut report = if asks {
        kdoctor::diagnose_with(&index, &s.db, &inputs, &kdoctor::Symptoms::builtin())
    } else {
        Report::default()
    };
    if let Some(q) = &qemu {
        rank_unused_devices_low(&mut report, q);
    }

    let mut validation = Vec::new();
    if let Some(dir) = &a.validate_build {
        validation.push(validate_dir(&index, dir)?);
    }
    if a.validate_debian {
        let d = kdoctor::debian::provision(&s.tree, &arch, &cache)?;
        ev(Event::Note(&format!(
            "Debian's build: {} {} in {}{}",
            d.provenance.package,
            d.provenance.version,
            d.dir.display(),
            if d.fetched { " (fetched now)" } else { "" }
        )));
        validation.push(validate_dir(&index, &d.dir)?);
    }

    let applied = match (&inputs.config, a.apply) {
        (Some(config), true) => Some(apply(a, &s, config, &report.suggestions)?),
        _ => None,
    };

    Ok(DoctorReport {
        kernelversion: s.tree.kernelversion.clone(),
        arch: arch.clone(),
        tree: s.tree.root.display().to_string(),
        index: IndexInfo {
            path: info.path.display().to_string(),
            cache_used: info.loaded,
            bytes: info.bytes,
            ms: info.ms,
            build_ms: index.stats.build_ms,
            stats: index.stats.clone(),
        },
        init: inputs.init,
        qemu,
        suggestions: report.suggestions,
        notes: report.notes,
        validation,
        applied,
        asked: asks,
    })
}

/// The target's PCI functions with their drivers, each marked as the
/// board's or the target's, and whether the target uses it: the board's
/// storage controller only when a disk is on it (q35's AHCI for ahci, sata
/// and ide disks; pc's IDE for ide disks, while pc's ahci disks add their
/// own controller).
fn machine_devices(
    index: &Index,
    t: &kcatalog::Target,
    all: &[kvm::PciFunction],
    board: &[kvm::PciFunction],
) -> Vec<DeviceReport> {
    let same = |a: &kvm::PciFunction, b: &kvm::PciFunction| {
        (a.bus, a.slot, a.function, a.vendor, a.device)
            == (b.bus, b.slot, b.function, b.vendor, b.device)
    };
    let on_board = |f: &kvm::PciFunction| board.iter().any(|b| same(b, f));
    let storage = |f: &kvm::PciFunction| f.class >> 8 == 0x01;
    let added_storage = all.iter().any(|f| storage(f) && !on_board(f));
    let board_disks = t.machine.disks.iter().any(|d| {
        matches!(
            d.interface,
            kcatalog::DiskInterface::Ide | kcatalog::DiskInterface::Ahci
        )
    });
    let mut out = Vec::new();
    for f in all {
        let is_board = on_board(f);
        let unused = if !is_board {
            None
        } else if storage(f) {
            (!board_disks || added_storage).then(|| {
                format!(
                    "the {} board's own controller; no disk of {} is on it",
                    t.machine.machine, t.name
                )
            })
        } else {
            Some(format!(
                "part of the {} board; {} attaches nothing to it",
                t.machine.machine, t.name
            ))
        };
        let sub = f.subsystem_vendor.zip(f.subsystem);
        let drivers = kdoctor::pci_lookup_sub(index, f.vendor, f.device, Some(f.class), sub);
        let mut options: Vec<String> = Vec::new();
        for o in drivers.iter().filter_map(|g| g.symbol.clone()) {
            if !options.contains(&o) {
                options.push(o);
            }
        }
        out.push(DeviceReport {
            function: f.clone(),
            line: f.line(),
            board: is_board,
            unused,
            options,
            drivers,
        });
    }
    out
}

/// Suggestions that only unused devices led to rank below the --apply
/// default: the target boots without them.
fn rank_unused_devices_low(report: &mut Report, q: &QemuReport) {
    let unused = |line: usize| {
        q.devices
            .get(line.wrapping_sub(1))
            .and_then(|d| d.unused.as_deref())
    };
    for s in &mut report.suggestions {
        let qmp: Vec<&kdoctor::Evidence> = s.evidence.iter().filter(|e| e.input == "qmp").collect();
        if qmp.is_empty() || qmp.len() != s.evidence.len() {
            continue;
        }
        if let Some(why) = qmp
            .iter()
            .map(|e| unused(e.line))
            .collect::<Option<Vec<_>>>()
        {
            s.score = s.score.min(45);
            s.why
                .push_str(&format!("; not needed by this target: {}", why[0]));
        }
    }
    report
        .suggestions
        .sort_by_key(|s| std::cmp::Reverse(s.score));
}

fn index_line(index: &Index, info: &CacheInfo) -> String {
    let mb = info.bytes as f64 / 1e6;
    if info.loaded {
        format!(
            "doctor: index of Linux {} {} loaded from cache {} ({mb:.1} MB) in {} ms (built in {:.1} s)",
            index.kernelversion,
            index.arch,
            info.path.display(),
            info.ms,
            index.stats.build_ms as f64 / 1000.0
        )
    } else {
        format!(
            "doctor: index of Linux {} {} built in {:.1} s ({mb:.1} MB), cached at {}",
            index.kernelversion,
            index.arch,
            info.ms as f64 / 1000.0,
            info.path.display()
        )
    }
}

fn validate_dir(index: &Index, dir: &Path) -> Result<Validation> {
    let b = validate::Build::load(dir)
        .with_context(|| format!("cannot read the build in {}", dir.display()))?;
    let symbols = b.map.syms.len();
    if symbols < 1000 {
        bail!(
            "{}/System.map holds {symbols} symbols: not a real System.map (Debian ships a stub \
             in linux-image; the real one is in the -dbg package, see --validate-debian)",
            dir.display()
        );
    }
    let report = validate::check(index, &b.config, &b.map, b.sys_ni.as_ref());
    Ok(Validation {
        build: dir.display().to_string(),
        ok: report.all_match(),
        report,
    })
}

/// Adds the suggestions (not already satisfied, scoring at least
/// --min-score, solvable) to --config and writes the result.
fn apply(
    a: &DoctorRequest,
    s: &Session,
    config: &str,
    suggestions: &[Suggestion],
) -> Result<Applied> {
    let Some(path) = &a.config else {
        bail!("--apply needs --config");
    };
    let mut requests: Vec<ksolve::Request> = Vec::new();
    let mut requested = Vec::new();
    for sg in suggestions {
        if sg.already_satisfied == Some(true) || sg.score < a.min_score || sg.solve_error.is_some()
        {
            continue;
        }
        for r in &sg.requests {
            if !requests.iter().any(|q| &q.symbol == r) {
                requests.push(ksolve::Request {
                    symbol: r.clone(),
                    value: "y".into(),
                    origin: format!("doctor: {} ({})", sg.option, sg.subject),
                });
            }
        }
        requested.push(format!("{}={}", sg.option, sg.value));
    }
    let out = a.out.clone().unwrap_or_else(|| path.clone());
    let sol = ksolve::Solver::new(&s.db, config.to_string())
        .solve(&requests)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    crate::output::write_atomic(&out, sol.config.as_bytes())?;
    Ok(Applied {
        output: out.display().to_string(),
        requested,
        additions: sol.additions,
        unknown: sol.unknown,
    })
}

impl DoctorReport {
    /// The plain report: devices, findings, validations, what was applied.
    pub fn render(&self) -> String {
        let mut s = String::new();
        if let Some(q) = &self.qemu {
            render_devices(&mut s, q);
        }
        if self.asked {
            render_findings(&mut s, &self.suggestions, &self.notes);
        }
        for v in &self.validation {
            render_validation(&mut s, v);
        }
        if let Some(ap) = &self.applied {
            render_applied(&mut s, ap);
        }
        s
    }
}

fn render_devices(s: &mut String, q: &QemuReport) {
    out!(
        s,
        "{} ({} machine, QEMU {}): {} PCI functions",
        q.target,
        q.machine,
        q.qemu_version.as_deref().unwrap_or("?"),
        q.devices.len()
    );
    for d in &q.devices {
        let mut opts = if d.options.is_empty() {
            "no driver in this kernel".to_string()
        } else {
            d.options
                .iter()
                .map(|o| format!("CONFIG_{o}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if let Some(u) = &d.unused {
            opts.push_str(&format!(" (not needed: {u})"));
        }
        out!(s, "  {}  -> {opts}", d.line);
    }
    s.push('\n');
}

/// The suggestions and notes, as the plain report shows them.
pub fn render_findings(s: &mut String, suggestions: &[Suggestion], notes: &[kdoctor::Note]) {
    if suggestions.is_empty() {
        out!(s, "no suggestions");
    }
    for (i, sg) in suggestions.iter().enumerate() {
        let state = match sg.already_satisfied {
            Some(true) => "  [already set]",
            Some(false) => "  [not set]",
            None => "",
        };
        out!(
            s,
            "{:2}. CONFIG_{}={}  ({}, score {}){state}",
            i + 1,
            sg.option,
            sg.value,
            sg.subject,
            sg.score
        );
        if let Some(e) = sg.evidence.first() {
            let at = if e.line > 0 {
                format!("{}:{}", e.input, e.line)
            } else {
                e.input.clone()
            };
            let more = match sg.evidence.len() {
                1 => String::new(),
                n => format!(" (+{} more)", n - 1),
            };
            out!(s, "    evidence  {at}: {}{more}", e.text);
        }
        if let Some(src) = &sg.source {
            match &sg.guard {
                Some(g) => out!(s, "    source    {src}  (compiled when {g})"),
                None => out!(s, "    source    {src}"),
            }
        }
        if let Some(p) = &sg.prompt {
            out!(s, "    prompt    {p}");
        }
        if !sg.additions.is_empty() {
            let adds: Vec<String> = sg
                .additions
                .iter()
                .map(|a| format!("{}={}", a.symbol, a.value))
                .collect();
            out!(s, "    also sets {}", adds.join(" "));
        }
        if let Some(e) = &sg.solve_error {
            out!(s, "    cannot be set: {}", e.replace('\n', "\n      "));
        }
    }
    for n in notes {
        let at = if n.evidence.line > 0 {
            format!("{}:{}", n.evidence.input, n.evidence.line)
        } else {
            n.evidence.input.clone()
        };
        out!(s, "note: {} ({at}: {})", n.text, n.evidence.text);
    }
}

fn render_validation(s: &mut String, v: &Validation) {
    out!(s, "validation against {}:\n{}", v.build, v.report);
    out!(s, "  {}", if v.ok { "all match" } else { "MISMATCHES" });
}

fn render_applied(s: &mut String, ap: &Applied) {
    out!(
        s,
        "applied {} suggestion(s) to {}: {}",
        ap.requested.len(),
        ap.output,
        ap.requested.join(" ")
    );
    for ad in &ap.additions {
        out!(s, "  + CONFIG_{}={}  ({})", ad.symbol, ad.value, ad.reason);
    }
    for u in &ap.unknown {
        out!(s, "  ! CONFIG_{} is not a symbol of this kernel", u.symbol);
    }
}

/// What the doctor makes of a failed disk-image run: the serial log and
/// the failed checks' evidence, read against the source of the image's
/// kernel (its version from the image's manifest).
pub fn read_failed_run(
    rep: &krun::RunReport,
    image: &Path,
    cache: Option<PathBuf>,
    ev: Events<'_>,
) -> Result<Report> {
    let m = kimage::Manifest::load(image)?
        .context("the image has no manifest, so its kernel version is unknown")?;
    let series: Vec<&str> = m.kernelversion.split('.').take(2).collect();
    anyhow::ensure!(series.len() == 2, "kernel version {:?}", m.kernelversion);
    let tree = TreeSpec {
        kernel: series.join("."),
        no_shell_cache: false,
        cache,
    };
    let s = open_session(&tree, &m.arch, ev)?;
    let (index, _) = Index::load_or_build(&s.tree, &m.arch, &s.env.srcarch, &s.cache)?;
    let mut inputs = Inputs::new();
    let mut log = std::fs::read_to_string(&rep.serial_log).unwrap_or_default();
    for c in rep.checks.iter().filter(|c| !c.pass) {
        log.push_str(&format!("\n{}\n", c.evidence));
    }
    inputs.log = Some(log);
    Ok(kdoctor::diagnose_with(
        &index,
        &s.db,
        &inputs,
        &kdoctor::Symptoms::builtin(),
    ))
}
