//! Applying a read of the watched directory: what changed is recorded, one
//! Deployment at a time (one that cannot be recorded, say a `metadata.id` another
//! Deployment holds, stops no other, and its file is read again at the next scan), and
//! each DeploymentActor is told or made. At the first read, the Deployments only the
//! store knows are taken up: a broken file stops no job, and a file deleted while
//! flinkd was down winds its Deployment down rather than orphaning its cluster.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use actix::prelude::*;

use super::{hash, Managed, Supervisor};
use crate::actors::deployment::{
    DeploymentActor, FileProblems, Loaded, Remove, SpecSource, UpdateSpec,
};
use crate::actors::store::Exec;
use crate::cluster::Placement;
use crate::spec::{Deployment, DeploymentSpec, Identity, Kind};
use crate::store::StoreError;
use crate::validate;

/// A Deployment read from its file and to be recorded.
struct Change {
    deployment: Deployment,
    source: SpecSource,
    file: PathBuf,
    hash: String,
    written_hash: String,
    /// Where its `metadata.id` is written, for an error about it.
    id_at: String,
    new: bool,
}

/// What recording a change gave: the Deployment as stored, and for a new one its
/// records.
type Recorded = Result<(Deployment, Option<Loaded>), StoreError>;

/// A Deployment the store has and no valid file defines (its file is broken, or was
/// deleted while flinkd was down): managed from the store.
struct FromStore {
    deployment: Deployment,
    source: Option<String>,
    file: Option<String>,
    loaded: Loaded,
}

impl Supervisor {
    pub(super) fn apply(
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
        // What is wrong with each managed Deployment's file, for its status and events.
        let mut problems: HashMap<&PathBuf, Vec<String>> = HashMap::new();
        for d in checked.diagnostics.iter().filter(|d| d.is_error()) {
            problems.entry(&d.file).or_default().push(d.to_string());
        }
        for m in self.managed.values() {
            let read =
                scope.as_ref().is_none_or(|s| s.contains(&m.file)) || files.contains(&m.file);
            if read && !m.removing {
                let found = problems.get(&m.file).cloned().unwrap_or_default();
                m.addr.do_send(FileProblems(found));
            }
        }
        let changes: Vec<Change> = checked
            .valid_deployments()
            .filter_map(|e| {
                let identity = e.resource.metadata.identity();
                let placement = checked
                    .placements
                    .get(&identity)
                    .cloned()
                    .unwrap_or_default();
                let written = e.written.clone().unwrap_or_else(DeploymentSpec::default);
                let hash = hash(&e.resource, &placement);
                let written_hash = hash_written(&written, &placement);
                let known = self.managed.get(&identity);
                let unchanged =
                    known.is_some_and(|m| m.hash == hash && !m.removing && m.file == e.origin.file);
                if unchanged {
                    return None;
                }
                Some(Change {
                    deployment: e.resource.clone(),
                    source: SpecSource {
                        written,
                        placement,
                        base_dir: e
                            .origin
                            .file
                            .parent()
                            .map(PathBuf::from)
                            .unwrap_or_default(),
                    },
                    file: e.origin.file.clone(),
                    hash,
                    written_hash,
                    id_at: e
                        .origin
                        .error(crate::source::FieldPath::parse("metadata.id"), "")
                        .to_string(),
                    new: known.is_none(),
                })
            })
            .collect();
        tracing::debug!(changed = changes.len(), diffed = ?began.elapsed(), "directory compared");
        self.read_imports(&files, scope.as_deref(), &checked);
        let first = std::mem::take(&mut self.first);
        if changes.is_empty() && !first {
            self.hand_over_imports();
            self.done_scanning(ctx);
            return;
        }
        let at = time::OffsetDateTime::now_utc();
        let records: Vec<(Deployment, String, String, bool)> = changes
            .iter()
            .map(|c| {
                let source = serde_json::to_string(&c.source).unwrap_or_default();
                (
                    c.deployment.clone(),
                    c.file.display().to_string(),
                    source,
                    c.new,
                )
            })
            .collect();
        let record = self.shared.store.send(Exec::new(move |s| {
            // Each Deployment is recorded alone: one that cannot be (an id another
            // Deployment holds) stops no other.
            let mut out: Vec<Recorded> = Vec::new();
            for (d, file, source, new) in records {
                out.push(s.atomically(|s| record(s, d, &file, &source, new, at)));
            }
            let taken_up = if first {
                from_store(s, &out)?
            } else {
                Vec::new()
            };
            Ok((out, taken_up))
        }));
        ctx.wait(
            actix::fut::wrap_future::<_, Self>(record).map(move |result, act, ctx| {
                match result {
                    Ok(Ok((recorded, taken_up))) => {
                        for (change, result) in changes.into_iter().zip(recorded) {
                            act.recorded(change, result, ctx);
                        }
                        for s in taken_up {
                            act.take_up(s, &files, ctx);
                        }
                        act.hand_over_imports();
                    }
                    // Nothing of this read is on record: it is not taken as seen,
                    // and the next read is a whole one.
                    Ok(Err(e)) => {
                        tracing::error!("cannot record the directory's Deployments: {e}");
                        act.cache
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .invalidate();
                        act.first |= first;
                    }
                    Err(e) => {
                        tracing::error!("the store is not answering: {e}");
                        act.cache
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .invalidate();
                        act.first |= first;
                    }
                }
                act.done_scanning(ctx);
            }),
        );
    }

