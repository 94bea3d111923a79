//! `flinkd get … -w`: the table once, then a row for each change as it happens.
//! Deployments come from the API's watch (server-sent events, reconnected when the
//! daemon restarts); Jobs and Savepoints are asked for every [`POLL_EVERY`]. With `-o
//! json` each change is a line `{"type": "MODIFIED", "object": {…}}`; with `-o yaml`, a
//! document of the same.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::api::watch::changes;
use crate::client::{self, Api, ClientError, Output};

/// How often `get jobs -w` and `get savepoints -w` ask.
pub const POLL_EVERY: Duration = Duration::from_secs(2);
/// How long a cut watch waits before it connects again.
const RECONNECT_AFTER: Duration = Duration::from_secs(2);

/// Prints what changed: the table's rows, or the changes as JSON or YAML.
pub struct Printer<'a> {
    pub output: Output,
    /// The table of a list of these records.
    pub table: &'a dyn Fn(&Value) -> Result<String, ClientError>,
    header_printed: bool,
}

impl<'a> Printer<'a> {
    pub fn new(output: Output, table: &'a dyn Fn(&Value) -> Result<String, ClientError>) -> Self {
        Printer {
            output,
            table,
            header_printed: false,
        }
    }

    /// Prints changes, `(kind, record)`; the first call's table has its header.
    pub fn print(&mut self, batch: &[(&str, Value)]) -> Result<(), ClientError> {
        use std::io::Write;
        let mut text = String::new();
        if self.output.is_table() {
            if batch.is_empty() && self.header_printed {
                return Ok(());
            }
            let items: Vec<Value> = batch.iter().map(|(_, v)| v.clone()).collect();
            let t = (self.table)(&serde_json::json!({ "items": items }))?;
            let skip = usize::from(self.header_printed);
            for line in t.lines().skip(skip) {
                text.push_str(line);
                text.push('\n');
            }
            self.header_printed = true;
        } else {
            for (kind, object) in batch {
                let change = serde_json::json!({ "type": kind, "object": object });
                if self.output == Output::Json {
                    text.push_str(&change.to_string());
                    text.push('\n');
                } else {
                    let yaml = serde_yaml::to_string(&change)
                        .map_err(|e| ClientError::Local(format!("cannot print YAML: {e}")))?;
                    text.push_str("---\n");
                    text.push_str(&yaml);
                }
            }
        }
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
        Ok(())
    }
}

/// The changes of `before` → `now` as records to print.
fn batch(
    before: &BTreeMap<String, String>,
    now: &BTreeMap<String, String>,
) -> Vec<(&'static str, Value)> {
    changes(before, now)
        .into_iter()
        .filter_map(|c| Some((c.kind, serde_json::from_str(&c.json).ok()?)))
        .collect()
}

/// Watches the namespace's Deployments (`only`: one of them), until interrupted.
pub fn deployments(
    api: &Api,
    ns: &str,
    only: Option<&str>,
    printer: &mut Printer<'_>,
) -> Result<(), ClientError> {
    let path = format!("/api/v1/namespaces/{ns}/deployments?watch=true");
    let mut shown: BTreeMap<String, String> = BTreeMap::new();
    loop {
        // Each connection starts with every Deployment: compared with what is shown,
        // only what changed meanwhile is printed.
        let mut now: BTreeMap<String, String> = BTreeMap::new();
        let mut synced = false;
        let mut failed = None;
        let result = client::watch(api, &path, |e| {
            if e.kind == "SYNCED" {
                synced = true;
            } else if let Ok(d) = serde_json::from_str::<Value>(&e.data) {
                let name = d["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                if only.is_some_and(|o| o != name) {
                    return true;
                }
                if e.kind == "DELETED" {
                    now.remove(&name);
                } else {
                    now.insert(name, e.data);
                }
            }
            if synced {
                if let Err(err) = printer.print(&batch(&shown, &now)) {
                    failed = Some(err);
                    return false;
                }
                shown = now.clone();
            }
            true
        });
        if let Some(err) = failed {
            return Err(err);
        }
        match result {
            Err(ClientError::Unreachable { base, cause }) => {
                eprintln!(
                    "flinkd: the watch of {base} was cut ({cause}); connecting again in {}",
                    humantime::format_duration(RECONNECT_AFTER)
                );
                std::thread::sleep(RECONNECT_AFTER);
            }
            other => return other,
        }
    }
}

/// Watches a list the API answers (Jobs, Savepoints) by asking every [`POLL_EVERY`],
/// until interrupted.
pub fn poll(api: &Api, path: &str, printer: &mut Printer<'_>) -> Result<(), ClientError> {
    let mut shown: BTreeMap<String, String> = BTreeMap::new();
    let mut first = true;
    loop {
        match client::get(api, path) {
            Ok(v) => {
                let now: BTreeMap<String, String> = v["items"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|i| (i["metadata"]["id"].to_string(), i.to_string()))
                    .collect();
                let b = batch(&shown, &now);
                if first || !b.is_empty() {
                    printer.print(&b)?;
                }
                first = false;
                shown = now;
            }
            Err(ClientError::Unreachable { base, cause }) => {
                eprintln!("flinkd: cannot reach {base} ({cause}); asking again");
            }
            Err(e) => return Err(e),
        }
        std::thread::sleep(POLL_EVERY);
    }
}
