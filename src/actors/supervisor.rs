//! The Supervisor: from the watched directory to one DeploymentActor per Deployment.
//!
//! It reads the directory at start, again after every change (notify, debounced: an
//! editor's write-then-rename is one change) and on a timer, and treats each read as a
//! diff (vector's habit): a Deployment whose expanded spec did not change is not
//! touched. Each read is validated as one set with the daemon config; a Deployment whose
//! file became invalid keeps running on its last valid spec, and the problem is logged
//! (DESIGN.md, "Last valid spec wins").

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use notify::RecursiveMode;
use notify_debouncer_full::{new_debouncer, DebounceEventResult, Debouncer, RecommendedCache};

use super::deployment::{
    ConfigChanged, DeploymentActor, DeploymentReport, Forget, RequestSavepoint, SavepointRefused,
    Step,
};
use super::store::Exec;
use super::Shared;
use crate::cluster::Placement;
use crate::lifecycle::{EventName, Input};
use crate::spec::Identity;
use crate::validate;

mod apply;
mod imports;

/// A config re-read on SIGHUP, already checked.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Reload(pub crate::config::Config);

/// A savepoint on request, for the Deployment with this id.
#[derive(Debug, Message)]
#[rtype(result = "Result<crate::spec::Savepoint, SavepointError>")]
pub struct SavepointFor {
    pub deployment: uuid::Uuid,
}

/// A savepoint taken elsewhere, for the Deployment with this id.
#[derive(Debug, Message)]
#[rtype(result = "Result<crate::spec::Savepoint, SavepointError>")]
pub struct ImportFor {
    pub deployment: uuid::Uuid,
    pub location: String,
}

/// Why a savepoint on request was not started.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SavepointError {
    /// No such Deployment is managed (HTTP 404).
    #[error("no Deployment with id {0} is managed")]
    Unknown(uuid::Uuid),
    #[error(transparent)]
    Refused(#[from] SavepointRefused),
    /// The Deployment's actor did not answer (HTTP 500).
    #[error("the Deployment did not answer: {0}")]
    Internal(String),
}

/// Read the directory again: `Some` names the files a change notification was about.
#[derive(Debug, Default, Message)]
#[rtype(result = "()")]
pub struct Rescan(pub Option<Vec<PathBuf>>);

/// One read of the directory: the files it covered (`scope`: only these, else the
/// whole directory, `files` listed), and what they hold.
#[derive(Message)]
#[rtype(result = "()")]
struct Scanned {
    files: Vec<PathBuf>,
    scope: Option<Vec<PathBuf>>,
    checked: validate::Checked,
}

/// The read changes nothing: nothing changed, or the directory could not be listed.
#[derive(Message)]
#[rtype(result = "()")]
struct NothingNew;

struct Managed {
    addr: Addr<DeploymentActor>,
    /// Its `metadata.id`.
    id: uuid::Uuid,
    /// Hash of the expanded Deployment the actor has, and where it runs.
    hash: String,
    /// Hash of its spec as its file writes it, and where it runs: unchanged while only
    /// its defaults change.
    written_hash: String,
    /// The file that defines it.
    file: PathBuf,
    /// Its file is gone and it is winding down.
    removing: bool,
}

pub struct Supervisor {
    shared: Arc<Shared>,
    managed: HashMap<Identity, Managed>,
    /// Problems already logged, so that a rescan does not repeat them.
    reported: HashSet<String>,
    watcher: Option<Debouncer<notify::RecommendedWatcher, RecommendedCache>>,
    scanning: bool,
    /// A read asked for while one was under way: `Some(None)` the whole directory.
    again: Option<Option<Vec<PathBuf>>>,
    /// What the directory held at the last read (the scan task's, one at a time).
    cache: Arc<std::sync::Mutex<crate::dircache::DirCache>>,
    /// The CPU quota: the Supervisor's fact alone.
    ledger: crate::quota::Ledger,
    /// Deployments refused cores, woken when cores are freed.
    waiting: HashSet<uuid::Uuid>,
    by_id: HashMap<uuid::Uuid, Identity>,
    /// The first read of the directory is still to be applied: Deployments that only the
    /// store knows are taken up with it.
    first: bool,
    /// When the read under way began.
    scan_began: Option<std::time::Instant>,
    /// What systemd was last told (READY after the first scan, then STATUS changes).
    told: Option<String>,
    rescan_timer: Option<SpawnHandle>,
    /// The valid `kind: Savepoint` documents of each file, as last read.
    imports: HashMap<PathBuf, Vec<imports::Import>>,
    /// Imports handed over, by Deployment id and location (each once per daemon; the
    /// lifecycle records a location once per Deployment anyway).
    imported: HashSet<(uuid::Uuid, String)>,
}

