//! Broken input must be reported, never guessed around: every Kconfig error
//! names its file and line, and every bad `.config` line gets a warning with
//! its line number while the good lines around it still apply.
//!
//! Expected messages were checked against the kernel's own conf (6.12 for
//! the modern dialect, 6.1 for the legacy one). Where our wording is richer
//! than bison's bare "syntax error", the file and line are still conf's.

use kconfig::testutil::MemHost;
use kconfig::{parse, Db, Diag, Dialect, Error, Input, Mode, Outcome, RunOptions};

const BOTH: [Dialect; 2] = [Dialect::Modern, Dialect::Legacy];

fn host(files: &[(&str, &str)]) -> MemHost {
    files
        .iter()
        .fold(MemHost::default(), |h, (name, text)| h.file(name, text))
}

/// The diagnostics of a parse that must fail, as (file, line, message).
fn parse_errors(files: &[(&str, &str)], dialect: Dialect) -> Vec<(String, u32, String)> {
    match parse(&host(files), files[0].0, dialect) {
        Err(Error::Parse(ds)) => ds.into_iter().map(|d| (d.file, d.line, d.msg)).collect(),
        Err(other) => panic!("expected a parse error, got {other:?}"),
        Ok(_) => panic!("{dialect:?}: expected a parse error, the tree parsed: {files:?}"),
    }
}

fn parse_ok(files: &[(&str, &str)], dialect: Dialect) -> (Db, Vec<Diag>) {
    parse(&host(files), files[0].0, dialect)
        .unwrap_or_else(|e| panic!("{dialect:?}: expected the tree to parse:\n{e}"))
}

fn owned(v: &[(&str, u32, &str)]) -> Vec<(String, u32, String)> {
    v.iter()
        .map(|(f, l, m)| (f.to_string(), *l, m.to_string()))
        .collect()
}

struct KconfigCase {
    name: &'static str,
    files: &'static [(&'static str, &'static str)],
    /// Every diagnostic, in order.
    errors: &'static [(&'static str, u32, &'static str)],
}

