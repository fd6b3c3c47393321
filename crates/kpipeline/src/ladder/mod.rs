//! `ktailor ladder`: the seed's milestones (data/ladder.toml), built in one
//! directory one after another so every step is an incremental build of the
//! last, each booted and checked by its probes and every earlier step's.
//!
//! The disk steps at the end boot a Debian disk image instead: the step's
//! kernel (with the image's command line built in) and a cached Debian root
//! in a GPT image, booted by krun on plain QEMU or the EC2 simulator and
//! judged by its SSH checks, the step's and every earlier disk step's.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use kboot::Plan;
use kcatalog::{Base, Catalog, DiskInit, DiskMachine, Ladder, Step};

use crate::boot::{self, BootReport, VmOptions};
use crate::fmt::{mib, secs};
use crate::image;
use crate::keys::Keys;
use crate::prepare::{open_session, Prepared};
use crate::session::TreeSpec;
use crate::tailor::{self, BootNeeds, Wanted};
use crate::{Event, Events};

pub mod report;

pub use report::{DiskRun, LadderReport, StepRow};

/// A ladder run as the user asks for it.
#[derive(Clone, Debug)]
pub struct LadderRequest {
    pub tree: TreeSpec,
    /// Architecture; the ladder's machines are x86 QEMU boards.
    pub arch: String,
    /// tinyconfig (EXPERT=y, so FUTEX, EPOLL and the like start off as in
    /// the seed) or allnoconfig.
    pub base: Base,
    /// Stop after this step.
    pub until: Option<String>,
    /// Build directory shared by every step (default:
    /// `<cache>/builds/ladder-<base>-<version>-<arch>`).
    pub out: Option<PathBuf>,
    pub jobs: usize,
    pub vm: VmOptions,
    /// The disk steps' Debian root (default: each step's `image.init`);
    /// systemd adds data/ladder.toml's `systemd-features`.
    pub init: Option<DiskInit>,
    /// Longest a disk step's boot and SSH checks may take.
    pub disk_timeout: Duration,
    /// Where ladder.md, ladder.json and ladder-size.svg go (default: `<out>/report`).
    pub report: Option<PathBuf>,
    /// The command line to record in the report.
    pub command: String,
    /// The program QEMU runs per metadata-service connection (the EC2
    /// simulator's disk steps): `ktailor imds-relay`.
    pub relay: Vec<String>,
}

/// `SYM=value` lines that are set (not `is not set`) in a .config.
/// The values a .config sets (not `is not set`), by symbol.
fn set_values(config: &str) -> BTreeMap<String, kconfig::dotconfig::Value> {
    let mut m = kconfig::dotconfig::parse(".config", config).map();
    m.retain(|_, v| v.tri() != Some(kconfig::Tri::N));
    m
}

fn added(prev: &str, now: &str) -> Vec<String> {
    let p = set_values(prev);
    set_values(now)
        .into_iter()
        .filter(|(k, v)| p.get(k) != Some(v))
        .map(|(k, v)| format!("{k}={v}"))
        .collect()
}

/// The init a disk step's root uses: `--init`, else the step's own.
fn step_init(step: &Step, arg: Option<DiskInit>) -> Option<DiskInit> {
    let image = step.image?;
    Some(arg.unwrap_or(image.init))
}

/// The features of step `i`: the ladder's through `i`, plus the systemd
/// features from the first disk step whose root is systemd.
fn step_features(ladder: &Ladder, i: usize, init: Option<DiskInit>) -> Vec<String> {
    let mut v = ladder.features_through(i);
    if ladder.steps[..=i]
        .iter()
        .any(|s| step_init(s, init) == Some(DiskInit::Systemd))
    {
        for f in &ladder.systemd_features {
            if !v.contains(f) {
                v.push(f.clone());
            }
        }
    }
    v
}

/// The checks a disk step with root `init` requires: its own and the
/// earlier disk steps'. A systemd root reports one `systemd` check
/// (`systemctl is-system-running` says `running`: no unit failed) where a
/// sysvinit root reports a `running-<daemon>` check per daemon, so for
/// systemd the `running-*` checks become that one.
pub fn required_checks(ladder: &Ladder, i: usize, init: DiskInit) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for c in ladder.checks_through(i) {
        let c = if init == DiskInit::Systemd && c.starts_with("running-") {
            "systemd".to_string()
        } else {
            c
        };
        if !v.contains(&c) {
            v.push(c);
        }
    }
    v
}

