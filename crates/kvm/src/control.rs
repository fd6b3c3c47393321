//! What a serial-line callback can do to the running guest.

use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::ChildStdin;
use std::time::{Duration, Instant};

/// A host port QEMU forwards to a guest TCP port (`hostfwd`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostForward {
    /// Index of the NIC in `Machine::nics`.
    pub nic: usize,
    pub guest_port: u16,
    pub host_port: u16,
}

/// Handed to the serial-line callback of [`crate::run`].
pub struct Control<'a> {
    pub(crate) stdin: Option<&'a mut ChildStdin>,
    pub(crate) forwards: &'a [HostForward],
    pub(crate) started: Instant,
    pub(crate) stop: bool,
}

/// How long to wait for QEMU's user-mode network stack to accept: it
/// accepts at once, whether or not the guest listens.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

impl<'a> Control<'a> {
    /// Ends the run after this line; the verdict is `Stopped`.
    pub fn stop(&mut self) {
        self.stop = true;
    }

    /// Time since QEMU started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// The host port forwarded to `guest_port` on the first NIC that
    /// forwards it.
    pub fn host_port(&self, guest_port: u16) -> Option<u16> {
        self.forwards
            .iter()
            .find(|f| f.guest_port == guest_port)
            .map(|f| f.host_port)
    }

    /// Opens a TCP connection to the guest's `guest_port` through the host
    /// forward.
    pub fn connect_to_guest_port(&self, guest_port: u16) -> io::Result<TcpStream> {
        let port = self.host_port(guest_port).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "guest port {guest_port} is not forwarded; give the machine a NIC with hostfwd"
                ),
            )
        })?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let s = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)?;
        s.set_write_timeout(Some(CONNECT_TIMEOUT))?;
        s.set_read_timeout(Some(CONNECT_TIMEOUT))?;
        Ok(s)
    }

    /// Sends `data` to the guest's `guest_port` and closes the connection,
    /// as the seed's `nc localhost 5555` did.
    ///
    /// Success only means QEMU took the bytes: its user-mode network accepts
    /// on the guest's behalf, so the guest must confirm receipt itself (the
    /// probe program prints a line on the console).
    pub fn send_to_guest_port(&mut self, guest_port: u16, data: &[u8]) -> io::Result<()> {
        let mut s = self.connect_to_guest_port(guest_port)?;
        s.write_all(data)?;
        s.flush()?;
        // A clean FIN, so a guest reading to EOF (nc) finishes.
        let _ = s.shutdown(Shutdown::Write);
        Ok(())
    }

    /// Types `data` on the guest's serial console.
    pub fn write_serial(&mut self, data: &[u8]) -> io::Result<()> {
        let stdin = self.stdin.as_deref_mut().ok_or_else(|| {
            io::Error::new(io::ErrorKind::BrokenPipe, "the serial console is closed")
        })?;
        stdin.write_all(data)?;
        stdin.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::TcpListener;

    #[test]
    fn sends_to_the_forwarded_port_and_closes() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let forwards = [HostForward {
            nic: 0,
            guest_port: 22,
            host_port: port,
        }];
        let server = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).unwrap();
            got
        });
        let mut c = Control {
            stdin: None,
            forwards: &forwards,
            started: Instant::now(),
            stop: false,
        };
        assert_eq!(c.host_port(22), Some(port));
        c.send_to_guest_port(22, b"ktailor-hello\n").unwrap();
        assert_eq!(server.join().unwrap(), b"ktailor-hello\n");
        let e = c.send_to_guest_port(80, b"x").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert!(c.write_serial(b"ls\n").is_err());
        c.stop();
        assert!(c.stop);
    }
}
