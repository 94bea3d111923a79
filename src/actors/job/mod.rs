//! The JobActor: one Flink job and the cluster it runs on.
//!
//! An executor: it carries out what its DeploymentActor orders (start, adopt, stop with
//! a savepoint, trigger a savepoint, cancel, tear down) and reports what it observes as
//! lifecycle [`Input`]s. It decides nothing and enforces no deadline: waits and retries
//! are the lifecycle's. What it guarantees is order: before it reports a job's end,
//! and before it removes a cluster, it asks Flink once more about every savepoint it
//! asked for and about the newest retained checkpoint, and reports those first, so
//! that nothing Flink completed is lost with the job.
//!
//! The I/O runs in tokio tasks whose results come back as messages; blocking process
//! work (start scripts, waiting for PIDs) runs on tokio's blocking pool.

mod kube;
mod ops;
mod scripts;
mod start;
mod watch;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use uuid::Uuid;

pub use start::{KubePlan, StartPlan};

use super::Shared;
use crate::cluster::kubernetes::api::Presence;
use crate::cluster::Cluster;
use crate::flink::{FlinkClient, FlinkJobState};
use crate::lifecycle::{FlinkEnd, Input};

/// What a JobActor tells its DeploymentActor: an input for the lifecycle.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct JobReport(pub Input);

#[derive(Debug, Message)]
#[rtype(result = "()")]
pub enum Command {
    /// Start the job; `resume`: the cluster the previous daemon recorded for it.
    Start {
        plan: Box<StartPlan>,
        resume: Option<Cluster>,
    },
    /// Start the cluster of this job to come and say when it is up (a fast upgrade);
    /// a later Start submits to it.
    Warm {
        plan: Box<StartPlan>,
    },
    /// Watch a job that runs on its recorded cluster (after a daemon restart).
    Adopt {
        cluster: Cluster,
    },
    StopWithSavepoint {
        savepoint: Uuid,
        trigger_id: Option<String>,
    },
    TriggerSavepoint {
        savepoint: Uuid,
        trigger_id: Option<String>,
    },
    /// Wait for a savepoint asked for before a restart (or ask again without an id).
    ResumeSavepoint {
        savepoint: Uuid,
        trigger_id: Option<String>,
        stop: bool,
    },
    Cancel,
    /// Start TaskManagers in place of those of its cluster that are gone.
    ReplaceTaskManagers,
    TearDown {
        confirm: Option<Duration>,
    },
    /// The config changed: poll at its interval from now on.
    Reschedule,
    /// Have the cluster dispose of a snapshot on a file system flinkd cannot reach.
    DisposeSavepoint {
        savepoint: Uuid,
        location: String,
    },
}

/// Where the actor is: one state at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Created; nothing asked yet.
    New,
    /// Its cluster is being started ahead of the job (a fast upgrade).
    Warming,
    /// Its cluster is up; no job yet.
    Warm,
    /// A start is under way.
    Starting,
    /// The job runs: it is polled.
    Watching,
    /// Flink says the job ended (or its cluster is gone): the last questions are
    /// being asked before the end is reported.
    Ending,
    /// Its cluster is being removed; nothing else happens any more.
    TearingDown,
}

/// Results of the actor's own tasks.
#[derive(Message)]
#[rtype(result = "()")]
enum Done {
    /// The cluster is on record and being started (or found, or submitted to).
    Prepared(Cluster),
    Started(Result<start::Started, start::StartError>),
    /// The cluster started ahead is up, or why not.
    Warmed(Result<(), String>),
    Polled(Box<ops::Polled>),
    /// A savepoint watcher ended (its outcome already reported).
    Watched(Uuid),
    /// The cluster on record, looked up for a teardown after a restart.
    Recorded(Option<Cluster>, Option<Duration>),
    /// The pods of its Kubernetes cluster, looked at while it starts.
    Pods(Option<crate::lifecycle::PodTrouble>),
    /// The Kubernetes API is connected (or could not be): go on with this.
    KubeReady,
    TornDown(Result<(), ops::RemoveError>),
}

/// What waited for the Kubernetes API.
#[derive(Debug, Clone, Copy)]
enum Then {
    Poll,
    TearDown(Option<Duration>),
    /// Only the commands held for it.
    Held,
}

