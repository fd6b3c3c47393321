//! The environment `make ARCH=<arch> O=<dir> allnoconfig` gives conf.
//!
//! conf observes its environment in three ways: Kconfig's `$(VAR)` falls back
//! to `getenv` for names Kconfig does not define (CC, srctree, SRCARCH,
//! CC_VERSION_TEXT, ...), conf itself reads `KCONFIG_*`, and every
//! `$(shell,...)` command inherits the environment (`$CC` in init/Kconfig,
//! rustc honouring RUSTC_BOOTSTRAP, scripts reading RUST_LIB_SRC). So the
//! environment is the process environment overlaid with everything the
//! kernel's Makefiles export, exactly as make would.
//!
//! We derive it by reading a few assignments whose shape has been stable
//! across 6.x kernels, plus per-architecture knowledge for the arch Makefiles
//! that compute KBUILD_DEFCONFIG, CROSS_COMPILE or NM; the test
//! `tests/env_matches_make.rs` checks the result against the environment
//! strace sees make pass to conf.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::make::{self, which};
use crate::tree::{self, KernelTree};

/// Variables make passes to conf that we deliberately leave out of
/// [`KconfigEnv::vars`] (or do not reproduce exactly), because neither conf
/// nor anything its `$(shell,...)` commands run can observe them. No Kconfig
/// file or script run from Kconfig mentions any of them; the integration test
/// checks that for both supported trees.
///
/// - make's recursion bookkeeping (`MAKEFLAGS`, `MAKELEVEL`, `MFLAGS`,
///   `MAKEOVERRIDES`, `MAKE_TERMOUT`, `MAKE_TERMERR`): conf runs no make.
/// - shell bookkeeping every shell rewrites (`PWD`, `OLDPWD`, `SHLVL`, `_`):
///   the values depend on where make was started, and the shells conf spawns
///   recompute them from their own working directory anyway.
/// - the output directory (`O`, `abs_objtree`): ktailor has none; conf
///   only sees it as its working directory.
/// - make's verbosity (`quiet`, `Q`, `KBUILD_VERBOSE`).
/// - flags for compiling the kernel and host programs (`KBUILD_CFLAGS` and
///   friends, `LINUXINCLUDE`, `CHECKFLAGS`, `CPP`, ...): arch Makefiles build
///   them with dozens of compiler probes, which is most of what makes
///   `make *config` slow, and Kconfig never reads them.
/// - `UTS_MACHINE` and `PAHOLE_FLAGS`, computed for the kernel build proper.
///
/// Besides these, names an arch Makefile exports for its own build (`BITS`,
/// `REALMODE_CFLAGS`, `LDS_START`, ...) are not reproduced; the exceptions
/// that Kconfig does read (um's `SUBARCH` and `HEADER_ARCH`) are.
pub const UNOBSERVED_VARS: &[&str] = &[
    "MAKEFLAGS",
    "MAKELEVEL",
    "MFLAGS",
    "MAKEOVERRIDES",
    "MAKE_TERMOUT",
    "MAKE_TERMERR",
    "PWD",
    "OLDPWD",
    "SHLVL",
    "_",
    "O",
    "abs_objtree",
    "quiet",
    "Q",
    "KBUILD_VERBOSE",
    "KBUILD_CFLAGS",
    "KBUILD_AFLAGS",
    "KBUILD_CPPFLAGS",
    "KBUILD_LDFLAGS",
    "KBUILD_RUSTFLAGS",
    "KBUILD_RUSTFLAGS_OPTION_CHKS",
    "KBUILD_AFLAGS_KERNEL",
    "KBUILD_CFLAGS_KERNEL",
    "KBUILD_RUSTFLAGS_KERNEL",
    "KBUILD_AFLAGS_MODULE",
    "KBUILD_CFLAGS_MODULE",
    "KBUILD_RUSTFLAGS_MODULE",
    "KBUILD_LDFLAGS_MODULE",
    "KBUILD_HOSTCFLAGS",
    "KBUILD_HOSTCXXFLAGS",
    "KBUILD_HOSTLDFLAGS",
    "KBUILD_HOSTLDLIBS",
    "KBUILD_HOSTRUSTFLAGS",
    "KBUILD_USERCFLAGS",
    "KBUILD_USERLDFLAGS",
    "CFLAGS_KERNEL",
    "CFLAGS_MODULE",
    "AFLAGS_KERNEL",
    "AFLAGS_MODULE",
    "RUSTFLAGS_KERNEL",
    "RUSTFLAGS_MODULE",
    "LDFLAGS_MODULE",
    "NOSTDINC_FLAGS",
    "LINUXINCLUDE",
    "OBJCOPYFLAGS",
    "CHECKFLAGS",
    "CPP",
    "UTS_MACHINE",
    "PAHOLE_FLAGS",
];

/// Everything conf is given for one architecture of one tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KconfigEnv {
    /// ARCH as given on make's command line.
    pub arch: String,
    /// The directory under arch/ that ARCH selects (x86 for x86_64, ...).
    pub srcarch: String,
    /// Top Kconfig file relative to srctree (KBUILD_KCONFIG or `Kconfig`).
    pub kconfig: String,
    /// KBUILD_DEFCONFIG after the arch Makefile and scripts/kconfig/Makefile
    /// have had their say; `make defconfig` reads arch/SRCARCH/configs/this.
    pub defconfig: String,
    /// conf's environment, less [`UNOBSERVED_VARS`].
    pub vars: BTreeMap<String, String>,
}

