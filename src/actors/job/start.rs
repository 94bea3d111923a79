//! Starting a job: the jar, a cluster (a local one started, recorded in the store
//! first; an external one recorded with the job id it will get), the submission under
//! the job id written ahead, and the wait for RUNNING.
//!
//! A start the previous daemon began is finished the same way: its recorded cluster is
//! reused while it answers, and a job Flink already has under the id is not submitted
//! again. A submission Flink says it already has is taken as made.

use super::scripts::{Scripts, SCRIPTS_BOUND};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix::Addr;
use uuid::Uuid;

use super::{Done, JobActor};
use crate::actors::store::Exec;
use crate::actors::Shared;
use crate::cluster::external::{self, ExternalCluster};
use crate::cluster::local::{ClusterPlan, LocalCluster, StartedWith, IDENTITY_KEY};
use crate::cluster::{Cluster, Placement};
use crate::expanded::ExpandedTemplate;
use crate::flink::{FlinkClient, FlinkError, FlinkJobState, RunRequest};

/// How a job polled while it starts is asked about: closely, as the user waits.
pub(super) const START_POLL: Duration = Duration::from_millis(50);

/// How to start the job.
#[derive(Debug, Clone)]
pub struct StartPlan {
    pub deployment_id: Uuid,
    /// The template of the Job record (what it runs).
    pub template: ExpandedTemplate,
    /// The directory of the Deployment file, for relative jar paths.
    pub base_dir: PathBuf,
    pub flink_home: PathBuf,
    /// Exactly what the Job record says it restores from.
    pub savepoint_path: Option<String>,
    pub allow_non_restored_state: bool,
    pub placement: Placement,
    /// The working directory of a local cluster's processes.
    pub work_dir: PathBuf,
    /// What a Kubernetes cluster's objects are made from besides the template.
    pub kubernetes: Option<Box<KubePlan>>,
}

/// The parts of a Deployment a Kubernetes cluster's objects are made from.
#[derive(Debug, Clone)]
pub struct KubePlan {
    pub deployment_name: String,
    /// The artifact as expanded (its image fields).
    pub artifact: crate::spec::Artifact,
    pub options: Option<crate::spec::KubernetesOptions>,
}

/// How a start ended well: the job runs, or (a short bounded job) already finished.
pub enum Started {
    Running,
    Finished,
}

/// Why a start failed; `unresolved`: a submission got no answer (the job may still
/// register).
#[derive(Debug)]
pub struct StartError {
    pub reason: String,
    pub unresolved: bool,
}

impl From<String> for StartError {
    fn from(reason: String) -> Self {
        StartError {
            reason,
            unresolved: false,
        }
    }
}

/// Whether Flink says it already has a job under that id.
fn is_duplicate(e: &FlinkError) -> bool {
    let text = e.to_string();
    text.contains("DuplicateJobSubmission")
        || text.contains("already been submitted")
        || text.contains("already exists")
}

/// The job id Flink accepted the job under, or why it did not.
fn submitted(run: Result<String, FlinkError>, id: &str) -> Result<(), StartError> {
    match run {
        Ok(_) => Ok(()),
        Err(e) if is_duplicate(&e) => Ok(()),
        Err(e @ FlinkError::Unreachable { .. }) => Err(StartError {
            reason: format!("the submission got no answer: {e}"),
            unresolved: true,
        }),
        Err(FlinkError::Rejected { message, .. }) => {
            Err(format!("Flink rejected the job: {message}").into())
        }
        Err(other) => Err(format!("submitting job {id}: {other}").into()),
    }
}