/// Adaptive polling of a running job.
#[derive(Default)]
struct Polling {
    in_flight: bool,
    /// Consecutive quiet polls.
    quiet: u32,
    /// Polls scheduled so far.
    count: u32,
    /// The last RESTARTING time Flink reported, and the restart times read with it.
    restarting_at: Option<i64>,
    restarts: Option<Vec<time::OffsetDateTime>>,
    timer: Option<SpawnHandle>,
    /// Its JobManager showed the cluster's identity since it last stopped answering.
    identified: bool,
    /// What the Kubernetes API server last failed with when asked about the cluster
    /// (logged when it changes, not at each poll).
    presence_error: Option<String>,
}

pub struct JobActor {
    job: Uuid,
    shared: Arc<Shared>,
    parent: Recipient<JobReport>,
    state: State,
    cluster: Option<Cluster>,
    /// The id Flink knows the job by: chosen and recorded before the submission.
    flink_job_id: String,
    start: Option<tokio::task::JoinHandle<()>>,
    cancel: Option<tokio::task::JoinHandle<()>>,
    /// The savepoints asked for and not answered: their watchers, and trigger ids.
    savepoints: HashMap<Uuid, (tokio::task::JoinHandle<()>, Arc<ops::Trigger>)>,
    /// The cluster's start scripts are running: a teardown waits for them, or a
    /// TaskManager they start after it could outlive the cluster.
    scripts: scripts::Scripts,
    poll: Polling,
    /// The last questions (savepoints, newest checkpoint) were asked.
    asked_last: bool,
    /// The Kubernetes API is being connected; a teardown waited for it once.
    connecting: bool,
    kube_tried: bool,
    /// Commands to Flink that came while the Kubernetes API was not connected: they
    /// run once it is (answering them without Flink would lose a savepoint Flink
    /// completes, or take a job for cancelled that runs).
    held: Vec<Command>,
    /// What else waits for the Kubernetes API, in order.
    after_kube: Vec<Then>,
    /// A start (or warm-up) began and did not see its cluster run: a create it sent
    /// may land after its answer was given up on.
    unsettled: bool,
}

impl JobActor {
    pub fn new(job: Uuid, shared: Arc<Shared>, parent: Recipient<JobReport>) -> Self {
        JobActor {
            job,
            shared,
            parent,
            state: State::New,
            cluster: None,
            flink_job_id: job.simple().to_string(),
            start: None,
            cancel: None,
            savepoints: HashMap::new(),
            scripts: scripts::Scripts::default(),
            poll: Polling::default(),
            asked_last: false,
            connecting: false,
            kube_tried: false,
            held: Vec::new(),
            after_kube: Vec::new(),
            unsettled: false,
        }
    }

    fn cluster_dir(&self) -> PathBuf {
        self.shared
            .config()
            .state_dir
            .join("clusters")
            .join(self.job.to_string())
    }

    fn client(&self) -> Option<FlinkClient> {
        self.cluster.as_ref().and_then(|c| self.shared.flink_for(c))
    }

    fn report(&self, input: Input) {
        self.parent.do_send(JobReport(input));
    }

    /// Flink's savepoint disposal, through this job's cluster.
    fn dispose_savepoint(&self, savepoint: Uuid, location: String) {
        let Some(client) = self.client() else {
            return self.report(Input::SnapshotDisposalFailed {
                savepoint,
                reason: "the job's cluster is not known yet".into(),
            });
        };
        let parent = self.parent.clone();
        let wait = self.shared.config().timing.savepoint_timeout;
        tokio::spawn(async move {
            let input = match client.dispose_savepoint(&location, wait).await {
                Ok(()) => Input::SnapshotDisposed { savepoint },
                Err(reason) => Input::SnapshotDisposalFailed { savepoint, reason },
            };
            parent.do_send(JobReport(input));
        });
    }

    fn begin_start(&mut self, plan: StartPlan, resume: Option<Cluster>, ctx: &mut Context<Self>) {
        self.state = State::Starting;
        self.unsettled = true;
        if resume.is_some() {
            self.cluster = resume.clone();
        }
        let me = ctx.address();
        let shared = self.shared.clone();
        let parent = self.parent.clone();
        let job = self.job;
        let dir = self.cluster_dir();
        let scripts = self.scripts.clone();
        self.start = Some(tokio::spawn(async move {
            // Starts take turns past a bound: a thousand at once would only queue at
            // the clusters. The start deadline counts from the turn.
            let _turn = shared.starts.acquire().await;
            parent.do_send(JobReport(Input::StartBegan { job }));
            // Boxed: the start's own state (~4 KB, its HTTP calls') is made when its
            // turn comes, not held by each of thousands of starts waiting for one.
            let result = Box::pin(start::run(&shared, job, dir, plan, resume, &me, scripts)).await;
            me.do_send(Done::Started(result));
        }));
    }

