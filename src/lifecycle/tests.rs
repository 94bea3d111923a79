//! Every rule of the reference page, driven step by step through the pure lifecycle,
//! and property tests over random sequences of events.

use super::*;
use crate::spec::RecordMetadata;
use proptest::prelude::*;
use time::macros::datetime;

const T0: Timestamp = datetime!(2026-11-24 10:00:00 UTC);

/// A Deployment's lifecycle with the bookkeeping its actor would do: Savepoint records
/// are kept as the actions say, so that restores see them.
struct World {
    lc: Lifecycle,
    /// Grant every quota request at once (the quota's own tests turn this off).
    auto_quota: bool,
    policy: Policy,
    timing: Timing,
    now: Timestamp,
    savepoints: Vec<Savepoint>,
}

fn policy() -> Policy {
    Policy {
        desired: DesiredState::Running,
        upgrade: UpgradeStrategyKind::Stateful,
        restore: RestoreStrategyKind::LatestState,
        allow_non_restored_state: false,
        max_job_creation_attempts: 4,
        max_savepoint_creation_attempts: 4,
        template_hash: "t1".into(),
        spec_hash: "s1".into(),
        graceful_stop: true,
        cores: 2.0,
    }
}

impl World {
    fn new() -> World {
        World {
            lc: Lifecycle::default(),
            auto_quota: true,
            policy: policy(),
            timing: Timing::default(),
            now: T0,
            savepoints: Vec::new(),
        }
    }

    fn step(&mut self, input: Input) -> Vec<Action> {
        let mut actions = self.lc.step(
            &self.policy,
            &self.timing,
            input,
            self.now,
            &self.savepoints,
        );
        if self.auto_quota
            && actions
                .iter()
                .any(|a| matches!(a, Action::ReserveQuota { .. }))
        {
            let granted = self.lc.step(
                &self.policy,
                &self.timing,
                Input::QuotaGranted,
                self.now,
                &self.savepoints,
            );
            actions.extend(granted);
        }
        for a in &actions {
            if let Action::RecordSavepoint {
                savepoint,
                job,
                origin,
                state,
                location,
                ..
            } = a
            {
                match self
                    .savepoints
                    .iter_mut()
                    .find(|s| s.metadata.id == *savepoint)
                {
                    Some(s) => {
                        s.state = *state;
                        s.location = location.clone();
                    }
                    None => self.savepoints.push(Savepoint {
                        metadata: RecordMetadata {
                            id: *savepoint,
                            namespace: "default".into(),
                            deployment_id: Uuid::nil(),
                            job_id: Some(*job),
                            created_at: self.now,
                            modified_at: self.now,
                        },
                        origin: *origin,
                        state: *state,
                        location: location.clone(),
                        trigger_id: None,
                        failure: None,
                    }),
                }
            }
        }
        actions
    }

    /// Changes the spec: `f` edits the policy, and the spec hash moves.
    fn change(&mut self, f: impl FnOnce(&mut Policy)) -> Vec<Action> {
        f(&mut self.policy);
        self.policy.spec_hash = format!("{}+", self.policy.spec_hash);
        self.step(Input::Reconcile)
    }

    fn advance(&mut self, d: Duration) -> Vec<Action> {
        self.now = after(self.now, d);
        self.step(Input::Reconcile)
    }

    fn job(&self) -> Uuid {
        self.lc.active_job().expect("a job")
    }

    /// From a fresh Deployment to a RUNNING job.
    fn running() -> World {
        let mut w = World::new();
        w.step(Input::Reconcile);
        let job = w.job();
        w.step(Input::JobRunning { job });
        assert_eq!(w.lc.status, DeploymentState::Running);
        w
    }

    fn savepoint_in_flight(&self) -> Uuid {
        match &self.lc.phase {
            Phase::Savepointing { savepoint, .. } => *savepoint,
            p => panic!("not savepointing: {p:?}"),
        }
    }
}

fn started(actions: &[Action]) -> Option<(Uuid, Option<Restore>, bool)> {
    actions.iter().find_map(|a| match a {
        Action::StartJob {
            job,
            restore,
            allow_non_restored_state,
        } => Some((*job, restore.clone(), *allow_non_restored_state)),
        _ => None,
    })
}

fn event_names(actions: &[Action]) -> Vec<&'static str> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Event { name, .. } => Some(*name),
            _ => None,
        })
        .collect()
}

/// The actions with an effect, quota bookkeeping aside (the quota tests look at it).
fn effects(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter(|a| {
            !matches!(
                a,
                Action::Event { .. } | Action::ReserveQuota { .. } | Action::ReleaseQuota
            )
        })
        .map(|a| match a {
            Action::StartJob { .. } => "StartJob".to_string(),
            Action::StopWithSavepoint { .. } => "StopWithSavepoint".to_string(),
            Action::TriggerSavepoint { .. } => "TriggerSavepoint".to_string(),
            Action::Cancel { .. } => "Cancel".to_string(),
            Action::TearDown { .. } => "TearDown".to_string(),
            Action::RecordJob { state, .. } => format!("Job {state}"),
            Action::RecordSavepoint { state, origin, .. } => format!("Savepoint {origin} {state}"),
            Action::Event { .. } | Action::ReserveQuota { .. } | Action::ReleaseQuota => {
                unreachable!()
            }
        })
        .collect()
}

// ---- transitions to RUNNING ----

#[test]
fn a_new_running_deployment_starts_a_job_with_empty_state() {
    let mut w = World::new();
    let a = w.step(Input::Reconcile);
    assert_eq!(effects(&a), ["StartJob"]);
    assert_eq!(event_names(&a), [events::STARTING_JOB]);
    let (job, restore, _) = started(&a).unwrap();
    assert_eq!(restore, None);
    assert_eq!(w.lc.status, DeploymentState::Transitioning);
    assert_eq!(w.lc.active_job(), Some(job));
    // Nothing more happens until Flink answers.
    assert!(w.step(Input::Reconcile).is_empty());
}

