//! What every command starts with: a kernel tree, the environment conf would
//! see for an architecture, and the parsed Kconfig database.

use std::path::PathBuf;

use anyhow::Result;
use kconfig::{Db, Dialect};

pub struct Session {
    pub tree: ksrc::KernelTree,
    pub env: ksrc::KconfigEnv,
    pub host: ksrc::TreeHost,
    pub db: Db,
    pub parse_ms: u64,
}

/// Options shared by the commands that read a kernel tree.
#[derive(clap::Args, Clone)]
pub struct TreeArgs {
    /// Kernel source: a directory (used read-only) or a version such as 6.12
    /// (provisioned from Debian's linux-source package into the cache).
    #[arg(long, default_value = "6.12")]
    pub kernel: String,
    /// Run every $(shell,...) probe instead of using the cache.
    #[arg(long)]
    pub no_shell_cache: bool,
    /// Cache directory (default: $KTAILOR_CACHE, $XDG_CACHE_HOME/ktailor, ~/.cache/ktailor).
    #[arg(long)]
    pub cache: Option<PathBuf>,
}

impl Session {
    pub fn open(t: &TreeArgs, arch: &str) -> Result<Session> {
        let start = std::time::Instant::now();
        let cache = t.cache.clone().unwrap_or_else(ksrc::cache_root);
        let tree = ksrc::resolve_kernel(&t.kernel, &cache)?;
        let env = ksrc::kconfig_env(&tree, arch)?;
        let opts = if t.no_shell_cache {
            ksrc::ShellCacheOptions::disabled()
        } else {
            ksrc::ShellCacheOptions::under(&cache)
        };
        let host = ksrc::TreeHost::new(&tree, &env, opts)?;
        let dialect = Dialect::for_kernel_version(&tree.kernelversion);
        let (db, warnings) =
            kconfig::parse(&host, &env.kconfig, dialect).map_err(|e| anyhow::anyhow!("{e}"))?;
        for w in &warnings {
            eprintln!("{w}");
        }
        if let Err(e) = host.save() {
            eprintln!("ktailor: warning: could not save the shell cache: {e:#}");
        }
        Ok(Session {
            tree,
            env,
            host,
            db,
            parse_ms: start.elapsed().as_millis() as u64,
        })
    }

    /// The KCONFIG_ALLCONFIG text a base starts from: nothing for
    /// allnoconfig; tinyconfig's fragments (tiny-base.config, tiny.config and
    /// the arch's tiny.config) for tinyconfig.
    pub fn base_fragment(&self, base: kcatalog::Base) -> Result<String> {
        let mut out = String::new();
        if base == kcatalog::Base::Tinyconfig {
            for rel in [
                "kernel/configs/tiny-base.config".to_string(),
                "kernel/configs/tiny.config".to_string(),
                format!("arch/{}/configs/tiny.config", self.env.srcarch),
            ] {
                let p = self.tree.root.join(&rel);
                if p.exists() {
                    let t = std::fs::read_to_string(&p)?;
                    out.push_str(&t);
                    if !t.ends_with('\n') {
                        out.push('\n');
                    }
                }
            }
        }
        Ok(out)
    }
}
