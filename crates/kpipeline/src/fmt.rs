//! Small renderers every report uses, so sizes and times read the same
//! everywhere.

/// Bytes as MiB with two decimals.
pub fn mib(b: u64) -> String {
    format!("{:.2} MiB", b as f64 / (1024.0 * 1024.0))
}

/// Seconds as `12.3s` or, from a minute on, `4m05s`.
pub fn secs(s: f64) -> String {
    if s >= 60.0 {
        format!("{}m{:02}s", (s / 60.0) as u64, (s % 60.0) as u64)
    } else {
        format!("{s:.1}s")
    }
}

/// "; did you mean A, B?" for suggestions, or nothing.
pub fn did_you_mean(s: &[impl AsRef<str>]) -> String {
    if s.is_empty() {
        String::new()
    } else {
        let v: Vec<&str> = s.iter().map(|x| x.as_ref()).collect();
        format!("; did you mean {}?", v.join(", "))
    }
}

/// At most `n` characters, with an ellipsis when cut.
pub fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let t: String = s.chars().take(n).collect();
        format!("{t}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        assert_eq!(mib(3 << 20), "3.00 MiB");
        assert_eq!(secs(5.04), "5.0s");
        assert_eq!(secs(245.0), "4m05s");
        assert_eq!(truncate("abcdef", 3), "abc…");
        assert_eq!(truncate("abc", 3), "abc");
    }
}
