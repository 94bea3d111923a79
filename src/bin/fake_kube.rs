//! A stand-in for the Kubernetes API server, for tests of the Kubernetes target (test
//! support; built only with the `test-support` feature, never installed with flinkd).
//!
//!   fake-kube --port PORT --kubeconfig-out FILE [--fake-flink PATH]
//!
//! It serves the calls flinkd makes, as the API server answers them: create, get, list
//! with a label selector, and delete of Deployments (`apps/v1`), Services, ConfigMaps
//! and (get and list) Pods, in any namespace; 409 AlreadyExists, 404 NotFound and
//! `Status` bodies as Kubernetes writes them. A Deployment makes its `replicas` pods
//! (ContainerCreating for 200 ms, then as their component's mode says); deleting an
//! object deletes, 100 ms later, what names it in `ownerReferences` (the garbage
//! collector), and a Deployment's pods go 300 ms after it (their termination grace).
//!
//! The service proxy (`/api/v1/namespaces/NS/services/NAME:rest/proxy/...`) answers
//! 503 ("no endpoints available") while the JobManager's pods do not run, and else
//! forwards to a fake Flink (`fake-flink --port`) it starts for the Service at the
//! first request, given the `fake.*` settings of the cluster's ConfigMap, and stops
//! when the Service goes.
//!
//! Control, for tests:
//! - `POST /fake/fault?verb=V&kind=K&code=C&times=N`: the next N requests of verb V
//!   (`create`, `get`, `list`, `delete`, `proxy`, `any`) on kind K (`deployments`,
//!   `services`, `configmaps`, `pods`, `any`) answer C (an HTTP status), or never
//!   answer (`C = hang`), or are done 1.5 s later and never answered (`C = late`: a
//!   request whose client gave up, applied after all); `list` with `watch=true` answers 410 Expired, as an API
//!   server whose watch fell too far behind;
//! - `POST /fake/down`, `POST /fake/up`: every API request hangs (no answer) until up;
//! - `POST /fake/pods?component=jobmanager|taskmanager&mode=M`: the component's pods
//!   from now on: `running`, `crashloop` (CrashLoopBackOff, last exit code 1),
//!   `oom` (OOMKilled, exit code 137), `imagepull` (ImagePullBackOff), `unschedulable`;
//! - `GET /fake/objects`: every object as `{kind, namespace, name, labels}`;
//! - `GET /fake/calls`: the number of requests per `verb kind`;
//! - `GET /fake/peak`: per Deployment id, the most jobs with a JobManager (Deployment
//!   or pod) at once;
//! - `GET /fake/faults`: how many injected faults are still to be met (`pending`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

#[path = "fake_kube/proxy.rs"]
mod proxy;
use proxy::proxy;

type Key = (String, String, String);

#[derive(Default)]
struct Fake {
    /// (kind, namespace, name) → the object.
    objects: BTreeMap<Key, Value>,
    /// When each pod was made.
    born: HashMap<Key, Instant>,
    version: u64,
    faults: Vec<Fault>,
    down: bool,
    modes: HashMap<String, String>,
    /// (namespace, service) → its fake Flink and port.
    flinks: HashMap<(String, String), (Child, u16)>,
    calls: BTreeMap<String, u64>,
    /// Per `flinkd.io/deployment-id`: the most jobs whose JobManager (Deployment or
    /// pod) existed at once.
    peak: BTreeMap<String, usize>,
}

struct Fault {
    verb: String,
    kind: String,
    code: String,
    times: u32,
}

#[derive(Clone)]
struct App {
    fake: Arc<Mutex<Fake>>,
    fake_flink: PathBuf,
    dir: PathBuf,
    http: reqwest::Client,
}

fn status(code: u16, reason: &str, message: String) -> Response {
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": message, "reason": reason, "code": code,
    });
    (
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        Json(body),
    )
        .into_response()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

fn labels(o: &Value) -> BTreeMap<String, String> {
    serde_json::from_value(o["metadata"]["labels"].clone()).unwrap_or_default()
}

