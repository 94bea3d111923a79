//! A job's cluster on a Kubernetes target, for the JobActor: its objects created
//! (recorded first), the wait for its JobManager and TaskManagers with the pods'
//! trouble reported meanwhile, a poll's question to the API server, and its removal,
//! verified.

use std::sync::Arc;
use std::time::Duration;

use actix::Addr;
use uuid::Uuid;

use super::start::{StartError, StartPlan, START_POLL};
use super::{Done, JobActor, State, Then};
use crate::actors::Shared;
use crate::cluster::kubernetes::api::{KubeError, Presence};
use crate::cluster::kubernetes::{self, ClusterSpec, KubernetesCluster};
use crate::cluster::Cluster;
use crate::flink::FlinkClient;
use actix::prelude::*;

/// How often the pods are looked at while a cluster starts.
const PODS_EVERY: Duration = Duration::from_secs(1);

/// The record of a job's cluster to be, in `namespace`.
pub fn cluster_of(namespace: &str, job: Uuid, plan: &StartPlan, server: &str) -> KubernetesCluster {
    let name = plan
        .kubernetes
        .as_ref()
        .map(|k| k.deployment_name.as_str())
        .unwrap_or("deployment");
    KubernetesCluster {
        namespace: namespace.to_string(),
        name: kubernetes::base_name(name, job),
        job_id: job,
        flink_job_id: job.simple().to_string(),
        server: server.to_string(),
    }
}

fn start_error(e: impl std::fmt::Display) -> StartError {
    StartError::from(e.to_string())
}

/// Creates the cluster's objects (those of a start the previous daemon began are
/// taken as they are) and waits until its JobManager answers through the API server.
pub async fn start(
    shared: &Arc<Shared>,
    cluster: &KubernetesCluster,
    plan: &StartPlan,
    me: &Addr<JobActor>,
) -> Result<FlinkClient, StartError> {
    let access = shared.kube().await?;
    cluster.reached_through(&access.server)?;
    shared.note_kube_namespace(&cluster.namespace);
    let instance = shared
        .store
        .send(crate::actors::store::Exec::new(|s| s.instance_id()))
        .await
        .map_err(start_error)?
        .map_err(start_error)?;
    let config = shared.config();
    let source = plan.kubernetes.as_deref();
    let no_artifact = crate::spec::Artifact::default();
    let objects = kubernetes::render(&ClusterSpec {
        namespace: &cluster.namespace,
        deployment_name: source.map_or("deployment", |k| k.deployment_name.as_str()),
        deployment_id: plan.deployment_id,
        job_id: cluster.job_id,
        instance: &instance,
        template: &plan.template,
        artifact: source.map_or(&no_artifact, |k| &k.artifact),
        kubernetes: source.and_then(|k| k.options.as_ref()),
        images: &config.kubernetes.images,
    })
    .map_err(start_error)?;
    me.do_send(Done::Prepared(Cluster::Kubernetes(cluster.clone())));
    access
        .api
        .create_cluster(&cluster.namespace, &objects, cluster.job_id)
        .await
        .map_err(|e| format!("creating the cluster's objects: {e}"))?;
    let client = shared
        .flink_for(&Cluster::Kubernetes(cluster.clone()))
        .ok_or_else(|| start_error("the Kubernetes API is not connected"))?;
    wait(shared, &client, cluster, me, |_| true).await?;
    Ok(client)
}

/// Waits until the cluster has the TaskManagers and slots the job needs.
pub async fn wait_for_slots(
    shared: &Arc<Shared>,
    client: &FlinkClient,
    cluster: &KubernetesCluster,
    plan: &StartPlan,
    me: &Addr<JobActor>,
) -> Result<(), StartError> {
    let (task_managers, slots) = (
        plan.template.number_of_task_managers,
        plan.template.parallelism,
    );
    wait(shared, client, cluster, me, |o| {
        o.taskmanagers >= task_managers && o.slots_total >= slots
    })
    .await
}

