// suite: real-flink (scripts/test.sh runs these apart from the fake-only tests)
//! A local user takes the REST port of a cluster flinkd starts on real Flink, between
//! the moment flinkd chose it and the moment the JobManager binds it, and answers as
//! Flink would. flinkd asks the answering JobManager for the cluster's identity,
//! refuses it (no jar uploaded, nothing believed), and starts a new cluster.

#![cfg(feature = "test-support")]

mod e2e;

use std::time::{Duration, Instant};

use e2e::{counter, read_count, serial, Daemon, FakeServer};
use flinkd::spec::DeploymentState;

#[test]
fn a_squatter_on_the_rest_port_gets_no_jar_and_the_job_runs_elsewhere() {
    let _one = serial();
    let d = Daemon::start("");
    let out = d.path("count.txt");
    d.deploy(
        "c.yaml",
        &counter("squatted", &out, "  state: running", "--rate 20"),
    );
    // The first cluster's config, as soon as flinkd writes it: its REST port.
    let until = Instant::now() + Duration::from_secs(60);
    let port = loop {
        let port = d.cluster_dirs().into_iter().find_map(|c| {
            let text = std::fs::read_to_string(c.join("conf/config.yaml")).ok()?;
            let line = text.lines().find(|l| l.starts_with("rest.port: "))?;
            Some(line["rest.port: ".len()..].trim_matches('"').to_string())
        });
        if let Some(p) = port {
            break p;
        }
        assert!(Instant::now() < until, "no cluster config written");
        std::thread::sleep(Duration::from_millis(5));
    };
    let squatter = FakeServer::start_on(&port, &[]);

    d.wait_status("squatted", DeploymentState::Running, 180);
    d.wait("the count to grow", 60, || {
        read_count(&out).filter(|c| *c >= 10)
    });
    assert_eq!(
        squatter.stats()["uploads"],
        0,
        "a jar reached the squatter: {}",
        squatter.stats()
    );
    let refused: Vec<String> = d
        .events("squatted")
        .into_iter()
        .filter(|e| e.name == "JOB_CREATION_FAILED")
        .map(|e| e.message)
        .collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(
        refused[0].contains(&format!(
            "the process answering on http://127.0.0.1:{port} is not the JobManager flinkd started"
        )),
        "{}",
        refused[0]
    );
    assert_eq!(d.jobs("squatted").len(), 2, "the second attempt runs");
    assert!(squatter.jobs().is_empty());
}
