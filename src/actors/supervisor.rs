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
    ConfigChanged, DeploymentActor, Forgotten, Loaded, Remove, RequestSavepoint, UpdateSpec, Wake,
};
use super::store::Exec;
use super::Shared;
use crate::cluster::Placement;
use crate::spec::{Deployment, Identity, Kind};
use crate::validate;

/// Reserve CPU cores for a job about to start (reference page, "CPU Quota").
#[derive(Debug, Message)]
#[rtype(result = "Result<(), crate::quota::Denied>")]
pub struct Reserve {
    pub deployment: uuid::Uuid,
    pub identity: Identity,
    pub cores: f64,
}

/// A job's cluster is gone: its cores are free.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Release {
    pub deployment: uuid::Uuid,
}

/// A job found running after a restart keeps its cores, whatever the quota.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Book {
    pub deployment: uuid::Uuid,
    pub cores: f64,
}

/// A config re-read on SIGHUP, already checked.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Reload(pub crate::config::Config);

/// A savepoint on request, for the Deployment with this id.
#[derive(Debug, Message)]
#[rtype(result = "Result<crate::spec::Savepoint, String>")]
pub struct SavepointFor {
    pub deployment: uuid::Uuid,
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
    id: uuid::Uuid,
    /// Hash of the expanded Deployment the actor has.
    hash: String,
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
    /// Deployments refused cores, woken when cores are released.
    waiting: HashSet<Identity>,
    /// What systemd was last told (READY after the first scan, then STATUS changes).
    told: Option<String>,
    rescan_timer: Option<SpawnHandle>,
}

