//! Thin syscall helpers and errno naming.
//!
//! Probes call the kernel directly (`libc::syscall`) rather than through
//! glibc's wrappers: glibc sometimes emulates a missing syscall or picks a
//! different one, and the whole point is to learn what *this kernel* does.

use std::ffi::{CStr, CString};
use std::io;

/// A failed system call: which one and the errno it returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SysError {
    pub call: String,
    pub errno: i32,
}

impl SysError {
    pub fn new(call: impl Into<String>, errno: i32) -> Self {
        Self {
            call: call.into(),
            errno,
        }
    }

    /// The error `errno` currently holds, attributed to `call`.
    pub fn last(call: impl Into<String>) -> Self {
        Self::new(call, last_errno())
    }

    /// From a std I/O error; errors without an errno get `EIO`'s slot 0.
    pub fn from_io(call: impl Into<String>, e: &io::Error) -> Self {
        Self::new(call, e.raw_os_error().unwrap_or(0))
    }
}

impl std::fmt::Display for SysError {
    /// `epoll_create1: Function not implemented (ENOSYS)`: the form a person
    /// recognises from strace and from the seed's dmesg hunting.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.errno == 0 {
            return write!(f, "{}: failed", self.call);
        }
        write!(
            f,
            "{}: {} ({})",
            self.call,
            strerror(self.errno),
            errno_name(self.errno)
        )
    }
}

pub fn last_errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Turns a raw `syscall()` return into a result.
pub fn check(call: &str, ret: libc::c_long) -> Result<libc::c_long, SysError> {
    if ret < 0 {
        Err(SysError::last(call))
    } else {
        Ok(ret)
    }
}

/// Like [`check`] for calls returning `c_int`.
pub fn check_int(call: &str, ret: libc::c_int) -> Result<libc::c_int, SysError> {
    if ret < 0 {
        Err(SysError::last(call))
    } else {
        Ok(ret)
    }
}

pub fn close(fd: libc::c_long) {
    if let Ok(fd) = libc::c_int::try_from(fd) {
        // SAFETY: closing a descriptor this program opened and owns.
        unsafe { libc::close(fd) };
    }
}

/// A path as a C string; an interior NUL (only possible from bad
/// configuration) becomes an `EINVAL` failure instead of a panic.
pub fn cstring(call: &str, s: &str) -> Result<CString, SysError> {
    CString::new(s).map_err(|_| SysError::new(call, libc::EINVAL))
}

/// The C library's message for `errno`, without Rust's "(os error N)" tail.
pub fn strerror(errno: i32) -> String {
    let mut buf = [0 as libc::c_char; 128];
    // SAFETY: buf is writable for its full length; the XSI strerror_r the
    // libc crate binds always NUL-terminates on success.
    let rc = unsafe { libc::strerror_r(errno, buf.as_mut_ptr(), buf.len()) };
    if rc != 0 {
        return format!("error {errno}");
    }
    // SAFETY: NUL-terminated by strerror_r (checked rc above).
    unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

/// The symbolic name of an errno value on Linux x86_64 (`ENOSYS`).
pub fn errno_name(errno: i32) -> &'static str {
    ERRNO_NAMES
        .iter()
        .find(|(n, _)| *n == errno)
        .map(|(_, name)| *name)
        .unwrap_or("EUNKNOWN")
}