/// Errors that are reported identically in both dialects.
const KCONFIG_ERRORS: &[KconfigCase] = &[
    KconfigCase {
        name: "unclosed parenthesis in depends on",
        files: &[(
            "Kconfig",
            "config A\n\tbool \"a\"\n\tdepends on (B\n\nconfig B\n\tbool \"b\"\n",
        )],
        errors: &[(
            "Kconfig",
            3,
            "syntax error: unexpected end of line, expected an expression",
        )],
    },
    KconfigCase {
        name: "every bad line of one file is reported, in order",
        files: &[(
            "Kconfig",
            "config A\n\tbool \"a\"\n\tselect \"X\"\n\tdepends B\n\tbool \"c\" foo\n\trange 1\n\
             \thelp foo\nsource foo\nconfig\n\nconfig Z\n\tbool \"z\"\n",
        )],
        errors: &[
            (
                "Kconfig",
                3,
                "syntax error: unexpected \"X\", expected a symbol name",
            ),
            ("Kconfig", 4, "syntax error: unexpected 'B', expected 'on'"),
            (
                "Kconfig",
                5,
                "syntax error: unexpected 'foo', expected end of line",
            ),
            (
                "Kconfig",
                6,
                "syntax error: unexpected end of line, expected two range bounds",
            ),
            (
                "Kconfig",
                7,
                "syntax error: unexpected 'foo', expected end of line after 'help'",
            ),
            (
                "Kconfig",
                8,
                "syntax error: unexpected 'foo', expected a quoted file name",
            ),
            (
                "Kconfig",
                9,
                "syntax error: unexpected end of line, expected a symbol name",
            ),
        ],
    },
    KconfigCase {
        name: "menu without a title",
        files: &[("Kconfig", "\nmenu foo\nendmenu\n")],
        errors: &[(
            "Kconfig",
            2,
            "syntax error: unexpected 'foo', expected a quoted menu title",
        )],
    },
    KconfigCase {
        name: "syntax error in a sourced file names that file",
        files: &[
            (
                "Kconfig",
                "config A\n\tbool \"a\"\n\nsource \"sub/Kconfig\"\n",
            ),
            (
                "sub/Kconfig",
                "\n\nconfig B\n\tdepends on A &&\n\tbool \"b\"\n",
            ),
        ],
        errors: &[(
            "sub/Kconfig",
            4,
            "syntax error: unexpected end of line, expected an expression",
        )],
    },
    KconfigCase {
        name: "unterminated if",
        files: &[(
            "Kconfig",
            "config A\n\tbool \"a\"\n\nif A\n\nconfig B\n\tbool \"b\"\n",
        )],
        errors: &[(
            "Kconfig",
            4,
            "missing end statement for this entry (expected 'endif')",
        )],
    },
    KconfigCase {
        name: "unterminated menu",
        files: &[("Kconfig", "\n\nmenu \"M\"\n\nconfig B\n\tbool \"b\"\n")],
        errors: &[(
            "Kconfig",
            3,
            "missing end statement for this entry (expected 'endmenu')",
        )],
    },
    KconfigCase {
        name: "unterminated choice",
        files: &[(
            "Kconfig",
            "config A\n\tbool \"a\"\n\nchoice\n\tprompt \"c\"\n\nconfig B\n\tbool \"b\"\n",
        )],
        errors: &[(
            "Kconfig",
            4,
            "missing end statement for this entry (expected 'endchoice')",
        )],
    },
    KconfigCase {
        name: "nested unterminated blocks, innermost first",
        files: &[(
            "Kconfig",
            "menu \"M\"\nif X\nchoice\n\tprompt \"c\"\nconfig B\n\tbool \"b\"\n",
        )],
        errors: &[
            (
                "Kconfig",
                3,
                "missing end statement for this entry (expected 'endchoice')",
            ),
            (
                "Kconfig",
                2,
                "missing end statement for this entry (expected 'endif')",
            ),
            (
                "Kconfig",
                1,
                "missing end statement for this entry (expected 'endmenu')",
            ),
        ],
    },
    KconfigCase {
        name: "block opened in a sourced file and never closed",
        files: &[
            ("Kconfig", "source \"sub\"\nconfig A\n\tbool \"a\"\n"),
            ("sub", "\nif A\n"),
        ],
        errors: &[(
            "sub",
            2,
            "missing end statement for this entry (expected 'endif')",
        )],
    },
    KconfigCase {
        name: "end of the wrong kind",
        files: &[("Kconfig", "menu \"M\"\nconfig A\n\tbool \"a\"\nendif\n")],
        errors: &[("Kconfig", 4, "unexpected 'if' within menu block")],
    },
    KconfigCase {
        name: "end in a different file than its block",
        files: &[
            ("Kconfig", "menu \"M\"\nsource \"s\"\n"),
            ("s", "config A\n\tbool \"a\"\nendmenu\n"),
        ],
        errors: &[
            ("s", 3, "'menu' in different file than 'menu'"),
            ("Kconfig", 1, "location of the 'menu'"),
        ],
    },
    KconfigCase {
        name: "stray end at top level",
        files: &[("Kconfig", "config A\n\tbool \"a\"\nendif\n")],
        errors: &[("Kconfig", 3, "unexpected 'endif' outside of any block")],
    },
    KconfigCase {
        name: "missing sourced file names the sourcing file and line",
        files: &[
            (
                "Kconfig",
                "config A\n\tbool \"a\"\nsource \"sub/Kconfig\"\n",
            ),
            ("sub/Kconfig", "\n\nsource \"nope/Kconfig\"\n"),
        ],
        errors: &[("sub/Kconfig", 3, "can't open file \"nope/Kconfig\"")],
    },
    KconfigCase {
        name: "error-if stops with its message at its line",
        files: &[(
            "Kconfig",
            "config A\n\tbool \"a\"\n\n$(error-if,y,this is bad)\nconfig B\n\tbool \"b\" if\n",
        )],
        errors: &[("Kconfig", 4, "this is bad")],
    },
    KconfigCase {
        name: "error-if in a sourced file, inside a prompt",
        files: &[
            ("Kconfig", "x := y\nsource \"s\"\n"),
            ("s", "config A\n\tbool \"a $(error-if,$(x),boom here)\"\n"),
        ],
        errors: &[("s", 2, "boom here")],
    },
    KconfigCase {
        name: "unknown statements",
        files: &[(
            "Kconfig",
            "config A\n\tbool \"a\"\nfoo bar baz\nconfigg B\n\tbool \"b\"\n",
        )],
        errors: &[
            ("Kconfig", 3, "unknown statement \"foo\""),
            ("Kconfig", 4, "unknown statement \"configg\""),
            ("Kconfig", 5, "invalid statement"),
        ],
    },
    KconfigCase {
        name: "recursive source through three files",
        files: &[
            ("Kconfig", "config A\n\tbool \"a\"\nsource \"b/Kconfig\"\n"),
            ("b/Kconfig", "\nsource \"c/Kconfig\"\n"),
            ("c/Kconfig", "\n\n\nsource \"Kconfig\"\n"),
        ],
        errors: &[(
            "",
            0,
            "Recursive inclusion detected.\nInclusion path:\n  current file : Kconfig\n  \
             included from: c/Kconfig:4\n  included from: b/Kconfig:2\n  included from: Kconfig:3",
        )],
    },
    KconfigCase {
        name: "a file sourcing itself",
        files: &[("Kconfig", "source \"Kconfig\"\n")],
        errors: &[(
            "",
            0,
            "Recursive inclusion detected.\nInclusion path:\n  current file : Kconfig\n  \
             included from: Kconfig:1",
        )],
    },
    KconfigCase {
        name: "second modules symbol",
        files: &[(
            "Kconfig",
            "config M1\n\tbool\n\tmodules\nconfig M2\n\tbool\n\tmodules\n",
        )],
        errors: &[(
            "Kconfig",
            6,
            "symbol 'M2' redefines option 'modules' already defined by symbol 'M1'",
        )],
    },
];

