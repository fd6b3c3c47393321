//! The configuration targets of scripts/kconfig/conf.c (`make allnoconfig`,
//! `olddefconfig`, ...), as one function that takes the mode and its inputs
//! and returns the file conf would write.

use crate::db::{is_choice, is_choice_value, Db, Dialect, ROOT_MENU};
use crate::diag::{Diag, Error};
use crate::model::*;

/// A configuration target of the kernel's Makefile (`make allnoconfig`, ...),
/// spelled as `make` spells it: conf's modes, plus `tinyconfig`, which the
/// kernel composes from two conf runs and the tree's fragments (see
/// `Db::tinyconfig` in `fragment`). The variant order is the order
/// reports list them in.
///
/// With the `serde` feature a mode serializes as its name (`"allnoconfig"`);
/// with the `clap` feature it is a `clap::ValueEnum` of the same names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "lowercase")
)]
pub enum Mode {
    Allnoconfig,
    Allyesconfig,
    Allmodconfig,
    Alldefconfig,
    /// The input is an existing .config.
    Olddefconfig,
    /// The input is the defconfig file.
    Defconfig,
    /// The input is a .config; the output a minimal defconfig.
    Savedefconfig,
    /// allnoconfig with `tiny-base.config`, then the `tiny.config` fragments.
    Tinyconfig,
    /// With conf's KCONFIG_SEED: see [`Mode::with_seed`].
    Randconfig,
}

impl Mode {
    pub const ALL: [Mode; 9] = [
        Mode::Allnoconfig,
        Mode::Allyesconfig,
        Mode::Allmodconfig,
        Mode::Alldefconfig,
        Mode::Olddefconfig,
        Mode::Defconfig,
        Mode::Savedefconfig,
        Mode::Tinyconfig,
        Mode::Randconfig,
    ];

    /// The make target.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Allnoconfig => "allnoconfig",
            Mode::Allyesconfig => "allyesconfig",
            Mode::Allmodconfig => "allmodconfig",
            Mode::Alldefconfig => "alldefconfig",
            Mode::Olddefconfig => "olddefconfig",
            Mode::Defconfig => "defconfig",
            Mode::Savedefconfig => "savedefconfig",
            Mode::Tinyconfig => "tinyconfig",
            Mode::Randconfig => "randconfig",
        }
    }

    /// Modes that start from an existing .config.
    pub fn takes_input(self) -> bool {
        matches!(self, Mode::Olddefconfig | Mode::Savedefconfig)
    }

    /// This mode with a KCONFIG_SEED (which only randconfig uses).
    pub const fn with_seed(self, seed: u32) -> Run {
        Run {
            mode: self,
            seed: Some(seed),
        }
    }
}

/// Plain, so that `{:<13}` in a report table lays out exactly as before
/// (the name, no padding).
impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Mode, String> {
        Mode::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| format!("unknown configuration target {s:?}"))
    }
}

#[cfg(feature = "clap")]
impl clap::ValueEnum for Mode {
    fn value_variants<'a>() -> &'a [Self] {
        &Mode::ALL
    }
    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.name()))
    }
}

/// One conf run: the mode and, for randconfig, the KCONFIG_SEED.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Run {
    pub mode: Mode,
    pub seed: Option<u32>,
}

impl Run {
    const fn of(mode: Mode) -> Run {
        Run { mode, seed: None }
    }
}

impl From<Mode> for Run {
    fn from(mode: Mode) -> Run {
        Run::of(mode)
    }
}

/// A named file's contents, as conf would read it.
#[derive(Clone, Copy, Debug)]
pub struct Input<'a> {
    pub name: &'a str,
    pub data: &'a [u8],
}

/// Options that conf takes from the environment.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// KCONFIG_PROBABILITY for randconfig.
    pub probability: Option<String>,
    /// Warn about symbols in inputs that this tree does not define
    /// (conf: KCONFIG_WARN_UNKNOWN_SYMBOLS).
    pub warn_unknown: bool,
}

/// What a run produced.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// The bytes conf would write (.config, or the defconfig for savedefconfig).
    pub output: String,
    /// Warnings about the inputs, conf-style (`file:line:warning: ...`).
    pub warnings: Vec<Diag>,
    /// Symbols named in inputs that this tree does not define: (file, line, name).
    pub unknown: Vec<(String, u32, String)>,
    /// "unmet direct dependencies" reports.
    pub dep_warnings: Vec<String>,
    /// Lines conf prints on stdout (e.g. `KCONFIG_SEED=0x1`).
    pub messages: Vec<String>,
}

