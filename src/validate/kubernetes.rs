//! The rules of `spec.template.spec.kubernetes` and of a Deployment on a Kubernetes
//! target: the pod options or the pod templates, not both; state that outlives a pod.

use std::collections::HashSet;

use crate::cluster::Placement;
use crate::diagnostic::Diagnostic;
use crate::resources::Origin;
use crate::source::FieldPath;
use crate::spec::{DeploymentSpec, KubernetesOptions};

const AT: &str = "spec.template.spec.kubernetes";

/// The Kubernetes rules of an expanded Deployment that runs at `placement`.
pub fn check(spec: &DeploymentSpec, placement: &Placement, origin: &Origin) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let template = spec.template.as_ref().and_then(|t| t.spec.as_ref());
    let options = template.and_then(|t| t.kubernetes.as_ref());
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
        let mounted: Vec<String> = options
            .and_then(|k| k.pods.as_ref())
            .map(|p| {
                p.volume_mounts
                    .iter()
                    .map(|v| v.volume_mount.mount_path.clone())
                    .collect()
            })
            .unwrap_or_default();
        // Savepoints are needed (a suspension, an upgrade) and a pod has no place for
        // them; checkpoints are checked where the job keeps them on files.
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
            let found = keys
                .iter()
                .find_map(|k| conf.and_then(|c| c.get(*k)).map(|v| (*k, v)));
            match found {
                None if !required => {}
                None => out.push(origin.error(
                    FieldPath::parse("spec.template.spec.flinkConfiguration"),
                    format!(
                        "a Kubernetes Deployment's {what} must outlive its pods: set `{}` to shared storage (s3://, gs://, abfss://, hdfs://, …) or to a path of a volume in `kubernetes.pods.volumeMounts`",
                        keys[0]
                    ),
                )),
                Some((key, value)) => {
                    if let Some(local) = local_path(value) {
                        let under_mount = mounted
                            .iter()
                            .any(|m| local == m.trim_end_matches('/') || local.starts_with(&format!("{}/", m.trim_end_matches('/'))));
                        if !under_mount {
                            out.push(origin.error(
                                FieldPath::parse("spec.template.spec.flinkConfiguration").child(key),
                                format!(
                                    "`{value}` is a path inside the pod, lost with it: use shared storage (s3://, gs://, abfss://, hdfs://, …) or mount a volume there with `kubernetes.pods.volumeMounts`"
                                ),
                            ));
                        }
                    }
                }
            }
        }
    }
    out
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
            out.push(origin.error(FieldPath::parse(&format!("{AT}.labels")), m));
        }
    }
    if let Some(p) = &k.pods {
        for (map, what) in [(&p.labels, "labels")] {
            for (key, value) in map {
                if let Err(m) = check_label(key, value) {
                    out.push(origin.error(FieldPath::parse(&format!("{AT}.pods.{what}")), m));
                }
            }
        }
        let mut names = HashSet::new();
        for (i, v) in p.volume_mounts.iter().enumerate() {
            let at = FieldPath::parse(&format!("{AT}.pods.volumeMounts[{i}].name"));
            if !names.insert(v.name.as_str()) {
                out.push(origin.error(at, format!("the volume `{}` is named twice", v.name)));
            } else if v.name == "flink-config" {
                out.push(origin.error(
                    at,
                    "`flink-config` is the volume of flinkd's generated config",
                ));
            }
            if !v.volume_mount.mount_path.starts_with('/') {
                out.push(origin.error(
                    FieldPath::parse(&format!(
                        "{AT}.pods.volumeMounts[{i}].volumeMount.mountPath"
                    )),
                    "a mount path is absolute",
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
