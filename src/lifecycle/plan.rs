//! What applying a spec would do, before it is applied (`flinkd plan`): the lifecycle's
//! own next step, taken on a copy of the Deployment's lifecycle and records with the new
//! policy, and read back as a plan. Nothing decides here that the lifecycle does not:
//! a plan is the daemon's first move, told in words.

use super::restore::{choose_restore, describe, RestoreChoice};
use super::*;
use crate::spec::{RestoreStrategyKind, Savepoint, UpgradeStrategyKind};

/// Sequential ids: a plan touches nothing, its ids are never seen.
struct PlanIds(u128);

impl Ids for PlanIds {
    fn next_id(&mut self) -> Uuid {
        self.0 += 1;
        Uuid::from_u128(self.0)
    }
}

/// What applying a spec would do to one Deployment.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Nothing changes.
    pub unchanged: bool,
    /// What would happen, in order.
    pub steps: Vec<String>,
    /// What loses state, in capitals where printed.
    pub warnings: Vec<String>,
}

/// The plan for a Deployment with `lifecycle` and `records` (a new one: the defaults,
/// empty records), given the policy of the spec to apply.
pub fn plan(
    lifecycle: &Lifecycle,
    records: &Records,
    policy: &Policy,
    timing: &Timing,
    now: Timestamp,
) -> Plan {
    let mut lc = lifecycle.clone();
    let mut ids = PlanIds(u128::MAX / 2);
    let mut step = |lc: &mut Lifecycle, input: Input| {
        let mut ctx = Ctx {
            policy,
            timing,
            now,
            records,
            ids: &mut ids,
            // A plan says what the cold way does.
            memory_available: None,
        };
        lc.step(&mut ctx, input)
    };
    let mut actions = step(&mut lc, Input::Reconcile);
    // A quota request is taken as granted: the plan says what the start would be.
    let requests: Vec<(u64, f64)> = actions
        .iter()
        .filter_map(|a| match a {
            Action::ReserveQuota { request, cores } => Some((*request, *cores)),
            _ => None,
        })
        .collect();
    let mut steps = Vec::new();
    for (request, cores) in requests {
        steps.push(format!("needs {cores} CPU cores of the quota"));
        actions.extend(step(&mut lc, Input::QuotaGranted { request }));
    }
    let mut warnings = Vec::new();
    let snapshots = completed(records);
    let from_empty = |why: &str, warnings: &mut Vec<String>| {
        if let Some(newest) = snapshots.last() {
            warnings.push(format!(
                "STARTS FROM EMPTY STATE {why}, although {} exist(s) (the newest: {})",
                plural(snapshots.len()),
                describe(newest, now)
            ));
        }
    };
    for a in &actions {
        match a {
            Action::StartJob { restore, .. } => match restore {
                Some(r) => steps.push(format!(
                    "starts a job, restoring from {}",
                    records
                        .savepoint(r.savepoint)
                        .map_or(r.location.clone(), |s| describe(s, now))
                )),
                None => {
                    steps.push("starts a job with empty state".into());
                    let why = match policy.restore {
                        RestoreStrategyKind::None => "(restore strategy NONE)",
                        _ => "(no snapshot the restore strategy allows is left)",
                    };
                    from_empty(why, &mut warnings);
                }
            },
            Action::TriggerSavepoint { .. }
                if matches!(lc.phase, Phase::UserSavepointing { .. }) =>
            {
                steps.push("a periodic savepoint is due (the job runs on)".into());
            }
            Action::DisposeSnapshot {
                savepoint,
                location,
            } => steps.push(format!(
                "disposes of {} (savepointRetention)",
                records
                    .savepoint(*savepoint)
                    .map_or(location.clone(), |s| describe(s, now))
            )),
            Action::StopWithSavepoint { .. } | Action::TriggerSavepoint { .. } => {
                let what = match policy.desired {
                    DesiredState::Running => {
                        "upgrade (STATEFUL): a savepoint, then the new template's job restores from it"
                    }
                    DesiredState::Suspended => "suspends: a savepoint, then the cluster is stopped",
                    DesiredState::Cancelled => "a savepoint",
                };
                steps.push(what.into());
            }
            Action::Cancel { .. } => {
                if policy.desired == DesiredState::Running {
                    steps.push(
                        "upgrade (STATELESS): the job is cancelled, then the new template's job starts per the restore strategy"
                            .into(),
                    );
                    match choose_restore(policy.restore, &records.savepoints, &lc.unusable) {
                        RestoreChoice::From(s) => {
                            steps.push(format!("it restores from {}", describe(s, now)))
                        }
                        RestoreChoice::Empty => {
                            steps.push("it starts with empty state".into());
                            let why = match policy.restore {
                                RestoreStrategyKind::None => {
                                    "(STATELESS upgrade, restore strategy NONE)"
                                }
                                _ => "(STATELESS upgrade)",
                            };
                            from_empty(why, &mut warnings);
                        }
                        RestoreChoice::Exhausted => steps.push(
                            "no snapshot it could restore from is left: the Deployment would be FAILED"
                                .into(),
                        ),
                    }
                } else {
                    steps
                        .push("cancels the job (no savepoint), then the cluster is stopped".into());
                }
            }
            Action::TearDown { .. } => steps.push("the cluster is torn down".into()),
            _ => {}
        }
    }
    if steps.is_empty() && lc.status != lifecycle.status {
        steps.push(format!("the Deployment becomes {}", lc.status));
    }
    if steps.is_empty() && policy.upgrade == UpgradeStrategyKind::None {
        if let Phase::Running { job, .. } = &lifecycle.phase {
            if job.upgrade_key != policy.upgrade_key {
                steps.push(
                    "the template changed; upgrade strategy NONE: the running job keeps running until its next transition"
                        .into(),
                );
            }
        }
    }
    if steps.is_empty() && lifecycle.held_for_spec.as_deref() == Some(&policy.hold_key) {
        steps.push(format!(
            "nothing: the Deployment stays {} until its spec changes",
            lifecycle.status
        ));
        return Plan {
            unchanged: true,
            steps,
            warnings,
        };
    }
    Plan {
        unchanged: steps.is_empty(),
        steps,
        warnings,
    }
}

fn completed(records: &Records) -> Vec<&Savepoint> {
    let mut s: Vec<&Savepoint> = records
        .savepoints
        .iter()
        .filter(|s| s.state == SavepointState::Completed && s.location.is_some())
        .collect();
    s.sort_by_key(|s| s.metadata.modified_at);
    s
}

fn plural(n: usize) -> String {
    match n {
        1 => "1 snapshot".into(),
        n => format!("{n} snapshots"),
    }
}
