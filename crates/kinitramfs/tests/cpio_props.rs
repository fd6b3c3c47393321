//! Property tests for the newc writer and reader.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

use kinitramfs::cpio::{self, Builder, Kind};
use proptest::prelude::*;

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]{1,6}",
        Just("bin".to_string()),
        Just("dev".to_string()),
        Just("a b".to_string()),
        Just("ünï".to_string()),
    ]
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        Just(Kind::Dir),
        proptest::collection::vec(any::<u8>(), 0..300).prop_map(Kind::File),
        "[ -~]{0,40}".prop_map(Kind::Symlink),
        (0u32..4096, 0u32..1 << 20).prop_map(|(major, minor)| Kind::CharDev { major, minor }),
    ]
}

/// Entries whose paths never collide with each other's parents: leaves get
/// a distinct final segment, so every path is a leaf or a pure directory.
fn entries() -> impl Strategy<Value = Vec<(String, Kind, u32)>> {
    proptest::collection::vec(
        (
            proptest::collection::vec(segment(), 0..3),
            kind(),
            0u32..0o10000,
        ),
        0..25,
    )
    .prop_map(|v| {
        let mut seen = BTreeMap::new();
        for (i, (dirs, k, mode)) in v.into_iter().enumerate() {
            let mut p = dirs.join("/");
            if !p.is_empty() {
                p.push('/');
            }
            p.push_str(&format!("leaf{i}"));
            seen.insert(p, (k, mode));
        }
        seen.into_iter().map(|(p, (k, m))| (p, k, m)).collect()
    })
}

fn build(es: &[(String, Kind, u32)], leading_slash: bool) -> Builder {
    let mut b = Builder::new();
    for (p, k, m) in es {
        let path = if leading_slash {
            format!("/{p}")
        } else {
            p.clone()
        };
        b.add(&path, k.clone(), *m);
    }
    b
}

fn cpio_tool() -> bool {
    Command::new("cpio")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

proptest! {
    #[test]
    fn round_trip(es in entries(), slash in any::<bool>()) {
        let b = build(&es, slash);
        prop_assert!(b.errors().is_empty());
        let bytes = b.finish();
        prop_assert_eq!(bytes.len() & 3, 0);
        let back = cpio::read(&bytes).unwrap();
        // Every entry exactly once, with its kind and permission bits.
        for (p, k, m) in &es {
            let hits: Vec<_> = back.iter().filter(|e| &e.name == p).collect();
            prop_assert_eq!(hits.len(), 1);
            prop_assert_eq!(hits[0].kind(), Some(k.clone()));
            prop_assert_eq!(hits[0].perm(), m & 0o7777);
        }
        // Parents come first and are directories; inodes count from 1.
        for (i, e) in back.iter().enumerate() {
            prop_assert_eq!(e.ino as usize, i + 1);
            prop_assert_eq!((e.uid, e.gid, e.mtime), (0, 0, 0));
            if let Some((parent, _)) = e.name.rsplit_once('/') {
                let pi = back.iter().position(|x| x.name == parent);
                prop_assert!(matches!(pi, Some(j) if j < i));
                prop_assert_eq!(back[pi.unwrap()].kind(), Some(Kind::Dir));
            }
        }
        // Names are unique.
        let mut names: Vec<&str> = back.iter().map(|e| e.name.as_str()).collect();
        names.sort();
        names.dedup();
        prop_assert_eq!(names.len(), back.len());
    }

    #[test]
    fn identical_input_identical_bytes(es in entries()) {
        prop_assert_eq!(build(&es, false).finish(), build(&es, true).finish());
        prop_assert_eq!(build(&es, true).finish(), build(&es, true).finish());
    }

    #[test]
    fn reader_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = cpio::read(&bytes);
        let mut with_magic = b"070701".to_vec();
        with_magic.extend_from_slice(&bytes);
        let _ = cpio::read(&with_magic);
    }

    #[test]
    fn reader_survives_mutations(es in entries(), at in any::<usize>(), val in any::<u8>()) {
        let mut bytes = build(&es, false).finish();
        let i = at % bytes.len();
        bytes[i] = val;
        let _ = cpio::read(&bytes);
    }

    #[test]
    fn builder_never_panics(paths in proptest::collection::vec("[a/.\\x00]{0,8}", 0..20), k in kind()) {
        let mut b = Builder::new();
        for p in &paths {
            b.add(p, k.clone(), 0o644);
        }
        let errors = b.errors().len();
        let ok = b.clone().try_finish().is_ok();
        prop_assert_eq!(ok, errors == 0);
        prop_assert!(cpio::read(&b.finish()).is_ok());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// GNU cpio agrees on names, order and types. Real tier: it needs
    /// cpio(1), which scripts/setup installs, and fails without it.
    #[test]
    #[ignore = "real tier: needs GNU cpio (scripts/test runs it)"]
    fn gnu_cpio_lists_the_same(es in entries()) {
        assert!(cpio_tool(), "this test needs GNU cpio: run scripts/setup (apt-get install -y cpio)");
        let bytes = build(&es, false).finish();
        let back = cpio::read(&bytes).unwrap();
        let mut child = Command::new("cpio")
            .args(["-t", "-v", "--quiet"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&bytes).unwrap();
        let out = child.wait_with_output().unwrap();
        prop_assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let listing = String::from_utf8_lossy(&out.stdout).into_owned();
        let lines: Vec<&str> = listing.lines().collect();
        prop_assert_eq!(lines.len(), back.len());
        for (l, e) in lines.iter().zip(&back) {
            let ty = match e.kind() {
                Some(Kind::Dir) => 'd',
                Some(Kind::File(_)) => '-',
                Some(Kind::Symlink(_)) => 'l',
                Some(Kind::CharDev { .. }) => 'c',
                None => '?',
            };
            prop_assert!(l.starts_with(ty), "{} vs {:?}", l, e);
            prop_assert!(l.contains(&e.name), "{} vs {}", l, e.name);
        }
    }
}
