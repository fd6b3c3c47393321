//! `relay_stdio` in a real child process, the way QEMU's guestfwd runs it.
//!
//! This test has its own `main` (`harness = false`): run with
//! `KIMDS_RELAY_ADDR` set, the binary is the relay itself, so its stdout
//! carries nothing but the relayed bytes.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::*;
use kimds::{relay_stdio, Imds};

const ADDR_VAR: &str = "KIMDS_RELAY_ADDR";

fn main() {
    if let Ok(addr) = std::env::var(ADDR_VAR) {
        let addr: SocketAddr = addr.parse().expect("relay address");
        match relay_stdio(addr) {
            Ok(()) => std::process::exit(0),
            Err(e) => {
                eprintln!("relay: {e}");
                std::process::exit(1);
            }
        }
    }
    let tests: [(&str, fn()); 3] = [
        (
            "relay_carries_the_token_dance",
            relay_carries_the_token_dance,
        ),
        (
            "relay_exits_when_server_closes_with_stdin_open",
            relay_exits_when_server_closes_with_stdin_open,
        ),
        ("relay_fails_without_server", relay_fails_without_server),
    ];
    // Speak enough of libtest's command line and output for `cargo test
    // -- --list` (counting the suite's tests) and for scripts/test's
    // "N passed" tally: every test here is the fast tier, so `--ignored`
    // runs none and `--include-ignored` changes nothing.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let has = |flag: &str| args.iter().any(|a| a == flag);
    if has("--list") {
        if !has("--ignored") {
            for (name, _) in &tests {
                println!("{name}: test");
            }
        }
        return;
    }
    let tests: Vec<_> = if has("--ignored") {
        vec![]
    } else {
        tests.to_vec()
    };
    println!("running {} tests", tests.len());
    for (name, test) in &tests {
        test();
        println!("test {name} ... ok");
    }
    println!(
        "\ntest result: ok. {} passed; 0 failed; 0 ignored; 0 measured; 0 filtered out",
        tests.len()
    );
}

fn spawn_relay(addr: SocketAddr) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .env(ADDR_VAR, addr.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn relay child")
}

/// Reads the child's stdout to EOF and waits for it, failing after 10 s.
fn finish(mut child: Child) -> (Vec<u8>, bool) {
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = stdout.read_to_end(&mut out);
        let _ = tx.send(out);
    });
    let out = match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(out) => out,
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("relay child did not finish");
        }
    };
    let status = child.wait().unwrap();
    (out, status.success())
}

/// Runs one request through a fresh relay child, closing its stdin after.
fn through_relay(addr: SocketAddr, request: &str) -> Reply {
    let mut child = spawn_relay(addr);
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(request.as_bytes()).unwrap();
    drop(stdin);
    let (out, ok) = finish(child);
    assert!(ok, "relay child failed");
    parse_reply(&out)
}

fn relay_carries_the_token_dance() {
    let imds = Imds::start(config()).unwrap();
    let put = through_relay(imds.addr(), &put_token("60"));
    assert_eq!(put.status, 200);
    let reply = through_relay(
        imds.addr(),
        &get(
            "/latest/meta-data/public-keys/0/openssh-key",
            Some(&put.body),
        ),
    );
    assert_eq!((reply.status, reply.body), (200, format!("{KEY}\n")));
    let log = imds.requests();
    assert_eq!(log.len(), 2);
    assert!(log[1].token_valid);
}

/// A keep-alive client never closes its side; the relay must still end once
/// the server has answered and closed.
fn relay_exits_when_server_closes_with_stdin_open() {
    let imds = Imds::start(config()).unwrap();
    let token = token(imds.addr(), 60);
    let mut child = spawn_relay(imds.addr());
    let mut stdin = child.stdin.take().unwrap();
    let req = get("/latest/meta-data/instance-id", Some(&token));
    stdin.write_all(req.as_bytes()).unwrap();
    stdin.flush().unwrap();
    let (out, ok) = finish(child);
    drop(stdin);
    assert!(ok, "relay child failed");
    let reply = parse_reply(&out);
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (200, "i-0123456789abcdef0")
    );
}

fn relay_fails_without_server() {
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    // The listener is gone: connecting is refused.
    let child = spawn_relay(addr);
    let (out, ok) = finish(child);
    assert!(!ok, "relay must fail when nothing listens");
    assert!(out.is_empty());
}
