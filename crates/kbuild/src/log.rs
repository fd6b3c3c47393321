//! Reading make's output: what it compiled and why it failed.

/// The object a kbuild `  CC      path.o` line compiles (also `CC [M]`).
/// `HOSTCC` lines build tools, not the kernel, and are not counted.
pub(crate) fn compiled_object(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("  CC ")?;
    let rest = rest.trim_start();
    let rest = rest.strip_prefix("[M]").unwrap_or(rest).trim();
    (!rest.is_empty()).then_some(rest)
}

/// A kbuild quiet step (`  LD      vmlinux`, `  GEN     Makefile`) shortened
/// to `LD vmlinux`, for progress displays.
pub(crate) fn step(line: &str) -> Option<String> {
    let rest = line.strip_prefix("  ")?;
    let (tag, obj) = rest.split_once(' ')?;
    let tag_ok = !tag.is_empty()
        && tag
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    let obj = obj.trim();
    (tag_ok && !obj.is_empty()).then(|| format!("{tag} {obj}"))
}

pub(crate) fn count_compiled(log: &str) -> usize {
    log.lines().filter(|l| compiled_object(l).is_some()).count()
}

fn is_compiler_error(line: &str) -> bool {
    line.contains("error:") || line.contains("undefined reference") || line.contains("Error: ")
}

fn is_make_error(line: &str) -> bool {
    line.contains("*** ") && (line.contains(" Error ") || line.contains("Stop."))
}

/// The first error sites of a failed build with a little context, in log
/// order: with `-j`, the first `Error 1` from make is usually a consequence
/// and the compiler's `error:` lines above it are the cause.
pub(crate) fn first_errors(log: &str, max_sites: usize, max_lines: usize) -> Vec<String> {
    const BEFORE: usize = 2;
    const AFTER: usize = 3;
    let lines: Vec<&str> = log.lines().collect();
    let mut sites: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| is_compiler_error(l))
        .map(|(i, _)| i)
        .take(max_sites)
        .collect();
    // make's own verdict closes the excerpt; it is the only error when
    // make fails before running a compiler (missing rule, unclean tree).
    if let Some(i) = lines.iter().position(|l| is_make_error(l)) {
        sites.push(i);
    }
    sites.sort_unstable();
    sites.dedup();
    let mut keep = vec![false; lines.len()];
    for &i in &sites {
        let is_make = is_make_error(lines[i]) && !is_compiler_error(lines[i]);
        let (lo, hi) = if is_make {
            (i, i)
        } else {
            (i.saturating_sub(BEFORE), (i + AFTER).min(lines.len() - 1))
        };
        for k in keep.iter_mut().take(hi + 1).skip(lo) {
            *k = true;
        }
    }
    let mut out = Vec::new();
    let mut last: Option<usize> = None;
    for (i, line) in lines.iter().enumerate() {
        if !keep[i] {
            continue;
        }
        if matches!(last, Some(l) if l + 1 != i) {
            out.push("...".to_string());
        }
        out.push((*line).to_string());
        last = Some(i);
        if out.len() >= max_lines {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_cc_but_not_hostcc() {
        let log = "  HOSTCC  scripts/basic/fixdep\n  CC      init/main.o\n  CC [M]  fs/ext4/inode.o\n  AS      arch/x86/entry/entry_64.o\n  LD      vmlinux\nCC=foo\n";
        assert_eq!(count_compiled(log), 2);
        assert_eq!(
            compiled_object("  CC [M]  fs/ext4/inode.o"),
            Some("fs/ext4/inode.o")
        );
        assert_eq!(
            compiled_object("  CC      init/main.o"),
            Some("init/main.o")
        );
        assert_eq!(compiled_object("  CC"), None);
    }

    #[test]
    fn steps_are_kbuild_quiet_lines() {
        assert_eq!(step("  LD      vmlinux").as_deref(), Some("LD vmlinux"));
        assert_eq!(step("  CC [M]  fs/x.o").as_deref(), Some("CC [M]  fs/x.o"));
        assert_eq!(step("make[1]: Entering directory"), None);
        assert_eq!(step("  lowercase thing"), None);
    }

    #[test]
    fn compiler_errors_come_with_context_and_make_verdict() {
        let log = "\
  CC      init/main.o
  CC      init/version.o
init/main.c: In function 'start_kernel':
init/main.c:10:5: error: 'foo' undeclared (first use in this function)
   10 |     foo = 1;
      |     ^~~
  CC      kernel/fork.o
  CC      kernel/exit.o
  CC      kernel/cpu.o
make[3]: *** [scripts/Makefile.build:229: init/main.o] Error 1
make[2]: *** [scripts/Makefile.build:478: init] Error 2
";
        let e = first_errors(log, 5, 40);
        assert_eq!(
            e,
            [
                "  CC      init/version.o",
                "init/main.c: In function 'start_kernel':",
                "init/main.c:10:5: error: 'foo' undeclared (first use in this function)",
                "   10 |     foo = 1;",
                "      |     ^~~",
                "  CC      kernel/fork.o",
                "...",
                "make[3]: *** [scripts/Makefile.build:229: init/main.o] Error 1",
            ]
        );
    }

    #[test]
    fn linker_errors_are_found() {
        let log = "  LD      vmlinux.o\nld: kernel/foo.o: in function `bar':\nfoo.c:(.text+0x1): undefined reference to `baz'\nmake[2]: *** [Makefile:1: vmlinux] Error 1\n";
        let e = first_errors(log, 5, 40);
        assert!(e.iter().any(|l| l.contains("undefined reference to `baz'")));
        assert!(e.iter().any(|l| l.contains("Error 1")));
    }

    #[test]
    fn make_only_failures_are_reported() {
        let log = "make[1]: *** No rule to make target 'nonsense'.  Stop.\nmake: *** [Makefile:224: __sub-make] Error 2\n";
        let e = first_errors(log, 5, 40);
        assert_eq!(
            e,
            ["make[1]: *** No rule to make target 'nonsense'.  Stop."]
        );
    }

    #[test]
    fn excerpt_is_bounded() {
        let log: String = (0..1000).map(|i| format!("f.c:{i}: error: x\n")).collect();
        assert!(first_errors(&log, 5, 12).len() <= 12);
        assert!(first_errors("", 5, 12).is_empty());
    }
}
