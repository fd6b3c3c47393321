//! Everything krootfs puts into a tree after mmdebstrap installed the
//! packages: one customize hook script plus the files it installs. The texts
//! live in `crates/krootfs/assets/` and are compiled in here; all of them
//! feed [`crate::cache_key`], so editing any of them rebuilds the rootfs.

/// The mmdebstrap customize hook, run on the host as
/// `bash customize.sh ROOT INIT STAGE` (see the script's header).
pub const CUSTOMIZE_SH: &str = include_str!("../assets/customize.sh");

/// The first-boot IMDS step, installed as `/usr/local/sbin/ktailor-imds`.
pub const IMDS_SCRIPT: &str = include_str!("../assets/ktailor-imds");

/// LSB init script running [`IMDS_SCRIPT`] (sysvinit trees),
/// `/etc/init.d/ktailor-imds`.
pub const IMDS_INIT: &str = include_str!("../assets/ktailor-imds.init");

/// systemd unit running [`IMDS_SCRIPT`] (systemd trees),
/// `/etc/systemd/system/ktailor-imds.service`.
pub const IMDS_UNIT: &str = include_str!("../assets/ktailor-imds.service");

/// The hook directory's files: name, text, mode. `customize.sh` finds the
/// others next to itself (its STAGE argument).
pub const FILES: &[(&str, &str, u32)] = &[
    ("customize.sh", CUSTOMIZE_SH, 0o755),
    ("ktailor-imds", IMDS_SCRIPT, 0o755),
    ("ktailor-imds.init", IMDS_INIT, 0o755),
    ("ktailor-imds.service", IMDS_UNIT, 0o644),
];

/// Packages installed on top of minbase for a sysvinit tree.
///
/// - `sysvinit-core`: the init (minbase has no init, so nothing conflicts;
///   systemd-sysv is never pulled in).
/// - `udev`: device nodes, module loading, predictable NIC names.
/// - `openssh-server`, `sudo`: the admin login.
/// - `ifupdown`, `isc-dhcp-client`: DHCP on the first NIC.
/// - `cron`, `rsyslog`, `orphan-sysvinit-scripts` (bookworm's rsyslog ships
///   no init script; this package carries it).
/// - `elogind`, `libpam-elogind`: logind sessions without systemd (sshd
///   recommends a logind).
/// - `iproute2`, `procps`, `strace`: looking around in the guest.
pub const SYSVINIT_PACKAGES: &[&str] = &[
    "cron",
    "elogind",
    "ifupdown",
    "iproute2",
    "isc-dhcp-client",
    "libpam-elogind",
    "openssh-server",
    "orphan-sysvinit-scripts",
    "procps",
    "rsyslog",
    "strace",
    "sudo",
    "sysvinit-core",
    "udev",
];

/// Packages installed on top of minbase for a systemd tree.
///
/// - `systemd-sysv`: the init; `systemd` carries systemd-networkd.
/// - `udev`: not pulled in by systemd, but without it no `.device` unit
///   ever appears, so `serial-getty@ttyS0` (BindsTo=dev-ttyS0.device) never
///   starts and networkd waits forever for links to be initialized.
/// - `dbus`, `libpam-systemd`: systemd-logind needs the system bus;
///   sshd's sessions register through pam_systemd.
/// - `openssh-server`, `sudo`, `iproute2`, `procps`, `strace` as for
///   sysvinit.
pub const SYSTEMD_PACKAGES: &[&str] = &[
    "dbus",
    "iproute2",
    "libpam-systemd",
    "openssh-server",
    "procps",
    "strace",
    "sudo",
    "systemd-sysv",
    "udev",
];