#[test]
fn kconfig_errors_name_file_line_and_what_went_wrong() {
    for case in KCONFIG_ERRORS {
        for d in BOTH {
            let got = parse_errors(case.files, d);
            assert_eq!(got, owned(case.errors), "{} ({d:?})", case.name);
        }
    }
}

#[test]
fn missing_top_level_file() {
    for d in BOTH {
        match parse(&MemHost::default(), "Kconfig", d) {
            Err(Error::Parse(ds)) => {
                assert_eq!(ds, vec![Diag::at("", 0, "can't find file Kconfig")]);
            }
            other => panic!("{d:?}: {:?}", other.map(|_| ())),
        }
    }
}

#[test]
fn error_display_is_file_colon_line() {
    let err = parse(
        &host(&[("Kconfig", "\n\n$(error-if,y,stop here)\n")]),
        "Kconfig",
        Dialect::Modern,
    )
    .unwrap_err();
    assert_eq!(err.to_string(), "Kconfig:3: stop here");
}

#[test]
fn modern_choice_rules() {
    let files = &[(
        "Kconfig",
        "choice\nconfig A\n\tbool \"a\"\nconfig B\n\ttristate \"b\"\nconfig D\n\tbool\nendchoice\n",
    )];
    assert_eq!(
        parse_errors(files, Dialect::Modern),
        owned(&[
            ("Kconfig", 1, "error: choice must have a prompt"),
            ("Kconfig", 4, "error: choice member must be bool"),
            ("Kconfig", 6, "error: choice member must have a prompt"),
        ])
    );
    let files = &[(
        "Kconfig",
        "choice\n\tprompt \"c\"\nconfig A\n\tbool \"a\"\n\tdefault y\nendchoice\n",
    )];
    assert_eq!(
        parse_errors(files, Dialect::Modern),
        owned(&[(
            "Kconfig",
            5,
            "error: defaults for choice values not supported"
        )])
    );
}

