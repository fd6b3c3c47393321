//! The kernel's own conf, run through its Makefile in out-of-tree objdirs,
//! with its outputs cached on disk.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::cases::{Invocation, Mode};
use crate::exec;
use crate::tree::{self, KernelTree};

/// Bumped whenever the way the oracle is run changes what it would output,
/// so old cache entries are ignored rather than trusted.
const CACHE_FORMAT: &str = "kconform-oracle-v1";

/// Result of one oracle invocation (fresh or from the cache).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OracleResult {
    pub ok: bool,
    /// Why it failed, in one line.
    #[serde(default)]
    pub reason: String,
    /// Shell command that reproduces the run.
    pub command: String,
    pub stdout: String,
    pub stderr: String,
    pub seconds: f64,
    /// Cached output file (the .config, or the defconfig for savedefconfig).
    #[serde(skip)]
    pub output: Option<PathBuf>,
    #[serde(skip)]
    pub cached: bool,
}

/// Per-run oracle settings shared by all workers.
pub struct Oracle {
    cache_dir: PathBuf,
    objdir_base: PathBuf,
    toolchain: String,
    refresh: bool,
    timeout: Duration,
}

/// Identifies the host tools whose output ends up in a .config
/// (CONFIG_CC_VERSION_TEXT, CONFIG_GCC_VERSION, cc-option probes...), so a
/// compiler upgrade invalidates the cache instead of producing false mismatches.
fn toolchain_id() -> String {
    let first_line = |prog: &str, arg: &str| -> String {
        let mut c = Command::new(prog);
        c.arg(arg);
        exec::sanitize_env(&mut c);
        match c.output() {
            Ok(o) => String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or("")
                .to_string(),
            Err(e) => format!("{prog}: {e}"),
        }
    };
    format!(
        "gcc={}\nld={}\nmachine={}\n",
        first_line("gcc", "--version"),
        first_line("ld", "--version"),
        first_line("uname", "-m")
    )
}

impl Oracle {
    pub fn new(cache_root: &Path, refresh: bool, timeout: Duration) -> Result<Self> {
        let conform = cache_root.join("conform");
        let cache_dir = conform.join("oracle");
        let objdir_base = conform.join("objdir");
        fs::create_dir_all(&cache_dir)
            .with_context(|| format!("cannot create {}", cache_dir.display()))?;
        fs::create_dir_all(&objdir_base)
            .with_context(|| format!("cannot create {}", objdir_base.display()))?;
        Ok(Oracle {
            cache_dir,
            objdir_base,
            toolchain: toolchain_id(),
            refresh,
            timeout,
        })
    }

    fn key(&self, tree: &KernelTree, inv: &Invocation, input: Option<&[u8]>) -> String {
        let mut h = Sha256::new();
        let mut field = |name: &str, value: &[u8]| {
            h.update(name.as_bytes());
            h.update((value.len() as u64).to_le_bytes());
            h.update(value);
        };
        field("format", CACHE_FORMAT.as_bytes());
        field("root", tree.root.as_os_str().as_encoded_bytes());
        for (name, v) in ["VERSION", "PATCHLEVEL", "SUBLEVEL", "EXTRAVERSION"]
            .iter()
            .zip(&tree.version_fields)
        {
            field(name, v.as_bytes());
        }
        field("arch", inv.arch.as_bytes());
        field("mode", inv.mode.name().as_bytes());
        field("input", input.unwrap_or(b"\0none"));
        field(
            "seed",
            inv.seed
                .map(|s| s.to_string())
                .unwrap_or_default()
                .as_bytes(),
        );
        field(
            "defconfig",
            inv.defconfig.as_deref().unwrap_or("\0default").as_bytes(),
        );
        field("toolchain", self.toolchain.as_bytes());
        for arg in Self::make_args(tree, inv) {
            field("make-arg", arg.as_bytes());
        }
        hex::encode(h.finalize())
    }

    fn load(&self, key: &str) -> Option<OracleResult> {
        if self.refresh {
            return None;
        }
        let meta = fs::read(self.cache_dir.join(format!("{key}.json"))).ok()?;
        let mut r: OracleResult = serde_json::from_slice(&meta).ok()?;
        if r.ok {
            let out = self.cache_dir.join(format!("{key}.out"));
            if !out.is_file() {
                return None;
            }
            r.output = Some(out);
        }
        r.cached = true;
        Some(r)
    }

