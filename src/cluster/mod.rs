//! Clusters: where a Job runs, as a Deployment's target says.
//!
//! `local` (this module's [`local`]) runs each cluster as local processes; `external`
//! submits jobs to a Flink cluster someone else runs (`spec.flink.restUrl`);
//! [`kubernetes`] runs each cluster as Kubernetes objects in a namespace.

pub mod external;
pub mod kubernetes;
pub mod local;

use serde::{Deserialize, Serialize};

/// Where a Deployment's jobs run, as resolved from its DeploymentTarget.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Placement {
    /// One cluster of local processes per job, started and stopped by flinkd.
    #[default]
    Local,
    /// An existing cluster at this REST address.
    External { rest_url: String },
    /// A cluster per job as objects in this Kubernetes namespace.
    Kubernetes { namespace: String },
}

impl Placement {
    /// What a running job's placement adds to its template hash: moving a Deployment to
    /// another cluster is an upgrade. Empty for the local target, so that hashes recorded
    /// before targets existed stay equal.
    pub fn hash_suffix(&self) -> String {
        match self {
            Placement::Local => String::new(),
            Placement::External { rest_url } => format!("@{rest_url}"),
            Placement::Kubernetes { namespace } => format!("@kubernetes:{namespace}"),
        }
    }
}

/// A cluster could not be set up, started or stopped.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClusterError {
    #[error("{0}")]
    Setup(String),
    #[error("cannot {what}: {message}")]
    Io { what: String, message: String },
    #[error("the cluster did not start: {0}")]
    Start(String),
    #[error("the cluster did not stop: {0}")]
    Stop(String),
}

impl ClusterError {
    pub fn io(what: &str, e: std::io::Error) -> Self {
        ClusterError::Io {
            what: what.to_string(),
            message: e.to_string(),
        }
    }
}

/// The cluster a job runs on, as recorded in the store's `clusters` table.
#[derive(Debug, Clone, PartialEq)]
pub enum Cluster {
    Local(local::LocalCluster),
    External(external::ExternalCluster),
    Kubernetes(kubernetes::KubernetesCluster),
}

impl Cluster {
    /// The `target` column of its record.
    pub fn kind(&self) -> &'static str {
        match self {
            Cluster::Local(_) => "local",
            Cluster::External(_) => "external",
            Cluster::Kubernetes(_) => "kubernetes",
        }
    }

    /// The cluster's REST address; for a Kubernetes cluster its in-cluster one, which
    /// names it (flinkd reaches it as `[kubernetes] rest` says: `Shared::flink_for`).
    pub fn rest_url(&self) -> String {
        match self {
            Cluster::Local(c) => c.rest_url(),
            Cluster::External(c) => c.rest_url.clone(),
            Cluster::Kubernetes(c) => format!(
                "http://{}.{}.svc:{}",
                c.job_manager(),
                c.namespace,
                kubernetes::REST_PORT
            ),
        }
    }

    /// Whether the cluster is known to be gone: a local JobManager whose process is
    /// dead. An external cluster that does not answer may come back; flinkd cannot tell
    /// it is gone, so it keeps asking (CLUSTER_UNREACHABLE says so meanwhile). Whether a
    /// Kubernetes cluster is gone only the API server can say (a poll asks it).
    pub fn known_gone(&self) -> bool {
        match self {
            Cluster::Local(c) => !c.job_manager_alive(),
            Cluster::External(_) | Cluster::Kubernetes(_) => false,
        }
    }

    /// The handle as recorded, for [`Cluster::of_job`].
    pub fn to_record(&self) -> serde_json::Value {
        match self {
            Cluster::Local(c) => serde_json::to_value(c),
            Cluster::External(c) => serde_json::to_value(c),
            Cluster::Kubernetes(c) => serde_json::to_value(c),
        }
        .unwrap_or_default()
    }

    /// The cluster on record for `job`; `None` if there is none, or one this version
    /// cannot read.
    pub fn of_job(
        store: &crate::store::Store,
        job: uuid::Uuid,
    ) -> Result<Option<Cluster>, crate::store::StoreError> {
        Ok(store
            .cluster::<serde_json::Value>(job)?
            .and_then(|(target, body)| match target.as_str() {
                "local" => serde_json::from_value(body).ok().map(Cluster::Local),
                "external" => serde_json::from_value(body).ok().map(Cluster::External),
                "kubernetes" => serde_json::from_value(body).ok().map(Cluster::Kubernetes),
                _ => None,
            }))
    }
}