/// Waits until the cluster answers with an overview `ready` takes; the pods are looked
/// at every second meanwhile, their trouble reported. No deadline of its own: the
/// lifecycle's start deadline ends the start.
async fn wait(
    shared: &Arc<Shared>,
    client: &FlinkClient,
    cluster: &KubernetesCluster,
    me: &Addr<JobActor>,
    ready: impl Fn(&crate::flink::Overview) -> bool,
) -> Result<(), StartError> {
    let access = shared.kube().await?;
    let up = async {
        loop {
            if let Ok(o) = client.overview().await {
                if ready(&o) {
                    return Ok(());
                }
            }
            tokio::time::sleep(START_POLL).await;
        }
    };
    let pods = async {
        // Said once per kind of failure (a 403 on listing pods is the user's to fix).
        let mut said = String::new();
        loop {
            match access.api.presence(cluster).await {
                Ok(Presence::Present(trouble)) => me.do_send(Done::Pods(trouble)),
                Ok(Presence::Gone) => {
                    return Err(start_error(format!(
                        "the JobManager's Deployment {} in namespace `{}` was deleted",
                        cluster.job_manager(),
                        cluster.namespace
                    )))
                }
                Err(e) => {
                    let now = e.to_string();
                    if now != said {
                        tracing::warn!(job = %cluster.job_id, namespace = %cluster.namespace,
                            "cannot look at the cluster's pods: {now}");
                        said = now;
                    }
                }
            }
            tokio::time::sleep(PODS_EVERY).await;
        }
    };
    tokio::select! {
        r = up => r,
        r = pods => r,
    }
}

/// What the API server says of a watched cluster: whether it is there, and its pods'
/// trouble.
pub async fn presence(shared: &Shared, cluster: &KubernetesCluster) -> Result<Presence, KubeError> {
    let Some(access) = shared.kube_ready() else {
        return Err(KubeError::Unreachable(
            "the Kubernetes API is not connected yet".into(),
        ));
    };
    cluster
        .reached_through(&access.server)
        .map_err(KubeError::Unreachable)?;
    access.api.presence(cluster).await
}

/// Deletes the cluster's objects and waits until none is left, pods included (a pod
/// of the old cluster still running could run the job beside its successor); at most
/// `bound`, then the lifecycle tries again. `settle`: after a start that did not see its
/// cluster run, how long a create it sent may take to land (its request's timeout):
/// when nothing is left, it is looked at again after that.
pub async fn remove(
    shared: &Shared,
    cluster: &KubernetesCluster,
    bound: Duration,
    mut settle: Option<Duration>,
) -> Result<(), String> {
    let access = shared.kube().await?;
    cluster.reached_through(&access.server)?;
    let until = tokio::time::Instant::now() + bound;
    loop {
        let removal = access
            .api
            .delete_cluster(&cluster.namespace, cluster.job_id)
            .await
            .map_err(|e| {
                format!(
                    "deleting the objects of {} in Kubernetes namespace `{}`: {e}",
                    cluster.name, cluster.namespace
                )
            })?;
        if removal.left.is_empty() {
            match settle.take() {
                Some(wait) => {
                    tokio::time::sleep(wait).await;
                    continue;
                }
                None => return Ok(()),
            }
        }
        if tokio::time::Instant::now() >= until {
            let shown: Vec<&str> = removal.left.iter().take(5).map(String::as_str).collect();
            return Err(format!(
                "{} objects or pods of {} are still there in Kubernetes namespace `{}` after {} ({}{})",
                removal.left.len(),
                cluster.name,
                cluster.namespace,
                humantime::format_duration(bound),
                shown.join(", "),
                if removal.left.len() > shown.len() { ", …" } else { "" }
            ));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

impl JobActor {
    /// Whether the cluster is a Kubernetes one whose API is not connected yet: it is
    /// connected, and `then` goes on (whatever else waits for it too).
    pub(super) fn needs_kube(&mut self, then: Then, ctx: &mut Context<Self>) -> bool {
        if !matches!(self.cluster, Some(Cluster::Kubernetes(_)))
            || self.shared.kube_ready().is_some()
        {
            return false;
        }
        let same = std::mem::discriminant(&then);
        if !self
            .after_kube
            .iter()
            .any(|t| std::mem::discriminant(t) == same)
        {
            self.after_kube.push(then);
        }
        if self.connecting {
            return true;
        }
        self.connecting = true;
        let shared = self.shared.clone();
        let me = ctx.address();
        let job = self.job;
        tokio::spawn(async move {
            if let Err(e) = shared.kube().await {
                tracing::warn!(%job, "cannot reach the Kubernetes API: {e}");
                tokio::time::sleep(shared.config().timing.retry_interval).await;
            }
            me.do_send(Done::KubeReady);
        });
        true
    }

    pub(super) fn after_kube_ready(&mut self, then: Then, ctx: &mut Context<Self>) {
        match then {
            Then::Held => {}
            Then::Poll => self.begin_poll(ctx),
            // Once: without the API the removal fails and the lifecycle tries it again.
            Then::TearDown(confirm) if self.state == State::TearingDown => {
                self.kube_tried = true;
                self.tear_down(confirm, ctx)
            }
            Then::TearDown(_) => {}
        }
    }
}