pub async fn run(
    shared: &Arc<Shared>,
    job: Uuid,
    dir: PathBuf,
    plan: StartPlan,
    resume: Option<Cluster>,
    me: &Addr<JobActor>,
    scripts: Scripts,
) -> Result<Started, StartError> {
    let flink_job_id = job.simple().to_string();
    // A local cluster reads its snapshot from this machine: one that is not there fails
    // the start before a cluster is started for it.
    if let (Placement::Local, Some(location)) = (&plan.placement, &plan.savepoint_path) {
        if let Some(missing) = crate::snapshot_files::missing(location) {
            return Err(missing.into());
        }
    }
    let t = &plan.template;
    let config = shared.config();
    let local_dirs = config.jar_dirs();
    let rules = crate::artifact::JarRules {
        jars: &config.jars,
        local_dirs: &local_dirs,
        state_dir: &config.state_dir,
        max_size: config.files.max_jar_size,
        sha256: t.jar_sha256.as_deref(),
    };
    let jar = crate::artifact::fetch(
        &t.jar_uri,
        &plan.base_dir,
        &config.state_dir.join("jars"),
        &rules,
    )
    .await
    .map_err(|e| e.to_string())?;
    let args = match &t.main_args {
        Some(a) => shell_words::split(a).map_err(|e| format!("mainArgs `{a}`: {e}"))?,
        None => Vec::new(),
    };
    let request = RunRequest {
        entry_class: t.entry_class.clone(),
        program_args_list: args,
        parallelism: t.parallelism,
        savepoint_path: plan.savepoint_path.clone(),
        allow_non_restored_state: plan.allow_non_restored_state,
        job_id: Some(flink_job_id.clone()),
    };
    let began = std::time::Instant::now();
    let client = match &plan.placement {
        Placement::Kubernetes { namespace } => {
            let cluster = match resume {
                Some(Cluster::Kubernetes(c)) => c,
                _ => {
                    let server = shared.kube().await?.server.clone();
                    let c = super::kube::cluster_of(namespace, job, &plan, &server);
                    record_cluster(
                        shared,
                        job,
                        plan.deployment_id,
                        Cluster::Kubernetes(c.clone()),
                    )
                    .await?;
                    c
                }
            };
            let client = super::kube::start(shared, &cluster, &plan, me).await?;
            submit_once(shared, &client, &jar, &request).await?;
            super::kube::wait_for_slots(shared, &client, &cluster, &plan, me).await?;
            client
        }
        Placement::Local => {
            let cluster = match resume {
                Some(Cluster::Local(c)) if c.job_manager_alive() => c,
                _ => start_local(shared, job, dir, &plan, me, scripts).await?,
            };
            tracing::debug!(%job, after = ?began.elapsed(), "cluster scripts done");
            let client = shared.flink(&cluster.rest_url());
            // The job is submitted as soon as the JobManager answers: Flink builds its
            // graph while the TaskManagers start, and the job waits for their slots.
            wait_for_cluster(&client, &cluster, 0, 0).await?;
            identify(&client, &cluster).await?;
            if client.job(&flink_job_id).await.is_err() {
                let jar_id = client
                    .upload_jar(&jar)
                    .await
                    .map_err(|e| format!("uploading {}: {e}", jar.path().display()))?;
                submitted(client.run(&jar_id, &request).await, &flink_job_id)?;
            }
            tracing::debug!(%job, after = ?began.elapsed(), "job submitted");
            // Its cluster is complete before the job counts as started.
            wait_for_cluster(
                &client,
                &cluster,
                cluster.task_managers,
                request.parallelism,
            )
            .await?;
            client
        }
        Placement::External { rest_url } => {
            let cluster = match resume {
                Some(Cluster::External(c)) => c,
                _ => {
                    let c = ExternalCluster {
                        rest_url: rest_url.clone(),
                        flink_job_id: flink_job_id.clone(),
                    };
                    record_cluster(
                        shared,
                        job,
                        plan.deployment_id,
                        Cluster::External(c.clone()),
                    )
                    .await?;
                    c
                }
            };
            me.do_send(Done::Prepared(Cluster::External(cluster.clone())));
            let client = shared.flink(&cluster.rest_url);
            submit_once(shared, &client, &jar, &request).await?;
            client
        }
    };
    let started = wait_running(&client, &flink_job_id).await;
    tracing::debug!(%job, after = ?began.elapsed(), "job started");
    started
}

/// Submits the job to a cluster that does not have it yet, its jar uploaded once per
/// cluster and content (again if the cluster lost it).
async fn submit_once(
    shared: &Shared,
    client: &FlinkClient,
    jar: &crate::artifact::Jar,
    request: &RunRequest,
) -> Result<(), StartError> {
    let id = request.job_id.clone().unwrap_or_default();
    if client.job(&id).await.is_ok() {
        return Ok(());
    }
    let url = client.base().to_string();
    let hash = shared.jar_uploads.content_hash(jar).await?;
    let mut tries = 0;
    loop {
        tries += 1;
        let jar_id = shared
            .jar_uploads
            .jar_id(client, &url, jar, &hash)
            .await
            .map_err(|e| format!("uploading {}: {e}", jar.path().display()))?;
        match client.run(&jar_id, request).await {
            Err(e) if tries == 1 && external::is_missing_jar(&e) => {
                shared.jar_uploads.forget(&url, &hash);
            }
            other => return submitted(other, &id),
        }
    }
}

/// Starts the cluster of a job to come (a fast upgrade's) and waits until it is up:
/// its JobManager answers as itself and its TaskManagers registered. No jar, no job.
pub async fn warm(
    shared: &Arc<Shared>,
    job: Uuid,
    dir: PathBuf,
    plan: StartPlan,
    me: &Addr<JobActor>,
    scripts: Scripts,
) -> Result<(), String> {
    if plan.placement != Placement::Local {
        return Err("only a cluster of its own can be started ahead".into());
    }
    let cluster = start_local(shared, job, dir, &plan, me, scripts)
        .await
        .map_err(|e| e.reason)?;
    let client = shared.flink(&cluster.rest_url());
    let up = async {
        wait_for_cluster(&client, &cluster, 0, 0).await?;
        identify(&client, &cluster).await?;
        wait_for_cluster(
            &client,
            &cluster,
            cluster.task_managers,
            plan.template.parallelism,
        )
        .await
    };
    up.await.map_err(|e| e.reason)
}

