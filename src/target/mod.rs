//! Deployment targets: where a Job's Flink cluster runs.
//!
//! `local` (this module's [`local`]) runs each cluster as local processes. The
//! Kubernetes target and the external-cluster target come later.

pub mod local;

/// A cluster could not be set up, started or stopped.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TargetError {
    #[error("{0}")]
    Setup(String),
    #[error("cannot {what}: {message}")]
    Io { what: String, message: String },
    #[error("the cluster did not start: {0}")]
    Start(String),
    #[error("the cluster did not stop: {0}")]
    Stop(String),
}

impl TargetError {
    pub fn io(what: &str, e: std::io::Error) -> Self {
        TargetError::Io {
            what: what.to_string(),
            message: e.to_string(),
        }
    }
}
