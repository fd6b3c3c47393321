//! Out-of-tree kernel builds.
//!
//! ktailor proves a config by building and booting it, many times over while
//! it searches, so builds must be incremental: every build of a target goes
//! to the same `make O=DIR` directory, `.config` is only rewritten when it
//! asks for a different kernel (make decides what to rebuild from
//! timestamps), and the kernel source tree is never written to, because it is
//! shared by every target and by the Kconfig engine.
//!
//! Before compiling, `make olddefconfig` must leave the config alone: a config
//! that conf rewrites is not the config the caller asked for, and building it
//! anyway would prove the wrong thing.

mod config;
mod deps;
mod log;

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ksrc::KernelTree;

pub use config::ConfigChange;
pub use deps::{check_deps, MissingDep, MissingDeps};

/// The name of the full build log kept in the output directory.
pub const LOG_NAME: &str = "ktailor-build.log";
const LOCK_NAME: &str = ".ktailor-build.lock";
/// How many error sites and lines a failure report quotes: enough to see
/// the cause, short enough to read in a terminal; the log has the rest.
const ERROR_SITES: usize = 5;
const ERROR_LINES: usize = 40;

/// What to build and where.
#[derive(Clone, Debug)]
pub struct BuildSpec<'a> {
    pub tree: &'a KernelTree,
    /// The kernel's `ARCH`: x86_64, x86, i386, arm64, arm, riscv.
    pub arch: String,
    /// The complete `.config` text; it must be a fixpoint of `olddefconfig`.
    pub config: String,
    /// The `make O=` directory, reused across builds to keep them incremental.
    pub out_dir: PathBuf,
    /// `make -j`; 0 means one job per CPU.
    pub jobs: usize,
    /// The make target; `None` picks the architecture's boot image
    /// (bzImage on x86, Image on arm64 and riscv, zImage on arm). Modules
    /// are not built: a QEMU boot with `-kernel` cannot load them, so
    /// ktailor's kernels build in what they need.
    pub image: Option<String>,
    /// `CROSS_COMPILE`; `None` picks `aarch64-linux-gnu-` for arm64 on a
    /// non-arm64 host and nothing otherwise.
    pub cross_compile: Option<String>,
    /// Run make at the lowest CPU priority, so a build does not starve an
    /// interactive machine or other work sharing its cores.
    pub nice: bool,
}

impl<'a> BuildSpec<'a> {
    pub fn new(tree: &'a KernelTree, arch: &str, config: String, out_dir: PathBuf) -> Self {
        BuildSpec {
            tree,
            arch: arch.to_string(),
            config,
            out_dir,
            jobs: 0,
            image: None,
            cross_compile: None,
            nice: false,
        }
    }
}

/// Where a build is, for a progress display.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BuildPhase {
    /// `make olddefconfig`: checking that the config is a fixpoint.
    Config,
    /// `make <image>`.
    Compile,
    Done,
}

/// Sent once per phase change and once per kbuild step while compiling.
#[derive(Clone, Debug)]
pub struct BuildProgress {
    pub phase: BuildPhase,
    /// Objects compiled so far (make's `  CC  ` lines).
    pub compiled: usize,
    /// How many objects the previous build in this directory compiled, as an
    /// estimate of this one; `None` when there is no previous build to go by
    /// (show a spinner).
    pub estimated_total: Option<usize>,
    /// The latest kbuild step, such as `CC init/main.o` or `LD vmlinux`.
    pub step: String,
}

