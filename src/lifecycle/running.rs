//! A running job: what a spec change does to it, savepoints on request, its
//! conditions and retained checkpoints, and its loss.
//!
//! - Upgrades (reference page, "Upgrades"): a running job whose template differs is
//!   upgraded per `upgradeStrategy`. A new template that needs more cores than the job
//!   holds asks the quota first, and the job keeps running until the cores are granted:
//!   the quota never stops a running Deployment.
//! - A job that fails for good after it ran, or whose cluster is gone, is recovered
//!   with a new Job per the restore strategy; it does not count against
//!   `maxJobCreationAttempts`, which is reset once a job runs ("Limits and Apache
//!   Flink's RestartStrategies").
//! - Conditions are a pure function of the polls ([`crate::conditions`]); they belong
//!   to the job and are kept with the lifecycle, so a restarted daemon does not announce
//!   them again. JobFailing (3 restarts in 10 minutes) implies JobUnstable (3 in 60
//!   minutes) with the reference page's windows; its note that "JobUnstable currently
//!   implies JobFailing" cannot hold with those windows and is read as inverted.
//! - A retained checkpoint is a restore point while its job runs as it should, ordered
//!   by Flink's completion time; one record per job, kept current.

use super::*;
use crate::conditions::{self, Thresholds};
use crate::spec::{ConditionStatus, ConditionType, UpgradeStrategyKind};

impl Lifecycle {
    /// At rest with a running job: act on the desired state and on upgrades.
    pub(super) fn settle_running(
        &mut self,
        ctx: &mut Ctx<'_>,
        job: JobRef,
        quota: Option<QuotaWait>,
        out: &mut Out,
    ) {
        let policy = ctx.policy;
        if self.status == DeploymentState::Failed {
            // Left running by a failed transition, now released: act on the spec.
            self.status = DeploymentState::Running;
        }
        let upgrade = policy.desired == DesiredState::Running
            && job.upgrade_key != policy.upgrade_key
            && policy.upgrade != UpgradeStrategyKind::None;
        self.keep_warm_for(ctx, upgrade, out);
        let needs_cores = policy.cores > self.cores_free() + CORES_EPSILON;
        let mut quota = quota;
        if let Some(wait) = &quota {
            if !upgrade || !needs_cores {
                // The upgrade it waited for is not wanted any more, or fits what is
                // held after an edit.
                self.abandon_wait(wait, out);
                self.phase = Phase::Running {
                    job: job.clone(),
                    quota: None,
                };
                quota = None;
            }
        }
        match policy.desired {
            DesiredState::Cancelled => {
                out.info(
                    EventName::CancellingJob,
                    Some(job.id),
                    "cancelling the job".into(),
                );
                self.begin_cancel(ctx, job, After::Cancelled, out);
            }
            DesiredState::Suspended => {
                self.begin_savepoint(ctx, job, SavepointOrigin::Suspend, Vec::new(), out)
            }
            DesiredState::Running if upgrade => {
                // The fast way: the new cluster first, while the job runs on.
                if policy.upgrade == UpgradeStrategyKind::Stateful
                    && quota.is_none()
                    && self.warm_upgrade(ctx, &job, out)
                {
                    return;
                }
                if needs_cores {
                    // More cores first; the job runs on meanwhile. After a refusal the
                    // next look (a Wake when cores are freed) asks again.
                    if quota.is_none() {
                        let request = self.request(policy.cores, out);
                        self.phase = Phase::Running {
                            job,
                            quota: Some(QuotaWait {
                                request: Some(request),
                                denied: false,
                            }),
                        };
                    }
                    return;
                }
                self.upgrade_stopped_at = Some(ctx.now);
                match policy.upgrade {
                    UpgradeStrategyKind::Stateful => self.begin_savepoint(
                        ctx,
                        job,
                        SavepointOrigin::SuspendAndUpgrade,
                        Vec::new(),
                        out,
                    ),
                    _ => {
                        out.info(
                            EventName::CancellingJobForUpgrade,
                            Some(job.id),
                            "the template changed; cancelling the job to upgrade it (STATELESS)"
                                .into(),
                        );
                        self.begin_cancel(ctx, job, After::Settle { recover: None }, out);
                    }
                }
            }
            DesiredState::Running => {}
        }
    }

