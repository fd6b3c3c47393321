//! The diagnosis in progress and the operations every layer shares:
//! findings waiting to be looked up, candidates (merged by option), notes,
//! and turning a guard into a candidate (the cheapest alternative, judged
//! against the configuration).

use kconfig::Db;

use super::report::{Evidence, Kind, Note};
use crate::cond::{Cond, Config, Literal, Tri};
use crate::index::Index;
use crate::inputs::Inputs;
use crate::rules::{Pattern, Symptoms};

/// What a finding asks for.
pub(super) enum Target {
    /// A lookup in the index: `syscall:NAME`, `fs:NAME`, `af:AF_X`,
    /// `file:PATH`, `option:NAME`, `pci:VVVV:DDDD[:CLASS]`.
    Lookup(String),
    /// An option named directly, with the kernel source to cite.
    Option { name: String, value: String },
}

/// An input line that means something, not yet looked up.
pub(super) struct Finding {
    pub(super) kind: Kind,
    pub(super) rule: String,
    pub(super) evidence: Evidence,
    pub(super) score: u32,
    pub(super) why: String,
    pub(super) target: Target,
    /// Overrides the lookup's source (a rule's kernel source).
    pub(super) source: Option<String>,
    /// Report lookups that find nothing (false for captured names that are
    /// often not syscalls at all).
    pub(super) strict: bool,
}

/// An option to suggest, before the solver and the ranking.
pub(super) struct Candidate {
    pub(super) option: String,
    pub(super) value: String,
    pub(super) requests: Vec<String>,
    pub(super) kind: Kind,
    pub(super) rule: String,
    pub(super) subject: String,
    pub(super) why: String,
    pub(super) evidence: Vec<Evidence>,
    pub(super) source: Option<String>,
    pub(super) guard: Option<String>,
    pub(super) score: u32,
    /// With a --config: whether its requests already hold.
    pub(super) satisfied: Option<bool>,
}

/// One diagnosis: the inputs, what was found so far, the notes.
pub(super) struct Doctor<'a> {
    pub(super) index: &'a Index,
    pub(super) db: &'a Db,
    pub(super) inputs: &'a Inputs,
    pub(super) rules: &'a Symptoms,
    /// The `--config`, if given.
    pub(super) user: Option<Config>,
    /// Values to judge "already on" by: the user's config, else allnoconfig.
    pub(super) now: Config,
    pub(super) findings: Vec<Finding>,
    pub(super) cands: Vec<Candidate>,
    pub(super) notes: Vec<Note>,
    /// Each rule's patterns, compiled once: (rule index, patterns).
    pub(super) compiled: Vec<(usize, Vec<Pattern>)>,
}

impl<'a> Doctor<'a> {
    pub(super) fn new(
        index: &'a Index,
        db: &'a Db,
        inputs: &'a Inputs,
        rules: &'a Symptoms,
    ) -> Doctor<'a> {
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

    pub(super) fn note(&mut self, rule: &str, ev: &Evidence, text: String) {
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

    #[allow(clippy::too_many_arguments)]
    pub(super) fn find(
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

    pub(super) fn candidate_for_option(
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

    /// Ranks sites and alternatives: the fewer options still to turn on,
    /// the less the advice changes.
    pub(super) fn cost(&self, reqs: &[String]) -> usize {
        reqs.iter().filter(|r| self.now.tri(r) == Tri::N).count()
    }

    /// A candidate from a guard: the cheapest alternative's positive
    /// options are the requests, the innermost is the option.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn candidate_from(
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

    /// Adds a candidate, or merges it into the one for the same option:
    /// evidence accumulates, the higher score wins.
    pub(super) fn push_candidate(&mut self, c: Candidate) {
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
}
