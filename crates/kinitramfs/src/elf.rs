//! The seed's "hello world" init as a hand-made ELF, and a static-ness check.
//!
//! The seed compiles a C program with `gcc -static`; a 230-byte ELF with
//! four system calls proves the same thing (the kernel can exec a 64-bit
//! ELF /init and print through the console) without depending on a C
//! toolchain or libc's start-up code, whose own syscalls could fail on a
//! kernel this small for reasons that have nothing to do with the step.

/// x86_64 machine code, position independent (the message is addressed
/// relative to `rip`), assembled with GNU as from:
///
/// ```text
///     mov eax, 1; mov edi, 1; lea rsi, [rip+msg]; mov edx, 12; syscall  # write(1, msg, 12)
///     mov eax, 16; mov edi, 1; mov esi, 0x5409; mov edx, 1; syscall     # ioctl(1, TCSBRK, 1)
///     mov eax, 39; syscall; cmp eax, 1; jne 2f                           # getpid() == 1?
///     mov eax, 169; mov edi, 0xfee1dead; mov esi, 0x28121969
///     mov edx, 0x01234567; syscall                                       # reboot(RB_AUTOBOOT)
/// 1:  mov eax, 34; syscall; jmp 1b                                       # pause() forever
/// 2:  mov eax, 60; xor edi, edi; syscall                                 # exit(0)
/// msg: .ascii "hello world\n"
/// ```
///
/// `TCSBRK` with a non-zero argument is `tcdrain`: the UART must have sent
/// the line before the reboot resets the machine. The `getpid` check keeps
/// the program harmless outside a VM: as anything but init it just exits.
/// As init it reboots because QEMU runs with `-no-reboot`, which turns the
/// reset into an exit; the seed's C program spun forever instead.
const HELLO_CODE: [u8; 110] = [
    0xb8, 0x01, 0x00, 0x00, 0x00, 0xbf, 0x01, 0x00, 0x00, 0x00, 0x48, 0x8d, 0x35, 0x51, 0x00, 0x00,
    0x00, 0xba, 0x0c, 0x00, 0x00, 0x00, 0x0f, 0x05, 0xb8, 0x10, 0x00, 0x00, 0x00, 0xbf, 0x01, 0x00,
    0x00, 0x00, 0xbe, 0x09, 0x54, 0x00, 0x00, 0xba, 0x01, 0x00, 0x00, 0x00, 0x0f, 0x05, 0xb8, 0x27,
    0x00, 0x00, 0x00, 0x0f, 0x05, 0x83, 0xf8, 0x01, 0x75, 0x1f, 0xb8, 0xa9, 0x00, 0x00, 0x00, 0xbf,
    0xad, 0xde, 0xe1, 0xfe, 0xbe, 0x69, 0x19, 0x12, 0x28, 0xba, 0x67, 0x45, 0x23, 0x01, 0x0f, 0x05,
    0xb8, 0x22, 0x00, 0x00, 0x00, 0x0f, 0x05, 0xeb, 0xf7, 0xb8, 0x3c, 0x00, 0x00, 0x00, 0x31, 0xff,
    0x0f, 0x05, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x20, 0x77, 0x6f, 0x72, 0x6c, 0x64, 0x0a,
];

const EHDR: usize = 64;
const PHDR: usize = 56;
const BASE: u64 = 0x40_0000;

