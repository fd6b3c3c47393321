//! Integer constant expressions of already macro-expanded tokens (ID
//! tables: `0x8086`, `(~0)`, `PCI_CLASS_X << 8`, casts, `?:`).

use super::token::{Tok, TokKind};

/// Evaluates an integer constant expression (already macro-expanded);
/// `None` when it uses something we cannot know (an enum, a variable).
pub fn eval_int(toks: &[Tok]) -> Option<i128> {
    let mut p = IntParser { t: toks, i: 0 };
    let v = p.ternary()?;
    if p.i == toks.len() {
        Some(v)
    } else {
        None
    }
}

struct IntParser<'a> {
    t: &'a [Tok],
    i: usize,
}

const BINOPS: [(&str, u8); 18] = [
    ("||", 1),
    ("&&", 2),
    ("|", 3),
    ("^", 4),
    ("&", 5),
    ("==", 6),
    ("!=", 6),
    ("<", 7),
    (">", 7),
    ("<=", 7),
    (">=", 7),
    ("<<", 8),
    (">>", 8),
    ("+", 9),
    ("-", 9),
    ("*", 10),
    ("/", 10),
    ("%", 10),
];

impl IntParser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.t.get(self.i)
    }
    fn ternary(&mut self) -> Option<i128> {
        let c = self.bin(1)?;
        if self.peek().is_some_and(|t| t.is("?")) {
            self.i += 1;
            // GNU `x ?: y`.
            let a = if self.peek().is_some_and(|t| t.is(":")) {
                c
            } else {
                self.ternary()?
            };
            if !self.peek().is_some_and(|t| t.is(":")) {
                return None;
            }
            self.i += 1;
            let b = self.ternary()?;
            return Some(if c != 0 { a } else { b });
        }
        Some(c)
    }
    fn bin(&mut self, min: u8) -> Option<i128> {
        let mut lhs = self.unary()?;
        while let Some(t) = self.peek() {
            if t.kind != TokKind::Punct {
                break;
            }
            let Some(&(op, prec)) = BINOPS.iter().find(|(o, _)| *o == t.text) else {
                break;
            };
            if prec < min {
                break;
            }
            self.i += 1;
            let rhs = self.bin(prec + 1)?;
            lhs = match op {
                "||" => ((lhs != 0) || (rhs != 0)) as i128,
                "&&" => ((lhs != 0) && (rhs != 0)) as i128,
                "|" => lhs | rhs,
                "^" => lhs ^ rhs,
                "&" => lhs & rhs,
                "==" => (lhs == rhs) as i128,
                "!=" => (lhs != rhs) as i128,
                "<" => (lhs < rhs) as i128,
                ">" => (lhs > rhs) as i128,
                "<=" => (lhs <= rhs) as i128,
                ">=" => (lhs >= rhs) as i128,
                "<<" => lhs.checked_shl(u32::try_from(rhs).ok()?)?,
                ">>" => lhs.checked_shr(u32::try_from(rhs).ok()?)?,
                "+" => lhs.checked_add(rhs)?,
                "-" => lhs.checked_sub(rhs)?,
                "*" => lhs.checked_mul(rhs)?,
                "/" => lhs.checked_div(rhs)?,
                _ => lhs.checked_rem(rhs)?,
            };
        }
        Some(lhs)
    }
    fn unary(&mut self) -> Option<i128> {
        let t = self.peek()?.clone();
        self.i += 1;
        match (t.kind, t.text.as_str()) {
            (TokKind::Punct, "-") => self.unary().map(|v| -v),
            (TokKind::Punct, "+") => self.unary(),
            // Kernel IDs are 32-bit: ~0 is 0xffffffff, not -1.
            (TokKind::Punct, "~") => self.unary().map(|v| (!v) & 0xffff_ffff),
            (TokKind::Punct, "!") => self.unary().map(|v| (v == 0) as i128),
            (TokKind::Punct, "(") => {
                // A cast: `(u32)x`, `(unsigned int)x`, `(__u16)x`.
                let save = self.i;
                let mut k = self.i;
                while self
                    .t
                    .get(k)
                    .is_some_and(|x| x.kind == TokKind::Ident && is_type_word(&x.text))
                {
                    k += 1;
                }
                if k > save && self.t.get(k).is_some_and(|x| x.is(")")) {
                    self.i = k + 1;
                    return self.unary();
                }
                let v = self.ternary()?;
                if !self.peek().is_some_and(|x| x.is(")")) {
                    return None;
                }
                self.i += 1;
                Some(v)
            }
            (TokKind::Number, s) => parse_int(s).map(|v| v as i128),
            (TokKind::Char, s) => s.chars().next().map(|c| c as i128),
            _ => None,
        }
    }
}

fn is_type_word(s: &str) -> bool {
    matches!(
        s,
        "u8" | "u16"
            | "u32"
            | "u64"
            | "__u8"
            | "__u16"
            | "__u32"
            | "__u64"
            | "unsigned"
            | "int"
            | "long"
            | "short"
            | "char"
            | "kernel_ulong_t"
            | "uint32_t"
            | "uint16_t"
    )
}

pub fn parse_int(s: &str) -> Option<u64> {
    let t = s.trim_end_matches(['u', 'U', 'l', 'L']);
    if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()
    } else if let Some(b) = t.strip_prefix("0b").or_else(|| t.strip_prefix("0B")) {
        u64::from_str_radix(b, 2).ok()
    } else if t.len() > 1 && t.starts_with('0') {
        u64::from_str_radix(&t[1..], 8).ok()
    } else {
        t.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpp::token::tokenize;

    fn eval(s: &str) -> Option<i128> {
        let mut t = Vec::new();
        tokenize(s, 0, 0, &mut t);
        eval_int(&t)
    }

    #[test]
    fn constant_expressions() {
        assert_eq!(eval("(~0)"), Some(0xffff_ffff));
        assert_eq!(eval("(u32)0x0106 << 8 | 0x01"), Some(0x010601));
        assert_eq!(eval("1 ?: 5"), Some(1));
        assert_eq!(eval("0 ? 2 : 3"), Some(3));
        assert_eq!(eval("-(2 + 3) * 4"), Some(-20));
        assert_eq!(eval("'A'"), Some(65));
        assert_eq!(eval("1 / 0"), None);
        assert_eq!(eval("board_ahci"), None);
        assert_eq!(eval("1 2"), None);
        assert_eq!(parse_int("017"), Some(15));
        assert_eq!(parse_int("0b101"), Some(5));
        assert_eq!(parse_int("10UL"), Some(10));
    }
}
