//! Log messages that name an option: a string literal with `CONFIG_` that
//! is the format argument of a print-like call.

use crate::cpp::{Tok, TokKind};

#[derive(Clone, Debug)]
pub struct MsgHit {
    pub format: String,
    pub options: Vec<String>,
    pub func: String,
    pub line: u32,
    pub cond: u32,
}

/// Print-like calls whose format strings reach the kernel log.
fn is_print_call(name: &str) -> bool {
    const PREFIXES: [&str; 16] = [
        "pr_", "dev_", "netdev_", "pci_", "WARN", "panic", "drm_", "ata_", "ext4_msg", "btrfs_",
        "xfs_", "hid_", "snd_", "pm_pr", "bt_dev_", "shost_",
    ];
    name.contains("printk") || PREFIXES.iter().any(|p| name.starts_with(p))
}

/// The message whose format string starts at `toks[i]`, if it is the
/// format argument of a print-like call.
pub(super) fn message_at(toks: &[Tok], i: usize) -> Option<MsgHit> {
    // Back to the unmatched `(` of the call.
    let mut k = i;
    let mut depth = 0;
    let mut first_str = i;
    while k > 0 {
        k -= 1;
        let t = &toks[k];
        if t.is(";") || t.is("{") || t.is("}") {
            return None;
        }
        if t.is(")") {
            depth += 1;
        } else if t.is("(") {
            if depth == 0 {
                break;
            }
            depth -= 1;
        } else if t.kind == TokKind::Str && depth == 0 && k + 1 == first_str {
            first_str = k;
        }
        if i - k > 64 {
            return None;
        }
    }
    let func = toks.get(k.checked_sub(1)?)?;
    if func.kind != TokKind::Ident || !is_print_call(&func.text) {
        return None;
    }
    let mut format = String::new();
    let mut j = first_str;
    while let Some(t) = toks.get(j) {
        if t.kind == TokKind::Str {
            format.push_str(&t.text);
        } else if t.kind == TokKind::Ident && t.text.starts_with("KERN_") {
            // a log level between literals
        } else {
            break;
        }
        j += 1;
    }
    // Log-level prefixes written as literals ("\001" "3").
    let format = match format.strip_prefix('\u{1}') {
        Some(r) => r.get(1..).unwrap_or("").to_string(),
        None => format,
    };
    let mut options = Vec::new();
    let b = format.as_bytes();
    for pos in memchr::memmem::find_iter(b, b"CONFIG_") {
        if pos > 0 && (b[pos - 1].is_ascii_alphanumeric() || b[pos - 1] == b'_') {
            continue;
        }
        let rest = &format[pos + 7..];
        let end = rest
            .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(rest.len());
        let name = rest[..end].trim_end_matches('_');
        if !name.is_empty() && !options.iter().any(|o: &String| o == name) {
            options.push(name.to_string());
        }
    }
    if options.is_empty() {
        return None;
    }
    Some(MsgHit {
        format: format.trim().to_string(),
        options,
        func: func.text.clone(),
        line: toks[i].line,
        cond: toks[i].cond,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpp::tokenize;

    #[test]
    fn messages_naming_options() {
        let mut t = Vec::new();
        tokenize(
            "pr_warn(\"%s: enable CONFIG_FOO_\" \"and CONFIG_BAR\\n\", x); f(\"CONFIG_BAZ\");",
            3,
            1,
            &mut t,
        );
        let at = t.iter().position(|x| x.kind == TokKind::Str).unwrap();
        let m = message_at(&t, at).unwrap();
        assert_eq!(m.options, vec!["FOO".to_string(), "BAR".to_string()]);
        assert_eq!((m.func.as_str(), m.line, m.cond), ("pr_warn", 3, 1));
        assert_eq!(m.format, "%s: enable CONFIG_FOO_and CONFIG_BAR");
        let other = t.iter().rposition(|x| x.kind == TokKind::Str).unwrap();
        assert!(message_at(&t, other).is_none(), "f is not a print call");
    }
}
