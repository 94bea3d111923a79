//! Imported savepoints (issue 14, point 3).

use super::*;

fn import(w: &mut World, location: &str) -> Vec<Action> {
    w.step(Input::SavepointImported {
        location: location.into(),
    })
}

/// Imported before the first start: the first job restores from it, under any
/// restore strategy but NONE.
#[test]
fn an_import_is_the_first_start_s_restore_point() {
    let mut w = World::new();
    w.policy.restore = RestoreStrategyKind::LatestSavepoint;
    let a = import(&mut w, "s3://other-platform/savepoints/savepoint-1");
    assert_eq!(
        event_names(&a),
        ["SAVEPOINT_IMPORTED"],
        "recorded, settled by the next step"
    );
    assert!(started(&a).is_none());
    let sp = w.completed_savepoints()[0].clone();
    assert_eq!(sp.origin, SavepointOrigin::Imported);
    assert_eq!(sp.metadata.job_id, None, "of no job of this Deployment");
    let a = w.step(Input::Reconcile);
    assert_eq!(
        started(&a).unwrap().1.unwrap().location,
        "s3://other-platform/savepoints/savepoint-1"
    );
    assert!(event_messages(&a).join("\n").contains("(IMPORTED, 0s old)"));
}

/// Imported while a job runs: the job runs on, and the next start (a suspension then a
/// resume restores from the suspension's own savepoint, newer) — an import after the
/// suspension is newer still, and wins.
#[test]
fn the_newest_wins_and_a_repeat_is_recorded_once() {
    let mut w = World::running();
    let a = import(&mut w, "file:/elsewhere/sp-a");
    assert!(
        effects(&a).is_empty(),
        "the running job is left alone: {a:?}"
    );
    assert_eq!(w.status(), DeploymentState::Running);
    w.now = after(T0, Duration::from_secs(60));
    w.change(|p| p.desired = DesiredState::Suspended);
    w.complete_savepoint("file:/sp/own");
    w.tear_down();
    w.now = after(T0, Duration::from_secs(120));
    import(&mut w, "file:/elsewhere/sp-b/");
    // The same file read again at every scan: once.
    assert!(import(&mut w, "file:/elsewhere/sp-b").is_empty());
    assert!(import(&mut w, "file:/elsewhere/sp-a").is_empty());
    assert_eq!(w.completed_savepoints().len(), 3);
    let a = w.change(|p| p.desired = DesiredState::Running);
    assert_eq!(
        started(&a).unwrap().1.unwrap().location,
        "file:/elsewhere/sp-b/"
    );
}

/// NONE ignores imports as it ignores every snapshot.
#[test]
fn restore_none_ignores_imports() {
    let mut w = World::new();
    w.policy.restore = RestoreStrategyKind::None;
    import(&mut w, "file:/elsewhere/sp");
    let a = w.step(Input::Reconcile);
    assert!(started(&a).unwrap().1.is_none());
}
