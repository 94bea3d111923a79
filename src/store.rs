//! The store: everything flinkd knows that is not in the users' files, in one SQLite file
//! under `state_dir`.
//!
//! It holds each Deployment's id, last valid spec and status; its Jobs, Savepoints and
//! event log; the lifecycle's counters; and the handles of the clusters flinkd started,
//! so that a restarted daemon can find them again. WAL with `synchronous=FULL`: a write
//! that returned is on disk, which the write-ahead discipline (DESIGN.md, principle 2)
//! relies on. The schema is versioned with `PRAGMA user_version` and migrated forward
//! on open; a store from a newer flinkd is refused rather than damaged.
//!
//! `Store` is synchronous and single-writer; inside the daemon it lives behind the
//! [`crate::actors::store::StoreHandle`] so that no actor blocks on disk.

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};
use serde::de::DeserializeOwned;
use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use crate::spec::{Deployment, DeploymentStatus, Event, Identity, Job, Kind, Savepoint, Timestamp};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("store: cannot encode or decode a record: {0}")]
    Json(#[from] serde_json::Error),
    #[error("store: cannot create {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("store: schema version {found} is newer than this flinkd supports ({supported}); use a newer flinkd")]
    TooNew { found: i64, supported: i64 },
    #[error("store: id {id} is already used by {kind} `{owner}`")]
    IdConflict {
        id: Uuid,
        kind: Kind,
        owner: Identity,
    },
    #[error("store: no Deployment with id {0}")]
    NoDeployment(Uuid),
    /// The transaction this work was part of could not be committed.
    #[error("store: not committed: {0}")]
    Commit(String),
    #[error("store: a record is damaged: {0}")]
    Damaged(String),
}

/// Schema migrations, in order; `user_version` counts those applied.
const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    r#"
    CREATE TABLE resource_ids (
        kind      TEXT NOT NULL,
        namespace TEXT NOT NULL,
        name      TEXT NOT NULL,
        id        TEXT NOT NULL UNIQUE,
        PRIMARY KEY (kind, namespace, name)
    );
    CREATE TABLE deployments (
        id               TEXT PRIMARY KEY,
        namespace        TEXT NOT NULL,
        name             TEXT NOT NULL,
        spec             TEXT NOT NULL,   -- JSON: the last valid expanded Deployment
        spec_hash        TEXT NOT NULL,
        status           TEXT,            -- JSON: DeploymentStatus
        file             TEXT,            -- the file the spec came from
        resource_version INTEGER NOT NULL,
        created_at       TEXT NOT NULL,
        modified_at      TEXT NOT NULL,
        removed_at       TEXT,            -- its file was deleted; history is kept
        UNIQUE (namespace, name)
    );
    CREATE TABLE jobs (
        id            TEXT PRIMARY KEY,
        deployment_id TEXT NOT NULL REFERENCES deployments(id),
        state         TEXT NOT NULL,
        created_at    TEXT NOT NULL,
        body          TEXT NOT NULL       -- JSON: Job
    );
    CREATE INDEX jobs_by_deployment ON jobs (deployment_id, created_at);
    CREATE TABLE savepoints (
        id            TEXT PRIMARY KEY,
        deployment_id TEXT NOT NULL REFERENCES deployments(id),
        job_id        TEXT,
        origin        TEXT NOT NULL,
        state         TEXT NOT NULL,
        created_at    TEXT NOT NULL,
        body          TEXT NOT NULL       -- JSON: Savepoint
    );
    CREATE INDEX savepoints_by_deployment ON savepoints (deployment_id, created_at);
    CREATE TABLE events (
        seq           INTEGER PRIMARY KEY AUTOINCREMENT,
        deployment_id TEXT NOT NULL,
        job_id        TEXT,
        namespace     TEXT NOT NULL,
        created_at    TEXT NOT NULL,
        name          TEXT NOT NULL,
        level         TEXT NOT NULL,
        message       TEXT NOT NULL
    );
    CREATE INDEX events_by_deployment ON events (deployment_id, seq);
    CREATE TABLE counters (
        deployment_id TEXT PRIMARY KEY REFERENCES deployments(id),
        body          TEXT NOT NULL       -- JSON: the lifecycle's counters and deadlines
    );
    CREATE TABLE clusters (
        job_id        TEXT PRIMARY KEY,
        deployment_id TEXT NOT NULL REFERENCES deployments(id),
        target        TEXT NOT NULL,
        body          TEXT NOT NULL,      -- JSON: how to find and stop the cluster
        created_at    TEXT NOT NULL
    );
    "#,
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// A Deployment as stored: its expanded resource (with metadata and status filled in
/// from the store) and the file it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredDeployment {
    pub deployment: Deployment,
    pub file: Option<String>,
    pub removed: bool,
}

