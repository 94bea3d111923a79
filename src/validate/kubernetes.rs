//! The rules of `spec.template.spec.kubernetes` and of a Deployment on a Kubernetes
//! target: the pod options or the pod templates, not both; state that outlives a pod.

use std::collections::HashSet;

use crate::cluster::Placement;
use crate::diagnostic::Diagnostic;
use crate::resources::Origin;
use crate::source::FieldPath;
use k8s_openapi::api::core::v1::PodTemplateSpec;

use crate::cluster::kubernetes::{CONF_DIR, MAIN_CONTAINER};
use crate::source::Segment;
use crate::spec::{DeploymentSpec, KubernetesOptions};

const AT: &str = "spec.template.spec.kubernetes";

/// The name of the volume of flinkd's generated config in a cluster's pods.
const FLINKD_VOLUME: &str = "flink-config";

/// The Kubernetes rules of an expanded Deployment that runs at `placement`.
pub fn check(spec: &DeploymentSpec, placement: &Placement, origin: &Origin) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let template = spec.template.as_ref().and_then(|t| t.spec.as_ref());
    let options = template.and_then(|t| t.kubernetes.as_deref());
    let on_kubernetes = matches!(placement, Placement::Kubernetes { .. });
    if let Some(k) = options {
        if !on_kubernetes {
            out.push(origin.warning(
                FieldPath::parse(AT),
                "ignored: the Deployment's target is not a Kubernetes target",
            ));
        }
        out.extend(check_options(k, origin));
    }
    if on_kubernetes {
        let conf = template.and_then(|t| t.flink_configuration.as_ref());
        let mounted = lasting_mounts(options);
        let at_conf = FieldPath::parse("spec.template.spec.flinkConfiguration");
        // The pods' memory limits are the process sizes: set by `resources`, not here.
        for (key, side) in [
            ("jobmanager.memory.process.size", "jobManager"),
            ("taskmanager.memory.process.size", "taskManager"),
        ] {
            if conf.is_some_and(|c| c.contains_key(key)) {
                out.push(origin.error(
                    at_conf.child(key),
                    format!("on a Kubernetes target the process size is the pod's memory: set `spec.template.spec.resources.{side}.memory` instead"),
                ));
            }
        }
        // Savepoints are needed (a suspension, an upgrade) and a pod has no place for
        // them; checkpoints are checked where the job keeps them on files. Every key
        // set is checked: Flink reads whichever its version prefers.
        for (keys, what, required) in [
            (
                &[
                    "state.savepoints.dir",
                    "execution.checkpointing.savepoint-dir",
                ][..],
                "savepoints",
                true,
            ),
            (
                &["execution.checkpointing.dir", "state.checkpoints.dir"][..],
                "checkpoints",
                false,
            ),
        ] {
            let set: Vec<(&str, &String)> = keys
                .iter()
                .filter_map(|k| conf.and_then(|c| c.get(*k)).map(|v| (*k, v)))
                .collect();
            if set.is_empty() && required {
                out.push(origin.error(
                    at_conf.clone(),
                    format!(
                        "a Kubernetes Deployment's {what} must outlive its pods: set `{}` to shared storage (s3://, gs://, abfss://, hdfs://, …) or to a path of a lasting volume in `kubernetes.pods.volumeMounts`",
                        keys[0]
                    ),
                ));
            }
            for (key, value) in set {
                let Some(local) = local_path(value) else {
                    continue;
                };
                let under_mount = mounted.iter().any(|m| {
                    let m = m.trim_end_matches('/');
                    local == m || local.starts_with(&format!("{m}/"))
                });
                if !under_mount {
                    out.push(origin.error(
                        at_conf.child(key),
                        format!(
                            "`{value}` is a path inside the pod, lost with it: use shared storage (s3://, gs://, abfss://, hdfs://, …) or mount a lasting volume (not emptyDir) there with `kubernetes.pods.volumeMounts`, or in both pod templates' flink-main-container"
                        ),
                    ));
                }
            }
        }
    }
    out
}

/// Where volumes that outlive a pod (any but `emptyDir`) are mounted in the Flink
/// container: `pods.volumeMounts`, or mounts both pod templates' `flink-main-container`
/// have.
fn lasting_mounts(options: Option<&KubernetesOptions>) -> Vec<String> {
    let Some(k) = options else {
        return Vec::new();
    };
    if let Some(p) = &k.pods {
        return p
            .volume_mounts
            .iter()
            .filter(|v| v.volume.empty_dir.is_none())
            .map(|v| v.volume_mount.mount_path.clone())
            .collect();
    }
    let of = |t: Option<&PodTemplateSpec>| -> Vec<String> {
        let Some(spec) = t.and_then(|t| t.spec.as_ref()) else {
            return Vec::new();
        };
        let lasting = |name: &str| {
            spec.volumes
                .iter()
                .flatten()
                .any(|v| v.name == name && v.empty_dir.is_none())
        };
        spec.containers
            .iter()
            .filter(|c| c.name == MAIN_CONTAINER)
            .flat_map(|c| c.volume_mounts.iter().flatten())
            .filter(|m| lasting(&m.name))
            .map(|m| m.mount_path.clone())
            .collect()
    };
    let jm = of(k.job_manager_pod_template.as_ref());
    of(k.task_manager_pod_template.as_ref())
        .into_iter()
        .filter(|m| jm.contains(m))
        .collect()
}

