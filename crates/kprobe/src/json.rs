//! A tiny JSON object writer, and the matching reader.
//!
//! The probe only ever emits flat objects of strings and integers, and it is
//! linked statically into every initramfs, so a dozen lines of escaping are
//! worth more than a serializer dependency. The host reads the same objects
//! back with [`parse_object`] (see `crate::protocol`).

use std::fmt::Write as _;

/// Builds one flat JSON object, keys in insertion order (so lines read the
/// same in every boot log and diff cleanly).
#[derive(Debug, Default)]
pub struct Object {
    buf: String,
}

impl Object {
    pub fn new() -> Self {
        Self::default()
    }

    fn key(&mut self, key: &str) {
        self.buf.push(if self.buf.is_empty() { '{' } else { ',' });
        escape_into(&mut self.buf, key);
        self.buf.push(':');
    }

    /// Adds a string member.
    pub fn str(mut self, key: &str, value: &str) -> Self {
        self.key(key);
        escape_into(&mut self.buf, value);
        self
    }

    /// Adds an integer member.
    pub fn int(mut self, key: &str, value: i64) -> Self {
        self.key(key);
        let _ = write!(self.buf, "{value}");
        self
    }

    /// The finished object text.
    pub fn finish(mut self) -> String {
        if self.buf.is_empty() {
            self.buf.push('{');
        }
        self.buf.push('}');
        self.buf
    }
}

/// Appends `s` as a quoted JSON string.
///
/// Control characters become `\u00XX` so that a detail carrying, say, a
/// file's raw content can never break the one-line-per-probe framing the
/// host parser relies on.
pub fn escape_into(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            // U+2028/2029 are valid JSON but break JavaScript consumers and
            // some line-oriented tools; escaping them costs nothing.
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `s` as a quoted JSON string.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    escape_into(&mut out, s);
    out
}

/// A member of a flat JSON object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scalar {
    Str(String),
    Int(i64),
    /// `true`, `false`, `null` or a number that is not an `i64`.
    Other,
}

/// Reads one flat JSON object (`{"k":"v","n":-3}`), whitespace around tokens
/// allowed, members in order. `None` for anything else: invalid JSON,
/// nested objects or arrays, trailing text. Console lines get cut and
/// interleaved with kernel messages, so this never panics.
pub fn parse_object(text: &str) -> Option<Vec<(String, Scalar)>> {
    let mut r = Reader {
        s: text.as_bytes(),
        i: 0,
    };
    r.ws();
    r.eat(b'{')?;
    let mut members = Vec::new();
    r.ws();
    if r.peek() == Some(b'}') {
        r.i += 1;
    } else {
        loop {
            r.ws();
            let key = r.string()?;
            r.ws();
            r.eat(b':')?;
            r.ws();
            let value = r.scalar()?;
            members.push((key, value));
            r.ws();
            match r.next()? {
                b',' => continue,
                b'}' => break,
                _ => return None,
            }
        }
    }
    r.ws();
    (r.i == r.s.len()).then_some(members)
}

