//! Builds (or finds in the cache) a rootfs tar and prints its path.
//!
//! `cargo run -p krootfs --release --example build -- sysvinit|systemd [extra packages...]`

use krootfs::{Init, RootfsSpec};

fn main() {
    let mut args = std::env::args().skip(1);
    let init = match args.next().as_deref().unwrap_or("sysvinit").parse::<Init>() {
        Ok(i) => i,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let mut spec = RootfsSpec::bookworm(init);
    spec.extra_packages = args.collect();
    match krootfs::build(&spec, &ksrc::cache_root(), &|l| eprintln!("{l}")) {
        Ok(r) => {
            println!("{}", r.tar.display());
            eprintln!(
                "{} ({}), {} bytes, {:.1} s, {} packages",
                r.key,
                if r.cache_hit { "cache hit" } else { "built" },
                r.bytes,
                r.duration.as_secs_f64(),
                r.packages.len()
            );
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
