//! Shared setup: the Linux 6.12 tree (provisioned from Debian's
//! linux-source-6.12 package if it is not extracted yet), its index
//! (cached, so only the first test anywhere builds it) and its parsed
//! Kconfig. Every test that uses them is the real tier (`#[ignore]`, run
//! by scripts/test with `--include-ignored`).

#![allow(dead_code)]

use kconfig::Db;
use kdoctor::Index;

pub struct Kernel {
    pub tree: ksrc::KernelTree,
    pub index: Index,
    pub db: Db,
}

/// The 6.12 tree, index and Kconfig. Panics with what to do when the tree
/// cannot be provisioned (scripts/setup installs linux-source-6.12).
pub fn kernel() -> Kernel {
    let cache = ksrc::cache_root();
    let tree = ktestkit::tree("6.12");
    let env = ksrc::kconfig_env(&tree, "x86_64")
        .unwrap_or_else(|e| panic!("kconfig environment of {}: {e:#}", tree.root.display()));
    let (index, info) = Index::load_or_build(&tree, "x86_64", &env.srcarch, &cache)
        .unwrap_or_else(|e| panic!("indexing {}: {e:#}", tree.root.display()));
    eprintln!(
        "index {} ({} bytes, {} in {} ms)",
        info.path.display(),
        info.bytes,
        if info.loaded { "loaded" } else { "built" },
        info.ms
    );
    let host = ksrc::TreeHost::new(&tree, &env, ksrc::ShellCacheOptions::under(&cache))
        .unwrap_or_else(|e| panic!("shell cache for {}: {e:#}", tree.root.display()));
    let (db, _) = kconfig::parse(
        &host,
        &env.kconfig,
        kconfig::Dialect::for_kernel_version(&tree.kernelversion),
    )
    .unwrap_or_else(|e| panic!("parsing the Kconfig of {}: {e}", tree.root.display()));
    Kernel { tree, index, db }
}

/// Debian's build of the same tree (config, real System.map,
/// modules.alias), fetched into the cache on first use.
pub fn debian(k: &Kernel) -> kdoctor::debian::DebianKernel {
    let t = std::time::Instant::now();
    let d =
        kdoctor::debian::provision(&k.tree, "x86_64", &ksrc::cache_root()).unwrap_or_else(|e| {
            panic!(
                "cannot provision Debian's build of Linux {}: {e:#}",
                k.tree.kernelversion
            )
        });
    let p = &d.provenance;
    if d.fetched {
        eprintln!(
            "fetched {} and {} {} ({} bytes): download {} ms, extract {} ms, depmod {} ms, {} ms in all",
            p.package,
            p.dbg_package,
            p.version,
            p.deb_bytes,
            p.download_ms,
            p.extract_ms,
            p.depmod_ms,
            t.elapsed().as_millis()
        );
    } else {
        eprintln!("{} {} from {}", p.package, p.version, d.dir.display());
    }
    d
}
