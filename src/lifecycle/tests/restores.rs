//! Fail-closed restores (issue 14, point 4): a snapshot found gone gives way to the next
//! older one the strategy allows, with an event naming both; every candidate gone is
//! FAILED with what was tried, never a start from empty state; each start's event names
//! its restore source with origin and age.

use super::*;

/// Suspends the running job with a savepoint at `location`, `minutes` after T0.
fn suspend_at(w: &mut World, location: &str, minutes: u64) {
    w.now = after(T0, Duration::from_secs(minutes * 60));
    w.change(|p| p.desired = DesiredState::Suspended);
    w.complete_savepoint(location);
    w.tear_down();
    assert_eq!(w.status(), DeploymentState::Suspended);
}

/// A start's restore fails because its snapshot is gone.
fn gone(w: &mut World, path: &str) -> Vec<Action> {
    let job = w.job();
    w.step(Input::StartBegan { job });
    w.step(Input::JobStartFailed {
        job,
        reason: format!("the snapshot {path} is not there: {path}/_metadata does not exist"),
        unresolved: false,
    })
}

/// Two savepoints of a job; the newest found gone: the older one is used, the attempt
/// not counted, and the events name both.
#[test]
fn a_savepoint_found_gone_gives_way_to_the_next_older_one() {
    let mut w = World::running();
    suspend_at(&mut w, "file:/sp/old", 10);
    w.change(|p| p.desired = DesiredState::Running);
    w.run_job();
    suspend_at(&mut w, "file:/sp/new", 70);
    w.now = after(T0, Duration::from_secs(4 * 3600));
    let a = w.change(|p| p.desired = DesiredState::Running);
    assert_eq!(started(&a).unwrap().1.unwrap().location, "file:/sp/new");
    let starting = event_messages(&a).join("\n");
    assert!(
        starting.contains("restoring from savepoint")
            && starting.contains("(SUSPEND, 2h old) at file:/sp/new"),
        "{starting}"
    );
    let a = gone(&mut w, "/sp/new");
    let said = event_messages(&a).join("\n");
    assert!(
        said.contains("could not restore from savepoint")
            && said.contains("file:/sp/new: it is gone; the next attempt restores from savepoint")
            && said.contains("(SUSPEND, 3h old) at file:/sp/old"),
        "{said}"
    );
    let a = w.tear_down();
    assert_eq!(started(&a).unwrap().1.unwrap().location, "file:/sp/old");
    assert_eq!(
        w.lc.job_creation_failures, 0,
        "a gone snapshot is not an attempt"
    );
    w.run_job();
    assert!(
        w.lc.unusable.is_empty(),
        "a running job starts the list afresh"
    );
}

/// Every candidate gone: FAILED with both named, no start from empty state; a spec
/// change (the user restored the files, or chose NONE) tries again.
#[test]
fn every_snapshot_gone_is_failed_never_empty_state() {
    let mut w = World::running();
    suspend_at(&mut w, "file:/sp/a", 10);
    w.change(|p| p.desired = DesiredState::Running);
    w.run_job();
    suspend_at(&mut w, "file:/sp/b", 20);
    w.change(|p| p.desired = DesiredState::Running);
    gone(&mut w, "/sp/b");
    w.tear_down();
    gone(&mut w, "/sp/a");
    let a = w.tear_down();
    assert!(started(&a).is_none(), "no start from empty state: {a:?}");
    assert_eq!(w.status(), DeploymentState::Failed);
    assert_eq!(w.lc.cores_held, 0.0, "a FAILED Deployment holds no cores");
    let said = event_messages(&a).join("\n");
    assert!(
        said.contains("every snapshot restore strategy LATEST_STATE allows is gone")
            && said.contains("file:/sp/b; savepoint")
            && said.contains("file:/sp/a"),
        "{said}"
    );
    // Quiet until the spec changes.
    assert!(started(&w.step(Input::Reconcile)).is_none());
    let a = w.change(|p| p.restore = RestoreStrategyKind::None);
    let (_, restore, _) = started(&a).expect("a start the user chose");
    assert!(restore.is_none());
    assert!(event_messages(&a).join("\n").contains("with empty state"));
}

/// Empty state is for NONE and for a Deployment that never completed a snapshot the
/// strategy allows: LATEST_SAVEPOINT with only a retained checkpoint starts empty.
#[test]
fn empty_state_only_where_nothing_was_ever_taken() {
    let mut w = World::new();
    w.policy.restore = RestoreStrategyKind::LatestSavepoint;
    let a = w.step(Input::Reconcile);
    assert!(started(&a).unwrap().1.is_none());
    assert!(event_messages(&a).join("\n").contains("with empty state"));
    w.run_job();
    let job = w.job();
    w.step(Input::Observed {
        job,
        observation: Default::default(),
        checkpoint: Some(CheckpointSeen {
            location: "file:/chk/j/chk-3".into(),
            completed_at: after(T0, Duration::from_secs(30)),
        }),
    });
    w.step(Input::JobEnded {
        job,
        end: FlinkEnd::Failed,
        reason: "x".into(),
    });
    let a = w.tear_down();
    assert!(
        started(&a).unwrap().1.is_none(),
        "LATEST_SAVEPOINT does not take a checkpoint, and no savepoint was ever taken"
    );
    // LATEST_STATE takes it, and names it as a retained checkpoint.
    let mut w = World::running();
    let job = w.job();
    w.step(Input::Observed {
        job,
        observation: Default::default(),
        checkpoint: Some(CheckpointSeen {
            location: "file:/chk/j/chk-3".into(),
            completed_at: after(T0, Duration::from_secs(30)),
        }),
    });
    w.now = after(T0, Duration::from_secs(90));
    w.step(Input::JobEnded {
        job,
        end: FlinkEnd::Failed,
        reason: "x".into(),
    });
    let a = w.tear_down();
    let said = event_messages(&a).join("\n");
    assert!(
        said.contains("restoring from retained checkpoint")
            && said.contains("(RETAINED_CHECKPOINT, 90s old) at file:/chk/j/chk-3"),
        "{said}"
    );
}

/// A failure that names another path, or says nothing about a missing file, is an
/// ordinary failed attempt, counted; the snapshot stays a candidate.
#[test]
fn only_a_failure_naming_the_snapshot_as_missing_sets_it_aside() {
    let mut w = World::running();
    suspend_at(&mut w, "file:/sp/a", 10);
    w.change(|p| p.desired = DesiredState::Running);
    let job = w.job();
    w.step(Input::StartBegan { job });
    w.step(Input::JobStartFailed {
        job,
        reason: "FileNotFoundException: /elsewhere/x".into(),
        unresolved: false,
    });
    let a = w.tear_down();
    assert_eq!(w.lc.job_creation_failures, 1);
    assert!(w.lc.unusable.is_empty());
    assert_eq!(started(&a).unwrap().1.unwrap().location, "file:/sp/a");
}
