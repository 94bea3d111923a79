use super::*;
use crate::spec::{
    DeploymentState, Event, EventLevel, Job, JobSpec, JobState, JobStatus, Metadata,
    RecordMetadata, Savepoint, SavepointOrigin, SavepointState, API_VERSION,
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
                flink_ui: None,
                state: DeploymentState::Transitioning,
                running: None,
                problems: Vec::new(),
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
        s.put_lifecycle(id, &serde_json::json!({"jobCreationAttempts": 2}))
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
    let c: serde_json::Value = serde_json::from_str(&s.lifecycle(id).unwrap().unwrap()).unwrap();
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
        s.put_lifecycle(id, &1)?;
        s.ensure_id(Kind::Deployment, &identity("x"), None)?;
        s.put_status(
            Uuid::new_v4(),
            &DeploymentStatus {
                flink_ui: None,
                state: DeploymentState::Running,
                running: None,
                problems: Vec::new(),
            },
            T1,
        )
    });
    assert!(err.is_err());
    assert_eq!(s.lifecycle(id).unwrap(), None, "rolled back");
    s.atomically(|s| {
        s.put_lifecycle(id, &2)?;
        s.ensure_id(Kind::Deployment, &identity("x"), None)
            .map(|_| ())
    })
    .unwrap();
    assert_eq!(s.lifecycle(id).unwrap().as_deref(), Some("2"));
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
    assert!(
        matches!(&err, StoreError::Unusable { source, .. } if matches!(**source, StoreError::TooNew { .. })),
        "{err}"
    );
    assert!(
        err.to_string()
            .starts_with(&format!("{}: ", path.display())),
        "{err}"
    );
}

#[test]
fn a_file_that_is_not_a_store_is_named_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flinkd.db");
    let junk = b"this is not a database, and it holds someone's data".repeat(100);
    std::fs::write(&path, &junk).unwrap();
    let err = Store::open(&path, 10).err().unwrap().to_string();
    assert!(err.starts_with(&format!("{}: ", path.display())), "{err}");
    assert!(err.contains("not a database"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), junk, "never replaced");
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
