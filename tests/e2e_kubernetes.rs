//! The Kubernetes target against the stand-in API server (src/bin/fake_kube.rs), the
//! real `flinkd run` driving it through kube-rs: clusters as objects, the lifecycle
//! through the service proxy (a fake Flink behind it), pod trouble in conditions and
//! events, adoption after a restart, the sweep of orphans, API faults and an API server
//! that does not answer. The same on a real cluster: tests/kubernetes_real.rs.

#![cfg(feature = "test-support")]

mod e2e;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use e2e::{free_port, get_json, Daemon};
use flinkd::spec::{ConditionStatus, ConditionType, DeploymentState, JobState};
use serde_json::Value;

/// The stand-in API server, killed on drop (its fake Flinks die with it).
struct FakeKube {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

impl FakeKube {
    fn start() -> FakeKube {
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_fake-kube"))
            .args(["--port", &port.to_string(), "--kubeconfig-out"])
            .arg(&kubeconfig)
            .args(["--fake-flink", env!("CARGO_BIN_EXE_fake-flink")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let kube = FakeKube {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _dir: dir,
            kubeconfig,
        };
        let until = Instant::now() + Duration::from_secs(10);
        while get_json(&format!("{}/fake/objects", kube.url)).is_none() {
            assert!(Instant::now() < until, "the fake API server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        kube
    }

    /// The daemon's config for it: `[kubernetes]` after the test's `[timing]`.
    fn config(&self, timing: &str) -> String {
        format!(
            "{timing}\n[kubernetes]\nkubeconfig = \"{}\"\napi_timeout = \"2s\"",
            self.kubeconfig.display()
        )
    }

    /// A request to the fake API server; its status, if it answered.
    fn send(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> Option<u16> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut req = reqwest::Client::new().request(method, format!("{}{path}", self.url));
        if let Some(body) = body {
            req = req.json(body);
        }
        rt.block_on(async { req.send().await.map(|r| r.status().as_u16()).ok() })
    }

    fn post(&self, path: &str) {
        let status = self.send(reqwest::Method::POST, path, None);
        assert!(
            status.is_some_and(|s| (200..300).contains(&s)),
            "POST {path}"
        );
    }

    fn create(&self, path: &str, body: &Value) {
        let status = self.send(reqwest::Method::POST, path, Some(body));
        assert_eq!(status, Some(201), "create at {path}");
    }

    fn delete(&self, path: &str) {
        let status = self.send(reqwest::Method::DELETE, path, None);
        assert!(
            status.is_some_and(|s| (200..300).contains(&s)),
            "DELETE {path}"
        );
    }

    /// Every object: `kind` (plural), `namespace`, `name`, `labels`, `ownerReferences`.
    fn objects(&self) -> Vec<Value> {
        get_json(&format!("{}/fake/objects", self.url))
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
    }

    fn of_job(&self, job: uuid::Uuid) -> Vec<Value> {
        self.objects()
            .into_iter()
            .filter(|o| o["labels"]["flinkd.io/job-id"] == job.to_string().as_str())
            .collect()
    }

    /// What the fake Flink behind a cluster's Service says (through the proxy).
    fn flink(&self, ns: &str, service: &str, path: &str) -> Option<Value> {
        get_json(&format!(
            "{}/api/v1/namespaces/{ns}/services/{service}:rest/proxy{path}",
            self.url
        ))
    }
}

impl Drop for FakeKube {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const TARGET: &str = "kind: DeploymentTarget\napiVersion: v1\nmetadata:\n  name: k8s\nspec:\n  kubernetes:\n    namespace: team\n";

fn deployment(name: &str, state: &str, args: &str, extra: &str) -> String {
    format!(
        "kind: Deployment\napiVersion: v1\nmetadata:\n  name: {name}\nspec:\n  state: {state}\n  deploymentTargetName: k8s\n  upgradeStrategy:\n    kind: STATEFUL\n  restoreStrategy:\n    kind: LATEST_SAVEPOINT\n  template:\n    spec:\n      artifact:\n        jarUri: {jar}\n        entryClass: org.example.Job\n        mainArgs: --name {name} {args}\n      flinkConfiguration:\n        state.savepoints.dir: s3://flink/savepoints/{name}\n{extra}",
        jar = e2e::fake_jar().display(),
    )
}

fn start(kube: &FakeKube, timing: &str) -> Daemon {
    let d = Daemon::start_with(&e2e::fake_flink_home(), &kube.config(timing));
    d.deploy("target.yaml", TARGET);
    d
}

fn service_of(d: &Daemon, name: &str, job: usize) -> String {
    let id = d.jobs(name)[job].metadata.id;
    format!(
        "{}-jobmanager",
        flinkd::cluster::kubernetes::base_name(name, id)
    )
}

fn condition(d: &Daemon, name: &str, kind: ConditionType) -> Option<flinkd::spec::Condition> {
    d.deployment(name)?
        .status?
        .running?
        .conditions
        .into_iter()
        .find(|c| c.kind == kind)
}

fn event_with(d: &Daemon, name: &str, event: &str, text: &str) -> Option<String> {
    d.events(name)
        .into_iter()
        .find(|e| e.name == event && e.message.contains(text))
        .map(|e| e.message)
}

#[test]
fn a_deployment_runs_suspends_resumes_upgrades_and_cancels_on_kubernetes() {
    let kube = FakeKube::start();
    let d = start(&kube, "");
    d.deploy("counter.yaml", &deployment("counter", "running", "", ""));
    d.wait_status("counter", DeploymentState::Running, 60);

    // Four objects, labelled as flinkd's, the others owned by the JobManager's
    // Deployment, and the pods of one JobManager and one TaskManager.
    let first = d.jobs("counter")[0].metadata.id;
    let objects = kube.of_job(first);
    let kinds = |k: &str| objects.iter().filter(|o| o["kind"] == k).count();
    assert_eq!(
        (
            kinds("deployments"),
            kinds("services"),
            kinds("configmaps"),
            kinds("pods")
        ),
        (2, 1, 1, 2),
        "{objects:#?}"
    );
    let service = service_of(&d, "counter", 0);
    for o in &objects {
        assert_eq!(o["namespace"], "team");
        assert_eq!(o["labels"]["app.kubernetes.io/managed-by"], "flinkd");
        let owned = o["kind"] == "deployments" && o["name"] != service.as_str();
        if owned || o["kind"] == "services" || o["kind"] == "configmaps" {
            assert_eq!(o["ownerReferences"][0]["name"], service.as_str(), "{o}");
        }
    }
    // The job runs under the id flinkd recorded, submitted through the service proxy.
    let jobs = kube.flink("team", &service, "/fake/jobs").unwrap();
    assert_eq!(jobs["jobs"][0]["jid"], first.simple().to_string().as_str());
    assert_eq!(jobs["jobs"][0]["state"], "RUNNING");

    // Suspend: a savepoint, then the cluster removed, verified gone.
    d.deploy("counter.yaml", &deployment("counter", "suspended", "", ""));
    d.wait_status("counter", DeploymentState::Suspended, 60);
    assert!(kube.of_job(first).is_empty(), "{:#?}", kube.of_job(first));
    let savepoint = d
        .savepoints("counter")
        .into_iter()
        .find(|s| s.state == flinkd::spec::SavepointState::Completed)
        .expect("a completed savepoint");
    let location = savepoint.location.clone().unwrap();
    assert!(event_with(&d, "counter", "CLUSTER_TORN_DOWN", "").is_some());

    // Resume: a new cluster, the job restored from that savepoint.
    d.deploy("counter.yaml", &deployment("counter", "running", "", ""));
    d.wait_status("counter", DeploymentState::Running, 60);
    let second = &d.jobs("counter")[1];
    assert_eq!(
        second.spec.savepoint_location.as_deref(),
        Some(location.as_str()),
        "{second:?}"
    );
    assert_eq!(kube.of_job(second.metadata.id).len(), 6);

    // A STATEFUL upgrade: stop with a savepoint, the old cluster gone before the new
    // one is made, the new job restored from it.
    d.deploy(
        "counter.yaml",
        &deployment("counter", "running", "--v 2", ""),
    );
    d.wait("the upgraded job", 60, || {
        let jobs = d.jobs("counter");
        (jobs.len() == 3 && jobs[2].status.state == JobState::Started).then_some(())
    });
    let jobs = d.jobs("counter");
    assert!(kube.of_job(jobs[1].metadata.id).is_empty());
    assert!(jobs[2].spec.savepoint_location.is_some(), "{:?}", jobs[2]);

    // Cancel: the job cancelled, its cluster removed.
    d.deploy(
        "counter.yaml",
        &deployment("counter", "cancelled", "--v 2", ""),
    );
    d.wait_status("counter", DeploymentState::Cancelled, 60);
    d.wait("the last cluster to go", 30, || {
        kube.of_job(jobs[2].metadata.id).is_empty().then_some(())
    });
    assert!(kube.objects().is_empty(), "{:#?}", kube.objects());
    // Never two JobManagers of one Deployment at once, pods included.
    let peak = get_json(&format!("{}/fake/peak", kube.url)).unwrap();
    let peaks = peak.as_object().expect("peaks").values();
    assert!(
        peaks.len() == 1 && peak.as_object().unwrap().values().all(|n| n == 1),
        "{peak}"
    );
}

#[test]
fn a_restart_during_a_suspend_before_the_api_answers_keeps_the_savepoint() {
    let kube = FakeKube::start();
    let mut d = start(&kube, "");
    let slow = "        fake.savepoint.delay-ms: \"6000\"\n";
    d.deploy("slow.yaml", &deployment("slow", "running", "", slow));
    d.wait_status("slow", DeploymentState::Running, 60);
    d.deploy("slow.yaml", &deployment("slow", "suspended", "", slow));
    let asked = d.wait("the savepoint under way", 30, || {
        d.savepoints("slow")
            .into_iter()
            .find(|s| s.state != flinkd::spec::SavepointState::Completed && s.trigger_id.is_some())
    });
    d.stop();
    // The daemon comes back without its kubeconfig: what it asks of Flink waits for
    // the API instead of being taken as failed.
    let away = kube.kubeconfig.with_extension("away");
    std::fs::rename(&kube.kubeconfig, &away).unwrap();
    d.restart();
    std::thread::sleep(Duration::from_secs(3));
    std::fs::rename(&away, &kube.kubeconfig).unwrap();
    d.wait_status("slow", DeploymentState::Suspended, 90);
    let savepoints = d.savepoints("slow");
    let kept = savepoints
        .iter()
        .find(|s| s.metadata.id == asked.metadata.id)
        .expect("the savepoint asked for");
    assert_eq!(
        kept.state,
        flinkd::spec::SavepointState::Completed,
        "{savepoints:#?}"
    );
    assert!(kept.location.is_some(), "{kept:?}");
    assert!(kube.objects().is_empty(), "{:#?}", kube.objects());
}

#[test]
fn pod_trouble_shows_with_kubernetes_reason_and_the_exit_code() {
    let kube = FakeKube::start();
    kube.post("/fake/pods?component=jobmanager&mode=crashloop");
    let d = start(&kube, "job_start_timeout = \"4s\"\nretry_interval = \"1s\"");
    d.deploy("looping.yaml", &deployment("looping", "running", "", ""));
    // While the JobManager crash-loops: the condition, one event, and the failed
    // start says why.
    let message = d.wait("the pods' trouble", 30, || {
        event_with(&d, "looping", "CLUSTER_PODS_FAILING", "CrashLoopBackOff")
    });
    assert!(message.contains("JobManager pod"), "{message}");
    assert!(message.contains("exit code 1 (Error)"), "{message}");
    let failed = d.wait("the start to fail", 30, || {
        event_with(
            &d,
            "looping",
            "JOB_CREATION_FAILED",
            "its pods: CrashLoopBackOff",
        )
    });
    assert!(failed.contains("timing.job_start_timeout"), "{failed}");
    // The pods run again: the next attempt starts the job.
    kube.post("/fake/pods?component=jobmanager&mode=running");
    d.wait_status("looping", DeploymentState::Running, 60);
    // A TaskManager killed for memory while the job runs.
    kube.post("/fake/pods?component=taskmanager&mode=oom");
    let c = d.wait("ClusterPodsFailing", 30, || {
        condition(&d, "looping", ConditionType::ClusterPodsFailing)
            .filter(|c| c.status == ConditionStatus::True)
    });
    assert_eq!(c.reason, "OOMKilled");
    assert!(c.message.contains("TaskManager pod"), "{}", c.message);
    assert!(
        c.message.contains("exit code 137 (OOMKilled)"),
        "{}",
        c.message
    );
    let events = d.events("looping");
    let oom = events
        .iter()
        .filter(|e| e.name == "CLUSTER_PODS_FAILING" && e.message.starts_with("OOMKilled"))
        .count();
    assert_eq!(oom, 1, "one event for the trouble, not one per poll");
    kube.post("/fake/pods?component=taskmanager&mode=running");
    d.wait("the condition to clear", 30, || {
        condition(&d, "looping", ConditionType::ClusterPodsFailing)
            .filter(|c| c.status == ConditionStatus::False)
    });
}

#[test]
fn a_restart_adopts_its_clusters_and_sweeps_an_orphan() {
    let kube = FakeKube::start();
    let mut d = start(&kube, "");
    d.deploy("kept.yaml", &deployment("kept", "running", "", ""));
    d.wait_status("kept", DeploymentState::Running, 60);
    let job = d.jobs("kept")[0].metadata.id;
    let service = service_of(&d, "kept", 0);
    let submitted = kube.flink("team", &service, "/fake/stats").unwrap()["jobs"].clone();
    let labels = kube.of_job(job)[0]["labels"].clone();
    d.stop();

    // An orphan: objects labelled as this flinkd's, of a job it has no cluster for.
    let orphan = uuid::Uuid::new_v4();
    let mut orphan_labels = labels.clone();
    orphan_labels["flinkd.io/job-id"] = Value::from(orphan.to_string());
    let deployment_object = serde_json::json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "flink-kept-orphan-jobmanager", "labels": orphan_labels},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"flinkd.io/job-id": orphan.to_string()}},
            "template": {"metadata": {"labels": orphan_labels}, "spec": {"containers": []}}},
    });
    kube.create(
        "/apis/apps/v1/namespaces/team/deployments",
        &deployment_object,
    );
    let config_map = serde_json::json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "flink-kept-orphan-config", "labels": orphan_labels},
    });
    kube.create("/api/v1/namespaces/team/configmaps", &config_map);
    // Another flinkd's object (its own instance and job) is not touched.
    let other = uuid::Uuid::new_v4();
    let mut foreign = orphan_labels.clone();
    foreign["flinkd.io/instance"] = Value::from("another");
    foreign["flinkd.io/job-id"] = Value::from(other.to_string());
    kube.create(
        "/api/v1/namespaces/team/configmaps",
        &serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "another-flinkd-s", "labels": foreign}}),
    );

    // The daemon comes back while its kubeconfig is not there: it adopts the job when
    // it can reach the API again.
    let away = kube.kubeconfig.with_extension("away");
    std::fs::rename(&kube.kubeconfig, &away).unwrap();
    d.restart();
    std::thread::sleep(Duration::from_secs(3));
    let proxied = || {
        get_json(&format!("{}/fake/calls", kube.url))
            .and_then(|c| c["proxy services"].as_u64())
            .unwrap_or(0)
    };
    let before = proxied();
    std::fs::rename(&away, &kube.kubeconfig).unwrap();
    d.wait("the adopted job to be polled", 30, || {
        (proxied() > before + 2).then_some(())
    });
    d.wait("the orphan to be swept", 30, || {
        kube.of_job(orphan).is_empty().then_some(())
    });
    assert_eq!(
        kube.of_job(other).len(),
        1,
        "the other flinkd's object stays"
    );
    let swept = d.wait("the sweep's event", 30, || {
        event_with(&d, "kept", "ORPHANED_CLUSTER_REMOVED", &orphan.to_string())
    });
    assert!(swept.contains("namespace `team`"), "{swept}");
    // The running job was adopted: no new job, no new submission, its cluster intact.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(d.jobs("kept").len(), 1);
    assert_eq!(d.status("kept"), Some(DeploymentState::Running));
    assert_eq!(
        kube.flink("team", &service, "/fake/stats").unwrap()["jobs"],
        submitted
    );
    assert_eq!(kube.of_job(job).len(), 6);
}

