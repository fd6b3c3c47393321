//! Running child processes with a time limit and captured output.

use std::ffi::OsStr;
use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// Environment variables that would change what the kernel's Makefile or
/// conf do behind the harness's back (an inherited KCONFIG_ALLCONFIG, a
/// CROSS_COMPILE, a parent make's jobserver...). Both sides run with them
/// removed so that they see the same world.
fn is_leaky_var(name: &str) -> bool {
    const EXACT: &[&str] = &[
        "ARCH",
        "SUBARCH",
        "SRCARCH",
        "CROSS_COMPILE",
        "CC",
        "LD",
        "AR",
        "NM",
        "OBJCOPY",
        "OBJDUMP",
        "STRIP",
        "HOSTCC",
        "HOSTCXX",
        "HOSTLD",
        "LLVM",
        "LLVM_IAS",
        "O",
        "V",
        "W",
        "C",
        "M",
        "Q",
        "CONFIG_",
        "MAKEFLAGS",
        "MFLAGS",
        "MAKELEVEL",
        "MAKEFILES",
        "MAKEOVERRIDES",
        "GNUMAKEFLAGS",
        "SRCTREE",
        "srctree",
        "objtree",
        "PYTHON3",
        "PERL",
        "RUSTC",
    ];
    EXACT.contains(&name) || name.starts_with("KCONFIG_") || name.starts_with("KBUILD_")
}

/// Clears inherited variables that could skew either side, and pins the
/// locale so the compiler version text embedded in .config is stable.
pub fn sanitize_env(cmd: &mut Command) {
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_none_or(is_leaky_var) {
            cmd.env_remove(&name);
        }
    }
    cmd.env("LC_ALL", "C");
}

/// How a child process ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// None when killed by a signal or by the time limit.
    pub code: Option<i32>,
    pub timed_out: bool,
    pub seconds: f64,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    pub fn success(&self) -> bool {
        self.code == Some(0) && !self.timed_out
    }

    /// One line saying how it ended, for reports.
    pub fn describe(&self) -> String {
        if self.timed_out {
            format!("timed out after {:.0}s", self.seconds)
        } else {
            match self.code {
                Some(c) => format!("exit {c}"),
                None => "killed by a signal".to_string(),
            }
        }
    }
}

/// Output kept per stream: enough for any diagnosis, bounded so that a
/// chatty failure cannot bloat the cache, report or JSON.
const KEEP_BYTES: u64 = 64 * 1024;

fn read_tail(path: &Path) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let mut prefix = String::new();
    if len > KEEP_BYTES {
        prefix = format!("[... {} bytes cut ...]\n", len - KEEP_BYTES);
        if f.seek(SeekFrom::Start(len - KEEP_BYTES)).is_err() {
            return String::new();
        }
    }
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    prefix + &String::from_utf8_lossy(&buf)
}

/// Runs `cmd` with stdout/stderr sent to files in `log_dir` (pipes could
/// fill and stall a child that nobody reads while we wait), killing its
/// whole process group after `timeout` since make leaves grandchildren.
pub fn run(mut cmd: Command, log_dir: &Path, timeout: Duration) -> Result<Outcome> {
    let out_path = log_dir.join("stdout");
    let err_path = log_dir.join("stderr");
    let out = File::create(&out_path).with_context(|| format!("{}", out_path.display()))?;
    let err = File::create(&err_path).with_context(|| format!("{}", err_path.display()))?;
    cmd.stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0);
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot start {}", cmd.get_program().to_string_lossy()))?;
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if start.elapsed() >= timeout {
            timed_out = true;
            // The child leads its own group (process_group(0) above), so this
            // reaches make's children too. Never for pid 1, where kill(-1)
            // semantics would signal every process.
            let pid = rustix::process::Pid::from_child(&child);
            if !pid.is_init() {
                let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
            }
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(15));
    };
    Ok(Outcome {
        code: status.and_then(|s| s.code()),
        timed_out,
        seconds: start.elapsed().as_secs_f64(),
        stdout: read_tail(&out_path),
        stderr: read_tail(&err_path),
    })
}

/// Shell-style rendering of a command line, so reports can be pasted into a shell.
pub fn quote(word: &OsStr) -> String {
    let s = word.to_string_lossy();
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
    {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// `VAR=value ... prog args...` for a command, with only the variables set explicitly.
pub fn render(cmd: &Command) -> String {
    let mut parts = Vec::new();
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            if k != "LC_ALL" {
                parts.push(format!("{}={}", k.to_string_lossy(), quote(v)));
            }
        }
    }
    parts.push(quote(cmd.get_program()));
    parts.extend(cmd.get_args().map(quote));
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote(OsStr::new("ARCH=x86_64")), "ARCH=x86_64");
        assert_eq!(quote(OsStr::new("a b")), "'a b'");
        assert_eq!(quote(OsStr::new("it's")), r"'it'\''s'");
        assert_eq!(quote(OsStr::new("")), "''");
    }

    #[test]
    fn runs_and_times_out() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Command::new("sh");
        c.args(["-c", "echo out; echo err >&2; exit 3"]);
        let o = run(c, dir.path(), Duration::from_secs(30)).unwrap();
        assert_eq!(o.code, Some(3));
        assert_eq!(o.stdout, "out\n");
        assert_eq!(o.stderr, "err\n");
        let mut c = Command::new("sh");
        c.args(["-c", "sleep 30"]);
        let o = run(c, dir.path(), Duration::from_millis(200)).unwrap();
        assert!(o.timed_out && !o.success());
    }

    #[test]
    fn leaky_vars() {
        assert!(is_leaky_var("KCONFIG_ALLCONFIG"));
        assert!(is_leaky_var("KBUILD_OUTPUT"));
        assert!(is_leaky_var("MAKEFLAGS"));
        assert!(!is_leaky_var("PATH"));
        assert!(!is_leaky_var("HOME"));
    }
}
