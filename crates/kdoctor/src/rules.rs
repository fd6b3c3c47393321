//! Hand-written symptom rules (`data/symptoms.toml`): for messages that do
//! not name an option, which lookup or option answers them. Data rather
//! than code, so adding a symptom is editing a table; only the few answers
//! that need judgement (exec errors, a missing root device) are named
//! handlers in code.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use serde::Deserialize;

/// The rules shipped with ktailor.
pub const BUILTIN: &str = include_str!("../../../data/symptoms.toml");

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Symptoms {
    #[serde(default)]
    pub rule: Vec<Rule>,
    /// Mount point → file system type, for messages that only name where
    /// a mount failed.
    #[serde(default)]
    pub mountpoints: BTreeMap<String, String>,
    /// Probe name (data/probes.toml) → lookup.
    #[serde(default)]
    pub probes: BTreeMap<String, String>,
    #[serde(default)]
    pub companion: Vec<Companion>,
    /// Filled in after parsing: rule id → line in the TOML file.
    #[serde(skip)]
    pub lines: BTreeMap<String, usize>,
    #[serde(skip)]
    pub file: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub id: String,
    /// `log`, `strace` or `any`.
    #[serde(default = "any")]
    pub input: String,
    /// Any of these matches (see [`Pattern`]).
    pub patterns: Vec<String>,
    /// The rule stays quiet if any of these appears anywhere in the input.
    #[serde(default)]
    pub unless: Vec<String>,
    /// `syscall:NAME`, `fs:NAME` (or a mount point), `af:AF_X`,
    /// `option:NAME`, `file:PATH`; `{capture}` is substituted.
    #[serde(default)]
    pub lookups: Vec<String>,
    /// A named handler in code, for answers that need judgement; a name
    /// that is not one is refused when the rules load.
    pub handler: Option<Handler>,
    #[serde(default = "default_score")]
    pub score: u32,
    pub why: String,
    /// Where in the kernel the behaviour comes from: `path` or
    /// `path:text to find`, reported as file:line.
    pub source: Option<String>,
}

/// The answers that need judgement, in code (`handler = "..."`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Handler {
    /// `Failed to execute /init (error -2)`: a `#!` script without
    /// BINFMT_SCRIPT, or a file, interpreter or ELF loader missing from the
    /// image, told apart with `--init` and `--config`.
    InitEnoent,
    /// Error -8: no binary format accepts init (BINFMT_ELF, 64BIT,
    /// IA32_EMULATION, BINFMT_SCRIPT, judged with `--init` and `--config`).
    InitEnoexec,
    /// No working init found at all.
    NoInit,
    /// The root device cannot be mounted: `root=` missing, or the disk or
    /// file system driver.
    RootDevice,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Companion {
    pub option: String,
    pub also: Vec<String>,
    pub why: String,
}

fn any() -> String {
    "any".into()
}

fn default_score() -> u32 {
    70
}

impl Symptoms {
    pub fn builtin() -> Symptoms {
        // The shipped file is tested; a broken one is a build defect, but
        // even then a diagnosis must not panic: fall back to no rules.
        Symptoms::parse(BUILTIN, "data/symptoms.toml").unwrap_or_else(|_| Symptoms {
            rule: Vec::new(),
            mountpoints: BTreeMap::new(),
            probes: BTreeMap::new(),
            companion: Vec::new(),
            lines: BTreeMap::new(),
            file: "data/symptoms.toml".into(),
        })
    }