    /// A Deployment recorded (or not): its actor is told, or made.
    fn recorded(&mut self, change: Change, result: Recorded, ctx: &mut Context<Self>) {
        let identity = change.deployment.metadata.identity();
        let (deployment, loaded) = match result {
            Ok(r) => r,
            Err(e) => {
                // Located, once; the file is read again at the next scan.
                let message = match &e {
                    StoreError::IdConflict { id, owner, .. } => format!(
                        "{}{id} is the id of Deployment {owner}; remove metadata.id for a new one",
                        change.id_at
                    ),
                    other => format!("{}cannot be recorded: {other}", change.id_at),
                };
                if self.reported.insert(message.clone()) {
                    tracing::error!("{message}");
                }
                if let Some(m) = self.managed.get(&identity) {
                    m.addr.do_send(FileProblems(vec![message]));
                }
                self.cache
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .reread(&change.file);
                return;
            }
        };
        match self.managed.get_mut(&identity) {
            Some(m) => {
                let defaults_only = m.written_hash == change.written_hash && !m.removing;
                m.hash = change.hash;
                m.written_hash = change.written_hash;
                m.file = change.file;
                m.removing = false;
                m.addr.do_send(UpdateSpec {
                    deployment,
                    source: change.source,
                    defaults_only,
                });
            }
            None => {
                self.manage(
                    deployment,
                    change.source,
                    loaded.unwrap_or_default(),
                    (change.hash, change.written_hash),
                    change.file,
                    ctx,
                );
            }
        }
    }

