//! The lifecycle of one Deployment: a pure state machine.
//!
//! [`Lifecycle::step`] takes what happened (an [`Input`]), the Deployment's current
//! [`Policy`] (from its expanded spec), the config's [`Timing`], `now` and the
//! Deployment's Savepoints, and returns the [`Action`]s to carry out. It does no I/O and
//! reads no clock (DESIGN.md, principle 1): the DeploymentActor persists the new state
//! and the actions' intents, then carries them out and feeds back what it observes.
//!
//! The rules are the reference page's ("Transitions to RUNNING / CANCELLED / SUSPENDED",
//! "Upgrades", "Limits"):
//!
//! - A transition to RUNNING creates a Job (STARTING) on a new cluster, restored per the
//!   restore strategy; when Flink reports it RUNNING the Job is STARTED and the
//!   Deployment RUNNING. A failed start counts against `maxJobCreationAttempts`.
//! - SUSPENDED takes a savepoint and ends the job: Flink's graceful stop for 1.9 and
//!   later (Job FINISHED), a savepoint then a cancel for 1.8 and earlier (Job
//!   TERMINATED). A failed savepoint counts against `maxSavepointCreationAttempts`.
//! - CANCELLED cancels the job; the cluster is torn down when the cancel completes, or
//!   fails `cancel_attempts` times, or takes longer than `cancel_deadline`.
//! - A template change upgrades per the upgrade strategy: STATEFUL suspends (savepoint
//!   origin SUSPEND_AND_UPGRADE) and starts from the savepoint; STATELESS cancels and
//!   starts per the restore strategy; NONE waits for the next transition.
//! - Each limit resets after a success; reaching one makes the Deployment FAILED, which
//!   only a change of the spec leaves. A job that finishes by itself makes it FINISHED.
//!
//! Every transition ends at rest (no job, or a running job) and then [`settle`]s against
//! the *latest* policy: a change of the desired state during a transition is acted on
//! when the transition ends, and only the latest spec matters. There is at most one job
//! at any time: a new one is started only from rest with no job.
//!
//! [`settle`]: Lifecycle::settle

use std::time::Duration;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::spec::{
    DeploymentSpec, DeploymentState, DesiredState, EventLevel, Failure, JobState,
    RestoreStrategyKind, Savepoint, SavepointOrigin, SavepointState, Timestamp,
    UpgradeStrategyKind,
};

/// Event names, in the reference platform's vocabulary where it has one.
pub mod events {
    pub const STARTING_JOB: &str = "STARTING_JOB";
    pub const JOB_SUCCESSFULLY_STARTED: &str = "JOB_SUCCESSFULLY_STARTED";
    pub const JOB_CREATION_FAILED: &str = "JOB_CREATION_FAILED";
    pub const TOO_MANY_FAILED_JOB_CREATION_ATTEMPTS: &str = "TOO_MANY_FAILED_JOB_CREATION_ATTEMPTS";
    pub const CREATING_A_SAVEPOINT_BEFORE_SUSPENSION: &str =
        "CREATING_A_SAVEPOINT_BEFORE_SUSPENSION";
    pub const CREATING_A_SAVEPOINT_BEFORE_UPGRADE: &str = "CREATING_A_SAVEPOINT_BEFORE_UPGRADE";
    pub const CREATING_A_SAVEPOINT: &str = "CREATING_A_SAVEPOINT";
    pub const SAVEPOINT_COMPLETED: &str = "SAVEPOINT_COMPLETED";
    pub const SAVEPOINT_FAILED: &str = "SAVEPOINT_FAILED";
    pub const TOO_MANY_FAILED_SAVEPOINT_CREATION_ATTEMPTS: &str =
        "TOO_MANY_FAILED_SAVEPOINT_CREATION_ATTEMPTS";
    pub const CANCELLING_JOB: &str = "CANCELLING_JOB";
    pub const CANCELLING_JOB_FOR_UPGRADE: &str = "CANCELLING_JOB_FOR_UPGRADE";
    pub const CANCELLATION_FAILED: &str = "CANCELLATION_FAILED";
    pub const TOO_MANY_FAILED_CANCELLATION_ATTEMPTS: &str = "TOO_MANY_FAILED_CANCELLATION_ATTEMPTS";
    pub const CANCELLATION_DEADLINE_EXCEEDED: &str = "CANCELLATION_DEADLINE_EXCEEDED";
    pub const JOB_CANCELLED: &str = "JOB_CANCELLED";
    pub const JOB_FINISHED: &str = "JOB_FINISHED";
    pub const JOB_FAILED: &str = "JOB_FAILED";
    pub const CLUSTER_TORN_DOWN: &str = "CLUSTER_TORN_DOWN";
    pub const DEPLOYMENT_SUSPENDED: &str = "DEPLOYMENT_SUSPENDED";
    pub const DEPLOYMENT_CANCELLED: &str = "DEPLOYMENT_CANCELLED";
    pub const DEPLOYMENT_FINISHED: &str = "DEPLOYMENT_FINISHED";
    pub const LEAVING_FAILED: &str = "LEAVING_FAILED_AFTER_SPEC_CHANGE";
    pub const RESOURCE_QUOTA_EXCEEDED: &str = "RESOURCE_QUOTA_EXCEEDED";
    // Recorded by the DeploymentActor, outside the lifecycle's decisions:
    pub const CLUSTER_UNREACHABLE: &str = "CLUSTER_UNREACHABLE";
    pub const JOB_FAILING: &str = "JOB_FAILING";
    pub const JOB_UNSTABLE: &str = "JOB_UNSTABLE";
    pub const DEPLOYMENT_FORGOTTEN: &str = "DEPLOYMENT_FORGOTTEN";
}