/// What tells a changed Deployment: its expanded spec (or its spec as written) and
/// where it runs.
fn hash<T: serde::Serialize>(d: &T, placement: &Placement) -> String {
    let mut bytes = serde_json::to_vec(d).unwrap_or_default();
    bytes.extend(placement.hash_suffix().into_bytes());
    crate::spec::content_hash(bytes)
}

impl Supervisor {
    pub fn new(shared: Arc<Shared>) -> Self {
        Supervisor {
            shared: shared.clone(),
            managed: HashMap::new(),
            reported: HashSet::new(),
            watcher: None,
            scanning: false,
            again: None,
            cache: Default::default(),
            ledger: crate::quota::Ledger::new(shared.config().quota.cpu),
            waiting: HashSet::new(),
            by_id: HashMap::new(),
            first: true,
            scan_began: None,
            told: None,
            rescan_timer: None,
            imports: HashMap::new(),
            imported: HashSet::new(),
        }
    }

    fn watch(&mut self, ctx: &mut Context<Self>) {
        if self.watcher.is_some() {
            return;
        }
        let addr = ctx.address();
        let dir = self.shared.config().deployments_dir.clone();
        let debounce = self.shared.config().timing.file_debounce;
        let debouncer = new_debouncer(
            debounce,
            // Events are let through within a few ms of their quiet time, not a quarter
            // of it later.
            Some((debounce / 20).max(Duration::from_millis(2))),
            move |result: DebounceEventResult| {
                if let Some(rescan) = rescan_of(result) {
                    addr.do_send(rescan);
                }
            },
        );
        match debouncer {
            Ok(mut d) => match d.watch(&dir, RecursiveMode::NonRecursive) {
                Ok(()) => self.watcher = Some(d),
                Err(e) => tracing::warn!(
                    "cannot watch {}: {e}; rescanning on a timer only",
                    dir.display()
                ),
            },
            Err(e) => tracing::warn!("cannot watch {}: {e}", dir.display()),
        }
    }

    fn scan(&mut self, hint: Option<Vec<PathBuf>>, ctx: &mut Context<Self>) {
        if self.scanning {
            self.again = Some(match (self.again.take(), hint) {
                (None, hint) => hint,
                (Some(Some(mut before)), Some(more)) => {
                    before.extend(more);
                    Some(before)
                }
                _ => None,
            });
            return;
        }
        self.scanning = true;
        self.scan_began = Some(std::time::Instant::now());
        self.watch(ctx);
        let config = self.shared.config().clone();
        let me = ctx.address();
        let cache = self.cache.clone();
        tokio::task::spawn_blocking(move || {
            let dir = &config.deployments_dir;
            let began = std::time::Instant::now();
            let read = cache.lock().unwrap_or_else(|e| e.into_inner()).read(
                dir,
                &config.files.read_limits(),
                hint.as_deref(),
            );
            let (files, scope, contents) = match read {
                Ok(crate::dircache::Read::Unchanged) => return me.do_send(NothingNew),
                Ok(crate::dircache::Read::Partial { scope, contents }) => {
                    let files = scope.iter().filter(|p| p.is_file()).cloned().collect();
                    (files, Some(scope), contents)
                }
                Ok(crate::dircache::Read::Full { files, contents }) => (files, None, contents),
                Err(e) => {
                    // A directory that cannot be read changes nothing that runs.
                    tracing::error!(
                        "cannot read {}: {e}; running Deployments are left alone",
                        dir.display()
                    );
                    me.do_send(NothingNew);
                    return;
                }
            };
            let read = began.elapsed();
            let checked = validate::check(contents, Some(&config));
            tracing::debug!(files = files.len(), partial = scope.is_some(), ?read, checked = ?began.elapsed() - read, "directory read");
            me.do_send(Scanned {
                files,
                scope,
                checked,
            });
        });
    }

