//! The probes themselves. Each one returns an [`Outcome`]; none may abort
//! the program, because a missing feature is exactly the data we want.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::net;
use crate::output::{self, Outcome};
use crate::sys::{self, check, check_int, close, cstring, SysError};

/// What the probes need to know about where they run.
pub struct Ctx {
    pub cfg: Config,
    pub pid: i32,
    /// PID 1, or inside an initramfs under another init: a machine of our
    /// own that we may mount on and reconfigure. Everywhere else (a
    /// developer's host, CI) the probes only look.
    pub guest: bool,
    /// Where we run (`pid 1, / is ramfs`), for details.
    pub where_: String,
    /// How to re-execute ourselves when /proc/self/exe is unavailable.
    pub argv0: String,
}

impl Ctx {
    fn not_guest(&self, what: &str) -> Outcome {
        Outcome::skip(format!("not in a guest ({}): {what}", self.where_))
    }
}

pub fn run(name: &str, ctx: &Ctx) -> Outcome {
    match name {
        "console" => Outcome::pass("this line reached the console"),
        "initramfs" => initramfs(ctx),
        "elf64" => elf64(ctx),
        "script" => script(ctx),
        "epoll" => fd_syscall("epoll_create1", "EPOLL?", || unsafe {
            libc::syscall(libc::SYS_epoll_create1, libc::EPOLL_CLOEXEC)
        }),
        "signalfd" => fd_syscall("signalfd4", "SIGNALFD?", || {
            let mask: u64 = 1 << (libc::SIGHUP - 1);
            // SAFETY: the mask outlives the call; size is the kernel's 8.
            unsafe {
                libc::syscall(
                    libc::SYS_signalfd4,
                    -1,
                    &mask as *const u64,
                    8usize,
                    libc::SFD_CLOEXEC | libc::SFD_NONBLOCK,
                )
            }
        }),
        "timerfd" => fd_syscall("timerfd_create", "TIMERFD?", || unsafe {
            libc::syscall(
                libc::SYS_timerfd_create,
                libc::CLOCK_MONOTONIC,
                libc::TFD_CLOEXEC | libc::TFD_NONBLOCK,
            )
        }),
        "eventfd" => fd_syscall("eventfd2", "EVENTFD?", || unsafe {
            libc::syscall(libc::SYS_eventfd2, 0, libc::EFD_CLOEXEC)
        }),
        "inotify" => fd_syscall("inotify_init1", "INOTIFY_USER?", || unsafe {
            libc::syscall(libc::SYS_inotify_init1, libc::IN_CLOEXEC)
        }),
        "memfd" => fd_syscall("memfd_create", "MEMFD_CREATE (needs TMPFS)?", || unsafe {
            libc::syscall(
                libc::SYS_memfd_create,
                c"ktailor".as_ptr(),
                libc::MFD_CLOEXEC,
            )
        }),
        "futex" => futex(),
        "flock" => flock(),
        "posix-timers" => posix_timers(),
        "setgroups" => setgroups(),
        "seccomp" => seccomp(),
        "fhandle" => fhandle(),
        "unix-socket" => unix_socket(),
        "inet-socket" => socket_probe("AF_INET", libc::AF_INET, libc::SOCK_STREAM, 0, "INET?"),
        "inet6-socket" => socket_probe("AF_INET6", libc::AF_INET6, libc::SOCK_STREAM, 0, "IPV6?"),
        "packet-socket" => socket_probe(
            "AF_PACKET",
            libc::AF_PACKET,
            libc::SOCK_RAW,
            i32::from((libc::ETH_P_ALL as u16).to_be()),
            "PACKET?",
        ),
        "netlink" => socket_probe(
            "AF_NETLINK",
            libc::AF_NETLINK,
            libc::SOCK_RAW,
            libc::NETLINK_ROUTE,
            "NET?",
        ),
        "namespaces" => namespaces(),
        "netns" => netns(),
        "sysctl" => sysctl(),
        "efi" => efi(),
        "openpty" => openpty(),
        "filesystems" => filesystems(ctx),
        "ext4-mount" => ext4_mount(ctx),
        "block-devices" => block_devices(ctx),
        "pci" => pci(),
        "nic" => nic(ctx),
        "loopback" => loopback(ctx),
        "link-up" => link_up(ctx),
        "static-ip" => static_ip(ctx),
        "tcp-listen" => tcp_listen(ctx),
        // Mount probes are run by `mounts::mount_probe`; reaching here means
        // a name was added to ALL_PROBES without code.
        other => Outcome::fail(format!("probe {other:?} has no implementation")),
    }
}

