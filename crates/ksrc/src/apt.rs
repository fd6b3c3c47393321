//! Debian packages, the one place ktailor talks to apt and dpkg: which
//! versions apt offers (`apt-cache search`/`madison`) and which one dpkg
//! has installed (`dpkg-query`), `apt-get install` for the source trees,
//! `apt-get download` plus `dpkg-deb` to unpack a package without
//! installing it (Debian's built kernels), and publishing what was unpacked
//! into the cache atomically.
//!
//! Versions are always asked of apt and dpkg at run time, never written
//! down: the archive moves on (6.12.117 → 6.12.118) without notice.
//!
//! The parsers of apt's output are pure functions with their tests here;
//! the functions that run a tool are thin wrappers around them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use anyhow::{bail, Context, Result};

/// A package at one version, as apt names it for `apt-get download
/// PACKAGE=VERSION`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct PackageVersion {
    pub package: String,
    pub version: String,
}

impl PackageVersion {
    /// `package=version`, as apt-get takes it.
    pub fn spec(&self) -> String {
        format!("{}={}", self.package, self.version)
    }
}

/// The upstream part of a Debian version: `1:6.12.117-1~deb12u1` →
/// `6.12.117`.
pub fn upstream(version: &str) -> &str {
    let v = version.split_once(':').map_or(version, |(_, v)| v);
    v.rsplit_once('-').map_or(v, |(u, _)| u)
}

// -- what apt and dpkg know ----------------------------------------------

/// The version of `package` dpkg has installed, if any.
pub fn installed_version(package: &str) -> Option<String> {
    capture(
        Command::new("dpkg-query")
            .args(["-W", "-f=${Version}"])
            .arg(package),
    )
    .filter(|v| !v.trim().is_empty())
}

/// Package names matching a regular expression (`apt-cache search
/// --names-only`).
pub fn search_names(pattern: &str) -> Result<Vec<String>> {
    let out = capture(Command::new("apt-cache").args(["search", "--names-only", pattern]))
        .context("apt-cache search failed; is this a Debian system with apt?")?;
    Ok(parse_search(&out))
}

/// `name - description` lines → names.
pub fn parse_search(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// Every version of each package apt can download now (`apt-cache
/// madison`), each pair once, in apt's order.
pub fn madison(packages: &[String]) -> Result<Vec<PackageVersion>> {
    if packages.is_empty() {
        return Ok(Vec::new());
    }
    let out = capture(Command::new("apt-cache").arg("madison").args(packages))
        .context("apt-cache madison failed; is this a Debian system with apt?")?;
    Ok(parse_madison(&out))
}

/// ` package | version | archive` lines → (package, version), each pair
/// once.
pub fn parse_madison(text: &str) -> Vec<PackageVersion> {
    let mut out: Vec<PackageVersion> = Vec::new();
    for line in text.lines() {
        let mut cols = line.split('|').map(str::trim);
        let (Some(package), Some(version), Some(_)) = (cols.next(), cols.next(), cols.next())
        else {
            continue;
        };
        if package.is_empty() || version.is_empty() {
            continue;
        }
        let pv = PackageVersion {
            package: package.to_string(),
            version: version.to_string(),
        };
        if !out.contains(&pv) {
            out.push(pv);
        }
    }
    out
}

// -- installing, fetching, unpacking --------------------------------------

/// How an `apt-get install` ended (running apt-get at all failing is an
/// error).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Install {
    Installed,
    /// apt-get refused, even after an `apt-get update`: the last lines of
    /// what it said, joined with ` / `.
    Failed {
        stderr_tail: String,
    },
}

