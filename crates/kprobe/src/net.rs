//! Network probes: interfaces, link state, a static address and the TCP
//! listener the host reaches through QEMU's `hostfwd`.
//!
//! Everything uses the classic `SIOC*` ioctls rather than rtnetlink: they
//! need nothing beyond `CONFIG_NET`/`CONFIG_INET`, so a failure points at
//! the option that is really missing instead of at the netlink plumbing.

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use crate::config::Ipv4Cidr;
use crate::sys::{check_int, SysError};

/// `struct ifreq`: a 16-byte name and a 24-byte union.
#[repr(C, align(8))]
struct IfReq {
    name: [u8; libc::IFNAMSIZ],
    data: [u8; 24],
}

impl IfReq {
    fn new(ifname: &str) -> Result<Self, SysError> {
        let b = ifname.as_bytes();
        if b.is_empty() || b.len() >= libc::IFNAMSIZ || b.contains(&0) {
            return Err(SysError::new(
                format!("interface name {ifname:?}"),
                libc::EINVAL,
            ));
        }
        let mut name = [0u8; libc::IFNAMSIZ];
        name[..b.len()].copy_from_slice(b);
        Ok(Self {
            name,
            data: [0; 24],
        })
    }

    fn flags(&self) -> u16 {
        u16::from_ne_bytes([self.data[0], self.data[1]])
    }

    fn set_flags(&mut self, f: u16) {
        self.data[..2].copy_from_slice(&f.to_ne_bytes());
    }

