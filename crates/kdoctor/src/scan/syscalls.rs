//! Syscall definitions: which `*SYSCALL*_DEFINEn` macro defines what.

use crate::cond::Cond;

#[derive(Clone, Debug)]
pub struct SyscallHit {
    pub name: String,
    pub compat: bool,
    pub line: u32,
    pub cond: u32,
    /// A condition the macro itself adds (`SYSCALL32_DEFINEn` is the compat
    /// definition under CONFIG_COMPAT and the native one without it).
    pub extra: Option<Cond>,
}

/// `SYSCALL_DEFINEn` / `COMPAT_SYSCALL_DEFINEn` → the definitions it
/// makes: (compat, extra condition). `SYSCALL32_DEFINEn`
/// (include/linux/syscalls.h) is `COMPAT_SYSCALL_DEFINEn` under
/// CONFIG_COMPAT and `SYSCALL_DEFINEn` otherwise.
pub(super) fn syscall_macro(w: &str) -> Option<Vec<(bool, Option<Cond>)>> {
    let (kinds, rest) = if let Some(r) = w.strip_prefix("COMPAT_SYSCALL_DEFINE") {
        (vec![(true, None)], r)
    } else if let Some(r) = w.strip_prefix("SYSCALL32_DEFINE") {
        let compat = Cond::Y("COMPAT".into());
        (
            vec![
                (true, Some(compat.clone())),
                (false, Some(Cond::not(compat))),
            ],
            r,
        )
    } else {
        (vec![(false, None)], w.strip_prefix("SYSCALL_DEFINE")?)
    };
    match rest.as_bytes() {
        [b'0'..=b'6'] => Some(kinds),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `SYSCALL32_DEFINEn` is the compat syscall with CONFIG_COMPAT and the
    /// native one without (fanotify_mark; found validating Debian's kernel).
    #[test]
    fn syscall32_define_is_compat_or_native() {
        let k = syscall_macro("SYSCALL32_DEFINE6").unwrap();
        assert_eq!(k.len(), 2);
        assert_eq!(k[0], (true, Some(Cond::Y("COMPAT".into()))));
        assert!(!k[1].0);
        assert_eq!(k[1].1.as_ref().unwrap().to_string(), "!COMPAT=y");
        assert_eq!(
            syscall_macro("COMPAT_SYSCALL_DEFINE2"),
            Some(vec![(true, None)])
        );
        assert_eq!(syscall_macro("SYSCALL_DEFINE0"), Some(vec![(false, None)]));
        assert_eq!(syscall_macro("SYSCALL_DEFINE7"), None);
    }
}
