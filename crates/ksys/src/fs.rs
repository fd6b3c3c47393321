//! Atomic replacement of files and directory trees.
//!
//! Why: ktailor's outputs (`.config` files, kernels, initramfs and disk
//! images, caches, manifests) are read by later runs and by other ktailor
//! processes running at the same time. A reader must see the old content or
//! the new one, never half a file, and a crash, a power loss or a SIGKILL
//! must never leave a truncated file under the final name. The recipe, in
//! one place:
//!
//! 1. write a temporary file **in the same directory** (rename is atomic
//!    only within one file system);
//! 2. `fsync` it, so the new name can never point at data that is not on
//!    disk yet;
//! 3. `rename` it over the target;
//! 4. `fsync` the directory, so the rename itself survives a power loss.
//!
//! The temporary is removed on every failure path (it is owned by a value
//! whose `Drop` deletes it). Temporaries are named `.<name>.XXXXXX.tmp`:
//! hidden, and recognisably ours if a SIGKILL leaves one behind.
//!
//! `tempfile` provides the unique, `O_EXCL`-created names and the removal
//! on drop; the fsyncs and the no-replace rename for directories are not in
//! any crate we use, hence written here.

use std::fs::{File, Permissions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` atomically (see the module docs). The file gets
/// the permissions a plain `fs::write` would give a new file (0666 less the
/// umask), not the 0600 of a temporary file.
///
/// The parent directory must exist.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_with(path, |w| w.write_all(bytes))
}

/// [`write_atomic`] for content produced by a writer (serde's `to_writer`,
/// several `write!`s): `write` gets a buffered writer on the temporary file.
pub fn write_atomic_with<F>(path: &Path, write: F) -> io::Result<()>
where
    F: FnOnce(&mut BufWriter<&File>) -> io::Result<()>,
{
    let tmp = AtomicFile::new(path)?;
    {
        let mut w = BufWriter::new(tmp.file());
        write(&mut w)?;
        w.flush()?;
    }
    tmp.commit()
}

/// A temporary file next to its destination, renamed over it by
/// [`AtomicFile::commit`] and removed if dropped uncommitted.
///
/// For content written through [`AtomicFile::file`], or by another program
/// given [`AtomicFile::path`] (`mke2fs`, `objcopy`, `mcopy`). `commit` syncs
/// whatever file is at the temporary path when it is called, so programs
/// that replace their output file (objcopy writes a new file and renames
/// it) are covered.
#[derive(Debug)]
pub struct AtomicFile {
    temp: tempfile::NamedTempFile,
    dest: PathBuf,
}

impl AtomicFile {
    /// Creates an empty temporary file in `dest`'s directory (which must
    /// exist).
    pub fn new(dest: &Path) -> io::Result<AtomicFile> {
        let (dir, name) = split(dest)?;
        let temp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".tmp")
            // As a new file would get: the umask applies to this mode.
            .permissions(Permissions::from_mode(0o666))
            .tempfile_in(dir)?;
        Ok(AtomicFile {
            temp,
            dest: dest.to_path_buf(),
        })
    }

    /// The temporary file's path.
    pub fn path(&self) -> &Path {
        self.temp.path()
    }

    /// The temporary file, open for reading and writing.
    pub fn file(&self) -> &File {
        self.temp.as_file()
    }

    /// The final path.
    pub fn dest(&self) -> &Path {
        &self.dest
    }

    /// Syncs the temporary file, renames it over the destination and syncs
    /// the directory. On error the temporary is removed.
    pub fn commit(self) -> io::Result<()> {
        // Open by path: another program may have replaced the file we
        // created, and the data to sync is the one at the path now.
        File::open(self.temp.path())?.sync_all()?;
        // On failure PersistError hands the temporary back; dropping it
        // removes the file.
        self.temp.persist(&self.dest).map_err(|e| e.error)?;
        sync_parent(&self.dest)
    }
}

/// Moves a file that is complete at `from` (written in a work directory on
/// the same file system, or under a temporary name) over `dest`: fsync,
/// rename, fsync of `dest`'s directory. `from` is left in place on error;
/// the caller owns it.
pub fn publish_file(from: &Path, dest: &Path) -> io::Result<()> {
    File::open(from)?.sync_all()?;
    std::fs::rename(from, dest)?;
    sync_parent(dest)
}

/// Moves a complete directory tree from `from` to `dest`, which must not
/// exist: if it does (another process published the same tree first), the
/// error has kind [`io::ErrorKind::AlreadyExists`] and nothing moves.
///
/// The file system is synced first (`syncfs`), so the tree behind the new
/// name is on disk: one call instead of an fsync per file, which for a
/// kernel tree would be tens of thousands. `dest`'s directory is synced
/// after the rename.
pub fn publish_dir(from: &Path, dest: &Path) -> io::Result<()> {
    let d = File::open(from)?;
    // SAFETY: syncfs on a descriptor we own; it reads no memory of ours.
    if unsafe { libc::syncfs(std::os::fd::AsRawFd::as_raw_fd(&d)) } != 0 {
        return Err(io::Error::last_os_error());
    }
    drop(d);
    rename_noreplace(from, dest)?;
    sync_parent(dest)
}

/// A temporary directory next to its destination, to be filled and then
/// moved into place with [`AtomicDir::commit`]; removed (with everything in
/// it) if dropped uncommitted.
#[derive(Debug)]
pub struct AtomicDir {
    temp: Option<tempfile::TempDir>,
    dest: PathBuf,
}

impl AtomicDir {
    /// Creates an empty temporary directory in `dest`'s parent (which must
    /// exist).
    pub fn new(dest: &Path) -> io::Result<AtomicDir> {
        let (dir, name) = split(dest)?;
        let temp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".tmp")
            .permissions(Permissions::from_mode(0o777))
            .tempdir_in(dir)?;
        Ok(AtomicDir {
            temp: Some(temp),
            dest: dest.to_path_buf(),
        })
    }

    /// The temporary directory, to fill.
    pub fn path(&self) -> &Path {
        // Only `commit` takes it, and it consumes self.
        self.temp.as_ref().map_or(&self.dest, |t| t.path())
    }

    /// The final path.
    pub fn dest(&self) -> &Path {
        &self.dest
    }

    /// Moves the tree into place with [`publish_dir`]: an existing `dest`
    /// is never replaced (error kind `AlreadyExists`). On error the
    /// temporary tree is removed.
    pub fn commit(mut self) -> io::Result<()> {
        let Some(temp) = self.temp.take() else {
            return Ok(());
        };
        publish_dir(temp.path(), &self.dest)?;
        // Renamed away: nothing left for TempDir's drop to remove.
        let _ = temp.keep();
        Ok(())
    }
}

/// `rename(2)` that fails with `AlreadyExists` instead of replacing `to`
/// (`renameat2(RENAME_NOREPLACE)`). Plain rename would silently replace an
/// empty directory and, for files, anything.
pub fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| {
        std::ffi::CString::new(p.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
    };
    let (f, t) = (c(from)?, c(to)?);
    // SAFETY: both strings are NUL-terminated and outlive the call.
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            f.as_ptr(),
            libc::AT_FDCWD,
            t.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if r == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EEXIST) | Some(libc::ENOTEMPTY) => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} exists", to.display()),
        )),
        // A file system without RENAME_NOREPLACE: check, then rename. Two
        // processes can both pass the check; the loser's rename then fails
        // on a non-empty directory, which is the case that matters.
        Some(libc::EINVAL) | Some(libc::ENOSYS) => {
            if std::fs::symlink_metadata(to).is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{} exists", to.display()),
                ));
            }
            std::fs::rename(from, to).map_err(|e| match e.raw_os_error() {
                Some(libc::EEXIST) | Some(libc::ENOTEMPTY) => io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{} exists", to.display()),
                ),
                _ => e,
            })
        }
        _ => Err(e),
    }
}

/// Fsyncs the directory holding `path`, which makes a rename into it
/// durable.
pub fn sync_parent(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

/// `dest`'s directory and file name; the name is cut to keep temporary
/// names under the 255-byte limit.
fn split(dest: &Path) -> io::Result<(&Path, String)> {
    let name = dest.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} does not name a file", dest.display()),
        )
    })?;
    let dir = match dest.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name: String = name.to_string_lossy().chars().take(100).collect();
    Ok((dir, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn write_atomic_replaces_and_leaves_no_temporary() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("out.config");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(names(d.path()), ["out.config"]);
    }

    #[test]
    fn new_files_get_the_umask_permissions_not_0600() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        write_atomic(&p, b"x").unwrap();
        let plain = d.path().join("plain");
        std::fs::write(&plain, b"x").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&p), mode(&plain));
    }

    #[test]
    fn a_failing_writer_removes_the_temporary_and_keeps_the_old_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("keep");
        write_atomic(&p, b"old").unwrap();
        let e = write_atomic_with(&p, |w| {
            w.write_all(b"half")?;
            Err(io::Error::other("disk full"))
        })
        .unwrap_err();
        assert_eq!(e.to_string(), "disk full");
        assert_eq!(std::fs::read(&p).unwrap(), b"old");
        assert_eq!(names(d.path()), ["keep"]);
    }

    #[test]
    fn a_failing_rename_removes_the_temporary() {
        let d = tempfile::tempdir().unwrap();
        // The destination is a non-empty directory: rename(2) refuses.
        let p = d.path().join("taken");
        std::fs::create_dir_all(p.join("inside")).unwrap();
        assert!(write_atomic(&p, b"x").is_err());
        assert_eq!(names(d.path()), ["taken"]);
    }

    #[test]
    fn atomic_file_for_another_program_and_drop_removes_it() {
        let d = tempfile::tempdir().unwrap();
        let dest = d.path().join("img");
        let t = AtomicFile::new(&dest).unwrap();
        let tmp = t.path().to_path_buf();
        assert_eq!(tmp.parent(), Some(d.path()));
        // Like objcopy: the program replaces the file at the path.
        std::fs::remove_file(&tmp).unwrap();
        std::fs::write(&tmp, b"made by a tool").unwrap();
        t.commit().unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"made by a tool");
        assert!(!tmp.exists());

        let t = AtomicFile::new(&dest).unwrap();
        let tmp = t.path().to_path_buf();
        std::fs::write(&tmp, b"abandoned").unwrap();
        drop(t);
        assert!(!tmp.exists());
        assert_eq!(std::fs::read(&dest).unwrap(), b"made by a tool");
    }

    #[test]
    fn a_destination_without_a_file_name_is_an_error() {
        assert_eq!(
            write_atomic(Path::new("/"), b"x").unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
    }

    #[test]
    fn publish_file_moves_a_finished_file() {
        let d = tempfile::tempdir().unwrap();
        let work = d.path().join("work");
        std::fs::create_dir(&work).unwrap();
        std::fs::write(work.join("disk.raw"), b"disk").unwrap();
        publish_file(&work.join("disk.raw"), &d.path().join("disk.img")).unwrap();
        assert_eq!(std::fs::read(d.path().join("disk.img")).unwrap(), b"disk");
        assert!(!work.join("disk.raw").exists());
    }

    #[test]
    fn atomic_dir_commits_once_and_never_replaces() {
        let d = tempfile::tempdir().unwrap();
        let dest = d.path().join("tree");
        let a = AtomicDir::new(&dest).unwrap();
        std::fs::write(a.path().join("Makefile"), b"first").unwrap();
        let b = AtomicDir::new(&dest).unwrap();
        std::fs::write(b.path().join("Makefile"), b"second").unwrap();
        let b_tmp = b.path().to_path_buf();
        a.commit().unwrap();
        // The second finisher loses, and its tree is cleaned up.
        assert_eq!(b.commit().unwrap_err().kind(), io::ErrorKind::AlreadyExists);
        assert!(!b_tmp.exists());
        assert_eq!(std::fs::read(dest.join("Makefile")).unwrap(), b"first");
        assert_eq!(names(d.path()), ["tree"]);
    }

    #[test]
    fn atomic_dir_dropped_uncommitted_is_removed() {
        let d = tempfile::tempdir().unwrap();
        let a = AtomicDir::new(&d.path().join("tree")).unwrap();
        std::fs::create_dir_all(a.path().join("a/b")).unwrap();
        drop(a);
        assert!(names(d.path()).is_empty());
    }

    #[test]
    fn rename_noreplace_refuses_an_empty_directory_too() {
        let d = tempfile::tempdir().unwrap();
        let (from, to) = (d.path().join("from"), d.path().join("to"));
        std::fs::create_dir(&from).unwrap();
        std::fs::create_dir(&to).unwrap();
        let e = rename_noreplace(&from, &to).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert!(from.exists());
    }
}