/// What the lifecycle needs of a Deployment's expanded spec.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub desired: DesiredState,
    pub upgrade: UpgradeStrategyKind,
    pub restore: RestoreStrategyKind,
    pub allow_non_restored_state: bool,
    pub max_job_creation_attempts: u32,
    pub max_savepoint_creation_attempts: u32,
    /// Hash of the expanded template: a running job whose hash differs is upgraded.
    pub template_hash: String,
    /// Hash of the whole expanded spec: FAILED and FINISHED hold until it changes.
    pub spec_hash: String,
    /// Flink 1.9 and later stop with a savepoint; 1.8 and earlier take a savepoint,
    /// then cancel.
    pub graceful_stop: bool,
    /// The CPU cores a job of this spec uses (checked against the quota before a start).
    pub cores: f64,
}

impl Policy {
    /// Reads the policy from an expanded spec (every field present; absent ones fall
    /// back to the built-in defaults).
    pub fn from_spec(spec: &DeploymentSpec) -> Policy {
        let template = spec.template.clone().unwrap_or_default();
        let version = template
            .spec
            .as_ref()
            .and_then(|t| t.artifact.as_ref())
            .and_then(|a| a.flink_version.clone())
            .unwrap_or_default();
        let restore = spec.restore_strategy.clone().unwrap_or_default();
        let positive = |v: Option<i64>| v.unwrap_or(4).clamp(1, u32::MAX as i64) as u32;
        Policy {
            desired: spec.state.unwrap_or(DesiredState::Running),
            upgrade: spec
                .upgrade_strategy
                .as_ref()
                .and_then(|u| u.kind)
                .unwrap_or(UpgradeStrategyKind::Stateful),
            restore: restore.kind.unwrap_or(RestoreStrategyKind::LatestState),
            allow_non_restored_state: restore.allow_non_restored_state.unwrap_or(false),
            max_job_creation_attempts: positive(spec.max_job_creation_attempts),
            max_savepoint_creation_attempts: positive(spec.max_savepoint_creation_attempts),
            template_hash: crate::spec::content_hash(
                serde_json::to_vec(&template).unwrap_or_default(),
            ),
            spec_hash: crate::spec::content_hash(serde_json::to_vec(spec).unwrap_or_default()),
            graceful_stop: graceful_stop(&version),
            cores: crate::quota::cores(spec),
        }
    }
}

/// Flink's stop API exists from 1.9 on; an unparsable version is taken as recent.
pub fn graceful_stop(flink_version: &str) -> bool {
    let mut parts = flink_version.trim().split('.');
    let major: Option<u32> = parts.next().and_then(|p| p.parse().ok());
    let minor: Option<u32> = parts.next().and_then(|p| p.parse().ok());
    !matches!((major, minor), (Some(0), _) | (Some(1), Some(0..=8)))
}

/// The bounded waits of the lifecycle, from the config's `[timing]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Timing {
    /// How long a job may take from creation to RUNNING.
    pub start_timeout: Duration,
    /// How long a savepoint (or stop with savepoint) may take.
    pub savepoint_timeout: Duration,
    /// How long a cancellation may take before the cluster is torn down anyway.
    pub cancel_deadline: Duration,
    /// How many failed cancellations before the cluster is torn down anyway.
    pub cancel_attempts: u32,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            start_timeout: Duration::from_secs(300),
            savepoint_timeout: Duration::from_secs(600),
            cancel_deadline: Duration::from_secs(180),
            cancel_attempts: 5,
        }
    }
}

/// Where a Deployment is in its lifecycle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "camelCase")]
pub enum Phase {
    /// No job.
    Idle,
    /// About to start a job, waiting for the CPU quota; `denied` once refused (the
    /// refusal is announced once per wait).
    WaitingForQuota { denied: bool },
    /// A job is being created: cluster, submission, waiting for RUNNING.
    Starting {
        job: Uuid,
        template_hash: String,
        #[serde(with = "time::serde::rfc3339")]
        deadline: Timestamp,
    },
    /// A job runs.
    Running { job: Uuid, template_hash: String },
    /// A job runs and a savepoint a user asked for is being taken.
    UserSavepointing {
        job: Uuid,
        template_hash: String,
        savepoint: Uuid,
        #[serde(with = "time::serde::rfc3339")]
        deadline: Timestamp,
    },
    /// A savepoint is being taken before the job ends (suspend, or a STATEFUL upgrade).
    Savepointing {
        job: Uuid,
        template_hash: String,
        savepoint: Uuid,
        origin: SavepointOrigin,
        /// Stop with savepoint (1.9+), rather than a savepoint followed by a cancel.
        graceful: bool,
        #[serde(with = "time::serde::rfc3339")]
        deadline: Timestamp,
    },
    /// The job is being cancelled; `then` is the status once its cluster is gone.
    Cancelling {
        job: Uuid,
        failures: u32,
        then: DeploymentState,
        #[serde(with = "time::serde::rfc3339")]
        deadline: Timestamp,
    },
    /// The job has ended; its cluster is being torn down. Then: `then`, held until the
    /// spec changes if `hold`.
    TearingDown {
        job: Uuid,
        then: DeploymentState,
        hold: bool,
    },
}