/// `apt-get install -y PACKAGE` (needs root). A fresh machine often has
/// no package lists yet, so a failure is retried once after `apt-get
/// update`.
pub fn install(package: &str) -> Result<Install> {
    let attempt = || {
        Command::new("apt-get")
            .args(["install", "-y", package])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .output()
            .context("cannot run apt-get; install the package by hand")
    };
    let mut out = attempt()?;
    if !out.status.success() {
        let _ = Command::new("apt-get")
            .arg("update")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .output();
        out = attempt()?;
    }
    if out.status.success() {
        return Ok(Install::Installed);
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
    Ok(Install::Failed {
        stderr_tail: tail.into_iter().rev().collect::<Vec<_>>().join(" / "),
    })
}

/// `apt-get download` of each package at its version into `dir` (no root
/// needed, nothing installed); the `.deb` files, in the order asked.
pub fn download(dir: &Path, packages: &[PackageVersion]) -> Result<Vec<PathBuf>> {
    let specs: Vec<String> = packages.iter().map(PackageVersion::spec).collect();
    run(
        Command::new("apt-get")
            .arg("download")
            .args(&specs)
            .current_dir(dir),
        &format!("apt-get download {}", specs.join(" ")),
        "check the network and run `apt-get update` (scripts/setup does)",
    )?;
    packages.iter().map(|p| deb_in(dir, &p.package)).collect()
}

/// The `.deb` of `package` in `dir` (`<package>_<version>_<arch>.deb`).
fn deb_in(dir: &Path, package: &str) -> Result<PathBuf> {
    let prefix = format!("{package}_");
    std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.extension().is_some_and(|e| e == "deb")
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(&prefix))
        })
        .with_context(|| format!("apt-get download {package} produced no .deb"))
}

/// Unpacks a package's files under `into` (`dpkg-deb -x`; nothing is
/// installed and no maintainer script runs).
pub fn unpack(deb: &Path, into: &Path) -> Result<()> {
    run(
        Command::new("dpkg-deb").arg("-x").arg(deb).arg(into),
        &format!("dpkg-deb -x {}", deb.display()),
        "dpkg-deb comes with dpkg; is this a Debian system?",
    )
    .map(drop)
}

/// Reads one member (`./usr/lib/...`) out of a package's data archive into
/// `into`, stopping as soon as it has been read (`tar --occurrence=1`), so
/// a member near the start of a large package costs little. Returns the
/// extracted file.
pub fn extract_member(deb: &Path, member: &str, into: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(into).with_context(|| format!("cannot create {}", into.display()))?;
    let what = format!("{member} from {}", deb.display());
    let mut dpkg = Command::new("dpkg-deb")
        .arg("--fsys-tarfile")
        .arg(deb)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot run dpkg-deb to read {what}"))?;
    let stdout = dpkg.stdout.take().context("dpkg-deb has no stdout")?;
    let tar = Command::new("tar")
        .args(["-x", "--occurrence=1", "-C"])
        .arg(into)
        .arg(member)
        .stdin(stdout)
        .output();
    // tar stops reading early, so dpkg-deb dies of a broken pipe: its
    // status says nothing; the extracted file does.
    let _ = dpkg.kill();
    let _ = dpkg.wait();
    let tar = tar.with_context(|| format!("cannot run tar to read {what}"))?;
    let file = into.join(member);
    if !tar.status.success() || !file.is_file() {
        bail!(
            "cannot extract {what}: {}",
            String::from_utf8_lossy(&tar.stderr).trim()
        );
    }
    Ok(file)
}

// -- the cache ---------------------------------------------------------------

/// A private working directory next to where a cache entry goes (same file
/// system, so the result can be renamed into place), removed on drop.
pub fn staging_dir(parent: &Path, prefix: &str) -> Result<tempfile::TempDir> {
    std::fs::create_dir_all(parent)
        .with_context(|| format!("cannot create {}", parent.display()))?;
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(parent)
        .with_context(|| {
            format!(
                "cannot create a temporary directory in {}",
                parent.display()
            )
        })
}

/// Whose copy ended up in place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Published {
    /// The staged directory was renamed into place.
    Ours,
    /// Another process finished first; its complete copy is kept.
    Theirs,
}

/// Moves the staged directory `staged` to `dest` in one rename
/// ([`ksys::fs::publish_dir`]: synced first, never replacing), so a reader
/// never sees a half-written entry. An incomplete `dest` (an interrupted
/// earlier run: `complete` says no) is removed first; a complete one that
/// appears in the meantime wins.
pub fn publish(staged: &Path, dest: &Path, complete: impl Fn(&Path) -> bool) -> Result<Published> {
    if dest.exists() && !complete(dest) {
        std::fs::remove_dir_all(dest)
            .with_context(|| format!("cannot remove the incomplete {}", dest.display()))?;
    }
    match ksys::fs::publish_dir(staged, dest) {
        Ok(()) => Ok(Published::Ours),
        Err(_) if complete(dest) => Ok(Published::Theirs),
        Err(e) => Err(e).with_context(|| format!("cannot create {}", dest.display())),
    }
}

