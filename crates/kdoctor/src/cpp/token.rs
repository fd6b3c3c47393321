//! C tokens: identifiers, numbers, string and character literals (escapes
//! resolved), punctuators.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokKind {
    Ident,
    Number,
    Str,
    Char,
    Punct,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tok {
    pub kind: TokKind,
    /// For strings: the contents with escapes resolved; else the spelling.
    pub text: String,
    pub line: u32,
    pub cond: u32,
}

impl Tok {
    pub fn is(&self, s: &str) -> bool {
        self.kind != TokKind::Str && self.text == s
    }
}

const PUNCT3: [&str; 2] = ["<<=", ">>="];
const PUNCT2: [&str; 19] = [
    "->", "++", "--", "<<", ">>", "<=", ">=", "==", "!=", "&&", "||", "##", "+=", "-=", "*=", "/=",
    "|=", "&=", "^=",
];

pub fn tokenize(text: &str, line: u32, cond: u32, out: &mut Vec<Tok>) {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let s = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            // String prefixes (L"..", u8"..") are rare in the kernel; an
            // identifier followed by a quote is just two tokens.
            out.push(Tok {
                kind: TokKind::Ident,
                text: text[s..i].to_string(),
                line,
                cond,
            });
        } else if c.is_ascii_digit() || (c == b'.' && i + 1 < b.len() && b[i + 1].is_ascii_digit())
        {
            let s = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.' || b[i] == b'_') {
                i += 1;
            }
            out.push(Tok {
                kind: TokKind::Number,
                text: text[s..i].to_string(),
                line,
                cond,
            });
        } else if c == b'"' || c == b'\'' {
            let q = c;
            i += 1;
            let mut v = String::new();
            let s = i;
            while i < b.len() && b[i] != q {
                if b[i] == b'\\' && i + 1 < b.len() {
                    i += 1;
                    match b[i] {
                        b'n' => v.push('\n'),
                        b't' => v.push('\t'),
                        b'\\' => v.push('\\'),
                        b'"' => v.push('"'),
                        b'\'' => v.push('\''),
                        b'0'..=b'7' => {
                            // Octal escapes: log levels (\001) and NULs.
                            let mut n = 0u32;
                            let mut k = 0;
                            while k < 3 && i < b.len() && (b'0'..=b'7').contains(&b[i]) {
                                n = n * 8 + (b[i] - b'0') as u32;
                                i += 1;
                                k += 1;
                            }
                            i -= 1;
                            if let Some(ch) = char::from_u32(n) {
                                v.push(ch);
                            }
                        }
                        other => v.push(other as char),
                    }
                    i += 1;
                    continue;
                }
                // Copy UTF-8 sequences whole.
                let ch_len = utf8_len(b[i]);
                let end = (i + ch_len).min(b.len());
                v.push_str(std::str::from_utf8(&b[i..end]).unwrap_or("?"));
                i = end;
            }
            let _ = s;
            i = (i + 1).min(b.len());
            out.push(Tok {
                kind: if q == b'"' {
                    TokKind::Str
                } else {
                    TokKind::Char
                },
                text: v,
                line,
                cond,
            });
        } else {
            let rest = &text[i..];
            let p = PUNCT3
                .iter()
                .chain(PUNCT2.iter())
                .find(|p| rest.starts_with(**p))
                .map(|p| p.len())
                .unwrap_or_else(|| utf8_len(c));
            let end = (i + p).min(b.len());
            out.push(Tok {
                kind: TokKind::Punct,
                text: String::from_utf8_lossy(&b[i..end]).into_owned(),
                line,
                cond,
            });
            i = end;
        }
    }
}

fn utf8_len(b: u8) -> usize {
    match b {
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf7 => 4,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<(TokKind, String)> {
        let mut out = Vec::new();
        tokenize(s, 7, 2, &mut out);
        assert!(out.iter().all(|t| t.line == 7 && t.cond == 2));
        out.into_iter().map(|t| (t.kind, t.text)).collect()
    }

    #[test]
    fn kinds_punctuators_and_escapes() {
        use TokKind::*;
        assert_eq!(
            toks("a->b <<= 0x1fU \"x\\n\\001y\" 'c' ##"),
            vec![
                (Ident, "a".into()),
                (Punct, "->".into()),
                (Ident, "b".into()),
                (Punct, "<<=".into()),
                (Number, "0x1fU".into()),
                (Str, "x\n\u{1}y".into()),
                (Char, "c".into()),
                (Punct, "##".into()),
            ]
        );
        let mut t = Vec::new();
        tokenize("\"é\"", 1, 0, &mut t);
        assert_eq!(t[0].text, "é");
        assert!(!t[0].is("é"), "a string is never punctuation");
    }
}
