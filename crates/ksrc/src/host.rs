//! `kconfig::Host` for a real tree, with a persistent `$(shell,...)` cache.
//!
//! conf spends nearly all of its 2-5 s running compiler probes through
//! `$(shell,...)`. Their output depends only on the environment and on the
//! tools installed, so we key a cache on exactly those and replay it on later
//! runs; misses can be computed ahead of time in parallel through
//! `Host::prefetch`.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Instant, UNIX_EPOCH};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::env::KconfigEnv;
use crate::make::which;
use crate::tree::KernelTree;

/// Bump when the file layout or the meaning of a key changes.
const CACHE_FORMAT: u32 = 1;

/// Where and whether shell output is cached.
#[derive(Clone, Debug)]
pub struct ShellCacheOptions {
    /// Off means every command runs, as under conf; useful to rule the cache
    /// out when chasing a difference.
    pub enabled: bool,
    /// Directory holding `<fingerprint>.json` files, normally
    /// `<cache_root>/shell`.
    pub dir: PathBuf,
}

impl ShellCacheOptions {
    /// The cache under `<cache>/shell`, enabled.
    pub fn under(cache: &Path) -> ShellCacheOptions {
        ShellCacheOptions {
            enabled: true,
            dir: cache.join("shell"),
        }
    }

    /// No persistent cache at all.
    pub fn disabled() -> ShellCacheOptions {
        ShellCacheOptions {
            enabled: false,
            dir: PathBuf::new(),
        }
    }
}

/// Counters for benchmarks: how much the cache saved and what it cost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShellStats {
    /// `shell` calls answered from the cache (including prefetched output).
    pub hits: u64,
    /// `shell` calls that had to run their command.
    pub misses: u64,
    /// Commands actually run, by `shell` or `prefetch`.
    pub commands_run: u64,
    /// Wall-clock milliseconds spent in those commands, summed per command
    /// (parallel prefetches add up).
    pub run_ms: u64,
}

/// One cached output. stdout is nearly always text, so it is stored readably
/// when it is valid UTF-8 and as hex otherwise, never lossily.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
enum Stored {
    Text { out: String },
    Bytes { hex: String },
}

impl Stored {
    fn from_bytes(b: &[u8]) -> Stored {
        match std::str::from_utf8(b) {
            Ok(s) => Stored::Text { out: s.to_string() },
            Err(_) => Stored::Bytes {
                hex: hex::encode(b),
            },
        }
    }

