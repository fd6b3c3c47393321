//! Acceptance 2: the index's guards, evaluated on a real build's .config,
//! predict what that build compiled in (System.map), for every conditional
//! syscall, file system and address family. See docs/DOCTOR.md for the
//! method and the recorded accuracy.
//!
//! The builds live in `<cache>/test-builds/doctor-{allno,tiny,def}-6.12`.
//! Missing builds are skipped unless `KDOCTOR_BUILD_KERNELS=1`, which runs
//! the kernel's own make (out of tree, `nice -n 10`, `-j2`) and reuses the
//! directory, so only the first run is slow (defconfig: ~40 minutes on two
//! cores).

mod common;

use std::path::Path;
use std::process::Command;

use kdoctor::validate;

const BUILDS: [(&str, &str); 3] = [
    ("allno", "allnoconfig"),
    ("tiny", "tinyconfig"),
    ("def", "defconfig"),
];

/// Disagreements we understand, by category and name (none today; an
/// entry here must say why in docs/DOCTOR.md).
const EXPLAINED: &[(&str, &str)] = &[];

fn make(tree: &Path, dir: &Path, target: &str, jobs: bool) -> bool {
    let mut c = Command::new("nice");
    c.args(["-n", "10", "make", "-C"])
        .arg(tree)
        .arg(format!("O={}", dir.display()))
        .arg("ARCH=x86_64");
    if jobs {
        c.arg("-j2");
    }
    c.arg(target);
    let log = dir.join(format!("{target}.log"));
    let out = std::fs::File::create(&log).ok();
    if let Some(f) = out {
        if let Ok(f2) = f.try_clone() {
            c.stdout(f).stderr(f2);
        }
    }
    c.status().map(|s| s.success()).unwrap_or(false)
}

#[test]
fn index_predicts_built_kernels() {
    let Some(k) = common::kernel() else { return };
    let build = std::env::var_os("KDOCTOR_BUILD_KERNELS").is_some();
    let mut failures = Vec::new();
    let mut checked = 0;
    for (name, target) in BUILDS {
        let dir = ksrc::cache_root()
            .join("test-builds")
            .join(format!("doctor-{name}-6.12"));
        if build {
            std::fs::create_dir_all(&dir).unwrap();
            if !dir.join(".config").is_file() {
                assert!(
                    make(&k.tree.root, &dir, target, false),
                    "make {target} failed"
                );
            }
            assert!(
                make(&k.tree.root, &dir, "vmlinux", true),
                "make vmlinux failed in {}",
                dir.display()
            );
        }
        if !dir.join("System.map").is_file() {
            eprintln!(
                "SKIP {name}: no build in {} (KDOCTOR_BUILD_KERNELS=1 builds it)",
                dir.display()
            );
            continue;
        }
        checked += 1;
        let rep = validate::check_build(&k.index, &dir).unwrap();
        eprintln!("{target} ({}):", dir.display());
        for (cat, c) in &rep.categories {
            eprintln!(
                "  {cat}: {}/{} match, {} compiled in (not comparable: {})",
                c.matches, c.total, c.built, c.skipped
            );
            for m in &c.mismatches {
                eprintln!(
                    "    MISMATCH {}: predicted {}, System.map says {} (guard {} at {})",
                    m.what, m.predicted, m.actual, m.guard, m.site
                );
                if !EXPLAINED
                    .iter()
                    .any(|(c2, w)| c2 == cat && m.what.starts_with(w))
                {
                    failures.push(format!("{target}/{cat}: {}", m.what));
                }
            }
        }
        eprintln!("  address check judged {} syscalls", rep.address_checked);
        for d in &rep.method_disagreements {
            failures.push(format!(
                "{target}: weak-type and address checks disagree: {d}"
            ));
        }
        let native = &rep.categories["syscalls (native, __x64_sys_)"];
        assert!(
            native.total > 200,
            "{target}: only {} syscalls compared",
            native.total
        );
        let compat = &rep.categories["syscalls (compat, __ia32_compat_sys_)"];
        assert_eq!(
            rep.address_checked,
            native.total + compat.total,
            "{target}: the address check must judge every syscall"
        );
    }
    if checked == 0 {
        eprintln!("SKIP: no kernel builds to validate against");
    }
    assert!(
        failures.is_empty(),
        "unexplained mismatches:\n{}",
        failures.join("\n")
    );
}

/// The check has teeth: the same build judged against a .config with one
/// option flipped must disagree exactly where that option matters.
#[test]
fn a_wrong_config_is_caught() {
    let Some(k) = common::kernel() else { return };
    let dir = ksrc::cache_root().join("test-builds/doctor-def-6.12");
    let Ok(mut b) = validate::Build::load(&dir) else {
        eprintln!("SKIP: no defconfig build in {}", dir.display());
        return;
    };
    for (sym, cat, what) in [
        ("EPOLL", "syscalls (native, __x64_sys_)", "epoll_create1"),
        ("PROC_FS", "filesystems", "proc"),
        ("UNIX", "address families", "AF_UNIX"),
    ] {
        let saved = b.config.values.remove(sym);
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