    pub fn parse(text: &str, file: &str) -> Result<Symptoms> {
        let mut s: Symptoms =
            toml::from_str(text).with_context(|| format!("{file}: invalid symptom rules"))?;
        for r in &s.rule {
            for p in &r.patterns {
                Pattern::compile(p)
                    .with_context(|| format!("{file}: rule {}: bad pattern {p:?}", r.id))?;
            }
            if !matches!(r.input.as_str(), "log" | "strace" | "any") {
                anyhow::bail!("{file}: rule {}: input must be log, strace or any", r.id);
            }
        }
        for (i, line) in text.lines().enumerate() {
            let l = line.trim();
            if let Some(v) = l
                .strip_prefix("id")
                .map(|x| x.trim_start())
                .and_then(|x| x.strip_prefix('='))
            {
                let id = v.trim().trim_matches('"');
                s.lines.entry(id.to_string()).or_insert(i + 1);
            }
        }
        s.file = file.to_string();
        Ok(s)
    }
}

/// A rule pattern: literal text, `{name}` (one whitespace-free token,
/// captured) and `{*}` (anything).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    parts: Vec<Part>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Lit(String),
    Cap(String),
    Any,
}

impl Pattern {
    pub fn compile(p: &str) -> Result<Pattern> {
        let mut parts = Vec::new();
        let mut rest = p;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Lit(rest[..open].to_string()));
            }
            let close = rest[open..].find('}').context("unclosed {")? + open;
            let name = &rest[open + 1..close];
            if name == "*" {
                parts.push(Part::Any);
            } else if !name.is_empty()
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            {
                parts.push(Part::Cap(name.to_string()));
            } else {
                anyhow::bail!("bad capture {{{name}}}");
            }
            rest = &rest[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Lit(rest.to_string()));
        }
        for w in parts.windows(2) {
            if !matches!(w[0], Part::Lit(_)) && !matches!(w[1], Part::Lit(_)) {
                anyhow::bail!("two captures need literal text between them");
            }
        }
        if !parts.iter().any(|p| matches!(p, Part::Lit(_))) {
            anyhow::bail!("a pattern needs some literal text");
        }
        Ok(Pattern { parts })
    }

    /// Captures if the line matches.
    pub fn matches(&self, line: &str) -> Option<BTreeMap<String, String>> {
        let mut caps = BTreeMap::new();
        if self.m(0, line, 0, true, &mut caps) {
            Some(caps)
        } else {
            None
        }
    }

    /// Match parts[i..] against line[pos..]; `float` lets the next literal
    /// start anywhere after pos.
    fn m(
        &self,
        i: usize,
        line: &str,
        pos: usize,
        float: bool,
        caps: &mut BTreeMap<String, String>,
    ) -> bool {
        let Some(part) = self.parts.get(i) else {
            return true;
        };
        match part {
            Part::Any => self.m(i + 1, line, pos, true, caps),
            Part::Lit(l) => {
                if float {
                    let mut from = pos;
                    while let Some(q) = line.get(from..).and_then(|s| s.find(l.as_str())) {
                        let at = from + q;
                        if self.m(i + 1, line, at + l.len(), false, caps) {
                            return true;
                        }
                        from = at + line[at..].chars().next().map(|c| c.len_utf8()).unwrap_or(1);
                    }
                    false
                } else {
                    line.get(pos..).is_some_and(|s| s.starts_with(l.as_str()))
                        && self.m(i + 1, line, pos + l.len(), false, caps)
                }
            }
            Part::Cap(name) => {
                let next = self.parts.get(i + 1);
                match next {
                    None => {
                        // Trailing: one token from pos.
                        let s = line.get(pos..).unwrap_or("");
                        let tok: String = s.chars().take_while(|c| !c.is_whitespace()).collect();
                        let tok = clean(&tok);
                        if tok.is_empty() {
                            return false;
                        }
                        caps.insert(name.clone(), tok);
                        true
                    }
                    Some(Part::Lit(l)) => {
                        let mut from = pos;
                        while let Some(q) = line.get(from..).and_then(|s| s.find(l.as_str())) {
                            let at = from + q;
                            let tok = if i == 0 || float {
                                // Leading (or after {*}): the token right
                                // before the literal.
                                line[pos..at]
                                    .rsplit(char::is_whitespace)
                                    .next()
                                    .unwrap_or("")
                            } else {
                                &line[pos..at]
                            };
                            let tok_c = clean(tok);
                            if !tok.is_empty()
                                && !tok.contains(char::is_whitespace)
                                && !tok_c.is_empty()
                            {
                                caps.insert(name.clone(), tok_c);
                                if self.m(i + 2, line, at + l.len(), false, caps) {
                                    return true;
                                }
                                caps.remove(name);
                            }
                            from =
                                at + line[at..].chars().next().map(|c| c.len_utf8()).unwrap_or(1);
                        }
                        false
                    }
                    Some(_) => false,
                }
            }
        }
    }
}

