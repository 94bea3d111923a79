//! The Kubernetes target: a Flink cluster per job as Kubernetes objects in the target's
//! namespace. This module makes the objects (a pure function of the Deployment, the
//! job's id and the config: `flinkd render` prints them); [`api`] creates, watches
//! and removes them through the API server, and [`access`] reaches the API server and,
//! through its service proxy, each cluster's Flink REST API.
//!
//! One cluster is four objects: a ConfigMap with the generated Flink config and
//! logging, the JobManager's Deployment (one replica) and its Service (rpc, blob, rest),
//! and the TaskManagers' Deployment (`numberOfTaskManagers` replicas). All carry
//! flinkd's labels (who manages them, the Deployment's, the Job's and this flinkd's
//! ids); when they are created the JobManager's Deployment owns the others, so that
//! one delete removes the cluster.

pub mod access;
pub mod api;
mod objects;
mod pods;
pub mod trouble;

pub use objects::{render, Objects, RenderError};
pub use pods::MAIN_CONTAINER;

use std::collections::BTreeMap;

use crate::expanded::ExpandedTemplate;
use crate::spec::{Artifact, KubernetesOptions};

/// The port of the JobManager's RPC, blob server and REST API, and the TaskManagers'
/// RPC (the official image's and Flink's documentation's).
pub const RPC_PORT: i32 = 6123;
pub const BLOB_PORT: i32 = 6124;
pub const REST_PORT: i32 = 8081;
pub const TASK_MANAGER_RPC_PORT: i32 = 6122;

/// Where the generated config is mounted; `FLINK_CONF_DIR` points the image's scripts at
/// it (the image's own `/opt/flink/conf` stays writable for its entrypoint).
pub const CONF_DIR: &str = "/opt/flink/flinkd-conf";

/// The labels flinkd puts on a cluster's objects.
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const COMPONENT: &str = "app.kubernetes.io/component";
pub const DEPLOYMENT_ID: &str = "flinkd.io/deployment-id";
pub const DEPLOYMENT_NAME: &str = "flinkd.io/deployment-name";
pub const JOB_ID: &str = "flinkd.io/job-id";
pub const INSTANCE: &str = "flinkd.io/instance";

/// A job's cluster on a Kubernetes target, as recorded before its objects are created:
/// enough to find them (their names and the job's label) after a restart of flinkd.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KubernetesCluster {
    pub namespace: String,
    /// What every object's name starts with ([`base_name`]).
    pub name: String,
    /// The Job's id: the `flinkd.io/job-id` label of its objects.
    pub job_id: uuid::Uuid,
    pub flink_job_id: String,
    /// The API server it was made through (empty in records from before it was kept).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub server: String,
}

impl KubernetesCluster {
    /// Whether it can be looked for through the API server at `server`: not if it was
    /// made through another (the kubeconfig or its context changed). There, its
    /// objects would be missing, and it would be taken for gone while it runs.
    pub fn reached_through(&self, server: &str) -> Result<(), String> {
        if self.server.is_empty() || self.server == server {
            return Ok(());
        }
        Err(format!(
            "the cluster {} was made through the Kubernetes API server {}, and flinkd now reaches {} (a changed kubeconfig or context): it is not looked for there; configure the former again to reach it",
            self.name, self.server, server
        ))
    }

    /// The JobManager's Deployment and Service.
    pub fn job_manager(&self) -> String {
        format!("{}-jobmanager", self.name)
    }
}

/// The orphans among the jobs whose objects a sweep found (`(namespace, job)` → the
/// Deployment they name): those with no cluster on record, in a stable order. `known`
/// must be read after the objects were listed (a cluster is recorded before its first
/// object is created, so one being started is known by then).
pub fn orphans<D: Copy>(
    found: &BTreeMap<(String, uuid::Uuid), D>,
    known: &std::collections::BTreeSet<uuid::Uuid>,
) -> Vec<(String, uuid::Uuid, D)> {
    found
        .iter()
        .filter(|((_, job), _)| !known.contains(job))
        .map(|((ns, job), d)| (ns.clone(), *job, *d))
        .collect()
}

/// What a job's cluster is made from.
#[derive(Debug, Clone)]
pub struct ClusterSpec<'a> {
    /// The Kubernetes namespace (the target's `spec.kubernetes.namespace`).
    pub namespace: &'a str,
    pub deployment_name: &'a str,
    pub deployment_id: uuid::Uuid,
    pub job_id: uuid::Uuid,
    /// This flinkd's instance id (its orphans are told by it).
    pub instance: &'a str,
    pub template: &'a ExpandedTemplate,
    /// The artifact as expanded (its image fields).
    pub artifact: &'a Artifact,
    pub kubernetes: Option<&'a KubernetesOptions>,
    /// `[kubernetes.images]`: an image per Flink version.
    pub images: &'a BTreeMap<String, String>,
}

/// The image a job's cluster runs: the artifact's `flinkImageRegistry`,
/// `flinkImageRepository` and `flinkImageTag` where any is given (repository `flink`,
/// tag the Flink version by default), else the config's image for the Flink version,
/// else the official image `flink:VERSION`.
pub fn image(
    artifact: &Artifact,
    flink_version: &str,
    images: &BTreeMap<String, String>,
) -> String {
    fn given(v: &Option<String>) -> Option<&str> {
        v.as_deref().map(str::trim).filter(|s| !s.is_empty())
    }
    let (registry, repository, tag) = (
        given(&artifact.flink_image_registry),
        given(&artifact.flink_image_repository),
        given(&artifact.flink_image_tag),
    );
    if registry.is_none() && repository.is_none() && tag.is_none() {
        if let Some(image) = images.get(flink_version) {
            return image.clone();
        }
    }
    let repository = repository.unwrap_or("flink");
    let tag = tag.unwrap_or(flink_version);
    match registry {
        Some(r) => format!("{}/{repository}:{tag}", r.trim_end_matches('/')),
        None => format!("{repository}:{tag}"),
    }
}

