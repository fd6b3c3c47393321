//! What every step starts with: a kernel tree, the environment conf would
//! see for an architecture, and the parsed Kconfig database.

use std::path::PathBuf;

use anyhow::Result;
use kconfig::{Db, Dialect};

/// Which kernel tree to read, and where ktailor's cache lives.
#[derive(Clone, Debug)]
pub struct TreeSpec {
    /// A directory (used read-only) or a version such as "6.12"
    /// (provisioned from Debian's linux-source package into the cache).
    pub kernel: String,
    /// Run every $(shell,...) probe instead of using the cache.
    pub no_shell_cache: bool,
    /// Cache directory (default: [`ksrc::cache_root`]).
    pub cache: Option<PathBuf>,
}

impl Default for TreeSpec {
    fn default() -> Self {
        TreeSpec {
            kernel: "6.12".into(),
            no_shell_cache: false,
            cache: None,
        }
    }
}

impl TreeSpec {
    /// The cache directory this run uses.
    pub fn cache_dir(&self) -> PathBuf {
        self.cache.clone().unwrap_or_else(ksrc::cache_root)
    }
}

pub struct Session {
    pub tree: ksrc::KernelTree,
    pub env: ksrc::KconfigEnv,
    pub host: ksrc::TreeHost,
    pub db: Db,
    pub parse_ms: u64,
    /// Warnings from parsing the Kconfig files (the CLI prints them).
    pub warnings: Vec<String>,
    /// The cache directory it was opened with.
    pub cache: PathBuf,
}

impl Session {
    pub fn open(t: &TreeSpec, arch: &str) -> Result<Session> {
        let start = std::time::Instant::now();
        let cache = t.cache_dir();
        let tree = ksrc::resolve_kernel(&t.kernel, &cache)?;
        let env = ksrc::kconfig_env(&tree, arch)?;
        let opts = if t.no_shell_cache {
            ksrc::ShellCacheOptions::disabled()
        } else {
            ksrc::ShellCacheOptions::under(&cache)
        };
        let host = ksrc::TreeHost::new(&tree, &env, opts)?;
        let dialect = Dialect::for_kernel_version(&tree.kernelversion);
        let (db, parse_warnings) =
            kconfig::parse(&host, &env.kconfig, dialect).map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut warnings: Vec<String> = parse_warnings.iter().map(|w| w.to_string()).collect();
        if let Err(e) = host.save() {
            warnings.push(format!(
                "ktailor: warning: could not save the shell cache: {e:#}"
            ));
        }
        Ok(Session {
            tree,
            env,
            host,
            db,
            parse_ms: start.elapsed().as_millis() as u64,
            warnings,
            cache,
        })
    }

    /// The KCONFIG_ALLCONFIG text a base starts from: nothing for
    /// allnoconfig; for tinyconfig, kconfig's one definition of its files
    /// (tiny-base.config, tiny.config and the arch's tiny.config).
    pub fn base_fragment(&self, base: kcatalog::Base) -> Result<String> {
        Ok(match base {
            // The same files, read the same way, as conf-exact tinyconfig.
            kcatalog::Base::Tinyconfig => {
                kconfig::fragment::tinyconfig_fragment(&self.host, &self.env.srcarch)
                    .map_err(|e| anyhow::anyhow!("{e}"))?
            }
            kcatalog::Base::Allnoconfig => String::new(),
        })
    }
}
