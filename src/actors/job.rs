//! The JobActor: one Flink job and the cluster it runs on.
//!
//! It carries out what its DeploymentActor orders (start, stop with savepoint, trigger a
//! savepoint, cancel, tear down) and reports what it observes as lifecycle
//! [`Input`]s. It decides nothing: deadlines, retries and limits are the lifecycle's.
//! The I/O runs in tokio tasks whose results come back as messages, so the actor never
//! blocks; blocking process work (starting scripts, waiting for PIDs) runs on tokio's
//! blocking pool.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use uuid::Uuid;

use super::store::Exec;
use super::Shared;
use crate::cluster::external::{self, ExternalCluster};
use crate::cluster::local::{ClusterPlan, LocalCluster};
use crate::cluster::{Cluster, Placement};
use crate::flink::{FlinkClient, FlinkJobState, RunRequest, SavepointStatus};
use crate::lifecycle::{FlinkEnd, Input};
use crate::spec::TemplateSpec;

/// What the JobActor tells its DeploymentActor.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub enum JobReport {
    /// An observation for the lifecycle.
    Observed(Input),
    /// Flink accepted the job under this id.
    Submitted { job: Uuid, flink_job_id: String },
    /// Flink took a savepoint request under this id.
    SavepointTriggered {
        job: Uuid,
        savepoint: Uuid,
        trigger_id: String,
    },
    /// What a poll of the running job saw: for conditions, and its newest retained
    /// checkpoint.
    Health {
        job: Uuid,
        observation: crate::conditions::Observation,
        checkpoint: Option<crate::flink::CompletedCheckpoint>,
    },
}

/// How to start the job.
#[derive(Debug, Clone)]
pub struct StartPlan {
    pub deployment_id: Uuid,
    pub template: TemplateSpec,
    /// The directory of the Deployment file, for relative jar paths.
    pub base_dir: PathBuf,
    pub flink_home: PathBuf,
    pub savepoint_path: Option<String>,
    pub allow_non_restored_state: bool,
    pub placement: Placement,
    /// The working directory of a local cluster's processes.
    pub work_dir: PathBuf,
}

#[derive(Debug, Message)]
#[rtype(result = "()")]
pub enum Command {
    Start(Box<StartPlan>),
    /// Watch a job already running on a recorded cluster (after a daemon restart).
    Adopt {
        cluster: Cluster,
        flink_job_id: String,
    },
    StopWithSavepoint {
        savepoint: Uuid,
    },
    TriggerSavepoint {
        savepoint: Uuid,
    },
    /// Wait for a savepoint Flink was already asked for (after a daemon restart).
    ResumeSavepoint {
        savepoint: Uuid,
        trigger_id: String,
    },
    Cancel,
    TearDown,
    /// The config changed: poll at its interval from now on.
    Reschedule,
}

/// Results of the actor's own tasks.
#[derive(Message)]
#[rtype(result = "()")]
enum Done {
    Prepared(Cluster),
    /// The cluster on record, looked up for a teardown after a restart.
    Recorded(Option<Cluster>),
    Submitted(String),
    Started(Result<Started, String>),
    Polled(Box<Polled>),
    TornDown(Result<(), String>),
}

struct Polled {
    state: Result<FlinkJobState, crate::flink::FlinkError>,
    /// When Flink last reported the job RESTARTING.
    restarting_at: Option<i64>,
    /// Read anew only when `restarting_at` changed.
    restarts: Option<Vec<time::OffsetDateTime>>,
    checkpoint: Option<crate::flink::CompletedCheckpoint>,
}

pub struct JobActor {
    job: Uuid,
    shared: Arc<Shared>,
    parent: Recipient<JobReport>,
    cluster: Option<Cluster>,
    flink_job_id: Option<String>,
    /// Poll the job's state (from RUNNING until it ends or is torn down).
    watching: bool,
    poll_in_flight: bool,
    /// Adopted after a restart, and not yet seen RUNNING: the lifecycle may still be
    /// waiting for the start it began before the restart.
    confirm_running: bool,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// The cluster's start scripts are running: a teardown waits for them, or a
    /// TaskManager they start after it could outlive the cluster.
    scripts_running: Arc<AtomicBool>,
    tearing_down: bool,
    /// Consecutive quiet polls of the running job (adaptive polling).
    quiet: u32,
    /// Polls scheduled so far.
    polls: u32,
    /// The last RESTARTING time Flink reported, and the restart times read with it.
    restarting_at: Option<i64>,
    restarts: Option<Vec<time::OffsetDateTime>>,
    /// The recorded cluster was looked up (for a teardown with no cluster at hand).
    looked_up: bool,
    poll_timer: Option<SpawnHandle>,
}

