//! The watched directory's semantics, on the fake Flink distribution (no JVM): what a
//! new, edited, renamed, broken or deleted file does to a running Deployment.

#![cfg(feature = "test-support")]

mod e2e;

use e2e::Daemon;
use flinkd::spec::{DeploymentState, JobState, SavepointOrigin, SavepointState};

fn daemon() -> Daemon {
    Daemon::start_with(&e2e::fake_flink_home(), "")
}

fn deployment(name: &str, state: &str) -> String {
    let jar = e2e::fake_jar();
    format!(
        "kind: Deployment\napiVersion: v1\nmetadata:\n  name: {name}\nspec:\n  state: {state}\n  template:\n    spec:\n      artifact:\n        jarUri: {}\n        entryClass: org.example.Job\n",
        jar.display()
    )
}

#[test]
fn a_deleted_file_suspends_and_forgets_and_a_readded_one_restores() {
    let _one = e2e::serial();
    let d = daemon();
    d.deploy("a.yaml", &deployment("alpha", "running"));
    d.wait_status("alpha", DeploymentState::Running, 30);
    let id = d.deployment("alpha").unwrap().metadata.id.unwrap();

    std::fs::remove_file(d.path("deployments/a.yaml")).unwrap();
    d.wait_status("alpha", DeploymentState::Suspended, 30);
    d.wait("alpha to be forgotten", 30, || {
        d.events("alpha")
            .iter()
            .any(|e| e.name == "DEPLOYMENT_FORGOTTEN")
            .then_some(())
    });
    let sps = d.savepoints("alpha");
    assert_eq!(sps.len(), 1);
    assert_eq!(
        (sps[0].origin, sps[0].state),
        (SavepointOrigin::Suspend, SavepointState::Completed)
    );
    assert!(d.live_cluster_pids().is_empty());
    assert_eq!(d.jobs("alpha").len(), 1, "history stays");

    // Back, under another file name: the same id, restored from its savepoint.
    d.deploy("again.yaml", &deployment("alpha", "running"));
    d.wait("a second job", 30, || {
        let jobs = d.jobs("alpha");
        (jobs.len() == 2 && jobs[1].status.state == JobState::Started).then_some(jobs)
    });
    assert_eq!(d.deployment("alpha").unwrap().metadata.id, Some(id));
    assert_eq!(
        d.jobs("alpha")[1].spec.restore_savepoint_id,
        Some(sps[0].metadata.id)
    );
}

#[test]
fn a_broken_or_renamed_file_stops_nothing() {
    let _one = e2e::serial();
    let d = daemon();
    d.deploy("b.yaml", &deployment("beta", "running"));
    d.wait_status("beta", DeploymentState::Running, 30);

    // A syntax error: the job keeps running on the last valid spec.
    std::fs::write(
        d.path("deployments/b.yaml"),
        "kind: Deployment\nmetadata: [broken\n",
    )
    .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_eq!(d.status("beta"), Some(DeploymentState::Running));
    assert_eq!(d.jobs("beta").len(), 1);
    assert!(
        d.log().contains("b.yaml:"),
        "the error is logged with its file"
    );

    // A typo in a field: the same.
    std::fs::write(
        d.path("deployments/b.yaml"),
        deployment("beta", "running").replace("entryClass", "entryclass"),
    )
    .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_eq!(d.status("beta"), Some(DeploymentState::Running));

    // A rename (same identity): nothing changes either.
    d.deploy("b.yaml", &deployment("beta", "running"));
    std::thread::sleep(std::time::Duration::from_secs(1));
    std::fs::rename(
        d.path("deployments/b.yaml"),
        d.path("deployments/renamed.yaml"),
    )
    .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_eq!(d.status("beta"), Some(DeploymentState::Running));
    assert_eq!(d.jobs("beta").len(), 1, "the same job runs on");
    assert!(d.savepoints("beta").is_empty());
}

/// File events alone drive the daemon (the periodic rescan is an hour away), and an
/// editor's write-then-rename is one change.
#[test]
fn the_watcher_reacts_to_files() {
    let _one = e2e::serial();
    let d = Daemon::start_with(&e2e::fake_flink_home(), "rescan_interval = \"1h\"");
    std::thread::sleep(std::time::Duration::from_millis(500));
    d.deploy("w.yaml", &deployment("watched", "running"));
    d.wait_status("watched", DeploymentState::Running, 10);
    d.deploy("w.yaml", &deployment("watched", "cancelled"));
    d.wait_status("watched", DeploymentState::Cancelled, 10);
    std::fs::remove_file(d.path("deployments/w.yaml")).unwrap();
    d.wait("the deletion to be seen", 10, || {
        d.events("watched")
            .iter()
            .any(|e| e.name == "DEPLOYMENT_FORGOTTEN")
            .then_some(())
    });
}