fn matches(selector: Option<&String>, o: &Value) -> bool {
    let l = labels(o);
    selector.is_none_or(|s| {
        s.split(',')
            .filter(|p| !p.is_empty())
            .all(|p| match p.split_once('=') {
                Some((k, v)) => l.get(k).map(String::as_str) == Some(v),
                None => l.contains_key(p),
            })
    })
}

/// What a request is about: its verb, kind, namespace and name (if one).
struct Target {
    verb: String,
    kind: String,
    ns: String,
    name: Option<String>,
    /// After `NAME:rest/proxy` of a Service.
    proxied: Option<String>,
}

fn target(method: &Method, path: &str) -> Option<Target> {
    let rest = path
        .strip_prefix("/apis/apps/v1/namespaces/")
        .or_else(|| path.strip_prefix("/api/v1/namespaces/"))?;
    let mut parts = rest.splitn(4, '/');
    let ns = parts.next()?.to_string();
    let kind = parts.next()?.to_string();
    let name = parts.next().map(str::to_string);
    let tail = parts.next();
    if let (Some(n), Some(t)) = (&name, tail) {
        let service = n.strip_suffix(":rest")?;
        let proxied = t.strip_prefix("proxy")?;
        return Some(Target {
            verb: "proxy".into(),
            kind,
            ns,
            name: Some(service.to_string()),
            proxied: Some(proxied.to_string()),
        });
    }
    let verb = match (method.as_str(), name.is_some()) {
        ("POST", false) => "create",
        ("GET", true) => "get",
        ("GET", false) => "list",
        ("DELETE", _) => "delete",
        _ => "other",
    };
    Some(Target {
        verb: verb.into(),
        kind,
        ns,
        name,
        proxied: None,
    })
}

impl Fake {
    fn fault(&mut self, verb: &str, kind: &str) -> Option<String> {
        let i = self.faults.iter().position(|f| {
            (f.verb == verb || f.verb == "any") && (f.kind == kind || f.kind == "any")
        })?;
        let f = &mut self.faults[i];
        f.times -= 1;
        let code = f.code.clone();
        if f.times == 0 {
            self.faults.remove(i);
        }
        Some(code)
    }

    fn stamp(&mut self, kind: &str, ns: &str, o: &mut Value) {
        self.version += 1;
        let meta = &mut o["metadata"];
        meta["namespace"] = json!(ns);
        meta["uid"] = json!(format!("uid-{kind}-{}", self.version));
        meta["resourceVersion"] = json!(self.version.to_string());
        meta["creationTimestamp"] = json!("2026-12-02T00:00:00Z");
    }

    /// Counts, for the Deployment an object is of, the jobs with a JobManager now.
    fn note_peak(&mut self, o: &Value) {
        let Some(deployment) = labels(o).get("flinkd.io/deployment-id").cloned() else {
            return;
        };
        let jobs: BTreeSet<String> = self
            .objects
            .iter()
            .filter_map(|(k, v)| {
                let l = labels(v);
                let job_manager = match k.0.as_str() {
                    "deployments" => k.2.ends_with("-jobmanager"),
                    "pods" => {
                        l.get("app.kubernetes.io/component").map(String::as_str)
                            == Some("jobmanager")
                    }
                    _ => false,
                };
                (job_manager && l.get("flinkd.io/deployment-id") == Some(&deployment)).then_some(l)
            })
            .filter_map(|l| l.get("flinkd.io/job-id").cloned())
            .collect();
        let peak = self.peak.entry(deployment).or_default();
        *peak = (*peak).max(jobs.len());
    }

