//! Acceptance 2: the index's guards, evaluated on a real build's .config,
//! predict what that build compiled in (System.map), for every conditional
//! syscall, file system and address family. See docs/DOCTOR.md for the
//! method, the recorded accuracy, and why CI validates these three kernels:
//!
//! - allnoconfig and tinyconfig, built here with the kernel's own make (out
//!   of tree in `<cache>/test-builds/`, niced, incremental: the directories
//!   are reused, so only the first run compiles; tinyconfig's is the one
//!   kbuild's and kvm's tests build, see ktestkit);
//! - Debian's own 6.12 kernel for the same source version (`.config` and
//!   the real System.map from its packages, see `kdoctor::debian`): far
//!   larger than defconfig, at no build cost.
//!
//! - the x86_64 defconfig build, recorded: a defconfig vmlinux takes ~45
//!   minutes on two cores, too long for CI, so
//!   `scripts/doctor-defconfig-fixture` builds it once and records its
//!   .config, the System.map symbols the check reads and `nm sys_ni.o` in
//!   `tests/fixtures/defconfig-6.12/`; the test judges the current index
//!   against that real build exactly as against a build of its own.

mod common;

use std::path::Path;
use std::time::Instant;

use kdoctor::validate;

/// Disagreements we understand, by category and name (none today; an
/// entry here must say why in docs/DOCTOR.md).
const EXPLAINED: &[(&str, &str)] = &[];

const NATIVE: &str = "syscalls (native, __x64_sys_)";
const COMPAT: &str = "syscalls (compat, __ia32_compat_sys_)";

/// The allnoconfig build, made (or brought up to date) now with the
/// kernel's own make, in its directory, locked until the caller drops it.
fn allnoconfig_build(k: &common::Kernel) -> ktestkit::DirLock {
    let lock = ktestkit::lock_dir(&ktestkit::test_dir("doctor-allno-6.12"));
    let dir = lock.dir();
    if !dir.join(".config").is_file() {
        ktestkit::make(&k.tree, dir, "x86_64", "allnoconfig");
    }
    let t = Instant::now();
    ktestkit::make(&k.tree, dir, "x86_64", "vmlinux");
    eprintln!(
        "make vmlinux in {}: {:.1} s",
        dir.display(),
        t.elapsed().as_secs_f64()
    );
    lock
}

/// Checks one build and returns the unexplained mismatches.
fn judge(k: &common::Kernel, what: &str, dir: &Path, address_check: bool) -> Vec<String> {
    let rep = validate::check_build(&k.index, dir)
        .unwrap_or_else(|e| panic!("{what}: cannot read the build in {}: {e}", dir.display()));
    let mut failures = Vec::new();
    eprintln!("{what} ({}):\n{rep}", dir.display());
    for (cat, c) in &rep.categories {
        for m in &c.mismatches {
            if !EXPLAINED
                .iter()
                .any(|(c2, w)| c2 == cat && m.what.starts_with(w))
            {
                failures.push(format!("{what}/{cat}: {}", m.what));
            }
        }
    }
    for d in &rep.method_disagreements {
        failures.push(format!(
            "{what}: weak-type and address checks disagree: {d}"
        ));
    }
    let native = &rep.categories[NATIVE];
    assert!(
        native.total > 200,
        "{what}: only {} syscalls compared",
        native.total
    );
    if address_check {
        let compat = &rep.categories[COMPAT];
        assert_eq!(
            rep.address_checked,
            native.total + compat.total,
            "{what}: the address check must judge every syscall (needs nm and kernel/sys_ni.o)"
        );
    }
    failures
}

#[test]
#[ignore = "real tier: builds kernels (scripts/test runs it)"]
fn index_predicts_allnoconfig_and_tinyconfig_builds() {
    let k = common::kernel();
    let mut failures = Vec::new();
    // Each build directory is locked while it is built and judged.
    let allno = allnoconfig_build(&k);
    failures.extend(judge(&k, "allnoconfig", allno.dir(), true));
    drop(allno);
    // tinyconfig is the kernel kbuild's and kvm's tests build too: one
    // directory for all of them (ktestkit).
    let tiny = ktestkit::lock_dir(&ktestkit::tinyconfig_612_dir());
    let dir = ktestkit::tinyconfig_612_kernel(&tiny).out_dir;
    failures.extend(judge(&k, "tinyconfig", &dir, true));
    assert!(
        failures.is_empty(),
        "unexplained mismatches:\n{}",
        failures.join("\n")
    );
}

