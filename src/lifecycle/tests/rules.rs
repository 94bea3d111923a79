//! The reference page's rules, one test each.

use super::*;

#[test]
fn a_new_running_deployment_starts_a_job_with_empty_state() {
    let mut w = World::new();
    let a = w.step(Input::Reconcile);
    assert_eq!(quota_actions(&a), ["reserve #1 2"]);
    let (job, restore, allow) = started(&a).expect("a start");
    assert_eq!((restore, allow), (None, false));
    assert_eq!(w.status(), DeploymentState::Transitioning);
    assert_eq!(w.lc.cores_held, 2.0);
    let record = w.records.job(job).unwrap();
    assert_eq!(record.status.state, JobState::Starting);
    assert_eq!(
        record.status.flink_job_id.as_deref(),
        Some(job.simple().to_string().as_str()),
        "the Flink job id is written ahead"
    );
    assert_eq!(event_names(&a), ["STARTING_JOB"]);
}

#[test]
fn flink_running_makes_the_job_started_and_the_deployment_running() {
    let mut w = World::new();
    w.step(Input::Reconcile);
    let job = w.job();
    w.step(Input::StartBegan { job });
    let a = w.step(Input::JobRunning { job });
    assert_eq!(w.status(), DeploymentState::Running);
    assert_eq!(w.lc.running_since, Some(T0));
    assert_eq!(job_states(&a), [JobState::Started]);
    assert_eq!(event_names(&a), ["JOB_SUCCESSFULLY_STARTED"]);
    assert_eq!(w.records.job(job).unwrap().status.state, JobState::Started);
}

#[test]
fn idle_deployments_take_the_desired_state_without_a_job() {
    for (desired, status) in [
        (DesiredState::Suspended, DeploymentState::Suspended),
        (DesiredState::Cancelled, DeploymentState::Cancelled),
    ] {
        let mut w = World::new();
        w.policy.desired = desired;
        let a = w.step(Input::Reconcile);
        assert!(
            effects(&a).is_empty() && quota_actions(&a).is_empty(),
            "{a:?}"
        );
        assert_eq!(w.status(), status);
        assert_eq!(w.lc.phase, Phase::Idle);
    }
}

#[test]
fn a_start_waits_for_the_quota_and_the_refusal_is_announced_once() {
    let mut w = World::new();
    w.auto_quota = false;
    w.step(Input::Reconcile);
    let a = w.step(Input::QuotaDenied {
        request: 1,
        used: 3.0,
        limit: 4.0,
    });
    assert_eq!(event_names(&a), ["RESOURCE_QUOTA_EXCEEDED"]);
    assert_eq!(w.status(), DeploymentState::Transitioning);
    // Asked again when woken; refused again, no second event.
    let a = w.step(Input::Reconcile);
    assert_eq!(quota_actions(&a), ["reserve #2 2"]);
    let a = w.step(Input::QuotaDenied {
        request: 2,
        used: 3.0,
        limit: 4.0,
    });
    assert!(event_names(&a).is_empty());
    w.step(Input::Reconcile);
    let a = w.step(Input::QuotaGranted { request: 3 });
    assert!(started(&a).is_some());
    assert_eq!(w.lc.cores_held, 2.0);
}

#[test]
fn no_request_is_sent_while_one_is_unanswered() {
    let mut w = World::new();
    w.auto_quota = false;
    w.step(Input::Reconcile);
    for _ in 0..3 {
        assert!(quota_actions(&w.step(Input::Reconcile)).is_empty());
    }
}

#[test]
fn a_waiting_deployment_can_be_suspended_and_a_late_grant_is_undone() {
    let mut w = World::new();
    w.auto_quota = false;
    w.step(Input::Reconcile);
    let a = w.change(|p| p.desired = DesiredState::Suspended);
    // The request may be granted after this: saying again what is held undoes it.
    assert_eq!(quota_actions(&a), ["set 0"]);
    assert_eq!(w.status(), DeploymentState::Suspended);
    let a = w.step(Input::QuotaGranted { request: 1 });
    assert!(
        a.is_empty(),
        "a grant of a request given up changes nothing: {a:?}"
    );
    assert_eq!(w.lc.cores_held, 0.0);
}

