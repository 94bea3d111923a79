//! A job's cluster through the Kubernetes API server (kube-rs): its objects created,
//! looked at, and removed; the objects of this flinkd found by their labels.
//!
//! The JobManager's Deployment is created first, and the others with an owner reference
//! to it, so that one delete removes the cluster (Kubernetes' garbage collector). A
//! removal also deletes by the job's label whatever the collector has not reached (an
//! object created before its owner's reference could be set), and is verified: it is
//! done when nothing labelled with the job, pods included, is left.

use std::fmt::Debug;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::Resource;
use serde::de::DeserializeOwned;
use serde::Serialize;
use uuid::Uuid;

use super::{KubernetesCluster, Objects, DEPLOYMENT_ID, INSTANCE, JOB_ID, MANAGED_BY};
use crate::lifecycle::PodTrouble;

/// What went wrong with a call to the API server.
#[derive(Debug, Clone, thiserror::Error)]
pub enum KubeError {
    /// No answer (refused, timed out, cut off): the API server may come back.
    #[error("{0}")]
    Unreachable(String),
    /// It answered, with an error.
    #[error("the Kubernetes API server answered {code} {reason}: {message}")]
    Api {
        code: u16,
        reason: String,
        message: String,
    },
    /// An object of the cluster's name exists and is not this job's.
    #[error("{0}")]
    Conflict(String),
}

impl From<kube::Error> for KubeError {
    fn from(e: kube::Error) -> Self {
        match e {
            kube::Error::Api(s) if s.code < 500 => KubeError::Api {
                code: s.code,
                reason: s.reason.clone(),
                message: s.message.clone(),
            },
            // A 5xx says the server cannot serve now: as good as no answer.
            kube::Error::Api(s) => KubeError::Unreachable(format!(
                "the Kubernetes API server answered {} {} (it cannot serve now): {}",
                s.code, s.reason, s.message
            )),
            other => {
                KubeError::Unreachable(format!("the Kubernetes API server did not answer: {other}"))
            }
        }
    }
}

impl KubeError {
    fn is(&self, wanted: u16) -> bool {
        matches!(self, KubeError::Api { code, .. } if *code == wanted)
    }

    pub fn is_unreachable(&self) -> bool {
        matches!(self, KubeError::Unreachable(_))
    }
}

/// Whether a job's cluster is there, as the API server says.
#[derive(Debug, Clone, PartialEq)]
pub enum Presence {
    /// The JobManager's Deployment is this job's; the trouble of its pods, if any.
    Present(Option<PodTrouble>),
    /// No JobManager Deployment of this job (deleted, or another's by that name).
    Gone,
}

/// What a removal did: objects deleted, and what is still there (`kind/name`; going
/// objects and pods included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    pub deleted: usize,
    pub left: Vec<String>,
}

/// An object of this flinkd's, found by its labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Labelled {
    pub kind: &'static str,
    pub name: String,
    pub job_id: Option<Uuid>,
    pub deployment_id: Option<Uuid>,
}

/// The API calls of the Kubernetes target.
#[derive(Clone)]
pub struct KubeApi {
    client: kube::Client,
}

fn job_selector(job: Uuid) -> ListParams {
    ListParams::default().labels(&format!("{MANAGED_BY}=flinkd,{JOB_ID}={job}"))
}

fn labels_of<K: Resource>(o: &K) -> Option<&std::collections::BTreeMap<String, String>> {
    o.meta().labels.as_ref()
}

fn is_job_s<K: Resource>(o: &K, job: Uuid) -> bool {
    labels_of(o)
        .and_then(|l| l.get(JOB_ID))
        .is_some_and(|v| *v == job.to_string())
}

impl KubeApi {
    pub fn new(client: kube::Client) -> Self {
        KubeApi { client }
    }

