//! The JobActor's operations on a job that exists: polls, savepoints, cancellation,
//! the last questions before an end, and the removal of its cluster. Each runs as a
//! task and reports to the DeploymentActor; none of them gives up on its own (the
//! lifecycle's deadlines do that).

use super::scripts::{Scripts, SCRIPTS_BOUND};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::Recipient;
use uuid::Uuid;

use super::{Done, JobReport};
use crate::actors::store::Exec;
use crate::actors::Shared;
use crate::cluster::kubernetes::api::{KubeError, Presence};
use crate::cluster::local::LocalCluster;
use crate::cluster::Cluster;
use crate::flink::{CompletedCheckpoint, FlinkClient, FlinkError, FlinkJobState, SavepointStatus};
use crate::lifecycle::{CheckpointSeen, FlinkEnd, Input};

/// How often an operation in progress is asked about: closely at first (a user waits
/// on it), then every half second.
fn operation_poll(asked: u32) -> Duration {
    if asked < 40 {
        Duration::from_millis(50)
    } else {
        Duration::from_millis(500)
    }
}

/// The wait before the next poll after `quiet` quiet polls: `base` doubled each time,
/// at most `max` (or `base`, if that is longer).
pub fn poll_delay(base: Duration, max: Duration, quiet: u32) -> Duration {
    base.saturating_mul(1u32 << quiet.min(20))
        .min(max.max(base))
}

/// Jobs started together are not polled together: each wait is drawn from half to the
/// whole of the interval (the first) or ±20% of it (the others).
pub fn spread(every: Duration, job: Uuid, count: u32) -> Duration {
    let draw = {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(job.as_u128());
        h.write_u32(count);
        (h.finish() % 1000) as u32
    };
    if count == 1 {
        every / 2 + every / 2000 * draw
    } else {
        every * 4 / 5 + every / 2500 * draw
    }
}

/// What one poll saw.
pub struct Polled {
    pub state: Result<FlinkJobState, FlinkError>,
    /// When Flink last reported the job RESTARTING.
    pub restarting_at: Option<i64>,
    /// Read anew only when `restarting_at` changed.
    pub restarts: Option<Vec<time::OffsetDateTime>>,
    pub checkpoint: Option<CheckpointSeen>,
    /// The JobManager was asked for its identity, and had it.
    pub identified: bool,
    /// A Kubernetes cluster's, as the API server says.
    pub presence: Option<Result<Presence, KubeError>>,
}

/// A checkpoint as the lifecycle takes it.
pub fn seen(c: CompletedCheckpoint) -> Option<CheckpointSeen> {
    let completed_at = c.completed_at()?;
    Some(CheckpointSeen {
        location: c.external_path?,
        completed_at,
    })
}

/// A poll of job `id`; `identify`: a local cluster whose JobManager is not yet known to
/// be its own (first after an adoption, or after it stopped answering): one that
/// answers without the cluster's identity is taken as no answer at all.
pub async fn poll(
    client: &FlinkClient,
    id: &str,
    known: Option<i64>,
    have: bool,
    identify: Option<&LocalCluster>,
) -> Polled {
    if let Some(cluster) = identify {
        let why = match cluster.answers_as_itself(client).await {
            Ok(true) => None,
            Ok(false) => Some("it answers without this cluster's identity".to_string()),
            Err(e) if e.is_unreachable() => Some(e.to_string()),
            Err(e) => Some(format!("its identity could not be read: {e}")),
        };
        if let Some(why) = why {
            return Polled {
                state: Err(FlinkError::Unreachable {
                    endpoint: cluster.rest_url(),
                    message: format!("not the JobManager flinkd started: {why}"),
                }),
                restarting_at: None,
                restarts: None,
                checkpoint: None,
                identified: false,
                presence: None,
            };
        }
    }
    let details = client.job(id).await;
    let restarting_at = details.as_ref().ok().and_then(|d| d.restarting_at());
    let state = details.map(|d| d.state);
    // The exception history is read when Flink reports a restart it did not report
    // before (and once at first): a quiet job costs two requests a poll.
    let restarted = !have || restarting_at != known;
    let (restarts, checkpoint) = match &state {
        Ok(_) if restarted => {
            let (r, c) = tokio::join!(client.restart_times(id), client.latest_checkpoint(id));
            (r.ok(), c.ok().flatten())
        }
        Ok(_) => (None, client.latest_checkpoint(id).await.ok().flatten()),
        Err(_) => (None, None),
    };
    Polled {
        state,
        restarting_at,
        restarts,
        checkpoint: checkpoint.and_then(seen),
        identified: identify.is_some(),
        presence: None,
    }
}

