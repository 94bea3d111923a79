//! The DeploymentActor: one per Deployment. It owns the lifecycle state (its phase,
//! counters and deadlines), the Deployment's Job and Savepoint records, and its
//! JobActors.
//!
//! Each step follows raft-rs's `Ready` discipline (DESIGN.md, principle 2): the
//! lifecycle decides; the new state, the status, the records and the events are written
//! to the store in one transaction; only then are the effects (start, stop, cancel, tear
//! down) handed to the JobActors. A step whose write fails has no effect and is retried.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use uuid::Uuid;

use super::job::{Command, JobActor, JobReport, StartPlan};
use super::store::Exec;
use super::supervisor::{Book, Release, Reserve, Supervisor};
use super::Shared;
use crate::cluster::{Cluster, Placement};
use crate::conditions::{self, Observation, Thresholds};
use crate::lifecycle::{events, Action, Input, Lifecycle, Phase, Policy};
use crate::spec::{
    Condition, ConditionStatus, ConditionType, Deployment, DeploymentState, DeploymentStatus,
    DesiredState, Event, EventLevel, Identity, Job, JobSpec, JobState, JobStatus, RecordMetadata,
    RunningStatus, Savepoint, SavepointOrigin, SavepointState, Timestamp,
};

/// A new or changed spec from the Supervisor.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct UpdateSpec {
    pub deployment: Deployment,
    pub base_dir: PathBuf,
    pub placement: Placement,
}

/// Its file is gone: wind the Deployment down to `state` (SUSPENDED or CANCELLED), then
/// forget it.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Remove {
    pub state: DesiredState,
}

/// Sent to the Supervisor once a removed Deployment is at rest and forgotten.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Forgotten {
    pub identity: Identity,
}

/// A user asks for a savepoint of the running job (origin USER_REQUEST).
#[derive(Debug, Message)]
#[rtype(result = "Result<Savepoint, String>")]
pub struct RequestSavepoint;

/// A reloaded config is in force: re-arm timers with its intervals, look again.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct ConfigChanged;

/// Look again: cores may have been freed (from the Supervisor's quota ledger).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Wake;

/// What the DeploymentActor starts from: its records, as the store has them.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    pub lifecycle: Option<Lifecycle>,
    pub jobs: Vec<Job>,
    pub savepoints: Vec<Savepoint>,
}

pub struct DeploymentActor {
    shared: Arc<Shared>,
    id: Uuid,
    deployment: Deployment,
    base_dir: PathBuf,
    /// Where its jobs run (resolved from its DeploymentTarget).
    placement: Placement,
    policy: Policy,
    lifecycle: Lifecycle,
    jobs: HashMap<Uuid, Job>,
    savepoints: Vec<Savepoint>,
    job_actors: HashMap<Uuid, Addr<JobActor>>,
    deadline: Option<SpawnHandle>,
    supervisor: Addr<Supervisor>,
    /// Set while the Deployment winds down because its file is gone.
    removing: Option<DesiredState>,
    /// `status.running.conditions` of the running job.
    conditions: Vec<Condition>,
    /// Since when the Deployment is TRANSITIONING (this process's view, for metrics).
    transitioning_since: Option<std::time::Instant>,
}

fn now() -> Timestamp {
    time::OffsetDateTime::now_utc()
}

impl DeploymentActor {
    pub fn new(
        shared: Arc<Shared>,
        deployment: Deployment,
        base_dir: PathBuf,
        placement: Placement,
        loaded: Loaded,
        supervisor: Addr<Supervisor>,
    ) -> Self {
        let id = deployment.metadata.id.unwrap_or_else(Uuid::nil);
        DeploymentActor {
            shared,
            id,
            policy: Self::policy_for(&deployment, &placement, None),
            deployment,
            base_dir,
            placement,
            lifecycle: loaded.lifecycle.unwrap_or_default(),
            jobs: loaded
                .jobs
                .into_iter()
                .map(|j| (j.metadata.id, j))
                .collect(),
            savepoints: loaded.savepoints,
            job_actors: HashMap::new(),
            deadline: None,
            supervisor,
            removing: None,
            conditions: Vec::new(),
            transitioning_since: None,
        }
    }

