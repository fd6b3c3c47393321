//! A tiny JSON object writer.
//!
//! The probe only ever emits flat objects of strings and integers, and it is
//! linked statically into every initramfs, so a dozen lines of escaping are
//! worth more than a serializer dependency.

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
}
