//! The seam between the pure Kconfig engine and the outside world.
//!
//! conf reads files relative to its working directory (falling back to
//! `$srctree`), reads environment variables for undefined macros, and runs
//! `$(shell,...)` through `popen`. Everything here is behind one trait so the
//! engine can be driven by a real kernel tree (see the `ksrc` crate), by
//! in-memory fixtures in tests, and by fuzzers.

use std::io;

/// What the engine needs from its surroundings while parsing.
pub trait Host {
    /// Read a Kconfig file named as in a `source` statement (or the top-level
    /// file). Mirrors conf's `zconf_fopen`: try the name as given, then
    /// relative to `$srctree`.
    fn read_file(&self, name: &str) -> io::Result<Vec<u8>>;

    /// An environment variable as conf's `getenv` would see it.
    fn getenv(&self, name: &str) -> Option<String>;

    /// Run `cmd` with `/bin/sh -c` exactly as `popen(cmd, "r")` would and
    /// return its raw standard output. Post-processing (4095-byte cap, newline
    /// folding) is done by the engine, so implementations may cache raw output.
    fn shell(&self, cmd: &str) -> Result<Vec<u8>, String>;

    /// Hint: these commands are likely to be asked for soon. Implementations
    /// may run them in parallel and cache the results. Default: ignore.
    fn prefetch(&self, _cmds: &[String]) {}

    /// Whether a speculative pre-pass is worth it: true when most
    /// `$(shell,...)` answers are not cached yet, so collecting the commands
    /// first and running them in parallel (through [`Host::prefetch`]) beats
    /// running them one by one as the parser reaches them.
    fn speculate(&self) -> bool {
        false
    }

    /// Output of `$(info,...)`.
    fn info(&self, msg: &str) {
        println!("{msg}");
    }
}