struct Reader<'a> {
    s: &'a [u8],
    i: usize,
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.i += 1;
        Some(b)
    }

    fn eat(&mut self, b: u8) -> Option<()> {
        (self.next()? == b).then_some(())
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let h = self.s.get(self.i..self.i + 4)?;
        let h = std::str::from_utf8(h).ok()?;
        if !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        self.i += 4;
        u32::from_str_radix(h, 16).ok()
    }

    fn string(&mut self) -> Option<String> {
        self.eat(b'"')?;
        let mut out = Vec::new();
        loop {
            match self.next()? {
                b'"' => return String::from_utf8(out).ok(),
                b'\\' => {
                    let c = match self.next()? {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            let code = if (0xd800..0xdc00).contains(&hi) {
                                self.eat(b'\\')?;
                                self.eat(b'u')?;
                                let lo = self.hex4()?;
                                if !(0xdc00..0xe000).contains(&lo) {
                                    return None;
                                }
                                0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00)
                            } else {
                                hi
                            };
                            char::from_u32(code)?
                        }
                        _ => return None,
                    };
                    let mut buf = [0; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                // Raw control characters are not allowed inside strings.
                b if b < 0x20 => return None,
                b => out.push(b),
            }
        }
    }

    fn scalar(&mut self) -> Option<Scalar> {
        match self.peek()? {
            b'"' => self.string().map(Scalar::Str),
            b't' | b'f' | b'n' => {
                for word in ["true", "false", "null"] {
                    if self.s[self.i..].starts_with(word.as_bytes()) {
                        self.i += word.len();
                        return Some(Scalar::Other);
                    }
                }
                None
            }
            b'-' | b'0'..=b'9' => {
                let start = self.i;
                while matches!(
                    self.peek(),
                    Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                ) {
                    self.i += 1;
                }
                let text = std::str::from_utf8(&self.s[start..self.i]).ok()?;
                if let Ok(n) = text.parse::<i64>() {
                    // JSON has no leading zeros or '+'.
                    let digits = text.strip_prefix('-').unwrap_or(text);
                    let canonical =
                        !digits.starts_with('+') && (digits == "0" || !digits.starts_with('0'));
                    return canonical.then_some(Scalar::Int(n));
                }
                text.parse::<f64>().ok().map(|_| Scalar::Other)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_object() {
        assert_eq!(Object::new().finish(), "{}");
    }

    #[test]
    fn members_in_order() {
        let o = Object::new()
            .str("probe", "epoll")
            .str("status", "pass")
            .int("n", -3)
            .finish();
        assert_eq!(o, r#"{"probe":"epoll","status":"pass","n":-3}"#);
    }

    #[test]
    fn escapes() {
        assert_eq!(quote("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(quote("l1\nl2\r\t"), r#""l1\nl2\r\t""#);
        assert_eq!(quote("\u{0}\u{1b}\u{7f}"), r#""\u0000\u001b\u007f""#);
        assert_eq!(quote("é ✓ \u{2028}"), "\"é ✓ \\u2028\"");
    }

    #[test]
    fn every_char_round_trips_through_serde_json() {
        let mut s = String::new();
        for c in (0u32..0x3000).filter_map(char::from_u32) {
            s.push(c);
        }
        let text = Object::new().str("k\n", &s).finish();
        assert!(!text.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(v["k\n"].as_str(), Some(s.as_str()));
    }

    #[test]
    fn reads_flat_objects() {
        assert_eq!(parse_object("{}"), Some(vec![]));
        assert_eq!(
            parse_object(r#" { "a" : "x\"\u00e9\ud83d\ude00" , "n":-3,"t":true,"f":1.5 } "#),
            Some(vec![
                ("a".into(), Scalar::Str("x\"é😀".into())),
                ("n".into(), Scalar::Int(-3)),
                ("t".into(), Scalar::Other),
                ("f".into(), Scalar::Other),
            ])
        );
        for bad in [
            "",
            "{",
            r#"{"a":"x""#,
            r#"{"a":"x"} tail"#,
            r#"{"a":["x"]}"#,
            r#"{"a":{"b":1}}"#,
            r#"{"a":01}"#,
            r#"{"a":"\x"}"#,
            r#"{"a":"\ud800"}"#,
            "{\"a\":\"l1\nl2\"}",
            r#"{"a" "x"}"#,
            r#"{"a":"x",}"#,
            r#"{a:1}"#,
        ] {
            assert_eq!(parse_object(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn what_the_writer_writes_the_reader_reads() {
        let mut s = String::new();
        for c in (0u32..0x3000).filter_map(char::from_u32) {
            s.push(c);
        }
        let text = Object::new().str("k\n", &s).int("n", i64::MIN).finish();
        assert_eq!(
            parse_object(&text),
            Some(vec![
                ("k\n".into(), Scalar::Str(s)),
                ("n".into(), Scalar::Int(i64::MIN))
            ])
        );
    }
}