    fn api<K>(&self, namespace: &str) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), namespace)
    }

    /// Creates an object, or takes the one there if it is this job's (a start the
    /// previous daemon began).
    async fn create<K>(&self, namespace: &str, object: &K, job: Uuid) -> Result<K, KubeError>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + Serialize
            + Debug,
        <K as Resource>::DynamicType: Default,
    {
        let api: Api<K> = self.api(namespace);
        match api.create(&PostParams::default(), object).await {
            Ok(created) => Ok(created),
            Err(e) => {
                let e = KubeError::from(e);
                if !e.is(409) {
                    return Err(e);
                }
                let name = object.meta().name.clone().unwrap_or_default();
                match api.get_opt(&name).await? {
                    Some(found) if is_job_s(&found, job) => Ok(found),
                    Some(_) => Err(KubeError::Conflict(format!(
                        "{} `{name}` exists in namespace `{namespace}` and is not job {job}'s: flinkd does not touch it",
                        K::kind(&Default::default())
                    ))),
                    // Deleted meanwhile: create it again.
                    None => Ok(api.create(&PostParams::default(), object).await?),
                }
            }
        }
    }

    /// Creates a job's cluster: its JobManager's Deployment, then the others owned by it.
    pub async fn create_cluster(
        &self,
        namespace: &str,
        objects: &Objects,
        job: Uuid,
    ) -> Result<(), KubeError> {
        let owner = self.create(namespace, &objects.job_manager, job).await?;
        let reference = OwnerReference {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            name: owner.metadata.name.clone().unwrap_or_default(),
            uid: owner.metadata.uid.clone().unwrap_or_default(),
            block_owner_deletion: Some(true),
            controller: Some(false),
        };
        let owned = |mut meta: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
            meta.owner_references = Some(vec![reference.clone()]);
            meta
        };
        let mut config_map = objects.config_map.clone();
        config_map.metadata = owned(config_map.metadata);
        let mut service = objects.service.clone();
        service.metadata = owned(service.metadata);
        let mut task_managers = objects.task_managers.clone();
        task_managers.metadata = owned(task_managers.metadata);
        self.create(namespace, &config_map, job).await?;
        self.create(namespace, &service, job).await?;
        self.create(namespace, &task_managers, job).await?;
        Ok(())
    }

    /// Whether the job's cluster is there, and what troubles its pods.
    pub async fn presence(&self, c: &KubernetesCluster) -> Result<Presence, KubeError> {
        let deployments: Api<Deployment> = self.api(&c.namespace);
        match deployments.get_opt(&c.job_manager()).await? {
            Some(d) if is_job_s(&d, c.job_id) => {}
            _ => return Ok(Presence::Gone),
        }
        let pods: Api<Pod> = self.api(&c.namespace);
        let pods = pods.list(&job_selector(c.job_id)).await?;
        Ok(Presence::Present(super::trouble::of_pods(&pods.items)))
    }

    /// Deletes what is labelled with the job: Deployments, ReplicaSets (one left
    /// behind by a Deployment deleted without its dependents), Services, ConfigMaps,
    /// then pods no ReplicaSet will bring back. Says how many it deleted and what is
    /// left.
    pub async fn delete_cluster(&self, namespace: &str, job: Uuid) -> Result<Removal, KubeError> {
        let selector = job_selector(job);
        let mut deleted = 0;
        deleted += self.delete_all::<Deployment>(namespace, &selector).await?;
        deleted += self.delete_all::<ReplicaSet>(namespace, &selector).await?;
        deleted += self.delete_all::<Service>(namespace, &selector).await?;
        deleted += self.delete_all::<ConfigMap>(namespace, &selector).await?;
        deleted += self.delete_all::<Pod>(namespace, &selector).await?;
        Ok(Removal {
            deleted,
            left: self.left(namespace, job).await?,
        })
    }

    async fn delete_all<K>(
        &self,
        namespace: &str,
        selector: &ListParams,
    ) -> Result<usize, KubeError>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope> + Clone + DeserializeOwned + Debug,
        <K as Resource>::DynamicType: Default,
    {
        let api: Api<K> = self.api(namespace);
        let mut deleted = 0;
        for found in api.list(selector).await?.items {
            let name = found.meta().name.clone().unwrap_or_default();
            if ignore_gone(api.delete(&name, &DeleteParams::background()).await)? {
                deleted += 1;
            }
        }
        Ok(deleted)
    }

    /// The objects and pods labelled with the job that are left, as `kind/name`.
    pub async fn left(&self, namespace: &str, job: Uuid) -> Result<Vec<String>, KubeError> {
        Ok(self
            .labelled(namespace, &job_selector(job))
            .await?
            .into_iter()
            .map(|o| format!("{}/{}", o.kind.to_ascii_lowercase(), o.name))
            .collect())
    }

    /// The objects (and pods) this flinkd made in `namespace`.
    pub async fn of_instance(
        &self,
        namespace: &str,
        instance: &str,
    ) -> Result<Vec<Labelled>, KubeError> {
        let selector =
            ListParams::default().labels(&format!("{MANAGED_BY}=flinkd,{INSTANCE}={instance}"));
        self.labelled(namespace, &selector).await
    }

    /// Every kind flinkd makes (and a Deployment deleted without its dependents
    /// leaves: ReplicaSets, pods) that `selector` matches.
    async fn labelled(
        &self,
        namespace: &str,
        selector: &ListParams,
    ) -> Result<Vec<Labelled>, KubeError> {
        let mut found = Vec::new();
        self.list_into::<Deployment>(namespace, selector, "Deployment", &mut found)
            .await?;
        self.list_into::<ReplicaSet>(namespace, selector, "ReplicaSet", &mut found)
            .await?;
        self.list_into::<Service>(namespace, selector, "Service", &mut found)
            .await?;
        self.list_into::<ConfigMap>(namespace, selector, "ConfigMap", &mut found)
            .await?;
        self.list_into::<Pod>(namespace, selector, "Pod", &mut found)
            .await?;
        Ok(found)
    }

    async fn list_into<K>(
        &self,
        namespace: &str,
        selector: &ListParams,
        kind: &'static str,
        out: &mut Vec<Labelled>,
    ) -> Result<(), KubeError>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope> + Clone + DeserializeOwned + Debug,
        <K as Resource>::DynamicType: Default,
    {
        let api: Api<K> = self.api(namespace);
        out.extend(api.list(selector).await?.items.iter().map(|o| Labelled {
            kind,
            name: o.meta().name.clone().unwrap_or_default(),
            job_id: label(o, JOB_ID),
            deployment_id: label(o, DEPLOYMENT_ID),
        }));
        Ok(())
    }
}

fn label<K: Resource>(o: &K, key: &str) -> Option<Uuid> {
    labels_of(o)?.get(key)?.parse().ok()
}

/// Whether it was deleted (`false`: it was gone already).
fn ignore_gone<T>(r: Result<T, kube::Error>) -> Result<bool, KubeError> {
    match r.map_err(KubeError::from) {
        Ok(_) => Ok(true),
        Err(e) if e.is(404) => Ok(false),
        Err(e) => Err(e),
    }
}
