//! From inputs to findings: the rules of data/symptoms.toml over the log
//! and the strace, log lines naming `CONFIG_X`, probe results, strace
//! errors (ENOSYS, EAFNOSUPPORT, ENODEV), PCI devices and direct
//! questions. A finding is looked up later (`lookup`); PCI devices and
//! the rules' handlers answer at once.

use std::collections::BTreeMap;

use super::report::{Evidence, Kind};
use super::state::{Doctor, Finding, Target};
use crate::inputs::{self, Question};
use crate::rules;

impl Doctor<'_> {
    /// Reads every input into findings (and candidates, for devices).
    pub(super) fn run(&mut self) {
        let inputs = self.inputs;
        if let Some(log) = &inputs.log {
            self.text_rules("log", log);
            self.config_names(log);
            self.probes(log, "log");
        }
        if let Some(st) = &inputs.strace {
            self.strace(st);
            self.text_rules("strace", st);
        }
        if let Some(p) = &inputs.probes {
            self.probes(p, "probe");
        }
        let lspci = inputs.lspci.as_deref().map(inputs::parse_lspci);
        let listed = lspci.iter().flatten().map(|d| ("lspci", d));
        for (input, d) in listed.chain(inputs.devices.iter().map(|d| ("qmp", d))) {
            let ev = Evidence {
                input: input.into(),
                line: d.line_no,
                text: d.line.trim().to_string(),
            };
            let sub = d.subvendor.zip(d.subdevice);
            self.pci_device(&ev, d.vendor, d.device, d.class, sub);
        }
        for q in &inputs.questions {
            let ev = Evidence {
                input: "question".into(),
                line: 0,
                text: q.clone(),
            };
            match Question::parse(q) {
                Some(Question::Syscall(n)) => self.find(Kind::Syscall, "question", &ev, 100, "", Target::Lookup(format!("syscall:{n}")), true),
                Some(Question::Family(n)) => self.find(Kind::AddressFamily, "question", &ev, 100, "", Target::Lookup(format!("af:{n}")), true),
                Some(Question::Filesystem(n)) => self.find(Kind::Filesystem, "question", &ev, 100, "", Target::Lookup(format!("fs:{n}")), true),
                Some(Question::Pci { vendor, device, class }) => self.pci_device(&ev, vendor, device, class, None),
                None => self.note(
                    "question",
                    &ev,
                    "not a question the doctor knows: use `syscall NAME`, `af AF_X`, `fs NAME` or `pci VVVV:DDDD[:CLASS]`".into(),
                ),
            }
        }
    }

    /// Rules from data/symptoms.toml over one input.
    fn text_rules(&mut self, input: &str, text: &str) {
        let rules = self.rules;
        let compiled = std::mem::take(&mut self.compiled);
        let mut handled: Vec<(&usize, usize)> = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim_end();
            if line.trim().is_empty() {
                continue;
            }
            for (ri, pats) in &compiled {
                let r = &rules.rule[*ri];
                if r.input != "any" && r.input != input {
                    continue;
                }
                // Every pattern that matches: "x() failed: ..." also
                // matches "{name}: ..." with the wrong word.
                let mut all: Vec<BTreeMap<String, String>> = Vec::new();
                for c in pats.iter().filter_map(|p| p.matches(line)) {
                    if !all.contains(&c) {
                        all.push(c);
                    }
                }
                if all.is_empty() || r.unless.iter().any(|u| text.contains(u.as_str())) {
                    continue;
                }
                for caps in all {
                    let ev = Evidence {
                        input: input.to_string(),
                        line: i + 1,
                        text: line.trim().to_string(),
                    };
                    let source = self.rule_source(r);
                    if let Some(h) = &r.handler {
                        if !handled.contains(&(ri, i)) {
                            handled.push((ri, i));
                            self.handler(*h, r, &caps, &ev, text, source.clone());
                        }
                    }
                    for l in &r.lookups {
                        let target = rules::substitute(l, &caps);
                        let kind = kind_of(&target);
                        let strict = !l.contains('{');
                        self.findings.push(Finding {
                            kind,
                            rule: format!("rule:{}", r.id),
                            evidence: ev.clone(),
                            score: r.score,
                            why: r.why.clone(),
                            target: Target::Lookup(target),
                            source: source.clone(),
                            strict,
                        });
                    }
                }
            }
        }
        self.compiled = compiled;
    }

    /// `path` or `path:text` of a rule → file:line in the tree, or the
    /// rule's own line in the rules file.
    fn rule_source(&self, r: &rules::Rule) -> Option<String> {
        if let Some(s) = &r.source {
            let (file, text) = s.split_once(':').unwrap_or((s.as_str(), ""));
            let p = std::path::Path::new(&self.index.tree).join(file);
            if let Ok(body) = std::fs::read_to_string(p) {
                if !text.is_empty() {
                    if let Some(n) = body.lines().position(|l| l.contains(text)) {
                        return Some(format!("{file}:{}", n + 1));
                    }
                }
            }
            return Some(file.to_string());
        }
        self.rules
            .lines
            .get(&r.id)
            .map(|l| format!("{}:{l}", self.rules.file))
    }

    /// Lines naming `CONFIG_X`: the kernel told us the option.
    fn config_names(&mut self, log: &str) {
        for (i, raw) in log.lines().enumerate() {
            let b = raw.as_bytes();
            let mut names: Vec<String> = Vec::new();
            for pos in memchr::memmem::find_iter(b, b"CONFIG_") {
                if pos > 0 && (b[pos - 1].is_ascii_alphanumeric() || b[pos - 1] == b'_') {
                    continue;
                }
                let rest = &raw[pos + 7..];
                let end = rest
                    .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
                    .unwrap_or(rest.len());
                let n = rest[..end].trim_end_matches('_');
                if !n.is_empty() && !names.iter().any(|x| x == n) {
                    names.push(n.to_string());
                }
            }
            if names.is_empty() {
                continue;
            }
            let ev = Evidence {
                input: "log".into(),
                line: i + 1,
                text: raw.trim().to_string(),
            };
            let msgs = self.index.messages_matching(raw);
            for n in names {
                if self.db.sym_find(&n).is_none() {
                    continue;
                }
                let m = msgs.iter().find(|m| m.options.contains(&n));
                let (score, source, why) = match m {
                    Some(m) => (
                        90,
                        Some(format!("{}:{}", m.site.file, m.site.line)),
                        format!("the kernel prints this message when CONFIG_{n} is missing"),
                    ),
                    None => (
                        80,
                        None,
                        format!(
                            "the message names CONFIG_{n} (this kernel's source does not print it: it comes from another version)"
                        ),
                    ),
                };
                self.findings.push(Finding {
                    kind: Kind::Message,
                    rule: "message-names-option".into(),
                    evidence: ev.clone(),
                    score,
                    why,
                    target: Target::Option {
                        name: n.clone(),
                        value: "y".into(),
                    },
                    source,
                    strict: true,
                });
            }
        }
    }

    fn probes(&mut self, text: &str, input: &str) {
        for p in inputs::parse_probes(text) {
            let ev = Evidence {
                input: input.to_string(),
                line: p.line_no,
                text: p.line.trim().to_string(),
            };
            match self.rules.probes.get(&p.probe) {
                Some(l) => {
                    let why = format!(
                        "probe {} failed{}",
                        p.probe,
                        p.errno
                            .as_deref()
                            .map(|e| format!(" with {e}"))
                            .unwrap_or_default()
                    );
                    self.find(
                        Kind::Probe,
                        &format!("probe:{}", p.probe),
                        &ev,
                        90,
                        &why,
                        Target::Lookup(l.clone()),
                        true,
                    );
                }
                None => self.note(
                    &format!("probe:{}", p.probe),
                    &ev,
                    format!(
                        "probe {} failed; data/symptoms.toml does not map it to an option",
                        p.probe
                    ),
                ),
            }
        }
    }

    fn strace(&mut self, text: &str) {
        for f in inputs::parse_strace(text) {
            let ev = Evidence {
                input: "strace".into(),
                line: f.line_no,
                text: f.line.trim().to_string(),
            };
            match (f.errno.as_str(), f.name.as_str()) {
                ("ENOSYS", n) => self.find(
                    Kind::Syscall,
                    "strace-enosys",
                    &ev,
                    95,
                    &format!("{n} returned ENOSYS: the syscall is not compiled in"),
                    Target::Lookup(format!("syscall:{n}")),
                    true,
                ),
                ("EAFNOSUPPORT", "socket" | "socketpair") => {
                    let fam = f.args.first().cloned().unwrap_or_default();
                    let fam = fam.replacen("PF_", "AF_", 1);
                    self.find(
                        Kind::AddressFamily,
                        "strace-eafnosupport",
                        &ev,
                        95,
                        &format!("{} with {fam} returned EAFNOSUPPORT: the address family is not registered", f.name),
                        Target::Lookup(format!("af:{fam}")),
                        true,
                    )
                }
                ("ENODEV", "mount") => {
                    let ty = f
                        .args
                        .get(2)
                        .map(|s| s.trim_matches('"').to_string())
                        .unwrap_or_default();
                    if !ty.is_empty() && ty != "NULL" {
                        self.find(
                            Kind::Filesystem,
                            "strace-enodev",
                            &ev,
                            95,
                            &format!("mount of type {ty} returned ENODEV: the file system is not registered"),
                            Target::Lookup(format!("fs:{ty}")),
                            true,
                        )
                    }
                }
                _ => {}
            }
        }
    }
}

fn kind_of(target: &str) -> Kind {
    match target.split(':').next().unwrap_or("") {
        "syscall" => Kind::Syscall,
        "fs" => Kind::Filesystem,
        "af" => Kind::AddressFamily,
        "pci" => Kind::Pci,
        _ => Kind::Rule,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lookup_says_what_kind_of_answer_it_is() {
        assert_eq!(kind_of("syscall:epoll_create1"), Kind::Syscall);
        assert_eq!(kind_of("fs:/proc"), Kind::Filesystem);
        assert_eq!(kind_of("af:AF_UNIX"), Kind::AddressFamily);
        assert_eq!(kind_of("pci:8086:100e"), Kind::Pci);
        assert_eq!(kind_of("option:FUTEX"), Kind::Rule);
        assert_eq!(kind_of("file:fs/binfmt_elf.c"), Kind::Rule);
    }
}
