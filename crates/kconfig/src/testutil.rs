//! An in-memory [`Host`] for unit tests and fuzzing: files, environment and
//! canned `$(shell,...)` answers, no processes.

use std::collections::HashMap;
use std::io;

use crate::host::Host;

#[derive(Default, Clone)]
pub struct MemHost {
    pub files: HashMap<String, Vec<u8>>,
    pub env: HashMap<String, String>,
    pub shell: HashMap<String, String>,
}

impl MemHost {
    pub fn file(mut self, name: &str, text: &str) -> Self {
        self.files
            .insert(name.to_string(), text.as_bytes().to_vec());
        self
    }
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.insert(k.to_string(), v.to_string());
        self
    }
    pub fn shell(mut self, cmd: &str, out: &str) -> Self {
        self.shell.insert(cmd.to_string(), out.to_string());
        self
    }
}

impl Host for MemHost {
    fn read_file(&self, name: &str) -> io::Result<Vec<u8>> {
        self.files
            .get(name)
            .cloned()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "No such file or directory"))
    }
    fn getenv(&self, name: &str) -> Option<String> {
        self.env.get(name).cloned()
    }
    fn shell(&self, cmd: &str) -> Result<Vec<u8>, String> {
        Ok(self
            .shell
            .get(cmd)
            .cloned()
            .unwrap_or_default()
            .into_bytes())
    }
    fn info(&self, _msg: &str) {}
}
