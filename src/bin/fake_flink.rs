//! A fake Flink REST server, for fault-injection tests (test support; built only with
//! the `test-support` feature, never installed with flinkd).
//!
//!   fake-flink --conf CONF_DIR
//!
//! It reads the generated `CONF_DIR/config.yaml` of a flinkd cluster: `rest.port` to
//! listen on, and faults from `fake.*` keys, which a Deployment sets through its
//! `flinkConfiguration`:
//!
//! - `fake.run.reject: MESSAGE`: every job submission is rejected with MESSAGE;
//! - `fake.savepoint.fail-first: N`: the first N savepoints (or stops) fail;
//! - `fake.cancel: ok | fail | hang`: cancellation succeeds, is refused (HTTP 500), or is
//!   accepted but the job never ends;
//! - `fake.job.fail-after-ms: N`: a running job fails N ms after it started;
//! - `fake.job.running-after-ms: N`: a submitted job is INITIALIZING for N ms;
//! - `fake.savepoint.delay-ms: N`: a savepoint (or stop) is IN_PROGRESS for N ms.
//!
//! A fake FLINK_HOME whose `bin/jobmanager.sh start` launches this binary makes flinkd's
//! real local target drive it (see tests/e2e_faults.rs).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

#[derive(Default)]
struct Job {
    state: &'static str,
    started: Option<Instant>,
}

#[derive(Default)]
struct Fake {
    conf: BTreeMap<String, String>,
    jobs: HashMap<String, Job>,
    /// request id → (when it completes, the job it stops, Ok(location) or Err(cause))
    #[allow(clippy::type_complexity)]
    operations: HashMap<String, (Instant, Option<String>, Result<String, String>)>,
    savepoints_taken: u32,
    counter: u64,
}

type Shared = Arc<Mutex<Fake>>;

impl Fake {
    fn next_id(&mut self) -> String {
        self.counter += 1;
        format!("{:032x}", self.counter)
    }

    fn tick(&mut self) {
        let running_after = self
            .conf
            .get("fake.job.running-after-ms")
            .and_then(|v| v.parse::<u64>().ok());
        for job in self.jobs.values_mut() {
            if let (Some(ms), Some(start), "INITIALIZING") = (running_after, job.started, job.state)
            {
                if start.elapsed() >= Duration::from_millis(ms) {
                    job.state = "RUNNING";
                }
            }
        }
        let fail_after = self
            .conf
            .get("fake.job.fail-after-ms")
            .and_then(|v| v.parse::<u64>().ok());
        for job in self.jobs.values_mut() {
            if let (Some(ms), Some(start), "RUNNING") = (fail_after, job.started, job.state) {
                if start.elapsed() >= Duration::from_millis(ms) {
                    job.state = "FAILED";
                }
            }
        }
    }
}

fn lock(s: &Shared) -> std::sync::MutexGuard<'_, Fake> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

async fn overview() -> Json<Value> {
    Json(
        json!({"taskmanagers": 100, "slots-total": 100, "slots-available": 100, "flink-version": "fake"}),
    )
}

async fn upload(_jar: axum::body::Bytes) -> Json<Value> {
    Json(json!({"filename": "/fake/upload/0000_job.jar", "status": "success"}))
}

async fn run(State(s): State<Shared>, Path(_jar): Path<String>) -> (StatusCode, Json<Value>) {
    let mut f = lock(&s);
    if let Some(msg) = f.conf.get("fake.run.reject").cloned() {
        let trace = format!("java.util.concurrent.CompletionException: org.apache.flink.client.program.ProgramInvocationException: {msg}\n\tat org.apache.flink.Fake.run(Fake.java:1)");
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"errors": ["Internal server error.", trace]})),
        );
    }
    let id = f.next_id();
    let initial = if f.conf.contains_key("fake.job.running-after-ms") {
        "INITIALIZING"
    } else {
        "RUNNING"
    };
    f.jobs.insert(
        id.clone(),
        Job {
            state: initial,
            started: Some(Instant::now()),
        },
    );
    (StatusCode::OK, Json(json!({"jobid": id})))
}

async fn job(State(s): State<Shared>, Path(id): Path<String>) -> (StatusCode, Json<Value>) {
    let mut f = lock(&s);
    f.tick();
    match f.jobs.get(&id) {
        Some(j) => (
            StatusCode::OK,
            Json(json!({"jid": id, "name": "fake", "state": j.state})),
        ),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"errors": ["Job not found"]})),
        ),
    }
}

