//! The HTTP/1.x request-head parser: a pure function over the bytes read so
//! far, so every malformation can be tested (and fuzzed) without sockets.
//!
//! It is deliberately strict. The only clients are `curl` and cloud-init in
//! a guest, so anything unusual (obs-fold, whitespace before a colon, control
//! bytes, non-ASCII) is far more likely a bug or an attack than a client we
//! must accommodate, and rejecting it keeps the server simple.

/// Most bytes a request line plus headers may take, blank line included.
pub(crate) const MAX_HEAD: usize = 8 * 1024;
/// Most header lines a request may carry.
pub(crate) const MAX_HEADERS: usize = 64;

/// The HTTP versions we speak; both get an HTTP/1.1 `Connection: close` reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Version {
    Http10,
    Http11,
}

/// A request head that passed every check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ParsedRequest {
    /// The method as sent (methods are case-sensitive).
    pub method: String,
    /// The origin-form target, query included.
    pub target: String,
    pub version: Version,
    /// Header names as sent and values with surrounding whitespace trimmed.
    pub headers: Vec<(String, String)>,
    /// Bytes the head took, blank line included; anything after is body.
    pub head_len: usize,
}

impl ParsedRequest {
    /// The target without its query string: what routing looks at.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// Every value of the header `name` (header names are case-insensitive).
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Why bytes are not (yet) a request.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ParseError {
    /// No blank line yet: read more. Not a malformation unless the peer stops.
    #[error("request head is incomplete")]
    Incomplete,
    #[error("request head is larger than {MAX_HEAD} bytes")]
    TooLarge,
    #[error("request has more than {MAX_HEADERS} headers")]
    TooManyHeaders,
    #[error("malformed request line")]
    BadRequestLine,
    #[error("unsupported HTTP version")]
    BadVersion,
    #[error("malformed header line")]
    BadHeader,
    /// A CR not followed by LF: ambiguous line ends are how smuggling starts.
    #[error("bare CR in request head")]
    BareCr,
}

/// Parses the request head at the start of `buf`, the bytes read so far.
///
/// Lines end in CRLF or a bare LF (RFC 9112 allows recipients to accept the
/// latter, and `printf | nc` debugging sends it). The head is searched for
/// only within [`MAX_HEAD`] bytes, so the cost is bounded whatever `buf` is.
pub(crate) fn parse_request(buf: &[u8]) -> Result<ParsedRequest, ParseError> {
    let window = &buf[..buf.len().min(MAX_HEAD)];
    let head_len = match find_head_end(window) {
        Some(n) => n,
        None if buf.len() >= MAX_HEAD => return Err(ParseError::TooLarge),
        None => return Err(ParseError::Incomplete),
    };
    let mut lines = window[..head_len]
        .split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line));
    let request_line = lines.next().ok_or(ParseError::BadRequestLine)?;
    let (method, target, version) = parse_request_line(request_line)?;
    let mut headers = Vec::new();
    for line in lines {
        if line.is_empty() {
            // The blank line that ends the head (find_head_end guarantees it
            // is the last line before the empty split remainder).
            break;
        }
        if headers.len() == MAX_HEADERS {
            return Err(ParseError::TooManyHeaders);
        }
        headers.push(parse_header(line)?);
    }
    Ok(ParsedRequest {
        method,
        target,
        version,
        headers,
        head_len,
    })
}

/// Index just past the blank line that ends the head, if `buf` holds one.
fn find_head_end(buf: &[u8]) -> Option<usize> {
    let mut start = 0;
    for (i, &b) in buf.iter().enumerate() {
        if b == b'\n' {
            let line = &buf[start..i];
            if line.is_empty() || line == b"\r" {
                return Some(i + 1);
            }
            start = i + 1;
        }
    }
    None
}

