//! Per-case results, the summary and the Markdown/JSON reports.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::cases::{Invocation, Mode, Suite};
use crate::tree::KernelTree;

/// How a case ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Identical,
    Different,
    /// ktailor exited non-zero, timed out or wrote no output.
    KtailorFailed,
    /// The kernel's own conf failed: nothing to compare against.
    OracleFailed,
    /// Oracle ran fine; ktailor was not run (--oracle-only).
    OracleOk,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Identical => "identical",
            Status::Different => "different",
            Status::KtailorFailed => "ktailor-failed",
            Status::OracleFailed => "oracle-failed",
            Status::OracleOk => "oracle-ok",
        }
    }
}

/// Outcome of one case.
#[derive(Clone, Debug, Serialize)]
pub struct CaseResult {
    /// Kernel version of the tree, e.g. `6.12.117`.
    pub tree: String,
    pub case: String,
    pub kind: Mode,
    pub invocation: Invocation,
    pub status: Status,
    pub oracle_command: String,
    pub oracle_cached: bool,
    pub oracle_seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oracle_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oracle_stdout: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oracle_stderr: Option<String>,
    /// Where the oracle's output is cached, to inspect a mismatch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oracle_output: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ktailor_command: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ktailor_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ktailor_exit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ktailor_stderr: Option<String>,
    /// First lines of `diff -u oracle ktailor`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
}

/// Counts for one (tree, kind) row.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Counts {
    pub cases: usize,
    pub identical: usize,
    pub different: usize,
    pub ktailor_failed: usize,
    pub oracle_failed: usize,
    pub oracle_ok: usize,
}

impl Counts {
    fn add(&mut self, s: Status) {
        self.cases += 1;
        match s {
            Status::Identical => self.identical += 1,
            Status::Different => self.different += 1,
            Status::KtailorFailed => self.ktailor_failed += 1,
            Status::OracleFailed => self.oracle_failed += 1,
            Status::OracleOk => self.oracle_ok += 1,
        }
    }

    /// Cases where there was an oracle output to compare against.
    pub fn compared(&self) -> usize {
        self.identical + self.different + self.ktailor_failed
    }
}

/// Everything a run found.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub suite: Suite,
    pub oracle_only: bool,
    pub trees: Vec<KernelTree>,
    pub elapsed_seconds: f64,
    /// In enumeration order, not completion order, so reports diff cleanly.
    pub results: Vec<CaseResult>,
}

const DIFF_LINES: usize = 40;
const LOG_LINES: usize = 40;

/// The first `DIFF_LINES` lines of a unified diff, oracle first.
pub fn unified_diff(oracle: &[u8], ktailor: &[u8]) -> String {
    let a = String::from_utf8_lossy(oracle);
    let b = String::from_utf8_lossy(ktailor);
    let diff = similar::TextDiff::from_lines(a.as_ref(), b.as_ref());
    let text = diff
        .unified_diff()
        .context_radius(3)
        .header("oracle", "ktailor")
        .to_string();
    let mut lines: Vec<&str> = text.lines().collect();
    let total = lines.len();
    if total == 0 {
        // Only possible when the texts differ in invalid UTF-8 alone.
        return "(outputs differ only in bytes that are not valid UTF-8)\n".to_string();
    }
    lines.truncate(DIFF_LINES);
    let mut out = lines.join("\n");
    out.push('\n');
    if total > DIFF_LINES {
        let _ = writeln!(out, "[... {} more diff lines]", total - DIFF_LINES);
    }
    out
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    let start = lines.len().saturating_sub(n);
    let mut out = String::new();
    if start > 0 {
        let _ = writeln!(out, "[... {start} lines cut]");
    }
    for l in &lines[start..] {
        out.push_str(l);
        out.push('\n');
    }
    out
}

/// Markdown fence long enough not to be closed by the content.
fn fenced(out: &mut String, lang: &str, body: &str) {
    let mut fence = "```".to_string();
    while body.contains(&fence) {
        fence.push('`');
    }
    let nl = if body.ends_with('\n') || body.is_empty() {
        ""
    } else {
        "\n"
    };
    let _ = writeln!(out, "{fence}{lang}\n{body}{nl}{fence}");
}

impl Summary {
    fn count(&self, s: Status) -> usize {
        self.results.iter().filter(|r| r.status == s).count()
    }

    pub fn mismatches(&self) -> usize {
        self.count(Status::Different)
    }

    pub fn ktailor_failures(&self) -> usize {
        self.count(Status::KtailorFailed)
    }

    pub fn oracle_failures(&self) -> usize {
        self.count(Status::OracleFailed)
    }

    pub fn identical(&self) -> usize {
        self.count(Status::Identical)
    }

    /// No mismatch and no ktailor failure (oracle failures do not count against ktailor).
    pub fn passed(&self) -> bool {
        self.mismatches() == 0 && self.ktailor_failures() == 0
    }

    /// Counts per tree, then per kind, in first-seen tree order.
    pub fn table(&self) -> Vec<(String, BTreeMap<Mode, Counts>)> {
        let mut out: Vec<(String, BTreeMap<Mode, Counts>)> = Vec::new();
        for r in &self.results {
            let idx = match out.iter().position(|(t, _)| *t == r.tree) {
                Some(i) => i,
                None => {
                    out.push((r.tree.clone(), BTreeMap::new()));
                    out.len() - 1
                }
            };
            out[idx].1.entry(r.kind).or_default().add(r.status);
        }
        out
    }

