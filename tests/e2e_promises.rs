//! The promises, through the daemon's own contract (files, signals, the API) on the
//! fake Flink: the interleavings the audit traced, each of which broke one of them.
//! No JVM runs, so these are fast.

#![cfg(feature = "test-support")]

mod e2e;

use std::time::Duration;

use e2e::{Daemon, FakeServer};
use flinkd::spec::{DeploymentState, JobState, SavepointOrigin, SavepointState};

fn deployment(name: &str, spec: &str, faults: &[(&str, &str)]) -> String {
    let mut conf = String::from("        fake.none: \"0\"\n");
    for (k, v) in faults {
        conf.push_str(&format!("        {k}: \"{v}\"\n"));
    }
    format!(
        "kind: Deployment\napiVersion: v1\nmetadata:\n  name: {name}\nspec:\n{spec}\n  template:\n    spec:\n      artifact:\n        jarUri: {jar}\n        entryClass: org.example.Job\n      resources:\n        jobManager:\n          cpu: 0.5\n        taskManager:\n          cpu: 0.5\n      flinkConfiguration:\n{conf}",
        jar = e2e::fake_jar().display(),
    )
}

fn metric(d: &Daemon, name: &str) -> Option<f64> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    let text = rt.block_on(async {
        reqwest::get(format!("{}/metrics", d.api))
            .await
            .ok()?
            .text()
            .await
            .ok()
    })?;
    text.lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// F1: `state: cancelled` written during the last failing suspension savepoint cancels
/// the job (before, the Deployment was left FAILED with its job running).
#[test]
fn a_cancel_written_during_the_last_failing_savepoint_cancels_the_job() {
    let _one = e2e::serial();
    let d = Daemon::start_with(&e2e::fake_flink_home(), "");
    let faults = [
        ("fake.savepoint.fail-first", "9"),
        ("fake.savepoint.delay-ms", "1500"),
    ];
    let spec = "  state: running\n  maxSavepointCreationAttempts: 2";
    d.deploy("p.yaml", &deployment("p", spec, &faults));
    d.wait_status("p", DeploymentState::Running, 30);
    d.deploy(
        "p.yaml",
        &deployment("p", &spec.replace("running", "suspended"), &faults),
    );
    // The second and last attempt is under way: the user gives up and cancels.
    d.wait("the last attempt", 30, || {
        (d.savepoints("p").len() == 2).then_some(())
    });
    d.deploy(
        "p.yaml",
        &deployment("p", &spec.replace("running", "cancelled"), &faults),
    );
    d.wait_status("p", DeploymentState::Cancelled, 30);
    let job = &d.jobs("p")[0];
    assert_eq!(job.status.state, JobState::Terminated, "{job:?}");
    assert!(d.live_cluster_pids().is_empty(), "no cluster left");
}

/// F7: a job that fails after it ran is recovered, even with `maxJobCreationAttempts: 1`
/// (before, the first loss made the Deployment FAILED).
#[test]
fn a_job_that_fails_after_running_is_recovered_with_one_creation_attempt() {
    let _one = e2e::serial();
    let d = Daemon::start_with(&e2e::fake_flink_home(), "");
    d.deploy(
        "r.yaml",
        &deployment(
            "r",
            "  maxJobCreationAttempts: 1",
            &[("fake.job.fail-after-ms", "1500")],
        ),
    );
    d.wait("three jobs", 60, || (d.jobs("r").len() >= 3).then_some(()));
    let names: Vec<String> = d.events("r").into_iter().map(|e| e.name).collect();
    assert!(
        !names.contains(&"TOO_MANY_FAILED_JOB_CREATION_ATTEMPTS".to_string()),
        "{names:?}"
    );
    assert!(
        names.iter().filter(|n| *n == "JOB_FAILED").count() >= 2,
        "{names:?}"
    );
    assert_ne!(d.status("r"), Some(DeploymentState::Failed));
}

