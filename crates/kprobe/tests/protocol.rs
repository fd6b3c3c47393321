//! The console protocol reads back what it writes, whatever the text, and
//! never panics on what a console can carry.

use kprobe::protocol::{listening_line, Done, Line, ProbeLine, Status};
use proptest::prelude::*;

fn status() -> impl Strategy<Value = Status> {
    prop_oneof![Just(Status::Pass), Just(Status::Fail), Just(Status::Skip)]
}

fn probe_line() -> impl Strategy<Value = ProbeLine> {
    (
        any::<String>(),
        status(),
        any::<String>(),
        proptest::option::of("E[A-Z0-9]{1,12}"),
    )
        .prop_map(|(probe, status, detail, errno)| ProbeLine {
            probe,
            status,
            detail,
            errno,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn probe_lines_round_trip(p in probe_line(), before in "[ -~]{0,20}") {
        let text = p.to_line();
        prop_assert!(!text.contains('\n') && !text.contains('\r'));
        prop_assert_eq!(Line::parse(&text), Some(Line::Probe(p.clone())));
        // Whatever the kernel printed before it on the same line.
        if !before.contains("KTAILOR-PROBE") {
            let later = format!("{before}{text}");
            prop_assert_eq!(Line::parse(&later), Some(Line::Probe(p)));
        }
    }

    #[test]
    fn done_and_listening_round_trip(pass: u32, fail: u32, skip: u32, port: u16) {
        let d = Done { pass, fail, skip };
        prop_assert_eq!(Line::parse(&d.to_line()), Some(Line::Done(d)));
        prop_assert_eq!(Line::parse(&listening_line(port)), Some(Line::Listening(port)));
        prop_assert_eq!(Line::Listening(port).to_line(), listening_line(port));
    }

    #[test]
    fn cut_lines_are_garbled_not_misread(p in probe_line(), cut in any::<prop::sample::Index>()) {
        let text = p.to_line();
        let ends: Vec<usize> = text
            .char_indices()
            .map(|(i, _)| i)
            .filter(|&i| i > "KTAILOR-PROBE ".len())
            .collect();
        let end = ends[cut.index(ends.len())];
        prop_assert_eq!(
            Line::parse(&text[..end]),
            Some(Line::Garbled(text[..end].to_string()))
        );
    }

    #[test]
    fn parse_never_panics(line in any::<String>()) {
        let _ = Line::parse(&line);
        let _ = Line::parse(&format!("KTAILOR-PROBE {line}"));
        let _ = Line::parse(&format!("KTAILOR-PROBE-DONE {line}"));
        let _ = Line::parse(&format!("KTAILOR-PROBE-LISTENING {line}"));
    }
}
