//! `flinkd plan`'s core (issue 14, point 5): the lifecycle's next step, on a copy, in
//! words.

use super::*;
use crate::lifecycle::plan::{plan, Plan};

fn plan_of(w: &World, f: impl FnOnce(&mut Policy)) -> Plan {
    let mut p = w.policy.clone();
    f(&mut p);
    p.hold_key = format!("{}+", p.hold_key);
    plan(&w.lc, &w.records, &p, &w.timing, w.now)
}

#[test]
fn the_same_spec_plans_nothing() {
    let w = World::running();
    let p = plan(&w.lc, &w.records, &w.policy, &w.timing, w.now);
    assert!(p.unchanged, "{p:?}");
    assert!(p.steps.is_empty() && p.warnings.is_empty());
}

#[test]
fn a_new_deployment_starts_with_empty_state_and_no_warning() {
    let w = World::new();
    let p = plan(&w.lc, &w.records, &w.policy, &w.timing, w.now);
    assert_eq!(
        p.steps,
        [
            "needs 2 CPU cores of the quota",
            "starts a job with empty state"
        ]
    );
    assert!(p.warnings.is_empty(), "nothing was ever taken: {p:?}");
}

#[test]
fn transitions_and_upgrades_are_named() {
    let mut w = World::running();
    let p = plan_of(&w, |p| p.desired = DesiredState::Suspended);
    assert_eq!(
        p.steps,
        ["suspends: a savepoint, then the cluster is stopped"]
    );
    let p = plan_of(&w, |p| p.desired = DesiredState::Cancelled);
    assert_eq!(
        p.steps,
        ["cancels the job (no savepoint), then the cluster is stopped"]
    );
    let p = plan_of(&w, |p| p.upgrade_key = "u2".into());
    assert_eq!(
        p.steps,
        ["upgrade (STATEFUL): a savepoint, then the new template's job restores from it"]
    );
    let p = plan_of(&w, |p| {
        p.upgrade_key = "u2".into();
        p.upgrade = UpgradeStrategyKind::None;
    });
    assert!(p.steps[0].contains("upgrade strategy NONE"), "{p:?}");
    // Suspended, then running again: the start names its savepoint.
    w.change(|p| p.desired = DesiredState::Suspended);
    w.complete_savepoint("file:/sp/1");
    w.tear_down();
    w.now = after(w.now, Duration::from_secs(7200));
    let p = plan_of(&w, |p| p.desired = DesiredState::Running);
    assert!(
        p.steps
            .iter()
            .any(|s| s.starts_with("starts a job, restoring from savepoint")
                && s.contains("(SUSPEND, 2h old) at file:/sp/1")),
        "{p:?}"
    );
    assert!(!p.unchanged);
    assert!(p.warnings.is_empty());
}

#[test]
fn empty_state_over_a_snapshot_is_a_warning() {
    let mut w = World::running();
    w.change(|p| p.desired = DesiredState::Suspended);
    w.complete_savepoint("file:/sp/1");
    w.tear_down();
    w.change(|p| p.desired = DesiredState::Running);
    w.run_job();
    // STATELESS with restore NONE.
    let p = plan_of(&w, |p| {
        p.upgrade_key = "u2".into();
        p.upgrade = UpgradeStrategyKind::Stateless;
        p.restore = RestoreStrategyKind::None;
    });
    assert!(p.steps[0].starts_with("upgrade (STATELESS)"), "{p:?}");
    assert_eq!(p.warnings.len(), 1, "{p:?}");
    assert!(
        p.warnings[0].starts_with("STARTS FROM EMPTY STATE (STATELESS upgrade, restore strategy NONE), although 1 snapshot exist(s)"),
        "{p:?}"
    );
    // STATELESS with LATEST_SAVEPOINT: from the savepoint, no warning.
    let p = plan_of(&w, |p| {
        p.upgrade_key = "u2".into();
        p.upgrade = UpgradeStrategyKind::Stateless;
        p.restore = RestoreStrategyKind::LatestSavepoint;
    });
    assert!(
        p.steps[1].starts_with("it restores from savepoint"),
        "{p:?}"
    );
    assert!(p.warnings.is_empty(), "{p:?}");
}

/// A plan changes nothing: the lifecycle and records it was given are as they were.
#[test]
fn a_plan_touches_nothing() {
    let w = World::running();
    let (lc, records) = (w.lc.clone(), w.records.clone());
    let _ = plan_of(&w, |p| p.desired = DesiredState::Cancelled);
    assert_eq!(w.lc, lc);
    assert_eq!(w.records.savepoints, records.savepoints);
}

/// A retention the spec adds disposes of snapshots: said, and a change; a periodic
/// savepoint due is not an upgrade.
#[test]
fn disposals_and_periodic_savepoints_are_named() {
    let mut w = World::running();
    for i in 0..2 {
        w.now = after(w.now, Duration::from_secs(60));
        w.change(|p| p.desired = DesiredState::Suspended);
        w.complete_savepoint(&format!("file:/sp/{i}"));
        w.tear_down();
        w.change(|p| p.desired = DesiredState::Running);
        w.run_job();
    }
    let p = plan_of(&w, |p| {
        p.retention = Some(crate::expanded::Retention {
            keep: Some(1),
            max_age: None,
            dispose_imported: false,
        })
    });
    assert!(!p.unchanged);
    assert!(
        p.steps
            .iter()
            .any(|s| s.starts_with("disposes of savepoint")
                && s.ends_with("at file:/sp/0 (savepointRetention)")),
        "{p:?}"
    );
    w.now = after(w.now, Duration::from_secs(7200));
    let p = plan_of(&w, |p| {
        p.savepoint_interval = Some(Duration::from_secs(3600))
    });
    assert_eq!(
        p.steps,
        ["a periodic savepoint is due (the job runs on)"],
        "{p:?}"
    );
}