/// What a successful build produced.
#[derive(Clone, Debug)]
pub struct BuildReport {
    pub out_dir: PathBuf,
    /// `CONFIG_` lines in the final .config (what `grep ^CONFIG_ | wc -l`
    /// counts), and how many of them are `=y` and `=m`.
    pub config_lines: usize,
    pub builtin: usize,
    pub modules: usize,
    pub vmlinux_bytes: u64,
    pub image: PathBuf,
    pub image_bytes: u64,
    pub duration: Duration,
    /// The directory already held a finished build, so make only redid what
    /// changed.
    pub incremental: bool,
    /// Objects compiled by this build.
    pub compiled: usize,
    /// Whether `.config` was rewritten (the config asked for a different
    /// kernel than the directory last built).
    pub config_written: bool,
    pub log: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    MissingDeps(#[from] MissingDeps),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error("invalid build request: {0}")]
    Invalid(String),
    #[error(
        "make olddefconfig changed {} symbol(s), so the config is not the one asked for \
         (give a config conf leaves alone, e.g. the output of olddefconfig):\n  {}\nlog: {}",
        changes.len(),
        changes.iter().take(50).map(|c| c.to_string()).collect::<Vec<_>>().join("\n  "),
        log.display()
    )]
    NotAFixpoint {
        changes: Vec<ConfigChange>,
        log: PathBuf,
    },
    #[error(
        "`make {target}` failed ({status}); first errors:\n{}\nfull log: {}",
        errors.join("\n"),
        log.display()
    )]
    Make {
        target: String,
        status: String,
        errors: Vec<String>,
        log: PathBuf,
    },
    #[error("make succeeded but {} is missing; see {}", image.display(), log.display())]
    NoImage { image: PathBuf, log: PathBuf },
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> BuildError {
    let what = what.into();
    move |source| BuildError::Io { what, source }
}

/// Where a build for `arch` leaves its boot image, relative to the build
/// directory (`arch/x86/boot/bzImage`); None for an architecture kbuild
/// does not build.
pub fn image_path(arch: &str) -> Option<std::path::PathBuf> {
    let (dir, image) = arch_layout(arch)?;
    Some(
        std::path::Path::new("arch")
            .join(dir)
            .join("boot")
            .join(image),
    )
}

/// The source directory under `arch/` and the default boot image.
fn arch_layout(arch: &str) -> Option<(&'static str, &'static str)> {
    match arch {
        "x86_64" | "x86" | "i386" => Some(("x86", "bzImage")),
        "arm64" => Some(("arm64", "Image")),
        "arm" => Some(("arm", "zImage")),
        "riscv" => Some(("riscv", "Image")),
        _ => None,
    }
}

fn default_cross_compile(arch: &str) -> Option<String> {
    let host = std::env::consts::ARCH;
    match arch {
        "arm64" if host != "aarch64" => Some("aarch64-linux-gnu-".into()),
        "arm" if host != "arm" => Some("arm-linux-gnueabihf-".into()),
        "riscv" if host != "riscv64" => Some("riscv64-linux-gnu-".into()),
        _ => None,
    }
}

/// ARCH values and image targets go on make's command line, so they must
/// not read as options (`-f`), paths or several words.
fn is_plain_word(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(['-', '.'])
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
}

