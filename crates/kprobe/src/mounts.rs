//! The pseudo file systems init mounts, each of which is itself a probe.
//!
//! In a guest (PID 1, or an initramfs under busybox) we mount what is not
//! there yet; on a host we only report what is already mounted, because
//! mounting devtmpfs over a developer's /dev is not a test.

use std::path::Path;

use crate::output::Outcome;
use crate::probes::Ctx;
use crate::sys::{check_int, cstring, SysError};

pub struct MountSpec {
    pub probe: &'static str,
    pub source: &'static str,
    pub target: &'static str,
    pub fstype: &'static str,
    pub flags: libc::c_ulong,
    pub data: &'static str,
    /// Paths that must exist once it is mounted (from data/probes.toml).
    pub verify: &'static [&'static str],
    /// The Kconfig option a failure most likely points at.
    pub hint: &'static str,
}

/// In mount order: later ones live inside earlier ones.
pub const MOUNTS: &[MountSpec] = &[
    MountSpec {
        probe: "procfs",
        source: "proc",
        target: "/proc",
        fstype: "proc",
        flags: libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        data: "",
        verify: &["/proc/self"],
        hint: "PROC_FS?",
    },
    MountSpec {
        probe: "sysfs",
        source: "sysfs",
        target: "/sys",
        fstype: "sysfs",
        flags: libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        data: "",
        verify: &["/sys/kernel"],
        hint: "SYSFS?",
    },
    MountSpec {
        probe: "devtmpfs",
        source: "devtmpfs",
        target: "/dev",
        fstype: "devtmpfs",
        flags: libc::MS_NOSUID,
        data: "mode=0755",
        verify: &["/dev/null", "/dev/console"],
        hint: "DEVTMPFS?",
    },
    MountSpec {
        probe: "devpts",
        source: "devpts",
        target: "/dev/pts",
        fstype: "devpts",
        flags: libc::MS_NOSUID | libc::MS_NOEXEC,
        data: "mode=0620,ptmxmode=0666",
        verify: &[],
        hint: "UNIX98_PTYS?",
    },
    MountSpec {
        probe: "tmpfs",
        source: "tmpfs",
        target: "/tmp",
        fstype: "tmpfs",
        flags: libc::MS_NOSUID | libc::MS_NODEV,
        data: "mode=1777",
        verify: &[],
        hint: "TMPFS? (without it, tmpfs falls back to ramfs only as rootfs)",
    },
    MountSpec {
        probe: "cgroup2",
        source: "cgroup2",
        target: "/sys/fs/cgroup",
        fstype: "cgroup2",
        flags: libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        data: "",
        verify: &["/sys/fs/cgroup/cgroup.procs"],
        hint: "CGROUPS?",
    },
];

/// The (mount point, fstype) pairs of `/proc/self/mountinfo`, in order.
pub fn parse_mountinfo(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let target = pre.split(' ').nth(4)?;
            let fstype = post.split(' ').next()?;
            Some((unescape(target), fstype.to_string()))
        })
        .collect()
}

/// Undoes the kernel's octal escapes (`\040` for a space) in
/// /proc/self/mountinfo fields. Public because the host side (krootfs)
/// reads mountinfo too, and one copy of the rule is enough.
pub fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') as u32 * 64
                + (b[i + 2] - b'0') as u32 * 8
                + (b[i + 3] - b'0') as u32;
            out.push(v as u8);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The fstype on top at `target`, if mountinfo can be read and lists it.
fn mounted_type(target: &str) -> Option<String> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    parse_mountinfo(&text)
        .into_iter()
        .rev()
        .find(|(t, _)| t == target)
        .map(|(_, f)| f)
}

fn verify(spec: &MountSpec, what: String) -> Outcome {
    let missing: Vec<&str> = spec
        .verify
        .iter()
        .copied()
        .filter(|p| !Path::new(p).exists())
        .collect();
    if missing.is_empty() {
        let also = if spec.verify.is_empty() {
            String::new()
        } else {
            format!("; {} present", spec.verify.join(" and "))
        };
        Outcome::pass(format!("{what}{also}"))
    } else {
        Outcome::fail(format!("{what}, but {} missing", missing.join(" and ")))
    }
}

