// suite: real-flink (scripts/test.sh runs these apart from the fake-only tests)
//! Watching running jobs on real Flink: conditions, and recovery from a lost cluster
//! through the latest retained checkpoint.

mod e2e;

use e2e::{counter, read_count, serial, Daemon};
use flinkd::spec::{ConditionStatus, ConditionType, DeploymentState, JobState, SavepointOrigin};

fn condition(d: &Daemon, name: &str, kind: ConditionType) -> Option<ConditionStatus> {
    let running = d.deployment(name)?.status?.running?;
    running
        .conditions
        .iter()
        .find(|c| c.kind == kind)
        .map(|c| c.status)
}

/// A job that throws every few records: Flink restarts it from its checkpoints, and
/// flinkd reports JobFailing and JobUnstable while it does.
#[test]
fn a_job_restarting_in_a_loop_is_failing() {
    let _one = serial();
    let d = Daemon::start("");
    let out = d.path("count.txt");
    d.deploy(
        "f.yaml",
        &counter(
            "flaky",
            &out,
            "  state: running",
            "--rate 50 --fail-every 7 --checkpoint-interval 200",
        ),
    );
    d.wait_status("flaky", DeploymentState::Running, 120);
    d.wait("JobFailing", 90, || {
        (condition(&d, "flaky", ConditionType::JobFailing) == Some(ConditionStatus::True))
            .then_some(())
    });
    assert_eq!(
        condition(&d, "flaky", ConditionType::JobUnstable),
        Some(ConditionStatus::True)
    );
    assert_eq!(
        condition(&d, "flaky", ConditionType::ClusterUnreachable),
        Some(ConditionStatus::False)
    );
    let running = d
        .deployment("flaky")
        .unwrap()
        .status
        .unwrap()
        .running
        .unwrap();
    let failing = running
        .conditions
        .iter()
        .find(|c| c.kind == ConditionType::JobFailing)
        .unwrap();
    assert!(
        failing.message.contains("restarts within the last 10m"),
        "{failing:?}"
    );
    let names: Vec<String> = d.events("flaky").into_iter().map(|e| e.name).collect();
    assert!(names.contains(&"JOB_FAILING".to_string()), "{names:?}");
    // Flink restarts it; flinkd does not: still the first Job, still RUNNING.
    assert_eq!(d.jobs("flaky").len(), 1);
    assert_eq!(d.status("flaky"), Some(DeploymentState::Running));
}

/// The JobManager killed with SIGKILL: ClusterUnreachable, then a new Job restored from
/// the latest retained checkpoint, its count carrying on.
#[test]
fn a_killed_job_manager_is_recovered_from_the_latest_retained_checkpoint() {
    let _one = serial();
    let d = Daemon::start("");
    let out = d.path("count.txt");
    d.deploy(
        "k.yaml",
        &counter(
            "killed",
            &out,
            "  restoreStrategy:\n    kind: latest_state",
            "--rate 20 --checkpoint-interval 500",
        ),
    );
    d.wait_status("killed", DeploymentState::Running, 120);
    d.wait("a count of 40", 60, || {
        read_count(&out).filter(|c| *c >= 40)
    });
    let retained = d.wait("a retained checkpoint on record", 30, || {
        d.savepoints("killed").into_iter().find(|s| {
            s.origin == SavepointOrigin::RetainedCheckpoint
                && s.location.as_deref().is_some_and(|l| l.contains("chk-"))
        })
    });
    std::thread::sleep(std::time::Duration::from_secs(2));

    // Kill the JobManager.
    let cluster = e2e::cluster_at(d.cluster_dirs().into_iter().next().expect("a cluster"));
    let jm: i32 = std::fs::read_dir(cluster.pid_dir())
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .contains("standalonesession")
        })
        .find_map(|e| std::fs::read_to_string(e.path()).ok()?.trim().parse().ok())
        .expect("the JobManager's PID");
    let at_kill = read_count(&out).unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(jm),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();

    d.wait("a new job", 120, || {
        let jobs = d.jobs("killed");
        (jobs.len() == 2 && jobs[1].status.state == JobState::Started).then_some(())
    });
    let events: Vec<String> = d.events("killed").into_iter().map(|e| e.name).collect();
    let unreachable = events
        .iter()
        .position(|e| e == "CLUSTER_UNREACHABLE")
        .expect("CLUSTER_UNREACHABLE before the recovery");
    let failed = events
        .iter()
        .position(|e| e == "JOB_FAILED")
        .expect("JOB_FAILED");
    assert!(unreachable < failed, "{events:?}");
    let jobs = d.jobs("killed");
    assert_eq!(jobs[0].status.state, JobState::Failed);
    let restored_from = jobs[1].spec.restore_savepoint_id.expect("restored");
    let record = d
        .savepoints("killed")
        .into_iter()
        .find(|s| s.metadata.id == restored_from)
        .unwrap();
    assert_eq!(record.origin, SavepointOrigin::RetainedCheckpoint);
    assert_eq!(
        record.metadata.id, retained.metadata.id,
        "the job's one retained-checkpoint record, kept current"
    );
    let resumed = d.wait("the new job to count", 60, || {
        read_count(&out).filter(|c| *c != at_kill)
    });
    assert!(
        resumed > 20,
        "the count carries on from the checkpoint ({resumed}, was {at_kill} at the kill)"
    );
    d.wait_status("killed", DeploymentState::Running, 30);
    assert_eq!(
        d.live_cluster_pids().len(),
        2,
        "only the new cluster's JobManager and TaskManager"
    );
}