/// Builds the kernel image for `spec`, reporting progress as it goes.
///
/// Builds into one directory are serialised with a lock file, so two
/// processes asking for the same target wait for each other instead of
/// corrupting the tree.
pub fn build(
    spec: &BuildSpec<'_>,
    progress: &dyn Fn(BuildProgress),
) -> Result<BuildReport, BuildError> {
    let started = Instant::now();
    if !is_plain_word(&spec.arch) {
        return Err(BuildError::Invalid(format!(
            "architecture {:?} is not a kernel ARCH name",
            spec.arch
        )));
    }
    let (srcarch, default_image) = match arch_layout(&spec.arch) {
        Some((s, i)) => (s.to_string(), Some(i)),
        None => (spec.arch.clone(), None),
    };
    let image_target = match (&spec.image, default_image) {
        (Some(i), _) => i.clone(),
        (None, Some(i)) => i.to_string(),
        (None, None) => {
            return Err(BuildError::Invalid(format!(
                "no default boot image for ARCH={}; set BuildSpec::image",
                spec.arch
            )))
        }
    };
    if !is_plain_word(&image_target) {
        return Err(BuildError::Invalid(format!(
            "image target {image_target:?} is not a make target name"
        )));
    }
    let cross = spec
        .cross_compile
        .clone()
        .or_else(|| default_cross_compile(&spec.arch));
    deps::check_deps_with(cross.as_deref())?;

    fs::create_dir_all(&spec.out_dir)
        .map_err(io_err(format!("cannot create {}", spec.out_dir.display())))?;
    let out = spec
        .out_dir
        .canonicalize()
        .map_err(io_err(format!("cannot resolve {}", spec.out_dir.display())))?;
    if out.starts_with(&spec.tree.root) || spec.tree.root.starts_with(&out) {
        return Err(BuildError::Invalid(format!(
            "output directory {} overlaps the kernel tree {}; ktailor never writes into a source tree",
            out.display(),
            spec.tree.root.display()
        )));
    }
    // Held for the whole build; the kernel releases it if we die. Someone
    // waiting on it is told who holds it, through the progress display.
    let lock_path = out.join(LOCK_NAME);
    let _lock = ksys::FileLock::lock_or_wait(&lock_path, ksys::LockMode::Exclusive, &|m| {
        progress(BuildProgress {
            phase: BuildPhase::Config,
            compiled: 0,
            estimated_total: None,
            step: m.to_string(),
        })
    })
    .map_err(io_err(format!("cannot lock {}", lock_path.display())))?;

    let log_path = out.join(LOG_NAME);
    let estimated_total = fs::read_to_string(&log_path)
        .ok()
        .map(|l| log::count_compiled(&l))
        .filter(|&n| n > 0);
    let mut log =
        File::create(&log_path).map_err(io_err(format!("cannot create {}", log_path.display())))?;

    let image_path = out
        .join("arch")
        .join(&srcarch)
        .join("boot")
        .join(&image_target);
    let vmlinux = out.join("vmlinux");
    let incremental = vmlinux.is_file() && image_path.is_file();

    // Config: write only when it asks for another kernel, then let conf
    // check it.
    let dot_config = out.join(".config");
    let asked = config::parse(&spec.config);
    let existing = fs::read_to_string(&dot_config).ok();
    let config_written = match &existing {
        Some(text) => !config::equivalent(&asked, &config::parse(text)),
        None => true,
    };
    if config_written {
        ksys::write_atomic(&dot_config, spec.config.as_bytes())
            .map_err(io_err(format!("cannot write {}", dot_config.display())))?;
    }

    let make = Make {
        tree: &spec.tree.root,
        out: &out,
        arch: &spec.arch,
        cross: cross.as_deref(),
        ccache: deps::find_in_path("ccache").is_some(),
        nice: spec.nice,
    };
    let report = |phase, compiled, step: &str| {
        progress(BuildProgress {
            phase,
            compiled,
            estimated_total,
            step: step.to_string(),
        })
    };

    report(BuildPhase::Config, 0, "olddefconfig");
    let status = make.run(&["olddefconfig".to_string()], &mut log, &mut |_| {})?;
    if !status.success() {
        return Err(make_failure("olddefconfig", status, &log_path));
    }
    let after = fs::read_to_string(&dot_config)
        .map_err(io_err(format!("cannot read {}", dot_config.display())))?;
    let changes = config::changes(&asked, &config::parse(&after));
    if !changes.is_empty() {
        return Err(BuildError::NotAFixpoint {
            changes,
            log: log_path,
        });
    }

    let jobs = if spec.jobs == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        spec.jobs
    };
    report(BuildPhase::Compile, 0, "");
    let mut compiled = 0usize;
    let status = make.run(
        &[format!("-j{jobs}"), image_target.clone()],
        &mut log,
        &mut |line| {
            if log::compiled_object(line).is_some() {
                compiled += 1;
            }
            if let Some(step) = log::step(line) {
                report(BuildPhase::Compile, compiled, &step);
            }
        },
    )?;
    drop(log);
    if !status.success() {
        return Err(make_failure(&image_target, status, &log_path));
    }
    let image_bytes = match fs::metadata(&image_path) {
        Ok(m) => m.len(),
        Err(_) => {
            return Err(BuildError::NoImage {
                image: image_path,
                log: log_path,
            })
        }
    };
    let vmlinux_bytes = fs::metadata(&vmlinux).map(|m| m.len()).unwrap_or(0);
    let counts = config::counts(&after);
    report(BuildPhase::Done, compiled, "");
    Ok(BuildReport {
        out_dir: out,
        config_lines: counts.lines,
        builtin: counts.builtin,
        modules: counts.modules,
        vmlinux_bytes,
        image: image_path,
        image_bytes,
        duration: started.elapsed(),
        incremental,
        compiled,
        config_written,
        log: log_path,
    })
}

