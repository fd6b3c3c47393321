//! From inputs to ranked suggestions: every input line that means
//! something becomes a finding (a lookup in the index, or an option a rule
//! names), findings become options through the guards the index recorded,
//! options are merged and ranked, and the solver says what else each one
//! needs.
//!
//! The layers, each using only those listed after it: `findings` (inputs
//! → findings; `handlers` for the rules that need judgement, `devices` for
//! PCI devices), `lookup` (findings → candidates), `rank` (candidates →
//! the report, with `solve` for the solver's advice), `state` (the
//! diagnosis in progress: candidates, notes, guards → candidates),
//! `query` (PCI lookups and guards over the index) and `report` (the
//! answer's types).

use kconfig::Db;

use crate::index::Index;
use crate::inputs::Inputs;
use crate::rules::Symptoms;

mod devices;
mod findings;
mod handlers;
mod lookup;
mod query;
mod rank;
mod report;
mod solve;
mod state;

pub use query::{innermost, pci_lookup, pci_lookup_sub, Guard};
pub use report::{Evidence, Kind, Note, Report, Setting, Suggestion};

/// The doctor's answer with the shipped rules.
pub fn diagnose(index: &Index, db: &Db, inputs: &Inputs) -> Vec<Suggestion> {
    diagnose_with(index, db, inputs, &Symptoms::builtin()).suggestions
}

/// The full report (suggestions and notes) with the given rules.
pub fn diagnose_with(index: &Index, db: &Db, inputs: &Inputs, rules: &Symptoms) -> Report {
    let mut d = state::Doctor::new(index, db, inputs, rules);
    d.run();
    let candidates = d.resolve();
    d.finish(candidates)
}