/// Records by state: see [`Store::state_counts`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StateCounts {
    pub deployments: Vec<(String, i64)>,
    pub jobs: Vec<(String, i64)>,
    pub savepoints: Vec<(String, i64)>,
}

impl StateCounts {
    fn of(list: &[(String, i64)], state: &str) -> i64 {
        list.iter()
            .filter(|(s, _)| s == state)
            .map(|(_, n)| n)
            .sum()
    }

    pub fn deployments(&self, state: &str) -> i64 {
        Self::of(&self.deployments, state)
    }

    pub fn jobs(&self, state: &str) -> i64 {
        Self::of(&self.jobs, state)
    }

    pub fn savepoints(&self, state: &str) -> i64 {
        Self::of(&self.savepoints, state)
    }
}

pub struct Store {
    conn: Connection,
    max_events: u32,
}

fn ts(t: Timestamp) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

fn parse_ts(s: &str) -> Result<Timestamp, StoreError> {
    Timestamp::parse(s, &Rfc3339).map_err(|e| StoreError::Damaged(format!("timestamp `{s}`: {e}")))
}

fn parse_id(s: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(s).map_err(|e| StoreError::Damaged(format!("id `{s}`: {e}")))
}

fn json<T: Serialize>(v: &T) -> Result<String, StoreError> {
    Ok(serde_json::to_string(v)?)
}

fn from_json<T: DeserializeOwned>(s: &str) -> Result<T, StoreError> {
    Ok(serde_json::from_str(s)?)
}

