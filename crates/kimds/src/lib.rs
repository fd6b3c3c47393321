//! A mock of the EC2 Instance Metadata Service, version 2 (IMDSv2).
//!
//! Images built for EC2 (cloud-init, `ec2-instance-connect`, hand-written
//! boot scripts) fetch their instance id, hostname and SSH key from
//! `http://169.254.169.254/`. To boot such images under QEMU, ktailor runs
//! this server on the host and points the guest's link-local address at it
//! through QEMU user networking (`guestfwd=...-cmd:ktailor imds-relay ...`,
//! see [`relay_stdio`]).
//!
//! It behaves like an instance launched with `HttpTokens=required`: a client
//! must first `PUT /latest/api/token` to get a session token and present it
//! on every `GET`, so guests that still speak IMDSv1 fail here as they would
//! on a hardened EC2 instance, instead of passing locally and failing there.
//!
//! The server speaks just enough HTTP/1.1: one request per connection,
//! answered with `Connection: close`. Input is bounded (8 KiB of head, 64
//! headers, 5 s per connection, a cap on concurrent connections, on live
//! tokens and on the request log), since the guest is the code under test
//! and may be arbitrarily broken.
//!
//! The request parser (`parse.rs`) and the EC2 rules (`service.rs`) are
//! pure functions; this module is only the sockets and threads around them.

mod parse;
mod service;

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use parse::{parse_request, ParseError, MAX_HEAD};
use service::{handle, Outcome, Response, Tokens};

/// How long one connection may take to deliver its request head. A guest
/// that connects and stalls must not pin a thread forever.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a response write may block on a client that does not read.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// After answering, how long and how much to read and discard: closing a
/// socket with unread input makes the kernel send RST, which can destroy the
/// response before the client reads it.
const DRAIN_TIMEOUT: Duration = Duration::from_millis(500);
const DRAIN_LIMIT: usize = 64 * 1024;
/// Connections served at once; more are closed unanswered. Each costs a
/// thread and at most `MAX_HEAD` bytes of buffer.
const MAX_CONNECTIONS: usize = 32;
/// Entries kept in the request log; the oldest are dropped first.
const MAX_LOG: usize = 1024;
/// Longest path kept in a log entry, so the log's size is bounded too.
const MAX_LOGGED_PATH: usize = 256;

/// What the metadata service reports about the instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// `/latest/meta-data/instance-id`, e.g. `i-0123456789abcdef0`.
    pub instance_id: String,
    /// Both `hostname` and `local-hostname`, as on a VPC instance without a
    /// public DNS name.
    pub hostname: String,
    /// OpenSSH public key lines (`ssh-ed25519 AAAA... comment`), served as
    /// `public-keys/N/openssh-key` under the names `ktailor-key`,
    /// `ktailor-key-1`, ...
    pub public_keys: Vec<String>,
}

/// One request the server answered, for tests and diagnostics: it shows
/// whether a guest's boot scripts reached the service and whether they did
/// the IMDSv2 token dance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The method as sent; empty when the request could not be parsed.
    pub method: String,
    /// The target as sent (truncated to 256 bytes); empty when unparsable.
    pub path: String,
    /// The status code sent back.
    pub status: u16,
    /// Whether the request carried a token this server issued and that had
    /// not expired. Always false for token `PUT`s, which carry none.
    pub token_valid: bool,
    /// When the request was answered, measured from [`Imds::start`].
    pub at: Duration,
}

