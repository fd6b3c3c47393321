//! What IMDSv2 answers, as pure functions of a parsed request, the config,
//! the live tokens and the time, so the EC2 rules are tested without sockets.

use std::collections::HashMap;
use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::io::Read;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::parse::ParsedRequest;
use crate::Config;

pub(crate) const TOKEN_PATH: &str = "/latest/api/token";
pub(crate) const TTL_HEADER: &str = "X-aws-ec2-metadata-token-ttl-seconds";
pub(crate) const TOKEN_HEADER: &str = "X-aws-ec2-metadata-token";
/// EC2's upper bound on a token's life: six hours.
pub(crate) const MAX_TTL_SECONDS: u64 = 21_600;
/// Live tokens kept at most. EC2 has no such limit, but a guest looping on
/// `PUT` must not grow the host's memory without bound; when full, the
/// token closest to expiry is forgotten first.
const MAX_TOKENS: usize = 4096;

/// A response ready to serialise. Every response closes the connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Response {
    pub status: u16,
    pub extra_headers: Vec<(&'static str, String)>,
    pub body: String,
}

impl Response {
    pub fn new(status: u16, body: impl Into<String>) -> Response {
        Response {
            status,
            extra_headers: Vec::new(),
            body: body.into(),
        }
    }

    fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Response {
        self.extra_headers.push((name, value.into()));
        self
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\nServer: EC2ws\r\n",
            self.status,
            reason(self.status),
            self.body.len()
        );
        for (name, value) in &self.extra_headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(self.body.as_bytes());
        bytes
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        _ => "Unknown",
    }
}

/// Tokens this server issued and when each stops being valid.
#[derive(Debug, Default)]
pub(crate) struct Tokens {
    live: HashMap<String, Instant>,
}

impl Tokens {
    /// Issues a fresh token valid for `ttl` from `now`.
    pub fn issue(&mut self, ttl: Duration, now: Instant) -> String {
        if self.live.len() >= MAX_TOKENS {
            self.live.retain(|_, expiry| *expiry > now);
        }
        if self.live.len() >= MAX_TOKENS {
            let oldest = self
                .live
                .iter()
                .min_by_key(|(_, expiry)| **expiry)
                .map(|(t, _)| t.clone());
            if let Some(oldest) = oldest {
                self.live.remove(&oldest);
            }
        }
        let token = new_token();
        self.live.insert(token.clone(), now + ttl);
        token
    }

    /// Whether `token` was issued here and has not expired at `now`.
    pub fn is_valid(&mut self, token: &str, now: Instant) -> bool {
        match self.live.get(token) {
            Some(expiry) if *expiry > now => true,
            Some(_) => {
                self.live.remove(token);
                false
            }
            None => false,
        }
    }
}

