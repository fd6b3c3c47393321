//! `ktailor config` and `ktailor explain` on the real kernel trees: the
//! seed's options, every catalog target, refusals, and the E1000 chain.
//! The fixpoint claim is checked with the kernel's own conf. Real tier:
//! `scripts/test` runs these with `--include-ignored`.

mod common;

use common::{ktailor, text};
use kconfig::dotconfig::{self, Value};
use kconfig::Tri;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Run the tree's own `make olddefconfig` on `config` and return the result
/// (in a directory under the cache, locked meanwhile: the tests here run on
/// parallel threads, and other test processes may run them too).
fn kernel_olddefconfig(ver: &str, arch: &str, config: &str) -> String {
    let tree = ktestkit::tree(ver);
    let obj = ktestkit::lock_dir(&ktestkit::test_dir(&format!(
        "fixpoint-{}-{arch}",
        tree.kernelversion
    )));
    std::fs::create_dir_all(obj.dir()).unwrap();
    std::fs::write(obj.dir().join(".config"), config).unwrap();
    ktestkit::make(&tree, obj.dir(), arch, "olddefconfig");
    std::fs::read_to_string(obj.dir().join(".config")).unwrap()
}

/// `config` gives `symbol` the `value` (as a .config spells it); absent is `n`.
fn lines_hold(config: &str, symbol: &str, value: &str) -> bool {
    let config = dotconfig::parse(".config", config);
    let got = config.get(symbol).cloned().unwrap_or(Value::Tri(Tri::N));
    Value::parse(value) == Ok(got)
}

#[test]
#[ignore = "real tier: needs the kernel trees (scripts/test runs it)"]
fn seed_fragment_lands_except_the_removed_symbol() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("seed.config");
    let frag = fixture("seed.config");
    let o = ktailor(&[
        "config",
        "--fragment",
        frag.to_str().unwrap(),
        "--base",
        "allnoconfig",
        "--kernel",
        "6.12",
        "--arch",
        "x86_64",
        "-o",
        out.to_str().unwrap(),
        "--json",
    ]);
    // Exit 1: one request could not take effect (an unknown symbol).
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let rep: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let unknown = rep["unknown"].as_array().unwrap();
    assert_eq!(unknown.len(), 1, "{rep:#}");
    assert_eq!(unknown[0]["symbol"], "PRINTK_SAFE_LOG_BUF_SHIFT");
    let sugg: Vec<&str> = unknown[0]["suggestions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(sugg.contains(&"LOG_BUF_SHIFT"), "{sugg:?}");

    let config = std::fs::read_to_string(&out).unwrap();
    let seed = std::fs::read_to_string(&frag).unwrap();
    let seed = dotconfig::parse("seed.config", &seed);
    assert!(seed.warnings.is_empty(), "{:?}", seed.warnings);
    let mut landed = 0;
    for e in &seed.entries {
        if e.symbol == "PRINTK_SAFE_LOG_BUF_SHIFT" {
            continue;
        }
        assert!(
            lines_hold(&config, &e.symbol, &e.value.to_string()),
            "{} did not land",
            dotconfig::line(&e.symbol, &e.value)
        );
        landed += 1;
    }
    assert_eq!(landed, 59);
    assert_eq!(
        kernel_olddefconfig("6.12", "x86_64", &config),
        config,
        "the kernel's own olddefconfig changed ktailor's result"
    );
}

fn catalog() -> kcatalog::Catalog {
    kcatalog::Catalog::builtin()
}

fn check_target(ver: &str, target: &kcatalog::Target) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("t.config");
    let o = ktailor(&[
        "config",
        "--target",
        &target.name,
        "--kernel",
        ver,
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(
        o.status.success(),
        "target {} on {ver}: {}",
        target.name,
        text(&o.stderr)
    );
    let config = std::fs::read_to_string(&out).unwrap();
    let cat = catalog();
    for f in cat.closure(&target.features).unwrap() {
        if !f.arches.is_empty() && !f.arches.contains(&target.arch) {
            continue;
        }
        let kv = if ver == "6.1" { "6.1.0" } else { "6.12.0" };
        for r in f.config_for(kv) {
            assert!(
                lines_hold(&config, &r.symbol, &r.value),
                "target {} on {ver}: feature {} wants {r} but the config has {:?}",
                target.name,
                f.name,
                config
                    .lines()
                    .find(|l| l.contains(&format!("CONFIG_{}=", r.symbol))
                        || l.contains(&format!("CONFIG_{} ", r.symbol)))
            );
        }
    }
    config
}

#[test]
#[ignore = "real tier: needs the kernel trees (scripts/test runs it)"]
fn every_target_holds_every_feature_value_on_6_12() {
    let cat = catalog();
    assert!(!cat.targets.is_empty());
    for t in &cat.targets {
        check_target("6.12", t);
    }
}

#[test]
#[ignore = "real tier: needs the kernel trees (scripts/test runs it)"]
fn ec2_nitro_builds_in_nvme_ena_msi_on_both_kernels() {
    let cat = catalog();
    let Some(t) = cat.target("ec2-nitro") else {
        panic!("the catalog has no ec2-nitro target");
    };
    for ver in ["6.12", "6.1"] {
        let config = check_target(ver, t);
        for s in ["BLK_DEV_NVME", "ENA_ETHERNET", "PCI_MSI"] {
            assert!(lines_hold(&config, s, "y"), "{ver}: CONFIG_{s}=y missing");
        }
        let modules: Vec<&str> = config.lines().filter(|l| l.ends_with("=m")).collect();
        assert!(
            modules.is_empty(),
            "{ver}: modules in ec2-nitro: {modules:?}"
        );
    }
}

#[test]
#[ignore = "real tier: needs the kernel trees (scripts/test runs it)"]
fn impossible_request_exits_nonzero_with_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let frag = dir.path().join("f.config");
    std::fs::write(&frag, "CONFIG_MATH_EMULATION=y\n").unwrap();
    let out = dir.path().join("o.config");
    let o = ktailor(&[
        "config",
        "--fragment",
        frag.to_str().unwrap(),
        "--kernel",
        "6.12",
        "--arch",
        "x86_64",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(err.contains("CONFIG_MATH_EMULATION=y"), "{err}");
    assert!(err.contains("cannot take effect"), "{err}");
    assert!(err.contains("X86_32"), "{err}");
    assert!(err.contains("64BIT"), "{err}");
    assert!(
        !out.exists(),
        "no output is written for an impossible request"
    );
}

#[test]
#[ignore = "real tier: needs the kernel trees (scripts/test runs it)"]
fn explain_e1000_shows_the_dependency_chain_with_values() {
    let o = ktailor(&[
        "explain", "E1000", "--kernel", "6.12", "--arch", "x86_64", "--json",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let rep: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(rep["value"], "n");
    let terms: Vec<(String, String)> = rep["depends_terms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["symbol"].as_str().unwrap().to_string(),
                t["value"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for s in ["PCI", "NETDEVICES", "ETHERNET", "NET_VENDOR_INTEL"] {
        assert!(
            terms.contains(&(s.to_string(), "n".to_string())),
            "{s}=n missing from {terms:?}"
        );
    }
    let adds: Vec<&str> = rep["to_enable"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["symbol"].as_str().unwrap())
        .collect();
    for s in ["PCI", "NETDEVICES", "ETHERNET", "NET_VENDOR_INTEL", "NET"] {
        assert!(adds.contains(&s), "{s} missing from {adds:?}");
    }
    assert!(rep["defined_at"][0]
        .as_str()
        .unwrap()
        .starts_with("drivers/net/ethernet/intel/Kconfig:"));
}
