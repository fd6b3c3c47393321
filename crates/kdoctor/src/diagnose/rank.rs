//! From candidates to the report: companions (data/symptoms.toml: what
//! the same job also needs), options this kernel does not define turned
//! into notes, already-set options ranked down, solver advice (`solve`),
//! and a stable order: score, then where the evidence first appeared.

use super::report::{Kind, Note, Report, Suggestion};
use super::solve::{prompt_of, Advisor};
use super::state::{Candidate, Doctor};
use crate::cond::Tri;

impl Doctor<'_> {
    /// The report: companions added, options this kernel lacks turned
    /// into notes, a penalty for what the configuration already has,
    /// solver advice, ranking.
    pub(super) fn finish(mut self, mut cands: Vec<Candidate>) -> Report {
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
        let mut advisor = Advisor::new(self.db, base_fragment);
        let mut out = Vec::new();
        for c in cands {
            let mut s = Suggestion {
                option: c.option.clone(),
                value: c.value,
                kind: c.kind,
                rule: c.rule,
                subject: c.subject,
                why: c.why,
                evidence: c.evidence,
                source: c.source,
                guard: c.guard,
                requests: c.requests,
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
                advisor.advise(&mut s);
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

/// Where a suggestion's evidence first appeared: questions first, then the
/// log, the strace, probes, devices; by line within each.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::report::Evidence;

    fn at(input: &str, line: usize) -> Evidence {
        Evidence {
            input: input.into(),
            line,
            text: String::new(),
        }
    }

    #[test]
    fn questions_then_log_then_strace_by_line() {
        let pos = |ev: Vec<Evidence>| {
            first_pos(&Suggestion {
                option: "X".into(),
                value: "y".into(),
                kind: Kind::Rule,
                rule: String::new(),
                subject: String::new(),
                why: String::new(),
                evidence: ev,
                source: None,
                guard: None,
                requests: Vec::new(),
                already_satisfied: None,
                additions: Vec::new(),
                set: Vec::new(),
                prompt: None,
                solve_error: None,
                score: 0,
            })
        };
        assert_eq!(pos(vec![at("strace", 1), at("log", 9)]), (1, 9));
        assert_eq!(pos(vec![at("question", 0)]), (0, 0));
        assert_eq!(pos(vec![at("qmp", 2)]), (4, 2));
        assert_eq!(pos(Vec::new()), (9, 0));
    }
}
