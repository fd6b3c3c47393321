use super::*;
use std::cell::RefCell;

fn apt_dir(sources: &[(&str, &str)]) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("sources.list.d")).unwrap();
    for (name, text) in sources {
        std::fs::write(d.path().join(name), text).unwrap();
    }
    d
}

const DEB822: &str =
    "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\n\
                      Components: main\n";

#[test]
fn init_parses_and_serializes_lowercase() {
    assert_eq!("sysvinit".parse::<Init>(), Ok(Init::Sysvinit));
    assert_eq!(" Systemd ".parse::<Init>(), Ok(Init::Systemd));
    let err = "upstart".parse::<Init>().unwrap_err();
    assert!(err.to_string().contains("`upstart`"), "{err}");
    assert_eq!(
        serde_json::to_string(&Init::Systemd).unwrap(),
        "\"systemd\""
    );
    let spec: RootfsSpec = serde_json::from_str(r#"{"init":"sysvinit"}"#).unwrap();
    assert_eq!(spec, RootfsSpec::bookworm(Init::Sysvinit));
    for init in Init::ALL {
        assert_eq!(init.to_string().parse::<Init>(), Ok(init));
    }
}

#[test]
fn mode_follows_euid() {
    assert_eq!(Mode::for_euid(0), Mode::Root);
    assert_eq!(Mode::for_euid(1000), Mode::Unshare);
    assert_eq!(Mode::for_euid(u32::MAX), Mode::Unshare);
    let euid = unsafe { libc::geteuid() };
    assert_eq!(Mode::current(), Mode::for_euid(euid));
}

#[test]
fn packages_are_sorted_deduplicated_and_include_the_init() {
    let mut spec = RootfsSpec::bookworm(Init::Sysvinit);
    spec.extra_packages = vec!["vim".into(), "sudo".into(), " less ".into(), "".into()];
    let p = packages(&spec);
    assert!(p.windows(2).all(|w| w[0] < w[1]), "{p:?}");
    for want in [
        "sysvinit-core",
        "vim",
        "less",
        "sudo",
        "orphan-sysvinit-scripts",
    ] {
        assert!(p.iter().any(|x| x == want), "{want} missing from {p:?}");
    }
    assert!(!p.iter().any(|x| x == "systemd-sysv"));
    let p = packages(&RootfsSpec::bookworm(Init::Systemd));
    assert!(p.iter().any(|x| x == "systemd-sysv"));
    assert!(!p.iter().any(|x| x == "sysvinit-core" || x == "elogind"));
}

#[test]
fn cache_key_is_stable() {
    let apt = apt_dir(&[("sources.list.d/debian.sources", DEB822)]);
    let spec = RootfsSpec::bookworm(Init::Sysvinit);
    let k = cache_key_in(&spec, apt.path());
    assert_eq!(k, cache_key_in(&spec.clone(), apt.path()));
    assert!(k.starts_with("bookworm-sysvinit-"), "{k}");
    assert_eq!(k.len(), "bookworm-sysvinit-".len() + 24);
    // Package order, duplicates and packages the init already has do not
    // matter.
    let mut a = spec.clone();
    a.extra_packages = vec!["vim".into(), "less".into()];
    let mut b = spec.clone();
    b.extra_packages = vec!["less".into(), "vim".into(), "vim".into(), "sudo".into()];
    assert_eq!(cache_key_in(&a, apt.path()), cache_key_in(&b, apt.path()));
    // The same content elsewhere is a different sources file, hence a
    // different key only through its path.
    let apt2 = apt_dir(&[("sources.list.d/debian.sources", DEB822)]);
    let k2 = cache_key_in(&spec, apt2.path());
    assert_ne!(k, k2);
}

#[test]
fn cache_key_changes_with_every_input() {
    let apt = apt_dir(&[("sources.list.d/debian.sources", DEB822)]);
    let base = RootfsSpec::bookworm(Init::Sysvinit);
    let key = |s: &RootfsSpec| cache_key_in(s, apt.path());
    let k0 = key(&base);
    let mut variants = vec![];
    let mut s = base.clone();
    s.init = Init::Systemd;
    variants.push(s);
    let mut s = base.clone();
    s.extra_packages.push("vim".into());
    variants.push(s);
    let mut s = base.clone();
    s.suite = "trixie".into();
    variants.push(s);
    let mut s = base.clone();
    s.mirror = Some("http://deb.debian.org/debian".into());
    variants.push(s);
    let mut s = base.clone();
    s.mirror = Some("http://ftp.de.debian.org/debian".into());
    variants.push(s);
    let mut keys: Vec<String> = variants.iter().map(key).collect();
    keys.push(k0.clone());
    let n = keys.len();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), n, "{keys:?}");

    // The host sources file's content is an input.
    std::fs::write(
        apt.path().join("sources.list.d/debian.sources"),
        DEB822.replace("deb.debian.org", "ftp.de.debian.org"),
    )
    .unwrap();
    assert_ne!(key(&base), k0);
}