// -- running the tools -----------------------------------------------------

/// Runs a packaging tool; a failure names it (`what`), quotes the last
/// lines of its stderr and says what to do (`advice`).
pub fn run(cmd: &mut Command, what: &str, advice: &str) -> Result<Output> {
    let out = cmd
        .output()
        .map_err(|e| anyhow::anyhow!("cannot run {what}: {e}; {advice}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(10).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!(
            "{what} failed ({}):\n{}\n{advice}",
            out.status,
            tail.join("\n")
        );
    }
    Ok(out)
}

/// stdout of a command that succeeded.
fn capture(cmd: &mut Command) -> Option<String> {
    let out = cmd.output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_versions() {
        assert_eq!(upstream("6.12.117-1~deb12u1"), "6.12.117");
        assert_eq!(upstream("1:6.1.192-2"), "6.1.192");
        assert_eq!(upstream("6.1"), "6.1");
    }

    #[test]
    fn madison_lines() {
        let text = "\
linux-image-6.12.118+deb12-amd64-unsigned | 6.12.118-1~deb12u1 | http://deb.debian.org/debian-security bookworm-security/main amd64 Packages
linux-image-6.1.0-57-amd64-unsigned | 6.1.192-3 | http://deb.debian.org/debian bookworm-updates/main amd64 Packages
linux-image-6.1.0-57-amd64-unsigned | 6.1.192-3 | http://deb.debian.org/debian bookworm/main amd64 Packages
N: Unable to locate package nope
";
        let v = parse_madison(text);
        assert_eq!(v.len(), 2);
        assert_eq!(
            v[0].spec(),
            "linux-image-6.12.118+deb12-amd64-unsigned=6.12.118-1~deb12u1"
        );
        assert_eq!(v[1].version, "6.1.192-3");
        assert!(parse_madison("").is_empty());
    }

    #[test]
    fn search_lines() {
        assert_eq!(
            parse_search("linux-source-6.12 - Linux kernel source\nlinux-source-6.1 - x\n\n"),
            vec!["linux-source-6.12", "linux-source-6.1"]
        );
    }

    #[test]
    fn publishing_is_atomic_and_first_complete_copy_wins() {
        let root = tempfile::tempdir().unwrap();
        let dest = root.path().join("entry");
        let complete = |d: &Path| d.join("done").is_file();
        // An interrupted earlier run left an incomplete entry: replaced.
        std::fs::create_dir_all(&dest).unwrap();
        let work = staging_dir(root.path(), ".stage-").unwrap();
        let staged = work.path().join("keep");
        std::fs::create_dir_all(&staged).unwrap();
        std::fs::write(staged.join("done"), "1").unwrap();
        assert_eq!(publish(&staged, &dest, complete).unwrap(), Published::Ours);
        assert!(complete(&dest));
        // Someone else's complete copy stays.
        let work2 = staging_dir(root.path(), ".stage-").unwrap();
        let staged2 = work2.path().join("keep");
        std::fs::create_dir_all(staged2.join("sub")).unwrap();
        std::fs::write(staged2.join("done"), "2").unwrap();
        assert_eq!(
            publish(&staged2, &dest, complete).unwrap(),
            Published::Theirs
        );
        assert_eq!(std::fs::read_to_string(dest.join("done")).unwrap(), "1");
        drop((work, work2));
        let left: Vec<_> = std::fs::read_dir(root.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "only the entry is left");
    }

    #[test]
    fn a_missing_tool_is_named_with_advice() {
        let e = run(
            &mut Command::new("/nonexistent/apt-get"),
            "apt-get download x",
            "install apt",
        )
        .unwrap_err();
        let m = e.to_string();
        assert!(m.contains("cannot run apt-get download x") && m.ends_with("install apt"));
        let e = run(
            Command::new("/bin/sh").args(["-c", "echo nope >&2; exit 3"]),
            "sh",
            "fix it",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("sh failed") && e.contains("nope") && e.ends_with("fix it"),
            "{e}"
        );
    }
}
