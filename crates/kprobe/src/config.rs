//! Configuration from the environment.
//!
//! The kernel hands every `key=value` boot parameter it does not know (and
//! whose key has no dot) to init as an environment variable, so the host
//! steers the probe through the kernel command line: `KTPROBES=epoll,nic`.
//! Bad values never stop the program; they turn into failures of the probes
//! that needed them.

use std::fmt;
use std::time::Duration;

/// Every probe, in the order they run: init's mounts (which later probes
/// need), cheap syscall checks, devices, then the network, and the TCP
/// listener (which waits for the host) very last. The names are the
/// vocabulary of `data/probes.toml`.
pub const ALL_PROBES: &[&str] = &[
    // init's own world
    "console",
    "initramfs",
    "procfs",
    "sysfs",
    "devtmpfs",
    "devpts",
    "tmpfs",
    "cgroup2",
    "elf64",
    "script",
    "sysctl",
    // system calls
    "epoll",
    "signalfd",
    "timerfd",
    "eventfd",
    "inotify",
    "futex",
    "flock",
    "posix-timers",
    "setgroups",
    "memfd",
    "seccomp",
    "fhandle",
    "unix-socket",
    "inet-socket",
    "inet6-socket",
    "packet-socket",
    "netlink",
    "namespaces",
    "netns",
    "openpty",
    "filesystems",
    // firmware and devices
    "efi",
    "ext4-mount",
    "block-devices",
    "pci",
    // the network, the listener last because it waits for the host
    "nic",
    "loopback",
    "link-up",
    "static-ip",
    "tcp-listen",
];

/// An IPv4 address with prefix length (`10.0.2.15/24`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Cidr {
    pub addr: [u8; 4],
    pub prefix: u8,
}

impl Ipv4Cidr {
    pub fn netmask(&self) -> [u8; 4] {
        let bits: u32 = if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix))
        };
        bits.to_be_bytes()
    }

    /// Parses `a.b.c.d/n`; a bare address means `/24`, QEMU's user network.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, p),
            None => (s, "24"),
        };
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= 32)
            .ok_or_else(|| format!("bad prefix length in {s:?}"))?;
        let parts: Vec<&str> = addr.split('.').collect();
        if parts.len() != 4 {
            return Err(format!("bad IPv4 address {s:?}"));
        }
        let mut out = [0u8; 4];
        for (o, p) in out.iter_mut().zip(&parts) {
            // Reject "+1", "01x" and the like that u8::from_str would refuse
            // anyway, but also empty parts, which it refuses too.
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("bad IPv4 address {s:?}"));
            }
            *o = p.parse().map_err(|_| format!("bad IPv4 address {s:?}"))?;
        }
        Ok(Self { addr: out, prefix })
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d] = self.addr;
        write!(f, "{a}.{b}.{c}.{d}/{}", self.prefix)
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    /// Requested known probes, in run order.
    pub probes: Vec<&'static str>,
    /// Requested names that are not probes (reported as failures).
    pub unknown: Vec<String>,
    pub disk: Option<String>,
    pub ip: Result<Ipv4Cidr, String>,
    pub port: Result<u16, String>,
    pub filesystems: Vec<String>,
    pub nic: String,
    pub poweroff: bool,
    /// The `#!` script the `script` probe executes.
    pub script: String,
    /// How long `tcp-listen` waits for the host to connect.
    pub listen_timeout: Duration,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Self {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Builds a configuration from any key lookup (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        let nonempty = |k: &str| {
            get(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let (probes, unknown) = select_probes(nonempty("KTPROBES").as_deref().unwrap_or("all"));
        let ip = match nonempty("KTIP") {
            Some(v) => Ipv4Cidr::parse(&v).map_err(|e| format!("KTIP: {e}")),
            None => Ok(Ipv4Cidr {
                addr: [10, 0, 2, 15],
                prefix: 24,
            }),
        };
        let port = match nonempty("KTPORT") {
            Some(v) => v
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("KTPORT: bad port {v:?}")),
            None => Ok(22),
        };
        let listen_timeout = nonempty("KTTIMEOUT")
            .and_then(|v| v.parse::<u64>().ok())
            .map(Duration::from_secs)
            .unwrap_or(Duration::from_secs(30));
        Config {
            probes,
            unknown,
            disk: nonempty("KTDISK"),
            ip,
            port,
            filesystems: split_list(nonempty("KTFS").as_deref().unwrap_or("")),
            nic: nonempty("KTNIC").unwrap_or_else(|| "eth0".into()),
            poweroff: nonempty("KTPOWEROFF").is_some_and(|v| v != "0"),
            script: nonempty("KTSCRIPT").unwrap_or_else(|| "/ktailor-script".into()),
            listen_timeout,
        }
    }

    pub fn wants(&self, probe: &str) -> bool {
        self.probes.contains(&probe)
    }
}

fn split_list(s: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        if !out.iter().any(|o| o == item) {
            out.push(item.to_string());
        }
    }
    out
}

