//! C declarations at the token level: `= { ... }` initializers, their
//! items and designated fields (`.vendor = X`), and enum constants. Pure
//! functions of (already macro-expanded) tokens.

use crate::cpp::{self, Layered, Tok, TokKind};

/// From `start`, find `= {` before any `;` and return the tokens inside
/// the braces and the index after the closing brace. `array` requires the
/// declarator to be an array (`[...]` before `=`).
pub(super) fn initializer(toks: &[Tok], start: usize, array: bool) -> Option<(&[Tok], usize)> {
    let mut i = start;
    let mut saw_bracket = false;
    while i < toks.len() && i < start + 40 {
        let t = &toks[i];
        if t.is(";") || t.is("{") || t.is(")") {
            return None;
        }
        if t.is("[") {
            saw_bracket = true;
        }
        if t.is("=") {
            break;
        }
        i += 1;
    }
    if array && !saw_bracket {
        return None;
    }
    if !toks.get(i).is_some_and(|t| t.is("=")) || !toks.get(i + 1).is_some_and(|t| t.is("{")) {
        return None;
    }
    let open = i + 1;
    let mut depth = 0;
    for (k, t) in toks.iter().enumerate().skip(open) {
        if t.is("{") {
            depth += 1;
        } else if t.is("}") {
            depth -= 1;
            if depth == 0 {
                return Some((&toks[open + 1..k], k + 1));
            }
        }
    }
    None
}

/// Top-level `{ ... }` items of an array initializer (their contents).
pub(super) fn items(body: &[Tok]) -> Vec<&[Tok]> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    for (k, t) in body.iter().enumerate() {
        if t.is("{") {
            if depth == 0 {
                start = k + 1;
            }
            depth += 1;
        } else if t.is("}") {
            depth -= 1;
            if depth == 0 && k > start {
                out.push(&body[start..k]);
            }
        }
    }
    out
}

/// Splits an initializer's contents at top-level commas.
pub(super) fn split_commas(body: &[Tok]) -> Vec<&[Tok]> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    for (k, t) in body.iter().enumerate() {
        if t.is("(") || t.is("{") || t.is("[") {
            depth += 1;
        } else if t.is(")") || t.is("}") || t.is("]") {
            depth -= 1;
        } else if t.is(",") && depth == 0 {
            out.push(&body[start..k]);
            start = k + 1;
        }
    }
    if start < body.len() {
        out.push(&body[start..]);
    }
    out
}

/// C initializer semantics: positional values fill fields in order, a
/// designator moves the cursor. Returns each field's value (None when it
/// is set to something we cannot evaluate), or None if an item is not
/// understood at all.
pub(super) fn fields(item: &[Tok], names: &[&str]) -> Option<Vec<Option<i128>>> {
    let mut vals: Vec<Option<i128>> = vec![Some(0); names.len()];
    let mut cursor = 0usize;
    for part in split_commas(item) {
        if part.is_empty() {
            continue;
        }
        let (field, expr) = if part[0].is(".") && part.len() >= 3 && part[2].is("=") {
            let Some(idx) = names.iter().position(|n| *n == part[1].text) else {
                // A field we do not track (driver_data and friends).
                cursor = usize::MAX;
                continue;
            };
            (idx, &part[3..])
        } else {
            if cursor == usize::MAX {
                continue;
            }
            (cursor, part)
        };
        if field < names.len() {
            vals[field] = cpp::eval_int(expr);
        }
        cursor = field.saturating_add(1);
    }
    Some(vals)
}

pub(super) fn field_tokens(body: &[Tok], name: &str) -> Option<Vec<Tok>> {
    for part in split_commas(body) {
        if part.len() >= 3 && part[0].is(".") && part[1].text == name && part[2].is("=") {
            return Some(part[3..].to_vec());
        }
    }
    None
}

pub(super) fn field_string(body: &[Tok], name: &str) -> Option<String> {
    let v = field_tokens(body, name)?;
    if v.is_empty() || !v.iter().all(|t| t.kind == TokKind::Str) {
        return None;
    }
    Some(v.iter().map(|t| t.text.as_str()).collect())
}

/// `enum { A = 0x10, B, C }` constants of a file (device IDs are sometimes
/// enumerators rather than macros).
pub(super) fn enum_constants(toks: &[Tok], macros: &Layered<'_>) -> Vec<(String, i128)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        if !toks[i].is("enum") {
            i += 1;
            continue;
        }
        let mut j = i + 1;
        if toks.get(j).is_some_and(|t| t.kind == TokKind::Ident) {
            j += 1;
        }
        if !toks.get(j).is_some_and(|t| t.is("{")) {
            i += 1;
            continue;
        }
        let Some(close) = toks[j..].iter().position(|t| t.is("}")).map(|p| p + j) else {
            break;
        };
        let mut next: i128 = 0;
        for part in split_commas(&toks[j + 1..close]) {
            let Some(name) = part.first().filter(|t| t.kind == TokKind::Ident) else {
                continue;
            };
            let v = if part.len() > 2 && part[1].is("=") {
                let ex = macros.expand(&part[2..]);
                match cpp::eval_int(&ex) {
                    Some(v) => v,
                    None => {
                        // Unknown value: later implicit values are unknown too.
                        next = i128::MIN;
                        continue;
                    }
                }
            } else if next == i128::MIN {
                continue;
            } else {
                next
            };
            out.push((name.text.clone(), v));
            next = v + 1;
        }
        i = close + 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpp::{tokenize, Macros};

    fn toks(s: &str) -> Vec<Tok> {
        let mut t = Vec::new();
        tokenize(s, 1, 0, &mut t);
        t
    }

    #[test]
    fn initializers_fields_and_enums() {
        let t = toks("static const struct x tbl[] = { { 1, 2 }, { .b = 3 } }; int y;");
        let (body, end) = initializer(&t, 4, true).unwrap();
        assert!(t[end].is(";"));
        let items = items(body);
        assert_eq!(items.len(), 2);
        assert_eq!(fields(items[0], &["a", "b"]), Some(vec![Some(1), Some(2)]));
        assert_eq!(fields(items[1], &["a", "b"]), Some(vec![Some(0), Some(3)]));
        assert!(
            initializer(&toks("int x = { 1 };"), 1, true).is_none(),
            "not an array"
        );
        let s = toks(".name = \"ext\" \"4\", .owner = THIS_MODULE");
        assert_eq!(field_string(&s, "name").as_deref(), Some("ext4"));
        assert!(field_string(&s, "owner").is_none());
        let e = toks("enum { A = 0x10, B, C = Z, D, E = 1 << 2 };");
        let m = Macros::default();
        assert_eq!(
            enum_constants(&e, &Layered(vec![&m])),
            vec![("A".into(), 16), ("B".into(), 17), ("E".into(), 4)]
        );
    }
}
