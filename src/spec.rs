//! The resource model: `Deployment`, `DeploymentTarget`, `DeploymentDefaults`, and the
//! `Job`, `Savepoint` and `Event` records that flinkd derives from them.
//!
//! The shapes follow the reference page (Ververica Platform's Deployment resource).
//! Every spec field is optional here because one type serves three layers: what a user
//! wrote in a file, a namespace's `DeploymentDefaults`, and the daemon config's
//! `[defaults]`. [`crate::defaults`] merges the layers; after expansion every field the
//! reference page defaults is present, and that is what `flinkd get` and the API show.
//!
//! Unknown fields are errors (`deny_unknown_fields`): a typo such as `paralelism` must not
//! be silently ignored. Enum values are case-insensitive on input and canonical upper
//! case on output; `CANCELED` is accepted for `CANCELLED`.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;
use uuid::Uuid;

mod import;
mod kubernetes;
pub use import::{ImportMetadata, ImportSpec, SavepointImport};
pub use kubernetes::{KubernetesOptions, PodOptions, VolumeAndMount};

/// The only `apiVersion` flinkd knows.
pub const API_VERSION: &str = "v1";
/// The namespace of a resource whose `metadata.namespace` is absent.
pub const DEFAULT_NAMESPACE: &str = "default";
/// The target that exists without a file, used by Deployments that name none.
pub const LOCAL_TARGET: &str = "local";

/// Declares a string enum: canonical upper-case names on output, case-insensitive on
/// input, with optional extra spellings (aliases) accepted on input only.
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal $(| $alias:literal)*),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The canonical spelling.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Parses a value case-insensitively, accepting the declared aliases.
            pub fn parse(s: &str) -> Option<Self> {
                $(
                    if s.eq_ignore_ascii_case($text) $(|| s.eq_ignore_ascii_case($alias))* {
                        return Some($name::$variant);
                    }
                )+
                None
            }

            fn expected() -> String {
                [$($text),+].join(", ")
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                $name::parse(s).ok_or_else(|| format!("unknown value `{s}`, expected one of {}", $name::expected()))
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

string_enum!(
    /// `spec.state`: what the user wants.
    DesiredState {
        Running = "RUNNING",
        Cancelled = "CANCELLED" | "CANCELED",
        Suspended = "SUSPENDED",
    }
);

string_enum!(
    /// `status.state`: what the Deployment is.
    DeploymentState {
        Running = "RUNNING",
        Cancelled = "CANCELLED" | "CANCELED",
        Suspended = "SUSPENDED",
        Finished = "FINISHED",
        Transitioning = "TRANSITIONING",
        Failed = "FAILED",
    }
);

string_enum!(
    /// `spec.upgradeStrategy.kind`.
    UpgradeStrategyKind {
        None = "NONE",
        Stateless = "STATELESS",
        Stateful = "STATEFUL",
    }
);

string_enum!(
    /// `spec.restoreStrategy.kind`: which snapshot a new job starts from.
    RestoreStrategyKind {
        None = "NONE",
        LatestSavepoint = "LATEST_SAVEPOINT",
        LatestState = "LATEST_STATE",
    }
);

string_enum!(
    /// `spec.template.spec.artifact.kind`.
    ArtifactKind {
        Jar = "JAR",
    }
);

string_enum!(
    /// The state of a Job record (one Flink job and its cluster).
    JobState {
        Starting = "STARTING",
        Started = "STARTED",
        Terminating = "TERMINATING",
        Terminated = "TERMINATED",
        Finished = "FINISHED",
        Failed = "FAILED",
    }
);

string_enum!(
    /// Why a Savepoint record exists.
    SavepointOrigin {
        UserRequest = "USER_REQUEST",
        Suspend = "SUSPEND",
        SuspendAndUpgrade = "SUSPEND_AND_UPGRADE",
        RetainedCheckpoint = "RETAINED_CHECKPOINT",
        Periodic = "PERIODIC",
        Imported = "IMPORTED",
    }
);

string_enum!(
    /// The state of a Savepoint record.
    SavepointState {
        Started = "STARTED",
        Completed = "COMPLETED",
        Failed = "FAILED",
    }
);

string_enum!(
    /// The `type` of a Deployment condition (reference page, "Deployment Conditions").
    ConditionType {
        ClusterUnreachable = "ClusterUnreachable",
        JobFailing = "JobFailing",
        JobUnstable = "JobUnstable",
        ClusterPodsFailing = "ClusterPodsFailing",
    }
);

string_enum!(
    /// The `status` of a Deployment condition.
    ConditionStatus {
        True = "True",
        False = "False",
        Unknown = "Unknown",
    }
);

string_enum!(
    /// The kinds a file may hold.
    Kind {
        Deployment = "Deployment",
        DeploymentTarget = "DeploymentTarget",
        DeploymentDefaults = "DeploymentDefaults",
        Savepoint = "Savepoint",
    }
);

/// SHA-256 of some bytes, in hex: how flinkd tells whether a file or a spec changed.
pub fn content_hash(bytes: impl AsRef<[u8]>) -> String {
    use sha2::{Digest, Sha256};
    format!("{:x}", Sha256::digest(bytes.as_ref()))
}

/// Timestamps are RFC 3339 on the wire.
pub type Timestamp = OffsetDateTime;

/// `metadata` of the file-based kinds. `createdAt`, `modifiedAt` and `resourceVersion`
/// are the daemon's: accepted on input (so `flinkd get -o yaml` output can be dropped
/// back in) but replaced by the stored values.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Metadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub created_at: Option<Timestamp>,
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub modified_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<u64>,
}

