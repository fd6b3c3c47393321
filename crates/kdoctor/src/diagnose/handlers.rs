//! The answers that need judgement (data/symptoms.toml names them with
//! `handler`): exec errors of init read with what `--init` and `--config`
//! say, and a missing root device.

use std::collections::BTreeMap;

use super::query::pci_lookup_sub;
use super::report::{Evidence, Kind};
use super::state::{Doctor, Finding, Target};
use crate::cond::Tri;
use crate::inputs::InitKind;
use crate::rules::{self, Handler};

impl Doctor<'_> {
    /// Runs a rule's handler on a matching line.
    pub(super) fn handler(
        &mut self,
        h: Handler,
        r: &rules::Rule,
        caps: &BTreeMap<String, String>,
        ev: &Evidence,
        text: &str,
        source: Option<String>,
    ) {
        let init = self.inputs.init;
        let cfg_on = |me: &Self, s: &str| me.user.as_ref().map(|c| c.tri(s) != Tri::N);
        let rule = format!("rule:{}", r.id);
        let opt = |me: &mut Self, name: &str, score: u32, why: String| {
            let lookup = match name {
                "BINFMT_ELF" => "file:fs/binfmt_elf.c".to_string(),
                "BINFMT_SCRIPT" => "file:fs/binfmt_script.c".to_string(),
                n => format!("option:{n}"),
            };
            me.findings.push(Finding {
                kind: Kind::Rule,
                rule: rule.clone(),
                evidence: ev.clone(),
                score,
                why,
                target: Target::Lookup(lookup),
                source: if name.starts_with("BINFMT") {
                    None
                } else {
                    source.clone()
                },
                strict: true,
            });
        };
        let who = caps.get("init").cloned().unwrap_or_else(|| "init".into());
        match h {
            Handler::InitEnoent => match (init, cfg_on(self, "BINFMT_SCRIPT")) {
                (Some(InitKind::Script), Some(true)) => self.note(&rule, ev, format!(
                    "{who} is a script and BINFMT_SCRIPT is set: the interpreter on its #! line is missing from the image")),
                (Some(InitKind::Script), _) => opt(self, "BINFMT_SCRIPT", 95, format!(
                    "{who} is a '#!' script; without BINFMT_SCRIPT the kernel cannot run it")),
                (Some(InitKind::Elf64 | InitKind::Elf32), _) => self.note(&rule, ev, format!(
                    "{who} is an ELF binary and exec said ENOENT: its dynamic loader (PT_INTERP) is missing from the image — link it statically")),
                (Some(InitKind::Missing), _) => self.note(&rule, ev, format!("{who} is not in the image")),
                (None, Some(true)) => self.note(&rule, ev, format!(
                    "BINFMT_SCRIPT is set: {who} (or the interpreter it names, or an ELF binary's loader) is missing from the image")),
                (None, _) => opt(self, "BINFMT_SCRIPT", 70, format!(
                    "if {who} is a '#!' script, the kernel needs BINFMT_SCRIPT; otherwise the file, its #! interpreter or its ELF loader is missing from the image")),
            },
            Handler::InitEnoexec => {
                let elf_off = cfg_on(self, "BINFMT_ELF") != Some(true);
                let b64 = cfg_on(self, "64BIT");
                let script_off = cfg_on(self, "BINFMT_SCRIPT") != Some(true);
                let mut any = false;
                if elf_off {
                    any = true;
                    let (s, what) = match init {
                        Some(InitKind::Script) => (85, "a script, and its #! interpreter is an ELF binary"),
                        None => (90, "an ELF binary (or a script whose interpreter is one)"),
                        _ => (95, "an ELF binary"),
                    };
                    opt(self, "BINFMT_ELF", s, format!("{who} is {what}; without BINFMT_ELF no binary format handler accepts it"));
                }
                match (init, b64) {
                    (Some(InitKind::Elf64 | InitKind::Script) | None, Some(false)) => {
                        any = true;
                        opt(self, "64BIT", 93, format!(
                            "this configuration is 32-bit (CONFIG_64BIT is not set) and {who} is {}: a 32-bit kernel cannot run it (on x86 build with ARCH=x86_64, or set CONFIG_64BIT=y)",
                            match init {
                                None => "probably a 64-bit program",
                                Some(InitKind::Script) => "a script whose interpreter is probably a 64-bit program",
                                _ => "a 64-bit program",
                            }));
                    }
                    (Some(InitKind::Elf64) | None, None) => {
                        any = true;
                        opt(self, "64BIT", if init.is_some() { 70 } else { 55 }, format!(
                            "if the kernel is 32-bit (CONFIG_64BIT unset), a 64-bit {who} cannot run on it; pass --config to check"));
                    }
                    (Some(InitKind::Elf32), Some(true)) if cfg_on(self, "IA32_EMULATION") != Some(true) => {
                        any = true;
                        opt(self, "IA32_EMULATION", 90, format!("{who} is a 32-bit program on a 64-bit kernel: it needs IA32_EMULATION"));
                    }
                    _ => {}
                }
                if matches!(init, Some(InitKind::Script) | None) && script_off {
                    any = true;
                    let s = if init.is_some() { 95 } else { 45 };
                    opt(self, "BINFMT_SCRIPT", s, format!("if {who} is a '#!' script, it needs BINFMT_SCRIPT"));
                }
                if !any {
                    self.note(&rule, ev, format!(
                        "BINFMT_ELF, BINFMT_SCRIPT and 64BIT are all set: {who} is probably built for another architecture"));
                }
            }
            Handler::NoInit => {
                for (o, s) in [("BINFMT_ELF", 50), ("BINFMT_SCRIPT", 40)] {
                    if cfg_on(self, o) != Some(true) {
                        opt(self, o, s, r.why.clone());
                    }
                }
            }
            Handler::RootDevice => {
                let line = &ev.text;
                if line.contains("(null)") {
                    self.note(&rule, ev, "no root= parameter was given: pass root=/dev/<partition> (the kernel lists the partitions it found after this line)".into());
                }
                let partitions_listed = text.contains("available partitions") && text.contains(" driver: ");
                if partitions_listed {
                    self.note(&rule, ev, "the disk is visible (partitions and their driver are listed): the disk driver is there; the file system or root= is what is missing".into());
                }
                opt(self, "EXT4_FS", 55, "the root file system's driver must be built in; the message does not say the type — ext4 is the usual one (check with blkid)".into());
                if !partitions_listed && self.inputs.lspci.is_none() && self.inputs.devices.is_empty() {
                    // Without the machine's PCI devices, name the usual
                    // disk controllers of QEMU and EC2.
                    for (v, d, c, score, what) in [
                        (0x1af4u32, 0x1001u32, None, 50u32, "QEMU -drive if=virtio (virtio-blk)"),
                        (0x8086, 0x2922, Some(0x010601u32), 45, "QEMU q35's AHCI controller"),
                        (0x1b36, 0x0010, Some(0x010802), 40, "an NVMe disk (QEMU -device nvme, EC2 Nitro)"),
                        (0x8086, 0x7010, Some(0x010180), 35, "QEMU pc's PIIX IDE controller"),
                    ] {
                        let ev2 = ev.clone();
                        for g in pci_lookup_sub(self.index, v, d, c, None)
                            .into_iter()
                            .filter(|g| g.matched_by != "any")
                            .take(2)
                        {
                            let why = format!("if the root disk is on {what}; pass --lspci to know");
                            if let Some(c) = self.candidate_from(&g.cond, Kind::Rule, &rule, &g.subject, &ev2, score, &why, Some(format!("{}:{}", g.file, g.line))) {
                                self.push_candidate(c);
                            }
                        }
                    }
                }
            }
        }
    }
}
