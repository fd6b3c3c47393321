//! `ktailor run`: boot a disk image on the EC2 simulator or plain QEMU and
//! check it over SSH; and `ktailor imds-relay`, the per-connection program
//! QEMU starts to reach the simulator's metadata service.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::args::{relay_command, AccelArg};

#[derive(clap::Args)]
pub struct Args {
    /// The disk image (`ktailor image`).
    pub image: PathBuf,
    /// ec2-sim: UEFI + NVMe + IMDSv2 at 169.254.169.254; qemu: virtio-blk, direct kernel boot.
    #[arg(long, default_value = "ec2-sim")]
    pub machine: String,
    /// The private key whose public half the image authorizes (`--ssh-key` of `ktailor image`).
    #[arg(long)]
    pub ssh_key: PathBuf,
    /// Public key the metadata service serves (default: the public half of --ssh-key, as EC2 serves the launch key pair).
    #[arg(long)]
    pub imds_key: Option<PathBuf>,
    /// Also log in with this private key, whose public half only the metadata service serves.
    #[arg(long, requires = "imds_key")]
    pub imds_login_key: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "auto")]
    pub accel: AccelArg,
    /// Leave the guest running after the checks (SSH stays forwarded on 127.0.0.1).
    #[arg(long)]
    pub keep_running: bool,
    /// Longest boot + checks may take, in seconds.
    #[arg(long, default_value_t = 600)]
    pub timeout: u64,
    #[arg(long, default_value_t = 1024)]
    pub memory: u32,
    #[arg(long, default_value_t = 2)]
    pub cpus: u32,
    /// Where the serial log and scratch files go (default: a directory next to the image).
    #[arg(long)]
    pub workdir: Option<PathBuf>,
    /// Print a JSON report on standard output.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: Args) -> Result<ExitCode> {
    let machine = krun::MachineKind::parse(&a.machine)?;
    let imds_keys = match &a.imds_key {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read {}", p.display()))?;
            vec![kimage::parse_public_key(&text, &p.display().to_string())?]
        }
        None => vec![kpipeline::keys::public_half(&a.ssh_key)?],
    };
    let workdir = a.workdir.clone().unwrap_or_else(|| {
        let mut s = a.image.as_os_str().to_owned();
        s.push(format!(".run-{}", std::process::id()));
        PathBuf::from(s)
    });
    let spec = krun::RunSpec {
        image: a.image.clone(),
        machine,
        ssh_key: a.ssh_key.clone(),
        imds_keys,
        imds_login_key: a.imds_login_key.clone(),
        accel: a.accel.accel(),
        relay: relay_command()?,
        keep_running: a.keep_running,
        timeout: Duration::from_secs(a.timeout),
        workdir,
        memory_mb: a.memory,
        cpus: a.cpus,
        extra_commands: Vec::new(),
        console_marks: Vec::new(),
    };
    let quiet = a.json;
    let rep = krun::run(&spec, &|m| {
        if !quiet {
            eprintln!("{m}");
        }
    })?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&rep)?);
    } else {
        for c in &rep.checks {
            println!(
                "{} {:<20} {}",
                if c.pass { "pass" } else { "FAIL" },
                c.name,
                c.evidence
            );
        }
        for b in &rep.build_checks {
            println!("note {b}");
        }
        println!(
            "{}: {}/{} checks pass on {} ({}), boot to login {}, {:.0} s in all; serial log {}",
            rep.image.display(),
            rep.checks.iter().filter(|c| c.pass).count(),
            rep.checks.len(),
            machine.name(),
            rep.accel,
            rep.boot_to_login_seconds
                .map(|s| format!("{s:.1} s"))
                .unwrap_or_else(|| "never".into()),
            rep.seconds,
            rep.serial_log.display()
        );
        if !rep.passed() {
            eprintln!("the console's last lines ({}):", rep.verdict);
            for l in rep
                .tail
                .iter()
                .rev()
                .take(25)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
            {
                eprintln!("  {l}");
            }
            if let Err(e) = doctor_reading(&rep, &a.image) {
                eprintln!("(no doctor's reading: {e:#})");
            }
        }
    }
    Ok(if rep.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// What the doctor makes of a failed run.
fn doctor_reading(rep: &krun::RunReport, image: &std::path::Path) -> Result<()> {
    let r = kpipeline::doctor::read_failed_run(rep, image, None, &|_| {})?;
    let mut s = String::new();
    kpipeline::doctor::render_findings(&mut s, &r.suggestions, &r.notes);
    println!("the doctor's reading of the console and the failed checks:");
    print!("{s}");
    Ok(())
}

#[derive(clap::Args)]
pub struct RelayArgs {
    /// The metadata server's address (127.0.0.1:PORT).
    pub addr: std::net::SocketAddr,
}

pub fn relay(a: RelayArgs) -> Result<ExitCode> {
    kimds::relay_stdio(a.addr).context("relaying to the metadata service")?;
    Ok(ExitCode::SUCCESS)
}
