//! Retention of snapshots (`spec.savepointRetention`): the newest `keep` and those
//! younger than `maxAge` are kept, the other COMPLETED savepoints and retained
//! checkpoints are disposed of: their files first (the actor removes a local snapshot
//! directory, or has Flink dispose of one on another file system), then, once that is
//! done, their record, never the other way round. Never disposed of: the newest
//! COMPLETED snapshot, the one the current job restored from, one being taken (not
//! COMPLETED), and imported ones unless the policy says so. A disposal that fails marks
//! the record and is tried again later.

use std::time::Duration;

use super::restore::{choose_restore, describe, RestoreChoice};
use super::*;
use crate::expanded::Retention;
use crate::spec::{RestoreStrategyKind, Savepoint};

/// The most disposals under way at once.
const IN_FLIGHT: usize = 16;

/// How long after a failed disposal the next is tried.
pub fn retry_after(timing: &Timing) -> Duration {
    timing.poll_interval_max.max(Duration::from_secs(60))
}

/// The snapshots `retention` disposes of now, oldest first; `protected` are kept
/// whatever their age (the current job's restore point, disposals under way).
pub fn disposable<'a>(
    retention: &Retention,
    savepoints: &'a [Savepoint],
    protected: &[Uuid],
    now: Timestamp,
) -> Vec<&'a Savepoint> {
    let mut completed: Vec<&Savepoint> = savepoints
        .iter()
        .filter(|s| s.state == SavepointState::Completed && s.location.is_some())
        .collect();
    // Newest first, by completion (as restores choose).
    completed.sort_by_key(|s| std::cmp::Reverse(s.metadata.modified_at));
    let mut out: Vec<&Savepoint> = completed
        .iter()
        .enumerate()
        .filter(|(i, s)| {
            let by_count = retention.keep.is_some_and(|n| *i < n as usize);
            let by_age = retention.max_age.is_some_and(|a| {
                now - s.metadata.modified_at
                    < time::Duration::try_from(a).unwrap_or(time::Duration::MAX)
            });
            let imported = s.origin == SavepointOrigin::Imported && !retention.dispose_imported;
            !(*i == 0 || by_count || by_age || imported || protected.contains(&s.metadata.id))
        })
        .map(|(_, s)| *s)
        .collect();
    out.reverse();
    out
}

impl Lifecycle {
    /// What a step must not dispose of: the active job's restore point, and what is
    /// being disposed of already.
    ///
    /// Also kept: the snapshot a start would restore from now (the restore strategy's
    /// pick, so `keep: 1` under LATEST_SAVEPOINT keeps the newest savepoint, not just a
    /// newer checkpoint), and the retained checkpoints of the job that runs (Flink's
    /// own, which a failover of that job restores from).
    pub fn protected_snapshots(
        &self,
        restore: RestoreStrategyKind,
        records: &Records,
    ) -> Vec<Uuid> {
        let active = self.phase.job();
        let restored = active
            .and_then(|j| records.job(j))
            .and_then(|j| j.spec.restore_savepoint_id);
        let next = match choose_restore(restore, &records.savepoints, &self.unusable) {
            RestoreChoice::From(s) => Some(s.metadata.id),
            _ => None,
        };
        let own_checkpoints = records
            .savepoints
            .iter()
            .filter(|s| {
                s.origin == SavepointOrigin::RetainedCheckpoint
                    && active.is_some()
                    && s.metadata.job_id == active
            })
            .map(|s| s.metadata.id);
        restored
            .into_iter()
            .chain(next)
            .chain(own_checkpoints)
            .chain(self.disposing.iter().copied())
            .collect()
    }

    /// Asks for the disposals the policy wants now.
    pub(super) fn dispose(&mut self, ctx: &Ctx<'_>, out: &mut Out) {
        let Some(retention) = &ctx.policy.retention else {
            return;
        };
        if self.disposal_retry_at.is_some_and(|at| ctx.now < at) {
            return;
        }
        self.disposal_retry_at = None;
        let mut protected = self.protected_snapshots(ctx.policy.restore, ctx.records);
        // What this very step decided: a start's restore point (its Job record is not
        // among the records yet), and a record it forgets (already disposed of).
        for a in &out.0 {
            match a {
                Action::StartJob {
                    restore: Some(r), ..
                } => protected.push(r.savepoint),
                Action::ForgetSavepoint { savepoint } => protected.push(*savepoint),
                _ => {}
            }
        }
        let room = IN_FLIGHT.saturating_sub(self.disposing.len());
        for s in disposable(retention, &ctx.records.savepoints, &protected, ctx.now)
            .into_iter()
            .take(room)
        {
            self.disposing.push(s.metadata.id);
            out.push(Action::DisposeSnapshot {
                savepoint: s.metadata.id,
                location: s.location.clone().unwrap_or_default(),
            });
        }
    }

    pub(super) fn disposed(&mut self, ctx: &Ctx<'_>, savepoint: Uuid, out: &mut Out) {
        if !self.disposing.contains(&savepoint) {
            return;
        }
        self.disposing.retain(|s| *s != savepoint);
        let Some(s) = ctx.records.savepoint(savepoint) else {
            return;
        };
        out.info(
            EventName::SavepointDisposed,
            s.metadata.job_id,
            format!(
                "{} disposed of (savepointRetention): its files, then its record",
                describe(s, ctx.now)
            ),
        );
        out.push(Action::ForgetSavepoint { savepoint });
    }

    pub(super) fn disposal_failed(
        &mut self,
        ctx: &Ctx<'_>,
        savepoint: Uuid,
        reason: String,
        out: &mut Out,
    ) {
        if !self.disposing.contains(&savepoint) {
            return;
        }
        self.disposing.retain(|s| *s != savepoint);
        let retry = retry_after(ctx.timing);
        self.disposal_retry_at = Some(after(ctx.now, retry));
        let Some(s) = ctx.records.savepoint(savepoint) else {
            return;
        };
        // The record is kept, and says so.
        out.push(Action::RecordSavepoint {
            savepoint,
            job: s.metadata.job_id.unwrap_or_default(),
            origin: s.origin,
            state: s.state,
            location: None,
            trigger_id: None,
            failure: failure("DISPOSAL_FAILED", reason.clone()),
            completed_at: Some(s.metadata.modified_at),
        });
        out.warn(
            EventName::SavepointDisposalFailed,
            s.metadata.job_id,
            format!(
                "{} could not be disposed of: {reason}; kept, and tried again in {}",
                describe(s, ctx.now),
                span(retry)
            ),
        );
    }
}