fn make_failure(target: &str, status: ExitStatus, log_path: &Path) -> BuildError {
    let text = fs::read(log_path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    BuildError::Make {
        target: target.to_string(),
        status: status.to_string(),
        errors: log::first_errors(&text, ERROR_SITES, ERROR_LINES),
        log: log_path.to_path_buf(),
    }
}

/// How make is stopped when we return early (an error, a panic, a caller
/// that gave up) or die: SIGTERM to make's whole process group, so the
/// compilers stop too and make deletes the targets they were writing
/// (SIGKILL would leave half-written objects with fresh timestamps, which
/// the next incremental build would trust); SIGKILL to what is left after
/// the grace period.
fn make_stop() -> ksys::GroupOptions {
    ksys::GroupOptions::graceful(ksys::Signal::Term, Duration::from_secs(10))
}

struct Make<'a> {
    tree: &'a Path,
    out: &'a Path,
    arch: &'a str,
    cross: Option<&'a str>,
    ccache: bool,
    nice: bool,
}

impl Make<'_> {
    fn command(&self, targets: &[String]) -> Command {
        let mut cmd = if self.nice {
            let mut c = Command::new("nice");
            c.args(["-n", "19", "make"]);
            c
        } else {
            Command::new("make")
        };
        cmd.arg("-C")
            .arg(self.tree)
            .arg(format!("O={}", self.out.display()))
            .arg(format!("ARCH={}", self.arch));
        if let Some(cross) = self.cross {
            cmd.arg(format!("CROSS_COMPILE={cross}"));
        }
        if self.ccache {
            // The same CC for olddefconfig and the build: Kconfig records
            // the compiler, and a different CC would make conf rewrite
            // .config.
            cmd.arg(format!("CC=ccache {}gcc", self.cross.unwrap_or("")));
        }
        cmd.args(targets);
        // English messages, so the error scan finds `error:`; no inherited
        // jobserver from an outer make, which would override -j; nothing
        // from the user's shell that changes the build (LLVM, KCFLAGS,
        // KCONFIG_*, ...): the build is the config's, not the shell's.
        ksys::make_env::clean(&mut cmd);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Runs make, copying its stdout and stderr line by line to the log and
    /// to `on_line`.
    fn run(
        &self,
        targets: &[String],
        log: &mut File,
        on_line: &mut dyn FnMut(&str),
    ) -> Result<ExitStatus, BuildError> {
        let mut cmd = self.command(targets);
        let shown: Vec<String> = std::iter::once(cmd.get_program())
            .chain(cmd.get_args())
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let _ = writeln!(log, "$ {}", shown.join(" "));
        // Its own process group, stopped as a whole if we return early or
        // die: no build keeps running behind a caller that gave up on it.
        let mut child = ksys::spawn_group(&mut cmd, &make_stop())
            .map_err(io_err(format!("cannot run {}", shown.join(" "))))?;
        let (tx, rx) = mpsc::channel::<String>();
        let mut readers = Vec::new();
        let c = child.child_mut();
        if let Some(out) = c.stdout.take() {
            readers.push(spawn_reader(out, tx.clone()));
        }
        if let Some(err) = c.stderr.take() {
            readers.push(spawn_reader(err, tx.clone()));
        }
        drop(tx);
        for line in rx {
            log.write_all(line.as_bytes())
                .and_then(|_| log.write_all(b"\n"))
                .map_err(io_err("cannot write the build log"))?;
            on_line(&line);
        }
        for r in readers {
            let _ = r.join();
        }
        let status = child.wait().map_err(io_err("cannot wait for make"))?;
        log.flush().map_err(io_err("cannot write the build log"))?;
        Ok(status)
    }
}

