//! Times Kconfig's shell commands through `TreeHost`: cold one by one (what
//! conf does), cold with `prefetch`, and warm from the persistent cache.
//!
//! Usage: `shell_bench <tree-or-version> <arch> <cmds.json>` where cmds.json
//! is a JSON array of the commands conf runs (e.g. pulled from an strace of
//! `make allnoconfig`).

use std::time::Instant;

use anyhow::{Context, Result};
use kconfig::Host;
use ksrc::{cache_root, kconfig_env, resolve_kernel, ShellCacheOptions, TreeHost};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, spec, arch, cmds] = args.as_slice() else {
        anyhow::bail!("usage: shell_bench <tree-or-version> <arch> <cmds.json>");
    };
    let cmds: Vec<String> = serde_json::from_slice(
        &std::fs::read(cmds).with_context(|| format!("cannot read {cmds}"))?,
    )?;
    let tree = resolve_kernel(spec, &cache_root())?;
    let start = Instant::now();
    let env = kconfig_env(&tree, arch)?;
    println!("kconfig_env: {:?}", start.elapsed());
    let scratch = tempfile::tempdir()?;
    let opts = ShellCacheOptions {
        enabled: true,
        dir: scratch.path().to_path_buf(),
    };

    let sequential = TreeHost::new(&tree, &env, ShellCacheOptions::disabled())?;
    let start = Instant::now();
    for c in &cmds {
        sequential.shell(c).map_err(anyhow::Error::msg)?;
    }
    println!(
        "cold, one by one: {:?} ({} commands)",
        start.elapsed(),
        cmds.len()
    );

    let start = Instant::now();
    let cold = TreeHost::new(&tree, &env, opts.clone())?;
    cold.prefetch(&cmds);
    for c in &cmds {
        cold.shell(c).map_err(anyhow::Error::msg)?;
    }
    cold.save()?;
    println!("cold, prefetched: {:?} {:?}", start.elapsed(), cold.stats());

    let start = Instant::now();
    let warm = TreeHost::new(&tree, &env, opts)?;
    for c in &cmds {
        warm.shell(c).map_err(anyhow::Error::msg)?;
    }
    println!(
        "warm (incl. load): {:?} {:?}",
        start.elapsed(),
        warm.stats()
    );
    Ok(())
}
