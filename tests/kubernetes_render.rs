//! `flinkd render`: the Kubernetes objects of a Deployment's next job, checked against
//! the official Kubernetes schemas with `kubernetes-validate` (installed by
//! `scripts/prerequisites.sh --tests`, offline once installed) and for what they say.
//! The fixtures: a minimal Deployment, the reference page's example on its Kubernetes
//! target, every pod option, and pod templates with sidecars.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::Dir;
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A directory with the Kubernetes fixtures and the reference example (named validly).
fn fixture_dir() -> Dir {
    let dir = Dir::new();
    for f in [
        "target.yaml",
        "minimal.yaml",
        "pod-options.yaml",
        "pod-templates.yaml",
    ] {
        dir.write(
            &format!("k8s/{f}"),
            std::fs::read(fixtures().join("kubernetes").join(f)).unwrap(),
        );
    }
    let reference = std::fs::read_to_string(fixtures().join("reference/top-speed.yaml"))
        .unwrap()
        .replace("name: TopSpeedWindowing Example", "name: top-speed");
    dir.write("reference/top-speed.yaml", reference);
    dir.write(
        "reference/target.yaml",
        std::fs::read(fixtures().join("reference/target.yaml")).unwrap(),
    );
    dir
}

fn kubernetes_validate() -> PathBuf {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join(".flinkd/bin/kubernetes-validate");
    assert!(
        bin.exists(),
        "{} is missing: run scripts/prerequisites.sh --tests",
        bin.display()
    );
    bin
}