/// Derives conf's environment for `make -C <tree> O=<dir> ARCH=<arch>
/// allnoconfig` run from this process's environment, cleaned the way
/// ktailor runs every `make` ([`ksys::make_env::clean`]: no `LLVM`,
/// `CROSS_COMPILE`, `KCONFIG_*`, `KBUILD_*`... from the user's shell; its
/// `LC_ALL=C` does not matter, the top Makefile unexports `LC_ALL`). A
/// config computed here is then the one kbuild's `make olddefconfig`
/// leaves alone: an `LLVM=1` in the shell would otherwise give a clang
/// config that the gcc build rejects. [`kconfig_env_with`] takes such
/// variables on purpose.
///
/// Environment entries that are not valid UTF-8 are skipped: Kconfig and its
/// scripts work on text, and `Host::getenv` returns `String`.
pub fn kconfig_env(tree: &KernelTree, arch: &str) -> Result<KconfigEnv> {
    let process: BTreeMap<String, String> = std::env::vars_os()
        .filter(|(k, _)| ksys::make_env::inherits(k))
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    derive(tree, arch, process)
}

/// [`kconfig_env`] as if make were started with `process_env` instead of
/// this process's environment: how callers select `LLVM=1`, `CROSS_COMPILE`
/// or `KBUILD_KCONFIG` without mutating their own environment.
pub fn kconfig_env_with(
    tree: &KernelTree,
    arch: &str,
    process_env: &BTreeMap<String, String>,
) -> Result<KconfigEnv> {
    derive(tree, arch, process_env.clone())
}

/// The ARCH to SRCARCH mapping of the top Makefile (`make ARCH=x86_64`
/// reads arch/x86/).
pub fn srcarch_of(arch: &str) -> &str {
    match arch {
        "i386" | "x86_64" => "x86",
        "sparc64" => "sparc",
        "parisc64" => "parisc",
        "sh64" => "sh",
        other => other,
    }
}

/// What the top Makefile exports for config targets, read from the part of
/// the file make evaluates for them (everything before the build-only
/// `else #!config-build` branch).
struct TopMakefile {
    exports: BTreeSet<String>,
    /// `export NAME := literal` lines: static values we can copy verbatim.
    literal_exports: Vec<(String, String)>,
}

impl TopMakefile {
    fn parse(text: &str) -> TopMakefile {
        let mut exports = BTreeSet::new();
        let mut literal_exports = Vec::new();
        for line in make::logical_lines(text) {
            let t = line.trim_start();
            if t.starts_with("else") && t.contains("config-build") {
                break;
            }
            for name in make::exported_names(&line) {
                exports.insert(name.to_string());
            }
            if let Some(a) = make::assignment(&line) {
                if a.exported && matches!(a.op, ":=" | "=") && !a.value.contains('$') {
                    literal_exports.push((a.name.to_string(), a.value.to_string()));
                }
            }
        }
        TopMakefile {
            exports,
            literal_exports,
        }
    }
}

/// The SUBARCH rule of scripts/subarch.include: its `$(shell ...)` command,
/// run as make would run it.
fn subarch(root: &Path, env: &BTreeMap<String, String>) -> Result<String> {
    let path = root.join("scripts/subarch.include");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    for line in make::logical_lines(&text) {
        if let Some(a) = make::assignment(&line) {
            if a.name == "SUBARCH" {
                let cmd = a
                    .value
                    .trim_end()
                    .strip_prefix("$(shell ")
                    .and_then(|c| c.strip_suffix(')'))
                    .with_context(|| format!("unexpected SUBARCH rule in {}", path.display()))?;
                return Ok(make::make_shell(&cmd.replace("$$", "$"), env));
            }
        }
    }
    bail!("no SUBARCH rule in {}", path.display())
}

/// An arch Makefile, split into logical lines with their conditional depth.
struct ArchMakefile {
    lines: Vec<(i32, String)>,
    text: String,
}

impl ArchMakefile {
    fn read(root: &Path, srcarch: &str) -> Result<ArchMakefile> {
        let path = root.join("arch").join(srcarch).join("Makefile");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let mut depth = 0;
        let mut lines = Vec::new();
        for line in make::logical_lines(&text) {
            let d = make::conditional_delta(&line);
            if d < 0 {
                depth += d;
            }
            lines.push((depth, line.clone()));
            if d > 0 {
                depth += d;
            }
        }
        Ok(ArchMakefile { lines, text })
    }

    /// Values assigned to `name`, with their conditional depth.
    fn assignments(&self, name: &str) -> Vec<(i32, String, String)> {
        self.lines
            .iter()
            .filter_map(|(d, l)| {
                let a = make::assignment(l)?;
                (a.name == name).then(|| (*d, a.op.to_string(), a.value.to_string()))
            })
            .collect()
    }
}