#[test]
fn cores_are_given_back_when_the_cluster_is_gone() {
    let mut w = World::running();
    w.change(|p| p.desired = DesiredState::Cancelled);
    let job = w.job();
    w.step(Input::CancelCompleted {
        job,
        end: FlinkEnd::Canceled,
    });
    let a = w.tear_down();
    assert_eq!(quota_actions(&a), ["set 0"]);
    assert_eq!(w.lc.cores_held, 0.0);
}

#[test]
fn a_user_savepoint_keeps_the_job_running() {
    let mut w = World::running();
    let job = w.job();
    let a = w.step(Input::UserSavepoint);
    assert_eq!(effects(&a), ["trigger savepoint"]);
    let sp = w.savepoint_in_flight();
    assert_eq!(w.savepoint(sp).state, SavepointState::Started);
    assert_eq!(
        w.savepoint(sp).trigger_id.as_deref(),
        Some(sp.simple().to_string().as_str()),
        "the trigger id is written ahead"
    );
    w.step(Input::SavepointCompleted {
        job,
        savepoint: sp,
        location: "file:/sp/u1".into(),
    });
    assert!(matches!(w.lc.phase, Phase::Running { .. }));
    assert_eq!(w.status(), DeploymentState::Running);
    assert_eq!(w.savepoint(sp).state, SavepointState::Completed);
    assert_eq!(w.savepoint(sp).origin, SavepointOrigin::UserRequest);
}

#[test]
fn user_savepoint_failures_count_against_the_limit() {
    let mut w = World::running();
    w.policy.max_savepoint_creation_attempts = 2;
    let job = w.job();
    for n in 1..=2 {
        w.step(Input::UserSavepoint);
        let savepoint = w.savepoint_in_flight();
        let a = w.step(Input::SavepointFailed {
            job,
            savepoint,
            reason: "disk full".into(),
        });
        assert!(effects(&a).is_empty(), "a user savepoint is not repeated");
        assert_eq!(w.lc.savepoint_failures, n);
    }
    assert_eq!(w.status(), DeploymentState::Failed);
    assert!(
        matches!(w.lc.phase, Phase::Running { .. }),
        "the job runs on"
    );
}

#[test]
fn a_user_savepoint_is_refused_unless_running_and_a_change_waits_for_it() {
    let mut w = World::new();
    w.step(Input::Reconcile);
    assert!(!w.lc.takes_user_savepoints(), "not while starting");
    assert!(effects(&w.step(Input::UserSavepoint)).is_empty());
    w.run_job();
    assert!(w.lc.takes_user_savepoints());
    w.step(Input::UserSavepoint);
    let a = w.change(|p| p.desired = DesiredState::Cancelled);
    assert!(effects(&a).is_empty(), "the change waits for the savepoint");
    let a = w.complete_savepoint("file:/sp/1");
    assert_eq!(effects(&a), ["cancel"]);
}

#[test]
fn a_start_passes_the_restore_and_allow_non_restored_state() {
    let mut w = World::running();
    w.policy.allow_non_restored_state = true;
    w.change(|p| p.desired = DesiredState::Suspended);
    w.complete_savepoint("file:/sp/1");
    w.tear_down();
    let a = w.change(|p| p.desired = DesiredState::Running);
    let (job, restore, allow) = started(&a).unwrap();
    assert_eq!(restore.unwrap().location, "file:/sp/1");
    assert!(allow);
    let record = w.records.job(job).unwrap();
    assert_eq!(
        record.spec.savepoint_location.as_deref(),
        Some("file:/sp/1")
    );
    assert!(record.spec.allow_non_restored_state);
}

#[test]
fn suspend_stops_with_a_savepoint_then_tears_down() {
    let mut w = World::running();
    let job = w.job();
    let a = w.change(|p| p.desired = DesiredState::Suspended);
    assert_eq!(effects(&a), ["stop with savepoint"]);
    assert_eq!(event_names(&a), ["CREATING_A_SAVEPOINT_BEFORE_SUSPENSION"]);
    assert_eq!(w.status(), DeploymentState::Transitioning);
    let a = w.complete_savepoint("file:/sp/1");
    assert_eq!(effects(&a), ["tear down"]);
    assert_eq!(job_states(&a), [JobState::Finished]);
    let a = w.tear_down();
    assert_eq!(w.status(), DeploymentState::Suspended);
    assert!(event_names(&a).contains(&"DEPLOYMENT_SUSPENDED"));
    assert_eq!(w.records.job(job).unwrap().status.state, JobState::Finished);
    let sps = w.completed_savepoints();
    assert_eq!(sps.len(), 1);
    assert_eq!(sps[0].origin, SavepointOrigin::Suspend);
}

