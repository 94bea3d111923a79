//! Which snapshot a new job restores from (reference page, "Transitions to RUNNING"):
//! the newest COMPLETED one the restore strategy allows.
//!
//! - LATEST_STATE: any savepoint or retained checkpoint;
//! - LATEST_SAVEPOINT: savepoints only (of any origin: suspension, upgrade, request);
//! - NONE: nothing, empty state.
//!
//! "Newest" is by completion. Restores fail closed: a snapshot a start found gone (its
//! `_metadata` missing where flinkd can look, or Flink refusing it as not there) is set
//! aside, and the next start restores from the next older one the strategy allows, with
//! an event naming both. Empty state is only for NONE, or where no snapshot the strategy
//! allows was ever completed: once every candidate is found gone, no job starts and
//! the Deployment is FAILED with what was tried.

use std::time::Duration;

use uuid::Uuid;

use crate::spec::{RestoreStrategyKind, Savepoint, SavepointOrigin, SavepointState, Timestamp};

/// What a start restores from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RestoreChoice<'a> {
    From(&'a Savepoint),
    /// Empty state: the strategy is NONE, or it allows no snapshot ever completed.
    Empty,
    /// Every snapshot the strategy allows was found gone: nothing starts.
    Exhausted,
}

fn allowed(strategy: RestoreStrategyKind, s: &Savepoint) -> bool {
    let kind = match strategy {
        RestoreStrategyKind::None => false,
        RestoreStrategyKind::LatestState => true,
        RestoreStrategyKind::LatestSavepoint => s.origin != SavepointOrigin::RetainedCheckpoint,
    };
    kind && s.state == SavepointState::Completed && s.location.is_some()
}

/// The snapshot a start of `strategy` restores from.
pub fn choose_restore<'a>(
    strategy: RestoreStrategyKind,
    savepoints: &'a [Savepoint],
    unusable: &[Uuid],
) -> RestoreChoice<'a> {
    let candidates = || savepoints.iter().filter(|s| allowed(strategy, s));
    let newest = candidates()
        .filter(|s| !unusable.contains(&s.metadata.id))
        // Newest by completion (a retained-checkpoint record is updated in place as its
        // job checkpoints); max_by_key keeps the last of equal keys, so later records win.
        .max_by_key(|s| s.metadata.modified_at);
    match newest {
        Some(s) => RestoreChoice::From(s),
        None if candidates().next().is_some() => RestoreChoice::Exhausted,
        None => RestoreChoice::Empty,
    }
}

/// The snapshots found gone, newest first: what an exhausted restore tried.
pub fn tried<'a>(savepoints: &'a [Savepoint], unusable: &[Uuid]) -> Vec<&'a Savepoint> {
    let mut gone: Vec<&Savepoint> = savepoints
        .iter()
        .filter(|s| unusable.contains(&s.metadata.id))
        .collect();
    gone.sort_by_key(|s| std::cmp::Reverse(s.metadata.modified_at));
    gone
}

/// Whether a failed start's reason says its restore point is gone: Flink's refusal of
/// a snapshot that is not there, or flinkd's own look at its `_metadata`, naming it.
pub fn restore_point_missing(restored_from: &Savepoint, reason: &str) -> bool {
    let Some(location) = restored_from.location.as_deref() else {
        return false;
    };
    let path = location
        .trim_start_matches("file://")
        .trim_start_matches("file:")
        .trim_end_matches('/');
    let names_it = reason.contains(path);
    // Gone, or there and unreadable (a truncated or foreign `_metadata`).
    let missing = [
        "Cannot find checkpoint or savepoint",
        "FileNotFoundException",
        "does not exist",
        "No such file",
        "Unexpected magic number",
        "EOFException",
    ]
    .iter()
    .any(|m| reason.contains(m));
    names_it && missing
}

/// How a snapshot is named in the events: "savepoint 3f2a1b2c (SUSPEND, 3h old) at
/// file:/…".
pub fn describe(s: &Savepoint, now: Timestamp) -> String {
    let kind = match s.origin {
        SavepointOrigin::RetainedCheckpoint => "retained checkpoint",
        _ => "savepoint",
    };
    let id = s.metadata.id.simple().to_string();
    let age = (now - s.metadata.modified_at).max(time::Duration::ZERO);
    format!(
        "{kind} {} ({}, {} old) at {}",
        &id[..8],
        s.origin,
        age_of(Duration::from_secs(age.whole_seconds().max(0) as u64)),
        s.location.as_deref().unwrap_or("?")
    )
}

