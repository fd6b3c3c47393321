//! `ktailor`: build the smallest Linux kernel that does the job, and prove it
//! by booting it. This file only parses the command line and dispatches.

mod kconfig_cmd;
mod output;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "ktailor", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Compute a configuration exactly as the kernel's own `make <mode>` would.
    Kconfig(kconfig_cmd::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let res = match cli.cmd {
        Cmd::Kconfig(a) => kconfig_cmd::run(a),
    };
    match res {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ktailor: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