    /// The policy of the current spec, or of the wind-down when the file is gone. The
    /// wind-down is a spec change of its own: it releases FAILED and FINISHED. A job on
    /// another cluster than the placement's is upgraded like a changed template.
    fn policy_for(
        deployment: &Deployment,
        placement: &Placement,
        removing: Option<DesiredState>,
    ) -> Policy {
        let mut policy = Policy::from_spec(&deployment.spec);
        policy.template_hash.push_str(&placement.hash_suffix());
        if let Some(state) = removing {
            policy.desired = state;
            policy.spec_hash.push_str("+removed");
        }
        policy
    }

    /// A removed Deployment at rest with no job is forgotten: marked removed in the store
    /// (its history stays) and its actor stopped.
    fn forget_if_done(&mut self, ctx: &mut Context<Self>) {
        if self.removing.is_none() || self.lifecycle.active_job().is_some() {
            return;
        }
        let id = self.id;
        let at = now();
        let identity = self.deployment.metadata.identity();
        let event = self.event(
            events::DEPLOYMENT_FORGOTTEN,
            EventLevel::Info,
            None,
            format!(
                "its file is gone; the Deployment is {} and forgotten (its history is kept)",
                self.lifecycle.status
            ),
            at,
        );
        tracing::info!(deployment = %identity, "file removed: Deployment forgotten");
        let write = self.shared.store.send(Exec::new(move |s| {
            s.atomically(|s| {
                s.append_event(&event)?;
                s.mark_removed(id, at)
            })
        }));
        ctx.wait(
            actix::fut::wrap_future::<_, Self>(write).map(move |_, act, ctx| {
                act.supervisor.do_send(Forgotten { identity });
                ctx.stop();
            }),
        );
    }

    fn name(&self) -> String {
        self.deployment.metadata.identity().to_string()
    }

    fn status(&self) -> DeploymentStatus {
        let running = match (
            &self.lifecycle.status,
            self.lifecycle.active_job(),
            self.lifecycle.running_since,
        ) {
            (DeploymentState::Running, Some(job_id), Some(since)) => Some(RunningStatus {
                job_id,
                transition_time: since,
                conditions: self.conditions.clone(),
            }),
            _ => None,
        };
        DeploymentStatus {
            state: self.lifecycle.status,
            running,
        }
    }

    fn record(&self, job: Option<Uuid>, at: Timestamp) -> RecordMetadata {
        RecordMetadata {
            id: Uuid::new_v4(),
            namespace: self.deployment.metadata.namespace().to_string(),
            deployment_id: self.id,
            job_id: job,
            created_at: at,
            modified_at: at,
        }
    }

