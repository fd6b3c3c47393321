//! The built-in catalog checked against itself, the probe vocabulary and the
//! kernel's own Kconfig.
//!
//! For Linux 6.12 and 6.1, on x86_64 and (for features that are not
//! x86-only) arm64, every CONFIG value a feature asks for must name a symbol
//! the tree defines, with a value its type accepts, and the symbol must be
//! reachable: `allyesconfig` gives it y (or m) when we ask for y (or m), and
//! `allnoconfig` gives it n when we ask for n. Needs the extracted trees
//! under the ktailor cache (scripts/setup); like the other real-tree tests it
//! fails rather than skips when they are missing. Those two tree checks are
//! the real tier (`scripts/test` runs them with `--include-ignored`); the
//! catalog-only checks are the fast tier.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use kcatalog::{
    Arch, Catalog, DiskContent, DiskInterface, Feature, Firmware, MachineType, NicModel,
    Requirement, Userspace,
};
use kconfig::{Dialect, Mode, RunOptions, SymType};

fn catalog() -> Catalog {
    Catalog::builtin()
}

fn data_file(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../data")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

// ---------------------------------------------------------------------------
// Catalog-only checks

/// The kernel series of the trees the Kconfig tests below read. Variants
/// select by major.minor only, so no point release is named here (Debian
/// ships new ones without notice).
const TREES: [&str; 2] = ["6.1", "6.12"];

#[test]
fn probe_names_exist_in_probes_toml() {
    let probes: toml::Value =
        toml::from_str(&data_file("probes.toml")).expect("probes.toml parses");
    let list = probes
        .get("probe")
        .and_then(|v| v.as_array())
        .expect("probes.toml has [[probe]] entries");
    let mut names = BTreeSet::new();
    for p in list {
        let name = p.get("name").and_then(|v| v.as_str()).expect("probe name");
        let what = p.get("what").and_then(|v| v.as_str()).unwrap_or("");
        assert!(!what.trim().is_empty(), "probe {name:?} has no `what`");
        assert!(
            names.insert(name.to_string()),
            "probe {name:?} defined twice"
        );
    }
    let mut missing = Vec::new();
    for f in &catalog().features {
        for p in &f.probes {
            if !names.contains(p) {
                missing.push(format!("{}: {p}", f.name));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "probes not in data/probes.toml: {missing:?}"
    );
}

#[test]
fn features_are_documented() {
    for f in &catalog().features {
        let kebab = !f.name.is_empty()
            && f.name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !f.name.starts_with('-')
            && !f.name.ends_with('-');
        assert!(kebab, "feature name {:?} is not kebab-case", f.name);
        assert!(!f.summary.trim().is_empty(), "{}: empty summary", f.name);
        assert!(
            !f.summary.contains('\n'),
            "{}: summary is not one line",
            f.name
        );
        assert!(!f.why.trim().is_empty(), "{}: empty why", f.name);
        assert!(!f.symptoms.is_empty(), "{}: no symptoms", f.name);
        for s in &f.symptoms {
            assert!(!s.trim().is_empty(), "{}: empty symptom", f.name);
        }
        for c in &f.confused_with {
            assert!(
                !c.symbol.trim().is_empty(),
                "{}: confusion without symbol",
                f.name
            );
            assert!(
                !c.note.trim().is_empty(),
                "{}: confusion {} has no note",
                f.name,
                c.symbol
            );
        }
        for a in &f.arches {
            assert!(
                [Arch::X86_64, Arch::Arm64, Arch::I386, Arch::Riscv].contains(a),
                "{}: unknown arch {a:?}",
                f.name
            );
        }
        for v in &f.variants {
            // Both sides of every variant must be exercised by the trees the
            // Kconfig tests read.
            let on: Vec<bool> = TREES
                .iter()
                .map(|k| kcatalog::version_matches(&v.kernel, k))
                .collect();
            assert!(
                v.kernel.starts_with(['<', '>', '=']) && on.contains(&true) && on.contains(&false),
                "{}: variant {:?} should select one of {TREES:?} but not all",
                f.name,
                v.kernel
            );
        }
        // Symbols must not be listed twice within one requirement list.
        let mut lists: Vec<&[Requirement]> = vec![&f.config];
        lists.extend(f.variants.iter().map(|v| v.config.as_slice()));
        for l in lists {
            let mut seen = BTreeSet::new();
            for r in l {
                assert!(
                    seen.insert(&r.symbol),
                    "{}: {} listed twice",
                    f.name,
                    r.symbol
                );
            }
        }
    }
}

#[test]
fn seed_misconceptions_are_marked() {
    let cat = catalog();
    let nvme = cat.feature("nvme").expect("an nvme feature");
    assert!(
        nvme.config.iter().any(|r| r.symbol == "BLK_DEV_NVME"),
        "nvme asks for BLK_DEV_NVME"
    );
    assert!(
        nvme.confused_with.iter().any(|c| c.symbol == "NVMEM"),
        "CONFIG_NVMEM (the seed's mistake) is marked on nvme"
    );
    let null_blk: Vec<&str> = cat
        .features
        .iter()
        .filter(|f| {
            f.confused_with
                .iter()
                .any(|c| c.symbol == "BLK_DEV_NULL_BLK")
        })
        .map(|f| f.name.as_str())
        .collect();
    assert!(
        null_blk.contains(&"devtmpfs-automount"),
        "CONFIG_BLK_DEV_NULL_BLK (the seed's /dev/null mistake) is marked on devtmpfs-automount, got {null_blk:?}"
    );
    // The seed's "Can't open /dev/null" is a /dev-not-mounted symptom.
    let auto = cat.feature("devtmpfs-automount").unwrap();
    assert!(auto
        .symptoms
        .iter()
        .any(|s| s.contains("Can't open /dev/null")));
    assert!(cat
        .feature("binfmt-elf")
        .unwrap()
        .confused_with
        .iter()
        .any(|c| c.symbol == "ELFCORE"));
    // Nobody asks for the misconceptions themselves.
    for f in &cat.features {
        for r in f
            .config
            .iter()
            .chain(f.variants.iter().flat_map(|v| &v.config))
        {
            assert!(
                !["NVMEM", "BLK_DEV_NULL_BLK", "ELFCORE"].contains(&r.symbol.as_str()),
                "{} asks for {}",
                f.name,
                r.symbol
            );
        }
    }
}

#[test]
fn seed_messages_are_quoted() {
    let cat = catalog();
    let all: Vec<(&str, &str)> = cat
        .features
        .iter()
        .flat_map(|f| {
            f.symptoms
                .iter()
                .map(move |s| (f.name.as_str(), s.as_str()))
        })
        .collect();
    let on = |feature: &str, msg: &str| {
        assert!(
            all.iter().any(|(f, s)| *f == feature && s.contains(msg)),
            "{feature} should list the seed's {msg:?}"
        );
    };
    on("binfmt-script", "Failed to execute /init (error -2)");
    on(
        "binfmt-elf",
        "/sbin/init exists but couldn't execute it (error -8)",
    );
    on(
        "procfs",
        "mount: mounting none on /proc failed: No such device",
    );
    on(
        "sysfs",
        "mount: mounting none on /sys failed: No such device",
    );
    on("networking", "ip: socket: Function not implemented");
    on(
        "posix-timers",
        "attempted a POSIX timer syscall while CONFIG_POSIX_TIMERS is not set",
    );
    on("unix98-ptys", "openpty: No such file or directory");
    on("unix98-ptys", "Filesystem type 'devpts' is not supported");
    on(
        "futex",
        "The futex facility returned an unexpected error code.",
    );
    on(
        "file-locking",
        "can't lock /var/run/crond.pid, otherpid may be",
    );
    on("multiuser", "setgroups: Function not implemented");
    on(
        "unix-sockets",
        "reexec socketpair: Address family not supported by protocol",
    );
    on(
        "unix-sockets",
        "error getting socket: Address family not supported by protocol",
    );
    on(
        "cgroups",
        "Failed to mount cgroup at /sys/fs/cgroup/elogind: No such file or directory",
    );
    on("epoll", "epoll_create1(EPOLL_CLOEXEC) = -1 ENOSYS");
    on("signalfd", "signalfd4(");
    on("timerfd", "timerfd_create(");
    on("inotify", "inotify_init1(");
    on("virtio-blk", "VFS: Cannot open root device");
    on("devtmpfs-automount", "/bin/sh: 0: Can't open /dev/null");
}

const TARGETS: [&str; 10] = [
    "qemu-console",
    "qemu-initramfs",
    "qemu-busybox",
    "qemu-e1000",
    "qemu-ahci-ext4",
    "qemu-virtio",
    "debian-sysvinit",
    "debian-systemd",
    "ec2-nitro",
    "docker-host",
];

#[test]
fn targets_are_the_ladder_and_resolve() {
    let cat = catalog();
    let names: Vec<&str> = cat.targets.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names, TARGETS,
        "exactly the documented targets, in ladder order"
    );
    for t in &cat.targets {
        assert_eq!(t.arch, Arch::X86_64, "{}", t.name);
        assert!(!t.summary.trim().is_empty(), "{}", t.name);
        let closure = cat
            .closure(&t.features)
            .unwrap_or_else(|e| panic!("{}: {e}", t.name));
        let has: BTreeSet<&str> = closure.iter().map(|f| f.name.as_str()).collect();
        for f in &closure {
            assert!(
                f.arches.is_empty() || f.arches.contains(&t.arch),
                "{}: feature {} does not apply to {}",
                t.name,
                f.name,
                t.arch
            );
        }
        // Machine type, firmware and userspace are enums: the catalog
        // does not load with any other name.
        let m = &t.machine;
        // The kernel must drive the machine it is meant for.
        let need = |feature: &str, why: &str| {
            assert!(
                has.contains(feature),
                "{}: {why} needs feature {feature}",
                t.name
            );
        };
        need("serial-console", "every machine's console");
        for n in &m.nics {
            match n.model {
                NicModel::E1000 => need("e1000", "nic e1000"),
                NicModel::E1000e => need("e1000e", "nic e1000e"),
                NicModel::Rtl8139 => need("rtl8139", "nic rtl8139"),
                NicModel::VirtioNetPci => need("virtio-net", "nic virtio-net-pci"),
            }
        }
        for d in &m.disks {
            match d.interface {
                DiskInterface::Ahci => {
                    need("ahci", "an AHCI disk");
                    assert_eq!(
                        m.machine,
                        MachineType::Q35,
                        "{}: ich9-ahci is q35's",
                        t.name
                    );
                }
                DiskInterface::VirtioBlk => need("virtio-blk", "a virtio-blk disk"),
                DiskInterface::VirtioScsi => need("virtio-scsi", "a virtio-scsi disk"),
                DiskInterface::Nvme => need("nvme", "an NVMe disk"),
                DiskInterface::Ide => need("ahci", "an IDE disk"),
            }
            match d.content {
                DiskContent::Ext4Scratch
                | DiskContent::DebianSysvinit
                | DiskContent::DebianSystemd => need("ext4", "an ext4 disk"),
            }
        }
        match m.userspace {
            Userspace::Hello | Userspace::Probe | Userspace::Busybox => {
                need("initramfs", "an initramfs userspace");
                need("binfmt-elf", "an initramfs userspace");
            }
            Userspace::Disk => {
                assert!(
                    m.disks.iter().any(|d| d.content.is_root()),
                    "{}: userspace disk needs a root file system disk",
                    t.name
                );
                assert!(
                    t.cmdline.iter().any(|c| c.starts_with("root=")),
                    "{}: a disk root needs root=",
                    t.name
                );
                need("devtmpfs-automount", "a disk root without initramfs");
            }
            Userspace::None => {}
        }
        if m.firmware == Firmware::Uefi {
            need("efi", "UEFI firmware");
        }
        for d in &m.disks {
            if d.content == DiskContent::DebianSystemd {
                need("systemd", "a systemd root file system");
            }
        }
    }
    // Ladder: each step keeps the previous step's features.
    let ladder = [
        ("qemu-console", "qemu-initramfs"),
        ("qemu-initramfs", "qemu-busybox"),
        ("qemu-busybox", "qemu-e1000"),
        ("qemu-e1000", "qemu-ahci-ext4"),
        ("qemu-ahci-ext4", "qemu-virtio"),
        ("qemu-virtio", "debian-sysvinit"),
        ("debian-sysvinit", "debian-systemd"),
        ("debian-sysvinit", "ec2-nitro"),
        ("debian-systemd", "docker-host"),
    ];
    for (lo, hi) in ladder {
        let lo_f: BTreeSet<&String> = cat.target(lo).unwrap().features.iter().collect();
        let hi_f: BTreeSet<&String> = cat.target(hi).unwrap().features.iter().collect();
        let lost: Vec<_> = lo_f.difference(&hi_f).collect();
        assert!(lost.is_empty(), "{hi} drops {lo}'s features {lost:?}");
        assert!(hi_f.len() > lo_f.len(), "{hi} adds nothing to {lo}");
    }
    for t in &cat.targets {
        if t.name.starts_with("qemu-") {
            assert_eq!(
                t.base,
                kcatalog::Base::Tinyconfig,
                "{}: the seed's EXPERT=y world",
                t.name
            );
        }
    }
}

#[test]
fn required_feature_sets_are_complete() {
    let cat = catalog();
    let symbols = |names: &[&str]| -> BTreeSet<String> {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        cat.closure(&names)
            .unwrap()
            .iter()
            .flat_map(|f| f.config.iter().map(|r| r.symbol.clone()))
            .collect()
    };
    // systemd's README: required, needed by udev rules and units, strongly
    // recommended.
    let systemd = symbols(&["systemd"]);
    for s in "DEVTMPFS CGROUPS INOTIFY_USER SIGNALFD TIMERFD EPOLL UNIX SYSFS PROC_FS FHANDLE \
              DMIID BLK_DEV_BSG NET_NS IPV6 AUTOFS_FS TMPFS_XATTR TMPFS_POSIX_ACL SECCOMP \
              SECCOMP_FILTER CGROUP_BPF"
        .split_whitespace()
    {
        assert!(systemd.contains(s), "systemd set lacks {s}");
    }
    // moby contrib/check-config.sh, "Generally Necessary", plus overlay.
    let docker = symbols(&["docker"]);
    for s in "NAMESPACES NET_NS PID_NS IPC_NS UTS_NS CGROUPS CGROUP_CPUACCT CGROUP_DEVICE \
              CGROUP_FREEZER CGROUP_SCHED CPUSETS MEMCG CGROUP_BPF KEYS VETH BRIDGE \
              BRIDGE_NETFILTER IP_NF_FILTER IP_NF_MANGLE IP_NF_TARGET_MASQUERADE IP6_NF_FILTER \
              IP6_NF_MANGLE IP6_NF_TARGET_MASQUERADE NETFILTER_XT_MATCH_ADDRTYPE \
              NETFILTER_XT_MATCH_CONNTRACK NETFILTER_XT_MATCH_IPVS NETFILTER_XT_MARK IP_NF_RAW \
              IP_NF_NAT NF_NAT IP6_NF_RAW IP6_NF_NAT POSIX_MQUEUE OVERLAY_FS"
        .split_whitespace()
    {
        assert!(docker.contains(s), "docker set lacks {s}");
    }
}

// ---------------------------------------------------------------------------
// Against the kernel's Kconfig

/// What one (tree, arch) says about every symbol the catalog names.
struct Tree {
    label: String,
    kernelversion: String,
    /// Defined symbols and their types.
    types: BTreeMap<String, SymType>,
    allyes: BTreeMap<String, String>,
    allno: BTreeMap<String, String>,
}

/// Symbol to value as written (`y`, `"str"`); `# ... is not set` is `n`.
fn config_values(text: &str) -> BTreeMap<String, String> {
    kconfig::dotconfig::parse(".config", text)
        .map()
        .into_iter()
        .map(|(k, v)| (k, v.to_string()))
        .collect()
}

fn load(ver: &str, arch: &str, wanted: &BTreeSet<String>) -> Tree {
    let tree = ktestkit::tree(ver);
    let env = ksrc::kconfig_env(&tree, arch).unwrap();
    let host = ksrc::TreeHost::new(
        &tree,
        &env,
        ksrc::ShellCacheOptions::under(&ksrc::cache_root()),
    )
    .unwrap();
    let (mut db, _warnings) = kconfig::parse(
        &host,
        &env.kconfig,
        Dialect::for_kernel_version(&tree.kernelversion),
    )
    .unwrap_or_else(|e| panic!("{ver} {arch}: parse: {e}"));
    let mut types = BTreeMap::new();
    for name in wanted {
        if let Some(id) = db.sym_find(name) {
            let s = db.sym(id);
            // Referenced-only symbols (a `depends on FOO` with no `config FOO`)
            // have no menu entry and no type.
            if !s.menus.is_empty() && s.ty != SymType::Unknown {
                types.insert(name.clone(), s.ty);
            }
        }
    }
    // conf only assigns symbols that have no value yet, so each mode needs
    // a fresh copy of the parsed tree.
    let opts = RunOptions::default();
    let allyes = db
        .clone()
        .run_mode(Mode::Allyesconfig, None, None, &opts)
        .unwrap()
        .output;
    let allno = db
        .run_mode(Mode::Allnoconfig, None, None, &opts)
        .unwrap()
        .output;
    let _ = host.save();
    Tree {
        label: format!("{} {arch}", tree.kernelversion),
        kernelversion: tree.kernelversion.clone(),
        types,
        allyes: config_values(&allyes),
        allno: config_values(&allno),
    }
}

fn value_fits(ty: SymType, value: &str) -> bool {
    match ty {
        SymType::Bool => matches!(value, "y" | "n"),
        SymType::Tristate => matches!(value, "y" | "m" | "n"),
        SymType::Int => value.parse::<i64>().is_ok(),
        SymType::Hex => {
            let v = value
                .strip_prefix("0x")
                .or_else(|| value.strip_prefix("0X"))
                .unwrap_or(value);
            !v.is_empty() && v.bytes().all(|b| b.is_ascii_hexdigit())
        }
        SymType::String => value.len() >= 2 && value.starts_with('"') && value.ends_with('"'),
        SymType::Unknown => false,
    }
}

/// Symbols a feature's `confused_with` may name although a tree lacks them:
/// the point of the note is that they are gone or never were what the seed
/// thought.
fn confusion_may_be_missing(symbol: &str, kernelversion: &str) -> bool {
    match symbol {
        // drivers/ide was removed in 5.14.
        "IDE" => true,
        // Transitional alias, present in 6.1, gone by 6.12.
        "AUTOFS4_FS" => kcatalog::version_matches(">=6.6", kernelversion),
        _ => false,
    }
}

fn applies(f: &Feature, arch: &str) -> bool {
    f.arches.is_empty() || f.arches.iter().any(|a| a.as_str() == arch)
}

fn check_version(ver: &str) {
    let cat = catalog();
    let mut problems = Vec::new();
    for arch in ["x86_64", "arm64"] {
        let features: Vec<&Feature> = cat
            .features
            .iter()
            .filter(|f| applies(f, arch))
            // arm64 is checked for features that are not x86-only.
            .filter(|f| arch == "x86_64" || f.arches.is_empty() || f.arches.contains(&Arch::Arm64))
            .collect();
        let mut wanted: BTreeSet<String> = BTreeSet::new();
        for f in &cat.features {
            wanted.extend(f.config.iter().map(|r| r.symbol.clone()));
            wanted.extend(
                f.variants
                    .iter()
                    .flat_map(|v| v.config.iter().map(|r| r.symbol.clone())),
            );
            wanted.extend(f.confused_with.iter().map(|c| c.symbol.clone()));
        }
        let t = load(ver, arch, &wanted);
        for f in &features {
            for r in f.config_for(&t.kernelversion) {
                let who = format!("{}: feature {}: {r}", t.label, f.name);
                let Some(&ty) = t.types.get(&r.symbol) else {
                    problems.push(format!("{who}: symbol not defined"));
                    continue;
                };
                if !value_fits(ty, &r.value) {
                    problems.push(format!("{who}: not a valid {} value", ty.name()));
                    continue;
                }
                let yes = t.allyes.get(&r.symbol).map(String::as_str).unwrap_or("n");
                let no = t.allno.get(&r.symbol).map(String::as_str).unwrap_or("n");
                match r.value.as_str() {
                    "y" if yes != "y" => {
                        problems.push(format!("{who}: unreachable (allyesconfig gives {yes})"))
                    }
                    "m" if yes == "n" => {
                        problems.push(format!("{who}: unreachable (allyesconfig gives n)"))
                    }
                    "n" if no != "n" => {
                        problems.push(format!("{who}: forced on (allnoconfig gives {no})"))
                    }
                    _ => {}
                }
            }
        }
        if arch == "x86_64" {
            for f in &cat.features {
                for c in &f.confused_with {
                    if !t.types.contains_key(&c.symbol)
                        && !confusion_may_be_missing(&c.symbol, &t.kernelversion)
                    {
                        problems.push(format!(
                            "{}: feature {}: confused_with {} is not defined",
                            t.label, f.name, c.symbol
                        ));
                    }
                }
            }
        }
        eprintln!("{}: {} features checked", t.label, features.len());
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
#[ignore = "real tier: needs a kernel tree (scripts/test runs it)"]
fn catalog_matches_linux_6_12() {
    check_version("6.12");
}

#[test]
#[ignore = "real tier: needs a kernel tree (scripts/test runs it)"]
fn catalog_matches_linux_6_1() {
    check_version("6.1");
}