impl JobActor {
    pub fn new(job: Uuid, shared: Arc<Shared>, parent: Recipient<JobReport>) -> Self {
        JobActor {
            job,
            shared,
            parent,
            cluster: None,
            flink_job_id: None,
            watching: false,
            poll_in_flight: false,
            confirm_running: false,
            tasks: Vec::new(),
            scripts_running: Arc::new(AtomicBool::new(false)),
            tearing_down: false,
            quiet: 0,
            polls: 0,
            restarting_at: None,
            restarts: None,
            looked_up: false,
            poll_timer: None,
        }
    }

    fn cluster_dir(&self) -> PathBuf {
        self.shared
            .config()
            .state_dir
            .join("clusters")
            .join(self.job.to_string())
    }

    fn client(&self) -> Option<FlinkClient> {
        self.cluster
            .as_ref()
            .map(|c| self.shared.flink(&c.rest_url()))
    }

    fn report(&self, input: Input) {
        self.parent.do_send(JobReport::Observed(input));
    }

    fn spawn(&mut self, fut: impl std::future::Future<Output = ()> + Send + 'static) {
        self.tasks.retain(|t| !t.is_finished());
        self.tasks.push(tokio::spawn(fut));
    }

    fn start(&mut self, plan: StartPlan, ctx: &mut Context<Self>) {
        let me = ctx.address();
        let shared = self.shared.clone();
        let job = self.job;
        let dir = self.cluster_dir();
        let scripts = self.scripts_running.clone();
        self.spawn(async move {
            // Starts take turns past a bound: a thousand at once would only queue at
            // the clusters, holding their memory meanwhile. The wait is not the job's.
            let _turn = shared.starts.acquire().await;
            let result = tokio::time::timeout(
                shared.config().timing.job_start_timeout,
                start_job(shared.clone(), job, dir, plan, me.clone(), scripts),
            )
            .await
            .unwrap_or_else(|_| Err("the job did not reach RUNNING in time".to_string()));
            me.do_send(Done::Started(result));
        });
    }

    /// The next poll, at the interval in force (re-armed when the config changes).
    fn schedule_poll(&mut self, ctx: &mut Context<Self>) {
        if let Some(h) = self.poll_timer.take() {
            ctx.cancel_future(h);
        }
        let timing = &self.shared.config().timing;
        let every = poll_delay(timing.poll_interval, timing.poll_interval_max, self.quiet);
        // Jobs started together are not polled together: each wait is drawn from half
        // to the whole of the interval (the first) or ±20% of it (the others), so that
        // thousands of jobs on one cluster spread their polls evenly over time.
        self.polls = self.polls.wrapping_add(1);
        let draw = {
            use std::hash::{BuildHasher, Hasher};
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u128(self.job.as_u128());
            h.write_u32(self.polls);
            (h.finish() % 1000) as u32
        };
        let every = if self.polls == 1 {
            every / 2 + every / 2000 * draw
        } else {
            every * 4 / 5 + every / 2500 * draw
        };
        self.poll_timer = Some(ctx.run_later(every, |act, ctx| {
            act.poll_timer = None;
            act.poll(ctx);
            act.schedule_poll(ctx);
        }));
    }

