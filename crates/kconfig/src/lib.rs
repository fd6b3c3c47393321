//! The Linux Kconfig language, evaluated exactly as the kernel's own
//! `scripts/kconfig/conf` evaluates it.
//!
//! Layers, one per module, as in the kernel's implementation:
//! [`lexer`] (with [`macros`] for the preprocessor) → [`parser`] → [`menu`]
//! (tree finalization) → [`eval`] (symbol values) → [`confdata`] (.config
//! I/O) → [`modes`] (allnoconfig, olddefconfig, ...) and [`fragment`]
//! (merge_config.sh, tinyconfig). [`dotconfig`] reads `.config` files
//! without a tree, with conf's rules: the one reader the other crates use.
//! All I/O goes through the [`Host`] trait, so the engine is testable with
//! in-memory trees and fuzzable.
//!
//! ```no_run
//! # use kconfig::*;
//! # fn demo(host: &dyn Host) -> Result<(), Error> {
//! let (mut db, _warnings) = parse(host, "Kconfig", Dialect::Modern)?;
//! let out = db.run_mode(Mode::Allnoconfig, None, None, &RunOptions::default())?;
//! print!("{}", out.output);
//! # Ok(()) }
//! ```

pub mod confdata;
pub mod db;
mod deps;
pub mod diag;
pub mod dotconfig;
pub mod eval;
pub mod fragment;
pub mod host;
pub mod lexer;
pub mod macros;
pub mod menu;
pub mod model;
pub mod modes;
pub mod parser;
#[doc(hidden)]
pub mod testutil;

pub use db::{Db, Dialect, ROOT_MENU};
pub use diag::{Diag, Error};
pub use host::Host;
pub use model::{SymId, SymType, Tri};
pub use modes::{Input, Mode, Outcome, Run, RunOptions};
pub use parser::parse;