/// The local path of a `file:` URI or an absolute path; `None` for other storage.
fn local_path(value: &str) -> Option<String> {
    let v = value.trim();
    let path = match v.strip_prefix("file://") {
        Some(rest) => rest,
        None => match v.strip_prefix("file:") {
            Some(rest) => rest,
            None if v.starts_with('/') => v,
            None => return None,
        },
    };
    Some(path.trim_end_matches('/').to_string())
}

fn check_options(k: &KubernetesOptions, origin: &Origin) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let templates = k.job_manager_pod_template.is_some() || k.task_manager_pod_template.is_some();
    if k.pods.is_some() && templates {
        out.push(origin.error(
            FieldPath::parse(&format!("{AT}.pods")),
            "set either `pods` or `jobManagerPodTemplate`/`taskManagerPodTemplate`, not both",
        ));
    }
    for (key, value) in &k.labels {
        if let Err(m) = check_label(key, value) {
            out.push(origin.error(FieldPath::parse(&format!("{AT}.labels")).child(key), m));
        }
    }
    if let Some(p) = &k.pods {
        for (key, value) in &p.labels {
            if let Err(m) = check_label(key, value) {
                out.push(
                    origin.error(FieldPath::parse(&format!("{AT}.pods.labels")).child(key), m),
                );
            }
        }
        let mut names = HashSet::new();
        for (i, v) in p.volume_mounts.iter().enumerate() {
            let mut entry = FieldPath::parse(&format!("{AT}.pods.volumeMounts"));
            entry.0.push(Segment::Index(i));
            let at = entry.child("name");
            if !names.insert(v.name.as_str()) {
                out.push(origin.error(at, format!("the volume `{}` is named twice", v.name)));
            } else if v.name == FLINKD_VOLUME {
                out.push(origin.error(
                    at,
                    "`flink-config` is the volume of flinkd's generated config",
                ));
            }
            let path = v.volume_mount.mount_path.trim_end_matches('/');
            let at = entry.child("volumeMount").child("mountPath");
            if !path.starts_with('/') {
                out.push(origin.error(at, "a mount path is absolute"));
            } else if path == CONF_DIR {
                out.push(origin.error(
                    at,
                    format!("{CONF_DIR} is where flinkd mounts the generated config"),
                ));
            }
        }
    }
    for (side, t) in [
        ("jobManagerPodTemplate", &k.job_manager_pod_template),
        ("taskManagerPodTemplate", &k.task_manager_pod_template),
    ] {
        let volumes = t
            .as_ref()
            .and_then(|t| t.spec.as_ref())
            .and_then(|s| s.volumes.as_ref());
        if volumes.is_some_and(|v| v.iter().any(|v| v.name == FLINKD_VOLUME)) {
            out.push(origin.error(
                FieldPath::parse(&format!("{AT}.{side}.spec.volumes")),
                "`flink-config` is the volume of flinkd's generated config",
            ));
        }
        let labels = t
            .as_ref()
            .and_then(|t| t.metadata.as_ref())
            .and_then(|m| m.labels.as_ref());
        for (key, value) in labels.into_iter().flatten() {
            if let Err(m) = check_label(key, value) {
                out.push(origin.error(
                    FieldPath::parse(&format!("{AT}.{side}.metadata.labels")).child(key),
                    m,
                ));
            }
        }
    }
    out
}

/// A Kubernetes label: an optional DNS-subdomain prefix and `/`, a name of at most 63
/// alphanumerics, `-`, `_` and `.` (alphanumeric at both ends); a value likewise, or empty.
fn check_label(key: &str, value: &str) -> Result<(), String> {
    let part = |s: &str| {
        !s.is_empty()
            && s.len() <= 63
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            && s.starts_with(|c: char| c.is_ascii_alphanumeric())
            && s.ends_with(|c: char| c.is_ascii_alphanumeric())
    };
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    let prefix_ok = prefix.is_none_or(|p| {
        p.len() <= 253
            && p.split('.').all(|l| {
                !l.is_empty()
                    && l.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    && !l.starts_with('-')
                    && !l.ends_with('-')
            })
    });
    if !prefix_ok || !part(name) {
        return Err(format!("`{key}` is not a Kubernetes label name"));
    }
    if !value.is_empty() && !part(value) {
        return Err(format!(
            "`{value}` (label `{key}`) is not a Kubernetes label value"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_names_and_values_are_kubernetes_ones() {
        assert!(check_label("team", "data-eng").is_ok());
        assert!(check_label("example.com/team", "").is_ok());
        assert!(check_label("Example.com/team", "x").is_err());
        assert!(check_label("team", "has space").is_err());
        assert!(check_label(&"a".repeat(64), "x").is_err());
        assert!(check_label("-team", "x").is_err());
    }

    #[test]
    fn local_paths_are_told_from_shared_storage() {
        assert_eq!(local_path("file:///data/sp/").as_deref(), Some("/data/sp"));
        assert_eq!(local_path("/data/sp").as_deref(), Some("/data/sp"));
        assert_eq!(local_path("s3://bucket/sp"), None);
        assert_eq!(local_path("hdfs:///sp"), None);
    }
}
