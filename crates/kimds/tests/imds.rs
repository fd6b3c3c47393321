//! The IMDSv2 dance against a real server over real sockets.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use kimds::Imds;

#[test]
fn binds_loopback_only() {
    let imds = Imds::start(config()).unwrap();
    assert!(imds.addr().ip().is_loopback(), "{}", imds.addr());
    assert_ne!(imds.addr().port(), 0);
}

#[test]
fn token_then_openssh_key() {
    let imds = Imds::start(config()).unwrap();
    let put = exchange(imds.addr(), put_token("21600").as_bytes());
    assert_eq!(put.status, 200);
    assert_eq!(
        put.header("X-Aws-Ec2-Metadata-Token-Ttl-Seconds"),
        Some("21600")
    );
    let token = put.body;
    let reply = exchange(
        imds.addr(),
        get("/latest/meta-data/public-keys/0/openssh-key", Some(&token)).as_bytes(),
    );
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, format!("{KEY}\n"));
}

#[test]
fn metadata_paths() {
    let imds = Imds::start(config()).unwrap();
    let token = token(imds.addr(), 60);
    for (path, want) in [
        (
            "/latest/meta-data/",
            "hostname\ninstance-id\nlocal-hostname\npublic-keys/",
        ),
        ("/latest/meta-data/instance-id", "i-0123456789abcdef0"),
        ("/latest/meta-data/hostname", "ip-10-0-2-15.ec2.internal"),
        (
            "/latest/meta-data/local-hostname",
            "ip-10-0-2-15.ec2.internal",
        ),
        ("/latest/meta-data/public-keys/", "0=ktailor-key"),
        ("/latest/meta-data/public-keys/0/", "openssh-key"),
    ] {
        let reply = exchange(imds.addr(), get(path, Some(&token)).as_bytes());
        assert_eq!((reply.status, reply.body.as_str()), (200, want), "{path}");
    }
}

#[test]
fn get_without_token_is_401() {
    let imds = Imds::start(config()).unwrap();
    let reply = exchange(
        imds.addr(),
        get("/latest/meta-data/instance-id", None).as_bytes(),
    );
    assert_eq!(reply.status, 401);
    // Required mode hides even which paths exist.
    let reply = exchange(imds.addr(), get("/no/such/path", None).as_bytes());
    assert_eq!(reply.status, 401);
}

#[test]
fn wrong_token_is_401() {
    let imds = Imds::start(config()).unwrap();
    let real = token(imds.addr(), 60);
    let other = Imds::start(config()).unwrap();
    let foreign = token(other.addr(), 60);
    for bad in ["AQAEAGqE7gn5UKnB9NE0sU0O", "", foreign.as_str(), &real[1..]] {
        let reply = exchange(
            imds.addr(),
            get("/latest/meta-data/instance-id", Some(bad)).as_bytes(),
        );
        assert_eq!(reply.status, 401, "token {bad:?}");
    }
}

#[test]
fn expired_token_is_401() {
    let imds = Imds::start(config()).unwrap();
    let token = token(imds.addr(), 1);
    let req = get("/latest/meta-data/instance-id", Some(&token));
    assert_eq!(exchange(imds.addr(), req.as_bytes()).status, 200);
    thread::sleep(Duration::from_millis(1200));
    assert_eq!(exchange(imds.addr(), req.as_bytes()).status, 401);
}

#[test]
fn bad_ttl_is_400() {
    let imds = Imds::start(config()).unwrap();
    let missing = "PUT /latest/api/token HTTP/1.1\r\nHost: 169.254.169.254\r\n\r\n";
    assert_eq!(exchange(imds.addr(), missing.as_bytes()).status, 400);
    for ttl in ["0", "21601", "-5", "abc", "", "1 2"] {
        let reply = exchange(imds.addr(), put_token(ttl).as_bytes());
        assert_eq!(reply.status, 400, "ttl {ttl:?}");
    }
}

#[test]
fn forwarded_put_is_403() {
    let imds = Imds::start(config()).unwrap();
    let req = "PUT /latest/api/token HTTP/1.1\r\nX-aws-ec2-metadata-token-ttl-seconds: 60\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n";
    assert_eq!(exchange(imds.addr(), req.as_bytes()).status, 403);
}

#[test]
fn unknown_path_is_404() {
    let imds = Imds::start(config()).unwrap();
    let token = token(imds.addr(), 60);
    for path in [
        "/latest/meta-data/ami-id",
        "/latest/meta-data/public-keys/1/openssh-key",
        "/",
    ] {
        let reply = exchange(imds.addr(), get(path, Some(&token)).as_bytes());
        assert_eq!(reply.status, 404, "{path}");
    }
}

#[test]
fn other_methods_are_405() {
    let imds = Imds::start(config()).unwrap();
    let token = token(imds.addr(), 60);
    for (method, path, allow) in [
        ("POST", "/latest/meta-data/instance-id", "GET"),
        ("DELETE", "/latest/meta-data/", "GET"),
        ("PUT", "/latest/meta-data/instance-id", "GET"),
        ("GET", "/latest/api/token", "PUT"),
        ("POST", "/latest/api/token", "PUT"),
    ] {
        let req = format!(
            "{method} {path} HTTP/1.1\r\nX-aws-ec2-metadata-token: {token}\r\nX-aws-ec2-metadata-token-ttl-seconds: 60\r\n\r\n"
        );
        let reply = exchange(imds.addr(), req.as_bytes());
        assert_eq!(reply.status, 405, "{method} {path}");
        assert_eq!(reply.header("Allow"), Some(allow), "{method} {path}");
    }
}

