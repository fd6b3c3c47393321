//! Source text as the preprocessor sees it: comments gone (line numbers
//! kept), backslash-continued lines joined.

/// Removes comments, keeping newlines and string/char literals, so line
/// numbers stay true and a `//` inside a string is not a comment.
pub fn strip_comments(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'/' && i + 1 < b.len() && b[i + 1] == b'*' {
            i += 2;
            out.extend_from_slice(b"  ");
            while i < b.len() && !(b[i] == b'*' && i + 1 < b.len() && b[i + 1] == b'/') {
                out.push(if b[i] == b'\n' { b'\n' } else { b' ' });
                i += 1;
            }
            i = (i + 2).min(b.len());
            out.extend_from_slice(b"  ");
        } else if c == b'/' && i + 1 < b.len() && b[i + 1] == b'/' {
            while i < b.len() && b[i] != b'\n' {
                // A `\` before the newline continues a `//` comment.
                if b[i] == b'\\' && i + 1 < b.len() && b[i + 1] == b'\n' {
                    out.push(b' ');
                    out.push(b'\n');
                    i += 2;
                    continue;
                }
                out.push(b' ');
                i += 1;
            }
        } else if c == b'"' || c == b'\'' {
            out.push(c);
            i += 1;
            while i < b.len() && b[i] != c && b[i] != b'\n' {
                if b[i] == b'\\' && i + 1 < b.len() {
                    out.push(b[i]);
                    out.push(b[i + 1]);
                    i += 2;
                    continue;
                }
                out.push(b[i]);
                i += 1;
            }
            if i < b.len() {
                out.push(b[i]);
                i += 1;
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Physical lines joined at backslash-newline; each with its first line
/// number (1-based).
pub fn logical_lines(text: &str) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut start = 0u32;
    let mut open = false;
    for (i, line) in text.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if !open {
            start = i as u32 + 1;
            cur.clear();
        }
        if let Some(body) = line.strip_suffix('\\') {
            cur.push_str(body);
            cur.push(' ');
            open = true;
        } else {
            cur.push_str(line);
            open = false;
            out.push((start, std::mem::take(&mut cur)));
        }
    }
    if open {
        out.push((start, cur));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_and_strings() {
        let s = strip_comments("a /* x\ny */ b \"// not\" // c\nd");
        assert_eq!(s.lines().count(), 3);
        assert!(s.contains("\"// not\""));
        assert!(!s.contains(" c"));
    }
}
