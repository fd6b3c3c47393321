//! From inputs to ranked suggestions: every input line that means
//! something becomes a finding (a lookup in the index, or an option a rule
//! names), findings become options through the guards the index recorded,
//! options are merged and ranked, and the solver says what else each one
//! needs.

use std::collections::{BTreeMap, HashMap};

use kconfig::Db;
use serde::{Deserialize, Serialize};

use crate::cond::{Cond, Config, Literal, Tri};
use crate::index::{self, Index, Site};
use crate::inputs::{self, InitKind, Inputs, Question};
use crate::rules::{self, Pattern, Symptoms};

/// Where a suggestion's reason was seen, so a person can check it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// `log`, `strace`, `lspci`, `qmp`, `probe`, `question`.
    pub input: String,
    /// 1-based line in that input (0 for questions).
    pub line: usize,
    pub text: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Syscall,
    Filesystem,
    AddressFamily,
    Pci,
    /// A kernel message that names the option.
    Message,
    /// A hand-written rule (data/symptoms.toml).
    Rule,
    Probe,
    /// Needed alongside another suggestion (data/symptoms.toml companions).
    Companion,
}

/// One thing the solver set besides the requested option.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Setting {
    pub symbol: String,
    pub value: String,
    pub reason: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Suggestion {
    /// The option to set (without CONFIG_).
    pub option: String,
    pub value: String,
    pub kind: Kind,
    /// The rule or lookup that produced it (`syscall:epoll_create1`,
    /// `rule:openpty`, ...).
    pub rule: String,
    /// What was looked up, in words (`syscall epoll_create1`).
    pub subject: String,
    pub why: String,
    /// The input lines that led here (merged across inputs).
    pub evidence: Vec<Evidence>,
    /// Where the answer comes from: the kernel source line (file:line)
    /// for index answers, the rule's line in data/symptoms.toml otherwise.
    pub source: Option<String>,
    /// The full condition under which that code is compiled.
    pub guard: Option<String>,
    /// Every option the guard needs (the suggestion's `option` is the
    /// innermost).
    pub requests: Vec<String>,
    /// With a --config: whether it already holds (then the symptom has
    /// another cause, and the suggestion ranks lower).
    pub already_satisfied: Option<bool>,
    /// What the solver adds to make the request hold (dependencies,
    /// EXPERT for `if EXPERT` prompts), with reasons.
    pub additions: Vec<Setting>,
    /// The fragment lines to add: the requests plus the additions.
    pub set: Vec<String>,
    /// The option's prompt and when it is visible (`"Enable futex
    /// support" if EXPERT`): a prompt behind EXPERT is why EXPERT shows up
    /// in `additions` when the base does not have it.
    pub prompt: Option<String>,
    pub solve_error: Option<String>,
    /// 0-100; suggestions are sorted by it.
    pub score: u32,
}

/// Something worth saying that is not an option to set.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Note {
    pub rule: String,
    pub evidence: Evidence,
    pub text: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Report {
    pub suggestions: Vec<Suggestion>,
    pub notes: Vec<Note>,
}

/// The doctor's answer with the shipped rules.
pub fn diagnose(index: &Index, db: &Db, inputs: &Inputs) -> Vec<Suggestion> {
    diagnose_with(index, db, inputs, &Symptoms::builtin()).suggestions
}

/// The full report (suggestions and notes) with the given rules.
pub fn diagnose_with(index: &Index, db: &Db, inputs: &Inputs, rules: &Symptoms) -> Report {
    let mut d = Doctor::new(index, db, inputs, rules);
    d.run();
    d.finish()
}

/// What a PCI device needs: the drivers whose ID tables match it, each with
/// its guard. `class` is the 24-bit class code, or the 16-bit base+sub
/// `lspci -n` prints (then the prog-if is not compared).
pub fn pci_lookup(index: &Index, vendor: u32, device: u32, class: Option<u32>) -> Vec<Guard> {
    pci_lookup_sub(index, vendor, device, class, None)
}