async fn cancel(
    State(s): State<Shared>,
    Path(id): Path<String>,
    Query(_q): Query<HashMap<String, String>>,
) -> (StatusCode, Json<Value>) {
    let mut f = lock(&s);
    let mode = f
        .conf
        .get("fake.cancel")
        .cloned()
        .unwrap_or_else(|| "ok".into());
    match mode.as_str() {
        "fail" => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"errors": ["injected cancellation failure"]})),
        ),
        "hang" => (StatusCode::ACCEPTED, Json(json!({}))),
        _ => {
            if let Some(j) = f.jobs.get_mut(&id) {
                j.state = "CANCELED";
            }
            (StatusCode::ACCEPTED, Json(json!({})))
        }
    }
}

fn savepoint_op(s: &Shared, id: &str, stop: bool) -> Json<Value> {
    let mut f = lock(s);
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
    let outcome = if u64::from(n) <= fail_first {
        Err(format!("java.lang.Exception: injected savepoint failure {n}\n\tat org.apache.flink.Fake.savepoint(Fake.java:1)"))
    } else {
        Ok(format!("file:/fake/savepoints/savepoint-{n}"))
    };
    let stops = (stop && outcome.is_ok()).then(|| id.to_string());
    let request = f.next_id();
    let done_at = Instant::now() + Duration::from_millis(delay);
    f.operations
        .insert(request.clone(), (done_at, stops, outcome));
    Json(json!({"request-id": request}))
}

async fn stop(State(s): State<Shared>, Path(id): Path<String>) -> Json<Value> {
    savepoint_op(&s, &id, true)
}

async fn trigger(State(s): State<Shared>, Path(id): Path<String>) -> Json<Value> {
    savepoint_op(&s, &id, false)
}

async fn savepoint_status(
    State(s): State<Shared>,
    Path((_id, request)): Path<(String, String)>,
) -> (StatusCode, Json<Value>) {
    let mut f = lock(&s);
    let Some((done_at, stops, outcome)) = f.operations.get(&request).cloned() else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"errors": ["unknown request"]})),
        );
    };
    if Instant::now() < done_at {
        return (
            StatusCode::OK,
            Json(json!({"status": {"id": "IN_PROGRESS"}})),
        );
    }
    // A stop ends its job once its savepoint is complete.
    if let Some(job) = stops.and_then(|id| f.jobs.get_mut(&id)) {
        job.state = "FINISHED";
    }
    match outcome {
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

async fn exceptions(Path(_id): Path<String>) -> Json<Value> {
    Json(
        json!({"root-exception": "java.lang.RuntimeException: injected job failure\n\tat org.apache.flink.Fake.run(Fake.java:1)"}),
    )
}

async fn checkpoints(Path(_id): Path<String>) -> Json<Value> {
    Json(json!({"counts": {}, "latest": {"completed": null}}))
}

fn read_conf(dir: &str) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(format!("{dir}/config.yaml")).unwrap_or_default();
    serde_yaml::from_str::<BTreeMap<String, serde_yaml::Value>>(&text)
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| {
            let v = match v {
                serde_yaml::Value::String(s) => s,
                other => serde_yaml::to_string(&other)
                    .unwrap_or_default()
                    .trim()
                    .to_string(),
            };
            (k, v)
        })
        .collect()
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let conf_dir = args
        .iter()
        .position(|a| a == "--conf")
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| ".".into());
    let conf = read_conf(&conf_dir);
    let port: u16 = conf
        .get("rest.port")
        .and_then(|p| p.parse().ok())
        .unwrap_or(8081);
    let state: Shared = Arc::new(Mutex::new(Fake {
        conf,
        ..Fake::default()
    }));
    let app = Router::new()
        .route("/overview", get(overview))
        .route("/jars/upload", post(upload))
        .route("/jars/{jar}/run", post(run))
        .route("/jobs/{id}", get(job).patch(cancel))
        .route("/jobs/{id}/stop", post(stop))
        .route("/jobs/{id}/savepoints", post(trigger))
        .route("/jobs/{id}/savepoints/{request}", get(savepoint_status))
        .route("/jobs/{id}/exceptions", get(exceptions))
        .route("/jobs/{id}/checkpoints", get(checkpoints))
        .route("/jobs/{id}/metrics", get(|| async { Json(json!([])) }))
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(state);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind rest.port");
    axum::serve(listener, app).await.expect("serve");
}