    fn poll(&mut self, ctx: &mut Context<Self>) {
        if !self.watching || self.poll_in_flight || self.tearing_down {
            return;
        }
        let (Some(client), Some(id)) = (self.client(), self.flink_job_id.clone()) else {
            return;
        };
        self.poll_in_flight = true;
        let me = ctx.address();
        let known_restart = self.restarting_at;
        let have_restarts = self.restarts.is_some();
        self.spawn(async move {
            let details = client.job(&id).await;
            let restarting_at = details.as_ref().ok().and_then(|d| d.restarting_at());
            let state = details.map(|d| d.state);
            // The exception history is read when Flink reports a restart it did not
            // report before (and once at first): a quiet job costs two requests a poll.
            let restarted = !have_restarts || restarting_at != known_restart;
            let (restarts, checkpoint) = match &state {
                Ok(_) if restarted => {
                    let (r, c) =
                        tokio::join!(client.restart_times(&id), client.latest_checkpoint(&id));
                    (r.ok(), c.ok().flatten())
                }
                Ok(_) => (None, client.latest_checkpoint(&id).await.ok().flatten()),
                Err(_) => (None, None),
            };
            me.do_send(Done::Polled(Box::new(Polled {
                state,
                restarting_at,
                restarts,
                checkpoint,
            })));
        });
    }

    /// Why the job failed, in Flink's words where it has them.
    fn ended(&mut self, state: FlinkJobState) {
        self.watching = false;
        let (Some(client), Some(id)) = (self.client(), self.flink_job_id.clone()) else {
            return;
        };
        let parent = self.parent.clone();
        let job = self.job;
        let end = match state {
            FlinkJobState::Finished => FlinkEnd::Finished,
            FlinkJobState::Canceled => FlinkEnd::Canceled,
            _ => FlinkEnd::Failed,
        };
        self.spawn(async move {
            let reason = match end {
                FlinkEnd::Failed => client
                    .root_exception(&id)
                    .await
                    .ok()
                    .flatten()
                    .unwrap_or_else(|| "Flink reports the job FAILED".to_string()),
                FlinkEnd::Canceled => "the job was cancelled outside flinkd".to_string(),
                FlinkEnd::Finished => String::new(),
            };
            parent.do_send(JobReport::Observed(Input::JobEnded { job, end, reason }));
        });
    }

    /// Takes a savepoint (`Some(stop)`: stop with it, or not), or, with `known`, waits
    /// for an operation Flink already has (after a restart of the daemon). The trigger id
    /// is reported as soon as Flink gives it, so that it is on record before the wait.
    fn savepoint(&mut self, savepoint: Uuid, stop: bool, known: Option<String>) {
        let job = self.job;
        let parent = self.parent.clone();
        let (Some(client), Some(id)) = (self.client(), self.flink_job_id.clone()) else {
            self.report(Input::SavepointFailed {
                job,
                savepoint,
                reason: "the job has no Flink job id yet".into(),
            });
            return;
        };
        let timeout = self.shared.config().timing.savepoint_timeout;
        self.spawn(async move {
            let outcome = tokio::time::timeout(timeout, async {
                let request = match known {
                    Some(request) => request,
                    None => {
                        let request = if stop {
                            client.stop_with_savepoint(&id, None).await
                        } else {
                            client.trigger_savepoint(&id, None).await
                        }
                        .map_err(|e| e.to_string())?;
                        parent.do_send(JobReport::SavepointTriggered {
                            job,
                            savepoint,
                            trigger_id: request.clone(),
                        });
                        request
                    }
                };
                loop {
                    match client.savepoint_status(&id, &request).await {
                        Ok(SavepointStatus::InProgress) => {
                            tokio::time::sleep(TRANSITION_POLL).await
                        }
                        Ok(SavepointStatus::Completed { location }) => return Ok(location),
                        Ok(SavepointStatus::Failed { cause }) => return Err(cause),
                        Err(e) if e.is_unreachable() => {
                            tokio::time::sleep(Duration::from_millis(500)).await
                        }
                        Err(e) => return Err(e.to_string()),
                    }
                }
            })
            .await
            .unwrap_or_else(|_| Err("the savepoint did not complete in time".to_string()));
            parent.do_send(JobReport::Observed(match outcome {
                Ok(location) => Input::SavepointCompleted {
                    job,
                    savepoint,
                    location,
                },
                Err(reason) => Input::SavepointFailed {
                    job,
                    savepoint,
                    reason,
                },
            }));
        });
    }

