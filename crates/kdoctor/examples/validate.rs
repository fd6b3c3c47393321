//! Compares the index with built kernels:
//! `cargo run --release -p kdoctor --example validate -- BUILD_DIR...`.

fn main() -> anyhow::Result<()> {
    let cache = ksrc::cache_root();
    let tree = ksrc::resolve_kernel("6.12", &cache)?;
    let env = ksrc::kconfig_env(&tree, "x86_64")?;
    let (idx, _) = kdoctor::Index::load_or_build(&tree, "x86_64", &env.srcarch, &cache)?;
    for dir in std::env::args().skip(1) {
        let rep = kdoctor::validate::check_build(&idx, std::path::Path::new(&dir))?;
        println!("== {dir}");
        for (k, c) in &rep.categories {
            println!("{k}: {}/{} (skipped {})", c.matches, c.total, c.skipped);
            for m in &c.mismatches {
                println!(
                    "   MISMATCH {} predicted {} actual {} guard [{}] at {}",
                    m.what, m.predicted, m.actual, m.guard, m.site
                );
            }
        }
        println!("address check judged {} syscalls", rep.address_checked);
        for d in &rep.method_disagreements {
            println!("   METHOD {d}");
        }
    }
    Ok(())
}