    /// One lifecycle step: decide, write ahead, then act.
    fn step(&mut self, input: Input, ctx: &mut Context<Self>) {
        let before = (
            self.lifecycle.clone(),
            self.jobs.clone(),
            self.savepoints.clone(),
        );
        let at = now();
        let timing = self.shared.config().lifecycle_timing();
        let status_before = self.lifecycle.status;
        let actions =
            self.lifecycle
                .step(&self.policy, &timing, input.clone(), at, &self.savepoints);

        let mut jobs = Vec::new();
        let mut savepoints = Vec::new();
        let mut events = Vec::new();
        for a in &actions {
            match a {
                Action::StartJob {
                    job,
                    restore,
                    allow_non_restored_state,
                } => {
                    let template = self.deployment.spec.template.clone().unwrap_or_default();
                    let record = Job {
                        metadata: RecordMetadata {
                            id: *job,
                            job_id: None,
                            ..self.record(None, at)
                        },
                        spec: JobSpec {
                            template,
                            template_hash: self.policy.template_hash.clone(),
                            restore_savepoint_id: restore.as_ref().map(|r| r.savepoint),
                            savepoint_location: restore.as_ref().map(|r| r.location.clone()),
                            allow_non_restored_state: *allow_non_restored_state,
                        },
                        status: JobStatus {
                            state: JobState::Starting,
                            flink_job_id: None,
                            started_at: None,
                            terminated_at: None,
                            failure: None,
                        },
                    };
                    self.jobs.insert(*job, record.clone());
                    jobs.push(record);
                }
                Action::RecordJob {
                    job,
                    state,
                    failure,
                } => {
                    if let Some(j) = self.jobs.get_mut(job) {
                        j.status.state = *state;
                        j.metadata.modified_at = at;
                        match state {
                            JobState::Started => j.status.started_at = Some(at),
                            JobState::Terminated | JobState::Finished | JobState::Failed => {
                                j.status.terminated_at = Some(at)
                            }
                            _ => {}
                        }
                        if failure.is_some() {
                            j.status.failure = failure.clone();
                        }
                        jobs.push(j.clone());
                    }
                }
                Action::RecordSavepoint {
                    savepoint,
                    job,
                    origin,
                    state,
                    location,
                    failure,
                } => {
                    let sp = match self
                        .savepoints
                        .iter_mut()
                        .find(|s| s.metadata.id == *savepoint)
                    {
                        Some(s) => {
                            s.state = *state;
                            s.location = location.clone().or(s.location.take());
                            s.failure = failure.clone();
                            s.metadata.modified_at = at;
                            s.clone()
                        }
                        None => {
                            let s = Savepoint {
                                metadata: RecordMetadata {
                                    id: *savepoint,
                                    ..self.record(Some(*job), at)
                                },
                                origin: *origin,
                                state: *state,
                                location: location.clone(),
                                trigger_id: None,
                                failure: failure.clone(),
                            };
                            self.savepoints.push(s.clone());
                            s
                        }
                    };
                    savepoints.push(sp);
                }
                Action::Event {
                    name,
                    level,
                    job,
                    message,
                } => {
                    let who = self.name();
                    match level {
                        EventLevel::Error => {
                            tracing::error!(deployment = %who, event = name, "{message}")
                        }
                        EventLevel::Warning => {
                            tracing::warn!(deployment = %who, event = name, "{message}")
                        }
                        EventLevel::Info => {
                            tracing::info!(deployment = %who, event = name, "{message}")
                        }
                    }
                    events.push(self.event(name, *level, *job, message.clone(), at));
                }
                _ => {}
            }
        }

        let id = self.id;
        let lifecycle = self.lifecycle.clone();
        let status = self.status();
        let write = self.shared.store.send(Exec::new(move |s| {
            s.atomically(|s| {
                s.put_counters(id, &lifecycle)?;
                s.put_status(id, &status, at)?;
                for j in &jobs {
                    s.put_job(j)?;
                }
                for sp in &savepoints {
                    s.put_savepoint(sp)?;
                }
                for e in &events {
                    s.append_event(e)?;
                }
                Ok(())
            })
        }));
        ctx.wait(actix::fut::wrap_future::<_, Self>(write).map(move |result, act, ctx| {
            let err = match result {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e.to_string()),
                Err(e) => Some(e.to_string()),
            };
            if let Some(e) = err {
                // Nothing was written, so nothing is done: back to the state before the
                // step, and the same input again a little later.
                tracing::error!(deployment = %act.name(), "cannot record a step, retrying in 5s: {e}");
                (act.lifecycle, act.jobs, act.savepoints) = before;
                ctx.run_later(Duration::from_secs(5), move |act, ctx| act.step(input, ctx));
                return;
            }
            // Counted once the step is on record (a failed write is retried).
            act.count(status_before, &actions);
            for a in actions {
                act.act(a, ctx);
            }
            act.schedule_deadline(ctx);
            act.forget_if_done(ctx);
        }));
    }

    /// Carries out an effect, once its intent is on record.
    fn act(&mut self, action: Action, ctx: &mut Context<Self>) {
        match action {
            Action::StartJob {
                job,
                restore,
                allow_non_restored_state,
            } => {
                let template = self.deployment.spec.template.clone().unwrap_or_default();
                let template = template.spec.unwrap_or_default();
                let version = template
                    .artifact
                    .as_ref()
                    .and_then(|a| a.flink_version.clone())
                    .unwrap_or_else(|| self.shared.config().flink.default_version.clone());
                let Some(home) = self.shared.config().flink.versions.get(&version).cloned() else {
                    let reason = format!(
                        "Flink {version} is not configured; known versions: {}",
                        self.shared.config().known_versions()
                    );
                    ctx.notify(JobReport::Observed(Input::JobStartFailed { job, reason }));
                    return;
                };
                let plan = StartPlan {
                    deployment_id: self.id,
                    template,
                    base_dir: self.base_dir.clone(),
                    flink_home: home,
                    savepoint_path: restore.map(|r| r.location),
                    allow_non_restored_state,
                    placement: self.placement.clone(),
                    work_dir: self
                        .shared
                        .config()
                        .work_dir(&self.deployment.metadata.identity()),
                };
                self.send(job, Command::Start(Box::new(plan)), ctx);
            }
            Action::StopWithSavepoint { job, savepoint } => {
                self.send(job, Command::StopWithSavepoint { savepoint }, ctx)
            }
            Action::TriggerSavepoint { job, savepoint } => {
                self.send(job, Command::TriggerSavepoint { savepoint }, ctx)
            }
            Action::Cancel { job } => self.send(job, Command::Cancel, ctx),
            Action::TearDown { job } => self.send(job, Command::TearDown, ctx),
            Action::ReserveQuota { cores } => {
                let ask = self.supervisor.send(Reserve {
                    deployment: self.id,
                    identity: self.deployment.metadata.identity(),
                    cores,
                });
                ctx.spawn(actix::fut::wrap_future::<_, Self>(ask).map(|answer, act, ctx| match answer {
                    Ok(Ok(())) => act.step(Input::QuotaGranted, ctx),
                    Ok(Err(d)) => act.step(
                        Input::QuotaDenied {
                            used: d.used,
                            limit: d.limit,
                        },
                        ctx,
                    ),
                    Err(e) => tracing::error!(deployment = %act.name(), "the Supervisor did not answer: {e}"),
                }));
            }
            Action::ReleaseQuota => self.supervisor.do_send(Release {
                deployment: self.id,
            }),
            // Records and events were written with the step.
            Action::RecordJob { .. } | Action::RecordSavepoint { .. } | Action::Event { .. } => {}
        }
    }

    /// Sends a command to a job's actor, creating one to act on the recorded cluster if
    /// there is none (after a daemon restart).
    fn send(&mut self, job: Uuid, command: Command, ctx: &mut Context<Self>) {
        let addr = self
            .job_actors
            .entry(job)
            .or_insert_with(|| {
                JobActor::new(job, self.shared.clone(), ctx.address().recipient()).start()
            })
            .clone();
        addr.do_send(command);
    }

    /// Metrics of a step: transitions and their duration, jobs, savepoints.
    fn count(&mut self, before: DeploymentState, actions: &[Action]) {
        let m = &self.shared.metrics;
        let after = self.lifecycle.status;
        if after == DeploymentState::Transitioning && before != DeploymentState::Transitioning {
            self.transitioning_since = Some(std::time::Instant::now());
        }
        if before == DeploymentState::Transitioning && after != DeploymentState::Transitioning {
            let to = crate::metrics::label("to", after);
            m.transitions.get_or_create(&to).inc();
            if let Some(since) = self.transitioning_since.take() {
                m.transition_seconds
                    .get_or_create(&to)
                    .observe(since.elapsed().as_secs_f64());
            }
        }
        for a in actions {
            match a {
                Action::RecordJob {
                    state: JobState::Started,
                    ..
                } => {
                    m.jobs_started.inc();
                }
                Action::RecordJob {
                    state: JobState::Failed,
                    ..
                } => {
                    m.jobs_failed.inc();
                }
                Action::RecordSavepoint { origin, state, .. }
                    if *state != SavepointState::Started =>
                {
                    let labels = vec![
                        ("origin".to_string(), origin.to_string()),
                        ("state".to_string(), state.to_string()),
                    ];
                    m.savepoints_taken.get_or_create(&labels).inc();
                }
                _ => {}
            }
        }
    }

    /// A poll of the running job: its conditions, and its newest retained checkpoint as
    /// a restore point (origin RETAINED_CHECKPOINT, one record per job kept current).
    /// Records only: nothing here is a lifecycle decision.
    fn observed(
        &mut self,
        job: Uuid,
        observation: Observation,
        checkpoint: Option<crate::flink::CompletedCheckpoint>,
        ctx: &mut Context<Self>,
    ) {
        if self.lifecycle.active_job() != Some(job) {
            return;
        }
        let at = now();
        let mut events = Vec::new();
        let mut status = None;
        if self.lifecycle.status == DeploymentState::Running {
            let t = &self.shared.config().timing;
            let thresholds = Thresholds {
                failing_window: t.restart_window_failing,
                unstable_window: t.restart_window_unstable,
                threshold: t.restart_threshold,
            };
            let (next, changed) =
                conditions::evaluate(&self.conditions, &observation, at, &thresholds);
            if changed {
                for c in &next {
                    let was_true = self
                        .conditions
                        .iter()
                        .any(|p| p.kind == c.kind && p.status == ConditionStatus::True);
                    if c.status == ConditionStatus::True && !was_true {
                        let name = match c.kind {
                            ConditionType::ClusterUnreachable => events::CLUSTER_UNREACHABLE,
                            ConditionType::JobFailing => events::JOB_FAILING,
                            ConditionType::JobUnstable => events::JOB_UNSTABLE,
                        };
                        tracing::warn!(deployment = %self.name(), condition = %c.kind, "{}", c.message);
                        events.push(self.event(
                            name,
                            EventLevel::Warning,
                            Some(job),
                            format!("{}: {}", c.kind, c.message),
                            at,
                        ));
                    }
                }
                self.conditions = next;
                status = Some(self.status());
            }
        }
        let mut record = None;
        // Only while the job runs as it should: a poll answered during a stop with a
        // savepoint must not make a checkpoint that the stop discards (and that is older
        // than the savepoint) the newest restore point. Ordered by Flink's completion
        // time, not by when the answer came.
        let running = matches!(
            self.lifecycle.phase,
            Phase::Running { .. } | Phase::UserSavepointing { .. }
        );
        let checkpoint = checkpoint.filter(|_| running).and_then(|c| {
            let completed = c.completed_at().map_or(at, |t| t.min(at));
            c.external_path.map(|path| (path, completed))
        });
        if let Some((path, completed)) = checkpoint {
            let existing = self.savepoints.iter_mut().find(|s| {
                s.origin == SavepointOrigin::RetainedCheckpoint && s.metadata.job_id == Some(job)
            });
            match existing {
                Some(s) if s.location.as_deref() == Some(path.as_str()) => {}
                Some(s) => {
                    s.location = Some(path);
                    s.metadata.modified_at = completed;
                    record = Some(s.clone());
                }
                None => {
                    let mut metadata = self.record(Some(job), at);
                    metadata.modified_at = completed;
                    let s = Savepoint {
                        metadata,
                        origin: SavepointOrigin::RetainedCheckpoint,
                        state: SavepointState::Completed,
                        location: Some(path),
                        trigger_id: None,
                        failure: None,
                    };
                    self.savepoints.push(s.clone());
                    record = Some(s);
                }
            }
        }
        if status.is_none() && record.is_none() {
            return;
        }
        let id = self.id;
        let write = self.shared.store.send(Exec::new(move |s| {
            s.atomically(|s| {
                if let Some(status) = &status {
                    s.put_status(id, status, at)?;
                }
                if let Some(r) = &record {
                    s.put_savepoint(r)?;
                }
                for e in &events {
                    s.append_event(e)?;
                }
                Ok(())
            })
        }));
        ctx.wait(
            actix::fut::wrap_future::<_, Self>(write).map(|result, act, _| {
                let error = match result {
                    Ok(Ok(())) => return,
                    Ok(Err(e)) => e.to_string(),
                    Err(e) => e.to_string(),
                };
                tracing::error!(deployment = %act.name(), "cannot record an observation: {error}");
            }),
        );
    }

    fn event(
        &self,
        name: &str,
        level: EventLevel,
        job: Option<Uuid>,
        message: String,
        at: Timestamp,
    ) -> Event {
        Event {
            seq: 0,
            deployment_id: self.id,
            job_id: job,
            namespace: self.deployment.metadata.namespace().to_string(),
            created_at: at,
            name: name.to_string(),
            level,
            message,
        }
    }

    fn schedule_deadline(&mut self, ctx: &mut Context<Self>) {
        if let Some(h) = self.deadline.take() {
            ctx.cancel_future(h);
        }
        if let Some(at) = self.lifecycle.next_deadline() {
            let wait = (at - now()).max(time::Duration::ZERO);
            let wait = Duration::try_from(wait).unwrap_or_default() + Duration::from_millis(10);
            self.deadline = Some(ctx.run_later(wait, |act, ctx| act.step(Input::Reconcile, ctx)));
        }
    }
}

