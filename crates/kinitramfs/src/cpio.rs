//! A reproducible writer and a strict reader for the "newc" cpio format the
//! kernel unpacks into rootfs (`070701` headers, see the kernel's
//! `Documentation/driver-api/early-userspace/buffer-format.rst`).
//!
//! Reproducible means: the same entries in the same order give the same
//! bytes, on any machine, at any time. So mtime is 0, uid/gid are 0, inode
//! numbers count up from 1 in the order entries are written, and nothing is
//! read from the file system.

use std::collections::BTreeMap;

use thiserror::Error;

const MAGIC: &[u8; 6] = b"070701";
const HEADER_LEN: usize = 110;
const TRAILER: &str = "TRAILER!!!";

pub const S_IFMT: u32 = 0o170000;
pub const S_IFDIR: u32 = 0o040000;
pub const S_IFREG: u32 = 0o100000;
pub const S_IFLNK: u32 = 0o120000;
pub const S_IFCHR: u32 = 0o020000;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CpioError {
    #[error("path {0:?} names the root or is empty")]
    EmptyPath(String),
    #[error("path {0:?} contains a NUL byte")]
    NulInPath(String),
    #[error("{path:?}: a parent, {parent:?}, is already a non-directory entry")]
    ParentNotDir { path: String, parent: String },
    #[error("{path:?}: replacing a directory that has entries below it with a non-directory")]
    DirReplaced { path: String },
    #[error("{path:?}: {len} bytes do not fit newc's 32-bit size field")]
    TooLarge { path: String, len: usize },
    #[error("truncated archive at byte {0}")]
    Truncated(usize),
    #[error("bad magic at byte {0} (only newc, 070701, is supported)")]
    BadMagic(usize),
    #[error("bad hex field at byte {0}")]
    BadHex(usize),
    #[error("entry at byte {0} has a name that is not NUL-terminated")]
    BadName(usize),
    #[error("archive ends without a TRAILER!!! entry")]
    NoTrailer,
}

/// What an entry is, with its payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File(Vec<u8>),
    Symlink(String),
    CharDev { major: u32, minor: u32 },
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Node {
    kind: Kind,
    /// Permission bits only (`0o7777`); the type comes from `kind`.
    perm: u32,
}

/// Collects entries and writes them as one newc archive.
///
/// Paths are absolute or relative, `/`-separated; `.`, empty components and
/// `..` are resolved lexically (`..` never climbs above the root), so every
/// entry lands inside the archive. Parent directories are added (mode 0755)
/// before their first child. Adding a path again replaces the earlier entry
/// in place, so later layers (the `extra` files of the image builders) can
/// override earlier ones without duplicate names in the archive.
///
/// The methods never fail; an entry that cannot be represented (an empty
/// path, a NUL in a name, a file under a non-directory, more than 4 GiB) is
/// left out and remembered: [`Builder::errors`] lists them and
/// [`Builder::try_finish`] refuses to produce a partial archive.
#[derive(Clone, Debug, Default)]
pub struct Builder {
    order: Vec<String>,
    nodes: BTreeMap<String, Node>,
    errors: Vec<CpioError>,
}

/// Lexically normalises `path` to the archive's form: no leading `/`, no
/// `.`/`..`/empty components.
pub fn normalize(path: &str) -> Result<String, CpioError> {
    if path.contains('\0') {
        return Err(CpioError::NulInPath(path.to_string()));
    }
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    if parts.is_empty() {
        return Err(CpioError::EmptyPath(path.to_string()));
    }
    Ok(parts.join("/"))
}

impl Builder {
    pub fn new() -> Self {
        Self::default()
    }

    /// A directory. Adding one that exists (for example created implicitly
    /// as a parent) only changes its mode.
    pub fn dir(mut self, path: &str, mode: u32) -> Self {
        self.add(path, Kind::Dir, mode);
        self
    }