#[test]
fn flink_1_8_suspends_with_a_savepoint_then_a_cancel_only_once_it_completed() {
    let mut w = World::new();
    w.policy.api.graceful_stop = false;
    w.policy.api.trigger_ids = false;
    w.step(Input::Reconcile);
    w.run_job();
    let job = w.job();
    let a = w.change(|p| p.desired = DesiredState::Suspended);
    assert_eq!(effects(&a), ["trigger savepoint"]);
    let sp = w.savepoint_in_flight();
    assert_eq!(w.savepoint(sp).trigger_id, None, "1.8 chooses its own");
    // The trigger id Flink gives is put on record.
    w.step(Input::SavepointTriggered {
        job,
        savepoint: sp,
        trigger_id: "abc".into(),
    });
    assert_eq!(w.savepoint(sp).trigger_id.as_deref(), Some("abc"));
    // A failed savepoint does not cancel.
    let a = w.fail_savepoint("x");
    assert_eq!(effects(&a), ["trigger savepoint"], "tried again, no cancel");
    let a = w.complete_savepoint("file:/sp/1");
    assert_eq!(effects(&a), ["cancel"]);
    w.step(Input::CancelCompleted {
        job,
        end: FlinkEnd::Canceled,
    });
    w.tear_down();
    assert_eq!(w.status(), DeploymentState::Suspended);
    assert_eq!(
        w.records.job(job).unwrap().status.state,
        JobState::Terminated
    );
}

#[test]
fn cancel_cancels_then_tears_down() {
    let mut w = World::running();
    let job = w.job();
    let a = w.change(|p| p.desired = DesiredState::Cancelled);
    assert_eq!(effects(&a), ["cancel"]);
    assert_eq!(job_states(&a), [JobState::Terminating]);
    let a = w.step(Input::CancelCompleted {
        job,
        end: FlinkEnd::Canceled,
    });
    assert_eq!(effects(&a), ["tear down"]);
    assert_eq!(event_names(&a), ["JOB_CANCELLED"]);
    w.tear_down();
    assert_eq!(w.status(), DeploymentState::Cancelled);
    assert_eq!(
        w.records.job(job).unwrap().status.state,
        JobState::Terminated
    );
}

#[test]
fn the_cancel_deadline_tears_down_when_it_passes() {
    let mut w = World::running();
    w.change(|p| p.desired = DesiredState::Cancelled);
    let a = w.advance(Duration::from_secs(179));
    assert!(effects(&a).is_empty());
    let a = w.advance(Duration::from_secs(1));
    assert_eq!(effects(&a), ["tear down"]);
    assert_eq!(event_names(&a), ["CANCELLATION_DEADLINE_EXCEEDED"]);
}

#[test]
fn cancel_tears_down_after_five_failures_tried_again_a_second_apart() {
    let mut w = World::running();
    let job = w.job();
    w.change(|p| p.desired = DesiredState::Cancelled);
    for n in 1..5 {
        let a = w.step(Input::CancelFailed {
            job,
            reason: "refused".into(),
        });
        assert!(effects(&a).is_empty(), "not at once (attempt {n})");
        assert_eq!(
            w.next_deadline(),
            Some(after(w.now, Duration::from_secs(1)))
        );
        let a = w.advance(Duration::from_secs(1));
        assert_eq!(effects(&a), ["cancel"]);
    }
    let a = w.step(Input::CancelFailed {
        job,
        reason: "refused".into(),
    });
    assert_eq!(effects(&a), ["tear down"]);
    assert_eq!(event_names(&a), ["TOO_MANY_FAILED_CANCELLATION_ATTEMPTS"]);
}

