//! Reading a kernel's console: panics and the moment init starts.

use std::time::Duration;

pub(crate) const PANIC: &str = "Kernel panic - not syncing";
/// The kernel prints this after the panic backtrace; after it nothing more
/// comes, so there is no point waiting for more lines.
pub(crate) const PANIC_END: &str = "---[ end Kernel panic";
pub(crate) const PROBE: &str = "KTAILOR-PROBE";

/// A console line without terminal control: SeaBIOS clears the screen
/// (`ESC c ESC [2J`) right before the kernel's first line, and a callback
/// matching `line.starts_with("Linux version")` should not have to know.
/// The serial log keeps the raw bytes.
pub(crate) fn strip_control(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // CSI is ESC [, parameters, then one final byte in @..~; other
            // escapes (ESC c: reset) are two bytes.
            if chars.next() == Some('[') {
                for n in chars.by_ref() {
                    if ('@'..='~').contains(&n) {
                        break;
                    }
                }
            }
        } else if c == '\t' || !c.is_control() {
            out.push(c);
        }
    }
    out
}

/// Splits `[    0.512345] message` into the printk timestamp and the
/// message; lines without one (no `printk.time=1`, or userspace output) give
/// `None`.
pub(crate) fn printk_time(line: &str) -> Option<(Duration, &str)> {
    let rest = line.strip_prefix('[')?;
    let (stamp, msg) = rest.split_once(']')?;
    let (secs, micros) = stamp.trim().split_once('.')?;
    if secs.is_empty()
        || micros.is_empty()
        || micros.len() > 9
        || !secs.bytes().all(|b| b.is_ascii_digit())
        || !micros.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let secs: u64 = secs.parse().ok()?;
    let frac: u64 = micros.parse().ok()?;
    let nanos = frac * 10u64.pow(9 - micros.len() as u32);
    Some((
        Duration::from_secs(secs) + Duration::from_nanos(nanos),
        msg.strip_prefix(' ').unwrap_or(msg),
    ))
}

/// The program in `Run /init as init process`, which the kernel prints
/// right before it executes init.
pub(crate) fn init_run(msg: &str) -> Option<&str> {
    let rest = msg.trim().strip_prefix("Run ")?;
    let path = rest.strip_suffix(" as init process")?;
    (!path.is_empty()).then_some(path)
}

/// The panic reason in `Kernel panic - not syncing: VFS: Unable to mount ...`.
pub(crate) fn panic_message(line: &str) -> Option<String> {
    let at = line.find(PANIC)?;
    let rest = line[at + PANIC.len()..].trim_start_matches(':').trim();
    Some(rest.to_string())
}

/// How long the boot took to reach init, in both clocks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BootTime {
    /// The init program the kernel started (`/init`, `/sbin/init`), when it
    /// said so.
    pub init: Option<String>,
    /// The printk timestamp of `Run <init> as init process`: the kernel's own
    /// clock, unaffected by a slow host, but only there with printk
    /// timestamps (`CONFIG_PRINTK_TIME` or `printk.time=1`).
    pub kernel: Option<Duration>,
    /// Host wall clock from QEMU's start to init's first output (the first
    /// untimestamped line after `Run ...`) or the first `KTAILOR-PROBE`
    /// line; includes firmware and TCG slowness.
    pub host: Option<Duration>,
}

#[derive(Default)]
pub(crate) struct BootTracker {
    time: BootTime,
    saw_run: bool,
}

impl BootTracker {
    pub(crate) fn line(&mut self, line: &str, since_start: Duration) {
        if self.time.host.is_some() {
            return;
        }
        let (stamp, msg) = match printk_time(line) {
            Some((t, m)) => (Some(t), m),
            None => (None, line),
        };
        // The kernel tries /sbin/init, /etc/init, ... in turn and prints
        // each; the last one before init's own output is the one that ran.
        if let Some(init) = init_run(msg) {
            self.saw_run = true;
            self.time.init = Some(init.to_string());
            self.time.kernel = stamp;
            return;
        }
        let from_init = self.saw_run && stamp.is_none() && !line.trim().is_empty();
        if line.contains(PROBE) || from_init {
            self.time.host = Some(since_start);
        }
    }

