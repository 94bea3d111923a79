//! Deployment conditions (reference page, "Deployment Conditions"): a pure function of
//! the latest observation of a running job, the previous conditions and `now`.
//!
//! - ClusterUnreachable: True when the job was last observed in an unknown state (its
//!   REST API did not answer), False when it answered.
//! - JobFailing: True when the job restarted `threshold` (3) or more times within the
//!   last `failing_window` (10 minutes).
//! - JobUnstable: the same within `unstable_window` (60 minutes).
//! - ClusterPodsFailing (a Kubernetes cluster's): True with Kubernetes' reason while one
//!   of its pods is in trouble, False when none is ([`pods`]); kept as it is by
//!   [`evaluate`].
//!
//! Restart times come from Flink's exception history (one entry per restart). Before the
//! first observation, or while the cluster does not answer, the restart conditions are
//! Unknown: a False would claim something nobody saw.
//!
//! `lastTransitionTime` moves when a condition's status changes; `lastUpdateTime` when
//! its status, reason or message changes. A condition that merely stays the same is not
//! rewritten, so that a quiet job costs no writes.

use std::time::Duration;

use crate::spec::{Condition, ConditionStatus, ConditionType, Timestamp};

/// What the latest poll of a running job saw.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Observation {
    /// Whether the REST API answered; `None` before the first poll.
    pub reachable: Option<bool>,
    /// When the job restarted, as far as Flink remembers; `None` when unknown.
    pub restarts: Option<Vec<Timestamp>>,
    /// TaskManager processes of flinkd's own cluster that are gone: `(lost, of)`.
    pub task_managers_lost: Option<(u32, u32)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Thresholds {
    pub failing_window: Duration,
    pub unstable_window: Duration,
    pub threshold: u32,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            failing_window: Duration::from_secs(600),
            unstable_window: Duration::from_secs(3600),
            threshold: 3,
        }
    }
}

fn count_within(restarts: &[Timestamp], now: Timestamp, window: Duration) -> usize {
    let window = time::Duration::try_from(window).unwrap_or(time::Duration::MAX);
    restarts
        .iter()
        .filter(|t| now - **t <= window && **t <= now)
        .count()
}

fn restart_condition(
    kind: ConditionType,
    obs: &Observation,
    now: Timestamp,
    window: Duration,
    threshold: u32,
) -> (ConditionStatus, String, String) {
    let span = humantime::format_duration(window).to_string();
    match (&obs.restarts, obs.reachable) {
        (Some(r), Some(true)) => {
            let n = count_within(r, now, window);
            if n >= threshold as usize {
                let reason = if kind == ConditionType::JobFailing {
                    "JobRestartingOften"
                } else {
                    "JobRestarting"
                };
                (
                    ConditionStatus::True,
                    reason.into(),
                    format!("{n} restarts within the last {span}"),
                )
            } else {
                (
                    ConditionStatus::False,
                    "FewRestarts".into(),
                    format!("{n} restarts within the last {span}"),
                )
            }
        }
        _ => (
            ConditionStatus::Unknown,
            "NotObserved".into(),
            "the job's restarts could not be observed".into(),
        ),
    }
}

/// The conditions after an observation, and whether anything changed.
pub fn evaluate(
    previous: &[Condition],
    obs: &Observation,
    now: Timestamp,
    t: &Thresholds,
) -> (Vec<Condition>, bool) {
    let unreachable = match obs.reachable {
        Some(false) => (
            ConditionStatus::True,
            "RestApiNotAnswering".to_string(),
            "the job's Flink REST API did not answer".to_string(),
        ),
        Some(true) => (
            ConditionStatus::False,
            "RestApiAnswering".to_string(),
            "the job's Flink REST API answers".to_string(),
        ),
        None => (
            ConditionStatus::Unknown,
            "NotObserved".to_string(),
            "the job was not observed yet".to_string(),
        ),
    };
    let wanted = [
        (ConditionType::ClusterUnreachable, unreachable),
        (
            ConditionType::JobFailing,
            restart_condition(
                ConditionType::JobFailing,
                obs,
                now,
                t.failing_window,
                t.threshold,
            ),
        ),
        (
            ConditionType::JobUnstable,
            restart_condition(
                ConditionType::JobUnstable,
                obs,
                now,
                t.unstable_window,
                t.threshold,
            ),
        ),
    ];
    let mut changed = false;
    let mut next: Vec<Condition> = wanted
        .into_iter()
        .map(|(kind, (status, reason, message))| {
            let (c, moved) = updated(previous, kind, status, reason, message, now);
            changed |= moved;
            c
        })
        .collect();
    // Conditions observed otherwise (the pods') stay as they are.
    let others: Vec<Condition> = previous
        .iter()
        .filter(|p| next.iter().all(|n| n.kind != p.kind))
        .cloned()
        .collect();
    next.extend(others);
    (next, changed)
}