    /// A Deployment's pods, made with it.
    fn make_pods(&mut self, ns: &str, deployment: &Value) {
        let name = deployment["metadata"]["name"].as_str().unwrap_or("d");
        let replicas = deployment["spec"]["replicas"].as_u64().unwrap_or(1);
        let template = &deployment["spec"]["template"];
        for i in 0..replicas {
            let pod_name = format!("{name}-{:05x}-{i}", self.version);
            let mut pod = json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": pod_name, "labels": template["metadata"]["labels"].clone()},
                "spec": template["spec"].clone(),
            });
            self.stamp("pods", ns, &mut pod);
            let key = ("pods".to_string(), ns.to_string(), pod_name);
            self.born.insert(key.clone(), Instant::now());
            self.objects.insert(key, pod);
        }
    }

    /// A pod as its component's mode makes it now.
    fn pod_now(&self, key: &Key, pod: &Value) -> Value {
        let mut pod = pod.clone();
        let component = labels(&pod)
            .get("app.kubernetes.io/component")
            .cloned()
            .unwrap_or_default();
        let young = self
            .born
            .get(key)
            .is_some_and(|b| b.elapsed() < Duration::from_millis(200));
        let mode = if young {
            "creating"
        } else {
            self.modes.get(&component).map_or("running", String::as_str)
        };
        let container = |state: Value, last: Value, ready: bool| {
            json!([{"name": "flink-main-container", "image": "flink", "imageID": "",
                "ready": ready, "restartCount": if last.is_null() { 0 } else { 3 },
                "state": state, "lastState": last}])
        };
        pod["status"] = match mode {
            "creating" => json!({"phase": "Pending", "containerStatuses": container(
                json!({"waiting": {"reason": "ContainerCreating"}}), Value::Null, false)}),
            "crashloop" => json!({"phase": "Running", "containerStatuses": container(
                json!({"waiting": {"reason": "CrashLoopBackOff",
                    "message": "back-off 40s restarting failed container=flink-main-container"}}),
                json!({"terminated": {"exitCode": 1, "reason": "Error"}}), false)}),
            "oom" => json!({"phase": "Running", "containerStatuses": container(
                json!({"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 20s"}}),
                json!({"terminated": {"exitCode": 137, "reason": "OOMKilled"}}), false)}),
            "imagepull" => json!({"phase": "Pending", "containerStatuses": container(
                json!({"waiting": {"reason": "ImagePullBackOff",
                    "message": "Back-off pulling image \"flink:none\""}}), Value::Null, false)}),
            "unschedulable" => json!({"phase": "Pending", "conditions": [{"type": "PodScheduled",
                "status": "False", "reason": "Unschedulable",
                "message": "0/1 nodes are available: 1 Insufficient cpu."}]}),
            _ => json!({"phase": "Running", "containerStatuses": container(
                json!({"running": {}}), Value::Null, true)}),
        };
        pod
    }

    /// Whether the JobManager pods behind a Service run.
    fn endpoints(&self, ns: &str, service: &Value) -> bool {
        let selector: BTreeMap<String, String> =
            serde_json::from_value(service["spec"]["selector"].clone()).unwrap_or_default();
        self.objects.iter().any(|(key, pod)| {
            key.0 == "pods"
                && key.1 == ns
                && selector.iter().all(|(k, v)| labels(pod).get(k) == Some(v))
                && self.pod_now(key, pod)["status"]["phase"] == "Running"
                && self.pod_now(key, pod)["status"]["containerStatuses"][0]["ready"] == true
        })
    }

    /// Removes an object; what it owns (and a Deployment's pods) go later.
    fn remove(&mut self, key: &Key) -> Option<(Value, Vec<(Key, Duration)>)> {
        let o = self.objects.remove(key)?;
        let uid = o["metadata"]["uid"].clone();
        let mut later = Vec::new();
        for (k, v) in &self.objects {
            let owned = v["metadata"]["ownerReferences"]
                .as_array()
                .is_some_and(|refs| refs.iter().any(|r| r["uid"] == uid));
            if owned {
                later.push((k.clone(), Duration::from_millis(100)));
            }
            if key.0 == "deployments" && k.0 == "pods" && k.1 == key.1 {
                let selector: BTreeMap<String, String> =
                    serde_json::from_value(o["spec"]["selector"]["matchLabels"].clone())
                        .unwrap_or_default();
                if !selector.is_empty() && selector.iter().all(|(a, b)| labels(v).get(a) == Some(b))
                {
                    later.push((k.clone(), Duration::from_millis(300)));
                }
            }
        }
        if key.0 == "services" {
            if let Some((mut child, _)) = self.flinks.remove(&(key.1.clone(), key.2.clone())) {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        Some((o, later))
    }
}

/// Removes what an object's removal took with it, after its delay.
fn collect(app: &App, later: Vec<(Key, Duration)>) {
    for (key, after) in later {
        let app = app.clone();
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            let more = {
                let mut f = app.fake.lock().unwrap();
                f.born.remove(&key);
                f.remove(&key).map(|(_, more)| more)
            };
            if let Some(more) = more {
                collect(&app, more);
            }
        });
    }
}