const ERRNO_NAMES: &[(i32, &str)] = &[
    (libc::EPERM, "EPERM"),
    (libc::ENOENT, "ENOENT"),
    (libc::ESRCH, "ESRCH"),
    (libc::EINTR, "EINTR"),
    (libc::EIO, "EIO"),
    (libc::ENXIO, "ENXIO"),
    (libc::E2BIG, "E2BIG"),
    (libc::ENOEXEC, "ENOEXEC"),
    (libc::EBADF, "EBADF"),
    (libc::ECHILD, "ECHILD"),
    (libc::EAGAIN, "EAGAIN"),
    (libc::ENOMEM, "ENOMEM"),
    (libc::EACCES, "EACCES"),
    (libc::EFAULT, "EFAULT"),
    (libc::ENOTBLK, "ENOTBLK"),
    (libc::EBUSY, "EBUSY"),
    (libc::EEXIST, "EEXIST"),
    (libc::EXDEV, "EXDEV"),
    (libc::ENODEV, "ENODEV"),
    (libc::ENOTDIR, "ENOTDIR"),
    (libc::EISDIR, "EISDIR"),
    (libc::EINVAL, "EINVAL"),
    (libc::ENFILE, "ENFILE"),
    (libc::EMFILE, "EMFILE"),
    (libc::ENOTTY, "ENOTTY"),
    (libc::ETXTBSY, "ETXTBSY"),
    (libc::EFBIG, "EFBIG"),
    (libc::ENOSPC, "ENOSPC"),
    (libc::ESPIPE, "ESPIPE"),
    (libc::EROFS, "EROFS"),
    (libc::EMLINK, "EMLINK"),
    (libc::EPIPE, "EPIPE"),
    (libc::EDOM, "EDOM"),
    (libc::ERANGE, "ERANGE"),
    (libc::EDEADLK, "EDEADLK"),
    (libc::ENAMETOOLONG, "ENAMETOOLONG"),
    (libc::ENOLCK, "ENOLCK"),
    (libc::ENOSYS, "ENOSYS"),
    (libc::ENOTEMPTY, "ENOTEMPTY"),
    (libc::ELOOP, "ELOOP"),
    (libc::ENOMSG, "ENOMSG"),
    (libc::EIDRM, "EIDRM"),
    (libc::ENOSTR, "ENOSTR"),
    (libc::ENODATA, "ENODATA"),
    (libc::ETIME, "ETIME"),
    (libc::ENOSR, "ENOSR"),
    (libc::ENOLINK, "ENOLINK"),
    (libc::EPROTO, "EPROTO"),
    (libc::EBADMSG, "EBADMSG"),
    (libc::EOVERFLOW, "EOVERFLOW"),
    (libc::EILSEQ, "EILSEQ"),
    (libc::EUSERS, "EUSERS"),
    (libc::ENOTSOCK, "ENOTSOCK"),
    (libc::EDESTADDRREQ, "EDESTADDRREQ"),
    (libc::EMSGSIZE, "EMSGSIZE"),
    (libc::EPROTOTYPE, "EPROTOTYPE"),
    (libc::ENOPROTOOPT, "ENOPROTOOPT"),
    (libc::EPROTONOSUPPORT, "EPROTONOSUPPORT"),
    (libc::ESOCKTNOSUPPORT, "ESOCKTNOSUPPORT"),
    (libc::EOPNOTSUPP, "EOPNOTSUPP"),
    (libc::EPFNOSUPPORT, "EPFNOSUPPORT"),
    (libc::EAFNOSUPPORT, "EAFNOSUPPORT"),
    (libc::EADDRINUSE, "EADDRINUSE"),
    (libc::EADDRNOTAVAIL, "EADDRNOTAVAIL"),
    (libc::ENETDOWN, "ENETDOWN"),
    (libc::ENETUNREACH, "ENETUNREACH"),
    (libc::ENETRESET, "ENETRESET"),
    (libc::ECONNABORTED, "ECONNABORTED"),
    (libc::ECONNRESET, "ECONNRESET"),
    (libc::ENOBUFS, "ENOBUFS"),
    (libc::EISCONN, "EISCONN"),
    (libc::ENOTCONN, "ENOTCONN"),
    (libc::ETIMEDOUT, "ETIMEDOUT"),
    (libc::ECONNREFUSED, "ECONNREFUSED"),
    (libc::EHOSTDOWN, "EHOSTDOWN"),
    (libc::EHOSTUNREACH, "EHOSTUNREACH"),
    (libc::EALREADY, "EALREADY"),
    (libc::EINPROGRESS, "EINPROGRESS"),
    (libc::ESTALE, "ESTALE"),
    (libc::EUCLEAN, "EUCLEAN"),
    (libc::EDQUOT, "EDQUOT"),
    (libc::ENOMEDIUM, "ENOMEDIUM"),
    (libc::EMEDIUMTYPE, "EMEDIUMTYPE"),
    (libc::ECANCELED, "ECANCELED"),
    (libc::ENOKEY, "ENOKEY"),
    (libc::EKEYEXPIRED, "EKEYEXPIRED"),
    (libc::EKEYREVOKED, "EKEYREVOKED"),
    (libc::EKEYREJECTED, "EKEYREJECTED"),
    (libc::EOWNERDEAD, "EOWNERDEAD"),
    (libc::ENOTRECOVERABLE, "ENOTRECOVERABLE"),
    (libc::ERFKILL, "ERFKILL"),
    (libc::EHWPOISON, "EHWPOISON"),
];