    /// A look while an upgrade waits for cores: ask again after a refusal.
    pub(super) fn upgrade_waiting(&mut self, ctx: &mut Ctx<'_>, out: &mut Out) {
        if ctx.policy.cores <= self.cores_free() + CORES_EPSILON {
            // Settle goes on with what is held, or gives the wait up.
            return;
        }
        if let Phase::Running {
            job,
            quota:
                Some(QuotaWait {
                    request: None,
                    denied,
                }),
        } = self.phase.clone()
        {
            let request = self.request(ctx.policy.cores, out);
            self.phase = Phase::Running {
                job,
                quota: Some(QuotaWait {
                    request: Some(request),
                    denied,
                }),
            };
        }
    }

    pub(super) fn react_running(
        &mut self,
        ctx: &mut Ctx<'_>,
        job: JobRef,
        input: Input,
        out: &mut Out,
    ) {
        match input {
            Input::JobEnded {
                end: FlinkEnd::Finished,
                ..
            } => self.finished(ctx, job.id, out),
            Input::JobEnded { reason, .. } | Input::ClusterLost { reason, .. } => {
                self.job_lost(ctx, job, reason, out)
            }
            Input::UserSavepoint if self.takes_user_savepoints() => {
                self.savepoint_while_running(ctx, job, SavepointOrigin::UserRequest, out)
            }
            _ => {}
        }
    }

    /// A savepoint of the running job, on request or on schedule: the job runs on.
    /// Each origin is a series of its own against maxSavepointCreationAttempts.
    pub(super) fn savepoint_while_running(
        &mut self,
        ctx: &mut Ctx<'_>,
        job: JobRef,
        origin: SavepointOrigin,
        out: &mut Out,
    ) {
        if self.savepoint_series != Some(origin) {
            self.savepoint_failures = 0;
            self.savepoint_series = Some(origin);
        }
        let why = match origin {
            SavepointOrigin::Periodic => "on schedule (savepointInterval)",
            _ => "on request",
        };
        out.info(
            EventName::CreatingASavepoint,
            Some(job.id),
            format!(
                "taking a savepoint {why} (attempt {} of {})",
                self.savepoint_failures + 1,
                ctx.policy.max_savepoint_creation_attempts
            ),
        );
        let (savepoint, trigger_id) = self.new_savepoint(ctx, &job, origin, out);
        out.push(Action::TriggerSavepoint {
            job: job.id,
            savepoint,
            trigger_id,
        });
        self.phase = Phase::UserSavepointing {
            job,
            savepoint,
            deadline: after(ctx.now, ctx.timing.savepoint_timeout),
        };
    }

    /// When the next periodic savepoint is due: one interval after the newest of the
    /// job's start and the Deployment's latest savepoint of any origin (so one taken
    /// on request, for a suspension or while flinkd was down moves the schedule, and a
    /// restart brings no burst of catch-up savepoints).
    pub(super) fn periodic_due(&self, policy: &Policy, records: &Records) -> Option<Timestamp> {
        let interval = policy.savepoint_interval?;
        let since = self.running_since?;
        let latest = records
            .savepoints
            .iter()
            .filter(|s| s.origin != SavepointOrigin::RetainedCheckpoint)
            .map(|s| s.metadata.created_at)
            .max();
        Some(after(latest.map_or(since, |l| l.max(since)), interval))
    }

