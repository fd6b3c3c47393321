//! How the pipeline's events reach a person: notes on stderr (none with
//! `--json`), a progress bar for builds on a terminal, console lines and
//! details with `--verbose`; warnings always.

use std::cell::RefCell;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use kpipeline::Event;

/// Whether the running command reports JSON (read when a refusal is
/// reported, so it goes to stdout as JSON too).
pub static JSON: AtomicBool = AtomicBool::new(false);

pub struct Ui {
    json: bool,
    verbose: bool,
    bars: bool,
    bar: RefCell<Option<ProgressBar>>,
}

impl Ui {
    pub fn new(json: bool, verbose: bool) -> Ui {
        JSON.store(json, Ordering::Relaxed);
        Ui {
            json,
            verbose: verbose && !json,
            bars: !json && std::io::stderr().is_terminal(),
            bar: RefCell::new(None),
        }
    }

    /// The event sink the pipeline's calls take.
    pub fn ev(&self) -> impl Fn(Event<'_>) + '_ {
        move |e| self.event(e)
    }

    fn line(&self, m: &str) {
        match &*self.bar.borrow() {
            Some(b) => b.suspend(|| eprintln!("{m}")),
            None => eprintln!("{m}"),
        }
    }

    pub fn event(&self, e: Event<'_>) {
        match e {
            Event::Note(m) if !self.json => self.line(m),
            Event::Detail(m) | Event::Console(m) if self.verbose => {
                if matches!(e, Event::Console(_)) {
                    self.line(&format!("| {m}"))
                } else {
                    self.line(m)
                }
            }
            Event::Warning(m) => self.line(m),
            Event::Build(p) if self.bars => self.progress(p),
            _ => {}
        }
    }

    fn progress(&self, pr: &kbuild::BuildProgress) {
        let mut slot = self.bar.borrow_mut();
        if pr.phase == kbuild::BuildPhase::Done {
            if let Some(b) = slot.take() {
                b.finish_and_clear();
            }
            return;
        }
        let b = slot.get_or_insert_with(|| {
            let b = ProgressBar::new_spinner();
            b.enable_steady_tick(Duration::from_millis(200));
            b
        });
        match pr.estimated_total {
            Some(total) if pr.phase == kbuild::BuildPhase::Compile => {
                if b.length() != Some(total as u64) {
                    b.set_length(total as u64);
                    b.set_style(
                        ProgressStyle::with_template("{elapsed:>4} [{bar:30}] {pos}/{len} {msg}")
                            .unwrap_or_else(|_| ProgressStyle::default_bar())
                            .progress_chars("=> "),
                    );
                }
                b.set_position(pr.compiled.min(total) as u64);
            }
            _ => b.set_position(pr.compiled as u64),
        }
        let phase = match pr.phase {
            kbuild::BuildPhase::Config => "olddefconfig",
            kbuild::BuildPhase::Compile => "make",
            kbuild::BuildPhase::Done => "done",
        };
        b.set_message(format!("{phase} {}", pr.step));
    }
}

impl Drop for Ui {
    fn drop(&mut self) {
        if let Some(b) = self.bar.borrow_mut().take() {
            b.finish_and_clear();
        }
    }
}