    /// Makes a Deployment's actor. The cores its lifecycle holds (a job that ran before
    /// a restart) are booked before it starts, so before any other Deployment's start.
    fn manage(
        &mut self,
        deployment: Deployment,
        source: SpecSource,
        loaded: Loaded,
        (hash, written_hash): (String, String),
        file: PathBuf,
        ctx: &mut Context<Self>,
    ) -> Option<Addr<DeploymentActor>> {
        let identity = deployment.metadata.identity();
        let id = deployment.metadata.id.unwrap_or_default();
        let actor = match DeploymentActor::new(
            self.shared.clone(),
            deployment,
            source,
            loaded,
            ctx.address().recipient(),
        ) {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(deployment = %identity, "cannot be managed: {e}");
                return None;
            }
        };
        self.ledger.set(id, actor.cores_held());
        self.shared.metrics.quota_used.set(self.ledger.used());
        tracing::info!(deployment = %identity, "managing");
        let addr = actor.start();
        self.by_id.insert(id, identity.clone());
        self.managed.insert(
            identity,
            Managed {
                addr: addr.clone(),
                id,
                hash,
                written_hash,
                file,
                removing: false,
            },
        );
        Some(addr)
    }

    /// A Deployment only the store knows, at the first read: managed with its last valid
    /// spec, and wound down if its file is gone (deleted while flinkd was down); a
    /// broken file stops no job.
    fn take_up(&mut self, s: FromStore, files: &[PathBuf], ctx: &mut Context<Self>) {
        let identity = s.deployment.metadata.identity();
        if self.managed.contains_key(&identity) {
            return;
        }
        let file = s.file.map(PathBuf::from).unwrap_or_default();
        let source = s
            .source
            .as_deref()
            .and_then(|j| serde_json::from_str::<SpecSource>(j).ok())
            .unwrap_or_else(|| SpecSource {
                written: s.deployment.spec.clone(),
                placement: Placement::Local,
                base_dir: file.parent().map(PathBuf::from).unwrap_or_default(),
            });
        let hashes = (String::new(), String::new());
        let gone = !files.contains(&file);
        let Some(addr) = self.manage(s.deployment, source, s.loaded, hashes, file.clone(), ctx)
        else {
            return;
        };
        if gone {
            tracing::warn!(deployment = %identity, file = %file.display(), "its file is gone (deleted while flinkd was down)");
            if let Some(m) = self.managed.get_mut(&identity) {
                m.removing = true;
            }
            addr.do_send(Remove {
                state: self.shared.config().files.on_delete,
            });
        } else {
            tracing::warn!(deployment = %identity, file = %file.display(), "its file is not valid: managed with its last valid spec");
        }
    }
}

/// Records one Deployment: its id, its spec and what its policy comes from; a new one
/// brings its records.
fn record(
    s: &mut crate::store::Store,
    mut d: Deployment,
    file: &str,
    source: &str,
    new: bool,
    at: time::OffsetDateTime,
) -> Recorded {
    let identity = d.metadata.identity();
    d.metadata.id = Some(s.ensure_id(Kind::Deployment, &identity, d.metadata.id)?);
    let stored = s.put_deployment(&d, Some(file), at)?;
    let id = d.metadata.id.unwrap_or_default();
    s.put_source(id, source)?;
    let loaded = new
        .then(|| -> Result<Loaded, StoreError> {
            Ok(Loaded {
                lifecycle: s.lifecycle(id)?,
                jobs: s.jobs(id)?,
                savepoints: s.savepoints(id)?,
            })
        })
        .transpose()?;
    Ok((stored, loaded))
}

/// The Deployments the store has and this read did not record: taken up at the first
/// read.
fn from_store(
    s: &mut crate::store::Store,
    recorded: &[Recorded],
) -> Result<Vec<FromStore>, StoreError> {
    let done: HashSet<Identity> = recorded
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(|(d, _)| d.metadata.identity())
        .collect();
    let mut out = Vec::new();
    for stored in s.deployments(None)? {
        if stored.removed || done.contains(&stored.deployment.metadata.identity()) {
            continue;
        }
        let id = stored.deployment.metadata.id.unwrap_or_default();
        let mut deployment = stored.deployment;
        deployment.status = None;
        out.push(FromStore {
            deployment,
            source: stored.source,
            file: stored.file,
            loaded: Loaded {
                lifecycle: s.lifecycle(id)?,
                jobs: s.jobs(id)?,
                savepoints: s.savepoints(id)?,
            },
        });
    }
    Ok(out)
}

fn hash_written(spec: &DeploymentSpec, placement: &Placement) -> String {
    hash(spec, placement)
}