    fn line(&self, c: &Counts) -> String {
        if self.oracle_only {
            format!(
                "{} oracle-ok / {} cases ({} oracle-failed)",
                c.oracle_ok, c.cases, c.oracle_failed
            )
        } else {
            let mut s = format!(
                "{} identical / {} compared ({} oracle-failed",
                c.identical,
                c.compared(),
                c.oracle_failed
            );
            if c.ktailor_failed > 0 {
                let _ = write!(s, ", {} ktailor-failed", c.ktailor_failed);
            }
            s.push(')');
            s
        }
    }

    /// Plain-text summary, one line per tree and kind plus a total.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let mut total = Counts::default();
        for (tree, kinds) in self.table() {
            for (kind, c) in kinds {
                let _ = writeln!(out, "{tree} {kind:<13} {}", self.line(&c));
                total.cases += c.cases;
                total.identical += c.identical;
                total.different += c.different;
                total.ktailor_failed += c.ktailor_failed;
                total.oracle_failed += c.oracle_failed;
                total.oracle_ok += c.oracle_ok;
            }
        }
        let _ = writeln!(
            out,
            "total: {} in {:.0}s",
            self.line(&total),
            self.elapsed_seconds
        );
        out
    }

    /// The Markdown report: a table per tree, then every mismatch, ktailor
    /// failure and oracle failure with what is needed to reproduce it.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# Kconfig conformance: ktailor vs scripts/kconfig/conf\n"
        );
        let _ = writeln!(
            out,
            "Suite `{}`{}, {} cases in {:.0}s: **{} identical, {} different, {} ktailor-failed, {} oracle-failed**.\n",
            self.suite,
            if self.oracle_only { " (oracle only)" } else { "" },
            self.results.len(),
            self.elapsed_seconds,
            self.identical(),
            self.mismatches(),
            self.ktailor_failures(),
            self.oracle_failures(),
        );
        for (tree, kinds) in self.table() {
            let root = self
                .trees
                .iter()
                .find(|t| t.kernelversion == tree)
                .map(|t| t.root.display().to_string())
                .unwrap_or_default();
            let _ = writeln!(out, "## Linux {tree} (`{root}`)\n");
            let _ = writeln!(
                out,
                "| kind | cases | identical | different | ktailor-failed | oracle-failed |"
            );
            let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
            for (kind, c) in kinds {
                let _ = writeln!(
                    out,
                    "| {kind} | {} | {} | {} | {} | {} |",
                    c.cases, c.identical, c.different, c.ktailor_failed, c.oracle_failed
                );
            }
            out.push('\n');
        }
        let section = |out: &mut String, status: Status, title: &str| {
            let items: Vec<&CaseResult> =
                self.results.iter().filter(|r| r.status == status).collect();
            if items.is_empty() {
                return;
            }
            let _ = writeln!(out, "## {title} ({})\n", items.len());
            for r in items {
                let _ = writeln!(out, "### {} {}\n", r.tree, r.case);
                let _ = writeln!(out, "- oracle: `{}`", r.oracle_command);
                if let Some(p) = &r.oracle_output {
                    let _ = writeln!(out, "- oracle output: `{p}`");
                }
                if let Some(c) = &r.ktailor_command {
                    let _ = writeln!(out, "- ktailor: `{c}`");
                }
                if let Some(e) = &r.ktailor_exit {
                    let _ = writeln!(out, "- ktailor ended: {e}");
                }
                if let Some(reason) = &r.oracle_reason {
                    let _ = writeln!(out, "- oracle failed: {reason}");
                }
                out.push('\n');
                if let Some(d) = &r.diff {
                    fenced(out, "diff", d);
                    out.push('\n');
                }
                if let Some(e) = r.ktailor_stderr.as_ref().filter(|e| !e.trim().is_empty()) {
                    let _ = writeln!(out, "ktailor stderr:\n");
                    fenced(out, "", &tail(e, LOG_LINES));
                    out.push('\n');
                }
                for (name, text) in [("stdout", &r.oracle_stdout), ("stderr", &r.oracle_stderr)] {
                    if let Some(t) = text {
                        if !t.trim().is_empty() {
                            let _ = writeln!(out, "oracle {name}:\n");
                            fenced(out, "", &tail(t, LOG_LINES));
                            out.push('\n');
                        }
                    }
                }
            }
        };
        section(&mut out, Status::Different, "Mismatches");
        section(&mut out, Status::KtailorFailed, "ktailor failures");
        section(
            &mut out,
            Status::OracleFailed,
            "Oracle failures (not counted as mismatches)",
        );
        out
    }

    pub fn to_json(&self) -> serde_json::Result<String> {
        serde_json::to_string_pretty(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_is_truncated() {
        let a: String = (0..200).map(|i| format!("CONFIG_A{i}=y\n")).collect();
        let b: String = (0..200).map(|i| format!("CONFIG_A{i}=m\n")).collect();
        let d = unified_diff(a.as_bytes(), b.as_bytes());
        assert!(d.starts_with("--- oracle\n+++ ktailor\n@@"));
        assert_eq!(d.lines().count(), DIFF_LINES + 1);
        assert!(d.ends_with("more diff lines]\n"));
        let d = unified_diff(b"a\nb\n", b"a\nc\n");
        assert!(d.contains("-b\n+c\n"));
    }

    #[test]
    fn fences_survive_backticks() {
        let mut s = String::new();
        fenced(&mut s, "", "x ``` y\n");
        assert!(s.starts_with("````\n"));
        assert!(s.ends_with("````\n"));
    }
}