    pub fn file(mut self, path: &str, bytes: impl Into<Vec<u8>>, mode: u32) -> Self {
        self.add(path, Kind::File(bytes.into()), mode);
        self
    }

    pub fn symlink(mut self, path: &str, target: &str) -> Self {
        self.add(path, Kind::Symlink(target.to_string()), 0o777);
        self
    }

    pub fn char_dev(mut self, path: &str, mode: u32, major: u32, minor: u32) -> Self {
        self.add(path, Kind::CharDev { major, minor }, mode);
        self
    }

    /// In-place variants of the builder methods, for loops.
    pub fn add(&mut self, path: &str, kind: Kind, mode: u32) {
        if let Err(e) = self.try_add(path, kind, mode) {
            self.errors.push(e);
        }
    }

    fn try_add(&mut self, path: &str, kind: Kind, mode: u32) -> Result<(), CpioError> {
        let name = normalize(path)?;
        if let Kind::File(b) = &kind {
            if u32::try_from(b.len()).is_err() {
                return Err(CpioError::TooLarge {
                    path: name,
                    len: b.len(),
                });
            }
        }
        if let Kind::Symlink(t) = &kind {
            if t.contains('\0') {
                return Err(CpioError::NulInPath(t.clone()));
            }
        }
        // Parents first, each checked to be (or become) a directory.
        let mut parent = String::new();
        let comps: Vec<&str> = name.split('/').collect();
        for c in &comps[..comps.len() - 1] {
            if !parent.is_empty() {
                parent.push('/');
            }
            parent.push_str(c);
            match self.nodes.get(&parent) {
                Some(Node {
                    kind: Kind::Dir, ..
                }) => {}
                Some(_) => return Err(CpioError::ParentNotDir { path: name, parent }),
                None => {
                    self.order.push(parent.clone());
                    self.nodes.insert(
                        parent.clone(),
                        Node {
                            kind: Kind::Dir,
                            perm: 0o755,
                        },
                    );
                }
            }
        }
        let node = Node {
            kind,
            perm: mode & 0o7777,
        };
        match self.nodes.get_mut(&name) {
            Some(old) => {
                if old.kind == Kind::Dir && node.kind != Kind::Dir {
                    let prefix = format!("{name}/");
                    if self.order.iter().any(|p| p.starts_with(&prefix)) {
                        return Err(CpioError::DirReplaced { path: name });
                    }
                }
                *old = node;
            }
            None => {
                self.order.push(name.clone());
                self.nodes.insert(name, node);
            }
        }
        Ok(())
    }

    /// Entries left out so far, with why.
    pub fn errors(&self) -> &[CpioError] {
        &self.errors
    }

    /// The archive of every entry that could be represented.
    pub fn finish(self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut ino = 0u32;
        for name in &self.order {
            let Some(node) = self.nodes.get(name) else {
                continue;
            };
            ino += 1;
            let (ty, nlink, data, rdev): (u32, u32, &[u8], (u32, u32)) = match &node.kind {
                Kind::Dir => (S_IFDIR, 2, &[], (0, 0)),
                Kind::File(b) => (S_IFREG, 1, b, (0, 0)),
                Kind::Symlink(t) => (S_IFLNK, 1, t.as_bytes(), (0, 0)),
                Kind::CharDev { major, minor } => (S_IFCHR, 1, &[], (*major, *minor)),
            };
            write_entry(&mut out, ino, ty | node.perm, nlink, rdev, name, data);
        }
        write_entry(&mut out, 0, 0, 1, (0, 0), TRAILER, &[]);
        out
    }

    /// Like [`Builder::finish`], but fails if any entry was left out.
    pub fn try_finish(self) -> Result<Vec<u8>, CpioError> {
        match self.errors.first() {
            Some(e) => Err(e.clone()),
            None => Ok(self.finish()),
        }
    }
}

