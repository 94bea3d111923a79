//! The DeploymentActor: one per Deployment. It owns the Deployment's lifecycle state
//! (its phase, counters, deadlines, conditions), its Job and Savepoint records, and its
//! JobActors.
//!
//! Each step follows raft-rs's `Ready` discipline (DESIGN.md, principle 2): the
//! lifecycle decides ([`Lifecycle::step`]); the actions are applied to the records
//! ([`Records::apply`]); the new state, the status, the changed records and the events
//! are written to the store in one transaction; only then are the effects (start, stop,
//! cancel, tear down, quota) handed to the JobActors and the Supervisor. A step whose
//! write fails has no effect and is tried again. The actor decides nothing.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use uuid::Uuid;

mod handlers;
mod messages;
pub use messages::*;

use super::job::{Command, JobActor, JobReport, KubePlan, StartPlan};
use super::store::Exec;
use super::Shared;
use crate::cluster::{Cluster, Placement};
use crate::lifecycle::records::RecordContext;
use crate::lifecycle::{
    Action, Ctx, EventName, Found, Input, Lifecycle, Phase, Policy, RandomIds, Records,
};
use crate::spec::{
    Deployment, DeploymentState, DeploymentStatus, DeploymentTemplate, DesiredState, Event,
    EventLevel, RunningStatus, Savepoint, Timestamp,
};

pub struct DeploymentActor {
    shared: Arc<Shared>,
    id: Uuid,
    deployment: Deployment,
    source: Source,
    policy: Policy,
    lifecycle: Lifecycle,
    records: Records,
    job_actors: HashMap<Uuid, Addr<JobActor>>,
    /// The cluster found on record after a restart, for the job to adopt.
    found: Option<Cluster>,
    deadline: Option<SpawnHandle>,
    supervisor: Recipient<DeploymentReport>,
    /// Set while the Deployment winds down because its file is gone.
    removing: Option<DesiredState>,
    told_ready: bool,
    /// Since when the Deployment is TRANSITIONING (this process's view, for metrics).
    transitioning_since: Option<std::time::Instant>,
    /// What is wrong with its file now (it goes on with its last valid spec).
    problems: Vec<String>,
    /// Whether its lifecycle and status are on record. A new Deployment's are not until
    /// its first step is written, even a step that changes nothing (one created
    /// CANCELLED is at rest from the start, and must still show it).
    on_record: bool,
}

/// What a DeploymentActor keeps of its [`SpecSource`]: where its jobs run, its file's
/// directory, and its spec as written only as the bytes a removal's policy needs (ten
/// thousand Deployments would otherwise each hold a second spec).
struct Source {
    placement: crate::cluster::Placement,
    base_dir: std::path::PathBuf,
    written_json: Box<[u8]>,
}

impl Source {
    fn of(source: SpecSource) -> Source {
        Source {
            written_json: Policy::written_json(&source.written).into_boxed_slice(),
            placement: source.placement,
            base_dir: source.base_dir,
        }
    }
}

/// The host's `MemAvailable`, in bytes.
fn memory_available() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kib * 1024)
}

fn now() -> Timestamp {
    time::OffsetDateTime::now_utc()
}

impl DeploymentActor {
    /// A Deployment's actor; fails if its spec was not expanded.
    pub fn new(
        shared: Arc<Shared>,
        deployment: Deployment,
        source: SpecSource,
        loaded: Loaded,
        supervisor: Recipient<DeploymentReport>,
    ) -> Result<Self, crate::expanded::NotExpanded> {
        let id = deployment.metadata.id.unwrap_or_else(Uuid::nil);
        let policy = Self::policy_for(&deployment, &source)?;
        let lifecycle = match loaded.lifecycle.as_deref() {
            Some(json) => Lifecycle::from_stored(json, &policy, now()).unwrap_or_else(|e| {
                tracing::error!(deployment = %deployment.metadata.identity(), "the recorded lifecycle cannot be read ({e}); starting afresh");
                Lifecycle::default()
            }),
            None => Lifecycle::default(),
        };
        let on_record = loaded.lifecycle.is_some();
        let (mut jobs, mut savepoints) = (loaded.jobs, loaded.savepoints);
        jobs.shrink_to_fit();
        savepoints.shrink_to_fit();
        Ok(DeploymentActor {
            shared,
            id,
            policy,
            deployment,
            source: Source::of(source),
            lifecycle,
            records: Records { jobs, savepoints },
            job_actors: HashMap::new(),
            found: None,
            deadline: None,
            supervisor,
            removing: None,
            told_ready: false,
            transitioning_since: None,
            problems: Vec::new(),
            on_record,
        })
    }

