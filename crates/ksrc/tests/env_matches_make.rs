//! `kconfig_env` must hand the engine what make hands conf.
//!
//! For several architectures of both supported trees we run the real
//! `make -C <tree> O=<dir> ARCH=<arch> allnoconfig` under strace, take the
//! environment of the `scripts/kconfig/conf` execve and compare it with ours:
//! every variable we produce must have make's value, and every variable we
//! leave out must be one conf cannot observe. A second test backs that claim
//! by checking that no Kconfig file, and no script Kconfig runs, mentions a
//! variable we leave out.
//!
//! Needs strace, make, gcc and the extracted trees under the ktailor cache
//! (`apt-get install -y strace linux-source-6.12 linux-source-6.1`); fails,
//! saying so, when they are missing. Real tier: `scripts/test` runs these
//! with `--include-ignored`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use ksrc::{kconfig_env_with, KernelTree, UNOBSERVED_VARS};
use ktestkit::tree;

fn have(tool: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn process_env() -> BTreeMap<String, String> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

/// Undoes strace's C-style string escaping.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' || i + 1 >= b.len() {
            out.push(b[i]);
            i += 1;
            continue;
        }
        i += 1;
        match b[i] {
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'r' => out.push(b'\r'),
            b'v' => out.push(0x0b),
            b'f' => out.push(0x0c),
            b'x' => {
                let h = std::str::from_utf8(&b[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(h, 16).unwrap());
                i += 2;
            }
            b'0'..=b'7' => {
                let mut n = 0u32;
                let mut j = 0;
                while j < 3 && i + j < b.len() && (b'0'..=b'7').contains(&b[i + j]) {
                    n = n * 8 + u32::from(b[i + j] - b'0');
                    j += 1;
                }
                out.push(n as u8);
                i += j - 1;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

/// The quoted strings of one strace array argument.
fn strings(array: &str) -> Vec<String> {
    let mut out = Vec::new();
    let b = array.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'"' {
            let start = i + 1;
            i += 1;
            while b[i] != b'"' {
                if b[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            out.push(unescape(&array[start..i]));
        }
        i += 1;
    }
    out
}

/// Runs make under strace and returns conf's environment.
fn conf_env_from_make(
    tree: &KernelTree,
    objdir: &Path,
    arch: &str,
    env: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let traces = tempfile::tempdir().unwrap();
    let prefix = traces.path().join("t");
    let out = Command::new("strace")
        .args(["-f", "-ff", "-qq", "--seccomp-bpf", "-v", "-s", "1000000"])
        .args(["-e", "trace=execve", "-o"])
        .arg(&prefix)
        .arg("make")
        .arg("-C")
        .arg(&tree.root)
        .arg(format!("O={}", objdir.display()))
        .arg(format!("ARCH={arch}"))
        .arg("allnoconfig")
        .env_clear()
        .envs(env)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    for entry in std::fs::read_dir(traces.path()).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for line in text.lines() {
            let Some(rest) = line.strip_prefix("execve(\"") else {
                continue;
            };
            let (path, rest) = rest.split_once('"').unwrap();
            if !path.ends_with("scripts/kconfig/conf") || !line.ends_with("= 0") {
                continue;
            }
            // execve("path", [argv...], [envp...]) = 0
            let envp_start = rest.find("], [").unwrap() + 3;
            let envp_end = rest.rfind("]) = 0").unwrap();
            return strings(&rest[envp_start..envp_end])
                .into_iter()
                .filter_map(|kv| {
                    let (k, v) = kv.split_once('=')?;
                    Some((k.to_string(), v.to_string()))
                })
                .collect();
        }
    }
    panic!(
        "make never ran conf for ARCH={arch}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Names an arch's Makefiles export for the kernel build itself.
fn arch_exports(tree: &KernelTree) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut stack = vec![tree.root.join("arch")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.starts_with("Makefile") && !name.ends_with(".um") && !name.ends_with(".cpu") {
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&p) else {
                continue;
            };
            for line in text.lines() {
                let t = line.trim_start();
                let Some(rest) = t.strip_prefix("export") else {
                    continue;
                };
                if !rest.starts_with([' ', '\t']) {
                    continue;
                }
                let decl = rest.split(['=', ':', '?', '+']).next().unwrap_or("");
                names.extend(decl.split_whitespace().map(str::to_string));
            }
        }
    }
    names
}

/// Compares one configuration and returns readable differences.
fn compare(
    label: &str,
    ours: &BTreeMap<String, String>,
    make: &BTreeMap<String, String>,
    arch_private: &BTreeSet<String>,
) -> Vec<String> {
    let mut diffs = Vec::new();
    // Guard against comparing nothing: conf always sees these.
    for k in [
        "CC",
        "CC_VERSION_TEXT",
        "srctree",
        "SRCARCH",
        "KERNELVERSION",
        "PATH",
    ] {
        if !make.contains_key(k) || !ours.contains_key(k) {
            diffs.push(format!(
                "{label}: {k} absent (make has {} variables)",
                make.len()
            ));
        }
    }
    if std::env::var_os("KSRC_SHOW_SKIPPED").is_some() {
        let skipped: Vec<&String> = make.keys().filter(|k| !ours.contains_key(*k)).collect();
        eprintln!("{label}: {} equal, left out: {skipped:?}", ours.len());
    }
    for (k, v) in ours {
        match make.get(k) {
            Some(m) if m == v => {}
            Some(m) => diffs.push(format!("{label}: {k}: ours {v:?}, make {m:?}")),
            None => diffs.push(format!("{label}: {k}={v:?} is not in conf's environment")),
        }
    }
    for (k, v) in make {
        if !ours.contains_key(k)
            && !UNOBSERVED_VARS.contains(&k.as_str())
            && !arch_private.contains(k)
        {
            diffs.push(format!("{label}: missing {k}={v:?}"));
        }
    }
    diffs
}

/// A `clang` that reports itself as clang but compiles with gcc, so make
/// takes its clang branch (CLANG_FLAGS) and can still build conf.
fn fake_llvm_bin() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let script = "#!/bin/sh\n\
        if [ \"$1\" = --version ]; then echo 'Debian clang version 14.0.6'; \
        echo 'Target: x86_64-pc-linux-gnu'; exit 0; fi\nexec gcc \"$@\"\n";
    let p = dir.path().join("clang");
    std::fs::write(&p, script).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

fn check_version(ver: &str, arches: &[&str], llvm_arch: Option<&str>) -> Vec<String> {
    let tree = tree(ver);
    let objdir = tempfile::tempdir().unwrap();
    let arch_private = arch_exports(&tree);
    let base = process_env();
    let mut diffs = Vec::new();
    for arch in arches {
        let make = conf_env_from_make(&tree, objdir.path(), arch, &base);
        let ours = kconfig_env_with(&tree, arch, &base).unwrap();
        diffs.extend(compare(
            &format!("{ver} {arch}"),
            &ours.vars,
            &make,
            &arch_private,
        ));
    }
    if let Some(arch) = llvm_arch {
        let bin = fake_llvm_bin();
        let mut env = base.clone();
        env.insert("LLVM".into(), "1".into());
        env.insert("CLANG_FLAGS".into(), "from-the-environment".into());
        env.insert(
            "PATH".into(),
            format!("{}:{}", bin.path().display(), base["PATH"]),
        );
        let make = conf_env_from_make(&tree, objdir.path(), arch, &env);
        let ours = kconfig_env_with(&tree, arch, &env).unwrap();
        assert!(ours.vars.contains_key("CLANG_FLAGS"));
        diffs.extend(compare(
            &format!("{ver} {arch} LLVM=1"),
            &ours.vars,
            &make,
            &arch_private,
        ));
    }
    diffs
}

#[test]
#[ignore = "real tier: needs the kernel trees, make and strace (scripts/test runs it)"]
fn env_matches_make() {
    for tool in ["strace", "make", "gcc"] {
        assert!(
            have(tool),
            "{tool} is not installed: run scripts/setup (apt-get install -y {tool})"
        );
    }
    // One thread per tree: each tree's runs share an object directory, so
    // conf is compiled once per tree.
    let t612 = std::thread::spawn(|| {
        check_version(
            "6.12",
            &["x86_64", "arm64", "riscv", "um", "powerpc", "alpha"],
            Some("x86_64"),
        )
    });
    let t61 =
        std::thread::spawn(|| check_version("6.1", &["x86_64", "um", "powerpc"], Some("arm64")));
    let mut diffs = t612.join().unwrap();
    diffs.extend(t61.join().unwrap());
    assert!(
        diffs.is_empty(),
        "conf's environment differs:\n{}",
        diffs.join("\n")
    );
}

/// Files under `dir` whose name starts with `Kconfig`.
fn kconfig_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if p.is_dir() {
            if !matches!(name.as_str(), "Documentation" | "tools" | "tests" | ".git") {
                kconfig_files(&p, out);
            }
        } else if name.starts_with("Kconfig") {
            out.push(p);
        }
    }
}

/// Every variable `text` reads as `$(NAME)`, `${NAME}` or `$NAME`.
fn referenced(text: &str) -> BTreeSet<String> {
    let b = text.as_bytes();
    let mut out = BTreeSet::new();
    for (i, _) in text.match_indices('$') {
        let mut j = i + 1;
        if matches!(b.get(j), Some(b'(') | Some(b'{')) {
            j += 1;
        }
        let start = j;
        while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
            j += 1;
        }
        if j > start {
            out.insert(text[start..j].to_string());
        }
    }
    out
}

