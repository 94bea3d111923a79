//! Fast STATEFUL upgrades: the next job's cluster started while the job it replaces
//! still runs.
//!
//! A STATEFUL upgrade of a Deployment on its own cluster (the local target) first asks
//! the quota for the running job's cores and the new job's together; granted, and the
//! host's available memory covering the new cluster, it has that cluster started under
//! the next job's id ([`Action::WarmCluster`]) and lets the job run on. Once the cluster
//! is up, the upgrade goes as always (stop with a savepoint, the old cluster's teardown)
//! and the next job is submitted to the cluster that is waiting, so the job is down for
//! the savepoint, a teardown and a submission, not a cluster's start.
//!
//! The promises hold as on the cold way: one job at a time (the warm cluster runs no
//! job until the old one is gone), every core held is granted (both clusters' until
//! the old job's teardown; a warm cluster given up keeps its cores until it is verified
//! gone), the latest spec wins (a warm cluster of another template is removed, never
//! used). A quota that cannot hold both, too little memory, a cluster that does not come
//! up, or a daemon restart: the cold way, said once in the event log.

use super::*;
use crate::spec::UpgradeStrategyKind;

/// Which way an upgrade goes.
enum Way {
    Fast,
    /// The cold way; `why`, when it is worth saying (once per template).
    Cold(Option<String>),
}

impl Warm {
    /// Made for the latest spec: its template, and the cores the quota books for a job
    /// of it (a cluster sized for other cores would run the job beside a booking that
    /// does not cover it).
    fn made_for(&self, ctx: &Ctx<'_>) -> bool {
        self.template_hash == ctx.policy.template_hash && self.cores == ctx.policy.cores
    }
}

impl Lifecycle {
    /// A STATEFUL upgrade of the running `job` is wanted: whether the fast way holds it
    /// (asking for cores, or waiting for the cluster), else the cold way goes on now
    /// (with a warm cluster that is up, the stop with a savepoint is the cold way's).
    pub(super) fn warm_upgrade(&mut self, ctx: &mut Ctx<'_>, job: &JobRef, out: &mut Out) -> bool {
        match self.warm.as_ref().map(|w| &w.stage) {
            Some(WarmStage::Ready) => return false,
            Some(_) => return true,
            None => {}
        }
        match self.upgrade_way(ctx, job) {
            Way::Fast => {
                let both = self.cores_free() + ctx.policy.cores;
                let (request, total) = self.request(both, out);
                self.warm = Some(Warm {
                    job: ctx.ids.next_id(),
                    template_hash: ctx.policy.template_hash.clone(),
                    cores: ctx.policy.cores,
                    stage: WarmStage::Asking { request, total },
                });
                true
            }
            Way::Cold(why) => {
                if let Some(why) = why {
                    self.go_cold(ctx, &why, out);
                }
                false
            }
        }
    }

    fn upgrade_way(&self, ctx: &Ctx<'_>, job: &JobRef) -> Way {
        let p = ctx.policy;
        if !p.fast_upgrade
            || p.upgrade != UpgradeStrategyKind::Stateful
            || !job.api.graceful_stop
            || self.cold_for.as_deref() == Some(p.template_hash.as_str())
        {
            return Way::Cold(None);
        }
        match ctx.memory_available {
            None => Way::Cold(None),
            Some(m) if m < p.cluster_memory => Way::Cold(Some(format!(
                "the host has {} MiB of memory available and the new cluster needs {} MiB",
                m >> 20,
                p.cluster_memory >> 20
            ))),
            Some(_) => Way::Fast,
        }
    }

    /// This template's upgrade goes the cold way, and the log says why, once.
    fn go_cold(&mut self, ctx: &Ctx<'_>, why: &str, out: &mut Out) {
        self.cold_for = Some(ctx.policy.template_hash.clone());
        out.info(
            EventName::PreparingClusterForUpgrade,
            None,
            format!("upgrading the cold way (the job stops before its new cluster starts): {why}"),
        );
    }

