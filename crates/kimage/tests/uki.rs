//! A Unified Kernel Image made from Debian's systemd EFI stub: the four
//! sections are where the stub can find them (after its own sections, at
//! aligned, non-overlapping addresses) and hold exactly what was given.
//!
//! Needs the stub (`scripts/setup` installs it): without it the test fails
//! with the apt line. Real tier: `scripts/test` runs it with
//! `--include-ignored`.

use std::path::Path;
use std::process::Command;

use kimage::uki::{self, PeSection};

fn stub() -> &'static Path {
    let p = Path::new(uki::SYSTEMD_STUB);
    assert!(
        p.is_file(),
        "{} is missing; install it with: apt-get install -y {} (scripts/setup does)",
        p.display(),
        uki::STUB_PACKAGE
    );
    p
}

/// Bytes that differ from file to file, so a section mix-up shows.
fn pseudo_random(len: usize, seed: u8) -> Vec<u8> {
    let mut x = 0x9e37_79b9_u32 ^ seed as u32;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn dump_section(pe: &Path, name: &str, dir: &Path) -> Vec<u8> {
    let out = dir.join(format!("dump{name}"));
    let o = Command::new("objcopy")
        .arg("--dump-section")
        .arg(format!("{name}={}", out.display()))
        .arg(pe)
        .arg(dir.join("scratch.efi"))
        .output()
        .expect("objcopy runs (binutils)");
    assert!(
        o.status.success(),
        "objcopy --dump-section {name}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    std::fs::read(&out).unwrap()
}

#[test]
#[ignore = "real tier: needs systemd-boot-efi's stub and binutils (scripts/test runs it)"]
fn uki_sections_are_aligned_ordered_and_hold_their_inputs() {
    let stub = stub();
    let dir = tempfile::tempdir().unwrap();
    let kernel = dir.path().join("vmlinuz");
    let initrd = dir.path().join("initrd.img");
    // Odd sizes, so the next section's alignment is actually exercised.
    let kernel_bytes = pseudo_random(3 * 1024 * 1024 + 17, 1);
    let initrd_bytes = pseudo_random(5 * 1024 * 1024 + 4093, 2);
    std::fs::write(&kernel, &kernel_bytes).unwrap();
    std::fs::write(&initrd, &initrd_bytes).unwrap();
    let cmdline = "root=PARTUUID=ccad49d8-6227-4d80-ac1f-a718b7edf8a4 rw console=ttyS0,115200";
    let osrel = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\n";
    let out = dir.path().join("uki.efi");

    let rep = kimage::build_uki(stub, &kernel, &initrd, cmdline, osrel, &out).unwrap();
    assert_eq!(rep.output, out);
    assert!(rep.bytes as usize > kernel_bytes.len() + initrd_bytes.len());

    let stub_sections = uki::pe_sections(stub).unwrap();
    let all = uki::pe_sections(&out).unwrap();
    let (base, section_alignment) = uki::pe_base_and_alignment(&out).unwrap();
    let stub_end = stub_sections.iter().map(|s| s.vma + s.size).max().unwrap();

    // The stub's own sections are untouched.
    for s in &stub_sections {
        let t = all.iter().find(|t| t.name == s.name).unwrap();
        assert_eq!((t.vma, t.size), (s.vma, s.size), "{}", s.name);
    }
    let find = |name: &str| -> &PeSection {
        all.iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no {name} section in {all:?}"))
    };
    let added: Vec<&PeSection> = [".osrel", ".cmdline", ".linux", ".initrd"]
        .iter()
        .map(|n| find(n))
        .collect();
    assert_eq!(
        added.iter().map(|s| s.name.clone()).collect::<Vec<_>>(),
        rep.sections
            .iter()
            .map(|s| s.name.clone())
            .collect::<Vec<_>>()
    );
    assert_eq!(find(".osrel").size, osrel.len() as u64);
    assert_eq!(find(".cmdline").size, cmdline.len() as u64);
    assert_eq!(find(".linux").size, kernel_bytes.len() as u64);
    assert_eq!(find(".initrd").size, initrd_bytes.len() as u64);

    // Sane addresses: after the stub, page-aligned (and to the PE's own
    // SectionAlignment), in order, without overlap, and the file offsets
    // do not overlap either.
    let mut prev_end = stub_end;
    for s in &added {
        assert!(
            s.vma >= prev_end,
            "{} at {:#x} overlaps {prev_end:#x}",
            s.name,
            s.vma
        );
        assert_eq!((s.vma - base) % 4096, 0, "{} at {:#x}", s.name, s.vma);
        assert_eq!((s.vma - base) % section_alignment, 0, "{}", s.name);
        assert!(s.size > 0, "{}", s.name);
        prev_end = s.vma + s.size;
    }
    let mut by_offset: Vec<&PeSection> = all.iter().collect();
    by_offset.sort_by_key(|s| s.file_offset);
    for w in by_offset.windows(2) {
        assert!(
            w[0].file_offset + w[0].size <= w[1].file_offset,
            "{} and {} overlap in the file",
            w[0].name,
            w[1].name
        );
    }
    // The image's end covers the last section.
    assert!(prev_end - base <= size_of_image(&out));

    // Each section holds exactly its input.
    assert_eq!(dump_section(&out, ".linux", dir.path()), kernel_bytes);
    assert_eq!(dump_section(&out, ".initrd", dir.path()), initrd_bytes);
    assert_eq!(
        dump_section(&out, ".cmdline", dir.path()),
        cmdline.as_bytes()
    );
    assert_eq!(dump_section(&out, ".osrel", dir.path()), osrel.as_bytes());
}

fn size_of_image(pe: &Path) -> u64 {
    let o = Command::new("objdump").arg("-p").arg(pe).output().unwrap();
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .find_map(|l| {
            let mut f = l.split_whitespace();
            (f.next() == Some("SizeOfImage")).then(|| u64::from_str_radix(f.next()?, 16).ok())?
        })
        .expect("SizeOfImage in objdump -p")
}

#[test]
fn missing_stub_names_the_package() {
    let dir = tempfile::tempdir().unwrap();
    let k = dir.path().join("k");
    std::fs::write(&k, b"x").unwrap();
    let e = kimage::build_uki(
        &dir.path().join("no-stub.efi"),
        &k,
        &k,
        "",
        "",
        &dir.path().join("o.efi"),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("apt-get install -y systemd-boot-efi"), "{e}");
}