#[test]
fn flink_running_makes_the_job_started_and_the_deployment_running() {
    let mut w = World::new();
    w.step(Input::Reconcile);
    let job = w.job();
    w.now = after(T0, Duration::from_secs(12));
    let a = w.step(Input::JobRunning { job });
    assert_eq!(effects(&a), ["Job STARTED"]);
    assert_eq!(event_names(&a), [events::JOB_SUCCESSFULLY_STARTED]);
    assert_eq!(w.lc.status, DeploymentState::Running);
    assert_eq!(w.lc.running_since, Some(w.now));
    assert!(matches!(w.lc.phase, Phase::Running { .. }));
}

#[test]
fn idle_deployments_take_the_desired_state_without_a_job() {
    for (desired, status) in [
        (DesiredState::Suspended, DeploymentState::Suspended),
        (DesiredState::Cancelled, DeploymentState::Cancelled),
    ] {
        let mut w = World::new();
        w.policy.desired = desired;
        assert!(w.step(Input::Reconcile).is_empty());
        assert_eq!(w.lc.status, status);
        assert_eq!(w.lc.active_job(), None);
    }
}

// ---- the CPU quota ----

fn quota_actions(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::ReserveQuota { cores } => Some(format!("Reserve {cores}")),
            Action::ReleaseQuota => Some("Release".to_string()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_start_waits_for_the_quota() {
    let mut w = World::new();
    w.auto_quota = false;
    let a = w.step(Input::Reconcile);
    assert_eq!(quota_actions(&a), ["Reserve 2"]);
    assert!(
        started(&a).is_none(),
        "nothing starts before the cores are granted"
    );
    assert_eq!(w.lc.status, DeploymentState::Transitioning);
    // Refused: announced once, then waiting quietly.
    let a = w.step(Input::QuotaDenied {
        used: 3.0,
        limit: 4.0,
    });
    assert_eq!(event_names(&a), [events::RESOURCE_QUOTA_EXCEEDED]);
    let msg = match &a[0] {
        Action::Event { message, .. } => message.clone(),
        _ => unreachable!(),
    };
    assert!(
        msg.contains("needs 2 CPU cores, but 3 of the quota's 4 are in use"),
        "{msg}"
    );
    assert_eq!(
        quota_actions(&w.step(Input::Reconcile)),
        ["Reserve 2"],
        "asks again when woken"
    );
    assert!(event_names(&w.step(Input::QuotaDenied {
        used: 3.0,
        limit: 4.0
    }))
    .is_empty());
    // Granted: the job starts.
    w.step(Input::Reconcile);
    assert!(started(&w.step(Input::QuotaGranted)).is_some());
}

#[test]
fn a_waiting_deployment_can_be_suspended_and_a_late_grant_is_given_back() {
    let mut w = World::new();
    w.auto_quota = false;
    w.step(Input::Reconcile);
    w.step(Input::QuotaDenied {
        used: 4.0,
        limit: 4.0,
    });
    assert!(w.change(|p| p.desired = DesiredState::Suspended).is_empty());
    assert_eq!(w.lc.status, DeploymentState::Suspended);
    assert_eq!(w.lc.phase, Phase::Idle);
    assert_eq!(quota_actions(&w.step(Input::QuotaGranted)), ["Release"]);
}

#[test]
fn cores_are_released_when_the_cluster_is_gone() {
    let mut w = World::running();
    let job = w.job();
    w.change(|p| p.desired = DesiredState::Cancelled);
    w.step(Input::CancelCompleted { job });
    assert_eq!(quota_actions(&w.step(Input::TornDown { job })), ["Release"]);
}

#[test]
fn a_running_deployment_is_never_stopped_for_the_quota() {
    let mut w = World::running();
    // Whatever the quota says, a running job gets no stop, cancel or teardown from it.
    for input in [
        Input::QuotaDenied {
            used: 99.0,
            limit: 1.0,
        },
        Input::Reconcile,
    ] {
        assert!(effects(&w.step(input)).is_empty());
    }
    assert_eq!(w.lc.status, DeploymentState::Running);
}

// ---- savepoints on request ----

#[test]
fn a_user_savepoint_keeps_the_job_running() {
    let mut w = World::running();
    let job = w.job();
    let sp = Uuid::new_v4();
    let a = w.step(Input::UserSavepoint { savepoint: sp });
    assert_eq!(
        effects(&a),
        ["Savepoint USER_REQUEST STARTED", "TriggerSavepoint"]
    );
    assert_eq!(
        w.lc.status,
        DeploymentState::Running,
        "still RUNNING while it is taken"
    );
    let a = w.step(Input::SavepointCompleted {
        job,
        savepoint: sp,
        location: "file:///u".into(),
    });
    assert_eq!(effects(&a), ["Savepoint USER_REQUEST COMPLETED"]);
    assert!(matches!(w.lc.phase, Phase::Running { .. }));
    // It is a restore point like any other.
    w.change(|p| p.desired = DesiredState::Cancelled);
    w.step(Input::CancelCompleted { job });
    w.step(Input::TornDown { job });
    let (_, restore, _) = started(&w.change(|p| p.desired = DesiredState::Running)).unwrap();
    assert_eq!(restore.unwrap().location, "file:///u");
}

#[test]
fn user_savepoint_failures_count_against_the_limit() {
    let mut w = World::running();
    w.policy.max_savepoint_creation_attempts = 2;
    let job = w.job();
    for n in 1..=2 {
        let sp = Uuid::new_v4();
        w.step(Input::UserSavepoint { savepoint: sp });
        let a = w.step(Input::SavepointFailed {
            job,
            savepoint: sp,
            reason: "disk full".into(),
        });
        assert_eq!(
            effects(&a),
            ["Savepoint USER_REQUEST FAILED"],
            "no retry of a request"
        );
        assert_eq!(w.lc.savepoint_failures, n);
    }
    assert_eq!(w.lc.status, DeploymentState::Failed);
    assert_eq!(w.lc.active_job(), Some(job), "the job runs on");
}

#[test]
fn a_user_savepoint_is_refused_unless_running_and_a_change_waits_for_it() {
    let mut w = World::new();
    w.auto_quota = false;
    w.step(Input::Reconcile);
    assert!(
        w.step(Input::UserSavepoint {
            savepoint: Uuid::new_v4()
        })
        .is_empty(),
        "no job to take it from"
    );
    let mut w = World::running();
    let job = w.job();
    let sp = Uuid::new_v4();
    w.step(Input::UserSavepoint { savepoint: sp });
    assert!(
        effects(&w.change(|p| p.desired = DesiredState::Suspended)).is_empty(),
        "not interrupted"
    );
    let a = w.step(Input::SavepointCompleted {
        job,
        savepoint: sp,
        location: "l".into(),
    });
    assert_eq!(
        effects(&a),
        [
            "Savepoint USER_REQUEST COMPLETED",
            "Savepoint SUSPEND STARTED",
            "StopWithSavepoint"
        ]
    );
}

// ---- restore strategies ----

fn record(origin: SavepointOrigin, state: SavepointState, minutes: i64, loc: &str) -> Savepoint {
    Savepoint {
        metadata: RecordMetadata {
            id: Uuid::new_v4(),
            namespace: "default".into(),
            deployment_id: Uuid::nil(),
            job_id: None,
            created_at: T0 + time::Duration::minutes(minutes),
            modified_at: T0 + time::Duration::minutes(minutes),
        },
        origin,
        state,
        location: Some(loc.into()),
        trigger_id: None,
        failure: None,
    }
}

#[test]
fn restore_strategies_choose_the_snapshot() {
    let sps = vec![
        record(
            SavepointOrigin::Suspend,
            SavepointState::Completed,
            1,
            "sp-1",
        ),
        record(
            SavepointOrigin::UserRequest,
            SavepointState::Completed,
            2,
            "sp-2",
        ),
        record(
            SavepointOrigin::RetainedCheckpoint,
            SavepointState::Completed,
            3,
            "chk-3",
        ),
        record(SavepointOrigin::Suspend, SavepointState::Failed, 4, "sp-4"),
        record(
            SavepointOrigin::SuspendAndUpgrade,
            SavepointState::Started,
            5,
            "sp-5",
        ),
    ];
    let loc = |s: Option<&Savepoint>| s.and_then(|s| s.location.clone());
    assert_eq!(
        loc(choose_restore(RestoreStrategyKind::LatestState, &sps)),
        Some("chk-3".into())
    );
    assert_eq!(
        loc(choose_restore(RestoreStrategyKind::LatestSavepoint, &sps)),
        Some("sp-2".into())
    );
    assert_eq!(loc(choose_restore(RestoreStrategyKind::None, &sps)), None);
    assert_eq!(
        loc(choose_restore(RestoreStrategyKind::LatestState, &[])),
        None
    );
}

#[test]
fn a_start_passes_the_restore_and_allow_non_restored_state() {
    let mut w = World::new();
    w.policy.allow_non_restored_state = true;
    let sp = record(
        SavepointOrigin::Suspend,
        SavepointState::Completed,
        1,
        "file:///sp-1",
    );
    let id = sp.metadata.id;
    w.savepoints.push(sp);
    let (_, restore, allow) = started(&w.step(Input::Reconcile)).unwrap();
    assert_eq!(
        restore,
        Some(Restore {
            savepoint: id,
            location: "file:///sp-1".into()
        })
    );
    assert!(allow);
}

// ---- transitions to SUSPENDED ----

#[test]
fn suspend_stops_with_a_savepoint_then_tears_down() {
    let mut w = World::running();
    let job = w.job();
    let a = w.change(|p| p.desired = DesiredState::Suspended);
    assert_eq!(
        effects(&a),
        ["Savepoint SUSPEND STARTED", "StopWithSavepoint"]
    );
    assert_eq!(
        event_names(&a),
        [events::CREATING_A_SAVEPOINT_BEFORE_SUSPENSION]
    );
    assert_eq!(w.lc.status, DeploymentState::Transitioning);
    let sp = w.savepoint_in_flight();
    let a = w.step(Input::SavepointCompleted {
        job,
        savepoint: sp,
        location: "file:///sp".into(),
    });
    assert_eq!(
        effects(&a),
        ["Savepoint SUSPEND COMPLETED", "Job FINISHED", "TearDown"]
    );
    assert_eq!(w.lc.status, DeploymentState::Transitioning);
    let a = w.step(Input::TornDown { job });
    assert_eq!(
        event_names(&a),
        [events::CLUSTER_TORN_DOWN, events::DEPLOYMENT_SUSPENDED]
    );
    assert_eq!(w.lc.status, DeploymentState::Suspended);
    assert_eq!(w.lc.active_job(), None);
    assert_eq!(w.savepoints[0].state, SavepointState::Completed);
}

#[test]
fn flink_1_8_suspends_with_a_savepoint_then_a_cancel() {
    let mut w = World::new();
    w.policy.graceful_stop = false;
    w.step(Input::Reconcile);
    let job = w.job();
    w.step(Input::JobRunning { job });
    let a = w.change(|p| p.desired = DesiredState::Suspended);
    assert_eq!(
        effects(&a),
        ["Savepoint SUSPEND STARTED", "TriggerSavepoint"]
    );
    let sp = w.savepoint_in_flight();
    let a = w.step(Input::SavepointCompleted {
        job,
        savepoint: sp,
        location: "file:///sp".into(),
    });
    assert_eq!(
        effects(&a),
        ["Savepoint SUSPEND COMPLETED", "Job TERMINATING", "Cancel"]
    );
    let a = w.step(Input::CancelCompleted { job });
    assert_eq!(effects(&a), ["Job TERMINATED", "TearDown"]);
    w.step(Input::TornDown { job });
    assert_eq!(w.lc.status, DeploymentState::Suspended);
}

#[test]
fn flink_1_8_cancels_only_after_a_completed_savepoint() {
    let mut w = World::new();
    w.policy.graceful_stop = false;
    w.step(Input::Reconcile);
    let job = w.job();
    w.step(Input::JobRunning { job });
    w.change(|p| p.desired = DesiredState::Suspended);
    let sp = w.savepoint_in_flight();
    let a = w.step(Input::SavepointFailed {
        job,
        savepoint: sp,
        reason: "disk full".into(),
    });
    assert!(!effects(&a).contains(&"Cancel".to_string()), "{a:?}");
    assert_eq!(
        effects(&a),
        [
            "Savepoint SUSPEND FAILED",
            "Savepoint SUSPEND STARTED",
            "TriggerSavepoint"
        ]
    );
}

#[test]
fn flink_versions_choose_the_way_to_stop() {
    for (v, graceful) in [
        ("1.8", false),
        ("1.7", false),
        ("0.10", false),
        ("1.9", true),
        ("1.11", true),
        ("1.20", true),
        ("2.3", true),
        ("2", true),
        ("dev", true),
    ] {
        assert_eq!(graceful_stop(v), graceful, "{v}");
    }
}

#[test]
fn resuming_restores_from_the_suspension_savepoint() {
    let mut w = World::running();
    let job = w.job();
    w.change(|p| p.desired = DesiredState::Suspended);
    let sp = w.savepoint_in_flight();
    w.step(Input::SavepointCompleted {
        job,
        savepoint: sp,
        location: "file:///sp".into(),
    });
    w.step(Input::TornDown { job });
    let a = w.change(|p| p.desired = DesiredState::Running);
    let (new_job, restore, _) = started(&a).unwrap();
    assert_ne!(new_job, job);
    assert_eq!(restore.unwrap().location, "file:///sp");
}

// ---- transitions to CANCELLED ----

#[test]
fn cancel_cancels_then_tears_down() {
    let mut w = World::running();
    let job = w.job();
    let a = w.change(|p| p.desired = DesiredState::Cancelled);
    assert_eq!(effects(&a), ["Job TERMINATING", "Cancel"]);
    assert_eq!(event_names(&a), [events::CANCELLING_JOB]);
    let a = w.step(Input::CancelCompleted { job });
    assert_eq!(effects(&a), ["Job TERMINATED", "TearDown"]);
    w.step(Input::TornDown { job });
    assert_eq!(w.lc.status, DeploymentState::Cancelled);
    assert_eq!(w.lc.active_job(), None);
}

#[test]
fn cancel_deadline_tears_down_when_it_passes() {
    let mut w = World::running();
    let job = w.job();
    w.change(|p| p.desired = DesiredState::Cancelled);
    assert_eq!(
        w.lc.next_deadline(),
        Some(after(T0, Duration::from_secs(180)))
    );
    // Just before the 3-minute deadline: still waiting.
    assert!(w.advance(Duration::from_secs(179)).is_empty());
    assert!(matches!(w.lc.phase, Phase::Cancelling { .. }));
    let a = w.advance(Duration::from_secs(1));
    assert_eq!(effects(&a), ["Job TERMINATED", "TearDown"]);
    assert_eq!(event_names(&a), [events::CANCELLATION_DEADLINE_EXCEEDED]);
    w.step(Input::TornDown { job });
    assert_eq!(w.lc.status, DeploymentState::Cancelled);
}

#[test]
fn cancel_tears_down_after_five_failures() {
    let mut w = World::running();
    let job = w.job();
    w.change(|p| p.desired = DesiredState::Cancelled);
    for i in 1..5 {
        let a = w.step(Input::CancelFailed {
            job,
            reason: "timeout".into(),
        });
        assert_eq!(effects(&a), ["Cancel"], "failure {i} retries");
    }
    let a = w.step(Input::CancelFailed {
        job,
        reason: "timeout".into(),
    });
    assert_eq!(effects(&a), ["Job TERMINATED", "TearDown"]);
    assert_eq!(
        event_names(&a),
        [events::TOO_MANY_FAILED_CANCELLATION_ATTEMPTS]
    );
    w.step(Input::TornDown { job });
    assert_eq!(w.lc.status, DeploymentState::Cancelled);
}

#[test]
fn cancel_limits_come_from_timing() {
    let mut w = World::running();
    w.timing.cancel_attempts = 2;
    w.timing.cancel_deadline = Duration::from_secs(5);
    let job = w.job();
    w.change(|p| p.desired = DesiredState::Cancelled);
    assert_eq!(
        effects(&w.step(Input::CancelFailed {
            job,
            reason: "x".into()
        })),
        ["Cancel"]
    );
    assert_eq!(
        effects(&w.step(Input::CancelFailed {
            job,
            reason: "x".into()
        })),
        ["Job TERMINATED", "TearDown"]
    );

    let mut w = World::running();
    w.timing.cancel_deadline = Duration::from_secs(5);
    w.change(|p| p.desired = DesiredState::Cancelled);
    assert_eq!(
        effects(&w.advance(Duration::from_secs(5))),
        ["Job TERMINATED", "TearDown"]
    );
}

// ---- upgrades ----

#[test]
fn stateful_upgrade_suspends_then_starts_from_the_savepoint() {
    let mut w = World::running();
    let job = w.job();
    let a = w.change(|p| p.template_hash = "t2".into());
    assert_eq!(
        effects(&a),
        ["Savepoint SUSPEND_AND_UPGRADE STARTED", "StopWithSavepoint"]
    );
    assert_eq!(
        event_names(&a),
        [events::CREATING_A_SAVEPOINT_BEFORE_UPGRADE]
    );
    let sp = w.savepoint_in_flight();
    let a = w.step(Input::SavepointCompleted {
        job,
        savepoint: sp,
        location: "file:///up".into(),
    });
    assert_eq!(
        effects(&a),
        [
            "Savepoint SUSPEND_AND_UPGRADE COMPLETED",
            "Job FINISHED",
            "TearDown"
        ]
    );
    let a = w.step(Input::TornDown { job });
    let (new_job, restore, _) = started(&a).expect("the upgraded job starts");
    assert_eq!(restore.unwrap().location, "file:///up");
    assert_eq!(w.lc.status, DeploymentState::Transitioning);
    w.step(Input::JobRunning { job: new_job });
    assert_eq!(w.lc.status, DeploymentState::Running);
    // The new job runs the new template: no further upgrade.
    assert!(w.step(Input::Reconcile).is_empty());
}

#[test]
fn stateless_upgrade_cancels_then_starts_per_restore_strategy() {
    let mut w = World::running();
    w.policy.upgrade = UpgradeStrategyKind::Stateless;
    w.policy.restore = RestoreStrategyKind::None;
    w.savepoints.push(record(
        SavepointOrigin::UserRequest,
        SavepointState::Completed,
        1,
        "sp",
    ));
    let job = w.job();
    let a = w.change(|p| p.template_hash = "t2".into());
    assert_eq!(effects(&a), ["Job TERMINATING", "Cancel"]);
    assert_eq!(event_names(&a), [events::CANCELLING_JOB_FOR_UPGRADE]);
    w.step(Input::CancelCompleted { job });
    let a = w.step(Input::TornDown { job });
    let (_, restore, _) = started(&a).unwrap();
    assert_eq!(restore, None, "restore NONE starts from empty state");

    // With LATEST_SAVEPOINT it restores from the newest savepoint.
    let mut w = World::running();
    w.policy.upgrade = UpgradeStrategyKind::Stateless;
    w.policy.restore = RestoreStrategyKind::LatestSavepoint;
    w.savepoints.push(record(
        SavepointOrigin::UserRequest,
        SavepointState::Completed,
        1,
        "sp",
    ));
    let job = w.job();
    w.change(|p| p.template_hash = "t2".into());
    w.step(Input::CancelCompleted { job });
    let (_, restore, _) = started(&w.step(Input::TornDown { job })).unwrap();
    assert_eq!(restore.unwrap().location, "sp");
}

#[test]
fn upgrade_none_waits_for_the_next_transition() {
    let mut w = World::running();
    w.policy.upgrade = UpgradeStrategyKind::None;
    assert!(w.change(|p| p.template_hash = "t2".into()).is_empty());
    assert_eq!(w.lc.status, DeploymentState::Running);
    // The next transition (suspend, resume) picks the new template up.
    let job = w.job();
    w.change(|p| p.desired = DesiredState::Suspended);
    let sp = w.savepoint_in_flight();
    w.step(Input::SavepointCompleted {
        job,
        savepoint: sp,
        location: "l".into(),
    });
    w.step(Input::TornDown { job });
    w.change(|p| p.desired = DesiredState::Running);
    match &w.lc.phase {
        Phase::Starting { template_hash, .. } => assert_eq!(template_hash, "t2"),
        p => panic!("{p:?}"),
    }
}

// ---- limits ----

#[test]
fn job_creation_fails_after_max_attempts_then_holds_until_the_spec_changes() {
    let mut w = World::new();
    w.step(Input::Reconcile);
    for attempt in 1..=4u32 {
        let job = w.job();
        let a = w.step(Input::JobStartFailed {
            job,
            reason: "ClassNotFoundException: com.example.Nope".into(),
        });
        assert_eq!(effects(&a), ["Job FAILED", "TearDown"]);
        let msg = a
            .iter()
            .find_map(|a| match a {
                Action::Event { message, .. } => Some(message.clone()),
                _ => None,
            })
            .unwrap();
        assert!(msg.contains(&format!("attempt {attempt} of 4")), "{msg}");
        assert!(
            msg.contains("ClassNotFoundException"),
            "Flink's message is kept: {msg}"
        );
        let a = w.step(Input::TornDown { job });
        if attempt < 4 {
            assert!(started(&a).is_some(), "attempt {attempt} is retried");
            assert_eq!(w.lc.status, DeploymentState::Transitioning);
        } else {
            assert_eq!(started(&a), None);
            assert!(event_names(&a).contains(&events::TOO_MANY_FAILED_JOB_CREATION_ATTEMPTS));
        }
    }
    assert_eq!(w.lc.status, DeploymentState::Failed);
    assert_eq!(w.lc.active_job(), None);
    // FAILED holds while the spec is the same...
    assert!(w.step(Input::Reconcile).is_empty());
    assert!(w.advance(Duration::from_secs(3600)).is_empty());
    // ...and a spec change leaves it with fresh limits.
    let a = w.change(|p| p.template_hash = "t2".into());
    assert!(started(&a).is_some());
    assert!(event_names(&a).contains(&events::LEAVING_FAILED));
    assert_eq!(w.lc.job_creation_failures, 0);
}

#[test]
fn leaving_failed_by_cancelling() {
    let mut w = World::new();
    w.policy.max_job_creation_attempts = 1;
    w.step(Input::Reconcile);
    let job = w.job();
    w.step(Input::JobStartFailed {
        job,
        reason: "x".into(),
    });
    w.step(Input::TornDown { job });
    assert_eq!(w.lc.status, DeploymentState::Failed);
    let a = w.change(|p| p.desired = DesiredState::Cancelled);
    assert!(effects(&a).is_empty(), "{a:?}");
    assert_eq!(event_names(&a), [events::LEAVING_FAILED]);
    assert_eq!(w.lc.status, DeploymentState::Cancelled);
}

#[test]
fn job_creation_counter_resets_after_a_success() {
    let mut w = World::new();
    w.step(Input::Reconcile);
    for _ in 0..3 {
        let job = w.job();
        w.step(Input::JobStartFailed {
            job,
            reason: "x".into(),
        });
        w.step(Input::TornDown { job });
    }
    assert_eq!(w.lc.job_creation_failures, 3);
    let job = w.job();
    w.step(Input::JobRunning { job });
    assert_eq!(w.lc.job_creation_failures, 0);
}

#[test]
fn a_start_that_never_reaches_running_fails_at_its_deadline() {
    let mut w = World::new();
    w.timing.start_timeout = Duration::from_secs(60);
    w.step(Input::Reconcile);
    assert!(w.advance(Duration::from_secs(59)).is_empty());
    let a = w.advance(Duration::from_secs(1));
    assert_eq!(effects(&a), ["Job FAILED", "TearDown"]);
    assert_eq!(w.lc.job_creation_failures, 1);
}

#[test]
fn savepoints_fail_after_max_attempts_leaving_the_job_running() {
    let mut w = World::running();
    w.policy.max_savepoint_creation_attempts = 2;
    let job = w.job();
    w.change(|p| p.desired = DesiredState::Suspended);
    let sp = w.savepoint_in_flight();
    let a = w.step(Input::SavepointFailed {
        job,
        savepoint: sp,
        reason: "disk full".into(),
    });
    assert_eq!(
        effects(&a),
        [
            "Savepoint SUSPEND FAILED",
            "Savepoint SUSPEND STARTED",
            "StopWithSavepoint"
        ]
    );
    let sp2 = w.savepoint_in_flight();
    assert_ne!(sp, sp2);
    let a = w.step(Input::SavepointFailed {
        job,
        savepoint: sp2,
        reason: "disk full".into(),
    });
    assert_eq!(effects(&a), ["Savepoint SUSPEND FAILED"]);
    assert!(event_names(&a).contains(&events::TOO_MANY_FAILED_SAVEPOINT_CREATION_ATTEMPTS));
    assert_eq!(w.lc.status, DeploymentState::Failed);
    assert_eq!(w.lc.active_job(), Some(job), "the job may still be running");
    assert!(w.step(Input::Reconcile).is_empty());
    // Cancelling is the way out.
    let a = w.change(|p| p.desired = DesiredState::Cancelled);
    assert_eq!(effects(&a), ["Job TERMINATING", "Cancel"]);
}

#[test]
fn savepoint_counter_resets_after_a_success() {
    let mut w = World::running();
    let job = w.job();
    w.change(|p| p.desired = DesiredState::Suspended);
    let sp = w.savepoint_in_flight();
    w.step(Input::SavepointFailed {
        job,
        savepoint: sp,
        reason: "x".into(),
    });
    assert_eq!(w.lc.savepoint_failures, 1);
    let sp = w.savepoint_in_flight();
    w.step(Input::SavepointCompleted {
        job,
        savepoint: sp,
        location: "l".into(),
    });
    assert_eq!(w.lc.savepoint_failures, 0);
}

#[test]
fn a_savepoint_that_never_completes_fails_at_its_deadline() {
    let mut w = World::running();
    w.timing.savepoint_timeout = Duration::from_secs(30);
    w.change(|p| p.desired = DesiredState::Suspended);
    assert!(w.advance(Duration::from_secs(29)).is_empty());
    let a = w.advance(Duration::from_secs(1));
    assert_eq!(
        effects(&a),
        [
            "Savepoint SUSPEND FAILED",
            "Savepoint SUSPEND STARTED",
            "StopWithSavepoint"
        ]
    );
}

// ---- changes during a transition ----

#[test]
fn a_change_during_a_start_is_acted_on_when_it_ends() {
    let mut w = World::new();
    w.step(Input::Reconcile);
    let job = w.job();
    assert!(
        w.change(|p| p.desired = DesiredState::Suspended).is_empty(),
        "not interrupted"
    );
    let a = w.step(Input::JobRunning { job });
    assert_eq!(
        effects(&a),
        [
            "Job STARTED",
            "Savepoint SUSPEND STARTED",
            "StopWithSavepoint"
        ]
    );
}

#[test]
fn only_the_latest_spec_matters() {
    let mut w = World::running();
    let job = w.job();
    w.change(|p| p.desired = DesiredState::Suspended);
    // While suspending: to CANCELLED, then back to RUNNING with a new template.
    assert!(w.change(|p| p.desired = DesiredState::Cancelled).is_empty());
    assert!(w
        .change(|p| {
            p.desired = DesiredState::Running;
            p.template_hash = "t3".into();
        })
        .is_empty());
    let sp = w.savepoint_in_flight();
    w.step(Input::SavepointCompleted {
        job,
        savepoint: sp,
        location: "l".into(),
    });
    let a = w.step(Input::TornDown { job });
    let (_, restore, _) = started(&a).expect("RUNNING is what the latest spec says");
    assert_eq!(restore.unwrap().location, "l");
    match &w.lc.phase {
        Phase::Starting { template_hash, .. } => assert_eq!(template_hash, "t3"),
        p => panic!("{p:?}"),
    }
}

// ---- a job that ends by itself ----

#[test]
fn a_finite_job_finishes_the_deployment_and_is_not_restarted() {
    let mut w = World::running();
    let job = w.job();
    let a = w.step(Input::JobEnded {
        job,
        end: FlinkEnd::Finished,
        reason: String::new(),
    });
    assert_eq!(effects(&a), ["Job FINISHED", "TearDown"]);
    w.step(Input::TornDown { job });
    assert_eq!(w.lc.status, DeploymentState::Finished);
    assert!(w.step(Input::Reconcile).is_empty(), "FINISHED holds");
    assert!(
        started(&w.change(|p| p.template_hash = "t2".into())).is_some(),
        "until the spec changes"
    );
}

#[test]
fn a_job_that_finishes_before_it_is_seen_running_is_finished() {
    let mut w = World::new();
    w.step(Input::Reconcile);
    let job = w.job();
    let a = w.step(Input::JobEnded {
        job,
        end: FlinkEnd::Finished,
        reason: String::new(),
    });
    assert_eq!(effects(&a), ["Job FINISHED", "TearDown"]);
    w.step(Input::TornDown { job });
    assert_eq!(w.lc.status, DeploymentState::Finished);
}

#[test]
fn a_failed_running_job_is_recovered_per_the_restore_strategy() {
    let mut w = World::running();
    w.savepoints.push(record(
        SavepointOrigin::RetainedCheckpoint,
        SavepointState::Completed,
        1,
        "chk-7",
    ));
    let job = w.job();
    let a = w.step(Input::JobEnded {
        job,
        end: FlinkEnd::Failed,
        reason: "restart strategy exhausted".into(),
    });
    assert_eq!(effects(&a), ["Job FAILED", "TearDown"]);
    assert_eq!(event_names(&a), [events::JOB_FAILED]);
    let (_, restore, _) = started(&w.step(Input::TornDown { job })).unwrap();
    assert_eq!(restore.unwrap().location, "chk-7");
    assert_eq!(
        w.lc.job_creation_failures, 1,
        "it counts against maxJobCreationAttempts"
    );
}

#[test]
fn a_lost_cluster_is_a_lost_job() {
    let mut w = World::running();
    let job = w.job();
    let a = w.step(Input::ClusterLost {
        job,
        reason: "JobManager process 123 is gone".into(),
    });
    assert_eq!(effects(&a), ["Job FAILED", "TearDown"]);
    assert!(started(&w.step(Input::TornDown { job })).is_some());
}

#[test]
fn a_job_lost_while_cancelling_completes_the_cancel() {
    let mut w = World::running();
    let job = w.job();
    w.change(|p| p.desired = DesiredState::Cancelled);
    let a = w.step(Input::ClusterLost {
        job,
        reason: "gone".into(),
    });
    assert_eq!(effects(&a), ["Job TERMINATED", "TearDown"]);
}

#[test]
fn stale_answers_are_ignored() {
    let mut w = World::running();
    let job = w.job();
    let other = Uuid::new_v4();
    assert!(w
        .step(Input::JobEnded {
            job: other,
            end: FlinkEnd::Failed,
            reason: "x".into()
        })
        .is_empty());
    assert!(w.step(Input::TornDown { job: other }).is_empty());
    w.change(|p| p.desired = DesiredState::Suspended);
    assert!(w
        .step(Input::SavepointCompleted {
            job,
            savepoint: Uuid::new_v4(),
            location: "l".into()
        })
        .is_empty());
    assert!(
        w.step(Input::JobRunning { job }).is_empty(),
        "a repeated report changes nothing"
    );
    assert!(matches!(w.lc.phase, Phase::Savepointing { .. }));
}

#[test]
fn policy_from_an_expanded_spec() {
    let spec: DeploymentSpec = serde_json::from_value(serde_json::json!({
        "state": "SUSPENDED",
        "upgradeStrategy": {"kind": "STATELESS"},
        "restoreStrategy": {"kind": "LATEST_SAVEPOINT", "allowNonRestoredState": true},
        "maxJobCreationAttempts": 2,
        "maxSavepointCreationAttempts": 3,
        "template": {"spec": {"artifact": {"flinkVersion": "1.8", "jarUri": "a.jar"}}}
    }))
    .unwrap();
    let p = Policy::from_spec(&spec);
    assert_eq!(p.desired, DesiredState::Suspended);
    assert_eq!(p.upgrade, UpgradeStrategyKind::Stateless);
    assert_eq!(p.restore, RestoreStrategyKind::LatestSavepoint);
    assert!(p.allow_non_restored_state);
    assert_eq!(
        (
            p.max_job_creation_attempts,
            p.max_savepoint_creation_attempts
        ),
        (2, 3)
    );
    assert!(!p.graceful_stop);
    let mut other = spec.clone();
    other.state = Some(DesiredState::Running);
    let q = Policy::from_spec(&other);
    assert_eq!(
        p.template_hash, q.template_hash,
        "state is not part of the template"
    );
    assert_ne!(p.spec_hash, q.spec_hash);
}

#[test]
fn the_state_survives_serialization() {
    let mut w = World::running();
    w.change(|p| p.desired = DesiredState::Cancelled);
    let json = serde_json::to_string(&w.lc).unwrap();
    let back: Lifecycle = serde_json::from_str(&json).unwrap();
    assert_eq!(back, w.lc);
}

// ---- properties over random event sequences ----

/// One random thing that can happen, resolved against the current state so that most
/// inputs are about the current job (and some are stale).
#[derive(Debug, Clone)]
enum Move {
    Desire(u8),
    Template(u8),
    Upgrade(u8),
    Advance(u16),
    Running,
    StartFailed,
    Ended(u8),
    Lost,
    SavepointOk,
    SavepointFail,
    CancelOk,
    CancelFail,
    TornDown,
    Stale,
    QuotaOk,
    QuotaNo,
    UserSavepoint,
}

fn moves() -> impl Strategy<Value = Move> {
    prop_oneof![
        (0u8..3).prop_map(Move::Desire),
        (0u8..3).prop_map(Move::Template),
        (0u8..3).prop_map(Move::Upgrade),
        (0u16..400).prop_map(Move::Advance),
        Just(Move::Running),
        Just(Move::StartFailed),
        (0u8..3).prop_map(Move::Ended),
        Just(Move::Lost),
        Just(Move::SavepointOk),
        Just(Move::SavepointFail),
        Just(Move::CancelOk),
        Just(Move::CancelFail),
        Just(Move::TornDown),
        Just(Move::Stale),
        Just(Move::QuotaOk),
        Just(Move::QuotaNo),
        Just(Move::UserSavepoint),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    #[test]
    fn never_two_jobs_and_limits_hold(
        moves in prop::collection::vec(moves(), 1..80),
        max_jobs in 1u32..5,
        max_savepoints in 1u32..5,
        graceful in any::<bool>(),
    ) {
        let mut w = World::new();
        w.auto_quota = false;
        w.policy.max_job_creation_attempts = max_jobs;
        w.policy.max_savepoint_creation_attempts = max_savepoints;
        w.policy.graceful_stop = graceful;
        w.timing.cancel_deadline = Duration::from_secs(180);
        let mut started_jobs: Vec<Uuid> = Vec::new();
        let mut gone: std::collections::HashSet<Uuid> = Default::default();
        let mut actions = w.step(Input::Reconcile);
        for m in moves {
            for a in &actions {
                if let Action::StartJob { job, .. } = a {
                    prop_assert!(started_jobs.iter().all(|j| gone.contains(j)),
                        "a job was started while another one's cluster was not gone");
                    started_jobs.push(*job);
                }
            }
            let job = w.lc.active_job().unwrap_or_else(Uuid::new_v4);
            let sp = match &w.lc.phase {
                Phase::Savepointing { savepoint, .. } | Phase::UserSavepointing { savepoint, .. } => *savepoint,
                _ => Uuid::new_v4(),
            };
            let was_tearing_down = matches!(w.lc.phase, Phase::TearingDown { .. });
            let m_was = m.clone();
            actions = match m {
                Move::Desire(d) => w.change(|p| p.desired = [DesiredState::Running, DesiredState::Suspended, DesiredState::Cancelled][d as usize]),
                Move::Template(t) => w.change(|p| p.template_hash = format!("t{t}")),
                Move::Upgrade(u) => w.change(|p| p.upgrade = [UpgradeStrategyKind::Stateful, UpgradeStrategyKind::Stateless, UpgradeStrategyKind::None][u as usize]),
                Move::Advance(s) => w.advance(Duration::from_secs(s as u64)),
                Move::Running => w.step(Input::JobRunning { job }),
                Move::StartFailed => w.step(Input::JobStartFailed { job, reason: "x".into() }),
                Move::Ended(e) => w.step(Input::JobEnded { job, end: [FlinkEnd::Finished, FlinkEnd::Failed, FlinkEnd::Canceled][e as usize], reason: "x".into() }),
                Move::Lost => w.step(Input::ClusterLost { job, reason: "x".into() }),
                Move::SavepointOk => w.step(Input::SavepointCompleted { job, savepoint: sp, location: "l".into() }),
                Move::SavepointFail => w.step(Input::SavepointFailed { job, savepoint: sp, reason: "x".into() }),
                Move::CancelOk => w.step(Input::CancelCompleted { job }),
                Move::CancelFail => w.step(Input::CancelFailed { job, reason: "x".into() }),
                Move::TornDown => {
                    if was_tearing_down { gone.insert(job); }
                    w.step(Input::TornDown { job })
                }
                Move::Stale => w.step(Input::TornDown { job: Uuid::new_v4() }),
                Move::QuotaOk => w.step(Input::QuotaGranted),
                Move::QuotaNo => w.step(Input::QuotaDenied { used: 1.0, limit: 1.0 }),
                Move::UserSavepoint => w.step(Input::UserSavepoint { savepoint: Uuid::new_v4() }),
            };
            // A job starts only when its cores were just granted.
            if started(&actions).is_some() {
                prop_assert!(matches!(m_was, Move::QuotaOk), "a start without a grant: {:?}", m_was);
            }
            // Limits are respected.
            prop_assert!(w.lc.job_creation_failures <= max_jobs);
            prop_assert!(w.lc.savepoint_failures <= max_savepoints);
            if let Phase::Cancelling { failures, deadline, .. } = &w.lc.phase {
                prop_assert!(*failures < w.timing.cancel_attempts);
                prop_assert!(w.now < *deadline, "a cancellation outlived its deadline");
            }
            // Status agrees with the phase.
            match w.lc.status {
                DeploymentState::Running => {
                    let running = matches!(w.lc.phase, Phase::Running { .. } | Phase::UserSavepointing { .. });
                    prop_assert!(running, "RUNNING without a running job");
                }
                DeploymentState::Failed => prop_assert!(w.lc.held_for_spec.is_some()),
                DeploymentState::Suspended | DeploymentState::Cancelled | DeploymentState::Finished =>
                    prop_assert_eq!(&w.lc.phase, &Phase::Idle),
                DeploymentState::Transitioning => prop_assert!(w.lc.phase != Phase::Idle),
            }
        }
    }
}