    /// The periodic savepoint, if it is due and nothing else is under way (skipped, not
    /// queued, meanwhile).
    pub(super) fn periodic_savepoint(&mut self, ctx: &mut Ctx<'_>, out: &mut Out) {
        let Phase::Running { job, quota: None } = self.phase.clone() else {
            return;
        };
        let due = self
            .periodic_due(ctx.policy, ctx.records)
            .is_some_and(|at| ctx.now >= at);
        if due && self.takes_periodic_savepoints() {
            self.savepoint_while_running(ctx, job, SavepointOrigin::Periodic, out);
        }
    }

    /// The origin of the savepoint taken while the job runs.
    fn running_origin(ctx: &Ctx<'_>, savepoint: Uuid) -> SavepointOrigin {
        ctx.records
            .savepoint(savepoint)
            .map_or(SavepointOrigin::UserRequest, |s| s.origin)
    }

    pub(super) fn react_user_savepointing(
        &mut self,
        ctx: &mut Ctx<'_>,
        job: JobRef,
        savepoint: Uuid,
        input: Input,
        out: &mut Out,
    ) {
        match input {
            Input::SavepointCompleted {
                savepoint: sp,
                location,
                ..
            } if sp == savepoint => self.user_savepoint_completed(ctx, job, sp, &location, out),
            Input::SavepointFailed {
                savepoint: sp,
                reason,
                ..
            } if sp == savepoint => self.user_savepoint_failed(ctx, job, sp, reason, out),
            Input::SavepointLost {
                savepoint: sp,
                latest,
                ..
            } if sp == savepoint => match self.lost_savepoint_found(ctx, sp, latest) {
                Some(location) => self.user_savepoint_completed(ctx, job, sp, &location, out),
                None => self.user_savepoint_failed(
                    ctx,
                    job,
                    sp,
                    "Flink no longer knows the savepoint request".into(),
                    out,
                ),
            },
            Input::JobEnded { end, reason, .. } => {
                self.savepoint_abandoned(
                    job.id,
                    savepoint,
                    Self::running_origin(ctx, savepoint),
                    "JOB_ENDED",
                    &reason,
                    out,
                );
                if end == FlinkEnd::Finished {
                    self.finished(ctx, job.id, out);
                } else {
                    self.job_lost(ctx, job, reason, out);
                }
            }
            Input::ClusterLost { reason, .. } => {
                self.savepoint_abandoned(
                    job.id,
                    savepoint,
                    Self::running_origin(ctx, savepoint),
                    "CLUSTER_LOST",
                    &reason,
                    out,
                );
                self.job_lost(ctx, job, reason, out);
            }
            _ => {}
        }
    }

    /// A savepoint on request completed: the job runs on, with nothing else under way.
    fn user_savepoint_completed(
        &mut self,
        ctx: &Ctx<'_>,
        job: JobRef,
        savepoint: Uuid,
        location: &str,
        out: &mut Out,
    ) {
        let origin = Self::running_origin(ctx, savepoint);
        self.savepoint_completed(ctx, job.id, savepoint, origin, location, false, out);
        self.phase = Phase::Running { job, quota: None };
    }

    /// A savepoint on request failed: the job runs on, the failure counts, and at the
    /// limit the Deployment is FAILED (with its job still running).
    pub(super) fn user_savepoint_failed(
        &mut self,
        ctx: &mut Ctx<'_>,
        job: JobRef,
        savepoint: Uuid,
        reason: String,
        out: &mut Out,
    ) {
        let origin = Self::running_origin(ctx, savepoint);
        let job_id = job.id;
        self.phase = Phase::Running { job, quota: None };
        // Refused while the job is not running all its tasks: nothing was attempted.
        if super::savepointing::job_restarting(&reason) {
            self.savepoint_abandoned(job_id, savepoint, origin, "SAVEPOINT_REFUSED", &reason, out);
            out.warn(
                EventName::SavepointFailed,
                Some(job_id),
                format!("Flink refused the savepoint while the job is not running all its tasks (not counted as an attempt; ask again once it runs): {reason}"),
            );
            return;
        }
        let hold = ctx.policy.hold_key.clone();
        self.count_savepoint_failure(ctx, job_id, savepoint, origin, &reason, hold, out);
    }

