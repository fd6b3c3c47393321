//! Which kernel to build: a target's solved configuration, or a user's
//! .config normalised as `make olddefconfig` would.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use kcatalog::{Base, Catalog};
use kconfig::{Input, Mode, RunOptions};

use crate::session::{Session, TreeSpec};
use crate::tailor::{self, BootNeeds, Wanted};
use crate::{Event, Events, Refused};

/// What to build: a target (with features and fragments) or a .config.
#[derive(Clone, Debug, Default)]
pub struct What {
    pub target: Option<String>,
    /// Build this .config instead (normalised with olddefconfig first).
    pub config: Option<PathBuf>,
    pub with: Vec<String>,
    pub without: Vec<String>,
    pub base: Option<Base>,
    pub fragments: Vec<PathBuf>,
    pub arch: Option<String>,
    pub tree: TreeSpec,
}

impl What {
    pub fn wanted(&self) -> Wanted {
        Wanted {
            target: self.target.clone(),
            with: self.with.clone(),
            without: self.without.clone(),
            base: self.base,
            arch: self.arch.clone(),
        }
    }

    /// Whether anything beyond a plain target was asked for.
    pub fn customised(&self) -> bool {
        !self.with.is_empty() || !self.without.is_empty() || !self.fragments.is_empty()
    }
}

/// A configuration ready to build, and what the kernel wants at boot.
pub struct Prepared {
    pub session: Session,
    pub name: String,
    pub arch: String,
    pub config: String,
    pub needs: BootNeeds,
    pub target: Option<kcatalog::Target>,
}

impl Prepared {
    /// The default build directory of this configuration:
    /// `<cache>/builds/<name>-<version>-<arch>`.
    pub fn default_out(&self) -> PathBuf {
        self.session.cache.join("builds").join(format!(
            "{}-{}-{}",
            self.name, self.session.tree.kernelversion, self.arch
        ))
    }

    /// The machine the configuration boots on: the target's, else a PC
    /// with nothing attached.
    pub fn machine(&self) -> kcatalog::Machine {
        self.target
            .as_ref()
            .map(|t| t.machine.clone())
            .unwrap_or_else(|| kcatalog::Machine::bare(kcatalog::MachineType::Pc))
    }
}

/// Opens the session for `arch`, passing its parse warnings on.
pub fn open_session(tree: &TreeSpec, arch: &str, ev: Events<'_>) -> Result<Session> {
    let s = Session::open(tree, arch)?;
    for w in &s.warnings {
        ev(Event::Warning(w));
    }
    Ok(s)
}

/// The stem a .config's build directory is named after.
fn config_stem(path: &std::path::Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().trim_start_matches('.').to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "config".into())
}

/// A user's .config, as `make olddefconfig` would make it.
fn from_config(w: &What, path: &std::path::Path, ev: Events<'_>) -> Result<Prepared> {
    let arch = w.arch.clone().unwrap_or_else(|| "x86_64".into());
    let mut session = open_session(&w.tree, &arch, ev)?;
    let data = std::fs::read(path)
        .with_context(|| format!("cannot read the config {}", path.display()))?;
    let name = path.display().to_string();
    let out = session
        .db
        .run_mode(
            Mode::Olddefconfig,
            Some(Input {
                name: &name,
                data: &data,
            }),
            None,
            &RunOptions {
                warn_unknown: true,
                ..Default::default()
            },
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    for wgn in &out.warnings {
        ev(Event::Warning(&wgn.to_string()));
    }
    for (file, line, sym) in &out.unknown {
        ev(Event::Warning(&format!(
            "{file}:{line}: CONFIG_{sym} is not a symbol of this kernel; ignored"
        )));
    }
    if out.output.as_bytes() != data.as_slice() {
        ev(Event::Note(&format!(
            "note: {} is not an olddefconfig fixpoint; building what `make olddefconfig` makes of it",
            path.display()
        )));
    }
    // A target given with --config says the machine and what to expect.
    let cat = Catalog::builtin();
    let (needs, target) = match &w.target {
        Some(_) => {
            let r = tailor::resolve(&cat, &w.wanted())?;
            (r.needs(), r.target.cloned())
        }
        None => (
            BootNeeds {
                cmdline: vec!["console=ttyS0".into()],
                ..Default::default()
            },
            None,
        ),
    };
    Ok(Prepared {
        session,
        name: config_stem(path),
        arch,
        config: out.output,
        needs,
        target,
    })
}

/// Solves the request (or normalises `--config`) into a .config. A request
/// the user must change is a [`Refused`] error.
pub fn prepare(w: &What, ev: Events<'_>) -> Result<Prepared> {
    if let Some(path) = &w.config {
        return from_config(w, path, ev);
    }
    if w.target.is_none() && w.with.is_empty() && w.fragments.is_empty() {
        bail!("nothing to build: give --target, --config, --with or --fragment");
    }
    let cat = Catalog::builtin();
    let r = tailor::resolve(&cat, &w.wanted())?;
    let session = open_session(&w.tree, &r.arch, ev)?;
    let t = tailor::tailor(&session, &r, &w.fragments)?;
    for x in &t.warnings {
        ev(Event::Warning(x));
    }
    if !t.solution.unknown.is_empty() {
        return Err(Refused::UnknownSymbols {
            kernelversion: session.tree.kernelversion.clone(),
            unknown: t.solution.unknown.clone(),
        }
        .into());
    }
    let mut name = w.target.clone().unwrap_or_else(|| "custom".into());
    if w.target.is_some() && w.customised() {
        name.push_str("-custom");
    }
    Ok(Prepared {
        name,
        arch: r.arch.clone(),
        config: t.solution.config,
        needs: t.needs,
        target: r.target.cloned(),
        session,
    })
}
