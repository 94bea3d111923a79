//! Fail-closed restores on the fake Flink (no JVM): a savepoint whose files are gone
//! gives way to the next older one, with the events naming both; every savepoint gone
//! makes the Deployment FAILED with what was tried, and no job starts from empty state.

#![cfg(feature = "test-support")]

mod e2e;

use e2e::Daemon;
use flinkd::spec::{DeploymentState, JobState, SavepointOrigin, SavepointState};

fn deployment(state: &str) -> String {
    let jar = e2e::fake_jar();
    format!(
        "kind: Deployment\napiVersion: v1\nmetadata:\n  name: keeper\nspec:\n  state: {state}\n  restoreStrategy:\n    kind: LATEST_SAVEPOINT\n  template:\n    spec:\n      artifact:\n        jarUri: {}\n        entryClass: org.example.Job\n",
        jar.display()
    )
}

/// Suspends the Deployment and returns the location of the savepoint it took.
fn suspend(d: &Daemon) -> String {
    let before = d.savepoints("keeper").len();
    d.deploy("keeper.yaml", &deployment("suspended"));
    d.wait_status("keeper", DeploymentState::Suspended, 30);
    let sps = d.savepoints("keeper");
    assert_eq!(sps.len(), before + 1, "{sps:?}");
    let sp = sps.last().unwrap();
    assert_eq!(sp.state, SavepointState::Completed);
    sp.location.clone().unwrap()
}

fn remove(location: &str) {
    let dir = flinkd::paths::file_uri_path(location).unwrap();
    assert!(dir.join("_metadata").is_file(), "{location} was written");
    std::fs::remove_dir_all(dir).unwrap();
}