    /// A running job failed for good, or its cluster is gone: a new Job per the restore
    /// strategy. Not a failed creation; a FAILED Deployment stays FAILED.
    pub(super) fn job_lost(
        &mut self,
        ctx: &mut Ctx<'_>,
        job: JobRef,
        reason: String,
        out: &mut Out,
    ) {
        out.record_job(
            job.id,
            JobState::Failed,
            failure("JOB_FAILED", reason.clone()),
        );
        if let (DeploymentState::Failed, Some(hold)) = (self.status, self.held_for_spec.clone()) {
            out.error(
                EventName::JobFailed,
                Some(job.id),
                format!(
                    "the job failed: {reason}; the Deployment stays FAILED until its spec changes"
                ),
            );
            self.tear_down(ctx, job.id, After::Failed { hold }, false, out);
            return;
        }
        out.error(
            EventName::JobFailed,
            Some(job.id),
            format!("the job failed: {reason}; starting a new one per the restore strategy"),
        );
        self.tear_down(
            ctx,
            job.id,
            After::Settle {
                recover: Some(Recover { job }),
            },
            false,
            out,
        );
    }

    /// A look at the pods of the job's Kubernetes cluster, while it starts or runs: the
    /// ClusterPodsFailing condition, and a warning when a trouble begins or its reason
    /// changes (not at every look: a crash loop is one event, not one a poll).
    pub(super) fn pods_observed(
        &mut self,
        ctx: &mut Ctx<'_>,
        job: Uuid,
        trouble: Option<PodTrouble>,
        out: &mut Out,
    ) {
        let to_run = matches!(
            self.phase,
            Phase::Starting { .. }
                | Phase::Running { .. }
                | Phase::UserSavepointing { .. }
                | Phase::Savepointing { .. }
        );
        if !to_run {
            return;
        }
        let was = self.pod_trouble().map(|c| c.reason.clone());
        let (next, changed) = conditions::pods(&self.conditions, trouble.as_ref(), ctx.now);
        if !changed {
            return;
        }
        if let Some(t) = &trouble {
            if was.as_deref() != Some(t.reason.as_str()) {
                out.warn(
                    EventName::ClusterPodsFailing,
                    Some(job),
                    format!("{}: {}", t.reason, t.message),
                );
            }
        }
        self.conditions = next;
    }

    /// The ClusterPodsFailing condition while it is True.
    pub(super) fn pod_trouble(&self) -> Option<&crate::spec::Condition> {
        self.conditions.iter().find(|c| {
            c.kind == ConditionType::ClusterPodsFailing && c.status == ConditionStatus::True
        })
    }

    /// A poll of the job: its conditions, and its newest retained checkpoint.
    pub(super) fn observed(
        &mut self,
        ctx: &mut Ctx<'_>,
        job: Uuid,
        observation: Observation,
        checkpoint: Option<CheckpointSeen>,
        out: &mut Out,
    ) {
        let runs = self.phase.running_job().is_some();
        if runs && self.status == DeploymentState::Running {
            let t = ctx.timing;
            let thresholds = Thresholds {
                failing_window: t.restart_window_failing,
                unstable_window: t.restart_window_unstable,
                threshold: t.restart_threshold,
            };
            let (next, changed) =
                conditions::evaluate(&self.conditions, &observation, ctx.now, &thresholds);
            if changed {
                for c in &next {
                    let was_true = self
                        .conditions
                        .iter()
                        .any(|p| p.kind == c.kind && p.status == ConditionStatus::True);
                    if c.status == ConditionStatus::True && !was_true {
                        let name = match c.kind {
                            ConditionType::ClusterUnreachable => EventName::ClusterUnreachable,
                            ConditionType::JobFailing => EventName::JobFailing,
                            ConditionType::JobUnstable => EventName::JobUnstable,
                            ConditionType::ClusterPodsFailing => EventName::ClusterPodsFailing,
                        };
                        out.warn(name, Some(job), format!("{}: {}", c.kind, c.message));
                    }
                }
                self.conditions = next;
            }
        }
        // A restore point only while the job runs as it should, or is being cancelled
        // (a STATELESS upgrade restores from it): a poll answered during a stop with a
        // savepoint must not make a checkpoint older than that savepoint the newest.
        let counts = runs || matches!(self.phase, Phase::Cancelling { .. });
        if let (true, Some(c)) = (counts, checkpoint) {
            self.checkpoint_seen(ctx, job, c, out);
        }
        if let Some((lost, of)) = observation.task_managers_lost {
            self.task_managers_lost(ctx, job, lost, of, out);
        }
    }

