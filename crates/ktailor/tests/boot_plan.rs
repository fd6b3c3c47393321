//! `ktailor boot --target T` (which builds T) and `ktailor build --target T`
//! followed by `ktailor boot --kernel-image IMAGE --target T` must boot the
//! same way: the same machine, kernel command line, file systems and
//! required probes. Checked for every target with `--dry-run`, which solves
//! the configuration (real kernel tree) but neither builds nor boots.

mod common;

use common::{json, ktailor, text};

#[test]
#[ignore = "real tier: needs a kernel tree (scripts/test runs it)"]
fn built_and_given_kernels_of_a_target_boot_alike() {
    let cat = kcatalog::Catalog::builtin();
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("bzImage");
    std::fs::write(&image, b"not booted: --dry-run").unwrap();
    let mut compared = 0;
    for t in &cat.targets {
        if t.arch.as_str() != "x86_64" {
            continue;
        }
        // Disk-image targets boot with `ktailor run`; `boot` checks their
        // kernels with the probes.
        let userspace: &[&str] = if t.machine.userspace == kcatalog::Userspace::Disk {
            &["--userspace", "probe"]
        } else {
            &[]
        };
        let built = ktailor(
            &[
                &["boot", "--target", &t.name, "--dry-run", "--json"][..],
                userspace,
            ]
            .concat(),
        );
        assert!(
            built.status.success(),
            "{}: {}",
            t.name,
            text(&built.stderr)
        );
        let given = ktailor(
            &[
                &[
                    "boot",
                    "--target",
                    &t.name,
                    "--kernel-image",
                    image.to_str().unwrap(),
                    "--dry-run",
                    "--json",
                ][..],
                userspace,
            ]
            .concat(),
        );
        assert!(
            given.status.success(),
            "{}: {}",
            t.name,
            text(&given.stderr)
        );
        let (b, g) = (json(&built), json(&given));
        for field in ["machine", "userspace", "cmdline", "filesystems", "probes"] {
            assert_eq!(b[field], g[field], "{}: {field} differs", t.name);
        }
        // The target's own parameters are on the line.
        let line: Vec<String> = serde_json::from_value(b["cmdline"].clone()).unwrap();
        for c in &t.cmdline {
            assert!(line.contains(c), "{}: {c} missing from {line:?}", t.name);
        }
        compared += 1;
    }
    assert!(compared >= 5, "only {compared} x86_64 targets compared");
}
