//! The audit's findings (`shared/reviews/2026-12-seed-audit.md`), each where its
//! decision now lives. Every test here failed on the lifecycle before this one.

use super::*;

/// F1 A: `state: cancelled` written during the last failing suspension savepoint is
/// carried out: the hold is tied to the spec that was attempted.
#[test]
fn f1_a_cancel_written_during_the_last_failing_savepoint_cancels_the_job() {
    let mut w = World::running();
    w.policy.max_savepoint_creation_attempts = 2;
    let job = w.job();
    w.change(|p| p.desired = DesiredState::Suspended);
    w.fail_savepoint("disk full");
    // During the last attempt the user gives up and cancels.
    w.change(|p| p.desired = DesiredState::Cancelled);
    let a = w.fail_savepoint("disk full");
    assert_eq!(effects(&a), ["cancel"], "{:?}", event_messages(&a));
    w.step(Input::CancelCompleted {
        job,
        end: FlinkEnd::Canceled,
    });
    w.tear_down();
    assert_eq!(w.status(), DeploymentState::Cancelled);
}

/// F1 (related): a retry follows the newest desired state: a failed attempt is not
/// repeated when the spec no longer asks for it.
#[test]
fn f1_a_failed_savepoint_is_not_retried_for_a_spec_that_no_longer_wants_it() {
    let mut w = World::running();
    let job = w.job();
    w.change(|p| p.desired = DesiredState::Suspended);
    w.change(|p| p.desired = DesiredState::Running);
    let savepoint = w.savepoint_in_flight();
    let a = w.step(Input::SavepointFailed {
        job,
        savepoint,
        reason: "x".into(),
    });
    assert!(effects(&a).is_empty(), "no second stop: {a:?}");
    assert_eq!(w.status(), DeploymentState::Running);
    assert_eq!(
        w.lc.savepoint_failures, 0,
        "the abandoned operation's count goes"
    );
}

/// F1 B: a fix written during the last failing start is acted on.
#[test]
fn f1_b_a_fix_written_during_the_last_failing_start_starts_again() {
    let mut w = World::new();
    w.policy.max_job_creation_attempts = 1;
    w.step(Input::Reconcile);
    let job = w.job();
    w.change(|p| p.upgrade_key = "fixed".into());
    w.step(Input::JobStartFailed {
        job,
        reason: "no such class".into(),
        unresolved: false,
    });
    let a = w.tear_down();
    assert!(started(&a).is_some(), "the fix is tried: {a:?}");
    assert_eq!(w.status(), DeploymentState::Transitioning);
}

/// F1 C: an edit during the teardown of a finished job is acted on.
#[test]
fn f1_c_an_edit_after_a_job_finished_is_acted_on() {
    let mut w = World::running();
    let job = w.job();
    w.step(Input::JobEnded {
        job,
        end: FlinkEnd::Finished,
        reason: String::new(),
    });
    w.change(|p| p.desired = DesiredState::Cancelled);
    w.tear_down();
    assert_eq!(w.status(), DeploymentState::Cancelled);
}

/// F3: a submission that got no answer is confirmed absent by its id before another
/// job is submitted.
#[test]
fn f3_an_unanswered_submission_is_watched_for_before_another_start() {
    let mut w = World::new();
    w.step(Input::Reconcile);
    let job = w.job();
    let a = w.step(Input::JobStartFailed {
        job,
        reason: "POST /jars/x/run: no answer: timed out".into(),
        unresolved: true,
    });
    assert_eq!(effects(&a), ["tear down (confirm)"]);
    assert!(a.iter().any(|x| matches!(x,
        Action::TearDown { confirm: Some(d), .. } if *d == Duration::from_secs(120))));
    assert!(
        started(&a).is_none(),
        "no second submission before the teardown"
    );
}