/// A syscall that returns a new descriptor on success.
fn fd_syscall(call: &str, hint: &str, f: impl FnOnce() -> libc::c_long) -> Outcome {
    match check(call, f()) {
        Ok(fd) => {
            close(fd);
            Outcome::pass(format!("{call} returned fd {fd}"))
        }
        Err(e) => Outcome::sys(&e, hint),
    }
}

fn initramfs(ctx: &Ctx) -> Outcome {
    let root = match sys::fs_magic("/") {
        Ok(m) => m,
        Err(e) => return e.into(),
    };
    let name = sys::magic_name(root);
    let initramfs = matches!(root, sys::RAMFS_MAGIC | sys::TMPFS_MAGIC);
    match (ctx.pid == 1, initramfs) {
        (true, true) => Outcome::pass(format!("running as pid 1; / is {name}")),
        (false, true) => Outcome::pass(format!(
            "running as pid {} under another init; / is {name}",
            ctx.pid
        )),
        (true, false) => Outcome::fail(format!("pid 1, but / is {name}, not an initramfs")),
        (false, false) => Outcome::skip(format!("not pid 1 ({}); / is {name}", ctx.pid)),
    }
}

/// Our own executable: /proc/self/exe when procfs is there, else argv[0]
/// (the kernel runs init as "/init", an absolute path).
fn self_exe(ctx: &Ctx) -> String {
    if Path::new("/proc/self/exe").exists() {
        "/proc/self/exe".into()
    } else {
        ctx.argv0.clone()
    }
}

fn child_exit(path: &str, args: &[&str], expect: i32, what: &str, hint: &str) -> Outcome {
    match Command::new(path).args(args).status() {
        Ok(st) if st.code() == Some(expect) => {
            Outcome::pass(format!("fork+execve {what} {path}: child exited {expect}"))
        }
        Ok(st) => Outcome::fail(format!(
            "{what} {path}: child ended with {st}, expected exit {expect}"
        )),
        Err(e) => Outcome::sys(
            &SysError::from_io(format!("execve {path}"), &e),
            exec_hint(e.raw_os_error(), hint),
        ),
    }
}

/// What an execve failure points at. Only ENOEXEC means "no binfmt handler"
/// (the seed's error -8); EACCES is the file's mode or a noexec mount, and
/// ENOENT on an existing file is a missing `#!` interpreter or ELF loader.
fn exec_hint(errno: Option<i32>, binfmt: &str) -> &str {
    match errno {
        Some(libc::EACCES) => "not executable: check the file's mode (and noexec mounts)",
        Some(libc::ENOENT) => "the file, its #! interpreter or its ELF loader is missing",
        _ => binfmt,
    }
}

fn elf64(ctx: &Ctx) -> Outcome {
    let exe = self_exe(ctx);
    child_exit(&exe, &["--elf-child"], 43, "ELF", "BINFMT_ELF?")
}

fn script(ctx: &Ctx) -> Outcome {
    let path = &ctx.cfg.script;
    if !Path::new(path).exists() {
        return Outcome::skip(format!("no {path} to execute"));
    }
    child_exit(path, &[], 42, "script", "BINFMT_SCRIPT?")
}

fn futex() -> Outcome {
    let word: u32 = 0;
    // SAFETY: FUTEX_WAKE only reads the address; `word` lives across the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_futex,
            &word as *const u32,
            libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
            1,
            std::ptr::null::<libc::timespec>(),
            std::ptr::null::<u32>(),
            0,
        )
    };
    match check("futex(FUTEX_WAKE_PRIVATE)", r) {
        Ok(n) => Outcome::pass(format!("futex(FUTEX_WAKE_PRIVATE) woke {n} waiters")),
        Err(e) => Outcome::sys(&e, "FUTEX?"),
    }
}