#[test]
fn cache_key_survives_odd_suites() {
    let mut spec = RootfsSpec::bookworm(Init::Systemd);
    spec.suite = "../../etc/Weird Suite".into();
    let k = cache_key_in(&spec, Path::new("/nonexistent"));
    assert!(!k.contains('/') && !k.contains(' '), "{k}");
}

#[test]
fn host_sources_prefers_debian_sources_and_needs_the_suite() {
    let apt = apt_dir(&[
        ("sources.list.d/debian.sources", DEB822),
        (
            "sources.list.d/a.sources",
            "Types: deb\nSuites: bookworm trixie\n",
        ),
        (
            "sources.list",
            "deb http://deb.debian.org/debian sid main\n",
        ),
    ]);
    let d = apt.path();
    assert_eq!(
        host_sources(d, "bookworm"),
        Some(d.join("sources.list.d/debian.sources"))
    );
    assert_eq!(
        host_sources(d, "trixie"),
        Some(d.join("sources.list.d/a.sources"))
    );
    assert_eq!(host_sources(d, "sid"), Some(d.join("sources.list")));
    assert_eq!(host_sources(d, "bullseye"), None);
    // A suite named only in a comment does not count, nor a prefix.
    let apt = apt_dir(&[(
        "sources.list",
        "# deb http://x bullseye main\ndeb http://x bookworm-backports main\n",
    )]);
    assert_eq!(host_sources(apt.path(), "bullseye"), None);
    assert_eq!(host_sources(apt.path(), "bookworm"), None);
}

#[test]
fn bad_specs_are_errors_not_panics() {
    let cache = tempfile::tempdir().unwrap();
    let quiet = |_: &str| {};
    let bad: Vec<RootfsSpec> = vec![
        RootfsSpec {
            suite: "".into(),
            ..RootfsSpec::bookworm(Init::Sysvinit)
        },
        RootfsSpec {
            suite: "book worm".into(),
            ..RootfsSpec::bookworm(Init::Sysvinit)
        },
        RootfsSpec {
            extra_packages: vec!["Vim".into()],
            ..RootfsSpec::bookworm(Init::Sysvinit)
        },
        RootfsSpec {
            extra_packages: vec!["vim,--evil".into()],
            ..RootfsSpec::bookworm(Init::Sysvinit)
        },
        RootfsSpec {
            mirror: Some("--help".into()),
            ..RootfsSpec::bookworm(Init::Sysvinit)
        },
        RootfsSpec {
            mirror: Some("http://x\nmore".into()),
            ..RootfsSpec::bookworm(Init::Sysvinit)
        },
    ];
    for spec in bad {
        match build(&spec, cache.path(), &quiet) {
            Err(RootfsError::InvalidSpec(msg)) => assert!(msg.contains("not a"), "{msg}"),
            other => panic!("{spec:?}: {other:?}"),
        }
    }
}