    fn begin_warm(&mut self, plan: StartPlan, ctx: &mut Context<Self>) {
        if self.state != State::New {
            return;
        }
        self.state = State::Warming;
        self.unsettled = true;
        let me = ctx.address();
        let shared = self.shared.clone();
        let job = self.job;
        let dir = self.cluster_dir();
        let scripts = self.scripts.clone();
        self.start = Some(tokio::spawn(async move {
            let result = start::warm(&shared, job, dir, plan, &me, scripts).await;
            me.do_send(Done::Warmed(result));
        }));
    }

    /// The next poll, at the interval in force (re-armed when the config changes).
    fn schedule_poll(&mut self, ctx: &mut Context<Self>) {
        if let Some(h) = self.poll.timer.take() {
            ctx.cancel_future(h);
        }
        let timing = &self.shared.config().timing;
        let every = ops::poll_delay(
            timing.poll_interval,
            timing.poll_interval_max,
            self.poll.quiet,
        );
        self.poll.count = self.poll.count.wrapping_add(1);
        let every = ops::spread(every, self.job, self.poll.count);
        self.poll.timer = Some(ctx.run_later(every, |act, ctx| {
            act.poll.timer = None;
            act.begin_poll(ctx);
            act.schedule_poll(ctx);
        }));
    }

    fn begin_poll(&mut self, ctx: &mut Context<Self>) {
        if self.state != State::Watching || self.poll.in_flight {
            return;
        }
        let Some(client) = self.client() else {
            // A Kubernetes cluster adopted before its API could be reached: again.
            self.needs_kube(Then::Poll, ctx);
            return;
        };
        self.poll.in_flight = true;
        let me = ctx.address();
        let id = self.flink_job_id.clone();
        let known = self.poll.restarting_at;
        let have_restarts = self.poll.restarts.is_some();
        let identify = match &self.cluster {
            Some(Cluster::Local(c)) if !self.poll.identified => Some(c.clone()),
            _ => None,
        };
        let on_kubernetes = match &self.cluster {
            Some(Cluster::Kubernetes(c)) => Some(c.clone()),
            _ => None,
        };
        let shared = self.shared.clone();
        tokio::spawn(async move {
            let poll = ops::poll(&client, &id, known, have_restarts, identify.as_ref());
            let polled = match &on_kubernetes {
                Some(c) => {
                    let (mut polled, presence) = tokio::join!(poll, kube::presence(&shared, c));
                    polled.presence = Some(presence);
                    polled
                }
                None => poll.await,
            };
            me.do_send(Done::Polled(Box::new(polled)));
        });
    }

    /// Flink says the job ended, or its cluster is gone: the last questions, then the
    /// end. `end`: how Flink ended it (`None`: the cluster is gone).
    fn ending(&mut self, end: Option<FlinkEnd>, reason: String) {
        if self.state != State::Watching {
            return;
        }
        self.state = State::Ending;
        let last = self.last_questions();
        let client = self.client();
        let id = self.flink_job_id.clone();
        let parent = self.parent.clone();
        let job = self.job;
        tokio::spawn(async move {
            last.await;
            let input = match end {
                Some(FlinkEnd::Failed) => {
                    let why = match client {
                        Some(c) => c.root_exception(&id).await.ok().flatten(),
                        None => None,
                    };
                    Input::JobEnded {
                        job,
                        end: FlinkEnd::Failed,
                        reason: why.unwrap_or(reason),
                    }
                }
                Some(end) => Input::JobEnded { job, end, reason },
                None => Input::ClusterLost { job, reason },
            };
            parent.do_send(JobReport(input));
        });
    }

    /// Asks Flink once more about every savepoint asked for and about the newest
    /// retained checkpoint, and reports what it says (a future to await first).
    /// Without a client (a Kubernetes API not connected) nothing is asked and the
    /// triggers are kept for the next try.
    fn last_questions(&mut self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let client = self.client();
        self.asked_last = client.is_some();
        let triggers: Vec<(Uuid, Arc<ops::Trigger>)> = match client {
            Some(_) => self
                .savepoints
                .drain()
                .map(|(sp, (task, trigger))| {
                    task.abort();
                    (sp, trigger)
                })
                .collect(),
            None => Vec::new(),
        };
        ops::last_questions(
            client,
            self.cluster.clone(),
            self.flink_job_id.clone(),
            self.job,
            triggers,
            self.parent.clone(),
        )
    }