/// How a savepoint is asked for.
#[derive(Debug, Clone)]
pub enum Ask {
    /// Stop with a savepoint, under this id if flinkd chose one.
    Stop(Option<String>),
    /// A savepoint, the job running on.
    Trigger(Option<String>),
    /// Flink was asked before a restart, under this id.
    Watch { trigger_id: String, stop: bool },
}

/// The id Flink knows a savepoint request by, once it is known.
#[derive(Default)]
pub struct Trigger(Mutex<Option<String>>);

impl Trigger {
    fn set(&self, id: String) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(id);
    }
    fn get(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// The outcome of asking about a savepoint request once.
enum Answer {
    InProgress,
    Done(Input),
    /// Flink does not know the request.
    Unknown,
    Unreachable,
}

async fn ask_once(
    client: &FlinkClient,
    id: &str,
    job: Uuid,
    savepoint: Uuid,
    trigger: &str,
) -> Answer {
    match client.savepoint_status(id, trigger).await {
        Ok(SavepointStatus::InProgress) => Answer::InProgress,
        Ok(SavepointStatus::Completed { location }) => Answer::Done(Input::SavepointCompleted {
            job,
            savepoint,
            location,
        }),
        Ok(SavepointStatus::Failed { cause }) => Answer::Done(Input::SavepointFailed {
            job,
            savepoint,
            reason: cause,
        }),
        Err(FlinkError::Rejected { status: 404, .. }) => Answer::Unknown,
        Err(e) if e.is_unreachable() => Answer::Unreachable,
        Err(e) => Answer::Done(Input::SavepointFailed {
            job,
            savepoint,
            reason: e.to_string(),
        }),
    }
}

/// What a forgotten request left: the newest savepoint in the job's history.
async fn lost(client: &FlinkClient, id: &str, job: Uuid, savepoint: Uuid) -> Input {
    let latest = client
        .latest_savepoint(id)
        .await
        .ok()
        .flatten()
        .and_then(seen);
    Input::SavepointLost {
        job,
        savepoint,
        latest,
    }
}

/// Asks for a savepoint (or takes up one asked for) and watches it until Flink says how
/// it ended, reporting the trigger id as soon as Flink gives one.
#[allow(clippy::too_many_arguments)]
pub fn watch_savepoint(
    client: FlinkClient,
    id: String,
    job: Uuid,
    savepoint: Uuid,
    how: Ask,
    trigger: Arc<Trigger>,
    parent: Recipient<JobReport>,
    me: Recipient<Done>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let send = |stop: bool, chosen: Option<String>| {
            let client = client.clone();
            let id = id.clone();
            async move {
                if stop {
                    client
                        .stop_with_savepoint(&id, None, chosen.as_deref())
                        .await
                } else {
                    client.trigger_savepoint(&id, None, chosen.as_deref()).await
                }
            }
        };
        let stop_asked = matches!(how, Ask::Stop(_));
        let (mut request, stop, own) = match how {
            Ask::Stop(chosen) | Ask::Trigger(chosen) => {
                let stop = stop_asked;
                let own = chosen.is_some();
                // No answer is not a refusal: asked again until the cluster answers (the
                // lifecycle's deadline bounds the wait; a JobManager that is gone is
                // seen by the polls).
                let mut sent = send(stop, chosen.clone()).await;
                while matches!(&sent, Err(e) if e.is_unreachable()) {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    sent = send(stop, chosen.clone()).await;
                }
                match sent {
                    Ok(r) => (r, stop, own),
                    Err(e) => {
                        parent.do_send(JobReport(Input::SavepointFailed {
                            job,
                            savepoint,
                            reason: e.to_string(),
                        }));
                        me.do_send(Done::Watched(savepoint));
                        return;
                    }
                }
            }
            Ask::Watch { trigger_id, stop } => {
                let own = trigger_id == savepoint.simple().to_string();
                (trigger_id, stop, own)
            }
        };
        trigger.set(request.clone());
        if !own {
            parent.do_send(JobReport(Input::SavepointTriggered {
                job,
                savepoint,
                trigger_id: request.clone(),
            }));
        }
        let mut asked = 0;
        let mut sent_again = false;
        let outcome = loop {
            match ask_once(&client, &id, job, savepoint, &request).await {
                Answer::Done(input) => break input,
                Answer::InProgress | Answer::Unreachable => {}
                // Never received (a crash before it was sent): sent again under the same
                // id, which Flink would have taken only once.
                Answer::Unknown if own && !sent_again => {
                    sent_again = true;
                    match send(stop, Some(request.clone())).await {
                        Ok(r) => request = r,
                        Err(_) => break lost(&client, &id, job, savepoint).await,
                    }
                }
                Answer::Unknown => break lost(&client, &id, job, savepoint).await,
            }
            asked += 1;
            tokio::time::sleep(operation_poll(asked)).await;
        };
        parent.do_send(JobReport(outcome));
        me.do_send(Done::Watched(savepoint));
    })
}

