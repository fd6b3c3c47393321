//! Debian root file systems for ktailor's guests, built with mmdebstrap and
//! cached as tar files.
//!
//! [`build`] turns a [`RootfsSpec`] (suite, init system, extra packages,
//! mirror) into `<cache>/rootfs/<key>.tar`, where the key ([`cache_key`])
//! hashes every input: the suite, the init, the sorted package list, the
//! mirror (or the host's apt sources file, content included), and the hook
//! texts in [`hooks`]. A second build of the same spec is a cache hit.
//!
//! A tree is minbase plus [`hooks::SYSVINIT_PACKAGES`] or
//! [`hooks::SYSTEMD_PACKAGES`] plus the extras, customized by
//! [`hooks::CUSTOMIZE_SH`]: a user `admin` with passwordless sudo and no
//! password (ssh keys only), root locked, sshd without passwords or root
//! logins, no ssh host keys and no machine-id (per-image things), a serial
//! getty on ttyS0, DHCP on the first NIC, and a first-boot step
//! ([`hooks::IMDS_SCRIPT`]) that installs the ssh key and hostname from
//! EC2's instance metadata service.
//!
//! Cache entries appear atomically: mmdebstrap writes `<key>.tar.partial`,
//! which is renamed to `<key>.tar` only after the JSON sidecar
//! (`<key>.json`, a [`Manifest`]) is in place. A `<key>.lock` file (flock)
//! serializes builds of one key across processes; leftovers of interrupted
//! builds (`*.partial`, `*.work`) are removed by the next build that can take
//! their lock.

mod cache;
pub mod hooks;

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

pub use cache::Manifest;

/// Bumped when the build recipe changes in a way the hashed inputs do not
/// show (mmdebstrap options, the tar post-processing).
const RECIPE: &str = "krootfs-recipe-1";

/// Lines of mmdebstrap's output kept for an error message.
const TAIL_LINES: usize = 30;

/// The init system of a tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Init {
    Sysvinit,
    Systemd,
}

impl Init {
    pub const ALL: [Init; 2] = [Init::Sysvinit, Init::Systemd];

    pub fn as_str(self) -> &'static str {
        match self {
            Init::Sysvinit => "sysvinit",
            Init::Systemd => "systemd",
        }
    }

    /// The packages this init's trees get on top of minbase.
    pub fn packages(self) -> &'static [&'static str] {
        match self {
            Init::Sysvinit => hooks::SYSVINIT_PACKAGES,
            Init::Systemd => hooks::SYSTEMD_PACKAGES,
        }
    }
}

impl fmt::Display for Init {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `"x".parse::<Init>()` for anything but `sysvinit` or `systemd`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown init system `{0}`: expected `sysvinit` or `systemd`")]
pub struct ParseInitError(pub String);

impl FromStr for Init {
    type Err = ParseInitError;
    fn from_str(s: &str) -> Result<Init, ParseInitError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "sysvinit" => Ok(Init::Sysvinit),
            "systemd" => Ok(Init::Systemd),
            _ => Err(ParseInitError(s.to_string())),
        }
    }
}

/// What to build.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootfsSpec {
    pub init: Init,
    /// Debian suite, e.g. `bookworm`.
    #[serde(default = "default_suite")]
    pub suite: String,
    /// Installed on top of the init's packages ([`Init::packages`]).
    #[serde(default)]
    pub extra_packages: Vec<String>,
    /// mmdebstrap's MIRROR argument (a URL such as
    /// `http://deb.debian.org/debian`, or a sources.list line). `None`: the
    /// host's apt sources file for the suite ([`host_sources`]).
    #[serde(default)]
    pub mirror: Option<String>,
}

fn default_suite() -> String {
    "bookworm".to_string()
}

impl RootfsSpec {
    /// Debian bookworm with `init`, no extra packages, the host's sources.
    pub fn bookworm(init: Init) -> RootfsSpec {
        RootfsSpec {
            init,
            suite: default_suite(),
            extra_packages: Vec::new(),
            mirror: None,
        }
    }
}

