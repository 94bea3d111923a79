//! Retention and disposal (issue 14, point 2): exactly what the policy says, never a
//! protected snapshot, files before records.

use super::*;
use crate::expanded::Retention;

fn keep(n: u32) -> Option<Retention> {
    Some(Retention {
        keep: Some(n),
        max_age: None,
        dispose_imported: false,
    })
}

fn disposals(a: &[Action]) -> Vec<String> {
    a.iter()
        .filter_map(|a| match a {
            Action::DisposeSnapshot { location, .. } => Some(location.clone()),
            _ => None,
        })
        .collect()
}

/// Suspends and resumes `n` times, a minute apart: `n` SUSPEND savepoints.
fn cycles(w: &mut World, n: usize) -> Vec<Action> {
    let mut all = Vec::new();
    for i in 0..n {
        w.now = after(w.now, Duration::from_secs(60));
        w.change(|p| p.desired = DesiredState::Suspended);
        all.extend(w.complete_savepoint(&format!("file:/sp/{i}")));
        all.extend(w.tear_down());
        all.extend(w.change(|p| p.desired = DesiredState::Running));
        w.run_job();
    }
    all
}

#[test]
fn the_newest_n_are_kept_and_the_rest_go_files_first() {
    let mut w = World::running();
    w.policy.retention = keep(2);
    let a = cycles(&mut w, 3);
    assert_eq!(disposals(&a), ["file:/sp/0"], "{a:?}");
    let gone = w
        .records
        .savepoints
        .iter()
        .find(|s| s.location.as_deref() == Some("file:/sp/0"))
        .unwrap()
        .metadata
        .id;
    // Asked once, whatever else happens meanwhile.
    assert!(disposals(&w.step(Input::Reconcile)).is_empty());
    assert!(
        w.records.savepoint(gone).is_some(),
        "the record stays until the files are gone"
    );
    let a = w.step(Input::SnapshotDisposed { savepoint: gone });
    assert!(a.contains(&Action::ForgetSavepoint { savepoint: gone }));
    assert!(
        event_messages(&a)[0].starts_with("SAVEPOINT_DISPOSED: savepoint"),
        "{a:?}"
    );
    assert!(w.records.savepoint(gone).is_none());
    assert_eq!(w.completed_savepoints().len(), 2);
}

/// keep 1 while the running job restored from an older one than the newest: that one
/// stays until the job is gone; imports stay unless the policy says otherwise.
#[test]
fn protected_snapshots_are_never_disposed_of() {
    let mut w = World::running();
    cycles(&mut w, 1); // the job runs from sp/0
    w.step(Input::UserSavepoint);
    let job = w.job();
    let sp = w.savepoint_in_flight();
    w.step(Input::SavepointImported {
        location: "s3://elsewhere/sp".into(),
    });
    w.now = after(w.now, Duration::from_secs(60));
    w.policy.retention = keep(1);
    let a = w.step(Input::SavepointCompleted {
        job,
        savepoint: sp,
        location: "file:/sp/user".into(),
    });
    assert!(
        disposals(&a).is_empty(),
        "sp/0 is the job's restore point: {a:?}"
    );
    // The job ends (suspended): sp/0 and the user's go, the newest and the import stay.
    w.now = after(w.now, Duration::from_secs(60));
    w.change(|p| p.desired = DesiredState::Suspended);
    w.complete_savepoint("file:/sp/last");
    let a = w.tear_down();
    assert_eq!(disposals(&a), ["file:/sp/0", "file:/sp/user"]);
    // With disposeImported, the import goes too.
    w.policy.retention = Some(Retention {
        dispose_imported: true,
        ..keep(1).unwrap()
    });
    assert_eq!(disposals(&w.step(Input::Reconcile)), ["s3://elsewhere/sp"]);
}

