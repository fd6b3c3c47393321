//! The side under test: the `ktailor kconfig` CLI.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::Result;

use crate::cases::{Invocation, Mode};
use crate::exec;
use crate::tree::{self, KernelTree};

/// What one ktailor run produced.
pub struct KtailorRun {
    pub command: String,
    pub outcome: exec::Outcome,
    /// None when it exited non-zero or wrote nothing.
    pub output: Option<Vec<u8>>,
}

/// The `ktailor kconfig ...` command line for `inv`.
///
/// Inputs are the oracle's cached files (not copies), so the command in a
/// report can be re-run as is.
pub fn command(
    ktailor: &Path,
    tree: &KernelTree,
    inv: &Invocation,
    input: Option<&Path>,
    output: &Path,
) -> Command {
    let mut cmd = Command::new(ktailor);
    exec::sanitize_env(&mut cmd);
    // Same pinned variables as the oracle's make command line, so a ktailor
    // that honours them sees the same world.
    for (k, v) in tree::arch_make_vars(&inv.arch) {
        cmd.env(k, v);
    }
    cmd.arg("kconfig")
        .arg(inv.mode.name())
        .arg("--kernel")
        .arg(&tree.root)
        .arg("--arch")
        .arg(&inv.arch);
    if let Some(input) = input {
        cmd.arg("--input").arg(input);
    }
    if inv.mode == Mode::Defconfig {
        if let Some(file) = &inv.defconfig {
            let path: PathBuf = tree
                .root
                .join("arch")
                .join(tree::srcarch(&inv.arch))
                .join("configs")
                .join(file);
            cmd.arg("--defconfig").arg(path);
        }
    }
    if let Some(seed) = inv.seed {
        cmd.arg("--seed").arg(seed.to_string());
    }
    cmd.arg("--output").arg(output);
    cmd
}

pub fn run(
    ktailor: &Path,
    tree: &KernelTree,
    inv: &Invocation,
    input: Option<&Path>,
    timeout: Duration,
) -> Result<KtailorRun> {
    let work = tempfile::tempdir()?;
    let out_path = work.path().join(if inv.mode == Mode::Savedefconfig {
        "defconfig"
    } else {
        "out.config"
    });
    let mut cmd = command(ktailor, tree, inv, input, &out_path);
    cmd.current_dir(work.path());
    let command = exec::render(&cmd);
    let logs = work.path().join("logs");
    std::fs::create_dir(&logs)?;
    let outcome = exec::run(cmd, &logs, timeout)?;
    let output = if outcome.success() {
        std::fs::read(&out_path).ok()
    } else {
        None
    };
    Ok(KtailorRun {
        command,
        outcome,
        output,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_follows_the_cli_contract() {
        let t = KernelTree {
            spec: "6.12".into(),
            root: "/k".into(),
            kernelversion: "6.12.1".into(),
            version_fields: Default::default(),
        };
        let mut inv = Invocation::simple("i386", Mode::Defconfig);
        inv.defconfig = Some("i386_defconfig".into());
        let c = command(Path::new("kt"), &t, &inv, None, Path::new("/o"));
        assert_eq!(
            exec::render(&c),
            "kt kconfig defconfig --kernel /k --arch i386 --defconfig /k/arch/x86/configs/i386_defconfig --output /o"
        );
        let mut inv = Invocation::simple("arm64", Mode::Randconfig);
        inv.seed = Some(3);
        let c = command(Path::new("kt"), &t, &inv, None, Path::new("/o"));
        assert_eq!(
            exec::render(&c),
            "kt kconfig randconfig --kernel /k --arch arm64 --seed 3 --output /o"
        );
        let inv = Invocation::simple("arm64", Mode::Olddefconfig);
        let c = command(
            Path::new("kt"),
            &t,
            &inv,
            Some(Path::new("/i")),
            Path::new("/o"),
        );
        assert_eq!(
            exec::render(&c),
            "kt kconfig olddefconfig --kernel /k --arch arm64 --input /i --output /o"
        );
    }
}
