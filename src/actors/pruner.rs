//! Removes what ended jobs left on disk, as [`crate::lifecycle::retention`] decides:
//! the directories of clusters no longer on record, once old enough. A directory whose
//! processes are somehow alive is left alone.

use std::path::Path;
use std::sync::Arc;

use super::store::Exec;
use super::Shared;
use crate::cluster::local::LocalCluster;
use crate::lifecycle::retention;

/// The newest modification time of a cluster directory and its logs.
fn last_written(dir: &Path) -> Option<std::time::SystemTime> {
    let mut newest = std::fs::metadata(dir).ok()?.modified().ok()?;
    for sub in ["log", "pid"] {
        for e in std::fs::read_dir(dir.join(sub))
            .into_iter()
            .flatten()
            .flatten()
        {
            if let Ok(t) = e.metadata().and_then(|m| m.modified()) {
                newest = newest.max(t);
            }
        }
    }
    Some(newest)
}

/// One pass over `state_dir/clusters`; returns how many directories went.
async fn prune_once(shared: &Shared) -> usize {
    let recorded = match shared
        .store
        .send(Exec::new(|s| s.recorded_clusters()))
        .await
    {
        Ok(Ok(r)) => r,
        _ => return 0,
    };
    let config = shared.config();
    let clusters = config.state_dir.join("clusters");
    let keep = config.files.keep_cluster_dirs;
    tokio::task::spawn_blocking(move || {
        let now = time::OffsetDateTime::now_utc();
        let mut pruned = 0;
        for e in std::fs::read_dir(&clusters).into_iter().flatten().flatten() {
            let dir = e.path();
            let Some(job) = e
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<uuid::Uuid>().ok())
            else {
                continue;
            };
            let Some(written) = last_written(&dir) else {
                continue;
            };
            if !retention::prune_cluster_dir(recorded.contains(&job), written.into(), now, keep) {
                continue;
            }
            if !LocalCluster::at(dir.clone()).live_pids().is_empty() {
                continue;
            }
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => {
                    tracing::info!(%job, "removed the directory of its ended cluster");
                    pruned += 1;
                }
                Err(e) => tracing::warn!(%job, "cannot remove {}: {e}", dir.display()),
            }
        }
        pruned
    })
    .await
    .unwrap_or(0)
}

/// Prunes now and then, for the life of the daemon.
pub fn start(shared: Arc<Shared>) {
    tokio::spawn(async move {
        loop {
            prune_once(&shared).await;
            let every = retention::prune_interval(shared.config().files.keep_cluster_dirs);
            tokio::time::sleep(every).await;
        }
    });
}