    /// Whether init showed any sign of running: printed, or probed.
    pub(crate) fn init_spoke(&self) -> bool {
        self.time.host.is_some()
    }

    pub(crate) fn result(&self) -> Option<BootTime> {
        (self.time.init.is_some() || self.time.host.is_some()).then(|| self.time.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_control_is_removed() {
        assert_eq!(
            strip_control("\x1bc\x1b[?7l\x1b[2JLinux version 6.12\r"),
            "Linux version 6.12"
        );
        assert_eq!(strip_control("a\tb\x08c"), "a\tbc");
        assert_eq!(strip_control("tail\x1b"), "tail");
        assert_eq!(strip_control("\x1b[31"), "");
    }

    #[test]
    fn timestamps() {
        assert_eq!(
            printk_time("[    0.512345] Run /init as init process"),
            Some((Duration::from_micros(512_345), "Run /init as init process"))
        );
        assert_eq!(
            printk_time("[12345.000001] x"),
            Some((Duration::from_secs(12345) + Duration::from_micros(1), "x"))
        );
        assert_eq!(printk_time("[ ok ] Starting"), None);
        assert_eq!(printk_time("no stamp"), None);
        assert_eq!(printk_time("[1.2.3] x"), None);
        assert_eq!(printk_time("[.5] x"), None);
        assert_eq!(printk_time("[99999999999999999999999.5] x"), None);
    }

    #[test]
    fn init_lines() {
        assert_eq!(init_run("Run /init as init process"), Some("/init"));
        assert_eq!(
            init_run("Run /sbin/init as init process"),
            Some("/sbin/init")
        );
        assert_eq!(init_run("Run  as init process"), None);
        assert_eq!(init_run("Running tests"), None);
    }

    #[test]
    fn panic_lines() {
        assert_eq!(
            panic_message("[    1.0] Kernel panic - not syncing: No working init found.  Try passing init= option to kernel. See Linux Documentation/admin-guide/init.rst for guidance.").as_deref(),
            Some("No working init found.  Try passing init= option to kernel. See Linux Documentation/admin-guide/init.rst for guidance.")
        );
        assert_eq!(panic_message("all good"), None);
    }

    #[test]
    fn boot_time_from_timestamps_and_first_init_output() {
        let mut b = BootTracker::default();
        b.line(
            "[    0.100000] Freeing unused kernel memory",
            Duration::from_secs(1),
        );
        b.line(
            "[    0.512345] Run /init as init process",
            Duration::from_secs(2),
        );
        b.line(
            "[    0.512400] some late kernel line",
            Duration::from_secs(3),
        );
        b.line("hello from init", Duration::from_secs(4));
        b.line("KTAILOR-PROBE later", Duration::from_secs(5));
        assert_eq!(
            b.result(),
            Some(BootTime {
                init: Some("/init".into()),
                kernel: Some(Duration::from_micros(512_345)),
                host: Some(Duration::from_secs(4)),
            })
        );
    }

    #[test]
    fn boot_time_without_timestamps_falls_back_to_the_host_clock() {
        let mut b = BootTracker::default();
        b.line("Run /init as init process", Duration::from_secs(2));
        b.line("", Duration::from_secs(3));
        b.line("init says hi", Duration::from_secs(4));
        let t = b.result().unwrap();
        assert_eq!(t.kernel, None);
        assert_eq!(t.host, Some(Duration::from_secs(4)));

        let mut quiet = BootTracker::default();
        quiet.line(
            "KTAILOR-PROBE-LISTENING {\"port\":22}",
            Duration::from_secs(7),
        );
        let t = quiet.result().unwrap();
        assert_eq!((t.init, t.host), (None, Some(Duration::from_secs(7))));

        assert_eq!(BootTracker::default().result(), None);

        let mut tries = BootTracker::default();
        tries.line(
            "[    1.0] Run /sbin/init as init process",
            Duration::from_secs(1),
        );
        tries.line(
            "[    1.5] Run /bin/sh as init process",
            Duration::from_secs(2),
        );
        let t = tries.result().unwrap();
        assert_eq!(t.init.as_deref(), Some("/bin/sh"));
        assert_eq!(t.kernel, Some(Duration::from_millis(1500)));
        assert!(!tries.init_spoke());
    }
}