impl Db {
    /// Run one conf mode. `input` is the .config (olddefconfig,
    /// savedefconfig) or the defconfig file (defconfig); `allconfig` is
    /// KCONFIG_ALLCONFIG for the all*config and randconfig modes.
    ///
    /// `run` is a [`Mode`] or, for randconfig, `Mode::Randconfig.with_seed(s)`.
    /// `tinyconfig` reads fragments from the tree: run it with
    /// `Db::tinyconfig` (module `fragment`).
    pub fn run_mode(
        &mut self,
        run: impl Into<Run>,
        input: Option<Input>,
        allconfig: Option<Input>,
        opts: &RunOptions,
    ) -> Result<Outcome, Error> {
        let Run { mode, seed } = run.into();
        let mut out = Outcome::default();
        let mut rng = GlibcRandom::new(0);
        if mode == Mode::Randconfig {
            let seed = seed.ok_or_else(|| {
                Error::Other("randconfig needs a seed: Mode::Randconfig.with_seed(..)".into())
            })?;
            out.messages.push(format!("KCONFIG_SEED=0x{seed:X}"));
            rng = GlibcRandom::new(seed);
        }
        let note = |out: &mut Outcome, name: &str, rep: crate::confdata::ReadReport| {
            out.warnings.extend(rep.warnings);
            out.unknown.extend(
                rep.unknown
                    .into_iter()
                    .map(|(l, n)| (name.to_string(), l, n)),
            );
        };
        match mode {
            Mode::Tinyconfig => {
                return Err(Error::Other(
                    "tinyconfig merges the tree's fragments: use Db::tinyconfig".into(),
                ))
            }
            Mode::Defconfig | Mode::Olddefconfig | Mode::Savedefconfig => match input {
                Some(i) => {
                    let rep = self.conf_read(i.name, i.data, opts.warn_unknown);
                    note(&mut out, i.name, rep);
                }
                None if mode == Mode::Defconfig => {
                    return Err(Error::Other(
                        "defconfig needs a defconfig file to start from".into(),
                    ))
                }
                None => {
                    // No .config: conf starts from nothing and says so by
                    // treating everything as changed.
                    self.conf_changed = true;
                    let m = self.modules_sym;
                    self.calc_value(m);
                }
            },
            _ => {
                if let Some(a) = allconfig {
                    let rep = self.read_config(a.name, a.data, opts.warn_unknown);
                    note(&mut out, a.name, rep);
                }
            }
        }
        // conf reads KCONFIG_PROBABILITY only when it fills new symbols.
        let fills = !matches!(
            mode,
            Mode::Olddefconfig | Mode::Savedefconfig | Mode::Tinyconfig
        );
        let prob = Probabilities::parse(opts.probability.as_deref().filter(|_| fills))?;
        let fill = match mode {
            Mode::Allnoconfig => Some(Fill::No),
            Mode::Allyesconfig => Some(Fill::Yes),
            Mode::Allmodconfig => Some(Fill::Mod),
            Mode::Alldefconfig | Mode::Defconfig => Some(Fill::Default),
            Mode::Randconfig => Some(Fill::Random(&mut rng, &prob)),
            Mode::Olddefconfig | Mode::Savedefconfig | Mode::Tinyconfig => None,
        };
        if let Some(mut fill) = fill {
            match self.dialect {
                Dialect::Modern => self.set_all_new_symbols_modern(&mut fill),
                Dialect::Legacy => {
                    if fill.is_random() {
                        while self.set_all_new_symbols_legacy(&mut fill) {}
                    } else {
                        self.set_all_new_symbols_legacy(&mut fill);
                    }
                }
            }
        }
        out.output = if mode == Mode::Savedefconfig {
            self.write_defconfig()
        } else {
            self.write_config()
        };
        out.dep_warnings = std::mem::take(&mut self.dep_warnings);
        Ok(out)
    }

    fn set_all_new_symbols_modern(&mut self, fill: &mut Fill<'_>) {
        for m in self.subtree(ROOT_MENU) {
            let Some(s) = self.menu(m).sym else { continue };
            let sym = self.sym(s);
            if self.menu(m).prompt.is_none()
                || sym.has_value()
                || !sym.ty.is_tri_like()
                || is_choice_value(self, s)
            {
                continue;
            }
            if is_choice(self, s) {
                if let Fill::Random(r, _) = fill {
                    self.randomize_choice_modern(m, r);
                }
                continue;
            }
            let Some(val) = fill.value(self.sym(s).ty) else {
                continue;
            };
            let sym = self.sym_mut(s);
            sym.def_tri = val;
            sym.flags |= F_DEF_USER;
        }
        self.clear_all_valid();
    }