/// Strips quotes, trailing punctuation and `()` from a captured token.
fn clean(t: &str) -> String {
    t.trim_matches(|c: char| matches!(c, '"' | '\'' | '`' | ',' | ';'))
        .trim_end_matches("()")
        .trim_end_matches(':')
        .to_string()
}

/// Substitutes `{name}` captures into a lookup.
pub fn substitute(s: &str, caps: &BTreeMap<String, String>) -> String {
    let mut out = s.to_string();
    for (k, v) in caps {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        let p = Pattern::compile("{name}: Function not implemented").unwrap();
        assert_eq!(
            p.matches("ip: socket: Function not implemented").unwrap()["name"],
            "socket"
        );
        let p = Pattern::compile("{name}() failed: Function not implemented").unwrap();
        assert_eq!(
            p.matches("debug1: setgroups() failed: Function not implemented")
                .unwrap()["name"],
            "setgroups"
        );
        let p = Pattern::compile("mounting {src} on {dir} failed: No such device").unwrap();
        let c = p
            .matches("mount: mounting none on /proc failed: No such device")
            .unwrap();
        assert_eq!((c["src"].as_str(), c["dir"].as_str()), ("none", "/proc"));
        let p = Pattern::compile("Filesystem type '{fs}' is not supported").unwrap();
        assert_eq!(
            p.matches("[warn] Filesystem type 'devpts' is not supported. Skipping mount.")
                .unwrap()["fs"],
            "devpts"
        );
        let p = Pattern::compile("can't lock {*}: Function not implemented").unwrap();
        assert!(p
            .matches(
                "cron: can't lock /var/run/crond.pid, otherpid may be 3: Function not implemented"
            )
            .is_some());
        assert!(p.matches("can't lock: Permission denied").is_none());
        assert!(Pattern::compile("{a}{b}").is_err());
        assert!(Pattern::compile("{a").is_err());
    }

    #[test]
    fn an_unknown_handler_is_refused_when_the_rules_load() {
        let rule = |handler: &str| {
            format!(
                "[[rule]]\nid = \"exec\"\npatterns = [\"Failed to execute {{init}}\"]\n\
                 handler = \"{handler}\"\nwhy = \"w\"\n"
            )
        };
        let s = Symptoms::parse(&rule("init-enoent"), "mine.toml").unwrap();
        assert_eq!(s.rule[0].handler, Some(Handler::InitEnoent));
        let e = Symptoms::parse(&rule("init-enoentt"), "mine.toml").unwrap_err();
        let msg = format!("{e:#}");
        assert!(
            msg.contains("init-enoentt"),
            "the error names the handler: {msg}"
        );
        assert!(msg.contains("mine.toml"), "and the file: {msg}");
        assert!(
            msg.contains("root-device"),
            "and lists the handlers there are: {msg}"
        );
    }

    #[test]
    fn builtin_rules_parse() {
        let s = Symptoms::parse(BUILTIN, "data/symptoms.toml").unwrap();
        assert!(!s.rule.is_empty());
        for r in &s.rule {
            assert!(s.lines.contains_key(&r.id), "{}", r.id);
            assert!(
                r.handler.is_some() || !r.lookups.is_empty(),
                "{} does nothing",
                r.id
            );
        }
    }
}
