//! Fast STATEFUL upgrades (warm.rs): the new cluster first, then the stop.

use super::*;

const PLENTY: u64 = 64 << 30;

fn warm_of(actions: &[Action]) -> Option<Uuid> {
    actions.iter().find_map(|a| match a {
        Action::WarmCluster { job } => Some(*job),
        _ => None,
    })
}

fn torn_down(actions: &[Action]) -> Vec<Uuid> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::TearDown { job, .. } => Some(*job),
            _ => None,
        })
        .collect()
}

/// A running job, memory to spare, and an edit of its template; the quota is answered
/// by hand.
fn upgrading() -> (World, Uuid, Vec<Action>) {
    let mut w = World::running();
    w.memory = Some(PLENTY);
    w.auto_quota = false;
    let old = w.job();
    let a = w.edit_template("u2");
    (w, old, a)
}

#[test]
fn the_new_cluster_starts_beside_the_running_job_which_stops_only_once_it_is_up() {
    let (mut w, old, a) = upgrading();
    // Both clusters' cores, and the job runs on.
    assert_eq!(quota_actions(&a), ["reserve #2 4"]);
    assert!(effects(&a).is_empty(), "{a:?}");
    let a = w.step(Input::QuotaGranted { request: 2 });
    let new = warm_of(&a).expect("the new cluster is started");
    assert_ne!(new, old);
    assert_eq!(event_names(&a), ["PREPARING_CLUSTER_FOR_UPGRADE"]);
    assert!(effects(&a).is_empty(), "no stop before the cluster is up");
    assert_eq!(w.lc.cores_held, 4.0);
    // Up: now the stop with a savepoint.
    let a = w.step(Input::ClusterWarm { job: new });
    assert_eq!(effects(&a), ["stop with savepoint"]);
    w.complete_savepoint("file:/sp/up");
    // The old cluster goes first; the new job is then submitted to the warm cluster.
    let a = w.tear_down();
    let (job, restore, _) = started(&a).expect("the new job");
    assert_eq!(job, new, "the job runs on the cluster started for it");
    assert_eq!(restore.unwrap().location, "file:/sp/up");
    assert!(quota_actions(&a).is_empty());
    w.step(Input::StartBegan { job });
    let a = w.step(Input::JobRunning { job });
    // The old job's cores go back once the new one runs.
    assert_eq!(quota_actions(&a), ["set 2"]);
    assert!(a
        .iter()
        .any(|x| matches!(x, Action::UpgradeDowntime { .. })));
    assert_eq!(w.lc.warm, None);
}

#[test]
fn a_quota_that_cannot_hold_both_clusters_upgrades_the_cold_way_at_once() {
    let (mut w, _, _) = upgrading();
    let a = w.step(Input::QuotaDenied {
        request: 2,
        used: 3.0,
        limit: 4.0,
    });
    assert_eq!(effects(&a), ["stop with savepoint"]);
    assert!(
        event_messages(&a)
            .iter()
            .any(|m| m.contains("cold way") && m.contains("quota")),
        "{:?}",
        event_messages(&a)
    );
    assert_eq!(w.lc.cores_held, 2.0, "nothing more held");
}

#[test]
fn too_little_memory_upgrades_the_cold_way_and_says_so_once() {
    let mut w = World::running();
    w.memory = Some(1 << 30);
    let a = w.edit_template("u2");
    assert_eq!(effects(&a), ["stop with savepoint"]);
    assert!(
        event_messages(&a).iter().any(|m| m.contains("1024 MiB")),
        "{:?}",
        event_messages(&a)
    );
    // No fast path is taken without knowing the memory either.
    let mut w = World::running();
    let a = w.edit_template("u2");
    assert_eq!(effects(&a), ["stop with savepoint"]);
    assert_eq!(warm_of(&a), None);
}

