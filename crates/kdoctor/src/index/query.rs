//! Questions to a built index: a syscall, file system or address family by
//! the names people and tools use, messages matching a log line, and
//! whether a PCI ID table entry matches a device.

use super::model::{Family, Filesystem, Index, Message, Site, Syscall};
use crate::cond::{Config, Tri};
use crate::scan::{PciMatch, PCI_ANY_ID};

impl Index {
    /// A syscall by the name strace or a person uses (`fstat` is the
    /// kernel's `newfstat`; a `sys_` prefix is accepted).
    pub fn syscall(&self, name: &str) -> Option<&Syscall> {
        let n = name
            .trim()
            .trim_start_matches("sys_")
            .trim_start_matches("__x64_sys_");
        let find = |n: &str| self.syscalls.iter().find(|s| s.name == n && !s.compat);
        find(n)
            .or_else(|| find(&format!("new{n}")))
            .or_else(|| n.strip_prefix('_').and_then(find))
    }

    pub fn filesystem(&self, name: &str) -> Vec<&Filesystem> {
        self.filesystems
            .iter()
            .filter(|f| f.name == name.trim())
            .collect()
    }

    /// An address family by `AF_UNIX`, `PF_UNIX`, `AF_LOCAL`, `unix` or `1`.
    pub fn family(&self, q: &str) -> Vec<&Family> {
        let q = q.trim();
        let number = q.parse::<u32>().ok().or_else(|| {
            let up = q.to_ascii_uppercase();
            let cands = [up.clone(), format!("AF_{up}"), up.replacen("PF_", "AF_", 1)];
            cands.iter().find_map(|c| {
                self.family_numbers
                    .iter()
                    .find(|(n, _)| n == c)
                    .map(|(_, v)| *v)
            })
        });
        self.families
            .iter()
            .filter(|f| match number {
                Some(n) => f.number == Some(n),
                None => f.family.eq_ignore_ascii_case(q),
            })
            .collect()
    }

    /// The family's canonical name for a number.
    pub fn family_name(&self, n: u32) -> Option<&str> {
        self.family_numbers
            .iter()
            .find(|(a, x)| *x == n && a.starts_with("AF_"))
            .map(|(a, _)| a.as_str())
    }

    /// Messages whose format matches a log line (format literals appear in
    /// order in the line).
    pub fn messages_matching(&self, line: &str) -> Vec<&Message> {
        self.messages
            .iter()
            .filter(|m| format_matches(&m.format, line))
            .collect()
    }
}

/// Does a printf format match a line? Its literal pieces (between
/// conversions) must appear in order; very short pieces are ignored.
pub fn format_matches(format: &str, line: &str) -> bool {
    let mut pieces = Vec::new();
    let mut cur = String::new();
    let mut it = format.chars().peekable();
    while let Some(c) = it.next() {
        if c == '%' {
            if it.peek() == Some(&'%') {
                it.next();
                cur.push('%');
                continue;
            }
            // Skip flags, width, length and the conversion letter.
            while let Some(&n) = it.peek() {
                it.next();
                if n.is_ascii_alphabetic() && !matches!(n, 'l' | 'h' | 'z' | 't' | 'j' | 'L' | 'q')
                {
                    // %pX: pointer extensions continue with letters.
                    if n == 'p' {
                        while it.peek().is_some_and(|x| x.is_ascii_alphanumeric()) {
                            it.next();
                        }
                    }
                    break;
                }
            }
            pieces.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    pieces.push(cur);
    let mut pos = 0;
    let mut matched = 0;
    for p in pieces {
        let p = p.trim_matches(|c: char| c.is_whitespace());
        if p.len() < 3 {
            continue;
        }
        match line[pos..].find(p) {
            Some(i) => {
                pos += i + p.len();
                matched += p.len();
            }
            None => return false,
        }
    }
    matched >= 8
}

/// Does a table entry match a device? `class` is the 24-bit class code
/// (base, sub, prog-if), or the 16-bit base+sub that `lspci -n` prints
/// (values up to 0xffff), in which case the prog-if is not compared.
pub fn pci_matches(m: &PciMatch, vendor: u32, device: u32, class: Option<u32>) -> bool {
    let id_ok = |want: u32, have: u32| want == PCI_ANY_ID || want == have;
    if !id_ok(m.vendor, vendor) || !id_ok(m.device, device) {
        return false;
    }
    if m.class_mask == 0 {
        return true;
    }
    match class {
        Some(c) if c > 0xffff => (c & m.class_mask) == (m.class & m.class_mask),
        Some(c) => {
            let mask = m.class_mask & 0xffff00;
            ((c << 8) & mask) == (m.class & mask)
        }
        None => false,
    }
}

/// Evaluates a site against a configuration: built in, module, or absent.
pub fn built(site: &Site, cfg: &Config) -> Tri {
    site.cond.eval(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printf_formats_match_log_lines() {
        let f = "%s: CONFIG_POSIX_TIMERS is not set, %d timers\n";
        assert!(format_matches(
            f,
            "prog: CONFIG_POSIX_TIMERS is not set, 3 timers"
        ));
        assert!(!format_matches(f, "CONFIG_POSIX_TIMERS is set"));
        assert!(
            !format_matches("%s %d", "anything"),
            "too little literal text"
        );
        assert!(format_matches(
            "100%% sure about CONFIG_X",
            "100% sure about CONFIG_X"
        ));
    }

    #[test]
    fn pci_class_masks() {
        let ahci = PciMatch {
            vendor: PCI_ANY_ID,
            device: PCI_ANY_ID,
            subvendor: PCI_ANY_ID,
            subdevice: PCI_ANY_ID,
            class: 0x010601,
            class_mask: 0xffffff,
        };
        assert!(pci_matches(&ahci, 0x8086, 0x2922, Some(0x010601)));
        assert!(
            pci_matches(&ahci, 0x8086, 0x2922, Some(0x0106)),
            "16-bit class"
        );
        assert!(!pci_matches(&ahci, 0x8086, 0x2922, Some(0x010180)));
        assert!(!pci_matches(&ahci, 0x8086, 0x2922, None));
        let e1000 = PciMatch {
            vendor: 0x8086,
            device: 0x100e,
            class: 0,
            class_mask: 0,
            ..ahci
        };
        assert!(pci_matches(&e1000, 0x8086, 0x100e, None));
        assert!(!pci_matches(&e1000, 0x8086, 0x100f, None));
    }
}