/// KBUILD_DEFCONFIG as arch/SRCARCH/Makefile sets it, or None when it does
/// not. Most arches assign a literal; the few that choose by ARCH or by the
/// build machine are spelled out here.
fn arch_defconfig(
    mk: &ArchMakefile,
    srcarch: &str,
    arch: &str,
    subarch: &str,
    uname_m: &str,
) -> Option<String> {
    let assigned = mk.assignments("KBUILD_DEFCONFIG");
    if assigned.is_empty() {
        return None;
    }
    let is_i386 = |m: &str| m.len() == 4 && m.starts_with('i') && m.ends_with("86");
    let special = match srcarch {
        "x86" if arch == "x86" => Some(if is_i386(uname_m) {
            "i386_defconfig".to_string()
        } else {
            "x86_64_defconfig".to_string()
        }),
        "x86" => Some(format!("{arch}_defconfig")),
        "sparc" => Some(if arch == "sparc64" {
            "sparc64_defconfig".to_string()
        } else {
            "sparc32_defconfig".to_string()
        }),
        "parisc" => Some(if arch == "parisc64" {
            "generic-64bit_defconfig".to_string()
        } else {
            "generic-32bit_defconfig".to_string()
        }),
        "um" if subarch == "x86" => Some(if uname_m == "x86_64" {
            "x86_64_defconfig".to_string()
        } else {
            "i386_defconfig".to_string()
        }),
        "um" => Some(format!("{subarch}_defconfig")),
        "powerpc" => {
            // $(if $(filter ppc%,$(uname)),$(uname),FALLBACK)_defconfig
            let v = &assigned[0].2;
            let fallback = v
                .split_once("$(uname),")
                .and_then(|(_, r)| r.split_once(')'))
                .map(|(f, _)| f.to_string());
            fallback.map(|f| {
                let base = if uname_m.starts_with("ppc") {
                    uname_m.to_string()
                } else {
                    f
                };
                format!("{base}_defconfig")
            })
        }
        _ => None,
    };
    special.or_else(|| {
        assigned
            .iter()
            .map(|(_, _, v)| v.trim_end())
            .find(|v| !v.contains('$') && !v.is_empty())
            .map(str::to_string)
    })
}

/// The prefixes an arch Makefile hands to `cc-cross-prefix`, if it would
/// call it. Most only do when the (never set by Kbuild itself, so in practice
/// user-supplied) `cross_compiling` variable is defined.
fn cross_prefix_candidates(
    mk: &ArchMakefile,
    srcarch: &str,
    arch: &str,
    subarch: &str,
    cross_compiling: bool,
) -> Vec<String> {
    if !mk.text.contains("cc-cross-prefix") {
        return Vec::new();
    }
    let words = |s: &str| s.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    let product = |arches: &[&str], suffixes: &[&str]| {
        arches
            .iter()
            .flat_map(|a| suffixes.iter().map(move |s| format!("{a}-{s}-")))
            .collect::<Vec<_>>()
    };
    // CONFIG_32BIT/CONFIG_64BIT are unset while configuring, so the
    // $(tool-archpref) part of these prefixes expands to nothing.
    let no_archpref = || words("-linux- -linux-gnu- -unknown-linux-gnu-");
    match srcarch {
        "arc" => words("arc-linux- arceb-linux- arc-linux-gnu-"),
        "loongarch" if subarch != arch => no_archpref(),
        "mips" if cross_compiling => no_archpref(),
        "m68k" if cross_compiling => words("m68k-linux-gnu- m68k-linux- m68k-unknown-linux-gnu-"),
        "sh" if cross_compiling => words("sh-linux- sh-linux-gnu- sh-unknown-linux-gnu-"),
        "powerpc" if cross_compiling => product(
            &["powerpc", "powerpc64", "powerpc64le"],
            &["linux", "linux-gnu", "unknown-linux-gnu"],
        ),
        "parisc" if cross_compiling => {
            let arches: &[&str] = if arch == "parisc64" {
                &["hppa64"]
            } else {
                &["hppa", "hppa2.0", "hppa1.1"]
            };
            product(
                arches,
                &["linux", "linux-gnu", "unknown-linux-gnu", "suse-linux"],
            )
        }
        _ => Vec::new(),
    }
}

/// CLANG_FLAGS as scripts/Makefile.clang builds them.
fn clang_flags(
    root: &Path,
    srcarch: &str,
    subarch: &str,
    cross: &str,
    llvm_ias: Option<&str>,
    path: Option<&str>,
) -> Result<String> {
    let file = root.join("scripts/Makefile.clang");
    let text = std::fs::read_to_string(&file)
        .with_context(|| format!("cannot read {}", file.display()))?;
    let mut targets = BTreeMap::new();
    let mut werrors = Vec::new();
    for line in make::logical_lines(&text) {
        if let Some(a) = make::assignment(&line) {
            if let Some(arch) = a.name.strip_prefix("CLANG_TARGET_FLAGS_") {
                targets.insert(arch.to_string(), a.value.trim_end().to_string());
            } else if a.name == "CLANG_FLAGS" && a.op == "+=" && a.value.starts_with("-Werror=") {
                werrors.push(a.value.trim_end().to_string());
            }
        }
    }
    let key = if srcarch == "um" { subarch } else { srcarch };
    let target = targets
        .get(key)
        .filter(|t| !t.contains('$'))
        .cloned()
        .unwrap_or_default();
    let mut flags = Vec::new();
    if text.contains("CROSS_COMPILE:%-=%") && !cross.is_empty() {
        let words: Vec<String> = cross
            .split_whitespace()
            .map(|w| w.strip_suffix('-').unwrap_or(w))
            .map(|w| w.rsplit('/').next().unwrap_or(w).to_string())
            .collect();
        flags.push(format!("--target={}", words.join(" ")));
    } else if target.is_empty() {
        bail!(
            "scripts/Makefile.clang has no --target for {key}; make stops here too \
             (set CROSS_COMPILE, or build {key} with gcc)"
        );
    } else {
        flags.push(format!("--target={target}"));
    }
    if llvm_ias == Some("0") {
        flags.push("-fno-integrated-as".to_string());
        let dir = which(&format!("{cross}elfedit"), path)
            .and_then(|p| p.parent().map(|d| format!("{}/", d.display())))
            .unwrap_or_default();
        let notdir = cross.rsplit('/').next().unwrap_or(cross);
        flags.push(format!("--prefix={dir}{notdir}"));
    } else {
        flags.push("-fintegrated-as".to_string());
    }
    flags.extend(werrors);
    Ok(flags.join(" "))
}