fn parse_request_line(line: &[u8]) -> Result<(String, String, Version), ParseError> {
    if line.contains(&b'\r') {
        return Err(ParseError::BareCr);
    }
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ParseError::BadRequestLine);
    };
    if method.is_empty() || !method.iter().all(|&b| is_tchar(b)) {
        return Err(ParseError::BadRequestLine);
    }
    // Origin-form only: IMDS clients never send absolute-form or `*`.
    if target.first() != Some(&b'/') || !target.iter().all(|&b| (0x21..=0x7e).contains(&b)) {
        return Err(ParseError::BadRequestLine);
    }
    let version = match version {
        b"HTTP/1.1" => Version::Http11,
        b"HTTP/1.0" => Version::Http10,
        v if v.starts_with(b"HTTP/") => return Err(ParseError::BadVersion),
        _ => return Err(ParseError::BadRequestLine),
    };
    // Every byte was checked to be ASCII above, so these cannot fail.
    let method = String::from_utf8(method.to_vec()).map_err(|_| ParseError::BadRequestLine)?;
    let target = String::from_utf8(target.to_vec()).map_err(|_| ParseError::BadRequestLine)?;
    Ok((method, target, version))
}

fn parse_header(line: &[u8]) -> Result<(String, String), ParseError> {
    if line.contains(&b'\r') {
        return Err(ParseError::BareCr);
    }
    // A leading space or tab is obs-fold, a continuation line: rejected,
    // since it is deprecated and a classic smuggling vector. The name check
    // below catches it (space is not a tchar), as it does `Name : value`.
    let colon = line
        .iter()
        .position(|&b| b == b':')
        .ok_or(ParseError::BadHeader)?;
    let (name, value) = (&line[..colon], &line[colon + 1..]);
    if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
        return Err(ParseError::BadHeader);
    }
    let value = value.trim_ascii();
    if !value
        .iter()
        .all(|&b| b == b'\t' || (0x20..=0x7e).contains(&b))
    {
        return Err(ParseError::BadHeader);
    }
    let name = String::from_utf8(name.to_vec()).map_err(|_| ParseError::BadHeader)?;
    let value = String::from_utf8(value.to_vec()).map_err(|_| ParseError::BadHeader)?;
    Ok((name, value))
}

