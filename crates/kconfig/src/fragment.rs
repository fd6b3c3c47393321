//! Config fragments the way scripts/kconfig/merge_config.sh merges them, and
//! the kernel's composite targets built from them (`make tinyconfig`).
//!
//! The merge is textual on purpose: conf later reads the merged file, and
//! line order decides which of two assignments wins and (6.11+) which choice
//! member has priority, so we must produce the very same text.

use std::io;

use crate::db::Db;
use crate::diag::Error;
use crate::host::Host;
use crate::modes::{Input, Mode, Outcome, RunOptions};

/// Symbol names a fragment assigns (`CONFIG_X=...` or `# CONFIG_X is not set`).
pub fn assigned_symbols(prefix: &str, text: &str) -> Vec<String> {
    let mut v = Vec::new();
    for line in text.lines() {
        let name_of = |s: &str| -> Option<String> {
            let rest = s.strip_prefix(prefix)?;
            let n = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            Some(format!("{prefix}{}", &rest[..n]))
        };
        if let Some(full) = name_of(line) {
            if line[full.len()..].starts_with('=') {
                v.push(full);
            }
        } else if let Some(body) = line.strip_prefix("# ") {
            if let Some(full) = name_of(body) {
                if &body[full.len()..] == " is not set" {
                    v.push(full);
                }
            }
        }
    }
    v
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// `grep -w CFG`: CFG occurs with no word character on either side.
fn contains_word(line: &str, w: &str) -> bool {
    let lb = line.as_bytes();
    let mut start = 0;
    while let Some(p) = line[start..].find(w) {
        let i = start + p;
        let j = i + w.len();
        let before = i == 0 || !is_word_byte(lb[i - 1]);
        let after = j == lb.len() || !is_word_byte(lb[j]);
        if before && after {
            return true;
        }
        start = i + 1;
    }
    false
}

/// merge_config.sh's merge of one fragment into the current text.
pub fn merge(base: &str, fragment: &str, prefix: &str) -> String {
    let mut lines: Vec<&str> = split_keep(base);
    for cfg in assigned_symbols(prefix, fragment) {
        if !lines
            .iter()
            .any(|l| contains_word(l.trim_end_matches('\n'), &cfg))
        {
            continue;
        }
        let eq = format!("{cfg}=");
        let sp = format!("{cfg} ");
        lines.retain(|l| !(l.contains(&eq) || l.contains(&sp)));
    }
    let mut out: String = lines.concat();
    out.push('\n');
    out.push_str(fragment);
    out
}

fn split_keep(s: &str) -> Vec<&str> {
    s.split_inclusive('\n').collect()
}

/// `make tinyconfig`: allnoconfig seeded with tiny-base.config, then the
/// tiny.config fragments merged in and olddefconfig run by a fresh conf.
pub fn tinyconfig(
    pristine: &Db,
    tiny_base: Input,
    fragments: &[Input],
    opts: &RunOptions,
) -> Result<Outcome, Error> {
    let mut db = pristine.clone();
    let first = db.run_mode(Mode::Allnoconfig, None, Some(tiny_base), opts)?;
    let mut text = first.output.clone();
    for f in fragments {
        text = merge(
            &text,
            &String::from_utf8_lossy(f.data),
            &pristine.config_prefix,
        );
    }
    let mut db = pristine.clone();
    let mut second = db.run_mode(
        Mode::Olddefconfig,
        Some(Input {
            name: ".config",
            data: text.as_bytes(),
        }),
        None,
        opts,
    )?;
    let mut warnings = first.warnings;
    warnings.append(&mut second.warnings);
    second.warnings = warnings;
    let mut unknown = first.unknown;
    unknown.append(&mut second.unknown);
    second.unknown = unknown;
    Ok(second)
}

/// A file the kernel's Makefile hands to conf, named relative to the tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamedFile {
    pub name: String,
    pub data: Vec<u8>,
}

impl NamedFile {
    pub fn input(&self) -> Input<'_> {
        Input {
            name: &self.name,
            data: &self.data,
        }
    }
}

/// What tinyconfig is: the files `make tinyconfig` reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TinyconfigFiles {
    /// `kernel/configs/tiny-base.config`, the KCONFIG_ALLCONFIG of the
    /// first step's allnoconfig.
    pub base: NamedFile,
    /// The `tiny.config` fragments merged in next, those that exist (make's
    /// `$(wildcard)`): `kernel/configs/tiny.config`, then
    /// `arch/<srcarch>/configs/tiny.config`.
    pub fragments: Vec<NamedFile>,
}