/// What tells a changed Deployment: its expanded spec and where it runs.
fn hash(d: &Deployment, placement: &Placement) -> String {
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
            told: None,
            rescan_timer: None,
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
                // Reading the directory is itself an event (an access); reacting to it
                // would rescan forever. Only changes count.
                let Ok(events) = result else {
                    return addr.do_send(Rescan(None));
                };
                let mut paths: Vec<PathBuf> = events
                    .iter()
                    .filter(|e| !matches!(e.kind, notify::EventKind::Access(_)))
                    .flat_map(|e| e.paths.iter().cloned())
                    .collect();
                paths.sort();
                paths.dedup();
                if !paths.is_empty() {
                    addr.do_send(Rescan(Some(paths)));
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

    fn apply(
        &mut self,
        files: Vec<PathBuf>,
        scope: Option<Vec<PathBuf>>,
        checked: validate::Checked,
        ctx: &mut Context<Self>,
    ) {
        let began = std::time::Instant::now();
        for identity in self.deleted(&files, scope.as_deref(), &checked) {
            if let Some(m) = self.managed.get_mut(&identity) {
                tracing::warn!(deployment = %identity, file = %m.file.display(), "no file defines this Deployment any more");
                m.removing = true;
                m.addr.do_send(Remove {
                    state: self.shared.config().files.on_delete,
                });
            }
        }
        for d in &checked.diagnostics {
            let line = d.to_string();
            if self.reported.insert(line.clone()) {
                if d.is_error() {
                    tracing::error!("{line}");
                } else {
                    tracing::warn!("{line}");
                }
            }
        }
        let placement = |e: &validate::Entry<Deployment>| {
            checked
                .placements
                .get(&e.resource.metadata.identity())
                .cloned()
                .unwrap_or_default()
        };
        let changed: Vec<(Deployment, PathBuf, String, Placement)> = checked
            .valid_deployments()
            .filter(|e| {
                let known = self.managed.get(&e.resource.metadata.identity());
                known.is_none_or(|m| {
                    m.hash != hash(&e.resource, &placement(e))
                        || m.removing
                        || m.file != e.origin.file
                })
            })
            .map(|e| {
                let base = e
                    .origin
                    .file
                    .parent()
                    .map(PathBuf::from)
                    .unwrap_or_default();
                (
                    e.resource.clone(),
                    base,
                    e.origin.file.display().to_string(),
                    placement(e),
                )
            })
            .collect();
        tracing::debug!(changed = changed.len(), diffed = ?began.elapsed(), "directory compared");
        if changed.is_empty() {
            self.done_scanning(ctx);
            return;
        }
        let new: HashSet<Identity> = changed
            .iter()
            .map(|(d, ..)| d.metadata.identity())
            .filter(|i| !self.managed.contains_key(i))
            .collect();
        let at = time::OffsetDateTime::now_utc();
        let record = self.shared.store.send(Exec::new(move |s| {
            s.atomically(|s| {
                let mut out = Vec::new();
                for (mut d, base, file, placement) in changed {
                    let identity = d.metadata.identity();
                    let hash_before = hash(&d, &placement);
                    d.metadata.id =
                        Some(s.ensure_id(Kind::Deployment, &identity, d.metadata.id)?);
                    let stored = s.put_deployment(&d, Some(&file), at)?;
                    let id = d.metadata.id.unwrap_or_default();
                    let loaded = if new.contains(&identity) {
                        Some(Loaded {
                            lifecycle: s.counters(id)?,
                            jobs: s.jobs(id)?,
                            savepoints: s.savepoints(id)?,
                        })
                    } else {
                        None
                    };
                    out.push((
                        stored,
                        base,
                        PathBuf::from(file),
                        hash_before,
                        placement,
                        loaded,
                    ));
                }
                Ok(out)
            })
        }));
        ctx.wait(
            actix::fut::wrap_future::<_, Self>(record).map(|result, act, ctx| {
                match result {
                    Ok(Ok(list)) => {
                        for (deployment, base, file, hash, placement, loaded) in list {
                            let identity = deployment.metadata.identity();
                            match (act.managed.get_mut(&identity), loaded) {
                                (Some(m), _) => {
                                    m.hash = hash;
                                    m.file = file;
                                    m.removing = false;
                                    m.addr.do_send(UpdateSpec {
                                        deployment,
                                        base_dir: base,
                                        placement,
                                    });
                                }
                                (None, loaded) => {
                                    tracing::info!(deployment = %identity, "managing");
                                    let act_id = deployment.metadata.id.unwrap_or_default();
                                    let actor = DeploymentActor::new(
                                        act.shared.clone(),
                                        deployment,
                                        base,
                                        placement,
                                        loaded.unwrap_or_default(),
                                        ctx.address(),
                                    );
                                    let managed = Managed {
                                        id: act_id,
                                        addr: actor.start(),
                                        hash,
                                        file,
                                        removing: false,
                                    };
                                    act.managed.insert(identity, managed);
                                }
                            }
                        }
                    }
                    Ok(Err(e)) => tracing::error!("cannot record the Deployments: {e}"),
                    Err(e) => tracing::error!("the store is not answering: {e}"),
                }
                act.done_scanning(ctx);
            }),
        );
    }

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
            ctx.run_interval(every, |_, _| crate::systemd::watchdog());
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

impl Handler<Reserve> for Supervisor {
    type Result = Result<(), crate::quota::Denied>;

    fn handle(&mut self, msg: Reserve, _: &mut Context<Self>) -> Self::Result {
        let result = self.ledger.reserve(msg.deployment, msg.cores);
        self.shared.metrics.quota_used.set(self.ledger.used());
        match result {
            Ok(()) => {
                self.waiting.remove(&msg.identity);
                tracing::debug!(deployment = %msg.identity, cores = msg.cores, used = self.ledger.used(), "cores reserved");
                Ok(())
            }
            Err(denied) => {
                self.waiting.insert(msg.identity);
                Err(denied)
            }
        }
    }
}

impl Handler<Release> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: Release, _: &mut Context<Self>) {
        self.ledger.release(msg.deployment);
        self.shared.metrics.quota_used.set(self.ledger.used());
        for identity in std::mem::take(&mut self.waiting) {
            if let Some(m) = self.managed.get(&identity) {
                m.addr.do_send(Wake);
            }
        }
    }
}

impl Handler<SavepointFor> for Supervisor {
    type Result = ResponseFuture<Result<crate::spec::Savepoint, String>>;

    fn handle(&mut self, msg: SavepointFor, _: &mut Context<Self>) -> Self::Result {
        let addr = self
            .managed
            .values()
            .find(|m| m.id == msg.deployment && !m.removing)
            .map(|m| m.addr.clone());
        Box::pin(async move {
            match addr {
                Some(a) => a.send(RequestSavepoint).await.map_err(|e| e.to_string())?,
                None => Err(format!(
                    "no Deployment with id {} is managed",
                    msg.deployment
                )),
            }
        })
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
            for identity in std::mem::take(&mut self.waiting) {
                if let Some(m) = self.managed.get(&identity) {
                    m.addr.do_send(Wake);
                }
            }
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

impl Handler<Book> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: Book, _: &mut Context<Self>) {
        self.ledger.book(msg.deployment, msg.cores);
        self.shared.metrics.quota_used.set(self.ledger.used());
    }
}

impl Handler<Forgotten> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: Forgotten, ctx: &mut Context<Self>) {
        // Only if its file did not come back in the meantime.
        if self.managed.get(&msg.identity).is_some_and(|m| m.removing) {
            self.managed.remove(&msg.identity);
        }
        // A file re-added during the wind-down is picked up by the next read.
        self.scan(None, ctx);
    }
}