    /// Stores a `sockaddr_in` with port 0.
    fn set_inet(&mut self, addr: [u8; 4]) {
        self.data = [0; 24];
        self.data[..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
        self.data[4..8].copy_from_slice(&addr);
    }

    fn inet(&self) -> [u8; 4] {
        [self.data[4], self.data[5], self.data[6], self.data[7]]
    }
}

/// A socket to issue interface ioctls on. `AF_INET` first (address ioctls
/// need it); the others still reach the generic device ioctls, so a kernel
/// without INET can still show whether its NIC comes up.
fn control_socket(need_inet: bool) -> Result<OwnedFd, SysError> {
    let families: &[libc::c_int] = if need_inet {
        &[libc::AF_INET]
    } else {
        &[libc::AF_INET, libc::AF_UNIX, libc::AF_NETLINK]
    };
    let mut first_err = None;
    for &fam in families {
        // SAFETY: plain socket(2) call.
        let fd = unsafe { libc::socket(fam, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        if fd >= 0 {
            // SAFETY: fd is a fresh descriptor we own.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
        }
        first_err.get_or_insert_with(|| SysError::last("socket"));
    }
    Err(first_err.unwrap_or_else(|| SysError::new("socket", libc::EAFNOSUPPORT)))
}

fn ioctl(fd: &OwnedFd, req: libc::c_ulong, name: &str, ifr: &mut IfReq) -> Result<(), SysError> {
    // SAFETY: ifr points to a properly sized struct ifreq.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), req as _, ifr as *mut IfReq) };
    check_int(name, rc).map(|_| ())
}

pub fn get_flags(ifname: &str) -> Result<u16, SysError> {
    let s = control_socket(false)?;
    let mut r = IfReq::new(ifname)?;
    ioctl(
        &s,
        libc::SIOCGIFFLAGS,
        &format!("SIOCGIFFLAGS {ifname}"),
        &mut r,
    )?;
    Ok(r.flags())
}

/// Sets IFF_UP on `ifname`; returns the flags read back.
pub fn bring_up(ifname: &str) -> Result<u16, SysError> {
    let s = control_socket(false)?;
    let mut r = IfReq::new(ifname)?;
    ioctl(
        &s,
        libc::SIOCGIFFLAGS,
        &format!("SIOCGIFFLAGS {ifname}"),
        &mut r,
    )?;
    let f = r.flags();
    if f & libc::IFF_UP as u16 == 0 {
        r.set_flags(f | libc::IFF_UP as u16);
        ioctl(
            &s,
            libc::SIOCSIFFLAGS,
            &format!("SIOCSIFFLAGS {ifname} IFF_UP"),
            &mut r,
        )?;
    }
    ioctl(
        &s,
        libc::SIOCGIFFLAGS,
        &format!("SIOCGIFFLAGS {ifname}"),
        &mut r,
    )?;
    Ok(r.flags())
}

/// Configures `cidr` on `ifname` and reads the address back.
pub fn set_address(ifname: &str, cidr: Ipv4Cidr) -> Result<[u8; 4], SysError> {
    let s = control_socket(true)?;
    let mut r = IfReq::new(ifname)?;
    r.set_inet(cidr.addr);
    ioctl(
        &s,
        libc::SIOCSIFADDR,
        &format!("SIOCSIFADDR {ifname}"),
        &mut r,
    )?;
    let mut r = IfReq::new(ifname)?;
    r.set_inet(cidr.netmask());
    ioctl(
        &s,
        libc::SIOCSIFNETMASK,
        &format!("SIOCSIFNETMASK {ifname}"),
        &mut r,
    )?;
    let mut r = IfReq::new(ifname)?;
    ioctl(
        &s,
        libc::SIOCGIFADDR,
        &format!("SIOCGIFADDR {ifname}"),
        &mut r,
    )?;
    Ok(r.inet())
}

/// Interface names, from sysfs or else procfs, sorted; `None` when neither
/// is there to ask.
///
/// Names the kernel does not know in our network namespace are dropped: a
/// sysfs mounted before an `unshare --net` still shows the old namespace's
/// devices.
pub fn interfaces() -> Option<Vec<String>> {
    let listed = if let Ok(rd) = std::fs::read_dir("/sys/class/net") {
        let mut v: Vec<String> = rd
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    } else {
        let text = std::fs::read_to_string("/proc/net/dev").ok()?;
        parse_proc_net_dev(&text)
    };
    if control_socket(false).is_err() {
        return Some(listed);
    }
    Some(
        listed
            .into_iter()
            .filter(|n| get_flags(n).is_ok())
            .collect(),
    )
}

/// Interface names from `/proc/net/dev` (two header lines, then
/// `  eth0: 123 ...`).
pub fn parse_proc_net_dev(text: &str) -> Vec<String> {
    let mut v: Vec<String> = text
        .lines()
        .skip(2)
        .filter_map(|l| l.split_once(':'))
        .map(|(name, _)| name.trim().to_string())
        .filter(|n| !n.is_empty())
        .collect();
    v.sort();
    v
}

/// The NIC the link probes use: `KTNIC` when the kernel knows it, else the
/// first interface that is not loopback (with a note saying so).
pub fn pick_nic(wanted: &str) -> Option<(String, String)> {
    if get_flags(wanted).is_ok() {
        return Some((wanted.to_string(), String::new()));
    }
    let others: Vec<String> = interfaces()?.into_iter().filter(|n| n != "lo").collect();
    others
        .first()
        .map(|n| (n.clone(), format!(" (KTNIC {wanted} not found, using {n})")))
}

/// Whether the link has carrier: sysfs's `carrier` when readable, else
/// IFF_RUNNING, which the kernel sets from the same operstate.
pub fn has_carrier(ifname: &str) -> bool {
    if let Ok(s) = std::fs::read_to_string(format!("/sys/class/net/{ifname}/carrier")) {
        return s.trim() == "1";
    }
    get_flags(ifname).is_ok_and(|f| f & libc::IFF_RUNNING as u16 != 0)
}

/// Waits up to `limit` for carrier; returns how long it took.
pub fn wait_carrier(ifname: &str, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    loop {
        if has_carrier(ifname) {
            return Some(start.elapsed());
        }
        if start.elapsed() >= limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn bind_any(port: u16) -> Result<TcpListener, SysError> {
    TcpListener::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port))
        .map_err(|e| SysError::from_io(format!("bind 0.0.0.0:{port}"), &e))
}

/// What the host sends to prove the path works end to end.
pub const HELLO: &str = "ktailor-hello";

/// Accepts one connection within `timeout` and returns its first line and
/// peer. `poll(2)` keeps the wait independent of POSIX timers, which the
/// seed's `nc -w` needed and a minimal kernel may not have.
pub fn accept_line(
    listener: &TcpListener,
    timeout: Duration,
) -> Result<(String, SocketAddr), String> {
    let mut pfd = libc::pollfd {
        fd: listener.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ms = libc::c_int::try_from(left.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, ms) };
        if n > 0 {
            break;
        }
        if n < 0 && crate::sys::last_errno() != libc::EINTR {
            return Err(SysError::last("poll").to_string());
        }
        if n == 0 || Instant::now() >= deadline {
            return Err(format!("no connection within {} s", timeout.as_secs()));
        }
    }
    let (mut stream, peer) = listener
        .accept()
        .map_err(|e| SysError::from_io("accept", &e).to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| SysError::from_io("SO_RCVTIMEO", &e).to_string())?;
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    while got.len() < 512 {
        match stream.read(&mut byte) {
            Ok(0) => break,
            Ok(_) if byte[0] == b'\n' => break,
            Ok(_) => got.push(byte[0]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(format!(
                    "{} (from {peer}, after {} bytes)",
                    SysError::from_io("read", &e),
                    got.len()
                ))
            }
        }
    }
    let text = String::from_utf8_lossy(&got)
        .trim_end_matches('\r')
        .to_string();
    if text == HELLO {
        use std::io::Write;
        let _ = stream.write_all(b"ktailor-ok\n");
    }
    Ok((text, peer))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::TcpStream;

    #[test]
    fn proc_net_dev() {
        let t = "Inter-|   Receive\n face |bytes\n    lo: 1 2 3\n  eth0: 4 5 6\n";
        assert_eq!(parse_proc_net_dev(t), ["eth0", "lo"]);
        assert!(parse_proc_net_dev("").is_empty());
    }

    #[test]
    fn ifreq_names() {
        assert!(IfReq::new("eth0").is_ok());
        assert!(IfReq::new("").is_err());
        assert!(IfReq::new("a-very-long-ifname").is_err());
        assert!(IfReq::new("a\0b").is_err());
        assert_eq!(std::mem::size_of::<IfReq>(), 40);
    }

    #[test]
    fn accept_line_reads_hello_and_answers() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let t = std::thread::spawn(move || {
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(b"ktailor-hello\r\n").unwrap();
            let mut reply = String::new();
            s.read_to_string(&mut reply).unwrap();
            reply
        });
        let (line, _) = accept_line(&l, Duration::from_secs(10)).unwrap();
        assert_eq!(line, HELLO);
        assert_eq!(t.join().unwrap(), "ktailor-ok\n");
    }

    #[test]
    fn accept_line_times_out() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let e = accept_line(&l, Duration::from_millis(100)).unwrap_err();
        assert!(e.contains("no connection"), "{e}");
    }
}
