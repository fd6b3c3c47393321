//! Config fragments the way scripts/kconfig/merge_config.sh merges them, and
//! the kernel's composite targets built from them (`make tinyconfig`).
//!
//! The merge is textual on purpose: conf later reads the merged file, and
//! line order decides which of two assignments wins and (6.11+) which choice
//! member has priority, so we must produce the very same text.

use crate::db::Db;
use crate::diag::Error;
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
    let first = db.run_mode(Mode::AllNo, None, Some(tiny_base), opts)?;
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
        Mode::OldDefconfig,
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
}
