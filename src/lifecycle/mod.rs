//! The lifecycle of one Deployment: a pure state machine that makes every decision.
//!
//! [`Lifecycle::step`] takes what happened (an [`Input`]) and a [`Ctx`]: the
//! Deployment's current [`Policy`], the config's [`Timing`], `now`, its [`Records`]
//! (Jobs and Savepoints) and a source of ids. It returns the [`Action`]s to carry out
//! and does no I/O, reads no clock and draws no random number (DESIGN.md, principle 1;
//! raft-rs's `Ready`): the DeploymentActor applies the actions to its records
//! ([`Records::apply`], the same function the tests use), writes the new state, the
//! records and the events in one transaction, and only then carries the effects out.
//!
//! The rules are the reference page's ("Transitions to RUNNING / CANCELLED /
//! SUSPENDED", "Upgrades", "Limits", "CPU Quota", "Deployment Conditions"), one file
//! per phase:
//!
//! - [`starting`]: the quota, then a Job on a new cluster, restored per the restore
//!   strategy; RUNNING makes the Job STARTED and resets `maxJobCreationAttempts`.
//! - [`running`]: a running job: upgrades (checked against the quota before the old job
//!   is stopped), savepoints on request, conditions, retained checkpoints, losses
//!   (recovered per the restore strategy, never counted as failed creations).
//! - [`savepointing`]: a savepoint before the job ends (suspend, STATEFUL upgrade):
//!   Flink's stop with savepoint for 1.9+, a savepoint then a cancel before; a
//!   savepoint that completes late is recorded whenever it completes.
//! - [`ending`]: cancellation (deadline, attempts) and the cluster's teardown (bounded,
//!   retried, FAILED when it cannot be done, and no new job meanwhile).
//! - [`recovery`]: what a restarted daemon does with what its predecessor left.
//! - [`warm`]: fast STATEFUL upgrades: the next job's cluster started (and its cores
//!   held) while the old job runs; the old job stopped once it is up.
//!
//! Every transition ends at rest (no job, or a running job) and then [`settle`]s
//! against the *latest* policy: a change made during a transition is acted on when it
//! ends, and only the latest spec matters. A FAILED or FINISHED Deployment holds until
//! the spec it was attempted with changes. There is at most one job at any time: a new
//! one is started only from rest with no job.
//!
//! [`settle`]: Lifecycle::settle

pub mod disposal;
mod ending;
pub mod events;
pub mod imports;
mod io;
mod legacy;
mod phase;
pub mod plan;
mod policy;
pub mod records;
mod recovery;
pub mod restore;
pub mod retention;
mod running;
mod savepointing;
mod starting;
mod warm;

#[cfg(test)]
mod tests;

use std::time::Duration;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use events::EventName;
pub use io::{Action, CheckpointSeen, FlinkEnd, Found, Input, PodTrouble, Restore};
pub use phase::{After, Discarded, JobRef, Phase, QuotaWait, Recover, Warm, WarmStage};
pub use policy::{FlinkApi, Policy};
pub use records::Records;

use crate::conditions::Observation;
use crate::spec::{
    Condition, DeploymentState, DesiredState, EventLevel, Failure, JobState, SavepointOrigin,
    SavepointState, Timestamp,
};

/// The bounded waits of the lifecycle: the config's `[timing]`, one struct and one set
/// of defaults for the daemon and its core.
pub type Timing = crate::config::TimingConfig;

/// Where the ids of new Jobs and Savepoints come from: random in the daemon, a counter
/// in tests (so that a failing property test replays exactly).
pub trait Ids {
    fn next_id(&mut self) -> Uuid;
}

/// Random ids (UUID v4).
pub struct RandomIds;

impl Ids for RandomIds {
    fn next_id(&mut self) -> Uuid {
        Uuid::new_v4()
    }
}

