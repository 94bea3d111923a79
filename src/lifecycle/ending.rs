//! The end of a job: cancellation, then the teardown of its cluster.
//!
//! Cancellation (reference page, "Transitions to CANCELLED") uses Flink's cancel API;
//! the cluster is removed when the cancel completes, after `timing.cancel_attempts`
//! failures (tried again every `timing.retry_interval`), or once
//! `timing.cancel_deadline` has passed. The Job record says how Flink ended the job.
//!
//! A teardown is bounded too: it is tried again with a doubling wait, and if the cluster
//! is still not gone after `timing.teardown_deadline` the Deployment is FAILED (event
//! CLUSTER_TEARDOWN_FAILED) while flinkd keeps trying; no new job starts meanwhile,
//! since a job may still run there. Once it is gone, the transition goes on.

use super::*;

impl Lifecycle {
    pub(super) fn begin_cancel(
        &mut self,
        ctx: &mut Ctx<'_>,
        job: JobRef,
        then: After,
        out: &mut Out,
    ) {
        out.record_job(job.id, JobState::Terminating, None);
        out.push(Action::Cancel { job: job.id });
        self.status = DeploymentState::Transitioning;
        self.phase = Phase::Cancelling {
            job,
            failures: 0,
            then,
            deadline: after(ctx.now, ctx.timing.cancel_deadline),
            retry_at: None,
        };
    }

    pub(super) fn react_cancelling(&mut self, ctx: &mut Ctx<'_>, input: Input, out: &mut Out) {
        let Phase::Cancelling {
            job,
            failures,
            then,
            deadline,
            ..
        } = self.phase.clone()
        else {
            return;
        };
        let (end, reason) = match input {
            Input::CancelCompleted { end, .. } => (end, String::new()),
            Input::JobEnded { end, reason, .. } => (end, reason),
            Input::ClusterLost { reason, .. } => (FlinkEnd::Canceled, reason),
            Input::CancelFailed { reason, .. } => {
                let failures = failures + 1;
                let attempts = ctx.timing.cancel_attempts;
                if failures >= attempts {
                    out.warn(
                        EventName::TooManyFailedCancellationAttempts,
                        Some(job.id),
                        format!("cancellation failed {failures} times (last: {reason}); tearing the cluster down"),
                    );
                    out.record_job(
                        job.id,
                        JobState::Terminated,
                        failure("CANCELLATION_FAILED", reason),
                    );
                    self.tear_down(ctx, job.id, then, false, out);
                } else {
                    out.warn(
                        EventName::CancellationFailed,
                        Some(job.id),
                        format!("cancellation attempt {failures} of {attempts} failed: {reason}"),
                    );
                    self.phase = Phase::Cancelling {
                        job,
                        failures,
                        then,
                        deadline,
                        retry_at: Some(after(ctx.now, ctx.timing.retry_interval)),
                    };
                }
                return;
            }
            _ => return,
        };
        // The Job record says what Flink did.
        match end {
            FlinkEnd::Canceled => {
                out.record_job(job.id, JobState::Terminated, None);
                out.info(
                    EventName::JobCancelled,
                    Some(job.id),
                    "the job is CANCELED".into(),
                );
            }
            FlinkEnd::Finished => {
                out.record_job(job.id, JobState::Finished, None);
                out.info(
                    EventName::JobFinished,
                    Some(job.id),
                    "the job finished before its cancellation".into(),
                );
            }
            FlinkEnd::Failed => {
                out.record_job(
                    job.id,
                    JobState::Failed,
                    failure("JOB_FAILED", reason.clone()),
                );
                out.warn(
                    EventName::JobFailed,
                    Some(job.id),
                    format!("the job failed before its cancellation: {reason}"),
                );
            }
        }
        self.tear_down(ctx, job.id, then, false, out);
    }

    /// Removes the job's cluster; `then` once it is gone.
    pub(super) fn tear_down(
        &mut self,
        ctx: &mut Ctx<'_>,
        job: Uuid,
        then: After,
        confirm: bool,
        out: &mut Out,
    ) {
        // An upgrade that waited for cores is not wanted any more.
        if let Phase::Running {
            quota: Some(wait), ..
        } = self.phase.clone()
        {
            self.abandon_wait(&wait, out);
        }
        // A FAILED Deployment whose job is being removed stays FAILED meanwhile.
        if !(self.status == DeploymentState::Failed && matches!(then, After::Failed { .. })) {
            self.status = DeploymentState::Transitioning;
        }
        out.push(Action::TearDown {
            job,
            confirm: confirm.then_some(ctx.timing.submission_grace),
        });
        self.phase = Phase::TearingDown {
            job,
            then,
            confirm,
            deadline: after(ctx.now, ctx.timing.teardown_deadline),
            retry_at: None,
            failures: 0,
        };
    }

