//! Where a Deployment is: its [`Phase`], and what a phase holds of its job, its quota
//! wait and what its end leads to. Persisted with the lifecycle after every step.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::FlinkApi;
use crate::spec::{SavepointOrigin, Timestamp};

/// The job a phase is about: what it runs and how to talk to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobRef {
    pub id: Uuid,
    /// The policy's `upgrade_key` when it started: a differing key means an upgrade.
    pub upgrade_key: String,
    pub api: FlinkApi,
    /// The cores it uses.
    pub cores: f64,
}

/// A wait for the quota: the request asked and not answered yet, if any.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QuotaWait {
    /// (request id, cores asked for).
    pub request: Option<(u64, f64)>,
    /// Refused at least once (the refusal is announced once per wait).
    pub denied: bool,
}

/// What a job's end leads to once its cluster is gone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "to")]
pub enum After {
    /// Status SUSPENDED (its savepoint completed).
    Suspended,
    /// Status CANCELLED.
    Cancelled,
    /// Status FAILED, held until the spec differs from `hold`.
    Failed { hold: String },
    /// Status FINISHED, held until the spec differs from `hold`.
    Finished { hold: String },
    /// Back to rest, and on per the latest spec: an upgrade, a recovery, another
    /// attempt. The cores are kept for the next job.
    Settle { recover: Option<Recover> },
}

/// A recovery that must not be left without a job by the quota: when the latest
/// template needs more cores than are held, the job that ran is started again (its
/// template, its cores) and then upgraded like any running job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Recover {
    pub job: JobRef,
}

/// Where a Deployment is in its lifecycle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "camelCase")]
pub enum Phase {
    /// No job.
    Idle,
    /// About to start a job, waiting for the CPU quota.
    WaitingForQuota {
        wait: QuotaWait,
        /// Start the template of this earlier job (a recovery), not the latest.
        recover: Option<Recover>,
    },
    /// A job is being created: cluster, submission, waiting for RUNNING. Its deadline
    /// counts from when the start got its turn, not from when it queued.
    Starting {
        job: JobRef,
        /// The spec it is attempted with (a hold is tied to it).
        hold: String,
        #[serde(default, with = "time::serde::rfc3339::option")]
        deadline: Option<Timestamp>,
    },
    /// A job runs. `quota` is set while an upgrade waits for more cores than the job
    /// holds: the job keeps running meanwhile.
    Running {
        job: JobRef,
        quota: Option<QuotaWait>,
    },
    /// A job runs and a savepoint a user asked for is being taken.
    UserSavepointing {
        job: JobRef,
        savepoint: Uuid,
        #[serde(with = "time::serde::rfc3339")]
        deadline: Timestamp,
    },
    /// A savepoint is being taken before the job ends (suspend, STATEFUL upgrade).
    /// `earlier` are attempts of the same operation that passed their deadline: they
    /// may still complete, and a late completion ends the operation as well.
    Savepointing {
        job: JobRef,
        savepoint: Uuid,
        origin: SavepointOrigin,
        hold: String,
        earlier: Vec<Uuid>,
        #[serde(with = "time::serde::rfc3339")]
        deadline: Timestamp,
        /// `savepoint` failed; the next attempt is made then (the wait doubles with
        /// each failure, from `timing.retry_interval` up to `poll_interval_max`).
        #[serde(default, with = "time::serde::rfc3339::option")]
        retry_at: Option<Timestamp>,
    },
    /// The job is being cancelled.
    Cancelling {
        job: JobRef,
        failures: u32,
        then: After,
        #[serde(with = "time::serde::rfc3339")]
        deadline: Timestamp,
        /// A failed cancel is tried again from then.
        #[serde(default, with = "time::serde::rfc3339::option")]
        retry_at: Option<Timestamp>,
    },
    /// The job has ended; its cluster is being removed. No new job starts before it
    /// is gone. `confirm`: a submission that never answered may still register; the
    /// teardown watches for it (and cancels it) for `timing.submission_grace`.
    TearingDown {
        job: Uuid,
        then: After,
        confirm: bool,
        #[serde(with = "time::serde::rfc3339")]
        deadline: Timestamp,
        #[serde(default, with = "time::serde::rfc3339::option")]
        retry_at: Option<Timestamp>,
        /// Failed attempts so far (the wait between them doubles).
        failures: u32,
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
            | Phase::Cancelling { job, .. } => Some(job.id),
            Phase::TearingDown { job, .. } => Some(*job),
        }
    }

    /// The running job: phases in which Flink runs the job as it should.
    pub(super) fn running_job(&self) -> Option<&JobRef> {
        match self {
            Phase::Running { job, .. } | Phase::UserSavepointing { job, .. } => Some(job),
            _ => None,
        }
    }
}

/// A cluster started for an upgrade's next job while the job it replaces still runs
/// (a fast STATEFUL upgrade): the old job is stopped only once this cluster is up, and
/// the next job is submitted to it, so the upgrade's downtime is the savepoint, the old
/// cluster's teardown and the submission, not a cluster's start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Warm {
    /// The id the next job will have: the cluster is recorded under it.
    pub job: Uuid,
    /// The expanded template it was made for (`Policy::template_hash`): used for no
    /// other.
    pub template_hash: String,
    /// The cores it needs, held beside the running job's once granted.
    pub cores: f64,
    pub stage: WarmStage,
}

/// How far a warm cluster is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "stage")]
pub enum WarmStage {
    /// The quota was asked for both clusters' cores (this request, this total).
    Asking { request: u64, total: f64 },
    /// Being started; given up at `deadline`.
    Starting {
        #[serde(with = "time::serde::rfc3339")]
        deadline: Timestamp,
    },
    /// Its JobManager answers and its TaskManagers registered.
    Ready,
}

/// A cluster no job uses, being removed (a warm cluster given up). Its cores are held
/// until it is verified gone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Discarded {
    pub job: Uuid,
    pub cores: f64,
    /// Failed removals so far, and when to try again.
    pub failures: u32,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub retry_at: Option<Timestamp>,
}