/// What a step decides with.
pub struct Ctx<'a> {
    pub policy: &'a Policy,
    pub timing: &'a Timing,
    pub now: Timestamp,
    pub records: &'a Records,
    pub ids: &'a mut dyn Ids,
    /// The host's available memory (bytes, `MemAvailable`), where a fast upgrade may
    /// be decided; `None`: not known (no fast upgrade).
    pub memory_available: Option<u64>,
}

/// The lifecycle state of one Deployment: persisted after every step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lifecycle {
    pub phase: Phase,
    /// The Deployment's `status.state`.
    pub status: DeploymentState,
    /// When the status last became RUNNING (`status.running.transitionTime`).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub running_since: Option<Timestamp>,
    /// Failed job creations of the transition to RUNNING under way.
    pub job_creation_failures: u32,
    /// Failed savepoints of the operation under way (`savepoint_series`).
    pub savepoint_failures: u32,
    /// Which operation `savepoint_failures` counts for: a suspension, an upgrade, or
    /// the user's requests (one series until one completes).
    pub savepoint_series: Option<SavepointOrigin>,
    /// FAILED and FINISHED hold until the spec's hold key differs from this one.
    pub held_for_spec: Option<String>,
    /// The cores the Supervisor holds for this Deployment, as granted.
    pub cores_held: f64,
    /// The id of the last quota request (grants are matched to requests).
    pub last_request: u64,
    /// Retained checkpoints found gone by a failed start: not restore points any more.
    pub unusable: Vec<Uuid>,
    /// `status.running.conditions` of the running job.
    pub conditions: Vec<Condition>,
    /// When lost TaskManagers of the active job were last replaced.
    #[serde(default)]
    pub task_managers_replaced: Option<Replaced>,
    /// Snapshots whose disposal was asked for and not yet confirmed.
    #[serde(default)]
    pub disposing: Vec<Uuid>,
    /// After a failed disposal, when to try again.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub disposal_retry_at: Option<Timestamp>,
    /// When an upgrade told the job it replaces to stop: its new job's RUNNING
    /// reports the downtime from then. Cleared when the Deployment comes to rest
    /// without a running job.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub upgrade_stopped_at: Option<Timestamp>,
    /// The warm cluster of a fast upgrade under way (warm.rs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warm: Option<Warm>,
    /// Warm clusters given up and being removed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub discarded: Vec<Discarded>,
    /// The template (`template_hash`) a fast upgrade was found impossible for: its
    /// upgrade goes the cold way, and says why once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cold_for: Option<String>,
}

/// Lost TaskManagers of `job` were replaced `at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Replaced {
    pub job: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub at: Timestamp,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Lifecycle {
            phase: Phase::Idle,
            status: DeploymentState::Cancelled,
            running_since: None,
            job_creation_failures: 0,
            savepoint_failures: 0,
            savepoint_series: None,
            held_for_spec: None,
            cores_held: 0.0,
            last_request: 0,
            unusable: Vec::new(),
            conditions: Vec::new(),
            task_managers_replaced: None,
            disposing: Vec::new(),
            disposal_retry_at: None,
            upgrade_stopped_at: None,
            warm: None,
            discarded: Vec::new(),
            cold_for: None,
        }
    }
}

/// Cores two holdings may differ by and still be equal (float sums such as 0.1 + 0.2).
const CORES_EPSILON: f64 = 1e-9;

fn failure(reason: &str, message: impl Into<String>) -> Option<Failure> {
    Some(Failure {
        reason: reason.to_string(),
        message: message.into(),
    })
}

fn after(now: Timestamp, d: Duration) -> Timestamp {
    now + time::Duration::try_from(d).unwrap_or(time::Duration::MAX)
}

