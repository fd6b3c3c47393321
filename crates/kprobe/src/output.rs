//! The console protocol.
//!
//! Every line the host parses carries a fixed prefix so that it can be
//! picked out of kernel messages interleaved on the same serial console:
//!
//! ```text
//! KTAILOR-PROBE {"probe":"epoll","status":"pass","detail":"epoll_create1 returned fd 3"}
//! KTAILOR-PROBE-LISTENING {"port":22}
//! KTAILOR-PROBE-DONE {"pass":30,"fail":2,"skip":6}
//! ```
//!
//! Lines go straight to file descriptor 1 with one `write(2)` each (no
//! buffering that a reboot could lose), and when that is a terminal the
//! program waits for the UART to drain: the 8250 driver sends a tty write
//! from a buffer while `printk` writes synchronously, so without the wait a
//! kernel message can land in the middle of a probe line, and a reboot right
//! after the last line can cut it off.

use crate::json;
use crate::sys::{errno_name, SysError};

/// The prefix of a probe result line.
pub const PREFIX: &str = "KTAILOR-PROBE";
/// The prefix of the line announcing the TCP listener.
pub const LISTENING_PREFIX: &str = "KTAILOR-PROBE-LISTENING";
/// The prefix of the final summary line.
pub const DONE_PREFIX: &str = "KTAILOR-PROBE-DONE";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Pass,
    Fail,
    Skip,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Skip => "skip",
        }
    }
}

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

/// The text of one result line (without the newline).
pub fn probe_line(probe: &str, o: &Outcome) -> String {
    let mut obj = json::Object::new()
        .str("probe", probe)
        .str("status", o.status.as_str())
        .str("detail", &o.detail);
    if let Some(e) = o.errno {
        obj = obj.str("errno", errno_name(e));
    }
    format!("{PREFIX} {}", obj.finish())
}

pub fn listening_line(port: u16) -> String {
    format!(
        "{LISTENING_PREFIX} {}",
        json::Object::new().int("port", i64::from(port)).finish()
    )
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub pass: u32,
    pub fail: u32,
    pub skip: u32,
}

impl Counts {
    pub fn add(&mut self, s: Status) {
        match s {
            Status::Pass => self.pass += 1,
            Status::Fail => self.fail += 1,
            Status::Skip => self.skip += 1,
        }
    }
}

pub fn done_line(c: Counts) -> String {
    let obj = json::Object::new()
        .int("pass", i64::from(c.pass))
        .int("fail", i64::from(c.fail))
        .int("skip", i64::from(c.skip))
        .finish();
    format!("{DONE_PREFIX} {obj}")
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
    pub counts: Counts,
}

impl Reporter {
    pub fn report(&mut self, probe: &str, o: &Outcome) {
        self.counts.add(o.status);
        line(&probe_line(probe, o));
    }

    pub fn done(&self) {
        line(&done_line(self.counts));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_formats() {
        let o = Outcome::pass("epoll_create1 returned fd 3");
        assert_eq!(
            probe_line("epoll", &o),
            r#"KTAILOR-PROBE {"probe":"epoll","status":"pass","detail":"epoll_create1 returned fd 3"}"#
        );
        let o = Outcome::from(SysError::new("epoll_create1", libc::ENOSYS));
        assert_eq!(
            probe_line("epoll", &o),
            r#"KTAILOR-PROBE {"probe":"epoll","status":"fail","detail":"epoll_create1: Function not implemented (ENOSYS)","errno":"ENOSYS"}"#
        );
        let o = Outcome::sys(&SysError::new("mount proc", libc::ENODEV), "PROC_FS?");
        assert!(probe_line("procfs", &o)
            .contains(r#""detail":"mount proc: No such device (ENODEV) - PROC_FS?""#));
        assert_eq!(listening_line(22), r#"KTAILOR-PROBE-LISTENING {"port":22}"#);
        let mut c = Counts::default();
        c.add(Status::Pass);
        c.add(Status::Pass);
        c.add(Status::Skip);
        assert_eq!(
            done_line(c),
            r#"KTAILOR-PROBE-DONE {"pass":2,"fail":0,"skip":1}"#
        );
    }

    #[test]
    fn errno_zero_is_not_reported() {
        let o = Outcome::from(SysError::new("x", 0));
        assert_eq!(o.errno, None);
        assert_eq!(o.status, Status::Fail);
    }
}