    fn randomize_choice_modern(&mut self, choice: MenuId, rng: &mut GlibcRandom) {
        let sub = self.subtree(choice);
        let mut cnt = sub
            .iter()
            .filter(|m| self.menu(**m).sym.is_some_and(|s| !self.sym(s).has_value()))
            .count() as i32;
        while cnt > 0 {
            let mut x = (rng.next_u31() % cnt as u32) as i32;
            for &m in &sub {
                let Some(s) = self.menu(m).sym else { continue };
                if self.sym(s).has_value() {
                    continue;
                }
                x -= 1;
                if x < 0 {
                    let sym = self.sym_mut(s);
                    sym.def_tri = Tri::Y;
                    sym.flags |= F_DEF_USER;
                    let list = &mut self.menu_mut(choice).choice_members;
                    list.retain(|y| *y != s);
                    list.push(s);
                    break;
                }
            }
            cnt -= 1;
        }
    }

    fn set_all_new_symbols_legacy(&mut self, fill: &mut Fill<'_>) -> bool {
        let random = fill.is_random();
        let mut changed = false;
        for i in 0..self.hash_order.len() {
            let s = self.hash_order[i];
            let sym = self.sym(s);
            if sym.has_value() || sym.flags & F_VALID != 0 {
                continue;
            }
            if !self.get_type(s).is_tri_like() {
                continue;
            }
            changed = true;
            let Some(val) = fill.value(self.sym(s).ty) else {
                continue;
            };
            self.sym_mut(s).def_tri = val;
            if !(is_choice(self, s) && random) {
                self.sym_mut(s).flags |= F_DEF_USER;
            }
        }
        self.clear_all_valid();
        if !random {
            for i in 0..self.hash_order.len() {
                let s = self.hash_order[i];
                if (is_choice(self, s) && !self.sym(s).has_value()) || is_choice_value(self, s) {
                    self.sym_mut(s).flags |= F_NEED_SET_CHOICE_VALUES;
                }
            }
        }
        for i in 0..self.hash_order.len() {
            let cs = self.hash_order[i];
            if self.sym(cs).has_value() || !is_choice(self, cs) {
                continue;
            }
            self.calc_value(cs);
            if let Fill::Random(r, _) = fill {
                changed |= self.randomize_choice_legacy(cs, r);
            } else {
                self.set_all_choice_values(cs);
                changed = true;
            }
        }
        changed
    }

    fn randomize_choice_legacy(&mut self, cs: SymId, rng: &mut GlibcRandom) -> bool {
        if self.sym(cs).curr_tri != Tri::Y {
            return false;
        }
        let members = self.legacy_choice_members(cs);
        if members.is_empty() {
            return false;
        }
        let def = (rng.next_u31() % members.len() as u32) as usize;
        for (i, m) in members.iter().enumerate() {
            let sym = self.sym_mut(*m);
            sym.def_tri = if i == def { Tri::Y } else { Tri::N };
            sym.flags |= F_DEF_USER;
            sym.flags &= !F_VALID;
        }
        let c = self.sym_mut(cs);
        c.def_choice = Some(members[def]);
        c.flags |= F_DEF_USER;
        c.flags &= !F_VALID;
        true
    }
}

/// What conf's set_all_new_symbols gives the symbols without a value:
/// y, m, n, their defaults, or random values (randconfig, with its
/// generator and KCONFIG_PROBABILITY).
enum Fill<'r> {
    Default,
    Yes,
    Mod,
    No,
    Random(&'r mut GlibcRandom, &'r Probabilities),
}

impl Fill<'_> {
    fn is_random(&self) -> bool {
        matches!(self, Fill::Random(..))
    }

    /// The value a new symbol of type `ty` gets; None keeps its default.
    fn value(&mut self, ty: SymType) -> Option<Tri> {
        match self {
            Fill::Yes => Some(Tri::Y),
            Fill::Mod => Some(Tri::M),
            Fill::No => Some(Tri::N),
            Fill::Random(r, prob) => Some(prob.pick(ty, r)),
            Fill::Default => None,
        }
    }
}

/// KCONFIG_PROBABILITY: percentages for bool=y, tristate=y, tristate=m.
struct Probabilities {
    pby: u32,
    pty: u32,
    ptm: u32,
}

