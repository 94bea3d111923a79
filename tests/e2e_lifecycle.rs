// suite: real-flink (scripts/test.sh runs these apart from the fake-only tests)
//! The lifecycle end to end: `flinkd run` driving real Flink clusters from files.

mod e2e;

use e2e::{counter, read_count, serial, Daemon};
use flinkd::spec::{DeploymentState, JobState, SavepointOrigin, SavepointState};

/// RUNNING; SUSPENDED leaves a savepoint and a FINISHED job; RUNNING again continues the
/// count from the savepoint; a STATEFUL template change upgrades from a savepoint;
/// CANCELLED tears the cluster down with no JVM left.
#[test]
fn suspend_resume_stateful_upgrade_and_cancel() {
    let _one = serial();
    let d = Daemon::start("");
    let out = d.path("count.txt");
    let spec = "  state: running\n  upgradeStrategy:\n    kind: stateful\n  restoreStrategy:\n    kind: latest_state";
    d.deploy("counter.yaml", &counter("counter", &out, spec, "--rate 20"));

    d.wait_status("counter", DeploymentState::Running, 120);
    let first = d.jobs("counter");
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].status.state, JobState::Started);
    assert!(first[0].status.flink_job_id.is_some());
    let running = d
        .deployment("counter")
        .unwrap()
        .status
        .unwrap()
        .running
        .unwrap();
    assert_eq!(running.job_id, first[0].metadata.id);
    d.wait("a count of 10", 60, || {
        read_count(&out).filter(|c| *c >= 10)
    });

    // Suspend.
    d.deploy(
        "counter.yaml",
        &counter(
            "counter",
            &out,
            &spec.replace("state: running", "state: suspended"),
            "--rate 20",
        ),
    );
    d.wait_status("counter", DeploymentState::Suspended, 60);
    let at_suspend = read_count(&out).unwrap();
    let sps: Vec<_> = d
        .savepoints("counter")
        .into_iter()
        .filter(|s| s.origin != SavepointOrigin::RetainedCheckpoint)
        .collect();
    assert_eq!(sps.len(), 1, "{sps:?}");
    assert_eq!(
        (sps[0].origin, sps[0].state),
        (SavepointOrigin::Suspend, SavepointState::Completed)
    );
    assert!(sps[0]
        .location
        .as_deref()
        .unwrap_or("")
        .contains("savepoint-"));
    assert_eq!(d.jobs("counter")[0].status.state, JobState::Finished);
    assert!(d.live_cluster_pids().is_empty(), "the cluster is torn down");
    let events: Vec<String> = d.events("counter").into_iter().map(|e| e.name).collect();
    assert!(
        events.contains(&"CREATING_A_SAVEPOINT_BEFORE_SUSPENSION".to_string()),
        "{events:?}"
    );

    // Resume: the count continues from the savepoint.
    d.deploy("counter.yaml", &counter("counter", &out, spec, "--rate 20"));
    d.wait_status("counter", DeploymentState::Running, 120);
    let resumed = d.wait("the resumed job to count", 60, || {
        read_count(&out).filter(|c| *c != at_suspend)
    });
    assert!(
        resumed > at_suspend,
        "count {resumed} after resuming from a savepoint taken at {at_suspend}"
    );
    let jobs = d.jobs("counter");
    assert_eq!(jobs.len(), 2);
    assert_eq!(jobs[1].spec.restore_savepoint_id, Some(sps[0].metadata.id));

    // A template change with STATEFUL: savepoint, then the new job from it.
    d.wait("a count 10 past the resume", 60, || {
        read_count(&out).filter(|c| *c >= resumed + 10)
    });
    d.deploy("counter.yaml", &counter("counter", &out, spec, "--rate 21"));
    d.wait("the upgraded job", 120, || {
        let jobs = d.jobs("counter");
        (jobs.len() == 3 && jobs[2].status.state == JobState::Started).then_some(())
    });
    let upgrade = d
        .savepoints("counter")
        .into_iter()
        .find(|s| s.origin == SavepointOrigin::SuspendAndUpgrade)
        .expect("an upgrade savepoint");
    assert_eq!(upgrade.state, SavepointState::Completed);
    let before_upgrade = read_count(&out).unwrap();
    let after_upgrade = d.wait("the upgraded job to count", 60, || {
        read_count(&out).filter(|c| *c != before_upgrade)
    });
    assert!(
        after_upgrade > before_upgrade,
        "count {after_upgrade} after a stateful upgrade at {before_upgrade}"
    );
    assert_eq!(d.status("counter"), Some(DeploymentState::Running));
    // The upgrade's downtime, in the new job's event and in the metric.
    let started = d
        .events("counter")
        .into_iter()
        .filter(|e| e.name == "JOB_SUCCESSFULLY_STARTED")
        .map(|e| e.message)
        .collect::<Vec<_>>();
    let said = started
        .iter()
        .find(|m| m.contains("after the upgrade told the job it replaces to stop"))
        .unwrap_or_else(|| panic!("no downtime in {started:?}"));
    println!("upgrade: {said}");
    // The fast way: the new cluster was up before the old job was stopped.
    let names: Vec<String> = d
        .events("counter")
        .into_iter()
        .map(|e| format!("{}: {}", e.name, e.message))
        .collect();
    let up = names
        .iter()
        .position(|e| e.contains("the upgraded job's cluster is up"))
        .unwrap_or_else(|| panic!("no fast upgrade in {names:#?}"));
    let stop = names
        .iter()
        .rposition(|e| e.starts_with("CREATING_A_SAVEPOINT_BEFORE_UPGRADE"))
        .unwrap();
    assert!(up < stop, "{names:#?}");
    let (_, metrics) = e2e::http(&format!("{}/metrics", d.api), "*/*");
    assert!(
        metrics.contains("flinkd_upgrade_downtime_seconds_count 1"),
        "{metrics}"
    );

    // Cancel: the cluster goes, no JVM is left.
    d.deploy(
        "counter.yaml",
        &counter(
            "counter",
            &out,
            &spec.replace("state: running", "state: cancelled"),
            "--rate 21",
        ),
    );
    d.wait_status("counter", DeploymentState::Cancelled, 60);
    assert_eq!(d.jobs("counter")[2].status.state, JobState::Terminated);
    assert!(d.live_cluster_pids().is_empty(), "no JVM left behind");
}

