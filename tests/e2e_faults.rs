//! Fault injection: flinkd's real local target driving a fake Flink distribution whose
//! `jobmanager.sh` starts the fake REST server (src/bin/fake_flink.rs). Faults are set
//! per Deployment through `flinkConfiguration` keys. No JVM runs, so these are fast.

#![cfg(feature = "test-support")]

mod e2e;

use e2e::{on_the_fake as deployment, Daemon};
use flinkd::spec::{DeploymentState, JobState, SavepointOrigin, SavepointState};

/// A daemon whose Flink 2.3 is the fake.
fn daemon(timing: &str) -> Daemon {
    Daemon::start_with(&e2e::fake_flink_home(), timing)
}

#[test]
fn savepoint_failures_up_to_and_past_the_limit() {
    let _one = e2e::serial();
    let d = daemon("");
    let spec = "  state: running\n  maxSavepointCreationAttempts: 3";
    // Two failures, then success: within the limit.
    d.deploy(
        "a.yaml",
        &deployment("within", spec, &[("fake.savepoint.fail-first", "2")]),
    );
    // Five failures against a limit of three: FAILED, with the job still running.
    d.deploy(
        "b.yaml",
        &deployment("past", spec, &[("fake.savepoint.fail-first", "5")]),
    );
    d.wait_status("within", DeploymentState::Running, 30);
    d.wait_status("past", DeploymentState::Running, 30);
    d.deploy(
        "a.yaml",
        &deployment(
            "within",
            &spec.replace("running", "suspended"),
            &[("fake.savepoint.fail-first", "2")],
        ),
    );
    d.deploy(
        "b.yaml",
        &deployment(
            "past",
            &spec.replace("running", "suspended"),
            &[("fake.savepoint.fail-first", "5")],
        ),
    );

    d.wait_status("within", DeploymentState::Suspended, 30);
    let sps = d.savepoints("within");
    let states: Vec<SavepointState> = sps.iter().map(|s| s.state).collect();
    assert_eq!(
        states,
        [
            SavepointState::Failed,
            SavepointState::Failed,
            SavepointState::Completed
        ]
    );
    assert!(sps.iter().all(|s| s.origin == SavepointOrigin::Suspend));
    assert!(sps[0]
        .failure
        .as_ref()
        .unwrap()
        .message
        .contains("injected savepoint failure 1"));

    d.wait_status("past", DeploymentState::Failed, 30);
    let sps = d.savepoints("past");
    assert_eq!(sps.len(), 3, "three attempts, no more: {sps:?}");
    assert!(sps.iter().all(|s| s.state == SavepointState::Failed));
    assert_eq!(
        d.jobs("past")[0].status.state,
        JobState::Started,
        "the job is still running"
    );
    let names: Vec<String> = d.events("past").into_iter().map(|e| e.name).collect();
    assert!(
        names.contains(&"TOO_MANY_FAILED_SAVEPOINT_CREATION_ATTEMPTS".to_string()),
        "{names:?}"
    );

    // FAILED is left by a spec change: cancel.
    d.deploy(
        "b.yaml",
        &deployment(
            "past",
            &spec.replace("running", "cancelled"),
            &[("fake.savepoint.fail-first", "5")],
        ),
    );
    d.wait_status("past", DeploymentState::Cancelled, 30);
    assert!(d.live_cluster_pids().is_empty());
}

#[test]
fn a_rejected_submission_fails_after_max_attempts() {
    let _one = e2e::serial();
    let d = daemon("");
    d.deploy(
        "r.yaml",
        &deployment(
            "rejected",
            "  maxJobCreationAttempts: 3",
            &[(
                "fake.run.reject",
                "The program's entry point class 'org.example.Job' was not found in the jar file.",
            )],
        ),
    );
    d.wait_status("rejected", DeploymentState::Failed, 60);
    assert_eq!(d.jobs("rejected").len(), 3);
    let events = d.events("rejected");
    let msgs: Vec<&str> = events
        .iter()
        .filter(|e| e.name == "JOB_CREATION_FAILED")
        .map(|e| e.message.as_str())
        .collect();
    assert_eq!(msgs.len(), 3);
    assert!(msgs[2].contains("attempt 3 of 3"), "{}", msgs[2]);
    assert!(
        msgs[0].contains("Flink rejected the job")
            && msgs[0].contains("entry point class 'org.example.Job' was not found"),
        "{}",
        msgs[0]
    );
    assert!(
        d.live_cluster_pids().is_empty(),
        "every failed attempt's cluster is torn down"
    );
}

#[test]
fn a_cancel_that_never_completes_ends_at_the_deadline() {
    let _one = e2e::serial();
    let d = daemon("cancel_deadline = \"3s\"");
    d.deploy(
        "h.yaml",
        &deployment("hang", "  state: running", &[("fake.cancel", "hang")]),
    );
    d.wait_status("hang", DeploymentState::Running, 30);
    let pids = d.live_cluster_pids();
    assert_eq!(pids.len(), 2, "the fake JobManager and TaskManager");
    let asked = std::time::Instant::now();
    d.deploy(
        "h.yaml",
        &deployment("hang", "  state: cancelled", &[("fake.cancel", "hang")]),
    );
    d.wait_status("hang", DeploymentState::Cancelled, 30);
    assert!(
        asked.elapsed() >= std::time::Duration::from_secs(3),
        "not before the deadline"
    );
    let names: Vec<String> = d.events("hang").into_iter().map(|e| e.name).collect();
    assert!(
        names.contains(&"CANCELLATION_DEADLINE_EXCEEDED".to_string()),
        "{names:?}"
    );
    assert_eq!(d.jobs("hang")[0].status.state, JobState::Terminated);
    assert!(
        d.live_cluster_pids().is_empty(),
        "the cluster is torn down anyway"
    );
}

