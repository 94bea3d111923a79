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

use std::sync::{Arc, RwLock};

use crate::config::Config;

/// What every actor shares: the config in force, the store's address, the one HTTP
/// client (connection reuse across all clusters) and the metrics.
pub struct Shared {
    config: RwLock<Arc<Config>>,
    pub store: actix::Addr<store::StoreActor>,
    pub http: reqwest::Client,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Jars uploaded to external clusters, each once per content.
    pub jar_uploads: crate::target::external::JarUploads,
}

impl Shared {
    pub fn new(
        config: Config,
        store: actix::Addr<store::StoreActor>,
        http: reqwest::Client,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> Shared {
        Shared {
            config: RwLock::new(Arc::new(config)),
            store,
            http,
            metrics,
            jar_uploads: Default::default(),
        }
    }

    /// The config in force, as one snapshot: a decision reads one config, even if a
    /// reload lands meanwhile.
    pub fn config(&self) -> Arc<Config> {
        match self.config.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Puts a reloaded config in force (the Supervisor's, on SIGHUP).
    pub fn set_config(&self, config: Config) {
        let new = Arc::new(config);
        match self.config.write() {
            Ok(mut c) => *c = new,
            Err(poisoned) => *poisoned.into_inner() = new,
        }
    }
}