/// A built (or cached) tree.
#[derive(Clone, Debug)]
pub struct Rootfs {
    /// `<cache>/rootfs/<key>.tar`.
    pub tar: PathBuf,
    /// The tar was already in the cache.
    pub cache_hit: bool,
    /// Size of the tar.
    pub bytes: u64,
    /// Time this call took (a lookup for a hit, the build for a miss).
    pub duration: Duration,
    pub key: String,
    /// Every package installed in the tree, `name=version`, sorted.
    pub packages: Vec<String>,
}

/// How mmdebstrap gets root in the chroot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Real root (`--mode=root`).
    Root,
    /// A user namespace (`--mode=unshare`, needs newuidmap/newgidmap).
    Unshare,
}

impl Mode {
    /// `Root` for euid 0, `Unshare` for everyone else.
    pub fn for_euid(euid: u32) -> Mode {
        if euid == 0 {
            Mode::Root
        } else {
            Mode::Unshare
        }
    }

    /// The mode for this process.
    pub fn current() -> Mode {
        // SAFETY: geteuid has no preconditions and cannot fail.
        Mode::for_euid(unsafe { libc::geteuid() })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Root => "root",
            Mode::Unshare => "unshare",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Knobs of [`build_with`] that [`build`] leaves at their defaults; tests
/// inject a missing program or another apt directory here.
#[derive(Clone, Debug)]
pub struct BuildOptions {
    /// The mmdebstrap program: a name looked up in `search_path`, or a path.
    pub mmdebstrap: OsString,
    /// Directories to look programs up in, `PATH` syntax. `None`: `$PATH`.
    pub search_path: Option<OsString>,
    /// `None`: [`Mode::current`].
    pub mode: Option<Mode>,
    /// Where the host's apt sources are looked for (`/etc/apt`).
    pub etc_apt: PathBuf,
}

impl Default for BuildOptions {
    fn default() -> BuildOptions {
        BuildOptions {
            mmdebstrap: "mmdebstrap".into(),
            search_path: None,
            mode: None,
            etc_apt: PathBuf::from("/etc/apt"),
        }
    }
}

#[derive(Debug, Error)]
pub enum RootfsError {
    #[error("bad rootfs spec: {0}")]
    InvalidSpec(String),

    #[error(
        "no apt sources file for suite `{suite}` (looked in {}): set the spec's mirror, \
         e.g. http://deb.debian.org/debian",
        searched.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    NoHostSources {
        suite: String,
        searched: Vec<PathBuf>,
    },

    #[error("{}", missing_mmdebstrap(program, *mode))]
    MmdebstrapMissing { program: OsString, mode: Mode },

    #[error(
        "mmdebstrap --mode=unshare needs newuidmap and newgidmap, which are not in PATH; \
         install them with\napt-get install -y uidmap\n(or build as root, which uses --mode=root)"
    )]
    UidmapMissing,

    #[error("cannot start {}: {source}", program.display())]
    Spawn {
        program: PathBuf,
        source: std::io::Error,
    },

    #[error(
        "mmdebstrap failed ({status}) building {suite}/{init} from {mirror}: if the mirror is \
         unreachable, check the network or set another mirror; last lines of its output:\n{tail}"
    )]
    Mmdebstrap {
        suite: String,
        init: Init,
        mirror: String,
        status: String,
        tail: String,
    },

    #[error("mmdebstrap succeeded but its tar {} is unusable: {what}", path.display())]
    BadTar { path: PathBuf, what: String },

    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

fn missing_mmdebstrap(program: &OsStr, mode: Mode) -> String {
    let mut s = format!(
        "mmdebstrap (`{}`) is not installed or not in PATH; install it with\n\
         apt-get install -y mmdebstrap",
        program.to_string_lossy()
    );
    if mode == Mode::Unshare {
        s.push_str(
            "\napt-get install -y uidmap\n(--mode=unshare, used when not root, needs uidmap too)",
        );
    }
    s
}