    /// A grant of the fast way's request: the cluster is started. `true`: it was.
    pub(super) fn warm_granted(&mut self, ctx: &mut Ctx<'_>, request: u64, out: &mut Out) -> bool {
        let job_runs = matches!(
            self.phase,
            Phase::Running { .. } | Phase::UserSavepointing { .. }
        );
        let Some(w) = &mut self.warm else {
            return false;
        };
        let WarmStage::Asking { request: r, total } = w.stage else {
            return false;
        };
        if r != request || !job_runs {
            return false;
        }
        self.cores_held = total;
        w.stage = WarmStage::Starting {
            deadline: after(ctx.now, ctx.timing.job_start_timeout),
        };
        let job = w.job;
        out.push(Action::WarmCluster { job });
        out.info(
            EventName::PreparingClusterForUpgrade,
            Some(job),
            "starting the upgraded job's cluster beside the running job (a fast upgrade: the job is stopped once the cluster is up)".into(),
        );
        true
    }

    /// A refusal of the fast way's request: the cold way. `true`: it was that request.
    pub(super) fn warm_denied(
        &mut self,
        ctx: &mut Ctx<'_>,
        request: u64,
        used: f64,
        limit: f64,
        out: &mut Out,
    ) -> bool {
        let asked = matches!(
            self.warm.as_ref().map(|w| &w.stage),
            Some(WarmStage::Asking { request: r, .. }) if *r == request
        );
        if asked {
            self.warm = None;
            let why = format!(
                "the quota cannot hold both clusters at once ({used} of its {limit} CPU cores are in use)"
            );
            self.go_cold(ctx, &why, out);
        }
        asked
    }

    /// What concerns a warm cluster or one given up. `true`: the input was one of those.
    pub(super) fn react_warm(&mut self, ctx: &mut Ctx<'_>, input: &Input, out: &mut Out) -> bool {
        let warm = self.warm.as_ref().map(|w| w.job);
        match input {
            Input::ClusterWarm { job } => {
                if let Some(w) = self.warm.as_mut().filter(|w| w.job == *job) {
                    if matches!(w.stage, WarmStage::Starting { .. }) {
                        w.stage = WarmStage::Ready;
                        out.info(
                            EventName::PreparingClusterForUpgrade,
                            Some(*job),
                            "the upgraded job's cluster is up".into(),
                        );
                    }
                }
                true
            }
            Input::WarmFailed { job, reason } => {
                if warm == Some(*job) {
                    self.warm_failed(ctx, reason, out);
                }
                true
            }
            Input::TornDown { job } if self.discarded.iter().any(|d| d.job == *job) => {
                let cores = self
                    .discarded
                    .iter()
                    .filter(|d| d.job == *job)
                    .fold(0.0, |sum, d| sum + d.cores);
                self.discarded.retain(|d| d.job != *job);
                // Given back now, unless a request is on its way: its grant, which
                // replaces the holding, is given back once the next job runs.
                let keep = (self.cores_held - cores).max(self.cores_in_use(ctx));
                if keep + CORES_EPSILON < self.cores_held && !self.request_in_flight() {
                    self.set_cores(keep, out);
                }
                true
            }
            Input::TearDownFailed { job, reason } => {
                let Some(d) = self.discarded.iter_mut().find(|d| d.job == *job) else {
                    return false;
                };
                d.failures += 1;
                let wait = backoff(ctx.timing, d.failures);
                d.retry_at = Some(after(ctx.now, wait));
                out.warn(
                    EventName::ClusterTeardownFailed,
                    Some(*job),
                    format!(
                        "the unused cluster could not be removed: {reason}; trying again in {}",
                        span(wait)
                    ),
                );
                true
            }
            _ => false,
        }
    }

    /// The warm cluster did not come up: removed, and the cold way.
    fn warm_failed(&mut self, ctx: &mut Ctx<'_>, reason: &str, out: &mut Out) {
        self.discard_warm(out);
        let why = format!("the new cluster did not start beside the running job: {reason}");
        out.warn(
            EventName::PreparingClusterForUpgrade,
            None,
            format!("upgrading the cold way (the job stops before its new cluster starts): {why}"),
        );
        self.cold_for = Some(ctx.policy.template_hash.clone());
    }

