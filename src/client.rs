//! The CLI's side of the HTTP API: `flinkd get`, `flinkd events`.
//!
//! The daemon is found by `--server URL`, else by `--config FILE` (its `[api] listen`),
//! else at `http://127.0.0.1:8089`. `-o json` prints what the API returned, `-o yaml` the
//! same as YAML, and the default table the columns a person scans for.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::config::Config;
use crate::spec::{Deployment, Event, Job, Savepoint, Timestamp};

/// What can go wrong talking to the daemon's API, each saying what to do next.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("config: {0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("cannot reach the flinkd daemon at {base} ({cause}); is `flinkd run` running? (--server URL or --config FILE point elsewhere)")]
    Unreachable { base: String, cause: String },
    /// The API answered with an error: its message and status.
    #[error("{message} (HTTP {status})")]
    Refused { status: u16, message: String },
    #[error("{what}: unexpected answer: {message}")]
    Unexpected { what: String, message: String },
    /// A command's own outcome (no such Deployment, a savepoint that failed, …).
    #[error("{0}")]
    Failed(String),
    #[error("{0}")]
    Local(String),
}

fn unexpected(what: &str, e: impl std::fmt::Display) -> ClientError {
    ClientError::Unexpected {
        what: what.to_string(),
        message: e.to_string(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// The columns a person scans for.
    Table,
    /// The table with more columns.
    Wide,
    Yaml,
    Json,
}

impl Output {
    /// Whether it prints a table (of either width).
    pub fn is_table(self) -> bool {
        matches!(self, Output::Table | Output::Wide)
    }

    /// Whether a table has its wide columns.
    pub fn wide(self) -> bool {
        self == Output::Wide
    }
}

/// Where the daemon's API is, and the token it wants.
#[derive(Debug, Clone)]
pub struct Api {
    pub base: String,
    token: Option<String>,
}

/// Where the daemon's API is: `--server`, else the config's `[api] listen`, else the
/// default. The token: FLINKD_API_TOKEN, else the config's `[api] token`.
pub fn server(server: Option<&str>, config: Option<&PathBuf>) -> Result<Api, ClientError> {
    let cfg = match config {
        Some(path) => Some(Config::load(path)?),
        None => None,
    };
    let token = std::env::var("FLINKD_API_TOKEN")
        .ok()
        .filter(|t| !t.is_empty())
        .or_else(|| cfg.as_ref().and_then(|c| c.api.token.clone()));
    let base = match (server, &cfg) {
        (Some(s), _) => s.trim_end_matches('/').to_string(),
        (None, Some(cfg)) => format!("http://{}", cfg.api.listen),
        (None, None) => format!("http://{}", Config::default().api.listen),
    };
    Ok(Api { base, token })
}

/// GETs a path of the API and returns its JSON.
pub fn get(api: &Api, path: &str) -> Result<Value, ClientError> {
    request(reqwest::Method::GET, api, path)
}

/// POSTs to a path of the API (an empty JSON body) and returns its JSON.
pub fn post(api: &Api, path: &str) -> Result<Value, ClientError> {
    post_json(api, path, &serde_json::json!({}))
}

/// POSTs `body` to a path of the API and returns its JSON.
pub fn post_json(api: &Api, path: &str, body: &Value) -> Result<Value, ClientError> {
    send(reqwest::Method::POST, api, path, Some(body))
}

fn request(method: reqwest::Method, api: &Api, path: &str) -> Result<Value, ClientError> {
    send(method, api, path, None)
}

fn send(
    method: reqwest::Method,
    api: &Api,
    path: &str,
    body: Option<&Value>,
) -> Result<Value, ClientError> {
    let url = format!("{}{path}", api.base);
    let timeout = Some(Duration::from_secs(30));
    exchange(api, method, path, body, timeout, async |resp| {
        resp.json().await.map_err(|e| unexpected(&url, e))
    })
}

/// Sends a request to the API (with its token) on a runtime of its own and hands a
/// successful answer to `read`. A daemon that does not answer is Unreachable; an
/// error answer is Refused with the API's message. `timeout`: the whole exchange's
/// bound; none for a watch, which lasts (only its connecting is bounded, at 10 s).
fn exchange<T>(
    api: &Api,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
    timeout: Option<Duration>,
    read: impl AsyncFnOnce(reqwest::Response) -> Result<T, ClientError>,
) -> Result<T, ClientError> {
    let base = api.base.as_str();
    let url = format!("{base}{path}");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ClientError::Local(e.to_string()))?;
    rt.block_on(async {
        let http = match timeout {
            Some(t) => reqwest::Client::builder().timeout(t),
            None => reqwest::Client::builder().connect_timeout(Duration::from_secs(10)),
        };
        let http = http
            .build()
            .map_err(|e| ClientError::Local(e.to_string()))?;
        let mut req = http.request(method, &url);
        if let Some(body) = body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_string());
        }
        if let Some(token) = &api.token {
            req = req.bearer_auth(token);
        }
        let resp = req.send().await.map_err(|e| ClientError::Unreachable {
            base: base.to_string(),
            cause: root_cause(&e),
        })?;
        let status = resp.status();
        if !status.is_success() {
            let body: Value = resp.json().await.map_err(|e| unexpected(&url, e))?;
            let msg = body.get("message").and_then(|m| m.as_str()).unwrap_or("");
            return Err(ClientError::Refused {
                status: status.as_u16(),
                message: msg.to_string(),
            });
        }
        read(resp).await
    })
}