/// With the quota below two Deployments' needs, the second waits with a
/// RESOURCE_QUOTA_EXCEEDED event and starts once the first is suspended.
#[test]
fn the_second_deployment_waits_for_the_quota() {
    let _one = serial();
    // Each counter Deployment needs 0.5 (JobManager) + 1 × 0.5 (TaskManager) = 1 core.
    let d = Daemon::start("[quota]\ncpu = 1.5");
    let (a, b) = (d.path("a.txt"), d.path("b.txt"));
    d.deploy(
        "first.yaml",
        &counter("first", &a, "  state: running", "--rate 20"),
    );
    d.wait_status("first", DeploymentState::Running, 120);
    d.deploy(
        "second.yaml",
        &counter("second", &b, "  state: running", "--rate 20"),
    );
    let refused = d.wait("the refusal", 30, || {
        d.events("second")
            .into_iter()
            .find(|e| e.name == "RESOURCE_QUOTA_EXCEEDED")
    });
    assert!(
        refused
            .message
            .contains("needs 1 CPU cores; 1 of the quota's 1.5 are in use by others"),
        "{}",
        refused.message
    );
    assert_eq!(d.status("second"), Some(DeploymentState::Transitioning));
    assert!(
        d.jobs("second").is_empty(),
        "no job, no cluster while waiting"
    );
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_eq!(
        d.status("first"),
        Some(DeploymentState::Running),
        "a running Deployment is never stopped for the quota"
    );

    d.deploy(
        "first.yaml",
        &counter("first", &a, "  state: suspended", "--rate 20"),
    );
    d.wait_status("first", DeploymentState::Suspended, 60);
    d.wait_status("second", DeploymentState::Running, 120);
    d.wait("the second job to count", 60, || {
        read_count(&b).filter(|c| *c > 0)
    });
    let refusals = d
        .events("second")
        .iter()
        .filter(|e| e.name == "RESOURCE_QUOTA_EXCEEDED")
        .count();
    assert_eq!(refusals, 1, "announced once per wait");
}

/// SIGKILL of the daemon on real Flink: while a job runs (the new daemon adopts it:
/// no new job, the count goes on), and while its suspension savepoint is taken (the new
/// daemon finishes the suspension with that one savepoint, from which the job resumes).
#[test]
fn the_daemon_killed_on_real_flink_converges() {
    let _one = serial();
    let mut d = Daemon::start("");
    let out = d.path("count.txt");
    let spec = "  state: running\n  restoreStrategy:\n    kind: latest_savepoint";
    d.deploy("c.yaml", &counter("crashy", &out, spec, "--rate 20"));
    d.wait_status("crashy", DeploymentState::Running, 120);
    d.wait("a count of 10", 60, || {
        read_count(&out).filter(|c| *c >= 10)
    });

    d.signal(nix::sys::signal::Signal::SIGKILL);
    d.stop();
    let at_kill = read_count(&out).unwrap();
    d.restart();
    d.wait("the adoption", 30, || {
        d.log()
            .contains("adopting the running cluster")
            .then_some(())
    });
    d.wait("the job to count on", 30, || {
        read_count(&out).filter(|c| *c > at_kill + 10)
    });
    assert_eq!(d.jobs("crashy").len(), 1, "adopted, not resubmitted");
    assert_eq!(d.status("crashy"), Some(DeploymentState::Running));

    d.deploy(
        "c.yaml",
        &counter(
            "crashy",
            &out,
            &spec.replace("running", "suspended"),
            "--rate 20",
        ),
    );
    d.wait("the suspension savepoint's trigger id", 30, || {
        d.savepoints("crashy")
            .into_iter()
            .find(|s| s.origin == SavepointOrigin::Suspend && s.trigger_id.is_some())
    });
    d.signal(nix::sys::signal::Signal::SIGKILL);
    d.stop();
    d.restart();
    d.wait_status("crashy", DeploymentState::Suspended, 90);
    let sps: Vec<_> = d
        .savepoints("crashy")
        .into_iter()
        .filter(|s| s.origin == SavepointOrigin::Suspend)
        .collect();
    assert_eq!(sps.len(), 1, "one suspension savepoint: {sps:?}");
    assert_eq!(sps[0].state, flinkd::spec::SavepointState::Completed);
    assert!(d.live_cluster_pids().is_empty(), "no JVM left");
    let at_suspend = read_count(&out).unwrap();

    d.deploy("c.yaml", &counter("crashy", &out, spec, "--rate 20"));
    d.wait_status("crashy", DeploymentState::Running, 120);
    let resumed = d.wait("the resumed job to count", 60, || {
        read_count(&out).filter(|c| *c != at_suspend)
    });
    assert!(
        resumed > at_suspend,
        "resumed from the savepoint: {resumed} after {at_suspend}"
    );
    assert_eq!(
        d.jobs("crashy")[1].spec.restore_savepoint_id,
        Some(sps[0].metadata.id)
    );
}