impl Phase {
    /// The job this phase is about, if any.
    pub fn job(&self) -> Option<Uuid> {
        match self {
            Phase::Idle | Phase::WaitingForQuota { .. } => None,
            Phase::Starting { job, .. }
            | Phase::Running { job, .. }
            | Phase::UserSavepointing { job, .. }
            | Phase::Savepointing { job, .. }
            | Phase::Cancelling { job, .. }
            | Phase::TearingDown { job, .. } => Some(*job),
        }
    }
}

/// What happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// The spec may have changed, or time passed: look again.
    Reconcile,
    /// Flink reports the job RUNNING.
    JobRunning {
        job: Uuid,
    },
    /// The job could not be started: the cluster did not come up, the submission was
    /// rejected, or the job failed before RUNNING.
    JobStartFailed {
        job: Uuid,
        reason: String,
    },
    /// Flink reports the job in a terminal state flinkd did not ask for.
    JobEnded {
        job: Uuid,
        end: FlinkEnd,
        reason: String,
    },
    /// The job's cluster is gone (its JobManager died, or vanished while flinkd was down).
    ClusterLost {
        job: Uuid,
        reason: String,
    },
    SavepointCompleted {
        job: Uuid,
        savepoint: Uuid,
        location: String,
    },
    SavepointFailed {
        job: Uuid,
        savepoint: Uuid,
        reason: String,
    },
    CancelCompleted {
        job: Uuid,
    },
    CancelFailed {
        job: Uuid,
        reason: String,
    },
    /// The job's cluster is verified gone.
    TornDown {
        job: Uuid,
    },
    /// A user asks for a savepoint (origin USER_REQUEST) of the running job.
    UserSavepoint {
        savepoint: Uuid,
    },
    /// The Supervisor reserved the cores asked for.
    QuotaGranted,
    /// The cores do not fit the quota now.
    QuotaDenied {
        used: f64,
        limit: f64,
    },
}

/// How a job ended, as Flink reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlinkEnd {
    Finished,
    Failed,
    Canceled,
}

/// The snapshot a new job starts from.
#[derive(Debug, Clone, PartialEq)]
pub struct Restore {
    pub savepoint: Uuid,
    pub location: String,
}

/// What to do. Carried out in order, each written to the store before its effect.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Create Job `job` (STARTING) on a new cluster and submit it.
    StartJob {
        job: Uuid,
        restore: Option<Restore>,
        allow_non_restored_state: bool,
    },
    /// Flink's graceful stop with a savepoint (1.9+).
    StopWithSavepoint { job: Uuid, savepoint: Uuid },
    /// Trigger a savepoint and keep the job running (1.8 and earlier, before a cancel).
    TriggerSavepoint { job: Uuid, savepoint: Uuid },
    /// Flink's cancel.
    Cancel { job: Uuid },
    /// Stop the job's cluster and verify it is gone.
    TearDown { job: Uuid },
    /// Set the Job record's state.
    RecordJob {
        job: Uuid,
        state: JobState,
        failure: Option<Failure>,
    },
    /// Create or update a Savepoint record.
    RecordSavepoint {
        savepoint: Uuid,
        job: Uuid,
        origin: SavepointOrigin,
        state: SavepointState,
        location: Option<String>,
        failure: Option<Failure>,
    },
    /// Ask the Supervisor for the cores of a job about to start.
    ReserveQuota { cores: f64 },
    /// Give the cores back: the job's cluster is gone.
    ReleaseQuota,
    /// Append to the event log.
    Event {
        name: &'static str,
        level: EventLevel,
        job: Option<Uuid>,
        message: String,
    },
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
    /// Failed job creations since the last job reached RUNNING.
    pub job_creation_failures: u32,
    /// Failed savepoints since the last one completed.
    pub savepoint_failures: u32,
    /// FAILED and FINISHED hold until the spec's hash differs from this one.
    #[serde(default)]
    pub held_for_spec: Option<String>,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Lifecycle {
            phase: Phase::Idle,
            status: DeploymentState::Cancelled,
            running_since: None,
            job_creation_failures: 0,
            savepoint_failures: 0,
            held_for_spec: None,
        }
    }
}

fn failure(reason: &str, message: impl Into<String>) -> Option<Failure> {
    Some(Failure {
        reason: reason.to_string(),
        message: message.into(),
    })
}

fn after(now: Timestamp, d: Duration) -> Timestamp {
    now + time::Duration::try_from(d).unwrap_or(time::Duration::MAX)
}

/// The newest COMPLETED snapshot the restore strategy allows: any origin for
/// LATEST_STATE (retained checkpoints included), savepoints only for LATEST_SAVEPOINT,
/// none for NONE.
pub fn choose_restore(
    strategy: RestoreStrategyKind,
    savepoints: &[Savepoint],
) -> Option<&Savepoint> {
    let allowed = |s: &&Savepoint| match strategy {
        RestoreStrategyKind::None => false,
        RestoreStrategyKind::LatestState => true,
        RestoreStrategyKind::LatestSavepoint => s.origin != SavepointOrigin::RetainedCheckpoint,
    };
    savepoints
        .iter()
        .filter(|s| s.state == SavepointState::Completed && s.location.is_some())
        .filter(allowed)
        // Newest by completion (a retained-checkpoint record is updated in place as its
        // job checkpoints); max_by_key keeps the last of equal keys, so later records win.
        .max_by_key(|s| s.metadata.modified_at)
}