    fn to_bytes(&self) -> Option<Vec<u8>> {
        match self {
            Stored::Text { out } => Some(out.clone().into_bytes()),
            Stored::Bytes { hex } => hex::decode(hex).ok(),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct CacheFile {
    format: u32,
    fingerprint: String,
    entries: BTreeMap<String, Stored>,
}

#[derive(Default)]
struct State {
    entries: BTreeMap<String, Vec<u8>>,
    dirty: bool,
    stats: ShellStats,
}

/// A kernel tree plus the environment conf would have, as a `kconfig::Host`.
pub struct TreeHost {
    root: PathBuf,
    vars: BTreeMap<String, String>,
    /// conf's working directory stand-in: cc-option creates `.tmp_$$`
    /// directories in the cwd, and the source tree must stay untouched.
    scratch: tempfile::TempDir,
    cache_file: Option<PathBuf>,
    fingerprint: String,
    state: Mutex<State>,
}

impl TreeHost {
    /// Sets up the scratch directory and loads the cache for this exact
    /// environment and toolchain. A missing or unreadable cache file just
    /// means a cold start.
    pub fn new(tree: &KernelTree, env: &KconfigEnv, opts: ShellCacheOptions) -> Result<TreeHost> {
        let scratch = tempfile::Builder::new()
            .prefix("ktailor-conf-")
            .tempdir()
            .context("cannot create a scratch directory for shell commands; check $TMPDIR")?;
        let fingerprint = fingerprint(tree, &env.vars);
        let cache_file = opts
            .enabled
            .then(|| opts.dir.join(format!("{fingerprint}.json")));
        let entries = match &cache_file {
            Some(f) => load(f, &fingerprint),
            None => BTreeMap::new(),
        };
        Ok(TreeHost {
            root: tree.root.clone(),
            vars: env.vars.clone(),
            scratch,
            cache_file,
            fingerprint,
            state: Mutex::new(State {
                entries,
                ..State::default()
            }),
        })
    }

    /// The cache key: changes whenever the environment or a tool changes.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Counters since construction.
    pub fn stats(&self) -> ShellStats {
        self.lock().stats
    }

    /// Writes the cache if this run added to it. Entries another process
    /// saved meanwhile are merged in rather than lost; the write is atomic,
    /// so readers never see half a file.
    pub fn save(&self) -> Result<()> {
        let Some(file) = &self.cache_file else {
            return Ok(());
        };
        let mut st = self.lock();
        if !st.dirty {
            return Ok(());
        }
        let mut merged = load(file, &self.fingerprint);
        merged.extend(st.entries.iter().map(|(k, v)| (k.clone(), v.clone())));
        let doc = CacheFile {
            format: CACHE_FORMAT,
            fingerprint: self.fingerprint.clone(),
            entries: merged
                .iter()
                .map(|(k, v)| (k.clone(), Stored::from_bytes(v)))
                .collect(),
        };
        let dir = file.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create shell cache directory {}", dir.display()))?;
        ksys::write_atomic_with(file, |w| serde_json::to_writer(w, &doc).map_err(Into::into))
            .with_context(|| format!("cannot replace {}", file.display()))?;
        st.entries = merged;
        st.dirty = false;
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave State inconsistent
        // (every update is a single insert or counter bump), so recover.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn run(&self, cmd: &str) -> Result<Vec<u8>, String> {
        let start = Instant::now();
        let out = Command::new("/bin/sh")
            .arg("-c")
            .arg(cmd)
            .env_clear()
            .envs(&self.vars)
            .current_dir(self.scratch.path())
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run /bin/sh -c {cmd:?}: {e}"))?;
        let ms = start.elapsed().as_millis() as u64;
        let mut st = self.lock();
        st.stats.commands_run += 1;
        st.stats.run_ms += ms;
        st.entries.insert(cmd.to_string(), out.stdout.clone());
        st.dirty = true;
        Ok(out.stdout)
    }
}

impl kconfig::Host for TreeHost {
    fn read_file(&self, name: &str) -> io::Result<Vec<u8>> {
        let p = Path::new(name);
        if p.is_absolute() {
            return std::fs::read(p);
        }
        match std::fs::read(self.scratch.path().join(p)) {
            Ok(b) => Ok(b),
            Err(e) if e.kind() == io::ErrorKind::NotFound => std::fs::read(self.root.join(p)),
            Err(e) => Err(e),
        }
    }

    fn getenv(&self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }

    fn shell(&self, cmd: &str) -> Result<Vec<u8>, String> {
        {
            let mut st = self.lock();
            if let Some(out) = st.entries.get(cmd).cloned() {
                st.stats.hits += 1;
                return Ok(out);
            }
            st.stats.misses += 1;
        }
        self.run(cmd)
    }

    fn speculate(&self) -> bool {
        // Nothing cached for this environment yet: worth learning the
        // commands first and running them in parallel.
        self.lock().entries.is_empty()
    }

    fn prefetch(&self, cmds: &[String]) {
        let todo: Vec<&String> = {
            let st = self.lock();
            let mut seen = std::collections::BTreeSet::new();
            cmds.iter()
                .filter(|c| !st.entries.contains_key(*c) && seen.insert(c.as_str()))
                .collect()
        };
        if todo.is_empty() {
            return;
        }
        let workers = std::thread::available_parallelism()
            .map(|n| n.get() * 2)
            .unwrap_or(2)
            .max(2)
            .min(todo.len());
        let next = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(cmd) = todo.get(i) else { break };
                    // A spawn failure is not cached; shell() will retry and
                    // report it.
                    let _ = self.run(cmd);
                });
            }
        });
    }
}

