//! What the doctor is given, and the parsers that turn each kind of text
//! into facts: strace lines into (syscall, errno, arguments), lspci output
//! into PCI IDs, probe lines into probe failures. Parsers skip what they do
//! not understand: inputs are logs, and logs are messy.

use serde::{Deserialize, Serialize};

/// Everything known about one failing boot.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Inputs {
    /// Serial console or dmesg text (may contain KTAILOR-PROBE lines).
    pub log: Option<String>,
    /// `strace -f` output.
    pub strace: Option<String>,
    /// `lspci -n` / `lspci -nn` output (QEMU `info qtree` lines work too).
    pub lspci: Option<String>,
    /// Probe result lines (`KTAILOR-PROBE {...}`), if separate from the log.
    pub probes: Option<String>,
    /// PCI functions known without text to parse (QEMU's `query-pci` for a
    /// target's machine); their evidence input is `qmp`.
    #[serde(default)]
    pub devices: Vec<PciDevice>,
    /// Direct questions: `syscall NAME`, `af AF_X`, `fs NAME`,
    /// `pci VVVV:DDDD[:CLASS]`.
    pub questions: Vec<String>,
    /// The kernel's `.config` text: makes answers say what is already set,
    /// and is the solver's base instead of allnoconfig.
    pub config: Option<String>,
    /// What `/init` is, when known (see [`InitKind::detect`]).
    pub init: Option<InitKind>,
    /// Run the solver for each suggestion. On by default: advice without
    /// the dependencies it drags in is the guess the doctor replaces; off
    /// only for a quick list.
    #[serde(default = "yes")]
    pub solve: bool,
}

fn yes() -> bool {
    true
}

impl Default for Inputs {
    fn default() -> Inputs {
        Inputs {
            log: None,
            strace: None,
            lspci: None,
            probes: None,
            devices: Vec::new(),
            questions: Vec::new(),
            config: None,
            init: None,
            solve: true,
        }
    }
}

impl Inputs {
    pub fn new() -> Inputs {
        Inputs::default()
    }
}

/// What the init program is: decides between BINFMT_SCRIPT, BINFMT_ELF and
/// 64BIT for exec errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InitKind {
    /// Starts with `#!`.
    Script,
    Elf64,
    Elf32,
    /// Not in the initramfs / root file system.
    Missing,
}

impl InitKind {
    /// From the first bytes of the init file.
    pub fn detect(head: &[u8]) -> Option<InitKind> {
        if head.starts_with(b"#!") {
            return Some(InitKind::Script);
        }
        if head.len() >= 5 && &head[..4] == b"\x7fELF" {
            return match head[4] {
                2 => Some(InitKind::Elf64),
                1 => Some(InitKind::Elf32),
                _ => None,
            };
        }
        None
    }

    /// Reads the first bytes of a file; a file that does not exist is
    /// `Missing`.
    pub fn of_file(path: &std::path::Path) -> Option<InitKind> {
        match std::fs::read(path) {
            Ok(b) => InitKind::detect(&b[..b.len().min(64)]),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(InitKind::Missing),
            Err(_) => None,
        }
    }
}

/// One syscall that failed, from an strace line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StraceFailure {
    pub line_no: usize,
    pub line: String,
    pub name: String,
    pub args: Vec<String>,
    pub errno: String,
}