    /// Managed Deployments whose file is gone, or whose file was read without an error
    /// and no longer defines them. A file with any error deletes nothing: a typo must not
    /// stop a job (DESIGN.md, "Last valid spec wins").
    fn deleted(
        &self,
        files: &[PathBuf],
        scope: Option<&[PathBuf]>,
        checked: &validate::Checked,
    ) -> Vec<Identity> {
        let listed: HashSet<&PathBuf> = files.iter().collect();
        let defined: HashSet<Identity> = checked
            .deployments
            .iter()
            .map(|e| e.resource.metadata.identity())
            .collect();
        let with_errors: HashSet<&PathBuf> = checked
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(|d| &d.file)
            .collect();
        self.managed
            .iter()
            .filter(|(identity, m)| {
                !m.removing
                    && scope.is_none_or(|s| s.contains(&m.file))
                    && !defined.contains(identity)
                    && (!listed.contains(&m.file) || !with_errors.contains(&m.file))
            })
            .map(|(identity, _)| identity.clone())
            .collect()
    }
}

/// The read a batch of change notifications calls for, if any.
fn rescan_of(result: DebounceEventResult) -> Option<Rescan> {
    let Ok(events) = result else {
        return Some(Rescan(None));
    };
    // Events were lost (the kernel's queue overflowed): which files changed is not
    // known, so every stamp is compared.
    if events.iter().any(|e| e.need_rescan()) {
        return Some(Rescan(None));
    }
    // Reading the directory is itself an event (an access); reacting to it would rescan
    // forever. Only changes count.
    let mut paths: Vec<PathBuf> = events
        .iter()
        .filter(|e| !matches!(e.kind, notify::EventKind::Access(_)))
        .flat_map(|e| e.paths.iter().cloned())
        .collect();
    paths.sort();
    paths.dedup();
    (!paths.is_empty()).then_some(Rescan(Some(paths)))
}

impl Supervisor {
    /// The periodic rescan, at the interval in force (re-armed by a reload).
    fn schedule_rescan(&mut self, ctx: &mut Context<Self>) {
        if let Some(h) = self.rescan_timer.take() {
            ctx.cancel_future(h);
        }
        let every = self
            .shared
            .config()
            .timing
            .rescan_interval
            .max(Duration::from_millis(100));
        self.rescan_timer = Some(ctx.run_later(every, |act, ctx| {
            act.rescan_timer = None;
            act.scan(None, ctx);
            act.schedule_rescan(ctx);
        }));
    }

    fn done_scanning(&mut self, ctx: &mut Context<Self>) {
        self.scanning = false;
        self.scan_began = None;
        let status = format!("{} Deployments", self.managed.len());
        match &self.told {
            None => crate::systemd::ready(&status),
            Some(last) if *last != status => crate::systemd::status(&status),
            Some(_) => {}
        }
        self.told = Some(status);
        if let Some(hint) = self.again.take() {
            self.scan(hint, ctx);
        }
    }
}

impl Actor for Supervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.scan(None, ctx);
        self.schedule_rescan(ctx);
        // The watchdog is fed from this actor's own timer: if the Supervisor stops
        // answering, systemd notices.
        if let Some(every) = crate::systemd::watchdog_interval() {
            ctx.run_interval(every, |act, _| {
                // A read stuck for twice the rescan interval (at least two minutes):
                // no more feeding, and systemd restarts the daemon.
                let bound =
                    (act.shared.config().timing.rescan_interval * 2).max(Duration::from_secs(120));
                let scanning_for = act.scan_began.map(|t| t.elapsed());
                if crate::systemd::healthy(scanning_for, bound) {
                    crate::systemd::watchdog();
                } else {
                    tracing::error!(
                        ?scanning_for,
                        "a read of the directory is stuck: the watchdog is not fed"
                    );
                }
            });
        }
    }
}

impl Handler<Rescan> for Supervisor {
    type Result = ();

    fn handle(&mut self, Rescan(hint): Rescan, ctx: &mut Context<Self>) {
        self.scan(hint, ctx);
    }
}

impl Handler<Scanned> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: Scanned, ctx: &mut Context<Self>) {
        self.apply(msg.files, msg.scope, msg.checked, ctx);
    }
}

impl Handler<NothingNew> for Supervisor {
    type Result = ();

    fn handle(&mut self, _: NothingNew, ctx: &mut Context<Self>) {
        self.done_scanning(ctx);
    }
}