/// One server-sent event: its `event:` kind and its `data:` (lines joined by `\n`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub kind: String,
    pub data: String,
}

/// Reads server-sent events from the bytes of a stream as they come: complete events
/// out, the rest kept for the next bytes.
#[derive(Debug, Default)]
pub struct SseReader {
    buf: String,
    kind: String,
    data: Vec<String>,
}

impl SseReader {
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<SseEvent> {
        self.buf.push_str(&String::from_utf8_lossy(bytes));
        let mut out = Vec::new();
        while let Some(end) = self.buf.find('\n') {
            let line: String = self.buf.drain(..=end).collect();
            let line = line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                if !self.kind.is_empty() || !self.data.is_empty() {
                    out.push(SseEvent {
                        kind: std::mem::take(&mut self.kind),
                        data: std::mem::take(&mut self.data).join("\n"),
                    });
                }
            } else if let Some(v) = line.strip_prefix("event:") {
                self.kind = v.trim_start().to_string();
            } else if let Some(v) = line.strip_prefix("data:") {
                self.data.push(v.strip_prefix(' ').unwrap_or(v).to_string());
            }
            // Comments (`:`), ids and retry hints are not used.
        }
        out
    }
}

/// GETs a path that answers with server-sent events and hands each to `on_event`
/// until it returns false (Ok) or the stream ends (an error: the daemon went away).
pub fn watch(
    api: &Api,
    path: &str,
    mut on_event: impl FnMut(SseEvent) -> bool,
) -> Result<(), ClientError> {
    use futures_util::StreamExt;
    let base = api.base.as_str();
    let unreachable = |cause: String| ClientError::Unreachable {
        base: base.to_string(),
        cause,
    };
    exchange(api, reqwest::Method::GET, path, None, None, async |resp| {
        let mut body = resp.bytes_stream();
        let mut reader = SseReader::default();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| unreachable(root_cause(&e)))?;
            for event in reader.feed(&chunk) {
                if !on_event(event) {
                    return Ok(());
                }
            }
        }
        Err(unreachable("the daemon ended the watch".into()))
    })
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// Prints an API answer as asked.
pub fn print(
    value: &Value,
    output: Output,
    table: impl FnOnce(&Value) -> Result<String, ClientError>,
) -> Result<(), ClientError> {
    let text = match output {
        Output::Json => {
            serde_json::to_string_pretty(value).map_err(|e| unexpected("JSON", e))? + "\n"
        }
        Output::Yaml => serde_yaml::to_string(value).map_err(|e| unexpected("YAML", e))?,
        Output::Table | Output::Wide => table(value)?,
    };
    print!("{text}");
    Ok(())
}