/// The condition `kind` as now observed, from its previous self; and whether it changed.
fn updated(
    previous: &[Condition],
    kind: ConditionType,
    status: ConditionStatus,
    reason: String,
    message: String,
    now: Timestamp,
) -> (Condition, bool) {
    match previous.iter().find(|c| c.kind == kind) {
        Some(p) if p.status == status && p.reason == reason && p.message == message => {
            (p.clone(), false)
        }
        Some(p) if p.status == status => (
            Condition {
                reason,
                message,
                last_update_time: now,
                ..p.clone()
            },
            true,
        ),
        _ => (
            Condition {
                kind,
                status,
                reason,
                message,
                last_transition_time: now,
                last_update_time: now,
            },
            true,
        ),
    }
}

/// The conditions after a look at a Kubernetes cluster's pods: ClusterPodsFailing True
/// with Kubernetes' reason and message while one is in trouble, False otherwise; and
/// whether anything changed.
pub fn pods(
    previous: &[Condition],
    trouble: Option<&crate::lifecycle::PodTrouble>,
    now: Timestamp,
) -> (Vec<Condition>, bool) {
    let (status, reason, message) = match trouble {
        Some(t) => (ConditionStatus::True, t.reason.clone(), t.message.clone()),
        None => (
            ConditionStatus::False,
            "PodsRunning".to_string(),
            "the cluster's pods run or are starting without trouble".to_string(),
        ),
    };
    let kind = ConditionType::ClusterPodsFailing;
    let (c, changed) = updated(previous, kind, status, reason, message, now);
    let mut next: Vec<Condition> = previous
        .iter()
        .filter(|p| p.kind != kind)
        .cloned()
        .collect();
    next.push(c);
    (next, changed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: Timestamp = datetime!(2026-11-24 12:00:00 UTC);

    fn ago(secs: i64) -> Timestamp {
        NOW - time::Duration::seconds(secs)
    }

    fn status(cs: &[Condition], kind: ConditionType) -> ConditionStatus {
        cs.iter().find(|c| c.kind == kind).unwrap().status
    }

    fn seen(restarts: Vec<Timestamp>) -> Observation {
        Observation {
            reachable: Some(true),
            restarts: Some(restarts),
            task_managers_lost: None,
        }
    }

    #[test]
    fn two_restarts_are_not_failing_three_are() {
        let t = Thresholds::default();
        let (cs, _) = evaluate(&[], &seen(vec![ago(10), ago(20)]), NOW, &t);
        assert_eq!(
            status(&cs, ConditionType::JobFailing),
            ConditionStatus::False
        );
        assert_eq!(
            status(&cs, ConditionType::JobUnstable),
            ConditionStatus::False
        );
        let (cs, _) = evaluate(&[], &seen(vec![ago(10), ago(20), ago(30)]), NOW, &t);
        assert_eq!(
            status(&cs, ConditionType::JobFailing),
            ConditionStatus::True
        );
        assert_eq!(
            status(&cs, ConditionType::JobUnstable),
            ConditionStatus::True
        );
        let failing = cs
            .iter()
            .find(|c| c.kind == ConditionType::JobFailing)
            .unwrap();
        assert_eq!(failing.message, "3 restarts within the last 10m");
    }

    #[test]
    fn the_ten_minute_window_edge() {
        let t = Thresholds::default();
        // Exactly 10 minutes ago still counts; one second more does not.
        let (cs, _) = evaluate(&[], &seen(vec![ago(600), ago(1), ago(2)]), NOW, &t);
        assert_eq!(
            status(&cs, ConditionType::JobFailing),
            ConditionStatus::True
        );
        let (cs, _) = evaluate(&[], &seen(vec![ago(601), ago(1), ago(2)]), NOW, &t);
        assert_eq!(
            status(&cs, ConditionType::JobFailing),
            ConditionStatus::False
        );
        assert_eq!(
            status(&cs, ConditionType::JobUnstable),
            ConditionStatus::True,
            "still within the hour"
        );
    }

    #[test]
    fn the_sixty_minute_window_edge() {
        let t = Thresholds::default();
        let (cs, _) = evaluate(&[], &seen(vec![ago(3600), ago(1800), ago(900)]), NOW, &t);
        assert_eq!(
            status(&cs, ConditionType::JobUnstable),
            ConditionStatus::True
        );
        assert_eq!(
            status(&cs, ConditionType::JobFailing),
            ConditionStatus::False
        );
        let (cs, _) = evaluate(&[], &seen(vec![ago(3601), ago(1800), ago(900)]), NOW, &t);
        assert_eq!(
            status(&cs, ConditionType::JobUnstable),
            ConditionStatus::False
        );
    }

    #[test]
    fn unreachable_is_true_and_restarts_become_unknown() {
        let t = Thresholds::default();
        let obs = Observation {
            reachable: Some(false),
            restarts: None,
            task_managers_lost: None,
        };
        let (cs, _) = evaluate(&[], &obs, NOW, &t);
        assert_eq!(
            status(&cs, ConditionType::ClusterUnreachable),
            ConditionStatus::True
        );
        assert_eq!(
            status(&cs, ConditionType::JobFailing),
            ConditionStatus::Unknown
        );
        assert_eq!(
            status(&cs, ConditionType::JobUnstable),
            ConditionStatus::Unknown
        );
        let (cs, _) = evaluate(&[], &Observation::default(), NOW, &t);
        assert!(
            cs.iter().all(|c| c.status == ConditionStatus::Unknown),
            "nothing observed yet: {cs:?}"
        );
        let (cs, _) = evaluate(&[], &seen(vec![]), NOW, &t);
        assert_eq!(
            status(&cs, ConditionType::ClusterUnreachable),
            ConditionStatus::False
        );
        assert_eq!(
            status(&cs, ConditionType::JobFailing),
            ConditionStatus::False
        );
    }

    #[test]
    fn transition_and_update_times() {
        let t = Thresholds::default();
        let t0 = ago(120);
        let (first, changed) = evaluate(&[], &seen(vec![ago(130), ago(140), ago(150)]), t0, &t);
        assert!(changed);
        // The same observation later: nothing changes, nothing to write.
        let (same, changed) = evaluate(
            &first,
            &seen(vec![ago(130), ago(140), ago(150)]),
            ago(60),
            &t,
        );
        assert!(!changed);
        assert_eq!(same, first);
        // One more restart: still True, a new message: updated, not transitioned.
        let (more, changed) = evaluate(
            &first,
            &seen(vec![ago(10), ago(130), ago(140), ago(150)]),
            NOW,
            &t,
        );
        assert!(changed);
        let f = more
            .iter()
            .find(|c| c.kind == ConditionType::JobFailing)
            .unwrap();
        assert_eq!(f.status, ConditionStatus::True);
        assert_eq!(f.last_transition_time, t0);
        assert_eq!(f.last_update_time, NOW);
        assert_ne!(f.last_transition_time, f.last_update_time);
        // The restarts age out: False, a transition.
        let later = NOW + time::Duration::minutes(11);
        let (calm, _) = evaluate(
            &more,
            &seen(vec![ago(10), ago(130), ago(140), ago(150)]),
            later,
            &t,
        );
        let f = calm
            .iter()
            .find(|c| c.kind == ConditionType::JobFailing)
            .unwrap();
        assert_eq!(f.status, ConditionStatus::False);
        assert_eq!(f.last_transition_time, later);
    }

    #[test]
    fn thresholds_come_from_the_config() {
        let t = Thresholds {
            failing_window: Duration::from_secs(60),
            unstable_window: Duration::from_secs(120),
            threshold: 1,
        };
        let (cs, _) = evaluate(&[], &seen(vec![ago(90)]), NOW, &t);
        assert_eq!(
            status(&cs, ConditionType::JobFailing),
            ConditionStatus::False
        );
        assert_eq!(
            status(&cs, ConditionType::JobUnstable),
            ConditionStatus::True
        );
    }
}