/// Variables make removes from the environment or that describe a make or
/// shell process rather than the build.
const DROPPED_FROM_PROCESS: &[&str] = &[
    "LC_ALL",
    "GREP_OPTIONS",
    "CONFIG_",
    "MAKEFLAGS",
    "MAKELEVEL",
    "MFLAGS",
    "MAKEOVERRIDES",
    "MAKE_TERMOUT",
    "MAKE_TERMERR",
    "PWD",
    "OLDPWD",
    "SHLVL",
    "_",
    "O",
    "abs_objtree",
];

/// Tool names the top Makefile assigns unconditionally (checked against both
/// supported trees by a unit test).
const TOOL_DEFAULTS: &[(&str, &str)] = &[
    ("CONFIG_SHELL", "sh"),
    ("BASH", "bash"),
    ("HOSTPKG_CONFIG", "pkg-config"),
    ("HOSTRUSTC", "rustc"),
    ("RUSTC", "rustc"),
    ("RUSTDOC", "rustdoc"),
    ("RUSTFMT", "rustfmt"),
    ("BINDGEN", "bindgen"),
    ("CARGO", "cargo"),
    ("PAHOLE", "pahole"),
    (
        "RESOLVE_BTFIDS",
        "./tools/bpf/resolve_btfids/resolve_btfids",
    ),
    ("LEX", "flex"),
    ("YACC", "bison"),
    ("AWK", "awk"),
    ("INSTALLKERNEL", "installkernel"),
    ("PERL", "perl"),
    ("PYTHON3", "python3"),
    ("CHECK", "sparse"),
    ("KGZIP", "gzip"),
    ("KBZIP2", "bzip2"),
    ("KLZOP", "lzop"),
    ("LZMA", "lzma"),
    ("LZ4", "lz4"),
    ("XZ", "xz"),
    ("ZSTD", "zstd"),
    ("MAKE", "make"),
];

