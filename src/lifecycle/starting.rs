//! Transitions to RUNNING: the quota, then a Job on a new cluster.
//!
//! The quota is checked only when a job is about to start (reference page, "CPU
//! Quota"): each request has an id, a grant is matched to its request one to one, and
//! no request is sent while one is unanswered. Cores granted for a transition stay with
//! it (a retry, a recovery, an upgrade's next job), so a running Deployment is never
//! left without a job by the quota.
//!
//! A start counts against `maxJobCreationAttempts` when it fails (a rejected
//! submission, a job failing before RUNNING, a cluster that does not come up, its
//! deadline); RUNNING resets the count. A failure that says the restore point is gone
//! (a retained checkpoint Flink deleted, a savepoint whose files were removed) is not
//! counted: the next attempt restores from the next older snapshot the strategy
//! allows, and none is left, the Deployment is FAILED (restore.rs).

use super::restore::{choose_restore, describe, restore_point_missing, tried, RestoreChoice};
use super::*;

impl Lifecycle {
    /// At rest with no job: start one, or take the desired state.
    pub(super) fn settle_idle(
        &mut self,
        ctx: &mut Ctx<'_>,
        recover: Option<Recover>,
        out: &mut Out,
    ) {
        let policy = ctx.policy;
        if policy.desired != DesiredState::Running {
            self.discard_warm(out);
            self.rest_without_job(policy.desired, out);
            return;
        }
        self.status = DeploymentState::Transitioning;
        // Before the check: a cluster given up keeps its cores until it is gone.
        self.drop_unusable_warm(ctx, out);
        if self.cores_free() + CORES_EPSILON >= policy.cores {
            // The cores of this transition are held already (a retry, a recovery, an
            // upgrade's next job): no new check. An upgrade's next job runs on the
            // cluster started for it, when there is one.
            let id = self
                .take_warm(ctx, out)
                .unwrap_or_else(|| ctx.ids.next_id());
            let job = JobRef {
                id,
                upgrade_key: policy.upgrade_key.clone(),
                api: policy.api,
                cores: policy.cores,
            };
            self.start_job(ctx, job, None, out);
            return;
        }
        self.discard_warm(out);
        if let Some(r) = recover.filter(|r| self.cores_free() + CORES_EPSILON >= r.job.cores) {
            // The latest template needs more cores than the job that ran: that job is
            // started again first, and upgraded once the quota allows.
            let job = JobRef {
                id: ctx.ids.next_id(),
                ..r.job.clone()
            };
            self.start_job(ctx, job, Some(r.job.id), out);
            return;
        }
        let request = self.request(policy.cores, out);
        self.phase = Phase::WaitingForQuota {
            wait: QuotaWait {
                request: Some(request),
                denied: false,
            },
            recover: None,
        };
    }

    /// A Reconcile while waiting for the quota: ask again after a refusal, or give up
    /// when no start is wanted any more.
    pub(super) fn waiting_for_quota(&mut self, ctx: &mut Ctx<'_>, out: &mut Out) {
        let Phase::WaitingForQuota { wait, recover } = self.phase.clone() else {
            return;
        };
        if ctx.policy.desired != DesiredState::Running || self.held_for_spec.is_some() {
            self.abandon_wait(&wait, out);
            self.phase = Phase::Idle;
            return;
        }
        if self.cores_free() + CORES_EPSILON >= ctx.policy.cores {
            // An edit made the job smaller than what is held: no need to wait.
            self.abandon_wait(&wait, out);
            self.phase = Phase::Idle;
            self.settle_idle(ctx, recover, out);
            return;
        }
        if wait.request.is_none() {
            let request = self.request(ctx.policy.cores, out);
            self.phase = Phase::WaitingForQuota {
                wait: QuotaWait {
                    request: Some(request),
                    ..wait
                },
                recover,
            };
        }
    }

    pub(super) fn quota_granted(&mut self, ctx: &mut Ctx<'_>, request: u64, out: &mut Out) {
        if self.warm_granted(ctx, request, out) {
            return;
        }
        match self.phase.clone() {
            Phase::WaitingForQuota {
                wait:
                    QuotaWait {
                        request: Some((r, cores)),
                        ..
                    },
                recover,
            } if r == request => {
                self.cores_held = cores;
                self.phase = Phase::Idle;
                // Starts now if the grant still covers the latest spec; asks again if
                // an edit made it larger meanwhile.
                self.settle_idle(ctx, recover, out);
            }
            Phase::Running {
                job,
                quota:
                    Some(QuotaWait {
                        request: Some((r, cores)),
                        ..
                    }),
            } if r == request => {
                self.cores_held = cores;
                self.phase = Phase::Running { job, quota: None };
            }
            // A grant of a request given up: the Supervisor already undid it.
            _ => {}
        }
    }

