// suite: real-flink (scripts/test.sh runs these apart from the fake-only tests)
//! The external-cluster target (`spec.flink.restUrl`) on real Flink: a session cluster
//! started by hand with Flink's own scripts, which flinkd submits to and never stops.

mod e2e;

use e2e::{counter, read_count, serial, Daemon, SessionCluster};
use flinkd::spec::{DeploymentState, SavepointOrigin};

#[test]
fn a_session_cluster_runs_suspends_resumes_and_cancels_and_outlives_it_all() {
    let _one = serial();
    let tmp = tempfile::tempdir().unwrap();
    let session = SessionCluster::start(&e2e::flink_home(), &tmp.path().join("session"), 2);
    session.wait_ready(120);
    let d = Daemon::start("");
    d.deploy("t.yaml", &e2e::external_target("session", &session.url()));
    let out = d.path("count.txt");
    let spec = "  state: running\n  deploymentTargetName: session";
    d.deploy("c.yaml", &counter("remote", &out, spec, "--rate 20"));
    d.wait_status("remote", DeploymentState::Running, 120);
    d.wait("a count of 10", 60, || {
        read_count(&out).filter(|c| *c >= 10)
    });
    assert!(d.cluster_dirs().is_empty(), "no cluster of flinkd's");
    let job = d.jobs("remote")[0].clone();
    let flink_id = job.status.flink_job_id.clone().unwrap();
    assert_eq!(flink_id, job.metadata.id.simple().to_string());

    // Suspend: a savepoint in the session's own directory, the cluster stays.
    d.deploy(
        "c.yaml",
        &counter(
            "remote",
            &out,
            &spec.replace("running", "suspended"),
            "--rate 20",
        ),
    );
    d.wait_status("remote", DeploymentState::Suspended, 90);
    let at_suspend = read_count(&out).unwrap();
    let sp = d
        .savepoints("remote")
        .into_iter()
        .find(|s| s.origin == SavepointOrigin::Suspend)
        .unwrap();
    let location = sp.location.unwrap();
    assert!(location.contains("session/savepoints"), "{location}");
    let overview = session.url() + "/jobs/" + &flink_id;
    assert_eq!(e2e::get_json(&overview).unwrap()["state"], "FINISHED");

    // Resume: the count carries on from the savepoint on the same cluster.
    d.deploy("c.yaml", &counter("remote", &out, spec, "--rate 20"));
    d.wait_status("remote", DeploymentState::Running, 120);
    let resumed = d.wait("the count to move on", 60, || {
        read_count(&out).filter(|c| *c != at_suspend)
    });
    assert!(
        resumed > at_suspend / 2,
        "restored from the savepoint: {resumed} after {at_suspend}"
    );

    // Cancel: the job ends, the cluster keeps running.
    d.deploy(
        "c.yaml",
        &counter(
            "remote",
            &out,
            &spec.replace("running", "cancelled"),
            "--rate 20",
        ),
    );
    d.wait_status("remote", DeploymentState::Cancelled, 60);
    let second = d.jobs("remote").last().unwrap().clone();
    let url = format!(
        "{}/jobs/{}",
        session.url(),
        second.status.flink_job_id.unwrap()
    );
    assert_eq!(e2e::get_json(&url).unwrap()["state"], "CANCELED");
    assert!(
        session.handle().job_manager_alive(),
        "flinkd stopped nothing"
    );
    let o = e2e::get_json(&format!("{}/overview", session.url())).unwrap();
    assert_eq!(o["taskmanagers"], 1);
    assert_eq!(o["jobs-running"], 0);
    let jars = e2e::get_json(&format!("{}/jars", session.url())).unwrap();
    assert_eq!(
        jars["files"].as_array().unwrap().len(),
        1,
        "one upload for both jobs: {jars}"
    );
}