#[test]
fn malformed_requests_are_400() {
    let imds = Imds::start(config()).unwrap();
    for raw in [
        &b"GET /latest/meta-data/\r\n\r\n"[..],
        b"GET / HTTP/2.0\r\n\r\n",
        b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
    ] {
        let reply = exchange(imds.addr(), raw);
        assert_eq!(reply.status, 400, "{:?}", String::from_utf8_lossy(raw));
    }
    // Half a request and then EOF.
    let reply = exchange_half_closed(imds.addr(), b"GET /latest/meta-data/ HTTP/1.1\r\nHo");
    assert_eq!(reply.status, 400);
    let many = format!("GET / HTTP/1.1\r\n{}\r\n", "A: b\r\n".repeat(65));
    assert_eq!(exchange(imds.addr(), many.as_bytes()).status, 400);
}

#[test]
fn oversize_head_is_rejected_and_server_keeps_serving() {
    let imds = Imds::start(config()).unwrap();
    let huge = format!(
        "GET /latest/meta-data/ HTTP/1.1\r\nX-Junk: {}\r\n\r\n",
        "x".repeat(100 * 1024)
    );
    let mut s = TcpStream::connect(imds.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    // The server may close before taking it all; either outcome is fine.
    let _ = s.write_all(huge.as_bytes());
    let mut out = Vec::new();
    match s.read_to_end(&mut out) {
        Ok(_) if !out.is_empty() => assert_eq!(parse_reply(&out).status, 400),
        Ok(_) => {}
        Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}"),
    }
    let token = token(imds.addr(), 60);
    let reply = exchange(
        imds.addr(),
        get("/latest/meta-data/instance-id", Some(&token)).as_bytes(),
    );
    assert_eq!(reply.status, 200);
}

#[test]
fn keep_alive_client_gets_one_response_then_close() {
    let imds = Imds::start(config()).unwrap();
    let token = token(imds.addr(), 60);
    let req = format!(
        "GET /latest/meta-data/instance-id HTTP/1.1\r\nConnection: keep-alive\r\nX-aws-ec2-metadata-token: {token}\r\n\r\n"
    );
    let pipelined = format!("{req}{req}");
    let reply = exchange(imds.addr(), pipelined.as_bytes());
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (200, "i-0123456789abcdef0")
    );
}

#[test]
fn request_split_across_writes_is_served() {
    let imds = Imds::start(config()).unwrap();
    let token = token(imds.addr(), 60);
    let req = get("/latest/meta-data/hostname", Some(&token));
    let mut s = TcpStream::connect(imds.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_nodelay(true).unwrap();
    for piece in req.as_bytes().chunks(7) {
        s.write_all(piece).unwrap();
        thread::sleep(Duration::from_millis(2));
    }
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    assert_eq!(parse_reply(&out).body, "ip-10-0-2-15.ec2.internal");
}

#[test]
fn stalled_client_times_out_without_blocking_others() {
    let imds = Imds::start(config()).unwrap();
    let started = Instant::now();
    let mut idle = TcpStream::connect(imds.addr()).unwrap();
    let mut partial = TcpStream::connect(imds.addr()).unwrap();
    partial
        .write_all(b"GET /latest/meta-data/ HTTP/1.1\r\n")
        .unwrap();
    // Served concurrently while both connections stall.
    let token = token(imds.addr(), 60);
    let reply = exchange(
        imds.addr(),
        get("/latest/meta-data/", Some(&token)).as_bytes(),
    );
    assert_eq!(reply.status, 200);
    assert!(started.elapsed() < Duration::from_secs(3));

    for s in [&mut idle, &mut partial] {
        s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    }
    let mut out = Vec::new();
    idle.read_to_end(&mut out).unwrap();
    assert!(out.is_empty(), "an idle connection is closed unanswered");
    out.clear();
    partial.read_to_end(&mut out).unwrap();
    assert_eq!(parse_reply(&out).status, 408);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(4) && waited < Duration::from_secs(10),
        "{waited:?}"
    );
}

#[test]
fn request_log_records_token_validity() {
    let imds = Imds::start(config()).unwrap();
    let token = token(imds.addr(), 60);
    exchange(
        imds.addr(),
        get("/latest/meta-data/instance-id", Some(&token)).as_bytes(),
    );
    exchange(
        imds.addr(),
        get("/latest/meta-data/instance-id", Some("nope")).as_bytes(),
    );
    exchange(
        imds.addr(),
        get("/latest/meta-data/nothing", Some(&token)).as_bytes(),
    );
    exchange(imds.addr(), b"junk\r\n\r\n");
    let log: Vec<(String, String, u16, bool)> = imds
        .requests()
        .into_iter()
        .map(|r| (r.method, r.path, r.status, r.token_valid))
        .collect();
    let want = [
        ("PUT", "/latest/api/token", 200, false),
        ("GET", "/latest/meta-data/instance-id", 200, true),
        ("GET", "/latest/meta-data/instance-id", 401, false),
        ("GET", "/latest/meta-data/nothing", 404, true),
        ("", "", 400, false),
    ]
    .map(|(m, p, s, v)| (m.to_owned(), p.to_owned(), s, v));
    assert_eq!(log, want);
    let times: Vec<Duration> = imds.requests().iter().map(|r| r.at).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
}

#[test]
fn drop_stops_the_server() {
    let imds = Imds::start(config()).unwrap();
    let addr = imds.addr();
    token(addr, 60);
    let started = Instant::now();
    drop(imds);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(TcpStream::connect(addr).is_err(), "listener closed on drop");
}

#[test]
fn multiline_key_is_refused() {
    let mut c = config();
    c.public_keys.push("ssh-ed25519 AAAA\nssh-rsa BBBB".into());
    let err = Imds::start(c).err().expect("start must fail");
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}