/// Splits `KTPROBES` into known probes (in run order, each once) and
/// unknown names (in request order, each once).
pub fn select_probes(spec: &str) -> (Vec<&'static str>, Vec<String>) {
    let items = split_list(spec);
    if items.iter().any(|i| i == "all") {
        let unknown = items
            .into_iter()
            .filter(|i| i != "all" && !ALL_PROBES.contains(&i.as_str()))
            .collect();
        return (ALL_PROBES.to_vec(), unknown);
    }
    let probes = ALL_PROBES
        .iter()
        .copied()
        .filter(|p| items.iter().any(|i| i == p))
        .collect();
    let unknown = items
        .into_iter()
        .filter(|i| !ALL_PROBES.contains(&i.as_str()))
        .collect();
    (probes, unknown)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn cfg(pairs: &[(&str, &str)]) -> Config {
        let m: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| m.get(k).cloned())
    }

    #[test]
    fn defaults() {
        let c = cfg(&[]);
        assert_eq!(c.probes, ALL_PROBES);
        assert!(c.unknown.is_empty());
        assert_eq!(c.ip.unwrap().to_string(), "10.0.2.15/24");
        assert_eq!(c.port, Ok(22));
        assert_eq!(c.nic, "eth0");
        assert!(c.disk.is_none());
        assert!(c.filesystems.is_empty());
        assert!(!c.poweroff);
        assert_eq!(c.script, "/ktailor-script");
        assert_eq!(c.listen_timeout, Duration::from_secs(30));
    }

    #[test]
    fn probe_selection_runs_in_canonical_order_once() {
        let c = cfg(&[("KTPROBES", "tcp-listen, epoll,console,epoll,bogus,,bogus")]);
        assert_eq!(c.probes, ["console", "epoll", "tcp-listen"]);
        assert_eq!(c.unknown, ["bogus"]);
        let c = cfg(&[("KTPROBES", "all,nope")]);
        assert_eq!(c.probes.len(), ALL_PROBES.len());
        assert_eq!(c.unknown, ["nope"]);
    }

    #[test]
    fn ktip_parsing() {
        let ip = Ipv4Cidr::parse("192.168.1.7/16").unwrap();
        assert_eq!(ip.addr, [192, 168, 1, 7]);
        assert_eq!(ip.netmask(), [255, 255, 0, 0]);
        assert_eq!(Ipv4Cidr::parse("10.0.2.15").unwrap().prefix, 24);
        assert_eq!(Ipv4Cidr::parse("1.2.3.4/0").unwrap().netmask(), [0; 4]);
        assert_eq!(Ipv4Cidr::parse("1.2.3.4/32").unwrap().netmask(), [255; 4]);
        assert_eq!(
            Ipv4Cidr::parse("1.2.3.4/25").unwrap().netmask(),
            [255, 255, 255, 128]
        );
        for bad in [
            "",
            "1.2.3",
            "1.2.3.4.5",
            "256.1.1.1",
            "1.2.3.4/33",
            "a.b.c.d",
            "1.2.3.+4",
            "1..3.4",
            "1.2.3.4/x",
        ] {
            assert!(Ipv4Cidr::parse(bad).is_err(), "{bad:?} should not parse");
        }
        let c = cfg(&[("KTIP", "nonsense")]);
        assert!(c.ip.unwrap_err().starts_with("KTIP:"));
    }

    #[test]
    fn port_fs_and_flags() {
        assert_eq!(cfg(&[("KTPORT", "2222")]).port, Ok(2222));
        assert!(cfg(&[("KTPORT", "0")]).port.is_err());
        assert!(cfg(&[("KTPORT", "70000")]).port.is_err());
        let c = cfg(&[
            ("KTFS", "ext4, proc,,ext4"),
            ("KTPOWEROFF", "1"),
            ("KTNIC", "enp0s3"),
            ("KTDISK", "/dev/vda"),
        ]);
        assert_eq!(c.filesystems, ["ext4", "proc"]);
        assert!(c.poweroff);
        assert_eq!(c.nic, "enp0s3");
        assert_eq!(c.disk.as_deref(), Some("/dev/vda"));
        assert!(!cfg(&[("KTPOWEROFF", "0")]).poweroff);
        assert!(!cfg(&[("KTPOWEROFF", "")]).poweroff);
    }
}
