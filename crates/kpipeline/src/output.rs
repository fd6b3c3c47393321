//! Writing results: atomically (ksys), so an interrupted run never leaves a
//! half-written .config where a build would pick it up; "-" is stdout.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

/// Writes `data` to `path` atomically, or to stdout for "-".
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    if path.as_os_str() == "-" {
        std::io::stdout().write_all(data)?;
        return Ok(());
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    ksys::fs::write_atomic(path, data).with_context(|| format!("writing {}", path.display()))
}