/// How long ago, briefly: `42s`, `5m`, `3h`, `2d`.
pub fn age(t: Option<Timestamp>, now: Timestamp) -> String {
    let Some(t) = t else { return "-".into() };
    let s = (now - t).whole_seconds().max(0);
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m", s / 60),
        7200..=172_799 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

/// Lays out rows under a header (comfy-table). On a terminal of `width` columns, cells
/// wrap to fit; with no width (stdout is not a terminal: a pipe, a file), nothing wraps
/// and nothing is ever cut, so `flinkd events NAME | grep …` sees every message whole.
pub fn table(header: &[&str], rows: &[Vec<String>], width: Option<u16>) -> String {
    use comfy_table::{ContentArrangement, Table};
    let mut t = Table::new();
    t.load_style(comfy_table::presets::NOTHING);
    match width {
        Some(w) => {
            t.set_content_arrangement(ContentArrangement::Dynamic);
            t.set_width(w);
        }
        None => {
            t.force_no_tty();
            t.set_content_arrangement(ContentArrangement::Disabled);
        }
    }
    t.set_header(header.iter().copied());
    for r in rows {
        t.add_row(r.iter().map(String::as_str));
    }
    for column in t.column_iter_mut() {
        column.set_padding((0, 3));
    }
    let mut out = String::new();
    for line in t.lines() {
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The width of the terminal stdout is, asked of the terminal (then `$COLUMNS`); none
/// when stdout is not a terminal.
pub fn terminal_width() -> Option<u16> {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        return None;
    }
    comfy_table::Table::new()
        .width()
        .or_else(|| std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()))
        .or(Some(120))
}

/// The `items` of a list answer that read as `T`; others are left out.
pub fn items_read<T: serde::de::DeserializeOwned>(v: &Value) -> Vec<T> {
    v["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| serde_json::from_value(i.clone()).ok())
        .collect()
}

fn items<T: serde::de::DeserializeOwned>(v: &Value) -> Result<Vec<T>, ClientError> {
    let items = v.get("items").cloned().unwrap_or(Value::Array(Vec::new()));
    serde_json::from_value(items).map_err(|e| unexpected("the list", e))
}

fn short(id: impl ToString) -> String {
    id.to_string().chars().take(8).collect()
}

/// The conditions of a Deployment's status that are True, by name (`-` for none).
fn true_conditions(d: &Deployment) -> String {
    let names: Vec<String> = d
        .status
        .as_ref()
        .and_then(|s| s.running.as_ref())
        .map(|r| {
            r.conditions
                .iter()
                .filter(|c| c.status == crate::spec::ConditionStatus::True)
                .map(|c| c.kind.to_string())
                .collect()
        })
        .unwrap_or_default();
    if names.is_empty() {
        "-".into()
    } else {
        names.join(",")
    }
}

/// The wide columns of a Deployment: upgrade and restore strategies, parallelism,
/// conditions that are True, and its Flink UI through flinkd.
fn deployment_wide(d: &Deployment) -> Vec<String> {
    let or_dash = |s: Option<String>| s.filter(|s| !s.is_empty()).unwrap_or_else(|| "-".into());
    let spec = d.spec.template.as_ref().and_then(|t| t.spec.as_ref());
    vec![
        or_dash(
            d.spec
                .upgrade_strategy
                .as_ref()
                .and_then(|u| u.kind)
                .map(|k| k.to_string()),
        ),
        or_dash(
            d.spec
                .restore_strategy
                .as_ref()
                .and_then(|r| r.kind)
                .map(|k| k.to_string()),
        ),
        or_dash(spec.and_then(|s| s.parallelism).map(|p| p.to_string())),
        true_conditions(d),
        or_dash(
            d.status
                .as_ref()
                .and_then(|s| s.flink_ui.as_ref())
                .map(|u| u.proxy.clone()),
        ),
    ]
}

pub fn deployments_table(v: &Value, now: Timestamp, wide: bool) -> Result<String, ClientError> {
    let list: Vec<Deployment> = if v.get("items").is_some() {
        items(v)?
    } else {
        vec![serde_json::from_value(v.clone()).map_err(|e| unexpected("the Deployment", e))?]
    };
    let rows = list
        .iter()
        .map(|d| {
            let status = d.status.as_ref();
            let mut row = vec![
                d.metadata.name.clone(),
                d.spec.state.map(|s| s.to_string()).unwrap_or_default(),
                status
                    .map(|s| s.state.to_string())
                    .unwrap_or_else(|| "-".into()),
                status
                    .and_then(|s| s.running.as_ref())
                    .map(|r| short(r.job_id))
                    .unwrap_or_else(|| "-".into()),
                age(d.metadata.modified_at, now),
                d.spec
                    .template
                    .as_ref()
                    .and_then(|t| t.spec.as_ref())
                    .and_then(|t| t.artifact.as_ref())
                    .and_then(|a| a.jar_uri.clone())
                    .unwrap_or_default(),
                status
                    .map(|s| s.problems.join("\n"))
                    .filter(|p| !p.is_empty())
                    .map(|p| format!("file not valid, its last valid spec kept: {p}"))
                    .unwrap_or_default(),
            ];
            if wide {
                // Before the note, which may be long.
                let note = row.pop().unwrap_or_default();
                row.extend(deployment_wide(d));
                row.push(note);
            }
            row
        })
        .collect::<Vec<_>>();
    let mut header = vec!["NAME", "DESIRED", "STATUS", "JOB", "CHANGED", "JAR"];
    if wide {
        header.extend([
            "UPGRADE",
            "RESTORE",
            "PARALLELISM",
            "CONDITIONS",
            "FLINK UI",
        ]);
    }
    header.push("NOTE");
    Ok(table(&header, &rows, terminal_width()))
}

pub fn jobs_table(
    v: &Value,
    names: &dyn Fn(uuid::Uuid) -> String,
    now: Timestamp,
    wide: bool,
) -> Result<String, ClientError> {
    let list: Vec<Job> = items(v)?;
    let rows = list
        .iter()
        .map(|j| {
            let id = if wide {
                j.metadata.id.to_string()
            } else {
                short(j.metadata.id)
            };
            let mut row = vec![
                id,
                names(j.metadata.deployment_id),
                j.status.state.to_string(),
                j.status.flink_job_id.clone().unwrap_or_else(|| "-".into()),
                age(Some(j.metadata.created_at), now),
                j.status
                    .failure
                    .as_ref()
                    .map(|f| f.message.clone())
                    .or_else(|| {
                        j.spec
                            .savepoint_location
                            .as_ref()
                            .map(|l| format!("restored from {l}"))
                    })
                    .unwrap_or_default(),
            ];
            if wide {
                let note = row.pop().unwrap_or_default();
                row.push(age(j.status.started_at, now));
                row.push(age(j.status.terminated_at, now));
                row.push(
                    j.spec
                        .savepoint_location
                        .clone()
                        .unwrap_or_else(|| "-".into()),
                );
                row.push(note);
            }
            row
        })
        .collect::<Vec<_>>();
    let mut header = vec!["JOB", "DEPLOYMENT", "STATE", "FLINK JOB", "CREATED"];
    if wide {
        header.extend(["STARTED", "ENDED", "RESTORED FROM"]);
    }
    header.push("NOTE");
    Ok(table(&header, &rows, terminal_width()))
}

pub fn savepoints_table(
    v: &Value,
    names: &dyn Fn(uuid::Uuid) -> String,
    now: Timestamp,
    wide: bool,
) -> Result<String, ClientError> {
    let list: Vec<Savepoint> = items(v)?;
    let rows = list
        .iter()
        .map(|s| {
            let id = if wide {
                s.metadata.id.to_string()
            } else {
                short(s.metadata.id)
            };
            let mut row = vec![
                id,
                names(s.metadata.deployment_id),
                s.origin.to_string(),
                s.state.to_string(),
                age(Some(s.metadata.created_at), now),
                s.location
                    .clone()
                    .or_else(|| s.failure.as_ref().map(|f| f.message.clone()))
                    .unwrap_or_default(),
            ];
            if wide {
                let location = row.pop().unwrap_or_default();
                row.push(s.metadata.job_id.map_or_else(|| "-".into(), short));
                row.push(age(Some(s.metadata.modified_at), now));
                row.push(location);
            }
            row
        })
        .collect::<Vec<_>>();
    let mut header = vec!["SAVEPOINT", "DEPLOYMENT", "ORIGIN", "STATE", "CREATED"];
    if wide {
        header.extend(["JOB", "CHANGED"]);
    }
    header.push("LOCATION");
    Ok(table(&header, &rows, terminal_width()))
}

pub fn events_table(v: &Value) -> Result<String, ClientError> {
    let list: Vec<Event> = items(v)?;
    let fmt = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    let rows = list
        .iter()
        .map(|e| {
            vec![
                e.created_at.format(&fmt).unwrap_or_default(),
                format!("{:?}", e.level).to_uppercase(),
                e.name.clone(),
                e.message.clone(),
            ]
        })
        .collect::<Vec<_>>();
    Ok(table(
        &["TIME (UTC)", "LEVEL", "EVENT", "MESSAGE"],
        &rows,
        terminal_width(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn server_sent_events_are_read_across_chunks() {
        let mut r = SseReader::default();
        assert!(r.feed(b"event: ADDED\ndata: {\"a\"").is_empty());
        let got = r.feed(b":1}\n\n: keep-alive\n\nevent: SYNCED\ndata: \n\nevent: MOD");
        assert_eq!(
            got,
            [
                SseEvent {
                    kind: "ADDED".into(),
                    data: "{\"a\":1}".into()
                },
                SseEvent {
                    kind: "SYNCED".into(),
                    data: String::new()
                }
            ]
        );
        let got = r.feed(b"IFIED\r\ndata: x\r\ndata: y\r\n\r\n");
        assert_eq!(got[0].kind, "MODIFIED");
        assert_eq!(got[0].data, "x\ny");
    }

    #[test]
    fn ages() {
        let now = datetime!(2026-11-24 10:00:00 UTC);
        assert_eq!(age(Some(datetime!(2026-11-24 09:59:18 UTC)), now), "42s");
        assert_eq!(age(Some(datetime!(2026-11-24 09:55:00 UTC)), now), "5m");
        assert_eq!(age(Some(datetime!(2026-11-24 07:00:00 UTC)), now), "3h");
        assert_eq!(age(Some(datetime!(2026-11-22 10:00:00 UTC)), now), "2d");
        assert_eq!(age(None, now), "-");
    }

    #[test]
    fn tables_align_and_never_cut() {
        let long = format!("job creation failed: {} NoSuchClass", "word ".repeat(40));
        let rows = [vec!["a".into(), "RUNNING".into(), long.clone()]];
        // Not a terminal: every cell whole on its line.
        let t = table(&["NAME", "STATUS", "NOTE"], &rows, None);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "NAME   STATUS    NOTE");
        assert_eq!(lines[1], format!("a      RUNNING   {}", long.trim_end()));
        // A terminal 60 columns wide: the long cell wraps; all of it is there.
        let t = table(&["NAME", "STATUS", "NOTE"], &rows, Some(60));
        assert!(t.lines().count() > 3, "{t}");
        assert!(t.lines().all(|l| l.chars().count() <= 60), "{t}");
        let words: Vec<&str> = t.split_whitespace().collect();
        assert_eq!(words.iter().filter(|w| **w == "word").count(), 40, "{t}");
        assert!(t.contains("NoSuchClass"));
    }

    #[test]
    fn the_server_is_found_by_flag_then_config_then_default() {
        assert_eq!(
            server(Some("http://h:1/"), None).unwrap().base,
            "http://h:1"
        );
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("f.toml");
        std::fs::write(
            &cfg,
            "[api]\nlisten = \"127.0.0.1:9123\"\ntoken = \"from-the-config\"\n",
        )
        .unwrap();
        let api = server(None, Some(&cfg)).unwrap();
        assert_eq!(api.base, "http://127.0.0.1:9123");
        if std::env::var_os("FLINKD_API_TOKEN").is_none() {
            assert_eq!(api.token.as_deref(), Some("from-the-config"));
        }
        // The flag names the server; the config still gives the token.
        let api = server(Some("http://h:2"), Some(&cfg)).unwrap();
        assert_eq!(api.base, "http://h:2");
        assert_eq!(server(None, None).unwrap().base, "http://127.0.0.1:8089");
    }
}