    fn cancel(&mut self) {
        let job = self.job;
        let parent = self.parent.clone();
        let (Some(client), Some(id)) = (self.client(), self.flink_job_id.clone()) else {
            // Nothing was submitted: there is nothing to cancel.
            self.report(Input::CancelCompleted { job });
            return;
        };
        let wait = self.shared.config().timing.http_timeout * 3;
        self.spawn(async move {
            let outcome = async {
                client.cancel(&id).await.map_err(|e| e.to_string())?;
                let until = tokio::time::Instant::now() + wait;
                loop {
                    match client.job(&id).await {
                        Ok(d) if d.state.is_terminal() => return Ok(()),
                        _ if tokio::time::Instant::now() > until => {
                            return Err("Flink accepted the cancellation but the job did not end"
                                .to_string())
                        }
                        _ => tokio::time::sleep(Duration::from_millis(200)).await,
                    }
                }
            }
            .await;
            parent.do_send(JobReport::Observed(match outcome {
                Ok(()) => Input::CancelCompleted { job },
                Err(reason) => Input::CancelFailed { job, reason },
            }));
        });
    }

    fn tear_down(&mut self, ctx: &mut Context<Self>) {
        self.tearing_down = true;
        self.watching = false;
        for t in self.tasks.drain(..) {
            t.abort();
        }
        let store = self.shared.store.clone();
        let job = self.job;
        let me = ctx.address();
        if self.cluster.is_none() && !self.looked_up {
            // After a restart of flinkd: the recorded cluster says what to stop.
            self.looked_up = true;
            tokio::spawn(async move {
                let found = store
                    .send(Exec::new(move |s| Cluster::of_job(s, job)))
                    .await;
                me.do_send(Done::Recorded(found.ok().and_then(Result::ok).flatten()));
            });
            return;
        }
        let stopping = match self.cluster.clone() {
            Some(Cluster::External(c)) => {
                let client = self.shared.flink(&c.rest_url);
                let wait = self.shared.config().timing.cluster_stop_grace;
                tokio::spawn(end_external_job(client, c.flink_job_id, wait))
            }
            local => {
                // The cluster's directory identifies its processes, whether or not its
                // start got as far as telling this actor about it.
                let cluster = match local {
                    Some(Cluster::Local(c)) => c,
                    _ => LocalCluster {
                        dir: self.cluster_dir(),
                        flink_home: PathBuf::new(),
                        rest_port: 0,
                        rpc_port: 0,
                        task_managers: 0,
                        work_dir: PathBuf::new(),
                    },
                };
                let grace = self.shared.config().timing.cluster_stop_grace;
                let scripts = self.scripts_running.clone();
                tokio::task::spawn_blocking(move || {
                    // Start scripts end within their own 60 s bound.
                    let until = std::time::Instant::now() + Duration::from_secs(65);
                    while scripts.load(Ordering::SeqCst) && std::time::Instant::now() < until {
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    cluster.stop(grace).map_err(|e| e.to_string())
                })
            }
        };
        tokio::spawn(async move {
            let stopped = stopping.await.map_err(|e| e.to_string()).and_then(|r| r);
            let result = match stopped {
                Ok(()) => store
                    .send(Exec::new(move |s| s.remove_cluster(job)))
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|r| r.map_err(|e| e.to_string())),
                Err(e) => Err(e),
            };
            me.do_send(Done::TornDown(result));
        });
    }
}

