//! The names of the event log, in the reference platform's vocabulary where it has one.

use std::fmt;

/// An event's name: what happened to a Deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventName {
    StartingJob,
    JobSuccessfullyStarted,
    JobCreationFailed,
    TooManyFailedJobCreationAttempts,
    CreatingASavepointBeforeSuspension,
    CreatingASavepointBeforeUpgrade,
    CreatingASavepoint,
    SavepointCompleted,
    SavepointFailed,
    SavepointImported,
    SavepointDisposed,
    SavepointDisposalFailed,
    TooManyFailedSavepointCreationAttempts,
    CancellingJob,
    CancellingJobForUpgrade,
    CancellationFailed,
    TooManyFailedCancellationAttempts,
    CancellationDeadlineExceeded,
    JobCancelled,
    JobFinished,
    JobFailed,
    ClusterTornDown,
    ClusterTeardownFailed,
    DeploymentSuspended,
    DeploymentCancelled,
    DeploymentFinished,
    LeavingFailed,
    ResourceQuotaExceeded,
    DefaultsChanged,
    SpecRejected,
    ClusterUnreachable,
    JobFailing,
    JobUnstable,
    TaskManagersLost,
    DeploymentForgotten,
    PreparingClusterForUpgrade,
    ClusterPodsFailing,
    OrphanedClusterRemoved,
}

impl EventName {
    pub fn as_str(self) -> &'static str {
        use EventName::*;
        match self {
            StartingJob => "STARTING_JOB",
            JobSuccessfullyStarted => "JOB_SUCCESSFULLY_STARTED",
            JobCreationFailed => "JOB_CREATION_FAILED",
            TooManyFailedJobCreationAttempts => "TOO_MANY_FAILED_JOB_CREATION_ATTEMPTS",
            CreatingASavepointBeforeSuspension => "CREATING_A_SAVEPOINT_BEFORE_SUSPENSION",
            CreatingASavepointBeforeUpgrade => "CREATING_A_SAVEPOINT_BEFORE_UPGRADE",
            CreatingASavepoint => "CREATING_A_SAVEPOINT",
            SavepointCompleted => "SAVEPOINT_COMPLETED",
            SavepointFailed => "SAVEPOINT_FAILED",
            SavepointImported => "SAVEPOINT_IMPORTED",
            SavepointDisposed => "SAVEPOINT_DISPOSED",
            SavepointDisposalFailed => "SAVEPOINT_DISPOSAL_FAILED",
            TooManyFailedSavepointCreationAttempts => "TOO_MANY_FAILED_SAVEPOINT_CREATION_ATTEMPTS",
            CancellingJob => "CANCELLING_JOB",
            CancellingJobForUpgrade => "CANCELLING_JOB_FOR_UPGRADE",
            CancellationFailed => "CANCELLATION_FAILED",
            TooManyFailedCancellationAttempts => "TOO_MANY_FAILED_CANCELLATION_ATTEMPTS",
            CancellationDeadlineExceeded => "CANCELLATION_DEADLINE_EXCEEDED",
            JobCancelled => "JOB_CANCELLED",
            JobFinished => "JOB_FINISHED",
            JobFailed => "JOB_FAILED",
            ClusterTornDown => "CLUSTER_TORN_DOWN",
            ClusterTeardownFailed => "CLUSTER_TEARDOWN_FAILED",
            DeploymentSuspended => "DEPLOYMENT_SUSPENDED",
            DeploymentCancelled => "DEPLOYMENT_CANCELLED",
            DeploymentFinished => "DEPLOYMENT_FINISHED",
            LeavingFailed => "LEAVING_FAILED_AFTER_SPEC_CHANGE",
            ResourceQuotaExceeded => "RESOURCE_QUOTA_EXCEEDED",
            DefaultsChanged => "DEFAULTS_CHANGED",
            SpecRejected => "SPEC_REJECTED",
            ClusterUnreachable => "CLUSTER_UNREACHABLE",
            JobFailing => "JOB_FAILING",
            JobUnstable => "JOB_UNSTABLE",
            TaskManagersLost => "TASK_MANAGERS_LOST",
            DeploymentForgotten => "DEPLOYMENT_FORGOTTEN",
            PreparingClusterForUpgrade => "PREPARING_CLUSTER_FOR_UPGRADE",
            ClusterPodsFailing => "CLUSTER_PODS_FAILING",
            OrphanedClusterRemoved => "ORPHANED_CLUSTER_REMOVED",
        }
    }
}

impl fmt::Display for EventName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
