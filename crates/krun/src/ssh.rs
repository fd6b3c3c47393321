//! The host's OpenSSH client, driven non-interactively against a guest
//! reached through a 127.0.0.1 forward.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How to reach one guest as one user with one key.
#[derive(Clone, Debug)]
pub struct Ssh {
    pub port: u16,
    pub user: String,
    pub key: PathBuf,
    /// A known_hosts file holding the image's host keys, or None to accept
    /// whatever key the guest shows (an image without a manifest).
    pub known_hosts: Option<PathBuf>,
}

/// What one command printed.
#[derive(Clone, Debug)]
pub struct Output {
    /// ssh's exit status: the remote command's, or 255 for ssh's own errors.
    pub status: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn ok(&self) -> bool {
        self.status == Some(0)
    }
}

impl Ssh {
    fn command(&self, tty: bool) -> Command {
        let mut c = Command::new("ssh");
        // -F /dev/null: the user's ~/.ssh/config must not change what is
        // checked (a ProxyJump or another IdentityFile would).
        c.args(["-F", "/dev/null", "-p"]).arg(self.port.to_string());
        c.arg("-i").arg(&self.key);
        for o in [
            "BatchMode=yes",
            "IdentitiesOnly=yes",
            "PasswordAuthentication=no",
            "KbdInteractiveAuthentication=no",
            "ConnectTimeout=10",
            "ServerAliveInterval=5",
            "ServerAliveCountMax=6",
            "LogLevel=ERROR",
        ] {
            c.args(["-o", o]);
        }
        match &self.known_hosts {
            Some(k) => {
                c.arg("-o")
                    .arg(format!("UserKnownHostsFile={}", k.display()));
                c.args(["-o", "StrictHostKeyChecking=yes"]);
            }
            None => {
                c.args(["-o", "UserKnownHostsFile=/dev/null"]);
                c.args(["-o", "StrictHostKeyChecking=no"]);
            }
        }
        c.arg(if tty { "-tt" } else { "-T" });
        c.arg(format!("{}@127.0.0.1", self.user));
        c.stdin(Stdio::null());
        c
    }

    /// Runs `cmd` in the guest (through the remote shell).
    pub fn run(&self, cmd: &str) -> Output {
        self.run_inner(cmd, false)
    }

    /// Runs `cmd` with a pseudo-terminal allocated (`ssh -tt`).
    pub fn run_tty(&self, cmd: &str) -> Output {
        self.run_inner(cmd, true)
    }

    fn run_inner(&self, cmd: &str, tty: bool) -> Output {
        match self.command(tty).arg(cmd).output() {
            Ok(o) => Output {
                status: o.status.code(),
                stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
            },
            Err(e) => Output {
                status: None,
                stdout: String::new(),
                stderr: format!("cannot run ssh (apt-get install -y openssh-client): {e}"),
            },
        }
    }

    /// Tries `true` until it succeeds or `deadline` passes or `give_up`
    /// says so; returns the last attempt.
    pub fn wait_for_login(&self, deadline: Instant, give_up: &dyn Fn() -> bool) -> Output {
        loop {
            let o = self.run("true");
            if o.ok() || Instant::now() >= deadline || give_up() {
                return o;
            }
            // sshd is not up yet (connection refused or reset by QEMU's
            // forward): try again shortly.
            std::thread::sleep(Duration::from_secs(2));
        }
    }
}

/// A known_hosts file for `[127.0.0.1]:port` holding `keys` (`TYPE KEY`).
pub fn write_known_hosts(path: &Path, port: u16, keys: &[String]) -> std::io::Result<()> {
    let text: String = keys
        .iter()
        .map(|k| format!("[127.0.0.1]:{port} {k}\n"))
        .collect();
    // ssh may read it while we replace it (a second check): whole or old.
    ksys::write_atomic(path, text.as_bytes())
}
