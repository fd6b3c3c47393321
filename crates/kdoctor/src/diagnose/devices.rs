//! A PCI device (from lspci, QMP, a question or a rule) to candidates:
//! every driver that matches it, scored by how it matched and whether the
//! device needs a driver at all.

use super::query::{pci_lookup_sub, Guard};
use super::report::{Evidence, Kind};
use super::state::Doctor;

impl Doctor<'_> {
    pub(super) fn pci_device(
        &mut self,
        ev: &Evidence,
        vendor: u32,
        device: u32,
        class: Option<u32>,
        sub: Option<(u32, u32)>,
    ) {
        let guards = pci_lookup_sub(self.index, vendor, device, class, sub);
        let guards: Vec<Guard> = guards
            .into_iter()
            .filter(|g| !g.needs_subsystem || g.matched_by == "virtio")
            .collect();
        if guards.is_empty() {
            self.note(
                "pci",
                ev,
                format!("no driver in this kernel matches {vendor:04x}:{device:04x}"),
            );
            return;
        }
        let best_exact = guards
            .iter()
            .any(|g| g.matched_by == "vendor+device" || g.matched_by == "virtio");
        let virtio_pci = guards.iter().any(|g| g.matched_by == "virtio");
        let optional = optional_class(class);
        for g in guards {
            let mut score = match g.matched_by.as_str() {
                "vendor+device" => 85,
                "virtio" => 85,
                "class" if !best_exact => 80,
                "class" => 60,
                "vendor" if g.file.contains("virtio") => 80,
                "vendor" => 50,
                _ => 30,
            };
            let mut aside = "";
            if virtio_pci && g.matched_by != "virtio" && !g.file.contains("virtio_pci") {
                // vDPA and the like also claim virtio IDs; virtio-pci plus
                // the virtio driver is what a guest uses.
                score = score.min(40);
                aside = "; an alternative to the virtio-pci transport and virtio driver, not needed with them";
            } else if let Some(why) = optional {
                score = score.min(45);
                aside = why;
            }
            let why = format!(
                "{} matches this device ({}){}",
                g.module
                    .as_deref()
                    .map(|m| format!("driver {m}"))
                    .unwrap_or_else(|| "a driver".into()),
                g.via.join("; "),
                if g.file.contains("virtio_pci") {
                    ": the virtio-pci transport"
                } else {
                    ""
                }
            ) + aside;
            let cand = self.candidate_from(
                &g.cond,
                Kind::Pci,
                "pci",
                &g.subject,
                ev,
                score,
                &why,
                Some(format!("{}:{}", g.file, g.line)),
            );
            if let Some(c) = cand {
                self.push_candidate(c);
            }
        }
    }
}

/// Devices a kernel boots and runs without a driver for (the PCI core
/// handles them): drivers matching them add extras, and rank low. `class`
/// is 24-bit or, as lspci -n and QMP give it, 16-bit.
fn optional_class(class: Option<u32>) -> Option<&'static str> {
    let c = class?;
    let c = if c > 0xffff { c >> 8 } else { c };
    Some(match c {
        0x0600 => "; optional: a host bridge needs no driver, this one only adds extras (AGP, EDAC, ...)",
        0x0601 => "; optional: an ISA/LPC bridge needs no driver (serial, RTC and keyboard behind it are probed without it)",
        0x0604 => "; optional: the PCI core drives PCI-to-PCI bridges",
        0x0c05 => "; optional: only for sensors and EEPROMs on the SMBus",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bridges_and_smbus_need_no_driver() {
        for c in [0x0600, 0x060000, 0x0601, 0x0604, 0x0c05] {
            assert!(optional_class(Some(c)).is_some(), "{c:x}");
        }
        for c in [0x0106, 0x010601, 0x0200] {
            assert!(optional_class(Some(c)).is_none(), "{c:x}");
        }
        assert!(optional_class(None).is_none());
    }
}