/// `kubernetes-validate --strict` (unknown fields are errors) on YAML documents, for
/// the oldest and the newest Kubernetes the objects are meant for.
fn schema_check(yaml: &str) -> (bool, String) {
    // A file, not stdin: each version reads the documents again.
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(yaml.as_bytes()).unwrap();
    let out = Command::new(kubernetes_validate())
        .args(["--strict", "-k", "1.32", "-k", "1.36"])
        .arg(file.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn documents(yaml: &str) -> Vec<Value> {
    yaml.split("\n---\n")
        .flat_map(|d| d.split("---\n"))
        .filter(|d| {
            d.lines()
                .any(|l| !l.trim().is_empty() && !l.starts_with('#'))
        })
        .map(|d| serde_yaml::from_str::<Value>(d).unwrap())
        .collect()
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} among {docs:#?}"))
}

fn main_container(pod: &Value) -> &Value {
    pod["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "flink-main-container")
        .unwrap()
}

#[test]
fn every_rendered_object_is_valid_against_the_kubernetes_schemas() {
    let dir = fixture_dir();
    let run = dir.flinkd(&["render", "k8s", "reference"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("4 cluster(s) rendered"),
        "{}",
        run.stderr
    );
    let docs = documents(&run.stdout);
    assert_eq!(docs.len(), 16, "four objects per cluster");
    let (ok, report) = schema_check(&run.stdout);
    assert!(ok, "{report}");
    assert_eq!(
        report.matches("passed for resource").count(),
        32,
        "{report}"
    );

    // The check can fail: one wrong type in the same output is found.
    let broken = run.stdout.replacen("replicas: 1\n", "replicas: one\n", 1);
    let (ok, report) = schema_check(&broken);
    assert!(!ok, "a string replica count passed: {report}");
}

#[test]
fn a_minimal_deployment_is_a_jobmanager_its_service_config_and_taskmanagers() {
    let dir = fixture_dir();
    let run = dir.flinkd(&["render", "k8s/target.yaml", "k8s/minimal.yaml"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let docs = documents(&run.stdout);
    let base = "flink-minimal-00000000";
    let jm = find(&docs, "Deployment", &format!("{base}-jobmanager"));
    assert_eq!(jm["metadata"]["namespace"], "flink-jobs");
    assert_eq!(
        jm["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "flinkd"
    );
    assert_eq!(jm["spec"]["replicas"], 1);
    let pod = &jm["spec"]["template"];
    let c = main_container(pod);
    assert_eq!(c["image"], "flink:2.3");
    assert_eq!(c["args"][0], "jobmanager");
    assert_eq!(c["resources"]["limits"]["memory"], "1024Mi");
    assert_eq!(c["resources"]["requests"]["cpu"], "1000m");
    let selector = &jm["spec"]["selector"]["matchLabels"];
    for (k, v) in selector.as_object().unwrap() {
        assert_eq!(
            &pod["metadata"]["labels"][k], v,
            "the pods match the selector"
        );
    }
    let service = find(&docs, "Service", &format!("{base}-jobmanager"));
    assert_eq!(&service["spec"]["selector"], selector);
    let ports: Vec<_> = service["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["port"].as_i64().unwrap())
        .collect();
    assert_eq!(ports, [6123, 6124, 8081]);
    let config = find(&docs, "ConfigMap", &format!("{base}-config"));
    let flink = config["data"]["config.yaml"].as_str().unwrap();
    let conf: Value = serde_yaml::from_str(flink).unwrap();
    assert_eq!(conf["jobmanager.rpc.address"], format!("{base}-jobmanager"));
    assert_eq!(
        conf["state.savepoints.dir"],
        "s3://flink/savepoints/minimal"
    );
    assert_eq!(conf["taskmanager.memory.process.size"], "2048m");
    let tm = find(&docs, "Deployment", &format!("{base}-taskmanager"));
    assert_eq!(tm["spec"]["replicas"], 1);
    assert_eq!(
        main_container(&tm["spec"]["template"])["args"][0],
        "taskmanager"
    );

    // The config's image for the Flink version, where the artifact names none; no local
    // distribution of that version is needed for a job that runs in a pod.
    dir.write(
        "flinkd.toml",
        "[kubernetes.images]\n\"2.3\" = \"registry.example.com/flink:2.3.0-java21\"\n",
    );
    let run = dir.flinkd(&[
        "render",
        "--config",
        "flinkd.toml",
        "k8s/target.yaml",
        "k8s/minimal.yaml",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let docs = documents(&run.stdout);
    let tm = find(&docs, "Deployment", &format!("{base}-taskmanager"));
    assert_eq!(
        main_container(&tm["spec"]["template"])["image"],
        "registry.example.com/flink:2.3.0-java21"
    );
}

#[test]
fn pod_options_and_pod_templates_are_applied() {
    let dir = fixture_dir();
    let run = dir.flinkd(&["render", "k8s"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let docs = documents(&run.stdout);

    let tm = find(
        &docs,
        "Deployment",
        "flink-pod-options-00000000-taskmanager",
    );
    assert_eq!(tm["metadata"]["labels"]["team"], "data-eng");
    assert_eq!(tm["spec"]["replicas"], 2, "parallelism 4 on 2 slots each");
    let pod = &tm["spec"]["template"];
    assert_eq!(pod["metadata"]["labels"]["cost-center"], "42");
    assert_eq!(
        pod["metadata"]["annotations"]["prometheus.io/scrape"],
        "true"
    );
    let spec = &pod["spec"];
    assert_eq!(spec["nodeSelector"]["disktype"], "ssd");
    assert_eq!(spec["tolerations"][0]["value"], "flink");
    assert_eq!(spec["imagePullSecrets"][0]["name"], "regcred");
    assert_eq!(spec["serviceAccountName"], "flink");
    assert_eq!(spec["securityContext"]["runAsNonRoot"], true);
    assert!(spec["affinity"]["nodeAffinity"].is_object());
    let c = main_container(pod);
    assert_eq!(c["image"], "registry.example.com/data/flink:1.20.1-java17");
    assert_eq!(c["resources"]["limits"]["memory"], "4096Mi");
    let env: Vec<_> = c["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["name"])
        .collect();
    assert_eq!(
        env,
        ["TZ", "S3_KEY", "FLINK_CONF_DIR"],
        "flinkd's last: it wins"
    );
    assert!(c["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["name"] == "flink-data" && m["mountPath"] == "/flink-data"));
    let config = find(&docs, "ConfigMap", "flink-pod-options-00000000-config");
    assert!(
        config["data"]["config.yaml"].is_string(),
        "Flink 1.20 reads config.yaml"
    );

    let tm = find(
        &docs,
        "Deployment",
        "flink-pod-templates-00000000-taskmanager",
    );
    assert_eq!(tm["spec"]["replicas"], 3);
    let spec = &tm["spec"]["template"]["spec"];
    let names: Vec<_> = spec["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["log-shipper", "flink-main-container"]);
    assert_eq!(spec["initContainers"][0]["name"], "warm-cache");
    let c = main_container(&tm["spec"]["template"]);
    assert_eq!(
        c["resources"]["limits"]["memory"], "2048Mi",
        "Flink's size wins"
    );
    assert_eq!(c["resources"]["limits"]["cpu"], serde_json::Value::Null);
    let jm = find(
        &docs,
        "Deployment",
        "flink-pod-templates-00000000-jobmanager",
    );
    let pod = &jm["spec"]["template"];
    assert_eq!(pod["metadata"]["labels"]["role"], "coordinator");
    assert_eq!(pod["spec"]["priorityClassName"], "high");
    let env: Vec<_> = main_container(pod)["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(env, ["JM_ONLY", "FLINK_CONF_DIR"]);
}

/// Flink before 1.19 reads flink-conf.yaml with a line parser that keeps quotes: the
/// reference example's Flink 1.11 gets plain values.
#[test]
fn flink_before_1_19_gets_a_config_its_line_parser_reads() {
    let dir = fixture_dir();
    let run = dir.flinkd(&["render", "reference"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let docs = documents(&run.stdout);
    let config = find(&docs, "ConfigMap", "flink-top-speed-00000000-config");
    let text = config["data"]["flink-conf.yaml"].as_str().unwrap();
    for line in [
        "rest.port: 8081\n",
        "taskmanager.numberOfTaskSlots: 1\n",
        "taskmanager.memory.process.size: 2048m\n",
        "state.savepoints.dir: s3://flink/savepoints\n",
    ] {
        assert!(text.contains(line), "{line:?} in {text}");
    }
    assert!(!text.contains('"'), "{text}");
}

#[test]
fn kubernetes_rules_are_located_errors_and_the_daemon_still_refuses_the_target() {
    let dir = fixture_dir();
    let minimal = std::fs::read_to_string(fixtures().join("kubernetes/minimal.yaml")).unwrap();
    // Savepoints inside the pod: lost with it.
    dir.write(
        "bad/local.yaml",
        minimal
            .replace("name: minimal", "name: local-savepoints")
            .replace("s3://flink/savepoints/minimal", "file:///tmp/savepoints"),
    );
    // Pod options and pod templates together.
    dir.write(
        "bad/both.yaml",
        minimal.replace("name: minimal", "name: both") +
            "      kubernetes:\n        pods:\n          labels: {a: b}\n        taskManagerPodTemplate:\n          spec:\n            containers: []\n",
    );
    // The process size is the pod's memory; an emptyDir outlives nothing; every
    // savepoint key set is checked; a volume entry is located by its index.
    dir.write(
        "bad/sizes.yaml",
        minimal.replace("name: minimal", "name: sizes").replace(
            "        state.savepoints.dir: s3://flink/savepoints/minimal\n",
            "        state.savepoints.dir: s3://flink/savepoints/minimal\n        execution.checkpointing.savepoint-dir: file:///scratch/sp\n        taskmanager.memory.process.size: 8g\n",
        ) + "      kubernetes:\n        pods:\n          volumeMounts:\n            - name: scratch\n              volume: {emptyDir: {}}\n              volumeMount: {mountPath: /scratch}\n            - name: scratch\n              volume: {emptyDir: {}}\n              volumeMount: {mountPath: relative}\n",
    );
    dir.write(
        "bad/target.yaml",
        std::fs::read(fixtures().join("kubernetes/target.yaml")).unwrap(),
    );
    let run = dir.flinkd(&["render", "bad"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("bad/local.yaml:12:9: spec.template.spec.flinkConfiguration[\"state.savepoints.dir\"]: `file:///tmp/savepoints` is a path inside the pod"), "{}", run.stderr);
    assert!(run.stderr.contains("bad/both.yaml:14:9: spec.template.spec.kubernetes.pods: set either `pods` or `jobManagerPodTemplate`/`taskManagerPodTemplate`, not both"), "{}", run.stderr);
    for expected in [
        "bad/sizes.yaml:13:9: spec.template.spec.flinkConfiguration[\"execution.checkpointing.savepoint-dir\"]: `file:///scratch/sp` is a path inside the pod",
        "bad/sizes.yaml:14:9: spec.template.spec.flinkConfiguration[\"taskmanager.memory.process.size\"]: on a Kubernetes target the process size is the pod's memory: set `spec.template.spec.resources.taskManager.memory` instead",
        "bad/sizes.yaml:21:15: spec.template.spec.kubernetes.pods.volumeMounts[1].name: the volume `scratch` is named twice",
        "bad/sizes.yaml:23:29: spec.template.spec.kubernetes.pods.volumeMounts[1].volumeMount.mountPath: a mount path is absolute",
    ] {
        assert!(run.stderr.contains(expected), "{expected}\nnot in\n{}", run.stderr);
    }

    // With the daemon's config, validate takes what the daemon runs: a Flink version
    // this machine lacks (1.20 here) is no error on Kubernetes (the cluster runs an
    // image).
    dir.write(
        "flinkd.toml",
        "[flink.versions]\n\"2.3\" = \"/opt/flink\"\n",
    );
    let run = dir.flinkd(&[
        "validate",
        "--config",
        "flinkd.toml",
        "k8s/target.yaml",
        "k8s/minimal.yaml",
        "k8s/pod-options.yaml",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}
