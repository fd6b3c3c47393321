//! The console protocol, both ways: the probe program writes these lines
//! (see `crate::output`) and the host (crate kboot) reads them with
//! [`Line::parse`]. Every line carries a fixed prefix so that it can be
//! picked out of kernel messages interleaved on the same serial console:
//!
//! ```text
//! KTAILOR-PROBE {"probe":"epoll","status":"pass","detail":"epoll_create1 returned fd 3"}
//! KTAILOR-PROBE {"probe":"memfd","status":"fail","detail":"memfd_create: ... (ENOSYS)","errno":"ENOSYS"}
//! KTAILOR-PROBE-LISTENING {"port":22}
//! KTAILOR-PROBE-DONE {"pass":30,"fail":2,"skip":6}
//! ```
//!
//! With the `serde` feature (host side only: the static probe stays free of
//! proc macros) the types serialize with the same field names, and
//! [`Status`] as `"pass"`, `"fail"`, `"skip"`.

use std::fmt;

use crate::json::{self, Scalar};

/// The prefix of a probe result line.
pub const PREFIX: &str = "KTAILOR-PROBE";
/// The prefix of the line announcing the TCP listener.
pub const LISTENING_PREFIX: &str = "KTAILOR-PROBE-LISTENING";
/// The prefix of the final summary line.
pub const DONE_PREFIX: &str = "KTAILOR-PROBE-DONE";

/// What a probe found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "lowercase")
)]
pub enum Status {
    Pass,
    Fail,
    Skip,
}

impl Status {
    pub const ALL: [Status; 3] = [Status::Pass, Status::Fail, Status::Skip];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Skip => "skip",
        }
    }

    /// `pass`, `fail` or `skip`.
    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// The name, padded as asked (`{:4}` lines up a table).
impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// One probe's result: a `KTAILOR-PROBE {...}` line.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ProbeLine {
    pub probe: String,
    pub status: Status,
    #[cfg_attr(feature = "serde", serde(default))]
    pub detail: String,
    /// The errno name (`ENOSYS`) of the failed system call, if one failed.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub errno: Option<String>,
}

impl ProbeLine {
    pub fn passed(&self) -> bool {
        self.status == Status::Pass
    }

    /// The console line (without newline).
    pub fn to_line(&self) -> String {
        let mut obj = json::Object::new()
            .str("probe", &self.probe)
            .str("status", self.status.as_str())
            .str("detail", &self.detail);
        if let Some(e) = &self.errno {
            obj = obj.str("errno", e);
        }
        format!("{PREFIX} {}", obj.finish())
    }

    fn from_json(j: &str) -> Option<ProbeLine> {
        let m = Members::parse(j)?;
        Some(ProbeLine {
            probe: m.str("probe").required()?,
            status: Status::parse(&m.str("status").required()?)?,
            detail: m.str("detail").optional().ok()?.unwrap_or_default(),
            errno: m.str("errno").optional().ok()?,
        })
    }
}

/// The final tally: a `KTAILOR-PROBE-DONE {...}` line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Done {
    pub pass: u32,
    pub fail: u32,
    pub skip: u32,
}

impl Done {
    pub fn add(&mut self, s: Status) {
        match s {
            Status::Pass => self.pass += 1,
            Status::Fail => self.fail += 1,
            Status::Skip => self.skip += 1,
        }
    }

    /// The console line (without newline).
    pub fn to_line(&self) -> String {
        let obj = json::Object::new()
            .int("pass", i64::from(self.pass))
            .int("fail", i64::from(self.fail))
            .int("skip", i64::from(self.skip))
            .finish();
        format!("{DONE_PREFIX} {obj}")
    }

    fn from_json(j: &str) -> Option<Done> {
        let m = Members::parse(j)?;
        Some(Done {
            pass: m.uint("pass")?,
            fail: m.uint("fail")?,
            skip: m.uint("skip")?,
        })
    }
}

/// The line announcing that `tcp-listen` waits on `port`.
pub fn listening_line(port: u16) -> String {
    format!(
        "{LISTENING_PREFIX} {}",
        json::Object::new().int("port", i64::from(port)).finish()
    )
}

/// A protocol line as the host reads it off the console.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Line {
    Probe(ProbeLine),
    Listening(u16),
    Done(Done),
    /// Carries the prefix but does not parse: a kernel message landed inside
    /// it, or a reset cut it. The text from the prefix on.
    Garbled(String),
}

impl Line {
    /// Classifies one console line; `None` when it is not the probe's. The
    /// prefix may start anywhere (after a kernel timestamp, say).
    pub fn parse(line: &str) -> Option<Line> {
        let at = line.find(PREFIX)?;
        let from = &line[at..];
        let rest = &from[PREFIX.len()..];
        let garbled = || Line::Garbled(from.to_string());
        if let Some(j) = rest.strip_prefix("-LISTENING ") {
            let port = Members::parse(j).and_then(|m| m.uint("port"));
            return Some(port.map_or_else(garbled, Line::Listening));
        }
        if let Some(j) = rest.strip_prefix("-DONE ") {
            return Some(Done::from_json(j).map_or_else(garbled, Line::Done));
        }
        let j = rest.strip_prefix(' ')?;
        Some(ProbeLine::from_json(j).map_or_else(garbled, Line::Probe))
    }

    /// The console line (without newline); a garbled line as it was read.
    pub fn to_line(&self) -> String {
        match self {
            Line::Probe(p) => p.to_line(),
            Line::Listening(port) => listening_line(*port),
            Line::Done(d) => d.to_line(),
            Line::Garbled(text) => text.clone(),
        }
    }
}

/// A probe line that does not follow the protocol.
struct Garbled;

