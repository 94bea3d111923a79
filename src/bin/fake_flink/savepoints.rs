//! The fake's savepoints: triggered, stopped with, completed (written on disk where
//! the cluster has a savepoint directory), asked about, disposed of.

use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::{epoch_ms, lock, log, Fake, Operation, Shared};

fn savepoint_op(
    s: &Shared,
    id: &str,
    stop: bool,
    body: Option<Value>,
) -> (StatusCode, Json<Value>) {
    let mut f = lock(s);
    let trigger = body
        .as_ref()
        .and_then(|b| b.get("triggerId"))
        .and_then(Value::as_str)
        .map(str::to_string);
    // Asked again under its own id: the same operation.
    if let Some(t) = trigger.as_ref().filter(|t| f.operations.contains_key(*t)) {
        return (StatusCode::ACCEPTED, Json(json!({"request-id": t})));
    }
    f.tick(id);
    let running = f.jobs.get(id).is_some_and(|j| j.state == "RUNNING");
    if let Some(j) = f.jobs.get_mut(id) {
        j.asked_to_stop();
    }
    f.savepoints_taken += 1;
    let n = f.savepoints_taken;
    let setting = |key: &str| {
        f.conf
            .get(key)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let fail_first = setting("fake.savepoint.fail-first");
    let delay = setting("fake.savepoint.delay-ms");
    let outcome = if !running {
        Err(format!("org.apache.flink.runtime.checkpoint.CheckpointException: job {id} is not RUNNING\n\tat org.apache.flink.Fake.savepoint(Fake.java:1)"))
    } else if u64::from(n) <= fail_first {
        Err(format!("java.lang.Exception: injected savepoint failure {n}\n\tat org.apache.flink.Fake.savepoint(Fake.java:1)"))
    } else {
        // Under the cluster's savepoint directory where it has one (written for real at
        // completion, as Flink does), else nowhere on disk.
        let name = format!("savepoint-{}-{n}", &id[..id.len().min(6)]);
        Ok(match f.conf.get("state.savepoints.dir") {
            Some(dir) if dir.starts_with("file:") => {
                format!("{}/{name}", dir.trim_end_matches('/'))
            }
            _ => format!("file:/fake/savepoints/{name}"),
        })
    };
    let request = trigger.unwrap_or_else(|| f.next_id());
    let op = Operation {
        job: id.to_string(),
        done_at: Instant::now() + Duration::from_millis(delay),
        done_ms: epoch_ms() + u128::from(delay),
        stops: stop && outcome.is_ok(),
        outcome,
        resolved: false,
    };
    f.operations.insert(request.clone(), op);
    (StatusCode::ACCEPTED, Json(json!({"request-id": request})))
}

/// Operations that are complete: a stop's job ends with its savepoint.
pub(super) fn complete_operations(f: &mut Fake) {
    let now = Instant::now();
    let mut due: Vec<(Instant, String)> = f
        .operations
        .iter()
        .filter(|(_, o)| !o.resolved && now >= o.done_at)
        .map(|(r, o)| (o.done_at, r.clone()))
        .collect();
    due.sort();
    for (_, request) in due {
        let Some(op) = f.operations.get(&request).cloned() else {
            continue;
        };
        let running = f.jobs.get(&op.job).is_some_and(|j| j.state == "RUNNING");
        let outcome = match op.outcome {
            // A savepoint of a job that ended meanwhile fails, as in Flink.
            Ok(_) if !running => Err(format!(
                "org.apache.flink.runtime.checkpoint.CheckpointException: job {} ended before the savepoint completed",
                op.job
            )),
            other => other,
        };
        if let Ok(location) = &outcome {
            if let Some(dir) =
                flinkd::paths::file_uri_path(location).filter(|p| !p.starts_with("/fake"))
            {
                let _ = std::fs::create_dir_all(&dir)
                    .and_then(|()| std::fs::write(dir.join("_metadata"), op.job.as_bytes()));
            }
            let name = f.jobs.get(&op.job).and_then(|j| log::name_of(&j.args));
            f.note(
                "savepoint",
                json!({"job": op.job, "name": name, "location": location, "request": request}),
            );
            if op.stops {
                f.set_state(&op.job, "FINISHED");
            }
        }
        if let Some(o) = f.operations.get_mut(&request) {
            o.outcome = outcome;
            o.resolved = true;
        }
    }
}

pub(super) async fn stop(
    State(s): State<Shared>,
    Path(id): Path<String>,
    body: Option<Json<Value>>,
) -> (StatusCode, Json<Value>) {
    savepoint_op(&s, &id, true, body.map(|Json(b)| b))
}

pub(super) async fn trigger(
    State(s): State<Shared>,
    Path(id): Path<String>,
    body: Option<Json<Value>>,
) -> (StatusCode, Json<Value>) {
    savepoint_op(&s, &id, false, body.map(|Json(b)| b))
}

pub(super) async fn savepoint_status(
    State(s): State<Shared>,
    Path((_id, request)): Path<(String, String)>,
) -> (StatusCode, Json<Value>) {
    let mut f = lock(&s);
    complete_operations(&mut f);
    let Some(op) = f.operations.get(&request).cloned() else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"errors": ["unknown request"]})),
        );
    };
    if Instant::now() < op.done_at {
        return (
            StatusCode::OK,
            Json(json!({"status": {"id": "IN_PROGRESS"}})),
        );
    }
    match op.outcome {
        Ok(location) => (
            StatusCode::OK,
            Json(json!({"status": {"id": "COMPLETED"}, "operation": {"location": location}})),
        ),
        Err(cause) => (
            StatusCode::OK,
            Json(
                json!({"status": {"id": "COMPLETED"}, "operation": {"failure-cause": {"class": "java.lang.Exception", "stack-trace": cause}}}),
            ),
        ),
    }
}

/// Flink's savepoint disposal: done at once, said in the log (a `file:` savepoint of
/// this machine is removed too).
pub(super) async fn dispose(State(s): State<Shared>, Json(body): Json<Value>) -> Json<Value> {
    let mut f = lock(&s);
    let location = body["savepoint-path"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if let Some(dir) =
        flinkd::paths::file_uri_path(&location).filter(|d| d.join("_metadata").is_file())
    {
        let _ = std::fs::remove_dir_all(dir);
    }
    f.note("dispose", json!({ "location": location }));
    let request = f.next_id();
    Json(json!({ "request-id": request }))
}

pub(super) async fn checkpoints(State(s): State<Shared>, Path(id): Path<String>) -> Json<Value> {
    let mut f = lock(&s);
    complete_operations(&mut f);
    let now = Instant::now();
    let latest = f
        .operations
        .values()
        .filter(|o| o.job == id && o.outcome.is_ok() && now >= o.done_at)
        .max_by_key(|o| o.done_ms)
        .map(|o| {
            json!({"id": 0, "external_path": o.outcome.clone().unwrap_or_default(), "latest_ack_timestamp": o.done_ms as u64, "status": "COMPLETED"})
        });
    Json(json!({"counts": {}, "latest": {"completed": null, "savepoint": latest}}))
}