    fn savepoint(&mut self, savepoint: Uuid, how: ops::Ask, ctx: &mut Context<Self>) {
        let Some(client) = self.client() else {
            self.report(Input::SavepointFailed {
                job: self.job,
                savepoint,
                reason: "the job has no cluster yet".into(),
            });
            return;
        };
        let trigger = Arc::new(ops::Trigger::default());
        let task = ops::watch_savepoint(
            client,
            self.flink_job_id.clone(),
            self.job,
            savepoint,
            how,
            trigger.clone(),
            self.parent.clone(),
            ctx.address().recipient(),
        );
        if let Some((old, _)) = self.savepoints.insert(savepoint, (task, trigger)) {
            old.abort();
        }
    }

    /// Starts TaskManagers of its own cluster in place of those that died. It holds
    /// the flag a teardown waits on, so that no TaskManager starts behind the stop of
    /// its cluster; one replacement at a time.
    fn replace_task_managers(&mut self) {
        let Some(Cluster::Local(c)) = self.cluster.clone() else {
            return;
        };
        let Some(turn) = self.scripts.take() else {
            return;
        };
        let job = self.job;
        let launcher = self.shared.config().launcher();
        tokio::task::spawn_blocking(move || {
            let _turn = turn;
            match c.replace_task_managers(&launcher) {
                Ok(n) => tracing::info!(%job, "{n} TaskManagers started in place of those gone"),
                Err(e) => tracing::warn!(%job, "cannot replace the lost TaskManagers: {e}"),
            }
        });
    }

    fn cancel(&mut self) {
        let (Some(client), true) = (self.client(), self.state != State::New) else {
            // Nothing was submitted: there is nothing to cancel.
            self.report(Input::CancelCompleted {
                job: self.job,
                end: FlinkEnd::Canceled,
            });
            return;
        };
        if let Some(old) = self.cancel.take() {
            old.abort();
        }
        let wait = self.shared.config().timing.http_timeout * 3;
        self.cancel = Some(ops::cancel(
            client,
            self.cluster.clone(),
            self.flink_job_id.clone(),
            self.job,
            wait,
            self.parent.clone(),
        ));
    }

    fn tear_down(&mut self, confirm: Option<Duration>, ctx: &mut Context<Self>) {
        self.state = State::TearingDown;
        if let Some(start) = self.start.take() {
            start.abort();
        }
        if let Some(cancel) = self.cancel.take() {
            cancel.abort();
        }
        if let Some(h) = self.poll.timer.take() {
            ctx.cancel_future(h);
        }
        let me = ctx.address();
        if self.cluster.is_none() {
            // After a restart of flinkd: the recorded cluster says what to stop.
            let store = self.shared.store.clone();
            let job = self.job;
            tokio::spawn(async move {
                let found = store
                    .send(super::store::Exec::new(move |s| Cluster::of_job(s, job)))
                    .await;
                me.do_send(Done::Recorded(
                    found.ok().and_then(Result::ok).flatten(),
                    confirm,
                ));
            });
            return;
        }
        // The last questions go through the Kubernetes API: connected first.
        if !self.asked_last && !self.kube_tried && self.needs_kube(Then::TearDown(confirm), ctx) {
            return;
        }
        let last = (!self.asked_last).then(|| self.last_questions());
        let remove = ops::remove_cluster(
            self.shared.clone(),
            self.job,
            self.cluster.clone(),
            self.cluster_dir(),
            self.scripts.clone(),
            confirm,
            self.unsettled,
        );
        tokio::spawn(async move {
            if let Some(last) = last {
                last.await;
            }
            me.do_send(Done::TornDown(remove.await));
        });
    }
}

impl Actor for JobActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.schedule_poll(ctx);
    }
}

impl Handler<Command> for JobActor {
    type Result = ();

