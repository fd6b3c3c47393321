//! Minimal driver for trying the engine on a kernel tree without caching:
//! `kconf <srctree> <ARCH> <mode> [input] > .config`. The real CLI is `ktailor kconfig`.
use std::collections::HashMap;
use std::process::{Command, Stdio};

struct FsHost {
    root: String,
    env: HashMap<String, String>,
}

impl kconfig::Host for FsHost {
    fn read_file(&self, name: &str) -> std::io::Result<Vec<u8>> {
        if name.starts_with('/') {
            std::fs::read(name)
        } else {
            std::fs::read(format!("{}/{}", self.root, name))
        }
    }
    fn getenv(&self, name: &str) -> Option<String> {
        self.env.get(name).cloned()
    }
    fn shell(&self, cmd: &str) -> Result<Vec<u8>, String> {
        let out = Command::new("/bin/sh")
            .arg("-c")
            .arg(cmd)
            .env_clear()
            .envs(&self.env)
            .current_dir("/tmp")
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .map_err(|e| e.to_string())?;
        Ok(out.stdout)
    }
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let (root, arch, mode) = (&a[1], &a[2], &a[3]);
    let mut env: HashMap<String, String> = std::env::vars().collect();
    let srcarch = match arch.as_str() {
        "x86_64" | "i386" => "x86",
        "sparc64" => "sparc",
        "parisc64" => "parisc",
        a => a,
    };
    let mk = std::fs::read_to_string(format!("{root}/Makefile")).unwrap();
    let get = |k: &str| {
        mk.lines()
            .find_map(|l| l.strip_prefix(&format!("{k} = ")).map(str::to_string))
            .unwrap_or_default()
    };
    let kv = format!(
        "{}.{}.{}{}",
        get("VERSION"),
        get("PATCHLEVEL"),
        get("SUBLEVEL"),
        get("EXTRAVERSION")
    );
    let ccv = String::from_utf8(
        Command::new("gcc")
            .arg("--version")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    for (k, v) in [
        ("ARCH", arch.as_str()),
        ("SRCARCH", srcarch),
        ("srctree", root.as_str()),
        ("CC", "gcc"),
        ("LD", "ld"),
        ("HOSTCC", "gcc"),
        ("NM", "nm"),
        ("OBJCOPY", "objcopy"),
        ("READELF", "readelf"),
        ("OBJDUMP", "objdump"),
        ("AR", "ar"),
        ("STRIP", "strip"),
        ("RUSTC", "rustc"),
        ("BINDGEN", "bindgen"),
        ("KERNELVERSION", kv.as_str()),
        ("CC_VERSION_TEXT", ccv.lines().next().unwrap()),
    ] {
        env.insert(k.into(), v.into());
    }
    let dialect = kconfig::Dialect::for_kernel_version(&kv);
    let host = FsHost {
        root: root.clone(),
        env,
    };
    let t = std::time::Instant::now();
    let (mut db, warns) = match kconfig::parse(&host, "Kconfig", dialect) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1)
        }
    };
    for w in warns {
        eprintln!("{w}");
    }
    eprintln!("parsed in {:?}, {} symbols", t.elapsed(), db.syms.len());
    let seed = std::env::var("KCONFIG_SEED")
        .ok()
        .map(|s| s.parse().unwrap())
        .unwrap_or(1);
    let mode = mode.parse::<kconfig::Mode>().expect("mode").with_seed(seed);
    let data = a.get(4).map(|p| std::fs::read(p).unwrap());
    let input = data.as_ref().map(|d| kconfig::Input {
        name: ".config",
        data: d,
    });
    let out = db.run_mode(mode, input, None, &Default::default()).unwrap();
    for w in &out.warnings {
        eprintln!("{}", w.conf_warning());
    }
    eprintln!("total {:?}", t.elapsed());
    print!("{}", out.output);
}
