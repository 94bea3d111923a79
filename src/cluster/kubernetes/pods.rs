//! A cluster's pods with the Deployment's `kubernetes.pods` options or pod templates.
//!
//! What flinkd sets makes the cluster work (its container's image, arguments, ports,
//! config mount and `FLINK_CONF_DIR`, its labels): it wins over the user's. Everything
//! else the user writes is kept: other containers (sidecars), init containers, volumes,
//! scheduling, security.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Container, PodSecurityContext, PodSpec, PodTemplateSpec, ResourceRequirements, Volume,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::spec::PodOptions;

/// The name of the Flink container in a cluster's pods (a pod template that has a
/// container of this name has flinkd's settings merged into it).
pub const MAIN_CONTAINER: &str = "flink-main-container";

/// The official image's user `flink`.
const FLINK_USER: i64 = 9999;

/// `kubernetes.pods` applied to a generated pod.
pub fn with_pod_options(mut pod: PodTemplateSpec, options: Option<&PodOptions>) -> PodTemplateSpec {
    let meta = pod.metadata.get_or_insert_with(ObjectMeta::default);
    let spec = pod.spec.get_or_insert_with(PodSpec::default);
    let Some(o) = options else {
        spec.security_context.get_or_insert_with(default_security);
        return pod;
    };
    under(&mut meta.labels, &o.labels);
    under(&mut meta.annotations, &o.annotations);
    if !o.node_selector.is_empty() {
        spec.node_selector = Some(o.node_selector.clone());
    }
    spec.affinity = o.affinity.clone();
    if !o.tolerations.is_empty() {
        spec.tolerations = Some(o.tolerations.clone());
    }
    if !o.image_pull_secrets.is_empty() {
        spec.image_pull_secrets = Some(o.image_pull_secrets.clone());
    }
    spec.service_account_name = o.service_account_name.clone();
    spec.security_context = Some(o.security_context.clone().unwrap_or_else(default_security));
    let volumes = spec.volumes.get_or_insert_with(Vec::new);
    for vm in &o.volume_mounts {
        volumes.push(Volume {
            name: vm.name.clone(),
            ..vm.volume.clone()
        });
    }
    if let Some(main) = spec
        .containers
        .iter_mut()
        .find(|c| c.name == MAIN_CONTAINER)
    {
        // The user's first: flinkd's (FLINK_CONF_DIR) come later and win.
        let mut env = o.env_vars.clone();
        env.extend(main.env.take().unwrap_or_default());
        main.env = Some(env);
        let mounts = main.volume_mounts.get_or_insert_with(Vec::new);
        for vm in &o.volume_mounts {
            mounts.push(k8s_openapi::api::core::v1::VolumeMount {
                name: vm.name.clone(),
                ..vm.volume_mount.clone()
            });
        }
    }
    pod
}

fn default_security() -> PodSecurityContext {
    PodSecurityContext {
        run_as_user: Some(FLINK_USER),
        run_as_group: Some(FLINK_USER),
        fs_group: Some(FLINK_USER),
        ..PodSecurityContext::default()
    }
}

/// Entries of `extra` added to `map` where it has none of their own.
fn under(map: &mut Option<BTreeMap<String, String>>, extra: &BTreeMap<String, String>) {
    if extra.is_empty() {
        return;
    }
    let map = map.get_or_insert_with(BTreeMap::new);
    for (k, v) in extra {
        map.entry(k.clone()).or_insert_with(|| v.clone());
    }
}

/// The user's pod template with flinkd's pod merged in (none: flinkd's pod).
pub fn merge_template(user: Option<&PodTemplateSpec>, ours: PodTemplateSpec) -> PodTemplateSpec {
    let Some(user) = user else {
        return ours;
    };
    let mut pod = user.clone();
    let our_meta = ours.metadata.unwrap_or_default();
    let meta = pod.metadata.get_or_insert_with(ObjectMeta::default);
    for (field, ours) in [
        (&mut meta.labels, our_meta.labels),
        (&mut meta.annotations, our_meta.annotations),
    ] {
        if let Some(ours) = ours {
            field.get_or_insert_with(BTreeMap::new).extend(ours);
        }
    }
    let our_spec = ours.spec.unwrap_or_default();
    let spec = pod.spec.get_or_insert_with(PodSpec::default);
    if spec.security_context.is_none() {
        spec.security_context = our_spec.security_context;
    }
    let volumes = spec.volumes.get_or_insert_with(Vec::new);
    for v in our_spec.volumes.unwrap_or_default() {
        volumes.retain(|u| u.name != v.name);
        volumes.push(v);
    }
    for ours in our_spec.containers {
        match spec.containers.iter().position(|c| c.name == ours.name) {
            Some(i) => {
                let theirs = std::mem::take(&mut spec.containers[i]);
                spec.containers[i] = merge_container(theirs, ours);
            }
            None => spec.containers.insert(0, ours),
        }
    }
    pod
}