pub(crate) fn io_err(
    action: &'static str,
    path: &Path,
) -> impl FnOnce(std::io::Error) -> RootfsError {
    let path = path.to_path_buf();
    move |source| RootfsError::Io {
        action,
        path,
        source,
    }
}

/// Every package of a spec's tree beyond minbase: the init's list plus the
/// extras, sorted, without duplicates or blanks.
pub fn packages(spec: &RootfsSpec) -> Vec<String> {
    let mut all: Vec<String> = spec
        .init
        .packages()
        .iter()
        .map(|p| p.to_string())
        .chain(spec.extra_packages.iter().map(|p| p.trim().to_string()))
        .filter(|p| !p.is_empty())
        .collect();
    all.sort();
    all.dedup();
    all
}

/// The host's apt sources file that names `suite`, looked for under
/// `etc_apt` (normally `/etc/apt`): `sources.list.d/debian.sources`, then
/// the other `sources.list.d/*.sources` in name order, then `sources.list`.
/// mmdebstrap takes such a file as its MIRROR argument and copies it into
/// the tree.
pub fn host_sources(etc_apt: &Path, suite: &str) -> Option<PathBuf> {
    source_candidates(etc_apt).into_iter().find(|p| {
        std::fs::read_to_string(p)
            .map(|text| mentions_suite(&text, suite))
            .unwrap_or(false)
    })
}

fn source_candidates(etc_apt: &Path) -> Vec<PathBuf> {
    let d = etc_apt.join("sources.list.d");
    let mut out = vec![d.join("debian.sources")];
    let mut others: Vec<PathBuf> = std::fs::read_dir(&d)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension() == Some(OsStr::new("sources")) && *p != out[0])
                .collect()
        })
        .unwrap_or_default();
    others.sort();
    out.extend(others);
    out.push(etc_apt.join("sources.list"));
    out
}

/// `suite` appears as a word on a line that is not a comment (deb822
/// `Suites: bookworm bookworm-updates` or one-line `deb URL bookworm main`).
fn mentions_suite(text: &str, suite: &str) -> bool {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .any(|l| {
            let l = l.strip_prefix("Suites:").unwrap_or(l);
            l.split_whitespace().any(|w| w == suite)
        })
}

/// The cache key of a spec, with the host's sources from `/etc/apt`.
pub fn cache_key(spec: &RootfsSpec) -> String {
    cache_key_in(spec, Path::new("/etc/apt"))
}

/// [`cache_key`] with the host's sources looked for under `etc_apt`.
///
/// `<suite>-<init>-<24 hex digits>`; the digest covers the recipe version,
/// the suite, the init, [`packages`], the mirror or the host sources file
/// (path and content), and every hook file's name, mode and text.
pub fn cache_key_in(spec: &RootfsSpec, etc_apt: &Path) -> String {
    let mut h = Sha256::new();
    let mut feed = |label: &str, value: &[u8]| {
        for part in [label.as_bytes(), value] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part);
        }
    };
    feed("recipe", RECIPE.as_bytes());
    feed("suite", spec.suite.as_bytes());
    feed("init", spec.init.as_str().as_bytes());
    for p in packages(spec) {
        feed("package", p.as_bytes());
    }
    match &spec.mirror {
        Some(m) => feed("mirror", m.as_bytes()),
        None => match host_sources(etc_apt, &spec.suite) {
            Some(p) => {
                feed("sources", p.as_os_str().as_encoded_bytes());
                feed("content", &std::fs::read(&p).unwrap_or_default());
            }
            None => feed("sources", b"none"),
        },
    }
    for (name, text, mode) in hooks::FILES {
        feed("hook", name.as_bytes());
        feed("mode", &mode.to_le_bytes());
        feed("text", text.as_bytes());
    }
    let digest = h.finalize();
    let suite: String = spec
        .suite
        .chars()
        .take(32)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("{suite}-{}-{}", spec.init, hex::encode(&digest[..12]))
}

