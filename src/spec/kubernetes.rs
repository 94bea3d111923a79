//! `spec.template.spec.kubernetes`: how the pods of a job's cluster on a Kubernetes
//! target look, as the reference platform (Ververica Platform) spells it: labels for the
//! cluster's objects, and either pod options that apply to the JobManager's and the
//! TaskManagers' pods alike, or a whole pod template for each.
//!
//! The Kubernetes parts (affinity, tolerations, volumes, …) are Kubernetes' own types
//! (k8s-openapi), so that what a user writes is what the API server gets.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Affinity, EnvVar, LocalObjectReference, PodSecurityContext, PodTemplateSpec, Toleration,
    Volume, VolumeMount,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KubernetesOptions {
    /// Added to every object of the cluster; flinkd's own labels take precedence.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Options of both pods. Not with the pod templates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pods: Option<PodOptions>,
    /// The JobManager's pod, merged with what flinkd sets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_manager_pod_template: Option<PodTemplateSpec>,
    /// The TaskManagers' pod, merged with what flinkd sets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_manager_pod_template: Option<PodTemplateSpec>,
}

/// `kubernetes.pods`: what the JobManager's and the TaskManagers' pods share.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PodOptions {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_pull_secrets: Vec<LocalObjectReference>,
    /// A volume of the pod and where the Flink container mounts it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volume_mounts: Vec<VolumeAndMount>,
    /// Environment variables of the Flink container.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env_vars: Vec<EnvVar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_context: Option<PodSecurityContext>,
    /// The pods' service account (flinkd's addition to the reference platform's pod
    /// options, which set it only through pod templates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
}

/// One entry of `pods.volumeMounts`: `name` names both the volume and its mount.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VolumeAndMount {
    pub name: String,
    pub volume: Volume,
    pub volume_mount: VolumeMount,
}