/// Collects the actions of one step.
struct Out(Vec<Action>);

impl Out {
    fn event(&mut self, name: &'static str, level: EventLevel, job: Option<Uuid>, message: String) {
        self.0.push(Action::Event {
            name,
            level,
            job,
            message,
        });
    }
    fn info(&mut self, name: &'static str, job: Option<Uuid>, message: String) {
        self.event(name, EventLevel::Info, job, message);
    }
    fn warn(&mut self, name: &'static str, job: Option<Uuid>, message: String) {
        self.event(name, EventLevel::Warning, job, message);
    }
    fn error(&mut self, name: &'static str, job: Option<Uuid>, message: String) {
        self.event(name, EventLevel::Error, job, message);
    }
    fn push(&mut self, a: Action) {
        self.0.push(a);
    }
}

impl Lifecycle {
    /// When the lifecycle next needs a [`Input::Reconcile`] without any other input: the
    /// deadline of the phase it is in.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        match &self.phase {
            Phase::Starting { deadline, .. }
            | Phase::Savepointing { deadline, .. }
            | Phase::UserSavepointing { deadline, .. }
            | Phase::Cancelling { deadline, .. } => Some(*deadline),
            _ => None,
        }
    }

    /// Whether a job exists (from its creation until its cluster is verified gone).
    pub fn active_job(&self) -> Option<Uuid> {
        self.phase.job()
    }

    /// One step: reacts to `input`, then settles against the latest policy.
    pub fn step(
        &mut self,
        policy: &Policy,
        timing: &Timing,
        input: Input,
        now: Timestamp,
        savepoints: &[Savepoint],
    ) -> Vec<Action> {
        let mut out = Out(Vec::new());
        self.react(policy, timing, input, now, savepoints, &mut out);
        self.settle(policy, timing, now, &mut out);
        out.0
    }

    fn react(
        &mut self,
        policy: &Policy,
        timing: &Timing,
        input: Input,
        now: Timestamp,
        savepoints: &[Savepoint],
        out: &mut Out,
    ) {
        // Inputs about a job other than the current one are stale (a late answer about
        // a job already handled) and ignored.
        let current = self.phase.job();
        let about = match &input {
            Input::Reconcile
            | Input::QuotaGranted
            | Input::QuotaDenied { .. }
            | Input::UserSavepoint { .. } => None,
            Input::JobRunning { job }
            | Input::JobStartFailed { job, .. }
            | Input::JobEnded { job, .. }
            | Input::ClusterLost { job, .. }
            | Input::SavepointCompleted { job, .. }
            | Input::SavepointFailed { job, .. }
            | Input::CancelCompleted { job }
            | Input::CancelFailed { job, .. }
            | Input::TornDown { job } => Some(*job),
        };
        if about.is_some() && about != current {
            return;
        }

        match (self.phase.clone(), input) {
            (Phase::WaitingForQuota { .. }, Input::Reconcile) => {
                if policy.desired == DesiredState::Running && self.held_for_spec.is_none() {
                    // Cores may have been released, or the quota raised: ask again.
                    out.push(Action::ReserveQuota {
                        cores: policy.cores,
                    });
                } else {
                    // Not to be started after all; settle decides the status.
                    self.phase = Phase::Idle;
                }
            }
            (_, Input::Reconcile) => self.check_deadlines(policy, timing, now, out),
            (Phase::WaitingForQuota { .. }, Input::QuotaGranted) => {
                if policy.desired == DesiredState::Running {
                    self.start_job(policy, timing, now, savepoints, out);
                } else {
                    self.phase = Phase::Idle;
                    out.push(Action::ReleaseQuota);
                }
            }
            (Phase::WaitingForQuota { denied }, Input::QuotaDenied { used, limit }) => {
                if !denied {
                    out.warn(
                        events::RESOURCE_QUOTA_EXCEEDED,
                        None,
                        format!(
                            "the job needs {} CPU cores, but {used} of the quota's {limit} are in use; it starts when cores are free",
                            policy.cores
                        ),
                    );
                }
                self.phase = Phase::WaitingForQuota { denied: true };
            }
            // A grant that arrives when no start is waiting is given back.
            (_, Input::QuotaGranted) => out.push(Action::ReleaseQuota),

            (Phase::Running { job, template_hash }, Input::UserSavepoint { savepoint })
                if self.status == DeploymentState::Running =>
            {
                out.info(
                    events::CREATING_A_SAVEPOINT,
                    Some(job),
                    format!(
                        "taking a savepoint on request (attempt {} of {})",
                        self.savepoint_failures + 1,
                        policy.max_savepoint_creation_attempts
                    ),
                );
                out.push(Action::RecordSavepoint {
                    savepoint,
                    job,
                    origin: SavepointOrigin::UserRequest,
                    state: SavepointState::Started,
                    location: None,
                    failure: None,
                });
                out.push(Action::TriggerSavepoint { job, savepoint });
                self.phase = Phase::UserSavepointing {
                    job,
                    template_hash,
                    savepoint,
                    deadline: after(now, timing.savepoint_timeout),
                };
            }
            (
                Phase::UserSavepointing {
                    job,
                    template_hash,
                    savepoint,
                    ..
                },
                Input::SavepointCompleted {
                    savepoint: sp,
                    location,
                    ..
                },
            ) if sp == savepoint => {
                self.savepoint_completed(
                    job,
                    savepoint,
                    SavepointOrigin::UserRequest,
                    &location,
                    out,
                );
                self.phase = Phase::Running { job, template_hash };
            }
            (
                Phase::UserSavepointing {
                    job,
                    template_hash,
                    savepoint,
                    ..
                },
                Input::SavepointFailed {
                    savepoint: sp,
                    reason,
                    ..
                },
            ) if sp == savepoint => {
                self.savepoint_failed(
                    policy,
                    timing,
                    now,
                    (job, template_hash, savepoint, SavepointOrigin::UserRequest),
                    reason,
                    out,
                );
            }
            (
                Phase::UserSavepointing { job, savepoint, .. },
                Input::JobEnded { end, reason, .. },
            ) => {
                out.push(Action::RecordSavepoint {
                    savepoint,
                    job,
                    origin: SavepointOrigin::UserRequest,
                    state: SavepointState::Failed,
                    location: None,
                    failure: failure("JOB_ENDED", reason.clone()),
                });
                if end == FlinkEnd::Finished {
                    self.finished(job, out);
                } else {
                    self.job_lost(policy, job, reason, out);
                }
            }
            (Phase::UserSavepointing { job, savepoint, .. }, Input::ClusterLost { reason, .. }) => {
                out.push(Action::RecordSavepoint {
                    savepoint,
                    job,
                    origin: SavepointOrigin::UserRequest,
                    state: SavepointState::Failed,
                    location: None,
                    failure: failure("CLUSTER_LOST", reason.clone()),
                });
                self.job_lost(policy, job, reason, out);
            }
            (
                Phase::Starting {
                    job, template_hash, ..
                },
                Input::JobRunning { .. },
            ) => {
                self.phase = Phase::Running { job, template_hash };
                self.status = DeploymentState::Running;
                self.running_since = Some(now);
                self.job_creation_failures = 0;
                out.push(Action::RecordJob {
                    job,
                    state: JobState::Started,
                    failure: None,
                });
                out.info(
                    events::JOB_SUCCESSFULLY_STARTED,
                    Some(job),
                    "the job is RUNNING".into(),
                );
            }
            (Phase::Starting { job, .. }, Input::JobStartFailed { reason, .. })
            | (Phase::Starting { job, .. }, Input::ClusterLost { reason, .. }) => {
                self.start_failed(policy, job, reason, out);
            }
            (Phase::Starting { job, .. }, Input::JobEnded { end, reason, .. }) => match end {
                // A short bounded job may finish before it was ever seen RUNNING.
                FlinkEnd::Finished => self.finished(job, out),
                FlinkEnd::Failed | FlinkEnd::Canceled => {
                    self.start_failed(policy, job, reason, out)
                }
            },

            (
                Phase::Running { job, .. },
                Input::JobEnded {
                    end: FlinkEnd::Finished,
                    ..
                },
            ) => {
                self.finished(job, out);
            }
            (Phase::Running { job, .. }, Input::JobEnded { reason, .. })
            | (Phase::Running { job, .. }, Input::ClusterLost { reason, .. }) => {
                self.job_lost(policy, job, reason, out);
            }

            (
                Phase::Savepointing {
                    job,
                    savepoint,
                    origin,
                    graceful,
                    ..
                },
                Input::SavepointCompleted {
                    savepoint: sp,
                    location,
                    ..
                },
            ) if sp == savepoint => {
                self.savepoint_completed(job, savepoint, origin, &location, out);
                let then = if origin == SavepointOrigin::SuspendAndUpgrade {
                    DeploymentState::Transitioning
                } else {
                    DeploymentState::Suspended
                };
                if graceful {
                    // Stop with savepoint ends the job FINISHED.
                    out.push(Action::RecordJob {
                        job,
                        state: JobState::Finished,
                        failure: None,
                    });
                    self.tear_down(job, then, false, out);
                } else {
                    // 1.8 and earlier: the savepoint completed, now cancel.
                    self.begin_cancel(job, then, timing, now, out);
                }
            }
            (
                Phase::Savepointing {
                    job,
                    template_hash,
                    savepoint,
                    origin,
                    ..
                },
                Input::SavepointFailed {
                    savepoint: sp,
                    reason,
                    ..
                },
            ) if sp == savepoint => {
                self.savepoint_failed(
                    policy,
                    timing,
                    now,
                    (job, template_hash, savepoint, origin),
                    reason,
                    out,
                );
            }
            (
                Phase::Savepointing {
                    job,
                    savepoint,
                    origin,
                    ..
                },
                Input::JobEnded { end, reason, .. },
            ) if end != FlinkEnd::Finished => {
                // The job died while its savepoint was taken: the savepoint is lost with it.
                out.push(Action::RecordSavepoint {
                    savepoint,
                    job,
                    origin,
                    state: SavepointState::Failed,
                    location: None,
                    failure: failure("JOB_ENDED", reason.clone()),
                });
                self.job_lost(policy, job, reason, out);
            }
            (
                Phase::Savepointing {
                    job,
                    savepoint,
                    origin,
                    ..
                },
                Input::ClusterLost { reason, .. },
            ) => {
                out.push(Action::RecordSavepoint {
                    savepoint,
                    job,
                    origin,
                    state: SavepointState::Failed,
                    location: None,
                    failure: failure("CLUSTER_LOST", reason.clone()),
                });
                self.job_lost(policy, job, reason, out);
            }

            (Phase::Cancelling { job, then, .. }, Input::CancelCompleted { .. })
            | (Phase::Cancelling { job, then, .. }, Input::JobEnded { .. })
            | (Phase::Cancelling { job, then, .. }, Input::ClusterLost { .. }) => {
                out.push(Action::RecordJob {
                    job,
                    state: JobState::Terminated,
                    failure: None,
                });
                out.info(
                    events::JOB_CANCELLED,
                    Some(job),
                    "the job is CANCELED".into(),
                );
                self.tear_down(job, then, false, out);
            }
            (
                Phase::Cancelling {
                    job,
                    failures,
                    then,
                    deadline,
                },
                Input::CancelFailed { reason, .. },
            ) => {
                let failures = failures + 1;
                if failures >= timing.cancel_attempts {
                    out.warn(
                        events::TOO_MANY_FAILED_CANCELLATION_ATTEMPTS,
                        Some(job),
                        format!("cancellation failed {failures} times (last: {reason}); tearing the cluster down"),
                    );
                    out.push(Action::RecordJob {
                        job,
                        state: JobState::Terminated,
                        failure: failure("CANCELLATION_FAILED", reason),
                    });
                    self.tear_down(job, then, false, out);
                } else {
                    out.warn(
                        events::CANCELLATION_FAILED,
                        Some(job),
                        format!(
                            "cancellation attempt {failures} of {} failed: {reason}",
                            timing.cancel_attempts
                        ),
                    );
                    self.phase = Phase::Cancelling {
                        job,
                        failures,
                        then,
                        deadline,
                    };
                    out.push(Action::Cancel { job });
                }
            }

            (Phase::TearingDown { job, then, hold }, Input::TornDown { .. }) => {
                out.info(
                    events::CLUSTER_TORN_DOWN,
                    Some(job),
                    "the job's cluster is gone".into(),
                );
                out.push(Action::ReleaseQuota);
                self.phase = Phase::Idle;
                self.status = then;
                self.held_for_spec = hold.then(|| policy.spec_hash.clone());
                match then {
                    DeploymentState::Failed
                        if self.job_creation_failures >= policy.max_job_creation_attempts =>
                    {
                        out.error(
                            events::TOO_MANY_FAILED_JOB_CREATION_ATTEMPTS,
                            None,
                            format!(
                                "{} job creation attempts failed (maxJobCreationAttempts {}); change the spec to try again",
                                self.job_creation_failures, policy.max_job_creation_attempts
                            ),
                        );
                    }
                    DeploymentState::Suspended => out.info(
                        events::DEPLOYMENT_SUSPENDED,
                        None,
                        "the Deployment is SUSPENDED".into(),
                    ),
                    DeploymentState::Cancelled => out.info(
                        events::DEPLOYMENT_CANCELLED,
                        None,
                        "the Deployment is CANCELLED".into(),
                    ),
                    DeploymentState::Finished => out.info(
                        events::DEPLOYMENT_FINISHED,
                        None,
                        "the job finished; the Deployment is FINISHED".into(),
                    ),
                    _ => {}
                }
            }

            // Anything else is an answer this phase does not expect (e.g. a second report
            // of the same outcome); it changes nothing.
            _ => {}
        }
    }

    fn check_deadlines(&mut self, policy: &Policy, timing: &Timing, now: Timestamp, out: &mut Out) {
        match self.phase.clone() {
            Phase::Starting { job, deadline, .. } if now >= deadline => {
                let reason = format!(
                    "the job did not reach RUNNING within {}",
                    humantime::format_duration(timing.start_timeout)
                );
                self.start_failed(policy, job, reason, out);
            }
            Phase::Savepointing {
                job,
                template_hash,
                savepoint,
                origin,
                deadline,
                ..
            } if now >= deadline => {
                let reason = format!(
                    "the savepoint did not complete within {}",
                    humantime::format_duration(timing.savepoint_timeout)
                );
                self.savepoint_failed(
                    policy,
                    timing,
                    now,
                    (job, template_hash, savepoint, origin),
                    reason,
                    out,
                );
            }
            Phase::Cancelling {
                job,
                then,
                deadline,
                ..
            } if now >= deadline => {
                out.warn(
                    events::CANCELLATION_DEADLINE_EXCEEDED,
                    Some(job),
                    format!(
                        "cancellation did not complete within {}; tearing the cluster down",
                        humantime::format_duration(timing.cancel_deadline)
                    ),
                );
                out.push(Action::RecordJob {
                    job,
                    state: JobState::Terminated,
                    failure: failure(
                        "CANCELLATION_DEADLINE_EXCEEDED",
                        "cancellation took too long",
                    ),
                });
                self.tear_down(job, then, false, out);
            }
            _ => {}
        }
    }

    /// At rest, starts the transition the latest policy asks for.
    fn settle(&mut self, policy: &Policy, timing: &Timing, now: Timestamp, out: &mut Out) {
        let at_rest = matches!(self.phase, Phase::Idle | Phase::Running { .. });
        if !at_rest {
            return;
        }
        if let Some(held) = &self.held_for_spec {
            if *held == policy.spec_hash {
                return;
            }
            // A changed spec releases FAILED and FINISHED, with fresh limits.
            if self.status == DeploymentState::Failed {
                out.info(
                    events::LEAVING_FAILED,
                    None,
                    "the spec changed; trying again".into(),
                );
            }
            self.held_for_spec = None;
            self.job_creation_failures = 0;
            self.savepoint_failures = 0;
        }
        match self.phase.clone() {
            Phase::Idle => match policy.desired {
                DesiredState::Running => {
                    // The quota is checked only here, when a job is about to start.
                    self.phase = Phase::WaitingForQuota { denied: false };
                    self.status = DeploymentState::Transitioning;
                    out.push(Action::ReserveQuota {
                        cores: policy.cores,
                    });
                }
                DesiredState::Suspended => self.status = DeploymentState::Suspended,
                DesiredState::Cancelled => self.status = DeploymentState::Cancelled,
            },
            Phase::Running { job, template_hash } => {
                if self.status == DeploymentState::Failed {
                    // A job left running by a failed suspension, now released: act on
                    // the spec as if it had just changed.
                    self.status = DeploymentState::Running;
                }
                match policy.desired {
                    DesiredState::Cancelled => {
                        out.info(
                            events::CANCELLING_JOB,
                            Some(job),
                            "cancelling the job".into(),
                        );
                        self.begin_cancel(job, DeploymentState::Cancelled, timing, now, out);
                    }
                    DesiredState::Suspended => {
                        self.begin_savepoint(
                            job,
                            template_hash,
                            SavepointOrigin::Suspend,
                            policy,
                            timing,
                            now,
                            out,
                        );
                    }
                    DesiredState::Running if template_hash != policy.template_hash => {
                        match policy.upgrade {
                            UpgradeStrategyKind::Stateful => self.begin_savepoint(
                                job,
                                template_hash,
                                SavepointOrigin::SuspendAndUpgrade,
                                policy,
                                timing,
                                now,
                                out,
                            ),
                            UpgradeStrategyKind::Stateless => {
                                out.info(
                                events::CANCELLING_JOB_FOR_UPGRADE,
                                Some(job),
                                "the template changed; cancelling the job to upgrade it (STATELESS)".into(),
                            );
                                self.begin_cancel(
                                    job,
                                    DeploymentState::Transitioning,
                                    timing,
                                    now,
                                    out,
                                );
                            }
                            UpgradeStrategyKind::None => {}
                        }
                    }
                    DesiredState::Running => {}
                }
            }
            _ => {}
        }
    }

    fn start_job(
        &mut self,
        policy: &Policy,
        timing: &Timing,
        now: Timestamp,
        savepoints: &[Savepoint],
        out: &mut Out,
    ) {
        let job = Uuid::new_v4();
        let restore = choose_restore(policy.restore, savepoints).map(|s| Restore {
            savepoint: s.metadata.id,
            location: s.location.clone().unwrap_or_default(),
        });
        let from = match &restore {
            Some(r) => format!("from {}", r.location),
            None => "with empty state".to_string(),
        };
        out.info(
            events::STARTING_JOB,
            Some(job),
            format!(
                "starting a job {from} (restore strategy {}, attempt {} of {})",
                policy.restore,
                self.job_creation_failures + 1,
                policy.max_job_creation_attempts
            ),
        );
        self.phase = Phase::Starting {
            job,
            template_hash: policy.template_hash.clone(),
            deadline: after(now, timing.start_timeout),
        };
        self.status = DeploymentState::Transitioning;
        out.push(Action::StartJob {
            job,
            restore,
            allow_non_restored_state: policy.allow_non_restored_state,
        });
    }

    fn start_failed(&mut self, policy: &Policy, job: Uuid, reason: String, out: &mut Out) {
        self.job_creation_failures += 1;
        let n = self.job_creation_failures;
        let max = policy.max_job_creation_attempts;
        out.push(Action::RecordJob {
            job,
            state: JobState::Failed,
            failure: failure("JOB_CREATION_FAILED", reason.clone()),
        });
        out.error(
            events::JOB_CREATION_FAILED,
            Some(job),
            format!("job creation attempt {n} of {max} failed: {reason}"),
        );
        let exhausted = n >= max;
        let then = if exhausted {
            DeploymentState::Failed
        } else {
            DeploymentState::Transitioning
        };
        self.tear_down(job, then, exhausted, out);
    }

    /// A running job failed for good, or its cluster is gone: recover per the restore
    /// strategy, counting against maxJobCreationAttempts.
    fn job_lost(&mut self, policy: &Policy, job: Uuid, reason: String, out: &mut Out) {
        self.job_creation_failures += 1;
        let exhausted = self.job_creation_failures >= policy.max_job_creation_attempts;
        out.push(Action::RecordJob {
            job,
            state: JobState::Failed,
            failure: failure("JOB_FAILED", reason.clone()),
        });
        out.error(
            events::JOB_FAILED,
            Some(job),
            if exhausted {
                format!("the job failed: {reason}")
            } else {
                format!("the job failed: {reason}; starting a new one per the restore strategy")
            },
        );
        let then = if exhausted {
            DeploymentState::Failed
        } else {
            DeploymentState::Transitioning
        };
        self.tear_down(job, then, exhausted, out);
    }

    fn finished(&mut self, job: Uuid, out: &mut Out) {
        out.push(Action::RecordJob {
            job,
            state: JobState::Finished,
            failure: None,
        });
        out.info(events::JOB_FINISHED, Some(job), "the job finished".into());
        self.tear_down(job, DeploymentState::Finished, true, out);
    }

    #[allow(clippy::too_many_arguments)]
    fn begin_savepoint(
        &mut self,
        job: Uuid,
        template_hash: String,
        origin: SavepointOrigin,
        policy: &Policy,
        timing: &Timing,
        now: Timestamp,
        out: &mut Out,
    ) {
        let savepoint = Uuid::new_v4();
        let name = if origin == SavepointOrigin::SuspendAndUpgrade {
            events::CREATING_A_SAVEPOINT_BEFORE_UPGRADE
        } else {
            events::CREATING_A_SAVEPOINT_BEFORE_SUSPENSION
        };
        let how = if policy.graceful_stop {
            "stopping the job with a savepoint"
        } else {
            "taking a savepoint, then cancelling the job"
        };
        out.info(
            name,
            Some(job),
            format!(
                "{how} (attempt {} of {})",
                self.savepoint_failures + 1,
                policy.max_savepoint_creation_attempts
            ),
        );
        self.phase = Phase::Savepointing {
            job,
            template_hash,
            savepoint,
            origin,
            graceful: policy.graceful_stop,
            deadline: after(now, timing.savepoint_timeout),
        };
        self.status = DeploymentState::Transitioning;
        out.push(Action::RecordSavepoint {
            savepoint,
            job,
            origin,
            state: SavepointState::Started,
            location: None,
            failure: None,
        });
        out.push(if policy.graceful_stop {
            Action::StopWithSavepoint { job, savepoint }
        } else {
            Action::TriggerSavepoint { job, savepoint }
        });
    }

    /// A savepoint completed: the limit's counter resets, the record and the event say
    /// where it is.
    fn savepoint_completed(
        &mut self,
        job: Uuid,
        savepoint: Uuid,
        origin: SavepointOrigin,
        location: &str,
        out: &mut Out,
    ) {
        self.savepoint_failures = 0;
        out.push(Action::RecordSavepoint {
            savepoint,
            job,
            origin,
            state: SavepointState::Completed,
            location: Some(location.to_string()),
            failure: None,
        });
        out.info(
            events::SAVEPOINT_COMPLETED,
            Some(job),
            format!("savepoint completed at {location}"),
        );
    }

    /// A savepoint failed: the job runs on, the failure counts, and at the limit the
    /// Deployment is FAILED.
    fn savepoint_failed(
        &mut self,
        policy: &Policy,
        timing: &Timing,
        now: Timestamp,
        (job, template_hash, savepoint, origin): (Uuid, String, Uuid, SavepointOrigin),
        reason: String,
        out: &mut Out,
    ) {
        self.savepoint_failures += 1;
        let n = self.savepoint_failures;
        let max = policy.max_savepoint_creation_attempts;
        out.push(Action::RecordSavepoint {
            savepoint,
            job,
            origin,
            state: SavepointState::Failed,
            location: None,
            failure: failure("SAVEPOINT_FAILED", reason.clone()),
        });
        out.warn(
            events::SAVEPOINT_FAILED,
            Some(job),
            format!("savepoint attempt {n} of {max} failed: {reason}"),
        );
        // The job keeps running after a failed savepoint.
        self.phase = Phase::Running {
            job,
            template_hash: template_hash.clone(),
        };
        if n >= max {
            self.status = DeploymentState::Failed;
            self.held_for_spec = Some(policy.spec_hash.clone());
            out.error(
                events::TOO_MANY_FAILED_SAVEPOINT_CREATION_ATTEMPTS,
                Some(job),
                format!(
                    "{n} savepoint attempts failed (maxSavepointCreationAttempts {max}); the job is still running; change the spec (e.g. state: cancelled) to go on"
                ),
            );
        } else if origin != SavepointOrigin::UserRequest {
            // Try again at once, within the same transition. (A savepoint a user asked
            // for is not repeated: the user asks again.)
            self.begin_savepoint(job, template_hash, origin, policy, timing, now, out);
        }
    }

    fn begin_cancel(
        &mut self,
        job: Uuid,
        then: DeploymentState,
        timing: &Timing,
        now: Timestamp,
        out: &mut Out,
    ) {
        self.phase = Phase::Cancelling {
            job,
            failures: 0,
            then,
            deadline: after(now, timing.cancel_deadline),
        };
        self.status = DeploymentState::Transitioning;
        out.push(Action::RecordJob {
            job,
            state: JobState::Terminating,
            failure: None,
        });
        out.push(Action::Cancel { job });
    }

    fn tear_down(&mut self, job: Uuid, then: DeploymentState, hold: bool, out: &mut Out) {
        self.status = DeploymentState::Transitioning;
        self.phase = Phase::TearingDown { job, then, hold };
        out.push(Action::TearDown { job });
    }
}

#[cfg(test)]
mod tests;