/// A guard: the option expression under which something is compiled.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Guard {
    pub subject: String,
    /// The innermost option of the cheapest alternative.
    pub symbol: Option<String>,
    pub expr: String,
    pub cond: Cond,
    pub file: String,
    pub line: u32,
    pub module: Option<String>,
    /// `vendor+device`, `class`, `vendor`, `device` (any vendor), or
    /// `virtio` (the virtio driver behind a virtio-pci device).
    pub matched_by: String,
    /// The hops from the question to the code.
    pub via: Vec<String>,
    /// The entry names a subsystem the question did not give: it matches
    /// only some boards with these IDs.
    pub needs_subsystem: bool,
}

/// Transitional (legacy) virtio-pci device IDs → virtio device IDs (virtio
/// spec 1.x, "PCI Device ID" table; modern devices are 0x1040 + ID).
const VIRTIO_TRANSITIONAL: [(u32, u32); 7] = [
    (0x1000, 1), // network
    (0x1001, 2), // block
    (0x1002, 5), // memory balloon
    (0x1003, 3), // console
    (0x1004, 8), // SCSI host
    (0x1005, 4), // entropy source
    (0x1009, 9), // 9P transport
];

/// [`pci_lookup`] with the subsystem IDs when known: entries that name a
/// subsystem must then match it, and a transitional virtio device's
/// subsystem device ID is its virtio ID. Catch-all entries (any vendor,
/// any device, no class: pci-stub, xen-pciback) are left out: they bind
/// only when told to.
pub fn pci_lookup_sub(
    index: &Index,
    vendor: u32,
    device: u32,
    class: Option<u32>,
    sub: Option<(u32, u32)>,
) -> Vec<Guard> {
    let subdevice = sub.map(|s| s.1);
    let subject = match class {
        Some(c) if c > 0xffff => format!("pci {vendor:04x}:{device:04x} class {c:06x}"),
        Some(c) => format!("pci {vendor:04x}:{device:04x} class {c:04x}"),
        None => format!("pci {vendor:04x}:{device:04x}"),
    };
    let mut out: Vec<Guard> = Vec::new();
    for e in &index.pci {
        if !index::pci_matches(&e.ids, vendor, device, class) {
            continue;
        }
        let names_sub = e.ids.subvendor != scan::PCI_ANY_ID || e.ids.subdevice != scan::PCI_ANY_ID;
        if let (true, Some((sv, sd))) = (names_sub, sub) {
            let ok = |want: u32, have: u32| want == scan::PCI_ANY_ID || want == have;
            if !ok(e.ids.subvendor, sv) || !ok(e.ids.subdevice, sd) {
                continue;
            }
        }
        let any = "any";
        let matched_by = if e.ids.vendor != scan::PCI_ANY_ID && e.ids.device != scan::PCI_ANY_ID {
            "vendor+device"
        } else if e.ids.class_mask != 0 {
            "class"
        } else if e.ids.vendor != scan::PCI_ANY_ID {
            "vendor"
        } else if e.ids.device != scan::PCI_ANY_ID {
            "device"
        } else {
            any
        };
        let mut via = vec![format!(
            "{} entry {} in {}:{}",
            e.table,
            describe_ids(&e.ids),
            e.site.file,
            e.site.line
        )];
        if matched_by == "any" {
            continue;
        }
        if names_sub {
            via.push(format!(
                "only for subsystem {:04x}:{:04x}",
                e.ids.subvendor & 0xffff,
                e.ids.subdevice & 0xffff
            ));
        }
        let mut g = guard_of(&subject, &e.site, matched_by, via);
        g.needs_subsystem = names_sub && sub.is_none();
        push_guard(&mut out, g);
    }
    // virtio-pci: the transport matched above (vendor 0x1af4, any device);
    // the device itself is driven by the virtio driver for its virtio ID.
    if vendor == 0x1af4 && (0x1000..=0x107f).contains(&device) {
        let vid = if device >= 0x1040 {
            Some(device - 0x1040)
        } else {
            subdevice.filter(|s| *s != 0).or_else(|| {
                VIRTIO_TRANSITIONAL
                    .iter()
                    .find(|(d, _)| *d == device)
                    .map(|(_, v)| *v)
            })
        };
        if let Some(vid) = vid {
            let name = index
                .virtio_names
                .get(&vid)
                .cloned()
                .unwrap_or_else(|| format!("virtio ID {vid}"));
            // The virtio driver works only over the virtio-pci transport
            // (matched above by vendor), so the device needs both: asking
            // for them together also lets the solver pick the transport to
            // select VIRTIO rather than some other virtio driver.
            let transport = out
                .iter()
                .find(|g| g.matched_by == "vendor" && g.file.contains("virtio_pci"))
                .map(|g| g.cond.clone());
            for v in index.virtio.iter().filter(|v| v.device == vid) {
                let via = vec![
                    format!("virtio-pci {device:04x} is virtio device {vid} ({name})"),
                    format!("{} in {}:{}", v.table, v.site.file, v.site.line),
                ];
                let mut g = guard_of(&subject, &v.site, "virtio", via);
                if let Some(t) = &transport {
                    g.cond = Cond::and([t.clone(), g.cond]);
                    g.expr = g.cond.to_string();
                    g.symbol = innermost(&g.cond);
                }
                push_guard(&mut out, g);
            }
        }
    }
    let rank = |g: &Guard| match g.matched_by.as_str() {
        "vendor+device" => 0,
        "virtio" => 1,
        "class" => 2,
        "vendor" | "device" => 3,
        _ => 4,
    };
    out.sort_by_key(rank);
    out
}

