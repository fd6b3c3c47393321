//! Bad input must never panic: every parser and the pattern matcher, on
//! arbitrary text (including non-ASCII and truncated lines).

use kdoctor::cond::Config;
use kdoctor::inputs::{parse_lspci, parse_probes, parse_strace};
use kdoctor::rules::Pattern;
use kdoctor::{cpp, validate, Question};
use proptest::prelude::*;

fn noisy() -> impl Strategy<Value = String> {
    // Mostly the characters the parsers look for, plus anything.
    prop::collection::vec(
        prop_oneof![
            Just("(".to_string()),
            Just(")".to_string()),
            Just("\"".to_string()),
            Just("= -1 ".to_string()),
            Just("ENOSYS".to_string()),
            Just("[pid 1] ".to_string()),
            Just("KTAILOR-PROBE {".to_string()),
            Just("#if ".to_string()),
            Just("#define A(x) x ## x\n".to_string()),
            Just("\\\n".to_string()),
            Just("/*".to_string()),
            Just("CONFIG_".to_string()),
            Just("8086:100e".to_string()),
            Just("[0200]".to_string()),
            Just("prog-if ".to_string()),
            Just("{".to_string()),
            Just("}".to_string()),
            Just("é".to_string()),
            "\\PC{0,8}",
        ],
        0..40,
    )
    .prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn parsers_never_panic(s in noisy()) {
        let _ = parse_strace(&s);
        let _ = parse_lspci(&s);
        let _ = parse_probes(&s);
        let _ = Question::parse(&s);
        let _ = Config::parse(&s);
        let _ = validate::parse_pci_aliases(&format!("alias pci:{s} m"));
        let _ = validate::SystemMap::parse(&s);
        let _ = kdoctor::index::format_matches(&s, &s);
    }

    #[test]
    fn preprocessor_never_panics(s in noisy()) {
        let pp = cpp::preprocess(&s, &cpp::NoFacts);
        let toks = cpp::tokens_of(&pp);
        let mut m = cpp::Macros::default();
        m.add_defines(&pp.defines);
        let e = m.expand(&toks);
        let _ = cpp::eval_int(&e);
    }

    #[test]
    fn patterns_never_panic(p in noisy(), line in noisy()) {
        if let Ok(p) = Pattern::compile(&p) {
            let _ = p.matches(&line);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(60))]

    #[test]
    fn makefiles_never_panic(s in noisy(), t in noisy()) {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("Kbuild"), format!("obj-y += a/\n{s}")).unwrap();
        std::fs::create_dir_all(d.path().join("a")).unwrap();
        std::fs::write(d.path().join("a/Makefile"), format!("ifeq ({t})\nobj-$(CONFIG_X) += b.o é\n{s}\nelse ifdef {t}\n")).unwrap();
        let _ = kdoctor::kbuild::walk(d.path(), "x86_64", "x86");
    }
}

#[test]
fn recursive_macros_terminate() {
    let pp = cpp::preprocess(
        "#define A B\n#define B A\n#define F(x) F(x) G(x)\n#define G(x) F(x)\n",
        &cpp::NoFacts,
    );
    let mut m = cpp::Macros::default();
    m.add_defines(&pp.defines);
    let mut t = Vec::new();
    cpp::tokenize("A F(1)", 1, 0, &mut t);
    let out = m.expand(&t);
    assert!(!out.is_empty());
}