#[test]
#[ignore = "real tier: needs the kernel trees (scripts/test runs it)"]
fn unobserved_vars_are_unreferenced() {
    // Shells recompute these themselves, so a script's $PWD is never the
    // value make passed.
    let shell_own = ["PWD", "OLDPWD", "SHLVL", "_"];
    for ver in ["6.12", "6.1"] {
        let tree = tree(ver);
        let mut files = Vec::new();
        kconfig_files(&tree.root, &mut files);
        assert!(
            files.len() > 100,
            "{ver}: found only {} Kconfig files",
            files.len()
        );
        // Scripts Kconfig runs: every $(srctree)/... it names.
        let mut scripts = BTreeSet::new();
        let mut texts = Vec::new();
        for f in &files {
            let text = std::fs::read_to_string(f).unwrap_or_default();
            for (i, _) in text.match_indices("$(srctree)/") {
                let rest = &text[i + "$(srctree)/".len()..];
                let end = rest
                    .find(|c: char| c.is_whitespace() || c == ')' || c == ',')
                    .unwrap_or(rest.len());
                scripts.insert(tree.root.join(&rest[..end]));
            }
            texts.push((f.clone(), referenced(&text)));
        }
        for s in &scripts {
            if s.is_file() {
                let text = std::fs::read_to_string(s).unwrap_or_default();
                texts.push((s.clone(), referenced(&text)));
            }
        }
        assert!(
            scripts.len() > 10,
            "{ver}: found only {} scripts",
            scripts.len()
        );
        let mut unobserved: BTreeSet<String> =
            UNOBSERVED_VARS.iter().map(|s| s.to_string()).collect();
        // Arch exports we do reproduce because Kconfig reads them.
        let arch_private: BTreeSet<String> = arch_exports(&tree)
            .into_iter()
            .filter(|n| !matches!(n.as_str(), "SUBARCH" | "HEADER_ARCH"))
            .collect();
        unobserved.extend(arch_private);
        // Positive controls: the scan does see what Kconfig really reads.
        for (name, file) in [
            ("CLANG_FLAGS", "Kconfig.include"),
            ("RUST_LIB_SRC", "rust_is_available.sh"),
        ] {
            assert!(
                texts
                    .iter()
                    .any(|(p, t)| p.ends_with(file) && t.contains(name)),
                "{ver}: scan misses {name} in {file}"
            );
        }
        let mut hits = Vec::new();
        for name in unobserved
            .iter()
            .filter(|n| !shell_own.contains(&n.as_str()))
        {
            for (path, text) in &texts {
                if text.contains(name) {
                    hits.push(format!("{ver}: {} reads {name}", path.display()));
                }
            }
        }
        assert!(hits.is_empty(), "{}", hits.join("\n"));
    }
}