/// F4: a savepoint that completes after its deadline, after the stop was sent again, is
/// recorded COMPLETED with its location, ends the suspension, and is what the next
/// start restores from.
#[test]
fn a_savepoint_completing_after_its_deadline_is_kept_and_used() {
    let _one = e2e::serial();
    let d = Daemon::start_with(&e2e::fake_flink_home(), "savepoint_timeout = \"1s\"");
    let faults = [("fake.savepoint.delay-ms", "2500")];
    d.deploy("s.yaml", &deployment("s", "  state: running", &faults));
    d.wait_status("s", DeploymentState::Running, 30);
    d.deploy("s.yaml", &deployment("s", "  state: suspended", &faults));
    d.wait_status("s", DeploymentState::Suspended, 30);
    let sps: Vec<_> = d
        .savepoints("s")
        .into_iter()
        .filter(|s| s.origin == SavepointOrigin::Suspend)
        .collect();
    assert!(sps.len() >= 2, "the stop was sent again: {sps:?}");
    let first = &sps[0];
    assert_eq!(first.state, SavepointState::Completed, "{sps:?}");
    let location = first.location.clone().expect("its location");
    let events: Vec<String> = d.events("s").into_iter().map(|e| e.message).collect();
    assert!(events.iter().any(|m| m.contains("late")), "{events:?}");

    d.deploy("s.yaml", &deployment("s", "  state: running", &faults));
    d.wait_status("s", DeploymentState::Running, 30);
    let jobs = d.jobs("s");
    let resumed = jobs
        .iter()
        .find(|j| j.status.state == JobState::Started)
        .unwrap();
    assert_eq!(
        resumed.spec.savepoint_location.as_deref(),
        Some(location.as_str())
    );
}

/// F5: a reload that raises the quota wakes the waiting Deployments; each request is
/// granted once, and the quota holds (before, one Deployment was granted twice and a
/// third started over the quota).
#[test]
fn a_reload_that_raises_the_quota_never_over_commits_it() {
    let _one = e2e::serial();
    let d = Daemon::start_with(&e2e::fake_flink_home(), "[quota]\ncpu = 1");
    for n in ["q1", "q2", "q3"] {
        d.deploy(
            &format!("{n}.yaml"),
            &deployment(n, "  state: running", &[]),
        );
    }
    let running = || {
        ["q1", "q2", "q3"]
            .iter()
            .filter(|n| d.status(n) == Some(DeploymentState::Running))
            .count()
    };
    d.wait("one running", 30, || (running() == 1).then_some(()));
    d.wait("two refused", 30, || {
        (["q1", "q2", "q3"]
            .iter()
            .filter(|n| {
                d.events(n)
                    .iter()
                    .any(|e| e.name == "RESOURCE_QUOTA_EXCEEDED")
            })
            .count()
            == 2)
            .then_some(())
    });
    let config = std::fs::read_to_string(d.path("flinkd.toml")).unwrap();
    std::fs::write(d.path("flinkd.toml"), config.replace("cpu = 1", "cpu = 2")).unwrap();
    d.signal(nix::sys::signal::Signal::SIGHUP);
    d.wait("two running", 30, || (running() == 2).then_some(()));
    // Time for a duplicate grant to do harm, had there been one.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(running(), 2);
    assert_eq!(metric(&d, "flinkd_quota_cores_used"), Some(2.0));
    assert_eq!(metric(&d, "flinkd_quota_cores_limit"), Some(2.0));
}