/// 32 random bytes as hex. Tokens are the only thing standing between a
/// guest process and the metadata, so they must not be guessable:
/// `/dev/urandom` first, then std's randomly keyed SipHash as a fallback.
fn new_token() -> String {
    let mut bytes = [0u8; 32];
    let from_os = File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if from_os.is_err() {
        for (i, chunk) in bytes.chunks_mut(8).enumerate() {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_usize(i);
            let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH);
            h.write_u128(since_epoch.unwrap_or_default().as_nanos());
            chunk.copy_from_slice(&h.finish().to_le_bytes());
        }
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The answer to one request, and whether it presented a valid token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Outcome {
    pub response: Response,
    pub token_valid: bool,
}

/// Answers `req` the way EC2 does with `HttpTokens=required`.
pub(crate) fn handle(
    req: &ParsedRequest,
    config: &Config,
    tokens: &mut Tokens,
    now: Instant,
) -> Outcome {
    let answer = |response| Outcome {
        response,
        token_valid: false,
    };
    if req.path() == TOKEN_PATH {
        if req.method != "PUT" {
            return answer(Response::new(405, "Method Not Allowed\n").with_header("Allow", "PUT"));
        }
        // EC2 refuses to issue tokens through anything that looks like a
        // proxy, so a misconfigured forwarder cannot leak them.
        if req.header_values("X-Forwarded-For").next().is_some() {
            return answer(Response::new(403, "Forbidden\n"));
        }
        let mut ttls = req.header_values(TTL_HEADER);
        let ttl = match (ttls.next(), ttls.next()) {
            (Some(v), None) => parse_ttl(v),
            _ => None,
        };
        let Some(ttl) = ttl else {
            return answer(Response::new(
                400,
                format!("{TTL_HEADER} must be one integer in 1..={MAX_TTL_SECONDS}\n"),
            ));
        };
        let token = tokens.issue(Duration::from_secs(ttl), now);
        return answer(
            Response::new(200, token)
                .with_header("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", ttl.to_string()),
        );
    }
    if req.method != "GET" {
        return answer(Response::new(405, "Method Not Allowed\n").with_header("Allow", "GET"));
    }
    // Required mode: the token is checked before the path, as on EC2, so an
    // unauthenticated client learns nothing about what exists.
    let mut presented = req.header_values(TOKEN_HEADER);
    let token_valid = match (presented.next(), presented.next()) {
        (Some(t), None) => tokens.is_valid(t, now),
        _ => false,
    };
    if !token_valid {
        return answer(Response::new(401, "Unauthorized\n"));
    }
    let response = match lookup(config, req.path()) {
        Some(body) => Response::new(200, body),
        None => Response::new(404, "Not Found\n"),
    };
    Outcome {
        response,
        token_valid,
    }
}

/// Decimal seconds in 1..=21600; anything else (sign, junk, 0) is refused.
fn parse_ttl(value: &str) -> Option<u64> {
    if value.is_empty() || value.len() > 5 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let ttl: u64 = value.parse().ok()?;
    (1..=MAX_TTL_SECONDS).contains(&ttl).then_some(ttl)
}

/// The name under `public-keys/` of the key at `index`. EC2 shows the key
/// pair's name; ktailor has one key it generated, so it gets a fixed name.
pub(crate) fn key_name(index: usize) -> String {
    match index {
        0 => "ktailor-key".to_owned(),
        n => format!("ktailor-key-{n}"),
    }
}

/// The body for a metadata `path`, or `None` for 404. Like EC2, listings
/// put one entry per line with no final newline, directories end in `/`,
/// and a directory answers with or without its trailing slash.
fn lookup(config: &Config, path: &str) -> Option<String> {
    let rest = match path {
        "/latest/meta-data" | "/latest/meta-data/" => "",
        _ => path.strip_prefix("/latest/meta-data/")?,
    };
    match rest {
        "" => {
            let mut names = vec!["hostname", "instance-id", "local-hostname"];
            if !config.public_keys.is_empty() {
                names.push("public-keys/");
            }
            Some(names.join("\n"))
        }
        "instance-id" => Some(config.instance_id.clone()),
        "hostname" | "local-hostname" => Some(config.hostname.clone()),
        "public-keys" | "public-keys/" if !config.public_keys.is_empty() => Some(
            (0..config.public_keys.len())
                .map(|i| format!("{i}={}", key_name(i)))
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        _ => {
            let rest = rest.strip_prefix("public-keys/")?;
            let (index, leaf) = rest.split_once('/').unwrap_or((rest, ""));
            let i: usize = index.parse().ok()?;
            // Only the canonical spelling: `00` or `+0` is not key 0.
            if i.to_string() != index {
                return None;
            }
            let key = config.public_keys.get(i)?;
            match leaf {
                "" => Some("openssh-key".to_owned()),
                "openssh-key" => Some(format!("{}\n", key.trim_end())),
                _ => None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse_request;

    fn config() -> Config {
        Config {
            instance_id: "i-0123456789abcdef0".into(),
            hostname: "ip-10-0-2-15.ec2.internal".into(),
            public_keys: vec!["ssh-ed25519 AAAAC3Nza test@host".into()],
        }
    }

    fn run(raw: &str, tokens: &mut Tokens, now: Instant) -> Outcome {
        let req = parse_request(raw.as_bytes()).expect("test request parses");
        handle(&req, &config(), tokens, now)
    }

    #[test]
    fn lookup_table() {
        let c = config();
        let cases: &[(&str, Option<&str>)] = &[
            (
                "/latest/meta-data/",
                Some("hostname\ninstance-id\nlocal-hostname\npublic-keys/"),
            ),
            (
                "/latest/meta-data",
                Some("hostname\ninstance-id\nlocal-hostname\npublic-keys/"),
            ),
            ("/latest/meta-data/instance-id", Some("i-0123456789abcdef0")),
            (
                "/latest/meta-data/hostname",
                Some("ip-10-0-2-15.ec2.internal"),
            ),
            (
                "/latest/meta-data/local-hostname",
                Some("ip-10-0-2-15.ec2.internal"),
            ),
            ("/latest/meta-data/public-keys/", Some("0=ktailor-key")),
            ("/latest/meta-data/public-keys", Some("0=ktailor-key")),
            ("/latest/meta-data/public-keys/0", Some("openssh-key")),
            ("/latest/meta-data/public-keys/0/", Some("openssh-key")),
            (
                "/latest/meta-data/public-keys/0/openssh-key",
                Some("ssh-ed25519 AAAAC3Nza test@host\n"),
            ),
            ("/latest/meta-data/public-keys/1/openssh-key", None),
            ("/latest/meta-data/public-keys/00/openssh-key", None),
            ("/latest/meta-data/public-keys/+0/openssh-key", None),
            ("/latest/meta-data/public-keys/0/openssh-key/x", None),
            ("/latest/meta-data/instance-id/", None),
            ("/latest/meta-dataX", None),
            ("/latest/meta-data//", None),
            ("/latest/", None),
            ("/", None),
        ];
        for (path, want) in cases {
            assert_eq!(lookup(&c, path).as_deref(), *want, "{path}");
        }
        let keyless = Config {
            public_keys: vec![],
            ..config()
        };
        assert_eq!(
            lookup(&keyless, "/latest/meta-data/").as_deref(),
            Some("hostname\ninstance-id\nlocal-hostname")
        );
        assert_eq!(lookup(&keyless, "/latest/meta-data/public-keys/"), None);
    }

    #[test]
    fn ttl_table() {
        for (v, want) in [
            ("1", Some(1)),
            ("21600", Some(21600)),
            ("060", Some(60)),
            ("0", None),
            ("21601", None),
            ("-1", None),
            ("+1", None),
            ("1.5", None),
            ("", None),
            ("99999999999999999999999", None),
            ("abc", None),
        ] {
            assert_eq!(parse_ttl(v), want, "{v:?}");
        }
    }

    #[test]
    fn token_dance_and_expiry() {
        let mut tokens = Tokens::default();
        let t0 = Instant::now();
        let put = run(
            "PUT /latest/api/token HTTP/1.1\r\nX-aws-ec2-metadata-token-ttl-seconds: 10\r\n\r\n",
            &mut tokens,
            t0,
        );
        assert_eq!(put.response.status, 200);
        let token = put.response.body;
        assert_eq!(token.len(), 64);
        let get = format!("GET /latest/meta-data/instance-id HTTP/1.1\r\nx-aws-ec2-metadata-token: {token}\r\n\r\n");
        let ok = run(&get, &mut tokens, t0 + Duration::from_secs(9));
        assert_eq!((ok.response.status, ok.token_valid), (200, true));
        let late = run(&get, &mut tokens, t0 + Duration::from_secs(10));
        assert_eq!((late.response.status, late.token_valid), (401, false));
    }

    #[test]
    fn duplicate_headers_are_refused() {
        let mut tokens = Tokens::default();
        let now = Instant::now();
        let put = run(
            "PUT /latest/api/token HTTP/1.1\r\nX-aws-ec2-metadata-token-ttl-seconds: 10\r\nX-aws-ec2-metadata-token-ttl-seconds: 10\r\n\r\n",
            &mut tokens,
            now,
        );
        assert_eq!(put.response.status, 400);
        let token = tokens.issue(Duration::from_secs(60), now);
        let get = format!("GET /latest/meta-data/ HTTP/1.1\r\nX-aws-ec2-metadata-token: {token}\r\nX-aws-ec2-metadata-token: {token}\r\n\r\n");
        assert_eq!(run(&get, &mut tokens, now).response.status, 401);
    }

    #[test]
    fn token_store_is_bounded() {
        let mut tokens = Tokens::default();
        let now = Instant::now();
        let first = tokens.issue(Duration::from_secs(1), now);
        for _ in 0..MAX_TOKENS + 10 {
            tokens.issue(Duration::from_secs(100), now);
        }
        assert_eq!(tokens.live.len(), MAX_TOKENS);
        assert!(
            !tokens.is_valid(&first, now),
            "shortest-lived token is evicted first"
        );
    }

    #[test]
    fn response_bytes() {
        let r = Response::new(404, "Not Found\n").to_bytes();
        let text = String::from_utf8(r).unwrap();
        assert!(text.starts_with("HTTP/1.1 404 Not Found\r\n"), "{text}");
        assert!(text.contains("\r\nContent-Length: 10\r\n"), "{text}");
        assert!(text.contains("\r\nContent-Type: text/plain\r\n"), "{text}");
        assert!(text.ends_with("\r\n\r\nNot Found\n"), "{text}");
    }
}