impl Metadata {
    /// The namespace, `default` when absent.
    pub fn namespace(&self) -> &str {
        self.namespace.as_deref().unwrap_or(DEFAULT_NAMESPACE)
    }
}

/// `(namespace, name)`: the identity of a file-based resource.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identity {
    pub namespace: String,
    pub name: String,
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

impl Metadata {
    pub fn identity(&self) -> Identity {
        Identity {
            namespace: self.namespace().to_string(),
            name: self.name.clone(),
        }
    }
}

/// A `Deployment`: desired state, strategies, limits and the job template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Deployment {
    pub kind: Kind,
    pub api_version: String,
    pub metadata: Metadata,
    #[serde(default)]
    pub spec: DeploymentSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<DeploymentStatus>,
}

/// `spec` of a Deployment, also the body of `DeploymentDefaults` and of `[defaults]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeploymentSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<DesiredState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade_strategy: Option<UpgradeStrategy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_strategy: Option<RestoreStrategy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_target_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_target_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_savepoint_creation_attempts: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_job_creation_attempts: Option<i64>,
    /// flinkd's own: a savepoint of the running job every this long (`1h`, `30m`;
    /// origin PERIODIC). Off unless set here, in DeploymentDefaults or `[defaults]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub savepoint_interval: Option<String>,
    /// flinkd's own: which snapshots are disposed of (off unless set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub savepoint_retention: Option<SavepointRetention>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<std::sync::Arc<DeploymentTemplate>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpgradeStrategy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<UpgradeStrategyKind>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RestoreStrategy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<RestoreStrategyKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_non_restored_state: Option<bool>,
}

/// `spec.savepointRetention`: keep the newest `keep` snapshots and those younger than
/// `maxAge`; the rest are disposed of (files, then records).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SavepointRetention {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<String>,
    /// Imported savepoints are kept unless this says otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dispose_imported: Option<bool>,
}

/// `spec.template`: what to run and how.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeploymentTemplate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<TemplateMetadata>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<TemplateSpec>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TemplateMetadata {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TemplateSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<Artifact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallelism: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number_of_task_managers: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    /// Flink configuration keys and values, passed to the cluster as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flink_configuration: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging: Option<Logging>,
    /// The pods of a cluster on a Kubernetes target. Boxed: Kubernetes' pod types are
    /// kilobytes inline, and every spec of every Deployment would carry them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<Box<KubernetesOptions>>,
}

/// `spec.template.spec.artifact`. Only `kind: JAR` exists.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Artifact {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ArtifactKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jar_uri: Option<String>,
    /// The SHA-256 of the jar's content (64 hex digits): when given, a jar that does
    /// not match is not run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jar_sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_class: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub main_args: Option<String>,
    /// Written as the scalar's text: `1.10` stays `1.10` (see [`crate::source`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flink_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_dependencies: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flink_image_registry: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flink_image_repository: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flink_image_tag: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Resources {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_manager: Option<ResourceSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_manager: Option<ResourceSpec>,
}

/// CPU cores and memory of one JobManager or TaskManager.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<f64>,
    /// A Kubernetes or Flink memory quantity: `1g`, `512m`, `2Gi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Logging {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging_profile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log4j_loggers: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log4j2_configuration_template: Option<String>,
}