    /// Gives the warm cluster up: an unanswered request is undone, a cluster removed
    /// (its cores held until it is gone).
    pub(super) fn discard_warm(&mut self, out: &mut Out) {
        let Some(w) = self.warm.take() else { return };
        match w.stage {
            // Saying again what is held undoes a grant still on its way.
            WarmStage::Asking { .. } => out.push(Action::SetQuota {
                cores: self.cores_held,
            }),
            WarmStage::Starting { .. } | WarmStage::Ready => {
                out.push(Action::TearDown {
                    job: w.job,
                    confirm: None,
                });
                self.discarded.push(Discarded {
                    job: w.job,
                    cores: w.cores,
                    failures: 0,
                    retry_at: None,
                });
            }
        }
    }

    /// A warm cluster for anything but this upgrade of the latest template is given up.
    pub(super) fn keep_warm_for(&mut self, ctx: &Ctx<'_>, upgrading: bool, out: &mut Out) {
        let keep = self.warm.as_ref().is_some_and(|w| {
            upgrading && ctx.policy.upgrade == UpgradeStrategyKind::Stateful && w.made_for(ctx)
        });
        if !keep {
            self.discard_warm(out);
        }
    }

    /// A warm cluster the next job cannot run on is given up first, so that the cores
    /// it keeps until it is gone count before the next job's are checked.
    pub(super) fn drop_unusable_warm(&mut self, ctx: &Ctx<'_>, out: &mut Out) {
        let usable = self
            .warm
            .as_ref()
            .is_none_or(|w| w.stage == WarmStage::Ready && w.made_for(ctx));
        if !usable {
            self.discard_warm(out);
        }
    }

    /// The id of the next job when its warm cluster is up and made for the latest
    /// template (taken: the job runs there); any other warm cluster is given up.
    pub(super) fn take_warm(&mut self, ctx: &Ctx<'_>, out: &mut Out) -> Option<Uuid> {
        match &self.warm {
            Some(w) if w.stage == WarmStage::Ready && w.made_for(ctx) => {
                self.warm.take().map(|w| w.job)
            }
            Some(_) => {
                self.discard_warm(out);
                None
            }
            None => None,
        }
    }

    /// The cores the current phase needs held: its job's, and a warm cluster's.
    fn cores_in_use(&self, ctx: &Ctx<'_>) -> f64 {
        let job = match &self.phase {
            Phase::Starting { job, .. }
            | Phase::Running { job, .. }
            | Phase::UserSavepointing { job, .. }
            | Phase::Savepointing { job, .. }
            | Phase::Cancelling { job, .. } => job.cores,
            // An upgrade's next job keeps what the last one held.
            Phase::TearingDown {
                then: After::Settle { .. },
                ..
            } if ctx.policy.desired == DesiredState::Running => ctx.policy.cores,
            _ => 0.0,
        };
        let warm = match &self.warm {
            Some(Warm {
                cores,
                stage: WarmStage::Starting { .. } | WarmStage::Ready,
                ..
            }) => *cores,
            _ => 0.0,
        };
        job + warm
    }

    /// The cores held for this Deployment's job (and a warm cluster): what is held
    /// but for the clusters given up and not gone yet.
    pub(super) fn cores_free(&self) -> f64 {
        (self.cores_held - self.discarded_cores()).max(0.0)
    }

    /// Whether a quota request is unanswered: a setting now would undo its grant.
    fn request_in_flight(&self) -> bool {
        let waiting = |w: &QuotaWait| w.request.is_some();
        let phase = match &self.phase {
            Phase::WaitingForQuota { wait, .. } => waiting(wait),
            Phase::Running {
                quota: Some(wait), ..
            } => waiting(wait),
            _ => false,
        };
        phase
            || matches!(
                self.warm.as_ref().map(|w| &w.stage),
                Some(WarmStage::Asking { .. })
            )
    }