/// F4 A: a savepoint that completes after its deadline, after a stop was sent again,
/// is recorded COMPLETED, ends the suspension, and is the restore point.
#[test]
fn f4_a_savepoint_completing_after_its_deadline_is_kept_and_used() {
    let mut w = World::running();
    let job = w.job();
    w.change(|p| p.desired = DesiredState::Suspended);
    let slow = w.savepoint_in_flight();
    w.advance(Duration::from_secs(600));
    let second = w.savepoint_in_flight();
    assert_ne!(second, slow);
    let a = w.step(Input::SavepointCompleted {
        job,
        savepoint: slow,
        location: "file:/sp/slow".into(),
    });
    assert_eq!(
        effects(&a),
        ["tear down"],
        "the late one ends the suspension"
    );
    assert_eq!(w.savepoint(slow).state, SavepointState::Completed);
    assert_eq!(w.savepoint(second).state, SavepointState::Failed);
    w.tear_down();
    assert_eq!(w.status(), DeploymentState::Suspended);
    let a = w.change(|p| p.desired = DesiredState::Running);
    assert_eq!(started(&a).unwrap().1.unwrap().location, "file:/sp/slow");
}

/// F4: a late completion after the job is gone is still recorded.
#[test]
fn f4_a_savepoint_completing_after_its_job_is_gone_is_recorded() {
    let mut w = World::running();
    let job = w.job();
    w.step(Input::UserSavepoint);
    let sp = w.savepoint_in_flight();
    w.step(Input::ClusterLost {
        job,
        reason: "gone".into(),
    });
    assert_eq!(w.savepoint(sp).state, SavepointState::Failed);
    let a = w.step(Input::SavepointCompleted {
        job,
        savepoint: sp,
        location: "file:/sp/late".into(),
    });
    assert_eq!(event_names(&a), ["SAVEPOINT_COMPLETED"]);
    assert_eq!(w.savepoint(sp).state, SavepointState::Completed);
    assert_eq!(w.savepoint(sp).location.as_deref(), Some("file:/sp/late"));
}

/// F4 B: Flink forgot the request while the daemon was down; the savepoint its history
/// has, taken after the request, is the one.
#[test]
fn f4_b_a_forgotten_request_is_found_in_flinks_history() {
    let mut w = World::running();
    let job = w.job();
    w.change(|p| p.desired = DesiredState::Suspended);
    let sp = w.savepoint_in_flight();
    let a = w.restart(Some(Found::Cluster));
    assert_eq!(effects(&a), ["adopt", "resume savepoint (stop true)"]);
    w.now = after(w.now, Duration::from_secs(900));
    w.step(Input::SavepointLost {
        job,
        savepoint: sp,
        latest: Some(CheckpointSeen {
            location: "file:/sp/found".into(),
            completed_at: after(T0, Duration::from_secs(1)),
        }),
    });
    assert_eq!(w.savepoint(sp).location.as_deref(), Some("file:/sp/found"));
    w.tear_down();
    assert_eq!(w.status(), DeploymentState::Suspended);
}

/// F4 C: a finite job that finishes during its suspension savepoint is FINISHED, as
/// Flink says, not FAILED or stuck.
#[test]
fn f4_c_a_job_finishing_during_its_savepoint_is_finished() {
    let mut w = World::running();
    let job = w.job();
    w.change(|p| p.desired = DesiredState::Suspended);
    w.step(Input::JobEnded {
        job,
        end: FlinkEnd::Finished,
        reason: String::new(),
    });
    w.tear_down();
    assert_eq!(w.status(), DeploymentState::Finished);
    assert_eq!(w.records.job(job).unwrap().status.state, JobState::Finished);
}

/// F5: grants are matched to requests; a duplicate never releases a running job's
/// cores (the SIGHUP that raised the quota woke the waiter twice).
#[test]
fn f5_a_second_wake_sends_no_second_request_and_a_stale_grant_changes_nothing() {
    let mut w = World::new();
    w.auto_quota = false;
    w.step(Input::Reconcile);
    w.step(Input::QuotaDenied {
        request: 1,
        used: 1.0,
        limit: 1.0,
    });
    // The reload's Wake and ConfigChanged: two looks, one request.
    let a1 = w.step(Input::Reconcile);
    let a2 = w.step(Input::Reconcile);
    assert_eq!(quota_actions(&a1), ["reserve #2 2"]);
    assert!(quota_actions(&a2).is_empty());
    w.step(Input::QuotaGranted { request: 2 });
    w.run_job();
    let a = w.step(Input::QuotaGranted { request: 1 });
    assert!(a.is_empty(), "{a:?}");
    assert_eq!(w.lc.cores_held, 2.0);
}