impl Store {
    /// Opens (creating if needed) the store at `path` and migrates it.
    pub fn open(path: &Path, max_events_per_deployment: u32) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
                path: dir.display().to_string(),
                source,
            })?;
        }
        // Another process (the daemon, `flinkd get`, a test) may be setting up the same
        // new file: switching it to WAL can then be refused at once ("database is
        // locked", without waiting), so the set-up is tried again for a while.
        let mut tries = 0;
        loop {
            match Store::open_once(path, max_events_per_deployment) {
                Err(StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)))
                    if e.code == rusqlite::ErrorCode::DatabaseBusy && tries < 100 =>
                {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                other => return other,
            }
        }
    }

    fn open_once(path: &Path, max_events_per_deployment: u32) -> Result<Store, StoreError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let mut store = Store {
            conn,
            max_events: max_events_per_deployment.max(1),
        };
        store.migrate()?;
        Ok(store)
    }

    /// Brings the schema up to date, one migration per transaction. Each reads the
    /// version under the write lock, so that two processes opening a new file at once
    /// do not both migrate it (the second finds it done).
    fn migrate(&mut self) -> Result<(), StoreError> {
        while self.atomically(Store::migrate_one)? {}
        Ok(())
    }

    /// Applies the next migration, if there is one; says whether it did.
    fn migrate_one(&mut self) -> Result<bool, StoreError> {
        let found: i64 = self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::TooNew {
                found,
                supported: SCHEMA_VERSION,
            });
        }
        let Some(sql) = MIGRATIONS.get(found as usize) else {
            return Ok(false);
        };
        self.conn.execute_batch(sql)?;
        self.conn.pragma_update(None, "user_version", found + 1)?;
        Ok(true)
    }

    /// Runs `f` as one transaction: all of its writes, or none. The write-ahead unit of
    /// a lifecycle step (its state, status, records and events).
    pub fn atomically<R>(
        &mut self,
        f: impl FnOnce(&mut Store) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        // Inside a group's transaction, a savepoint gives the same all-or-nothing.
        let nested = !self.conn.is_autocommit();
        let (begin, commit, rollback) = if nested {
            (
                "SAVEPOINT atomically",
                "RELEASE atomically",
                "ROLLBACK TO atomically; RELEASE atomically",
            )
        } else {
            ("BEGIN IMMEDIATE", "COMMIT", "ROLLBACK")
        };
        self.conn.execute_batch(begin)?;
        match f(self) {
            Ok(r) => {
                self.conn.execute_batch(commit)?;
                Ok(r)
            }
            Err(e) => {
                let _ = self.conn.execute_batch(rollback);
                Err(e)
            }
        }
    }

    /// Runs pieces of work in one transaction (group commit), each in a savepoint of its
    /// own that is rolled back alone when the piece reports failure (`false`). Returns
    /// each piece's output, with the commit's error if the transaction could not be
    /// committed (then none of it is on disk). If no transaction can be begun, each
    /// piece runs on its own.
    #[allow(clippy::type_complexity)]
    pub fn group<T, W>(
        &mut self,
        work: impl IntoIterator<Item = W>,
    ) -> Result<Vec<T>, (Vec<T>, StoreError)>
    where
        W: FnOnce(&mut Store) -> (bool, T),
    {
        if self.conn.execute_batch("BEGIN IMMEDIATE").is_err() {
            return Ok(work.into_iter().map(|w| w(self).1).collect());
        }
        let mut out = Vec::new();
        for w in work {
            let _ = self.conn.execute_batch("SAVEPOINT piece");
            let (ok, t) = w(self);
            let end = if ok {
                "RELEASE piece"
            } else {
                "ROLLBACK TO piece; RELEASE piece"
            };
            let _ = self.conn.execute_batch(end);
            out.push(t);
        }
        match self.conn.execute_batch("COMMIT") {
            Ok(()) => Ok(out),
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err((out, e.into()))
            }
        }
    }

    /// The schema version of the open file.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    /// The persistent id of a resource: the one recorded for its identity, else the one
    /// `given` in its file, else a new one. A `given` id that differs from the recorded
    /// one replaces it, unless another resource of the kind holds it.
    pub fn ensure_id(
        &mut self,
        kind: Kind,
        identity: &Identity,
        given: Option<Uuid>,
    ) -> Result<Uuid, StoreError> {
        let tx = self.conn.savepoint()?;
        let recorded: Option<String> = tx
            .query_row(
                "SELECT id FROM resource_ids WHERE kind = ?1 AND namespace = ?2 AND name = ?3",
                params![kind.as_str(), identity.namespace, identity.name],
                |r| r.get(0),
            )
            .optional()?;
        let recorded = recorded.as_deref().map(parse_id).transpose()?;
        let id =
            match (recorded, given) {
                (Some(r), None) => r,
                (Some(r), Some(g)) if r == g => r,
                (_, want) => {
                    let id = want.unwrap_or_else(Uuid::new_v4);
                    let owner: Option<(String, String)> = tx
                        .query_row(
                            "SELECT namespace, name FROM resource_ids WHERE id = ?1 AND kind = ?2",
                            params![id.to_string(), kind.as_str()],
                            |r| Ok((r.get(0)?, r.get(1)?)),
                        )
                        .optional()?;
                    if let Some((namespace, name)) = owner {
                        return Err(StoreError::IdConflict {
                            id,
                            kind,
                            owner: Identity { namespace, name },
                        });
                    }
                    tx.execute(
                    "INSERT INTO resource_ids (kind, namespace, name, id) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (kind, namespace, name) DO UPDATE SET id = excluded.id",
                    params![kind.as_str(), identity.namespace, identity.name, id.to_string()],
                )?;
                    id
                }
            };
        tx.commit()?;
        Ok(id)
    }

    /// Records a Deployment's last valid spec (expanded, with `metadata.id` set). Its
    /// `resourceVersion` goes up when the spec changed; `createdAt` is kept from the
    /// first time. Returns the Deployment as stored.
    pub fn put_deployment(
        &mut self,
        deployment: &Deployment,
        file: Option<&str>,
        now: Timestamp,
    ) -> Result<Deployment, StoreError> {
        let id = deployment
            .metadata
            .id
            .ok_or_else(|| StoreError::Damaged("a Deployment without metadata.id".into()))?;
        let mut spec_only = deployment.clone();
        spec_only.status = None;
        spec_only.metadata.created_at = None;
        spec_only.metadata.modified_at = None;
        spec_only.metadata.resource_version = None;
        let body = json(&spec_only)?;
        let hash = crate::spec::content_hash(&body);
        let m = &deployment.metadata;
        let tx = self.conn.savepoint()?;
        let old: Option<(String, i64)> = tx
            .query_row(
                "SELECT spec_hash, resource_version FROM deployments WHERE id = ?1",
                params![id.to_string()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        match old {
            None => {
                tx.execute(
                    "INSERT INTO deployments (id, namespace, name, spec, spec_hash, file, resource_version, created_at, modified_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7, ?7)",
                    params![id.to_string(), m.namespace(), m.name, body, hash, file, ts(now)],
                )?;
            }
            Some((old_hash, _)) if old_hash == hash => {
                tx.execute(
                    "UPDATE deployments SET file = ?2, removed_at = NULL WHERE id = ?1",
                    params![id.to_string(), file],
                )?;
            }
            Some(_) => {
                tx.execute(
                    "UPDATE deployments SET namespace = ?2, name = ?3, spec = ?4, spec_hash = ?5, file = ?6,
                         resource_version = resource_version + 1, modified_at = ?7, removed_at = NULL
                     WHERE id = ?1",
                    params![id.to_string(), m.namespace(), m.name, body, hash, file, ts(now)],
                )?;
            }
        }
        tx.commit()?;
        self.deployment_by_id(id)?
            .map(|s| s.deployment)
            .ok_or(StoreError::NoDeployment(id))
    }

    /// Records a Deployment's status; `resourceVersion` goes up.
    pub fn put_status(
        &mut self,
        id: Uuid,
        status: &DeploymentStatus,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let n = self.conn.execute(
            "UPDATE deployments SET status = ?2, resource_version = resource_version + 1, modified_at = ?3 WHERE id = ?1",
            params![id.to_string(), json(status)?, ts(now)],
        )?;
        if n == 0 {
            return Err(StoreError::NoDeployment(id));
        }
        Ok(())
    }

    /// Marks a Deployment whose file is gone; its Jobs, Savepoints and events stay.
    pub fn mark_removed(&mut self, id: Uuid, now: Timestamp) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE deployments SET removed_at = ?2 WHERE id = ?1",
            params![id.to_string(), ts(now)],
        )?;
        Ok(())
    }

    const DEPLOYMENT_COLUMNS: &'static str =
        "spec, status, file, resource_version, created_at, modified_at, removed_at";

    fn read_deployment(r: &rusqlite::Row<'_>) -> rusqlite::Result<[Option<String>; 7]> {
        Ok([
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get::<_, i64>(3).map(|v| Some(v.to_string()))?,
            r.get(4)?,
            r.get(5)?,
            r.get(6)?,
        ])
    }

    fn decode_deployment(row: [Option<String>; 7]) -> Result<StoredDeployment, StoreError> {
        let [spec, status, file, rv, created, modified, removed] = row;
        let mut d: Deployment = from_json(spec.as_deref().unwrap_or("null"))?;
        d.status = status.as_deref().map(from_json).transpose()?;
        d.metadata.resource_version = rv.and_then(|v| v.parse().ok());
        d.metadata.created_at = created.as_deref().map(parse_ts).transpose()?;
        d.metadata.modified_at = modified.as_deref().map(parse_ts).transpose()?;
        Ok(StoredDeployment {
            deployment: d,
            file,
            removed: removed.is_some(),
        })
    }

    pub fn deployment_by_id(&self, id: Uuid) -> Result<Option<StoredDeployment>, StoreError> {
        let sql = format!(
            "SELECT {} FROM deployments WHERE id = ?1",
            Self::DEPLOYMENT_COLUMNS
        );
        let row = self
            .conn
            .query_row(&sql, params![id.to_string()], Self::read_deployment)
            .optional()?;
        row.map(Self::decode_deployment).transpose()
    }

    pub fn deployment(&self, identity: &Identity) -> Result<Option<StoredDeployment>, StoreError> {
        let sql = format!(
            "SELECT {} FROM deployments WHERE namespace = ?1 AND name = ?2",
            Self::DEPLOYMENT_COLUMNS
        );
        let row = self
            .conn
            .query_row(
                &sql,
                params![identity.namespace, identity.name],
                Self::read_deployment,
            )
            .optional()?;
        row.map(Self::decode_deployment).transpose()
    }

    /// Deployments, by namespace and name; all namespaces when `namespace` is `None`.
    pub fn deployments(
        &self,
        namespace: Option<&str>,
    ) -> Result<Vec<StoredDeployment>, StoreError> {
        let sql = format!(
            "SELECT {} FROM deployments WHERE ?1 IS NULL OR namespace = ?1 ORDER BY namespace, name",
            Self::DEPLOYMENT_COLUMNS
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(params![namespace], Self::read_deployment)?;
        rows.map(|r| Self::decode_deployment(r?)).collect()
    }

    /// Inserts or replaces a Job record.
    pub fn put_job(&mut self, job: &Job) -> Result<(), StoreError> {
        let m = &job.metadata;
        self.conn.execute(
            "INSERT INTO jobs (id, deployment_id, state, created_at, body) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (id) DO UPDATE SET state = excluded.state, body = excluded.body",
            params![m.id.to_string(), m.deployment_id.to_string(), job.status.state.as_str(), ts(m.created_at), json(job)?],
        )?;
        Ok(())
    }

    pub fn job(&self, id: Uuid) -> Result<Option<Job>, StoreError> {
        let body: Option<String> = self
            .conn
            .query_row(
                "SELECT body FROM jobs WHERE id = ?1",
                params![id.to_string()],
                |r| r.get(0),
            )
            .optional()?;
        body.as_deref().map(from_json).transpose()
    }

    /// A Deployment's Jobs, oldest first.
    pub fn jobs(&self, deployment_id: Uuid) -> Result<Vec<Job>, StoreError> {
        self.bodies(
            "SELECT body FROM jobs WHERE deployment_id = ?1 ORDER BY created_at, rowid",
            deployment_id,
        )
    }

    /// Inserts or replaces a Savepoint record.
    pub fn put_savepoint(&mut self, sp: &Savepoint) -> Result<(), StoreError> {
        let m = &sp.metadata;
        self.conn.execute(
            "INSERT INTO savepoints (id, deployment_id, job_id, origin, state, created_at, body)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (id) DO UPDATE SET state = excluded.state, body = excluded.body",
            params![
                m.id.to_string(),
                m.deployment_id.to_string(),
                m.job_id.map(|j| j.to_string()),
                sp.origin.as_str(),
                sp.state.as_str(),
                ts(m.created_at),
                json(sp)?
            ],
        )?;
        Ok(())
    }

    /// A Deployment's Savepoints, oldest first.
    pub fn savepoints(&self, deployment_id: Uuid) -> Result<Vec<Savepoint>, StoreError> {
        self.bodies(
            "SELECT body FROM savepoints WHERE deployment_id = ?1 ORDER BY created_at, rowid",
            deployment_id,
        )
    }

    fn bodies<T: DeserializeOwned>(
        &self,
        sql: &str,
        deployment_id: Uuid,
    ) -> Result<Vec<T>, StoreError> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let rows = stmt.query_map(params![deployment_id.to_string()], |r| {
            r.get::<_, String>(0)
        })?;
        rows.map(|b| from_json(&b?)).collect()
    }

    /// Appends to a Deployment's event log, dropping its oldest events beyond the cap.
    /// Returns the event's sequence number.
    pub fn append_event(&mut self, event: &Event) -> Result<i64, StoreError> {
        let tx = self.conn.savepoint()?;
        tx.execute(
            "INSERT INTO events (deployment_id, job_id, namespace, created_at, name, level, message)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                event.deployment_id.to_string(),
                event.job_id.map(|j| j.to_string()),
                event.namespace,
                ts(event.created_at),
                event.name,
                serde_json::to_value(event.level)?.as_str().unwrap_or("INFO"),
                event.message
            ],
        )?;
        let seq = tx.last_insert_rowid();
        // Everything at or below the (cap + 1)-th newest event goes.
        tx.execute(
            "DELETE FROM events WHERE deployment_id = ?1 AND seq <= (
                 SELECT seq FROM events WHERE deployment_id = ?1 ORDER BY seq DESC LIMIT 1 OFFSET ?2)",
            params![event.deployment_id.to_string(), self.max_events],
        )?;
        tx.commit()?;
        Ok(seq)
    }

    /// A Deployment's events, oldest first.
    pub fn events(&self, deployment_id: Uuid) -> Result<Vec<Event>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, job_id, namespace, created_at, name, level, message FROM events
             WHERE deployment_id = ?1 ORDER BY seq",
        )?;
        let rows = stmt.query_map(params![deployment_id.to_string()], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
            ))
        })?;
        rows.map(|row| {
            let (seq, job_id, namespace, created_at, name, level, message) = row?;
            Ok(Event {
                seq,
                deployment_id,
                job_id: job_id.as_deref().map(parse_id).transpose()?,
                namespace,
                created_at: parse_ts(&created_at)?,
                name,
                level: serde_json::from_value(serde_json::Value::String(level))?,
                message,
            })
        })
        .collect()
    }

    /// Records the lifecycle's counters of a Deployment (any serializable shape).
    pub fn put_counters<T: Serialize>(
        &mut self,
        deployment_id: Uuid,
        counters: &T,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO counters (deployment_id, body) VALUES (?1, ?2)
             ON CONFLICT (deployment_id) DO UPDATE SET body = excluded.body",
            params![deployment_id.to_string(), json(counters)?],
        )?;
        Ok(())
    }

    pub fn counters<T: DeserializeOwned>(
        &self,
        deployment_id: Uuid,
    ) -> Result<Option<T>, StoreError> {
        let body: Option<String> = self
            .conn
            .query_row(
                "SELECT body FROM counters WHERE deployment_id = ?1",
                params![deployment_id.to_string()],
                |r| r.get(0),
            )
            .optional()?;
        body.as_deref().map(from_json).transpose()
    }

    /// Records the handle of a cluster started for a Job, before it is started.
    pub fn put_cluster<T: Serialize>(
        &mut self,
        job_id: Uuid,
        deployment_id: Uuid,
        target: &str,
        handle: &T,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO clusters (job_id, deployment_id, target, body, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (job_id) DO UPDATE SET target = excluded.target, body = excluded.body",
            params![job_id.to_string(), deployment_id.to_string(), target, json(handle)?, ts(now)],
        )?;
        Ok(())
    }

    /// How many Deployments (not removed) are in each state, and how many of their
    /// Jobs and Savepoints: `(state, count)` as the records spell the state. One query
    /// each, whatever the number of Deployments (for `/metrics`).
    pub fn state_counts(&self) -> Result<StateCounts, StoreError> {
        let counts = |sql: &str| -> Result<Vec<(String, i64)>, StoreError> {
            let mut stmt = self.conn.prepare(sql)?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, Option<String>>(0)?.unwrap_or_default(),
                    r.get(1)?,
                ))
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        };
        Ok(StateCounts {
            deployments: counts(
                "SELECT json_extract(status, '$.state'), count(*) FROM deployments
                 WHERE removed_at IS NULL GROUP BY 1",
            )?,
            jobs: counts(
                "SELECT j.state, count(*) FROM jobs j JOIN deployments d ON d.id = j.deployment_id
                 WHERE d.removed_at IS NULL GROUP BY 1",
            )?,
            savepoints: counts(
                "SELECT s.state, count(*) FROM savepoints s JOIN deployments d ON d.id = s.deployment_id
                 WHERE d.removed_at IS NULL GROUP BY 1",
            )?,
        })
    }

    /// The recorded cluster of one job: `(target, handle)`.
    pub fn cluster<T: DeserializeOwned>(
        &self,
        job_id: Uuid,
    ) -> Result<Option<(String, T)>, StoreError> {
        let row: Option<(String, String)> = self
            .conn
            .query_row(
                "SELECT target, body FROM clusters WHERE job_id = ?1",
                params![job_id.to_string()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        row.map(|(target, body)| Ok((target, from_json(&body)?)))
            .transpose()
    }

    /// Forgets a cluster once it is verified gone.
    pub fn remove_cluster(&mut self, job_id: Uuid) -> Result<(), StoreError> {
        self.conn.execute(
            "DELETE FROM clusters WHERE job_id = ?1",
            params![job_id.to_string()],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{
        DeploymentState, EventLevel, JobSpec, JobState, JobStatus, Metadata, RecordMetadata,
        SavepointOrigin, SavepointState, API_VERSION,
    };
    use time::macros::datetime;

    const T0: Timestamp = datetime!(2026-11-24 10:00:00 UTC);
    const T1: Timestamp = datetime!(2026-11-24 10:05:00 UTC);

    fn identity(name: &str) -> Identity {
        Identity {
            namespace: "default".into(),
            name: name.into(),
        }
    }

    fn deployment(id: Uuid, name: &str, parallelism: i64) -> Deployment {
        let spec: crate::spec::DeploymentSpec = serde_json::from_value(serde_json::json!({
            "state": "RUNNING",
            "template": {"spec": {"parallelism": parallelism, "artifact": {"jarUri": "/j.jar"}}}
        }))
        .unwrap();
        Deployment {
            kind: Kind::Deployment,
            api_version: API_VERSION.into(),
            metadata: Metadata {
                id: Some(id),
                name: name.into(),
                namespace: Some("default".into()),
                ..Metadata::default()
            },
            spec,
            status: None,
        }
    }

    fn record(deployment_id: Uuid, at: Timestamp) -> RecordMetadata {
        RecordMetadata {
            id: Uuid::new_v4(),
            namespace: "default".into(),
            deployment_id,
            job_id: None,
            created_at: at,
            modified_at: at,
        }
    }

    #[test]
    fn ids_are_assigned_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("f.db"), 10).unwrap();
        let a = s.ensure_id(Kind::Deployment, &identity("a"), None).unwrap();
        assert_eq!(
            s.ensure_id(Kind::Deployment, &identity("a"), None).unwrap(),
            a
        );
        // A given id is kept.
        let given = Uuid::new_v4();
        assert_eq!(
            s.ensure_id(Kind::Deployment, &identity("b"), Some(given))
                .unwrap(),
            given
        );
        // Another resource cannot take it.
        let err = s
            .ensure_id(Kind::Deployment, &identity("c"), Some(given))
            .unwrap_err();
        assert!(matches!(err, StoreError::IdConflict { .. }), "{err}");
        // Kinds have separate id spaces only by identity; the same name in another kind
        // gets its own id.
        let t = s
            .ensure_id(Kind::DeploymentTarget, &identity("a"), None)
            .unwrap();
        assert_ne!(t, a);
    }

    #[test]
    fn everything_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/flinkd.db");
        let id = Uuid::new_v4();
        let (job, sp) = {
            let mut s = Store::open(&path, 10).unwrap();
            assert_eq!(
                s.ensure_id(Kind::Deployment, &identity("top"), Some(id))
                    .unwrap(),
                id
            );
            let stored = s
                .put_deployment(&deployment(id, "top", 1), Some("top.yaml"), T0)
                .unwrap();
            assert_eq!(stored.metadata.resource_version, Some(1));
            assert_eq!(stored.metadata.created_at, Some(T0));
            s.put_status(
                id,
                &DeploymentStatus {
                    state: DeploymentState::Transitioning,
                    running: None,
                },
                T1,
            )
            .unwrap();
            let job = Job {
                metadata: record(id, T0),
                spec: JobSpec {
                    template: Default::default(),
                    template_hash: "h".into(),
                    restore_savepoint_id: None,
                    savepoint_location: None,
                    allow_non_restored_state: false,
                },
                status: JobStatus {
                    state: JobState::Starting,
                    flink_job_id: None,
                    started_at: None,
                    terminated_at: None,
                    failure: None,
                },
            };
            s.put_job(&job).unwrap();
            let sp = Savepoint {
                metadata: RecordMetadata {
                    job_id: Some(job.metadata.id),
                    ..record(id, T1)
                },
                origin: SavepointOrigin::Suspend,
                state: SavepointState::Completed,
                location: Some("file:///tmp/sp-1".into()),
                trigger_id: None,
                failure: None,
            };
            s.put_savepoint(&sp).unwrap();
            s.append_event(&Event {
                seq: 0,
                deployment_id: id,
                job_id: Some(job.metadata.id),
                namespace: "default".into(),
                created_at: T1,
                name: "JOB_SUCCESSFULLY_STARTED".into(),
                level: EventLevel::Info,
                message: "started".into(),
            })
            .unwrap();
            s.put_counters(id, &serde_json::json!({"jobCreationAttempts": 2}))
                .unwrap();
            s.put_cluster(
                job.metadata.id,
                id,
                "local",
                &serde_json::json!({"pids": [1, 2]}),
                T0,
            )
            .unwrap();
            (job, sp)
        };
        let s = Store::open(&path, 10).unwrap();
        assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
        let d = s.deployment(&identity("top")).unwrap().unwrap();
        assert_eq!(d.file.as_deref(), Some("top.yaml"));
        assert_eq!(d.deployment.metadata.id, Some(id));
        assert_eq!(d.deployment.metadata.resource_version, Some(2));
        assert_eq!(d.deployment.metadata.modified_at, Some(T1));
        assert_eq!(
            d.deployment.status.unwrap().state,
            DeploymentState::Transitioning
        );
        assert_eq!(s.jobs(id).unwrap(), vec![job.clone()]);
        assert_eq!(s.job(job.metadata.id).unwrap(), Some(job.clone()));
        assert_eq!(s.savepoints(id).unwrap(), vec![sp]);
        let events = s.events(id).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].name, "JOB_SUCCESSFULLY_STARTED");
        assert_eq!(events[0].created_at, T1);
        let c: serde_json::Value = s.counters(id).unwrap().unwrap();
        assert_eq!(c["jobCreationAttempts"], 2);
        let (target, cluster): (String, serde_json::Value) =
            s.cluster(job.metadata.id).unwrap().unwrap();
        assert_eq!(target, "local");
        assert_eq!(cluster["pids"][1], 2);
        assert!(s
            .cluster::<serde_json::Value>(Uuid::new_v4())
            .unwrap()
            .is_none());
    }

    #[test]
    fn resource_version_moves_only_when_the_spec_changes() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("f.db"), 10).unwrap();
        let id = Uuid::new_v4();
        let v1 = s.put_deployment(&deployment(id, "a", 1), None, T0).unwrap();
        let same = s.put_deployment(&deployment(id, "a", 1), None, T1).unwrap();
        assert_eq!(same.metadata.resource_version, v1.metadata.resource_version);
        assert_eq!(same.metadata.modified_at, Some(T0));
        let changed = s.put_deployment(&deployment(id, "a", 2), None, T1).unwrap();
        assert_eq!(changed.metadata.resource_version, Some(2));
        assert_eq!(changed.metadata.created_at, Some(T0));
        assert_eq!(changed.metadata.modified_at, Some(T1));
        assert_eq!(s.deployments(None).unwrap().len(), 1);
        assert_eq!(s.deployments(Some("other")).unwrap().len(), 0);
        s.mark_removed(id, T1).unwrap();
        assert!(s.deployment_by_id(id).unwrap().unwrap().removed);
    }

    #[test]
    fn events_are_capped_per_deployment() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("f.db"), 3).unwrap();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        for i in 0..5 {
            for d in [a, b] {
                s.append_event(&Event {
                    seq: 0,
                    deployment_id: d,
                    job_id: None,
                    namespace: "default".into(),
                    created_at: T0,
                    name: format!("E{i}"),
                    level: EventLevel::Info,
                    message: String::new(),
                })
                .unwrap();
            }
        }
        for d in [a, b] {
            let names: Vec<String> = s.events(d).unwrap().into_iter().map(|e| e.name).collect();
            assert_eq!(names, ["E2", "E3", "E4"]);
        }
    }

    #[test]
    fn atomically_is_all_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("f.db"), 10).unwrap();
        let id = Uuid::new_v4();
        s.put_deployment(&deployment(id, "a", 1), None, T0).unwrap();
        let err = s.atomically(|s| {
            s.put_counters(id, &1)?;
            s.ensure_id(Kind::Deployment, &identity("x"), None)?;
            s.put_status(
                Uuid::new_v4(),
                &DeploymentStatus {
                    state: DeploymentState::Running,
                    running: None,
                },
                T1,
            )
        });
        assert!(err.is_err());
        assert_eq!(s.counters::<i32>(id).unwrap(), None, "rolled back");
        s.atomically(|s| {
            s.put_counters(id, &2)?;
            s.ensure_id(Kind::Deployment, &identity("x"), None)
                .map(|_| ())
        })
        .unwrap();
        assert_eq!(s.counters::<i32>(id).unwrap(), Some(2));
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.db");
        drop(Store::open(&path, 10).unwrap());
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        drop(conn);
        let err = Store::open(&path, 10).err().unwrap();
        assert!(matches!(err, StoreError::TooNew { .. }), "{err}");
    }

    #[test]
    fn wal_and_full_sync_are_on() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("f.db"), 10).unwrap();
        let mode: String = s
            .conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        let sync: i64 = s
            .conn
            .pragma_query_value(None, "synchronous", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        assert_eq!(sync, 2, "FULL");
    }

    #[test]
    fn a_group_commits_together_and_a_failed_piece_alone_is_undone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.db");
        let mut s = Store::open(&path, 10).unwrap();
        let ok = |name: &'static str| {
            move |s: &mut Store| {
                let r = s.ensure_id(Kind::Deployment, &identity(name), None);
                (r.is_ok(), r.ok())
            }
        };
        let failing = |s: &mut Store| {
            // Writes, then fails: its write must not survive.
            let r = s.atomically(|s| {
                s.ensure_id(Kind::Deployment, &identity("undone"), None)?;
                Err::<Uuid, _>(StoreError::NoDeployment(Uuid::nil()))
            });
            (r.is_ok(), r.ok())
        };
        type Piece = Box<dyn FnOnce(&mut Store) -> (bool, Option<Uuid>)>;
        let pieces: Vec<Piece> = vec![Box::new(ok("a")), Box::new(failing), Box::new(ok("b"))];
        let out = s.group(pieces).unwrap();
        assert!(out[0].is_some() && out[1].is_none() && out[2].is_some());
        drop(s);
        let mut again = Store::open(&path, 10).unwrap();
        let known = |s: &Store, name: &str| {
            s.conn
                .query_row(
                    "SELECT count(*) FROM resource_ids WHERE name = ?1",
                    params![name],
                    |r| r.get::<_, i64>(0),
                )
                .unwrap()
        };
        assert_eq!(known(&again, "a"), 1);
        assert_eq!(known(&again, "b"), 1);
        assert_eq!(known(&again, "undone"), 0);
        assert_eq!(
            again
                .ensure_id(Kind::Deployment, &identity("a"), None)
                .unwrap(),
            out[0].unwrap()
        );
    }

    #[test]
    fn processes_opening_a_new_file_at_once_migrate_it_once() {
        for _ in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("f.db");
            let openers: Vec<_> = (0..4)
                .map(|_| {
                    let path = path.clone();
                    std::thread::spawn(move || Store::open(&path, 10).map(|s| s.schema_version()))
                })
                .collect();
            for o in openers {
                let version = o.join().unwrap().unwrap().unwrap();
                assert_eq!(version, SCHEMA_VERSION);
            }
        }
    }
}
