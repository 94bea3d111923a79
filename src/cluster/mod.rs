//! Clusters: where a Job runs, as a Deployment's target says.
//!
//! `local` (this module's [`local`]) runs each cluster as local processes; `external`
//! submits jobs to a Flink cluster someone else runs (`spec.flink.restUrl`). A
//! Kubernetes target is not run by this flinkd.

pub mod external;
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
}

impl Placement {
    /// What a running job's placement adds to its template hash: moving a Deployment to
    /// another cluster is an upgrade. Empty for the local target, so that hashes recorded
    /// before targets existed stay equal.
    pub fn hash_suffix(&self) -> String {
        match self {
            Placement::Local => String::new(),
            Placement::External { rest_url } => format!("@{rest_url}"),
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
}

impl Cluster {
    /// The `target` column of its record.
    pub fn kind(&self) -> &'static str {
        match self {
            Cluster::Local(_) => "local",
            Cluster::External(_) => "external",
        }
    }

    pub fn rest_url(&self) -> String {
        match self {
            Cluster::Local(c) => c.rest_url(),
            Cluster::External(c) => c.rest_url.clone(),
        }
    }

    /// Whether the cluster is known to be gone: a local JobManager whose process is
    /// dead. An external cluster that does not answer may come back; flinkd cannot tell
    /// it is gone, so it keeps asking (CLUSTER_UNREACHABLE says so meanwhile).
    pub fn known_gone(&self) -> bool {
        match self {
            Cluster::Local(c) => !c.job_manager_alive(),
            Cluster::External(_) => false,
        }
    }

    /// The handle as recorded, for [`Cluster::of_job`].
    pub fn to_record(&self) -> serde_json::Value {
        match self {
            Cluster::Local(c) => serde_json::to_value(c),
            Cluster::External(c) => serde_json::to_value(c),
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
                _ => None,
            }))
    }
}

/// The newest retained checkpoint beside `location`, if `location` is a retained
/// checkpoint on a local file system (`…/<job id>/chk-<n>`): Flink keeps only the last
/// few (`state.checkpoints.num-retained`) and deletes older ones, so the one on record
/// (polled now and then) may be gone, and a newer one has more recent state. Any other
/// location (a savepoint, a remote file system) is returned as it is.
pub fn newest_checkpoint(location: &str) -> String {
    let path = location
        .strip_prefix("file://")
        .or_else(|| location.strip_prefix("file:"))
        .unwrap_or(location);
    let path = std::path::Path::new(path.trim_end_matches('/'));
    let number = |p: &std::path::Path| {
        p.file_name()?
            .to_str()?
            .strip_prefix("chk-")?
            .parse::<u64>()
            .ok()
    };
    let (Some(_), Some(dir)) = (number(path), path.parent()) else {
        return location.to_string();
    };
    if !path.is_absolute() {
        return location.to_string();
    }
    let newest = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("_metadata").is_file())
        .filter_map(|p| number(&p).map(|n| (n, p)))
        .max_by_key(|(n, _)| *n);
    match newest {
        Some((_, p)) => format!("file:{}", p.display()),
        None => location.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::newest_checkpoint;

    #[test]
    fn a_deleted_retained_checkpoint_gives_way_to_the_newest_beside_it() {
        let dir = tempfile::tempdir().unwrap();
        let job = dir.path().join("checkpoints/abc");
        for n in [7, 8, 9] {
            std::fs::create_dir_all(job.join(format!("chk-{n}"))).unwrap();
            std::fs::write(job.join(format!("chk-{n}/_metadata")), b"x").unwrap();
        }
        // In progress: no metadata yet.
        std::fs::create_dir_all(job.join("chk-10")).unwrap();
        let newest = format!("file:{}", job.join("chk-9").display());
        // chk-5 was deleted by Flink since it was recorded.
        for written in [
            format!("file:{}", job.join("chk-5").display()),
            format!("file://{}/", job.join("chk-5").display()),
            job.join("chk-8").display().to_string(),
        ] {
            assert_eq!(newest_checkpoint(&written), newest, "{written}");
        }
        // Savepoints and remote file systems are left alone.
        for other in [
            "file:/tmp/savepoints/savepoint-1a2b".to_string(),
            "s3://bucket/checkpoints/abc/chk-5".to_string(),
            format!("file:{}", dir.path().join("nowhere/chk-3").display()),
        ] {
            assert_eq!(newest_checkpoint(&other), other);
        }
    }
}
