//! What the doctor answers: ranked suggestions (an option, why, the
//! evidence, the kernel source, what the solver also sets) and notes.
//! Plain data, serialized as `ktailor doctor --json` prints it.

use serde::{Deserialize, Serialize};

/// Where a suggestion's reason was seen, so a person can check it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// `log`, `strace`, `lspci`, `qmp`, `probe`, `question`.
    pub input: String,
    /// 1-based line in that input (0 for questions).
    pub line: usize,
    pub text: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Syscall,
    Filesystem,
    AddressFamily,
    Pci,
    /// A kernel message that names the option.
    Message,
    /// A hand-written rule (data/symptoms.toml).
    Rule,
    Probe,
    /// Needed alongside another suggestion (data/symptoms.toml companions).
    Companion,
}

/// One thing the solver set besides the requested option.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Setting {
    pub symbol: String,
    pub value: String,
    pub reason: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Suggestion {
    /// The option to set (without CONFIG_).
    pub option: String,
    pub value: String,
    pub kind: Kind,
    /// The rule or lookup that produced it (`syscall:epoll_create1`,
    /// `rule:openpty`, ...).
    pub rule: String,
    /// What was looked up, in words (`syscall epoll_create1`).
    pub subject: String,
    pub why: String,
    /// The input lines that led here (merged across inputs).
    pub evidence: Vec<Evidence>,
    /// Where the answer comes from: the kernel source line (file:line)
    /// for index answers, the rule's line in data/symptoms.toml otherwise.
    pub source: Option<String>,
    /// The full condition under which that code is compiled.
    pub guard: Option<String>,
    /// Every option the guard needs (the suggestion's `option` is the
    /// innermost).
    pub requests: Vec<String>,
    /// With a --config: whether it already holds (then the symptom has
    /// another cause, and the suggestion ranks lower).
    pub already_satisfied: Option<bool>,
    /// What the solver adds to make the request hold (dependencies,
    /// EXPERT for `if EXPERT` prompts), with reasons.
    pub additions: Vec<Setting>,
    /// The fragment lines to add: the requests plus the additions.
    pub set: Vec<String>,
    /// The option's prompt and when it is visible (`"Enable futex
    /// support" if EXPERT`): a prompt behind EXPERT is why EXPERT shows up
    /// in `additions` when the base does not have it.
    pub prompt: Option<String>,
    pub solve_error: Option<String>,
    /// 0-100; suggestions are sorted by it.
    pub score: u32,
}

/// Something worth saying that is not an option to set.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Note {
    pub rule: String,
    pub evidence: Evidence,
    pub text: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Report {
    pub suggestions: Vec<Suggestion>,
    pub notes: Vec<Note>,
}
