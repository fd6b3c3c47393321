//! Findings to candidates: a lookup (`syscall:NAME`, `fs:NAME` or a mount
//! point, `af:AF_X`, `file:PATH`, `option:NAME`, `pci:VVVV:DDDD`) is
//! answered from the index, the cheapest site winning; what has no answer
//! becomes a note.

use super::state::{Candidate, Doctor, Finding, Target};
use crate::cond::Cond;
use crate::index::Site;

impl Doctor<'_> {
    /// Looks every finding up; the candidates, in the order found.
    pub(super) fn resolve(&mut self) -> Vec<Candidate> {
        let findings = std::mem::take(&mut self.findings);
        for f in findings {
            match &f.target {
                Target::Option { name, value } => {
                    let c = self.candidate_for_option(&f, name, value, f.source.clone());
                    self.push_candidate(c);
                }
                Target::Lookup(l) => self.lookup(&f, l),
            }
        }
        std::mem::take(&mut self.cands)
    }

    fn lookup(&mut self, f: &Finding, l: &str) {
        let (kind, arg) = l.split_once(':').unwrap_or((l, ""));
        let arg = arg.trim();
        let idx = self.index;
        let mut sites: Vec<(String, &Site)> = Vec::new();
        match kind {
            "syscall" => match idx.syscall(arg) {
                Some(s) if s.conditional => {
                    if s.cond == Cond::False {
                        self.note(
                            &f.rule,
                            &f.evidence,
                            format!(
                                "syscall {arg} is not implemented on {} in this kernel",
                                idx.arch
                            ),
                        );
                        return;
                    }
                    sites.extend(s.sites.iter().map(|x| (format!("syscall {}", s.name), x)));
                }
                Some(s) => {
                    self.note(&f.rule, &f.evidence, format!(
                        "syscall {} is always compiled in ({}); ENOSYS for it comes from elsewhere (seccomp, an emulator, another architecture's binary)",
                        s.name,
                        s.sites.first().map(|x| format!("{}:{}", x.file, x.line)).unwrap_or_default()));
                    return;
                }
                None => {
                    if f.strict {
                        self.note(
                            &f.rule,
                            &f.evidence,
                            format!("{arg} is not a syscall this kernel defines"),
                        );
                    }
                    return;
                }
            },
            "fs" => {
                let name = if arg.starts_with('/') {
                    match self.rules.mountpoints.get(arg.trim_end_matches('/')) {
                        Some(n) => n.clone(),
                        None => {
                            self.note(&f.rule, &f.evidence, format!("mounting on {arg} failed with ENODEV; the file system type is not in the message"));
                            return;
                        }
                    }
                } else {
                    arg.to_string()
                };
                let fs = idx.filesystem(&name);
                if fs.is_empty() {
                    if f.strict || !name.is_empty() {
                        self.note(
                            &f.rule,
                            &f.evidence,
                            format!("no file system named {name:?} in this kernel"),
                        );
                    }
                    return;
                }
                sites.extend(fs.iter().map(|x| (format!("file system {name}"), &x.site)));
            }
            "af" => {
                let fams = idx.family(arg);
                if fams.is_empty() {
                    self.note(
                        &f.rule,
                        &f.evidence,
                        format!("no address family {arg} is registered by any code in this kernel"),
                    );
                    return;
                }
                sites.extend(
                    fams.iter()
                        .map(|x| (format!("address family {}", x.family), &x.site)),
                );
            }
            "file" => {
                match idx.files.get(arg) {
                    Some(c) => {
                        let site = Site {
                            file: arg.to_string(),
                            line: 1,
                            cond: c.clone(),
                            module: None,
                        };
                        if let Some(c) = self.candidate_from(
                            &site.cond,
                            f.kind,
                            &f.rule,
                            &format!("file {arg}"),
                            &f.evidence,
                            f.score,
                            &f.why,
                            Some(arg.to_string()),
                        ) {
                            self.push_candidate(c);
                        }
                    }
                    None => self.note(
                        &f.rule,
                        &f.evidence,
                        format!("{arg} is not built by any Makefile"),
                    ),
                }
                return;
            }
            "option" => {
                if self.db.sym_find(arg).is_none() {
                    self.note(
                        &f.rule,
                        &f.evidence,
                        format!("CONFIG_{arg} does not exist in this kernel"),
                    );
                    return;
                }
                let c = self.candidate_for_option(f, arg, "y", f.source.clone());
                self.push_candidate(c);
                return;
            }
            "pci" => {
                let parts: Vec<&str> = arg.split(':').collect();
                let h = |s: Option<&&str>| s.and_then(|x| u32::from_str_radix(x, 16).ok());
                if let (Some(v), Some(d)) = (h(parts.first()), h(parts.get(1))) {
                    let ev = f.evidence.clone();
                    self.pci_device(&ev, v, d, h(parts.get(2)), None);
                }
                return;
            }
            _ => {
                self.note(&f.rule, &f.evidence, format!("unknown lookup {l:?}"));
                return;
            }
        }
        // The cheapest site wins (e.g. tmpfs with and without SHMEM).
        let mut best: Option<(usize, Candidate)> = None;
        for (subject, site) in sites {
            let src = f
                .source
                .clone()
                .or_else(|| Some(format!("{}:{}", site.file, site.line)));
            let src = if f.source.is_some() && matches!(kind, "syscall" | "fs" | "af") {
                // Index answers cite the kernel line; the rule's own source
                // is about the message.
                Some(format!("{}:{}", site.file, site.line))
            } else {
                src
            };
            if let Some(c) = self.candidate_from(
                &site.cond,
                f.kind,
                &f.rule,
                &subject,
                &f.evidence,
                f.score,
                &f.why,
                src,
            ) {
                let cost = self.cost(&c.requests);
                if best.as_ref().is_none_or(|(b, _)| cost < *b) {
                    best = Some((cost, c));
                }
            }
        }
        if let Some((_, c)) = best {
            self.push_candidate(c);
        }
    }
}
