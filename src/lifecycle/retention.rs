//! How long what an ended job leaves on disk is kept: the directory of a cluster that
//! was torn down (its generated config, logs and PID files) goes once it has not been
//! written for `files.keep_cluster_dirs`. A cluster still on record (running, or not
//! yet verified gone) is never a candidate, whatever its age.

use std::time::Duration;

use crate::spec::Timestamp;

/// The least a directory is kept, whatever the config says: one being prepared is not
/// on record yet (its handle is written just after), and must not go meanwhile.
pub const MIN_KEEP: Duration = Duration::from_secs(10);

/// Whether a cluster directory last written at `written` is removed at `now`;
/// `recorded`: the store still holds the cluster's handle.
pub fn prune_cluster_dir(
    recorded: bool,
    written: Timestamp,
    now: Timestamp,
    keep: Duration,
) -> bool {
    !recorded && now - written >= keep.max(MIN_KEEP)
}

/// How often to look: often enough for the retention, at most every ten minutes.
pub fn prune_interval(keep: Duration) -> Duration {
    (keep / 2).clamp(Duration::from_millis(200), Duration::from_secs(600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unrecorded_directories_past_their_time_go() {
        let at = time::macros::datetime!(2026-12-02 00:00 UTC);
        let day = Duration::from_secs(86_400);
        let later = |d: Duration| at + d;
        assert!(
            !prune_cluster_dir(false, at, later(day / 2), day),
            "too young"
        );
        assert!(prune_cluster_dir(false, at, later(day), day));
        assert!(
            !prune_cluster_dir(true, at, later(day * 30), day),
            "on record"
        );
        // A clock that went back never prunes.
        assert!(!prune_cluster_dir(false, later(day), at, day));
        // A directory being prepared (not on record yet) outlives a retention of zero.
        let zero = Duration::ZERO;
        assert!(!prune_cluster_dir(
            false,
            at,
            later(Duration::from_secs(9)),
            zero
        ));
        assert!(prune_cluster_dir(false, at, later(MIN_KEEP), zero));
        assert_eq!(prune_interval(day), Duration::from_secs(600));
        assert_eq!(
            prune_interval(Duration::from_secs(1)),
            Duration::from_millis(500)
        );
        assert_eq!(prune_interval(Duration::ZERO), Duration::from_millis(200));
    }
}
