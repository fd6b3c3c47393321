//! The minimizer's journal: every configuration it tested (by the hash of
//! the resolved .config) and its verdict, one JSON line each, appended and
//! synced as soon as the verdict is known, so a run killed at any point
//! (Ctrl-C, SIGKILL, a reboot) resumes without repeating a build.
//!
//! The first line says what the journal is about (kernel, arch, target,
//! the input's hash); a run with other inputs refuses it rather than
//! trusting verdicts made for another kernel. A torn last line (the kill
//! came mid-write) is dropped with a note.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::search::Verdict;
use super::Measure;

/// What a journal is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub kernelversion: String,
    pub arch: String,
    pub target: String,
    /// Hash of the input configuration.
    pub input: String,
}

#[derive(Serialize, Deserialize)]
struct Entry {
    config: String,
    #[serde(flatten)]
    verdict: Verdict,
    seconds: f64,
    /// Sizes and boot time, when it built.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    measure: Option<Measure>,
}

pub struct Journal {
    path: PathBuf,
    file: std::fs::File,
    seen: BTreeMap<String, (Verdict, Option<Measure>)>,
    /// Lines that could not be read (a torn last line).
    pub dropped: usize,
}

/// The hash a configuration is journaled under.
pub fn config_hash(config: &str) -> String {
    hex::encode(Sha256::digest(config.as_bytes()))
}

impl Journal {
    /// Opens (or starts) the journal in `dir` for `header`.
    pub fn open(dir: &Path, header: &Header) -> Result<Journal> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let path = dir.join("journal.jsonl");
        let mut seen = BTreeMap::new();
        let mut dropped = 0;
        let existing = match std::fs::read_to_string(&path) {
            Ok(t) => Some(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let fresh = existing.as_deref().is_none_or(|t| t.trim().is_empty());
        if let Some(text) = existing.filter(|t| !t.trim().is_empty()) {
            let mut lines = text.lines();
            let first = lines.next().unwrap_or_default();
            let h: Header = serde_json::from_str(first)
                .with_context(|| format!("{}:1: not a ktailor minimize journal", path.display()))?;
            if &h != header {
                bail!(
                    "{} is the journal of {} on Linux {} {} (input {}), not of {} on Linux {} {} (input {}); \
                     give another --journal directory or remove it",
                    path.display(),
                    h.target,
                    h.kernelversion,
                    h.arch,
                    &h.input[..12.min(h.input.len())],
                    header.target,
                    header.kernelversion,
                    header.arch,
                    &header.input[..12.min(header.input.len())]
                );
            }
            for l in lines {
                match serde_json::from_str::<Entry>(l) {
                    Ok(e) => {
                        seen.insert(e.config, (e.verdict, e.measure));
                    }
                    Err(_) => dropped += 1,
                }
            }
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        if fresh {
            writeln!(file, "{}", serde_json::to_string(header)?)?;
            file.sync_data()?;
        } else if dropped > 0 {
            // Start the next entry on a line of its own.
            writeln!(file)?;
        }
        Ok(Journal {
            path,
            file,
            seen,
            dropped,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The verdict of a configuration tested before.
    pub fn get(&self, config: &str) -> Option<&Verdict> {
        self.seen.get(&config_hash(config)).map(|(v, _)| v)
    }

    /// What was measured when it was tested.
    pub fn measure(&self, config: &str) -> Option<&Measure> {
        self.seen
            .get(&config_hash(config))
            .and_then(|(_, m)| m.as_ref())
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// Records a verdict, on disk before this returns.
    pub fn record(
        &mut self,
        config: &str,
        verdict: &Verdict,
        measure: Option<&Measure>,
        seconds: f64,
    ) -> Result<()> {
        let e = Entry {
            config: config_hash(config),
            verdict: verdict.clone(),
            seconds,
            measure: measure.cloned(),
        };
        writeln!(self.file, "{}", serde_json::to_string(&e)?)
            .and_then(|_| self.file.sync_data())
            .with_context(|| format!("cannot write {}", self.path.display()))?;
        self.seen.insert(e.config, (e.verdict, e.measure));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            kernelversion: "6.12.1".into(),
            arch: "x86_64".into(),
            target: "qemu-virtio".into(),
            input: config_hash("CONFIG_A=y\n"),
        }
    }

    fn pass() -> Verdict {
        Verdict {
            pass: true,
            reason: String::new(),
        }
    }

    #[test]
    fn verdicts_survive_a_reopen_and_a_torn_line() {
        let d = tempfile::tempdir().unwrap();
        let mut j = Journal::open(d.path(), &header()).unwrap();
        j.record("CONFIG_A=y\n", &pass(), None, 1.0).unwrap();
        let fail = Verdict {
            pass: false,
            reason: "probe ext4-mount failed".into(),
        };
        j.record("CONFIG_B=y\n", &fail, None, 2.0).unwrap();
        drop(j);
        // A kill mid-write leaves half a line.
        let p = d.path().join("journal.jsonl");
        let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        write!(f, "{{\"config\":\"ab").unwrap();
        drop(f);
        let mut j = Journal::open(d.path(), &header()).unwrap();
        assert_eq!(j.dropped, 1);
        assert_eq!(j.len(), 2);
        assert_eq!(j.get("CONFIG_B=y\n"), Some(&fail));
        assert!(j.get("CONFIG_C=y\n").is_none());
        j.record(
            "CONFIG_C=y\n",
            &pass(),
            Some(&Measure {
                builtin: 7,
                ..Default::default()
            }),
            1.0,
        )
        .unwrap();
        let j = Journal::open(d.path(), &header()).unwrap();
        assert_eq!((j.len(), j.dropped), (3, 1));
        assert_eq!(j.measure("CONFIG_C=y\n").map(|m| m.builtin), Some(7));
        assert!(j.measure("CONFIG_B=y\n").is_none());
    }

    #[test]
    fn another_targets_journal_is_refused() {
        let d = tempfile::tempdir().unwrap();
        Journal::open(d.path(), &header()).unwrap();
        let mut other = header();
        other.kernelversion = "6.1.2".into();
        let e = Journal::open(d.path(), &other).err().unwrap().to_string();
        assert!(e.contains("6.12.1") && e.contains("6.1.2"), "{e}");
        std::fs::write(d.path().join("journal.jsonl"), "not json\n").unwrap();
        let e = Journal::open(d.path(), &header())
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("not a ktailor minimize journal"), "{e}");
    }
}