/// Failed calls (`= -1 ERRNO`) in `strace -f` output, with or without
/// `[pid N]` prefixes, including `<... name resumed>` lines.
pub fn parse_strace(text: &str) -> Vec<StraceFailure> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let mut l = raw.trim();
        if let Some(r) = l.strip_prefix("[pid") {
            l = r.split_once(']').map(|x| x.1).unwrap_or(r).trim();
        } else if let Some((pid, rest)) = l.split_once(char::is_whitespace) {
            if !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()) {
                l = rest.trim();
            }
        }
        // Timestamps (-t, -tt, -r).
        if let Some((ts, rest)) = l.split_once(' ') {
            if !ts.is_empty()
                && ts
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b == b'.' || b == b':')
            {
                l = rest.trim();
            }
        }
        let Some(eq) = l.rfind(" = -1 ").or_else(|| l.rfind("= -1 ")) else {
            continue;
        };
        let errno = l[eq..]
            .trim_start_matches([' ', '='])
            .trim_start_matches("-1")
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_string();
        if !errno.starts_with('E') {
            continue;
        }
        let (name, args_text) = if let Some(r) = l.strip_prefix("<... ") {
            let name = r.split_whitespace().next().unwrap_or("").to_string();
            (name, String::new())
        } else {
            let Some(p) = l.find('(') else { continue };
            let name = l[..p].trim().to_string();
            let close = l[..eq].rfind(')').unwrap_or(eq);
            (name, l[p + 1..close.max(p + 1)].to_string())
        };
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            continue;
        }
        out.push(StraceFailure {
            line_no: i + 1,
            line: raw.to_string(),
            name,
            args: split_args(&args_text),
            errno,
        });
    }
    out
}

/// Top-level comma-separated arguments (strings, arrays and structs kept
/// whole).
fn split_args(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut depth = 0i32;
    let mut in_str = false;
    let mut esc = false;
    for c in s.chars() {
        if in_str {
            cur.push(c);
            if esc {
                esc = false;
            } else if c == '\\' {
                esc = true;
            } else if c == '"' {
                in_str = false;
            }
            continue;
        }
        match c {
            '"' => {
                in_str = true;
                cur.push(c);
            }
            '(' | '[' | '{' => {
                depth += 1;
                cur.push(c);
            }
            ')' | ']' | '}' => {
                depth -= 1;
                cur.push(c);
            }
            ',' if depth == 0 => out.push(std::mem::take(&mut cur).trim().to_string()),
            _ => cur.push(c),
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

/// A PCI function seen in lspci or QEMU output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PciDevice {
    pub line_no: usize,
    pub line: String,
    pub vendor: u32,
    pub device: u32,
    /// 24-bit class (with prog-if) or 16-bit (base+sub) as lspci -n shows.
    pub class: Option<u32>,
    pub subvendor: Option<u32>,
    pub subdevice: Option<u32>,
}

fn hex4(s: &str) -> Option<u32> {
    let s = s.trim();
    if s.len() == 4 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        u32::from_str_radix(s, 16).ok()
    } else {
        None
    }
}

/// `vvvv:dddd` at the start of `s`.
fn id_pair(s: &str) -> Option<(u32, u32)> {
    let s = s.get(..9)?;
    let (a, b) = s.split_once(':')?;
    Some((hex4(a)?, hex4(b)?))
}

/// `lspci -n` (`00:03.0 0200: 8086:100e (rev 03)`), `lspci -nn`
/// (`... [0200]: Intel ... [8086:100e]`), with `(prog-if 01 ...)` when
/// present, and QEMU's `info qtree` (`pci id 8086:2922 (sub 1af4:1100)`).
pub fn parse_lspci(text: &str) -> Vec<PciDevice> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let l = raw.trim();
        let mut dev: Option<PciDevice> = None;
        let mk = |v: u32, d: u32, class: Option<u32>| PciDevice {
            line_no: i + 1,
            line: raw.to_string(),
            vendor: v,
            device: d,
            class,
            subvendor: None,
            subdevice: None,
        };
        let toks: Vec<&str> = l.split_whitespace().collect();
        // lspci -n
        if toks.len() >= 3 && toks[1].ends_with(':') {
            if let (Some(c), Some((v, d))) = (hex4(toks[1].trim_end_matches(':')), id_pair(toks[2]))
            {
                dev = Some(mk(v, d, Some(c)));
            }
        }
        // lspci -nn: the last [vvvv:dddd], class from the first [cccc]
        if dev.is_none() {
            let brackets: Vec<&str> = l
                .match_indices('[')
                .filter_map(|(p, _)| l[p + 1..].split(']').next())
                .collect();
            let ids = brackets
                .iter()
                .rev()
                .find_map(|b| id_pair(b).filter(|_| b.len() == 9));
            if let Some((v, d)) = ids {
                let class = brackets.iter().find_map(|b| hex4(b));
                dev = Some(mk(v, d, class));
            }
        }
        // QEMU info qtree / info pci
        if dev.is_none() {
            for key in ["pci id ", "PCI device "] {
                if let Some(p) = l.find(key) {
                    if let Some((v, d)) = id_pair(&l[p + key.len()..]) {
                        let mut x = mk(v, d, None);
                        if let Some(s) = l.find("(sub ") {
                            if let Some((sv, sd)) = id_pair(&l[s + 5..]) {
                                x.subvendor = Some(sv);
                                x.subdevice = Some(sd);
                            }
                        }
                        dev = Some(x);
                        break;
                    }
                }
            }
        }
        if let Some(mut d) = dev {
            if let Some(p) = l.find("prog-if ") {
                if let (Some(c), Ok(pi)) = (
                    d.class,
                    u32::from_str_radix(l[p + 8..].get(..2).unwrap_or(""), 16),
                ) {
                    if c <= 0xffff {
                        d.class = Some((c << 8) | pi);
                    }
                }
            }
            out.push(d);
        } else if let (Some(p), Some(last)) = (l.find("Subsystem:"), out.last_mut()) {
            // lspci -nnv: "Subsystem: Red Hat, Inc. Device [1af4:0001]"
            let _ = p;
            if let Some(b) = l.rfind('[') {
                if let Some((sv, sd)) = id_pair(&l[b + 1..]) {
                    last.subvendor = Some(sv);
                    last.subdevice = Some(sd);
                }
            }
        }
    }
    out
}

