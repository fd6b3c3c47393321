//! Shared setup: the Linux 6.12 tree, its index (cached, so only the first
//! test anywhere builds it) and its parsed Kconfig.

#![allow(dead_code)]

use kconfig::Db;
use kdoctor::Index;

pub struct Kernel {
    pub tree: ksrc::KernelTree,
    pub index: Index,
    pub db: Db,
}

/// The 6.12 tree if it is already extracted (tests never provision it:
/// that would install packages), else None and a message.
pub fn kernel() -> Option<Kernel> {
    (|| {
        let cache = ksrc::cache_root();
        if !cache.join("src/linux-source-6.12").is_dir() {
            eprintln!(
                "SKIP: no Linux 6.12 tree under {}; run scripts/setup",
                cache.display()
            );
            return None;
        }
        let tree = ksrc::resolve_kernel("6.12", &cache).expect("resolve 6.12");
        let env = ksrc::kconfig_env(&tree, "x86_64").expect("env");
        let (index, info) =
            Index::load_or_build(&tree, "x86_64", &env.srcarch, &cache).expect("index");
        eprintln!(
            "index {} ({} bytes, {} in {} ms)",
            info.path.display(),
            info.bytes,
            if info.loaded { "loaded" } else { "built" },
            info.ms
        );
        let host =
            ksrc::TreeHost::new(&tree, &env, ksrc::ShellCacheOptions::under(&cache)).expect("host");
        let (db, _) = kconfig::parse(
            &host,
            &env.kconfig,
            kconfig::Dialect::for_kernel_version(&tree.kernelversion),
        )
        .expect("parse Kconfig");
        Some(Kernel { tree, index, db })
    })()
}