fn load(file: &Path, fingerprint: &str) -> BTreeMap<String, Vec<u8>> {
    let Ok(text) = std::fs::read(file) else {
        return BTreeMap::new();
    };
    match serde_json::from_slice::<CacheFile>(&text) {
        Ok(doc) if doc.format == CACHE_FORMAT && doc.fingerprint == fingerprint => doc
            .entries
            .into_iter()
            .filter_map(|(k, v)| Some((k, v.to_bytes()?)))
            .collect(),
        _ => BTreeMap::new(),
    }
}

/// Variables that identify a login session or terminal and that no compiler
/// or Kconfig script reads (at most they shape diagnostics on stderr, which
/// is discarded). Left out of the fingerprint so a new SSH session or tmux
/// pane does not throw the cache away.
const SESSION_NOISE: &[&str] = &[
    "SSH_AUTH_SOCK",
    "SSH_CLIENT",
    "SSH_CONNECTION",
    "SSH_TTY",
    "TMUX",
    "TMUX_PANE",
    "STY",
    "WINDOW",
    "WINDOWID",
    "TERM_SESSION_ID",
    "XDG_SESSION_ID",
    "XDG_VTNR",
    "INVOCATION_ID",
    "JOURNAL_STREAM",
    "GPG_TTY",
    "COLUMNS",
    "LINES",
];

/// Tool variables whose programs Kconfig's commands may run.
const TOOL_VARS: &[&str] = &[
    "CC", "LD", "AR", "NM", "OBJCOPY", "OBJDUMP", "READELF", "STRIP", "HOSTCC", "HOSTCXX", "RUSTC",
    "BINDGEN", "PAHOLE", "PYTHON3", "PERL", "AWK",
];

/// sha256 over the tree, the environment and every tool the commands may
/// run, so that a changed compiler, a new rustup toolchain or any Debian
/// package change (plugin headers, libc for static linking, python modules
/// that no binary's mtime reflects) starts a fresh cache.
fn fingerprint(tree: &KernelTree, vars: &BTreeMap<String, String>) -> String {
    let mut h = Sha256::new();
    let mut field = |k: &str, v: &str| {
        h.update(k.as_bytes());
        h.update([0]);
        h.update(v.as_bytes());
        h.update([0]);
    };
    field("format", &CACHE_FORMAT.to_string());
    field("root", &tree.root.to_string_lossy());
    field("kernelversion", &tree.kernelversion);
    for (k, v) in vars {
        if !SESSION_NOISE.contains(&k.as_str()) {
            field(&format!("var:{k}"), v);
        }
    }
    let path = vars.get("PATH").map(String::as_str);
    let mut tools: Vec<String> = TOOL_VARS
        .iter()
        .filter_map(|k| vars.get(*k))
        .filter_map(|v| v.split_whitespace().next().map(str::to_string))
        .collect();
    let cross = vars.get("CROSS_COMPILE").cloned().unwrap_or_default();
    tools.push(format!("{cross}as"));
    tools.push("/bin/sh".to_string());
    tools.sort();
    tools.dedup();
    for t in &tools {
        field(&format!("tool:{t}"), &file_stamp(which(t, path).as_deref()));
    }
    field("dpkg", &file_stamp(Some(Path::new("/var/lib/dpkg/status"))));
    let rustup = vars
        .get("RUSTUP_HOME")
        .map(PathBuf::from)
        .or_else(|| vars.get("HOME").map(|h| Path::new(h).join(".rustup")));
    if let Some(r) = rustup {
        field(
            "rustup-toolchains",
            &file_stamp(Some(&r.join("toolchains"))),
        );
        field(
            "rustup-settings",
            &file_stamp(Some(&r.join("settings.toml"))),
        );
    }
    hex::encode(h.finalize())
}