fn flock() -> Outcome {
    let dir = if Path::new("/tmp").is_dir() {
        "/tmp"
    } else {
        "/"
    };
    let path = format!(
        "{}/ktailor-flock.{}",
        dir.trim_end_matches('/'),
        sys::getpid()
    );
    let c = match cstring("open", &path) {
        Ok(c) => c,
        Err(e) => return e.into(),
    };
    // SAFETY: valid C string.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_RDWR | libc::O_CREAT | libc::O_CLOEXEC,
            0o600,
        )
    };
    if fd < 0 {
        return Outcome::skip(format!(
            "cannot create a file to lock: {}",
            SysError::last(format!("open {path}"))
        ));
    }
    // SAFETY: c is valid; the file is ours.
    unsafe { libc::unlink(c.as_ptr()) };
    let result = (|| {
        // SAFETY: fd is open.
        check_int("flock(LOCK_EX)", unsafe {
            libc::flock(fd, libc::LOCK_EX | libc::LOCK_NB)
        })?;
        // SAFETY: fd is open.
        check_int("flock(LOCK_UN)", unsafe { libc::flock(fd, libc::LOCK_UN) })?;
        // SAFETY: zeroed struct flock is valid; fields set below.
        let mut fl: libc::flock = unsafe { std::mem::zeroed() };
        fl.l_type = libc::F_WRLCK as _;
        fl.l_whence = libc::SEEK_SET as _;
        // SAFETY: fd open, fl valid.
        check_int("fcntl(F_SETLK)", unsafe {
            libc::fcntl(fd, libc::F_SETLK, &fl)
        })?;
        Ok::<_, SysError>(())
    })();
    close(fd.into());
    match result {
        Ok(()) => Outcome::pass(format!(
            "flock(LOCK_EX) and fcntl(F_SETLK) on a file in {dir}"
        )),
        Err(e) => Outcome::sys(&e, "FILE_LOCKING?"),
    }
}

fn posix_timers() -> Outcome {
    // SAFETY: zeroed sigevent is valid; SIGEV_NONE needs nothing else.
    let mut sev: libc::sigevent = unsafe { std::mem::zeroed() };
    sev.sigev_notify = libc::SIGEV_NONE;
    let mut id: libc::c_int = 0;
    // SAFETY: valid pointers for the call's duration.
    let r = unsafe {
        libc::syscall(
            libc::SYS_timer_create,
            libc::CLOCK_MONOTONIC,
            &mut sev as *mut libc::sigevent,
            &mut id as *mut libc::c_int,
        )
    };
    match check("timer_create(CLOCK_MONOTONIC)", r) {
        Ok(_) => {
            // SAFETY: deleting the timer just created.
            unsafe { libc::syscall(libc::SYS_timer_delete, id) };
            Outcome::pass(format!("timer_create(CLOCK_MONOTONIC) returned timer {id}"))
        }
        Err(e) => Outcome::sys(&e, "POSIX_TIMERS?"),
    }
}

fn setgroups() -> Outcome {
    // SAFETY: size 0 with a null list is valid.
    let r = unsafe { libc::syscall(libc::SYS_setgroups, 0, std::ptr::null::<libc::gid_t>()) };
    match check("setgroups(0, NULL)", r) {
        Ok(_) => Outcome::pass("setgroups(0, NULL) succeeded"),
        Err(e) if e.errno == libc::EPERM => Outcome::pass(format!(
            "setgroups exists (EPERM as uid {}, which needs CAP_SETGID)",
            sys::geteuid()
        )),
        Err(e) => Outcome::sys(&e, "MULTIUSER?"),
    }
}

fn seccomp() -> Outcome {
    // SAFETY: PR_GET_SECCOMP takes no pointers.
    let r = unsafe { libc::prctl(libc::PR_GET_SECCOMP, 0, 0, 0, 0) };
    match check_int("prctl(PR_GET_SECCOMP)", r) {
        Ok(mode) => Outcome::pass(format!("prctl(PR_GET_SECCOMP) says mode {mode}")),
        Err(e) => Outcome::sys(&e, "SECCOMP?"),
    }
}

fn fhandle() -> Outcome {
    #[repr(C)]
    struct FileHandle {
        handle_bytes: u32,
        handle_type: i32,
        f_handle: [u8; 128],
    }
    let mut h = FileHandle {
        handle_bytes: 128,
        handle_type: 0,
        f_handle: [0; 128],
    };
    let mut mount_id: libc::c_int = 0;
    // SAFETY: h and mount_id are valid for the call; "/" is NUL-terminated.
    let r = unsafe {
        libc::syscall(
            libc::SYS_name_to_handle_at,
            libc::AT_FDCWD,
            c"/".as_ptr(),
            &mut h as *mut FileHandle,
            &mut mount_id as *mut libc::c_int,
            0,
        )
    };
    match check("name_to_handle_at(/)", r) {
        Ok(_) => Outcome::pass(format!(
            "name_to_handle_at(/) returned a {}-byte handle",
            h.handle_bytes
        )),
        Err(e) if e.errno == libc::EOPNOTSUPP || e.errno == libc::EOVERFLOW => {
            Outcome::pass(format!(
                "name_to_handle_at exists ({} for /)",
                sys::errno_name(e.errno)
            ))
        }
        Err(e) => Outcome::sys(&e, "FHANDLE?"),
    }
}

