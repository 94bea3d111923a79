//! The external-cluster target (`spec.flink.restUrl`) against a standalone fake Flink
//! session cluster: no cluster started or stopped, the jar uploaded once per content,
//! jobs adopted (never submitted again) across a restart of flinkd. The same target on
//! real Flink is in tests/e2e_local_cluster.rs.

#![cfg(feature = "test-support")]

mod e2e;

use e2e::{Daemon, FakeServer};
use flinkd::spec::{DeploymentState, JobState};

fn deployment(name: &str, state: &str, target: &str) -> String {
    format!(
        "kind: Deployment\napiVersion: v1\nmetadata:\n  name: {name}\nspec:\n  state: {state}\n  deploymentTargetName: {target}\n  template:\n    spec:\n      artifact:\n        jarUri: {jar}\n        entryClass: org.example.Job\n        mainArgs: --name {name}\n",
        jar = e2e::fake_jar().display(),
    )
}

fn jobs_named(server: &FakeServer, name: &str) -> Vec<serde_json::Value> {
    server
        .jobs()
        .into_iter()
        .filter(|j| j["args"][1] == name)
        .collect()
}

#[test]
fn jobs_on_an_existing_cluster_share_one_upload_and_survive_a_restart() {
    let _one = e2e::serial();
    let server = FakeServer::start(&[]);
    let mut d = Daemon::start_with(&e2e::fake_flink_home(), "");
    d.deploy("target.yaml", &e2e::external_target("session", &server.url));
    let names = ["ext-a", "ext-b", "ext-c"];
    for n in names {
        d.deploy(&format!("{n}.yaml"), &deployment(n, "running", "session"));
    }
    for n in names {
        d.wait_status(n, DeploymentState::Running, 30);
    }
    // One upload for three Deployments running the same bytes; no cluster of flinkd's.
    assert_eq!(server.stats()["uploads"], 1, "{}", server.stats());
    assert_eq!(server.stats()["jobs"], 3);
    assert!(d.cluster_dirs().is_empty(), "{:?}", d.cluster_dirs());
    // Each job has the id flinkd gave it, recorded before its submission.
    for n in names {
        let job = &d.jobs(n)[0];
        let fake = jobs_named(&server, n);
        assert_eq!(fake.len(), 1, "{fake:?}");
        assert_eq!(
            fake[0]["jid"],
            job.status.flink_job_id.clone().unwrap().as_str()
        );
        assert_eq!(fake[0]["jid"], job.metadata.id.simple().to_string());
    }

    // A restart adopts the jobs: nothing is submitted or uploaded again. A new job's
    // jar is uploaded once more: one found on the cluster by its name alone is not
    // trusted to hold its content (anyone can upload a jar so named).
    d.stop();
    d.restart();
    d.deploy("ext-d.yaml", &deployment("ext-d", "running", "session"));
    d.wait_status("ext-d", DeploymentState::Running, 30);
    d.deploy("ext-e.yaml", &deployment("ext-e", "running", "session"));
    d.wait_status("ext-e", DeploymentState::Running, 30);
    assert_eq!(server.stats()["jobs"], 5, "{}", d.log());
    assert_eq!(
        server.stats()["uploads"],
        2,
        "uploaded again once after the restart, then shared"
    );
    assert!(
        d.log().contains("adopting the running cluster"),
        "{}",
        d.log()
    );

    // Suspend: stop with a savepoint; the cluster stays up, the job FINISHED.
    d.deploy("ext-a.yaml", &deployment("ext-a", "suspended", "session"));
    d.wait_status("ext-a", DeploymentState::Suspended, 30);
    assert_eq!(jobs_named(&server, "ext-a")[0]["state"], "FINISHED");
    assert_eq!(d.savepoints("ext-a").len(), 1);
    // Resume: a new job from that savepoint, on the same cluster.
    d.deploy("ext-a.yaml", &deployment("ext-a", "running", "session"));
    d.wait_status("ext-a", DeploymentState::Running, 30);
    assert_eq!(jobs_named(&server, "ext-a").len(), 2);
    // Cancel: the job is cancelled, the cluster keeps serving the others.
    d.deploy("ext-b.yaml", &deployment("ext-b", "cancelled", "session"));
    d.wait_status("ext-b", DeploymentState::Cancelled, 30);
    assert_eq!(jobs_named(&server, "ext-b")[0]["state"], "CANCELED");
    assert_eq!(jobs_named(&server, "ext-c")[0]["state"], "RUNNING");
    assert!(server.get("/overview").is_some());
    assert!(d.cluster_dirs().is_empty());
}