/// Which required checks passed, and why each other one failed.
fn judge(required: &[String], run: &krun::RunReport) -> (usize, Vec<String>) {
    let mut passed = 0;
    let mut failures = Vec::new();
    for name in required {
        match run.checks.iter().find(|c| &c.name == name) {
            Some(c) if c.pass => passed += 1,
            Some(c) => failures.push(format!("check {name} failed: {}", c.evidence)),
            None => failures.push(format!(
                "check {name} was not made on {} ({}): {}",
                run.machine.name(),
                run.verdict,
                if run.checks.iter().any(|c| c.name == "login" && c.pass) {
                    "this machine or init does not report it"
                } else {
                    "no SSH login"
                }
            )),
        }
    }
    (passed, failures)
}

fn krun_machine(m: DiskMachine) -> krun::MachineKind {
    match m {
        DiskMachine::Qemu => krun::MachineKind::Qemu,
        DiskMachine::Ec2Sim => krun::MachineKind::Ec2Sim,
    }
}

/// Refuses, before anything builds, a disk step whose kernel would lack
/// what a Debian root needs (`ktailor image`'s list, plus efi for UEFI
/// firmware and systemd for a systemd root).
fn check_disk_needs(
    cat: &Catalog,
    ladder: &Ladder,
    last: usize,
    init: Option<DiskInit>,
) -> Result<()> {
    for (i, step) in ladder.steps.iter().enumerate().take(last + 1) {
        let (Some(image), Some(root)) = (step.image, step_init(step, init)) else {
            continue;
        };
        let names = step_features(ladder, i, init);
        let have: Vec<String> = cat
            .closure(&names)
            .map_err(anyhow::Error::msg)?
            .iter()
            .map(|f| f.name.clone())
            .collect();
        let mut needs: Vec<(&str, &str)> = image::IMAGE_NEEDS.to_vec();
        if image.machine == DiskMachine::Ec2Sim {
            needs.push((
                "efi",
                "UEFI firmware starts the kernel through its EFI stub",
            ));
        }
        if root == DiskInit::Systemd {
            needs.push(("systemd", "the root's init is systemd"));
        }
        for (f, why) in needs {
            if !have.iter().any(|h| h == f) {
                bail!(
                    "ladder step {} boots a Debian image but its features lack {f} ({why}); add it to the step in data/ladder.toml",
                    step.name
                );
            }
        }
    }
    Ok(())
}

/// What a disk step needs besides the step itself.
struct DiskCtx<'a> {
    keys: &'a Keys,
    /// The step's kernel, and the build directory it came from.
    kernel: PathBuf,
    build_dir: PathBuf,
    /// The image, its manifest and the run's files go here.
    work: PathBuf,
    cache: PathBuf,
    cmdline: String,
    kernelversion: String,
    arch: String,
    accel: kboot::Accel,
    timeout: Duration,
    relay: Vec<String>,
    ev: Events<'a>,
}