/// RFC 9110 token characters, which make up methods and header names.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ok(raw: &str) -> ParsedRequest {
        parse_request(raw.as_bytes()).unwrap_or_else(|e| panic!("{raw:?}: {e}"))
    }

    #[test]
    fn good_requests() {
        struct Case {
            raw: &'static str,
            method: &'static str,
            target: &'static str,
            version: Version,
            headers: &'static [(&'static str, &'static str)],
        }
        let cases = [
            Case {
                raw: "GET /latest/meta-data/ HTTP/1.1\r\nHost: 169.254.169.254\r\n\r\n",
                method: "GET",
                target: "/latest/meta-data/",
                version: Version::Http11,
                headers: &[("Host", "169.254.169.254")],
            },
            Case {
                raw: "PUT /latest/api/token HTTP/1.1\r\nX-aws-ec2-metadata-token-ttl-seconds: 21600\r\n\r\n",
                method: "PUT",
                target: "/latest/api/token",
                version: Version::Http11,
                headers: &[("X-aws-ec2-metadata-token-ttl-seconds", "21600")],
            },
            Case {
                raw: "GET / HTTP/1.0\r\n\r\n",
                method: "GET",
                target: "/",
                version: Version::Http10,
                headers: &[],
            },
            Case {
                // Bare LF line ends, OWS around the value, an empty value.
                raw: "GET /a?b=c HTTP/1.1\nA:\t x y \t\nEmpty:\n\n",
                method: "GET",
                target: "/a?b=c",
                version: Version::Http11,
                headers: &[("A", "x y"), ("Empty", "")],
            },
            Case {
                raw: "M-SEARCH /x HTTP/1.1\r\nx-a: 1\r\nX-A: 2\r\n\r\n",
                method: "M-SEARCH",
                target: "/x",
                version: Version::Http11,
                headers: &[("x-a", "1"), ("X-A", "2")],
            },
        ];
        for case in cases {
            let req = ok(case.raw);
            assert_eq!(req.method, case.method, "{:?}", case.raw);
            assert_eq!(req.target, case.target, "{:?}", case.raw);
            assert_eq!(req.version, case.version, "{:?}", case.raw);
            let headers: Vec<(&str, &str)> = req
                .headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            assert_eq!(headers, case.headers, "{:?}", case.raw);
            assert_eq!(req.head_len, case.raw.len(), "{:?}", case.raw);
        }
    }

    #[test]
    fn body_after_head_is_not_parsed() {
        let req = ok("PUT /t HTTP/1.1\r\nContent-Length: 3\r\n\r\n\x00\x01\x02");
        assert_eq!(
            req.head_len,
            "PUT /t HTTP/1.1\r\nContent-Length: 3\r\n\r\n".len()
        );
    }

    #[test]
    fn path_drops_query_and_headers_match_case_insensitively() {
        let req = ok("GET /a/b?x=1 HTTP/1.1\r\nX-Tok: 1\r\nx-tok: 2\r\n\r\n");
        assert_eq!(req.path(), "/a/b");
        assert_eq!(req.header_values("X-TOK").collect::<Vec<_>>(), ["1", "2"]);
        assert_eq!(req.header_values("missing").count(), 0);
    }

    #[test]
    fn malformations() {
        use ParseError::*;
        let many_headers = format!(
            "GET / HTTP/1.1\r\n{}\r\n",
            "A: b\r\n".repeat(MAX_HEADERS + 1)
        );
        let just_enough = format!("GET / HTTP/1.1\r\n{}\r\n", "A: b\r\n".repeat(MAX_HEADERS));
        assert_eq!(ok(&just_enough).headers.len(), MAX_HEADERS);
        let huge_value = format!("GET / HTTP/1.1\r\nA: {}\r\n\r\n", "x".repeat(MAX_HEAD));
        let unterminated_huge = format!("GET / HTTP/1.1\r\nA: {}", "x".repeat(MAX_HEAD));
        let cases: Vec<(&[u8], ParseError)> = vec![
            (b"", Incomplete),
            (b"GET / HTTP/1.1\r\n", Incomplete),
            (b"GET / HTTP/1.1\r\nHost: x\r\n\r", Incomplete),
            (b"\r\n", BadRequestLine),
            (b"\r\nGET / HTTP/1.1\r\n\r\n", BadRequestLine),
            (b"GET /\r\n\r\n", BadRequestLine),
            (b"GET\r\n\r\n", BadRequestLine),
            (b"GET  / HTTP/1.1\r\n\r\n", BadRequestLine),
            (b"GET / HTTP/1.1 \r\n\r\n", BadRequestLine),
            (b" GET / HTTP/1.1\r\n\r\n", BadRequestLine),
            (b"G(T / HTTP/1.1\r\n\r\n", BadRequestLine),
            (b"GET latest HTTP/1.1\r\n\r\n", BadRequestLine),
            (
                b"GET http://169.254.169.254/ HTTP/1.1\r\n\r\n",
                BadRequestLine,
            ),
            (b"GET /\xff HTTP/1.1\r\n\r\n", BadRequestLine),
            (b"GET /a\tb HTTP/1.1\r\n\r\n", BadRequestLine),
            (b"GET / FTP/1.1\r\n\r\n", BadRequestLine),
            (b"GET / http/1.1\r\n\r\n", BadRequestLine),
            (b"GET / HTTP/2.0\r\n\r\n", BadVersion),
            (b"GET / HTTP/1.2\r\n\r\n", BadVersion),
            (b"GET / HTTP/1.1\rX\r\n\r\n", BareCr),
            (b"GET / HTTP/1.1\r\nA: b\rc\r\n\r\n", BareCr),
            (b"GET / HTTP/1.1\r\nNoColon\r\n\r\n", BadHeader),
            (b"GET / HTTP/1.1\r\n: empty-name\r\n\r\n", BadHeader),
            (b"GET / HTTP/1.1\r\nName : v\r\n\r\n", BadHeader),
            (b"GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", BadHeader),
            (b"GET / HTTP/1.1\r\nA: b\x00c\r\n\r\n", BadHeader),
            (b"GET / HTTP/1.1\r\nA: b\x7fc\r\n\r\n", BadHeader),
            (b"GET / HTTP/1.1\r\nA: caf\xc3\xa9\r\n\r\n", BadHeader),
            (b"GET / HTTP/1.1\r\nA\x01: b\r\n\r\n", BadHeader),
            (many_headers.as_bytes(), TooManyHeaders),
            (huge_value.as_bytes(), TooLarge),
            (unterminated_huge.as_bytes(), TooLarge),
        ];
        for (raw, want) in cases {
            assert_eq!(
                parse_request(raw),
                Err(want.clone()),
                "{:?}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    #[test]
    fn head_of_exactly_max_size_is_accepted() {
        let prefix = "GET / HTTP/1.1\r\nA: ";
        let pad = MAX_HEAD - prefix.len() - "\r\n\r\n".len();
        let raw = format!("{prefix}{}\r\n\r\n", "x".repeat(pad));
        assert_eq!(raw.len(), MAX_HEAD);
        assert_eq!(ok(&raw).head_len, MAX_HEAD);
        let raw = format!("{prefix}{}\r\n\r\n", "x".repeat(pad + 1));
        assert_eq!(parse_request(raw.as_bytes()), Err(ParseError::TooLarge));
    }

    /// A valid request and its wire form, built from parts the parser accepts.
    fn valid_request() -> impl Strategy<Value = (ParsedRequest, Vec<u8>)> {
        let header = (
            "[A-Za-z0-9!#$%&'*+.^_`|~-]{1,20}",
            prop_oneof![Just(String::new()), "[!-~]([ -~\t]{0,30}[!-~])?"],
        );
        (
            "[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}",
            "/[!-~]{0,60}",
            prop_oneof![Just(Version::Http10), Just(Version::Http11)],
            prop::collection::vec(header, 0..=MAX_HEADERS),
            any::<bool>(),
        )
            .prop_map(|(method, target, version, headers, crlf)| {
                let eol = if crlf { "\r\n" } else { "\n" };
                let v = match version {
                    Version::Http10 => "HTTP/1.0",
                    Version::Http11 => "HTTP/1.1",
                };
                let mut raw = format!("{method} {target} {v}{eol}");
                for (n, val) in &headers {
                    raw.push_str(&format!("{n}: {val}{eol}"));
                }
                raw.push_str(eol);
                let req = ParsedRequest {
                    method,
                    target,
                    version,
                    headers,
                    head_len: raw.len(),
                };
                (req, raw.into_bytes())
            })
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..10_000)) {
            let _ = parse_request(&bytes);
        }

        #[test]
        fn never_panics_on_mutated_requests(
            (_, raw) in valid_request(),
            edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        ) {
            let mut raw = raw;
            for (at, byte) in edits {
                let i = at.index(raw.len());
                raw[i] = byte;
            }
            let _ = parse_request(&raw);
        }

        #[test]
        fn round_trips_valid_requests(
            (want, raw) in valid_request(),
            body in prop::collection::vec(any::<u8>(), 0..64),
        ) {
            prop_assume!(raw.len() <= MAX_HEAD);
            let mut with_body = raw.clone();
            with_body.extend_from_slice(&body);
            prop_assert_eq!(parse_request(&with_body), Ok(want));
            // Every proper prefix is merely incomplete, never an error, so
            // a request split across reads is never rejected early.
            for cut in [0, raw.len() / 3, raw.len() / 2, raw.len() - 1] {
                prop_assert_eq!(parse_request(&raw[..cut]), Err(ParseError::Incomplete));
            }
        }
    }
}