/// STATELESS with restore NONE starts the new job from empty state.
#[test]
fn stateless_upgrade_with_restore_none_starts_from_zero() {
    let _one = serial();
    let d = Daemon::start("");
    let out = d.path("count.txt");
    let spec = "  upgradeStrategy:\n    kind: stateless\n  restoreStrategy:\n    kind: none";
    d.deploy("c.yaml", &counter("stateless", &out, spec, "--rate 40"));
    d.wait_status("stateless", DeploymentState::Running, 120);
    let high = d.wait("a count of 40", 60, || {
        read_count(&out).filter(|c| *c >= 40)
    });
    d.deploy("c.yaml", &counter("stateless", &out, spec, "--rate 41"));
    d.wait("the new job", 120, || {
        let jobs = d.jobs("stateless");
        (jobs.len() == 2 && jobs[1].status.state == JobState::Started).then_some(())
    });
    assert_eq!(
        d.jobs("stateless")[0].status.state,
        JobState::Terminated,
        "cancelled, not suspended"
    );
    assert!(
        d.savepoints("stateless")
            .iter()
            .all(|s| s.origin == SavepointOrigin::RetainedCheckpoint),
        "no savepoint for a STATELESS upgrade"
    );
    let restarted = d.wait("the new job to count", 60, || {
        read_count(&out).filter(|c| *c < high)
    });
    assert!(
        restarted < high,
        "count {restarted} starts again from empty state (was {high})"
    );
}