    /// The cores its lifecycle holds (booked by the Supervisor before it starts).
    pub fn cores_held(&self) -> f64 {
        self.lifecycle.cores_held
    }

    fn policy_for(
        deployment: &Deployment,
        source: &SpecSource,
    ) -> Result<Policy, crate::expanded::NotExpanded> {
        Policy::new(
            &source.written,
            &deployment.spec,
            &source.placement.hash_suffix(),
            None,
        )
    }

    fn name(&self) -> String {
        self.deployment.metadata.identity().to_string()
    }

    fn status(&self) -> DeploymentStatus {
        let lc = &self.lifecycle;
        let running = match (&lc.status, lc.active_job(), lc.running_since) {
            (DeploymentState::Running, Some(job_id), Some(since)) => Some(RunningStatus {
                job_id,
                transition_time: since,
                conditions: lc.conditions.clone(),
            }),
            _ => None,
        };
        DeploymentStatus {
            flink_ui: None,
            state: lc.status,
            running,
            problems: self.problems.clone(),
        }
    }

    fn event(
        &self,
        name: EventName,
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
            name: name.as_str().to_string(),
            level,
            message,
        }
    }

    /// One lifecycle step: decide, write ahead, then act.
    fn step(&mut self, input: Input, ctx: &mut Context<Self>) {
        self.step_then(input, ctx, |_, _| {});
    }

    /// A step, then `then` once it is on record (or could not be).
    fn step_then(
        &mut self,
        input: Input,
        ctx: &mut Context<Self>,
        then: impl FnOnce(&mut Self, Result<(), NotRecorded>) + 'static,
    ) {
        let before = (self.lifecycle.clone(), self.records.clone());
        let at = now();
        let config = self.shared.config();
        let actions = {
            let mut ids = RandomIds;
            // Read where a fast upgrade may be decided (a running job of a Deployment
            // on a cluster of its own), with fast upgrades allowed.
            let memory_available = (config.flink.fast_upgrades
                && self.policy.fast_upgrade
                && self.lifecycle.phase.job().is_some())
            .then(memory_available)
            .flatten();
            let mut c = Ctx {
                policy: &self.policy,
                timing: &config.timing,
                now: at,
                records: &self.records,
                ids: &mut ids,
                memory_available,
            };
            self.lifecycle.step(&mut c, input.clone())
        };
        let no_template = Arc::<DeploymentTemplate>::default();
        let changed = self.records.apply(
            &actions,
            &RecordContext {
                at,
                namespace: self.deployment.metadata.namespace(),
                deployment_id: self.id,
                template: self
                    .deployment
                    .spec
                    .template
                    .as_ref()
                    .unwrap_or(&no_template),
                template_hash: &self.policy.template_hash,
            },
        );
        let mut events = Vec::new();
        for a in &actions {
            if let Action::Event {
                name,
                level,
                job,
                message,
            } = a
            {
                let who = self.name();
                match level {
                    EventLevel::Error => {
                        tracing::error!(deployment = %who, event = %name, "{message}")
                    }
                    EventLevel::Warning => {
                        tracing::warn!(deployment = %who, event = %name, "{message}")
                    }
                    EventLevel::Info => {
                        tracing::info!(deployment = %who, event = %name, "{message}")
                    }
                }
                events.push(self.event(*name, *level, *job, message.clone(), at));
            }
        }
        // A step that changed nothing (a quiet poll) costs no write, once the lifecycle
        // is on record.
        if self.on_record
            && self.lifecycle == before.0
            && changed.jobs.is_empty()
            && changed.savepoints.is_empty()
            && changed.forgotten.is_empty()
            && actions.is_empty()
        {
            // The policy may have moved a deadline (a new savepointInterval).
            self.schedule_deadline(ctx);
            then(self, Ok(()));
            return;
        }
        let status_before = before.0.status;
        let id = self.id;
        let lifecycle = self.lifecycle.clone();
        let status = self.status();
        let write = self.shared.store.send(Exec::new(move |s| {
            s.atomically(|s| {
                s.put_lifecycle(id, &lifecycle)?;
                s.put_status(id, &status, at)?;
                for j in &changed.jobs {
                    s.put_job(j)?;
                }
                for sp in &changed.savepoints {
                    s.put_savepoint(sp)?;
                }
                for id in &changed.forgotten {
                    s.delete_savepoint(*id)?;
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
                Ok(Err(e)) => Some(NotRecorded::Store(e)),
                Err(e) => Some(NotRecorded::Closed(e)),
            };
            if let Some(e) = err {
                // Nothing was written, so nothing is done: back to the state before the
                // step, and the same input again a little later.
                tracing::error!(deployment = %act.name(), "cannot record a step, retrying in 5s: {e}");
                (act.lifecycle, act.records) = before;
                then(act, Err(e));
                // A savepoint on request was answered as failed: not taken later.
                if input != Input::UserSavepoint {
                    ctx.run_later(Duration::from_secs(5), move |act, ctx| act.step(input, ctx));
                }
                return;
            }
            act.on_record = true;
            // Counted once the step is on record.
            act.count(status_before, &actions);
            for a in actions {
                act.act(a, ctx);
            }
            act.schedule_deadline(ctx);
            act.ready_to_forget();
            then(act, Ok(()));
        }));
    }

    /// Carries out an effect, once its intent is on record.
    fn act(&mut self, action: Action, ctx: &mut Context<Self>) {
        match action {
            Action::StartJob { job, resume, .. } => self.start(job, resume, ctx),
            Action::WarmCluster { job } => self.warm(job, ctx),
            Action::Adopt { job } => match self.found.take() {
                Some(cluster) => self.send(job, Command::Adopt { cluster }, ctx),
                None => ctx.notify(JobReport(Input::ClusterLost {
                    job,
                    reason: "the job's cluster is not on record".into(),
                })),
            },
            Action::StopWithSavepoint {
                job,
                savepoint,
                trigger_id,
            } => self.send(
                job,
                Command::StopWithSavepoint {
                    savepoint,
                    trigger_id,
                },
                ctx,
            ),
            Action::TriggerSavepoint {
                job,
                savepoint,
                trigger_id,
            } => self.send(
                job,
                Command::TriggerSavepoint {
                    savepoint,
                    trigger_id,
                },
                ctx,
            ),
            Action::ResumeSavepoint {
                job,
                savepoint,
                trigger_id,
                stop,
            } => self.send(
                job,
                Command::ResumeSavepoint {
                    savepoint,
                    trigger_id,
                    stop,
                },
                ctx,
            ),
            Action::Cancel { job } => self.send(job, Command::Cancel, ctx),
            Action::ReplaceTaskManagers { job } => {
                self.send(job, Command::ReplaceTaskManagers, ctx)
            }
            Action::TearDown { job, confirm } => self.send(job, Command::TearDown { confirm }, ctx),
            Action::ReserveQuota { request, cores } => {
                self.supervisor.do_send(DeploymentReport::Reserve {
                    deployment: self.id,
                    request,
                    cores,
                })
            }
            Action::SetQuota { cores } => self.supervisor.do_send(DeploymentReport::SetQuota {
                deployment: self.id,
                cores,
            }),
            Action::DisposeSnapshot {
                savepoint,
                location,
            } => self.dispose(savepoint, location, ctx),
            Action::UpgradeDowntime { downtime } => self
                .shared
                .metrics
                .upgrade_downtime
                .observe(downtime.as_secs_f64()),
            // Records and events were written with the step.
            Action::RecordJob { .. }
            | Action::RecordSavepoint { .. }
            | Action::ForgetSavepoint { .. }
            | Action::Event { .. } => {}
        }
    }

    /// Hands a start to the job's actor, with what its Job record says to run.
    /// How to start a job of `template` (a Job record's, or the latest spec's).
    fn plan(
        &self,
        template: &crate::spec::TemplateSpec,
        savepoint_path: Option<String>,
        allow_non_restored_state: bool,
    ) -> Result<StartPlan, String> {
        let source = template;
        let template =
            crate::expanded::ExpandedTemplate::of(template).map_err(|e| e.to_string())?;
        let version = template.flink_version.clone();
        let config = self.shared.config();
        let placement = &self.source.placement;
        let kubernetes = matches!(placement, Placement::Kubernetes { .. }).then(|| {
            Box::new(KubePlan {
                deployment_name: self.deployment.metadata.name.clone(),
                artifact: source.artifact.clone().unwrap_or_default(),
                options: source.kubernetes.as_deref().cloned(),
            })
        });
        // A Kubernetes cluster runs an image: no Flink of this machine's.
        let home = match config.flink.versions.get(&version) {
            Some(home) => home.clone(),
            None if kubernetes.is_some() => std::path::PathBuf::new(),
            None => {
                return Err(format!(
                    "Flink {version} is not configured; known versions: {}",
                    config.known_versions()
                ))
            }
        };
        Ok(StartPlan {
            deployment_id: self.id,
            template,
            base_dir: self.source.base_dir.clone(),
            flink_home: home,
            savepoint_path,
            allow_non_restored_state,
            placement: placement.clone(),
            work_dir: config.work_dir(&self.deployment.metadata.identity()),
            kubernetes,
        })
    }

    /// Starts the cluster of the upgrade's next job `job`, of the latest template.
    fn warm(&mut self, job: Uuid, ctx: &mut Context<Self>) {
        let template = self
            .deployment
            .spec
            .template
            .as_ref()
            .and_then(|t| t.spec.clone())
            .unwrap_or_default();
        match self.plan(&template, None, false) {
            Ok(plan) => self.send(
                job,
                Command::Warm {
                    plan: Box::new(plan),
                },
                ctx,
            ),
            Err(reason) => ctx.notify(JobReport(Input::WarmFailed { job, reason })),
        }
    }

    fn start(&mut self, job: Uuid, resume: bool, ctx: &mut Context<Self>) {
        let Some(record) = self.records.job(job) else {
            return;
        };
        let template = record.spec.template.spec.clone().unwrap_or_default();
        let plan = match self.plan(
            &template,
            record.spec.savepoint_location.clone(),
            record.spec.allow_non_restored_state,
        ) {
            Ok(plan) => plan,
            Err(reason) => {
                ctx.notify(JobReport(Input::JobStartFailed {
                    job,
                    reason,
                    unresolved: false,
                }));
                return;
            }
        };
        let resume = if resume { self.found.take() } else { None };
        self.send(
            job,
            Command::Start {
                plan: Box::new(plan),
                resume,
            },
            ctx,
        );
    }

    /// Removes a snapshot's files: a directory of this machine's file system here (for
    /// the local target: an external cluster's `file:` paths are its own machine's),
    /// one elsewhere through Flink (the active job's cluster), or reports why not.
    fn dispose(&mut self, savepoint: Uuid, location: String, ctx: &mut Context<Self>) {
        let here = matches!(self.source.placement, crate::cluster::Placement::Local);
        if here && crate::snapshot_files::is_local(&location) {
            let me = ctx.address();
            tokio::task::spawn_blocking(move || {
                let input = match crate::snapshot_files::remove(&location) {
                    Ok(()) => Input::SnapshotDisposed { savepoint },
                    Err(reason) => Input::SnapshotDisposalFailed { savepoint, reason },
                };
                me.do_send(JobReport(input));
            });
            return;
        }
        let active = self
            .lifecycle
            .active_job()
            .and_then(|j| self.job_actors.get(&j).cloned())
            .filter(|a| a.connected());
        match active {
            Some(job) => job.do_send(Command::DisposeSavepoint {
                savepoint,
                location,
            }),
            None => ctx.notify(JobReport(Input::SnapshotDisposalFailed {
                savepoint,
                reason: "it is on another file system, and no job of this Deployment runs to have Flink dispose of it".into(),
            })),
        }
    }

    /// Sends a command to a job's actor, creating one if there is none.
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

    /// A removed Deployment at rest with no job tells the Supervisor, once.
    fn ready_to_forget(&mut self) {
        // (And no cluster of its own left: one given up is removed first.)
        let at_rest = matches!(self.lifecycle.phase, Phase::Idle)
            && self.lifecycle.status != DeploymentState::Transitioning
            && self.lifecycle.discarded.is_empty();
        if self.removing.is_some() && at_rest && !self.told_ready {
            self.told_ready = true;
            self.supervisor.do_send(DeploymentReport::ReadyToForget {
                deployment: self.id,
            });
        }
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
                    state: crate::spec::JobState::Started,
                    ..
                } => {
                    m.jobs_started.inc();
                }
                Action::RecordJob {
                    state: crate::spec::JobState::Failed,
                    ..
                } => {
                    m.jobs_failed.inc();
                }
                Action::RecordSavepoint { origin, state, .. }
                    if *state != crate::spec::SavepointState::Started =>
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

    fn schedule_deadline(&mut self, ctx: &mut Context<Self>) {
        if let Some(h) = self.deadline.take() {
            ctx.cancel_future(h);
        }
        if let Some(at) = self.lifecycle.next_deadline(&self.policy, &self.records) {
            let wait = (at - now()).max(time::Duration::ZERO);
            let wait = Duration::try_from(wait).unwrap_or_default() + Duration::from_millis(10);
            self.deadline = Some(ctx.run_later(wait, |act, ctx| act.step(Input::Reconcile, ctx)));
        }
    }

    /// After a restart: what is left of the active job, then the lifecycle's first step.
    fn take_up(&mut self, ctx: &mut Context<Self>) {
        let Some(job) = self.lifecycle.active_job() else {
            self.step(Input::Restarted { found: None }, ctx);
            return;
        };
        let store = self.shared.store.clone();
        let fut = store.send(Exec::new(move |s| Cluster::of_job(s, job)));
        ctx.wait(actix::fut::wrap_future::<_, Self>(fut).map(move |r, act, ctx| {
            let cluster = match r {
                Ok(Ok(c)) => c,
                // A store that does not answer is not a cluster that is gone: ask again.
                Ok(Err(e)) => {
                    tracing::error!(deployment = %act.name(), "cannot read the job's cluster, retrying in 5s: {e}");
                    ctx.run_later(Duration::from_secs(5), |act, ctx| act.take_up(ctx));
                    return;
                }
                Err(e) => {
                    tracing::error!(deployment = %act.name(), "the store is not answering: {e}");
                    return;
                }
            };
            let found = match cluster {
                Some(c) if !c.known_gone() => {
                    tracing::info!(deployment = %act.name(), %job, "adopting the running cluster");
                    act.found = Some(c);
                    Found::Cluster
                }
                _ => Found::Gone,
            };
            act.step(Input::Restarted { found: Some(found) }, ctx);
        }));
    }
}