impl Supervisor {
    /// Every Deployment refused cores looks again.
    fn wake_waiting(&mut self) {
        for id in std::mem::take(&mut self.waiting) {
            if let Some(m) = self.by_id.get(&id).and_then(|i| self.managed.get(i)) {
                m.addr.do_send(Step(Input::Reconcile));
            }
        }
    }

    fn addr_of(&self, id: uuid::Uuid) -> Option<&Managed> {
        self.by_id.get(&id).and_then(|i| self.managed.get(i))
    }
}

impl Handler<DeploymentReport> for Supervisor {
    type Result = ();

    fn handle(&mut self, report: DeploymentReport, ctx: &mut Context<Self>) {
        match report {
            DeploymentReport::Reserve {
                deployment,
                request,
                cores,
            } => {
                let answer = match self.ledger.reserve(deployment, cores) {
                    Ok(()) => {
                        self.waiting.remove(&deployment);
                        tracing::debug!(%deployment, cores, used = self.ledger.used(), "cores reserved");
                        Input::QuotaGranted { request }
                    }
                    Err(denied) => {
                        self.waiting.insert(deployment);
                        Input::QuotaDenied {
                            request,
                            used: denied.used,
                            limit: denied.limit,
                        }
                    }
                };
                self.shared.metrics.quota_used.set(self.ledger.used());
                if let Some(m) = self.addr_of(deployment) {
                    m.addr.do_send(Step(answer));
                }
            }
            DeploymentReport::SetQuota { deployment, cores } => {
                let freed = cores < self.ledger.held(deployment);
                self.ledger.set(deployment, cores);
                self.shared.metrics.quota_used.set(self.ledger.used());
                if freed {
                    self.wake_waiting();
                }
            }
            DeploymentReport::ReadyToForget { deployment } => {
                let Some(identity) = self.by_id.get(&deployment).cloned() else {
                    return;
                };
                // Only if its file did not come back meanwhile.
                if !self.managed.get(&identity).is_some_and(|m| m.removing) {
                    return;
                }
                if let Some(m) = self.managed.remove(&identity) {
                    m.addr.do_send(Forget);
                }
                self.by_id.remove(&deployment);
                self.ledger.set(deployment, 0.0);
                self.shared.metrics.quota_used.set(self.ledger.used());
                self.wake_waiting();
                tracing::info!(deployment = %identity, "file removed: Deployment forgotten");
                // Written by the Supervisor, so that a file re-added later is recorded
                // after this, never before.
                let at = time::OffsetDateTime::now_utc();
                let event = crate::spec::Event {
                    seq: 0,
                    deployment_id: deployment,
                    job_id: None,
                    namespace: identity.namespace.clone(),
                    created_at: at,
                    name: EventName::DeploymentForgotten.as_str().to_string(),
                    level: crate::spec::EventLevel::Info,
                    message: "its file is gone; the Deployment is forgotten (its history is kept)"
                        .into(),
                };
                self.shared.store.do_send(Exec::new(move |s| {
                    s.atomically(|s| {
                        s.append_event(&event)?;
                        s.mark_removed(deployment, at)
                    })
                }));
                // A file re-added during the wind-down is picked up by the next read.
                self.scan(None, ctx);
            }
        }
    }
}

impl Supervisor {
    /// Asks the managed Deployment with this id (not winding down) for a savepoint, on
    /// request or imported.
    fn ask_for_savepoint<M>(
        &self,
        deployment: uuid::Uuid,
        msg: M,
    ) -> ResponseFuture<Result<crate::spec::Savepoint, SavepointError>>
    where
        M: Message<Result = Result<crate::spec::Savepoint, SavepointRefused>> + Send + 'static,
        DeploymentActor: Handler<M>,
    {
        let addr = self
            .addr_of(deployment)
            .filter(|m| !m.removing)
            .map(|m| m.addr.clone());
        Box::pin(async move {
            match addr {
                Some(a) => Ok(a
                    .send(msg)
                    .await
                    .map_err(|e| SavepointError::Internal(e.to_string()))??),
                None => Err(SavepointError::Unknown(deployment)),
            }
        })
    }
}

impl Handler<SavepointFor> for Supervisor {
    type Result = ResponseFuture<Result<crate::spec::Savepoint, SavepointError>>;

    fn handle(&mut self, msg: SavepointFor, _: &mut Context<Self>) -> Self::Result {
        self.ask_for_savepoint(msg.deployment, RequestSavepoint)
    }
}