    pub(super) fn quota_denied(
        &mut self,
        ctx: &mut Ctx<'_>,
        request: u64,
        used: f64,
        limit: f64,
        out: &mut Out,
    ) {
        if self.warm_denied(ctx, request, used, limit, out) {
            return;
        }
        let (wait, recover, running) = match self.phase.clone() {
            Phase::WaitingForQuota { wait, recover } => (wait, recover, None),
            Phase::Running {
                job,
                quota: Some(wait),
            } => (wait, None, Some(job)),
            _ => return,
        };
        let Some((r, cores)) = wait.request else {
            return;
        };
        if r != request {
            return;
        }
        if !wait.denied {
            let (what, how) = match &running {
                Some(_) => (
                    "the upgraded job",
                    "the running job keeps running and is upgraded",
                ),
                None => ("the job", "it starts"),
            };
            out.warn(
                EventName::ResourceQuotaExceeded,
                running.as_ref().map(|j| j.id),
                format!(
                    "{what} needs {cores} CPU cores; {used} of the quota's {limit} are in use by others; {how} when cores are free"
                ),
            );
        }
        let wait = QuotaWait {
            request: None,
            denied: true,
        };
        self.phase = match running {
            Some(job) => Phase::Running {
                job,
                quota: Some(wait),
            },
            None => Phase::WaitingForQuota { wait, recover },
        };
        let _ = ctx;
    }

    /// Starts `job`, restored per the restore strategy.
    pub(super) fn start_job(
        &mut self,
        ctx: &mut Ctx<'_>,
        job: JobRef,
        template_of: Option<Uuid>,
        out: &mut Out,
    ) {
        let policy = ctx.policy;
        let savepoints = &ctx.records.savepoints;
        let (restore, from) = match choose_restore(policy.restore, savepoints, &self.unusable) {
            RestoreChoice::From(s) => (
                Some(Restore {
                    savepoint: s.metadata.id,
                    location: s.location.clone().unwrap_or_default(),
                }),
                format!(", restoring from {}", describe(s, ctx.now)),
            ),
            RestoreChoice::Empty => (None, " with empty state".to_string()),
            RestoreChoice::Exhausted => {
                // Never empty state in place of state that was there.
                let tried: Vec<String> = tried(savepoints, &self.unusable)
                    .into_iter()
                    .map(|s| describe(s, ctx.now))
                    .collect();
                out.error(
                    EventName::JobCreationFailed,
                    None,
                    format!(
                        "no job started: every snapshot restore strategy {} allows is gone, and a start from empty state would lose it; tried {}. Restore one, or set restoreStrategy NONE to start empty",
                        policy.restore,
                        tried.join("; ")
                    ),
                );
                self.status = DeploymentState::Failed;
                self.held_for_spec = Some(policy.hold_key.clone());
                self.phase = Phase::Idle;
                self.release_cores(out);
                return;
            }
        };
        let what = if template_of.is_some() {
            "starting the job that ran again (the latest template needs more cores than it holds)"
        } else {
            "starting a job"
        };
        out.info(
            EventName::StartingJob,
            Some(job.id),
            format!(
                "{what}{from} (restore strategy {}, attempt {} of {})",
                policy.restore,
                self.job_creation_failures + 1,
                policy.max_job_creation_attempts
            ),
        );
        out.push(Action::StartJob {
            job: job.id,
            restore,
            allow_non_restored_state: policy.allow_non_restored_state,
            template_of,
            resume: false,
        });
        self.phase = Phase::Starting {
            job,
            hold: policy.hold_key.clone(),
            deadline: None,
        };
        self.status = DeploymentState::Transitioning;
    }