#[test]
fn a_job_that_ends_during_its_cancel_is_recorded_as_flink_ended_it() {
    for (end, state) in [
        (FlinkEnd::Finished, JobState::Finished),
        (FlinkEnd::Failed, JobState::Failed),
        (FlinkEnd::Canceled, JobState::Terminated),
    ] {
        let mut w = World::running();
        let job = w.job();
        w.change(|p| p.desired = DesiredState::Cancelled);
        w.step(Input::JobEnded {
            job,
            end,
            reason: "x".into(),
        });
        assert_eq!(w.records.job(job).unwrap().status.state, state);
        w.tear_down();
        assert_eq!(w.status(), DeploymentState::Cancelled);
    }
}

#[test]
fn a_stateful_upgrade_suspends_then_starts_from_the_savepoint() {
    let mut w = World::running();
    let old = w.job();
    let a = w.edit_template("u2");
    assert_eq!(effects(&a), ["stop with savepoint"]);
    assert_eq!(event_names(&a), ["CREATING_A_SAVEPOINT_BEFORE_UPGRADE"]);
    w.complete_savepoint("file:/sp/up");
    let a = w.tear_down();
    let (new, restore, _) = started(&a).expect("the upgraded job starts");
    assert_ne!(new, old);
    assert_eq!(restore.unwrap().location, "file:/sp/up");
    assert!(quota_actions(&a).is_empty(), "the same cores: no new check");
    assert_eq!(w.records.job(new).unwrap().spec.template_hash, "t-u2");
}

#[test]
fn a_stateless_upgrade_cancels_then_starts_per_the_restore_strategy() {
    let mut w = World::running();
    w.policy.upgrade = UpgradeStrategyKind::Stateless;
    w.policy.restore = RestoreStrategyKind::None;
    let job = w.job();
    let a = w.edit_template("u2");
    assert_eq!(effects(&a), ["cancel"]);
    assert_eq!(event_names(&a), ["CANCELLING_JOB_FOR_UPGRADE"]);
    w.step(Input::CancelCompleted {
        job,
        end: FlinkEnd::Canceled,
    });
    let a = w.tear_down();
    let (_, restore, _) = started(&a).unwrap();
    assert_eq!(restore, None);
}

#[test]
fn upgrade_none_waits_for_the_next_transition() {
    let mut w = World::running();
    w.policy.upgrade = UpgradeStrategyKind::None;
    let a = w.edit_template("u2");
    assert!(effects(&a).is_empty());
    assert_eq!(w.status(), DeploymentState::Running);
    // The next transition (suspend, resume) runs the new template.
    w.change(|p| p.desired = DesiredState::Suspended);
    w.complete_savepoint("file:/sp/1");
    w.tear_down();
    let a = w.change(|p| p.desired = DesiredState::Running);
    let (job, ..) = started(&a).unwrap();
    assert_eq!(w.records.job(job).unwrap().spec.template_hash, "t-u2");
}

#[test]
fn job_creation_fails_after_max_attempts_then_holds_until_the_spec_changes() {
    let mut w = World::new();
    w.policy.max_job_creation_attempts = 2;
    w.step(Input::Reconcile);
    for n in 1..=2 {
        let job = w.job();
        let a = w.step(Input::JobStartFailed {
            job,
            reason: "rejected".into(),
            unresolved: false,
        });
        assert!(
            event_messages(&a)[0].contains(&format!("attempt {n} of 2 failed: rejected")),
            "{a:?}"
        );
        w.tear_down();
    }
    assert_eq!(w.status(), DeploymentState::Failed);
    assert_eq!(w.lc.phase, Phase::Idle);
    assert_eq!(w.lc.cores_held, 0.0, "a FAILED Deployment holds no cores");
    // Nothing happens until the spec changes.
    assert!(effects(&w.advance(Duration::from_secs(3600))).is_empty());
    let a = w.change(|p| p.upgrade_key = "fixed".into());
    assert!(event_names(&a).contains(&"LEAVING_FAILED_AFTER_SPEC_CHANGE"));
    assert!(started(&a).is_some());
    assert_eq!(w.lc.job_creation_failures, 0, "fresh limits");
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
        unresolved: false,
    });
    w.tear_down();
    assert_eq!(w.status(), DeploymentState::Failed);
    w.change(|p| p.desired = DesiredState::Cancelled);
    assert_eq!(w.status(), DeploymentState::Cancelled);
}

