//! The actors of the daemon (DESIGN.md, "Shape of the code"). Each owns its facts and is
//! reached only by messages:
//!
//! - [`supervisor::Supervisor`] turns the watched directory into DeploymentActors;
//! - [`deployment::DeploymentActor`] owns one Deployment's lifecycle and records;
//! - [`job::JobActor`] owns one Flink job and its cluster;
//! - [`store::StoreHandle`] reaches the thread that owns the SQLite file.

pub mod deployment;
pub mod job;
pub mod pruner;
pub mod store;
pub mod supervisor;
pub mod sweep;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::config::Config;

/// At most this many job starts run at once; the others wait their turn.
pub const MAX_CONCURRENT_STARTS: usize = 64;

/// What every actor shares: the config in force, the store's address, the one HTTP
/// client (connection reuse across all clusters) and the metrics.
pub struct Shared {
    config: RwLock<Arc<Config>>,
    pub store: store::StoreHandle,
    pub http: reqwest::Client,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Jars uploaded to external clusters, each once per content.
    pub jar_uploads: crate::cluster::external::JarUploads,
    /// Job starts under way at once (see [`MAX_CONCURRENT_STARTS`]).
    pub starts: tokio::sync::Semaphore,
    /// Per cluster (REST address): the requests in flight.
    limits: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Semaphore>>>,
    /// The Kubernetes API, once a Kubernetes cluster needed it, and the `[kubernetes]`
    /// it was made from (a reload that changes it makes a new one).
    kube: tokio::sync::Mutex<Option<(crate::config::KubernetesConfig, Arc<KubeAccess>)>>,
    kube_ready: RwLock<Option<Arc<KubeAccess>>>,
    /// The Kubernetes namespaces clusters were made in since the start (swept).
    kube_namespaces: std::sync::Mutex<std::collections::BTreeSet<String>>,
}

use crate::cluster::kubernetes::access::KubeAccess;

impl Shared {
    pub fn new(
        config: Config,
        store: store::StoreHandle,
        http: reqwest::Client,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> Shared {
        Shared {
            config: RwLock::new(Arc::new(config)),
            store,
            http,
            metrics,
            jar_uploads: Default::default(),
            starts: tokio::sync::Semaphore::new(MAX_CONCURRENT_STARTS),
            limits: Default::default(),
            kube: Default::default(),
            kube_ready: Default::default(),
            kube_namespaces: Default::default(),
        }
    }

    /// Notes a namespace a cluster is made in.
    pub fn note_kube_namespace(&self, namespace: &str) {
        let mut n = self
            .kube_namespaces
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if !n.contains(namespace) {
            n.insert(namespace.to_string());
        }
    }

    pub fn kube_namespaces(&self) -> std::collections::BTreeSet<String> {
        self.kube_namespaces
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The Kubernetes API as the config in force says to reach it; connected at the
    /// first need (a daemon without Kubernetes Deployments never looks for a config).
    pub async fn kube(&self) -> Result<Arc<KubeAccess>, String> {
        let config = self.config();
        let mut slot = self.kube.lock().await;
        if let Some((made_from, access)) = slot.as_ref() {
            if *made_from == config.kubernetes {
                return Ok(access.clone());
            }
        }
        let access = Arc::new(
            KubeAccess::connect(
                &config.kubernetes,
                &config.state_dir,
                config.timing.http_timeout,
                config.files.max_jar_size.0,
            )
            .await?,
        );
        *slot = Some((config.kubernetes.clone(), access.clone()));
        *self.kube_ready.write().unwrap_or_else(|e| e.into_inner()) = Some(access.clone());
        Ok(access)
    }

    /// The Kubernetes API if it is connected already.
    pub fn kube_ready(&self) -> Option<Arc<KubeAccess>> {
        self.kube_ready
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// A client for `cluster`'s REST API; `None` for a Kubernetes cluster while the
    /// Kubernetes API is not connected yet ([`Shared::kube`] connects it).
    pub fn flink_for(
        &self,
        cluster: &crate::cluster::Cluster,
    ) -> Option<crate::flink::FlinkClient> {
        match cluster {
            crate::cluster::Cluster::Kubernetes(c) => {
                let access = self.kube_ready()?;
                Some(self.flink_with(access.http(), &access.flink_base(c)))
            }
            other => Some(self.flink(&other.rest_url())),
        }
    }

    /// A client for the cluster at `rest_url`: the shared connections, the metrics, and
    /// the cluster's limit on requests in flight.
    pub fn flink(&self, rest_url: &str) -> crate::flink::FlinkClient {
        self.flink_with(self.http.clone(), rest_url)
    }

    /// [`Shared::flink`] over another HTTP client (a Kubernetes cluster's).
    fn flink_with(&self, http: reqwest::Client, rest_url: &str) -> crate::flink::FlinkClient {
        let limit = {
            let mut limits = self.limits.lock().unwrap_or_else(|e| e.into_inner());
            limits
                .entry(rest_url.to_string())
                .or_insert_with(|| {
                    Arc::new(tokio::sync::Semaphore::new(
                        crate::flink::MAX_REQUESTS_PER_CLUSTER,
                    ))
                })
                .clone()
        };
        crate::flink::FlinkClient::new(http, rest_url)
            .with_metrics(self.metrics.clone())
            .with_limit(limit)
    }

    /// Forgets the limit of a cluster that is gone (a local cluster torn down).
    pub fn forget_cluster(&self, rest_url: &str) {
        let mut limits = self.limits.lock().unwrap_or_else(|e| e.into_inner());
        limits.remove(rest_url);
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
