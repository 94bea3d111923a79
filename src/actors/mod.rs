//! The actors of the daemon (DESIGN.md, "Shape of the code"). Each owns its facts and is
//! reached only by messages:
//!
//! - [`supervisor::Supervisor`] turns the watched directory into DeploymentActors;
//! - [`deployment::DeploymentActor`] owns one Deployment's lifecycle and records;
//! - [`job::JobActor`] owns one Flink job and its cluster;
//! - [`store::StoreActor`] owns the SQLite file.

pub mod deployment;
pub mod job;
pub mod store;
pub mod supervisor;

use crate::config::Config;

/// What every actor shares, read-only: the config, the store's address and the one
/// HTTP client (connection reuse across all clusters).
pub struct Shared {
    pub config: Config,
    pub store: actix::Addr<store::StoreActor>,
    pub http: reqwest::Client,
    pub metrics: std::sync::Arc<crate::metrics::Metrics>,
}
