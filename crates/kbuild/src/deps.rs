//! Whether this machine can build a kernel at all.
//!
//! A kernel build that dies ten minutes in because `bc` is missing wastes the
//! user's time, so the tools and headers the build needs are checked up
//! front, and the answer is the exact command that installs what is missing.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Programs the kernel's Makefiles run for a plain `make bzImage`, with the
/// Debian package that provides each.
const TOOLS: &[(&str, &str)] = &[
    ("gcc", "gcc"),
    ("make", "make"),
    ("ld", "binutils"),
    ("flex", "flex"),
    ("bison", "bison"),
    ("bc", "bc"),
    ("perl", "perl"),
    ("cpio", "cpio"),
    ("xz", "xz-utils"),
];

/// Headers host programs include (objtool and resolve_btfids need libelf,
/// sign-file and extract-cert need OpenSSL), with their packages.
const HEADERS: &[(&str, &str)] = &[
    ("gelf.h", "libelf-dev"),
    ("openssl/opensslv.h", "libssl-dev"),
];

/// One thing the build needs that this machine lacks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MissingDep {
    /// A program name, or a header as `<gelf.h>`.
    pub what: String,
    /// The Debian package that provides it.
    pub package: String,
}

/// The build dependencies this machine lacks; displays as advice a person can
/// paste.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MissingDeps {
    pub missing: Vec<MissingDep>,
}

impl MissingDeps {
    /// The `apt-get install` line for everything missing, each package once
    /// and in a stable order, with `sudo` when we are not root.
    pub fn install_command(&self) -> String {
        let mut pkgs: Vec<&str> = Vec::new();
        for m in &self.missing {
            if !pkgs.contains(&m.package.as_str()) {
                pkgs.push(&m.package);
            }
        }
        let sudo = if rustix::process::geteuid().is_root() {
            ""
        } else {
            "sudo "
        };
        format!("{sudo}apt-get install -y {}", pkgs.join(" "))
    }
}

impl fmt::Display for MissingDeps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what: Vec<&str> = self.missing.iter().map(|m| m.what.as_str()).collect();
        write!(
            f,
            "kernel build dependencies are missing: {}; install them with: {}",
            what.join(", "),
            self.install_command()
        )
    }
}

impl std::error::Error for MissingDeps {}

/// Checks for the programs and headers a native kernel build needs.
pub fn check_deps() -> Result<(), MissingDeps> {
    check_deps_with(None)
}

/// As [`check_deps`], plus the cross compiler `<prefix>gcc` when cross
/// compiling.
pub(crate) fn check_deps_with(cross_compile: Option<&str>) -> Result<(), MissingDeps> {
    let mut missing = Vec::new();
    for (tool, package) in TOOLS {
        if find_in_path(tool).is_none() {
            missing.push(MissingDep {
                what: (*tool).to_string(),
                package: (*package).to_string(),
            });
        }
    }
    let have_gcc = find_in_path("gcc").is_some();
    for (header, package) in HEADERS {
        if !has_header(header, have_gcc) {
            missing.push(MissingDep {
                what: format!("<{header}>"),
                package: (*package).to_string(),
            });
        }
    }
    if let Some(prefix) = cross_compile {
        let gcc = format!("{prefix}gcc");
        if find_in_path(&gcc).is_none() {
            missing.push(MissingDep {
                package: cross_package(prefix),
                what: gcc,
            });
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(MissingDeps { missing })
    }
}

/// Debian names cross compilers `gcc-<triple>`.
fn cross_package(prefix: &str) -> String {
    format!("gcc-{}", prefix.trim_end_matches('-'))
}

/// An executable file named `name` in `$PATH`.
pub(crate) fn find_in_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| {
            p.metadata()
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

/// Asks the compiler itself, because multiarch Debian puts half of OpenSSL's
/// headers under `/usr/include/<triple>/` and only gcc knows the search path.
fn has_header(header: &str, have_gcc: bool) -> bool {
    if !have_gcc {
        return Path::new("/usr/include").join(header).is_file();
    }
    let child = Command::new("gcc")
        .args(["-E", "-x", "c", "-o", "/dev/null", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let Ok(mut child) = child else {
        return false;
    };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = writeln!(stdin, "#include <{header}>");
    }
    child.wait().map(|s| s.success()).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advice_names_each_package_once() {
        let m = MissingDeps {
            missing: vec![
                MissingDep {
                    what: "gcc".into(),
                    package: "gcc".into(),
                },
                MissingDep {
                    what: "<gelf.h>".into(),
                    package: "libelf-dev".into(),
                },
                MissingDep {
                    what: "<libelf.h>".into(),
                    package: "libelf-dev".into(),
                },
            ],
        };
        let cmd = m.install_command();
        assert!(cmd.ends_with("apt-get install -y gcc libelf-dev"), "{cmd}");
        let msg = m.to_string();
        assert!(msg.contains("gcc, <gelf.h>, <libelf.h>"), "{msg}");
        assert!(msg.contains(&cmd), "{msg}");
    }

    #[test]
    fn cross_compilers_map_to_debian_packages() {
        assert_eq!(cross_package("aarch64-linux-gnu-"), "gcc-aarch64-linux-gnu");
    }

    #[test]
    fn missing_cross_compiler_is_reported() {
        let err = check_deps_with(Some("no-such-triple-")).unwrap_err();
        assert!(err
            .missing
            .iter()
            .any(|m| m.what == "no-such-triple-gcc" && m.package == "gcc-no-such-triple"));
    }

    #[test]
    fn path_lookup_finds_sh_and_not_nonsense() {
        assert!(find_in_path("sh").is_some());
        assert!(find_in_path("ktailor-no-such-program").is_none());
    }
}