/// A complete static x86_64 ELF executable printing "hello world".
pub fn hello_elf() -> Vec<u8> {
    let code_off = (EHDR + PHDR) as u64;
    let total = code_off + HELLO_CODE.len() as u64;
    let mut e = Vec::with_capacity(total as usize);
    // e_ident: magic, ELFCLASS64, little endian, version 1, System V ABI.
    e.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0]);
    e.extend_from_slice(&[0; 8]);
    e.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    e.extend_from_slice(&62u16.to_le_bytes()); // EM_X86_64
    e.extend_from_slice(&1u32.to_le_bytes()); // EV_CURRENT
    e.extend_from_slice(&(BASE + code_off).to_le_bytes()); // e_entry
    e.extend_from_slice(&(EHDR as u64).to_le_bytes()); // e_phoff
    e.extend_from_slice(&0u64.to_le_bytes()); // e_shoff
    e.extend_from_slice(&0u32.to_le_bytes()); // e_flags
    e.extend_from_slice(&(EHDR as u16).to_le_bytes());
    e.extend_from_slice(&(PHDR as u16).to_le_bytes());
    e.extend_from_slice(&1u16.to_le_bytes()); // e_phnum
    e.extend_from_slice(&64u16.to_le_bytes()); // e_shentsize
    e.extend_from_slice(&0u16.to_le_bytes()); // e_shnum
    e.extend_from_slice(&0u16.to_le_bytes()); // e_shstrndx
                                              // One PT_LOAD mapping the whole file read + execute.
    e.extend_from_slice(&1u32.to_le_bytes()); // PT_LOAD
    e.extend_from_slice(&5u32.to_le_bytes()); // PF_R | PF_X
    e.extend_from_slice(&0u64.to_le_bytes()); // p_offset
    e.extend_from_slice(&BASE.to_le_bytes()); // p_vaddr
    e.extend_from_slice(&BASE.to_le_bytes()); // p_paddr
    e.extend_from_slice(&total.to_le_bytes()); // p_filesz
    e.extend_from_slice(&total.to_le_bytes()); // p_memsz
    e.extend_from_slice(&0x1000u64.to_le_bytes()); // p_align
    e.extend_from_slice(&HELLO_CODE);
    e
}

/// Facts about an ELF file that matter for putting it in an initramfs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ElfInfo {
    pub is_64: bool,
    pub machine: u16,
    /// Has a `PT_INTERP`: it needs a dynamic loader the initramfs lacks.
    pub dynamic: bool,
}

/// Reads the ELF header and program headers; `None` if `b` is not a
/// well-formed little-endian ELF.
pub fn inspect(b: &[u8]) -> Option<ElfInfo> {
    if b.get(..4)? != b"\x7fELF" || *b.get(5)? != 1 {
        return None;
    }
    let is_64 = *b.get(4)? == 2;
    let bytes = |o: usize, n: usize| b.get(o..o.checked_add(n)?);
    let u16_at = |o: usize| bytes(o, 2).map(|s| u16::from_le_bytes([s[0], s[1]]));
    let u32_at = |o: usize| bytes(o, 4).map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]));
    let u64_at = |o: usize| {
        bytes(o, 8).map(|s| u64::from_le_bytes([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]]))
    };
    let machine = u16_at(18)?;
    let (phoff, phentsize, phnum) = if is_64 {
        (u64_at(32)?, u16_at(54)?, u16_at(56)?)
    } else {
        (u64::from(u32_at(28)?), u16_at(42)?, u16_at(44)?)
    };
    let mut dynamic = false;
    for i in 0..u64::from(phnum) {
        let off = usize::try_from(phoff.checked_add(i.checked_mul(u64::from(phentsize))?)?).ok()?;
        if u32_at(off)? == 3 {
            dynamic = true;
        }
    }
    Some(ElfInfo {
        is_64,
        machine,
        dynamic,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_is_a_static_x86_64_elf() {
        let e = hello_elf();
        assert_eq!(e.len(), 230);
        assert_eq!(
            inspect(&e),
            Some(ElfInfo {
                is_64: true,
                machine: 62,
                dynamic: false
            })
        );
        assert!(e.ends_with(b"hello world\n"));
    }

    #[test]
    fn inspect_rejects_garbage_without_panicking() {
        assert_eq!(inspect(b""), None);
        assert_eq!(inspect(b"\x7fELF"), None);
        let mut e = hello_elf();
        // Program headers pointing past the end.
        e[32..40].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(inspect(&e), None);
        let mut e = hello_elf();
        e[56..58].copy_from_slice(&u16::MAX.to_le_bytes());
        assert_eq!(inspect(&e), None);
    }
}
