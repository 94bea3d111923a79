//! A fake Flink REST server, for fault-injection tests and benchmarks (test support;
//! built only with the `test-support` feature, never installed with flinkd).
//!
//!   fake-flink --conf CONF_DIR
//!   fake-flink --port PORT [--latency-ms N] [--set fake.KEY=VALUE]...
//!
//! With `--conf` it reads the generated `CONF_DIR/config.yaml` of a flinkd cluster:
//! `rest.port` to listen on, and faults from `fake.*` keys, which a Deployment sets
//! through its `flinkConfiguration`. With `--port` it stands in for one session cluster
//! serving thousands of jobs (the external-cluster target), faults given by `--set`,
//! every answer delayed by `--latency-ms`. The faults:
//!
//! - `fake.run.reject: MESSAGE`: every job submission is rejected with MESSAGE;
//! - `fake.savepoint.fail-first: N`: the first N savepoints (or stops) fail;
//! - `fake.cancel: ok | fail | hang`: cancellation succeeds, is refused (HTTP 500), or is
//!   accepted but the job never ends;
//! - `fake.job.fail-after-ms: N`: a running job fails N ms after it started;
//! - `fake.job.running-after-ms: N`: a submitted job is INITIALIZING for N ms;
//! - `fake.savepoint.delay-ms: N`: a savepoint (or stop) is IN_PROGRESS for N ms;
//! - `fake.startup.bind-error: x`: the JobManager exits at once, its log saying its
//!   address is in use;
//! - `fake.run.delay-ms: N`: a submission registers its job at once but answers only
//!   after N ms (longer than flinkd's HTTP timeout: an answer that never comes);
//! - `fake.startup.impostor: x`: the JobManager answers without the cluster's identity
//!   in `GET /jobmanager/config` (another process took its port);
//! - `fake.taskmanager.spawn: x`: each TaskManager spawns a `sleep` (user code's child);
//! - `fake.job.restarts: N`: the job's exception history holds N restarts, one a second
//!   up to the moment asked (JobFailing and JobUnstable from 3).
//!
//! `POST /savepoint-disposal` disposes of a savepoint at once (logged as `dispose`).
//!
//! `POST /fake/set?key=K&value=V` sets a fault on a running fake, `POST /fake/reset`
//! empties it (a cluster restarted without HA); `FLINK_FAKE_LOG` names a file the fake
//! appends its own log to (src/bin/fake_flink/log.rs).
//!
//! Savepoint requests may carry flinkd's own `triggerId`: asked again under the same id,
//! the same operation answers. A savepoint of a job that is not RUNNING fails, as in
//! Flink. The newest completed savepoint of a job is in its checkpoint history
//! (`latest.savepoint`). A savepoint is written on disk (a directory with `_metadata`)
//! under the cluster's `state.savepoints.dir` (a standalone fake's `--savepoints-dir`);
//! without one, its location is a made-up `file:/fake/savepoints/…`.
//!
//! A fake FLINK_HOME whose `bin/jobmanager.sh start` launches this binary makes flinkd's
//! real local target drive it (see tests/e2e_faults.rs).
//!
//! Jobs take the `jobId` of their submission when it has one, as Flink does. For tests
//! and benchmarks, `GET /fake/stats` counts requests and uploads, and `GET /fake/jobs`
//! lists the jobs with their program arguments and, in milliseconds since the epoch,
//! when each was first asked to stop, take a savepoint or cancel.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

#[path = "fake_flink/log.rs"]
mod log;
#[path = "fake_flink/savepoints.rs"]
mod savepoints;

use savepoints::{checkpoints, complete_operations, dispose, savepoint_status, stop, trigger};

#[derive(Default)]
struct Job {
    state: &'static str,
    started: Option<Instant>,
    args: Vec<String>,
    /// When it was first asked to stop, savepoint or cancel (ms since the epoch).
    first_stop_ms: Option<u128>,
}

impl Job {
    fn asked_to_stop(&mut self) {
        if self.first_stop_ms.is_none() {
            self.first_stop_ms = Some(epoch_ms());
        }
    }
}

fn epoch_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

#[derive(Default)]
struct Fake {
    log: Option<log::EventLog>,
    conf: BTreeMap<String, String>,
    jobs: HashMap<String, Job>,
    /// Uploaded jars: id → file name.
    jars: BTreeMap<String, String>,
    uploads: u64,
    /// request id → the savepoint operation
    operations: HashMap<String, Operation>,
    savepoints_taken: u32,
    counter: u64,
}

