//! `ktailor minimize`'s refusals: each names what is wrong and stops
//! before any build.

mod common;

use common::{ktailor, text};

#[test]
fn unknown_and_disk_targets_are_refused() {
    let o = ktailor(&["minimize", "--target", "no-such-target"]);
    assert_eq!(o.status.code(), Some(2));
    let e = text(&o.stderr);
    assert!(
        e.contains("unknown target") && e.contains("qemu-virtio"),
        "{e}"
    );

    let o = ktailor(&["minimize", "--target", "debian-sysvinit"]);
    assert_eq!(o.status.code(), Some(2));
    let e = text(&o.stderr);
    assert!(
        e.contains("disk image") && e.contains("not built yet"),
        "{e}"
    );
}

#[test]
#[ignore = "real tier: needs a kernel tree (scripts/test runs it)"]
fn a_keep_symbol_that_does_not_exist_and_a_foreign_journal_are_refused() {
    let o = ktailor(&[
        "minimize",
        "--target",
        "qemu-console",
        "--keep",
        "NO_SUCH_SYMBOL_X",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    let e = text(&o.stderr);
    assert!(
        e.contains("--keep NO_SUCH_SYMBOL_X") && e.contains("not a symbol"),
        "{e}"
    );

    // A journal written for another kernel is not trusted.
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("journal.jsonl"),
        "{\"kernelversion\":\"5.10.1\",\"arch\":\"x86_64\",\"target\":\"qemu-console\",\"input\":\"00\"}\n",
    )
    .unwrap();
    let o = ktailor(&[
        "minimize",
        "--target",
        "qemu-console",
        "--journal",
        d.path().to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    let e = text(&o.stderr);
    assert!(
        e.contains("5.10.1") && e.contains("not of qemu-console"),
        "{e}"
    );
}