/// Debian policy's package name: lower case letters, digits, `+ - .`,
/// starting alphanumeric, at least two characters.
fn valid_package(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() >= 2
        && b.len() <= 128
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"+-.".contains(&c))
}

fn validate(spec: &RootfsSpec) -> Result<(), RootfsError> {
    let s = &spec.suite;
    let suite_ok = !s.is_empty()
        && s.len() <= 64
        && s.as_bytes()[0].is_ascii_alphanumeric()
        && s.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'.');
    if !suite_ok {
        return Err(RootfsError::InvalidSpec(format!(
            "suite {s:?} is not a Debian suite name (like `bookworm`)"
        )));
    }
    for p in &spec.extra_packages {
        if !valid_package(p.trim()) {
            return Err(RootfsError::InvalidSpec(format!(
                "extra package {p:?} is not a Debian package name (lower case letters, digits, \
                 `+ - .`)"
            )));
        }
    }
    if let Some(m) = &spec.mirror {
        if m.trim().is_empty() || m.starts_with('-') || m.chars().any(|c| c.is_control()) {
            return Err(RootfsError::InvalidSpec(format!(
                "mirror {m:?} is not a URL or sources line (e.g. http://deb.debian.org/debian)"
            )));
        }
    }
    Ok(())
}

/// Looks a program up like `execvp` would: a name with a slash is taken as
/// is, others are searched in `search_path` (`PATH` syntax; `None`: `$PATH`).
pub fn find_program(program: &OsStr, search_path: Option<&OsStr>) -> Option<PathBuf> {
    let is_exec = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    if program.is_empty() {
        return None;
    }
    if program.as_encoded_bytes().contains(&b'/') {
        let p = PathBuf::from(program);
        return is_exec(&p).then_some(p);
    }
    let env_path;
    let path = match search_path {
        Some(p) => p,
        None => {
            env_path = std::env::var_os("PATH")?;
            &env_path
        }
    };
    std::env::split_paths(path)
        .filter(|d| !d.as_os_str().is_empty())
        .map(|d| d.join(program))
        .find(|p| is_exec(p))
}

/// Builds the tree of `spec` into `<cache>/rootfs/`, or finds it there.
/// `progress` gets one line per step (and mmdebstrap's output lines).
pub fn build(
    spec: &RootfsSpec,
    cache: &Path,
    progress: &dyn Fn(&str),
) -> Result<Rootfs, RootfsError> {
    build_with(spec, cache, progress, &BuildOptions::default())
}

