//! Reading the probe program's console protocol. The line format is
//! `kprobe::protocol`'s, the one both sides use: one `KTAILOR-PROBE {json}`
//! line per probe, a `KTAILOR-PROBE-LISTENING` line when the TCP listener
//! waits for the host, and `KTAILOR-PROBE-DONE` at the end. Kernel messages
//! share the console, so a line is matched on the prefix wherever it starts.

pub use kprobe::protocol::{Done, Line, Status};

/// One probe's result as the guest reported it.
pub type ProbeResult = kprobe::protocol::ProbeLine;

/// The result that counts for `probe`: its last one (a probe may report
/// more than once, e.g. under busybox and again as init).
pub fn last<'a>(results: &'a [ProbeResult], probe: &str) -> Option<&'a ProbeResult> {
    results.iter().rev().find(|r| r.probe == probe)
}

/// Classifies one console line; `None` when it is not the probe's.
pub fn parse_line(line: &str) -> Option<Line> {
    Line::parse(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(p: &str, status: Status) -> ProbeResult {
        ProbeResult {
            probe: p.into(),
            status,
            detail: String::new(),
            errno: None,
        }
    }

    #[test]
    fn the_last_result_counts() {
        let rs = [
            r("procfs", Status::Fail),
            r("sysfs", Status::Pass),
            r("procfs", Status::Pass),
        ];
        assert!(last(&rs, "procfs").unwrap().passed());
        assert!(last(&rs, "sysfs").unwrap().passed());
        assert!(last(&rs, "epoll").is_none());
    }

    #[test]
    fn results_serialize_as_before() {
        let mut p = r("epoll", Status::Pass);
        p.detail = "fd 3".into();
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(json, r#"{"probe":"epoll","status":"pass","detail":"fd 3"}"#);
        assert_eq!(serde_json::from_str::<ProbeResult>(&json).unwrap(), p);
        p.status = Status::Fail;
        p.errno = Some("ENOSYS".into());
        let json = serde_json::to_string(&p).unwrap();
        assert!(json.ends_with(r#""status":"fail","detail":"fd 3","errno":"ENOSYS"}"#));
        assert_eq!(serde_json::from_str::<ProbeResult>(&json).unwrap(), p);
        let old: ProbeResult = serde_json::from_str(r#"{"probe":"x","status":"skip"}"#).unwrap();
        assert_eq!(old, r("x", Status::Skip));
    }

    #[test]
    fn lines() {
        assert_eq!(
            parse_line(r#"[ 1.0] KTAILOR-PROBE {"probe":"epoll","status":"pass","detail":"fd 3"}"#),
            Some(Line::Probe(ProbeResult {
                detail: "fd 3".into(),
                ..r("epoll", Status::Pass)
            }))
        );
        assert_eq!(parse_line("Linux version 6.12"), None);
    }
}