fn pad4(out: &mut Vec<u8>) {
    while out.len() & 3 != 0 {
        out.push(0);
    }
}

fn write_entry(
    out: &mut Vec<u8>,
    ino: u32,
    mode: u32,
    nlink: u32,
    rdev: (u32, u32),
    name: &str,
    data: &[u8],
) {
    // Sizes were checked when the entry was added; names are short.
    let filesize = u32::try_from(data.len()).unwrap_or(u32::MAX);
    let namesize = u32::try_from(name.len() + 1).unwrap_or(u32::MAX);
    let (uid, gid, mtime, dev_major, dev_minor, check) = (0, 0, 0, 0, 0, 0);
    let fields = [
        ino, mode, uid, gid, nlink, mtime, filesize, dev_major, dev_minor, rdev.0, rdev.1,
        namesize, check,
    ];
    out.extend_from_slice(MAGIC);
    for f in fields {
        out.extend_from_slice(format!("{f:08X}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    pad4(out);
    out.extend_from_slice(data);
    pad4(out);
}

/// One entry as read back from an archive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub ino: u32,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub nlink: u32,
    pub mtime: u32,
    pub rdev_major: u32,
    pub rdev_minor: u32,
    pub data: Vec<u8>,
}

impl Entry {
    /// The entry's kind, as the builder would have been told it.
    pub fn kind(&self) -> Option<Kind> {
        Some(match self.mode & S_IFMT {
            S_IFDIR => Kind::Dir,
            S_IFREG => Kind::File(self.data.clone()),
            S_IFLNK => Kind::Symlink(String::from_utf8_lossy(&self.data).into_owned()),
            S_IFCHR => Kind::CharDev {
                major: self.rdev_major,
                minor: self.rdev_minor,
            },
            _ => return None,
        })
    }

    pub fn perm(&self) -> u32 {
        self.mode & 0o7777
    }
}

/// Reads a newc archive up to its trailer, checking magic, hex fields and
/// alignment, so that tests can hold the writer to the format.
pub fn read(bytes: &[u8]) -> Result<Vec<Entry>, CpioError> {
    let mut pos = 0usize;
    let mut out = Vec::new();
    loop {
        let start = pos;
        let header = bytes
            .get(pos..pos + HEADER_LEN)
            .ok_or(if pos >= bytes.len() {
                CpioError::NoTrailer
            } else {
                CpioError::Truncated(pos)
            })?;
        if &header[..6] != MAGIC {
            return Err(CpioError::BadMagic(pos));
        }
        let mut f = [0u32; 13];
        for (i, v) in f.iter_mut().enumerate() {
            let at = 6 + i * 8;
            let s = std::str::from_utf8(&header[at..at + 8])
                .map_err(|_| CpioError::BadHex(pos + at))?;
            *v = u32::from_str_radix(s, 16).map_err(|_| CpioError::BadHex(pos + at))?;
        }
        let [ino, mode, uid, gid, nlink, mtime, filesize, _dmaj, _dmin, rmaj, rmin, namesize, _check] =
            f;
        pos += HEADER_LEN;
        let namesize = namesize as usize;
        let name_bytes = bytes
            .get(pos..pos + namesize)
            .ok_or(CpioError::Truncated(pos))?;
        let Some((&0, name)) = name_bytes.split_last() else {
            return Err(CpioError::BadName(start));
        };
        if name.contains(&0) {
            return Err(CpioError::BadName(start));
        }
        let name = String::from_utf8_lossy(name).into_owned();
        pos = (pos + namesize + 3) & !3;
        let data = bytes
            .get(pos..pos + filesize as usize)
            .ok_or(CpioError::Truncated(pos))?
            .to_vec();
        pos = (pos + filesize as usize + 3) & !3;
        if name == TRAILER {
            return Ok(out);
        }
        out.push(Entry {
            name,
            ino,
            mode,
            uid,
            gid,
            nlink,
            mtime,
            rdev_major: rmaj,
            rdev_minor: rmin,
            data,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_layout_matches_gen_init_cpio() {
        let a = Builder::new().file("init", b"hi".to_vec(), 0o755).finish();
        let expected_header = concat!(
            "070701", "00000001", "000081ED", "00000000", "00000000", "00000001", "00000000",
            "00000002", "00000000", "00000000", "00000000", "00000000", "00000005", "00000000"
        );
        assert_eq!(&a[..110], expected_header.as_bytes());
        assert_eq!(&a[110..116], b"init\0\0");
        assert_eq!(&a[116..120], b"hi\0\0");
        assert_eq!(a.len() & 3, 0);
        let t = &a[120..];
        assert!(t.starts_with(b"070701"));
        assert_eq!(&t[110..121], b"TRAILER!!!\0");
    }

    #[test]
    fn parents_first_and_replacement_in_place() {
        let a = Builder::new()
            .file("/bin/sh", b"x".to_vec(), 0o755)
            .dir("/bin", 0o700)
            .file("/./etc/../bin/sh", b"y".to_vec(), 0o700)
            .char_dev("dev/console", 0o600, 5, 1)
            .symlink("/sbin/init", "/bin/sh")
            .finish();
        let e = read(&a).unwrap();
        let names: Vec<&str> = e.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            ["bin", "bin/sh", "dev", "dev/console", "sbin", "sbin/init"]
        );
        assert_eq!(e[0].perm(), 0o700);
        assert_eq!(e[1].data, b"y");
        assert_eq!(e[1].perm(), 0o700);
        assert_eq!(e[3].kind(), Some(Kind::CharDev { major: 5, minor: 1 }));
        assert_eq!(e[5].kind(), Some(Kind::Symlink("/bin/sh".into())));
        let inos: Vec<u32> = e.iter().map(|e| e.ino).collect();
        assert_eq!(inos, [1, 2, 3, 4, 5, 6]);
        assert!(e.iter().all(|e| e.mtime == 0 && e.uid == 0 && e.gid == 0));
    }

    #[test]
    fn bad_paths_are_errors_not_panics() {
        let b = Builder::new()
            .file("", b"".to_vec(), 0o644)
            .file("/..", b"".to_vec(), 0o644)
            .file("a\0b", b"".to_vec(), 0o644)
            .symlink("ok-link", "bad\0target")
            .file("f", b"".to_vec(), 0o644)
            .file("f/g", b"".to_vec(), 0o644)
            .dir("d/e", 0o755)
            .file("d", b"".to_vec(), 0o644);
        assert_eq!(b.errors().len(), 6, "{:?}", b.errors());
        assert!(b.clone().try_finish().is_err());
        let names: Vec<String> = read(&b.finish())
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(names, ["f", "d", "d/e"]);
    }

    #[test]
    fn reader_rejects_garbage() {
        assert_eq!(read(b""), Err(CpioError::NoTrailer));
        assert!(matches!(read(b"070701"), Err(CpioError::Truncated(0))));
        assert!(matches!(read(&[b'x'; 200]), Err(CpioError::BadMagic(0))));
        let mut a = Builder::new().file("x", b"abc".to_vec(), 0o644).finish();
        a[10] = b'G';
        assert!(matches!(read(&a), Err(CpioError::BadHex(_))));
        let a = Builder::new().file("x", b"abc".to_vec(), 0o644).finish();
        assert!(read(&a[..a.len() - 20]).is_err());
        // Huge sizes must not panic or allocate.
        let mut h = b"070701".to_vec();
        h.extend(std::iter::repeat_n(b'F', 104));
        assert!(read(&h).is_err());
    }

    #[test]
    fn empty_archive_is_just_a_trailer() {
        let a = Builder::new().finish();
        assert_eq!(read(&a).unwrap(), vec![]);
        assert_eq!(a.len(), 124);
    }
}
