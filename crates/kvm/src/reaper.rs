//! No QEMU outlives the run that started it.
//!
//! A forgotten QEMU keeps a core busy at 100% under TCG and holds its host
//! ports, and a search that boots hundreds of kernels would pile them up. So
//! each QEMU runs in its own process group (a terminal's Ctrl-C reaches
//! ktailor, not the guest, which keeps shutdown in our hands), and the group
//! is killed on every way out: the guard's `Drop` (normal return, `?`,
//! unwinding), SIGINT/SIGTERM/SIGHUP (a handler kills every registered group,
//! then exits), and ktailor's own death, including SIGKILL
//! (`PR_SET_PDEATHSIG` in the child).

use std::io;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus};
use std::sync::{Mutex, Once};

/// Process groups of running QEMUs and their scratch directories, for the
/// signal handler: exiting from it skips destructors, which would otherwise
/// remove the directories.
static GROUPS: Mutex<Vec<(libc::pid_t, Option<PathBuf>)>> = Mutex::new(Vec::new());
static HANDLER: Once = Once::new();

fn groups() -> std::sync::MutexGuard<'static, Vec<(libc::pid_t, Option<PathBuf>)>> {
    // A poisoned lock still holds valid pids; killing them matters more.
    GROUPS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Kills every QEMU this process started and has not reaped yet.
///
/// `run` installs a SIGINT/SIGTERM handler that calls this; a program that
/// installs its own handler (the `ctrlc` crate allows one per process) must
/// do so before its first `run` and call this from it.
pub fn kill_all_vms() {
    for (pgid, dir) in groups().iter() {
        kill_group(*pgid);
        if let Some(dir) = dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn kill_group(pgid: libc::pid_t) {
    if pgid > 1 {
        // SAFETY: kill(2) with a negative pid signals the group; it has no
        // memory-safety preconditions.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
}

fn install_handler() {
    HANDLER.call_once(|| {
        // Err means the program has its own handler, which per
        // `kill_all_vms`'s contract takes care of our groups.
        let _ = ctrlc::set_handler(|| {
            kill_all_vms();
            std::process::exit(130);
        });
    });
}

/// A spawned QEMU, killed with its whole process group unless it has been
/// reaped already.
pub(crate) struct VmProcess {
    child: Option<Child>,
    pgid: libc::pid_t,
}

impl VmProcess {
    /// Spawns `cmd` as the leader of a new process group that dies with us.
    /// `scratch` is a directory the run owns, removed if a signal ends us.
    pub(crate) fn spawn(mut cmd: Command, scratch: Option<PathBuf>) -> io::Result<VmProcess> {
        install_handler();
        // SAFETY: getpid has no preconditions.
        let parent = unsafe { libc::getpid() };
        cmd.process_group(0);
        // SAFETY: the closure runs between fork and exec and only makes
        // async-signal-safe system calls (prctl, getppid); it allocates
        // nothing and takes no locks.
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                    return Err(io::Error::last_os_error());
                }
                // We died between fork and prctl: the signal will never
                // come, so do not start at all.
                if libc::getppid() != parent {
                    return Err(io::Error::from_raw_os_error(libc::ESRCH));
                }
                Ok(())
            });
        }
        // Registering after spawn would leave a window where a signal kills
        // us but not the new group; holding the lock across spawn closes it.
        let mut g = groups();
        let child = cmd.spawn()?;
        let pgid = child.id() as libc::pid_t;
        g.push((pgid, scratch));
        drop(g);
        Ok(VmProcess {
            child: Some(child),
            pgid,
        })
    }

    pub(crate) fn child_mut(&mut self) -> Option<&mut Child> {
        self.child.as_mut()
    }

    /// QEMU's exit status if it has exited (and is now reaped).
    pub(crate) fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        let status = match self.child.as_mut() {
            Some(c) => c.try_wait()?,
            None => return Err(io::Error::other("QEMU was already reaped")),
        };
        if status.is_some() {
            self.forget();
        }
        Ok(status)
    }

    /// Kills the group and reaps QEMU; returns its exit status.
    pub(crate) fn kill(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        // Only before reaping: once reaped, the pid may belong to someone
        // else's new group.
        kill_group(self.pgid);
        let status = child.wait().ok();
        self.forget();
        status
    }

    fn forget(&mut self) {
        self.child = None;
        groups().retain(|(p, _)| *p != self.pgid);
    }
}

impl Drop for VmProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