    pub(super) fn react_starting(
        &mut self,
        ctx: &mut Ctx<'_>,
        job: JobRef,
        hold: String,
        input: Input,
        out: &mut Out,
    ) {
        match input {
            Input::StartBegan { .. } => {
                if let Phase::Starting { deadline, .. } = &mut self.phase {
                    deadline.get_or_insert(after(ctx.now, ctx.timing.job_start_timeout));
                }
            }
            Input::JobRunning { .. } => {
                let cores = job.cores;
                self.phase = Phase::Running { job, quota: None };
                self.status = DeploymentState::Running;
                self.running_since = Some(ctx.now);
                self.job_creation_failures = 0;
                self.unusable.clear();
                // Conditions belong to a job: a new job starts with none observed.
                self.conditions.clear();
                let id = self.phase.job();
                out.record_job(id.unwrap_or_default(), JobState::Started, None);
                let message = match self.upgrade_stopped_at.take() {
                    Some(stopped) => {
                        let downtime = Duration::try_from(ctx.now - stopped).unwrap_or_default();
                        out.0.push(Action::UpgradeDowntime { downtime });
                        format!(
                            "the job is RUNNING, {:.1}s after the upgrade told the job it replaces to stop",
                            downtime.as_secs_f64()
                        )
                    }
                    None => "the job is RUNNING".into(),
                };
                out.info(EventName::JobSuccessfullyStarted, id, message);
                // A recovery or an upgrade to a smaller job gives back what it no
                // longer needs (not what a cluster being removed still holds).
                let keep = cores + self.discarded_cores();
                if self.cores_held > keep + CORES_EPSILON {
                    self.set_cores(keep, out);
                }
            }
            Input::JobStartFailed {
                reason, unresolved, ..
            } => self.start_failed(ctx, job, hold, reason, unresolved, out),
            Input::ClusterLost { reason, .. } => {
                self.start_failed(ctx, job, hold, reason, false, out)
            }
            // A short bounded job may finish before it was ever seen RUNNING.
            Input::JobEnded {
                end: FlinkEnd::Finished,
                ..
            } => self.finished(ctx, job.id, out),
            Input::JobEnded { reason, .. } => self.start_failed(ctx, job, hold, reason, false, out),
            _ => {}
        }
    }

    pub(super) fn start_failed(
        &mut self,
        ctx: &mut Ctx<'_>,
        job: JobRef,
        hold: String,
        reason: String,
        unresolved: bool,
        out: &mut Out,
    ) {
        let max = ctx.policy.max_job_creation_attempts;
        out.record_job(
            job.id,
            JobState::Failed,
            failure("JOB_CREATION_FAILED", reason.clone()),
        );
        // A restore point found gone is set aside, and the attempt does not count.
        let gone = ctx
            .records
            .job(job.id)
            .and_then(|j| j.spec.restore_savepoint_id)
            .and_then(|id| ctx.records.savepoint(id))
            .filter(|s| restore_point_missing(s, &reason));
        if let Some(sp) = gone {
            self.unusable.push(sp.metadata.id);
            let next =
                match choose_restore(ctx.policy.restore, &ctx.records.savepoints, &self.unusable) {
                    RestoreChoice::From(n) => {
                        format!("the next attempt restores from {}", describe(n, ctx.now))
                    }
                    _ => "no older snapshot is left to restore from".to_string(),
                };
            out.warn(
                EventName::JobCreationFailed,
                Some(job.id),
                format!(
                    "the job could not restore from {}: it is gone; {next} ({reason})",
                    describe(sp, ctx.now)
                ),
            );
            self.tear_down(
                ctx,
                job.id,
                After::Settle { recover: None },
                unresolved,
                out,
            );
            return;
        }
        self.job_creation_failures += 1;
        let n = self.job_creation_failures;
        out.error(
            EventName::JobCreationFailed,
            Some(job.id),
            format!("job creation attempt {n} of {max} failed: {reason}"),
        );
        let then = if n >= max {
            out.error(
                EventName::TooManyFailedJobCreationAttempts,
                Some(job.id),
                format!(
                    "{n} job creation attempts failed (maxJobCreationAttempts {max}); change the spec to try again"
                ),
            );
            After::Failed { hold }
        } else {
            After::Settle { recover: None }
        };
        self.tear_down(ctx, job.id, then, unresolved, out);
    }

    /// The job finished by itself: the Deployment is FINISHED until its spec changes.
    pub(super) fn finished(&mut self, ctx: &mut Ctx<'_>, job: Uuid, out: &mut Out) {
        out.record_job(job, JobState::Finished, None);
        out.info(EventName::JobFinished, Some(job), "the job finished".into());
        let hold = ctx.policy.hold_key.clone();
        self.tear_down(ctx, job, After::Finished { hold }, false, out);
    }
}
