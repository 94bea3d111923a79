//! The pods of a Kubernetes cluster: their trouble is a condition and one event per
//! trouble (not one per look), and a start that runs out of time says what the pods
//! said.

use super::*;
use crate::spec::{ConditionStatus, ConditionType};

fn looked(w: &mut World, job: Uuid, trouble: Option<(&str, &str)>) -> Vec<Action> {
    w.step(Input::PodsObserved {
        job,
        trouble: trouble.map(|(reason, message)| PodTrouble {
            reason: reason.into(),
            message: message.into(),
        }),
    })
}

fn pods_condition(w: &World) -> Option<(ConditionStatus, String)> {
    w.lc.conditions
        .iter()
        .find(|c| c.kind == ConditionType::ClusterPodsFailing)
        .map(|c| (c.status, c.reason.clone()))
}

#[test]
fn a_crash_loop_while_starting_is_one_event_and_the_failed_start_names_it() {
    let mut w = World::new();
    w.step(Input::Reconcile);
    let job = w.job();
    w.step(Input::StartBegan { job });
    let crash = (
        "CrashLoopBackOff",
        "JobManager pod p, container c: back-off; its last run ended with exit code 1 (Error)",
    );
    let a = looked(&mut w, job, Some(crash));
    assert_eq!(
        event_messages(&a),
        ["CLUSTER_PODS_FAILING: CrashLoopBackOff: JobManager pod p, container c: back-off; its last run ended with exit code 1 (Error)"]
    );
    assert_eq!(
        pods_condition(&w),
        Some((ConditionStatus::True, "CrashLoopBackOff".into()))
    );
    // The same trouble seen again: no new event.
    assert!(event_names(&looked(&mut w, job, Some(crash))).is_empty());
    // Another reason is another event.
    let oom = ("OOMKilled", "JobManager pod p: exit code 137 (OOMKilled)");
    assert_eq!(
        event_names(&looked(&mut w, job, Some(oom))),
        ["CLUSTER_PODS_FAILING"]
    );
    // The start deadline: its reason carries the pods'.
    let a = w.advance(w.timing.job_start_timeout);
    let failed: Vec<String> = event_messages(&a)
        .into_iter()
        .filter(|m| m.starts_with("JOB_CREATION_FAILED"))
        .collect();
    assert_eq!(failed.len(), 1, "{a:?}");
    assert!(
        failed[0].ends_with("; its pods: OOMKilled: JobManager pod p: exit code 137 (OOMKilled)"),
        "{}",
        failed[0]
    );
}

#[test]
fn pod_trouble_of_a_running_job_is_a_condition_that_clears_and_survives_polls() {
    let mut w = World::running();
    let job = w.job();
    assert!(event_names(&looked(&mut w, job, None)).is_empty());
    assert_eq!(
        pods_condition(&w),
        Some((ConditionStatus::False, "PodsRunning".into()))
    );
    let a = looked(
        &mut w,
        job,
        Some(("OOMKilled", "TaskManager pod t: exit code 137")),
    );
    assert_eq!(event_names(&a), ["CLUSTER_PODS_FAILING"]);
    // A poll of the job rewrites its own conditions and keeps the pods'.
    w.step(Input::Observed {
        job,
        observation: Observation {
            reachable: Some(true),
            restarts: Some(Vec::new()),
            task_managers_lost: None,
        },
        checkpoint: None,
    });
    assert_eq!(
        pods_condition(&w),
        Some((ConditionStatus::True, "OOMKilled".into()))
    );
    assert_eq!(w.lc.conditions.len(), 4, "{:?}", w.lc.conditions);
    assert!(event_names(&looked(&mut w, job, None)).is_empty());
    assert_eq!(
        pods_condition(&w),
        Some((ConditionStatus::False, "PodsRunning".into()))
    );
    // About another job (a late answer): nothing.
    let other = Uuid::from_u128(99);
    assert!(looked(&mut w, other, Some(("OOMKilled", "x"))).is_empty());
    assert_eq!(
        pods_condition(&w),
        Some((ConditionStatus::False, "PodsRunning".into()))
    );
}
