//! The solver on small hand-written Kconfig trees, one behaviour per case.

use kconfig::testutil::MemHost;
use kconfig::{parse, Db, Dialect};
use ksolve::{Request, Solver};

const TREE: &str = r#"
config MODULES
	bool "modules"
	modules

config EXPERT
	bool "expert"

config NET
	bool "net"

config PCI
	bool "pci"

config HAS_IOMEM
	def_bool y

menuconfig NETDEVICES
	bool "netdevs"
	depends on NET

if NETDEVICES
config E1000
	tristate "e1000"
	depends on PCI && HAS_IOMEM
endif

config FUTEX
	bool "futex" if EXPERT
	default y

config ZLIB
	bool

config GZIP
	bool "gzip"
	select ZLIB

config XZ
	bool "xz"
	select ZLIB
	depends on PCI

config CHEAP
	bool "cheap"

config COSTLY_A
	bool "a"

config COSTLY
	bool "costly"
	depends on COSTLY_A

config EITHER
	bool "either"
	depends on COSTLY || CHEAP

choice
	prompt "compression"
	default C_GZIP
config C_GZIP
	bool "gzip"
config C_XZ
	bool "xz"
	depends on NET
endchoice

config ARCH_ONLY
	def_bool n

config NEEDS_ARCH
	bool "needs arch"
	depends on ARCH_ONLY

config SHIFT
	int "shift"
	range 12 21
	default 17
	depends on NET

config NAME
	string "name"
"#;

fn db() -> Db {
    let host = MemHost::default().file("Kconfig", TREE);
    parse(&host, "Kconfig", Dialect::Modern).unwrap().0
}

fn req(s: &str) -> Vec<Request> {
    s.split_whitespace()
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            Request {
                symbol: k.into(),
                value: v.into(),
                origin: "test".into(),
            }
        })
        .collect()
}

fn added(sol: &ksolve::Solution) -> Vec<String> {
    sol.additions
        .iter()
        .map(|a| format!("{}={}", a.symbol, a.value))
        .collect()
}

fn has(sol: &ksolve::Solution, line: &str) -> bool {
    sol.config.lines().any(|l| l == line)
}

#[test]
fn table() {
    let db = db();
    let s = Solver::new(&db, String::new());
    struct Case {
        ask: &'static str,
        adds: &'static [&'static str],
        lines: &'static [&'static str],
    }
    let cases = [
        Case {
            // depends on through a menuconfig's `if` block and a plain depends
            ask: "E1000=y",
            adds: &["NET=y", "NETDEVICES=y", "PCI=y"],
            lines: &["CONFIG_E1000=y"],
        },
        Case {
            // a prompt hidden behind EXPERT: set EXPERT, then the value
            ask: "FUTEX=n",
            adds: &["EXPERT=y"],
            lines: &["# CONFIG_FUTEX is not set", "CONFIG_EXPERT=y"],
        },
        Case {
            // promptless symbol: enable the cheapest selector
            ask: "ZLIB=y",
            adds: &["GZIP=y"],
            lines: &["CONFIG_ZLIB=y"],
        },
        Case {
            // `||`: the cheaper alternative wins
            ask: "EITHER=y",
            adds: &["CHEAP=y"],
            lines: &["CONFIG_EITHER=y"],
        },
        Case {
            // a choice member that depends on something
            ask: "C_XZ=y",
            adds: &["NET=y"],
            lines: &["CONFIG_C_XZ=y", "# CONFIG_C_GZIP is not set"],
        },
        Case {
            // int in range, dependency added
            ask: "SHIFT=13",
            adds: &["NET=y"],
            lines: &["CONFIG_SHIFT=13"],
        },
        Case {
            ask: "NAME=\"hello\\\"world\"",
            adds: &[],
            lines: &["CONFIG_NAME=\"hello\\\"world\""],
        },
        Case {
            // tristate as module needs MODULES
            ask: "E1000=m",
            adds: &["MODULES=y", "NET=y", "NETDEVICES=y", "PCI=y"],
            lines: &["CONFIG_E1000=m"],
        },
    ];
    for c in cases {
        let sol = s
            .solve(&req(c.ask))
            .unwrap_or_else(|e| panic!("{}: {e}", c.ask));
        let mut got = added(&sol);
        got.sort();
        let mut want: Vec<String> = c.adds.iter().map(|x| x.to_string()).collect();
        want.sort();
        assert_eq!(got, want, "additions for {}", c.ask);
        for l in c.lines {
            assert!(has(&sol, l), "{}: missing {l:?} in\n{}", c.ask, sol.config);
        }
        for a in &sol.additions {
            assert!(!a.reason.is_empty(), "{}: addition without reason", c.ask);
        }
    }
}

#[test]
fn impossible_requests_name_the_chain() {
    let db = db();
    let s = Solver::new(&db, String::new());
    let e = s.solve(&req("NEEDS_ARCH=y")).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("CONFIG_NEEDS_ARCH=y (test) cannot take effect"),
        "{text}"
    );
    assert!(
        text.contains("NEEDS_ARCH can be set only if ARCH_ONLY"),
        "{text}"
    );
    assert!(text.contains("ARCH_ONLY has no prompt"), "{text}");

    let e = s.solve(&req("SHIFT=40")).unwrap_err().to_string();
    assert!(e.contains("SHIFT"), "{e}");

    let e = s.solve(&req("GZIP=m")).unwrap_err().to_string();
    assert!(e.contains("bool"), "{e}");

    // Contradicting requests are refused, not silently resolved.
    let e = s.solve(&req("XZ=y PCI=n")).unwrap_err().to_string();
    assert!(e.contains("PCI"), "{e}");
}

#[test]
fn unknown_symbols_are_reported_with_suggestions() {
    let db = db();
    let s = Solver::new(&db, String::new());
    let sol = s.solve(&req("E1001=y NET=y")).unwrap();
    assert_eq!(sol.unknown.len(), 1);
    assert_eq!(sol.unknown[0].symbol, "E1001");
    assert!(
        sol.unknown[0].suggestions.contains(&"E1000".to_string()),
        "{:?}",
        sol.unknown[0].suggestions
    );
    assert!(has(&sol, "CONFIG_NET=y"));
}

#[test]
fn result_is_an_olddefconfig_fixpoint_and_fragment_reproduces_it() {
    let db = db();
    let s = Solver::new(&db, String::new());
    let sol = s.solve(&req("E1000=y C_XZ=y SHIFT=20 FUTEX=n")).unwrap();
    let mut again = db.clone();
    let out = again
        .run_mode(
            kconfig::Mode::Olddefconfig,
            Some(kconfig::Input {
                name: ".config",
                data: sol.config.as_bytes(),
            }),
            None,
            &Default::default(),
        )
        .unwrap();
    assert_eq!(out.output, sol.config);
    let mut fresh = db.clone();
    let out = fresh
        .run_mode(
            kconfig::Mode::Allnoconfig,
            None,
            Some(kconfig::Input {
                name: "fragment",
                data: sol.fragment.as_bytes(),
            }),
            &Default::default(),
        )
        .unwrap();
    assert_eq!(out.output, sol.config);
}
