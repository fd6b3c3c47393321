//! File locks between processes: `flock(2)`, exclusive or shared.
//!
//! Why flock: the kernel releases the lock when the last descriptor closes,
//! so a process killed with SIGKILL never leaves a stale lock behind (a
//! lock *file* that exists-means-locked would). The lock files themselves
//! are never removed: removing one while another process waits on it would
//! let a third process lock a new file of the same name at the same time.
//!
//! The locking calls are std's (`File::lock`, `try_lock`, which use flock
//! on Linux); what is written here is the waiting with a message, the
//! retry on EINTR, the slot search and naming the holder from
//! `/proc/locks`.
//!
//! Locks are not inherited across exec: std opens files with `O_CLOEXEC`,
//! so a `make` started while the lock is held does not keep it alive.

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Who may hold the lock alongside us.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockMode {
    /// One holder at a time (writers).
    Exclusive,
    /// Any number of shared holders, no exclusive one (readers).
    Shared,
}

/// A held lock on a file; dropping it (closing the file) releases it.
#[derive(Debug)]
pub struct FileLock {
    file: File,
    path: PathBuf,
    mode: LockMode,
}

impl FileLock {
    /// Takes the lock if nobody holds it in a conflicting mode; `Ok(None)`
    /// when someone does. The file is created if missing (its directory
    /// must exist).
    pub fn try_lock(path: &Path, mode: LockMode) -> io::Result<Option<FileLock>> {
        let file = open(path)?;
        let r = match mode {
            LockMode::Exclusive => file.try_lock(),
            LockMode::Shared => file.try_lock_shared(),
        };
        match r {
            Ok(()) => Ok(Some(FileLock {
                file,
                path: path.to_path_buf(),
                mode,
            })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(e),
        }
    }

    /// Takes the lock, waiting as long as it takes, silently.
    pub fn lock(path: &Path, mode: LockMode) -> io::Result<FileLock> {
        FileLock::lock_or_wait(path, mode, &|_| {})
    }

    /// Takes the lock; if another process holds it, first tells `on_wait`
    /// ("waiting for the lock on X, held by pid N") and then waits. A
    /// person watching a command that seems stuck learns why and who.
    pub fn lock_or_wait(
        path: &Path,
        mode: LockMode,
        on_wait: &dyn Fn(&str),
    ) -> io::Result<FileLock> {
        if let Some(l) = FileLock::try_lock(path, mode)? {
            return Ok(l);
        }
        on_wait(&waiting_message(path));
        let file = open(path)?;
        loop {
            let r = match mode {
                LockMode::Exclusive => file.lock(),
                LockMode::Shared => file.lock_shared(),
            };
            match r {
                Ok(()) => {
                    return Ok(FileLock {
                        file,
                        path: path.to_path_buf(),
                        mode,
                    })
                }
                // A signal handler ran while we waited; keep waiting.
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// The first of `candidates` that can be locked now, with its index:
    /// for pools of work directories (one per concurrent run), where a
    /// busy one is skipped rather than waited for. `Ok(None)` when all are
    /// held.
    pub fn first_free<I>(candidates: I, mode: LockMode) -> io::Result<Option<(usize, FileLock)>>
    where
        I: IntoIterator<Item = PathBuf>,
    {
        for (i, p) in candidates.into_iter().enumerate() {
            if let Some(l) = FileLock::try_lock(&p, mode)? {
                return Ok(Some((i, l)));
            }
        }
        Ok(None)
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn mode(&self) -> LockMode {
        self.mode
    }

    /// The open lock file (for writing a note into it, say).
    pub fn file(&self) -> &File {
        &self.file
    }
}

/// One run's own directory in a work directory that concurrent runs share
/// (two `ktailor boot` of one target, two `ktailor run` of one image),
/// locked while the run holds it; dropping it frees the directory.
///
/// Why: runs that share a work directory would clobber each other's serial
/// log, initramfs, disks and keys. A lock on the whole directory would
/// make the second run wait for the first; a fresh directory per run would
/// pile up. Instead the first run uses the work directory itself, as a
/// lone run always has, and a run that finds it taken uses the first free
/// `run-N` directory in it. The slots are flocks (`.ktailor-run-N.lock` in
/// the work directory), so a killed run's slot is free again at once and
/// slots are reused.
#[derive(Debug)]
pub struct RunDir {
    dir: PathBuf,
    _lock: FileLock,
}

/// More concurrent runs of one work directory than this is a runaway loop.
const MAX_RUNS: usize = 64;

impl RunDir {
    /// Takes the first free slot of `workdir` (creating directories as
    /// needed). Fails with `WouldBlock` when all are taken.
    pub fn take(workdir: &Path) -> io::Result<RunDir> {
        std::fs::create_dir_all(workdir)?;
        let locks = (0..MAX_RUNS).map(|i| workdir.join(format!(".ktailor-run-{i}.lock")));
        let Some((i, lock)) = FileLock::first_free(locks, LockMode::Exclusive)? else {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                format!("{MAX_RUNS} runs already use {}", workdir.display()),
            ));
        };
        let dir = if i == 0 {
            workdir.to_path_buf()
        } else {
            workdir.join(format!("run-{i}"))
        };
        std::fs::create_dir_all(&dir)?;
        Ok(RunDir { dir, _lock: lock })
    }

    /// The directory this run's files go in.
    pub fn path(&self) -> &Path {
        &self.dir
    }
}

/// "waiting for the lock on X, held by pid N" (or "by another process"
/// when `/proc/locks` does not say).
pub fn waiting_message(path: &Path) -> String {
    match holder(path) {
        Some(pid) => format!(
            "waiting for the lock on {}, held by pid {pid}",
            path.display()
        ),
        None => format!(
            "waiting for the lock on {}, held by another process",
            path.display()
        ),
    }
}

/// A process holding a flock on `path`, read from `/proc/locks`; best
/// effort (`None` if it cannot tell). Where several share it, any one.
pub fn holder(path: &Path) -> Option<u32> {
    let m = std::fs::metadata(path).ok()?;
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    holder_in(&locks, m.dev(), m.ino())
}

/// `/proc/locks` lines look like
/// `3: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF`; waiters have `->`
/// after the number and are skipped. The device is `major:minor` in hex.
fn holder_in(locks: &str, dev: u64, ino: u64) -> Option<u32> {
    let want = format!("{:02x}:{:02x}:{ino}", major(dev), minor(dev));
    locks.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.get(1) != Some(&"FLOCK") || f.get(5) != Some(&want.as_str()) {
            return None;
        }
        f.get(4)?.parse().ok()
    })
}

/// glibc's `gnu_dev_major`/`minor` encoding, written out because libc
/// exposes them as unsafe functions for no memory-safety reason.
fn major(dev: u64) -> u64 {
    ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff)
}

