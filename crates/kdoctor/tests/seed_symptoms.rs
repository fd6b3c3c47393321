//! Acceptance 1: every symptom quoted in the seed maps to the option the
//! seed's author found (table in tests/fixtures/seed_symptoms.toml).

mod common;

use kdoctor::{InitKind, Inputs, Symptoms};
use serde::Deserialize;

#[derive(Deserialize)]
struct Fixture {
    case: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    input: String,
    text: String,
    init: Option<String>,
    config: Option<String>,
    #[serde(default)]
    expect: Vec<String>,
    #[serde(default)]
    absent: Vec<String>,
    #[serde(default)]
    notes: Vec<String>,
    prompt_mentions: Option<String>,
}

#[test]
#[ignore = "real tier: needs a kernel tree (scripts/test runs it)"]
fn seed_symptoms_map_to_the_seeds_options() {
    let k = common::kernel();
    let fx: Fixture = toml::from_str(include_str!("fixtures/seed_symptoms.toml")).unwrap();
    let rules = Symptoms::builtin();
    let mut failures = Vec::new();
    for c in &fx.case {
        let mut inp = Inputs::new();
        match c.input.as_str() {
            "log" => inp.log = Some(c.text.clone()),
            "strace" => inp.strace = Some(c.text.clone()),
            "lspci" => inp.lspci = Some(c.text.clone()),
            other => panic!("{}: unknown input {other}", c.name),
        }
        inp.init = match c.init.as_deref() {
            Some("script") => Some(InitKind::Script),
            Some("elf64") => Some(InitKind::Elf64),
            Some("elf32") => Some(InitKind::Elf32),
            None => None,
            Some(o) => panic!("{}: init {o}", c.name),
        };
        inp.config = c.config.clone();
        let rep = kdoctor::diagnose_with(&k.index, &k.db, &inp, &rules);
        let open: Vec<&kdoctor::Suggestion> = rep
            .suggestions
            .iter()
            .filter(|s| s.already_satisfied != Some(true))
            .collect();
        let names: Vec<&str> = open.iter().map(|s| s.option.as_str()).collect();
        for e in &c.expect {
            match open.iter().find(|s| &s.option == e) {
                None => failures.push(format!("{}: {e} not suggested (got {names:?})", c.name)),
                Some(s) => {
                    if s.set.is_empty() && s.solve_error.is_none() {
                        failures.push(format!("{}: {e} has no solver answer", c.name));
                    }
                    if s.source.is_none() {
                        failures.push(format!("{}: {e} has no source", c.name));
                    }
                    if s.evidence.is_empty() {
                        failures.push(format!("{}: {e} has no evidence", c.name));
                    }
                }
            }
        }
        if let Some(top) = open.first() {
            if !c.expect.is_empty() && !c.expect.contains(&top.option) {
                failures.push(format!(
                    "{}: top suggestion is {} (score {}), expected one of {:?}",
                    c.name, top.option, top.score, c.expect
                ));
            }
        }
        for a in &c.absent {
            if names.contains(&a.as_str()) {
                failures.push(format!("{}: {a} suggested but the config has it", c.name));
            }
        }
        for n in &c.notes {
            if !rep.notes.iter().any(|x| x.text.contains(n.as_str())) {
                failures.push(format!("{}: no note mentioning {n:?}", c.name));
            }
        }
        if let Some(p) = &c.prompt_mentions {
            let s = open.iter().find(|s| Some(&s.option) == c.expect.first());
            let prompt = s.and_then(|s| s.prompt.clone()).unwrap_or_default();
            if !prompt.contains(p.as_str()) {
                failures.push(format!(
                    "{}: prompt {prompt:?} does not mention {p}",
                    c.name
                ));
            }
            let set = s.map(|s| s.set.clone()).unwrap_or_default();
            if !set
                .iter()
                .any(|l| l == &format!("CONFIG_{}=y", c.expect[0]))
            {
                failures.push(format!("{}: set {set:?} lacks the option", c.name));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
#[ignore = "real tier: needs a kernel tree (scripts/test runs it)"]
fn whole_seed_log_at_once() {
    // All console lines of the post in one log, as a user would paste it.
    let k = common::kernel();
    let fx: Fixture = toml::from_str(include_str!("fixtures/seed_symptoms.toml")).unwrap();
    let mut inp = Inputs::new();
    inp.solve = false;
    inp.log = Some(
        fx.case
            .iter()
            .filter(|c| c.input == "log")
            .map(|c| c.text.as_str())
            .collect::<Vec<_>>()
            .join("\n"),
    );
    inp.strace = Some(
        fx.case
            .iter()
            .filter(|c| c.input == "strace")
            .map(|c| c.text.as_str())
            .collect::<Vec<_>>()
            .join("\n"),
    );
    let got: Vec<String> = kdoctor::diagnose(&k.index, &k.db, &inp)
        .into_iter()
        .map(|s| s.option)
        .collect();
    for want in [
        "PROC_FS",
        "SYSFS",
        "NET",
        "POSIX_TIMERS",
        "UNIX",
        "UNIX98_PTYS",
        "FILE_LOCKING",
        "FUTEX",
        "MULTIUSER",
        "CGROUPS",
        "EPOLL",
        "SIGNALFD",
        "TIMERFD",
        "INOTIFY_USER",
        "BINFMT_ELF",
        "BLK_DEV_SD",
        "DEVTMPFS_MOUNT",
        "EXT4_FS",
    ] {
        assert!(got.iter().any(|g| g == want), "{want} missing from {got:?}");
    }
}
