//! The downtime of upgrades (`flinkd_upgrade_downtime_seconds`, the new job's event).

use super::*;

/// The downtime an upgrade's new job reports, from the stop of the job it replaces.
fn downtime(actions: &[Action]) -> Option<Duration> {
    actions.iter().find_map(|a| match a {
        Action::UpgradeDowntime { downtime } => Some(*downtime),
        _ => None,
    })
}

#[test]
fn an_upgrade_reports_its_downtime_from_the_stop_of_the_old_job_to_the_new_one_running() {
    let mut w = World::running();
    w.now = after(w.now, Duration::from_secs(30));
    w.edit_template("u2");
    w.now = after(w.now, Duration::from_millis(1500));
    w.complete_savepoint("file:/sp/up");
    w.now = after(w.now, Duration::from_secs(2));
    w.tear_down();
    let new = w.job();
    w.step(Input::StartBegan { job: new });
    w.now = after(w.now, Duration::from_millis(3200));
    let a = w.step(Input::JobRunning { job: new });
    assert_eq!(downtime(&a), Some(Duration::from_millis(6700)));
    assert!(
        event_messages(&a)
            .iter()
            .any(|m| m.contains("6.7s after the upgrade")),
        "{:?}",
        event_messages(&a)
    );
    // A later start that is no upgrade (a suspension, then a resume) reports none.
    w.change(|p| p.desired = DesiredState::Suspended);
    w.complete_savepoint("file:/sp/2");
    w.tear_down();
    w.change(|p| p.desired = DesiredState::Running);
    let job = w.job();
    w.step(Input::StartBegan { job });
    assert_eq!(downtime(&w.step(Input::JobRunning { job })), None);
}

#[test]
fn an_upgrade_given_up_for_a_suspension_reports_no_downtime_at_the_next_start() {
    let mut w = World::running();
    w.edit_template("u2");
    w.change(|p| p.desired = DesiredState::Suspended);
    w.complete_savepoint("file:/sp/up");
    w.tear_down();
    assert_eq!(w.status(), DeploymentState::Suspended);
    w.now = after(w.now, Duration::from_secs(3600));
    w.change(|p| p.desired = DesiredState::Running);
    let job = w.job();
    w.step(Input::StartBegan { job });
    assert_eq!(downtime(&w.step(Input::JobRunning { job })), None);
}

#[test]
fn an_upgrade_given_up_mid_way_leaves_no_downtime_for_a_later_recovery() {
    let mut w = World::running();
    let job = w.job();
    w.edit_template("u2");
    // The spec goes back while the savepoint is under way; it fails: no upgrade now.
    w.edit_template("u1");
    w.fail_savepoint("refused");
    assert!(
        matches!(w.lc.phase, Phase::Running { .. }),
        "{:?}",
        w.lc.phase
    );
    assert_eq!(w.job(), job);
    assert_eq!(w.lc.upgrade_stopped_at, None);
    // Days later the cluster is lost and the job recovered: no upgrade's downtime.
    w.now = after(w.now, Duration::from_secs(3 * 86400));
    w.step(Input::ClusterLost {
        job,
        reason: "gone".into(),
    });
    if matches!(w.lc.phase, Phase::TearingDown { .. }) {
        w.tear_down();
    }
    let new = w.job();
    w.step(Input::StartBegan { job: new });
    assert_eq!(downtime(&w.step(Input::JobRunning { job: new })), None);
}