/// F3: a submission to an external cluster that answers only after `http_timeout`, but
/// registers its job: never two jobs of one Deployment on the cluster.
#[test]
fn a_late_answered_submission_never_leaves_two_jobs() {
    let _one = e2e::serial();
    let server = FakeServer::start(&["--set", "fake.run.delay-ms=1500"]);
    let d = Daemon::start_with(
        &e2e::fake_flink_home(),
        "http_timeout = \"500ms\"\nsubmission_grace = \"3s\"",
    );
    d.deploy("t.yaml", &e2e::external_target("session", &server.url));
    let spec = "  state: running\n  deploymentTargetName: session";
    d.deploy("x.yaml", &deployment("x", spec, &[]));
    // Each submission registers and times out; the next waits until the last one is
    // confirmed and cancelled.
    d.wait("three attempts", 60, || {
        (d.jobs("x").len() >= 3).then_some(())
    });
    for _ in 0..20 {
        let alive = server
            .jobs()
            .iter()
            .filter(|j| {
                !matches!(
                    j["state"].as_str(),
                    Some("CANCELED" | "FAILED" | "FINISHED")
                )
            })
            .count();
        assert!(
            alive <= 1,
            "two live jobs of one Deployment: {:?}",
            server.jobs()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// F2: a file that gives a Deployment another Deployment's `metadata.id` is one located
/// error; every other edit of the same read is acted on, and after a restart every
/// Deployment is still managed (before, one such file stopped them all).
#[test]
fn an_id_taken_by_another_deployment_stops_no_other() {
    let _one = e2e::serial();
    let mut d = Daemon::start_with(&e2e::fake_flink_home(), "");
    d.deploy("foo.yaml", &deployment("foo", "  state: running", &[]));
    d.deploy("bar.yaml", &deployment("bar", "  state: running", &[]));
    d.wait_status("foo", DeploymentState::Running, 30);
    d.wait_status("bar", DeploymentState::Running, 30);
    let id = d.deployment("foo").unwrap().metadata.id.unwrap();
    // In one go: a new file taking foo's id, and an edit of bar.
    let stolen = deployment("baz", "  state: running", &[])
        .replace("  name: baz\n", &format!("  name: baz\n  id: {id}\n"));
    std::fs::write(d.path("deployments/baz.yaml"), stolen).unwrap();
    std::fs::write(
        d.path("deployments/bar.yaml"),
        deployment("bar", "  state: suspended", &[]),
    )
    .unwrap();
    d.wait_status("bar", DeploymentState::Suspended, 30);
    d.wait("the located error", 10, || {
        d.log()
            .contains(&format!(
                "baz.yaml:5:3: metadata.id: {id} is the id of Deployment default/foo"
            ))
            .then_some(())
    });
    assert_eq!(d.status("baz"), None);
    // After a restart, every Deployment is managed still.
    d.stop();
    d.restart();
    d.deploy("foo.yaml", &deployment("foo", "  state: suspended", &[]));
    d.deploy("bar.yaml", &deployment("bar", "  state: running", &[]));
    d.wait_status("foo", DeploymentState::Suspended, 30);
    d.wait_status("bar", DeploymentState::Running, 30);
}

/// F11: a file deleted and quickly re-added never leaves a dead actor behind: its
/// Deployment goes on answering edits (before, `Mailbox has closed`).
#[test]
fn a_file_deleted_and_quickly_readded_goes_on() {
    let _one = e2e::serial();
    let d = Daemon::start_with(&e2e::fake_flink_home(), "");
    let text = |state: &str| deployment("back", &format!("  state: {state}"), &[]);
    d.deploy("back.yaml", &text("suspended"));
    d.wait_status("back", DeploymentState::Suspended, 30);
    for pause in [0u64, 50, 150, 300] {
        std::fs::remove_file(d.path("deployments/back.yaml")).unwrap();
        std::thread::sleep(Duration::from_millis(pause));
        d.deploy("back.yaml", &text("suspended"));
        std::thread::sleep(Duration::from_millis(500));
    }
    d.deploy("back.yaml", &text("running"));
    d.wait_status("back", DeploymentState::Running, 30);
    assert!(!d.log().contains("Mailbox has closed"), "{}", d.log());
    let id_before = d.deployment("back").unwrap().metadata.id;
    d.deploy("back.yaml", &text("cancelled"));
    d.wait_status("back", DeploymentState::Cancelled, 30);
    assert_eq!(
        d.deployment("back").unwrap().metadata.id,
        id_before,
        "the same id"
    );
}

/// Found by the chaos campaign (seed 1): a JobManager that died just before an upgrade
/// made every savepoint attempt fail at once on "no answer", and the Deployment FAILED.
/// A request with no answer now waits for one; the dead JobManager is seen as the lost
/// job it is, and the upgrade goes on with a new job.
#[test]
fn an_upgrade_right_after_the_job_manager_died_goes_on() {
    let _one = e2e::serial();
    let d = Daemon::start_with(&e2e::fake_flink_home(), "poll_interval = \"1s\"");
    d.deploy("u.yaml", &deployment("u", "  state: running", &[]));
    d.wait_status("u", DeploymentState::Running, 30);
    let cluster = &d.cluster_dirs()[0];
    let pid: i32 = std::fs::read_to_string(cluster.join("pid/flink-fake-standalonesession.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    d.deploy(
        "u.yaml",
        &deployment("u", "  state: running", &[("fake.upgraded", "1")]),
    );
    d.wait("a second job running", 30, || {
        (d.jobs("u").len() == 2 && d.status("u") == Some(DeploymentState::Running)).then_some(())
    });
    let names: Vec<String> = d.events("u").into_iter().map(|e| e.name).collect();
    assert!(
        !names.contains(&"TOO_MANY_FAILED_SAVEPOINT_CREATION_ATTEMPTS".to_string()),
        "{names:?}"
    );
}
