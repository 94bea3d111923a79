// suite: real-flink (scripts/test.sh runs these apart from the fake-only tests)
//! An imported savepoint on real Flink: one Deployment's job is suspended, its
//! savepoint handed to a second Deployment by a `kind: Savepoint` file, and the second
//! one's job goes on counting from where the first stopped.

mod e2e;

use e2e::{counter, read_count, serial, Daemon};
use flinkd::spec::{DeploymentState, SavepointOrigin, SavepointState};

#[test]
fn a_savepoint_imported_into_another_deployment_resumes_the_count() {
    let _one = serial();
    let d = Daemon::start("");
    let spec =
        |state: &str| format!("  state: {state}\n  restoreStrategy:\n    kind: latest_savepoint");
    let first_out = d.path("first.txt");
    d.deploy(
        "first.yaml",
        &counter("first", &first_out, &spec("running"), "--rate 20"),
    );
    d.wait_status("first", DeploymentState::Running, 120);
    d.wait("a count of 10", 60, || {
        read_count(&first_out).filter(|c| *c >= 10)
    });
    d.deploy(
        "first.yaml",
        &counter("first", &first_out, &spec("suspended"), "--rate 20"),
    );
    d.wait_status("first", DeploymentState::Suspended, 60);
    let at_suspend = read_count(&first_out).unwrap();
    // The suspension's savepoint (a retained checkpoint may be on record too).
    let location = d
        .savepoints("first")
        .into_iter()
        .find(|s| s.origin == SavepointOrigin::Suspend)
        .and_then(|s| s.location)
        .expect("the suspension's savepoint");

    // The Savepoint file first, then the Deployment it names: its first job restores.
    d.deploy(
        "moved.yaml",
        &format!(
            "kind: Savepoint\napiVersion: v1\nmetadata:\n  deploymentName: second\nspec:\n  savepointLocation: {location}\n"
        ),
    );
    let second_out = d.path("second.txt");
    d.deploy(
        "second.yaml",
        &counter("second", &second_out, &spec("running"), "--rate 20"),
    );
    d.wait_status("second", DeploymentState::Running, 120);
    let sps = d.savepoints("second");
    assert_eq!(sps.len(), 1, "{sps:?}");
    assert_eq!(
        (sps[0].origin, sps[0].state, sps[0].location.as_deref()),
        (
            SavepointOrigin::Imported,
            SavepointState::Completed,
            Some(location.as_str())
        )
    );
    assert_eq!(
        d.jobs("second")[0].spec.restore_savepoint_id,
        Some(sps[0].metadata.id)
    );
    let resumed = d.wait("the second Deployment to count", 60, || {
        read_count(&second_out)
    });
    // Its cluster's Flink web UI, through flinkd: the REST API and the dashboard's page.
    let overview = e2e::get_json(&format!("{}/flink/default/second/overview", d.api))
        .expect("the cluster's /overview through the proxy");
    assert_eq!(overview["taskmanagers"], 1, "{overview}");
    assert!(
        overview["flink-version"]
            .as_str()
            .is_some_and(|v| v.starts_with("2.")),
        "{overview}"
    );
    let page = page_of(&format!("{}/flink/default/second/", d.api));
    // Its logs: the JobManager's, a TaskManager's, and followed as they grow.
    let (code, jm, err) = d.cli(&["logs", "second"]);
    assert_eq!(code, 0, "{err}");
    // The JobManager's log (the TaskManager has no dispatcher); its start-up banner may
    // be before the piece shown.
    assert!(
        jm.contains("StandaloneSessionClusterEntrypoint") || jm.contains("DispatcherRestEndpoint"),
        "{jm}"
    );
    let (code, tm, err) = d.cli(&["logs", "second", "--taskmanager", "0"]);
    assert_eq!(code, 0, "{err}");
    assert!(tm.contains("TaskExecutor"), "{tm}");
    let followed = d.path("followed.log");
    let mut follower = std::process::Command::new(env!("CARGO_BIN_EXE_flinkd"))
        .args(["logs", "second", "-f", "--server", &d.api])
        .stdout(std::fs::File::create(&followed).unwrap())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert!(follower.try_wait().unwrap().is_none(), "-f keeps following");
    let _ = follower.kill();
    let _ = follower.wait();
    let text = std::fs::read_to_string(&followed).unwrap();
    assert!(
        text.contains("StandaloneSessionClusterEntrypoint")
            || text.contains("DispatcherRestEndpoint"),
        "{text}"
    );
    assert!(
        page.contains("<html") && page.to_lowercase().contains("flink"),
        "{page}"
    );
    assert!(
        resumed > at_suspend,
        "count {resumed} in the second Deployment, from a savepoint taken at {at_suspend}"
    );
    d.deploy(
        "second.yaml",
        &counter("second", &second_out, "  state: cancelled", "--rate 20"),
    );
    d.wait_status("second", DeploymentState::Cancelled, 60);
    assert!(d.live_cluster_pids().is_empty());
}

/// `GET url` as text.
fn page_of(url: &str) -> String {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async { reqwest::get(url).await.unwrap().text().await.unwrap() })
}
