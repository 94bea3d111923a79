//! `flinkd get … -w` on the fake Flink (no JVM): the table once, then a row per change
//! as it happens, as a user runs it (a child process, stdout piped); `-o wide`'s
//! columns; and the API's watch stream itself.

#![cfg(feature = "test-support")]

mod e2e;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use e2e::{on_the_fake, Daemon};
use flinkd::spec::DeploymentState;

/// A `flinkd get … -w` running, its stdout read line by line; killed when dropped.
struct Watching {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Watching {
    fn start(d: &Daemon, args: &[&str]) -> Watching {
        let mut child = Command::new(env!("CARGO_BIN_EXE_flinkd"))
            .args(args)
            .args(["--server", &d.api])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Watching {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The first line printed from now on that `want` accepts, within `secs`.
    fn until(&mut self, secs: u64, want: impl Fn(&str) -> bool) -> String {
        let end = Instant::now() + Duration::from_secs(secs);
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            if let Ok(line) = self.lines.recv_timeout(left) {
                self.seen.push(line.clone());
                if want(&line) {
                    return line;
                }
            }
        }
        panic!("not printed within {secs}s; printed: {:#?}", self.seen);
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn get_w_prints_the_table_then_each_change() {
    let d = Daemon::start_with(&e2e::fake_flink_home(), "");
    d.deploy("alpha.yaml", &on_the_fake("alpha", "  state: running", &[]));
    d.wait_status("alpha", DeploymentState::Running, 30);

    let mut table = Watching::start(&d, &["get", "deployments", "-w"]);
    let header = table.until(10, |l| l.starts_with("NAME"));
    assert!(header.contains("STATUS"), "{header}");
    table.until(5, |l| l.starts_with("alpha") && l.contains("RUNNING"));
    let mut json = Watching::start(&d, &["get", "deployment", "alpha", "-w", "-o", "json"]);
    json.until(10, |l| l.contains(r#""type":"ADDED""#));
    let mut jobs = Watching::start(&d, &["get", "jobs", "alpha", "-w"]);
    jobs.until(10, |l| l.contains("STARTED"));

    // A change made by editing the file shows without asking again.
    let edited = Instant::now();
    d.deploy(
        "alpha.yaml",
        &on_the_fake("alpha", "  state: suspended", &[]),
    );
    let row = table.until(30, |l| l.starts_with("alpha") && l.contains("SUSPENDED"));
    assert!(!row.starts_with("NAME"), "a row, not another header: {row}");
    eprintln!("the change printed {:?} after the edit", edited.elapsed());
    let change = json.until(30, |l| l.contains("SUSPENDED"));
    let change: serde_json::Value = serde_json::from_str(&change).unwrap();
    assert_eq!(change["type"], "MODIFIED");
    assert_eq!(change["object"]["metadata"]["name"], "alpha");
    jobs.until(30, |l| l.contains("TERMINAT") || l.contains("FINISHED"));

    // A new Deployment is a row of its own; the header is not printed again.
    d.deploy("beta.yaml", &on_the_fake("beta", "  state: running", &[]));
    table.until(30, |l| l.starts_with("beta"));
    assert_eq!(
        table.seen.iter().filter(|l| l.starts_with("NAME")).count(),
        1,
        "{:#?}",
        table.seen
    );
    // A Deployment that is not there is an error at once, not a silent watch.
    let (code, _, err) = d.cli(&["get", "deployment", "nobody", "-w"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("nobody"), "{err}");
}

#[test]
fn wide_output_adds_columns() {
    let d = Daemon::start_with(&e2e::fake_flink_home(), "");
    d.deploy("alpha.yaml", &on_the_fake("alpha", "  state: running", &[]));
    d.wait_status("alpha", DeploymentState::Running, 30);
    let (code, narrow, err) = d.cli(&["get", "deployments"]);
    assert_eq!(code, 0, "{err}");
    let (code, wide, err) = d.cli(&["get", "deployments", "-o", "wide"]);
    assert_eq!(code, 0, "{err}");
    let header = wide.lines().next().unwrap();
    for column in ["UPGRADE", "RESTORE", "PARALLELISM", "CONDITIONS", "NOTE"] {
        assert!(header.contains(column), "{column}: {header}");
        assert!(
            !narrow.lines().next().unwrap().contains(column) || column == "NOTE",
            "{narrow}"
        );
    }
    let row = wide.lines().find(|l| l.starts_with("alpha")).unwrap();
    assert!(
        row.contains("STATEFUL") && row.contains("LATEST_STATE"),
        "{row}"
    );
    let (code, wide, err) = d.cli(&["get", "jobs", "-o", "wide"]);
    assert_eq!(code, 0, "{err}");
    assert!(wide.lines().next().unwrap().contains("STARTED"), "{wide}");
    let job = d.jobs("alpha")[0].metadata.id.to_string();
    assert!(wide.contains(&job), "the whole job id: {wide}");
    let (code, wide, err) = d.cli(&["get", "savepoints", "-o", "wide"]);
    assert_eq!(code, 0, "{err}");
    assert!(wide.lines().next().unwrap().contains("JOB"), "{wide}");
}

/// The stream under `-w`: every Deployment first, then SYNCED, then a change.
#[test]
fn the_api_streams_changes_as_server_sent_events() {
    let d = Daemon::start_with(&e2e::fake_flink_home(), "");
    d.deploy("alpha.yaml", &on_the_fake("alpha", "  state: running", &[]));
    d.wait_status("alpha", DeploymentState::Running, 30);
    let api = flinkd::client::server(Some(&d.api), None).unwrap();
    let mut kinds = Vec::new();
    let mut edited = false;
    let path = "/api/v1/namespaces/default/deployments?watch=true";
    flinkd::client::watch(&api, path, |e| {
        kinds.push(e.kind.clone());
        if e.kind == "SYNCED" && !edited {
            edited = true;
            d.deploy(
                "alpha.yaml",
                &on_the_fake("alpha", "  state: cancelled", &[]),
            );
        }
        let v: serde_json::Value = serde_json::from_str(&e.data).unwrap_or_default();
        !(e.kind == "MODIFIED" && v["status"]["state"] == "CANCELLED")
    })
    .unwrap();
    assert_eq!(kinds[..2], ["ADDED", "SYNCED"], "{kinds:?}");
    assert!(kinds[2..].iter().all(|k| k == "MODIFIED"), "{kinds:?}");
}