/// An external cluster is not stopped: its job is made to end (cancelled if it still
/// runs, e.g. after a start that timed out), so that nothing of the Deployment is left.
async fn end_external_job(client: FlinkClient, id: String, wait: Duration) -> Result<(), String> {
    let until = tokio::time::Instant::now() + wait.max(Duration::from_secs(5));
    let mut cancelled = false;
    loop {
        match client.job(&id).await {
            Ok(d) if d.state.is_terminal() => return Ok(()),
            Err(crate::flink::FlinkError::Rejected { status: 404, .. }) => return Ok(()),
            Err(e) if e.is_unreachable() => return Err(e.to_string()),
            _ if tokio::time::Instant::now() > until => {
                return Err(format!("job {id} did not end after its cancellation"))
            }
            _ if !cancelled => {
                client.cancel(&id).await.map_err(|e| e.to_string())?;
                cancelled = true;
            }
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

impl Actor for JobActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.schedule_poll(ctx);
    }
}

impl Handler<Command> for JobActor {
    type Result = ();

    fn handle(&mut self, cmd: Command, ctx: &mut Context<Self>) {
        if self.tearing_down {
            return;
        }
        // An operation on the job: poll it closely again.
        if !matches!(cmd, Command::Reschedule) {
            self.quiet = 0;
        }
        match cmd {
            Command::Start(plan) => self.start(*plan, ctx),
            Command::Adopt {
                cluster,
                flink_job_id,
            } => {
                self.cluster = Some(cluster);
                self.flink_job_id = Some(flink_job_id);
                self.watching = true;
                self.confirm_running = true;
                self.poll(ctx);
            }
            Command::StopWithSavepoint { savepoint } => self.savepoint(savepoint, true, None),
            Command::TriggerSavepoint { savepoint } => self.savepoint(savepoint, false, None),
            Command::ResumeSavepoint {
                savepoint,
                trigger_id,
            } => self.savepoint(savepoint, false, Some(trigger_id)),
            Command::Cancel => self.cancel(),
            Command::Reschedule => self.schedule_poll(ctx),
            Command::TearDown => self.tear_down(ctx),
        }
    }
}

impl Handler<Done> for JobActor {
    type Result = ();

    fn handle(&mut self, done: Done, ctx: &mut Context<Self>) {
        let job = self.job;
        match done {
            Done::Prepared(cluster) => self.cluster = Some(cluster),
            Done::Recorded(cluster) => {
                self.cluster = cluster;
                self.tear_down(ctx);
            }
            Done::Submitted(id) => {
                self.flink_job_id = Some(id.clone());
                self.parent.do_send(JobReport::Submitted {
                    job,
                    flink_job_id: id,
                });
            }
            Done::Started(Ok(Started::Running)) if !self.tearing_down => {
                self.watching = true;
                self.report(Input::JobRunning { job });
            }
            Done::Started(Ok(Started::Finished)) if !self.tearing_down => {
                self.report(Input::JobEnded {
                    job,
                    end: FlinkEnd::Finished,
                    reason: String::new(),
                });
            }
            Done::Started(Err(reason)) if !self.tearing_down => {
                self.report(Input::JobStartFailed { job, reason });
            }
            Done::Started(_) => {}
            Done::Polled(polled) => {
                self.poll_in_flight = false;
                if !self.watching {
                    return;
                }
                let Polled {
                    state,
                    restarting_at,
                    restarts,
                    checkpoint,
                } = *polled;
                let reachable = !matches!(&state, Err(e) if e.is_unreachable());
                let quiet = matches!(state, Ok(FlinkJobState::Running))
                    && restarting_at == self.restarting_at
                    && self.restarts.is_some();
                self.quiet = if quiet {
                    self.quiet.saturating_add(1)
                } else {
                    0
                };
                if state.is_ok() {
                    self.restarting_at = restarting_at;
                }
                if restarts.is_some() {
                    self.restarts = restarts;
                }
                self.parent.do_send(JobReport::Health {
                    job,
                    observation: crate::conditions::Observation {
                        reachable: Some(reachable),
                        restarts: self.restarts.clone(),
                    },
                    checkpoint,
                });
                match state {
                    Ok(state) if state.is_terminal() => self.ended(state),
                    Ok(FlinkJobState::Running) if self.confirm_running => {
                        self.confirm_running = false;
                        self.report(Input::JobRunning { job });
                    }
                    Ok(_) => {}
                    Err(e) if e.is_unreachable() => {
                        let gone = self.cluster.as_ref().is_none_or(Cluster::known_gone);
                        if gone {
                            self.watching = false;
                            self.report(Input::ClusterLost {
                                job,
                                reason: format!("the JobManager process is gone ({e})"),
                            });
                        }
                    }
                    // The cluster answers and does not know the job: it is gone (a
                    // session cluster restarted without it, or a submission a crash of
                    // flinkd cut short).
                    Err(crate::flink::FlinkError::Rejected { status: 404, .. }) => {
                        self.watching = false;
                        let at = self
                            .cluster
                            .as_ref()
                            .map(Cluster::rest_url)
                            .unwrap_or_default();
                        self.report(Input::ClusterLost {
                            job,
                            reason: format!("the cluster at {at} does not know the job"),
                        });
                    }
                    Err(e) => tracing::warn!(%job, "polling the job: {e}"),
                }
            }
            Done::TornDown(Ok(())) => {
                if let Some(Cluster::Local(c)) = &self.cluster {
                    self.shared.forget_cluster(&c.rest_url());
                }
                self.report(Input::TornDown { job });
                ctx.stop();
            }
            Done::TornDown(Err(e)) => {
                tracing::error!(%job, "tearing the cluster down failed, trying again in 5s: {e}");
                ctx.run_later(Duration::from_secs(5), |act, ctx| act.tear_down(ctx));
            }
        }
    }
}

/// The wait before the next poll after `quiet` quiet polls: `base` doubled each time,
/// at most `max` (or `base`, if that is longer).
fn poll_delay(base: Duration, max: Duration, quiet: u32) -> Duration {
    base.saturating_mul(1u32 << quiet.min(20))
        .min(max.max(base))
}

/// How often a job in transition (starting, taking a savepoint) is asked about: closely,
/// as the user waits on it; a running job is polled at `timing.poll_interval` and less.
const TRANSITION_POLL: Duration = Duration::from_millis(50);

/// How a start ended well: the job runs, or (a short bounded job) already finished.
enum Started {
    Running,
    Finished,
}

/// Fetches the jar, gets a cluster (a local one started, recorded in the store first;
/// an external one recorded with the job id it will get), submits the job and waits
/// until Flink reports it RUNNING.
async fn start_job(
    shared: Arc<Shared>,
    job: Uuid,
    dir: PathBuf,
    plan: StartPlan,
    me: Addr<JobActor>,
    scripts: Arc<AtomicBool>,
) -> Result<Started, String> {
    let artifact = plan.template.artifact.clone().unwrap_or_default();
    let jar_uri = artifact.jar_uri.clone().unwrap_or_default();
    let jar = crate::artifact::fetch(
        &shared.http,
        &jar_uri,
        &plan.base_dir,
        &shared.config().state_dir.join("jars"),
        shared.config().files.max_jar_size,
    )
    .await
    .map_err(|e| e.to_string())?;
    let args = match &artifact.main_args {
        Some(a) => shell_words::split(a).map_err(|e| format!("mainArgs `{a}`: {e}"))?,
        None => Vec::new(),
    };
    let mut request = RunRequest {
        entry_class: artifact.entry_class.clone(),
        program_args_list: args,
        parallelism: plan.template.parallelism.unwrap_or(1).max(1) as u32,
        savepoint_path: plan.savepoint_path.as_deref().map(|p| {
            let newest = crate::cluster::newest_checkpoint(p);
            if newest != p {
                tracing::info!(%job, recorded = p, newest = %newest, "restoring from the newest retained checkpoint");
            }
            newest
        }),
        allow_non_restored_state: plan.allow_non_restored_state,
        job_id: None,
    };
    let began = std::time::Instant::now();
    let (client, flink_job) = match &plan.placement {
        Placement::Local => {
            let cluster = start_local(&shared, job, dir, &plan, &me, scripts).await?;
            tracing::debug!(%job, after = ?began.elapsed(), "cluster scripts done");
            let client = shared.flink(&cluster.rest_url());
            // The job is submitted as soon as the JobManager answers: Flink builds its
            // graph while the TaskManagers start, and the job waits for their slots.
            wait_for_cluster(&client, &cluster, 0, 0).await?;
            let jar_id = client.upload_jar(&jar).await.map_err(|e| e.to_string())?;
            let flink_job = submitted(client.run(&jar_id, &request).await, &me)?;
            tracing::debug!(%job, after = ?began.elapsed(), "job submitted");
            // Its cluster is complete before the job counts as started.
            wait_for_cluster(
                &client,
                &cluster,
                cluster.task_managers,
                request.parallelism,
            )
            .await?;
            tracing::debug!(%job, after = ?began.elapsed(), "TaskManagers registered");
            (client, flink_job)
        }
        Placement::External { rest_url } => {
            let flink_job_id = job.simple().to_string();
            let cluster = ExternalCluster {
                rest_url: rest_url.clone(),
                flink_job_id: flink_job_id.clone(),
            };
            record_cluster(
                &shared,
                job,
                plan.deployment_id,
                Cluster::External(cluster.clone()),
            )
            .await?;
            me.do_send(Done::Prepared(Cluster::External(cluster)));
            request.job_id = Some(flink_job_id);
            let client = shared.flink(rest_url);
            let hash = shared.jar_uploads.content_hash(&jar).await?;
            let mut tries = 0;
            loop {
                tries += 1;
                let jar_id = shared
                    .jar_uploads
                    .jar_id(&client, rest_url, &jar, &hash)
                    .await
                    .map_err(|e| e.to_string())?;
                match client.run(&jar_id, &request).await {
                    Err(e) if tries == 1 && external::is_missing_jar(&e) => {
                        shared.jar_uploads.forget(rest_url, &hash);
                    }
                    other => break (client, submitted(other, &me)?),
                }
            }
        }
    };
    let started = wait_running(&client, &flink_job).await;
    tracing::debug!(%job, after = ?began.elapsed(), "job started");
    started
}

/// Writes a cluster's handle ahead of its use.
async fn record_cluster(
    shared: &Shared,
    job: Uuid,
    deployment_id: Uuid,
    cluster: Cluster,
) -> Result<(), String> {
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
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())
}

