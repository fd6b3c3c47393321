//! Builds (or loads) the index for a tree and prints its statistics and a
//! few lookups: `cargo run --release -p kdoctor --example index_stats -- 6.12`.

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let spec = args.get(1).map(|s| s.as_str()).unwrap_or("6.12");
    let arch = args.get(2).map(|s| s.as_str()).unwrap_or("x86_64");
    let cache = ksrc::cache_root();
    let tree = ksrc::resolve_kernel(spec, &cache)?;
    let env = ksrc::kconfig_env(&tree, arch)?;
    let (idx, info) = kdoctor::Index::load_or_build(&tree, arch, &env.srcarch, &cache)?;
    println!("{}", serde_json::to_string_pretty(&info)?);
    println!("{}", serde_json::to_string_pretty(&idx.stats)?);
    for q in args.iter().skip(3) {
        if let Some((kind, what)) = q.split_once(':') {
            match kind {
                "sys" => println!("{q}: {:#?}", idx.syscall(what)),
                "fs" => println!("{q}: {:#?}", idx.filesystem(what)),
                "af" => println!("{q}: {:#?}", idx.family(what)),
                "file" => println!("{q}: {:?}", idx.files.get(what).map(|c| c.to_string())),
                _ => {}
            }
        }
    }
    Ok(())
}