/// [`build`] with explicit [`BuildOptions`].
pub fn build_with(
    spec: &RootfsSpec,
    cache: &Path,
    progress: &dyn Fn(&str),
    opts: &BuildOptions,
) -> Result<Rootfs, RootfsError> {
    let start = Instant::now();
    validate(spec)?;
    let dir = cache.join("rootfs");
    std::fs::create_dir_all(&dir).map_err(io_err("create the cache directory", &dir))?;
    // Absolute: mmdebstrap's hooks do not run in our working directory.
    let dir = dir
        .canonicalize()
        .map_err(io_err("resolve the cache directory", &dir))?;
    let key = cache_key_in(spec, &opts.etc_apt);
    let entry = cache::Entry::new(&dir, &key);

    if let Some(hit) = entry.lookup() {
        progress(&format!("rootfs {key}: cache hit, {}", entry.tar.display()));
        return Ok(hit.into_rootfs(&entry, start.elapsed()));
    }
    let _lock = entry.lock(progress)?;
    if let Some(hit) = entry.lookup() {
        progress(&format!(
            "rootfs {key}: cache hit (built by another process), {}",
            entry.tar.display()
        ));
        return Ok(hit.into_rootfs(&entry, start.elapsed()));
    }
    cache::sweep(&dir, &key, progress);

    let mode = opts.mode.unwrap_or_else(Mode::current);
    let search = opts.search_path.as_deref();
    let mmdebstrap =
        find_program(&opts.mmdebstrap, search).ok_or_else(|| RootfsError::MmdebstrapMissing {
            program: opts.mmdebstrap.clone(),
            mode,
        })?;
    if mode == Mode::Unshare
        && (find_program(OsStr::new("newuidmap"), search).is_none()
            || find_program(OsStr::new("newgidmap"), search).is_none())
    {
        return Err(RootfsError::UidmapMissing);
    }
    let mirror = match &spec.mirror {
        Some(m) => m.clone(),
        None => host_sources(&opts.etc_apt, &spec.suite)
            .ok_or_else(|| RootfsError::NoHostSources {
                suite: spec.suite.clone(),
                searched: source_candidates(&opts.etc_apt),
            })?
            .to_string_lossy()
            .into_owned(),
    };

    let include = packages(spec);
    let result = run_build(spec, &entry, &mmdebstrap, mode, &mirror, &include, progress);
    let outcome = result.and_then(|()| {
        let (bytes, installed) = inspect_tar(&entry.partial)?;
        let manifest = Manifest {
            key: key.clone(),
            spec: spec.clone(),
            include: include.clone(),
            packages: installed,
            bytes,
            build_seconds: start.elapsed().as_secs_f64(),
            built_at_unix: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            mode,
            mirror: mirror.clone(),
            krootfs_version: env!("CARGO_PKG_VERSION").to_string(),
        };
        entry.commit(&manifest)?;
        Ok(manifest)
    });
    entry.discard_temporaries();
    let manifest = outcome?;
    progress(&format!(
        "rootfs {key}: built in {:.1} s, {} MB, {}",
        start.elapsed().as_secs_f64(),
        manifest.bytes / 1_000_000,
        entry.tar.display()
    ));
    Ok(Rootfs {
        tar: entry.tar.clone(),
        cache_hit: false,
        bytes: manifest.bytes,
        duration: start.elapsed(),
        key,
        packages: manifest.packages,
    })
}

/// How mmdebstrap is stopped: SIGTERM to its group, which it handles by
/// cleaning up its chroot, with time for that, then SIGKILL.
fn mmdebstrap_stop() -> ksys::GroupOptions {
    ksys::GroupOptions::graceful(ksys::Signal::Term, Duration::from_secs(30))
}

/// Quotes `s` for `sh`.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The mmdebstrap arguments for a build; `hook_dir` holds [`hooks::FILES`].
pub fn mmdebstrap_args(
    spec: &RootfsSpec,
    mode: Mode,
    include: &[String],
    hook_dir: &Path,
    output: &Path,
    mirror: &str,
) -> Vec<OsString> {
    let hook_dir = hook_dir.to_string_lossy();
    let hook = format!(
        "bash {} \"$1\" {} {}",
        sh_quote(&format!("{hook_dir}/customize.sh")),
        spec.init,
        sh_quote(&hook_dir)
    );
    let mut args: Vec<OsString> = vec![
        format!("--mode={mode}").into(),
        "--variant=minbase".into(),
        "--format=tar".into(),
    ];
    if !include.is_empty() {
        args.push(format!("--include={}", include.join(",")).into());
    }
    args.push(format!("--customize-hook={hook}").into());
    args.push(spec.suite.clone().into());
    args.push(output.as_os_str().to_owned());
    args.push(mirror.into());
    args
}

