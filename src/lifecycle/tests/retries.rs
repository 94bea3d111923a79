//! A refused savepoint attempt is tried again after a wait, not at once (found by the
//! chaos campaign: a job that Flink was restarting refused nine stops with a savepoint
//! within 40 ms, and the Deployment was FAILED before the job was back).

use super::*;

fn refuse(w: &mut World) -> Vec<Action> {
    let job = w.job();
    let savepoint = w.savepoint_in_flight();
    w.step(Input::SavepointFailed {
        job,
        savepoint,
        reason: "the job is not RUNNING".into(),
    })
}

#[test]
fn a_refused_attempt_is_tried_again_after_a_doubling_wait() {
    let mut w = World::running();
    w.policy.max_savepoint_creation_attempts = 5;
    w.change(|p| p.desired = DesiredState::Suspended);
    let base = w.timing.retry_interval;
    for n in 1..=3u32 {
        let a = refuse(&mut w);
        assert!(effects(&a).is_empty(), "attempt {n}: no retry at once");
        let wait = base * (1 << (n - 1));
        assert_eq!(w.next_deadline(), Some(after(w.now, wait)));
        // Not before its time...
        assert!(effects(&w.advance(wait - Duration::from_millis(1))).is_empty());
        // ...then the next attempt.
        let a = w.advance(Duration::from_millis(1));
        assert_eq!(effects(&a), ["stop with savepoint"], "attempt {}", n + 1);
    }
    assert_eq!(w.lc.savepoint_failures, 3);
    assert_eq!(w.status(), DeploymentState::Transitioning);
}

#[test]
fn the_wait_is_capped_at_the_longest_poll_interval() {
    let mut w = World::running();
    w.policy.max_savepoint_creation_attempts = 40;
    w.change(|p| p.desired = DesiredState::Suspended);
    for _ in 0..30 {
        w.fail_savepoint("x");
    }
    refuse(&mut w);
    assert_eq!(
        w.next_deadline(),
        Some(after(w.now, w.timing.poll_interval_max))
    );
}

#[test]
fn a_change_of_spec_during_the_wait_is_acted_on_at_once() {
    let mut w = World::running();
    w.change(|p| p.desired = DesiredState::Suspended);
    refuse(&mut w);
    let a = w.change(|p| p.desired = DesiredState::Cancelled);
    assert_eq!(effects(&a), ["cancel"]);
}

#[test]
fn the_failed_attempt_says_nothing_more_during_the_wait() {
    let mut w = World::running();
    w.change(|p| p.desired = DesiredState::Suspended);
    let job = w.job();
    let failed = w.savepoint_in_flight();
    refuse(&mut w);
    let before = w.lc.clone();
    let a = w.step(Input::SavepointFailed {
        job,
        savepoint: failed,
        reason: "again".into(),
    });
    assert!(a.is_empty(), "{a:?}");
    assert_eq!(w.lc, before, "not counted twice");
}

#[test]
fn a_restart_during_the_wait_asks_for_nothing_then_tries_again_at_its_time() {
    let mut w = World::running();
    w.change(|p| p.desired = DesiredState::Suspended);
    refuse(&mut w);
    let a = w.restart(Some(Found::Cluster));
    assert_eq!(
        effects(&a),
        ["adopt"],
        "the failed attempt is not asked again"
    );
    let a = w.advance(w.timing.retry_interval);
    assert_eq!(effects(&a), ["stop with savepoint"]);
}

#[test]
fn a_job_lost_during_the_wait_fails_the_suspension() {
    let mut w = World::running();
    w.change(|p| p.desired = DesiredState::Suspended);
    let job = w.job();
    refuse(&mut w);
    let a = w.step(Input::ClusterLost {
        job,
        reason: "gone".into(),
    });
    assert_eq!(effects(&a), ["tear down"]);
    w.tear_down();
    assert_eq!(w.status(), DeploymentState::Failed);
}

/// A job Flink is restarting (a TaskManager replaced) refuses every stop with a
/// savepoint until its tasks run again: those refusals are not attempts, and the
/// suspension completes once the job is back, however long that takes.
#[test]
fn refusals_while_the_job_restarts_are_not_attempts() {
    let mut w = World::running();
    w.policy.max_savepoint_creation_attempts = 2;
    w.change(|p| p.desired = DesiredState::Suspended);
    for _ in 0..6 {
        let job = w.job();
        let savepoint = w.savepoint_in_flight();
        let a = w.step(Input::SavepointFailed {
            job,
            savepoint,
            reason: "Checkpoint triggering task Source (1/1) of job j is not being executed at the moment. Aborting checkpoint. Failure reason: Not all required tasks are currently running.".into(),
        });
        assert!(effects(&a).is_empty(), "no retry at once");
        assert_eq!(
            w.next_deadline(),
            Some(after(w.now, w.timing.poll_interval_max))
        );
        let a = w.advance(w.timing.poll_interval_max);
        assert_eq!(effects(&a), ["stop with savepoint"]);
    }
    assert_eq!(w.lc.savepoint_failures, 0);
    assert_eq!(w.status(), DeploymentState::Transitioning);
    w.complete_savepoint("file:/sp/1");
    w.tear_down();
    assert_eq!(w.status(), DeploymentState::Suspended);
}

/// The same for a savepoint asked for while the job runs (a user's, a periodic one):
/// refused while the job restarts, it fails without counting, and the Deployment is
/// never FAILED for it.
#[test]
fn a_running_savepoint_refused_while_the_job_restarts_is_not_an_attempt() {
    let mut w = World::running();
    w.policy.max_savepoint_creation_attempts = 1;
    for _ in 0..3 {
        w.step(Input::UserSavepoint);
        let job = w.job();
        let savepoint = w.savepoint_in_flight();
        let a = w.step(Input::SavepointFailed {
            job,
            savepoint,
            reason: "Not all required tasks are currently running.".into(),
        });
        assert_eq!(event_names(&a), ["SAVEPOINT_FAILED"]);
        assert_eq!(w.savepoint(savepoint).state, SavepointState::Failed);
        assert_eq!(w.lc.savepoint_failures, 0);
        assert_eq!(w.status(), DeploymentState::Running);
    }
    // Any other failure counts: at the limit of one, the Deployment is FAILED.
    w.step(Input::UserSavepoint);
    let job = w.job();
    let savepoint = w.savepoint_in_flight();
    w.step(Input::SavepointFailed {
        job,
        savepoint,
        reason: "disk full".into(),
    });
    assert_eq!(w.status(), DeploymentState::Failed);
}