fn minor(dev: u64) -> u64 {
    (dev & 0xff) | ((dev >> 12) & !0xff)
}

/// Opens (creating) a lock file. Read-write so that `touch`-like creation
/// works; a read-only file or file system still allows flock through a
/// read-only descriptor, so that is tried next.
fn open(path: &Path) -> io::Result<File> {
    match OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
    {
        Ok(f) => Ok(f),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem
            ) =>
        {
            File::open(path).map_err(|_| e)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn exclusive_excludes_and_drop_releases() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.lock");
        let held = FileLock::try_lock(&p, LockMode::Exclusive)
            .unwrap()
            .unwrap();
        // flock locks belong to the open file description, so a second
        // open in the same process conflicts like another process would.
        assert!(FileLock::try_lock(&p, LockMode::Exclusive)
            .unwrap()
            .is_none());
        assert!(FileLock::try_lock(&p, LockMode::Shared).unwrap().is_none());
        drop(held);
        assert!(FileLock::try_lock(&p, LockMode::Exclusive)
            .unwrap()
            .is_some());
    }

    #[test]
    fn shared_locks_coexist_and_keep_writers_out() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("s.lock");
        let a = FileLock::lock(&p, LockMode::Shared).unwrap();
        let b = FileLock::try_lock(&p, LockMode::Shared).unwrap();
        assert!(b.is_some());
        assert!(FileLock::try_lock(&p, LockMode::Exclusive)
            .unwrap()
            .is_none());
        drop((a, b));
        assert!(FileLock::try_lock(&p, LockMode::Exclusive)
            .unwrap()
            .is_some());
    }

    #[test]
    fn a_waiter_says_who_it_waits_for_then_gets_the_lock() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("w.lock");
        let held = FileLock::lock(&p, LockMode::Exclusive).unwrap();
        let (tx, rx) = mpsc::channel();
        let p2 = p.clone();
        let waiter = std::thread::spawn(move || {
            let tx2 = tx.clone();
            let l = FileLock::lock_or_wait(&p2, LockMode::Exclusive, &move |m| {
                tx2.send(m.to_string()).unwrap()
            })
            .unwrap();
            tx.send("got it".into()).unwrap();
            drop(l);
        });
        let msg = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert!(
            msg.starts_with(&format!("waiting for the lock on {}", p.display())),
            "{msg}"
        );
        // Where /proc/locks names the holder, it is us.
        if let Some(pid) = holder(&p) {
            assert_eq!(pid, std::process::id());
            assert!(msg.ends_with(&format!("held by pid {pid}")), "{msg}");
        }
        assert!(
            rx.recv_timeout(Duration::from_millis(200)).is_err(),
            "lock taken while held"
        );
        drop(held);
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), "got it");
        waiter.join().unwrap();
    }

    #[test]
    fn an_uncontended_lock_says_nothing() {
        let d = tempfile::tempdir().unwrap();
        let said = std::cell::Cell::new(false);
        let _l = FileLock::lock_or_wait(&d.path().join("q"), LockMode::Exclusive, &|_| {
            said.set(true)
        })
        .unwrap();
        assert!(!said.get());
    }

    #[test]
    fn first_free_skips_held_slots() {
        let d = tempfile::tempdir().unwrap();
        let slot = |i: usize| d.path().join(format!("w{i}.lock"));
        let (i0, l0) = FileLock::first_free((0..4).map(slot), LockMode::Exclusive)
            .unwrap()
            .unwrap();
        let (i1, _l1) = FileLock::first_free((0..4).map(slot), LockMode::Exclusive)
            .unwrap()
            .unwrap();
        assert_eq!((i0, i1), (0, 1));
        drop(l0);
        let (i, _l) = FileLock::first_free((0..4).map(slot), LockMode::Exclusive)
            .unwrap()
            .unwrap();
        assert_eq!(i, 0, "a released slot is reused");
        let _all: Vec<_> = (2..4)
            .map(|i| {
                FileLock::try_lock(&slot(i), LockMode::Exclusive)
                    .unwrap()
                    .unwrap()
            })
            .collect();
        assert!(FileLock::first_free((0..4).map(slot), LockMode::Exclusive)
            .unwrap()
            .is_none());
    }

    #[test]
    fn run_dirs_are_distinct_while_held_and_reused_after() {
        let d = tempfile::tempdir().unwrap();
        let w = d.path().join("w");
        let a = RunDir::take(&w).unwrap();
        let b = RunDir::take(&w).unwrap();
        let c = RunDir::take(&w).unwrap();
        assert_eq!(a.path(), w);
        assert_eq!(b.path(), w.join("run-1"));
        assert_eq!(c.path(), w.join("run-2"));
        assert!(b.path().is_dir() && c.path().is_dir());
        drop(b);
        assert_eq!(RunDir::take(&w).unwrap().path(), w.join("run-1"));
        drop(a);
        assert_eq!(
            RunDir::take(&w).unwrap().path(),
            w,
            "the lone run's directory"
        );
    }

    #[test]
    fn proc_locks_parsing() {
        let dev = (0x103u64 << 8) | 0x2; // major 0x103 (0x03 in the low bits), minor 2
        let text = "1: POSIX  ADVISORY  WRITE 77 01:02:42 0 EOF\n\
                    2: FLOCK  ADVISORY  WRITE 4242 103:02:42 0 EOF\n\
                    2: -> FLOCK  ADVISORY  WRITE 99 103:02:42 0 EOF\n";
        assert_eq!(holder_in(text, dev, 42), Some(4242));
        assert_eq!(holder_in(text, dev, 43), None);
        assert_eq!((major(dev), minor(dev)), (0x103, 2));
    }
}