/// A running metadata server on `127.0.0.1:<ephemeral port>`. Dropping it
/// stops the server.
pub struct Imds {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

/// State shared by the acceptor and connection threads.
struct Shared {
    config: Config,
    started: Instant,
    tokens: Mutex<Tokens>,
    log: Mutex<VecDeque<Request>>,
    stop: AtomicBool,
    active: AtomicUsize,
}

impl Imds {
    /// Binds `127.0.0.1:0` and serves `config` from a background thread.
    ///
    /// Only loopback is ever bound: the guest reaches the server through the
    /// relay, and nothing else on the network may read the instance's keys.
    /// Key lines containing line breaks are refused (`InvalidInput`), as
    /// they would corrupt the `public-keys/` listing.
    pub fn start(config: Config) -> io::Result<Imds> {
        if let Some(bad) = config
            .public_keys
            .iter()
            .find(|k| k.trim_end().contains(['\n', '\r']))
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("public key spans several lines: {bad:?}"),
            ));
        }
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            config,
            started: Instant::now(),
            tokens: Mutex::new(Tokens::default()),
            log: Mutex::new(VecDeque::new()),
            stop: AtomicBool::new(false),
            active: AtomicUsize::new(0),
        });
        let acceptor = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name("kimds-accept".into())
                .spawn(move || accept_loop(&listener, &shared))?
        };
        Ok(Imds {
            addr,
            shared,
            acceptor: Some(acceptor),
        })
    }

    /// Where the server listens (always a `127.0.0.1` address).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The requests answered so far, oldest first (at most the last 1024).
    pub fn requests(&self) -> Vec<Request> {
        lock(&self.shared.log).iter().cloned().collect()
    }
}

impl Drop for Imds {
    /// Stops accepting. `accept` cannot be interrupted portably, so the flag
    /// is raised and the acceptor woken by a connection of our own. Threads
    /// still serving a connection finish within their timeouts.
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let woken = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1)).is_ok();
        if let Some(acceptor) = self.acceptor.take() {
            // Without the wake-up the join could block forever; then the
            // thread is left behind rather than hanging the caller.
            if woken {
                let _ = acceptor.join();
            }
        }
    }
}

/// Mutexes are only poisoned by a panic, and no state here can be left
/// half-updated by one, so a poisoned lock is used as is.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Decrements the active-connection count however the connection ends.
struct ActiveGuard(Arc<Shared>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    for conn in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = conn else {
            // Typically EMFILE; back off rather than spin.
            thread::sleep(Duration::from_millis(10));
            continue;
        };
        if shared.active.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            shared.active.fetch_sub(1, Ordering::SeqCst);
            continue;
        }
        let guard = ActiveGuard(Arc::clone(shared));
        // On spawn failure the closure, guard included, is dropped: the
        // connection closes and the count is restored.
        let _ = thread::Builder::new()
            .name("kimds-conn".into())
            .spawn(move || serve_connection(stream, &guard.0));
    }
}

/// How reading a request head ended.
enum Head {
    Parsed(Result<parse::ParsedRequest, ParseError>),
    /// The peer closed or stalled before sending a single byte.
    Nothing,
    /// The peer stalled mid-head.
    TimedOut,
}

fn serve_connection(mut stream: TcpStream, shared: &Shared) {
    let deadline = Instant::now() + CONNECTION_TIMEOUT;
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    let head = read_head(&mut stream, deadline);
    let (request, outcome) = match head {
        Head::Nothing => return,
        Head::TimedOut => (None, plain(408, "request head not received in time\n")),
        Head::Parsed(Err(e)) => (None, plain(400, format!("{e}\n"))),
        Head::Parsed(Ok(req)) => {
            let outcome = handle(
                &req,
                &shared.config,
                &mut lock(&shared.tokens),
                Instant::now(),
            );
            (Some(req), outcome)
        }
    };
    record(shared, request.as_ref(), &outcome);
    if stream.write_all(&outcome.response.to_bytes()).is_err() {
        return;
    }
    let _ = stream.flush();
    let _ = stream.shutdown(Shutdown::Write);
    drain(&mut stream);
}

fn plain(status: u16, body: impl Into<String>) -> Outcome {
    Outcome {
        response: Response::new(status, body),
        token_valid: false,
    }
}