/// A member of a probe line's object, as a string.
enum Field {
    Absent,
    Str(String),
    /// Present with another type: the line is garbled.
    NotAString,
}

impl Field {
    /// The value, which must be there.
    fn required(self) -> Option<String> {
        match self {
            Field::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The value if there; an error (the line is garbled) when it is
    /// not a string.
    fn optional(self) -> Result<Option<String>, Garbled> {
        match self {
            Field::Absent => Ok(None),
            Field::Str(s) => Ok(Some(s)),
            Field::NotAString => Err(Garbled),
        }
    }
}

/// The members of one line's object; each name at most once.
struct Members(Vec<(String, Scalar)>);

impl Members {
    fn parse(j: &str) -> Option<Members> {
        let m = json::parse_object(j)?;
        for (i, (k, _)) in m.iter().enumerate() {
            if m[..i].iter().any(|(k2, _)| k2 == k) {
                return None;
            }
        }
        Some(Members(m))
    }

    fn get(&self, key: &str) -> Option<&Scalar> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// A member read as a string.
    fn str(&self, key: &str) -> Field {
        match self.get(key) {
            None => Field::Absent,
            Some(Scalar::Str(s)) => Field::Str(s.clone()),
            Some(_) => Field::NotAString,
        }
    }

    fn uint<T: TryFrom<i64>>(&self, key: &str) -> Option<T> {
        match self.get(key)? {
            Scalar::Int(n) => T::try_from(*n).ok(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(p: &str, status: Status, detail: &str) -> ProbeLine {
        ProbeLine {
            probe: p.into(),
            status,
            detail: detail.into(),
            errno: None,
        }
    }

    #[test]
    fn lines() {
        let cases: &[(&str, Option<Line>)] = &[
            (
                r#"KTAILOR-PROBE {"probe":"epoll","status":"pass","detail":"fd 3"}"#,
                Some(Line::Probe(probe("epoll", Status::Pass, "fd 3"))),
            ),
            (
                r#"KTAILOR-PROBE {"probe":"memfd","status":"fail","detail":"x","errno":"ENOSYS"}"#,
                Some(Line::Probe(ProbeLine {
                    errno: Some("ENOSYS".into()),
                    ..probe("memfd", Status::Fail, "x")
                })),
            ),
            (
                r#"KTAILOR-PROBE {"probe":"efi","status":"skip"}"#,
                Some(Line::Probe(probe("efi", Status::Skip, ""))),
            ),
            (
                r#"KTAILOR-PROBE {"probe":"x","status":"pass","detail":"","later":1}"#,
                Some(Line::Probe(probe("x", Status::Pass, ""))),
            ),
            (
                r#"[    1.0] x KTAILOR-PROBE-LISTENING {"port":22}"#,
                Some(Line::Listening(22)),
            ),
            (
                r#"KTAILOR-PROBE-DONE {"pass":3,"fail":1,"skip":0}"#,
                Some(Line::Done(Done {
                    pass: 3,
                    fail: 1,
                    skip: 0,
                })),
            ),
            (
                r#"KTAILOR-PROBE {"probe":"ep[ 1.2] e1000"#,
                Some(Line::Garbled(
                    r#"KTAILOR-PROBE {"probe":"ep[ 1.2] e1000"#.into(),
                )),
            ),
            (
                r#"KTAILOR-PROBE {"probe":"x","status":"maybe","detail":""}"#,
                Some(Line::Garbled(
                    r#"KTAILOR-PROBE {"probe":"x","status":"maybe","detail":""}"#.into(),
                )),
            ),
            (
                r#"KTAILOR-PROBE {"probe":"x","probe":"y","status":"pass"}"#,
                Some(Line::Garbled(
                    r#"KTAILOR-PROBE {"probe":"x","probe":"y","status":"pass"}"#.into(),
                )),
            ),
            (
                r#"KTAILOR-PROBE-LISTENING {"port":70000}"#,
                Some(Line::Garbled(
                    r#"KTAILOR-PROBE-LISTENING {"port":70000}"#.into(),
                )),
            ),
            (
                r#"KTAILOR-PROBE-DONE {"pass":-1,"fail":0,"skip":0}"#,
                Some(Line::Garbled(
                    r#"KTAILOR-PROBE-DONE {"pass":-1,"fail":0,"skip":0}"#.into(),
                )),
            ),
            ("Linux version 6.12", None),
            ("KTAILOR-PROBEX", None),
            ("KTAILOR-PROBE-DONE", None),
        ];
        for (text, want) in cases {
            assert_eq!(&Line::parse(text), want, "{text}");
        }
    }

    #[test]
    fn written_lines() {
        let mut p = probe("epoll", Status::Pass, "epoll_create1 returned fd 3");
        assert_eq!(
            p.to_line(),
            r#"KTAILOR-PROBE {"probe":"epoll","status":"pass","detail":"epoll_create1 returned fd 3"}"#
        );
        p.status = Status::Fail;
        p.errno = Some("ENOSYS".into());
        assert!(p.to_line().ends_with(
            r#""status":"fail","detail":"epoll_create1 returned fd 3","errno":"ENOSYS"}"#
        ));
        assert_eq!(listening_line(22), r#"KTAILOR-PROBE-LISTENING {"port":22}"#);
        let mut d = Done::default();
        d.add(Status::Pass);
        d.add(Status::Pass);
        d.add(Status::Skip);
        assert_eq!(
            d.to_line(),
            r#"KTAILOR-PROBE-DONE {"pass":2,"fail":0,"skip":1}"#
        );
        assert_eq!(format!("{:4}|", Status::Pass), "pass|");
        assert_eq!(format!("{:6}|", Status::Fail), "fail  |");
    }
}