    pub(super) fn react_tearing_down(&mut self, ctx: &mut Ctx<'_>, input: Input, out: &mut Out) {
        let Phase::TearingDown {
            job,
            then,
            confirm,
            deadline,
            failures,
            ..
        } = self.phase.clone()
        else {
            return;
        };
        match input {
            Input::TornDown { .. } => self.torn_down(ctx, job, then, out),
            Input::TearDownFailed { reason, .. } => {
                let failures = failures + 1;
                // Doubling waits, from retry_interval up to poll_interval_max.
                let wait = ctx
                    .timing
                    .retry_interval
                    .saturating_mul(1u32 << (failures - 1).min(16))
                    .min(ctx.timing.poll_interval_max.max(ctx.timing.retry_interval));
                if failures == 1 {
                    out.warn(
                        EventName::ClusterTeardownFailed,
                        Some(job),
                        format!("removing the cluster failed ({reason}); trying again"),
                    );
                }
                self.phase = Phase::TearingDown {
                    job,
                    then,
                    confirm,
                    deadline,
                    retry_at: Some(after(ctx.now, wait)),
                    failures,
                };
            }
            _ => {}
        }
    }

    fn torn_down(&mut self, ctx: &mut Ctx<'_>, job: Uuid, then: After, out: &mut Out) {
        out.info(
            EventName::ClusterTornDown,
            Some(job),
            "the job's cluster is gone".into(),
        );
        self.phase = Phase::Idle;
        match then {
            After::Suspended => {
                self.status = DeploymentState::Suspended;
                self.release_cores(out);
                self.reset_limits();
                let location = ctx
                    .records
                    .savepoints
                    .iter()
                    .filter(|s| {
                        s.metadata.job_id == Some(job)
                            && s.origin == SavepointOrigin::Suspend
                            && s.state == SavepointState::Completed
                    })
                    .max_by_key(|s| s.metadata.modified_at)
                    .and_then(|s| s.location.clone())
                    .unwrap_or_default();
                out.info(
                    EventName::DeploymentSuspended,
                    Some(job),
                    format!("the Deployment is SUSPENDED with savepoint {location}"),
                );
            }
            After::Cancelled => {
                self.status = DeploymentState::Cancelled;
                self.release_cores(out);
                self.reset_limits();
                out.info(
                    EventName::DeploymentCancelled,
                    None,
                    "the Deployment is CANCELLED".into(),
                );
            }
            After::Failed { hold } => {
                self.status = DeploymentState::Failed;
                self.held_for_spec = Some(hold);
                self.release_cores(out);
            }
            After::Finished { hold } => {
                self.status = DeploymentState::Finished;
                self.held_for_spec = Some(hold);
                self.release_cores(out);
                out.info(
                    EventName::DeploymentFinished,
                    None,
                    "the job finished; the Deployment is FINISHED".into(),
                );
            }
            After::Settle { recover } => {
                self.status = DeploymentState::Transitioning;
                if self.held_for_spec.is_none() {
                    self.settle_idle(ctx, recover, out);
                }
            }
        }
    }

    /// The teardown under way, asked for again (a retry, or after a restart).
    pub(super) fn tear_down_again(&mut self, ctx: &Ctx<'_>, out: &mut Out) {
        if let Phase::TearingDown {
            job,
            confirm,
            retry_at,
            ..
        } = &mut self.phase
        {
            *retry_at = None;
            out.push(Action::TearDown {
                job: *job,
                confirm: confirm.then_some(ctx.timing.submission_grace),
            });
        }
    }

    /// Retries and deadlines of the ending phases.
    pub(super) fn ending_due(&mut self, ctx: &mut Ctx<'_>, out: &mut Out) {
        match self.phase.clone() {
            Phase::Cancelling {
                job,
                then,
                deadline,
                ..
            } if ctx.now >= deadline => {
                out.warn(
                    EventName::CancellationDeadlineExceeded,
                    Some(job.id),
                    format!(
                        "cancellation did not complete within {} (timing.cancel_deadline); tearing the cluster down",
                        span(ctx.timing.cancel_deadline)
                    ),
                );
                out.record_job(
                    job.id,
                    JobState::Terminated,
                    failure(
                        "CANCELLATION_DEADLINE_EXCEEDED",
                        "cancellation took too long",
                    ),
                );
                self.tear_down(ctx, job.id, then, false, out);
            }
            Phase::Cancelling {
                job,
                failures,
                then,
                deadline,
                retry_at: Some(at),
            } if ctx.now >= at => {
                out.push(Action::Cancel { job: job.id });
                self.phase = Phase::Cancelling {
                    job,
                    failures,
                    then,
                    deadline,
                    retry_at: None,
                };
            }
            Phase::TearingDown {
                job,
                deadline,
                retry_at,
                ..
            } => {
                if ctx.now >= deadline && self.status != DeploymentState::Failed {
                    self.status = DeploymentState::Failed;
                    out.error(
                        EventName::ClusterTeardownFailed,
                        Some(job),
                        format!(
                            "the job's cluster could not be removed within {} (timing.teardown_deadline); the Deployment is FAILED while flinkd keeps trying, and no new job starts until it is gone",
                            span(ctx.timing.teardown_deadline)
                        ),
                    );
                }
                if retry_at.is_some_and(|at| ctx.now >= at) {
                    self.tear_down_again(ctx, out);
                }
            }
            _ => {}
        }
    }
}