/// Builds the step's image and runs it; fills the row's checks. An error
/// here is the step's failure (the ladder goes on to report it).
fn disk_step(step: &Step, init: DiskInit, cx: &DiskCtx<'_>, row: &mut StepRow) -> Result<()> {
    let image = step.image.context("a disk step without an image")?;
    let (kernel, work) = (&cx.kernel, &cx.work);
    let say = |m: &str| (cx.ev)(Event::Note(&format!("  {m}")));
    let detail = |m: &str| (cx.ev)(Event::Detail(&format!("  {m}")));
    let rootfs = krootfs::build(
        &krootfs::RootfsSpec::bookworm(match init {
            DiskInit::Sysvinit => krootfs::Init::Sysvinit,
            DiskInit::Systemd => krootfs::Init::Systemd,
        }),
        &cx.cache,
        &|m: &str| say(&format!("rootfs: {m}")),
    )?;
    std::fs::create_dir_all(work).with_context(|| format!("cannot create {}", work.display()))?;
    let output = work.join("disk.raw");
    let made = kimage::build(
        &kimage::ImageSpec {
            kernel: kernel.to_path_buf(),
            rootfs_tar: rootfs.tar.clone(),
            ssh_keys: vec![cx.keys.login_pub.clone()],
            output: output.clone(),
            size: 2 << 30,
            root_partuuid: kimage::root_partuuid_for(LADDER_IMAGE),
        },
        &|m| detail(&format!("image: {m}")),
    )?;
    let kernel_release = kimage::kernel_release(kernel)?;
    let manifest = kimage::Manifest {
        target: format!("{LADDER_IMAGE}/{}", step.name),
        init: init.name().into(),
        kernel_release: kernel_release.clone(),
        kernelversion: cx.kernelversion.clone(),
        arch: cx.arch.clone(),
        cmdline: cx.cmdline.clone(),
        image: made.clone(),
        build_checks: image::ena_checks(&cx.build_dir),
    };
    manifest.save(&output)?;
    say(&format!(
        "image: {} ({} allocated, {} of files, {:.1}s); booting it on {} ({})",
        output.display(),
        kimage::human(made.allocated_bytes),
        kimage::human(made.tree_bytes),
        made.seconds,
        image.machine.name(),
        init.name()
    ));
    let mut disk = DiskRun {
        machine: image.machine.name().into(),
        init: init.name().into(),
        image: output.clone(),
        cmdline: cx.cmdline.clone(),
        kernel_release,
        made,
        rootfs: rootfs.tar.clone(),
        rootfs_cache_hit: rootfs.cache_hit,
        run: None,
    };
    let run_dir = work.join("run");
    let spec = krun::RunSpec {
        image: output,
        machine: krun_machine(image.machine),
        ssh_key: cx.keys.login.clone(),
        imds_keys: vec![cx.keys.imds_pub.clone()],
        imds_login_key: Some(cx.keys.imds.clone()),
        accel: cx.accel,
        relay: cx.relay.clone(),
        keep_running: false,
        timeout: cx.timeout,
        workdir: run_dir,
        memory_mb: step.machine.memory_mb,
        cpus: step.machine.cpus,
        extra_commands: Vec::new(),
        console_marks: Vec::new(),
    };
    let result = krun::run(&spec, &|m| detail(m));
    let run = match result {
        Ok(r) => r,
        Err(e) => {
            row.disk = Some(disk);
            return Err(e.into());
        }
    };
    let (passed, failures) = judge(&row.required_checks, &run);
    row.checks_passed = passed;
    row.failures.extend(failures);
    row.ok = row.failures.is_empty();
    disk.run = Some(run);
    row.disk = Some(disk);
    Ok(())
}

/// The name the ladder's images go by: their root PARTUUID is derived from
/// it, so it is the same for every disk step and the built-in command line
/// changes once, at the first disk step.
const LADDER_IMAGE: &str = "ladder";