    fn handle(&mut self, cmd: Command, ctx: &mut Context<Self>) {
        if self.state == State::TearingDown && !matches!(cmd, Command::TearDown { .. }) {
            return;
        }
        // An operation on the job: poll it closely again.
        if !matches!(cmd, Command::Reschedule) {
            self.poll.quiet = 0;
        }
        let to_flink = matches!(
            cmd,
            Command::StopWithSavepoint { .. }
                | Command::TriggerSavepoint { .. }
                | Command::ResumeSavepoint { .. }
                | Command::Cancel
                | Command::DisposeSavepoint { .. }
        );
        if to_flink && self.needs_kube(Then::Held, ctx) {
            self.held.push(cmd);
            return;
        }
        match cmd {
            // A cluster started ahead for this job is where it runs.
            Command::Start { plan, resume } => {
                let resume = match self.state {
                    State::Warm => resume.or_else(|| self.cluster.clone()),
                    _ => resume,
                };
                self.begin_start(*plan, resume, ctx)
            }
            Command::Warm { plan } => self.begin_warm(*plan, ctx),
            Command::Adopt { cluster } => {
                self.cluster = Some(cluster);
                self.state = State::Watching;
                if !self.needs_kube(Then::Poll, ctx) {
                    self.begin_poll(ctx);
                }
            }
            Command::StopWithSavepoint {
                savepoint,
                trigger_id,
            } => self.savepoint(savepoint, ops::Ask::Stop(trigger_id), ctx),
            Command::TriggerSavepoint {
                savepoint,
                trigger_id,
            } => self.savepoint(savepoint, ops::Ask::Trigger(trigger_id), ctx),
            Command::ResumeSavepoint {
                savepoint,
                trigger_id,
                stop,
            } => {
                let how = match trigger_id {
                    Some(t) => ops::Ask::Watch {
                        trigger_id: t,
                        stop,
                    },
                    None if stop => ops::Ask::Stop(None),
                    None => ops::Ask::Trigger(None),
                };
                self.savepoint(savepoint, how, ctx)
            }
            Command::Cancel => self.cancel(),
            Command::ReplaceTaskManagers => self.replace_task_managers(),
            Command::Reschedule => self.schedule_poll(ctx),
            Command::DisposeSavepoint {
                savepoint,
                location,
            } => self.dispose_savepoint(savepoint, location),
            Command::TearDown { confirm } => self.tear_down(confirm, ctx),
        }
    }
}

impl Handler<Done> for JobActor {
    type Result = ();

    fn handle(&mut self, done: Done, ctx: &mut Context<Self>) {
        let job = self.job;
        match done {
            Done::Prepared(cluster) => {
                if self.state != State::TearingDown {
                    self.cluster = Some(cluster);
                }
            }
            Done::Started(result) if self.state == State::Starting => {
                self.start = None;
                match result {
                    Ok(start::Started::Running) => {
                        self.state = State::Watching;
                        self.unsettled = false;
                        self.report(Input::JobRunning { job });
                        self.begin_poll(ctx);
                    }
                    Ok(start::Started::Finished) => self.report(Input::JobEnded {
                        job,
                        end: FlinkEnd::Finished,
                        reason: String::new(),
                    }),
                    Err(e) => self.report(Input::JobStartFailed {
                        job,
                        reason: e.reason,
                        unresolved: e.unresolved,
                    }),
                }
            }
            Done::Started(_) => {}
            Done::Warmed(result) if self.state == State::Warming => {
                self.start = None;
                match result {
                    Ok(()) => {
                        self.state = State::Warm;
                        self.report(Input::ClusterWarm { job });
                    }
                    Err(reason) => self.report(Input::WarmFailed { job, reason }),
                }
            }
            Done::Warmed(_) => {}
            Done::Polled(polled) => {
                self.poll.in_flight = false;
                if self.state == State::Watching {
                    self.polled(*polled);
                }
            }
            Done::Watched(savepoint) => {
                self.savepoints.remove(&savepoint);
            }
            Done::Pods(trouble) => {
                if self.state == State::Starting {
                    self.report(Input::PodsObserved { job, trouble });
                }
            }
            Done::KubeReady => {
                self.connecting = false;
                // Held in order; held again (and connected again) if still not ready.
                for cmd in std::mem::take(&mut self.held) {
                    Handler::<Command>::handle(self, cmd, ctx);
                }
                for then in std::mem::take(&mut self.after_kube) {
                    self.after_kube_ready(then, ctx);
                }
            }
            Done::Recorded(cluster, confirm) => {
                self.cluster = cluster.or_else(|| {
                    // The cluster's directory identifies its processes, whether or not
                    // its start got as far as recording it.
                    Some(Cluster::Local(crate::cluster::local::LocalCluster::at(
                        self.cluster_dir(),
                    )))
                });
                self.tear_down(confirm, ctx);
            }
            Done::TornDown(Ok(())) => {
                if let Some(Cluster::Local(c)) = &self.cluster {
                    self.shared.forget_cluster(&c.rest_url());
                }
                self.report(Input::TornDown { job });
                ctx.stop();
            }
            // The lifecycle decides when to try again.
            Done::TornDown(Err(e)) => {
                // The next try connects to the Kubernetes API again first.
                self.kube_tried = false;
                self.report(Input::TearDownFailed {
                    job,
                    reason: e.to_string(),
                })
            }
        }
    }
}
