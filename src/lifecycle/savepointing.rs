//! A savepoint before the job ends: a suspension, or a STATEFUL upgrade (reference
//! page, "Transitions to SUSPENDED").
//!
//! Flink 1.9 and later stop with a savepoint (Job FINISHED); 1.8 and earlier take a
//! savepoint, then cancel only once it completed (Job TERMINATED). The way follows the
//! running job's Flink version, not the new spec's. Each failed attempt counts against
//! `maxSavepointCreationAttempts`; at the limit the Deployment is FAILED with its job
//! still running, held until the spec it was attempted with changes.
//!
//! No completed savepoint is lost: an attempt past its deadline stays watched, and if
//! it completes late (after a re-sent stop, after its job is gone, while the daemon was
//! down) it is recorded COMPLETED with its location, ends the operation if the
//! operation is still under way, and is a restore point for the next start. A retry
//! happens only while the latest spec still wants what the attempt was for; a change
//! made meanwhile (say `state: cancelled`) is acted on instead.

use super::*;
use crate::spec::UpgradeStrategyKind;

impl Lifecycle {
    /// A new Savepoint record (STARTED), written ahead with the trigger id Flink will
    /// be given when the job's Flink takes one.
    pub(super) fn new_savepoint(
        &mut self,
        ctx: &mut Ctx<'_>,
        job: &JobRef,
        origin: SavepointOrigin,
        out: &mut Out,
    ) -> (Uuid, Option<String>) {
        let savepoint = ctx.ids.next_id();
        let trigger_id = job.api.trigger_ids.then(|| savepoint.simple().to_string());
        out.push(Action::RecordSavepoint {
            savepoint,
            job: job.id,
            origin,
            state: SavepointState::Started,
            location: None,
            trigger_id: trigger_id.clone(),
            failure: None,
            completed_at: None,
        });
        (savepoint, trigger_id)
    }

    /// Takes a savepoint before the job ends. `earlier`: attempts of the same operation
    /// that may still complete.
    pub(super) fn begin_savepoint(
        &mut self,
        ctx: &mut Ctx<'_>,
        job: JobRef,
        origin: SavepointOrigin,
        earlier: Vec<Uuid>,
        out: &mut Out,
    ) {
        let first = earlier.is_empty() && !matches!(self.phase, Phase::Savepointing { .. });
        if first && self.savepoint_series != Some(origin) {
            // A new operation: its attempts count afresh.
            self.savepoint_failures = 0;
        }
        self.savepoint_series = Some(origin);
        let name = if origin == SavepointOrigin::SuspendAndUpgrade {
            EventName::CreatingASavepointBeforeUpgrade
        } else {
            EventName::CreatingASavepointBeforeSuspension
        };
        let how = if job.api.graceful_stop {
            "stopping the job with a savepoint"
        } else {
            "taking a savepoint, then cancelling the job"
        };
        out.info(
            name,
            Some(job.id),
            format!(
                "{how} (attempt {} of {})",
                self.savepoint_failures + 1,
                ctx.policy.max_savepoint_creation_attempts
            ),
        );
        let (savepoint, trigger_id) = self.new_savepoint(ctx, &job, origin, out);
        out.push(if job.api.graceful_stop {
            Action::StopWithSavepoint {
                job: job.id,
                savepoint,
                trigger_id,
            }
        } else {
            Action::TriggerSavepoint {
                job: job.id,
                savepoint,
                trigger_id,
            }
        });
        self.status = DeploymentState::Transitioning;
        self.phase = Phase::Savepointing {
            job,
            savepoint,
            origin,
            hold: ctx.policy.hold_key.clone(),
            earlier,
            deadline: after(ctx.now, ctx.timing.savepoint_timeout),
            retry_at: None,
        };
    }