fn spawn_reader(
    pipe: impl Read + Send + 'static,
    tx: mpsc::Sender<String>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut r = BufReader::new(pipe);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match r.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    while matches!(buf.last(), Some(b'\n' | b'\r')) {
                        buf.pop();
                    }
                    if tx.send(String::from_utf8_lossy(&buf).into_owned()).is_err() {
                        break;
                    }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_tree(dir: &Path) -> KernelTree {
        KernelTree {
            root: dir.to_path_buf(),
            kernelversion: "6.12.0".into(),
        }
    }

    #[test]
    #[ignore = "real tier: needs make and the kernel's build tools (scripts/test runs it)"]
    fn out_dir_inside_the_tree_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().canonicalize().unwrap();
        let tree = fake_tree(&root);
        let spec = BuildSpec::new(&tree, "x86_64", String::new(), root.join("build"));
        match build(&spec, &|_| {}) {
            Err(BuildError::Invalid(m)) => assert!(m.contains("overlaps the kernel tree"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn odd_arch_and_targets_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let tree = fake_tree(d.path());
        let mut spec = BuildSpec::new(&tree, "x86 64", String::new(), d.path().join("o"));
        assert!(matches!(build(&spec, &|_| {}), Err(BuildError::Invalid(_))));
        spec.arch = "mips".into();
        let e = build(&spec, &|_| {}).unwrap_err();
        assert!(e.to_string().contains("BuildSpec::image"), "{e}");
        spec.arch = "x86_64".into();
        for bad in [
            "bzImage; rm -rf /",
            "-f/etc/passwd",
            "../../x",
            "arch/x86/boot/bzImage",
        ] {
            spec.image = Some(bad.into());
            assert!(
                matches!(build(&spec, &|_| {}), Err(BuildError::Invalid(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn layouts() {
        assert_eq!(arch_layout("x86_64"), Some(("x86", "bzImage")));
        assert_eq!(arch_layout("arm64"), Some(("arm64", "Image")));
        assert_eq!(arch_layout("sparc"), None);
    }

    #[test]
    #[ignore = "real tier: needs make and the kernel's build tools (scripts/test runs it)"]
    fn failed_make_is_reported_with_errors_and_log() {
        // A tree whose Makefile fails the way a compiler error does.
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("tree");
        fs::create_dir_all(&root).unwrap();
        fs::write(
            root.join("Makefile"),
            "olddefconfig:\n\t@true\nbzImage:\n\t@echo '  CC      init/main.o'\n\t@echo 'init/main.c:1:1: error: boom' >&2\n\t@false\n",
        )
        .unwrap();
        let tree = fake_tree(&root.canonicalize().unwrap());
        let mut spec = BuildSpec::new(&tree, "x86_64", "CONFIG_A=y\n".into(), d.path().join("out"));
        spec.jobs = 1;
        let steps = std::cell::RefCell::new(Vec::new());
        let err = build(&spec, &|p| steps.borrow_mut().push(p)).unwrap_err();
        match &err {
            BuildError::Make {
                target,
                errors,
                log,
                ..
            } => {
                assert_eq!(target, "bzImage");
                assert!(
                    errors.iter().any(|l| l.contains("error: boom")),
                    "{errors:?}"
                );
                let text = fs::read_to_string(log).unwrap();
                assert!(text.contains("init/main.c:1:1: error: boom"));
            }
            other => panic!("{other:?}"),
        }
        let steps = steps.into_inner();
        assert_eq!(steps.first().map(|p| p.phase), Some(BuildPhase::Config));
        assert!(steps
            .iter()
            .any(|p| p.compiled == 1 && p.step == "CC init/main.o"));
        // The config went in because the directory had none.
        let written = fs::read_to_string(d.path().join("out/.config")).unwrap();
        assert_eq!(written, "CONFIG_A=y\n");
    }

    #[test]
    #[ignore = "real tier: needs make and the kernel's build tools (scripts/test runs it)"]
    fn conf_rewriting_the_config_is_an_error_naming_the_symbols() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("tree");
        fs::create_dir_all(&root).unwrap();
        // Stands in for conf: turns on a symbol nobody asked for.
        fs::write(
            root.join("Makefile"),
            "olddefconfig:\n\t@echo 'CONFIG_B=y' >> $(O)/.config\n",
        )
        .unwrap();
        let tree = fake_tree(&root.canonicalize().unwrap());
        let spec = BuildSpec::new(&tree, "x86_64", "CONFIG_A=y\n".into(), d.path().join("out"));
        match build(&spec, &|_| {}) {
            Err(BuildError::NotAFixpoint { changes, .. }) => {
                assert_eq!(changes.len(), 1);
                assert_eq!(changes[0].symbol, "B");
                assert_eq!(changes[0].got.as_deref(), Some("y"));
            }
            other => panic!("{other:?}"),
        }
    }

    /// Whether `pid` is a live (not zombie) process.
    fn alive(pid: u32) -> bool {
        match fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(s) => !s.rsplit_once(") ").is_some_and(|(_, r)| r.starts_with('Z')),
            Err(_) => false,
        }
    }

    #[test]
    #[ignore = "real tier: needs make and the kernel's build tools (scripts/test runs it)"]
    fn an_abandoned_build_stops_make_and_everything_it_started() {
        // A recipe that leaves a process of its own running, as a compiler
        // would be: signalling make's pid alone (make forwards SIGTERM to
        // the recipe's shell, not to what the shell started) left it
        // behind; the whole process group must go.
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("tree");
        fs::create_dir_all(&root).unwrap();
        fs::write(
            root.join("Makefile"),
            "olddefconfig:\n\t@true\nbzImage:\n\t@sleep 300 & echo $$! > $(O)/straggler.pid; \
             echo '  CC      init/main.o'; wait\n",
        )
        .unwrap();
        let tree = fake_tree(&root.canonicalize().unwrap());
        let out = d.path().join("out");
        let spec = BuildSpec::new(&tree, "x86_64", "CONFIG_A=y\n".into(), out.clone());
        // The caller gives up (here: panics) once compiling has started.
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            build(&spec, &|p| {
                if p.step == "CC init/main.o" {
                    panic!("caller gave up");
                }
            })
        }));
        if let Ok(other) = r {
            panic!("the build was not abandoned: {other:?}");
        }
        let pid: u32 = fs::read_to_string(out.join("straggler.pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while alive(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            !alive(pid),
            "make's child {pid} outlived the abandoned build"
        );
    }

    #[test]
    #[ignore = "real tier: needs make and the kernel's build tools (scripts/test runs it)"]
    fn a_held_build_directory_says_who_holds_it() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("tree");
        fs::create_dir_all(&root).unwrap();
        fs::write(root.join("Makefile"), "olddefconfig:\n\t@true\n").unwrap();
        let tree = fake_tree(&root.canonicalize().unwrap());
        let out = d.path().join("out");
        fs::create_dir_all(&out).unwrap();
        let held = ksys::FileLock::lock(&out.join(LOCK_NAME), ksys::LockMode::Exclusive).unwrap();
        let (tx, rx) = mpsc::channel::<String>();
        let spec_out = out.clone();
        let builder = std::thread::spawn(move || {
            let spec = BuildSpec::new(&tree, "x86_64", "CONFIG_A=y\n".into(), spec_out);
            let tx = std::sync::Mutex::new(tx);
            let r = build(&spec, &|p| {
                let _ = tx.lock().unwrap().send(p.step);
            });
            format!("{r:?}")
        });
        let first = rx.recv_timeout(Duration::from_secs(30));
        drop(held);
        let build_result = builder.join().unwrap();
        match first {
            Ok(first) => {
                assert!(first.starts_with("waiting for the lock on"), "{first}");
                assert!(first.contains(LOCK_NAME), "{first}");
            }
            Err(_) => panic!("no waiting message; the build: {build_result}"),
        }
    }

    #[test]
    #[ignore = "real tier: needs make and the kernel's build tools (scripts/test runs it)"]
    fn make_does_not_inherit_the_shells_build_variables() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("tree");
        fs::create_dir_all(&root).unwrap();
        fs::write(
            root.join("Makefile"),
            "olddefconfig:\n\t@echo \"kcflags=$${KCFLAGS-unset} lc=$$LC_ALL\" > $(O)/env.txt\n\
             bzImage:\n\t@mkdir -p $(O)/arch/x86/boot && touch $(O)/arch/x86/boot/bzImage\n",
        )
        .unwrap();
        // Set in our environment as a person's shell would leave it; no
        // other test here reads KCFLAGS.
        std::env::set_var("KCFLAGS", "-O0 -leaked");
        let tree = fake_tree(&root.canonicalize().unwrap());
        let out = d.path().join("out");
        let spec = BuildSpec::new(&tree, "x86_64", "CONFIG_A=y\n".into(), out.clone());
        build(&spec, &|_| {}).unwrap_or_else(|e| panic!("{e}"));
        let env = fs::read_to_string(out.join("env.txt")).unwrap();
        assert_eq!(env, "kcflags=unset lc=C\n");
    }
}