/// F6: an upgrade that needs more cores asks first; the job runs on while refused.
#[test]
fn f6_an_upgrade_needing_more_cores_never_stops_the_running_job_for_the_quota() {
    let mut w = World::running();
    w.auto_quota = false;
    let a = w.change(|p| {
        p.upgrade_key = "bigger".into();
        p.cores = 3.0;
    });
    assert_eq!(quota_actions(&a), ["reserve #2 3"]);
    assert!(
        effects(&a).is_empty(),
        "no stop before the cores are granted"
    );
    let a = w.step(Input::QuotaDenied {
        request: 2,
        used: 2.0,
        limit: 4.0,
    });
    assert_eq!(event_names(&a), ["RESOURCE_QUOTA_EXCEEDED"]);
    assert_eq!(w.status(), DeploymentState::Running);
    let a = w.step(Input::Reconcile);
    assert_eq!(quota_actions(&a), ["reserve #3 3"]);
    let a = w.step(Input::QuotaGranted { request: 3 });
    assert_eq!(effects(&a), ["stop with savepoint"]);
    w.complete_savepoint("file:/sp/u");
    let a = w.tear_down();
    assert!(
        started(&a).is_some() && quota_actions(&a).is_empty(),
        "{a:?}"
    );
    assert_eq!(w.lc.cores_held, 3.0);
}

/// F6: a recovery keeps its cores; when the latest template needs more than held, the
/// job that ran is started again and then upgraded.
#[test]
fn f6_a_recovery_is_never_left_without_a_job_by_the_quota() {
    let mut w = World::running();
    w.auto_quota = false;
    let old = w.job();
    w.change(|p| {
        p.upgrade_key = "bigger".into();
        p.cores = 3.0;
    });
    w.step(Input::QuotaDenied {
        request: 2,
        used: 2.0,
        limit: 4.0,
    });
    w.step(Input::JobEnded {
        job: old,
        end: FlinkEnd::Failed,
        reason: "boom".into(),
    });
    let a = w.tear_down();
    let (job, ..) = started(&a).expect("recovered at once");
    assert!(quota_actions(&a).is_empty());
    assert!(
        event_messages(&a)
            .iter()
            .any(|m| m.contains("starting the job that ran again")),
        "{:?}",
        event_messages(&a)
    );
    w.run_job();
    // Then the upgrade asks for its cores, the job running.
    assert!(matches!(w.lc.phase, Phase::Running { quota: Some(_), .. }));
    assert_eq!(w.records.job(job).unwrap().spec.template_hash, "t1");
}

/// F7: a job that had reached RUNNING and fails is recovered even with
/// `maxJobCreationAttempts: 1`.
#[test]
fn f7_a_loss_after_running_does_not_count_as_a_failed_creation() {
    let mut w = World::running();
    w.policy.max_job_creation_attempts = 1;
    for _ in 0..3 {
        let job = w.job();
        w.step(Input::JobEnded {
            job,
            end: FlinkEnd::Failed,
            reason: "exhausted restarts".into(),
        });
        let a = w.tear_down();
        assert!(started(&a).is_some());
        w.run_job();
    }
    assert_eq!(w.status(), DeploymentState::Running);
}

/// F8: a change of the defaults alone never upgrades, restarts or re-runs a job; the
/// event says which fields changed and when they apply.
#[test]
fn f8_defaults_change_nothing_that_runs_and_say_so() {
    let mut w = World::running();
    w.policy.template_hash = "t-defaults".into();
    let a = w.step(Input::DefaultsChanged {
        fields: vec!["template.spec.parallelism".into()],
    });
    assert!(effects(&a).is_empty());
    assert_eq!(event_names(&a), ["DEFAULTS_CHANGED"]);
    assert!(event_messages(&a)[0].contains("template.spec.parallelism"));
    // A FINISHED batch job is not run again.
    let job = w.job();
    w.step(Input::JobEnded {
        job,
        end: FlinkEnd::Finished,
        reason: String::new(),
    });
    w.tear_down();
    let a = w.step(Input::DefaultsChanged { fields: vec![] });
    assert!(started(&a).is_none());
    assert_eq!(w.status(), DeploymentState::Finished);
}

