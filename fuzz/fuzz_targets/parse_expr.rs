//! Arbitrary bytes as an expression, in the two places expressions are most
//! common: a prompt's `if` and a `depends on` line. The surrounding symbols
//! give the expression every type to compare against.
#![no_main]

#[path = "common.rs"]
mod common;

use kconfig::{parse, Dialect};
use libfuzzer_sys::fuzz_target;

const PRELUDE: &str = "\
config MODULES
\tbool \"modules\"
\tdefault y
\tmodules

config A
\tbool \"a\"

config B
\ttristate \"b\"
\tdefault m

config N
\tint \"n\"
\trange 0 10
\tdefault 5

config H
\thex \"h\"
\tdefault 0x20

config S
\tstring \"s\"
\tdefault \"foo\"

";

fuzz_target!(|data: &[u8]| {
    if data.len() > common::MAX_INPUT {
        return;
    }
    let mut as_prompt_if = PRELUDE.as_bytes().to_vec();
    as_prompt_if.extend_from_slice(b"config X\n\tbool \"x\" if ");
    as_prompt_if.extend_from_slice(data);
    as_prompt_if.extend_from_slice(b"\n\tdefault y\n");

    let mut as_depends = PRELUDE.as_bytes().to_vec();
    as_depends.extend_from_slice(b"config Y\n\ttristate \"y\"\n\tdepends on ");
    as_depends.extend_from_slice(data);
    as_depends.extend_from_slice(b"\n\tselect A\n\tdefault m\n");

    for text in [as_prompt_if, as_depends] {
        let mut host = common::host();
        host.files.insert("Kconfig".into(), text);
        for dialect in [Dialect::Modern, Dialect::Legacy] {
            if let Ok((db, _warnings)) = parse(&host, "Kconfig", dialect) {
                common::exercise(&db, data.len() as u32);
            }
        }
    }
});
