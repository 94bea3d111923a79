//! The lifecycle driven step by step: every rule of the reference page ([`rules`]),
//! every finding of the audit ([`findings`]), and random interleavings checked against
//! the promises ([`properties`]).
//!
//! [`World`] is one Deployment with the bookkeeping its actor does ([`Records::apply`],
//! the same function), ids from a counter, and time that moves only when told.

mod downtime;
mod fast_upgrades;
mod findings;
mod imports;
mod periodic;
mod plans;
mod pods;
mod properties;
mod quota;
mod restores;
mod retention;
mod retries;
mod rules;
mod task_managers;

use super::records::RecordContext;
use super::*;
use crate::spec::{DeploymentTemplate, RestoreStrategyKind, Savepoint, UpgradeStrategyKind};
use time::macros::datetime;

pub const T0: Timestamp = datetime!(2026-12-01 10:00:00 UTC);

/// Ids 1, 2, 3, … : a failing run replays exactly.
pub struct SeqIds(pub u128);

impl Ids for SeqIds {
    fn next_id(&mut self) -> Uuid {
        self.0 += 1;
        Uuid::from_u128(self.0)
    }
}

pub fn policy() -> Policy {
    Policy {
        desired: DesiredState::Running,
        upgrade: UpgradeStrategyKind::Stateful,
        restore: RestoreStrategyKind::LatestState,
        allow_non_restored_state: false,
        max_job_creation_attempts: 4,
        max_savepoint_creation_attempts: 4,
        template_hash: "t1".into(),
        upgrade_key: "u1".into(),
        hold_key: "h1".into(),
        api: FlinkApi {
            graceful_stop: true,
            trigger_ids: true,
        },
        cores: 2.0,
        savepoint_interval: None,
        retention: None,
        fast_upgrade: true,
        cluster_memory: 2 << 30,
    }
}

pub struct World {
    pub lc: Lifecycle,
    pub policy: Policy,
    pub timing: Timing,
    pub now: Timestamp,
    pub records: Records,
    pub ids: SeqIds,
    /// Grant every quota request at once.
    pub auto_quota: bool,
    /// The host's available memory, as the DeploymentActor reads it (`None`: no fast
    /// upgrades).
    pub memory: Option<u64>,
}

impl World {
    pub fn new() -> World {
        World {
            lc: Lifecycle::default(),
            policy: policy(),
            timing: Timing::default(),
            now: T0,
            records: Records::default(),
            ids: SeqIds(0),
            auto_quota: true,
            memory: None,
        }
    }

    pub fn step(&mut self, input: Input) -> Vec<Action> {
        let mut actions = {
            let mut ctx = Ctx {
                policy: &self.policy,
                timing: &self.timing,
                now: self.now,
                records: &self.records,
                ids: &mut self.ids,
                memory_available: self.memory,
            };
            self.lc.step(&mut ctx, input)
        };
        let template = std::sync::Arc::<DeploymentTemplate>::default();
        self.records.apply(
            &actions,
            &RecordContext {
                at: self.now,
                namespace: "default",
                deployment_id: Uuid::nil(),
                template: &template,
                template_hash: &self.policy.template_hash,
            },
        );
        if self.auto_quota {
            let requests: Vec<u64> = actions
                .iter()
                .filter_map(|a| match a {
                    Action::ReserveQuota { request, .. } => Some(*request),
                    _ => None,
                })
                .collect();
            for request in requests {
                let more = self.step(Input::QuotaGranted { request });
                actions.extend(more);
            }
        }
        actions
    }

    /// Changes the spec as a file edit does: `f` edits the policy, the hold key moves.
    pub fn change(&mut self, f: impl FnOnce(&mut Policy)) -> Vec<Action> {
        f(&mut self.policy);
        self.policy.hold_key = format!("{}+", self.policy.hold_key);
        self.step(Input::Reconcile)
    }

    /// A template edit: the upgrade key moves.
    pub fn edit_template(&mut self, key: &str) -> Vec<Action> {
        self.change(|p| {
            p.upgrade_key = key.into();
            p.template_hash = format!("t-{key}");
        })
    }

    pub fn advance(&mut self, d: Duration) -> Vec<Action> {
        self.now = after(self.now, d);
        self.step(Input::Reconcile)
    }

    pub fn next_deadline(&self) -> Option<Timestamp> {
        self.lc.next_deadline(&self.policy, &self.records)
    }

    pub fn job(&self) -> Uuid {
        self.lc.active_job().expect("a job")
    }

    pub fn status(&self) -> DeploymentState {
        self.lc.status
    }