/// F9: a retained checkpoint a start finds gone is set aside, and the next attempt
/// restores from the next newest snapshot, not from nothing; the attempt is not counted.
#[test]
fn f9_a_checkpoint_found_gone_falls_back_to_the_next_snapshot() {
    let mut w = World::running();
    w.change(|p| p.desired = DesiredState::Suspended);
    w.complete_savepoint("file:/sp/1");
    w.tear_down();
    w.change(|p| p.desired = DesiredState::Running);
    w.run_job();
    let job = w.job();
    w.step(Input::Observed {
        job,
        observation: Default::default(),
        checkpoint: Some(CheckpointSeen {
            location: "file:/chk/j/chk-9".into(),
            completed_at: after(T0, Duration::from_secs(60)),
        }),
    });
    w.now = after(T0, Duration::from_secs(120));
    w.step(Input::JobEnded {
        job,
        end: FlinkEnd::Failed,
        reason: "x".into(),
    });
    let a = w.tear_down();
    assert_eq!(
        started(&a).unwrap().1.unwrap().location,
        "file:/chk/j/chk-9"
    );
    let job = w.job();
    w.step(Input::StartBegan { job });
    w.step(Input::JobStartFailed {
        job,
        reason: "Flink rejected the job: Cannot find checkpoint or savepoint file/directory 'file:/chk/j/chk-9' on file system 'file'.".into(),
        unresolved: false,
    });
    let a = w.tear_down();
    assert_eq!(started(&a).unwrap().1.unwrap().location, "file:/sp/1");
    assert_eq!(w.lc.job_creation_failures, 0);
}

/// F10: limits do not carry over from one transition to an unrelated later one.
#[test]
fn f10_counters_start_afresh_for_each_transition() {
    let mut w = World::running();
    w.policy.max_savepoint_creation_attempts = 4;
    let job = w.job();
    w.change(|p| p.desired = DesiredState::Suspended);
    for _ in 0..3 {
        w.fail_savepoint("x");
    }
    w.change(|p| p.desired = DesiredState::Running);
    w.fail_savepoint("x");
    assert_eq!(w.status(), DeploymentState::Running);
    // Weeks later, one failed savepoint on request does not make it FAILED.
    w.step(Input::UserSavepoint);
    let savepoint = w.savepoint_in_flight();
    w.step(Input::SavepointFailed {
        job,
        savepoint,
        reason: "x".into(),
    });
    assert_eq!(w.status(), DeploymentState::Running);
    assert_eq!(w.lc.savepoint_failures, 1);
    // Job creations: three failures, a cancel, then one failure later is not the last.
    let mut w = World::new();
    w.step(Input::Reconcile);
    for _ in 0..3 {
        let job = w.job();
        w.step(Input::JobStartFailed {
            job,
            reason: "x".into(),
            unresolved: false,
        });
        w.tear_down();
    }
    w.change(|p| p.desired = DesiredState::Cancelled);
    w.change(|p| p.desired = DesiredState::Running);
    let job = w.job();
    w.step(Input::JobStartFailed {
        job,
        reason: "x".into(),
        unresolved: false,
    });
    w.tear_down();
    assert_eq!(w.status(), DeploymentState::Transitioning);
}

/// F12: the stop follows the running job's Flink version, not the new spec's.
#[test]
fn f12_the_way_to_stop_is_the_running_jobs() {
    let mut w = World::running();
    // Upgrading 2.3 → 1.8: the 2.3 job is stopped with a savepoint.
    let a = w.change(|p| {
        p.upgrade_key = "u-1.8".into();
        p.api = FlinkApi::of("1.8");
    });
    assert_eq!(effects(&a), ["stop with savepoint"]);
    w.complete_savepoint("file:/sp/1");
    w.tear_down();
    w.run_job();
    // And the 1.8 job is taken a savepoint of, then cancelled.
    let a = w.change(|p| p.desired = DesiredState::Suspended);
    assert_eq!(effects(&a), ["trigger savepoint"]);
}

