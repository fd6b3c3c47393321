//! Running child processes with a time limit and captured output.

use std::ffi::OsStr;
use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// Clears inherited variables that would change what the kernel's
/// Makefile or conf do behind the harness's back (an inherited
/// KCONFIG_ALLCONFIG, a CROSS_COMPILE, a parent make's jobserver...), and
/// pins the locale so the compiler version text embedded in .config is
/// stable. Both sides run with it, so that they see the same world: it is
/// [`ksys::make_env::clean`], the environment every ktailor `make` gets.
pub fn sanitize_env(cmd: &mut Command) {
    ksys::make_env::clean(cmd);
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
    cmd.stdin(Stdio::null()).stdout(out).stderr(err);
    let start = Instant::now();
    // Its own process group, killed as a whole (make leaves grandchildren)
    // on timeout, on any early return and if we die.
    let mut child = ksys::spawn_group(&mut cmd, &ksys::GroupOptions::default())
        .with_context(|| format!("cannot start {}", cmd.get_program().to_string_lossy()))?;
    let (status, timed_out) = match child.wait_timeout(timeout)? {
        Some(status) => (Some(status), false),
        None => {
            let _ = child.kill();
            (None, true)
        }
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
        use ksys::make_env::is_build_var;
        assert!(is_build_var("KCONFIG_ALLCONFIG"));
        assert!(is_build_var("KBUILD_OUTPUT"));
        assert!(is_build_var("MAKEFLAGS"));
        assert!(!is_build_var("PATH"));
        assert!(!is_build_var("HOME"));
    }
}
