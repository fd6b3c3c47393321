//! A development front end for the doctor (the real CLI is `ktailor
//! doctor`): `doctor [--log F] [--strace F] [--lspci F] [--config F]
//! [--init script|elf64|elf32] [--ask Q]... [--no-solve]`.

use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let mut inputs = kdoctor::Inputs::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_default();
        match a.as_str() {
            "--log" => inputs.log = Some(std::fs::read_to_string(val())?),
            "--strace" => inputs.strace = Some(std::fs::read_to_string(val())?),
            "--lspci" => inputs.lspci = Some(std::fs::read_to_string(val())?),
            "--config" => inputs.config = Some(std::fs::read_to_string(val())?),
            "--init" => {
                inputs.init = match val().as_str() {
                    "script" => Some(kdoctor::InitKind::Script),
                    "elf64" => Some(kdoctor::InitKind::Elf64),
                    "elf32" => Some(kdoctor::InitKind::Elf32),
                    _ => None,
                }
            }
            "--ask" => inputs.questions.push(val()),
            "--no-solve" => inputs.solve = false,
            _ => anyhow::bail!("unknown argument {a}"),
        }
    }
    let t = Instant::now();
    let cache = ksrc::cache_root();
    let tree = ksrc::resolve_kernel("6.12", &cache)?;
    let env = ksrc::kconfig_env(&tree, "x86_64")?;
    let (idx, _) = kdoctor::Index::load_or_build(&tree, "x86_64", &env.srcarch, &cache)?;
    let host = ksrc::TreeHost::new(&tree, &env, ksrc::ShellCacheOptions::under(&cache))?;
    let (db, _) = kconfig::parse(
        &host,
        &env.kconfig,
        kconfig::Dialect::for_kernel_version(&tree.kernelversion),
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    eprintln!("setup {} ms", t.elapsed().as_millis());
    let t = Instant::now();
    let rep = kdoctor::diagnose_with(&idx, &db, &inputs, &kdoctor::Symptoms::builtin());
    eprintln!("diagnose {} ms", t.elapsed().as_millis());
    for s in &rep.suggestions {
        println!(
            "{:3} CONFIG_{}={}  [{}] {} — {}\n     source {} guard {} satisfied {:?}\n     set {:?} {}\n     evidence: {}",
            s.score,
            s.option,
            s.value,
            s.rule,
            s.subject,
            s.why,
            s.source.as_deref().unwrap_or("-"),
            s.guard.as_deref().unwrap_or("-"),
            s.already_satisfied,
            s.set,
            s.solve_error.as_deref().unwrap_or(""),
            s.evidence.iter().map(|e| format!("{}:{} {}", e.input, e.line, e.text)).collect::<Vec<_>>().join(" | ")
        );
    }
    for n in &rep.notes {
        println!(
            "NOTE [{}] {} ({}:{} {})",
            n.rule, n.text, n.evidence.input, n.evidence.line, n.evidence.text
        );
    }
    Ok(())
}