fn run_build(
    spec: &RootfsSpec,
    entry: &cache::Entry,
    program: &Path,
    mode: Mode,
    mirror: &str,
    include: &[String],
    progress: &dyn Fn(&str),
) -> Result<(), RootfsError> {
    let hook_dir = entry.work.join("hooks");
    let tmp = entry.work.join("tmp");
    for d in [&entry.work, &hook_dir, &tmp] {
        std::fs::create_dir_all(d).map_err(io_err("create", d))?;
        // World-readable: in unshare mode the hook runs as a mapped uid.
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755))
            .map_err(io_err("chmod", d))?;
    }
    for (name, text, mode) in hooks::FILES {
        let p = hook_dir.join(name);
        std::fs::write(&p, text).map_err(io_err("write", &p))?;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(*mode))
            .map_err(io_err("chmod", &p))?;
    }
    let args = mmdebstrap_args(spec, mode, include, &hook_dir, &entry.partial, mirror);
    progress(&format!(
        "rootfs {}: mmdebstrap --mode={mode} {} {} from {mirror} ({} packages beyond minbase)",
        entry.key,
        spec.suite,
        spec.init,
        include.len()
    ));
    let mut cmd = Command::new(program);
    cmd.args(&args)
        .env("TMPDIR", &tmp)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Its own process group, stopped with SIGTERM (mmdebstrap then unmounts
    // its chroot's /proc and /sys and removes its temporaries; apt and dpkg
    // get it too) if we return early or die, SIGKILL after the grace.
    let mut child =
        ksys::spawn_group(&mut cmd, &mmdebstrap_stop()).map_err(|source| RootfsError::Spawn {
            program: program.to_path_buf(),
            source,
        })?;
    // stdout and stderr (hooks print to either) merged line by line; the
    // progress callback runs on this thread only.
    let (tx, rx) = mpsc::channel::<String>();
    let c = child.child_mut();
    let readers: Vec<_> = [
        c.stdout.take().map(|r| Box::new(r) as Box<dyn Read + Send>),
        c.stderr.take().map(|r| Box::new(r) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    .map(|r| {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(r).split(b'\n').map_while(Result::ok) {
                let line = String::from_utf8_lossy(&line).trim_end().to_string();
                if tx.send(line).is_err() {
                    break;
                }
            }
        })
    })
    .collect();
    drop(tx);
    let mut tail: std::collections::VecDeque<String> = Default::default();
    for line in rx.into_iter().filter(|l| !l.is_empty()) {
        if tail.len() == TAIL_LINES {
            tail.pop_front();
        }
        progress(&format!("mmdebstrap: {line}"));
        tail.push_back(line);
    }
    for r in readers {
        let _ = r.join();
    }
    let status = child.wait().map_err(|source| RootfsError::Spawn {
        program: program.to_path_buf(),
        source,
    })?;
    if !status.success() {
        return Err(RootfsError::Mmdebstrap {
            suite: spec.suite.clone(),
            init: spec.init,
            mirror: mirror.to_string(),
            status: status.to_string(),
            tail: Vec::from(tail).join("\n"),
        });
    }
    Ok(())
}

/// Size of a tar and its installed packages (`name=version`, from
/// `var/lib/dpkg/status`).
fn inspect_tar(path: &Path) -> Result<(u64, Vec<String>), RootfsError> {
    let bad = |what: String| RootfsError::BadTar {
        path: path.to_path_buf(),
        what,
    };
    let bytes = std::fs::metadata(path).map_err(io_err("stat", path))?.len();
    if bytes == 0 {
        return Err(bad("it is empty".into()));
    }
    let f = std::fs::File::open(path).map_err(io_err("open", path))?;
    let mut ar = tar::Archive::new(BufReader::new(f));
    let entries = ar.entries().map_err(|e| bad(e.to_string()))?;
    for e in entries {
        let mut e = e.map_err(|e| bad(e.to_string()))?;
        let p = e.path().map_err(|e| bad(e.to_string()))?.into_owned();
        let norm = p.to_string_lossy();
        if norm.trim_start_matches("./") == "var/lib/dpkg/status" {
            let mut text = String::new();
            e.read_to_string(&mut text)
                .map_err(|e| bad(e.to_string()))?;
            return Ok((bytes, installed_packages(&text)));
        }
    }
    Err(bad("it has no var/lib/dpkg/status".into()))
}

/// `name=version` of every installed package in a dpkg status file, sorted.
pub fn installed_packages(status: &str) -> Vec<String> {
    let mut out = Vec::new();
    for para in status.split("\n\n") {
        let field = |name: &str| {
            para.lines()
                .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')))
                .map(str::trim)
        };
        if let (Some(p), Some(v), Some(s)) = (field("Package"), field("Version"), field("Status")) {
            if s.ends_with(" installed") {
                out.push(format!("{p}={v}"));
            }
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests;