    /// Holds no cores but those of clusters given up and not gone yet.
    pub(super) fn release_cores(&mut self, out: &mut Out) {
        self.set_cores(self.discarded_cores(), out);
    }

    /// The cores of clusters given up and not gone yet.
    pub(super) fn discarded_cores(&self) -> f64 {
        // (A fold from +0: an empty float sum is -0.)
        self.discarded.iter().fold(0.0, |sum, d| sum + d.cores)
    }

    /// A Reconcile: a warm cluster past its deadline is given up; removals due again
    /// are asked for.
    pub(super) fn warm_due(&mut self, ctx: &mut Ctx<'_>, out: &mut Out) {
        if let Some(Warm {
            stage: WarmStage::Starting { deadline },
            ..
        }) = &self.warm
        {
            if ctx.now >= *deadline {
                let reason = format!(
                    "it was not up within {} (timing.job_start_timeout)",
                    span(ctx.timing.job_start_timeout)
                );
                self.warm_failed(ctx, &reason, out);
            }
        }
        for d in &mut self.discarded {
            if d.retry_at.is_some_and(|at| ctx.now >= at) {
                d.retry_at = None;
                out.push(Action::TearDown {
                    job: d.job,
                    confirm: None,
                });
            }
        }
    }

    /// When a warm cluster's deadline or a removal's retry is due.
    pub(super) fn warm_deadline(&self) -> Option<Timestamp> {
        let warm = match &self.warm {
            Some(Warm {
                stage: WarmStage::Starting { deadline },
                ..
            }) => Some(*deadline),
            _ => None,
        };
        self.discarded
            .iter()
            .filter_map(|d| d.retry_at)
            .chain(warm)
            .min()
    }

    /// After a restart of flinkd: a warm cluster is given up (the upgrade asks again),
    /// the removals under way are asked for again.
    pub(super) fn warm_restarted(&mut self, out: &mut Out) {
        if let Some(Warm {
            stage: WarmStage::Asking { .. },
            ..
        }) = &self.warm
        {
            // The request died with the Supervisor that had it.
            self.warm = None;
        }
        self.discard_warm(out);
        for d in &mut self.discarded {
            d.retry_at = None;
            out.push(Action::TearDown {
                job: d.job,
                confirm: None,
            });
        }
    }

    /// A warm cluster is for an upgrade of a running job: kept while the job runs, is
    /// stopped for the upgrade, or its cluster goes before the next start; given up
    /// anywhere else (the job ended or is cancelled, the Deployment at rest).
    pub(super) fn warm_at_rest(&mut self, out: &mut Out) {
        let resting = matches!(
            self.status,
            DeploymentState::Failed
                | DeploymentState::Suspended
                | DeploymentState::Cancelled
                | DeploymentState::Finished
        );
        let job_runs = matches!(
            self.phase,
            Phase::Running { .. } | Phase::UserSavepointing { .. }
        );
        // Up, it waits through the stop of the old job and the removal of its cluster;
        // asked for or starting, only while the old job runs.
        let ready = matches!(self.warm.as_ref().map(|w| &w.stage), Some(WarmStage::Ready));
        let on_the_way = job_runs
            || ready
                && matches!(
                    self.phase,
                    Phase::Savepointing {
                        origin: SavepointOrigin::SuspendAndUpgrade,
                        ..
                    } | Phase::TearingDown {
                        then: After::Settle { .. },
                        ..
                    }
                );
        if self.warm.is_some() && (resting || !on_the_way) {
            self.discard_warm(out);
        }
    }
}

/// The wait before the `failures`-th retry of a removal: doubling from
/// `retry_interval`, at most `poll_interval_max`.
fn backoff(t: &Timing, failures: u32) -> Duration {
    let doubled = t
        .retry_interval
        .saturating_mul(1u32 << failures.saturating_sub(1).min(16));
    doubled.min(t.poll_interval_max.max(t.retry_interval))
}