/// (canonical path, size, mtime) of a file, or "missing".
fn file_stamp(p: Option<&Path>) -> String {
    let Some(p) = p else {
        return "missing".to_string();
    };
    let canon = p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    match std::fs::metadata(&canon) {
        Ok(m) => {
            let mtime = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            format!("{} {} {}", canon.display(), m.len(), mtime)
        }
        Err(_) => "missing".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kconfig::Host;
    use std::os::unix::fs::PermissionsExt;

    struct Fixture {
        _dirs: Vec<tempfile::TempDir>,
        tree: KernelTree,
        env: KconfigEnv,
        cache: PathBuf,
        bin: PathBuf,
    }

    fn write_tool(bin: &Path, name: &str, body: &str) {
        let p = bin.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn fixture() -> Fixture {
        let tree_dir = tempfile::tempdir().unwrap();
        std::fs::write(tree_dir.path().join("Kconfig"), "config A\n\tbool\n").unwrap();
        let cache = tempfile::tempdir().unwrap();
        let bin = tempfile::tempdir().unwrap();
        write_tool(bin.path(), "fakecc", "echo fakecc 1.0");
        let mut vars = BTreeMap::new();
        vars.insert(
            "PATH".to_string(),
            format!("{}:/usr/bin:/bin", bin.path().display()),
        );
        vars.insert("CC".to_string(), "fakecc".to_string());
        vars.insert("srctree".to_string(), tree_dir.path().display().to_string());
        let env = KconfigEnv {
            arch: "x86_64".into(),
            srcarch: "x86".into(),
            kconfig: "Kconfig".into(),
            defconfig: "x86_64_defconfig".into(),
            vars,
        };
        let tree = KernelTree {
            root: tree_dir.path().to_path_buf(),
            kernelversion: "9.9.9".into(),
        };
        Fixture {
            tree,
            env,
            cache: cache.path().join("shell"),
            bin: bin.path().to_path_buf(),
            _dirs: vec![tree_dir, cache, bin],
        }
    }

    fn host(f: &Fixture) -> TreeHost {
        let opts = ShellCacheOptions {
            enabled: true,
            dir: f.cache.clone(),
        };
        TreeHost::new(&f.tree, &f.env, opts).unwrap()
    }

    #[test]
    fn shell_sees_exactly_vars_and_runs_outside_the_tree() {
        let f = fixture();
        let h = host(&f);
        let out = h
            .shell("echo $CC; env | sort | cut -d= -f1 | tr '\\n' ' '; echo; pwd")
            .unwrap();
        let out = String::from_utf8(out).unwrap();
        let mut lines = out.lines();
        assert_eq!(lines.next(), Some("fakecc"));
        let names = lines.next().unwrap();
        // sh adds PWD (and dash nothing else); everything else is ours.
        for n in names.split_whitespace() {
            assert!(f.env.vars.contains_key(n) || n == "PWD", "unexpected {n}");
        }
        let cwd = lines.next().unwrap();
        assert!(!cwd.starts_with(f.tree.root.to_str().unwrap()));
        assert_eq!(h.shell("echo err >&2; true").unwrap(), b"");
        assert_eq!(h.getenv("CC").as_deref(), Some("fakecc"));
        assert_eq!(h.getenv("NOPE"), None);
    }

    #[test]
    fn read_file_falls_back_to_the_tree() {
        let f = fixture();
        let h = host(&f);
        assert_eq!(h.read_file("Kconfig").unwrap(), b"config A\n\tbool\n");
        let abs = f.tree.root.join("Kconfig");
        assert!(h.read_file(abs.to_str().unwrap()).is_ok());
        assert_eq!(
            h.read_file("missing/Kconfig").unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
    }

    #[test]
    fn cache_round_trip_including_binary_output() {
        let f = fixture();
        let h = host(&f);
        let text_cmd = "fakecc --version";
        let bin_cmd = "printf '\\377\\000x\\n'";
        assert_eq!(h.shell(text_cmd).unwrap(), b"fakecc 1.0\n");
        assert_eq!(h.shell(bin_cmd).unwrap(), b"\xff\x00x\n");
        assert_eq!(h.shell(text_cmd).unwrap(), b"fakecc 1.0\n");
        let s = h.stats();
        assert_eq!((s.hits, s.misses, s.commands_run), (1, 2, 2));
        h.save().unwrap();

        let h2 = host(&f);
        assert_eq!(h2.fingerprint(), h.fingerprint());
        assert_eq!(h2.shell(text_cmd).unwrap(), b"fakecc 1.0\n");
        assert_eq!(h2.shell(bin_cmd).unwrap(), b"\xff\x00x\n");
        assert_eq!(h2.stats().commands_run, 0);
        assert_eq!(h2.stats().hits, 2);
        // Nothing new: save must not rewrite the file.
        let file = f.cache.join(format!("{}.json", h2.fingerprint()));
        let before = std::fs::metadata(&file).unwrap().modified().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        h2.save().unwrap();
        assert_eq!(
            std::fs::metadata(&file).unwrap().modified().unwrap(),
            before
        );
    }

    #[test]
    fn changed_tool_or_env_invalidates() {
        let f = fixture();
        let h = host(&f);
        h.shell("fakecc --version").unwrap();
        h.save().unwrap();
        let fp = h.fingerprint().to_string();

        // Same tool, new contents and mtime: a compiler upgrade.
        std::thread::sleep(std::time::Duration::from_millis(20));
        write_tool(&f.bin, "fakecc", "echo fakecc 2.0");
        let h2 = host(&f);
        assert_ne!(h2.fingerprint(), fp);
        assert_eq!(h2.shell("fakecc --version").unwrap(), b"fakecc 2.0\n");
        assert_eq!(h2.stats().misses, 1);

        let mut f3 = f;
        f3.env.vars.insert("CROSS_COMPILE".into(), "x-".into());
        assert_ne!(host(&f3).fingerprint(), fp);
        // Session noise does not matter.
        let before = host(&f3).fingerprint().to_string();
        f3.env.vars.insert("SSH_TTY".into(), "/dev/pts/9".into());
        assert_eq!(host(&f3).fingerprint(), before);
    }

    #[test]
    fn corrupt_cache_is_a_cold_start() {
        let f = fixture();
        let fp = host(&f).fingerprint().to_string();
        std::fs::create_dir_all(&f.cache).unwrap();
        std::fs::write(f.cache.join(format!("{fp}.json")), "{not json").unwrap();
        let h = host(&f);
        assert_eq!(h.shell("echo hi").unwrap(), b"hi\n");
        h.save().unwrap();
        assert_eq!(host(&f).shell("echo hi").unwrap(), b"hi\n");
    }

    #[test]
    fn disabled_cache_never_touches_disk() {
        let f = fixture();
        let h = TreeHost::new(&f.tree, &f.env, ShellCacheOptions::disabled()).unwrap();
        h.shell("echo hi").unwrap();
        h.save().unwrap();
        assert!(!f.cache.exists());
    }

    #[test]
    fn prefetch_runs_in_parallel_and_fills_the_cache() {
        let f = fixture();
        let h = host(&f);
        let cmds: Vec<String> = (0..12)
            .map(|i| format!("sleep 0.2; echo {i}"))
            .chain(std::iter::once("sleep 0.2; echo 0".to_string()))
            .collect();
        let start = Instant::now();
        h.prefetch(&cmds);
        let took = start.elapsed();
        let s = h.stats();
        assert_eq!(s.commands_run, 12, "duplicates run once");
        // 12 x 0.2 s sequentially would be 2.4 s; at least 4 workers run.
        assert!(took.as_secs_f64() < 1.6, "prefetch took {took:?}");
        for i in 0..12 {
            let out = h.shell(&format!("sleep 0.2; echo {i}")).unwrap();
            assert_eq!(out, format!("{i}\n").into_bytes());
        }
        assert_eq!(h.stats().hits, 12);
        assert_eq!(h.stats().commands_run, 12);
        h.prefetch(&cmds);
        assert_eq!(h.stats().commands_run, 12, "cached commands are not rerun");
    }

    #[test]
    fn cc_option_style_commands_work_in_scratch() {
        let f = fixture();
        let h = host(&f);
        let cmd = r#"{ trap "rm -rf .tmp_$$" EXIT; mkdir .tmp_$$; test -d .tmp_$$; } >/dev/null 2>&1 && echo "y" || echo "n""#;
        assert_eq!(h.shell(cmd).unwrap(), b"y\n");
        assert!(!f.tree.root.join(".tmp_1").exists());
    }
}