fn span(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// Collects the actions of one step.
struct Out(Vec<Action>);

impl Out {
    fn event(&mut self, name: EventName, level: EventLevel, job: Option<Uuid>, message: String) {
        self.0.push(Action::Event {
            name,
            level,
            job,
            message,
        });
    }
    fn info(&mut self, name: EventName, job: Option<Uuid>, message: String) {
        self.event(name, EventLevel::Info, job, message);
    }
    fn warn(&mut self, name: EventName, job: Option<Uuid>, message: String) {
        self.event(name, EventLevel::Warning, job, message);
    }
    fn error(&mut self, name: EventName, job: Option<Uuid>, message: String) {
        self.event(name, EventLevel::Error, job, message);
    }
    fn push(&mut self, a: Action) {
        self.0.push(a);
    }
    fn record_job(&mut self, job: Uuid, state: JobState, failure: Option<Failure>) {
        self.push(Action::RecordJob {
            job,
            state,
            failure,
        });
    }
}

impl Lifecycle {
    /// When the lifecycle next needs an [`Input::Reconcile`] without any other input.
    pub fn next_deadline(&self, policy: &Policy, records: &Records) -> Option<Timestamp> {
        let retry = self
            .disposal_retry_at
            .filter(|_| policy.retention.is_some());
        [
            self.phase_deadline(policy, records),
            retry,
            self.warm_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn phase_deadline(&self, policy: &Policy, records: &Records) -> Option<Timestamp> {
        match &self.phase {
            Phase::Running { quota: None, .. } if self.takes_periodic_savepoints() => {
                self.periodic_due(policy, records)
            }
            Phase::Starting { deadline, .. } => *deadline,
            Phase::Savepointing {
                deadline, retry_at, ..
            } => Some(retry_at.map_or(*deadline, |r| r.min(*deadline))),
            Phase::UserSavepointing { deadline, .. } => Some(*deadline),
            Phase::Cancelling {
                deadline, retry_at, ..
            } => Some(retry_at.map_or(*deadline, |r| r.min(*deadline))),
            // Its deadline, until it passed (then FAILED says so), and its next retry.
            Phase::TearingDown {
                deadline, retry_at, ..
            } => {
                let deadline = (self.status != DeploymentState::Failed).then_some(*deadline);
                [deadline, *retry_at].into_iter().flatten().min()
            }
            _ => None,
        }
    }

    /// The job that exists (from its creation until its cluster is verified gone).
    pub fn active_job(&self) -> Option<Uuid> {
        self.phase.job()
    }

    /// Whether a savepoint on request can be taken now: of a RUNNING job, with no
    /// other operation under way.
    pub fn takes_user_savepoints(&self) -> bool {
        matches!(self.phase, Phase::Running { quota: None, .. })
            && self.status == DeploymentState::Running
    }

    /// Whether a periodic savepoint is taken when due: as one on request, and not while
    /// the Deployment is FAILED.
    pub fn takes_periodic_savepoints(&self) -> bool {
        self.takes_user_savepoints() && self.held_for_spec.is_none()
    }

    /// One step: reacts to `input`, then settles against the latest policy.
    ///
    /// An import only records its savepoint: what it changes (the restore point of a
    /// start) is settled by the next step, once the record is among `ctx.records` (the
    /// actor follows it with a Reconcile).
    pub fn step(&mut self, ctx: &mut Ctx<'_>, input: Input) -> Vec<Action> {
        let mut out = Out(Vec::new());
        let settles = !matches!(input, Input::SavepointImported { .. });
        self.react(ctx, input, &mut out);
        if settles {
            self.settle(ctx, &mut out);
            self.dispose(ctx, &mut out);
        }
        // An upgrade that ended anywhere but in a running job has no downtime to report,
        // nor a use for a warm cluster.
        if !matches!(
            self.status,
            DeploymentState::Transitioning | DeploymentState::Running
        ) || matches!(self.phase, Phase::Running { .. })
        {
            // (A job running at the end of a step is no upgrade's stopped job: one
            // given up mid-way, the spec reverted, has none to report.)
            self.upgrade_stopped_at = None;
        }
        if settles {
            self.warm_at_rest(&mut out);
        }
        out.0
    }

    fn react(&mut self, ctx: &mut Ctx<'_>, input: Input, out: &mut Out) {
        // A savepoint Flink completed is kept whenever its report comes: late, after a
        // re-sent stop, after its job is gone.
        if let Input::SavepointCompleted {
            savepoint,
            location,
            ..
        } = &input
        {
            if self.late_savepoint(ctx, *savepoint, location, out) {
                return;
            }
        }
        // What concerns a warm cluster, or one given up, is not about the job.
        if self.react_warm(ctx, &input, out) {
            return;
        }
        // Other inputs about a job other than the current one are stale (a late answer
        // about a job already handled) and change nothing.
        if let Some(job) = input.job() {
            if self.phase.job() != Some(job) {
                return;
            }
        }
        match input {
            Input::Reconcile => {
                self.warm_due(ctx, out);
                self.check_deadlines(ctx, out)
            }
            Input::DefaultsChanged { fields } => self.defaults_changed(fields, out),
            Input::SavepointImported { location } => self.import(ctx, &location, out),
            Input::SnapshotDisposed { savepoint } => self.disposed(ctx, savepoint, out),
            Input::SnapshotDisposalFailed { savepoint, reason } => {
                self.disposal_failed(ctx, savepoint, reason, out)
            }
            Input::Restarted { found } => self.restarted(ctx, found, out),
            Input::Observed {
                job,
                observation,
                checkpoint,
            } => self.observed(ctx, job, observation, checkpoint, out),
            Input::PodsObserved { job, trouble } => self.pods_observed(ctx, job, trouble, out),
            Input::SavepointTriggered {
                job,
                savepoint,
                trigger_id,
            } => self.savepoint_triggered(ctx, job, savepoint, trigger_id, out),
            Input::QuotaGranted { request } => self.quota_granted(ctx, request, out),
            Input::QuotaDenied {
                request,
                used,
                limit,
            } => self.quota_denied(ctx, request, used, limit, out),
            other => match self.phase.clone() {
                Phase::Idle | Phase::WaitingForQuota { .. } => {}
                Phase::Starting { job, hold, .. } => {
                    self.react_starting(ctx, job, hold, other, out)
                }
                Phase::Running { job, .. } => self.react_running(ctx, job, other, out),
                Phase::UserSavepointing { job, savepoint, .. } => {
                    self.react_user_savepointing(ctx, job, savepoint, other, out)
                }
                Phase::Savepointing { .. } => self.react_savepointing(ctx, other, out),
                Phase::Cancelling { .. } => self.react_cancelling(ctx, other, out),
                Phase::TearingDown { .. } => self.react_tearing_down(ctx, other, out),
            },
        }
    }

    /// Deadlines and retries that are due.
    fn check_deadlines(&mut self, ctx: &mut Ctx<'_>, out: &mut Out) {
        match self.phase.clone() {
            Phase::Starting {
                job,
                hold,
                deadline: Some(deadline),
            } if ctx.now >= deadline => {
                let mut reason = format!(
                    "the job did not reach RUNNING within {} (timing.job_start_timeout)",
                    span(ctx.timing.job_start_timeout)
                );
                if let Some(pods) = self.pod_trouble() {
                    reason += &format!("; its pods: {}: {}", pods.reason, pods.message);
                }
                self.start_failed(ctx, job, hold, reason, false, out);
            }
            Phase::UserSavepointing {
                job,
                savepoint,
                deadline,
            } if ctx.now >= deadline => {
                let reason = format!(
                    "the savepoint did not complete within {} (timing.savepoint_timeout); a late completion is still recorded",
                    span(ctx.timing.savepoint_timeout)
                );
                self.user_savepoint_failed(ctx, job, savepoint, reason, out);
            }
            Phase::Savepointing {
                retry_at: Some(_), ..
            } => self.savepoint_retry_due(ctx, out),
            Phase::Savepointing { deadline, .. } if ctx.now >= deadline => {
                self.savepoint_deadline(ctx, out)
            }
            Phase::Cancelling { .. } | Phase::TearingDown { .. } => self.ending_due(ctx, out),
            Phase::WaitingForQuota { .. } => self.waiting_for_quota(ctx, out),
            Phase::Running { .. } => {
                self.upgrade_waiting(ctx, out);
                self.periodic_savepoint(ctx, out);
            }
            _ => {}
        }
    }

    fn defaults_changed(&mut self, fields: Vec<String>, out: &mut Out) {
        let what = if fields.is_empty() {
            "the defaults changed".to_string()
        } else {
            format!("the defaults changed {}", fields.join(", "))
        };
        let when = if self.phase.job().is_some() {
            "the job keeps what it runs with until its next start (edit the Deployment, or suspend and resume it, to apply them now)"
        } else {
            "they apply when the next job starts"
        };
        out.info(EventName::DefaultsChanged, None, format!("{what}; {when}"));
    }

    /// A new quota request for `cores`, always more than is held: a grant replaces the
    /// holding, so saying again what is held can only give cores back.
    ///
    /// Clusters given up and not gone yet keep their cores: the request adds them, so
    /// that the grant (which replaces the holding) still covers them.
    fn request(&mut self, cores: f64, out: &mut Out) -> (u64, f64) {
        let cores = cores + self.discarded_cores();
        debug_assert!(cores > self.cores_held, "{cores} ≤ {}", self.cores_held);
        self.last_request += 1;
        out.push(Action::ReserveQuota {
            request: self.last_request,
            cores,
        });
        (self.last_request, cores)
    }

    /// Gives up a quota wait. A request still unanswered may be granted after this:
    /// the Supervisor takes messages in order, so saying again what is held undoes it.
    fn abandon_wait(&mut self, wait: &QuotaWait, out: &mut Out) {
        if wait.request.is_some() {
            out.push(Action::SetQuota {
                cores: self.cores_held,
            });
        }
    }

    /// Holds `cores` from now on (less than held: the rest goes back).
    fn set_cores(&mut self, cores: f64, out: &mut Out) {
        if (self.cores_held - cores).abs() > CORES_EPSILON {
            self.cores_held = cores;
            out.push(Action::SetQuota { cores });
        }
    }

    /// At rest, starts the transition the latest policy asks for.
    fn settle(&mut self, ctx: &mut Ctx<'_>, out: &mut Out) {
        let at_rest = matches!(self.phase, Phase::Idle | Phase::Running { .. });
        if !at_rest {
            return;
        }
        let policy = ctx.policy;
        if let Some(held) = &self.held_for_spec {
            if *held == policy.hold_key {
                return;
            }
            // A changed spec releases FAILED and FINISHED, with fresh limits.
            if self.status == DeploymentState::Failed {
                out.info(
                    EventName::LeavingFailed,
                    None,
                    "the spec changed; acting on it".into(),
                );
            }
            self.held_for_spec = None;
            self.reset_limits();
        }
        match self.phase.clone() {
            Phase::Idle => self.settle_idle(ctx, None, out),
            Phase::Running { job, quota } => self.settle_running(ctx, job, quota, out),
            _ => {}
        }
    }

    /// Limits count within one transition: a new one starts afresh.
    fn reset_limits(&mut self) {
        self.job_creation_failures = 0;
        self.savepoint_failures = 0;
        self.savepoint_series = None;
        self.unusable.clear();
    }

    /// Status and cores at rest with no job, for a desired state other than RUNNING.
    fn rest_without_job(&mut self, desired: DesiredState, out: &mut Out) {
        let status = match desired {
            DesiredState::Suspended => DeploymentState::Suspended,
            _ => DeploymentState::Cancelled,
        };
        // SUSPENDED is said with its savepoint, or with why there is none.
        if self.status != status {
            let (name, what) = match status {
                DeploymentState::Suspended => (
                    EventName::DeploymentSuspended,
                    "the Deployment is SUSPENDED; it has no job, so no savepoint was taken",
                ),
                _ => (
                    EventName::DeploymentCancelled,
                    "the Deployment is CANCELLED",
                ),
            };
            out.info(name, None, what.into());
        }
        self.status = status;
        self.release_cores(out);
        self.reset_limits();
    }
}
