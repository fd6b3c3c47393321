//! A throwaway HTTP server standing in for EC2's instance metadata service
//! (IMDSv2), shared by the IMDS script tests and the rootfs tests.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const TOKEN: &str = "AQAEAKtailorToken_-=+/.42";
pub const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKtailorTestKeyxxxxxxxxxxxxxxxxxxxxxxxxxxx test@ktailor";

#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub version: String,
    pub headers: Vec<(String, String)>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What the fake service answers.
#[derive(Clone, Copy)]
pub enum Behaviour {
    /// Like EC2: a token for a PUT with the TTL header, then key and
    /// hostname for requests carrying the token.
    Ec2 { chunked: bool },
    /// Token refused (IMDS disabled or v2 off).
    Forbidden,
    /// A token, but no key (an instance launched without a key pair).
    NoKey,
    /// Accepts connections and never answers.
    Silent,
    /// A token, a key and a hostname that is not a hostname.
    BadHostname,
}

pub struct Server {
    pub port: u16,
    pub requests: Arc<Mutex<Vec<Request>>>,
}

/// Serves `KEY` as the ssh key.
pub fn serve(behaviour: Behaviour) -> Server {
    serve_key(behaviour, KEY)
}

/// Serves `key` as the ssh key.
pub fn serve_key(behaviour: Behaviour, key: &str) -> Server {
    let key = key.to_string();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let requests = Arc::new(Mutex::new(vec![]));
    let log = requests.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let log = log.clone();
            let key = key.clone();
            std::thread::spawn(move || handle(stream, behaviour, &key, &log));
        }
    });
    Server { port, requests }
}

fn handle(mut stream: TcpStream, behaviour: Behaviour, key: &str, log: &Mutex<Vec<Request>>) {
    if let Behaviour::Silent = behaviour {
        std::thread::sleep(Duration::from_secs(20));
        return;
    }
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let mut parts = line.trim_end().splitn(3, ' ');
    let (method, path, version) = (
        parts.next().unwrap_or("").to_string(),
        parts.next().unwrap_or("").to_string(),
        parts.next().unwrap_or("").to_string(),
    );
    let mut headers = vec![];
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 {
            break;
        }
        let h = h.trim_end_matches(['\r', '\n']);
        if h.is_empty() {
            break;
        }
        if let Some((n, v)) = h.split_once(':') {
            headers.push((n.trim().to_string(), v.trim().to_string()));
        }
    }
    let req = Request {
        method,
        path,
        version,
        headers,
    };
    log.lock().unwrap().push(req.clone());

    let authorized = req.header("X-aws-ec2-metadata-token") == Some(TOKEN);
    let (status, body) = match (behaviour, req.method.as_str(), req.path.as_str()) {
        (Behaviour::Forbidden, _, _) => ("403 Forbidden", String::new()),
        (_, "PUT", "/latest/api/token") => match req.header("X-aws-ec2-metadata-token-ttl-seconds")
        {
            Some(_) => ("200 OK", TOKEN.to_string()),
            None => ("400 Bad Request", String::new()),
        },
        (_, "GET", _) if !authorized => ("401 Unauthorized", String::new()),
        (Behaviour::NoKey, "GET", "/latest/meta-data/public-keys/0/openssh-key") => (
            "404 Not Found",
            "<html>404 - Not Found</html>\n".to_string(),
        ),
        (_, "GET", "/latest/meta-data/public-keys/0/openssh-key") => {
            ("200 OK", format!("{key}\r\n"))
        }
        (Behaviour::BadHostname, "GET", "/latest/meta-data/hostname") => {
            ("200 OK", "evil;rm -rf /\n".to_string())
        }
        (_, "GET", "/latest/meta-data/hostname") => {
            ("200 OK", "ip-10-0-0-5.ec2.internal".to_string())
        }
        _ => ("404 Not Found", String::new()),
    };
    let mut resp = format!("HTTP/1.1 {status}\r\nServer: EC2ws\r\nConnection: close\r\n");
    if let Behaviour::Ec2 { chunked: true } = behaviour {
        resp.push_str("Transfer-Encoding: chunked\r\n\r\n");
        let (a, b) = body.split_at(body.len() / 2);
        for chunk in [a, b] {
            if !chunk.is_empty() {
                resp.push_str(&format!("{:x};ext=1\r\n{chunk}\r\n", chunk.len()));
            }
        }
        resp.push_str("0\r\n\r\n");
    } else {
        resp.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    }
    let _ = stream.write_all(resp.as_bytes());
    let _ = stream.flush();
    // Drain whatever else the client sends, then close.
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    let _ = reader.read(&mut [0u8; 64]);
}