impl Actor for DeploymentActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // After a restart, what was under way is taken up again (DESIGN.md, principle 2):
        // a teardown is done again; a job whose cluster still answers is adopted and the
        // operation on it resumed; a job whose cluster is gone is reported lost.
        let Some(job) = self.lifecycle.active_job() else {
            self.step(Input::Reconcile, ctx);
            return;
        };
        if matches!(self.lifecycle.phase, Phase::TearingDown { .. }) {
            self.send(job, Command::TearDown, ctx);
            return;
        }
        let flink_job_id = self
            .jobs
            .get(&job)
            .and_then(|j| j.status.flink_job_id.clone());
        let store = self.shared.store.clone();
        let fut = store.send(Exec::new(move |s| Cluster::of_job(s, job)));
        ctx.wait(actix::fut::wrap_future::<_, Self>(fut).map(move |r, act, ctx| {
            let cluster = r.ok().and_then(Result::ok).flatten();
            // A job on an external cluster has its id before its submission.
            let flink_job_id = flink_job_id.or_else(|| match &cluster {
                Some(Cluster::External(c)) => Some(c.flink_job_id.clone()),
                _ => None,
            });
            match (cluster, flink_job_id) {
                (Some(cluster), Some(flink_job_id)) if !cluster.known_gone() => {
                    tracing::info!(deployment = %act.name(), %job, "adopting the running cluster");
                    // A running job keeps its cores, whatever the quota says now.
                    act.supervisor.do_send(Book {
                        deployment: act.id,
                        cores: act.policy.cores,
                    });
                    act.send(job, Command::Adopt { cluster, flink_job_id }, ctx);
                    act.resume(job, ctx);
                }
                _ => {
                    let reason = "the job's cluster is gone (found after a restart of flinkd)".to_string();
                    act.step(Input::ClusterLost { job, reason }, ctx);
                }
            }
            act.step(Input::Reconcile, ctx);
        }));
    }
}