impl Handler<ImportFor> for Supervisor {
    type Result = ResponseFuture<Result<crate::spec::Savepoint, SavepointError>>;

    fn handle(&mut self, msg: ImportFor, _: &mut Context<Self>) -> Self::Result {
        let import = super::deployment::ImportSavepoint {
            location: msg.location,
        };
        self.ask_for_savepoint(msg.deployment, import)
    }
}

impl Handler<Reload> for Supervisor {
    type Result = ();

    /// The new config is put in force: quota, intervals, deadlines, Flink versions,
    /// defaults and file limits apply from now on, without restarting any Deployment (a
    /// raised quota wakes the Deployments waiting for cores; a lowered one stops nothing).
    /// What is bound at start (directories, the API's address, the HTTP client, the
    /// store) says it needs a restart.
    fn handle(&mut self, Reload(new): Reload, ctx: &mut Context<Self>) {
        let old = self.shared.config();
        if new.quota.cpu != self.ledger.limit() {
            tracing::info!(from = ?self.ledger.limit(), to = ?new.quota.cpu, "CPU quota changed");
            self.ledger.set_limit(new.quota.cpu);
            if let Some(limit) = new.quota.cpu {
                self.shared.metrics.quota_limit.set(limit);
            }
            self.wake_waiting();
        }
        let needs_restart: Vec<&str> = [
            (
                "deployments_dir",
                old.deployments_dir != new.deployments_dir,
            ),
            ("state_dir", old.state_dir != new.state_dir),
            ("api.listen", old.api.listen != new.api.listen),
            (
                "timing.http_timeout",
                old.timing.http_timeout != new.timing.http_timeout,
            ),
            (
                "timing.file_debounce",
                old.timing.file_debounce != new.timing.file_debounce,
            ),
            (
                "store.max_events_per_deployment",
                old.store.max_events_per_deployment != new.store.max_events_per_deployment,
            ),
        ]
        .into_iter()
        .filter_map(|(key, changed)| changed.then_some(key))
        .collect();
        if !needs_restart.is_empty() {
            tracing::warn!(
                "changed in the config, taking effect after a restart of flinkd: {needs_restart:?}"
            );
        }
        self.shared.set_config(new);
        for m in self.managed.values() {
            m.addr.do_send(ConfigChanged);
        }
        self.schedule_rescan(ctx);
        crate::systemd::ready("reloaded");
        // What a check says depends on the config: every file is checked again.
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .invalidate();
        self.scan(None, ctx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{AccessKind, EventKind, Flag, ModifyKind};
    use notify_debouncer_full::DebouncedEvent;

    fn event(kind: EventKind, path: &str) -> DebouncedEvent {
        DebouncedEvent::new(
            notify::Event::new(kind).add_path(PathBuf::from(path)),
            std::time::Instant::now(),
        )
    }

    #[test]
    fn changes_name_their_files_and_accesses_are_ignored() {
        let events = vec![
            event(EventKind::Modify(ModifyKind::Any), "/d/b.yaml"),
            event(EventKind::Access(AccessKind::Any), "/d/c.yaml"),
            event(EventKind::Modify(ModifyKind::Any), "/d/a.yaml"),
            event(EventKind::Modify(ModifyKind::Any), "/d/b.yaml"),
        ];
        let Some(Rescan(Some(paths))) = rescan_of(Ok(events)) else {
            panic!("a read of the changed files");
        };
        assert_eq!(
            paths,
            [PathBuf::from("/d/a.yaml"), PathBuf::from("/d/b.yaml")]
        );
        let reads = vec![event(EventKind::Access(AccessKind::Any), "/d/c.yaml")];
        assert!(
            rescan_of(Ok(reads)).is_none(),
            "a read of the directory is no change"
        );
    }

    /// An overflowed queue names no file: every stamp is compared, or the change that
    /// was lost would wait for the periodic rescan.
    #[test]
    fn lost_events_and_errors_read_everything() {
        let lost = DebouncedEvent::new(
            notify::Event::new(EventKind::Other).set_flag(Flag::Rescan),
            std::time::Instant::now(),
        );
        assert!(matches!(rescan_of(Ok(vec![lost])), Some(Rescan(None))));
        let error = notify::Error::generic("watch failed");
        assert!(matches!(rescan_of(Err(vec![error])), Some(Rescan(None))));
    }
}
