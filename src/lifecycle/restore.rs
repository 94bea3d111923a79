//! Which snapshot a new job restores from (reference page, "Transitions to RUNNING"):
//! the newest COMPLETED one the restore strategy allows.
//!
//! - LATEST_STATE: any savepoint or retained checkpoint;
//! - LATEST_SAVEPOINT: savepoints only (of any origin: suspension, upgrade, request);
//! - NONE: nothing, empty state.
//!
//! "Newest" is by completion. A retained checkpoint a failed start found gone (Flink
//! deletes all but the newest few) is set aside, and the next newest is used; a
//! savepoint is never skipped that way: restoring from older state than the user's
//! savepoint would be silent data loss, so such a start fails, counted, instead.

use uuid::Uuid;

use crate::spec::{RestoreStrategyKind, Savepoint, SavepointOrigin, SavepointState};

/// The snapshot a start of `strategy` restores from.
pub fn choose_restore<'a>(
    strategy: RestoreStrategyKind,
    savepoints: &'a [Savepoint],
    unusable: &[Uuid],
) -> Option<&'a Savepoint> {
    let allowed = |s: &&Savepoint| match strategy {
        RestoreStrategyKind::None => false,
        RestoreStrategyKind::LatestState => true,
        RestoreStrategyKind::LatestSavepoint => s.origin != SavepointOrigin::RetainedCheckpoint,
    };
    savepoints
        .iter()
        .filter(|s| s.state == SavepointState::Completed && s.location.is_some())
        .filter(|s| !unusable.contains(&s.metadata.id))
        .filter(allowed)
        // Newest by completion (a retained-checkpoint record is updated in place as its
        // job checkpoints); max_by_key keeps the last of equal keys, so later records win.
        .max_by_key(|s| s.metadata.modified_at)
}

/// Whether a failed start's reason says its restore point is gone: a retained
/// checkpoint whose files Flink no longer has.
pub fn restore_point_missing(restored_from: &Savepoint, reason: &str) -> bool {
    if restored_from.origin != SavepointOrigin::RetainedCheckpoint {
        return false;
    }
    let Some(location) = restored_from.location.as_deref() else {
        return false;
    };
    let path = location
        .trim_start_matches("file://")
        .trim_start_matches("file:")
        .trim_end_matches('/');
    let names_it = reason.contains(path);
    let missing = [
        "Cannot find checkpoint or savepoint",
        "FileNotFoundException",
        "does not exist",
        "No such file",
    ]
    .iter()
    .any(|m| reason.contains(m));
    names_it && missing
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
        let id = |s: Option<&Savepoint>| s.map(|s| s.metadata.id.as_u128());
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
            id(choose_restore(RestoreStrategyKind::None, &list, &[])),
            None
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
    fn only_a_gone_checkpoint_named_by_the_failure_is_missing() {
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
        let savepoint = sp(1, SavepointOrigin::Suspend, 1, "file:/var/chk/j/chk-9");
        assert!(
            !restore_point_missing(&savepoint, reason),
            "a savepoint is never skipped"
        );
    }
}
