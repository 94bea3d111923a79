//! The store: everything flinkd knows that is not in the users' files, in one SQLite file
//! under `state_dir`.
//!
//! It holds each Deployment's id, last valid spec and status; its Jobs, Savepoints and
//! event log; each lifecycle's state; and the handles of the clusters flinkd started,
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

use crate::spec::{Deployment, DeploymentStatus, Identity, Kind, Timestamp};

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
    /// The file cannot be used as a store: named, never replaced by a new one.
    #[error("{path}: {source}; flinkd never replaces a store: restore it from a backup, or move it away to start with an empty one")]
    Unusable {
        path: String,
        source: Box<StoreError>,
    },
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
    // 2: the lifecycle's table is named for what it holds; a Deployment keeps what its
    // policy is computed from (its file's own spec, where it runs), so that it can be
    // managed from the store alone (its file broken or gone while flinkd was down).
    r#"
    ALTER TABLE counters RENAME TO lifecycles;
    ALTER TABLE deployments ADD COLUMN source TEXT;
    "#,
    // 3: what `/metrics` counts is read from indexes alone, not from every
    // Deployment's, Job's and Savepoint's JSON.
    r#"
    ALTER TABLE deployments ADD COLUMN status_state TEXT
        GENERATED ALWAYS AS (json_extract(status, '$.state')) VIRTUAL;
    CREATE INDEX deployments_by_state ON deployments (removed_at, status_state, id);
    CREATE INDEX jobs_by_state ON jobs (deployment_id, state);
    CREATE INDEX savepoints_by_state ON savepoints (deployment_id, state);
    "#,
    // 4: this flinkd's instance id, made once: its Kubernetes objects carry it, and a
    // sweep tells its orphans by it.
    r#"
    CREATE TABLE settings (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    INSERT INTO settings (key, value) VALUES ('instance', lower(hex(randomblob(8))));
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
    /// JSON: what the Deployment's policy is computed from (see the DeploymentActor).
    pub source: Option<String>,
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
                Err(e @ StoreError::TooNew { .. })
                | Err(e @ StoreError::Sqlite(_))
                | Err(e @ StoreError::Damaged(_)) => {
                    return Err(StoreError::Unusable {
                        path: path.display().to_string(),
                        source: Box::new(e),
                    })
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
        // Every statement the store runs, parsed once (a step runs a dozen).
        conn.set_prepared_statement_cache_capacity(128);
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
        self.run(begin)?;
        match f(self) {
            Ok(r) => {
                self.run(commit)?;
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
        if self.run("BEGIN IMMEDIATE").is_err() {
            return Ok(work.into_iter().map(|w| w(self).1).collect());
        }
        let mut out = Vec::new();
        for w in work {
            let _ = self.run("SAVEPOINT piece");
            let (ok, t) = w(self);
            if ok {
                let _ = self.run("RELEASE piece");
            } else {
                let _ = self.conn.execute_batch("ROLLBACK TO piece; RELEASE piece");
            }
            out.push(t);
        }
        match self.run("COMMIT") {
            Ok(()) => Ok(out),
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err((out, e))
            }
        }
    }

    /// Runs one statement with no parameters, parsed once per connection.
    fn run(&self, sql: &str) -> Result<(), StoreError> {
        self.conn.prepare_cached(sql)?.execute([])?;
        Ok(())
    }

    /// Runs one statement, parsed once per connection: what `Connection::execute` does
    /// without parsing it again each time.
    pub(crate) fn exec(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<usize, StoreError> {
        Ok(self.conn.prepare_cached(sql)?.execute(params)?)
    }

    /// One row of a query, parsed once per connection.
    pub(crate) fn row<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        f: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        self.conn.prepare_cached(sql)?.query_row(params, f)
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
        let recorded: Option<String> = row_on(
            &tx,
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
                    let owner: Option<(String, String)> = row_on(
                        &tx,
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
                    exec_on(&tx,
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
        let old: Option<(String, i64)> = row_on(
            &tx,
            "SELECT spec_hash, resource_version FROM deployments WHERE id = ?1",
            params![id.to_string()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
        match old {
            None => {
                exec_on(&tx,
                    "INSERT INTO deployments (id, namespace, name, spec, spec_hash, file, resource_version, created_at, modified_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7, ?7)",
                    params![id.to_string(), m.namespace(), m.name, body, hash, file, ts(now)],
                )?;
            }
            Some((old_hash, _)) if old_hash == hash => {
                exec_on(
                    &tx,
                    "UPDATE deployments SET file = ?2, removed_at = NULL WHERE id = ?1",
                    params![id.to_string(), file],
                )?;
            }
            Some(_) => {
                exec_on(&tx,
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
        let n = self.exec(
            "UPDATE deployments SET status = ?2, resource_version = resource_version + 1, modified_at = ?3 WHERE id = ?1",
            params![id.to_string(), json(status)?, ts(now)],
        )?;
        if n == 0 {
            return Err(StoreError::NoDeployment(id));
        }
        Ok(())
    }

    /// Records what a Deployment's policy is computed from (JSON).
    pub fn put_source(&mut self, id: Uuid, source: &str) -> Result<(), StoreError> {
        self.exec(
            "UPDATE deployments SET source = ?2 WHERE id = ?1",
            params![id.to_string(), source],
        )?;
        Ok(())
    }

    /// Marks a Deployment whose file is gone; its Jobs, Savepoints and events stay.
    pub fn mark_removed(&mut self, id: Uuid, now: Timestamp) -> Result<(), StoreError> {
        self.exec(
            "UPDATE deployments SET removed_at = ?2 WHERE id = ?1",
            params![id.to_string(), ts(now)],
        )?;
        Ok(())
    }

    const DEPLOYMENT_COLUMNS: &'static str =
        "spec, status, file, resource_version, created_at, modified_at, removed_at, source";

    fn read_deployment(r: &rusqlite::Row<'_>) -> rusqlite::Result<[Option<String>; 8]> {
        Ok([
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get::<_, i64>(3).map(|v| Some(v.to_string()))?,
            r.get(4)?,
            r.get(5)?,
            r.get(6)?,
            r.get(7)?,
        ])
    }

    fn decode_deployment(row: [Option<String>; 8]) -> Result<StoredDeployment, StoreError> {
        let [spec, status, file, rv, created, modified, removed, source] = row;
        let mut d: Deployment = from_json(spec.as_deref().unwrap_or("null"))?;
        d.status = status.as_deref().map(from_json).transpose()?;
        d.metadata.resource_version = rv.and_then(|v| v.parse().ok());
        d.metadata.created_at = created.as_deref().map(parse_ts).transpose()?;
        d.metadata.modified_at = modified.as_deref().map(parse_ts).transpose()?;
        Ok(StoredDeployment {
            deployment: d,
            file,
            removed: removed.is_some(),
            source,
        })
    }

    pub fn deployment_by_id(&self, id: Uuid) -> Result<Option<StoredDeployment>, StoreError> {
        let sql = format!(
            "SELECT {} FROM deployments WHERE id = ?1",
            Self::DEPLOYMENT_COLUMNS
        );
        let row = self
            .row(&sql, params![id.to_string()], Self::read_deployment)
            .optional()?;
        row.map(Self::decode_deployment).transpose()
    }

    pub fn deployment(&self, identity: &Identity) -> Result<Option<StoredDeployment>, StoreError> {
        let sql = format!(
            "SELECT {} FROM deployments WHERE namespace = ?1 AND name = ?2",
            Self::DEPLOYMENT_COLUMNS
        );
        let row = self
            .row(
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
}

mod records;

/// `Connection::execute` with the statement parsed once per connection.
pub(crate) fn exec_on(
    c: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> rusqlite::Result<usize> {
    c.prepare_cached(sql)?.execute(params)
}

/// `Connection::query_row` with the statement parsed once per connection.
pub(crate) fn row_on<T>(
    c: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    f: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    c.prepare_cached(sql)?.query_row(params, f)
}

#[cfg(test)]
mod tests;