/// The user's Flink container with what flinkd sets: image, arguments, ports, its
/// environment and mounts after the user's, the cores and memory of `resources` (Flink
/// sizes its process by them: a pod limit below would kill it) beside any other
/// resource the user asks for.
fn merge_container(theirs: Container, ours: Container) -> Container {
    fn join<T>(a: Option<Vec<T>>, b: Option<Vec<T>>) -> Option<Vec<T>> {
        let mut all = a.unwrap_or_default();
        all.extend(b.unwrap_or_default());
        (!all.is_empty()).then_some(all)
    }
    Container {
        image: ours.image,
        args: ours.args,
        command: None,
        ports: ours.ports,
        env: join(theirs.env.clone(), ours.env),
        volume_mounts: join(theirs.volume_mounts.clone(), ours.volume_mounts),
        resources: merge_resources(theirs.resources.clone(), ours.resources),
        liveness_probe: theirs.liveness_probe.clone().or(ours.liveness_probe),
        ..theirs
    }
}

fn merge_resources(
    theirs: Option<ResourceRequirements>,
    ours: Option<ResourceRequirements>,
) -> Option<ResourceRequirements> {
    let Some(mut merged) = theirs else {
        return ours;
    };
    let ours = ours.unwrap_or_default();
    for (field, ours) in [
        (&mut merged.requests, ours.requests),
        (&mut merged.limits, ours.limits),
    ] {
        if let Some(ours) = ours {
            let field = field.get_or_insert_with(BTreeMap::new);
            // A limit or request of cpu/memory flinkd does not set is removed: the one
            // it sets says the size.
            field.remove("cpu");
            field.remove("memory");
            field.extend(ours);
        }
    }
    Some(merged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{EnvVar, VolumeMount};

    fn ours() -> PodTemplateSpec {
        PodTemplateSpec {
            metadata: Some(ObjectMeta {
                labels: Some(BTreeMap::from([("flinkd.io/job-id".into(), "j".into())])),
                ..ObjectMeta::default()
            }),
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: MAIN_CONTAINER.into(),
                    image: Some("flink:2.3".into()),
                    args: Some(vec!["jobmanager".into()]),
                    env: Some(vec![EnvVar {
                        name: "FLINK_CONF_DIR".into(),
                        value: Some("/c".into()),
                        value_from: None,
                    }]),
                    ..Container::default()
                }],
                volumes: Some(vec![Volume {
                    name: "flink-config".into(),
                    ..Volume::default()
                }]),
                ..PodSpec::default()
            }),
        }
    }

    #[test]
    fn pod_options_reach_the_pod_and_the_flink_container_and_labels_stay_flinkds() {
        let options: PodOptions = serde_json::from_value(serde_json::json!({
            "labels": {"team": "data", "flinkd.io/job-id": "mine"},
            "annotations": {"a": "b"},
            "nodeSelector": {"disk": "ssd"},
            "tolerations": [{"key": "k", "operator": "Exists"}],
            "imagePullSecrets": [{"name": "regcred"}],
            "envVars": [{"name": "X", "value": "1"}],
            "volumeMounts": [{"name": "data", "volume": {"emptyDir": {}},
                              "volumeMount": {"mountPath": "/data"}}],
            "serviceAccountName": "flink"
        }))
        .unwrap();
        let pod = with_pod_options(ours(), Some(&options));
        let meta = pod.metadata.unwrap();
        let labels = meta.labels.unwrap();
        assert_eq!(labels["team"], "data");
        assert_eq!(labels["flinkd.io/job-id"], "j", "flinkd's label wins");
        assert_eq!(meta.annotations.unwrap()["a"], "b");
        let spec = pod.spec.unwrap();
        assert_eq!(spec.node_selector.unwrap()["disk"], "ssd");
        assert_eq!(spec.tolerations.unwrap()[0].key.as_deref(), Some("k"));
        assert_eq!(spec.image_pull_secrets.unwrap()[0].name, "regcred");
        assert_eq!(spec.service_account_name.as_deref(), Some("flink"));
        assert_eq!(spec.security_context.unwrap().run_as_user, Some(9999));
        let volumes = spec.volumes.unwrap();
        assert!(volumes
            .iter()
            .any(|v| v.name == "data" && v.empty_dir.is_some()));
        let main = &spec.containers[0];
        let env: Vec<_> = main.env.iter().flatten().map(|e| e.name.as_str()).collect();
        assert_eq!(env, ["X", "FLINK_CONF_DIR"], "flinkd's last: they win");
        let mount = &main.volume_mounts.as_ref().unwrap()[0];
        assert_eq!(
            (mount.name.as_str(), mount.mount_path.as_str()),
            ("data", "/data")
        );
    }

    #[test]
    fn a_pod_template_keeps_its_sidecars_and_settings_and_gets_flinkds_container() {
        let user: PodTemplateSpec = serde_json::from_value(serde_json::json!({
            "metadata": {"labels": {"team": "data"}},
            "spec": {
                "priorityClassName": "high",
                "tolerations": [{"key": "gpu", "operator": "Exists"}],
                "containers": [
                    {"name": "log-shipper", "image": "fluent-bit:3"},
                    {"name": MAIN_CONTAINER, "image": "mine:1", "command": ["sh"],
                     "env": [{"name": "TZ", "value": "UTC"}],
                     "resources": {"limits": {"memory": "4Gi"}},
                     "volumeMounts": [{"name": "x", "mountPath": "/x"}]}
                ],
                "volumes": [{"name": "x", "emptyDir": {}}]
            }
        }))
        .unwrap();
        let pod = merge_template(Some(&user), with_pod_options(ours(), None));
        let labels = pod.metadata.unwrap().labels.unwrap();
        assert_eq!(
            (labels["team"].as_str(), labels["flinkd.io/job-id"].as_str()),
            ("data", "j")
        );
        let spec = pod.spec.unwrap();
        assert_eq!(spec.priority_class_name.as_deref(), Some("high"));
        assert_eq!(spec.tolerations.unwrap().len(), 1);
        assert_eq!(spec.containers.len(), 2, "the sidecar is kept");
        let main = spec
            .containers
            .iter()
            .find(|c| c.name == MAIN_CONTAINER)
            .unwrap();
        assert_eq!(main.image.as_deref(), Some("flink:2.3"), "flinkd's image");
        assert_eq!(main.command, None, "the image's entrypoint runs");
        let env: Vec<_> = main.env.iter().flatten().map(|e| e.name.as_str()).collect();
        assert_eq!(env, ["TZ", "FLINK_CONF_DIR"]);
        let limits = main.resources.as_ref().unwrap().limits.as_ref().unwrap();
        assert_eq!(limits["memory"].0, "4Gi", "flinkd's test pod sets none");
        let mounts: Vec<&VolumeMount> = main.volume_mounts.iter().flatten().collect();
        assert_eq!(mounts.len(), 1);
        let names: Vec<_> = spec.volumes.unwrap().into_iter().map(|v| v.name).collect();
        assert_eq!(names, ["x", "flink-config"]);
    }

    #[test]
    fn the_flink_containers_cores_and_memory_are_flinkds_and_other_resources_the_users() {
        use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
        let q = |s: &str| Quantity(s.into());
        let theirs = ResourceRequirements {
            limits: Some(BTreeMap::from([
                ("memory".to_string(), q("3Gi")),
                ("ephemeral-storage".to_string(), q("10Gi")),
            ])),
            ..ResourceRequirements::default()
        };
        let ours = ResourceRequirements {
            requests: Some(BTreeMap::from([
                ("cpu".to_string(), q("1000m")),
                ("memory".to_string(), q("2048Mi")),
            ])),
            limits: Some(BTreeMap::from([("memory".to_string(), q("2048Mi"))])),
            ..ResourceRequirements::default()
        };
        let merged = merge_resources(Some(theirs), Some(ours)).unwrap();
        let limits = merged.limits.unwrap();
        assert_eq!(limits["memory"], q("2048Mi"));
        assert_eq!(limits["ephemeral-storage"], q("10Gi"));
        assert_eq!(merged.requests.unwrap()["cpu"], q("1000m"));
    }
}