    /// Writes output then metadata, each atomically: a metadata file only
    /// ever exists next to a complete output, even if two processes race.
    fn store(&self, key: &str, r: &mut OracleResult, output: Option<&[u8]>) -> Result<()> {
        let write = |name: String, bytes: &[u8]| -> Result<PathBuf> {
            let path = self.cache_dir.join(name);
            ksys::write_atomic(&path, bytes)
                .with_context(|| format!("cannot write {}", path.display()))?;
            Ok(path)
        };
        if let Some(bytes) = output {
            r.output = Some(write(format!("{key}.out"), bytes)?);
        }
        write(format!("{key}.json"), &serde_json::to_vec_pretty(r)?)?;
        Ok(())
    }

    /// Runs (or recalls) `inv`, generating its input chain first.
    /// `memo` spares re-reading the cache for inputs shared within a job.
    pub fn get(
        &self,
        tree_idx: usize,
        tree: &KernelTree,
        inv: &Invocation,
        objdirs: &mut ObjdirPool,
        memo: &mut HashMap<Invocation, Arc<OracleResult>>,
    ) -> Arc<OracleResult> {
        if let Some(r) = memo.get(inv) {
            return r.clone();
        }
        let r = Arc::new(self.compute(tree_idx, tree, inv, objdirs, memo));
        memo.insert(inv.clone(), r.clone());
        r
    }

    fn compute(
        &self,
        tree_idx: usize,
        tree: &KernelTree,
        inv: &Invocation,
        objdirs: &mut ObjdirPool,
        memo: &mut HashMap<Invocation, Arc<OracleResult>>,
    ) -> OracleResult {
        let mut input_file = None;
        if let Some(input) = &inv.input {
            let ir = self.get(tree_idx, tree, input, objdirs, memo);
            let file = ir
                .output
                .as_ref()
                .and_then(|p| Some((fs::read(p).ok()?, p.clone())));
            match (ir.ok, file) {
                (true, Some(f)) => input_file = Some(f),
                _ => {
                    return OracleResult {
                        ok: false,
                        reason: format!(
                            "generating the input ({}) failed: {}",
                            input.label(),
                            ir.reason
                        ),
                        command: ir.command.clone(),
                        stdout: ir.stdout.clone(),
                        stderr: ir.stderr.clone(),
                        seconds: 0.0,
                        output: None,
                        cached: ir.cached,
                    }
                }
            }
        }
        let input = input_file
            .as_ref()
            .map(|(b, p)| (b.as_slice(), p.as_path()));
        let key = self.key(tree, inv, input.map(|(b, _)| b));
        if let Some(r) = self.load(&key) {
            return r;
        }
        let mut r = match self.run(tree_idx, tree, inv, input, objdirs) {
            Ok((mut r, output, cacheable)) => {
                if cacheable {
                    if let Err(e) = self.store(&key, &mut r, output.as_deref()) {
                        r.reason = format!("{} (not cached: {e:#})", r.reason);
                    }
                }
                if r.output.is_none() {
                    // Not cached: keep the bytes in a private file all the same.
                    if let Some(bytes) = output {
                        let p = self.cache_dir.join(format!("{key}.uncached.out"));
                        if fs::write(&p, bytes).is_ok() {
                            r.output = Some(p);
                        }
                    }
                }
                r
            }
            Err(e) => OracleResult {
                ok: false,
                reason: format!("harness error: {e:#}"),
                command: String::new(),
                stdout: String::new(),
                stderr: String::new(),
                seconds: 0.0,
                output: None,
                cached: false,
            },
        };
        r.cached = false;
        r
    }

    /// Make arguments after `O=`: ARCH, pinned variables and the target.
    ///
    /// Part of the cache key, so changing how the oracle is invoked can never
    /// serve an output produced the old way.
    fn make_args(tree: &KernelTree, inv: &Invocation) -> Vec<String> {
        let mut args = vec![format!("ARCH={}", inv.arch)];
        for (k, v) in tree::arch_make_vars(&inv.arch) {
            args.push(format!("{k}={v}"));
        }
        match (inv.mode, inv.defconfig.as_deref()) {
            (Mode::Defconfig, Some(file))
                if file.ends_with("_defconfig")
                    && !arch_makefile_has_rule(tree, &inv.arch, file) =>
            {
                args.push(file.to_string());
            }
            (Mode::Defconfig, Some(file)) => {
                // `make defconfig` reads arch/$(SRCARCH)/configs/$(KBUILD_DEFCONFIG):
                // exactly the file, even where an arch Makefile gives the
                // file's name to a different target (6.1 riscv's
                // rv32_defconfig merges 32-bit.config into defconfig).
                args.push(format!("KBUILD_DEFCONFIG={file}"));
                args.push("defconfig".to_string());
            }
            (mode, _) => args.push(mode.name().to_string()),
        }
        args
    }