/// Writes a cluster's handle ahead of its use.
pub(super) async fn record_cluster(
    shared: &Shared,
    job: Uuid,
    deployment_id: Uuid,
    cluster: Cluster,
) -> Result<(), StartError> {
    let now = time::OffsetDateTime::now_utc();
    shared
        .store
        .send(Exec::new(move |s| {
            s.put_cluster(
                job,
                deployment_id,
                cluster.kind(),
                &cluster.to_record(),
                now,
            )
        }))
        .await
        .map_err(|e| StartError::from(e.to_string()))?
        .map_err(|e| format!("recording the cluster: {e}").into())
}

/// Prepares and starts a local cluster, on record before any of its processes exists.
async fn start_local(
    shared: &Shared,
    job: Uuid,
    dir: PathBuf,
    plan: &StartPlan,
    me: &Addr<JobActor>,
    scripts: Scripts,
) -> Result<LocalCluster, StartError> {
    let deployment_dir = shared
        .config()
        .state_dir
        .join("deployments")
        .join(plan.deployment_id.to_string());
    let template = plan.template.clone();
    let home = plan.flink_home.clone();
    let work_dir = plan.work_dir.clone();
    let cluster = tokio::task::spawn_blocking(move || {
        LocalCluster::prepare(&ClusterPlan {
            dir,
            flink_home: &home,
            template: &template,
            savepoints_dir: deployment_dir.join("savepoints"),
            checkpoints_dir: deployment_dir.join("checkpoints"),
            work_dir,
        })
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())?;
    record_cluster(
        shared,
        job,
        plan.deployment_id,
        Cluster::Local(cluster.clone()),
    )
    .await?;
    me.do_send(Done::Prepared(Cluster::Local(cluster.clone())));
    let starting = cluster.clone();
    let launcher = shared.config().launcher();
    // The start runs to its end even if this task is aborted; its turn says when.
    let turn = scripts.take();
    let began = std::time::Instant::now();
    let with = tokio::task::spawn_blocking(move || {
        let _turn = turn.or_else(|| scripts.wait_and_take(SCRIPTS_BOUND));
        starting.start(&launcher)
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())?;
    match with {
        StartedWith::Direct { computed } => tracing::debug!(
            %job, after = ?began.elapsed(), sizing_computed = computed,
            "cluster JVMs started directly"
        ),
        StartedWith::Scripts { why } => tracing::info!(
            %job, after = ?began.elapsed(),
            "cluster started with Flink's scripts: {why}"
        ),
    }
    Ok(cluster)
}

/// Waits until the local cluster answers with `task_managers` TaskManagers and `slots`
/// slots registered; fails if its JobManager dies meanwhile.
async fn wait_for_cluster(
    client: &FlinkClient,
    cluster: &LocalCluster,
    task_managers: u32,
    slots: u32,
) -> Result<(), StartError> {
    loop {
        match client.overview().await {
            Ok(o) if o.taskmanagers >= task_managers && o.slots_total >= slots => return Ok(()),
            _ if !cluster.job_manager_alive() => {
                let tail = cluster.log_tail(20);
                let why = if tail.contains("Address already in use") {
                    format!(
                        "the JobManager could not listen on its ports (REST {}, RPC {}): another process took one of them",
                        cluster.rest_port, cluster.rpc_port
                    )
                } else {
                    "the JobManager exited during start-up".to_string()
                };
                return Err(format!("{why}; its log ends with:\n{tail}").into());
            }
            _ => tokio::time::sleep(START_POLL).await,
        }
    }
}

/// Refuses a JobManager that is not the one flinkd started: whoever took the port
/// first (the port is free when chosen, and taken only when the JVM binds it) gets no
/// jar and is never believed.
async fn identify(client: &FlinkClient, cluster: &LocalCluster) -> Result<(), StartError> {
    let why = match cluster.answers_as_itself(client).await {
        Ok(true) => return Ok(()),
        Ok(false) => format!("its configuration lacks this cluster's {IDENTITY_KEY}"),
        Err(e) => format!("its identity could not be read: {e}"),
    };
    Err(format!(
        "the process answering on {} is not the JobManager flinkd started ({why}): another process took the port; nothing was uploaded",
        cluster.rest_url()
    )
    .into())
}

/// Waits until the submitted job runs (or, a short bounded job, has finished).
pub(super) async fn wait_running(
    client: &FlinkClient,
    flink_job: &str,
) -> Result<Started, StartError> {
    loop {
        match client.job(flink_job).await {
            Ok(d) if d.state == FlinkJobState::Running => return Ok(Started::Running),
            Ok(d) if d.state == FlinkJobState::Finished => return Ok(Started::Finished),
            Ok(d) if d.state.is_terminal() => {
                let why = client
                    .root_exception(flink_job)
                    .await
                    .ok()
                    .flatten()
                    .unwrap_or_default();
                return Err(format!("the job ended {:?} before it ran: {why}", d.state).into());
            }
            _ => tokio::time::sleep(START_POLL).await,
        }
    }
}