#[test]
fn the_job_creation_counter_resets_after_a_success() {
    let mut w = World::new();
    w.step(Input::Reconcile);
    let job = w.job();
    w.step(Input::JobStartFailed {
        job,
        reason: "x".into(),
        unresolved: false,
    });
    w.tear_down();
    assert_eq!(w.lc.job_creation_failures, 1);
    w.run_job();
    assert_eq!(w.lc.job_creation_failures, 0);
}

#[test]
fn a_start_that_never_reaches_running_fails_at_its_deadline_counted_from_its_turn() {
    let mut w = World::new();
    w.step(Input::Reconcile);
    let job = w.job();
    // Queued for a start slot: no deadline yet.
    assert_eq!(w.next_deadline(), None);
    assert!(effects(&w.advance(Duration::from_secs(3600))).is_empty());
    w.step(Input::StartBegan { job });
    assert_eq!(
        w.next_deadline(),
        Some(after(w.now, Duration::from_secs(300)))
    );
    assert!(effects(&w.advance(Duration::from_secs(299))).is_empty());
    let a = w.advance(Duration::from_secs(1));
    assert_eq!(effects(&a), ["tear down"]);
    assert!(event_messages(&a)[0].contains("did not reach RUNNING within 5m"));
}

#[test]
fn savepoints_fail_after_max_attempts_leaving_the_job_running() {
    let mut w = World::running();
    w.policy.max_savepoint_creation_attempts = 3;
    w.change(|p| p.desired = DesiredState::Suspended);
    for n in 1..=3 {
        let a = w.fail_savepoint("disk full");
        if n < 3 {
            assert_eq!(effects(&a), ["stop with savepoint"], "attempt {n}");
        } else {
            assert!(effects(&a).is_empty());
            assert!(event_names(&a).contains(&"TOO_MANY_FAILED_SAVEPOINT_CREATION_ATTEMPTS"));
        }
    }
    assert_eq!(w.status(), DeploymentState::Failed);
    assert!(
        matches!(w.lc.phase, Phase::Running { .. }),
        "the job still runs"
    );
    assert!(
        effects(&w.advance(Duration::from_secs(3600))).is_empty(),
        "held"
    );
}

#[test]
fn a_savepoint_that_never_completes_fails_at_its_deadline_and_is_tried_again() {
    let mut w = World::running();
    w.change(|p| p.desired = DesiredState::Suspended);
    let first = w.savepoint_in_flight();
    let a = w.advance(Duration::from_secs(600));
    assert_eq!(effects(&a), ["stop with savepoint"]);
    assert_eq!(w.savepoint(first).state, SavepointState::Failed);
    assert_eq!(w.lc.savepoint_failures, 1);
    assert_ne!(w.savepoint_in_flight(), first);
}

#[test]
fn a_change_during_a_start_is_acted_on_when_it_ends() {
    let mut w = World::new();
    w.step(Input::Reconcile);
    let a = w.change(|p| p.desired = DesiredState::Suspended);
    assert!(effects(&a).is_empty(), "the start is not interrupted");
    let job = w.job();
    w.step(Input::StartBegan { job });
    let a = w.step(Input::JobRunning { job });
    assert_eq!(effects(&a), ["stop with savepoint"]);
}

#[test]
fn only_the_latest_spec_matters() {
    let mut w = World::running();
    w.change(|p| p.desired = DesiredState::Suspended);
    w.change(|p| p.desired = DesiredState::Cancelled);
    w.change(|p| p.desired = DesiredState::Running);
    // The suspension under way completes; then the latest spec (RUNNING) resumes.
    w.complete_savepoint("file:/sp/1");
    let a = w.tear_down();
    let (_, restore, _) = started(&a).expect("running again");
    assert_eq!(restore.unwrap().location, "file:/sp/1");
}

#[test]
fn a_finite_job_finishes_the_deployment_and_is_not_restarted() {
    let mut w = World::running();
    let job = w.job();
    w.step(Input::JobEnded {
        job,
        end: FlinkEnd::Finished,
        reason: String::new(),
    });
    let a = w.tear_down();
    assert_eq!(w.status(), DeploymentState::Finished);
    assert!(started(&a).is_none());
    assert!(started(&w.advance(Duration::from_secs(3600))).is_none());
    // A spec change runs it again.
    assert!(started(&w.change(|p| p.upgrade_key = "again".into())).is_some());
}