async fn api(State(app): State<App>, req: Request) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query: HashMap<String, String> = req
        .uri()
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let headers = req.headers().clone();
    let body = axum::body::to_bytes(req.into_body(), 512 << 20)
        .await
        .unwrap_or_default();
    let Some(t) = target(&method, &path) else {
        return status(404, "NotFound", format!("the server could not find {path}"));
    };
    let (fault, down) = {
        let mut f = app.fake.lock().unwrap();
        *f.calls.entry(format!("{} {}", t.verb, t.kind)).or_default() += 1;
        (f.fault(&t.verb, &t.kind), f.down)
    };
    if down || fault.as_deref() == Some("hang") {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    let late = fault.as_deref() == Some("late");
    if let Some(code) = fault.and_then(|c| c.parse::<u16>().ok()) {
        let reason = match code {
            404 => "NotFound",
            409 => "AlreadyExists",
            410 => "Expired",
            _ => "InternalError",
        };
        return status(code, reason, format!("an injected {code}"));
    }
    if t.verb == "list" && query.get("watch").is_some_and(|w| w == "true" || w == "1") {
        return status(410, "Expired", "too old resource version".into());
    }
    if late {
        // Done a while after, whether or not its client still waits; never answered.
        let app = app.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            serve(app, t, method, headers, body, query, path).await;
        });
        tokio::time::sleep(Duration::from_secs(3600)).await;
        return status(504, "Timeout", "late".into());
    }
    serve(app, t, method, headers, body, query, path).await
}