/// Walks the ladder: each step solved, built incrementally in the shared
/// directory, booted and judged; the report files written. Step failures
/// are in the report (`ok`); an error is something that stopped the walk.
pub fn run(a: &LadderRequest, ev: Events<'_>) -> Result<(LadderReport, PathBuf)> {
    let started = Instant::now();
    if let Err(m) = kbuild::check_deps() {
        bail!("{m}");
    }
    let cat = Catalog::builtin();
    let ladder = Ladder::builtin(&cat);
    let last = match &a.until {
        Some(u) => ladder
            .steps
            .iter()
            .position(|s| &s.name == u)
            .with_context(|| {
                let names: Vec<&str> = ladder.steps.iter().map(|s| s.name.as_str()).collect();
                format!("no ladder step {u:?}; steps: {}", names.join(", "))
            })?,
        None => ladder.steps.len() - 1,
    };
    let any_disk = ladder.steps[..=last].iter().any(Step::is_disk);
    if any_disk {
        check_disk_needs(&cat, &ladder, last, a.init)?;
        kimage::check_tools()?;
    }
    let base: Base = a.base;
    let mut prepared = Prepared {
        session: open_session(&a.tree, &a.arch, ev)?,
        name: format!("ladder-{}", tailor::base_name(base)),
        arch: a.arch.clone(),
        config: String::new(),
        needs: BootNeeds::default(),
        target: None,
    };
    let out = a.out.clone().unwrap_or_else(|| prepared.default_out());
    let report_dir = a.report.clone().unwrap_or_else(|| out.join("report"));
    let boot_dir = out.join("ktailor-boot");
    // "Options added" by the first step are relative to the bare base.
    let bare = tailor::resolve(
        &cat,
        &Wanted {
            base: Some(base),
            arch: Some(a.arch.clone()),
            ..Default::default()
        },
    )?;
    let mut prev_config = tailor::tailor(&prepared.session, &bare, &[])
        .with_context(|| format!("the bare {}", tailor::base_name(base)))?
        .solution
        .config;
    let keys = if any_disk {
        Some(Keys::new(&boot_dir.join("ssh"))?)
    } else {
        None
    };
    // The systemd features join the step list where they first apply.
    let first_systemd = ladder
        .steps
        .iter()
        .position(|s| step_init(s, a.init) == Some(DiskInit::Systemd));
    let mut rows: Vec<StepRow> = Vec::new();
    for (i, step) in ladder.steps.iter().enumerate().take(last + 1) {
        ev(Event::Note(&format!(
            "[{}/{}] {}: {}",
            i + 1,
            last + 1,
            step.name,
            step.seed
        )));
        let wanted = Wanted {
            with: step_features(&ladder, i, a.init),
            base: Some(base),
            arch: Some(a.arch.clone()),
            ..Default::default()
        };
        let r = tailor::resolve(&cat, &wanted)?;
        // A disk step's kernel carries the image's command line: UEFI
        // firmware passes none (qemu passes the same line again).
        let mut fragments = Vec::new();
        let mut cmdline = String::new();
        if step.is_disk() {
            cmdline =
                image::image_cmdline(&r.needs().cmdline, &kimage::root_partuuid_for(LADDER_IMAGE));
            std::fs::create_dir_all(&boot_dir)
                .with_context(|| format!("cannot create {}", boot_dir.display()))?;
            let frag = boot_dir.join("image-cmdline.config");
            crate::output::write_atomic(&frag, image::cmdline_fragment(&cmdline).as_bytes())?;
            fragments.push(frag);
        }
        let t = tailor::tailor(&prepared.session, &r, &fragments)
            .with_context(|| format!("step {}", step.name))?;
        let mut row = StepRow {
            name: step.name.clone(),
            seed: step.seed.clone(),
            features: step.features.clone(),
            options_added: added(&prev_config, &t.solution.config),
            config_lines: 0,
            builtin: 0,
            vmlinux_bytes: 0,
            image_bytes: 0,
            build_s: 0.0,
            compiled: 0,
            incremental: false,
            new_probes: step.probes.clone(),
            required_probes: Vec::new(),
            probes_passed: 0,
            boot: None,
            new_checks: step.checks.clone(),
            required_checks: Vec::new(),
            checks_passed: 0,
            disk: None,
            ok: false,
            failures: Vec::new(),
        };
        if Some(i) == first_systemd {
            for f in &ladder.systemd_features {
                if !row.features.contains(f) {
                    row.features.push(f.clone());
                }
            }
        }
        prev_config = t.solution.config.clone();
        prepared.config = t.solution.config.clone();
        // The step's own lines say what was built; pass only progress on.
        let progress_only = |e: Event<'_>| {
            if !matches!(e, Event::Note(_)) {
                ev(e)
            }
        };
        let built = crate::build::build(&prepared, &out, a.jobs, &progress_only);
        let report = match built {
            Ok(r) => r,
            Err(e) => {
                let e = format!("{e:#}");
                ev(Event::Note(&format!("  FAIL: {e}")));
                row.failures.push(e);
                rows.push(row);
                continue;
            }
        };
        row.config_lines = report.config_lines;
        row.builtin = report.builtin;
        row.vmlinux_bytes = report.vmlinux_bytes;
        row.image_bytes = report.image_bytes;
        row.build_s = report.duration.as_secs_f64();
        row.compiled = report.compiled;
        row.incremental = report.incremental;

        if let (Some(init), Some(keys)) = (step_init(step, a.init), keys.as_ref()) {
            let cx = DiskCtx {
                keys,
                kernel: report.image.clone(),
                build_dir: out.clone(),
                work: boot_dir.join(&step.name),
                cache: a.tree.cache_dir(),
                cmdline,
                kernelversion: prepared.session.tree.kernelversion.clone(),
                arch: a.arch.clone(),
                accel: a.vm.accel,
                timeout: a.disk_timeout,
                relay: a.relay.clone(),
                ev,
            };
            row.required_checks = required_checks(&ladder, i, init);
            if let Err(e) = disk_step(step, init, &cx, &mut row) {
                row.ok = false;
                row.failures.push(format!("{e:#}"));
            }
            {
                let login = row
                    .disk
                    .as_ref()
                    .and_then(DiskRun::boot_to_login_s)
                    .map(|t| format!("login after {t:.1}s, "))
                    .unwrap_or_default();
                ev(Event::Note(&format!(
                    "  {}: {} CONFIG lines, {} =y, vmlinux {}, bzImage {}, build {}, {login}{}",
                    if row.ok { "PASS" } else { "FAIL" },
                    row.config_lines,
                    row.builtin,
                    mib(row.vmlinux_bytes),
                    mib(row.image_bytes),
                    secs(row.build_s),
                    report::probes_cell(&row, None)
                )));
                for f in &row.failures {
                    ev(Event::Note(&format!("    - {f}")));
                }
                if let Some(run) = row.disk.as_ref().and_then(|d| d.run.as_ref()) {
                    if !row.ok {
                        ev(Event::Note(&format!(
                            "    serial log: {}",
                            run.serial_log.display()
                        )));
                        for l in run.tail.iter().rev().take(15).rev() {
                            ev(Event::Note(&format!("    | {l}")));
                        }
                    }
                }
            }
            rows.push(row);
            continue;
        }

        let mut plan = Plan::new(
            report.image.clone(),
            t.solution.config.clone(),
            step.machine.clone(),
            boot_dir.join(&step.name),
        )?;
        plan.probes = boot::applicable(&ladder.probes_through(i), &step.machine);
        plan.filesystems = t.needs.filesystems.clone();
        plan.cmdline = t.needs.cmdline.clone();
        plan.expect = step
            .expect
            .clone()
            .or_else(|| boot::default_expect(plan.userspace));
        a.vm.apply(&mut plan);
        row.required_probes = plan.probes.clone();
        let o = boot::boot_plan(&plan, ev)?;
        let b = BootReport::new(&o, plan.userspace, &report.image);
        row.probes_passed = b.passed();
        row.failures.extend(o.failures.iter().cloned());
        row.ok = o.ok();
        {
            ev(Event::Note(&format!(
                "  {}: {} CONFIG lines, {} =y, vmlinux {}, bzImage {}, build {}, {}",
                if row.ok { "PASS" } else { "FAIL" },
                row.config_lines,
                row.builtin,
                mib(row.vmlinux_bytes),
                mib(row.image_bytes),
                secs(row.build_s),
                {
                    let init = b
                        .boot_to_init_s
                        .map(|t| format!("init after {t:.2}s, "))
                        .unwrap_or_default();
                    format!("{init}{}", report::probes_cell(&row, Some(&b)))
                }
            )));
            for f in &row.failures {
                ev(Event::Note(&format!("    - {f}")));
            }
            if !row.ok {
                ev(Event::Note(&format!("    serial log: {}", b.serial_log)));
            }
        }
        row.boot = Some(b);
        rows.push(row);
    }
    let ok = rows.iter().all(|r| r.ok);
    let rep = LadderReport {
        kernelversion: prepared.session.tree.kernelversion.clone(),
        arch: a.arch.clone(),
        base: tailor::base_name(base).into(),
        out_dir: out.display().to_string(),
        command: a.command.clone(),
        total_s: started.elapsed().as_secs_f64(),
        steps: rows,
        ok,
    };
    std::fs::create_dir_all(&report_dir)
        .with_context(|| format!("cannot create {}", report_dir.display()))?;
    let md = report::markdown(&rep);
    crate::output::write_atomic(&report_dir.join("ladder.md"), md.as_bytes())?;
    let json = serde_json::to_string_pretty(&rep)?;
    crate::output::write_atomic(&report_dir.join("ladder.json"), json.as_bytes())?;
    crate::output::write_atomic(
        &report_dir.join("ladder-size.svg"),
        report::svg(&rep).as_bytes(),
    )?;
    Ok((rep, report_dir))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn builtin() -> (Catalog, Ladder) {
        let cat = Catalog::builtin();
        let l = Ladder::builtin(&cat);
        (cat, l)
    }

    #[test]
    fn ladder_checks_are_krun_checks() {
        let (_, l) = builtin();
        // krun makes these on ec2-sim only (see krun::CHECKS).
        let ec2_only = ["uefi", "imds-hostname", "imds-key-login", "imds-v2"];
        let mut disk_steps = 0;
        for (i, s) in l.steps.iter().enumerate() {
            for c in &s.checks {
                assert!(
                    krun::CHECKS.contains(&c.as_str()),
                    "step {} requires {c:?}, which krun does not make; krun's checks: {:?}",
                    s.name,
                    krun::CHECKS
                );
            }
            let Some(image) = s.image else { continue };
            disk_steps += 1;
            for init in [DiskInit::Sysvinit, DiskInit::Systemd] {
                for c in required_checks(&l, i, init) {
                    assert!(krun::CHECKS.contains(&c.as_str()), "{c}");
                    if image.machine == DiskMachine::Qemu {
                        assert!(
                            !ec2_only.contains(&c.as_str()),
                            "step {} on qemu requires the ec2-sim check {c}",
                            s.name
                        );
                    }
                }
            }
        }
        assert_eq!(disk_steps, 3);
    }

    #[test]
    fn systemd_roots_get_the_systemd_features_and_check() {
        let (_, l) = builtin();
        let first = l.steps.iter().position(Step::is_disk).unwrap();
        let last = l.steps.len() - 1;
        let sys = Some(DiskInit::Systemd);
        assert!(!step_features(&l, first - 1, sys).contains(&"systemd".to_string()));
        assert!(step_features(&l, first, sys).contains(&"systemd".to_string()));
        assert!(!step_features(&l, last, None).contains(&"systemd".to_string()));
        assert_eq!(step_init(&l.steps[first - 1], sys), None);
        assert_eq!(step_init(&l.steps[first], sys), Some(DiskInit::Systemd));
        assert_eq!(step_init(&l.steps[first], None), Some(DiskInit::Sysvinit));

        let v = required_checks(&l, last, DiskInit::Sysvinit);
        assert!(v.contains(&"running-elogind".to_string()), "{v:?}");
        assert!(!v.contains(&"systemd".to_string()));
        let v = required_checks(&l, last, DiskInit::Systemd);
        assert!(v.contains(&"systemd".to_string()), "{v:?}");
        assert!(!v.iter().any(|c| c.starts_with("running-")), "{v:?}");
        assert_eq!(v.iter().filter(|c| *c == "systemd").count(), 1);
    }

    #[test]
    fn disk_steps_need_what_a_debian_root_needs() {
        let (cat, l) = builtin();
        let last = l.steps.len() - 1;
        check_disk_needs(&cat, &l, last, None).unwrap();
        check_disk_needs(&cat, &l, last, Some(DiskInit::Systemd)).unwrap();
        // A disk step without partition tables (the root is found by GPT
        // PARTUUID) and one on UEFI without the EFI stub are refused.
        let text = "[[step]]\nname='bare'\nseed='s'\nfeatures=['ext4','devtmpfs-automount','unix-sockets','multiuser','unix98-ptys','futex','file-locking']\n\
                    machine={machine='q35',userspace='disk'}\nimage={init='sysvinit',machine='qemu'}\nchecks=['login']\n";
        let bad = Ladder::from_str("l.toml", text, &cat, &kcatalog::Probes::builtin()).unwrap();
        let e = check_disk_needs(&cat, &bad, 0, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("bare") && e.contains("partition-tables"), "{e}");
        let text = text
            .replace("'ext4'", "'ext4','partition-tables'")
            .replace("userspace='disk'", "firmware='uefi',userspace='disk'")
            .replace("machine='qemu'", "machine='ec2-sim'");
        let bad = Ladder::from_str("l.toml", &text, &cat, &kcatalog::Probes::builtin()).unwrap();
        let e = check_disk_needs(&cat, &bad, 0, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("lack efi"), "{e}");
        let e = check_disk_needs(&cat, &bad, 0, Some(DiskInit::Systemd))
            .unwrap_err()
            .to_string();
        assert!(e.contains("lack efi"), "{e}");
    }

    /// A run that made `checks` (name, passed).
    pub(crate) fn report(checks: &[(&str, bool)]) -> krun::RunReport {
        krun::RunReport {
            image: "disk.raw".into(),
            machine: krun::MachineKind::Qemu,
            accel: "tcg".into(),
            verdict: "powered off".into(),
            checks: checks
                .iter()
                .map(|(n, p)| krun::Check {
                    name: n.to_string(),
                    pass: *p,
                    evidence: format!("saw {n}"),
                })
                .collect(),
            boot_to_login_seconds: Some(30.0),
            seconds: 60.0,
            serial_log: "serial.log".into(),
            imds_requests: Vec::new(),
            tail: Vec::new(),
            build_checks: Vec::new(),
            extra: Vec::new(),
            console_marks: Vec::new(),
        }
    }

    #[test]
    fn a_step_passes_only_with_every_required_check() {
        let req: Vec<String> = ["login", "pty", "uefi"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let (n, f) = judge(&req, &report(&[("login", true), ("pty", false)]));
        assert_eq!(n, 1);
        assert_eq!(f.len(), 2, "{f:?}");
        assert!(f[0].contains("check pty failed: saw pty"), "{f:?}");
        assert!(f[1].contains("uefi was not made on qemu"), "{f:?}");
        let (n, f) = judge(&req[..1], &report(&[("login", true), ("pty", false)]));
        assert_eq!((n, f.len()), (1, 0));
    }
}