impl DeploymentActor {
    /// Takes up the operation the lifecycle was waiting for when the daemon stopped. A
    /// savepoint Flink was already asked for is waited for by its trigger id, so that it
    /// is not lost; one never asked for is asked for now.
    fn resume(&mut self, job: Uuid, ctx: &mut Context<Self>) {
        let savepoint = match &self.lifecycle.phase {
            Phase::Savepointing { savepoint, .. } | Phase::UserSavepointing { savepoint, .. } => {
                *savepoint
            }
            Phase::Cancelling { .. } => return self.send(job, Command::Cancel, ctx),
            _ => return,
        };
        let trigger = self
            .savepoints
            .iter()
            .find(|s| s.metadata.id == savepoint)
            .and_then(|s| s.trigger_id.clone());
        let command = match (trigger, &self.lifecycle.phase) {
            (Some(trigger_id), _) => Command::ResumeSavepoint {
                savepoint,
                trigger_id,
            },
            (None, Phase::Savepointing { graceful: true, .. }) => {
                Command::StopWithSavepoint { savepoint }
            }
            (None, _) => Command::TriggerSavepoint { savepoint },
        };
        self.send(job, command, ctx);
    }
}

impl Handler<UpdateSpec> for DeploymentActor {
    type Result = ();

    fn handle(&mut self, msg: UpdateSpec, ctx: &mut Context<Self>) {
        // A file that comes back cancels a wind-down.
        self.removing = None;
        self.policy = Self::policy_for(&msg.deployment, &msg.placement, None);
        self.deployment = msg.deployment;
        self.base_dir = msg.base_dir;
        self.placement = msg.placement;
        self.step(Input::Reconcile, ctx);
    }
}

