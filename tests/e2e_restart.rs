//! Restarts of the daemon: clusters are left running on SIGTERM, and a new daemon adopts
//! them from its store with no new submission (on the fake Flink: no JVM).

#![cfg(feature = "test-support")]

mod e2e;

use e2e::Daemon;
use flinkd::spec::{DeploymentState, JobState};

fn deployment(name: &str, state: &str) -> String {
    format!(
        "kind: Deployment\napiVersion: v1\nmetadata:\n  name: {name}\nspec:\n  state: {state}\n  template:\n    spec:\n      artifact:\n        jarUri: {}\n        entryClass: org.example.Job\n",
        e2e::fake_jar().display()
    )
}

#[test]
fn a_restarted_daemon_adopts_running_clusters() {
    let _one = e2e::serial();
    let mut d = Daemon::start_with(&e2e::fake_flink_home(), "");
    d.deploy("a.yaml", &deployment("alpha", "running"));
    d.wait_status("alpha", DeploymentState::Running, 30);
    let pids = d.live_cluster_pids();
    assert_eq!(pids.len(), 2, "a JobManager and a TaskManager");

    // SIGTERM: flinkd stops, the cluster does not.
    d.stop();
    assert_eq!(
        d.live_cluster_pids(),
        pids,
        "the cluster outlives the daemon"
    );

    // A new daemon on the same state: the same job, adopted, still RUNNING.
    d.restart();
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_eq!(d.status("alpha"), Some(DeploymentState::Running));
    let jobs = d.jobs("alpha");
    assert_eq!(jobs.len(), 1, "no new submission");
    assert_eq!(jobs[0].status.state, JobState::Started);
    assert_eq!(d.live_cluster_pids(), pids, "the same processes");
    assert!(d.log().contains("adopting the running cluster"));

    // It is driven as before: a suspend goes through the adopted cluster.
    d.deploy("a.yaml", &deployment("alpha", "suspended"));
    d.wait_status("alpha", DeploymentState::Suspended, 30);
    assert!(d.live_cluster_pids().is_empty());
}

#[test]
fn a_cluster_gone_while_the_daemon_was_down_is_a_lost_job() {
    let _one = e2e::serial();
    let mut d = Daemon::start_with(&e2e::fake_flink_home(), "");
    d.deploy("b.yaml", &deployment("beta", "running"));
    d.wait_status("beta", DeploymentState::Running, 30);
    d.stop();
    for dir in d.cluster_dirs() {
        e2e::cluster_at(dir)
            .stop(std::time::Duration::from_secs(5))
            .unwrap();
    }
    d.restart();
    d.wait("a new job", 30, || {
        let jobs = d.jobs("beta");
        (jobs.len() == 2 && jobs[1].status.state == JobState::Started).then_some(())
    });
    assert_eq!(d.jobs("beta")[0].status.state, JobState::Failed);
    assert_eq!(d.status("beta"), Some(DeploymentState::Running));
}

/// The daemon killed (SIGKILL) in the middle of a start, after the job was submitted:
/// the new daemon adopts the cluster and finishes the same start, with no second job.
#[test]
fn a_daemon_killed_during_a_start_finishes_it_after_a_restart() {
    let _one = e2e::serial();
    let mut d = Daemon::start_with(&e2e::fake_flink_home(), "");
    let text = deployment("gamma", "running").replace(
        "        entryClass: org.example.Job\n",
        "        entryClass: org.example.Job\n      flinkConfiguration:\n        fake.job.running-after-ms: \"4000\"\n",
    );
    d.deploy("g.yaml", &text);
    d.wait("the job to be submitted", 30, || {
        d.jobs("gamma")
            .first()
            .and_then(|j| j.status.flink_job_id.clone())
    });
    assert_eq!(d.status("gamma"), Some(DeploymentState::Transitioning));
    d.signal(nix::sys::signal::Signal::SIGKILL);
    d.stop();
    d.restart();
    // Well before the 2-minute start timeout: the adopted job is seen RUNNING.
    d.wait_status("gamma", DeploymentState::Running, 20);
    let jobs = d.jobs("gamma");
    assert_eq!(jobs.len(), 1, "the same job, not a second one");
    assert_eq!(jobs[0].status.state, JobState::Started);
    assert_eq!(d.cluster_dirs().len(), 1, "one cluster");
    assert_eq!(
        d.live_cluster_pids().len(),
        2,
        "its JobManager and TaskManager"
    );
}

/// The daemon killed (SIGKILL) while Flink takes a suspension savepoint: the new daemon
/// asks Flink for that operation's outcome by its recorded trigger id, so the savepoint
/// is not lost and is not taken twice.
#[test]
fn a_savepoint_in_flight_survives_a_crash_of_the_daemon() {
    let _one = e2e::serial();
    let mut d = Daemon::start_with(&e2e::fake_flink_home(), "");
    let with = |state: &str| {
        deployment("delta", state).replace(
            "        entryClass: org.example.Job\n",
            "        entryClass: org.example.Job\n      flinkConfiguration:\n        fake.savepoint.delay-ms: \"3000\"\n",
        )
    };
    d.deploy("d.yaml", &with("running"));
    d.wait_status("delta", DeploymentState::Running, 30);
    d.deploy("d.yaml", &with("suspended"));
    d.wait("the savepoint's trigger id on record", 20, || {
        d.savepoints("delta")
            .into_iter()
            .find(|s| s.trigger_id.is_some())
    });
    d.signal(nix::sys::signal::Signal::SIGKILL);
    d.stop();
    d.restart();
    d.wait_status("delta", DeploymentState::Suspended, 30);
    let sps = d.savepoints("delta");
    assert_eq!(sps.len(), 1, "taken once: {sps:?}");
    assert_eq!(sps[0].state, flinkd::spec::SavepointState::Completed);
    let location = sps[0].location.as_deref().unwrap_or_default();
    assert!(location.ends_with("-1"), "the first savepoint: {location}");
    let dir = flinkd::paths::file_uri_path(location).expect("a local savepoint");
    assert!(dir.join("_metadata").is_file(), "written: {location}");
    assert_eq!(d.jobs("delta")[0].status.state, JobState::Finished);
    assert!(d.live_cluster_pids().is_empty());
}