fn gunzip(path: &Path) -> String {
    use std::io::Read;
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut s = String::new();
    flate2::read::GzDecoder::new(f)
        .read_to_string(&mut s)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    s
}

/// Judges the index against a recorded build in `dir`. A build recorded
/// from another point release of the tree's major.minor is judged too, with
/// the drift reported and the mismatches it explains set apart (see
/// `validate::explain_drift`); another major.minor is refused.
fn judge_recorded(
    k: &common::Kernel,
    dir: &Path,
) -> Result<(validate::Report, validate::Release), validate::ReleaseError> {
    let release = std::fs::read_to_string(dir.join("kernelrelease"))
        .unwrap_or_else(|e| panic!("{}/kernelrelease: {e}", dir.display()));
    let relation = validate::compare_release(&release, &k.tree.kernelversion)?;
    let text = gunzip(&dir.join("config.gz"));
    let config = kdoctor::Config::parse(&text);
    let map = validate::SystemMap::parse(&gunzip(&dir.join("System.map.gz")));
    let sys_ni = validate::parse_nm(&std::fs::read_to_string(dir.join("sys_ni.nm")).unwrap());
    let mut rep = validate::check(&k.index, &config, &map, Some(&sys_ni));
    if let validate::Release::PointDrift { recorded, tree } = &relation {
        // What this tree's Kconfig makes of the recorded options.
        let out =
            k.db.clone()
                .run_mode(
                    kconfig::Mode::Olddefconfig,
                    Some(kconfig::Input {
                        name: "config.gz",
                        data: text.as_bytes(),
                    }),
                    None,
                    &kconfig::RunOptions::default(),
                )
                .unwrap_or_else(|e| panic!("olddefconfig of the recorded .config: {e}"));
        let current = kdoctor::Config::parse(&out.output);
        let n = validate::explain_drift(&mut rep, &config, &current);
        eprintln!(
            "drift: the build was recorded from Linux {recorded}, the tree is {tree}; \
             {n} mismatch(es) explained by Kconfig changes between them"
        );
    }
    Ok((rep, relation))
}

#[test]
#[ignore = "real tier: needs a kernel tree (scripts/test runs it)"]
fn index_predicts_the_recorded_defconfig_build() {
    let k = common::kernel();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/defconfig-6.12");
    let (rep, _) = judge_recorded(&k, &dir)
        .unwrap_or_else(|e| panic!("{e}; re-record it with scripts/doctor-defconfig-fixture"));
    eprintln!("defconfig (recorded):\n{rep}");
    let mut failures = Vec::new();
    for (cat, c) in &rep.categories {
        for m in &c.mismatches {
            if !EXPLAINED
                .iter()
                .any(|(c2, w)| c2 == cat && m.what.starts_with(w))
            {
                failures.push(format!("defconfig/{cat}: {}", m.what));
            }
        }
    }
    failures.extend(rep.method_disagreements.iter().cloned());
    let (native, compat) = (&rep.categories[NATIVE], &rep.categories[COMPAT]);
    assert!(native.total > 200 && compat.total > 40);
    assert_eq!(
        rep.address_checked,
        native.total + compat.total,
        "the address check judged every syscall"
    );
    // defconfig builds most of it in: the comparison is not vacuous.
    assert!(native.built > 150 && rep.categories["filesystems"].built > 20);
    // Drift may explain a few, never most: beyond that, re-record.
    assert!(
        rep.drift_explained.len() <= 10,
        "{} mismatches put down to release drift: re-record with scripts/doctor-defconfig-fixture",
        rep.drift_explained.len()
    );
    assert!(
        failures.is_empty(),
        "unexplained mismatches:\n{}",
        failures.join("\n")
    );
}