/// A probe that did not pass.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeFailure {
    pub line_no: usize,
    pub line: String,
    pub probe: String,
    pub errno: Option<String>,
}

/// `KTAILOR-PROBE {"probe":"epoll","status":"fail","errno":"ENOSYS"}` (or
/// `"ok":false`) lines, anywhere in a line (consoles add prefixes).
pub fn parse_probes(text: &str) -> Vec<ProbeFailure> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let Some(p) = raw.find("KTAILOR-PROBE") else {
            continue;
        };
        let rest = &raw[p + "KTAILOR-PROBE".len()..];
        let Some(b) = rest.find('{') else { continue };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(rest[b..].trim()) else {
            continue;
        };
        let Some(name) = v.get("probe").and_then(|x| x.as_str()) else {
            continue;
        };
        let failed = match (v.get("status").and_then(|x| x.as_str()), v.get("ok")) {
            (Some(s), _) => !matches!(s, "ok" | "pass" | "passed" | "skip" | "skipped"),
            (None, Some(ok)) => ok.as_bool() == Some(false),
            _ => false,
        };
        if failed {
            out.push(ProbeFailure {
                line_no: i + 1,
                line: raw.to_string(),
                probe: name.to_string(),
                errno: v
                    .get("errno")
                    .and_then(|x| x.as_str())
                    .map(|s| s.to_string()),
            });
        }
    }
    out
}

/// A direct question.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Question {
    Syscall(String),
    Family(String),
    Filesystem(String),
    Pci {
        vendor: u32,
        device: u32,
        class: Option<u32>,
    },
}

