//! `ktailor-probe`: see the library documentation.

fn main() {
    // The children of the elf64 and script probes must exit before anything
    // else happens (no banner, no mounts), so dispatch on argv first.
    // args_os: a non-UTF-8 argument must not panic PID 1.
    let args: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    match args.get(1).map(String::as_str) {
        Some(kprobe::ELF_CHILD_ARG) => std::process::exit(kprobe::ELF_CHILD_EXIT),
        Some(kprobe::SCRIPT_CHILD_ARG) => std::process::exit(kprobe::SCRIPT_CHILD_EXIT),
        _ => {}
    }
    std::process::exit(kprobe::run(&args));
}