#[test]
fn an_api_server_that_does_not_answer_is_unreachable_and_faults_are_retried() {
    let kube = FakeKube::start();
    // The first JobManager Deployment meets a 500 (the start fails and is tried
    // again), its Service a 409 for an object that is not there (created anyway).
    kube.post("/fake/fault?verb=create&kind=deployments&code=500&times=1");
    kube.post("/fake/fault?verb=create&kind=services&code=409&times=1");
    let d = start(&kube, "retry_interval = \"1s\"");
    d.deploy("steady.yaml", &deployment("steady", "running", "", ""));
    d.wait_status("steady", DeploymentState::Running, 60);
    let failed = event_with(&d, "steady", "JOB_CREATION_FAILED", "500").expect("the 500");
    assert!(
        failed.contains("creating the cluster's objects"),
        "{failed}"
    );
    let jobs = d.jobs("steady");
    let running = jobs.last().unwrap().metadata.id;
    // A failed start's cluster is removed like any other.
    for j in &jobs[..jobs.len() - 1] {
        assert!(kube.of_job(j.metadata.id).is_empty());
    }
    // A pod list that never answers (the API server's timeout) and the API server's
    // own 404s on the way to Flink (not Flink's "no such job") change nothing.
    kube.post("/fake/fault?verb=list&kind=pods&code=hang&times=1");
    kube.post("/fake/fault?verb=proxy&kind=services&code=404&times=2");
    d.wait("the injected faults to be met", 30, || {
        let faults = get_json(&format!("{}/fake/faults", kube.url))?;
        (faults["pending"] == 0).then_some(())
    });
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(d.status("steady"), Some(DeploymentState::Running));
    assert_eq!(d.jobs("steady").last().unwrap().metadata.id, running);

    // Down: the job's cluster is unreachable, not gone; nothing is started or stopped.
    kube.post("/fake/down");
    d.wait("ClusterUnreachable", 30, || {
        condition(&d, "steady", ConditionType::ClusterUnreachable)
            .filter(|c| c.status == ConditionStatus::True)
    });
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(d.status("steady"), Some(DeploymentState::Running));
    assert_eq!(d.jobs("steady").last().unwrap().metadata.id, running);
    assert!(d
        .events("steady")
        .iter()
        .all(|e| e.name != "JOB_FAILED" && e.name != "CLUSTER_TORN_DOWN"
            || e.job_id != Some(running)));
    kube.post("/fake/up");
    d.wait("the cluster to answer again", 30, || {
        condition(&d, "steady", ConditionType::ClusterUnreachable)
            .filter(|c| c.status == ConditionStatus::False)
    });
    assert_eq!(d.jobs("steady").last().unwrap().metadata.id, running);
    assert_eq!(kube.of_job(running).len(), 6);

    // Someone deletes the JobManager's Deployment without its dependents, leaving a
    // ReplicaSet and a pod of the job: the API server says the cluster is gone, the job
    // is started again, and the removal of the old cluster takes what was left.
    let labels = kube.of_job(running)[0]["labels"].clone();
    kube.create(
        "/apis/apps/v1/namespaces/team/replicasets",
        &serde_json::json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": "left-behind", "labels": labels}}),
    );
    kube.create(
        "/api/v1/namespaces/team/pods",
        &serde_json::json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "left-behind-pod", "labels": labels}}),
    );
    let service = service_of(&d, "steady", d.jobs("steady").len() - 1);
    kube.delete(&format!(
        "/apis/apps/v1/namespaces/team/deployments/{service}"
    ));
    d.wait("a new job", 60, || {
        let last = d.jobs("steady").last()?.clone();
        (last.metadata.id != running && last.status.state == JobState::Started).then_some(())
    });
    assert!(
        event_with(&d, "steady", "JOB_FAILED", "is gone from namespace `team`")
            .or_else(|| event_with(&d, "steady", "CLUSTER_LOST", "is gone"))
            .is_some(),
        "{:#?}",
        d.events("steady")
    );
    d.wait("the old cluster's leftovers to go", 30, || {
        kube.of_job(running).is_empty().then_some(())
    });
}

