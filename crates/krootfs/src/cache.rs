//! The rootfs cache directory: entries, their sidecars, locks, and the
//! removal of leftovers from interrupted builds.
//!
//! For a key `K` under `<cache>/rootfs/`:
//! - `K.tar`, `K.json`: the entry and its [`Manifest`] (final names);
//! - `K.lock`: flock'ed while a build of `K` runs (never removed);
//! - `K.tar.partial`, `K.work/`: a build in progress (mmdebstrap's output,
//!   TMPDIR and hook files), and `K.json.partial`, the sidecar's temporary
//!   name in older versions (the sidecar is now written with
//!   `ksys::write_atomic`). Whoever holds `K.lock` may delete them.

use std::path::{Path, PathBuf};

use ksys::{FileLock, LockMode};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{io_err, Mode, Rootfs, RootfsError, RootfsSpec};

/// The JSON sidecar `<key>.json` of a cache entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub key: String,
    pub spec: RootfsSpec,
    /// The packages passed to `--include` ([`crate::packages`]).
    pub include: Vec<String>,
    /// Every installed package, `name=version`, sorted.
    pub packages: Vec<String>,
    /// Size of the tar.
    pub bytes: u64,
    pub build_seconds: f64,
    pub built_at_unix: u64,
    pub mode: Mode,
    /// mmdebstrap's MIRROR argument (a URL or the host sources file).
    pub mirror: String,
    pub krootfs_version: String,
}

impl Manifest {
    pub(crate) fn into_rootfs(self, entry: &Entry, duration: Duration) -> Rootfs {
        Rootfs {
            tar: entry.tar.clone(),
            cache_hit: true,
            bytes: self.bytes,
            duration,
            key: self.key,
            packages: self.packages,
        }
    }
}

pub(crate) struct Entry {
    pub key: String,
    pub tar: PathBuf,
    pub json: PathBuf,
    pub lock: PathBuf,
    pub partial: PathBuf,
    pub json_partial: PathBuf,
    pub work: PathBuf,
}

const TEMP_SUFFIXES: [&str; 3] = [".tar.partial", ".json.partial", ".work"];

impl Entry {
    pub fn new(dir: &Path, key: &str) -> Entry {
        let p = |suffix: &str| dir.join(format!("{key}{suffix}"));
        Entry {
            key: key.to_string(),
            tar: p(".tar"),
            json: p(".json"),
            lock: p(".lock"),
            partial: p(TEMP_SUFFIXES[0]),
            json_partial: p(TEMP_SUFFIXES[1]),
            work: p(TEMP_SUFFIXES[2]),
        }
    }

    /// The manifest of a complete entry: the tar is there and its size is
    /// the one the sidecar recorded.
    pub fn lookup(&self) -> Option<Manifest> {
        let len = std::fs::metadata(&self.tar)
            .ok()
            .filter(|m| m.is_file())?
            .len();
        let m: Manifest = serde_json::from_slice(&std::fs::read(&self.json).ok()?).ok()?;
        (m.key == self.key && m.bytes == len).then_some(m)
    }

    /// Takes `<key>.lock`, waiting (and saying who holds it) while another
    /// process builds the same key.
    pub fn lock(&self, progress: &dyn Fn(&str)) -> Result<FileLock, RootfsError> {
        FileLock::lock_or_wait(&self.lock, LockMode::Exclusive, &|m| {
            progress(&format!(
                "rootfs {}: another build of it runs; {m}",
                self.key
            ))
        })
        .map_err(io_err("lock", &self.lock))
    }

    /// Publishes a finished build: the sidecar first, then the tar, each
    /// synced and renamed from a temporary name, so `<key>.tar` never names
    /// a partial file and always has its sidecar.
    pub fn commit(&self, m: &Manifest) -> Result<(), RootfsError> {
        let mut json = serde_json::to_vec_pretty(m)
            .map_err(|e| io_err("serialize", &self.json)(std::io::Error::other(e)))?;
        json.push(b'\n');
        ksys::write_atomic(&self.json, &json).map_err(io_err("write", &self.json))?;
        ksys::fs::publish_file(&self.partial, &self.tar)
            .map_err(io_err("rename into place", &self.tar))
    }

    /// Removes this build's temporaries (the caller holds the lock).
    pub fn discard_temporaries(&self) {
        let _ = std::fs::remove_file(&self.partial);
        let _ = std::fs::remove_file(&self.json_partial);
        let _ = remove_work_dir(&self.work);
    }
}

/// Removes leftovers of interrupted builds in `dir`: those of `own_key`
/// (whose lock the caller holds) and those of any other key whose lock is
/// free. Failures are reported through `progress`, never fatal.
pub(crate) fn sweep(dir: &Path, own_key: &str, progress: &dyn Fn(&str)) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.filter_map(|e| e.ok()) {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(key) = TEMP_SUFFIXES.iter().find_map(|s| name.strip_suffix(s)) else {
            continue;
        };
        let path = e.path();
        let _other_lock; // held while removing another key's leftovers
        if key != own_key {
            let lock = dir.join(format!("{key}.lock"));
            let Ok(Some(l)) = FileLock::try_lock(&lock, LockMode::Exclusive) else {
                continue; // a build of that key is running
            };
            _other_lock = l;
        }
        let removed = if path.is_dir() {
            remove_work_dir(&path)
        } else {
            std::fs::remove_file(&path).map_err(|e| e.to_string())
        };
        match removed {
            Ok(()) => progress(&format!(
                "rootfs: removed {} (an interrupted build)",
                path.display()
            )),
            Err(why) => progress(&format!(
                "rootfs: cannot remove {} (an interrupted build): {why}",
                path.display()
            )),
        }
    }
}

/// Removes a build's work directory, unless something is mounted below it
/// (an mmdebstrap killed mid-build can leave /proc or /sys mounted in its
/// chroot; deleting through those would be wrong).
fn remove_work_dir(dir: &Path) -> Result<(), String> {
    if !dir.exists() {
        return Ok(());
    }
    let canon = dir.canonicalize().map_err(|e| e.to_string())?;
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    if let Some(m) = mounts_below(&mounts, &canon).first() {
        return Err(format!(
            "{m} is still mounted below it; unmount it (umount -R {}) and remove the directory",
            canon.display()
        ));
    }
    std::fs::remove_dir_all(dir).map_err(|e| e.to_string())
}

/// Mount points in a `/proc/self/mountinfo` text at or below `dir`.
pub(crate) fn mounts_below(mountinfo: &str, dir: &Path) -> Vec<String> {
    mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(kprobe::mounts::unescape)
        .filter(|m| Path::new(m).starts_with(dir))
        .collect()
}
