//! Fast STATEFUL upgrades through the daemon, on the fake Flink's local clusters: the new
//! cluster is started while the old job runs, the old job is stopped only once it is up,
//! and the new job runs there, restored from the upgrade's savepoint; a new cluster that
//! does not start leaves the state where it was. No JVM runs.

#![cfg(feature = "test-support")]

mod e2e;

use e2e::Daemon;
use flinkd::spec::{DeploymentState, JobState, SavepointOrigin, SavepointState};

fn deployment(name: &str, spec: &str, faults: &[(&str, &str)]) -> String {
    e2e::on_the_fake(name, spec, &[&[("fake.none", "0")], faults].concat())
}

/// The events of a Deployment, oldest first, as `NAME: message`.
fn events(d: &Daemon, name: &str) -> Vec<String> {
    d.events(name)
        .into_iter()
        .map(|e| format!("{}: {}", e.name, e.message))
        .collect()
}

fn position(events: &[String], needle: &str) -> usize {
    events
        .iter()
        .position(|e| e.contains(needle))
        .unwrap_or_else(|| panic!("no event with {needle:?} in {events:#?}"))
}

#[test]
fn the_new_cluster_is_up_before_the_old_job_stops_and_the_new_job_runs_on_it() {
    let _one = e2e::serial();
    let d = Daemon::start_with(&e2e::fake_flink_home(), "poll_interval = \"1s\"");
    d.deploy("f.yaml", &deployment("f", "  state: running", &[]));
    d.wait_status("f", DeploymentState::Running, 30);
    d.deploy(
        "f.yaml",
        &deployment("f", "  state: running", &[("fake.upgraded", "1")]),
    );
    d.wait("the upgraded job", 60, || {
        let jobs = d.jobs("f");
        (jobs.len() == 2 && jobs[1].status.state == JobState::Started).then_some(())
    });
    let e = events(&d, "f");
    let asked = position(
        &e,
        "starting the upgraded job's cluster beside the running job",
    );
    let up = position(&e, "the upgraded job's cluster is up");
    let stop = position(&e, "CREATING_A_SAVEPOINT_BEFORE_UPGRADE");
    assert!(asked < up && up < stop, "{e:#?}");
    // The new job is the one the cluster was started for, restored from the upgrade's
    // savepoint.
    let jobs = d.jobs("f");
    let upgrade = d
        .savepoints("f")
        .into_iter()
        .find(|s| s.origin == SavepointOrigin::SuspendAndUpgrade)
        .expect("the upgrade's savepoint");
    assert_eq!(upgrade.state, SavepointState::Completed);
    assert_eq!(jobs[1].spec.restore_savepoint_id, Some(upgrade.metadata.id));
    assert_eq!(
        d.events("f")[asked].job_id,
        Some(jobs[1].metadata.id),
        "the cluster started ahead is the new job's"
    );
    // The old cluster is gone; one cluster runs.
    d.wait("the old cluster gone", 30, || {
        (d.live_cluster_pids().len() == 2).then_some(())
    });
    let (_, metrics) = e2e::http(&format!("{}/metrics", d.api), "*/*");
    assert!(
        metrics.contains("flinkd_upgrade_downtime_seconds_count 1"),
        "{metrics}"
    );
}

#[test]
fn a_new_cluster_that_does_not_start_leaves_the_state_where_it_was() {
    let _one = e2e::serial();
    let d = Daemon::start_with(&e2e::fake_flink_home(), "poll_interval = \"1s\"");
    let spec = "  state: running\n  maxJobCreationAttempts: 1";
    d.deploy("g.yaml", &deployment("g", spec, &[]));
    d.wait_status("g", DeploymentState::Running, 30);
    let first = d.jobs("g")[0].metadata.id;
    // The new template's JobManager exits at once: the cluster started ahead fails, the
    // upgrade goes the cold way (the old job stopped with a savepoint), and its start
    // fails too.
    d.deploy(
        "g.yaml",
        &deployment("g", spec, &[("fake.startup.bind-error", "x")]),
    );
    d.wait_status("g", DeploymentState::Failed, 60);
    let e = events(&d, "g");
    position(&e, "upgrading the cold way");
    position(&e, "did not start beside the running job");
    let upgrade = d
        .savepoints("g")
        .into_iter()
        .find(|s| s.origin == SavepointOrigin::SuspendAndUpgrade)
        .expect("the old job's savepoint");
    assert_eq!(upgrade.state, SavepointState::Completed);
    assert_eq!(d.jobs("g")[0].metadata.id, first);
    d.wait("no cluster left", 30, || {
        d.live_cluster_pids().is_empty().then_some(())
    });
    // A fixed spec runs again from that savepoint.
    d.deploy("g.yaml", &deployment("g", spec, &[("fake.upgraded", "2")]));
    d.wait_status("g", DeploymentState::Running, 60);
    let last = d.jobs("g").into_iter().last().unwrap();
    assert_eq!(last.spec.restore_savepoint_id, Some(upgrade.metadata.id));
}