use crate::scan;

fn describe_ids(m: &scan::PciMatch) -> String {
    let f = |v: u32| {
        if v == scan::PCI_ANY_ID {
            "*".to_string()
        } else {
            format!("{v:04x}")
        }
    };
    let mut s = format!("{}:{}", f(m.vendor), f(m.device));
    if m.class_mask != 0 {
        s.push_str(&format!(" class {:06x}/{:06x}", m.class, m.class_mask));
    }
    s
}

fn push_guard(out: &mut Vec<Guard>, g: Guard) {
    if !out
        .iter()
        .any(|x| x.file == g.file && x.cond == g.cond && x.matched_by == g.matched_by)
    {
        out.push(g);
    }
}

fn guard_of(subject: &str, site: &Site, matched_by: &str, via: Vec<String>) -> Guard {
    Guard {
        subject: subject.to_string(),
        symbol: innermost(&site.cond),
        expr: site.cond.to_string(),
        cond: site.cond.clone(),
        file: site.file.clone(),
        line: site.line,
        module: site.module.clone(),
        matched_by: matched_by.to_string(),
        via,
        needs_subsystem: false,
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

/// The option to name: the innermost (last) positive one of the first
/// alternative, the most specific switch (`NET && UNIX` → UNIX), because
/// the outer ones are usually its Kconfig dependencies anyway.
pub fn innermost(c: &Cond) -> Option<String> {
    c.alternatives()
        .first()
        .and_then(|a| a.iter().rev().find(|l| l.on).map(|l| l.symbol.clone()))
}

// ---------------------------------------------------------------------------

enum Target {
    Lookup(String),
    /// An option named directly, with the kernel source to cite.
    Option {
        name: String,
        value: String,
    },
}

struct Finding {
    kind: Kind,
    rule: String,
    evidence: Evidence,
    score: u32,
    why: String,
    target: Target,
    /// Overrides the lookup's source (a rule's kernel source).
    source: Option<String>,
    /// Report lookups that find nothing (false for captured names that are
    /// often not syscalls at all).
    strict: bool,
}

struct Candidate {
    option: String,
    value: String,
    requests: Vec<String>,
    kind: Kind,
    rule: String,
    subject: String,
    why: String,
    evidence: Vec<Evidence>,
    source: Option<String>,
    guard: Option<String>,
    score: u32,
    satisfied: Option<bool>,
}

struct Doctor<'a> {
    index: &'a Index,
    db: &'a Db,
    inputs: &'a Inputs,
    rules: &'a Symptoms,
    user: Option<Config>,
    /// Values to judge "already on" by: the user's config, else allnoconfig.
    now: Config,
    findings: Vec<Finding>,
    cands: Vec<Candidate>,
    notes: Vec<Note>,
    compiled: Vec<(usize, Vec<Pattern>)>,
}

impl<'a> Doctor<'a> {
    fn new(index: &'a Index, db: &'a Db, inputs: &'a Inputs, rules: &'a Symptoms) -> Doctor<'a> {
        let user = inputs.config.as_deref().map(Config::parse);
        let now = match &user {
            Some(c) => c.clone(),
            None => {
                let (_, text) = ksolve::Solver::new(db, String::new()).base();
                Config::parse(&text)
            }
        };
        let compiled = rules
            .rule
            .iter()
            .enumerate()
            .map(|(i, r)| {
                (
                    i,
                    r.patterns
                        .iter()
                        .filter_map(|p| Pattern::compile(p).ok())
                        .collect(),
                )
            })
            .collect();
        Doctor {
            index,
            db,
            inputs,
            rules,
            user,
            now,
            findings: Vec::new(),
            cands: Vec::new(),
            notes: Vec::new(),
            compiled,
        }
    }

    fn note(&mut self, rule: &str, ev: &Evidence, text: String) {
        if !self
            .notes
            .iter()
            .any(|n| n.text == text && n.evidence == *ev)
        {
            self.notes.push(Note {
                rule: rule.to_string(),
                evidence: ev.clone(),
                text,
            });
        }
    }

    fn run(&mut self) {
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

    #[allow(clippy::too_many_arguments)]
    fn find(
        &mut self,
        kind: Kind,
        rule: &str,
        ev: &Evidence,
        score: u32,
        why: &str,
        target: Target,
        strict: bool,
    ) {
        self.findings.push(Finding {
            kind,
            rule: rule.to_string(),
            evidence: ev.clone(),
            score,
            why: why.to_string(),
            target,
            source: None,
            strict,
        });
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
                            self.handler(h, r, &caps, &ev, text, source.clone());
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

    fn pci_device(
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

    // -- handlers ----------------------------------------------------------

    fn handler(
        &mut self,
        h: &str,
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
            "init-enoent" => match (init, cfg_on(self, "BINFMT_SCRIPT")) {
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
            "init-enoexec" => {
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
            "no-init" => {
                for (o, s) in [("BINFMT_ELF", 50), ("BINFMT_SCRIPT", 40)] {
                    if cfg_on(self, o) != Some(true) {
                        opt(self, o, s, r.why.clone());
                    }
                }
            }
            "root-device" => {
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
            other => self.note(&rule, ev, format!("unknown handler {other} in data/symptoms.toml")),
        }
    }

    // -- resolution --------------------------------------------------------

    fn resolve(&mut self) -> Vec<Candidate> {
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

    fn candidate_for_option(
        &self,
        f: &Finding,
        name: &str,
        value: &str,
        source: Option<String>,
    ) -> Candidate {
        let satisfied = self.user.as_ref().map(|c| c.tri(name) != Tri::N);
        Candidate {
            option: name.to_string(),
            value: value.to_string(),
            requests: vec![name.to_string()],
            kind: f.kind,
            rule: f.rule.clone(),
            subject: format!("option {name}"),
            why: f.why.clone(),
            evidence: vec![f.evidence.clone()],
            source,
            guard: None,
            score: f.score,
            satisfied,
        }
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

    /// Ranks sites and alternatives: the fewer options still to turn on,
    /// the less the advice changes.
    fn cost(&self, reqs: &[String]) -> usize {
        reqs.iter().filter(|r| self.now.tri(r) == Tri::N).count()
    }

    /// A candidate from a guard: the cheapest alternative's positive
    /// options are the requests, the innermost is the option.
    #[allow(clippy::too_many_arguments)]
    fn candidate_from(
        &mut self,
        cond: &Cond,
        kind: Kind,
        rule: &str,
        subject: &str,
        ev: &Evidence,
        score: u32,
        why: &str,
        source: Option<String>,
    ) -> Option<Candidate> {
        let alts = cond.alternatives();
        if cond == &Cond::False || alts.is_empty() {
            self.note(
                rule,
                ev,
                format!("{subject}: never compiled for {} ({cond})", self.index.arch),
            );
            return None;
        }
        let score_alt = |a: &Vec<Literal>| -> usize {
            let mut c = 0;
            for l in a {
                let exists = self.db.sym_find(&l.symbol).is_some();
                if !exists {
                    c += 100;
                } else if l.on && self.now.tri(&l.symbol) == Tri::N {
                    c += 1;
                } else if !l.on && self.now.tri(&l.symbol) != Tri::N {
                    c += 10;
                }
            }
            c
        };
        let best = alts.iter().min_by_key(|a| score_alt(a))?;
        let requests: Vec<String> = best
            .iter()
            .filter(|l| l.on)
            .map(|l| l.symbol.clone())
            .collect();
        let Some(option) = requests.last().cloned() else {
            self.note(
                rule,
                ev,
                format!("{subject}: compiled in whenever {cond} — no option to turn on"),
            );
            return None;
        };
        let mut why = why.to_string();
        if why.is_empty() {
            why = format!("{subject} is compiled when {cond}");
        }
        let satisfied = self.user.as_ref().map(|c| {
            requests.iter().all(|r| c.tri(r) != Tri::N)
                && best
                    .iter()
                    .filter(|l| !l.on)
                    .all(|l| c.tri(&l.symbol) == Tri::N)
        });
        Some(Candidate {
            option,
            value: "y".into(),
            requests,
            kind,
            rule: rule.to_string(),
            subject: subject.to_string(),
            why,
            evidence: vec![ev.clone()],
            source,
            guard: Some(cond.to_string()),
            score,
            satisfied,
        })
    }

    fn push_candidate(&mut self, c: Candidate) {
        if let Some(x) = self.cands.iter_mut().find(|x| x.option == c.option) {
            for e in c.evidence {
                if !x.evidence.contains(&e) {
                    x.evidence.push(e);
                }
            }
            if c.score > x.score {
                x.score = c.score;
                x.kind = c.kind;
                x.rule = c.rule;
                x.subject = c.subject;
                x.why = c.why;
                x.source = c.source.or(x.source.take());
                x.guard = c.guard.or(x.guard.take());
                x.requests = c.requests;
                x.satisfied = c.satisfied;
            } else {
                if x.source.is_none() {
                    x.source = c.source;
                }
                if x.guard.is_none() {
                    x.guard = c.guard;
                }
            }
            return;
        }
        self.cands.push(c);
    }

    fn finish(mut self) -> Report {
        let mut cands = self.resolve();
        // Companions (data/symptoms.toml): what the same job also needs.
        let mut extra = Vec::new();
        for c in &cands {
            for comp in self.rules.companion.iter().filter(|k| k.option == c.option) {
                for o in &comp.also {
                    if cands.iter().any(|x| &x.option == o) || self.db.sym_find(o).is_none() {
                        continue;
                    }
                    extra.push(Candidate {
                        option: o.clone(),
                        value: "y".into(),
                        requests: vec![o.clone()],
                        kind: Kind::Companion,
                        rule: format!("companion:{}", c.option),
                        subject: format!("with {}", c.option),
                        why: comp.why.clone(),
                        evidence: c.evidence.clone(),
                        source: self
                            .rules
                            .lines
                            .get(&c.option)
                            .map(|l| format!("{}:{l}", self.rules.file))
                            .or_else(|| Some(self.rules.file.clone())),
                        guard: None,
                        score: c.score.saturating_sub(5),
                        satisfied: self.user.as_ref().map(|u| u.tri(o) != Tri::N),
                    });
                }
            }
        }
        for e in extra {
            if !cands.iter().any(|x| x.option == e.option) {
                cands.push(e);
            }
        }
        // Options the kernel does not have cannot be advised.
        cands.retain(|c| {
            let ok = self.db.sym_find(&c.option).is_some();
            if !ok {
                self.notes.push(Note {
                    rule: c.rule.clone(),
                    evidence: c.evidence[0].clone(),
                    text: format!(
                        "{} needs CONFIG_{}, which this kernel's Kconfig does not define",
                        c.subject, c.option
                    ),
                });
            }
            ok
        });
        let base_fragment = self.inputs.config.clone().unwrap_or_default();
        let solver = ksolve::Solver::new(self.db, base_fragment);
        let mut cache: HashMap<Vec<String>, Result<ksolve::Solution, String>> = HashMap::new();
        let mut out = Vec::new();
        for c in cands {
            let mut s = Suggestion {
                option: c.option.clone(),
                value: c.value.clone(),
                kind: c.kind,
                rule: c.rule,
                subject: c.subject,
                why: c.why,
                evidence: c.evidence,
                source: c.source,
                guard: c.guard,
                requests: c.requests.clone(),
                already_satisfied: c.satisfied,
                additions: Vec::new(),
                set: Vec::new(),
                prompt: prompt_of(self.db, &c.option),
                solve_error: None,
                score: c.score,
            };
            if s.already_satisfied == Some(true) {
                s.score = s.score.saturating_sub(40);
                s.why.push_str(
                    " — already set in the given configuration, so this symptom has another cause",
                );
            }
            if self.inputs.solve && s.already_satisfied != Some(true) {
                let key = c.requests.clone();
                let res = cache.entry(key).or_insert_with(|| {
                    let reqs: Vec<ksolve::Request> = c
                        .requests
                        .iter()
                        .map(|r| ksolve::Request {
                            symbol: r.clone(),
                            value: "y".into(),
                            origin: format!("doctor: {}", c.option),
                        })
                        .collect();
                    solver.solve(&reqs).map_err(|e| e.to_string())
                });
                match res {
                    Ok(sol) => {
                        s.additions = sol
                            .additions
                            .iter()
                            .map(|a| Setting {
                                symbol: a.symbol.clone(),
                                value: a.value.clone(),
                                reason: a.reason.clone(),
                            })
                            .collect();
                        let mut set: Vec<String> = c
                            .requests
                            .iter()
                            .map(|r| ksolve::line_for(self.db, r, "y"))
                            .collect();
                        set.extend(
                            s.additions
                                .iter()
                                .map(|a| ksolve::line_for(self.db, &a.symbol, &a.value)),
                        );
                        s.set = set;
                        if !sol.unknown.is_empty() {
                            s.solve_error = Some(format!(
                                "not in this kernel: {}",
                                sol.unknown
                                    .iter()
                                    .map(|u| u.symbol.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ));
                        }
                    }
                    Err(e) => s.solve_error = Some(e.clone()),
                }
            }
            out.push(s);
        }
        // Stable ranking: score, then where the evidence first appeared.
        out.sort_by(|a, b| {
            b.score
                .cmp(&a.score)
                .then_with(|| first_pos(a).cmp(&first_pos(b)))
                .then_with(|| a.option.cmp(&b.option))
        });
        Report {
            suggestions: out,
            notes: self.notes,
        }
    }
}

fn prompt_of(db: &Db, name: &str) -> Option<String> {
    let id = db.sym_find(name)?;
    let p = *db.prompts_of(id).first()?;
    let pr = db.prop(p);
    let text = pr.text.clone().unwrap_or_default();
    Some(if pr.visible_expr.is_some() {
        format!("\"{text}\" if {}", db.expr_str(pr.visible_expr))
    } else {
        format!("\"{text}\"")
    })
}

fn first_pos(s: &Suggestion) -> (usize, usize) {
    s.evidence
        .iter()
        .map(|e| {
            let order = match e.input.as_str() {
                "question" => 0,
                "log" => 1,
                "strace" => 2,
                "probe" => 3,
                _ => 4,
            };
            (order, e.line)
        })
        .min()
        .unwrap_or((9, 0))
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