    /// From a fresh Deployment to a RUNNING job.
    pub fn running() -> World {
        let mut w = World::new();
        w.step(Input::Reconcile);
        w.run_job();
        w
    }

    /// The job being started gets its turn and reaches RUNNING.
    pub fn run_job(&mut self) {
        let job = self.job();
        self.step(Input::StartBegan { job });
        self.step(Input::JobRunning { job });
        assert_eq!(self.lc.status, DeploymentState::Running, "{:?}", self.lc);
    }

    pub fn savepoint_in_flight(&self) -> Uuid {
        match &self.lc.phase {
            Phase::Savepointing { savepoint, .. } | Phase::UserSavepointing { savepoint, .. } => {
                *savepoint
            }
            other => panic!("no savepoint in flight: {other:?}"),
        }
    }

    /// The savepoint under way fails; the wait before the next attempt is let pass.
    pub fn fail_savepoint(&mut self, reason: &str) -> Vec<Action> {
        let job = self.job();
        let savepoint = self.savepoint_in_flight();
        let mut a = self.step(Input::SavepointFailed {
            job,
            savepoint,
            reason: reason.into(),
        });
        if let Phase::Savepointing {
            retry_at: Some(at), ..
        } = self.lc.phase
        {
            self.now = at;
            a.extend(self.step(Input::Reconcile));
        }
        a
    }

    /// The savepoint under way completes; then its cluster is torn down.
    pub fn complete_savepoint(&mut self, location: &str) -> Vec<Action> {
        let job = self.job();
        let savepoint = self.savepoint_in_flight();
        self.step(Input::SavepointCompleted {
            job,
            savepoint,
            location: location.into(),
        })
    }

    pub fn tear_down(&mut self) -> Vec<Action> {
        let job = self.job();
        assert!(
            matches!(self.lc.phase, Phase::TearingDown { .. }),
            "{:?}",
            self.lc.phase
        );
        self.step(Input::TornDown { job })
    }

    pub fn savepoint(&self, id: Uuid) -> &Savepoint {
        self.records.savepoint(id).expect("a savepoint record")
    }

    pub fn completed_savepoints(&self) -> Vec<&Savepoint> {
        self.records
            .savepoints
            .iter()
            .filter(|s| s.state == SavepointState::Completed)
            .collect()
    }

    /// A lifecycle as a restarted daemon reads it back.
    pub fn restart(&mut self, found: Option<Found>) -> Vec<Action> {
        let json = serde_json::to_string(&self.lc).unwrap();
        self.lc = serde_json::from_str(&json).unwrap();
        self.step(Input::Restarted { found })
    }
}

/// The start in `actions`: (job, restore, allow_non_restored_state).
pub fn started(actions: &[Action]) -> Option<(Uuid, Option<Restore>, bool)> {
    actions.iter().find_map(|a| match a {
        Action::StartJob {
            job,
            restore,
            allow_non_restored_state,
            ..
        } => Some((*job, restore.clone(), *allow_non_restored_state)),
        _ => None,
    })
}

pub fn event_names(actions: &[Action]) -> Vec<&'static str> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Event { name, .. } => Some(name.as_str()),
            _ => None,
        })
        .collect()
}

pub fn event_messages(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Event { name, message, .. } => Some(format!("{name}: {message}")),
            _ => None,
        })
        .collect()
}

/// The effects (not records, not events) in `actions`, briefly.
pub fn effects(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::StartJob { resume, .. } => {
                Some(if *resume { "resume start" } else { "start" }.to_string())
            }
            Action::Adopt { .. } => Some("adopt".into()),
            Action::StopWithSavepoint { .. } => Some("stop with savepoint".into()),
            Action::TriggerSavepoint { .. } => Some("trigger savepoint".into()),
            Action::ResumeSavepoint { stop, .. } => Some(format!("resume savepoint (stop {stop})")),
            Action::Cancel { .. } => Some("cancel".into()),
            Action::ReplaceTaskManagers { .. } => Some("replace task managers".into()),
            Action::TearDown { confirm, .. } => Some(match confirm {
                Some(_) => "tear down (confirm)".to_string(),
                None => "tear down".to_string(),
            }),
            _ => None,
        })
        .collect()
}

pub fn quota_actions(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::ReserveQuota { request, cores } => Some(format!("reserve #{request} {cores}")),
            Action::SetQuota { cores } => Some(format!("set {cores}")),
            _ => None,
        })
        .collect()
}

pub fn job_states(actions: &[Action]) -> Vec<JobState> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::RecordJob { state, .. } => Some(*state),
            _ => None,
        })
        .collect()
}