    /// The make invocation for `inv` in `objdir`.
    pub fn command(tree: &KernelTree, inv: &Invocation, objdir: &Path) -> Command {
        let mut cmd = Command::new("make");
        exec::sanitize_env(&mut cmd);
        if let Some(seed) = inv.seed {
            cmd.env("KCONFIG_SEED", seed.to_string());
        }
        cmd.arg("-s")
            .arg("-C")
            .arg(&tree.root)
            .arg(format!("O={}", objdir.display()))
            .args(Self::make_args(tree, inv));
        cmd
    }

    /// Returns the result, the output bytes, and whether the result is
    /// deterministic enough to cache (timeouts and signals are not).
    fn run(
        &self,
        tree_idx: usize,
        tree: &KernelTree,
        inv: &Invocation,
        input: Option<(&[u8], &Path)>,
        objdirs: &mut ObjdirPool,
    ) -> Result<(OracleResult, Option<Vec<u8>>, bool)> {
        let objdir = objdirs.acquire(&self.objdir_base, tree_idx, tree, &inv.arch)?;
        let config = objdir.join(".config");
        let output = if inv.mode == Mode::Savedefconfig {
            objdir.join("defconfig")
        } else {
            config.clone()
        };
        for stale in [".config", ".config.old", "defconfig"] {
            let p = objdir.join(stale);
            if p.exists() {
                fs::remove_file(&p).with_context(|| format!("cannot remove {}", p.display()))?;
            }
        }
        let mut prelude = String::new();
        if let Some((bytes, path)) = input {
            fs::write(&config, bytes)
                .with_context(|| format!("cannot write {}", config.display()))?;
            prelude = format!(
                "cp {} {} && ",
                exec::quote(path.as_os_str()),
                exec::quote(config.as_os_str())
            );
        }
        let cmd = Self::command(tree, inv, &objdir);
        let command = format!("{prelude}{}", exec::render(&cmd));
        let logs = tempfile::tempdir()?;
        let o = exec::run(cmd, logs.path(), self.timeout)?;
        let bytes = if o.success() {
            fs::read(&output).ok()
        } else {
            None
        };
        let ok = bytes.is_some();
        let reason = if ok {
            String::new()
        } else if o.success() {
            format!("make succeeded but wrote no {}", output.display())
        } else {
            let last = o
                .stderr
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("");
            format!("make: {}: {last}", o.describe())
        };
        let cacheable = !o.timed_out && o.code.is_some();
        Ok((
            OracleResult {
                ok,
                reason,
                command,
                stdout: o.stdout,
                stderr: o.stderr,
                seconds: o.seconds,
                output: None,
                cached: false,
            },
            bytes,
            cacheable,
        ))
    }
}

/// Whether arch/<srcarch>/Makefile defines `target` itself, shadowing the
/// generic `%_defconfig` rule that reads the file of that name.
fn arch_makefile_has_rule(tree: &KernelTree, arch: &str, target: &str) -> bool {
    let path = tree
        .root
        .join("arch")
        .join(tree::srcarch(arch))
        .join("Makefile");
    let Ok(text) = fs::read_to_string(path) else {
        return false;
    };
    text.lines().filter(|l| !l.starts_with('\t')).any(|line| {
        line.split_once(':').is_some_and(|(targets, _)| {
            !targets.contains('=') && targets.split_whitespace().any(|t| t == target)
        })
    })
}

/// Objdirs held by one worker, one per (tree, arch), locked for the whole
/// run so that concurrent workers or kconform processes never share one,
/// while conf stays built between cases and between runs.
#[derive(Default)]
pub struct ObjdirPool {
    held: HashMap<(usize, String), (PathBuf, ksys::FileLock)>,
}

/// More than any sensible --jobs times concurrent runs.
const MAX_SLOTS: usize = 256;