/// A request past its faults.
async fn serve(
    app: App,
    t: Target,
    method: Method,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
    query: HashMap<String, String>,
    path: String,
) -> Response {
    match t.verb.as_str() {
        "proxy" => proxy(&app, &t, &method, headers, body, &query).await,
        "create" => {
            let Ok(mut o) = serde_json::from_slice::<Value>(&body) else {
                return status(400, "BadRequest", "not JSON".into());
            };
            let name = o["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let key = (t.kind.clone(), t.ns.clone(), name.clone());
            let mut f = app.fake.lock().unwrap();
            if f.objects.contains_key(&key) {
                return status(
                    409,
                    "AlreadyExists",
                    format!("{} \"{name}\" already exists", t.kind),
                );
            }
            f.stamp(&t.kind, &t.ns, &mut o);
            if t.kind == "deployments" {
                f.make_pods(&t.ns, &o);
            }
            f.objects.insert(key, o.clone());
            f.note_peak(&o);
            (StatusCode::CREATED, Json(o)).into_response()
        }
        "get" => {
            let name = t.name.clone().unwrap_or_default();
            let key = (t.kind.clone(), t.ns.clone(), name.clone());
            let f = app.fake.lock().unwrap();
            match f.objects.get(&key) {
                Some(o) if t.kind == "pods" => Json(f.pod_now(&key, o)).into_response(),
                Some(o) => Json(o.clone()).into_response(),
                None => status(404, "NotFound", format!("{} \"{name}\" not found", t.kind)),
            }
        }
        "list" => {
            let f = app.fake.lock().unwrap();
            let items: Vec<Value> = f
                .objects
                .iter()
                .filter(|(k, o)| {
                    k.0 == t.kind && k.1 == t.ns && matches(query.get("labelSelector"), o)
                })
                .map(|(k, o)| {
                    if t.kind == "pods" {
                        f.pod_now(k, o)
                    } else {
                        o.clone()
                    }
                })
                .collect();
            Json(json!({"kind": "List", "apiVersion": "v1",
                "metadata": {"resourceVersion": f.version.to_string()}, "items": items}))
            .into_response()
        }
        "delete" => {
            let name = t.name.clone().unwrap_or_default();
            let key = (t.kind.clone(), t.ns.clone(), name.clone());
            let removed = app.fake.lock().unwrap().remove(&key);
            match removed {
                Some((o, later)) => {
                    collect(&app, later);
                    Json(o).into_response()
                }
                None => status(404, "NotFound", format!("{} \"{name}\" not found", t.kind)),
            }
        }
        _ => status(405, "MethodNotAllowed", format!("{method} {path}")),
    }
}

#[derive(serde::Deserialize)]
struct FaultQuery {
    verb: String,
    kind: String,
    code: String,
    times: Option<u32>,
}

async fn add_fault(State(app): State<App>, Query(q): Query<FaultQuery>) -> StatusCode {
    app.fake.lock().unwrap().faults.push(Fault {
        verb: q.verb,
        kind: q.kind,
        code: q.code,
        times: q.times.unwrap_or(1).max(1),
    });
    StatusCode::NO_CONTENT
}

#[derive(serde::Deserialize)]
struct PodsQuery {
    component: String,
    mode: String,
}

async fn set_pods(State(app): State<App>, Query(q): Query<PodsQuery>) -> StatusCode {
    app.fake.lock().unwrap().modes.insert(q.component, q.mode);
    StatusCode::NO_CONTENT
}

async fn objects(State(app): State<App>) -> Json<Value> {
    let f = app.fake.lock().unwrap();
    let list: Vec<Value> = f
        .objects
        .iter()
        .map(|((kind, ns, name), o)| {
            json!({"kind": kind, "namespace": ns, "name": name, "labels": labels(o),
                "ownerReferences": o["metadata"]["ownerReferences"].clone()})
        })
        .collect();
    Json(json!(list))
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
    let port: u16 = arg(&args, "--port")
        .and_then(|p| p.parse().ok())
        .expect("--port PORT");
    let fake_flink = arg(&args, "--fake-flink")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::current_exe()
                .expect("the executable")
                .with_file_name("fake-flink")
        });
    let dir = std::env::temp_dir().join(format!("fake-kube-{port}"));
    std::fs::create_dir_all(&dir).expect("the savepoints directory");
    let app = App {
        fake: Arc::new(Mutex::new(Fake::default())),
        fake_flink,
        dir,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("an HTTP client"),
    };
    let router = Router::new()
        .route("/fake/fault", post(add_fault))
        .route(
            "/fake/down",
            post(|State(app): State<App>| async move {
                app.fake.lock().unwrap().down = true;
                StatusCode::NO_CONTENT
            }),
        )
        .route(
            "/fake/up",
            post(|State(app): State<App>| async move {
                app.fake.lock().unwrap().down = false;
                StatusCode::NO_CONTENT
            }),
        )
        .route(
            "/fake/faults",
            get(|State(app): State<App>| async move {
                Json(json!({"pending": app.fake.lock().unwrap().faults.len()}))
            }),
        )
        .route("/fake/pods", post(set_pods))
        .route("/fake/objects", get(objects))
        .route(
            "/fake/peak",
            get(|State(app): State<App>| async move {
                Json(json!(app.fake.lock().unwrap().peak.clone()))
            }),
        )
        .route(
            "/fake/calls",
            get(|State(app): State<App>| async move {
                Json(json!(app.fake.lock().unwrap().calls.clone()))
            }),
        )
        .fallback(api)
        .with_state(app);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind the port");
    if let Some(out) = arg(&args, "--kubeconfig-out") {
        let config = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: http://127.0.0.1:{port}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n    namespace: default\ncurrent-context: fake\nusers:\n- name: fake\n  user:\n    token: fake-token\n"
        );
        std::fs::write(out, config).expect("write the kubeconfig");
    }
    axum::serve(listener, router).await.expect("serve");
}