/// F13: see `a_start_that_never_reaches_running_fails_at_its_deadline_counted_from_its_turn`.
/// F14: a savepoint on request has a deadline of its own.
#[test]
fn f14_a_user_savepoint_ends_at_its_deadline() {
    let mut w = World::running();
    w.step(Input::UserSavepoint);
    let sp = w.savepoint_in_flight();
    w.change(|p| p.desired = DesiredState::Cancelled);
    let a = w.advance(Duration::from_secs(600));
    assert_eq!(w.savepoint(sp).state, SavepointState::Failed);
    assert_eq!(effects(&a), ["cancel"], "the waiting change goes on");
}

/// F15: conditions belong to a job: a new job starts with none.
#[test]
fn f15_conditions_are_reset_for_a_new_job() {
    let mut w = World::running();
    let job = w.job();
    w.step(Input::Observed {
        job,
        observation: Observation {
            reachable: Some(false),
            restarts: None,
            task_managers_lost: None,
        },
        checkpoint: None,
    });
    assert!(!w.lc.conditions.is_empty());
    w.step(Input::ClusterLost {
        job,
        reason: "gone".into(),
    });
    w.tear_down();
    w.run_job();
    assert!(w.lc.conditions.is_empty());
}

/// F16: with the reference page's windows, JobFailing implies JobUnstable.
#[test]
fn f16_job_failing_implies_job_unstable() {
    use crate::spec::{ConditionStatus, ConditionType};
    let mut w = World::running();
    let job = w.job();
    for minutes in [vec![1, 2, 3], vec![1, 20, 40], vec![1, 2]] {
        let restarts = minutes
            .iter()
            .map(|m| T0 - time::Duration::minutes(*m))
            .collect();
        w.step(Input::Observed {
            job,
            observation: Observation {
                reachable: Some(true),
                restarts: Some(restarts),
                task_managers_lost: None,
            },
            checkpoint: None,
        });
        let is = |kind| {
            w.lc.conditions
                .iter()
                .any(|c| c.kind == kind && c.status == ConditionStatus::True)
        };
        if is(ConditionType::JobFailing) {
            assert!(is(ConditionType::JobUnstable), "{minutes:?}");
        }
    }
}

/// F17: SUSPENDED is never reported without its savepoint: a job that dies during its
/// suspension ends FAILED, and a FAILED Deployment whose job dies stays FAILED.
#[test]
fn f17_no_suspended_without_a_savepoint() {
    let mut w = World::running();
    let job = w.job();
    w.change(|p| p.desired = DesiredState::Suspended);
    w.step(Input::JobEnded {
        job,
        end: FlinkEnd::Failed,
        reason: "boom".into(),
    });
    w.tear_down();
    assert_eq!(w.status(), DeploymentState::Failed);
    assert!(w.completed_savepoints().is_empty());

    let mut w = World::running();
    w.policy.max_savepoint_creation_attempts = 1;
    let job = w.job();
    w.change(|p| p.desired = DesiredState::Suspended);
    let savepoint = w.savepoint_in_flight();
    w.step(Input::SavepointFailed {
        job,
        savepoint,
        reason: "x".into(),
    });
    assert_eq!(w.status(), DeploymentState::Failed);
    w.step(Input::ClusterLost {
        job,
        reason: "gone".into(),
    });
    assert_eq!(
        w.status(),
        DeploymentState::Failed,
        "FAILED during the teardown too"
    );
    w.tear_down();
    assert_eq!(w.status(), DeploymentState::Failed);
}

