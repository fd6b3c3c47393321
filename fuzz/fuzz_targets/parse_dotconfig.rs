//! Arbitrary bytes as a `.config` for the tree-less reader
//! (`kconfig::dotconfig`), which every crate but the engine uses.
//!
//! Besides "no panic": every entry and warning points at a line of the
//! input, the last assignment is the one that counts, and what the reader
//! accepted, written back with `dotconfig::write`, reads back to the same
//! values.
#![no_main]

#[path = "common.rs"]
mod common;

use kconfig::dotconfig::{self, Value};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() > common::MAX_INPUT {
        return;
    }
    let text = String::from_utf8_lossy(data);
    let p = dotconfig::parse(".config", &text);
    let lines = text.split_inclusive('\n').count() as u32;
    let mut prev = 0;
    for e in &p.entries {
        assert!(e.line > prev && e.line <= lines, "{e:?}");
        prev = e.line;
    }
    for w in &p.warnings {
        assert!(w.line >= 1 && w.line <= lines, "{w}");
    }
    let mut map = p.map();
    for (sym, v) in &map {
        assert_eq!(p.get(sym), Some(v));
    }
    // A value ending in \r was read from a last line without \n; written
    // back with a \n ending, conf (and we) would drop that \r.
    map.retain(|_, v| !v.to_string().ends_with('\r'));
    let back = dotconfig::parse("written", &dotconfig::write(&map));
    let other = map.values().filter(|v| matches!(v, Value::Other(_))).count();
    assert_eq!(back.warnings.len(), other, "{:?}", back.warnings);
    assert_eq!(back.map(), map);
});
