//! Real builds of Linux 6.12 for x86_64.
//!
//! Output directories live under `ksrc::cache_root()/test-builds/` and are
//! reused, so only the first run pays for a clean build (minutes); later runs
//! are incremental, which is also what the tests check. Each test holds
//! the lock on its directory (ktestkit::lock_dir) for as long as it builds
//! there, so other test binaries (kvm's and the doctor's use the same
//! tinyconfig directory) wait instead of building into it at once.
//!
//! Real tier: `scripts/test` runs these with `--include-ignored`.

use std::sync::Mutex;

use kbuild::{build, BuildError, BuildPhase, BuildSpec};
use ksrc::KernelTree;

/// One kernel build at a time: the tests share a machine's few cores.
static BUILDS: Mutex<()> = Mutex::new(());

fn tree() -> KernelTree {
    ktestkit::tree("6.12")
}

/// `make tinyconfig` as a person would run it, out of tree.
fn tinyconfig(tree: &KernelTree) -> String {
    ktestkit::tinyconfig_612(tree)
}

#[test]
#[ignore = "real tier: builds a kernel (scripts/test runs it)"]
fn tinyconfig_builds_then_rebuilds_without_compiling() {
    let _one = BUILDS.lock().unwrap_or_else(|e| e.into_inner());
    let dir = ktestkit::lock_dir(&ktestkit::tinyconfig_612_dir());
    let tree = tree();
    let config = tinyconfig(&tree);
    let mut spec = BuildSpec::new(&tree, "x86_64", config, dir.dir().to_path_buf());
    spec.nice = true;

    let phases = Mutex::new(Vec::new());
    let first = build(&spec, &|p| phases.lock().unwrap().push(p.phase)).unwrap_or_else(|e| {
        panic!("{e}");
    });
    assert!(first.image.ends_with("arch/x86/boot/bzImage"));
    assert!(first.image.is_file());
    assert!(first.image_bytes > 100_000, "{first:?}");
    assert!(first.vmlinux_bytes > first.image_bytes / 2, "{first:?}");
    assert!(first.config_lines > 100 && first.builtin > 50, "{first:?}");
    assert_eq!(first.modules, 0);
    let phases = phases.into_inner().unwrap();
    assert_eq!(phases.first(), Some(&BuildPhase::Config));
    assert_eq!(phases.last(), Some(&BuildPhase::Done));
    let log = std::fs::read_to_string(&first.log).unwrap();
    assert!(
        log.contains("bzImage is ready"),
        "the log keeps make's output"
    );
    eprintln!(
        "first build: {:?}, {} objects compiled, incremental={}",
        first.duration, first.compiled, first.incremental
    );

    let estimate = Mutex::new(None);
    let second = build(&spec, &|p| {
        *estimate.lock().unwrap() = Some(p.estimated_total)
    })
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(second.incremental);
    assert!(!second.config_written);
    assert_eq!(second.compiled, 0, "nothing changed, so nothing compiles");
    assert_eq!(second.image, first.image);
    assert_eq!(second.image_bytes, first.image_bytes);
    // The estimate comes from the previous log, which compiled something
    // only if the first build did.
    let expected = (first.compiled > 0).then_some(first.compiled);
    assert_eq!(estimate.into_inner().unwrap(), Some(expected));
    eprintln!("second build: {:?}", second.duration);
}

#[test]
#[ignore = "real tier: runs the kernel's make (scripts/test runs it)"]
fn config_conf_would_change_is_refused_with_the_changes() {
    let _one = BUILDS.lock().unwrap_or_else(|e| e.into_inner());
    let dir = ktestkit::lock_dir(&ktestkit::test_dir("kbuild-not-a-fixpoint-6.12-x86_64"));
    let tree = tree();
    // Turning PRINTK on in tinyconfig brings symbols that depend on it,
    // which olddefconfig fills in: not a fixpoint.
    let config = tinyconfig(&tree).replace("# CONFIG_PRINTK is not set", "CONFIG_PRINTK=y");
    assert!(config.contains("CONFIG_PRINTK=y"));
    let mut spec = BuildSpec::new(&tree, "x86_64", config, dir.dir().to_path_buf());
    spec.nice = true;
    match build(&spec, &|_| {}) {
        Err(BuildError::NotAFixpoint { changes, log }) => {
            assert!(!changes.is_empty());
            assert!(changes.iter().all(|c| c.symbol != "PRINTK"), "{changes:?}");
            assert!(log.is_file());
            let msg = BuildError::NotAFixpoint {
                changes: changes.clone(),
                log,
            }
            .to_string();
            assert!(msg.contains(" -> "), "{msg}");
        }
        other => panic!("expected NotAFixpoint, got {other:?}"),
    }
}
