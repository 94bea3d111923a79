//! The records a Deployment accumulates: its Jobs, Savepoints and event log, its
//! lifecycle state, and the handles of the clusters its jobs run on.

use rusqlite::{params, OptionalExtension};
use serde::de::DeserializeOwned;
use serde::Serialize;
use uuid::Uuid;

use super::{exec_on, from_json, json, parse_id, parse_ts, ts, StateCounts, Store, StoreError};
use crate::spec::{Event, Job, Savepoint, Timestamp};

impl Store {
    /// Inserts or replaces a Job record.
    pub fn put_job(&mut self, job: &Job) -> Result<(), StoreError> {
        let m = &job.metadata;
        self.exec(
            "INSERT INTO jobs (id, deployment_id, state, created_at, body) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (id) DO UPDATE SET state = excluded.state, body = excluded.body",
            params![m.id.to_string(), m.deployment_id.to_string(), job.status.state.as_str(), ts(m.created_at), json(job)?],
        )?;
        Ok(())
    }

    pub fn job(&self, id: Uuid) -> Result<Option<Job>, StoreError> {
        let body: Option<String> = self
            .row(
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
        self.exec(
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

    /// Removes a Savepoint record (after its files were disposed of).
    pub fn delete_savepoint(&mut self, id: Uuid) -> Result<(), StoreError> {
        self.exec(
            "DELETE FROM savepoints WHERE id = ?1",
            params![id.to_string()],
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
        exec_on(&tx,
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
        exec_on(&tx,
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
            "SELECT seq, deployment_id, job_id, namespace, created_at, name, level, message
             FROM events WHERE deployment_id = ?1 ORDER BY seq",
        )?;
        let rows = stmt.query_map(params![deployment_id.to_string()], event_row)?;
        rows.map(|row| event_of(row?)).collect()
    }

    /// At most `limit` events of a namespace (of one Deployment, if given) after the
    /// sequence number `after`, oldest first: one page of a log too long to read whole.
    pub fn events_page(
        &self,
        namespace: &str,
        deployment_id: Option<Uuid>,
        after: i64,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, deployment_id, job_id, namespace, created_at, name, level, message
             FROM events WHERE namespace = ?1 AND (?2 IS NULL OR deployment_id = ?2) AND seq > ?3
             ORDER BY seq LIMIT ?4",
        )?;
        let rows = stmt.query_map(
            params![
                namespace,
                deployment_id.map(|d| d.to_string()),
                after,
                limit
            ],
            event_row,
        )?;
        rows.map(|row| event_of(row?)).collect()
    }

    /// Records a Deployment's lifecycle state (its phase, counters, deadlines).
    pub fn put_lifecycle<T: Serialize>(
        &mut self,
        deployment_id: Uuid,
        lifecycle: &T,
    ) -> Result<(), StoreError> {
        self.exec(
            "INSERT INTO lifecycles (deployment_id, body) VALUES (?1, ?2)
             ON CONFLICT (deployment_id) DO UPDATE SET body = excluded.body",
            params![deployment_id.to_string(), json(lifecycle)?],
        )?;
        Ok(())
    }

    /// A Deployment's lifecycle state as recorded (JSON, read by the lifecycle, which
    /// also reads what earlier versions of flinkd wrote).
    pub fn lifecycle(&self, deployment_id: Uuid) -> Result<Option<String>, StoreError> {
        Ok(self
            .row(
                "SELECT body FROM lifecycles WHERE deployment_id = ?1",
                params![deployment_id.to_string()],
                |r| r.get(0),
            )
            .optional()?)
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
        self.exec(
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
            let mut stmt = self.conn.prepare_cached(sql)?;
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
                "SELECT status_state, count(*) FROM deployments
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
            .row(
                "SELECT target, body FROM clusters WHERE job_id = ?1",
                params![job_id.to_string()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        row.map(|(target, body)| Ok((target, from_json(&body)?)))
            .transpose()
    }

    /// The jobs whose clusters are on record (not yet verified gone).
    pub fn recorded_clusters(&self) -> Result<std::collections::HashSet<Uuid>, StoreError> {
        let mut stmt = self.conn.prepare("SELECT job_id FROM clusters")?;
        let ids = stmt.query_map([], |r| r.get::<_, String>(0))?;
        ids.map(|id| parse_id(&id?)).collect()
    }

    /// Forgets a cluster once it is verified gone.
    /// The clusters on record on one target (`target` column), with their jobs.
    pub fn clusters_on<T: DeserializeOwned>(
        &self,
        target: &str,
    ) -> Result<Vec<(Uuid, T)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT job_id, body FROM clusters WHERE target = ?1")?;
        let rows = stmt.query_map(params![target], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        let mut found = Vec::new();
        for row in rows {
            let (job, body) = row?;
            found.push((parse_id(&job)?, from_json(&body)?));
        }
        Ok(found)
    }

    /// This flinkd's instance id (made with the store).
    pub fn instance_id(&self) -> Result<String, StoreError> {
        Ok(self.row(
            "SELECT value FROM settings WHERE key = 'instance'",
            params![],
            |r| r.get(0),
        )?)
    }

    pub fn remove_cluster(&mut self, job_id: Uuid) -> Result<(), StoreError> {
        self.exec(
            "DELETE FROM clusters WHERE job_id = ?1",
            params![job_id.to_string()],
        )?;
        Ok(())
    }
}

type EventRow = (
    i64,
    String,
    Option<String>,
    String,
    String,
    String,
    String,
    String,
);

fn event_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<EventRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
    ))
}

fn event_of(row: EventRow) -> Result<Event, StoreError> {
    let (seq, deployment_id, job_id, namespace, created_at, name, level, message) = row;
    Ok(Event {
        seq,
        deployment_id: parse_id(&deployment_id)?,
        job_id: job_id.as_deref().map(parse_id).transpose()?,
        namespace,
        created_at: parse_ts(&created_at)?,
        name,
        level: serde_json::from_value(serde_json::Value::String(level))?,
        message,
    })
}