/// The last questions before a job's end is reported or its cluster removed: each
/// savepoint asked for, once, and the newest retained checkpoint (from the REST API, or
/// from the local file system when the JobManager is gone).
pub async fn last_questions(
    client: Option<FlinkClient>,
    cluster: Option<Cluster>,
    id: String,
    job: Uuid,
    triggers: Vec<(Uuid, Arc<Trigger>)>,
    parent: Recipient<JobReport>,
) {
    let Some(client) = client else { return };
    for (savepoint, trigger) in triggers {
        let Some(request) = trigger.get() else {
            continue;
        };
        if let Answer::Done(input) = ask_once(&client, &id, job, savepoint, &request).await {
            parent.do_send(JobReport(input));
        }
    }
    let checkpoint = match client.latest_checkpoint(&id).await {
        Ok(c) => c.and_then(seen),
        Err(_) => match &cluster {
            Some(Cluster::Local(c)) => local_checkpoint(c, &id),
            _ => None,
        },
    };
    if checkpoint.is_some() {
        parent.do_send(JobReport(Input::Observed {
            job,
            observation: Default::default(),
            checkpoint,
        }));
    }
}

fn local_checkpoint(c: &LocalCluster, id: &str) -> Option<CheckpointSeen> {
    let (location, written) = c.newest_retained(id)?;
    Some(CheckpointSeen {
        location,
        completed_at: written.into(),
    })
}

/// Flink's cancel, then a wait for the job's end; the newest checkpoint is reported
/// first (a STATELESS upgrade restores from it).
pub fn cancel(
    client: FlinkClient,
    cluster: Option<Cluster>,
    id: String,
    job: Uuid,
    wait: Duration,
    parent: Recipient<JobReport>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let outcome = async {
            client.cancel(&id).await.map_err(|e| e.to_string())?;
            let until = tokio::time::Instant::now() + wait;
            loop {
                match client.job(&id).await {
                    Ok(d) if d.state.is_terminal() => {
                        return Ok(match d.state {
                            FlinkJobState::Finished => FlinkEnd::Finished,
                            FlinkJobState::Failed => FlinkEnd::Failed,
                            _ => FlinkEnd::Canceled,
                        })
                    }
                    _ if tokio::time::Instant::now() > until => {
                        return Err(
                            "Flink accepted the cancellation but the job did not end".to_string()
                        )
                    }
                    _ => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            }
        }
        .await;
        if outcome.is_ok() {
            last_questions(Some(client), cluster, id, job, Vec::new(), parent.clone()).await;
        }
        parent.do_send(JobReport(match outcome {
            Ok(end) => Input::CancelCompleted { job, end },
            Err(reason) => Input::CancelFailed { job, reason },
        }));
    })
}