/// The recorded build under another release's name: another point release
/// of the tree's series is judged with a drift note, another series is
/// refused before anything is compared.
#[test]
#[ignore = "real tier: needs a kernel tree (scripts/test runs it)"]
fn a_recording_from_another_release_is_judged_or_refused() {
    let k = common::kernel();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/defconfig-6.12");
    let tmp = tempfile::tempdir().unwrap();
    for f in ["config.gz", "System.map.gz", "sys_ni.nm"] {
        std::fs::copy(fixture.join(f), tmp.path().join(f)).unwrap();
    }
    let tree = k.tree.kernelversion.clone();
    let (major, rest) = tree.split_once('.').unwrap();
    let minor: u32 = rest.split(['.', '-']).next().unwrap().parse().unwrap();
    // Release 0 of the series never shipped in Debian: always a drift.
    let other_point = format!("{major}.{minor}.0");
    std::fs::write(tmp.path().join("kernelrelease"), format!("{other_point}\n")).unwrap();
    let (rep, rel) = judge_recorded(&k, tmp.path()).expect("same series is accepted");
    assert_eq!(
        rel,
        validate::Release::PointDrift {
            recorded: other_point,
            tree: tree.clone()
        }
    );
    assert!(rep.categories[NATIVE].total > 200, "and really judged");

    let other_series = format!("{major}.{}.3", minor + 1);
    std::fs::write(tmp.path().join("kernelrelease"), &other_series).unwrap();
    let err = judge_recorded(&k, tmp.path()).expect_err("another series is refused");
    assert_eq!(
        err,
        validate::ReleaseError::OtherSeries {
            recorded: other_series.clone(),
            tree: tree.clone()
        }
    );
    assert!(err.to_string().contains(&other_series) && err.to_string().contains(&tree));
}

/// Debian's kernel: no object files, so only the System.map symbol types
/// are compared (the address check needs kernel/sys_ni.o).
#[test]
#[ignore = "real tier: needs a kernel tree and Debian's kernel packages (scripts/test runs it)"]
fn index_predicts_debians_kernel() {
    let k = common::kernel();
    let d = common::debian(&k);
    let failures = judge(&k, "Debian's kernel", &d.dir, false);
    let rep = validate::check_build(&k.index, &d.dir).unwrap();
    // Debian has IA32_EMULATION: the compat syscalls are compared too, and
    // most of everything is built in, so the check is not vacuous.
    let compat = &rep.categories[COMPAT];
    assert!(
        compat.total > 40,
        "{} compat syscalls compared",
        compat.total
    );
    assert!(rep.categories[NATIVE].built > 200);
    assert!(rep.categories["filesystems"].built > 20);
    assert!(rep.categories["address families"].built > 3);
    assert!(
        failures.is_empty(),
        "unexplained mismatches:\n{}",
        failures.join("\n")
    );
}

/// The check has teeth: the same build judged against a .config with one
/// option flipped must disagree exactly where that option matters.
#[test]
#[ignore = "real tier: needs a kernel tree and Debian's kernel packages (scripts/test runs it)"]
fn a_wrong_config_is_caught() {
    let k = common::kernel();
    let d = common::debian(&k);
    let mut b = validate::Build::load(&d.dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", d.dir.display()));
    for (sym, cat, what) in [
        ("EPOLL", NATIVE, "epoll_create1"),
        ("PROC_FS", "filesystems", "proc"),
        ("UNIX", "address families", "AF_UNIX"),
    ] {
        let saved = b.config.values.remove(sym);
        assert!(saved.is_some(), "Debian's kernel has CONFIG_{sym}");
        let rep = validate::check(&k.index, &b.config, &b.map, b.sys_ni.as_ref());
        let c = &rep.categories[cat];
        assert!(
            c.mismatches.iter().any(|m| m.what.starts_with(what)),
            "flipping {sym} went unnoticed in {cat}"
        );
        if let Some(v) = saved {
            b.config.values.insert(sym.to_string(), v);
        }
    }
}
