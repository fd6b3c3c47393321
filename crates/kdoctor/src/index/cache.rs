//! The index cache: one JSON file per tree, architecture and index format
//! under `<cache>/doctor/`, written atomically, built once under a lock
//! (concurrent runs wait and load), stale formats pruned.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::model::{Index, FORMAT};

impl Index {
    /// The cache file for a tree and architecture.
    pub fn cache_path(cache_root: &Path, root: &Path, kernelversion: &str, arch: &str) -> PathBuf {
        let mut h = Sha256::new();
        h.update(format!(
            "{FORMAT}\0{}\0{kernelversion}\0{arch}\0{}",
            root.display(),
            env!("CARGO_PKG_VERSION")
        ));
        let key = hex::encode(&h.finalize()[..6]);
        cache_root
            .join("doctor")
            .join(format!("index-{kernelversion}-{arch}-{key}.json"))
    }

    /// Loads the cached index, or builds and caches it. A cache that does
    /// not parse or has another format is rebuilt, never trusted.
    pub fn load_or_build(
        tree: &ksrc::KernelTree,
        arch: &str,
        srcarch: &str,
        cache_root: &Path,
    ) -> Result<(Index, CacheInfo)> {
        let path = Index::cache_path(cache_root, &tree.root, &tree.kernelversion, arch);
        let t = Instant::now();
        // Another process (or test thread) building the same index: wait
        // for it, then load its result rather than building it twice.
        let _lock = lock_file(&path.with_extension("lock"))?;
        if let Ok(bytes) = std::fs::read(&path) {
            if let Ok(idx) = serde_json::from_slice::<Index>(&bytes) {
                if idx.format == FORMAT
                    && idx.arch == arch
                    && idx.kernelversion == tree.kernelversion
                {
                    return Ok((
                        idx,
                        CacheInfo {
                            path,
                            loaded: true,
                            bytes: bytes.len() as u64,
                            ms: t.elapsed().as_millis() as u64,
                        },
                    ));
                }
            }
        }
        let idx = Index::build(&tree.root, &tree.kernelversion, arch, srcarch)?;
        let bytes = idx.save(&path)?;
        prune_stale(&path, &idx);
        Ok((
            idx,
            CacheInfo {
                path,
                loaded: false,
                bytes,
                ms: t.elapsed().as_millis() as u64,
            },
        ))
    }

    /// Writes the index atomically (a reader never sees half a file).
    pub fn save(&self, path: &Path) -> Result<u64> {
        let dir = path.parent().context("cache path has no directory")?;
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let data = serde_json::to_vec(self)?;
        ksys::write_atomic(path, &data)
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(data.len() as u64)
    }
}

/// An exclusive lock on `path` (created if needed), held until dropped.
/// Locks are per open file, so threads of one process exclude each other
/// too.
pub(crate) fn lock_file(path: &Path) -> Result<ksys::FileLock> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    ksys::FileLock::lock(path, ksys::LockMode::Exclusive)
        .with_context(|| format!("cannot lock {}", path.display()))
}

/// Removes caches of the same tree and architecture written by another
/// index format: they are never read again and each is megabytes.
fn prune_stale(current: &Path, idx: &Index) {
    #[derive(Deserialize)]
    struct Head {
        format: u32,
        tree: String,
    }
    let (Some(dir), Some(name)) = (current.parent(), current.file_name()) else {
        return;
    };
    let prefix = format!("index-{}-{}-", idx.kernelversion, idx.arch);
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let n = e.file_name();
        let n = n.to_string_lossy();
        if n == name.to_string_lossy() || !n.starts_with(&prefix) || !n.ends_with(".json") {
            continue;
        }
        let stale = match std::fs::read(e.path()) {
            Ok(b) => match serde_json::from_slice::<Head>(&b) {
                Ok(h) => h.tree == idx.tree && h.format != FORMAT,
                Err(_) => true,
            },
            Err(_) => false,
        };
        if stale {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct CacheInfo {
    pub path: PathBuf,
    /// True when read from the cache, false when built now.
    pub loaded: bool,
    pub bytes: u64,
    pub ms: u64,
}