pub fn mount_probe(spec: &MountSpec, ctx: &Ctx) -> Outcome {
    match mounted_type(spec.target) {
        Some(t) if t == spec.fstype => {
            return verify(
                spec,
                format!("{} already mounted on {}", spec.fstype, spec.target),
            )
        }
        Some(t) if !ctx.guest => {
            return Outcome::skip(format!(
                "not in a guest ({}): {} is {t}, not {}; did not mount",
                ctx.where_, spec.target, spec.fstype
            ))
        }
        _ => {}
    }
    if !ctx.guest {
        return Outcome::skip(format!(
            "not in a guest ({}): {} is not on {}; did not mount",
            ctx.where_, spec.fstype, spec.target
        ));
    }
    let _ = std::fs::create_dir_all(spec.target);
    match mount(spec) {
        Ok(()) => verify(spec, format!("mounted {} on {}", spec.fstype, spec.target)),
        Err(e) => {
            let hint = if e.errno == libc::ENODEV {
                format!("{} not in kernel: {}", spec.fstype, spec.hint)
            } else {
                spec.hint.to_string()
            };
            Outcome::sys(&e, &hint)
        }
    }
}

fn mount(spec: &MountSpec) -> Result<(), SysError> {
    let call = format!("mount -t {} {} {}", spec.fstype, spec.source, spec.target);
    let src = cstring(&call, spec.source)?;
    let tgt = cstring(&call, spec.target)?;
    let ty = cstring(&call, spec.fstype)?;
    let data = cstring(&call, spec.data)?;
    let data_ptr = if spec.data.is_empty() {
        std::ptr::null()
    } else {
        data.as_ptr().cast()
    };
    // SAFETY: all pointers are valid NUL-terminated strings or null.
    let r = unsafe {
        libc::mount(
            src.as_ptr(),
            tgt.as_ptr(),
            ty.as_ptr(),
            spec.flags,
            data_ptr,
        )
    };
    check_int(&call, r).map(|_| ())
}

/// When the kernel could not open /dev/console for init (no node in the
/// initramfs), std points fds 0-2 at /dev/null or leaves them closed; once
/// devtmpfs provides a console, use it so the rest of the output is seen.
pub fn reopen_console_if_lost() {
    // SAFETY: fstat on fd 1 with a valid out-pointer.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::fstat(1, &mut st) } == 0;
    let is_null =
        ok && (st.st_mode & libc::S_IFMT) == libc::S_IFCHR && st.st_rdev == libc::makedev(1, 3);
    if ok && !is_null {
        return;
    }
    // SAFETY: open/dup2/close on descriptors we own.
    unsafe {
        let fd = libc::open(c"/dev/console".as_ptr(), libc::O_RDWR | libc::O_NOCTTY);
        if fd < 0 {
            return;
        }
        for target in 0..3 {
            libc::dup2(fd, target);
        }
        if fd > 2 {
            libc::close(fd);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_lines() {
        let t = "22 1 0:21 / /proc rw,nosuid - proc proc rw\n\
                 23 1 0:22 / /sys rw - sysfs sysfs rw\n\
                 24 1 8:1 / /mnt/with\\040space rw shared:1 - ext4 /dev/sda1 rw\n\
                 garbage line\n";
        let m = parse_mountinfo(t);
        assert_eq!(
            m,
            [
                ("/proc".to_string(), "proc".to_string()),
                ("/sys".to_string(), "sysfs".to_string()),
                ("/mnt/with space".to_string(), "ext4".to_string()),
            ]
        );
    }

    #[test]
    fn unescape_edges() {
        assert_eq!(unescape("a\\040b"), "a b");
        assert_eq!(unescape("tail\\04"), "tail\\04");
        assert_eq!(unescape("\\"), "\\");
        assert_eq!(unescape("\\999"), "\\999");
    }

    #[test]
    fn every_mount_is_a_known_probe() {
        for m in MOUNTS {
            assert!(crate::config::ALL_PROBES.contains(&m.probe), "{}", m.probe);
        }
    }
}
