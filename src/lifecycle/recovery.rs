//! After a restart of the daemon: what its predecessor left under way is taken up
//! again (DESIGN.md, principle 2).
//!
//! The executor says what it found of the active job ([`Found`]): its cluster on
//! record, or nothing (no record, or a JobManager known dead). Then, by phase:
//! - a quota request is asked again (the Supervisor that got it is gone);
//! - a start the previous daemon began is finished (the same Job, the same Flink job
//!   id: a submission that got through is found, never made twice);
//! - a running job is adopted, with no new submission;
//! - a savepoint Flink was asked for is waited for by its trigger id, so that it is
//!   neither lost nor taken twice (with none on record, it is asked for again);
//! - a cancel or a teardown under way is done again;
//! - a job whose cluster is gone is a lost job.

use super::*;

impl Lifecycle {
    pub(super) fn restarted(&mut self, ctx: &mut Ctx<'_>, found: Option<Found>, out: &mut Out) {
        // Disposals the previous daemon asked for got no answer: asked again (removing
        // files already gone is a disposal done).
        self.disposing.clear();
        self.warm_restarted(out);
        match self.phase.clone() {
            Phase::Idle => {}
            Phase::WaitingForQuota { wait, recover } => {
                // The request died with the Supervisor that had it.
                self.phase = Phase::WaitingForQuota {
                    wait: QuotaWait {
                        request: None,
                        ..wait
                    },
                    recover,
                };
                self.waiting_for_quota(ctx, out);
            }
            Phase::Running {
                job,
                quota: Some(wait),
            } if found == Some(Found::Cluster) => {
                out.push(Action::Adopt { job: job.id });
                self.phase = Phase::Running {
                    job,
                    quota: Some(QuotaWait {
                        request: None,
                        ..wait
                    }),
                };
            }
            Phase::TearingDown { .. } => self.tear_down_again(ctx, out),
            phase if found != Some(Found::Cluster) => {
                let Some(job) = phase.job() else { return };
                let reason = "the job's cluster is gone (found after a restart of flinkd)";
                self.react(
                    ctx,
                    Input::ClusterLost {
                        job,
                        reason: reason.into(),
                    },
                    out,
                );
            }
            Phase::Starting { job, .. } => {
                let record = ctx.records.job(job.id);
                out.push(Action::StartJob {
                    job: job.id,
                    restore: record.and_then(|j| {
                        Some(Restore {
                            savepoint: j.spec.restore_savepoint_id?,
                            location: j.spec.savepoint_location.clone()?,
                        })
                    }),
                    allow_non_restored_state: record
                        .is_some_and(|j| j.spec.allow_non_restored_state),
                    template_of: None,
                    resume: true,
                });
            }
            Phase::Running { job, .. } => {
                out.push(Action::Adopt { job: job.id });
                self.watch_given_up(ctx, &job, &[], out);
            }
            Phase::UserSavepointing { job, savepoint, .. } => {
                out.push(Action::Adopt { job: job.id });
                self.watch_given_up(ctx, &job, &[savepoint], out);
                self.resume_savepoint(ctx, &job, savepoint, Some(false), out);
            }
            Phase::Savepointing {
                job,
                savepoint,
                earlier,
                retry_at,
                ..
            } => {
                out.push(Action::Adopt { job: job.id });
                // Earlier attempts are only watched; the current one is asked for again
                // if Flink never gave it an id. Between attempts (`retry_at`) the
                // failed one is over, and the next follows at its time.
                let mut current = earlier.clone();
                current.push(savepoint);
                self.watch_given_up(ctx, &job, &current, out);
                for sp in &earlier {
                    self.resume_savepoint(ctx, &job, *sp, None, out);
                }
                if retry_at.is_none() {
                    let stop = job.api.graceful_stop;
                    self.resume_savepoint(ctx, &job, savepoint, Some(stop), out);
                }
            }
            Phase::Cancelling { job, .. } => {
                out.push(Action::Adopt { job: job.id });
                self.watch_given_up(ctx, &job, &[], out);
                out.push(Action::Cancel { job: job.id });
            }
        }
    }

    /// Savepoints of the job that were given up (past their deadline, superseded) and
    /// may still complete: watched again, never asked for again.
    fn watch_given_up(&self, ctx: &Ctx<'_>, job: &JobRef, besides: &[Uuid], out: &mut Out) {
        for s in &ctx.records.savepoints {
            let given_up = s.metadata.job_id == Some(job.id)
                && s.state != SavepointState::Completed
                && s.origin != SavepointOrigin::RetainedCheckpoint
                && s.trigger_id.is_some()
                && !besides.contains(&s.metadata.id);
            if given_up {
                self.resume_savepoint(ctx, job, s.metadata.id, None, out);
            }
        }
    }

    /// Waits for a savepoint again; `ask_again` (with a stop, or not) when Flink never
    /// gave it an id, or none at all.
    fn resume_savepoint(
        &self,
        ctx: &Ctx<'_>,
        job: &JobRef,
        savepoint: Uuid,
        ask_again: Option<bool>,
        out: &mut Out,
    ) {
        let trigger_id = ctx
            .records
            .savepoint(savepoint)
            .and_then(|s| s.trigger_id.clone());
        let stop = match (&trigger_id, ask_again) {
            (Some(_), a) => a.unwrap_or(false),
            (None, Some(stop)) => stop,
            (None, None) => return,
        };
        out.push(Action::ResumeSavepoint {
            job: job.id,
            savepoint,
            trigger_id,
            stop,
        });
    }
}
