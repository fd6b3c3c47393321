//! `minimize`: the smallest configuration that still passes a target's
//! checks, found by building and booting every step (see [`search`]).

pub mod journal;
pub mod search;
