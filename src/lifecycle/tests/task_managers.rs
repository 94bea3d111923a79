//! TaskManagers of a job's own cluster that die are started again while the job is to
//! run (found by the chaos campaign on real Flink: a killed TaskManager left the job
//! waiting for slots for good, RUNNING on record and counting nothing).

use super::*;

fn lost(w: &mut World, job: Uuid, lost: u32) -> Vec<Action> {
    w.step(Input::Observed {
        job,
        observation: Observation {
            reachable: Some(true),
            restarts: None,
            task_managers_lost: Some((lost, 2)),
        },
        checkpoint: None,
    })
}

#[test]
fn a_lost_task_manager_of_a_running_job_is_replaced_once_per_interval() {
    let mut w = World::running();
    let job = w.job();
    assert!(effects(&lost(&mut w, job, 0)).is_empty(), "none lost");

    let a = lost(&mut w, job, 1);
    assert_eq!(effects(&a), ["replace task managers"]);
    assert_eq!(event_names(&a), ["TASK_MANAGERS_LOST"]);
    assert_eq!(
        event_messages(&a),
        ["TASK_MANAGERS_LOST: 1 of 2 TaskManagers of its cluster gone; starting 1 in their place"]
    );
    // The replacement is starting: the next polls ask for nothing more...
    w.now = after(w.now, Duration::from_secs(3));
    assert!(lost(&mut w, job, 1).is_empty());
    // ...until the interval has passed with it still gone.
    w.now = after(w.now, w.timing.task_manager_replace_interval);
    assert_eq!(effects(&lost(&mut w, job, 1)), ["replace task managers"]);
    assert_eq!(w.status(), DeploymentState::Running);
}

#[test]
fn task_managers_are_replaced_for_a_savepoint_but_not_for_an_end() {
    // A suspension's stop with a savepoint needs the job's tasks: replaced.
    let mut w = World::running();
    let job = w.job();
    w.change(|p| p.desired = DesiredState::Suspended);
    assert!(matches!(w.lc.phase, Phase::Savepointing { .. }));
    assert_eq!(effects(&lost(&mut w, job, 1)), ["replace task managers"]);

    // A cancellation or a teardown needs none.
    let mut w = World::running();
    let job = w.job();
    w.change(|p| p.desired = DesiredState::Cancelled);
    assert!(matches!(w.lc.phase, Phase::Cancelling { .. }));
    assert!(effects(&lost(&mut w, job, 1)).is_empty());

    // Nor does a job that is no longer the active one.
    let mut w = World::running();
    let old = w.job();
    w.step(Input::ClusterLost {
        job: old,
        reason: "gone".into(),
    });
    assert!(effects(&lost(&mut w, old, 1)).is_empty());
}

#[test]
fn the_interval_is_per_job() {
    let mut w = World::running();
    let first = w.job();
    assert_eq!(effects(&lost(&mut w, first, 1)), ["replace task managers"]);
    // The job is lost and recovered at once: the new job's cluster is its own.
    w.step(Input::ClusterLost {
        job: first,
        reason: "gone".into(),
    });
    w.tear_down();
    w.run_job();
    let second = w.job();
    assert_ne!(first, second);
    assert_eq!(effects(&lost(&mut w, second, 1)), ["replace task managers"]);
}
