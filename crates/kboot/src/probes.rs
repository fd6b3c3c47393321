//! Reading the probe program's console protocol (see crates/kprobe's
//! output.rs): one `KTAILOR-PROBE {json}` line per probe, a
//! `KTAILOR-PROBE-LISTENING` line when the TCP listener waits for the host,
//! and `KTAILOR-PROBE-DONE` at the end. Kernel messages share the console, so
//! a line is matched on the prefix wherever it starts.

use serde::{Deserialize, Serialize};

/// One probe's result as the guest reported it.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct ProbeResult {
    pub probe: String,
    /// `pass`, `fail` or `skip`.
    pub status: String,
    #[serde(default)]
    pub detail: String,
}

impl ProbeResult {
    pub fn passed(&self) -> bool {
        self.status == "pass"
    }
}

/// The result that counts for `probe`: its last one (a probe may report
/// more than once, e.g. under busybox and again as init).
pub fn last<'a>(results: &'a [ProbeResult], probe: &str) -> Option<&'a ProbeResult> {
    results.iter().rev().find(|r| r.probe == probe)
}

/// The final tally line.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct Done {
    pub pass: u32,
    pub fail: u32,
    pub skip: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Line {
    Probe(ProbeResult),
    Listening(u16),
    Done(Done),
    /// Carries the prefix but its JSON does not parse: a kernel message
    /// landed inside it, or the line was cut by a reset.
    Garbled(String),
}

const PREFIX: &str = "KTAILOR-PROBE";

/// Classifies one console line; `None` when it is not the probe's.
pub fn parse_line(line: &str) -> Option<Line> {
    let at = line.find(PREFIX)?;
    let rest = &line[at + PREFIX.len()..];
    if let Some(j) = rest.strip_prefix("-LISTENING ") {
        #[derive(Deserialize)]
        struct L {
            port: u16,
        }
        return Some(match serde_json::from_str::<L>(j.trim()) {
            Ok(l) => Line::Listening(l.port),
            Err(_) => Line::Garbled(line[at..].to_string()),
        });
    }
    if let Some(j) = rest.strip_prefix("-DONE ") {
        return Some(match serde_json::from_str::<Done>(j.trim()) {
            Ok(d) => Line::Done(d),
            Err(_) => Line::Garbled(line[at..].to_string()),
        });
    }
    let j = rest.strip_prefix(' ')?;
    Some(match serde_json::from_str::<ProbeResult>(j.trim()) {
        Ok(p) => Line::Probe(p),
        Err(_) => Line::Garbled(line[at..].to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_result_counts() {
        let r = |p: &str, st: &str| ProbeResult {
            probe: p.into(),
            status: st.into(),
            detail: String::new(),
        };
        let rs = [r("procfs", "fail"), r("sysfs", "pass"), r("procfs", "pass")];
        assert!(last(&rs, "procfs").unwrap().passed());
        assert!(last(&rs, "sysfs").unwrap().passed());
        assert!(last(&rs, "epoll").is_none());
    }

    #[test]
    fn lines() {
        assert_eq!(
            parse_line(r#"KTAILOR-PROBE {"probe":"epoll","status":"pass","detail":"fd 3"}"#),
            Some(Line::Probe(ProbeResult {
                probe: "epoll".into(),
                status: "pass".into(),
                detail: "fd 3".into()
            }))
        );
        assert_eq!(
            parse_line(r#"[    1.0] x KTAILOR-PROBE-LISTENING {"port":22}"#),
            Some(Line::Listening(22))
        );
        assert_eq!(
            parse_line(r#"KTAILOR-PROBE-DONE {"pass":3,"fail":1,"skip":0}"#),
            Some(Line::Done(Done {
                pass: 3,
                fail: 1,
                skip: 0
            }))
        );
        assert!(matches!(
            parse_line(r#"KTAILOR-PROBE {"probe":"ep[ 1.2] e1000"#),
            Some(Line::Garbled(_))
        ));
        assert_eq!(parse_line("Linux version 6.12"), None);
        assert_eq!(parse_line("KTAILOR-PROBEX"), None);
    }
}