fn unix_socket() -> Outcome {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: fds has room for two descriptors.
    let r = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    match check_int("socketpair(AF_UNIX, SOCK_STREAM)", r) {
        Ok(_) => {
            close(fds[0].into());
            close(fds[1].into());
            Outcome::pass(format!(
                "socketpair(AF_UNIX) returned fds {} and {}",
                fds[0], fds[1]
            ))
        }
        Err(e) => Outcome::sys(&e, "UNIX?"),
    }
}

fn socket_probe(fam_name: &str, fam: i32, ty: i32, proto: i32, hint: &str) -> Outcome {
    let call = format!("socket({fam_name})");
    // SAFETY: plain socket(2).
    let r = unsafe { libc::socket(fam, ty | libc::SOCK_CLOEXEC, proto) };
    match check_int(&call, r) {
        Ok(fd) => {
            close(fd.into());
            Outcome::pass(format!("{call} returned fd {fd}"))
        }
        Err(e) if e.errno == libc::EPERM || e.errno == libc::EACCES => Outcome::pass(format!(
            "{fam_name} exists ({} without CAP_NET_RAW)",
            sys::errno_name(e.errno)
        )),
        Err(e) => Outcome::sys(&e, hint),
    }
}

/// Tries each namespace type in its own short-lived child, so one
/// namespace's side effects (a new PID namespace, a user namespace that
/// drops privileges) cannot spoil the next attempt or this process.
fn namespaces() -> Outcome {
    const KINDS: &[(&str, libc::c_int)] = &[
        ("mnt", libc::CLONE_NEWNS),
        ("uts", libc::CLONE_NEWUTS),
        ("ipc", libc::CLONE_NEWIPC),
        ("pid", libc::CLONE_NEWPID),
        ("net", libc::CLONE_NEWNET),
        ("user", libc::CLONE_NEWUSER),
    ];
    let mut parts = Vec::new();
    let mut all = true;
    let mut first_errno = None;
    for &(name, flag) in KINDS {
        // SAFETY: unshare is a plain syscall, fine in a forked child.
        match in_child(|| unsafe { libc::unshare(flag) }) {
            Ok(()) => parts.push(format!("{name} ok")),
            Err(e) => {
                all = false;
                first_errno.get_or_insert(e.errno);
                parts.push(format!("{name}: {}", sys::errno_name(e.errno)));
            }
        }
    }
    let detail = format!("unshare: {}", parts.join(", "));
    if all {
        Outcome::pass(detail)
    } else {
        let mut o = Outcome::fail(format!("{detail} - NAMESPACES and the *_NS options?"));
        o.errno = first_errno.filter(|e| *e != 0);
        o
    }
}

/// Exit code a child uses for "the namespace came up, but without lo".
const NO_LO: i32 = 254;

/// A new network namespace must come with its own loopback device (index
/// 1); checked with an ioctl inside the child, which is in the new
/// namespace.
fn netns() -> Outcome {
    let r = in_child(|| {
        // SAFETY: raw syscalls only in the forked child.
        unsafe {
            if libc::unshare(libc::CLONE_NEWNET) != 0 {
                return -1;
            }
            let fd = libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            );
            if fd < 0 {
                return -1;
            }
            let mut ifr = [0u8; 40];
            ifr[..2].copy_from_slice(b"lo");
            if libc::ioctl(fd, libc::SIOCGIFINDEX as _, ifr.as_mut_ptr()) != 0 {
                return NO_LO;
            }
            let index = i32::from_ne_bytes([ifr[16], ifr[17], ifr[18], ifr[19]]);
            if index > 0 {
                0
            } else {
                NO_LO
            }
        }
    });
    match r {
        Ok(()) => Outcome::pass("unshare(CLONE_NEWNET) gave a namespace with its own lo"),
        Err(e) if e.errno == NO_LO => {
            Outcome::fail("unshare(CLONE_NEWNET) worked, but the new namespace has no lo")
        }
        Err(e) => Outcome::sys(&SysError::new("unshare(CLONE_NEWNET)", e.errno), "NET_NS?"),
    }
}

