//! What the lifecycle takes in ([`Input`]: what happened) and gives out ([`Action`]:
//! what to do, in order, once the step is on record).

use std::time::Duration;

use uuid::Uuid;

use super::EventName;
use crate::conditions::Observation;
use crate::spec::{EventLevel, Failure, JobState, SavepointOrigin, SavepointState, Timestamp};

/// A checkpoint Flink reports completed and retained.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointSeen {
    pub location: String,
    /// Flink's completion time.
    pub completed_at: Timestamp,
}

/// How a job ended, as Flink reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlinkEnd {
    Finished,
    Failed,
    Canceled,
}

/// What is wrong with the pods of a job's cluster on a Kubernetes target, in
/// Kubernetes' words: its reason (`CrashLoopBackOff`, `OOMKilled`, `ImagePullBackOff`,
/// `Unschedulable`...) and a message naming the pod, its container and the exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodTrouble {
    pub reason: String,
    pub message: String,
}

/// What the executor found of a job after a restart of the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// Its cluster is on record and may be running: adopt it.
    Cluster,
    /// No cluster on record, or one known to be gone (its JobManager is dead).
    Gone,
}

/// What happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// The spec may have changed, time passed, or cores were freed: look again.
    Reconcile,
    /// Only the defaults of the Deployment changed (its file did not): these fields.
    DefaultsChanged {
        fields: Vec<String>,
    },
    /// The first input after the daemon started: what is left of the active job.
    Restarted {
        found: Option<Found>,
    },
    /// The start got its turn: the start deadline counts from now.
    StartBegan {
        job: Uuid,
    },
    /// Flink reports the job RUNNING.
    JobRunning {
        job: Uuid,
    },
    /// The job could not be started. `unresolved`: a submission got no answer, so the
    /// job may still register.
    JobStartFailed {
        job: Uuid,
        reason: String,
        unresolved: bool,
    },
    /// Flink reports the job in a terminal state flinkd did not ask for.
    JobEnded {
        job: Uuid,
        end: FlinkEnd,
        reason: String,
    },
    /// The job's cluster is gone (its JobManager died, or it no longer knows the job).
    ClusterLost {
        job: Uuid,
        reason: String,
    },
    /// A poll of the job: for its conditions, and its newest retained checkpoint.
    Observed {
        job: Uuid,
        observation: Observation,
        checkpoint: Option<CheckpointSeen>,
    },
    /// The pods of the job's Kubernetes cluster, looked at: their trouble, if any.
    PodsObserved {
        job: Uuid,
        trouble: Option<PodTrouble>,
    },
    /// Flink took a savepoint request under this id (versions that choose their own).
    SavepointTriggered {
        job: Uuid,
        savepoint: Uuid,
        trigger_id: String,
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
    /// Flink no longer knows a savepoint request (it forgets them after a few minutes,
    /// e.g. while the daemon was down); `latest` is the newest savepoint Flink's
    /// checkpoint history has for the job.
    SavepointLost {
        job: Uuid,
        savepoint: Uuid,
        latest: Option<CheckpointSeen>,
    },
    /// The cancel was done and the job ended as Flink says.
    CancelCompleted {
        job: Uuid,
        end: FlinkEnd,
    },
    CancelFailed {
        job: Uuid,
        reason: String,
    },
    /// The job's cluster is verified gone.
    TornDown {
        job: Uuid,
    },
    /// The warm cluster of a fast upgrade is up (`job`: the id it was prepared for).
    ClusterWarm {
        job: Uuid,
    },
    /// The warm cluster could not be started.
    WarmFailed {
        job: Uuid,
        reason: String,
    },
    TearDownFailed {
        job: Uuid,
        reason: String,
    },
    /// A user asks for a savepoint (origin USER_REQUEST) of the running job.
    UserSavepoint,
    /// A savepoint taken elsewhere is handed to the Deployment (a `kind: Savepoint`
    /// file, `flinkd savepoint import`): origin IMPORTED, a restore point from now on.
    SavepointImported {
        location: String,
    },
    /// A snapshot's files are gone (disposed of, or were already).
    SnapshotDisposed {
        savepoint: Uuid,
    },
    /// A snapshot's files could not be disposed of.
    SnapshotDisposalFailed {
        savepoint: Uuid,
        reason: String,
    },
    /// The Supervisor reserved the cores of this request.
    QuotaGranted {
        request: u64,
    },
    /// The cores of this request do not fit the quota now.
    QuotaDenied {
        request: u64,
        used: f64,
        limit: f64,
    },
}