/// A savepoint (or stop) operation.
#[derive(Clone)]
struct Operation {
    job: String,
    done_at: Instant,
    /// When it completes, in ms since the epoch (for the checkpoint history).
    done_ms: u128,
    stops: bool,
    outcome: Result<String, String>,
    /// Decided: completed (on the log) or failed.
    resolved: bool,
}

type Shared = Arc<Mutex<Fake>>;

impl Fake {
    fn note(&mut self, event: &str, fields: Value) {
        if let Some(l) = self.log.as_mut() {
            l.write(event, fields);
        }
    }

    /// A job's new state, on the log.
    fn set_state(&mut self, id: &str, state: &'static str) {
        let Some(job) = self.jobs.get_mut(id) else {
            return;
        };
        if job.state == state {
            return;
        }
        job.state = state;
        let name = log::name_of(&job.args);
        self.note("state", json!({"job": id, "name": name, "state": state}));
    }

    fn next_id(&mut self) -> String {
        self.counter += 1;
        format!("{:032x}", self.counter)
    }

    fn setting(&self, key: &str) -> Option<u64> {
        self.conf.get(key).and_then(|v| v.parse::<u64>().ok())
    }

    /// Moves one job on in time (only the job asked about: thousands of jobs cost
    /// nothing between requests).
    fn tick(&mut self, id: &str) {
        let running_after = self.setting("fake.job.running-after-ms");
        let fail_after = self.setting("fake.job.fail-after-ms");
        let Some(job) = self.jobs.get(id) else {
            return;
        };
        let Some(start) = job.started else { return };
        if let (Some(ms), "INITIALIZING") = (running_after, job.state) {
            if start.elapsed() >= Duration::from_millis(ms) {
                self.set_state(id, "RUNNING");
            }
        }
        let state = self.jobs.get(id).map(|j| j.state);
        if let (Some(ms), Some("RUNNING")) = (fail_after, state) {
            if start.elapsed() >= Duration::from_millis(ms) {
                self.set_state(id, "FAILED");
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

/// `POST /jars/upload`: the file part's name is kept, as Flink does.
async fn upload(State(s): State<Shared>, body: axum::body::Bytes) -> Json<Value> {
    let text = String::from_utf8_lossy(&body[..body.len().min(4096)]).into_owned();
    let name = text
        .split("filename=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or("job.jar")
        .to_string();
    let mut f = lock(&s);
    f.uploads += 1;
    f.note("upload", json!({ "name": name }));
    let id = format!("{}_{name}", f.next_id());
    f.jars.insert(id.clone(), name);
    Json(json!({"filename": format!("/fake/upload/{id}"), "status": "success"}))
}

/// `GET /jobmanager/config`: the config it was started with; an impostor's lacks the
/// cluster's identity.
async fn jobmanager_config(State(s): State<Shared>) -> Json<Value> {
    let f = lock(&s);
    let impostor = f.conf.contains_key("fake.startup.impostor");
    let entries: Vec<Value> = f
        .conf
        .iter()
        .filter(|(k, _)| !(impostor && k.as_str() == "flinkd.cluster.identity"))
        .map(|(k, v)| json!({"key": k, "value": v}))
        .collect();
    Json(Value::Array(entries))
}

async fn jars(State(s): State<Shared>) -> Json<Value> {
    let f = lock(&s);
    let files: Vec<Value> = f
        .jars
        .iter()
        .map(|(id, name)| json!({"id": id, "name": name, "uploaded": 0, "entry": []}))
        .collect();
    Json(json!({"address": "http://fake", "files": files}))
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RunBody {
    job_id: Option<String>,
    #[serde(default)]
    program_args_list: Vec<String>,
    savepoint_path: Option<String>,
}

async fn run(
    State(s): State<Shared>,
    Path(jar): Path<String>,
    body: Option<Json<RunBody>>,
) -> (StatusCode, Json<Value>) {
    let body = body.map(|Json(b)| b).unwrap_or_default();
    let (id, late) = match register(&s, &jar, body) {
        Ok(registered) => registered,
        Err(refused) => return refused,
    };
    // Registered, but the answer is late.
    if let Some(ms) = late {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    (StatusCode::OK, Json(json!({"jobid": id})))
}

/// A submission: its job id and how late its answer is, or why it is refused.
fn register(
    s: &Shared,
    jar: &str,
    body: RunBody,
) -> Result<(String, Option<u64>), (StatusCode, Json<Value>)> {
    let mut f = lock(s);
    if !f.jars.contains_key(jar) {
        return Err((
            StatusCode::BAD_REQUEST,
            Json(json!({"errors": [format!("Jar file /fake/upload/{jar} does not exist")]})),
        ));
    }
    if let Some(msg) = f.conf.get("fake.run.reject").cloned() {
        let trace = format!("java.util.concurrent.CompletionException: org.apache.flink.client.program.ProgramInvocationException: {msg}\n\tat org.apache.flink.Fake.run(Fake.java:1)");
        return Err((
            StatusCode::BAD_REQUEST,
            Json(json!({"errors": ["Internal server error.", trace]})),
        ));
    }
    let id = match body.job_id {
        Some(id) if f.jobs.contains_key(&id) => {
            return Err((
                StatusCode::BAD_REQUEST,
                Json(
                    json!({"errors": [format!("org.apache.flink.runtime.client.DuplicateJobSubmissionException: Job has already been submitted. JobID: {id}")]}),
                ),
            ))
        }
        Some(id) => id,
        None => f.next_id(),
    };
    let initial = if f.conf.contains_key("fake.job.running-after-ms") {
        "INITIALIZING"
    } else {
        "RUNNING"
    };
    let name = log::name_of(&body.program_args_list);
    f.note(
        "registered",
        json!({"job": id, "name": name, "restoredFrom": body.savepoint_path, "state": initial}),
    );
    f.jobs.insert(
        id.clone(),
        Job {
            state: initial,
            started: Some(Instant::now()),
            args: body.program_args_list,
            first_stop_ms: None,
        },
    );
    Ok((id, f.setting("fake.run.delay-ms")))
}

async fn job(State(s): State<Shared>, Path(id): Path<String>) -> (StatusCode, Json<Value>) {
    let mut f = lock(&s);
    complete_operations(&mut f);
    f.tick(&id);
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
    if let Some(j) = f.jobs.get_mut(&id) {
        j.asked_to_stop();
    }
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
            if f.jobs
                .get(&id)
                .is_some_and(|j| j.state != "FINISHED" && j.state != "FAILED")
            {
                f.set_state(&id, "CANCELED");
            }
            (StatusCode::ACCEPTED, Json(json!({})))
        }
    }
}

/// The root exception, and with `fake.job.restarts: N` an exception history of N
/// restarts, one a second up to now (a job failing over in a loop).
async fn exceptions(State(s): State<Shared>, Path(_id): Path<String>) -> Json<Value> {
    let restarts = lock(&s).setting("fake.job.restarts").unwrap_or(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let entries: Vec<Value> = (0..restarts)
        .map(|i| json!({"timestamp": now.saturating_sub(i * 1000), "exceptionName": "java.lang.RuntimeException"}))
        .collect();
    Json(json!({
        "root-exception": "java.lang.RuntimeException: injected job failure\n\tat org.apache.flink.Fake.run(Fake.java:1)",
        "exceptionHistory": {"entries": entries, "truncated": false},
    }))
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

async fn stats(State(s): State<Shared>, State(n): State<Requests>) -> Json<Value> {
    let f = lock(&s);
    Json(json!({
        "requests": n.load(Ordering::Relaxed),
        "uploads": f.uploads,
        "jobs": f.jobs.len(),
    }))
}

/// The jobs; `?arg=A` only those with the program argument A.
async fn fake_jobs(
    State(s): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
) -> Json<Value> {
    let mut f = lock(&s);
    let arg = q.get("arg");
    let ids: Vec<String> = f
        .jobs
        .iter()
        .filter(|(_, j)| arg.is_none_or(|a| j.args.contains(a)))
        .map(|(id, _)| id.clone())
        .collect();
    for id in &ids {
        f.tick(id);
    }
    let jobs: Vec<Value> = ids
        .iter()
        .filter_map(|id| f.jobs.get(id).map(|j| (id, j)))
        .map(|(id, j)| json!({"jid": id, "state": j.state, "args": j.args, "firstStopMs": j.first_stop_ms}))
        .collect();
    Json(json!({ "jobs": jobs }))
}

/// `POST /fake/set?key=K&value=V`: a fault from now on (an empty value removes it).
async fn fake_set(State(s): State<Shared>, Query(q): Query<HashMap<String, String>>) -> StatusCode {
    let mut f = lock(&s);
    let (Some(key), value) = (q.get("key"), q.get("value")) else {
        return StatusCode::BAD_REQUEST;
    };
    match value.filter(|v| !v.is_empty()) {
        Some(v) => f.conf.insert(key.clone(), v.clone()),
        None => f.conf.remove(key),
    };
    StatusCode::NO_CONTENT
}

/// `POST /fake/reset`: the cluster restarted empty (a session cluster without HA): its
/// jobs, jars and operations are gone.
async fn fake_reset(State(s): State<Shared>) -> StatusCode {
    let mut f = lock(&s);
    f.jobs.clear();
    f.jars.clear();
    f.operations.clear();
    f.note("reset", json!({}));
    StatusCode::NO_CONTENT
}

type Requests = Arc<AtomicU64>;

#[derive(Clone)]
struct App {
    fake: Shared,
    requests: Requests,
    latency: Duration,
}

impl axum::extract::FromRef<App> for Shared {
    fn from_ref(app: &App) -> Shared {
        app.fake.clone()
    }
}

impl axum::extract::FromRef<App> for Requests {
    fn from_ref(app: &App) -> Requests {
        app.requests.clone()
    }
}

/// Counts every request and delays its answer by the configured latency.
async fn count_and_delay(
    State(app): State<App>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if !req.uri().path().starts_with("/fake/") {
        app.requests.fetch_add(1, Ordering::Relaxed);
        if !app.latency.is_zero() {
            tokio::time::sleep(app.latency).await;
        }
    }
    next.run(req).await
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mut conf = match arg(&args, "--conf") {
        Some(dir) => read_conf(&dir),
        None => BTreeMap::new(),
    };
    // A standalone fake (a session cluster) writes its savepoints here, on disk.
    if let Some(dir) = arg(&args, "--savepoints-dir") {
        conf.insert("state.savepoints.dir".into(), format!("file://{dir}"));
    }
    // A TaskManager: a process of the cluster that waits to be stopped; with
    // `fake.taskmanager.spawn`, its user code spawned a process of its own.
    if args.iter().any(|a| a == "--taskmanager") {
        let _child = conf.contains_key("fake.taskmanager.spawn").then(|| {
            std::process::Command::new("sleep")
                .arg("3600")
                .spawn()
                .expect("spawn a child")
        });
        loop {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
    }
    for (i, a) in args.iter().enumerate() {
        if a == "--set" {
            if let Some((k, v)) = args.get(i + 1).and_then(|kv| kv.split_once('=')) {
                conf.insert(k.to_string(), v.to_string());
            }
        }
    }
    // A JobManager whose ports another process took: its log says so, and it exits.
    if conf.contains_key("fake.startup.bind-error") {
        eprintln!("java.net.BindException: Address already in use");
        std::process::exit(1);
    }
    let port: u16 = arg(&args, "--port")
        .or_else(|| conf.get("rest.port").cloned())
        .and_then(|p| p.parse().ok())
        .unwrap_or(8081);
    let latency = Duration::from_millis(
        arg(&args, "--latency-ms")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
    );
    let mut events = log::EventLog::open(port);
    events.write("up", json!({}));
    let app = App {
        fake: Arc::new(Mutex::new(Fake {
            log: Some(events),
            conf,
            ..Fake::default()
        })),
        requests: Arc::new(AtomicU64::new(0)),
        latency,
    };
    let router = Router::new()
        .route("/overview", get(overview))
        .route("/jobmanager/config", get(jobmanager_config))
        .route("/jars", get(jars))
        .route("/jars/upload", post(upload))
        .route("/jars/{jar}/run", post(run))
        .route("/jobs/{id}", get(job).patch(cancel))
        .route("/jobs/{id}/stop", post(stop))
        .route("/jobs/{id}/savepoints", post(trigger))
        .route("/jobs/{id}/savepoints/{request}", get(savepoint_status))
        .route("/jobs/{id}/exceptions", get(exceptions))
        .route("/jobs/{id}/checkpoints", get(checkpoints))
        .route("/savepoint-disposal", post(dispose))
        .route(
            "/savepoint-disposal/{request}",
            get(|| async { Json(json!({"status": {"id": "COMPLETED"}})) }),
        )
        .route("/jobs/{id}/metrics", get(|| async { Json(json!([])) }))
        .route("/fake/stats", get(stats))
        .route("/fake/jobs", get(fake_jobs))
        .route("/fake/set", post(fake_set))
        .route("/fake/reset", post(fake_reset))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            count_and_delay,
        ))
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(app);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind the port");
    axum::serve(listener, router).await.expect("serve");
}