/// Runs `f` in a forked child and turns its result into ours: 0 is
/// success, -1 means "errno", anything else is that code. The child must
/// only make system calls: it shares nothing with us but a copy of memory.
fn in_child(f: impl FnOnce() -> libc::c_int) -> Result<(), SysError> {
    // SAFETY: the program is single-threaded, so the child is a complete
    // copy; it runs `f` and leaves with _exit (no atexit, no unwinding).
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(SysError::last("fork"));
    }
    if pid == 0 {
        let r = f();
        let code = if r == -1 {
            // SAFETY: reading this thread's errno.
            unsafe { *libc::__errno_location() }.clamp(1, 255)
        } else {
            r.clamp(0, 255)
        };
        // SAFETY: ends the child without running the parent's cleanups.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    loop {
        // SAFETY: waiting for our own child.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r >= 0 {
            break;
        }
        if sys::last_errno() != libc::EINTR {
            return Err(SysError::last("waitpid"));
        }
    }
    if libc::WIFEXITED(status) {
        match libc::WEXITSTATUS(status) {
            0 => Ok(()),
            e => Err(SysError::new("child", e)),
        }
    } else {
        Err(SysError::new("child (killed by a signal)", 0))
    }
}

fn procfs_mounted() -> bool {
    Path::new("/proc/self").exists()
}

fn sysctl() -> Outcome {
    if !procfs_mounted() {
        return Outcome::skip("procfs is not mounted: no /proc/sys to read");
    }
    match std::fs::read_to_string("/proc/sys/kernel/ostype") {
        Ok(s) if s.trim() == "Linux" => Outcome::pass("/proc/sys/kernel/ostype reads \"Linux\""),
        Ok(s) => Outcome::fail(format!("/proc/sys/kernel/ostype reads {:?}", s.trim())),
        Err(e) => Outcome::sys(
            &SysError::from_io("read /proc/sys/kernel/ostype", &e),
            "PROC_SYSCTL?",
        ),
    }
}

fn efi() -> Outcome {
    let path = "/sys/firmware/efi";
    if !sysfs_mounted() {
        return Outcome::skip(format!("sysfs is not mounted: cannot look for {path}"));
    }
    if Path::new(path).is_dir() {
        Outcome::pass(format!("{path} exists: started through the EFI stub"))
    } else {
        Outcome::fail(format!(
            "no {path} - EFI and EFI_STUB (and UEFI firmware booting the kernel)?"
        ))
    }
}

fn openpty() -> Outcome {
    let candidates = ["/dev/ptmx", "/dev/pts/ptmx"];
    let mut last = None;
    for ptmx in candidates {
        let Ok(c) = cstring("open", ptmx) else {
            continue;
        };
        // SAFETY: valid C string.
        let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) };
        if fd < 0 {
            last = Some(SysError::last(format!("open {ptmx}")));
            continue;
        }
        let r = (|| {
            let unlock: libc::c_int = 0;
            // SAFETY: fd is a ptmx; the int outlives the call.
            check_int("ioctl(TIOCSPTLCK)", unsafe {
                libc::ioctl(fd, libc::TIOCSPTLCK, &unlock)
            })?;
            let mut n: libc::c_uint = 0;
            // SAFETY: as above.
            check_int("ioctl(TIOCGPTN)", unsafe {
                libc::ioctl(fd, libc::TIOCGPTN, &mut n)
            })?;
            let slave = format!("/dev/pts/{n}");
            let cs = cstring("open", &slave)?;
            // SAFETY: valid C string.
            let sfd =
                unsafe { libc::open(cs.as_ptr(), libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) };
            check_int(&format!("open {slave}"), sfd)?;
            close(sfd.into());
            Ok::<_, SysError>(slave)
        })();
        close(fd.into());
        return match r {
            Ok(slave) => Outcome::pass(format!("{ptmx} gave {slave}")),
            Err(e) => Outcome::sys(&e, "UNIX98_PTYS and a devpts on /dev/pts?"),
        };
    }
    match last {
        Some(e) => Outcome::sys(&e, "UNIX98_PTYS and devtmpfs/devpts?"),
        None => Outcome::fail("no ptmx to open"),
    }
}

/// The file system names `/proc/filesystems` lists (`nodev\tproc`,
/// `\text4`).
pub fn parse_filesystems(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.split_whitespace().last())
        .map(str::to_string)
        .collect()
}