/// An age in its largest whole unit: 42s, 5m, 3h, 2d.
fn age_of(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m", s / 60),
        7200..=172_799 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::RecordMetadata;
    use time::macros::datetime;

    fn sp(n: u128, origin: SavepointOrigin, minute: u8, location: &str) -> Savepoint {
        let at = datetime!(2026-12-01 10:00:00 UTC) + time::Duration::minutes(minute.into());
        Savepoint {
            metadata: RecordMetadata {
                id: Uuid::from_u128(n),
                namespace: "default".into(),
                deployment_id: Uuid::nil(),
                job_id: None,
                created_at: at,
                modified_at: at,
            },
            origin,
            state: SavepointState::Completed,
            location: Some(location.into()),
            trigger_id: None,
            failure: None,
        }
    }

    #[test]
    fn the_strategy_chooses_the_snapshot() {
        let list = vec![
            sp(1, SavepointOrigin::Suspend, 1, "file:/sp/1"),
            sp(
                2,
                SavepointOrigin::RetainedCheckpoint,
                5,
                "file:/chk/j/chk-9",
            ),
            sp(3, SavepointOrigin::UserRequest, 3, "file:/sp/3"),
        ];
        let id = |c: RestoreChoice<'_>| match c {
            RestoreChoice::From(s) => Some(s.metadata.id.as_u128()),
            _ => None,
        };
        assert_eq!(
            id(choose_restore(RestoreStrategyKind::LatestState, &list, &[])),
            Some(2)
        );
        assert_eq!(
            id(choose_restore(
                RestoreStrategyKind::LatestSavepoint,
                &list,
                &[]
            )),
            Some(3)
        );
        assert_eq!(
            choose_restore(RestoreStrategyKind::None, &list, &[]),
            RestoreChoice::Empty
        );
        assert_eq!(
            choose_restore(RestoreStrategyKind::LatestState, &[], &[]),
            RestoreChoice::Empty,
            "nothing was ever taken"
        );
        // Every candidate gone: exhausted, not empty state.
        let all = [1, 2, 3].map(Uuid::from_u128);
        assert_eq!(
            choose_restore(RestoreStrategyKind::LatestState, &list, &all),
            RestoreChoice::Exhausted
        );
        assert_eq!(
            tried(&list, &all)
                .iter()
                .map(|s| s.metadata.id.as_u128())
                .collect::<Vec<_>>(),
            [2, 3, 1],
            "newest first"
        );
        // A checkpoint found gone is set aside.
        let gone = [Uuid::from_u128(2)];
        assert_eq!(
            id(choose_restore(
                RestoreStrategyKind::LatestState,
                &list,
                &gone
            )),
            Some(3)
        );
        // Only COMPLETED ones with a location.
        let mut failed = list.clone();
        failed[2].state = SavepointState::Failed;
        assert_eq!(
            id(choose_restore(
                RestoreStrategyKind::LatestSavepoint,
                &failed,
                &[]
            )),
            Some(1)
        );
    }

    #[test]
    fn a_snapshot_is_described_with_its_origin_and_age() {
        let s = sp(0x3f2a_1b2c << 96, SavepointOrigin::Suspend, 0, "file:/sp/1");
        let now = s.metadata.modified_at + time::Duration::hours(3);
        assert_eq!(
            describe(&s, now),
            "savepoint 3f2a1b2c (SUSPEND, 3h old) at file:/sp/1"
        );
        assert_eq!(age_of(Duration::from_secs(42)), "42s");
        assert_eq!(age_of(Duration::from_secs(300)), "5m");
        assert_eq!(age_of(Duration::from_secs(3 * 86_400)), "3d");
    }

    #[test]
    fn an_unreadable_snapshot_is_as_good_as_gone() {
        let s = sp(1, SavepointOrigin::Suspend, 1, "file:/var/sp/savepoint-1");
        assert!(restore_point_missing(
            &s,
            "Flink rejected the job: java.io.IOException: Unexpected magic number 0 in file:/var/sp/savepoint-1/_metadata"
        ));
        assert!(!restore_point_missing(
            &s,
            "Flink rejected the job: java.io.EOFException in file:/var/sp/other/_metadata"
        ));
    }

    #[test]
    fn only_a_gone_snapshot_named_by_the_failure_is_missing() {
        let chk = sp(
            2,
            SavepointOrigin::RetainedCheckpoint,
            5,
            "file:/var/chk/j/chk-9",
        );
        let reason = "Flink rejected the job: Cannot find checkpoint or savepoint file/directory 'file:/var/chk/j/chk-9' on file system 'file'. (…)";
        assert!(restore_point_missing(&chk, reason));
        assert!(!restore_point_missing(
            &chk,
            "Flink rejected the job: entry class not found"
        ));
        assert!(
            !restore_point_missing(&chk, "FileNotFoundException: /other/chk-3"),
            "another path"
        );
        let savepoint = sp(1, SavepointOrigin::Suspend, 1, "file:/var/sp/savepoint-1");
        assert!(restore_point_missing(
            &savepoint,
            "the snapshot /var/sp/savepoint-1 is not there: /var/sp/savepoint-1/_metadata does not exist"
        ));
    }
}
