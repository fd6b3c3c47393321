//! Helpers shared by the integration tests: a config and a tiny HTTP client
//! over a real `TcpStream`.
#![allow(dead_code)] // each test binary uses its own subset

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

pub const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGt0YWlsb3ItdGVzdC1rZXk ktailor@test";

pub fn config() -> kimds::Config {
    kimds::Config {
        instance_id: "i-0123456789abcdef0".into(),
        hostname: "ip-10-0-2-15.ec2.internal".into(),
        public_keys: vec![KEY.into()],
    }
}

/// A parsed HTTP response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Parses a whole response and checks what every response must have.
pub fn parse_reply(raw: &[u8]) -> Reply {
    let text = String::from_utf8(raw.to_vec()).expect("response is UTF-8");
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no blank line in {text:?}"));
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status: u16 = status_line
        .strip_prefix("HTTP/1.1 ")
        .and_then(|s| s.get(..3))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (n, v) = l.split_once(": ").expect("header has ': '");
            (n.to_owned(), v.to_owned())
        })
        .collect();
    let reply = Reply {
        status,
        headers,
        body: body.to_owned(),
    };
    assert_eq!(
        reply.header("Content-Length"),
        Some(reply.body.len().to_string().as_str()),
        "{text:?}"
    );
    assert_eq!(reply.header("Content-Type"), Some("text/plain"), "{text:?}");
    assert_eq!(reply.header("Connection"), Some("close"), "{text:?}");
    reply
}

/// Sends `raw` on a fresh connection and reads until the server closes.
pub fn exchange(addr: SocketAddr, raw: &[u8]) -> Reply {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(raw).expect("send request");
    let mut out = Vec::new();
    s.read_to_end(&mut out).expect("read response");
    parse_reply(&out)
}

/// Like [`exchange`] but also shuts down the write half after sending.
pub fn exchange_half_closed(addr: SocketAddr, raw: &[u8]) -> Reply {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(raw).expect("send request");
    s.shutdown(Shutdown::Write).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).expect("read response");
    parse_reply(&out)
}

pub fn put_token(ttl: &str) -> String {
    format!(
        "PUT /latest/api/token HTTP/1.1\r\nHost: 169.254.169.254\r\nX-aws-ec2-metadata-token-ttl-seconds: {ttl}\r\n\r\n"
    )
}

pub fn get(path: &str, token: Option<&str>) -> String {
    let auth = token
        .map(|t| format!("X-aws-ec2-metadata-token: {t}\r\n"))
        .unwrap_or_default();
    format!("GET {path} HTTP/1.1\r\nHost: 169.254.169.254\r\n{auth}\r\n")
}

/// Does the token dance and returns the token.
pub fn token(addr: SocketAddr, ttl: u32) -> String {
    let reply = exchange(addr, put_token(&ttl.to_string()).as_bytes());
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(!reply.body.is_empty());
    reply.body
}