/// Removes the job's cluster: a local one's processes (after its start scripts), an
/// external one's job (cancelled if it runs; with `confirm`, watched that long in case
/// a submission that never answered registers it). Then its record. `unsettled`: its
/// start did not see the cluster run, a request to the Kubernetes API perhaps still to
/// land.
pub async fn remove_cluster(
    shared: Arc<Shared>,
    job: Uuid,
    cluster: Option<Cluster>,
    dir: PathBuf,
    scripts: Scripts,
    confirm: Option<Duration>,
    unsettled: bool,
) -> Result<(), RemoveError> {
    let grace = shared.config().timing.cluster_stop_grace;
    match cluster {
        Some(Cluster::External(c)) => {
            let client = shared.flink(&c.rest_url);
            end_external_job(&client, &c.flink_job_id, grace, confirm).await?;
        }
        Some(Cluster::Kubernetes(c)) => {
            // Its pods get Kubernetes' termination grace (30 s unless the pod
            // templates say otherwise) to go.
            let settle = unsettled.then(|| shared.config().kubernetes.api_timeout);
            super::kube::remove(&shared, &c, grace.max(Duration::from_secs(60)), settle)
                .await
                .map_err(RemoveError::Kubernetes)?;
        }
        local => {
            let cluster = match local {
                Some(Cluster::Local(c)) => c,
                _ => LocalCluster::at(dir),
            };
            tokio::task::spawn_blocking(move || {
                // Held through the stop: no TaskManager replacement starts meanwhile.
                let _turn = scripts.wait_and_take(SCRIPTS_BOUND);
                cluster.stop(grace)
            })
            .await
            .map_err(|e| RemoveError::Task(e.to_string()))??;
        }
    }
    shared
        .store
        .send(Exec::new(move |s| s.remove_cluster(job)))
        .await
        .map_err(|e| RemoveError::Store(e.to_string()))?
        .map_err(|e| RemoveError::Store(e.to_string()))
}

/// Why a cluster could not be removed (the lifecycle tries again).
#[derive(Debug, thiserror::Error)]
pub enum RemoveError {
    #[error(transparent)]
    Flink(#[from] FlinkError),
    #[error(transparent)]
    Cluster(#[from] crate::cluster::ClusterError),
    #[error("job {0} did not end after its cancellation")]
    NotEnded(String),
    #[error("recording the removal: {0}")]
    Store(String),
    #[error("the removal did not finish: {0}")]
    Task(String),
    #[error("{0}")]
    Kubernetes(String),
}

/// An external cluster is not stopped: its job is made to end, so that nothing of the
/// Deployment is left there.
async fn end_external_job(
    client: &FlinkClient,
    id: &str,
    wait: Duration,
    confirm: Option<Duration>,
) -> Result<(), RemoveError> {
    let watch_until = tokio::time::Instant::now() + confirm.unwrap_or_default();
    // Set once the cancel is sent: how long the job gets to end.
    let mut cancelled: Option<tokio::time::Instant> = None;
    loop {
        match client.job(id).await {
            Ok(d) if d.state.is_terminal() => return Ok(()),
            // Not there: gone, unless a submission that never answered may still
            // register it.
            Err(FlinkError::Rejected { status: 404, .. }) => {
                if tokio::time::Instant::now() >= watch_until {
                    return Ok(());
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) if e.is_unreachable() => return Err(e.into()),
            _ => match cancelled {
                Some(until) if tokio::time::Instant::now() > until => {
                    return Err(RemoveError::NotEnded(id.to_string()))
                }
                Some(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                None => {
                    client.cancel(id).await?;
                    cancelled =
                        Some(tokio::time::Instant::now() + wait.max(Duration::from_secs(5)));
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::poll_delay;
    use std::time::Duration;

    #[test]
    fn quiet_jobs_are_polled_less_often_up_to_the_maximum() {
        let s = Duration::from_secs;
        let delays: Vec<u64> = (0..8)
            .map(|q| poll_delay(s(5), s(60), q).as_secs())
            .collect();
        assert_eq!(delays, [5, 10, 20, 40, 60, 60, 60, 60]);
        // A maximum below the base leaves the base.
        assert_eq!(poll_delay(s(5), s(1), 3), s(5));
        // No overflow, however long quiet.
        assert_eq!(poll_delay(s(5), s(60), u32::MAX), s(60));
    }
}
