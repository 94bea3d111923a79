// suite: real-flink (scripts/test.sh runs these apart from the fake-only tests)
//! The local target against a real Flink distribution (FLINK_HOME_FOR_TESTS, set by
//! scripts/test.sh). One cluster at a time; every cluster is stopped on every path out.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use flinkd::cluster::local::{ClusterPlan, LocalCluster};
use flinkd::flink::{http_client, FlinkClient};
use flinkd::spec::TemplateSpec;

fn flink_home() -> PathBuf {
    let home = std::env::var("FLINK_HOME_FOR_TESTS")
        .expect("FLINK_HOME_FOR_TESTS is not set: run the suite with scripts/test.sh");
    PathBuf::from(home)
}

/// Stops the cluster when the test ends, however it ends.
struct Guard(LocalCluster);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.stop(Duration::from_secs(5));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_starts_registers_its_task_managers_and_stops_without_leftovers() {
    let tmp = tempfile::tempdir().unwrap();
    let home = flink_home();
    let template: TemplateSpec = serde_json::from_value(serde_json::json!({
        "parallelism": 2,
        "numberOfTaskManagers": 2,
        "resources": {"jobManager": {"memory": "1g"}, "taskManager": {"memory": "1g"}}
    }))
    .unwrap();
    let template = flinkd::expanded::builtin_template(&template, "2.3");
    let cluster = LocalCluster::prepare(&ClusterPlan {
        dir: tmp.path().join("clusters/test"),
        flink_home: &home,
        template: &template,
        savepoints_dir: tmp.path().join("sp"),
        checkpoints_dir: tmp.path().join("chk"),
        work_dir: tmp.path().join("work"),
    })
    .unwrap();
    let guard = Guard(cluster.clone());
    let started = Instant::now();
    tokio::task::spawn_blocking({
        let c = cluster.clone();
        move || c.start()
    })
    .await
    .unwrap()
    .unwrap();
    let client = FlinkClient::new(http_client(Duration::from_secs(2)), cluster.rest_url());
    let overview = loop {
        match client.overview().await {
            Ok(o) if o.taskmanagers == 2 && o.slots_total == 2 => break o,
            _ if started.elapsed() > Duration::from_secs(90) => {
                panic!("not ready after 90s:\n{}", cluster.log_tail(30))
            }
            _ => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    };
    println!("cluster ready in {:?}", started.elapsed());
    assert_eq!(overview.slots_total, 2);
    assert!(overview.flink_version.starts_with("2."), "{overview:?}");
    let pids = cluster.live_pids();
    assert_eq!(
        pids.len(),
        3,
        "one JobManager and two TaskManagers: {pids:?}"
    );
    assert!(cluster.job_manager_alive());

    cluster.stop(Duration::from_secs(10)).unwrap();
    assert!(cluster.live_pids().is_empty());
    for p in pids {
        assert!(
            !std::path::Path::new(&format!("/proc/{p}")).exists() || {
                let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
                stat.contains(") Z")
            },
            "process {p} is still running"
        );
    }
    assert!(client.overview().await.is_err(), "REST is gone too");
    drop(guard);
}
