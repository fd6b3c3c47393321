//! Children that never outlive the run that started them: QEMU, make,
//! mmdebstrap.
//!
//! Each child leads its own process group, and the whole group is stopped
//! on every way out:
//! - [`GroupChild`]'s `Drop` (normal return, `?`, unwinding);
//! - SIGINT/SIGTERM/SIGHUP: a handler (installed by the first spawn) calls
//!   [`kill_all`], then exits with status 130;
//! - our own death, SIGKILL included: the child gets a parent-death signal
//!   (`PR_SET_PDEATHSIG`).
//!
//! Why a group: the programs we run start their own children (make its
//! compilers, mmdebstrap apt and dpkg), and signalling the pid alone leaves
//! those running. Why a group of its own: a terminal's Ctrl-C then reaches
//! us and not the child, so the stop happens in our order (a guest is not
//! killed under a test that is still judging it).
//!
//! Process group IDs are recycled like pids. A group may only be signalled
//! while its leader is unreaped (a zombie leader still holds the ID), so a
//! group is always **forgotten (unregistered) before its leader is
//! reaped**: we learn that the leader exited with `waitid(WNOWAIT)`, which
//! leaves it a zombie, unregister it, and only then reap it. [`kill_all`],
//! which may run on the signal-handler thread at any moment, can therefore
//! never signal a recycled ID.
//!
//! The spawning thread matters: the kernel sends the parent-death signal
//! when the *thread* that forked exits, so spawn from a thread that lives
//! as long as the child.
//!
//! Written by hand because no crate we use combines process groups,
//! PR_SET_PDEATHSIG with its getppid race check, WNOWAIT reaping order and
//! a process-wide registry for signal handlers.

use std::io;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus};
use std::sync::{Mutex, MutexGuard, Once};
use std::time::{Duration, Instant};

/// The signals ktailor sends its children.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// Cannot be caught: for programs with nothing to clean up (QEMU).
    Kill,
    /// Lets the program clean up: make deletes half-written targets,
    /// mmdebstrap unmounts its chroot's /proc and /sys.
    Term,
}

impl Signal {
    pub fn raw(self) -> libc::c_int {
        match self {
            Signal::Kill => libc::SIGKILL,
            Signal::Term => libc::SIGTERM,
        }
    }
}

/// How a group is stopped when its [`GroupChild`] is dropped or killed, and
/// by [`kill_all`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// SIGKILL to the whole group.
    Kill,
    /// `signal` to the whole group, up to `grace` for the leader to exit,
    /// then SIGKILL to whatever is left of the group.
    Graceful { signal: Signal, grace: Duration },
}

/// How to run a child in its own group.
#[derive(Clone, Debug)]
pub struct GroupOptions {
    /// What the child gets when the thread that spawned it dies.
    pub death_signal: Signal,
    pub stop: Stop,
    /// A directory the run owns, removed by [`kill_all`]: exiting from the
    /// signal handler skips the destructors that would remove it.
    pub scratch: Option<PathBuf>,
}

impl Default for GroupOptions {
    /// SIGKILL for everything: QEMU's way.
    fn default() -> Self {
        GroupOptions {
            death_signal: Signal::Kill,
            stop: Stop::Kill,
            scratch: None,
        }
    }
}

impl GroupOptions {
    /// `signal` (as the death signal too), then SIGKILL after `grace`: for
    /// make and mmdebstrap, which clean up on SIGTERM.
    pub fn graceful(signal: Signal, grace: Duration) -> GroupOptions {
        GroupOptions {
            death_signal: signal,
            stop: Stop::Graceful { signal, grace },
            scratch: None,
        }
    }

    pub fn scratch(mut self, dir: PathBuf) -> GroupOptions {
        self.scratch = Some(dir);
        self
    }
}

struct Entry {
    pgid: libc::pid_t,
    stop: Stop,
    scratch: Option<PathBuf>,
}

/// Groups of running children, for [`kill_all`].
static GROUPS: Mutex<Vec<Entry>> = Mutex::new(Vec::new());
static HANDLER: Once = Once::new();

fn groups() -> MutexGuard<'static, Vec<Entry>> {
    // A poisoned lock still holds valid groups; killing them matters more.
    GROUPS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Stops every process group this process started and has not reaped yet