/// A wrong entryClass: FAILED after maxJobCreationAttempts, with Flink's message.
#[test]
fn a_bad_entry_class_fails_after_max_attempts_with_flinks_message() {
    let _one = serial();
    let d = Daemon::start("");
    let out = d.path("count.txt");
    let text = counter("bad", &out, "  maxJobCreationAttempts: 2", "")
        .replace("flinkd.examples.Counter", "com.example.Nope");
    d.deploy("bad.yaml", &text);
    d.wait_status("bad", DeploymentState::Failed, 180);
    let jobs = d.jobs("bad");
    assert_eq!(jobs.len(), 2, "two attempts");
    assert!(jobs.iter().all(|j| j.status.state == JobState::Failed));
    let events = d.events("bad");
    let failures: Vec<&str> = events
        .iter()
        .filter(|e| e.name == "JOB_CREATION_FAILED")
        .map(|e| e.message.as_str())
        .collect();
    assert_eq!(failures.len(), 2, "{events:?}");
    assert!(failures[0].contains("attempt 1 of 2"), "{}", failures[0]);
    // Flink's root cause first and whole, not its CompletionException wrapper.
    let root_cause =
        "The program's entry point class 'com.example.Nope' was not found in the jar file.";
    assert!(
        failures[0].contains(&format!("failed: Flink rejected the job: {root_cause} (")),
        "the root cause comes first: {}",
        failures[0]
    );
    // `flinkd events` and `flinkd get jobs`, piped: nothing is cut.
    for args in [&["events", "bad"][..], &["get", "jobs", "bad"][..]] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_flinkd"))
            .args(args)
            .args(["--server", &d.api])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.lines().any(|l| l.contains(root_cause)),
            "`flinkd {}` piped shows the whole root cause:\n{text}",
            args.join(" ")
        );
    }
    assert!(d.log().contains(root_cause), "and so does the daemon's log");
    assert!(events
        .iter()
        .any(|e| e.name == "TOO_MANY_FAILED_JOB_CREATION_ATTEMPTS"));
    assert!(
        d.live_cluster_pids().is_empty(),
        "failed clusters are torn down"
    );
}

/// A bounded job ends FINISHED, and is not restarted.
#[test]
fn a_bounded_job_finishes() {
    let _one = serial();
    let d = Daemon::start("");
    let out = d.path("count.txt");
    d.deploy(
        "b.yaml",
        &counter("bounded", &out, "  state: running", "--limit 20 --rate 100"),
    );
    d.wait_status("bounded", DeploymentState::Finished, 120);
    assert_eq!(read_count(&out), Some(20));
    let jobs = d.jobs("bounded");
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].status.state, JobState::Finished);
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_eq!(d.jobs("bounded").len(), 1, "FINISHED is not restarted");
    assert!(d.live_cluster_pids().is_empty());
}

/// Flink 1.8's way (savepoint, then cancel), on the real cluster: flinkVersion 1.8 maps
/// to the same distribution in the test config.
#[test]
fn flink_1_8_suspends_with_a_savepoint_then_a_cancel() {
    let _one = serial();
    let d = Daemon::start("");
    let out = d.path("count.txt");
    let text = counter("legacy", &out, "  state: running", "--rate 20").replace(
        "entryClass: flinkd.examples.Counter",
        "entryClass: flinkd.examples.Counter\n        flinkVersion: 1.8",
    );
    d.deploy("l.yaml", &text);
    d.wait_status("legacy", DeploymentState::Running, 120);
    d.wait("a count of 5", 60, || read_count(&out).filter(|c| *c >= 5));
    d.deploy(
        "l.yaml",
        &text.replace("state: running", "state: suspended"),
    );
    d.wait_status("legacy", DeploymentState::Suspended, 60);
    let jobs = d.jobs("legacy");
    assert_eq!(
        jobs[0].status.state,
        JobState::Terminated,
        "1.8: the job is cancelled after its savepoint"
    );
    let sps: Vec<_> = d
        .savepoints("legacy")
        .into_iter()
        .filter(|s| s.origin != SavepointOrigin::RetainedCheckpoint)
        .collect();
    assert_eq!(sps.len(), 1);
    assert_eq!(
        (sps[0].origin, sps[0].state),
        (SavepointOrigin::Suspend, SavepointState::Completed)
    );
    let names: Vec<String> = d.events("legacy").into_iter().map(|e| e.name).collect();
    assert!(names.contains(&"JOB_CANCELLED".to_string()), "{names:?}");
    assert!(d.live_cluster_pids().is_empty());
}