#[test]
fn a_cancel_failing_five_times_tears_down_anyway() {
    let _one = e2e::serial();
    let d = daemon("");
    d.deploy(
        "f.yaml",
        &deployment("failing", "  state: running", &[("fake.cancel", "fail")]),
    );
    d.wait_status("failing", DeploymentState::Running, 30);
    d.deploy(
        "f.yaml",
        &deployment("failing", "  state: cancelled", &[("fake.cancel", "fail")]),
    );
    d.wait_status("failing", DeploymentState::Cancelled, 30);
    let events = d.events("failing");
    let failures = events
        .iter()
        .filter(|e| e.name == "CANCELLATION_FAILED")
        .count();
    assert_eq!(failures, 4, "attempts 1 to 4 are retried: {events:?}");
    assert!(events.iter().any(
        |e| e.name == "TOO_MANY_FAILED_CANCELLATION_ATTEMPTS" && e.message.contains("5 times")
    ));
    assert!(d.live_cluster_pids().is_empty());
}

/// A running job that fails is recovered with a new Job per the restore strategy. The
/// creation counter resets whenever a job reaches RUNNING (reference page, "Limits"), so
/// recovery goes on; only a recovery that cannot start counts toward FAILED.
#[test]
fn a_job_that_fails_while_running_is_recovered() {
    let _one = e2e::serial();
    let d = daemon("");
    d.deploy(
        "j.yaml",
        &deployment(
            "flaky",
            "  maxJobCreationAttempts: 2",
            &[("fake.job.fail-after-ms", "1500")],
        ),
    );
    let jobs = d.wait("two recoveries", 60, || {
        let jobs = d.jobs("flaky");
        (jobs.len() >= 3).then_some(jobs)
    });
    for j in &jobs[..2] {
        assert_eq!(j.status.state, JobState::Failed);
        let failure = j.status.failure.as_ref().unwrap();
        assert!(
            failure.message.contains("injected job failure"),
            "{failure:?}"
        );
    }
    assert_ne!(d.status("flaky"), Some(DeploymentState::Failed));
    let events = d.events("flaky");
    assert!(events
        .iter()
        .any(|e| e.name == "JOB_FAILED" && e.message.contains("starting a new one")));
}

/// A start that fails on something in flinkd's own hands says what, with the path or
/// the ports, in the event.
#[test]
fn a_start_failing_on_flinkds_side_names_the_path_or_the_ports() {
    let _one = e2e::serial();
    let d = daemon("");
    // The Deployment's working directory cannot be made: a file is in its way.
    let work = d.path("state/work/default/blocked");
    std::fs::create_dir_all(work.parent().unwrap()).unwrap();
    std::fs::write(&work, "in the way").unwrap();
    d.deploy(
        "blocked.yaml",
        &deployment("blocked", "  maxJobCreationAttempts: 1", &[]),
    );
    // The JobManager finds its ports taken.
    d.deploy(
        "bind.yaml",
        &deployment(
            "bind",
            "  maxJobCreationAttempts: 1",
            &[("fake.startup.bind-error", "x")],
        ),
    );
    d.wait_status("blocked", DeploymentState::Failed, 30);
    d.wait_status("bind", DeploymentState::Failed, 30);
    let failure = |name: &str| {
        d.events(name)
            .into_iter()
            .find(|e| e.name == "JOB_CREATION_FAILED")
            .map(|e| e.message)
            .unwrap_or_default()
    };
    let blocked = failure("blocked");
    assert!(
        blocked.contains(&format!("cannot create the directory {}", work.display())),
        "{blocked}"
    );
    let bind = failure("bind");
    assert!(
        bind.contains("could not listen on its ports (REST ")
            && bind.contains("Address already in use"),
        "{bind}"
    );
}

/// A TaskManager of the job's own cluster killed: flinkd starts one in its place (one
/// event), the job goes on, and a suspension stops the new one too.
#[test]
fn a_killed_task_manager_is_started_again() {
    let _one = e2e::serial();
    let d = daemon("task_manager_replace_interval = \"2s\"");
    d.deploy("tm.yaml", &deployment("tm", "  state: running", &[]));
    d.wait_status("tm", DeploymentState::Running, 30);
    let job = d.jobs("tm")[0].metadata.id;
    let cluster = d.cluster_dirs()[0].clone();
    let task_managers = || -> Vec<i32> {
        let live = e2e::cluster_at(cluster.clone()).live_pids();
        std::fs::read_to_string(cluster.join("pid/flink-fake-taskexecutor.pid"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .filter(|p| live.contains(p))
            .collect()
    };
    let before = task_managers();
    assert_eq!(before.len(), 1, "one TaskManager runs");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(before[0]),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let after = d.wait("a TaskManager in its place", 30, || {
        let now = task_managers();
        (now.len() == 1 && now != before).then_some(now)
    });
    assert_ne!(after, before);
    std::thread::sleep(std::time::Duration::from_secs(5));
    let lost: Vec<_> = d
        .events("tm")
        .into_iter()
        .filter(|e| e.name == "TASK_MANAGERS_LOST")
        .collect();
    assert_eq!(lost.len(), 1, "{lost:?}");
    assert_eq!(task_managers(), after, "replaced once");
    assert_eq!(d.status("tm"), Some(DeploymentState::Running));
    assert_eq!(d.jobs("tm").len(), 1);
    assert_eq!(d.jobs("tm")[0].metadata.id, job);

    d.deploy("tm.yaml", &deployment("tm", "  state: suspended", &[]));
    d.wait_status("tm", DeploymentState::Suspended, 30);
    assert!(d.live_cluster_pids().is_empty());
}