impl Question {
    pub fn parse(q: &str) -> Option<Question> {
        let q = q.trim();
        let (kind, arg) = q.split_once(|c: char| c.is_whitespace() || c == '=')?;
        let arg = arg.trim();
        if arg.is_empty() {
            return None;
        }
        match kind.to_ascii_lowercase().as_str() {
            "syscall" | "sys" => Some(Question::Syscall(arg.to_string())),
            "af" | "family" | "socket" => Some(Question::Family(arg.to_string())),
            "fs" | "filesystem" => Some(Question::Filesystem(arg.to_string())),
            "pci" => {
                let parts: Vec<&str> = arg.split(':').collect();
                let vendor = hex4(parts.first()?)?;
                let device = hex4(parts.get(1)?)?;
                let class = match parts.get(2) {
                    Some(c) => {
                        let c = c.trim_start_matches("0x");
                        if c.is_empty() || c.len() > 6 {
                            return None;
                        }
                        Some(u32::from_str_radix(c, 16).ok()?)
                    }
                    None => None,
                };
                Some(Question::Pci {
                    vendor,
                    device,
                    class,
                })
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strace_lines() {
        let t = "[pid  1900] epoll_create1(EPOLL_CLOEXEC) = -1 ENOSYS (Function not implemented)\n\
                 socketpair(AF_UNIX, SOCK_STREAM, 0, 0x7ffc52260c68) = -1 EAFNOSUPPORT (Address family not supported by protocol)\n\
                 1234  mount(\"none\", \"/dev/pts\", \"devpts\", 0, NULL) = -1 ENODEV (No such device)\n\
                 close(4)                    = 0\n\
                 [pid 5] <... setgroups resumed>) = -1 ENOSYS (Function not implemented)\n";
        let f = parse_strace(t);
        assert_eq!(f.len(), 4);
        assert_eq!(f[0].name, "epoll_create1");
        assert_eq!(f[0].errno, "ENOSYS");
        assert_eq!(f[1].args[0], "AF_UNIX");
        assert_eq!(f[2].args[2], "\"devpts\"");
        assert_eq!(f[3].name, "setgroups");
    }

    #[test]
    fn lspci_forms() {
        let t = "00:03.0 0200: 8086:100e (rev 03)\n\
                 00:1f.2 SATA controller [0106]: Intel Corporation 82801IR/IO/IH (ICH9R/DO/DH) 6 port SATA Controller [AHCI mode] [8086:2922] (rev 02) (prog-if 01 [AHCI 1.0])\n\
                 class SCSI controller, addr 00:03.0, pci id 1af4:1001 (sub 1af4:0002)\n";
        let d = parse_lspci(t);
        assert_eq!(d.len(), 3);
        assert_eq!(
            (d[0].vendor, d[0].device, d[0].class),
            (0x8086, 0x100e, Some(0x0200))
        );
        assert_eq!(d[1].class, Some(0x010601));
        assert_eq!(d[1].device, 0x2922);
        assert_eq!(d[2].subdevice, Some(2));
    }

    #[test]
    fn probes_and_questions() {
        let p = parse_probes("[ 1.0] KTAILOR-PROBE {\"probe\":\"epoll\",\"status\":\"fail\",\"errno\":\"ENOSYS\"}\nKTAILOR-PROBE {\"probe\":\"console\",\"ok\":true}\nKTAILOR-PROBE {broken\n");
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].errno.as_deref(), Some("ENOSYS"));
        assert_eq!(
            Question::parse("pci 1b36:0010:010802"),
            Some(Question::Pci {
                vendor: 0x1b36,
                device: 0x10,
                class: Some(0x010802)
            })
        );
        assert_eq!(
            Question::parse("af AF_UNIX"),
            Some(Question::Family("AF_UNIX".into()))
        );
        assert_eq!(Question::parse("pci zz"), None);
    }

    #[test]
    fn init_kind() {
        assert_eq!(InitKind::detect(b"#!/bin/sh\n"), Some(InitKind::Script));
        assert_eq!(InitKind::detect(b"\x7fELF\x02\x01"), Some(InitKind::Elf64));
        assert_eq!(InitKind::detect(b"\x7fELF\x01\x01"), Some(InitKind::Elf32));
        assert_eq!(InitKind::detect(b""), None);
    }
}