    /// TaskManagers of the job's own cluster that died are started again while the job
    /// is to run (Flink restarts it on them from its latest checkpoint), at most once
    /// per `timing.task_manager_replace_interval`; not while it is being ended.
    fn task_managers_lost(
        &mut self,
        ctx: &mut Ctx<'_>,
        job: Uuid,
        lost: u32,
        of: u32,
        out: &mut Out,
    ) {
        let to_run = matches!(
            self.phase,
            Phase::Starting { .. }
                | Phase::Running { .. }
                | Phase::UserSavepointing { .. }
                | Phase::Savepointing { .. }
        );
        let recently = self.task_managers_replaced.as_ref().is_some_and(|r| {
            r.job == job && ctx.now < after(r.at, ctx.timing.task_manager_replace_interval)
        });
        if lost == 0 || !to_run || recently {
            return;
        }
        self.task_managers_replaced = Some(Replaced { job, at: ctx.now });
        out.warn(
            EventName::TaskManagersLost,
            Some(job),
            format!(
                "{lost} of {of} TaskManagers of its cluster gone; starting {lost} in their place"
            ),
        );
        out.push(Action::ReplaceTaskManagers { job });
    }

    /// The job's retained-checkpoint record, kept current.
    fn checkpoint_seen(&mut self, ctx: &mut Ctx<'_>, job: Uuid, c: CheckpointSeen, out: &mut Out) {
        let completed_at = c.completed_at.min(ctx.now);
        let existing = ctx.records.savepoints.iter().find(|s| {
            s.origin == SavepointOrigin::RetainedCheckpoint && s.metadata.job_id == Some(job)
        });
        let savepoint = match existing {
            Some(s) if s.location.as_deref() == Some(c.location.as_str()) => return,
            Some(s) if s.metadata.modified_at > completed_at => return,
            Some(s) => s.metadata.id,
            None => ctx.ids.next_id(),
        };
        out.push(Action::RecordSavepoint {
            savepoint,
            job,
            origin: SavepointOrigin::RetainedCheckpoint,
            state: SavepointState::Completed,
            location: Some(c.location),
            trigger_id: None,
            failure: None,
            completed_at: Some(completed_at),
        });
    }

    /// Flink took a savepoint request under an id of its own: on record before the
    /// savepoint completes, so that a restarted daemon can ask for its outcome.
    pub(super) fn savepoint_triggered(
        &mut self,
        ctx: &mut Ctx<'_>,
        job: Uuid,
        savepoint: Uuid,
        trigger_id: String,
        out: &mut Out,
    ) {
        if let Some(s) = ctx.records.savepoint(savepoint) {
            if s.trigger_id.as_deref() != Some(trigger_id.as_str()) {
                out.push(Action::RecordSavepoint {
                    savepoint,
                    job,
                    origin: s.origin,
                    state: s.state,
                    location: s.location.clone(),
                    trigger_id: Some(trigger_id),
                    failure: s.failure.clone(),
                    completed_at: None,
                });
            }
        }
    }
}