impl Handler<RequestSavepoint> for DeploymentActor {
    type Result = Result<Savepoint, String>;

    fn handle(&mut self, _: RequestSavepoint, ctx: &mut Context<Self>) -> Self::Result {
        let running = matches!(self.lifecycle.phase, Phase::Running { .. })
            && self.lifecycle.status == DeploymentState::Running;
        if !running {
            return Err(format!(
                "{} is {}: a savepoint is taken of a RUNNING job, with no other operation under way",
                self.name(),
                self.lifecycle.status
            ));
        }
        let savepoint = Uuid::new_v4();
        self.step(Input::UserSavepoint { savepoint }, ctx);
        self.savepoints
            .iter()
            .find(|s| s.metadata.id == savepoint)
            .cloned()
            .ok_or_else(|| "the savepoint was not started".to_string())
    }
}

impl Handler<ConfigChanged> for DeploymentActor {
    type Result = ();

    fn handle(&mut self, _: ConfigChanged, ctx: &mut Context<Self>) {
        for job in self.job_actors.values() {
            job.do_send(Command::Reschedule);
        }
        self.step(Input::Reconcile, ctx);
    }
}

impl Handler<Wake> for DeploymentActor {
    type Result = ();

    fn handle(&mut self, _: Wake, ctx: &mut Context<Self>) {
        if matches!(self.lifecycle.phase, Phase::WaitingForQuota { .. }) {
            self.step(Input::Reconcile, ctx);
        }
    }
}