/// `statfs(2)`'s file system magic for `path`.
pub fn fs_magic(path: &str) -> Result<i64, SysError> {
    let c = cstring("statfs", path)?;
    // SAFETY: zeroed statfs is a valid out-parameter.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid C string and out-pointer.
    check_int("statfs", unsafe { libc::statfs(c.as_ptr(), &mut st) })?;
    #[allow(clippy::unnecessary_cast)]
    Ok(st.f_type as i64)
}

pub const RAMFS_MAGIC: i64 = 0x8584_58f6;
pub const TMPFS_MAGIC: i64 = 0x0102_1994;

/// A human name for the magics a probe is likely to meet on `/`.
pub fn magic_name(magic: i64) -> String {
    match magic {
        RAMFS_MAGIC => "ramfs".into(),
        TMPFS_MAGIC => "tmpfs".into(),
        0xef53 => "ext2/3/4".into(),
        0x794c_7630 => "overlayfs".into(),
        0x9123_683e => "btrfs".into(),
        0x5846_5342 => "xfs".into(),
        0x0102_1997 => "9p".into(),
        0x6573_5546 => "fuse".into(),
        0x7371_7368 => "squashfs".into(),
        m => format!("magic {m:#x}"),
    }
}

/// Whether `path`'s file system is the kind the kernel unpacks an
/// initramfs into (rootfs is ramfs, or tmpfs with `TMPFS` + no `root=`).
pub fn is_initramfs_root(path: &str) -> bool {
    matches!(fs_magic(path), Ok(RAMFS_MAGIC | TMPFS_MAGIC))
}

pub fn getpid() -> i32 {
    // SAFETY: getpid has no preconditions.
    unsafe { libc::getpid() }
}

pub fn geteuid() -> u32 {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() }
}

/// `uname -r` and `uname -m`, for the banner.
pub fn uname() -> (String, String) {
    // SAFETY: zeroed utsname is a valid out-parameter.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: valid out-pointer.
    if unsafe { libc::uname(&mut u) } != 0 {
        return ("?".into(), "?".into());
    }
    let field = |f: &[libc::c_char]| {
        let bytes: Vec<u8> = f
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    (field(&u.release), field(&u.machine))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_messages() {
        assert_eq!(errno_name(libc::ENOSYS), "ENOSYS");
        assert_eq!(errno_name(libc::EOPNOTSUPP), "EOPNOTSUPP");
        assert_eq!(errno_name(9999), "EUNKNOWN");
        assert_eq!(strerror(libc::ENOSYS), "Function not implemented");
        let e = SysError::new("epoll_create1", libc::ENOSYS);
        assert_eq!(
            e.to_string(),
            "epoll_create1: Function not implemented (ENOSYS)"
        );
    }

    #[test]
    fn nul_in_path_is_an_error_not_a_panic() {
        assert_eq!(cstring("open", "a\0b").unwrap_err().errno, libc::EINVAL);
        assert!(fs_magic("a\0b").is_err());
    }
}