#[test]
fn a_cluster_that_does_not_come_up_is_removed_and_the_upgrade_goes_the_cold_way() {
    let (mut w, _, _) = upgrading();
    let new = warm_of(&w.step(Input::QuotaGranted { request: 2 })).unwrap();
    let a = w.step(Input::WarmFailed {
        job: new,
        reason: "the JobManager exited".into(),
    });
    assert_eq!(torn_down(&a), [new]);
    assert_eq!(effects(&a), ["tear down", "stop with savepoint"]);
    // Its cores stay held until it is gone.
    assert_eq!(w.lc.cores_held, 4.0);
    w.step(Input::TornDown { job: new });
    assert_eq!(w.lc.cores_held, 2.0, "given back once gone, the job's kept");
    // The upgrade goes on, the cold way, with a new job id.
    w.complete_savepoint("file:/sp/up");
    let (job, ..) = started(&w.tear_down()).unwrap();
    assert_ne!(job, new);
}

#[test]
fn a_cluster_not_up_by_the_start_deadline_is_given_up() {
    let (mut w, _, _) = upgrading();
    let new = warm_of(&w.step(Input::QuotaGranted { request: 2 })).unwrap();
    assert_eq!(
        w.next_deadline(),
        Some(after(w.now, w.timing.job_start_timeout))
    );
    let a = w.advance(w.timing.job_start_timeout);
    assert_eq!(torn_down(&a), [new]);
    assert!(effects(&a).contains(&"stop with savepoint".to_string()));
}

#[test]
fn an_edit_while_the_cluster_starts_removes_it_and_upgrades_to_the_latest() {
    let (mut w, _, _) = upgrading();
    let first = warm_of(&w.step(Input::QuotaGranted { request: 2 })).unwrap();
    let a = w.edit_template("u3");
    assert_eq!(torn_down(&a), [first]);
    // The latest template's cluster: asked with what is still held for the first.
    assert_eq!(quota_actions(&a), ["reserve #3 6"]);
    let second = warm_of(&w.step(Input::QuotaGranted { request: 3 })).unwrap();
    assert_ne!(second, first);
    // A late word from the first changes nothing.
    assert!(w.step(Input::ClusterWarm { job: first }).is_empty());
    w.step(Input::TornDown { job: first });
    assert_eq!(w.lc.cores_held, 4.0);
    let a = w.step(Input::ClusterWarm { job: second });
    assert_eq!(effects(&a), ["stop with savepoint"]);
    w.complete_savepoint("file:/sp/up");
    let (job, ..) = started(&w.tear_down()).unwrap();
    assert_eq!(job, second);
    assert_eq!(w.records.job(job).unwrap().spec.template_hash, "t-u3");
}

#[test]
fn a_suspension_while_the_cluster_starts_removes_it() {
    let (mut w, _, _) = upgrading();
    let new = warm_of(&w.step(Input::QuotaGranted { request: 2 })).unwrap();
    let a = w.change(|p| p.desired = DesiredState::Suspended);
    assert_eq!(torn_down(&a), [new]);
    assert_eq!(effects(&a), ["tear down", "stop with savepoint"]);
    w.complete_savepoint("file:/sp/s");
    w.tear_down();
    assert_eq!(w.status(), DeploymentState::Suspended);
    // Its cores are held until it is gone too.
    assert_eq!(w.lc.cores_held, 2.0);
    w.step(Input::TornDown { job: new });
    assert_eq!(w.lc.cores_held, 0.0);
}

#[test]
fn a_restart_removes_a_warm_cluster_and_the_upgrade_asks_again() {
    let (mut w, old, _) = upgrading();
    let warm = warm_of(&w.step(Input::QuotaGranted { request: 2 })).unwrap();
    let a = w.restart(Some(Found::Cluster));
    assert!(torn_down(&a).contains(&warm), "{a:?}");
    assert!(effects(&a).contains(&"adopt".to_string()), "{a:?}");
    // The upgrade asks again, with what the removal still holds counted.
    assert_eq!(quota_actions(&a), ["reserve #3 6"]);
    assert_ne!(w.lc.warm.as_ref().map(|x| x.job), Some(warm));
    assert_eq!(w.job(), old, "the job runs on meanwhile");
    w.step(Input::TornDown { job: warm });
    assert_eq!(w.lc.discarded, Vec::new());
}

