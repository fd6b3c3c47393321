//! The unpacked root file system and what each image adds to it.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use crate::layout::Ids;
use crate::{io, run, ImageError};

/// Unpacks `tar` into `dir` with owners, modes, device nodes and extended
/// attributes as recorded (file capabilities such as ping's live there).
/// Needs root, as unpacking any distribution's tree with its owners does.
pub(crate) fn unpack(tar: &Path, dir: &Path) -> Result<(), ImageError> {
    if !tar.is_file() {
        return Err(ImageError::Input(format!(
            "the root file system {} does not exist (make one with `ktailor rootfs`)",
            tar.display()
        )));
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(ImageError::Input(
            "writing the root file system with its owners needs root (ktailor image runs \
             unprivileged steps only, but mke2fs copies the owners it finds on disk)"
                .into(),
        ));
    }
    std::fs::create_dir_all(dir).map_err(io(format!("cannot create {}", dir.display())))?;
    run(Command::new("tar")
        .args([
            "--numeric-owner",
            "--same-owner",
            "--preserve-permissions",
            "--xattrs",
            "--xattrs-include=*",
            "-xf",
        ])
        .arg(tar)
        .arg("-C")
        .arg(dir))
}

/// Bytes the files of `dir` occupy, counted in whole 4 KiB blocks, plus
/// an inode's worth (256 bytes) for every entry.
pub(crate) fn size(dir: &Path) -> Result<u64, ImageError> {
    let mut total = 0u64;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(io(format!("cannot list {}", d.display())))?;
        for e in entries {
            let e = e.map_err(io(format!("cannot list {}", d.display())))?;
            let m = e
                .path()
                .symlink_metadata()
                .map_err(io(format!("cannot stat {}", e.path().display())))?;
            total += m.len().div_ceil(4096) * 4096 + 256;
            if m.is_dir() {
                stack.push(e.path());
            }
        }
    }
    Ok(total)
}

/// uid and gid of `user` in the tree's /etc/passwd.
fn user_ids(root: &Path, user: &str) -> Result<(u32, u32), ImageError> {
    let p = root.join("etc/passwd");
    let text = std::fs::read_to_string(&p).map_err(io(format!("cannot read {}", p.display())))?;
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 4 && f[0] == user).then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?)))
        })
        .flatten()
        .next()
        .ok_or_else(|| {
            ImageError::Input(format!(
                "the root file system has no {user:?} user in /etc/passwd; make it with `ktailor rootfs`"
            ))
        })
}

fn chown(path: &Path, uid: u32, gid: u32) -> Result<(), ImageError> {
    std::os::unix::fs::chown(path, Some(uid), Some(gid))
        .map_err(io(format!("cannot chown {}", path.display())))
}

fn write(path: &Path, text: &str, mode: u32) -> Result<(), ImageError> {
    std::fs::write(path, text).map_err(io(format!("cannot write {}", path.display())))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(io(format!("cannot chmod {}", path.display())))
}

/// Adds what belongs to this image only: new SSH host keys, the login
/// key for `admin`, and an fstab naming this image's root by UUID. Returns
/// the host public keys.
pub(crate) fn personalize(
    root: &Path,
    keys: &[String],
    ids: &Ids,
) -> Result<Vec<String>, ImageError> {
    let ssh = root.join("etc/ssh");
    for e in std::fs::read_dir(&ssh).map_err(io(format!(
        "the root file system has no /etc/ssh ({}): is openssh-server in it?",
        ssh.display()
    )))? {
        let e = e.map_err(io("cannot list /etc/ssh"))?;
        if e.file_name().to_string_lossy().starts_with("ssh_host_") {
            // A cached tree must never carry keys; if one does, this image
            // still gets its own.
            std::fs::remove_file(e.path()).map_err(io("cannot remove an old host key"))?;
        }
    }
    run(Command::new("ssh-keygen").arg("-A").arg("-f").arg(root))?;
    let mut host_keys = Vec::new();
    for e in std::fs::read_dir(&ssh).map_err(io("cannot list /etc/ssh"))? {
        let e = e.map_err(io("cannot list /etc/ssh"))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with("ssh_host_") && name.ends_with(".pub") {
            let text = std::fs::read_to_string(e.path())
                .map_err(io(format!("cannot read {}", e.path().display())))?;
            // `TYPE KEY` without ssh-keygen's root@host comment.
            let key: Vec<&str> = text.split_whitespace().take(2).collect();
            host_keys.push(key.join(" "));
        }
    }
    host_keys.sort();

    let (uid, gid) = user_ids(root, "admin")?;
    let home = root.join("home/admin");
    let dot = home.join(".ssh");
    std::fs::create_dir_all(&dot).map_err(io(format!("cannot create {}", dot.display())))?;
    std::fs::set_permissions(&dot, std::fs::Permissions::from_mode(0o700))
        .map_err(io(format!("cannot chmod {}", dot.display())))?;
    let ak = dot.join("authorized_keys");
    let mut lines: Vec<String> = std::fs::read_to_string(&ak)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    for k in keys {
        if !lines.contains(k) {
            lines.push(k.clone());
        }
    }
    write(&ak, &(lines.join("\n") + "\n"), 0o600)?;
    chown(&dot, uid, gid)?;
    chown(&ak, uid, gid)?;
    if home.metadata().map(|m| m.uid()).ok() != Some(uid) {
        chown(&home, uid, gid)?;
    }

    write(
        &root.join("etc/fstab"),
        &format!(
            "# ktailor image: the root by file system UUID; the ESP is not mounted\n\
             UUID={} / ext4 rw,errors=remount-ro 0 1\n",
            ids.root_fs_uuid
        ),
        0o644,
    )?;
    Ok(host_keys)
}
