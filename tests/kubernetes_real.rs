//! The Kubernetes target on a real cluster (kind, minikube, k3s): the check to run
//! before a release, as the README says. It runs when `FLINKD_TEST_KUBECONFIG` names a
//! kubeconfig, and is skipped, saying so, otherwise (CI has no cluster).
//!
//!   FLINKD_TEST_KUBECONFIG=~/.kube/config cargo test --features test-support \
//!       --test kubernetes_real -- --nocapture
//!
//! Optional: `FLINKD_TEST_NAMESPACE` (default `default`, must exist),
//! `FLINKD_TEST_IMAGE` (default the official `flink:2.3`). The job's savepoints go to
//! a hostPath volume (`/tmp/flinkd-test` on the node): good for a one-node cluster.
//! The example job runs, is suspended with a savepoint, resumed from it, and cancelled;
//! after each stop the cluster's objects and pods are gone.

#![cfg(feature = "test-support")]

mod e2e;

use std::time::Duration;

use e2e::Daemon;
use flinkd::spec::{DeploymentState, SavepointState};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};

fn deployment(state: &str, image: &str) -> String {
    let (registry_repo, tag) = image.rsplit_once(':').unwrap_or((image, "2.3"));
    format!(
        r#"kind: Deployment
apiVersion: v1
metadata:
  name: counter-k8s
spec:
  state: {state}
  deploymentTargetName: cluster
  upgradeStrategy:
    kind: STATEFUL
  restoreStrategy:
    kind: LATEST_SAVEPOINT
  template:
    spec:
      artifact:
        kind: jar
        jarUri: {jar}
        entryClass: flinkd.examples.Counter
        mainArgs: --out /tmp/count
        flinkVersion: "2.3"
        flinkImageRepository: {registry_repo}
        flinkImageTag: "{tag}"
      parallelism: 1
      resources:
        jobManager:
          cpu: 0.5
          memory: 1g
        taskManager:
          cpu: 0.5
          memory: 1g
      flinkConfiguration:
        state.savepoints.dir: file:///flink-data/savepoints
      kubernetes:
        pods:
          volumeMounts:
            - name: data
              volume:
                hostPath:
                  path: /tmp/flinkd-test
                  type: DirectoryOrCreate
              volumeMount:
                mountPath: /flink-data
"#,
        jar = e2e::counter_jar().display(),
    )
}

fn target(namespace: &str) -> String {
    format!("kind: DeploymentTarget\napiVersion: v1\nmetadata:\n  name: cluster\nspec:\n  kubernetes:\n    namespace: {namespace}\n")
}

/// Without a cluster the test's files are still checked: what it would run is valid.
#[test]
fn the_real_cluster_test_s_deployment_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("target.yaml"), target("default")).unwrap();
    std::fs::write(
        dir.path().join("counter.yaml"),
        deployment("running", "flink:2.3"),
    )
    .unwrap();
    let (code, out, err) = e2e::flinkd(&["validate", dir.path().to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn the_example_runs_suspends_resumes_and_cancels_on_a_real_cluster() {
    let Ok(kubeconfig) = std::env::var("FLINKD_TEST_KUBECONFIG") else {
        eprintln!("SKIPPED: FLINKD_TEST_KUBECONFIG is not set (no Kubernetes cluster to run on)");
        return;
    };
    let namespace = std::env::var("FLINKD_TEST_NAMESPACE").unwrap_or_else(|_| "default".into());
    let image = std::env::var("FLINKD_TEST_IMAGE").unwrap_or_else(|_| "flink:2.3".into());
    let d = Daemon::start(&format!(
        "job_start_timeout = \"10m\"\nsavepoint_timeout = \"5m\"\n[kubernetes]\nkubeconfig = \"{kubeconfig}\""
    ));
    d.deploy("target.yaml", &target(&namespace));
    let pods_left = || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let config = kube::Config::from_custom_kubeconfig(
                kube::config::Kubeconfig::read_from(&kubeconfig).unwrap(),
                &Default::default(),
            )
            .await
            .unwrap();
            let pods: Api<Pod> =
                Api::namespaced(kube::Client::try_from(config).unwrap(), &namespace);
            pods.list(&ListParams::default().labels("flinkd.io/deployment-name=counter-k8s"))
                .await
                .map(|l| l.items.len())
                .unwrap_or(usize::MAX)
        })
    };

    d.deploy("counter.yaml", &deployment("running", &image));
    d.wait_status("counter-k8s", DeploymentState::Running, 600);
    assert_eq!(pods_left(), 2, "one JobManager and one TaskManager pod");

    d.deploy("counter.yaml", &deployment("suspended", &image));
    d.wait_status("counter-k8s", DeploymentState::Suspended, 300);
    let completed = d
        .savepoints("counter-k8s")
        .into_iter()
        .find(|s| s.state == SavepointState::Completed)
        .expect("a completed savepoint");
    assert_eq!(pods_left(), 0, "the suspended Deployment's pods are gone");

    d.deploy("counter.yaml", &deployment("running", &image));
    d.wait_status("counter-k8s", DeploymentState::Running, 600);
    assert_eq!(
        d.jobs("counter-k8s")[1].spec.savepoint_location,
        completed.location
    );

    d.deploy("counter.yaml", &deployment("cancelled", &image));
    d.wait_status("counter-k8s", DeploymentState::Cancelled, 300);
    d.wait("the pods to go", 120, || (pods_left() == 0).then_some(()));
    std::thread::sleep(Duration::from_secs(1));
}
