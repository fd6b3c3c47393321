//! Arbitrary bytes as the top-level Kconfig. Everything after the first
//! `\n%%\n` becomes `Kconfig.sub`, which the top file may `source` (and
//! which may source it back).
#![no_main]

#[path = "common.rs"]
mod common;

use kconfig::{parse, Dialect};
use libfuzzer_sys::fuzz_target;

const SEP: &[u8] = b"\n%%\n";

fuzz_target!(|data: &[u8]| {
    if data.len() > common::MAX_INPUT {
        return;
    }
    let (top, sub) = match data.windows(SEP.len()).position(|w| w == SEP) {
        Some(p) => (&data[..p + 1], &data[p + SEP.len()..]),
        None => (data, &b""[..]),
    };
    let mut host = common::host();
    host.files.insert("Kconfig".into(), top.to_vec());
    host.files.insert("Kconfig.sub".into(), sub.to_vec());
    for dialect in [Dialect::Modern, Dialect::Legacy] {
        if let Ok((db, _warnings)) = parse(&host, "Kconfig", dialect) {
            common::exercise(&db, data.len() as u32);
        }
    }
});