#[test]
fn warning_if_warns_and_parsing_goes_on() {
    let files = &[(
        "Kconfig",
        "config A\n\tbool \"a\"\n\n$(warning-if,y,careful)\n$(warning-if,n,quiet)\n\
         config B\n\tdef_bool y\n",
    )];
    for d in BOTH {
        let (mut db, warnings) = parse_ok(files, d);
        assert_eq!(warnings, vec![Diag::at("Kconfig", 4, "careful")], "{d:?}");
        let out = db
            .run_mode(Mode::Allnoconfig, None, None, &RunOptions::default())
            .unwrap();
        assert!(out.output.ends_with("# CONFIG_A is not set\nCONFIG_B=y\n"));
    }
}

#[test]
fn lexer_warnings_carry_lines() {
    let files = &[
        (
            "Kconfig",
            "config A\n\tbool \"a\" @\n\tprompt \"multi\nsource \"sub\"\n",
        ),
        ("sub", "config B\n\tbool \"b\""),
    ];
    for d in BOTH {
        let (_, warnings) = parse_ok(files, d);
        assert_eq!(
            warnings,
            vec![
                Diag::at("Kconfig", 2, "ignoring unsupported character '@'"),
                Diag::at("Kconfig", 3, "multi-line strings not supported"),
                Diag::at("Kconfig", 3, "warning: prompt redefined"),
                Diag::at("sub", 2, "no new line at end of file"),
            ],
            "{d:?}"
        );
    }
}

/// 6.12 needs the top-level file to end in a newline (its last statement
/// never sees an end of line), so a missing one is a syntax error there.
#[test]
fn modern_top_file_without_final_newline_is_a_syntax_error() {
    let files = &[("Kconfig", "config A\n\tbool \"a\"")];
    assert_eq!(
        parse_errors(files, Dialect::Modern),
        owned(&[(
            "Kconfig",
            2,
            "syntax error: unexpected end of file, expected end of line"
        )])
    );
}

/// select/imply cycles that only close through a choice: the choice's own
/// dependency is what the member's select feeds back into. conf refuses
/// these trees, so must we (deps.rs covers plain depends-on cycles).
#[test]
fn select_and_imply_cycles_through_a_choice() {
    for (verb, says) in [("select", "is selected by"), ("imply", "is implied by")] {
        let text = format!(
            "config X\n\tbool \"x\"\n\nchoice\n\tprompt \"c\"\n\tdepends on X\n\
             config A\n\tbool \"a\"\n\t{verb} X\nconfig B\n\tbool \"b\"\nendchoice\n"
        );
        let files = &[("Kconfig", text.as_str())];
        for d in BOTH {
            let errs = parse_errors(files, d);
            assert_eq!(errs.len(), 1, "{verb} {d:?}: {errs:?}");
            let msg = &errs[0].2;
            assert!(
                msg.starts_with("error: recursive dependency detected!"),
                "{verb} {d:?}: {msg}"
            );
            assert!(msg.contains(&format!("symbol X {says} A")), "{d:?}: {msg}");
            assert!(
                msg.contains("subsection \"Kconfig recursive dependency limitations\""),
                "{msg}"
            );
        }
        // In 6.12 the chain continues from the member through its choice
        // to the choice's prompt, which depends on X.
        let errs = parse_errors(files, Dialect::Modern);
        assert!(
            errs[0]
                .2
                .contains("symbol <choice> prompt is visible depending on X"),
            "{}",
            errs[0].2
        );
    }
}

/// Selecting something that depends on a choice member is not a cycle:
/// the member's own select is not one of the choice's dependencies.
#[test]
fn select_into_a_choice_dependent_is_not_a_cycle() {
    for verb in ["select", "imply"] {
        let text = format!(
            "choice\n\tprompt \"c\"\nconfig A\n\tbool \"a\"\nconfig B\n\tbool \"b\"\n\t{verb} C\n\
             endchoice\n\nconfig C\n\tbool \"c\"\n\tdepends on A\n"
        );
        for d in BOTH {
            let (mut db, _) = parse_ok(&[("Kconfig", &text)], d);
            let out = db
                .run_mode(Mode::Allnoconfig, None, None, &RunOptions::default())
                .unwrap();
            assert!(out.output.contains("\nCONFIG_A=y\n"), "{verb} {d:?}");
        }
    }
}

// ---- .config input ----

const FIXTURE: &str = "\
config MODULES
\tbool \"modules\"
\tmodules

