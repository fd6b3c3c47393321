//! ktailor's central path as a library: target → configuration → build →
//! boot → verdict, and the loops built on it (the ladder, disk images, the
//! doctor's re-scoring, the benchmarks).
//!
//! Why a library: the CLI, the ladder, and the loops still to come (the
//! minimizer, the grow loop) each walk this path many times per run; they
//! must mean the same thing by "a target's kernel", "its command line" and
//! "its required probes". The CLI (crate `ktailor`) parses arguments, calls
//! in here, and renders what comes back.
//!
//! Nothing here prints. Progress and notes go to the caller's [`Events`]
//! sink; results come back as data with their renderers beside them.

pub mod bench;
pub mod boot;
pub mod build;
pub mod doctor;
pub mod explain;
pub mod fmt;
pub mod image;
pub mod keys;
pub mod ladder;
pub mod minimize;
pub mod output;
pub mod prepare;
pub mod session;
pub mod tailor;

pub use session::{Session, TreeSpec};

/// What a long step tells its caller while it works.
pub enum Event<'a> {
    /// A line for a person ("building Linux 6.12 x86_64 in …").
    Note(&'a str),
    /// A line only a verbose run shows (image and SSH progress).
    Detail(&'a str),
    /// A warning that must reach the user even in `--json` mode.
    Warning(&'a str),
    /// Build progress (for a progress bar).
    Build(&'a kbuild::BuildProgress),
    /// A line from a guest's console.
    Console(&'a str),
}

/// Where events go; `&|_| {}` discards them.
pub type Events<'a> = &'a dyn Fn(Event<'_>);

/// A request the user must change, as opposed to a failure of ktailor or
/// the host. The CLI reports it and exits with status 1 (2 is for errors).
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// A requested value cannot hold.
    #[error("{0}")]
    Unsatisfiable(ksolve::SolveError),
    /// Requested symbols that this kernel does not have.
    #[error("{}", unknown_text(.kernelversion, .unknown))]
    UnknownSymbols {
        kernelversion: String,
        unknown: Vec<ksolve::Unknown>,
    },
    /// The kernel did not build.
    #[error("build failed: {0}")]
    Build(kbuild::BuildError),
}

impl Refused {
    /// The refusal as `--json` reports it.
    pub fn json(&self) -> serde_json::Value {
        match self {
            Refused::Unsatisfiable(e) => serde_json::to_value(e).unwrap_or_default(),
            Refused::UnknownSymbols { unknown, .. } => {
                serde_json::json!({ "unknown": serde_json::to_value(unknown).unwrap_or_default() })
            }
            Refused::Build(e) => serde_json::json!({ "build_failed": e.to_string() }),
        }
    }
}

fn unknown_text(kernelversion: &str, unknown: &[ksolve::Unknown]) -> String {
    unknown
        .iter()
        .map(|u| {
            format!(
                "CONFIG_{} ({}) is not a symbol of Linux {kernelversion}{}",
                u.symbol,
                u.origin,
                fmt::did_you_mean(&u.suggestions)
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}