impl Input {
    /// The job an input is about, if it is about one.
    pub(super) fn job(&self) -> Option<Uuid> {
        match self {
            Input::StartBegan { job }
            | Input::JobRunning { job }
            | Input::JobStartFailed { job, .. }
            | Input::JobEnded { job, .. }
            | Input::ClusterLost { job, .. }
            | Input::Observed { job, .. }
            | Input::PodsObserved { job, .. }
            | Input::SavepointTriggered { job, .. }
            | Input::SavepointCompleted { job, .. }
            | Input::SavepointFailed { job, .. }
            | Input::SavepointLost { job, .. }
            | Input::CancelCompleted { job, .. }
            | Input::CancelFailed { job, .. }
            | Input::TornDown { job }
            | Input::TearDownFailed { job, .. } => Some(*job),
            _ => None,
        }
    }
}

/// The snapshot a new job starts from.
#[derive(Debug, Clone, PartialEq)]
pub struct Restore {
    pub savepoint: Uuid,
    pub location: String,
}

/// What to do. Carried out in order, once the step is on record.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Ask the Supervisor to hold `cores` for this Deployment (in place of what it
    /// holds), if they fit the quota.
    ReserveQuota { request: u64, cores: f64 },
    /// Hold `cores` for this Deployment, fitting or not (0: none). Never more than is
    /// held or was granted.
    SetQuota { cores: f64 },
    /// Create Job `job` (STARTING) on a new cluster and submit it. `template_of`: the
    /// template of that earlier job rather than the latest. `resume`: a start the
    /// previous daemon began (its cluster may be up, its submission made).
    StartJob {
        job: Uuid,
        restore: Option<Restore>,
        allow_non_restored_state: bool,
        template_of: Option<Uuid>,
        resume: bool,
    },
    /// Watch a job that runs on its recorded cluster (after a restart of the daemon).
    Adopt { job: Uuid },
    /// Flink's graceful stop with a savepoint (1.9+).
    StopWithSavepoint {
        job: Uuid,
        savepoint: Uuid,
        trigger_id: Option<String>,
    },
    /// Trigger a savepoint and keep the job running.
    TriggerSavepoint {
        job: Uuid,
        savepoint: Uuid,
        trigger_id: Option<String>,
    },
    /// Wait for a savepoint Flink was asked for before a restart of the daemon; with no
    /// trigger id on record, ask again (`stop`: with a stop).
    ResumeSavepoint {
        job: Uuid,
        savepoint: Uuid,
        trigger_id: Option<String>,
        stop: bool,
    },
    /// Flink's cancel.
    Cancel { job: Uuid },
    /// Start TaskManagers in place of those of the job's cluster that are gone.
    ReplaceTaskManagers { job: Uuid },
    /// Remove the job's cluster and verify it is gone. `confirm`: watch this long for a
    /// submission that may still register, and cancel it if it does.
    TearDown {
        job: Uuid,
        confirm: Option<Duration>,
    },
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
        trigger_id: Option<String>,
        failure: Option<Failure>,
        /// When it completed (Flink's clock for a retained checkpoint).
        completed_at: Option<Timestamp>,
    },
    /// Remove a snapshot's files (its directory on this machine, or through Flink's
    /// savepoint disposal on another file system).
    DisposeSnapshot { savepoint: Uuid, location: String },
    /// Remove a Savepoint record (its files are gone).
    ForgetSavepoint { savepoint: Uuid },
    /// Prepare and start the cluster for the upgrade's next job `job` (recorded under
    /// that id) while the running job goes on, and say when it is up; no submission.
    WarmCluster { job: Uuid },
    /// An upgrade's new job runs, `downtime` after the job it replaced was told to
    /// stop (the `flinkd_upgrade_downtime_seconds` histogram).
    UpgradeDowntime { downtime: Duration },
    /// Append to the event log.
    Event {
        name: EventName,
        level: EventLevel,
        job: Option<Uuid>,
        message: String,
    },
}
