//! The sweep of orphaned Kubernetes clusters: objects labelled as this flinkd's
//! (`flinkd.io/instance`) whose Job has no cluster on record. A cluster is recorded
//! before its first object is created, so such objects are left over (a store restored
//! from an older copy, a removal interrupted after its record went); they are deleted,
//! with an event on their Deployment.
//!
//! The objects are listed before the records are read: an object created after the
//! list is not seen, and one listed has its record written before it was created, so a
//! cluster being started is never taken for an orphan.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use uuid::Uuid;

use super::store::Exec;
use super::Shared;
use crate::cluster::kubernetes::KubernetesCluster;
use crate::lifecycle::EventName;
use crate::spec::{Event, EventLevel};

/// Sweeps now, then at every `timing.rescan_interval`.
pub fn start(shared: Arc<Shared>) {
    tokio::spawn(async move {
        loop {
            if let Err(e) = sweep_once(&shared).await {
                tracing::warn!("the sweep of orphaned Kubernetes clusters: {e}");
            }
            tokio::time::sleep(shared.config().timing.rescan_interval).await;
        }
    });
}

async fn recorded(shared: &Shared) -> Result<Vec<(Uuid, KubernetesCluster)>, String> {
    shared
        .store
        .send(Exec::new(|s| {
            s.clusters_on::<KubernetesCluster>("kubernetes")
        }))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())
}

/// One sweep of the namespaces this flinkd has clusters in or made clusters in since it
/// started. Returns the orphaned jobs removed.
pub async fn sweep_once(shared: &Shared) -> Result<Vec<Uuid>, String> {
    let before = recorded(shared).await?;
    let mut namespaces: BTreeSet<String> = shared.kube_namespaces();
    namespaces.extend(before.iter().map(|(_, c)| c.namespace.clone()));
    // No Kubernetes cluster now or since the start: nothing to look at, and no reason
    // to look for a Kubernetes config.
    if namespaces.is_empty() {
        return Ok(Vec::new());
    }
    let access = shared.kube().await?;
    let instance = shared
        .store
        .send(Exec::new(|s| s.instance_id()))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let mut found: BTreeMap<(String, Uuid), Option<Uuid>> = BTreeMap::new();
    for ns in &namespaces {
        for o in
            access.api.of_instance(ns, &instance).await.map_err(|e| {
                format!("listing flinkd's objects in Kubernetes namespace `{ns}`: {e}")
            })?
        {
            if let Some(job) = o.job_id {
                found.insert((ns.clone(), job), o.deployment_id);
            }
        }
    }
    let known: BTreeSet<Uuid> = recorded(shared)
        .await?
        .into_iter()
        .map(|(j, _)| j)
        .collect();
    let mut removed = Vec::new();
    for (ns, job, deployment) in crate::cluster::kubernetes::orphans(&found, &known) {
        let removal = access.api.delete_cluster(&ns, job).await.map_err(|e| {
            format!("deleting the objects of job {job} in Kubernetes namespace `{ns}`: {e}")
        })?;
        // Nothing deleted: its own teardown was quicker.
        if removal.deleted == 0 {
            continue;
        }
        tracing::warn!(%job, namespace = %ns, deleted = removal.deleted, left = removal.left.len(),
            "removed an orphaned Kubernetes cluster");
        removed.push(job);
        if let Some(deployment) = deployment {
            note(shared, deployment, job, &ns).await;
        }
    }
    Ok(removed)
}

/// The event on the orphan's Deployment, if the store knows it.
async fn note(shared: &Shared, deployment: Uuid, job: Uuid, ns: &str) {
    let message = format!(
        "the objects of job {job} in Kubernetes namespace `{ns}` had no cluster on record (left over): deleted"
    );
    let _ = shared
        .store
        .send(Exec::new(move |s| {
            let Some(d) = s.deployment_by_id(deployment)? else {
                return Ok(());
            };
            s.append_event(&Event {
                seq: 0,
                deployment_id: deployment,
                job_id: Some(job),
                namespace: d.deployment.metadata.identity().namespace,
                created_at: time::OffsetDateTime::now_utc(),
                name: EventName::OrphanedClusterRemoved.to_string(),
                level: EventLevel::Warning,
                message,
            })
            .map(|_| ())
        }))
        .await;
}