/// A Kubernetes ConfigMap mount: `cm.yaml -> ..data/cm.yaml`, `..data -> ..<timestamp>`,
/// and an update swaps `..data` without touching `cm.yaml` itself.
#[test]
fn a_configmap_style_symlink_swap_is_seen() {
    use std::os::unix::fs::symlink;
    let _one = e2e::serial();
    let d = Daemon::start_with(&e2e::fake_flink_home(), "rescan_interval = \"1h\"");
    let dir = d.path("deployments");
    std::fs::create_dir(dir.join("..2026_11_24_01")).unwrap();
    std::fs::write(
        dir.join("..2026_11_24_01/cm.yaml"),
        deployment("mounted", "running"),
    )
    .unwrap();
    symlink("..2026_11_24_01", dir.join("..data")).unwrap();
    symlink("..data/cm.yaml", dir.join("cm.yaml")).unwrap();
    d.wait_status("mounted", DeploymentState::Running, 15);
    // The update, as the kubelet does it: a new directory, then an atomic swap of ..data.
    std::fs::create_dir(dir.join("..2026_11_24_02")).unwrap();
    std::fs::write(
        dir.join("..2026_11_24_02/cm.yaml"),
        deployment("mounted", "suspended"),
    )
    .unwrap();
    symlink("..2026_11_24_02", dir.join("..data_tmp")).unwrap();
    std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
    d.wait_status("mounted", DeploymentState::Suspended, 15);
    // The hidden ..* entries were never taken for Deployment files.
    assert!(!d.log().contains("..2026_11_24"), "{}", d.log());
}

/// A deployments directory that disappears changes nothing that runs; when it is back,
/// everything goes on.
#[test]
fn a_directory_that_disappears_leaves_deployments_alone() {
    let _one = e2e::serial();
    let d = Daemon::start_with(&e2e::fake_flink_home(), "rescan_interval = \"500ms\"");
    d.deploy("a.yaml", &deployment("alone", "running"));
    d.wait_status("alone", DeploymentState::Running, 30);
    let dir = d.path("deployments");
    let away = d.path("deployments.away");
    std::fs::rename(&dir, &away).unwrap();
    d.wait("the unreadable directory in the log", 10, || {
        d.log().contains("cannot read").then_some(())
    });
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_eq!(d.status("alone"), Some(DeploymentState::Running));
    assert_eq!(d.jobs("alone").len(), 1);
    assert!(!d
        .events("alone")
        .iter()
        .any(|e| e.name == "DEPLOYMENT_FORGOTTEN"));
    std::fs::rename(&away, &dir).unwrap();
    d.deploy("a.yaml", &deployment("alone", "suspended"));
    d.wait_status("alone", DeploymentState::Suspended, 30);
    // Removed outright (its files, then itself): the directory is gone, not each
    // Deployment deleted (src/dircache.rs tests the notification that names the files).
    let before = d.log().matches("cannot read").count();
    std::fs::remove_dir_all(&dir).unwrap();
    d.wait("the removed directory in the log", 10, || {
        (d.log().matches("cannot read").count() > before).then_some(())
    });
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert!(
        !d.events("alone")
            .iter()
            .any(|e| e.name == "DEPLOYMENT_FORGOTTEN"),
        "{}",
        d.log()
    );
}

/// `[files] on_delete = "cancelled"`: a deleted file cancels its Deployment instead.
#[test]
fn a_deleted_file_can_cancel_instead() {
    let _one = e2e::serial();
    let d = Daemon::start_with(
        &e2e::fake_flink_home(),
        "[files]\non_delete = \"cancelled\"",
    );
    d.deploy("e.yaml", &deployment("epsilon", "running"));
    d.wait_status("epsilon", DeploymentState::Running, 30);
    std::fs::remove_file(d.path("deployments/e.yaml")).unwrap();
    d.wait_status("epsilon", DeploymentState::Cancelled, 30);
    assert!(
        d.savepoints("epsilon").is_empty(),
        "cancelled, not suspended"
    );
    assert_eq!(d.jobs("epsilon")[0].status.state, JobState::Terminated);
    assert!(d.live_cluster_pids().is_empty());
}

/// A Deployment first written as `cancelled` (or `suspended`) has nothing to do, and
/// still shows its state: its status is on record from its first step, not from its
/// first change (a new Deployment's lifecycle starts CANCELLED, so reaching CANCELLED
/// changes nothing in it).
#[test]
fn a_new_deployment_at_rest_shows_its_state() {
    let _one = e2e::serial();
    let d = daemon();
    d.deploy("c.yaml", &deployment("born-cancelled", "cancelled"));
    d.deploy("s.yaml", &deployment("born-suspended", "suspended"));
    d.wait_status("born-cancelled", DeploymentState::Cancelled, 10);
    d.wait_status("born-suspended", DeploymentState::Suspended, 10);
    assert!(d.jobs("born-cancelled").is_empty());
    assert!(d.cluster_dirs().is_empty(), "nothing was started");
}