config A
\tbool \"a\"

config T
\ttristate \"t\"

config I
\tint \"i\"
\tdefault 3

config H
\thex \"h\"
\tdefault 0x10

config S
\tstring \"s\"
\tdefault \"d\"
";

/// One `.config` line and the warning it earns in each dialect.
struct Line {
    text: &'static str,
    modern: Option<&'static str>,
    legacy: Option<&'static str>,
}

const fn ok(text: &'static str) -> Line {
    Line {
        text,
        modern: None,
        legacy: None,
    }
}

const fn warns(text: &'static str, msg: &'static str) -> Line {
    Line {
        text,
        modern: Some(msg),
        legacy: Some(msg),
    }
}

/// A file full of mistakes, each verified against conf. The valid lines
/// must still take effect: see `MALFORMED_RESULT`.
const MALFORMED: &[Line] = &[
    ok("CONFIG_MODULES=y"),
    warns("CONFIG_T=", "symbol value '' invalid for T"),
    // 6.12 warns about a CONFIG_ line without '='; 6.1 skipped it silently.
    Line {
        text: "CONFIG_A",
        modern: Some("unexpected data: CONFIG_A"),
        legacy: None,
    },
    warns("garbage here", "unexpected data: garbage here"),
    warns("CONFIG_A=x", "symbol value 'x' invalid for A"),
    ok("CONFIG_T=m"),
    warns("CONFIG_I=abc", "symbol value 'abc' invalid for I"),
    warns("CONFIG_I=0x10", "symbol value '0x10' invalid for I"),
    warns("CONFIG_I=", "symbol value '' invalid for I"),
    warns("CONFIG_H=zz", "symbol value 'zz' invalid for H"),
    warns("CONFIG_H=0x", "symbol value '0x' invalid for H"),
    ok("CONFIG_H=0x1F"),
    warns("CONFIG_S=\"abc", "invalid string found"),
    // An unquoted string is dropped without a word, as conf does.
    ok("CONFIG_S=noquote"),
    ok("CONFIG_I=-5"),
    warns("CONFIG_UNKNOWN=y", "unknown symbol: UNKNOWN"),
    ok("# CONFIG_A is not set"),
    ok("#CONFIG_A=y"),
    ok(""),
    // Only the first character of a bool/tristate value counts.
    warns(
        "CONFIG_A=yes # trailing junk",
        "override: reassigning to symbol A",
    ),
    ok("CONFIG_S=\"q\\\"x\\\\\""),
];

const MALFORMED_RESULT: &str = "\
CONFIG_MODULES=y
CONFIG_A=y
CONFIG_T=m
CONFIG_I=-5
CONFIG_H=0x1F
CONFIG_S=\"q\\\"x\\\\\"
";

fn olddefconfig(d: Dialect, kconfig: &str, name: &str, data: &[u8], warn_unknown: bool) -> Outcome {
    let (mut db, _) = parse_ok(&[("Kconfig", kconfig)], d);
    db.run_mode(
        Mode::Olddefconfig,
        Some(Input { name, data }),
        None,
        &RunOptions {
            warn_unknown,
            ..Default::default()
        },
    )
    .unwrap()
}

fn body(output: &str) -> String {
    output
        .lines()
        .filter(|l| !l.starts_with('#') || l.ends_with(" is not set"))
        .filter(|l| !l.is_empty())
        .map(|l| format!("{l}\n"))
        .collect()
}

fn expected_warnings(d: Dialect, name: &str) -> Vec<Diag> {
    MALFORMED
        .iter()
        .enumerate()
        .filter_map(|(i, l)| {
            let msg = match d {
                Dialect::Modern => l.modern,
                Dialect::Legacy => l.legacy,
            }?;
            Some(Diag::at(name, i as u32 + 1, msg))
        })
        .collect()
}