    /// A savepoint completed: the limit's counter resets, the record and the event say
    /// where it is.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn savepoint_completed(
        &mut self,
        ctx: &Ctx<'_>,
        job: Uuid,
        savepoint: Uuid,
        origin: SavepointOrigin,
        location: &str,
        late: bool,
        out: &mut Out,
    ) {
        self.savepoint_failures = 0;
        self.savepoint_series = None;
        out.push(Action::RecordSavepoint {
            savepoint,
            job,
            origin,
            state: SavepointState::Completed,
            location: Some(location.to_string()),
            trigger_id: None,
            failure: None,
            completed_at: Some(ctx.now),
        });
        let when = if late {
            " (late: after its deadline)"
        } else {
            ""
        };
        out.info(
            EventName::SavepointCompleted,
            Some(job),
            format!("savepoint completed at {location}{when}"),
        );
    }

    /// A savepoint given up without an answer from Flink (its job ended, a newer
    /// attempt completed): FAILED on record, until a late completion says otherwise.
    pub(super) fn savepoint_abandoned(
        &self,
        job: Uuid,
        savepoint: Uuid,
        origin: SavepointOrigin,
        reason: &str,
        message: &str,
        out: &mut Out,
    ) {
        out.push(Action::RecordSavepoint {
            savepoint,
            job,
            origin,
            state: SavepointState::Failed,
            location: None,
            trigger_id: None,
            failure: failure(reason, message),
            completed_at: None,
        });
    }

    /// Counts a failed savepoint; at the limit the Deployment is FAILED, held for
    /// `hold`, its job still running. Whether the limit was reached.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn count_savepoint_failure(
        &mut self,
        ctx: &Ctx<'_>,
        job: Uuid,
        savepoint: Uuid,
        origin: SavepointOrigin,
        reason: &str,
        hold: String,
        out: &mut Out,
    ) -> bool {
        self.savepoint_failures += 1;
        let n = self.savepoint_failures;
        let max = ctx.policy.max_savepoint_creation_attempts;
        self.savepoint_abandoned(job, savepoint, origin, "SAVEPOINT_FAILED", reason, out);
        out.warn(
            EventName::SavepointFailed,
            Some(job),
            format!("savepoint attempt {n} of {max} failed: {reason}"),
        );
        if n < max {
            return false;
        }
        self.status = DeploymentState::Failed;
        self.held_for_spec = Some(hold);
        out.error(
            EventName::TooManyFailedSavepointCreationAttempts,
            Some(job),
            format!(
                "{n} savepoint attempts failed (maxSavepointCreationAttempts {max}); the job is still running; change the spec (e.g. state: cancelled) to go on"
            ),
        );
        true
    }

    /// Whether the latest policy still wants the savepoint `origin` is for.
    fn still_wanted(&self, ctx: &Ctx<'_>, job: &JobRef, origin: SavepointOrigin) -> bool {
        let p = ctx.policy;
        match origin {
            SavepointOrigin::Suspend => p.desired == DesiredState::Suspended,
            SavepointOrigin::SuspendAndUpgrade => {
                p.desired == DesiredState::Running
                    && p.upgrade == UpgradeStrategyKind::Stateful
                    && job.upgrade_key != p.upgrade_key
                    && self.cores_held + CORES_EPSILON >= p.cores
            }
            _ => false,
        }
    }

    pub(super) fn react_savepointing(&mut self, ctx: &mut Ctx<'_>, input: Input, out: &mut Out) {
        let Phase::Savepointing {
            job,
            savepoint,
            origin,
            hold,
            earlier,
            retry_at,
            ..
        } = self.phase.clone()
        else {
            return;
        };
        // Between attempts, the failed one has nothing more to say.
        let current = retry_at.is_none();
        match input {
            Input::SavepointCompleted {
                savepoint: sp,
                location,
                ..
            } if sp == savepoint || earlier.contains(&sp) => {
                self.savepoint_completed(ctx, job.id, sp, origin, &location, sp != savepoint, out);
                // The other attempts are given up (recorded FAILED; a late completion
                // of one still makes it COMPLETED).
                for other in earlier.iter().chain([&savepoint]).filter(|o| **o != sp) {
                    let why = format!("superseded by savepoint {sp}");
                    self.savepoint_abandoned(job.id, *other, origin, "SUPERSEDED", &why, out);
                }
                self.stopped_with_savepoint(ctx, job, origin, out);
            }
            Input::SavepointFailed {
                savepoint: sp,
                reason,
                ..
            } if sp == savepoint && current => {
                self.savepoint_attempt_failed(ctx, reason, false, out)
            }
            Input::SavepointLost {
                savepoint: sp,
                latest,
                ..
            } if sp == savepoint || earlier.contains(&sp) => {
                match self.lost_savepoint_found(ctx, sp, latest) {
                    Some(location) => self.react_savepointing(
                        ctx,
                        Input::SavepointCompleted {
                            job: job.id,
                            savepoint: sp,
                            location,
                        },
                        out,
                    ),
                    None if sp == savepoint && current => self.savepoint_attempt_failed(
                        ctx,
                        "Flink no longer knows the savepoint request".into(),
                        false,
                        out,
                    ),
                    None => {}
                }
            }
            Input::JobEnded { end, reason, .. } => {
                // No savepoint of this operation completed before the job ended (the
                // executor reports outstanding savepoints before the end).
                for sp in earlier.iter().chain([&savepoint]) {
                    self.savepoint_abandoned(job.id, *sp, origin, "JOB_ENDED", &reason, out);
                }
                if end == FlinkEnd::Finished {
                    // Flink says the job finished: so is the Deployment.
                    self.finished(ctx, job.id, out);
                } else {
                    self.lost_during_savepoint(ctx, job, origin, hold, reason, out);
                }
            }
            Input::ClusterLost { reason, .. } => {
                for sp in earlier.iter().chain([&savepoint]) {
                    self.savepoint_abandoned(job.id, *sp, origin, "CLUSTER_LOST", &reason, out);
                }
                self.lost_during_savepoint(ctx, job, origin, hold, reason, out);
            }
            _ => {}
        }
    }

    /// The savepoint completed: the job has stopped (1.9+) or is now cancelled (1.8).
    fn stopped_with_savepoint(
        &mut self,
        ctx: &mut Ctx<'_>,
        job: JobRef,
        origin: SavepointOrigin,
        out: &mut Out,
    ) {
        let then = if origin == SavepointOrigin::SuspendAndUpgrade {
            After::Settle { recover: None }
        } else {
            After::Suspended
        };
        if job.api.graceful_stop {
            // Stop with savepoint ends the job FINISHED.
            out.record_job(job.id, JobState::Finished, None);
            self.tear_down(ctx, job.id, then, false, out);
        } else {
            // 1.8 and earlier: the savepoint completed, now cancel.
            self.begin_cancel(ctx, job, then, out);
        }
    }

    /// The job died while its savepoint was taken: there is no savepoint. A suspension
    /// ends FAILED (SUSPENDED means a savepoint was taken), held for the spec it was
    /// attempted with; an upgrade goes on with a new job per the restore strategy.
    fn lost_during_savepoint(
        &mut self,
        ctx: &mut Ctx<'_>,
        job: JobRef,
        origin: SavepointOrigin,
        hold: String,
        reason: String,
        out: &mut Out,
    ) {
        out.record_job(
            job.id,
            JobState::Failed,
            failure("JOB_FAILED", reason.clone()),
        );
        if origin == SavepointOrigin::SuspendAndUpgrade {
            out.error(
                EventName::JobFailed,
                Some(job.id),
                format!("the job failed during its upgrade savepoint: {reason}; starting the upgraded job per the restore strategy"),
            );
            self.tear_down(ctx, job.id, After::Settle { recover: None }, false, out);
        } else {
            out.error(
                EventName::JobFailed,
                Some(job.id),
                format!("the job failed before its suspension savepoint completed: {reason}; the Deployment is FAILED, with no savepoint of this suspension (change the spec to go on)"),
            );
            self.tear_down(ctx, job.id, After::Failed { hold }, false, out);
        }
    }

    /// The current attempt failed (or passed its deadline, `timed_out`: it is watched
    /// still, and a late completion ends the operation).
    fn savepoint_attempt_failed(
        &mut self,
        ctx: &mut Ctx<'_>,
        reason: String,
        timed_out: bool,
        out: &mut Out,
    ) {
        let Phase::Savepointing {
            job,
            savepoint,
            origin,
            hold,
            mut earlier,
            deadline,
            ..
        } = self.phase.clone()
        else {
            return;
        };
        // Flink refused to begin: its tasks are not all running (it restarts the job, a
        // TaskManager is being replaced). No savepoint was attempted, so none counts;
        // asked again after the longest poll interval, until the job is back or ends.
        if !timed_out && job_restarting(&reason) {
            self.savepoint_abandoned(job.id, savepoint, origin, "SAVEPOINT_REFUSED", &reason, out);
            let wait = ctx.timing.poll_interval_max.max(ctx.timing.retry_interval);
            out.warn(
                EventName::SavepointFailed,
                Some(job.id),
                format!(
                    "Flink refused the savepoint while the job is not running all its tasks; asked again in {} (not counted as an attempt): {reason}",
                    span(wait)
                ),
            );
            self.phase = Phase::Savepointing {
                job,
                savepoint,
                origin,
                hold,
                earlier,
                deadline,
                retry_at: Some(after(ctx.now, wait)),
            };
            return;
        }
        let exhausted = self.count_savepoint_failure(
            ctx,
            job.id,
            savepoint,
            origin,
            &reason,
            hold.clone(),
            out,
        );
        if timed_out {
            earlier.push(savepoint);
        }
        // Past its deadline, it waited long enough: the next attempt follows at once; so
        // does what the spec wants instead, if it changed.
        if timed_out || exhausted || !self.still_wanted(ctx, &job, origin) {
            self.next_savepoint_attempt(ctx, job, origin, earlier, exhausted, out);
            return;
        }
        // A refusal (say, the job is restarting): the next attempt after a wait that
        // doubles with each failure.
        let wait = ctx
            .timing
            .retry_interval
            .saturating_mul(1u32 << self.savepoint_failures.saturating_sub(1).min(16))
            .min(ctx.timing.poll_interval_max.max(ctx.timing.retry_interval));
        self.phase = Phase::Savepointing {
            job,
            savepoint,
            origin,
            hold,
            earlier,
            deadline,
            retry_at: Some(after(ctx.now, wait)),
        };
    }

    /// Between attempts: the next one once the wait is over, or what the spec wants
    /// instead as soon as it changed.
    pub(super) fn savepoint_retry_due(&mut self, ctx: &mut Ctx<'_>, out: &mut Out) {
        if let Phase::Savepointing {
            job,
            origin,
            earlier,
            retry_at: Some(at),
            ..
        } = self.phase.clone()
        {
            if ctx.now >= at || !self.still_wanted(ctx, &job, origin) {
                self.next_savepoint_attempt(ctx, job, origin, earlier, false, out);
            }
        }
    }

    /// Another attempt while the latest spec still wants it; else the job keeps
    /// running: FAILED at the limit, or the spec wants something else now (settle acts
    /// on it).
    fn next_savepoint_attempt(
        &mut self,
        ctx: &mut Ctx<'_>,
        job: JobRef,
        origin: SavepointOrigin,
        earlier: Vec<Uuid>,
        exhausted: bool,
        out: &mut Out,
    ) {
        if !exhausted && self.still_wanted(ctx, &job, origin) {
            // Again, within the same operation.
            self.begin_savepoint(ctx, job, origin, earlier, out);
            return;
        }
        if !exhausted {
            self.savepoint_failures = 0;
            self.savepoint_series = None;
            self.status = DeploymentState::Running;
        }
        self.phase = Phase::Running { job, quota: None };
    }

    pub(super) fn savepoint_deadline(&mut self, ctx: &mut Ctx<'_>, out: &mut Out) {
        let reason = format!(
            "the savepoint did not complete within {} (timing.savepoint_timeout); it is still watched, and a late completion is recorded",
            span(ctx.timing.savepoint_timeout)
        );
        self.savepoint_attempt_failed(ctx, reason, true, out);
    }

    /// A savepoint Flink completed, reported outside the operation that asked for it
    /// (late, or after its job is gone): recorded COMPLETED. Whether it was handled.
    pub(super) fn late_savepoint(
        &mut self,
        ctx: &Ctx<'_>,
        savepoint: Uuid,
        location: &str,
        out: &mut Out,
    ) -> bool {
        let in_operation = match &self.phase {
            Phase::Savepointing {
                savepoint: current,
                earlier,
                ..
            } => *current == savepoint || earlier.contains(&savepoint),
            Phase::UserSavepointing {
                savepoint: current, ..
            } => *current == savepoint,
            _ => false,
        };
        if in_operation {
            return false;
        }
        let Some(s) = ctx.records.savepoint(savepoint) else {
            return true;
        };
        if s.state == SavepointState::Completed {
            return true;
        }
        out.push(Action::RecordSavepoint {
            savepoint,
            job: s.metadata.job_id.unwrap_or_default(),
            origin: s.origin,
            state: SavepointState::Completed,
            location: Some(location.to_string()),
            trigger_id: None,
            failure: None,
            completed_at: Some(ctx.now),
        });
        out.info(
            EventName::SavepointCompleted,
            s.metadata.job_id,
            format!("savepoint completed late at {location}; it is kept as a restore point"),
        );
        true
    }

    /// Whether the newest savepoint Flink's history has for the job is the one Flink
    /// forgot the request of: one taken after the request was written.
    pub(super) fn lost_savepoint_found(
        &self,
        ctx: &Ctx<'_>,
        savepoint: Uuid,
        latest: Option<CheckpointSeen>,
    ) -> Option<String> {
        let asked = ctx.records.savepoint(savepoint)?.metadata.created_at;
        latest
            .filter(|l| l.completed_at >= asked)
            .map(|l| l.location)
    }
}

/// Whether Flink refused a savepoint because the job is not running all its tasks (it
/// is restarting, or waits for a TaskManager): nothing was attempted.
pub fn job_restarting(reason: &str) -> bool {
    [
        "Not all required tasks are currently running",
        "is not being executed at the moment",
        "FailoverRegion is restarting",
    ]
    .iter()
    .any(|m| reason.contains(m))
}