#[test]
fn the_quota_counts_kubernetes_deployments() {
    let kube = FakeKube::start();
    let d = Daemon::start_with(
        &e2e::fake_flink_home(),
        // 2 cores each by default (1 + 1 × 1): room for one.
        &format!("{}\n[quota]\ncpu = 3", kube.config("")),
    );
    d.deploy("target.yaml", TARGET);
    d.deploy("one.yaml", &deployment("one", "running", "", ""));
    d.wait_status("one", DeploymentState::Running, 60);
    d.deploy("two.yaml", &deployment("two", "running", "", ""));
    d.wait("the quota to hold the second", 30, || {
        event_with(&d, "two", "RESOURCE_QUOTA_EXCEEDED", "")
    });
    assert_ne!(d.status("two"), Some(DeploymentState::Running));
    assert!(kube
        .objects()
        .iter()
        .all(|o| o["labels"]["flinkd.io/deployment-name"] != "two"));
}

#[test]
fn a_kubeconfig_for_another_cluster_does_not_take_a_running_cluster_for_gone() {
    let here = FakeKube::start();
    let elsewhere = FakeKube::start();
    let mut d = start(&here, "");
    d.deploy("moved.yaml", &deployment("moved", "running", "", ""));
    d.wait_status("moved", DeploymentState::Running, 60);
    let job = d.jobs("moved")[0].metadata.id;
    d.stop();
    // The kubeconfig now names another API server (a changed context, say): there the
    // cluster's objects are not, and that says nothing of the cluster.
    let original = std::fs::read(&here.kubeconfig).unwrap();
    std::fs::copy(&elsewhere.kubeconfig, &here.kubeconfig).unwrap();
    d.restart();
    d.wait("ClusterUnreachable", 30, || {
        condition(&d, "moved", ConditionType::ClusterUnreachable)
            .filter(|c| c.status == ConditionStatus::True)
    });
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(d.jobs("moved").len(), 1, "no new job");
    assert_eq!(d.status("moved"), Some(DeploymentState::Running));
    assert!(elsewhere.objects().is_empty(), "{:#?}", elsewhere.objects());
    assert_eq!(here.of_job(job).len(), 6);
    // The kubeconfig back: the same job, reached again.
    d.stop();
    std::fs::write(&here.kubeconfig, original).unwrap();
    d.restart();
    d.wait("the cluster to answer again", 30, || {
        condition(&d, "moved", ConditionType::ClusterUnreachable)
            .filter(|c| c.status == ConditionStatus::False)
    });
    assert_eq!(d.jobs("moved").len(), 1);
}

#[test]
fn a_create_that_lands_after_its_start_was_given_up_is_removed_with_it() {
    let kube = FakeKube::start();
    // The first JobManager Deployment is created 1.5 s after it was asked for (within
    // the API timeout, 2 s) and never answered: the start runs out of time before.
    kube.post("/fake/fault?verb=create&kind=deployments&code=late&times=1");
    let d = start(
        &kube,
        "retry_interval = \"1s\"\njob_start_timeout = \"1s\"\nrescan_interval = \"1h\"",
    );
    d.deploy("late.yaml", &deployment("late", "running", "", ""));
    d.wait_status("late", DeploymentState::Running, 60);
    let jobs = d.jobs("late");
    assert!(jobs.len() >= 2, "{jobs:#?}");
    // Well after the late create landed: removed by its own teardown, which looked
    // again after the API timeout, not by a sweep (none is due).
    std::thread::sleep(Duration::from_secs(4));
    for j in &jobs[..jobs.len() - 1] {
        assert!(
            kube.of_job(j.metadata.id).is_empty(),
            "{:#?}",
            kube.of_job(j.metadata.id)
        );
    }
    assert!(d
        .events("late")
        .iter()
        .all(|e| e.name != "ORPHANED_CLUSTER_REMOVED"));
}
