//! What the preprocessor cannot know from a file alone: the
//! architecture's `__ARCH_WANT_*` switches and the macros the kernel
//! build defines (`__KERNEL__`), for `#if` tests that are not options.

use std::collections::HashMap;
use std::path::Path;

use crate::cond::Cond;
use crate::cpp::{self, MacroFacts};

/// `__ARCH_WANT_*` switches from the architecture's unistd.h.
pub(super) struct ArchFacts {
    wants: HashMap<String, Cond>,
}

impl MacroFacts for ArchFacts {
    fn defined(&self, name: &str) -> Option<Cond> {
        if let Some(c) = self.wants.get(name) {
            return Some(c.clone());
        }
        if name.starts_with("__ARCH_WANT_") {
            return Some(Cond::False);
        }
        match name {
            "__KERNEL__" => Some(Cond::True),
            "__ASSEMBLY__" | "__ASSEMBLER__" | "__GENKSYMS__" | "__CHECKER__" => Some(Cond::False),
            _ => None,
        }
    }
}

impl ArchFacts {
    /// The architecture's unistd.h headers, read from the tree at `root`.
    pub(super) fn load(root: &Path, srcarch: &str) -> ArchFacts {
        let texts = [
            format!("arch/{srcarch}/include/asm/unistd.h"),
            format!("arch/{srcarch}/include/uapi/asm/unistd.h"),
        ]
        .into_iter()
        .filter_map(|rel| std::fs::read_to_string(root.join(rel)).ok());
        ArchFacts::from_headers(texts)
    }

    /// The `__ARCH_WANT_*` defines of the given headers (ORed over them).
    pub(super) fn from_headers(texts: impl IntoIterator<Item = String>) -> ArchFacts {
        let mut wants = HashMap::new();
        for t in texts {
            let pp = cpp::preprocess(&t, &cpp::NoFacts);
            for d in &pp.defines {
                if d.name.starts_with("__ARCH_WANT_") {
                    let c = pp.cond(d.cond).clone();
                    let cur = wants.remove(&d.name).unwrap_or(Cond::False);
                    wants.insert(d.name.clone(), Cond::or([cur, c]));
                }
            }
        }
        ArchFacts { wants }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arch_wants_and_kernel_macros() {
        let f = ArchFacts::from_headers([
            "#define __ARCH_WANT_SYS_FORK\n#ifdef CONFIG_X86_32\n#define __ARCH_WANT_SYS_IPC\n#endif\n"
                .to_string(),
        ]);
        assert_eq!(f.defined("__ARCH_WANT_SYS_FORK"), Some(Cond::True));
        assert_eq!(
            f.defined("__ARCH_WANT_SYS_IPC").map(|c| c.to_string()),
            Some("X86_32=y".to_string())
        );
        assert_eq!(f.defined("__ARCH_WANT_OTHER"), Some(Cond::False));
        assert_eq!(f.defined("__KERNEL__"), Some(Cond::True));
        assert_eq!(f.defined("__ASSEMBLY__"), Some(Cond::False));
        assert_eq!(f.defined("FOO"), None);
    }
}