/// The name every object of a job's cluster starts with: `flink-`, the Deployment's
/// name (cut to 32 characters) and the job's id (8 hex digits); with `-jobmanager` or
/// `-taskmanager` it stays within the 63 characters of a Service's DNS name, and it
/// begins with a letter as a Service's name must.
pub fn base_name(deployment_name: &str, job_id: uuid::Uuid) -> String {
    let name: String = deployment_name.chars().take(32).collect();
    let id = job_id.simple().to_string();
    format!("flink-{}-{}", name.trim_end_matches('-'), &id[..8])
}

/// Flink 1.19 and later read `config.yaml` (standard YAML); earlier versions only
/// `flink-conf.yaml`, with a line parser of their own that keeps quotes as part of a
/// value and cuts a line at `#`.
pub fn config_file_name(flink_version: &str) -> &'static str {
    let mut parts = flink_version.trim().split('.');
    let number = |p: Option<&str>| -> Option<u32> {
        let digits: String = p?.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    };
    match (number(parts.next()), number(parts.next())) {
        (Some(0), _) => LEGACY_CONFIG,
        (Some(1), Some(minor)) if minor < 19 => LEGACY_CONFIG,
        (Some(1), None) => LEGACY_CONFIG,
        _ => "config.yaml",
    }
}

/// The file name of the configuration Flink before 1.19 reads.
pub const LEGACY_CONFIG: &str = "flink-conf.yaml";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_image_comes_from_the_artifact_then_the_config_then_the_official_one() {
        let none = BTreeMap::new();
        let configured = BTreeMap::from([("2.3".to_string(), "reg/flink:2.3-j17".to_string())]);
        let plain = Artifact::default();
        assert_eq!(image(&plain, "2.3", &none), "flink:2.3");
        assert_eq!(image(&plain, "2.3", &configured), "reg/flink:2.3-j17");
        let tagged = Artifact {
            flink_image_tag: Some("2.3.0-java21".into()),
            ..Artifact::default()
        };
        assert_eq!(image(&tagged, "2.3", &configured), "flink:2.3.0-java21");
        let full = Artifact {
            flink_image_registry: Some("registry.example.com/".into()),
            flink_image_repository: Some("team/flink".into()),
            ..Artifact::default()
        };
        assert_eq!(
            image(&full, "1.20", &configured),
            "registry.example.com/team/flink:1.20"
        );
    }

    #[test]
    fn names_fit_a_service_and_begin_with_a_letter() {
        let id = uuid::Uuid::parse_str("0f8fad5b-d9cb-469f-a165-70867728950e").unwrap();
        assert_eq!(base_name("counter", id), "flink-counter-0f8fad5b");
        let long = "a".repeat(31) + "-" + &"b".repeat(31);
        let base = base_name(&long, id);
        assert!(format!("{base}-taskmanager").len() <= 63, "{base}");
        assert!(!base.contains("--"), "{base}");
        assert!(base_name("9lives", id).starts_with("flink-9lives"));
    }

    #[test]
    fn a_cluster_is_looked_for_only_through_the_api_server_it_was_made_through() {
        let mut c = KubernetesCluster {
            namespace: "team".into(),
            name: "flink-a-0f8fad5b".into(),
            job_id: uuid::Uuid::nil(),
            flink_job_id: "0".into(),
            server: "https://10.0.0.1:6443/".into(),
        };
        assert_eq!(c.reached_through("https://10.0.0.1:6443/"), Ok(()));
        let e = c.reached_through("https://10.9.9.9:6443/").unwrap_err();
        assert!(
            e.contains("https://10.0.0.1:6443/") && e.contains("https://10.9.9.9:6443/"),
            "{e}"
        );
        // A record from before the server was kept: wherever flinkd is configured.
        c.server.clear();
        assert_eq!(c.reached_through("https://10.9.9.9:6443/"), Ok(()));
        // Old records read, new ones written without an empty field.
        let old: KubernetesCluster = serde_json::from_str(
            r#"{"namespace":"team","name":"n","jobId":"00000000-0000-0000-0000-000000000000","flinkJobId":"0"}"#,
        )
        .unwrap();
        c.name = "n".into();
        assert_eq!(old, c);
    }

    #[test]
    fn orphans_are_the_jobs_found_without_a_cluster_on_record() {
        let job = |n| uuid::Uuid::from_u128(n);
        let found = BTreeMap::from([
            (("team".to_string(), job(1)), Some(job(10))),
            (("team".to_string(), job(2)), None),
            (("other".to_string(), job(3)), Some(job(30))),
        ]);
        let known = std::collections::BTreeSet::from([job(1)]);
        assert_eq!(
            orphans(&found, &known),
            [
                ("other".to_string(), job(3), Some(job(30))),
                ("team".to_string(), job(2), None)
            ]
        );
        let all = std::collections::BTreeSet::from([job(1), job(2), job(3)]);
        assert!(orphans(&found, &all).is_empty());
    }

    #[test]
    fn flink_before_1_19_reads_flink_conf_yaml() {
        assert_eq!(config_file_name("1.11"), "flink-conf.yaml");
        assert_eq!(config_file_name("1.18"), "flink-conf.yaml");
        assert_eq!(config_file_name("1.19"), "config.yaml");
        assert_eq!(config_file_name("1.20"), "config.yaml");
        assert_eq!(config_file_name("2.3"), "config.yaml");
        assert_eq!(config_file_name("latest"), "config.yaml");
    }
}