#[test]
fn a_job_that_finishes_before_it_is_seen_running_is_finished() {
    let mut w = World::new();
    w.step(Input::Reconcile);
    let job = w.job();
    w.step(Input::JobEnded {
        job,
        end: FlinkEnd::Finished,
        reason: String::new(),
    });
    w.tear_down();
    assert_eq!(w.status(), DeploymentState::Finished);
}

#[test]
fn a_failed_running_job_is_recovered_from_the_latest_state_without_counting() {
    let mut w = World::running();
    let job = w.job();
    // A retained checkpoint seen while it ran.
    w.step(Input::Observed {
        job,
        observation: Default::default(),
        checkpoint: Some(CheckpointSeen {
            location: "file:/chk/j/chk-7".into(),
            completed_at: T0,
        }),
    });
    let a = w.step(Input::JobEnded {
        job,
        end: FlinkEnd::Failed,
        reason: "boom".into(),
    });
    assert_eq!(event_names(&a), ["JOB_FAILED"]);
    let a = w.tear_down();
    let (_, restore, _) = started(&a).expect("a new job");
    assert_eq!(restore.unwrap().location, "file:/chk/j/chk-7");
    assert_eq!(
        w.lc.job_creation_failures, 0,
        "a loss is not a failed creation"
    );
    assert!(quota_actions(&a).is_empty(), "it keeps its cores");
}

#[test]
fn a_lost_cluster_is_a_lost_job() {
    let mut w = World::running();
    let job = w.job();
    let a = w.step(Input::ClusterLost {
        job,
        reason: "JobManager gone".into(),
    });
    assert_eq!(effects(&a), ["tear down"]);
    assert_eq!(w.records.job(job).unwrap().status.state, JobState::Failed);
}

#[test]
fn stale_answers_are_ignored() {
    let mut w = World::running();
    let other = Uuid::from_u128(999);
    for input in [
        Input::JobRunning { job: other },
        Input::TornDown { job: other },
        Input::CancelCompleted {
            job: other,
            end: FlinkEnd::Canceled,
        },
        Input::JobEnded {
            job: other,
            end: FlinkEnd::Failed,
            reason: "x".into(),
        },
        Input::SavepointCompleted {
            job: other,
            savepoint: other,
            location: "l".into(),
        },
        Input::QuotaGranted { request: 77 },
    ] {
        let before = w.lc.clone();
        assert!(w.step(input).is_empty());
        assert_eq!(w.lc, before);
    }
}

#[test]
fn the_state_survives_serialization() {
    let mut w = World::running();
    w.change(|p| p.desired = DesiredState::Cancelled);
    let json = serde_json::to_string(&w.lc).unwrap();
    let back: Lifecycle = serde_json::from_str(&json).unwrap();
    assert_eq!(back, w.lc);
}

#[test]
fn conditions_are_evaluated_from_polls_and_announced_once() {
    let mut w = World::running();
    let job = w.job();
    let restarts: Vec<Timestamp> = (0..3).map(|i| T0 - time::Duration::minutes(i)).collect();
    let observation = Observation {
        reachable: Some(true),
        restarts: Some(restarts),
        task_managers_lost: None,
    };
    let a = w.step(Input::Observed {
        job,
        observation: observation.clone(),
        checkpoint: None,
    });
    assert_eq!(event_names(&a), ["JOB_FAILING", "JOB_UNSTABLE"]);
    let failing = |w: &World| {
        w.lc.conditions
            .iter()
            .find(|c| c.kind == crate::spec::ConditionType::JobFailing)
            .map(|c| c.status)
    };
    assert_eq!(failing(&w), Some(crate::spec::ConditionStatus::True));
    // After a restart of the daemon they are still known: nothing announced again.
    w.restart(Some(Found::Cluster));
    let a = w.step(Input::Observed {
        job,
        observation,
        checkpoint: None,
    });
    assert!(event_names(&a).is_empty());
}
