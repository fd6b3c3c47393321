//! Throwaway SSH key pairs for checking images, made with the host's
//! ssh-keygen (a key format is not worth reimplementing), and the public
//! half of a user's key.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

/// `KEY.pub` beside a private key.
pub fn pub_path(key: &Path) -> PathBuf {
    let mut s = key.as_os_str().to_owned();
    s.push(".pub");
    PathBuf::from(s)
}

/// A new ed25519 key pair `dir/name` (replacing any old one) and its
/// public line.
pub fn keygen(dir: &Path, name: &str) -> Result<(PathBuf, String)> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let key = dir.join(name);
    let pubk = pub_path(&key);
    for p in [&key, &pubk] {
        match std::fs::remove_file(p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("cannot remove {}", p.display()))
            }
            _ => {}
        }
    }
    let o = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C"])
        .arg(format!("ktailor-{name}"))
        .arg("-f")
        .arg(&key)
        .stdin(Stdio::null())
        .output()
        .context("cannot run ssh-keygen (apt-get install -y openssh-client)")?;
    if !o.status.success() {
        bail!(
            "ssh-keygen -f {} failed: {}",
            key.display(),
            String::from_utf8_lossy(&o.stderr).trim()
        );
    }
    let text = std::fs::read_to_string(&pubk)
        .with_context(|| format!("cannot read {}", pubk.display()))?;
    let public = kimage::parse_public_key(&text, &pubk.display().to_string())?;
    Ok((key, public))
}

/// The public half of a private key, as `ssh-keygen -y` prints it.
pub fn public_half(private: &Path) -> Result<String> {
    let o = Command::new("ssh-keygen")
        .args(["-y", "-f"])
        .arg(private)
        .stdin(Stdio::null())
        .output()
        .context("cannot run ssh-keygen (apt-get install -y openssh-client)")?;
    anyhow::ensure!(
        o.status.success(),
        "{} is not a usable private key: {}",
        private.display(),
        String::from_utf8_lossy(&o.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&o.stdout).trim().to_string())
}

/// The throwaway key pairs of one run that checks images: `login` is
/// authorized in the images, `imds` only served by the EC2 simulator's
/// metadata service (logging in with it proves the guest fetched it over
/// IMDSv2).
pub struct Keys {
    pub login: PathBuf,
    pub login_pub: String,
    pub imds: PathBuf,
    pub imds_pub: String,
}

impl Keys {
    pub fn new(dir: &Path) -> Result<Keys> {
        let (login, login_pub) = keygen(dir, "login")?;
        let (imds, imds_pub) = keygen(dir, "imds")?;
        Ok(Keys {
            login,
            login_pub,
            imds,
            imds_pub,
        })
    }
}
