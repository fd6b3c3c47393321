//! Which options compile which source file, read from the Kbuild makefiles
//! the way Kbuild descends them: from the root `Kbuild` through every
//! `obj-$(CONFIG_X) += dir/`, with the architecture's `core-y`/`drivers-y`/
//! `libs-y`, composite objects (`foo-y := a.o b.o`, `foo-$(CONFIG_Y) += c.o`)
//! and `ifeq`/`ifdef` blocks. Nothing is run; a test we cannot read as
//! options is kept verbatim (see [`Cond::Opaque`](crate::cond::Cond::Opaque)).
//!
//! Layers: `makefile` reads one Makefile into lists and their conditions
//! (make syntax through [`ksrc::make`], the one Makefile reader),
//! `graph` descends the directories and combines the guards; both read the
//! tree only through a [`Tree`], and [`walk`] is the thin wrapper that reads
//! a directory on disk.

use std::path::Path;

mod graph;
mod makefile;

pub use graph::{walk_tree, Kbuild};
pub use makefile::Tree;

/// Reads the makefiles of the tree at `root` for `srcarch`.
pub fn walk(root: &Path, arch: &str, srcarch: &str) -> Kbuild {
    let read = |rel: &str| {
        std::fs::read(root.join(rel))
            .ok()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    };
    let is_file = |rel: &str| root.join(rel).is_file();
    walk_tree(
        &Tree {
            read: &read,
            is_file: &is_file,
        },
        arch,
        srcarch,
    )
}