impl TinyconfigFiles {
    /// Every file in order as one KCONFIG_ALLCONFIG text for allnoconfig
    /// (each ending with a newline): the solver's base for a tinyconfig
    /// target. Not the same computation as `make tinyconfig` (see
    /// [`Db::tinyconfig`]), but the same files.
    pub fn allconfig_text(&self) -> String {
        let mut out = String::new();
        for f in std::iter::once(&self.base).chain(&self.fragments) {
            out.push_str(&String::from_utf8_lossy(&f.data));
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
        }
        out
    }
}

/// Reads tinyconfig's files through `host` (relative to the tree root, as
/// conf opens them). A missing tiny-base.config is an error, as it is for
/// conf; missing `tiny.config` fragments are skipped, as make does.
pub fn tinyconfig_files(host: &dyn Host, srcarch: &str) -> Result<TinyconfigFiles, Error> {
    let read = |name: String| -> Result<Option<NamedFile>, Error> {
        match host.read_file(&name) {
            Ok(data) => Ok(Some(NamedFile { name, data })),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(Error::Io { path: name, err }),
        }
    };
    let base_name = "kernel/configs/tiny-base.config";
    let base = read(base_name.to_string())?.ok_or_else(|| Error::Io {
        path: base_name.to_string(),
        err: io::Error::new(io::ErrorKind::NotFound, "No such file or directory"),
    })?;
    let mut fragments = Vec::new();
    for name in [
        "kernel/configs/tiny.config".to_string(),
        format!("arch/{srcarch}/configs/tiny.config"),
    ] {
        fragments.extend(read(name)?);
    }
    Ok(TinyconfigFiles { base, fragments })
}

/// [`tinyconfig_files`] as the one KCONFIG_ALLCONFIG text a solver starts
/// allnoconfig from ([`TinyconfigFiles::allconfig_text`]).
pub fn tinyconfig_fragment(host: &dyn Host, srcarch: &str) -> Result<String, Error> {
    Ok(tinyconfig_files(host, srcarch)?.allconfig_text())
}

impl Db {
    /// `make tinyconfig`, byte for byte: the files come from
    /// [`tinyconfig_files`], the steps from [`tinyconfig`].
    pub fn tinyconfig(
        &self,
        host: &dyn Host,
        srcarch: &str,
        opts: &RunOptions,
    ) -> Result<Outcome, Error> {
        let files = tinyconfig_files(host, srcarch)?;
        let fragments: Vec<Input> = files.fragments.iter().map(NamedFile::input).collect();
        tinyconfig(self, files.base.input(), &fragments, opts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_replaces_assignments_and_appends() {
        let base = "CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_BB=y\nCONFIG_C=1\n";
        let frag = "CONFIG_B=y\n# CONFIG_C is not set\nCONFIG_D=y\n";
        assert_eq!(
            merge(base, frag, "CONFIG_"),
            "CONFIG_A=y\nCONFIG_BB=y\n\nCONFIG_B=y\n# CONFIG_C is not set\nCONFIG_D=y\n"
        );
    }

    #[test]
    fn assigned_symbols_follows_sed_patterns() {
        let t = "CONFIG_X=1\n# CONFIG_Y is not set\n#CONFIG_Z is not set\nCONFIG_W\n";
        assert_eq!(assigned_symbols("CONFIG_", t), vec!["CONFIG_X", "CONFIG_Y"]);
    }

    #[test]
    fn grep_w_semantics() {
        assert!(contains_word("# CONFIG_SLUB is not set", "CONFIG_SLUB"));
        assert!(!contains_word("CONFIG_SLUB_TINY=y", "CONFIG_SLUB"));
    }

    #[test]
    fn tinyconfig_files_are_the_makefiles() {
        use crate::testutil::MemHost;
        let host = MemHost::default()
            .file("kernel/configs/tiny-base.config", "CONFIG_EMBEDDED=y")
            .file(
                "kernel/configs/tiny.config",
                "# CONFIG_KERNEL_GZIP is not set\n",
            )
            .file("arch/x86/configs/tiny.config", "CONFIG_NOHIGHMEM=y\n");
        let f = tinyconfig_files(&host, "x86").unwrap();
        assert_eq!(f.base.name, "kernel/configs/tiny-base.config");
        let names: Vec<&str> = f.fragments.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            ["kernel/configs/tiny.config", "arch/x86/configs/tiny.config"]
        );
        assert_eq!(
            tinyconfig_fragment(&host, "x86").unwrap(),
            "CONFIG_EMBEDDED=y\n# CONFIG_KERNEL_GZIP is not set\nCONFIG_NOHIGHMEM=y\n"
        );
        // No arch fragment: skipped, as make's $(wildcard) does.
        let f = tinyconfig_files(&host, "arm64").unwrap();
        assert_eq!(f.fragments.len(), 1);
        // No tiny-base.config: conf cannot read its seed configuration.
        let err = tinyconfig_files(&MemHost::default(), "x86").unwrap_err();
        assert!(err
            .to_string()
            .starts_with("kernel/configs/tiny-base.config: "));
    }
}