#[test]
fn malformed_dotconfig_warns_per_line_and_keeps_the_good_lines() {
    for eol in ["\n", "\r\n"] {
        // The last line has no newline at all: getline still returns it.
        let text = MALFORMED
            .iter()
            .map(|l| l.text)
            .collect::<Vec<_>>()
            .join(eol);
        for d in BOTH {
            let out = olddefconfig(d, FIXTURE, ".config", text.as_bytes(), true);
            assert_eq!(
                out.warnings,
                expected_warnings(d, ".config"),
                "{d:?} eol={eol:?}"
            );
            assert_eq!(body(&out.output), MALFORMED_RESULT, "{d:?} eol={eol:?}");
            assert_eq!(
                out.unknown,
                vec![(".config".to_string(), 16, "UNKNOWN".to_string())]
            );
        }
    }
}

#[test]
fn dotconfig_warnings_print_like_conf() {
    let out = olddefconfig(
        Dialect::Modern,
        FIXTURE,
        "old.config",
        b"CONFIG_A=y\n\nCONFIG_I=zero\n",
        false,
    );
    let printed: Vec<String> = out.warnings.iter().map(Diag::conf_warning).collect();
    assert_eq!(
        printed,
        vec!["old.config:3:warning: symbol value 'zero' invalid for I"]
    );
}

#[test]
fn unknown_symbols_warn_only_when_asked_but_are_always_listed() {
    let data = b"CONFIG_A=y\nCONFIG_GONE=y\n# CONFIG_ALSO_GONE is not set\n";
    for d in BOTH {
        let quiet = olddefconfig(d, FIXTURE, ".config", data, false);
        assert!(quiet.warnings.is_empty(), "{d:?}: {:?}", quiet.warnings);
        let loud = olddefconfig(d, FIXTURE, ".config", data, true);
        assert_eq!(
            loud.warnings,
            vec![
                Diag::at(".config", 2, "unknown symbol: GONE"),
                Diag::at(".config", 3, "unknown symbol: ALSO_GONE"),
            ]
        );
        for out in [quiet, loud] {
            assert_eq!(
                out.unknown,
                vec![
                    (".config".to_string(), 2, "GONE".to_string()),
                    (".config".to_string(), 3, "ALSO_GONE".to_string()),
                ]
            );
            assert!(out.output.contains("\nCONFIG_A=y\n"));
        }
    }
}

/// An int outside its range is no syntax error, so no warning: 6.12 clamps
/// it, 6.1 drops it for the default — but only after every other symbol was
/// computed with it, so `if N > 50` still holds for BIG in the file 6.1
/// writes (and no longer when that file is read again). Both outputs are
/// the real conf's; found by the read_dotconfig fuzz target.
#[test]
fn out_of_range_int_like_each_conf() {
    let k = "config N\n\tint \"n\"\n\trange 1 100\n\tdefault 10\n\n\
             if N > 50\nconfig BIG\n\tbool \"big\"\n\tdefault y\nendif\n";
    for (d, n) in [(Dialect::Modern, "100"), (Dialect::Legacy, "10")] {
        let out = olddefconfig(d, k, ".config", b"CONFIG_N=840\nCONFIG_BIG=y\n", true);
        assert!(out.warnings.is_empty(), "{d:?}: {:?}", out.warnings);
        assert_eq!(
            body(&out.output),
            format!("CONFIG_N={n}\nCONFIG_BIG=y\n"),
            "{d:?}"
        );
    }
    let again = olddefconfig(
        Dialect::Legacy,
        k,
        ".config",
        b"CONFIG_N=10\nCONFIG_BIG=y\n",
        true,
    );
    assert_eq!(body(&again.output), "CONFIG_N=10\n");
}

/// KCONFIG_ALLCONFIG is read with the same rules and its own file name.
#[test]
fn allconfig_warnings_name_the_allconfig_file() {
    for d in BOTH {
        let (mut db, _) = parse_ok(&[("Kconfig", FIXTURE)], d);
        let all = Input {
            name: "all.config",
            data: b"garbage\nCONFIG_A=y\nCONFIG_I=x\n",
        };
        let out = db
            .run_mode(Mode::Allnoconfig, None, Some(all), &RunOptions::default())
            .unwrap();
        let printed: Vec<String> = out.warnings.iter().map(Diag::conf_warning).collect();
        assert_eq!(
            printed,
            vec![
                "all.config:1:warning: unexpected data: garbage",
                "all.config:3:warning: symbol value 'x' invalid for I",
            ],
            "{d:?}"
        );
        assert_eq!(
            body(&out.output),
            "# CONFIG_MODULES is not set\nCONFIG_A=y\n# CONFIG_T is not set\n\
             CONFIG_I=3\nCONFIG_H=0x10\nCONFIG_S=\"d\"\n"
        );
    }
}

