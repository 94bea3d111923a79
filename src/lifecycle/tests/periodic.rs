//! Periodic savepoints (issue 14, point 1): one every `savepointInterval` of the running
//! job, origin PERIODIC, counted like any other; skipped, not queued, while anything
//! else is under way; the schedule is the records' (a restart brings no burst).

use super::*;

const HOUR: Duration = Duration::from_secs(3600);

fn triggered(a: &[Action]) -> bool {
    effects(a).iter().any(|e| e == "trigger savepoint")
}

fn hourly() -> World {
    let mut w = World::new();
    w.policy.savepoint_interval = Some(HOUR);
    w.step(Input::Reconcile);
    w.run_job();
    w
}

#[test]
fn off_unless_set() {
    let mut w = World::running();
    assert_eq!(w.next_deadline(), None);
    assert!(!triggered(&w.advance(10 * HOUR)));
}

#[test]
fn one_every_interval_from_the_last_one() {
    let mut w = hourly();
    assert_eq!(w.next_deadline(), Some(after(T0, HOUR)));
    assert!(!triggered(&w.advance(HOUR - Duration::from_secs(1))));
    let a = w.advance(Duration::from_secs(1));
    assert!(triggered(&a), "{a:?}");
    assert!(event_messages(&a)[0].contains("on schedule (savepointInterval)"));
    let sp = w.savepoint_in_flight();
    assert_eq!(w.savepoint(sp).origin, SavepointOrigin::Periodic);
    // Completed a minute later: the job ran on throughout, and the next is due an
    // interval after this one began.
    w.now = after(w.now, Duration::from_secs(60));
    let job = w.job();
    w.step(Input::SavepointCompleted {
        job,
        savepoint: sp,
        location: "file:/sp/p1".into(),
    });
    assert_eq!(w.status(), DeploymentState::Running);
    assert_eq!(w.savepoint(sp).state, SavepointState::Completed);
    assert_eq!(w.next_deadline(), Some(after(T0, 2 * HOUR)));
}

/// A savepoint on request moves the schedule; one due while a suspension's savepoint is
/// under way is skipped, not taken afterwards.
#[test]
fn skipped_not_queued_while_another_savepoint_is_under_way() {
    let mut w = hourly();
    w.now = after(T0, Duration::from_secs(50 * 60));
    w.step(Input::UserSavepoint);
    let sp = w.savepoint_in_flight();
    let job = w.job();
    w.step(Input::SavepointCompleted {
        job,
        savepoint: sp,
        location: "file:/sp/u".into(),
    });
    assert_eq!(
        w.next_deadline(),
        Some(after(T0, Duration::from_secs(110 * 60)))
    );
    assert!(
        !triggered(&w.advance(Duration::from_secs(20 * 60))),
        "not at T0+1h"
    );
    // Due at T0+1h50m while a suspension savepoint is being taken: not triggered.
    w.now = after(T0, Duration::from_secs(109 * 60));
    w.change(|p| p.desired = DesiredState::Suspended);
    let a = w.advance(Duration::from_secs(5 * 60));
    assert!(!triggered(&a), "{a:?}");
    assert_eq!(
        w.next_deadline().map(|d| d > w.now),
        Some(true),
        "the stop's own deadline"
    );
    w.complete_savepoint("file:/sp/s");
    w.tear_down();
    assert!(
        !triggered(&w.advance(3 * HOUR)),
        "nothing runs, nothing is taken"
    );
    let periodic = w
        .records
        .savepoints
        .iter()
        .filter(|s| s.origin == SavepointOrigin::Periodic)
        .count();
    assert_eq!(periodic, 0);
}

/// flinkd down for five intervals: one savepoint when it is back, not five, and the
/// next an interval after it.
#[test]
fn a_restart_brings_no_burst() {
    let mut w = hourly();
    let json = serde_json::to_string(&w.lc).unwrap();
    w.lc = serde_json::from_str(&json).unwrap();
    let a = w.advance(5 * HOUR);
    assert!(triggered(&a));
    let sp = w.savepoint_in_flight();
    let job = w.job();
    w.step(Input::SavepointCompleted {
        job,
        savepoint: sp,
        location: "file:/sp/p".into(),
    });
    assert!(!triggered(&w.advance(Duration::from_secs(60))));
    assert_eq!(w.next_deadline(), Some(after(T0, 6 * HOUR)));
}

/// Failures count against maxSavepointCreationAttempts; at the limit the Deployment is
/// FAILED with its job running, and no more are taken until the spec changes.
#[test]
fn failures_count_and_the_limit_holds_it() {
    let mut w = hourly();
    w.policy.max_savepoint_creation_attempts = 2;
    for n in 1..=2u32 {
        assert!(triggered(&w.advance(HOUR)), "attempt {n}");
        let sp = w.savepoint_in_flight();
        let job = w.job();
        w.step(Input::SavepointFailed {
            job,
            savepoint: sp,
            reason: "disk full".into(),
        });
    }
    assert_eq!(w.status(), DeploymentState::Failed);
    assert!(w.lc.active_job().is_some(), "the job still runs");
    assert_eq!(w.next_deadline(), None);
    assert!(!triggered(&w.advance(5 * HOUR)));
}
