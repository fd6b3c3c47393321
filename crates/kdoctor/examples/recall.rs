//! PCI recall against a modules.alias: `recall FILE`.

fn main() -> anyhow::Result<()> {
    let path = std::env::args().nth(1).unwrap_or_default();
    let cache = ksrc::cache_root();
    let tree = ksrc::resolve_kernel("6.12", &cache)?;
    let env = ksrc::kconfig_env(&tree, "x86_64")?;
    let (idx, _) = kdoctor::Index::load_or_build(&tree, "x86_64", &env.srcarch, &cache)?;
    let aliases = kdoctor::validate::parse_pci_aliases(&std::fs::read_to_string(path)?);
    let r = kdoctor::validate::pci_recall(&idx, &aliases);
    println!(
        "aliases {}/{} modules {}/{}",
        r.found, r.aliases, r.modules_found, r.modules
    );
    for (m, n) in r.missing.iter().take(60) {
        println!("  missing module {m} ({n} aliases)");
    }
    for (m, f, n) in r.partial.iter().take(40) {
        println!("  partial {m} {f}/{n}");
    }
    Ok(())
}