/// `status` of a Deployment: the daemon's, never the file's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeploymentStatus {
    pub state: DeploymentState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running: Option<RunningStatus>,
    /// What is wrong with the Deployment's file now (`FILE:LINE:COL: FIELD: message`):
    /// the Deployment goes on with its last valid spec meanwhile.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    /// Where the current job's Flink web UI is (filled in by the API as it answers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flink_ui: Option<FlinkUi>,
}

/// `status.flinkUi`: the cluster's own address, and the same UI through flinkd.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FlinkUi {
    pub url: String,
    pub proxy: String,
}

/// `status.running`, present while the Deployment is RUNNING.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RunningStatus {
    pub job_id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub transition_time: Timestamp,
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Condition {
    #[serde(rename = "type")]
    pub kind: ConditionType,
    pub status: ConditionStatus,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub reason: String,
    #[serde(with = "time::serde::rfc3339")]
    pub last_transition_time: Timestamp,
    #[serde(with = "time::serde::rfc3339")]
    pub last_update_time: Timestamp,
}

/// A `DeploymentTarget`: where a Deployment's Flink clusters run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeploymentTarget {
    pub kind: Kind,
    pub api_version: String,
    pub metadata: Metadata,
    pub spec: DeploymentTargetSpec,
}

/// Exactly one of `local`, `kubernetes` and `flink` (checked by validation, so that the
/// error can name the field rather than fail an untagged enum).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeploymentTargetSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<LocalTarget>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<KubernetesTarget>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flink: Option<FlinkTarget>,
}

/// `spec.flink.restUrl`: a Flink cluster flinkd does not manage (a session cluster
/// someone already runs). Jobs are submitted to it; it is never started or stopped.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FlinkTarget {
    pub rest_url: String,
}

/// `spec.local: {}`: Flink clusters as local processes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LocalTarget {}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KubernetesTarget {
    pub namespace: String,
}

impl DeploymentTarget {
    /// The target that exists in every namespace without a file.
    pub fn builtin_local(namespace: &str) -> Self {
        DeploymentTarget {
            kind: Kind::DeploymentTarget,
            api_version: API_VERSION.to_string(),
            metadata: Metadata {
                name: LOCAL_TARGET.to_string(),
                namespace: Some(namespace.to_string()),
                ..Metadata::default()
            },
            spec: DeploymentTargetSpec {
                local: Some(LocalTarget {}),
                kubernetes: None,
                flink: None,
            },
        }
    }
}

/// `DeploymentDefaults`: a partial Deployment spec applied to every Deployment of its
/// namespace, below the Deployment's own fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeploymentDefaults {
    pub kind: Kind,
    pub api_version: String,
    pub metadata: Metadata,
    #[serde(default)]
    pub spec: DeploymentSpec,
}

/// Metadata of the records the daemon creates (Jobs, Savepoints, Events).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordMetadata {
    pub id: Uuid,
    pub namespace: String,
    pub deployment_id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: Timestamp,
    #[serde(with = "time::serde::rfc3339")]
    pub modified_at: Timestamp,
}

/// A Job: one Flink job of a Deployment, with its own cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    pub metadata: RecordMetadata,
    pub spec: JobSpec,
    pub status: JobStatus,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobSpec {
    /// The expanded template this job was started from.
    pub template: std::sync::Arc<DeploymentTemplate>,
    /// Stable hash of `template`, compared against the Deployment's to detect upgrades.
    pub template_hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_savepoint_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub savepoint_location: Option<String>,
    pub allow_non_restored_state: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobStatus {
    pub state: JobState,
    /// Flink's own job id, once submitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flink_job_id: Option<String>,
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub started_at: Option<Timestamp>,
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub terminated_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    pub reason: String,
    pub message: String,
}

/// A Savepoint (or a retained checkpoint) of a Deployment's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Savepoint {
    pub metadata: RecordMetadata,
    pub origin: SavepointOrigin,
    pub state: SavepointState,
    /// Where Flink wrote it, once COMPLETED.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Flink's id of the operation taking it, kept as soon as Flink gives it, so that a
    /// restarted daemon can still ask for the outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
}

/// How loud an event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum EventLevel {
    Info,
    Warning,
    Error,
}

/// An entry of a Deployment's event log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// Position in the store's log; assigned when appended.
    #[serde(default)]
    pub seq: i64,
    pub deployment_id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<Uuid>,
    pub namespace: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: Timestamp,
    /// The event's name in the reference platform's vocabulary, e.g.
    /// `JOB_SUCCESSFULLY_STARTED`.
    pub name: String,
    pub level: EventLevel,
    pub message: String,
}

#[cfg(test)]
mod tests;