fn filesystems(ctx: &Ctx) -> Outcome {
    let want = &ctx.cfg.filesystems;
    if want.is_empty() {
        return Outcome::skip("KTFS is empty: no file systems to look for");
    }
    let text = match std::fs::read_to_string("/proc/filesystems") {
        Ok(t) => t,
        Err(e) => {
            return Outcome::skip(format!(
                "cannot read the list: {}",
                SysError::from_io("open /proc/filesystems", &e)
            ))
        }
    };
    let have = parse_filesystems(&text);
    let missing: Vec<&str> = want
        .iter()
        .filter(|w| !have.iter().any(|h| h == *w))
        .map(String::as_str)
        .collect();
    if missing.is_empty() {
        Outcome::pass(format!("/proc/filesystems lists {}", want.join(", ")))
    } else {
        Outcome::fail(format!(
            "/proc/filesystems lacks {} (has {})",
            missing.join(", "),
            have.join(" ")
        ))
    }
}

fn sysfs_mounted() -> bool {
    Path::new("/sys/kernel").is_dir()
}

fn list_dir(path: &str) -> std::io::Result<Vec<String>> {
    let mut v: Vec<String> = std::fs::read_dir(path)?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    Ok(v)
}

/// `/dev/vda1` -> `vda1`.
fn dev_basename(dev: &str) -> &str {
    dev.rsplit('/').next().unwrap_or(dev)
}