impl ObjdirPool {
    fn acquire(
        &mut self,
        base: &Path,
        tree_idx: usize,
        tree: &KernelTree,
        arch: &str,
    ) -> Result<PathBuf> {
        if let Some((dir, _)) = self.held.get(&(tree_idx, arch.to_string())) {
            return Ok(dir.clone());
        }
        let mut h = Sha256::new();
        h.update(tree.root.as_os_str().as_encoded_bytes());
        let tag = format!(
            "{}-{}",
            tree.kernelversion,
            &hex::encode(h.finalize())[..10]
        );
        let dir = base.join(tag).join(arch);
        fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let slots = (0..MAX_SLOTS).map(|slot| dir.join(format!("w{slot}.lock")));
        if let Some((slot, lock)) = ksys::FileLock::first_free(slots, ksys::LockMode::Exclusive)
            .with_context(|| format!("cannot lock an objdir slot in {}", dir.display()))?
        {
            let objdir = dir.join(format!("w{slot}"));
            fs::create_dir_all(&objdir)?;
            self.held
                .insert((tree_idx, arch.to_string()), (objdir.clone(), lock));
            return Ok(objdir);
        }
        anyhow::bail!(
            "all {MAX_SLOTS} objdir slots under {} are locked",
            dir.display()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_tree(root: &Path) -> KernelTree {
        KernelTree {
            spec: "x".into(),
            root: root.to_path_buf(),
            kernelversion: "6.12.1".into(),
            version_fields: ["6".into(), "12".into(), "1".into(), String::new()],
        }
    }

    #[test]
    fn key_depends_on_every_field() {
        let dir = tempfile::tempdir().unwrap();
        let o = Oracle::new(dir.path(), false, Duration::from_secs(1)).unwrap();
        let t = fake_tree(Path::new("/k"));
        let base = Invocation::simple("x86_64", Mode::Randconfig);
        let k = |inv: &Invocation, input: Option<&[u8]>| o.key(&t, inv, input);
        let k0 = k(&base, None);
        assert_eq!(k0, k(&base.clone(), None));
        let mut seeded = base.clone();
        seeded.seed = Some(1);
        let mut other_arch = base.clone();
        other_arch.arch = "arm64".into();
        let mut def = base.clone();
        def.defconfig = Some("x".into());
        let mut t2 = t.clone();
        t2.version_fields[2] = "2".into();
        let keys = [
            k(&seeded, None),
            k(&other_arch, None),
            k(&def, None),
            k(&base, Some(b"")),
            o.key(&t2, &base, None),
        ];
        for (i, a) in keys.iter().enumerate() {
            assert_ne!(*a, k0);
            for b in &keys[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn objdir_slots_are_exclusive() {
        let dir = tempfile::tempdir().unwrap();
        let t = fake_tree(Path::new("/k"));
        let mut a = ObjdirPool::default();
        let mut b = ObjdirPool::default();
        let da = a.acquire(dir.path(), 0, &t, "x86_64").unwrap();
        let db = b.acquire(dir.path(), 0, &t, "x86_64").unwrap();
        assert_ne!(da, db);
        assert_eq!(a.acquire(dir.path(), 0, &t, "x86_64").unwrap(), da);
        drop(a);
        let mut c = ObjdirPool::default();
        assert_eq!(c.acquire(dir.path(), 0, &t, "x86_64").unwrap(), da);
    }

    #[test]
    fn shadowed_defconfig_targets_read_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("arch/riscv")).unwrap();
        std::fs::write(
            dir.path().join("arch/riscv/Makefile"),
            "KBUILD_IMAGE := x\nPHONY += rv32_defconfig\nrv32_defconfig:\n\t$(Q)$(MAKE) defconfig 32-bit.config\n",
        )
        .unwrap();
        let t = fake_tree(dir.path());
        let mut inv = Invocation::simple("riscv", Mode::Defconfig);
        inv.defconfig = Some("rv32_defconfig".into());
        assert_eq!(
            Oracle::make_args(&t, &inv),
            ["ARCH=riscv", "KBUILD_DEFCONFIG=rv32_defconfig", "defconfig"]
        );
        inv.defconfig = Some("nommu_virt_defconfig".into());
        assert_eq!(
            Oracle::make_args(&t, &inv),
            ["ARCH=riscv", "nommu_virt_defconfig"]
        );
    }

    #[test]
    fn make_command_lines() {
        let t = fake_tree(Path::new("/k"));
        let obj = Path::new("/o");
        let mut inv = Invocation::simple("x86_64", Mode::Defconfig);
        inv.defconfig = Some("x86_64_defconfig".into());
        let s = exec::render(&Oracle::command(&t, &inv, obj));
        assert_eq!(s, "make -s -C /k O=/o ARCH=x86_64 x86_64_defconfig");
        inv.arch = "arm64".into();
        inv.defconfig = Some("defconfig".into());
        let s = exec::render(&Oracle::command(&t, &inv, obj));
        assert_eq!(
            s,
            "make -s -C /k O=/o ARCH=arm64 KBUILD_DEFCONFIG=defconfig defconfig"
        );
        let mut r = Invocation::simple("um", Mode::Randconfig);
        r.seed = Some(5);
        let s = exec::render(&Oracle::command(&t, &r, obj));
        assert_eq!(
            s,
            "KCONFIG_SEED=5 make -s -C /k O=/o ARCH=um SUBARCH=x86 randconfig"
        );
    }
}