/// Reads until the bytes hold a complete head, a malformation, or
/// [`MAX_HEAD`] bytes; never more, so a connection costs at most that much.
fn read_head(stream: &mut TcpStream, deadline: Instant) -> Head {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        match parse_request(&buf) {
            Err(ParseError::Incomplete) => {}
            parsed => return Head::Parsed(parsed),
        }
        // One deadline for the whole head, not per read, so trickling a
        // byte at a time cannot extend it.
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return if buf.is_empty() {
                Head::Nothing
            } else {
                Head::TimedOut
            };
        }
        if stream.set_read_timeout(Some(left)).is_err() {
            return Head::Nothing;
        }
        // `Incomplete` implies fewer than MAX_HEAD bytes so far.
        let room = MAX_HEAD.saturating_sub(buf.len()).min(chunk.len());
        match stream.read(&mut chunk[..room]) {
            Ok(0) if buf.is_empty() => return Head::Nothing,
            // The client half-closed mid-head (as `printf ... | nc` may).
            Ok(0) => return Head::Parsed(Err(ParseError::Incomplete)),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return if buf.is_empty() {
                    Head::Nothing
                } else {
                    Head::TimedOut
                };
            }
            Err(_) => return Head::Nothing,
        }
    }
}

/// Reads and discards what the client still sends (a body, a pipelined
/// request, the rest of an oversize head) until it closes, briefly.
fn drain(stream: &mut TcpStream) {
    if stream.set_read_timeout(Some(DRAIN_TIMEOUT)).is_err() {
        return;
    }
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    let mut chunk = [0u8; 4096];
    let mut total = 0;
    while total < DRAIN_LIMIT && Instant::now() < deadline {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => total += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
}

fn record(shared: &Shared, request: Option<&parse::ParsedRequest>, outcome: &Outcome) {
    let (method, path) = match request {
        Some(r) => (r.method.clone(), truncate(&r.target, MAX_LOGGED_PATH)),
        None => (String::new(), String::new()),
    };
    let entry = Request {
        method,
        path,
        status: outcome.response.status,
        token_valid: outcome.token_valid,
        at: shared.started.elapsed(),
    };
    let mut log = lock(&shared.log);
    if log.len() == MAX_LOG {
        log.pop_front();
    }
    log.push_back(entry);
}

/// The first `max` bytes of `s`, cut at a character boundary.
fn truncate(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

/// Relays stdin to a TCP connection to `addr`, and the connection to stdout.
///
/// QEMU user networking's `guestfwd=tcp:169.254.169.254:80-cmd:PROGRAM`
/// starts PROGRAM for each guest connection, with that connection on its
/// stdin and stdout; ktailor runs itself as PROGRAM (`ktailor imds-relay
/// 127.0.0.1:PORT`) and calls this to reach the [`Imds`] server.
///
/// When stdin ends, the connection's write half is shut down so the server
/// sees the end of the request. This returns once the server has closed its
/// side and everything it sent is on stdout. Since the server answers one
/// request and then closes, anything more from stdin would have nowhere to
/// go, so this does not wait for stdin to end (a keep-alive client would
/// keep it open forever): the thread copying stdin may still be blocked
/// reading it, and the caller is expected to exit, which also closes the
/// guest's connection.
pub fn relay_stdio(addr: SocketAddr) -> io::Result<()> {
    let stream = TcpStream::connect(addr)?;
    let mut upstream = stream.try_clone()?;
    let uploader = thread::Builder::new()
        .name("kimds-relay-stdin".into())
        .spawn(move || -> io::Result<()> {
            let copied = copy_flushing(&mut io::stdin().lock(), &mut upstream);
            // Even after a stdin error, tell the server no more is coming.
            let _ = upstream.shutdown(Shutdown::Write);
            copied
        })?;
    copy_flushing(&mut &stream, &mut io::stdout().lock())?;
    // The upload's outcome matters only if it is known and it failed for a
    // reason other than the server having closed first.
    if uploader.is_finished() {
        match uploader.join() {
            Ok(Err(e))
                if !matches!(
                    e.kind(),
                    io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
                ) =>
            {
                return Err(e)
            }
            _ => {}
        }
    }
    Ok(())
}

/// Copies until EOF, flushing after every chunk: stdout is line-buffered,
/// and a response need not end in a newline.
fn copy_flushing(from: &mut impl Read, to: &mut impl Write) -> io::Result<()> {
    let mut buf = [0u8; 8192];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        to.write_all(&buf[..n])?;
        to.flush()?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("abc", 2), "ab");
        assert_eq!(truncate("abc", 10), "abc");
        assert_eq!(truncate("aé", 2), "a");
    }
}