#[test]
fn a_failed_removal_is_tried_again_later() {
    let (mut w, _, _) = upgrading();
    let new = warm_of(&w.step(Input::QuotaGranted { request: 2 })).unwrap();
    w.step(Input::WarmFailed {
        job: new,
        reason: "x".into(),
    });
    let a = w.step(Input::TearDownFailed {
        job: new,
        reason: "still alive".into(),
    });
    assert_eq!(event_names(&a), ["CLUSTER_TEARDOWN_FAILED"]);
    let at = w.lc.discarded[0].retry_at.unwrap();
    w.now = at;
    let a = w.step(Input::Reconcile);
    assert!(torn_down(&a).contains(&new));
}

#[test]
fn a_fast_upgrade_of_a_failed_suspension_leaves_no_warm_cluster() {
    let (mut w, _, _) = upgrading();
    let new = warm_of(&w.step(Input::QuotaGranted { request: 2 })).unwrap();
    w.step(Input::ClusterWarm { job: new });
    // Every savepoint attempt fails: FAILED, and the warm cluster is removed.
    let mut removed = Vec::new();
    for _ in 0..w.policy.max_savepoint_creation_attempts {
        removed.extend(torn_down(&w.fail_savepoint("refused")));
    }
    assert_eq!(w.status(), DeploymentState::Failed, "{:?}", w.lc);
    assert!(removed.contains(&new), "{removed:?}");
    assert_eq!(w.lc.warm, None);
}

/// Found by the property test: a job that ended while the quota for its upgrade's
/// cluster was asked for had that cluster started anyway, for a finished Deployment.
#[test]
fn a_job_that_ends_while_its_upgrade_asks_for_cores_gets_no_cluster_started() {
    let (mut w, old, _) = upgrading();
    let a = w.step(Input::JobEnded {
        job: old,
        end: FlinkEnd::Finished,
        reason: String::new(),
    });
    assert_eq!(w.lc.warm, None, "given up with its job");
    assert!(quota_actions(&a).contains(&"set 2".to_string()), "{a:?}");
    // The grant arrives late: nothing starts.
    let a = w.step(Input::QuotaGranted { request: 2 });
    assert_eq!(warm_of(&a), None);
}

/// Found by the property test: a cluster made for a spec of other cores (the same
/// template hash) ran the next job while the quota booked the new cores only.
#[test]
fn a_cluster_made_for_other_cores_runs_no_job() {
    let (mut w, _, _) = upgrading();
    let first = warm_of(&w.step(Input::QuotaGranted { request: 2 })).unwrap();
    let a = w.step(Input::ClusterWarm { job: first });
    assert_eq!(effects(&a), ["stop with savepoint"]);
    w.complete_savepoint("file:/sp/up");
    w.policy.cores = 1.0;
    let a = w.tear_down();
    assert_eq!(torn_down(&a), [first], "{a:?}");
    let (job, restore, _) = started(&a).expect("the next job, the cold way");
    assert_ne!(job, first);
    assert_eq!(restore.unwrap().location, "file:/sp/up");
}

/// Found by the property test: the cores a given-up warm cluster keeps until it is gone
/// were counted as free for the next job, which then started beyond what the quota held.
#[test]
fn a_given_up_cluster_keeps_its_cores_when_the_next_job_is_checked() {
    let (mut w, _, _) = upgrading();
    let first = warm_of(&w.step(Input::QuotaGranted { request: 2 })).unwrap();
    w.step(Input::ClusterWarm { job: first });
    w.complete_savepoint("file:/sp/up");
    // Held: the old job's 2 and the warm cluster's 2; the latest spec needs 3.
    w.policy.cores = 3.0;
    let a = w.tear_down();
    assert_eq!(torn_down(&a), [first], "{a:?}");
    assert!(started(&a).is_none(), "no start beyond the quota: {a:?}");
    assert!(
        quota_actions(&a).iter().any(|q| q.starts_with("reserve")),
        "{a:?}"
    );
}