impl Probabilities {
    fn parse(env: Option<&str>) -> Result<Probabilities, Error> {
        let (mut pby, mut pty, mut ptm) = (50, 33, 33);
        let mut p = Vec::new();
        let mut rest = env.unwrap_or("");
        while !rest.is_empty() && p.len() < 3 {
            let (v, used, _) = crate::eval::c_strtoll(rest, 10);
            if !(0..=100).contains(&v) {
                return Err(Error::Other(
                    "KCONFIG_PROBABILITY: Numerical result out of range".into(),
                ));
            }
            p.push(v as u32);
            rest = &rest[used..];
            rest = rest.strip_prefix(':').unwrap_or(rest);
            if used == 0 && !rest.is_empty() {
                // conf would loop forever on garbage; refuse instead.
                return Err(Error::Other(format!(
                    "KCONFIG_PROBABILITY: cannot parse '{}'",
                    env.unwrap_or("")
                )));
            }
        }
        match p.len() {
            1 => {
                pby = p[0];
                ptm = pby / 2;
                pty = pby - ptm;
            }
            2 => {
                pty = p[0];
                ptm = p[1];
                pby = pty + ptm;
            }
            3 => {
                pby = p[0];
                pty = p[1];
                ptm = p[2];
            }
            _ => {}
        }
        if pty + ptm > 100 {
            return Err(Error::Other(
                "KCONFIG_PROBABILITY: Numerical result out of range".into(),
            ));
        }
        Ok(Probabilities { pby, pty, ptm })
    }

    fn pick(&self, ty: SymType, rng: &mut GlibcRandom) -> Tri {
        let cnt = rng.next_u31() % 100;
        if ty == SymType::Tristate {
            if cnt < self.pty {
                Tri::Y
            } else if cnt < self.pty + self.ptm {
                Tri::M
            } else {
                Tri::N
            }
        } else if cnt < self.pby {
            Tri::Y
        } else {
            Tri::N
        }
    }
}

/// glibc's `random()` (TYPE_3 additive feedback), which conf's `rand()`
/// is; needed for randconfig to match a given KCONFIG_SEED.
pub struct GlibcRandom {
    state: [i32; 31],
    f: usize,
    r: usize,
}

impl GlibcRandom {
    pub fn new(seed: u32) -> GlibcRandom {
        let seed = if seed == 0 { 1 } else { seed };
        let mut state = [0i32; 31];
        state[0] = seed as i32;
        let mut word: i64 = seed as i64;
        for s in state.iter_mut().skip(1) {
            let hi = word / 127773;
            let lo = word % 127773;
            word = 16807 * lo - 2836 * hi;
            if word < 0 {
                word += 2147483647;
            }
            *s = word as i32;
        }
        let mut g = GlibcRandom { state, f: 3, r: 0 };
        for _ in 0..310 {
            g.next_u31();
        }
        g
    }

    pub fn next_u31(&mut self) -> u32 {
        let v = self.state[self.f].wrapping_add(self.state[self.r]);
        self.state[self.f] = v;
        let out = (v as u32) >> 1;
        self.f += 1;
        if self.f >= 31 {
            self.f = 0;
            self.r += 1;
        } else {
            self.r += 1;
            if self.r >= 31 {
                self.r = 0;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_names_are_make_targets() {
        let names: Vec<&str> = Mode::ALL.iter().map(|m| m.name()).collect();
        assert_eq!(
            names,
            [
                "allnoconfig",
                "allyesconfig",
                "allmodconfig",
                "alldefconfig",
                "olddefconfig",
                "defconfig",
                "savedefconfig",
                "tinyconfig",
                "randconfig"
            ]
        );
        for m in Mode::ALL {
            assert_eq!(m.name().parse::<Mode>(), Ok(m));
            assert_eq!(m.to_string(), m.name());
            assert_eq!(format!("{m:<13}|"), format!("{}|", m.name()));
        }
        assert!("tiny".parse::<Mode>().is_err());
        let mut sorted = Mode::ALL;
        sorted.sort();
        assert_eq!(sorted, Mode::ALL, "reports list modes in declaration order");
    }

    #[test]
    fn glibc_random_matches_known_sequence() {
        // glibc: srand(1); rand() x3
        let mut g = GlibcRandom::new(1);
        assert_eq!(g.next_u31(), 1804289383);
        assert_eq!(g.next_u31(), 846930886);
        assert_eq!(g.next_u31(), 1681692777);
    }
}
