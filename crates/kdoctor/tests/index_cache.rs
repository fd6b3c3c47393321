//! Acceptance 4: the index reports its build time and size, and a second
//! run loads the cache instead of reading the tree again.

mod common;

use kdoctor::Index;

fn tiny_tree() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let files: &[(&str, &str)] = &[
        ("Makefile", "VERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 0\n"),
        ("Kbuild", "obj-y += kernel/\nobj-y += fs/\n"),
        ("kernel/Makefile", "obj-y += sys_ni.o\n"),
        ("kernel/sys_ni.c", "COND_SYSCALL(epoll_create1);\n"),
        ("fs/Makefile", "obj-$(CONFIG_EPOLL) += eventpoll.o\n"),
        (
            "fs/eventpoll.c",
            "SYSCALL_DEFINE1(epoll_create1, int, flags)\n{\n}\n",
        ),
    ];
    for (p, t) in files {
        let p = d.path().join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, t).unwrap();
    }
    d
}

#[test]
fn second_run_loads_the_cache_and_bad_caches_are_rebuilt() {
    let src = tiny_tree();
    let cache = tempfile::tempdir().unwrap();
    let tree = ksrc::KernelTree {
        root: src.path().to_path_buf(),
        kernelversion: "6.12.0".into(),
    };
    let (a, first) = Index::load_or_build(&tree, "x86_64", "x86", cache.path()).unwrap();
    assert!(!first.loaded);
    assert!(first.bytes > 0 && first.path.is_file());
    assert_eq!(
        a.syscall("epoll_create1").unwrap().cond.to_string(),
        "EPOLL"
    );
    let (b, second) = Index::load_or_build(&tree, "x86_64", "x86", cache.path()).unwrap();
    assert!(second.loaded, "second run must use the cache");
    assert_eq!(second.path, first.path);
    assert_eq!(
        serde_json::to_string(&a).unwrap(),
        serde_json::to_string(&b).unwrap()
    );
    // A damaged cache is rebuilt, not trusted; caches of an older format
    // for the same tree are removed when a new one is written.
    std::fs::write(&first.path, b"{ not json").unwrap();
    let stale = first
        .path
        .with_file_name("index-6.12.0-x86_64-000000000000.json");
    let head = serde_json::json!({"format": 0, "tree": a.tree});
    std::fs::write(&stale, head.to_string()).unwrap();
    let (c, third) = Index::load_or_build(&tree, "x86_64", "x86", cache.path()).unwrap();
    assert!(!third.loaded);
    assert_eq!(c.syscalls.len(), a.syscalls.len());
    assert!(!stale.exists(), "stale cache kept");
    // Another architecture is another cache file.
    let other = Index::cache_path(cache.path(), &tree.root, &tree.kernelversion, "arm64");
    assert_ne!(other, first.path);
}

#[test]
#[ignore = "real tier: needs a kernel tree (scripts/test runs it)"]
fn real_tree_index_statistics() {
    let k = common::kernel();
    let cache = ksrc::cache_root();
    let env = ksrc::kconfig_env(&k.tree, "x86_64").unwrap();
    let (idx, info) = Index::load_or_build(&k.tree, "x86_64", &env.srcarch, &cache).unwrap();
    assert!(
        info.loaded,
        "the shared cache was written by common::kernel()"
    );
    let s = &idx.stats;
    eprintln!(
        "index for {} {}: built in {} ms, {} bytes on disk, loaded in {} ms; {} syscalls ({} conditional), {} file systems, {} address families, {} PCI IDs in {} tables ({} unparsed), {} virtio IDs, {} option-naming messages; {} makefiles, {} source files read, {} scanned",
        idx.kernelversion, idx.arch, s.build_ms, info.bytes, info.ms, s.syscalls, s.conditional_syscalls,
        s.filesystems, s.families, s.pci_ids, s.pci_tables, s.pci_unparsed, s.virtio_ids, s.messages,
        s.makefiles, s.files_read, s.files_scanned
    );
    assert!(s.build_ms > 0);
    assert!(s.conditional_syscalls > 200, "{}", s.conditional_syscalls);
    assert!(s.filesystems > 50 && s.families > 20 && s.pci_ids > 5000);
}