/// Waits for a block device that drivers may still be probing
/// asynchronously (AHCI, NVMe); creates its node from sysfs when there is
/// no devtmpfs to do it.
fn wait_block_device(dev: &str, guest: bool, limit: Duration) -> bool {
    let start = Instant::now();
    let name = dev_basename(dev);
    loop {
        if Path::new(dev).exists() {
            return true;
        }
        if guest {
            if let Ok(mm) = std::fs::read_to_string(format!("/sys/class/block/{name}/dev")) {
                if let Some((ma, mi)) = mm.trim().split_once(':') {
                    if let (Ok(ma), Ok(mi), Ok(c)) =
                        (ma.parse::<u32>(), mi.parse::<u32>(), cstring("mknod", dev))
                    {
                        // SAFETY: valid C string; creating a device node in a guest.
                        unsafe {
                            libc::mknod(c.as_ptr(), libc::S_IFBLK | 0o600, libc::makedev(ma, mi))
                        };
                        continue;
                    }
                }
            }
        }
        if start.elapsed() >= limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn ext4_mount(ctx: &Ctx) -> Outcome {
    let Some(disk) = ctx.cfg.disk.as_deref() else {
        return Outcome::skip("KTDISK not set: no test disk");
    };
    if !ctx.guest {
        return ctx.not_guest("does not mount disks on a host");
    }
    if !wait_block_device(disk, ctx.guest, Duration::from_secs(5)) {
        return Outcome::fail(format!(
            "{disk} did not appear within 5 s (block driver for the disk's bus? BLK_DEV_SD for SATA/SCSI?)"
        ));
    }
    let _ = std::fs::create_dir_all("/mnt");
    let (Ok(src), Ok(fstype)) = (cstring("mount", disk), cstring("mount", "ext4")) else {
        return Outcome::fail(format!("bad KTDISK {disk:?}"));
    };
    // SAFETY: valid C strings; no data argument.
    let r = unsafe {
        libc::mount(
            src.as_ptr(),
            c"/mnt".as_ptr(),
            fstype.as_ptr(),
            libc::MS_RDONLY,
            std::ptr::null(),
        )
    };
    if let Err(e) = check_int(&format!("mount -t ext4 -o ro {disk} /mnt"), r) {
        let hint = match e.errno {
            libc::ENODEV => "EXT4_FS?",
            libc::ENXIO | libc::ENOENT => "no such device",
            libc::EINVAL => "not an ext4 file system (or a feature this ext4 lacks)",
            _ => "",
        };
        return Outcome::sys(&e, hint);
    }
    let read = std::fs::read_to_string("/mnt/ktailor-probe.txt");
    // SAFETY: unmounting what we mounted.
    unsafe { libc::umount2(c"/mnt".as_ptr(), libc::MNT_DETACH) };
    match read {
        Ok(t) if t.trim() == "ktailor" => Outcome::pass(format!(
            "mounted {disk} (ext4, ro) on /mnt; ktailor-probe.txt reads \"ktailor\""
        )),
        Ok(t) => Outcome::fail(format!(
            "mounted {disk}, but ktailor-probe.txt holds {:?}",
            t.chars().take(64).collect::<String>()
        )),
        Err(e) => SysError::from_io("read /mnt/ktailor-probe.txt", &e).into(),
    }
}

fn block_devices(ctx: &Ctx) -> Outcome {
    if !sysfs_mounted() {
        return Outcome::skip("sysfs is not mounted: cannot list /sys/block");
    }
    if let Some(disk) = ctx.cfg.disk.as_deref() {
        let name = dev_basename(disk).to_string();
        let start = Instant::now();
        while !Path::new(&format!("/sys/class/block/{name}")).exists()
            && start.elapsed() < Duration::from_secs(5)
        {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let names = match list_dir("/sys/block") {
        Ok(n) => n,
        Err(e) => return Outcome::sys(&SysError::from_io("open /sys/block", &e), "BLOCK?"),
    };
    if let Some(disk) = ctx.cfg.disk.as_deref() {
        let name = dev_basename(disk);
        if !Path::new(&format!("/sys/class/block/{name}")).exists() {
            return Outcome::fail(format!(
                "KTDISK {name} is not among the block devices ({})",
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(" ")
                }
            ));
        }
    }
    if names.is_empty() {
        return Outcome::fail("/sys/block is empty: no disk driver found a disk");
    }
    Outcome::pass(format!("/sys/block: {}", names.join(" ")))
}

fn pci() -> Outcome {
    if !sysfs_mounted() {
        return Outcome::skip("sysfs is not mounted: cannot list /sys/bus/pci/devices");
    }
    let names = match list_dir("/sys/bus/pci/devices") {
        Ok(n) => n,
        Err(e) => return Outcome::sys(&SysError::from_io("open /sys/bus/pci/devices", &e), "PCI?"),
    };
    if names.is_empty() {
        return Outcome::fail("/sys/bus/pci/devices is empty");
    }
    let read = |dev: &str, f: &str| {
        std::fs::read_to_string(format!("/sys/bus/pci/devices/{dev}/{f}"))
            .map(|s| s.trim().trim_start_matches("0x").to_string())
            .unwrap_or_else(|_| "?".into())
    };
    let list: Vec<String> = names
        .iter()
        .map(|d| format!("{d} {}:{}", read(d, "vendor"), read(d, "device")))
        .collect();
    Outcome::pass(format!("{} PCI devices: {}", names.len(), list.join(", ")))
}

fn nic(ctx: &Ctx) -> Outcome {
    let Some(all) = net::interfaces() else {
        // Neither sysfs nor procfs: ask the kernel about KTNIC directly.
        return match net::get_flags(&ctx.cfg.nic) {
            Ok(_) => Outcome::pass(format!(
                "{} exists (no sysfs or procfs to list others)",
                ctx.cfg.nic
            )),
            Err(_) => Outcome::skip("neither /sys/class/net nor /proc/net/dev to list interfaces"),
        };
    };
    let others: Vec<&str> = all
        .iter()
        .map(String::as_str)
        .filter(|n| *n != "lo")
        .collect();
    if others.is_empty() {
        return Outcome::fail(format!(
            "no interface besides lo (have: {}) - NIC driver?",
            if all.is_empty() {
                "none".into()
            } else {
                all.join(" ")
            }
        ));
    }
    let note = if others.contains(&ctx.cfg.nic.as_str()) {
        String::new()
    } else {
        format!(" (KTNIC {} is not among them)", ctx.cfg.nic)
    };
    Outcome::pass(format!("interfaces: {}{note}", others.join(" ")))
}

fn loopback(ctx: &Ctx) -> Outcome {
    if !ctx.guest {
        return ctx.not_guest("leaves the host's lo alone");
    }
    match net::bring_up("lo") {
        Ok(f) if f & libc::IFF_UP as u16 != 0 => Outcome::pass(format!("lo is up (flags {f:#x})")),
        Ok(f) => Outcome::fail(format!(
            "SIOCSIFFLAGS succeeded but lo is still down (flags {f:#x})"
        )),
        Err(e) => Outcome::sys(&e, "NET?"),
    }
}

fn link_up(ctx: &Ctx) -> Outcome {
    if !ctx.guest {
        return ctx.not_guest("leaves the host's NICs alone");
    }
    let Some((nic, note)) = net::pick_nic(&ctx.cfg.nic) else {
        return Outcome::skip(format!(
            "no NIC ({} not found, no other interface)",
            ctx.cfg.nic
        ));
    };
    if let Err(e) = net::bring_up(&nic) {
        return Outcome::sys(&e, "");
    }
    match net::wait_carrier(&nic, Duration::from_secs(3)) {
        Some(t) => Outcome::pass(format!(
            "{nic} is up with carrier after {} ms{note}",
            t.as_millis()
        )),
        None => Outcome::fail(format!("{nic} is up but has no carrier after 3 s{note}")),
    }
}

fn static_ip(ctx: &Ctx) -> Outcome {
    if !ctx.guest {
        return ctx.not_guest("leaves the host's addresses alone");
    }
    let cidr = match &ctx.cfg.ip {
        Ok(c) => *c,
        Err(e) => return Outcome::fail(e.clone()),
    };
    let Some((nic, note)) = net::pick_nic(&ctx.cfg.nic) else {
        return Outcome::skip(format!(
            "no NIC ({} not found, no other interface)",
            ctx.cfg.nic
        ));
    };
    if let Err(e) = net::bring_up(&nic) {
        return Outcome::sys(&e, "");
    }
    match net::set_address(&nic, cidr) {
        Ok(a) if a == cidr.addr => Outcome::pass(format!("{nic} has {cidr}{note}")),
        Ok([a, b, c, d]) => Outcome::fail(format!(
            "set {cidr} on {nic} but it reads back {a}.{b}.{c}.{d}"
        )),
        Err(e) => Outcome::sys(&e, "INET?"),
    }
}

fn tcp_listen(ctx: &Ctx) -> Outcome {
    if !ctx.guest {
        return ctx.not_guest("does not wait for connections on a host");
    }
    let port = match &ctx.cfg.port {
        Ok(p) => *p,
        Err(e) => return Outcome::fail(e.clone()),
    };
    if net::pick_nic(&ctx.cfg.nic).is_none() {
        return Outcome::skip("no NIC: the host cannot reach a listener");
    }
    let listener = match net::bind_any(port) {
        Ok(l) => l,
        Err(e) => return Outcome::sys(&e, "INET?"),
    };
    output::line(&crate::protocol::listening_line(port));
    match net::accept_line(&listener, ctx.cfg.listen_timeout) {
        Ok((line, peer)) if line == net::HELLO => {
            Outcome::pass(format!("0.0.0.0:{port} got {:?} from {peer}", net::HELLO))
        }
        Ok((line, peer)) => Outcome::fail(format!(
            "0.0.0.0:{port} got {line:?} from {peer}, expected {:?}",
            net::HELLO
        )),
        Err(e) => Outcome::fail(format!("listening on 0.0.0.0:{port}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_filesystems() {
        let t = "nodev\tsysfs\nnodev\tproc\n\text4\n\tvfat\n";
        assert_eq!(parse_filesystems(t), ["sysfs", "proc", "ext4", "vfat"]);
        assert!(parse_filesystems("").is_empty());
    }

    #[test]
    fn exec_hints_follow_the_errno() {
        assert_eq!(
            exec_hint(Some(libc::ENOEXEC), "BINFMT_SCRIPT?"),
            "BINFMT_SCRIPT?"
        );
        assert!(exec_hint(Some(libc::EACCES), "BINFMT_SCRIPT?").contains("mode"));
        assert!(exec_hint(Some(libc::ENOENT), "BINFMT_ELF?").contains("interpreter"));
        // A non-executable script on the host: the probe says why.
        let d = std::env::temp_dir().join(format!("kprobe-exec-{}", std::process::id()));
        std::fs::write(&d, "#!/bin/sh\nexit 42\n").unwrap();
        let o = child_exit(d.to_str().unwrap(), &[], 42, "script", "BINFMT_SCRIPT?");
        std::fs::remove_file(&d).unwrap();
        assert_eq!(o.status, output::Status::Fail);
        assert!(
            o.detail.contains("EACCES") && o.detail.contains("mode"),
            "{}",
            o.detail
        );
    }

    #[test]
    fn basenames() {
        assert_eq!(dev_basename("/dev/nvme0n1"), "nvme0n1");
        assert_eq!(dev_basename("vda"), "vda");
    }

    #[test]
    fn syscall_probes_pass_on_any_modern_host() {
        for p in [
            "epoll",
            "futex",
            "memfd",
            "unix-socket",
            "eventfd",
            "signalfd",
            "timerfd",
            "inotify",
        ] {
            let cfg = Config::from_lookup(|_| None);
            let ctx = Ctx {
                cfg,
                pid: 2,
                guest: false,
                where_: "test".into(),
                argv0: String::new(),
            };
            let o = run(p, &ctx);
            assert_eq!(o.status, crate::output::Status::Pass, "{p}: {o:?}");
        }
    }
}