#[test]
fn max_age_keeps_the_young_and_the_newest() {
    let mut w = World::running();
    cycles(&mut w, 3); // at T0+1m, +2m, +3m
    w.policy.retention = Some(Retention {
        keep: None,
        max_age: Some(Duration::from_secs(150)),
        dispose_imported: false,
    });
    w.now = after(T0, Duration::from_secs(240));
    assert_eq!(disposals(&w.step(Input::Reconcile)), ["file:/sp/0"]);
    w.now = after(T0, Duration::from_secs(3600));
    assert_eq!(
        disposals(&w.step(Input::Reconcile)),
        ["file:/sp/1"],
        "the newest stays, however old"
    );
}

#[test]
fn a_failed_disposal_marks_the_record_and_is_tried_again_later() {
    let mut w = World::running();
    w.policy.retention = keep(1);
    cycles(&mut w, 2);
    let old = w.completed_savepoints()[0].metadata.id;
    let failed_at = w.now;
    let a = w.step(Input::SnapshotDisposalFailed {
        savepoint: old,
        reason: "permission denied".into(),
    });
    assert!(
        event_messages(&a)[0].starts_with("SAVEPOINT_DISPOSAL_FAILED"),
        "{a:?}"
    );
    let failure = w.savepoint(old).failure.clone().unwrap();
    assert_eq!(failure.reason, "DISPOSAL_FAILED");
    assert_eq!(
        w.savepoint(old).state,
        SavepointState::Completed,
        "still a restore point"
    );
    assert!(disposals(&w.advance(Duration::from_secs(30))).is_empty());
    assert_eq!(
        w.next_deadline(),
        Some(after(failed_at, Duration::from_secs(60))),
        "the actor wakes for the retry"
    );
    assert_eq!(disposals(&w.advance(Duration::from_secs(31))).len(), 1);
}

#[test]
fn off_unless_set() {
    let mut w = World::running();
    let a = cycles(&mut w, 5);
    assert!(disposals(&a).is_empty());
}

/// LATEST_SAVEPOINT with keep 1 while the job checkpoints: the newest savepoint stays
/// (the restore strategy's pick), as do the running job's own checkpoints.
#[test]
fn the_restore_strategys_pick_and_the_running_jobs_checkpoints_stay() {
    let mut w = World::running();
    w.policy.restore = RestoreStrategyKind::LatestSavepoint;
    cycles(&mut w, 2);
    w.policy.retention = keep(1);
    let job = w.job();
    w.now = after(w.now, Duration::from_secs(60));
    let a = w.step(Input::Observed {
        job,
        observation: Default::default(),
        checkpoint: Some(CheckpointSeen {
            location: "file:/chk/j/chk-5".into(),
            completed_at: w.now,
        }),
    });
    // The checkpoint is the newest: sp/0 goes; sp/1 (the strategy's pick, and the
    // job's restore point) and the checkpoint stay.
    assert_eq!(disposals(&a), ["file:/sp/0"], "{a:?}");
    // After the job is gone and a newer savepoint exists, the checkpoint may go.
    w.now = after(w.now, Duration::from_secs(60));
    w.change(|p| p.desired = DesiredState::Suspended);
    w.complete_savepoint("file:/sp/last");
    let a = w.tear_down();
    let gone = disposals(&a);
    assert!(gone.contains(&"file:/chk/j/chk-5".to_string()), "{gone:?}");
    assert!(!gone.contains(&"file:/sp/last".to_string()));
}

/// A disposal done is not asked for again in the same step; a restart asks again for
/// those the previous daemon never heard back about.
#[test]
fn a_disposal_is_asked_once_and_again_after_a_restart() {
    let mut w = World::running();
    w.policy.retention = keep(1);
    let a = cycles(&mut w, 2);
    assert_eq!(disposals(&a), ["file:/sp/0"]);
    let old = w.completed_savepoints()[0].metadata.id;
    let a = w.step(Input::SnapshotDisposed { savepoint: old });
    assert!(disposals(&a).is_empty(), "not asked again: {a:?}");
    // Another old one, asked for, then the daemon restarts before the answer.
    cycles(&mut w, 1);
    assert_eq!(w.lc.disposing.len(), 1);
    let a = w.restart(Some(Found::Cluster));
    assert_eq!(disposals(&a).len(), 1, "asked again: {a:?}");
}
