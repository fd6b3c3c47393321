//! Writing the console protocol (its lines are `crate::protocol`'s).
//!
//! Lines go straight to file descriptor 1 with one `write(2)` each (no
//! buffering that a reboot could lose), and when that is a terminal the
//! program waits for the UART to drain: the 8250 driver sends a tty write
//! from a buffer while `printk` writes synchronously, so without the wait a
//! kernel message can land in the middle of a probe line, and a reboot right
//! after the last line can cut it off.

pub use crate::protocol::Status;
use crate::protocol::{Done, ProbeLine};
use crate::sys::{errno_name, SysError};

/// What one probe found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub status: Status,
    pub detail: String,
    pub errno: Option<i32>,
}

impl Outcome {
    pub fn pass(detail: impl Into<String>) -> Self {
        Self {
            status: Status::Pass,
            detail: detail.into(),
            errno: None,
        }
    }

    pub fn fail(detail: impl Into<String>) -> Self {
        Self {
            status: Status::Fail,
            detail: detail.into(),
            errno: None,
        }
    }

    pub fn skip(detail: impl Into<String>) -> Self {
        Self {
            status: Status::Skip,
            detail: detail.into(),
            errno: None,
        }
    }

    /// A failure with the errno and a hint of what the kernel lacks.
    pub fn sys(e: &SysError, hint: &str) -> Self {
        let mut detail = e.to_string();
        if !hint.is_empty() {
            detail.push_str(" - ");
            detail.push_str(hint);
        }
        Self {
            status: Status::Fail,
            detail,
            errno: (e.errno != 0).then_some(e.errno),
        }
    }
}

impl From<SysError> for Outcome {
    fn from(e: SysError) -> Self {
        Outcome::sys(&e, "")
    }
}

/// The result line of one probe.
pub fn probe_line(probe: &str, o: &Outcome) -> ProbeLine {
    ProbeLine {
        probe: probe.to_string(),
        status: o.status,
        detail: o.detail.clone(),
        errno: o.errno.map(|e| errno_name(e).to_string()),
    }
}

/// Writes `text` and a newline to stdout in one system call, then waits for
/// a terminal to drain. Errors are dropped: with no console there is no one
/// to tell, and the probes must still run to the end.
pub fn line(text: &str) {
    let mut buf = Vec::with_capacity(text.len() + 1);
    buf.extend_from_slice(text.as_bytes());
    buf.push(b'\n');
    write_all(1, &buf);
    drain(1);
}

fn write_all(fd: libc::c_int, mut buf: &[u8]) {
    while !buf.is_empty() {
        // SAFETY: buf is a valid readable slice for its length.
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        if n < 0 {
            if crate::sys::last_errno() == libc::EINTR {
                continue;
            }
            return;
        }
        if n == 0 {
            return;
        }
        buf = &buf[n as usize..];
    }
}

/// Waits until a terminal has sent everything written to it.
pub fn drain(fd: libc::c_int) {
    // SAFETY: isatty/tcdrain only inspect the descriptor.
    unsafe {
        if libc::isatty(fd) == 1 {
            libc::tcdrain(fd);
        }
    }
}

/// Collects results and prints each one as it arrives.
#[derive(Debug, Default)]
pub struct Reporter {
    pub counts: Done,
}

impl Reporter {
    pub fn report(&mut self, probe: &str, o: &Outcome) {
        self.counts.add(o.status);
        line(&probe_line(probe, o).to_line());
    }

    pub fn done(&self) {
        line(&self.counts.to_line());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_formats() {
        let o = Outcome::pass("epoll_create1 returned fd 3");
        assert_eq!(
            probe_line("epoll", &o).to_line(),
            r#"KTAILOR-PROBE {"probe":"epoll","status":"pass","detail":"epoll_create1 returned fd 3"}"#
        );
        let o = Outcome::from(SysError::new("epoll_create1", libc::ENOSYS));
        assert_eq!(
            probe_line("epoll", &o).to_line(),
            r#"KTAILOR-PROBE {"probe":"epoll","status":"fail","detail":"epoll_create1: Function not implemented (ENOSYS)","errno":"ENOSYS"}"#
        );
        let o = Outcome::sys(&SysError::new("mount proc", libc::ENODEV), "PROC_FS?");
        assert!(probe_line("procfs", &o)
            .to_line()
            .contains(r#""detail":"mount proc: No such device (ENODEV) - PROC_FS?""#));
    }

    #[test]
    fn errno_zero_is_not_reported() {
        let o = Outcome::from(SysError::new("x", 0));
        assert_eq!(o.errno, None);
        assert_eq!(o.status, Status::Fail);
    }
}