/// F18: a teardown is bounded: past its deadline the Deployment is FAILED while
/// flinkd keeps trying, with a growing wait; no new job starts meanwhile.
#[test]
fn f18_a_teardown_that_keeps_failing_is_bounded() {
    let mut w = World::running();
    let job = w.job();
    w.change(|p| p.desired = DesiredState::Cancelled);
    w.step(Input::CancelCompleted {
        job,
        end: FlinkEnd::Canceled,
    });
    let mut waits = Vec::new();
    for _ in 0..16 {
        let failed_at = w.now;
        w.step(Input::TearDownFailed {
            job,
            reason: "cluster unreachable".into(),
        });
        // Time moves to each deadline in turn until the teardown is tried again.
        loop {
            w.now = w.next_deadline().expect("a retry is due");
            if effects(&w.step(Input::Reconcile)) == ["tear down"] {
                break;
            }
        }
        waits.push((w.now - failed_at).whole_seconds());
    }
    assert_eq!(&waits[..8], [1, 2, 4, 8, 16, 32, 60, 60], "doubling waits");
    assert!(w.now > after(T0, Duration::from_secs(600)));
    assert_eq!(w.status(), DeploymentState::Failed, "past its deadline");
    w.change(|p| p.desired = DesiredState::Running);
    assert!(
        matches!(w.lc.phase, Phase::TearingDown { .. }),
        "no new job"
    );
    w.step(Input::TornDown { job });
    assert!(
        matches!(w.lc.phase, Phase::Starting { .. }),
        "then the spec is acted on"
    );
}

/// F19: a Deployment that gives up a wait with a request unanswered says what it holds
/// (nothing), so the late grant is undone.
#[test]
fn f19_a_request_in_flight_when_giving_up_is_undone() {
    let mut w = World::new();
    w.auto_quota = false;
    w.step(Input::Reconcile);
    let a = w.change(|p| p.desired = DesiredState::Cancelled);
    assert_eq!(quota_actions(&a), ["set 0"]);
}

/// F21: a local start cut short by a crash is finished with the same Flink job id;
/// the Job record says how Flink ended a cancelled job (see `rules`).
#[test]
fn f21_a_start_cut_short_by_a_crash_is_finished() {
    let mut w = World::new();
    w.step(Input::Reconcile);
    let job = w.job();
    w.step(Input::StartBegan { job });
    let a = w.restart(Some(Found::Cluster));
    assert_eq!(effects(&a), ["resume start"]);
    assert_eq!(w.job(), job, "the same Job");
    w.step(Input::JobRunning { job });
    assert_eq!(w.status(), DeploymentState::Running);
    // And with the cluster gone, the start failed.
    let mut w = World::new();
    w.step(Input::Reconcile);
    let a = w.restart(Some(Found::Gone));
    assert_eq!(effects(&a), ["tear down"]);
}

/// F20: adopted cores are booked from the lifecycle (`cores_held`) before any start:
/// the state says what a restarted Supervisor books.
#[test]
fn f20_what_is_held_survives_a_restart() {
    let mut w = World::running();
    w.restart(Some(Found::Cluster));
    assert_eq!(w.lc.cores_held, 2.0);
    // A wait's request is asked again: the Supervisor that had it is gone.
    let mut w = World::new();
    w.auto_quota = false;
    w.step(Input::Reconcile);
    let a = w.restart(None);
    assert_eq!(quota_actions(&a), ["reserve #2 2"]);
}

/// F4 D: a savepoint given up (past its deadline, the suspension then taken back) is
/// still watched after a restart of the daemon, so its late completion is recorded.
#[test]
fn f4_d_a_given_up_savepoint_is_watched_again_after_a_restart() {
    let mut w = World::running();
    let job = w.job();
    w.change(|p| p.desired = DesiredState::Suspended);
    let slow = w.savepoint_in_flight();
    w.change(|p| p.desired = DesiredState::Running);
    w.advance(Duration::from_secs(600));
    assert!(matches!(w.lc.phase, Phase::Running { .. }));
    let a = w.restart(Some(Found::Cluster));
    assert!(
        a.iter().any(|x| matches!(x,
        Action::ResumeSavepoint { savepoint, stop: false, .. } if *savepoint == slow)),
        "{a:?}"
    );
    w.step(Input::SavepointCompleted {
        job,
        savepoint: slow,
        location: "file:/sp/late".into(),
    });
    assert_eq!(w.savepoint(slow).state, SavepointState::Completed);
}
