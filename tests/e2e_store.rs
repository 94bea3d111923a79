//! The store under stress from outside: a second daemon on the same state directory, a
//! damaged `flinkd.db`, a full disk, and a file whose edit is refused. On the fake Flink
//! (no JVM), with the real SQLite file.

#![cfg(feature = "test-support")]

mod e2e;

use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};

use e2e::Daemon;
use flinkd::spec::DeploymentState;

fn deployment(name: &str, state: &str) -> String {
    format!(
        "kind: Deployment\napiVersion: v1\nmetadata:\n  name: {name}\nspec:\n  state: {state}\n  template:\n    spec:\n      artifact:\n        jarUri: {}\n        entryClass: org.example.Job\n",
        e2e::fake_jar().display()
    )
}

fn daemon() -> Daemon {
    Daemon::start_with(&e2e::fake_flink_home(), "")
}

/// `flinkd run` on a config, waited for up to `secs`: its exit code and stderr, or None
/// if it still runs (then it is killed).
fn run_briefly(config: &std::path::Path, secs: u64) -> Option<(i32, String)> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_flinkd"))
        .args(["run", "--config"])
        .arg(config)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < until {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
            return Some((status.code().unwrap_or(-1), err));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

#[test]
fn a_second_daemon_on_the_same_state_dir_is_refused() {
    let _one = e2e::serial();
    let d = daemon();
    d.deploy("a.yaml", &deployment("a", "running"));
    d.wait_status("a", DeploymentState::Running, 30);
    let job = d.jobs("a")[0].metadata.id;

    let (code, err) = run_briefly(&d.path("flinkd.toml"), 20)
        .expect("a second daemon on the same state_dir must not run");
    assert_eq!(code, 2, "{err}");
    let state = std::fs::canonicalize(d.path("state")).unwrap();
    assert!(
        err.contains(&format!(
            "another flinkd (pid {}) runs on {}",
            d.pid().unwrap(),
            state.display()
        )),
        "{err}"
    );
    // It drove nothing: the first one's job is the only one, and it answers edits.
    assert_eq!(d.jobs("a").len(), 1);
    assert_eq!(d.jobs("a")[0].metadata.id, job);
    d.deploy("a.yaml", &deployment("a", "suspended"));
    d.wait_status("a", DeploymentState::Suspended, 30);
}

#[test]
fn a_damaged_store_is_named_at_start_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("deployments")).unwrap();
    std::fs::create_dir_all(dir.path().join("state")).unwrap();
    let config = dir.path().join("flinkd.toml");
    std::fs::write(
        &config,
        format!(
            "deployments_dir = \"deployments\"\nstate_dir = \"state\"\n[api]\nlisten = \"127.0.0.1:{}\"\n",
            e2e::free_port()
        ),
    )
    .unwrap();
    let db = dir.path().join("state/flinkd.db");
    let damaged = b"this was flinkd.db before a bad day".repeat(200);
    std::fs::write(&db, &damaged).unwrap();

    let (code, err) = run_briefly(&config, 20).expect("a daemon on a damaged store must stop");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(&db.display().to_string()), "{err}");
    assert!(err.contains("never replaces a store"), "{err}");
    assert_eq!(
        std::fs::read(&db).unwrap(),
        damaged,
        "the file is untouched"
    );
}

/// ENOSPC: with the state directory full, steps are not recorded (so not acted on), the
/// daemon stays up and retries; once space is freed it goes on, and the store is whole.
#[test]
fn a_full_disk_stops_writes_and_the_daemon_resumes() {
    let _one = e2e::serial();
    let Some(d) = Daemon::start_on_tmpfs(&e2e::fake_flink_home(), "", "16m") else {
        return;
    };
    d.deploy("a.yaml", &deployment("a", "running"));
    d.wait_status("a", DeploymentState::Running, 30);
    let job = d.jobs("a")[0].metadata.id;

    // Fill the disk.
    let filler = d.path("state/filler");
    let mut f = std::fs::File::create(&filler).unwrap();
    let chunk = vec![7u8; 64 * 1024];
    while f.write_all(&chunk).and_then(|_| f.sync_all()).is_ok() {}
    drop(f);

    d.deploy("a.yaml", &deployment("a", "suspended"));
    d.deploy("b.yaml", &deployment("b", "running"));
    d.wait("a step that cannot be recorded", 30, || {
        d.log().contains("cannot record").then_some(())
    });
    std::thread::sleep(Duration::from_secs(3));
    let pid = d.pid().unwrap();
    assert!(
        std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "the daemon is up: {}",
        d.log()
    );

    std::fs::remove_file(&filler).unwrap();
    d.wait_status("a", DeploymentState::Suspended, 60);
    d.wait_status("b", DeploymentState::Running, 60);
    let jobs = d.jobs("a");
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(jobs[0].metadata.id, job);
    assert_eq!(d.savepoints("a").len(), 1);
    let db = rusqlite::Connection::open(d.path("state/flinkd.db")).unwrap();
    let check: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}

/// A refused edit of a managed Deployment is on record: its status names the problem
/// (`flinkd get`, NOTE), with one SPEC_REJECTED event; the job goes on, and a valid
/// edit clears it. The same for an edit that takes another Deployment's id.
#[test]
fn a_refused_edit_is_shown_in_get_and_events() {
    let _one = e2e::serial();
    let d = daemon();
    d.deploy("a.yaml", &deployment("a", "running"));
    d.deploy("b.yaml", &deployment("b", "suspended"));
    d.wait_status("a", DeploymentState::Running, 30);
    d.wait_status("b", DeploymentState::Suspended, 30);
    let job = d.jobs("a")[0].metadata.id;

    d.deploy("a.yaml", &deployment("a", "runing"));
    let problems = d.wait("the problem on record", 20, || {
        let p = d.deployment("a")?.status?.problems;
        (!p.is_empty()).then_some(p)
    });
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("a.yaml:6:3: spec.state: unknown value `runing`"),
        "{problems:?}"
    );
    let (code, out, err) = d.cli(&["get", "deployments"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("file not valid, its last valid spec kept"),
        "{out}"
    );
    let (_, json, _) = d.cli(&["get", "deployment", "a", "-o", "json"]);
    assert!(json.contains("\"problems\""), "{json}");
    // The same problem read again is not a new event.
    std::thread::sleep(Duration::from_secs(5));
    let rejected = |d: &Daemon| {
        d.events("a")
            .iter()
            .filter(|e| e.name == "SPEC_REJECTED")
            .count()
    };
    assert_eq!(rejected(&d), 1, "{:?}", d.events("a"));
    assert_eq!(d.status("a"), Some(DeploymentState::Running));
    assert_eq!(d.jobs("a")[0].metadata.id, job);

    // Another Deployment's id: a problem of a's too.
    let b_id = d.deployment("b").unwrap().metadata.id.unwrap();
    d.deploy(
        "a.yaml",
        &deployment("a", "running").replace("  name: a\n", &format!("  name: a\n  id: {b_id}\n")),
    );
    d.wait("the id problem on record", 20, || {
        let p = d.deployment("a")?.status?.problems;
        p.iter()
            .any(|p| p.contains("is the id of Deployment default/b"))
            .then_some(())
    });
    assert_eq!(rejected(&d), 2);

    // Valid again: cleared.
    d.deploy("a.yaml", &deployment("a", "running"));
    d.wait("the problems cleared", 20, || {
        d.deployment("a")?.status?.problems.is_empty().then_some(())
    });
    let (_, out, _) = d.cli(&["get", "deployments"]);
    assert!(!out.contains("file not valid"), "{out}");
    assert_eq!(d.jobs("a").len(), 1);
}