/// A legacy choice: a member set to `y` after another member overrides the
/// choice and says so (6.1's "changes choice state").
#[test]
fn legacy_choice_override_is_a_warning() {
    let k =
        "choice\n\tprompt \"c\"\nconfig P1\n\tbool \"p1\"\nconfig P2\n\tbool \"p2\"\nendchoice\n";
    let out = olddefconfig(
        Dialect::Legacy,
        k,
        ".config",
        b"CONFIG_P1=y\nCONFIG_P2=y\n",
        true,
    );
    assert_eq!(
        out.warnings,
        vec![Diag::at(".config", 2, "override: P2 changes choice state")]
    );
    assert!(out
        .output
        .ends_with("# CONFIG_P1 is not set\nCONFIG_P2=y\n"));
    // 6.12 has no such warning: the last member assigned wins silently.
    let out = olddefconfig(
        Dialect::Modern,
        k,
        ".config",
        b"CONFIG_P1=y\nCONFIG_P2=y\n",
        true,
    );
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    assert!(out
        .output
        .ends_with("# CONFIG_P1 is not set\nCONFIG_P2=y\n"));
}

// ---- known divergences from conf, kept as executable reports ----

/// 6.1's lexer returns one end of line at the end of the top-level file
/// too (its `current_file` is only NULL after that), so 6.1 accepts a last
/// statement without a newline and only warns.
#[test]
fn legacy_top_file_without_final_newline_only_warns() {
    let files = &[("Kconfig", "config A\n\tbool \"a\"")];
    let (_, warnings) = parse_ok(files, Dialect::Legacy);
    assert_eq!(
        warnings,
        vec![Diag::at("Kconfig", 2, "no new line at end of file")]
    );
}

/// conf reads `.config` lines as C strings, so a NUL ends the line there.
#[test]
fn nul_ends_a_dotconfig_line_like_in_c() {
    let data = b"CONFIG_I=7\0junk\nCONFIG_S=\"a\0b\"\n\0CONFIG_A=y\n";
    let out = olddefconfig(Dialect::Modern, FIXTURE, ".config", data, true);
    assert_eq!(
        out.warnings,
        vec![Diag::at(".config", 2, "invalid string found")]
    );
    assert!(out.output.contains("\nCONFIG_I=7\n"), "{}", out.output);
    assert!(out.output.contains("\nCONFIG_S=\"d\"\n"), "{}", out.output);
}

// ---- regressions found by fuzzing ----

/// `(` and `!` nested deeper than any real Kconfig: conf's bison stack
/// gives up with "memory exhausted", our recursive descent used to
/// overflow the stack and abort (fuzz target parse_expr, 8000 × `(`).
#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let deep = |open: &str, close: &str, n: usize| {
        format!(
            "config B\n\tbool \"b\"\n\nconfig A\n\tbool \"a\" if {}B{}\n\tdefault y\n",
            open.repeat(n),
            close.repeat(n)
        )
    };
    for (open, close) in [("(", ")"), ("!", ""), ("!(", ")")] {
        for d in BOTH {
            // The deepest accepted nesting still parses and evaluates on a
            // test thread's small stack.
            let ok = deep(open, close, 128 / open.len());
            let (mut db, _) = parse_ok(&[("Kconfig", &ok)], d);
            db.run_mode(Mode::Allyesconfig, None, None, &RunOptions::default())
                .unwrap();
            for n in [129, 20_000] {
                let text = deep(open, close, n);
                assert_eq!(
                    parse_errors(&[("Kconfig", &text)], d),
                    owned(&[("Kconfig", 5, "expression nested too deeply")]),
                    "{open:?} × {n} ({d:?})"
                );
            }
        }
    }
}