fn derive(
    tree: &KernelTree,
    arch: &str,
    mut process: BTreeMap<String, String>,
) -> Result<KconfigEnv> {
    if arch.is_empty()
        || !arch
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        bail!("ARCH {arch:?} is not an architecture name (try x86_64, arm64, riscv, um, ...)");
    }
    let srcarch = srcarch_of(arch).to_string();
    let root = &tree.root;
    if !root.join("arch").join(&srcarch).join("Makefile").is_file() {
        let mut known: Vec<String> = std::fs::read_dir(root.join("arch"))
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter(|e| e.path().join("Makefile").is_file())
                    .filter_map(|e| e.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default();
        known.sort();
        bail!(
            "ARCH={arch}: {} has no arch/{srcarch}; pick one of: {} (or i386/x86_64 for x86)",
            root.display(),
            known.join(" ")
        );
    }
    let non_empty =
        |m: &BTreeMap<String, String>, k: &str| m.get(k).filter(|v| !v.is_empty()).cloned();
    if non_empty(&process, "KBUILD_EXTMOD").is_some() {
        bail!(
            "KBUILD_EXTMOD is set; with it make builds an external module and never runs conf. \
             Unset it"
        );
    }
    let had = |k: &str| process.contains_key(k);
    let had_subarch = had("SUBARCH");
    let had_clang_flags = had("CLANG_FLAGS");
    for k in DROPPED_FROM_PROCESS {
        process.remove(*k);
    }
    let p = process.clone();
    let path = p.get("PATH").cloned();
    let path = path.as_deref();

    let srctree = root
        .to_str()
        .with_context(|| format!("{} is not valid UTF-8; move the tree", root.display()))?
        .to_string();
    let top_text = std::fs::read_to_string(root.join("Makefile"))
        .with_context(|| format!("cannot read {}/Makefile", root.display()))?;
    let top = TopMakefile::parse(&top_text);
    let [version, patchlevel, sublevel, _] = tree::version_fields(&top_text)?;
    let kernelversion = tree::kernelversion(&top_text)?;

    let mut vars = p.clone();
    // Only what the Makefile really exports reaches conf; variables that
    // exist only in some versions (CARGO, CLIPPY_CONF_DIR, ...) drop out here.
    let put = |vars: &mut BTreeMap<String, String>, k: &str, v: String| {
        if top.exports.contains(k) {
            vars.insert(k.to_string(), v);
        }
    };
    for (k, v) in &top.literal_exports {
        put(&mut vars, k, v.clone());
    }

    let subarch = subarch(root, &p)?;
    let uname_m = make::make_shell("uname -m", &p);
    let mk = ArchMakefile::read(root, &srcarch)?;

    put(&mut vars, "LC_COLLATE", "C".into());
    put(&mut vars, "LC_NUMERIC", "C".into());
    put(
        &mut vars,
        "KBUILD_CHECKSRC",
        non_empty(&p, "KBUILD_CHECKSRC").unwrap_or_else(|| "0".into()),
    );
    let clippy = p.get("KBUILD_CLIPPY").cloned().unwrap_or_default();
    put(&mut vars, "KBUILD_CLIPPY", clippy.clone());
    put(&mut vars, "KBUILD_EXTMOD", String::new());
    let extra_warn = if top.exports.contains("KBUILD_EXTRA_WARN") {
        let w = non_empty(&p, "KBUILD_EXTRA_WARN")
            .or_else(|| p.get("KBUILD_ENABLE_EXTRA_GCC_CHECKS").cloned())
            .unwrap_or_default();
        put(&mut vars, "KBUILD_EXTRA_WARN", w.clone());
        w
    } else {
        p.get("KBUILD_EXTRA_WARN").cloned().unwrap_or_default()
    };
    put(&mut vars, "abs_srctree", srctree.clone());
    put(&mut vars, "building_out_of_srctree", "1".into());
    put(&mut vars, "srctree", srctree.clone());
    put(&mut vars, "objtree", ".".into());
    put(&mut vars, "VPATH", srctree.clone());
    put(&mut vars, "VERSION", version);
    put(&mut vars, "PATCHLEVEL", patchlevel);
    put(&mut vars, "SUBLEVEL", sublevel);
    put(&mut vars, "KERNELRELEASE", String::new());
    put(&mut vars, "KERNELVERSION", kernelversion);
    put(
        &mut vars,
        "KCONFIG_CONFIG",
        non_empty(&p, "KCONFIG_CONFIG").unwrap_or_else(|| ".config".into()),
    );
    put(&mut vars, "CLIPPY_CONF_DIR", srctree.clone());
    put(&mut vars, "ARCH", arch.to_string());
    put(&mut vars, "SRCARCH", srcarch.clone());
    for (k, v) in TOOL_DEFAULTS {
        put(&mut vars, k, v.to_string());
    }
    if clippy == "1" {
        put(&mut vars, "RUSTC_OR_CLIPPY_QUIET", "CLIPPY".into());
        put(&mut vars, "RUSTC_OR_CLIPPY", "clippy-driver".into());
    } else {
        put(&mut vars, "RUSTC_OR_CLIPPY_QUIET", "RUSTC".into());
        put(&mut vars, "RUSTC_OR_CLIPPY", "rustc".into());
    }

    // CROSS_COMPILE: the environment's, else whatever the arch Makefile finds.
    let mut cross = p.get("CROSS_COMPILE").cloned().unwrap_or_default();
    let cross_compiling = non_empty(&p, "cross_compiling").is_some();
    if cross.is_empty() {
        let cands = cross_prefix_candidates(&mk, &srcarch, arch, &subarch, cross_compiling);
        if let Some(c) = cands
            .iter()
            .find(|c| which(&format!("{c}gcc"), path).is_some())
        {
            cross = c.clone();
        }
        if srcarch == "xtensa" && cross_compiling {
            if let Some(variant) = non_empty(&p, "CONFIG_XTENSA_VARIANT_NAME") {
                cross = format!("xtensa_{variant}-");
            }
        }
    }
    put(&mut vars, "CROSS_COMPILE", cross.clone());

    // The toolchain: LLVM=1 (or a prefix/suffix) selects clang and friends.
    let llvm = non_empty(&p, "LLVM");
    let (cc, tool) = match &llvm {
        Some(l) => {
            let (pre, suf) = if l.ends_with('/') {
                (l.as_str(), "")
            } else if l.starts_with('-') {
                ("", l.as_str())
            } else {
                ("", "")
            };
            let t = move |n: &str| format!("{pre}{n}{suf}");
            put(&mut vars, "HOSTCC", t("clang"));
            put(&mut vars, "HOSTCXX", t("clang++"));
            let names = [
                ("LD", "ld.lld"),
                ("AR", "llvm-ar"),
                ("NM", "llvm-nm"),
                ("OBJCOPY", "llvm-objcopy"),
                ("OBJDUMP", "llvm-objdump"),
                ("READELF", "llvm-readelf"),
                ("STRIP", "llvm-strip"),
            ];
            (t("clang"), names.map(|(k, n)| (k, t(n))).to_vec())
        }
        None => {
            put(&mut vars, "HOSTCC", "gcc".into());
            put(&mut vars, "HOSTCXX", "g++".into());
            let names = ["ld", "ar", "nm", "objcopy", "objdump", "readelf", "strip"];
            let keys = ["LD", "AR", "NM", "OBJCOPY", "OBJDUMP", "READELF", "STRIP"];
            (
                format!("{cross}gcc"),
                keys.iter()
                    .zip(names)
                    .map(|(k, n)| (*k, format!("{cross}{n}")))
                    .collect(),
            )
        }
    };
    put(&mut vars, "CC", cc.clone());
    for (k, v) in &tool {
        put(&mut vars, k, v.clone());
    }
    if mk.assignments("CPP").is_empty() {
        put(&mut vars, "CPP", format!("{cc} -E"));
    } else {
        vars.remove("CPP");
    }

    // Arch Makefiles that adjust NM (alpha: -B; powerpc: --synthetic when
    // supported; ia64 in 6.1: $(CROSS_COMPILE)nm -B).
    let mut nm = vars.get("NM").cloned().unwrap_or_default();
    for (depth, op, value) in mk.assignments("NM") {
        if op != ":=" && op != "=" {
            continue;
        }
        let expand = |nm: &str| {
            value
                .trim_end()
                .replace("$(NM)", nm)
                .replace("$(CROSS_COMPILE)", &cross)
        };
        if depth == 0 {
            nm = expand(&nm);
        } else if mk.text.contains("new_nm") && value.contains("--synthetic") {
            let probe = format!(
                "if {nm} --help 2>&1 | grep -- '--synthetic' > /dev/null; then echo y; else echo n; fi"
            );
            if make::make_shell(&probe, &vars) == "y" {
                nm = expand(&nm);
            }
        }
    }
    put(&mut vars, "NM", nm);

    // arch/um/Makefile sets SHELL := bash, so make runs conf through bash,
    // which rewrites BASH to its own path.
    if let Some((_, _, shell)) = mk
        .assignments("SHELL")
        .into_iter()
        .find(|(d, _, _)| *d == 0)
    {
        let shell = shell.trim_end();
        if shell.rsplit('/').next() == Some("bash") {
            let resolved = if shell.contains('/') {
                shell.to_string()
            } else {
                which(shell, path)
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| shell.to_string())
            };
            vars.insert("BASH".into(), resolved);
        }
    }

    // CC_VERSION_TEXT and RUSTC_VERSION_TEXT, computed as the Makefile does.
    let cc_version_text = make::make_shell(
        &format!("LC_ALL=C {cc} --version 2>/dev/null | head -n 1"),
        &vars,
    )
    .replace('#', "");
    let rustc = vars.get("RUSTC").cloned().unwrap_or_else(|| "rustc".into());
    let rustc_version_text =
        make::make_shell(&format!("{rustc} --version 2>/dev/null"), &vars).replace('#', "");
    if cc_version_text.contains("clang") {
        let flags = clang_flags(
            root,
            &srcarch,
            &subarch,
            &cross,
            p.get("LLVM_IAS").map(String::as_str),
            path,
        )?;
        vars.insert("CLANG_FLAGS".into(), flags);
    } else if had_clang_flags {
        // The Makefile's `CLANG_FLAGS :=` empties a variable inherited from
        // the environment, and make still exports it.
        vars.insert("CLANG_FLAGS".into(), String::new());
    }

    // KBUILD_DEFCONFIG: the arch Makefile's, else the environment's, else
    // scripts/kconfig/Makefile's default.
    let defconfig = arch_defconfig(&mk, &srcarch, arch, &subarch, &uname_m)
        .or_else(|| non_empty(&p, "KBUILD_DEFCONFIG"))
        .unwrap_or_else(|| "defconfig".into());
    let kbuild_kconfig = p.get("KBUILD_KCONFIG").cloned().unwrap_or_default();
    put(&mut vars, "KBUILD_DEFCONFIG", defconfig.clone());
    put(&mut vars, "KBUILD_KCONFIG", kbuild_kconfig.clone());
    put(&mut vars, "CC_VERSION_TEXT", cc_version_text);
    put(&mut vars, "RUSTC_VERSION_TEXT", rustc_version_text);

    if srcarch == "um" || had_subarch {
        vars.insert("SUBARCH".into(), subarch.clone());
    }
    if srcarch == "um" {
        let header_arch = if matches!(subarch.as_str(), "x86" | "x86_64" | "i386") {
            "x86".to_string()
        } else {
            subarch.clone()
        };
        vars.insert("HEADER_ARCH".into(), header_arch);
    }

    // scripts/kconfig/Makefile, evaluated by the sub-make that runs conf.
    let kmk_path = root.join("scripts/kconfig/Makefile");
    let kmk = std::fs::read_to_string(&kmk_path)
        .with_context(|| format!("cannot read {}", kmk_path.display()))?;
    if kmk.contains("export KCONFIG_DEFCONFIG_LIST") {
        let mut list = Vec::new();
        if !cross_compiling {
            let release = make::make_shell("uname -r", &p);
            list.push(format!("/lib/modules/{release}/.config"));
            list.push("/etc/kernel-config".to_string());
            list.push(format!("/boot/config-{release}"));
        }
        list.push(format!("arch/{srcarch}/configs/{defconfig}"));
        vars.insert("KCONFIG_DEFCONFIG_LIST".into(), list.join(" "));
    }
    if kmk.contains("export KCONFIG_WARN_UNKNOWN_SYMBOLS") && extra_warn.contains('c') {
        vars.insert("KCONFIG_WARN_UNKNOWN_SYMBOLS".into(), "1".into());
    }
    if kmk.contains("export KCONFIG_WERROR") && extra_warn.contains('e') {
        vars.insert("KCONFIG_WERROR".into(), "1".into());
    }
    // `$(MAKE) $(build)=scripts/kconfig` passes obj= on the command line.
    vars.insert("obj".into(), "scripts/kconfig".into());

    let kconfig = if kbuild_kconfig.is_empty() {
        "Kconfig".to_string()
    } else {
        kbuild_kconfig
    };
    Ok(KconfigEnv {
        arch: arch.to_string(),
        srcarch,
        kconfig,
        defconfig,
        vars,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// The real tree, provisioned like users get it; a test that needs it
    /// fails (never skips) when it cannot be had. Such tests are the real
    /// tier (`#[ignore]`, run by scripts/test with `--include-ignored`).
    fn cached_tree(ver: &str) -> KernelTree {
        crate::resolve_kernel(ver, &crate::cache_root())
            .unwrap_or_else(|e| panic!("kernel tree {ver} unavailable (run scripts/setup): {e:#}"))
    }

    fn base_env() -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        m.insert("PATH".into(), std::env::var("PATH").unwrap_or_default());
        m.insert("HOME".into(), "/root".into());
        m
    }

    #[test]
    fn srcarch_mapping() {
        for (a, s) in [
            ("i386", "x86"),
            ("x86_64", "x86"),
            ("x86", "x86"),
            ("sparc64", "sparc"),
            ("parisc64", "parisc"),
            ("sh64", "sh"),
            ("arm64", "arm64"),
            ("um", "um"),
        ] {
            assert_eq!(srcarch_of(a), s, "{a}");
        }
    }

    #[test]
    fn top_makefile_exports_and_literals() {
        let text = "export A B\nexport C := 1\nexport D := $(x)\n\
                    export R := a \\\n\t  b\nelse #!config-build\nexport LATE := 1\n";
        let t = TopMakefile::parse(text);
        assert!(t.exports.contains("A") && t.exports.contains("D"));
        assert!(!t.exports.contains("LATE"));
        assert_eq!(
            t.literal_exports,
            vec![("C".into(), "1".into()), ("R".into(), "a b".into())]
        );
    }

    /// KBUILD_DEFCONFIG for every arch of both trees, as make exported it to
    /// conf on an x86_64 build machine (captured with strace).
    #[test]
    #[ignore = "real tier: needs a kernel tree (scripts/test runs it)"]
    fn defconfig_names_match_make() {
        let expected_612 = [
            ("x86_64", "x86_64_defconfig"),
            ("i386", "i386_defconfig"),
            ("x86", "x86_64_defconfig"),
            ("arm64", "defconfig"),
            ("riscv", "defconfig"),
            ("um", "x86_64_defconfig"),
            ("powerpc", "ppc64le_defconfig"),
            ("mips", "32r2el_defconfig"),
            ("s390", "defconfig"),
            ("arm", "multi_v7_defconfig"),
            ("sparc64", "sparc64_defconfig"),
            ("sparc", "sparc32_defconfig"),
            ("parisc", "generic-32bit_defconfig"),
            ("parisc64", "generic-64bit_defconfig"),
            ("sh", "shx3_defconfig"),
            ("xtensa", "iss_defconfig"),
            ("loongarch", "loongson3_defconfig"),
            ("m68k", "multi_defconfig"),
            ("arc", "haps_hs_smp_defconfig"),
            ("alpha", "defconfig"),
            ("hexagon", "comet_defconfig"),
            ("microblaze", "mmu_defconfig"),
            ("nios2", "3c120_defconfig"),
            ("openrisc", "or1ksim_defconfig"),
            ("csky", "defconfig"),
        ];
        let tree = cached_tree("6.12");
        for (arch, want) in expected_612 {
            let env = derive(&tree, arch, base_env()).unwrap();
            assert_eq!(env.defconfig, want, "6.12 {arch}");
            assert_eq!(env.vars["KBUILD_DEFCONFIG"], want, "6.12 {arch}");
        }
        let tree = cached_tree("6.1");
        for (arch, want) in [
            ("x86_64", "x86_64_defconfig"),
            ("powerpc", "ppc64_defconfig"),
            ("um", "x86_64_defconfig"),
            ("ia64", "generic_defconfig"),
            ("arm64", "defconfig"),
        ] {
            assert_eq!(
                derive(&tree, arch, base_env()).unwrap().defconfig,
                want,
                "6.1 {arch}"
            );
        }
    }

    #[test]
    #[ignore = "real tier: needs a kernel tree (scripts/test runs it)"]
    fn kernelversion_and_basic_vars() {
        let tree = cached_tree("6.12");
        let env = derive(&tree, "x86_64", base_env()).unwrap();
        assert!(env.vars["KERNELVERSION"].starts_with("6.12."));
        assert_eq!(env.vars["KERNELVERSION"], tree.kernelversion);
        assert_eq!(env.vars["SRCARCH"], "x86");
        assert_eq!(env.vars["srctree"], tree.root.to_str().unwrap());
        assert_eq!(env.vars["objtree"], ".");
        assert_eq!(env.vars["RUSTC_BOOTSTRAP"], "1");
        assert_eq!(env.kconfig, "Kconfig");
        assert!(
            !env.vars.contains_key("CARGO"),
            "6.12 does not export CARGO"
        );
        assert!(env.vars["KCONFIG_DEFCONFIG_LIST"].ends_with(" arch/x86/configs/x86_64_defconfig"));
    }

    #[test]
    #[ignore = "real tier: needs a kernel tree (scripts/test runs it)"]
    fn environment_overrides_behave_like_make() {
        let tree = cached_tree("6.12");
        let mut p = base_env();
        p.insert("LC_ALL".into(), "de_DE.UTF-8".into());
        p.insert("CC".into(), "my-cc".into()); // the Makefile's CC = wins
        p.insert("KCONFIG_CONFIG".into(), "other.config".into()); // ?= keeps it
        p.insert("KBUILD_KCONFIG".into(), "Kconfig.test".into());
        p.insert("KBUILD_EXTRA_WARN".into(), "ce".into());
        p.insert("CLANG_FLAGS".into(), "junk".into());
        p.insert("SUBARCH".into(), "junk".into());
        p.insert("CROSS_COMPILE".into(), "aarch64-linux-gnu-".into());
        let env = derive(&tree, "arm64", p).unwrap();
        assert!(!env.vars.contains_key("LC_ALL"));
        assert_eq!(env.vars["CC"], "aarch64-linux-gnu-gcc");
        assert_eq!(env.vars["NM"], "aarch64-linux-gnu-nm");
        assert_eq!(env.vars["KCONFIG_CONFIG"], "other.config");
        assert_eq!(env.kconfig, "Kconfig.test");
        assert_eq!(env.vars["KCONFIG_WARN_UNKNOWN_SYMBOLS"], "1");
        assert_eq!(env.vars["KCONFIG_WERROR"], "1");
        assert_eq!(env.vars["CLANG_FLAGS"], "");
        assert_eq!(env.vars["SUBARCH"], "x86");
    }

    #[test]
    #[ignore = "real tier: needs a kernel tree (scripts/test runs it)"]
    fn cross_prefix_uses_first_gcc_on_path() {
        let tree = cached_tree("6.12");
        let bin = tempfile::tempdir().unwrap();
        let fake = |name: &str| {
            let p: PathBuf = bin.path().join(name);
            std::fs::write(&p, "#!/bin/sh\nexit 0\n").unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        };
        fake("arceb-linux-gcc");
        fake("sh-linux-gnu-gcc");
        let mut p = base_env();
        p.insert(
            "PATH".into(),
            format!("{}:{}", bin.path().display(), p["PATH"]),
        );
        let env = derive(&tree, "arc", p.clone()).unwrap();
        assert_eq!(env.vars["CROSS_COMPILE"], "arceb-linux-");
        assert_eq!(env.vars["CC"], "arceb-linux-gcc");
        // sh only probes when cross_compiling is defined.
        assert_eq!(
            derive(&tree, "sh", p.clone()).unwrap().vars["CROSS_COMPILE"],
            ""
        );
        p.insert("cross_compiling".into(), "1".into());
        let env = derive(&tree, "sh", p).unwrap();
        assert_eq!(env.vars["CROSS_COMPILE"], "sh-linux-gnu-");
        assert!(!env.vars["KCONFIG_DEFCONFIG_LIST"].contains("/boot/"));
    }

    #[test]
    #[ignore = "real tier: needs a kernel tree (scripts/test runs it)"]
    fn bad_arch_is_explained() {
        let tree = cached_tree("6.12");
        let err = derive(&tree, "vax", base_env()).unwrap_err().to_string();
        assert!(
            err.contains("pick one of") && err.contains("arm64"),
            "{err}"
        );
        assert!(derive(&tree, "../x86", base_env()).is_err());
    }

    /// The tool names we hard-code are the ones both trees assign.
    #[test]
    #[ignore = "real tier: needs a kernel tree (scripts/test runs it)"]
    fn tool_defaults_match_makefiles() {
        for ver in ["6.12", "6.1"] {
            let tree = cached_tree(ver);
            let text = std::fs::read_to_string(tree.root.join("Makefile")).unwrap();
            let lines = make::logical_lines(&text);
            for (k, v) in TOOL_DEFAULTS {
                if *k == "MAKE" {
                    continue;
                }
                let want = v.replace("./", "$(objtree)/");
                let found = lines
                    .iter()
                    .filter_map(|l| make::assignment(l))
                    .any(|a| a.name == *k && a.value.trim_end() == want);
                let exported = TopMakefile::parse(&text).exports.contains(*k);
                assert!(found || !exported, "{ver}: {k} is not assigned {want}");
            }
        }
    }

    /// Arch Makefiles that call cc-cross-prefix are exactly the ones we model.
    #[test]
    #[ignore = "real tier: needs a kernel tree (scripts/test runs it)"]
    fn cc_cross_prefix_users_are_known() {
        let modeled = [
            "arc",
            "loongarch",
            "mips",
            "m68k",
            "sh",
            "powerpc",
            "parisc",
        ];
        for ver in ["6.12", "6.1"] {
            let tree = cached_tree(ver);
            for e in std::fs::read_dir(tree.root.join("arch")).unwrap() {
                let e = e.unwrap();
                let Ok(text) = std::fs::read_to_string(e.path().join("Makefile")) else {
                    continue;
                };
                let name = e.file_name().into_string().unwrap();
                if text.contains("$(call cc-cross-prefix") {
                    assert!(
                        modeled.contains(&name.as_str()),
                        "{ver}: {name} is not modeled"
                    );
                }
            }
        }
    }
}
