//! Diagnostics: every message names a file and line so the user can act on it.

use std::fmt;

/// One message tied to a place in a Kconfig or `.config` file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diag {
    pub file: String,
    pub line: u32,
    pub msg: String,
}

impl Diag {
    pub fn at(file: &str, line: u32, msg: impl Into<String>) -> Diag {
        Diag {
            file: file.to_string(),
            line,
            msg: msg.into(),
        }
    }
}

impl Diag {
    /// The form conf uses for `.config` warnings: `file:line:warning: msg`.
    pub fn conf_warning(&self) -> String {
        format!("{}:{}:warning: {}", self.file, self.line, self.msg)
    }
}

impl fmt::Display for Diag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.file.is_empty() {
            write!(f, "{}", self.msg)
        } else {
            write!(f, "{}:{}: {}", self.file, self.line, self.msg)
        }
    }
}

/// Warnings collected while parsing or reading a configuration.
#[derive(Clone, Debug, Default)]
pub struct Diags {
    pub warnings: Vec<Diag>,
}

impl Diags {
    pub fn warn(&mut self, d: Diag) {
        self.warnings.push(d);
    }
}

/// A fatal problem: parsing stops and nothing is written.
#[derive(Debug)]
pub enum Error {
    /// Syntax or semantic errors in the Kconfig files (all of them, in order).
    Parse(Vec<Diag>),
    /// A file that could not be read.
    Io { path: String, err: std::io::Error },
    /// Anything else that prevents producing a configuration.
    Other(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Parse(ds) => {
                for (i, d) in ds.iter().enumerate() {
                    if i > 0 {
                        writeln!(f)?;
                    }
                    write!(f, "{d}")?;
                }
                Ok(())
            }
            Error::Io { path, err } => write!(f, "{path}: {err}"),
            Error::Other(s) => write!(f, "{s}"),
        }
    }
}

impl std::error::Error for Error {}