impl Handler<Remove> for DeploymentActor {
    type Result = ();

    fn handle(&mut self, msg: Remove, ctx: &mut Context<Self>) {
        if self.removing.is_some() {
            return;
        }
        self.removing = Some(msg.state);
        self.policy = Self::policy_for(&self.deployment, &self.placement, self.removing);
        tracing::warn!(deployment = %self.name(), "its file is gone: winding it down to {}", msg.state);
        self.step(Input::Reconcile, ctx);
    }
}

impl Handler<JobReport> for DeploymentActor {
    type Result = ();

    fn handle(&mut self, report: JobReport, ctx: &mut Context<Self>) {
        match report {
            JobReport::Observed(input) => {
                if let Input::TornDown { job } = &input {
                    self.job_actors.remove(job);
                }
                self.step(input, ctx);
            }
            JobReport::Health {
                job,
                observation,
                checkpoint,
            } => self.observed(job, observation, checkpoint, ctx),
            JobReport::SavepointTriggered {
                savepoint,
                trigger_id,
                ..
            } => {
                // Write ahead: the trigger id is on record before the savepoint completes.
                if let Some(sp) = self
                    .savepoints
                    .iter_mut()
                    .find(|s| s.metadata.id == savepoint)
                {
                    sp.trigger_id = Some(trigger_id);
                    let record = sp.clone();
                    self.shared
                        .store
                        .do_send(Exec::new(move |s| s.put_savepoint(&record)));
                }
            }
            JobReport::Submitted { job, flink_job_id } => {
                if let Some(j) = self.jobs.get_mut(&job) {
                    j.status.flink_job_id = Some(flink_job_id);
                    j.metadata.modified_at = now();
                    let record = j.clone();
                    self.shared
                        .store
                        .do_send(Exec::new(move |s| s.put_job(&record)));
                }
            }
        }
    }
}