fn no_mmdebstrap(mode: Mode) -> RootfsError {
    let cache = tempfile::tempdir().unwrap();
    let empty = tempfile::tempdir().unwrap();
    let opts = BuildOptions {
        search_path: Some(empty.path().as_os_str().to_owned()),
        mode: Some(mode),
        ..BuildOptions::default()
    };
    let lines = RefCell::new(vec![]);
    let err = build_with(
        &RootfsSpec::bookworm(Init::Sysvinit),
        cache.path(),
        &|l| lines.borrow_mut().push(l.to_string()),
        &opts,
    )
    .unwrap_err();
    // Nothing half-made is left behind.
    let left: Vec<_> = std::fs::read_dir(cache.path().join("rootfs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".lock"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    err
}

#[test]
fn missing_mmdebstrap_says_how_to_install_it() {
    let err = no_mmdebstrap(Mode::Root);
    assert!(
        matches!(err, RootfsError::MmdebstrapMissing { .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.lines().any(|l| l == "apt-get install -y mmdebstrap"),
        "{msg}"
    );
    assert!(!msg.contains("uidmap"), "{msg}");

    let msg = no_mmdebstrap(Mode::Unshare).to_string();
    assert!(
        msg.lines().any(|l| l == "apt-get install -y mmdebstrap"),
        "{msg}"
    );
    assert!(
        msg.lines().any(|l| l == "apt-get install -y uidmap"),
        "{msg}"
    );
}

#[test]
fn find_program_searches_the_given_path() {
    let d = tempfile::tempdir().unwrap();
    let exe = d.path().join("tool");
    std::fs::write(&exe, "#!/bin/sh\n").unwrap();
    let path = Some(d.path().as_os_str());
    assert_eq!(
        find_program(OsStr::new("tool"), path),
        None,
        "not executable yet"
    );
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(find_program(OsStr::new("tool"), path), Some(exe.clone()));
    assert_eq!(
        find_program(exe.as_os_str(), Some(OsStr::new(""))),
        Some(exe)
    );
    assert_eq!(find_program(OsStr::new(""), path), None);
    assert_eq!(
        find_program(OsStr::new("sh"), Some(OsStr::new("/nonexistent"))),
        None
    );
}

/// A fake mmdebstrap: fails like an unreachable mirror.
#[test]
fn mmdebstrap_failure_names_the_mirror_and_shows_its_stderr() {
    let cache = tempfile::tempdir().unwrap();
    let bin = tempfile::tempdir().unwrap();
    let fake = bin.path().join("mmdebstrap");
    std::fs::write(
        &fake,
        "#!/bin/sh\necho 'I: running apt-get update...' >&2\n\
         echo 'E: apt-get update failed: Could not resolve host: nowhere.invalid' >&2\nexit 1\n",
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut spec = RootfsSpec::bookworm(Init::Systemd);
    spec.mirror = Some("http://nowhere.invalid/debian".into());
    let opts = BuildOptions {
        mmdebstrap: fake.into_os_string(),
        mode: Some(Mode::Root),
        ..BuildOptions::default()
    };
    let lines = RefCell::new(vec![]);
    let err = build_with(
        &spec,
        cache.path(),
        &|l| lines.borrow_mut().push(l.to_string()),
        &opts,
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("http://nowhere.invalid/debian"), "{msg}");
    assert!(msg.contains("Could not resolve host"), "{msg}");
    assert!(msg.contains("bookworm/systemd"), "{msg}");
    assert!(lines
        .borrow()
        .iter()
        .any(|l| l.contains("running apt-get update")));
    let left: Vec<_> = std::fs::read_dir(cache.path().join("rootfs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".lock"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn no_host_sources_is_a_clear_error() {
    let cache = tempfile::tempdir().unwrap();
    let apt = apt_dir(&[]);
    let opts = BuildOptions {
        mmdebstrap: "/bin/true".into(),
        mode: Some(Mode::Root),
        etc_apt: apt.path().to_path_buf(),
        ..BuildOptions::default()
    };
    let err = build_with(
        &RootfsSpec::bookworm(Init::Sysvinit),
        cache.path(),
        &|_| {},
        &opts,
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("sources.list") && msg.contains("mirror"),
        "{msg}"
    );
}

#[test]
fn mmdebstrap_args_are_complete() {
    let spec = RootfsSpec::bookworm(Init::Sysvinit);
    let include = packages(&spec);
    let args = mmdebstrap_args(
        &spec,
        Mode::Root,
        &include,
        Path::new("/c/it's here/hooks"),
        Path::new("/c/k.tar.partial"),
        "/etc/apt/sources.list.d/debian.sources",
    );
    let args: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        &args[..3],
        ["--mode=root", "--variant=minbase", "--format=tar"]
    );
    assert!(args[3].starts_with("--include=") && args[3].contains(",sysvinit-core,"));
    assert_eq!(
        args[4],
        r#"--customize-hook=bash '/c/it'\''s here/hooks/customize.sh' "$1" sysvinit '/c/it'\''s here/hooks'"#
    );
    assert_eq!(
        &args[5..],
        [
            "bookworm",
            "/c/k.tar.partial",
            "/etc/apt/sources.list.d/debian.sources"
        ]
    );
}

#[test]
fn installed_packages_reads_dpkg_status() {
    let status = "Package: a\nStatus: install ok installed\nVersion: 1.0\n\n\
                  Package: b\nStatus: deinstall ok config-files\nVersion: 2\n\n\
                  Package: c\nStatus: install ok installed\nPriority: required\nVersion: 1:3-4\n";
    assert_eq!(installed_packages(status), ["a=1.0", "c=1:3-4"]);
    assert!(installed_packages("").is_empty());
}

#[test]
fn mountinfo_parsing_finds_mounts_below() {
    let info = "36 35 98:0 / /mnt/x\\040y/work/tmp/proc rw - proc proc rw\n\
                37 35 98:0 / /mnt/x\\040y/workshop rw - ext4 /dev/a rw\n\
                38 35 98:0 / / rw - ext4 /dev/a rw\n";
    assert_eq!(
        cache::mounts_below(info, Path::new("/mnt/x y/work")),
        ["/mnt/x y/work/tmp/proc"]
    );
}

fn fake_manifest(key: &str, bytes: u64) -> Manifest {
    Manifest {
        key: key.into(),
        spec: RootfsSpec::bookworm(Init::Sysvinit),
        include: vec![],
        packages: vec!["a=1".into()],
        bytes,
        build_seconds: 1.0,
        built_at_unix: 0,
        mode: Mode::Root,
        mirror: "m".into(),
        krootfs_version: "0".into(),
    }
}

#[test]
fn lookup_needs_tar_and_matching_sidecar() {
    let d = tempfile::tempdir().unwrap();
    let e = cache::Entry::new(d.path(), "k");
    assert!(e.lookup().is_none());
    std::fs::write(&e.tar, b"12345").unwrap();
    assert!(e.lookup().is_none(), "no sidecar");
    std::fs::write(&e.json, serde_json::to_vec(&fake_manifest("k", 4)).unwrap()).unwrap();
    assert!(e.lookup().is_none(), "size mismatch");
    std::fs::write(&e.json, b"{not json").unwrap();
    assert!(e.lookup().is_none(), "corrupt sidecar");
    std::fs::write(&e.json, serde_json::to_vec(&fake_manifest("k", 5)).unwrap()).unwrap();
    assert_eq!(
        e.lookup().map(|m| m.packages),
        Some(vec!["a=1".to_string()])
    );
}

#[test]
fn commit_publishes_atomically_and_sweep_cleans_leftovers() {
    let d = tempfile::tempdir().unwrap();
    let e = cache::Entry::new(d.path(), "k");
    std::fs::write(&e.partial, b"tar!").unwrap();
    e.commit(&fake_manifest("k", 4)).unwrap();
    assert!(!e.partial.exists() && !e.json_partial.exists());
    assert_eq!(e.lookup().unwrap().bytes, 4);

    // Leftovers of an interrupted build of another key, and of one still
    // running (its lock is held).
    let dead = cache::Entry::new(d.path(), "dead");
    std::fs::write(&dead.partial, b"half").unwrap();
    std::fs::create_dir_all(dead.work.join("tmp/x")).unwrap();
    let busy = cache::Entry::new(d.path(), "busy");
    let lines = RefCell::new(vec![]);
    let progress = |l: &str| lines.borrow_mut().push(l.to_string());
    let _held = busy.lock(&progress).unwrap();
    std::fs::write(&busy.partial, b"half").unwrap();
    cache::sweep(d.path(), "k", &progress);
    assert!(!dead.partial.exists() && !dead.work.exists());
    assert!(busy.partial.exists(), "a running build's file was removed");
    assert!(e.tar.exists());
    assert_eq!(lines.borrow().len(), 2, "{:?}", lines.borrow());
}

#[test]
fn hook_texts_are_valid_shell() {
    for (name, text, _) in hooks::FILES {
        if name.ends_with(".service") {
            continue;
        }
        let shell = if text.starts_with("#!/bin/sh") {
            "sh"
        } else {
            "bash"
        };
        let out = Command::new(shell)
            .arg("-n")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin.take().unwrap().write_all(text.as_bytes())?;
                c.wait_with_output()
            })
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn lsb_header_and_unit_order_the_imds_step_before_ssh() {
    assert!(hooks::IMDS_INIT.contains("# Required-Start:    $network $remote_fs"));
    assert!(hooks::IMDS_INIT.contains("# X-Start-Before:    ssh"));
    for line in [
        "After=network-online.target",
        "Wants=network-online.target",
        "Before=ssh.service",
        "Type=oneshot",
        "WantedBy=multi-user.target",
    ] {
        assert!(hooks::IMDS_UNIT.lines().any(|l| l == line), "{line}");
    }
}

/// A fake mmdebstrap that writes a small tar with a dpkg status file to
/// its output argument, slowly, and counts its runs.
fn fake_mmdebstrap(dir: &Path) -> PathBuf {
    let fake = dir.join("mmdebstrap");
    let script = r#"#!/bin/bash
set -e
out=${@: -2:1}
here=$(dirname "$0")
echo run >>"$here/runs"
tree=$(mktemp -d)
mkdir -p "$tree/var/lib/dpkg"
printf 'Package: base-files\nStatus: install ok installed\nVersion: 12\n' >"$tree/var/lib/dpkg/status"
sleep 1
echo 'I: creating tarball...' >&2
tar -cf "$out" -C "$tree" .
rm -rf "$tree"
"#;
    std::fs::write(&fake, script).unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    fake
}

#[test]
fn concurrent_builds_of_one_key_build_once() {
    let cache = tempfile::tempdir().unwrap();
    let bin = tempfile::tempdir().unwrap();
    let opts = BuildOptions {
        mmdebstrap: fake_mmdebstrap(bin.path()).into_os_string(),
        mode: Some(Mode::Root),
        ..BuildOptions::default()
    };
    let mut spec = RootfsSpec::bookworm(Init::Sysvinit);
    spec.mirror = Some("http://deb.debian.org/debian".into());
    let results: Vec<Rootfs> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..3)
            .map(|_| s.spawn(|| build_with(&spec, cache.path(), &|_| {}, &opts).unwrap()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let runs = std::fs::read_to_string(bin.path().join("runs")).unwrap();
    assert_eq!(runs.lines().count(), 1, "mmdebstrap ran more than once");
    assert_eq!(results.iter().filter(|r| !r.cache_hit).count(), 1);
    for r in &results {
        assert_eq!(r.packages, ["base-files=12"]);
        assert_eq!(r.bytes, std::fs::metadata(&r.tar).unwrap().len());
        assert_eq!(
            r.tar,
            cache.path().join("rootfs").join(format!("{}.tar", r.key))
        );
    }
    let again = build_with(&spec, cache.path(), &|_| {}, &opts).unwrap();
    assert!(again.cache_hit);
    let mut names: Vec<_> = std::fs::read_dir(cache.path().join("rootfs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let key = &again.key;
    assert_eq!(
        names,
        [
            format!("{key}.json"),
            format!("{key}.lock"),
            format!("{key}.tar")
        ]
    );
}

#[test]
fn an_interrupted_build_is_cleaned_up_and_redone() {
    let cache = tempfile::tempdir().unwrap();
    let bin = tempfile::tempdir().unwrap();
    let opts = BuildOptions {
        mmdebstrap: fake_mmdebstrap(bin.path()).into_os_string(),
        mode: Some(Mode::Root),
        ..BuildOptions::default()
    };
    let mut spec = RootfsSpec::bookworm(Init::Systemd);
    spec.mirror = Some("http://deb.debian.org/debian".into());
    let key = cache_key(&spec);
    let dir = cache.path().join("rootfs");
    std::fs::create_dir_all(dir.join(format!("{key}.work/tmp/mmdebstrap.x/etc"))).unwrap();
    std::fs::write(dir.join(format!("{key}.tar.partial")), b"half a tar").unwrap();
    // A tar without a sidecar is not an entry.
    std::fs::write(dir.join(format!("{key}.tar")), b"orphan").unwrap();
    let lines = RefCell::new(vec![]);
    let r = build_with(
        &spec,
        cache.path(),
        &|l| lines.borrow_mut().push(l.to_string()),
        &opts,
    )
    .unwrap();
    assert!(!r.cache_hit);
    assert_eq!(r.packages, ["base-files=12"]);
    assert!(!dir.join(format!("{key}.work")).exists());
    assert!(!dir.join(format!("{key}.tar.partial")).exists());
    let lines = lines.into_inner();
    assert!(
        lines
            .iter()
            .any(|l| l.contains(".work (an interrupted build)")),
        "{lines:?}"
    );
}

proptest::proptest! {
    /// Any spec, however odd: the key is a safe file name and validation
    /// answers without panicking.
    #[test]
    fn cache_key_is_a_file_name_for_any_spec(
        suite in "\\PC{0,80}",
        extra in proptest::collection::vec("\\PC{0,20}", 0..4),
        mirror in proptest::option::of("\\PC{0,40}"),
        systemd in proptest::bool::ANY,
    ) {
        let spec = RootfsSpec {
            init: if systemd { Init::Systemd } else { Init::Sysvinit },
            suite,
            extra_packages: extra,
            mirror,
        };
        let k = cache_key_in(&spec, Path::new("/nonexistent"));
        proptest::prop_assert!(k.len() <= 32 + "-sysvinit-".len() + 24, "{}", k);
        proptest::prop_assert!(
            k.bytes().all(|c| c.is_ascii_alphanumeric() || b"-._".contains(&c)),
            "{}",
            k
        );
        proptest::prop_assert!(!k.starts_with('.'), "{}", k);
        let _ = validate(&spec);
    }
}