#[test]
fn a_job_the_cluster_lost_is_started_again() {
    let _one = e2e::serial();
    let first = FakeServer::start(&[]);
    let d = Daemon::start_with(&e2e::fake_flink_home(), "");
    d.deploy("target.yaml", &e2e::external_target("session", &first.url));
    d.deploy("x.yaml", &deployment("lost", "running", "session"));
    d.wait_status("lost", DeploymentState::Running, 30);
    let url = first.url.clone();
    // The session cluster restarts empty on the same address (no HA): the job is gone.
    drop(first);
    let port = url.rsplit(':').next().unwrap().to_string();
    let second = FakeServer::start_on(&port, &[]);
    d.wait("a new job on the restarted cluster", 60, || {
        (jobs_named(&second, "lost").len() == 1
            && d.status("lost") == Some(DeploymentState::Running))
        .then_some(())
    });
    let jobs = d.jobs("lost");
    assert_eq!(jobs.len(), 2, "{jobs:?}");
    assert_eq!(jobs[0].status.state, JobState::Failed);
    let lost = d
        .events("lost")
        .iter()
        .any(|e| e.message.contains("does not know the job"));
    assert!(lost, "{:?}", d.events("lost"));
    // The jar was uploaded again: the restarted cluster did not have it.
    assert_eq!(second.stats()["uploads"], 1);
}

#[test]
fn moving_a_deployment_to_another_cluster_upgrades_it() {
    let _one = e2e::serial();
    let one = FakeServer::start(&[]);
    let two = FakeServer::start(&[]);
    let d = Daemon::start_with(&e2e::fake_flink_home(), "");
    d.deploy("t1.yaml", &e2e::external_target("one", &one.url));
    d.deploy("t2.yaml", &e2e::external_target("two", &two.url));
    d.deploy("m.yaml", &deployment("mover", "running", "one"));
    d.wait_status("mover", DeploymentState::Running, 30);
    d.deploy("m.yaml", &deployment("mover", "running", "two"));
    d.wait("the job on the second cluster", 30, || {
        (jobs_named(&two, "mover").len() == 1
            && d.status("mover") == Some(DeploymentState::Running))
        .then_some(())
    });
    // A STATEFUL upgrade: stopped with a savepoint on the first, restored on the second.
    assert_eq!(jobs_named(&one, "mover")[0]["state"], "FINISHED");
    assert_eq!(d.savepoints("mover").len(), 1);
    // Changing the target file's address moves it too.
    let three = FakeServer::start(&[]);
    d.deploy("t2.yaml", &e2e::external_target("two", &three.url));
    d.wait("the job on the third cluster", 30, || {
        (jobs_named(&three, "mover").len() == 1
            && d.status("mover") == Some(DeploymentState::Running))
        .then_some(())
    });
    assert_eq!(jobs_named(&two, "mover")[0]["state"], "FINISHED");
}

/// Start-up does not wait for the slowest: a Deployment whose jar never arrives holds
/// up no other.
#[test]
fn a_jar_that_never_arrives_holds_up_no_one_else() {
    let _one = e2e::serial();
    let server = FakeServer::start(&[]);
    // Takes connections, never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let slow_jar = format!("http://{}/job.jar", silent.local_addr().unwrap());
    // An http:// jar, allowed for this one (a server of the test's own).
    let d = Daemon::start_env(
        &e2e::fake_flink_home(),
        "",
        &[("FLINKD_JARS__ALLOW_HTTP", "true")],
    );
    d.deploy("target.yaml", &e2e::external_target("session", &server.url));
    d.deploy(
        "a-slow.yaml",
        &deployment("slow", "running", "session")
            .replace(&e2e::fake_jar().display().to_string(), &slow_jar),
    );
    for n in ["quick-1", "quick-2"] {
        d.deploy(&format!("{n}.yaml"), &deployment(n, "running", "session"));
    }
    let began = std::time::Instant::now();
    d.wait_status("quick-1", DeploymentState::Running, 8);
    d.wait_status("quick-2", DeploymentState::Running, 8);
    assert!(began.elapsed() < std::time::Duration::from_secs(8));
    assert_eq!(d.status("slow"), Some(DeploymentState::Transitioning));
    assert!(jobs_named(&server, "slow").is_empty());
}

/// The fake server's own knobs, as tests and benchmarks use them: every answer late by
/// `--latency-ms`, faults by `--set`.
#[test]
fn the_fake_server_answers_late_and_rejects_when_told() {
    let _one = e2e::serial();
    let server = FakeServer::start(&[
        "--latency-ms",
        "300",
        "--set",
        "fake.run.reject=no slots left on the session cluster",
    ]);
    let t = std::time::Instant::now();
    assert!(server.get("/overview").is_some());
    assert!(t.elapsed() >= std::time::Duration::from_millis(300));
    let d = Daemon::start_with(&e2e::fake_flink_home(), "");
    d.deploy("target.yaml", &e2e::external_target("session", &server.url));
    d.deploy("r.yaml", &deployment("rejected", "running", "session"));
    let failed = d.wait("a failed submission", 30, || {
        d.events("rejected")
            .into_iter()
            .find(|e| e.name == "JOB_CREATION_FAILED")
    });
    assert!(
        failed
            .message
            .contains("no slots left on the session cluster"),
        "{}",
        failed.message
    );
    assert!(server.stats()["requests"].as_u64().unwrap() >= 3);
}
