//! The fake's own log, for the chaos campaign's checks (the oracle is Flink's side, not
//! flinkd's records): with `FLINK_FAKE_LOG=FILE` in its environment, every fake process
//! appends one JSON line per thing that happened — it came up, a job registered (with
//! the snapshot it restores from), a job changed state, a savepoint completed, the
//! cluster was reset. Lines are written whole with `O_APPEND`, so the fakes of many
//! clusters share one file.

use std::io::Write;

use serde_json::{json, Value};

pub struct EventLog {
    file: Option<std::fs::File>,
    port: u16,
}

impl EventLog {
    pub fn open(port: u16) -> EventLog {
        let file = std::env::var_os("FLINK_FAKE_LOG").and_then(|path| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .ok()
        });
        EventLog { file, port }
    }

    /// Appends `fields` with the time, this process and its port.
    pub fn write(&mut self, event: &str, fields: Value) {
        let Some(f) = self.file.as_mut() else { return };
        let mut line = json!({
            "ms": super::epoch_ms() as u64,
            "pid": std::process::id(),
            "port": self.port,
            "event": event,
        });
        if let (Some(l), Value::Object(more)) = (line.as_object_mut(), fields) {
            l.extend(more);
        }
        let mut text = line.to_string();
        text.push('\n');
        let _ = f.write_all(text.as_bytes());
    }
}

/// The Deployment a job belongs to: the argument after `--name`.
pub fn name_of(args: &[String]) -> Option<String> {
    args.iter()
        .position(|a| a == "--name")
        .and_then(|i| args.get(i + 1))
        .cloned()
}
