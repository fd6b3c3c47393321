//! Just enough of the C preprocessor to answer "under which options is this
//! line compiled" and "what numbers does this ID table hold", without
//! running a compiler: comments, line continuations, the `#if` stack (read
//! as options where it tests options, kept verbatim where it does not), and
//! macro expansion for device-ID tables, which are mostly macros
//! (`PCI_VDEVICE(INTEL, 0x10d3)`, per-driver wrappers, IDs from headers).
//!
//! One layer per module, each using only the ones before it: `text`
//! (comments and continuations), `token` (the tokenizer), `int` (integer
//! constant expressions), `ifexpr` (`#if` expressions as conditions on
//! options), `directives` (the `#if` stack, `#define`, `#include`) and
//! `expand` (macro expansion). All of it is pure: the caller reads files.

mod directives;
mod expand;
mod ifexpr;
mod int;
mod text;
mod token;

pub use directives::{preprocess, tokens_of, Define, Include, Line, Preprocessed};
pub use expand::{Layered, Macro, Macros};
pub use ifexpr::{parse_if, MacroFacts, NoFacts};
pub use int::{eval_int, parse_int};
pub use text::{logical_lines, strip_comments};
pub use token::{tokenize, Tok, TokKind};