fn messages(d: &Daemon) -> String {
    d.events("keeper")
        .iter()
        .map(|e| format!("{}: {}", e.name, e.message))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_gone_savepoint_gives_way_to_an_older_one_and_none_left_is_failed() {
    let _one = e2e::serial();
    let d = Daemon::start_with(&e2e::fake_flink_home(), "");
    d.deploy("keeper.yaml", &deployment("running"));
    d.wait_status("keeper", DeploymentState::Running, 30);
    let first = suspend(&d);
    d.deploy("keeper.yaml", &deployment("running"));
    d.wait_status("keeper", DeploymentState::Running, 30);
    let second = suspend(&d);

    // The newest savepoint's files are deleted: the start restores from the older one.
    remove(&second);
    d.deploy("keeper.yaml", &deployment("running"));
    d.wait_status("keeper", DeploymentState::Running, 30);
    let sps = d.savepoints("keeper");
    let jobs = d.jobs("keeper");
    let restored = jobs.last().unwrap().spec.restore_savepoint_id;
    let older = sps
        .iter()
        .find(|s| s.location.as_deref() == Some(first.as_str()));
    assert_eq!(restored, older.map(|s| s.metadata.id), "{jobs:?}");
    let said = messages(&d);
    assert!(
        said.contains("could not restore from savepoint")
            && said.contains(&format!(
                "at {second}: it is gone; the next attempt restores from savepoint"
            ))
            && said.contains(&format!("at {first}")),
        "{said}"
    );
    assert!(
        said.contains("(SUSPEND, "),
        "the start names origin and age: {said}"
    );

    // Every savepoint gone: FAILED, both named, no job from empty state.
    let third = suspend(&d);
    remove(&third);
    remove(&first);
    let jobs_before = d.jobs("keeper").len();
    d.deploy("keeper.yaml", &deployment("running"));
    d.wait_status("keeper", DeploymentState::Failed, 30);
    let said = messages(&d);
    assert!(
        said.contains("every snapshot restore strategy LATEST_SAVEPOINT allows is gone")
            && said.contains(&format!("at {third}; savepoint"))
            && said.contains(&format!("at {first}")),
        "{said}"
    );
    // Each try failed on the local look at its `_metadata`, before any cluster.
    let tries: Vec<_> = d.jobs("keeper").into_iter().skip(jobs_before).collect();
    assert_eq!(tries.len(), 3, "{tries:?}");
    for j in &tries {
        assert_eq!(j.status.state, JobState::Failed, "{j:?}");
        let why = j
            .status
            .failure
            .as_ref()
            .map(|f| f.message.clone())
            .unwrap_or_default();
        assert!(why.contains("_metadata does not exist"), "{why}");
    }
    assert!(d.live_cluster_pids().is_empty());
}

fn periodic(d: &Daemon) -> Vec<flinkd::spec::Savepoint> {
    d.savepoints("ticker")
        .into_iter()
        .filter(|s| s.origin == SavepointOrigin::Periodic)
        .collect()
}

/// `savepointInterval: 10s`: PERIODIC savepoints of the running job, completed on disk;
/// a daemon down for three intervals takes one when it is back, not three, and the
/// schedule goes on from it.
#[test]
fn periodic_savepoints_keep_their_schedule_across_a_restart() {
    let _one = e2e::serial();
    let mut d = Daemon::start_with(&e2e::fake_flink_home(), "");
    let text = format!(
        "kind: Deployment\napiVersion: v1\nmetadata:\n  name: ticker\nspec:\n  state: running\n  savepointInterval: 10s\n  template:\n    spec:\n      artifact:\n        jarUri: {}\n        entryClass: org.example.Job\n",
        e2e::fake_jar().display()
    );
    d.deploy("ticker.yaml", &text);
    d.wait_status("ticker", DeploymentState::Running, 30);
    let job = d.jobs("ticker")[0].metadata.id;
    d.wait("a periodic savepoint", 30, || {
        let p = periodic(&d);
        (p.len() == 1 && p[0].state == SavepointState::Completed).then_some(())
    });
    let first = periodic(&d)[0].clone();
    on_disk(&first);

    d.stop();
    std::thread::sleep(std::time::Duration::from_secs(31));
    d.restart();
    d.wait("the savepoint due while flinkd was down", 30, || {
        (periodic(&d).len() == 2).then_some(())
    });
    // No catch-up burst: the next one is an interval after it.
    std::thread::sleep(std::time::Duration::from_secs(5));
    let p = periodic(&d);
    assert_eq!(p.len(), 2, "one, not three: {p:?}");
    d.wait("the next on schedule", 30, || {
        (periodic(&d).len() == 3).then_some(())
    });
    let p = periodic(&d);
    let gap = p[2].metadata.created_at - p[1].metadata.created_at;
    assert!(
        gap >= time::Duration::seconds(10) && gap < time::Duration::seconds(16),
        "one interval apart: {gap}"
    );
    assert_eq!(d.jobs("ticker").len(), 1, "the same job ran throughout");
    assert_eq!(d.jobs("ticker")[0].metadata.id, job);
    let said = messages_of(&d, "ticker");
    assert!(said.contains("on schedule (savepointInterval)"), "{said}");
}

/// A completed savepoint's `_metadata` is on disk.
fn on_disk(sp: &flinkd::spec::Savepoint) {
    let dir = flinkd::paths::file_uri_path(sp.location.as_deref().unwrap()).unwrap();
    assert!(dir.join("_metadata").is_file(), "{sp:?}");
}

fn messages_of(d: &Daemon, name: &str) -> String {
    d.events(name)
        .iter()
        .map(|e| format!("{}: {}", e.name, e.message))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A savepoint directory as Flink leaves one, outside any Deployment's.
fn foreign_savepoint(d: &Daemon, name: &str) -> String {
    let dir = d.path(&format!("elsewhere/{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("_metadata"), b"taken elsewhere").unwrap();
    format!("file://{}", dir.display())
}

/// A `kind: Savepoint` file written before the Deployment it names: the Deployment's
/// first job restores from it. Then `flinkd savepoint import` hands over another, newer
/// than the Deployment's own suspension savepoint: the resume restores from that one.
#[test]
fn imported_savepoints_are_the_newest_restore_points() {
    let _one = e2e::serial();
    let d = Daemon::start_with(&e2e::fake_flink_home(), "");
    let moved = foreign_savepoint(&d, "sp-moved");
    d.deploy(
        "moved.yaml",
        &format!("kind: Savepoint\napiVersion: v1\nmetadata:\n  deploymentName: keeper\nspec:\n  savepointLocation: {moved}\n"),
    );
    d.deploy(
        "broken.yaml",
        "kind: Savepoint\napiVersion: v1\nmetadata:\n  name: lost\nspec:\n  savepointLocation: relative/dir\n",
    );
    d.wait("the waiting import said", 10, || {
        d.log()
            .contains("is for a Deployment flinkd does not manage (default/keeper)")
            .then_some(())
    });
    let log = d.log();
    assert!(
        log.contains("broken.yaml:3:1: metadata: say which Deployment the savepoint is for")
            && log.contains("broken.yaml:6:3: spec.savepointLocation: `relative/dir` is neither an absolute path nor a URI"),
        "{log}"
    );

    d.deploy("keeper.yaml", &deployment("running"));
    d.wait_status("keeper", DeploymentState::Running, 30);
    let sps = d.savepoints("keeper");
    assert_eq!(sps.len(), 1, "{sps:?}");
    assert_eq!(sps[0].origin, SavepointOrigin::Imported);
    assert_eq!(sps[0].location.as_deref(), Some(moved.as_str()));
    assert_eq!(
        d.jobs("keeper")[0].spec.restore_savepoint_id,
        Some(sps[0].metadata.id)
    );
    assert!(messages(&d).contains("(IMPORTED, "), "{}", messages(&d));

    suspend(&d);
    let copied = foreign_savepoint(&d, "sp-copied");
    let (code, out, err) = d.cli(&["savepoint", "import", "keeper", &copied]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("imported from"), "{out}");
    // Again: the same location is one record.
    let (code, _, err) = d.cli(&["savepoint", "import", "keeper", &copied]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = d.cli(&["savepoint", "import", "keeper", "not/absolute"]);
    assert_ne!(code, 0);
    assert!(err.contains("neither an absolute path nor a URI"), "{err}");
    let imported: Vec<_> = d
        .savepoints("keeper")
        .into_iter()
        .filter(|s| s.origin == SavepointOrigin::Imported)
        .collect();
    assert_eq!(imported.len(), 2, "{imported:?}");
    d.deploy("keeper.yaml", &deployment("running"));
    d.wait_status("keeper", DeploymentState::Running, 30);
    let restored = d.jobs("keeper").last().unwrap().spec.restore_savepoint_id;
    let copied_id = imported
        .iter()
        .find(|s| s.location.as_deref() == Some(copied.as_str()))
        .map(|s| s.metadata.id);
    assert_eq!(restored, copied_id);
}

fn retained(state: &str) -> String {
    deployment(state).replace(
        "  restoreStrategy:\n",
        "  savepointRetention:\n    keep: 2\n  restoreStrategy:\n",
    )
}

/// `savepointRetention.keep: 2`: the oldest of three suspension savepoints is disposed
/// of, its directory first, then its record; an imported one stays. `flinkd savepoints
/// prune --dry-run` lists what a tighter policy would take, never the newest (the
/// running job's restore point) nor the import.
#[test]
fn retention_disposes_of_old_savepoints_and_never_a_protected_one() {
    let _one = e2e::serial();
    let d = Daemon::start_with(&e2e::fake_flink_home(), "");
    d.deploy("keeper.yaml", &retained("running"));
    d.wait_status("keeper", DeploymentState::Running, 30);
    let moved = foreign_savepoint(&d, "sp-moved");
    let (code, _, err) = d.cli(&["savepoint", "import", "keeper", &moved]);
    assert_eq!(code, 0, "{err}");
    let mut own = Vec::new();
    for _ in 0..3 {
        d.deploy("keeper.yaml", &retained("suspended"));
        d.wait_status("keeper", DeploymentState::Suspended, 30);
        let newest = d
            .savepoints("keeper")
            .into_iter()
            .rfind(|s| s.origin == SavepointOrigin::Suspend)
            .unwrap();
        own.push(newest.location.clone().unwrap());
        d.deploy("keeper.yaml", &retained("running"));
        d.wait_status("keeper", DeploymentState::Running, 30);
    }
    let first_dir = flinkd::paths::file_uri_path(&own[0]).unwrap();
    d.wait("the oldest disposed of", 30, || {
        let kept: Vec<String> = d
            .savepoints("keeper")
            .iter()
            .filter_map(|s| s.location.clone())
            .collect();
        (!kept.contains(&own[0])).then_some(())
    });
    assert!(
        !first_dir.exists(),
        "its files went first: {}",
        first_dir.display()
    );
    let kept: Vec<String> = d
        .savepoints("keeper")
        .iter()
        .filter_map(|s| s.location.clone())
        .collect();
    assert_eq!(kept.len(), 3, "{kept:?}");
    for l in [&own[1], &own[2], &moved] {
        assert!(kept.contains(l), "{l} kept: {kept:?}");
        assert!(flinkd::paths::file_uri_path(l)
            .unwrap()
            .join("_metadata")
            .is_file());
    }
    assert!(
        messages(&d).contains("SAVEPOINT_DISPOSED: savepoint"),
        "{}",
        messages(&d)
    );

    let (code, out, err) = d.cli(&["savepoints", "prune", "--dry-run", "keeper", "--keep", "1"]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "{out}");
    assert!(
        lines[0].starts_with("default/keeper: would dispose of savepoint")
            && lines[0].ends_with(&format!("at {}", own[1])),
        "{out}"
    );
    let (code, _, err) = d.cli(&["savepoints", "prune", "keeper"]);
    assert_eq!(code, 1);
    assert!(err.contains("--dry-run"), "{err}");
    assert_eq!(d.savepoints("keeper").len(), 3, "nothing more was removed");
}

/// A snapshot on another file system is disposed of through Flink (the running job's
/// cluster), then its record goes.
#[test]
fn a_remote_snapshot_is_disposed_of_through_flink() {
    let _one = e2e::serial();
    let d = Daemon::start_with(&e2e::fake_flink_home(), "");
    let text =
        retained("running").replace("    keep: 2\n", "    keep: 1\n    disposeImported: true\n");
    d.deploy("keeper.yaml", &text);
    d.wait_status("keeper", DeploymentState::Running, 30);
    let (code, _, err) = d.cli(&["savepoint", "import", "keeper", "s3://bucket/remote-sp"]);
    assert_eq!(code, 0, "{err}");
    // A newer savepoint: the import is no longer the newest, and goes.
    let (code, _, err) = d.cli(&["savepoint", "keeper"]);
    assert_eq!(code, 0, "{err}");
    d.wait("the import disposed of", 30, || {
        let left: Vec<_> = d
            .savepoints("keeper")
            .into_iter()
            .filter(|s| s.origin == SavepointOrigin::Imported)
            .collect();
        left.is_empty().then_some(())
    });
    let said = messages(&d);
    assert!(
        said.contains("SAVEPOINT_DISPOSED: savepoint")
            && said.contains("(IMPORTED, ")
            && said.contains("at s3://bucket/remote-sp disposed of"),
        "{said}"
    );
    assert_eq!(d.savepoints("keeper").len(), 1, "the newest stays");
}
