//! Benchmarks that measure ktailor against an anchor in the same run and
//! report ratios: the kernel's own conf (kconfig), Debian's cloud kernel
//! (image).

pub mod image;
pub mod kconfig;
