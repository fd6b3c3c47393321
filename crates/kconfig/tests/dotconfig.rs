//! Properties of the one `.config` reader (`kconfig::dotconfig`): it never
//! panics, whatever the bytes, and what it writes it reads back unchanged.

use kconfig::dotconfig::{self, Value};
use kconfig::Tri;
use proptest::prelude::*;

fn symbol() -> impl Strategy<Value = String> {
    "[A-Z0-9_][A-Z0-9_-]{0,12}"
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop_oneof![Just(Tri::N), Just(Tri::M), Just(Tri::Y)].prop_map(Value::Tri),
        // Anything but a newline or NUL, which no .config line can carry.
        "[^\n\0]{0,20}".prop_map(Value::Str),
        any::<i64>().prop_map(|n| Value::Int(n.to_string())),
        (any::<u64>(), any::<bool>()).prop_map(|(n, upper)| Value::Hex(if upper {
            format!("0X{n:X}")
        } else {
            format!("0x{n:x}")
        })),
        // Values conf reads only for some types; never y/m/n, a number, 0x
        // hex or a string, and no trailing \r (which a \r\n ending drops).
        "[g-z:./ ][a-z0-9:./ ]{0,10}"
            .prop_filter("not a tristate", |s| !matches!(s.as_str(), "y" | "m" | "n"))
            .prop_map(Value::Other),
    ]
}

/// Lines that look like a configuration, and lines that almost do.
fn config_line() -> impl Strategy<Value = String> {
    prop_oneof![
        (symbol(), value()).prop_map(|(s, v)| dotconfig::line(&s, &v)),
        symbol().prop_map(|s| format!("# CONFIG_{s} is not set")),
        "CONFIG_[A-Z_ ]{0,6}=?[ymn\"\\\\0-9x]{0,6}",
        "# ?CONFIG_[A-Z]{0,4} ?is not set ?",
        "[#\" \t\r\0=a-zA-Z_]{0,12}",
        any::<String>(),
    ]
}

fn check_invariants(text: &str) -> Result<(), TestCaseError> {
    let p = dotconfig::parse(".config", text);
    let lines = text.split_inclusive('\n').count() as u32;
    let mut prev = 0;
    for e in &p.entries {
        prop_assert!(e.line > prev && e.line <= lines, "{:?}", e);
        prev = e.line;
    }
    for w in &p.warnings {
        prop_assert!(w.line >= 1 && w.line <= lines, "{}", w);
        prop_assert_eq!(&w.file, ".config");
    }
    let map = p.map();
    for (sym, v) in &map {
        prop_assert_eq!(p.get(sym), Some(v));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parse_never_panics(text in any::<String>()) {
        check_invariants(&text)?;
    }

    #[test]
    fn parse_never_panics_on_config_like_text(
        lines in prop::collection::vec(config_line(), 0..20),
        eol in prop_oneof![Just("\n"), Just("\r\n"), Just("\r")],
    ) {
        check_invariants(&lines.join(eol))?;
    }

    #[test]
    fn written_values_read_back(values in prop::collection::btree_map(symbol(), value(), 0..20)) {
        let text = dotconfig::write(&values);
        let back = dotconfig::parse("f", &text);
        let other = values.values().filter(|v| matches!(v, Value::Other(_))).count();
        prop_assert_eq!(back.warnings.len(), other, "{:?}", back.warnings);
        prop_assert_eq!(back.map(), values);
    }

    #[test]
    fn the_last_assignment_counts(
        first in value(),
        last in value(),
        filler in prop::collection::vec((symbol(), value()), 0..5),
    ) {
        let mut text = dotconfig::line("TARGET", &first) + "\n";
        for (s, v) in &filler {
            if s != "TARGET" {
                text += &(dotconfig::line(s, v) + "\n");
            }
        }
        text += &(dotconfig::line("TARGET", &last) + "\n");
        let p = dotconfig::parse("f", &text);
        prop_assert_eq!(p.get("TARGET"), Some(&last));
        let n = text.lines().count();
        let override_warning = format!(
            "f:{n}: override: reassigning to symbol TARGET (first set on line 1)"
        );
        prop_assert!(
            p.warnings.iter().any(|w| w.to_string() == override_warning),
            "{:?}", p.warnings
        );
    }
}

/// What conf itself reads must agree: for a tree with one symbol of each
/// type, every value dotconfig reads cleanly (no warning), conf's own reader
/// (olddefconfig) reads without a warning for a symbol of the matching type.
#[test]
fn clean_values_are_clean_for_conf() {
    use kconfig::testutil::MemHost;
    use kconfig::{parse, Dialect, Input, Mode, RunOptions};
    let tree = "config MODULES\n\tbool \"m\"\n\tmodules\n\tdefault y\n\
                config T\n\ttristate \"t\"\n\
                config S\n\tstring \"s\"\n\
                config I\n\tint \"i\"\n\
                config H\n\thex \"h\"\n";
    let host = MemHost::default().file("Kconfig", tree);
    let (db, _) = parse(&host, "Kconfig", Dialect::Modern).unwrap();
    let cases = [
        ("T", "y"),
        ("T", "m"),
        ("T", "n"),
        ("S", "\"a \\\" b\""),
        ("S", "\"\""),
        ("I", "-17"),
        ("I", "0"),
        ("H", "0x1f"),
        ("H", "0XAB"),
    ];
    for (sym, v) in cases {
        let text = format!("CONFIG_{sym}={v}\n");
        let ours = dotconfig::parse(".config", &text);
        assert!(ours.warnings.is_empty(), "{text}: {:?}", ours.warnings);
        let theirs = db
            .clone()
            .run_mode(
                Mode::Olddefconfig,
                Some(Input {
                    name: ".config",
                    data: text.as_bytes(),
                }),
                None,
                &RunOptions::default(),
            )
            .unwrap();
        assert!(theirs.warnings.is_empty(), "{text}: {:?}", theirs.warnings);
        let line = dotconfig::line(sym, ours.get(sym).unwrap());
        assert!(
            theirs.output.contains(&format!("{line}\n")),
            "{text}: conf wrote\n{}",
            theirs.output
        );
    }
}