/// (each the way its [`GroupOptions::stop`] says) and removes their scratch
/// directories.
///
/// The first [`spawn_group`] installs a SIGINT/SIGTERM/SIGHUP handler that
/// calls this and exits with status 130. A program that installs its own
/// handler (the `ctrlc` crate allows one per process) must do so before
/// its first spawn and call this from it.
pub fn kill_all() {
    let g = groups();
    let mut deadline: Option<Instant> = None;
    for e in g.iter() {
        match e.stop {
            Stop::Kill => signal_group(e.pgid, Signal::Kill),
            Stop::Graceful { signal, grace } => {
                signal_group(e.pgid, signal);
                let d = Instant::now() + grace;
                deadline = Some(deadline.map_or(d, |x| x.max(d)));
            }
        }
    }
    if let Some(deadline) = deadline {
        // Holding the registry: no owner can reap (and so free the ID of)
        // any of these leaders meanwhile.
        while Instant::now() < deadline
            && g.iter()
                .any(|e| e.stop != Stop::Kill && !matches!(leader_exited(e.pgid, false), Ok(true)))
        {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    for e in g.iter() {
        signal_group(e.pgid, Signal::Kill);
        if let Some(dir) = &e.scratch {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn install_handler() {
    HANDLER.call_once(|| {
        // Err means the program has its own handler, which per
        // `kill_all`'s contract takes care of our groups.
        let _ = ctrlc::set_handler(|| {
            kill_all();
            std::process::exit(130);
        });
    });
}

fn signal_group(pgid: libc::pid_t, signal: Signal) {
    // Never 0 or 1: kill(0) is our own group, kill(-1) everyone.
    if pgid > 1 {
        // SAFETY: kill(2) with a negative pid signals the group; it has no
        // memory-safety preconditions.
        unsafe {
            libc::kill(-pgid, signal.raw());
        }
    }
}

/// Whether our child `pid` has exited, without reaping it (`WNOWAIT`): a
/// zombie keeps its pid, and with it the group ID, from being reused.
fn leader_exited(pid: libc::pid_t, block: bool) -> io::Result<bool> {
    loop {
        // SAFETY: a zeroed siginfo_t is a valid out-parameter for waitid.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let flags = libc::WEXITED | libc::WNOWAIT | if block { 0 } else { libc::WNOHANG };
        // SAFETY: `info` is a valid, writable siginfo_t.
        let r = unsafe { libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, flags) };
        if r != 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        // SAFETY: waitid filled `info` (si_pid stays 0 under WNOHANG when
        // nothing has exited).
        return Ok(unsafe { info.si_pid() } != 0);
    }
}

/// Spawns `cmd` as the leader of a new process group that dies with us
/// (see the module docs). Adds `process_group(0)` and a `pre_exec` hook
/// to `cmd`.
pub fn spawn_group(cmd: &mut Command, opts: &GroupOptions) -> io::Result<GroupChild> {
    install_handler();
    let parent = std::process::id() as libc::pid_t;
    let death = opts.death_signal.raw();
    cmd.process_group(0);
    // SAFETY: the closure runs between fork and exec and only makes
    // async-signal-safe system calls (prctl, getppid); it allocates
    // nothing and takes no locks.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, death as libc::c_ulong) != 0 {
                return Err(io::Error::last_os_error());
            }
            // We died between fork and prctl: the signal will never come,
            // so do not start at all.
            if libc::getppid() != parent {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
    // Registering after spawn would leave a window where a signal ends us
    // but not the new group; holding the registry across spawn closes it
    // (the handler waits for the lock).
    let mut g = groups();
    let child = cmd.spawn()?;
    let pgid = child.id() as libc::pid_t;
    g.push(Entry {
        pgid,
        stop: opts.stop,
        scratch: opts.scratch.clone(),
    });
    drop(g);
    Ok(GroupChild {
        child,
        pgid,
        stop: opts.stop,
        status: None,
    })
}

/// A child leading its own process group; the group is stopped (see
/// [`Stop`]) when this is dropped before the child has been reaped.
#[derive(Debug)]
pub struct GroupChild {
    child: Child,
    pgid: libc::pid_t,
    stop: Stop,
    /// Set once reaped.
    status: Option<ExitStatus>,
}

impl GroupChild {
    /// The child's pid, which is also its process group ID.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The child, to take its stdin/stdout/stderr. Do not wait on it
    /// through this: waiting must go through [`GroupChild`] so the group
    /// is forgotten first.
    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    /// The exit status if the child has exited (it is then reaped); the
    /// group's other members, if any, are left alone.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if self.status.is_some() {
            return Ok(self.status);
        }
        if !leader_exited(self.pgid, false)? {
            return Ok(None);
        }
        self.reap().map(Some)
    }

    /// Waits for the child to exit and reaps it.
    pub fn wait(&mut self) -> io::Result<ExitStatus> {
        if let Some(s) = self.status {
            return Ok(s);
        }
        leader_exited(self.pgid, true)?;
        self.reap()
    }

    /// Waits at most `timeout` for the child to exit; `None` if it is still
    /// running. (std has no timed wait; polling every few milliseconds is
    /// simpler than SIGCHLD or pidfd plumbing and costs nothing here.)
    pub fn wait_timeout(&mut self, timeout: Duration) -> io::Result<Option<ExitStatus>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.try_wait()? {
                return Ok(Some(s));
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            std::thread::sleep((deadline - now).min(Duration::from_millis(10)));
        }
    }

    /// Stops the whole group as [`Stop`] says, reaps the child and returns
    /// its status (the recorded one if it was reaped already; the group is
    /// then not touched, as its ID may belong to someone else by now).
    pub fn kill(&mut self) -> io::Result<ExitStatus> {
        if let Some(s) = self.status {
            return Ok(s);
        }
        // Only while the leader is unreaped: until then the ID is ours.
        if let Stop::Graceful { signal, grace } = self.stop {
            if !leader_exited(self.pgid, false)? {
                signal_group(self.pgid, signal);
                let deadline = Instant::now() + grace;
                while Instant::now() < deadline && !leader_exited(self.pgid, false)? {
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
        // Also for a leader that has exited: what is left of its group goes.
        signal_group(self.pgid, Signal::Kill);
        self.wait()
    }

    /// Forgets the group, then reaps the leader, which has exited.
    fn reap(&mut self) -> io::Result<ExitStatus> {
        // The order is the point: once reaped, the ID can be recycled, so
        // it must already be out of the registry kill_all signals.
        groups().retain(|e| e.pgid != self.pgid);
        let s = self.child.wait()?;
        self.status = Some(s);
        Ok(s)
    }

    #[cfg(test)]
    fn registered(&self) -> bool {
        groups().iter().any(|e| e.pgid == self.pgid)
    }
}

impl Drop for GroupChild {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Stdio;

    /// Whether `pid` still exists as a process that is not a zombie.
    fn alive(pid: u32) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            // The state follows the parenthesised command name.
            Ok(s) => !s.rsplit_once(") ").is_some_and(|(_, r)| r.starts_with('Z')),
            Err(_) => false,
        }
    }

    fn wait_gone(pid: u32) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if !alive(pid) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// A shell that starts a grandchild (in its group) and prints its pid.
    fn with_grandchild(trap: &str) -> Command {
        let mut c = Command::new("/bin/sh");
        c.arg("-c")
            .arg(format!("{trap} sleep 300 & echo $!; wait"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        c
    }

    fn read_pid(g: &mut GroupChild) -> u32 {
        use std::io::BufRead;
        let out = g.child_mut().stdout.take().unwrap();
        let mut line = String::new();
        std::io::BufReader::new(out).read_line(&mut line).unwrap();
        line.trim().parse().unwrap()
    }

    #[test]
    fn drop_kills_the_whole_group_not_just_the_leader() {
        let mut g = spawn_group(&mut with_grandchild(""), &GroupOptions::default()).unwrap();
        let leader = g.id();
        let grandchild = read_pid(&mut g);
        assert!(alive(grandchild));
        drop(g);
        assert!(wait_gone(grandchild), "the grandchild outlived the drop");
        assert!(!alive(leader));
    }

    #[test]
    fn the_child_leads_its_own_group() {
        let mut c = Command::new("/bin/sh");
        c.args(["-c", "ps -o pgid= -p $$"]).stdout(Stdio::piped());
        let mut g = spawn_group(&mut c, &GroupOptions::default()).unwrap();
        let mut out = String::new();
        std::io::Read::read_to_string(g.child_mut().stdout.as_mut().unwrap(), &mut out).unwrap();
        g.wait().unwrap();
        assert_eq!(out.trim(), g.id().to_string());
    }

    #[test]
    fn graceful_stop_lets_the_group_clean_up() {
        let d = tempfile::tempdir().unwrap();
        let marker = d.path().join("cleaned");
        // The leader cleans up on TERM, like make deleting a target.
        let trap = format!("trap 'touch {}; exit 1' TERM;", marker.display());
        let mut g = spawn_group(
            &mut with_grandchild(&trap),
            &GroupOptions::graceful(Signal::Term, Duration::from_secs(10)),
        )
        .unwrap();
        let grandchild = read_pid(&mut g);
        let status = g.kill().unwrap();
        assert!(!status.success());
        assert!(marker.exists(), "TERM did not reach the leader first");
        assert!(wait_gone(grandchild), "TERM did not reach the group");
    }

    #[test]
    fn graceful_stop_ends_with_sigkill_for_a_child_that_ignores_term() {
        let mut c = Command::new("/bin/sh");
        c.args(["-c", "trap '' TERM; sleep 300 & wait; wait"]);
        let mut g = spawn_group(
            &mut c,
            &GroupOptions::graceful(Signal::Term, Duration::from_millis(200)),
        )
        .unwrap();
        let started = Instant::now();
        let status = g.kill().unwrap();
        assert!(!status.success());
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn the_group_is_forgotten_before_the_leader_is_reaped() {
        let mut c = Command::new("/bin/true");
        let mut g = spawn_group(&mut c, &GroupOptions::default()).unwrap();
        assert!(g.registered());
        // Exited, not yet reaped: still registered, and the zombie holds
        // the ID, so signalling the group is safe.
        assert!(leader_exited(g.pgid, true).unwrap());
        assert!(g.registered());
        assert!(std::fs::metadata(format!("/proc/{}", g.id())).is_ok());
        let s = g.try_wait().unwrap().unwrap();
        assert!(s.success());
        // Reaped, and gone from the registry.
        assert!(!g.registered());
        // Later calls answer from the record and signal nothing.
        assert_eq!(g.kill().unwrap(), s);
        assert_eq!(g.wait().unwrap(), s);
    }

    #[test]
    fn wait_timeout_times_out_then_waits() {
        let mut c = Command::new("/bin/sh");
        c.args(["-c", "sleep 0.3; exit 3"]);
        let mut g = spawn_group(&mut c, &GroupOptions::default()).unwrap();
        assert!(g.wait_timeout(Duration::from_millis(10)).unwrap().is_none());
        let s = g.wait_timeout(Duration::from_secs(10)).unwrap().unwrap();
        assert_eq!(s.code(), Some(3));
        assert!(!g.registered());
    }

    #[test]
    fn the_child_gets_the_parent_death_signal() {
        // PR_SET_PDEATHSIG is per thread: spawn from a thread that then
        // exits, and the child must die with it.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut c = Command::new("/bin/sleep");
            c.arg("300");
            let g = spawn_group(&mut c, &GroupOptions::default()).unwrap();
            tx.send(g.id()).unwrap();
            // Leak it: no Drop, so only the death signal can end it.
            std::mem::forget(g);
        })
        .join()
        .unwrap();
        let pid = rx.recv().unwrap();
        assert!(
            wait_gone(pid),
            "the child outlived the thread that spawned it"
        );
        groups().retain(|e| e.pgid != pid as libc::pid_t);
        // SAFETY: reaps our own exited child.
        unsafe {
            libc::waitpid(pid as libc::pid_t, std::ptr::null_mut(), 0);
        }
    }

    #[test]
    fn a_missing_program_is_an_error() {
        let mut c = Command::new("/nonexistent/ktailor-test-program");
        let e = spawn_group(&mut c, &GroupOptions::default()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }
}
