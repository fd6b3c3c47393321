//! Cheap byte-level tests deciding whether a file needs the full scan.

pub struct Markers {
    pub any: bool,
    pub tables: bool,
}

pub fn markers(b: &[u8]) -> Markers {
    let has = |s: &str| memchr::memmem::find(b, s.as_bytes()).is_some();
    let tables = has("pci_device_id") || has("virtio_device_id");
    let any = tables
        || has("SYSCALL_DEFINE")
        || has("SYSCALL32_DEFINE")
        || has("file_system_type")
        || has("net_proto_family")
        || has("COND_SYSCALL")
        || config_in_string(b);
    Markers { any, tables }
}

/// Is there a line with a `"` before a `CONFIG_`? (Printed strings that
/// name an option; most `CONFIG_` mentions are in `#if` lines.)
fn config_in_string(b: &[u8]) -> bool {
    for pos in memchr::memmem::find_iter(b, b"CONFIG_") {
        let start = memchr::memrchr(b'\n', &b[..pos])
            .map(|x| x + 1)
            .unwrap_or(0);
        let line = &b[start..pos];
        if line.contains(&b'"') && !line.trim_ascii_start().starts_with(b"#") {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_needs_a_full_scan() {
        assert!(markers(b"SYSCALL32_DEFINE0(sigreturn)").any);
        assert!(markers(b"static struct pci_device_id x[] = {};").tables);
        assert!(markers(b"pr_err(\"needs CONFIG_FOO\");").any);
        let m = markers(b"#ifdef CONFIG_FOO\nint x;\n#endif\n");
        assert!(!m.any && !m.tables, "an #if line names no option to print");
    }
}