/// Prepares and starts a local cluster, on record before any of its processes exists.
async fn start_local(
    shared: &Shared,
    job: Uuid,
    dir: PathBuf,
    plan: &StartPlan,
    me: &Addr<JobActor>,
    scripts: Arc<AtomicBool>,
) -> Result<LocalCluster, String> {
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
    scripts.store(true, Ordering::SeqCst);
    // The scripts run to their end even if this task is aborted; the flag says when.
    tokio::task::spawn_blocking(move || {
        let result = starting.start();
        scripts.store(false, Ordering::SeqCst);
        result
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())?;
    Ok(cluster)
}

/// Waits until the local cluster answers with `task_managers` TaskManagers and `slots`
/// slots registered; fails if its JobManager dies meanwhile.
async fn wait_for_cluster(
    client: &FlinkClient,
    cluster: &LocalCluster,
    task_managers: u32,
    slots: u32,
) -> Result<(), String> {
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
                return Err(format!("{why}; its log ends with:\n{tail}"));
            }
            _ => tokio::time::sleep(TRANSITION_POLL).await,
        }
    }
}

/// Reports the job id Flink accepted the job under, or why it did not.
fn submitted(
    run: Result<String, crate::flink::FlinkError>,
    me: &Addr<JobActor>,
) -> Result<String, String> {
    let flink_job = run.map_err(|e| match e {
        crate::flink::FlinkError::Rejected { message, .. } => {
            format!("Flink rejected the job: {message}")
        }
        other => other.to_string(),
    })?;
    me.do_send(Done::Submitted(flink_job.clone()));
    Ok(flink_job)
}

/// Waits until the submitted job runs (or, a short bounded job, has finished).
async fn wait_running(client: &FlinkClient, flink_job: &str) -> Result<Started, String> {
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
                return Err(format!("the job ended {:?} before it ran: {why}", d.state));
            }
            _ => tokio::time::sleep(TRANSITION_POLL).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::poll_delay;
    use std::time::Duration;

    #[test]
    fn quiet_jobs_are_polled_less_often_up_to_the_maximum() {
        let s = Duration::from_secs;
        let delays: Vec<u64> = (0..8)
            .map(|q| poll_delay(s(5), s(60), q).as_secs())
            .collect();
        assert_eq!(delays, [5, 10, 20, 40, 60, 60, 60, 60]);
        // A maximum below the base leaves the base.
        assert_eq!(poll_delay(s(5), s(1), 3), s(5));
        // No overflow, however long quiet.
        assert_eq!(poll_delay(s(5), s(60), u32::MAX), s(60));
    }
}
