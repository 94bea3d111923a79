//! The HTTP API: what `flinkd get` and other tools read.
//!
//! VVP-style paths under `/api/v1/namespaces/{ns}/`: `deployments`,
//! `deployments/{name}`, `jobs`, `savepoints` and `events` (the last three filterable by
//! `?deploymentId=`; POST to `savepoints` takes one), plus `/healthz` and `/metrics`
//! (Prometheus text). Resources are
//! returned as the store has them: Deployments fully expanded, with their status. JSON by
//! default, YAML when the request `Accept`s `application/yaml`. A list is `{"items":
//! [...]}`; an error is `{"message": "..."}` with a fitting status code.
//!
//! Reads go through the store's actor, so they see every step the actors recorded.

use std::net::SocketAddr;

use crate::metrics::{label, Metrics};
use actix::Addr;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::actors::store::{Exec, StoreHandle};
use crate::actors::supervisor::{SavepointFor, Supervisor};
use crate::spec::{DeploymentState, Identity, JobState, SavepointState};
use crate::store::{Store, StoreError};

mod console;
mod guard;
mod logs;
pub mod proxy;
pub mod watch;
pub use guard::Guard;

#[derive(Clone)]
pub struct ApiState {
    pub store: StoreHandle,
    pub supervisor: Addr<Supervisor>,
    pub metrics: std::sync::Arc<Metrics>,
    pub guard: std::sync::Arc<Guard>,
    /// For the Flink UI proxy.
    pub http: reqwest::Client,
    /// For the Flink UI of a Kubernetes cluster (reached through the API server).
    pub shared: std::sync::Arc<crate::actors::Shared>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    pub deployment_id: Option<Uuid>,
}

#[derive(Serialize)]
struct Items<T> {
    items: Vec<T>,
}

/// An API error: a status code and a message.
pub struct ApiError(StatusCode, String);

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "message": self.1 });
        (self.0, axum::Json(body)).into_response()
    }
}

/// JSON, or YAML when the client asks for it.
fn respond<T: Serialize>(headers: &HeaderMap, value: &T) -> Response {
    let yaml = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("yaml"));
    if yaml {
        match serde_yaml::to_string(value) {
            Ok(text) => ([(header::CONTENT_TYPE, "application/yaml")], text).into_response(),
            Err(e) => ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        }
    } else {
        axum::Json(value).into_response()
    }
}

impl ApiState {
    /// Runs a read on the store's thread.
    async fn read<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Store) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, ApiError> {
        self.store
            .send(Exec::new(f))
            .await
            .map_err(|e| {
                ApiError(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("the store is not answering: {e}"),
                )
            })?
            .map_err(ApiError::from)
    }
}

/// The parts of a Flink setting's key that make its value a secret: Flink's own list
/// (`GlobalConfiguration`'s sensitive keys) and a few more.
const SECRET_KEY_PARTS: &[&str] = &[
    "password",
    "secret",
    "token",
    "apikey",
    "api-key",
    "auth-params",
    "service-key",
    "basic-auth",
    "jaas.config",
    "http-headers",
    "fs.azure.account.key",
    "credential",
];

/// A template as the API shows it: values of secret settings masked.
fn mask_template(t: &mut crate::spec::DeploymentTemplate) {
    if let Some(conf) = t.spec.as_mut().and_then(|t| t.flink_configuration.as_mut()) {
        for (key, value) in conf.iter_mut() {
            let key = key.to_ascii_lowercase();
            if SECRET_KEY_PARTS.iter().any(|p| key.contains(p)) {
                *value = "******".to_string();
            }
        }
    }
}

/// A Deployment as the API shows it.
fn masked(mut d: crate::spec::Deployment) -> crate::spec::Deployment {
    if let Some(t) = d.spec.template.as_mut() {
        mask_template(std::sync::Arc::make_mut(t));
    }
    d
}

/// A Job's records as the API shows them.
fn masked_jobs(st: &Store, id: Uuid) -> Result<Vec<crate::spec::Job>, StoreError> {
    let mut jobs = st.jobs(id)?;
    for j in &mut jobs {
        mask_template(std::sync::Arc::make_mut(&mut j.spec.template));
    }
    Ok(jobs)
}

/// `?watch=true` of the Deployments list.
#[derive(Debug, Deserialize)]
pub struct WatchQuery {
    #[serde(default)]
    pub watch: bool,
}

async fn deployments(
    State(s): State<ApiState>,
    Path(ns): Path<String>,
    Query(w): Query<WatchQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    list_deployments(s, Some(ns), w, headers).await
}

/// `GET /api/v1/deployments`: the Deployments of every namespace (for the console).
async fn all_deployments(
    State(s): State<ApiState>,
    Query(w): Query<WatchQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    list_deployments(s, None, w, headers).await
}

async fn list_deployments(
    s: ApiState,
    ns: Option<String>,
    w: WatchQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if w.watch {
        return Ok(watch::stream(s, ns).into_response());
    }
    let items = s
        .read(move |st| st.deployments(ns.as_deref()))
        .await?
        .into_iter()
        .filter(|d| !d.removed)
        .map(|d| masked(d.deployment))
        .collect();
    Ok(respond(&headers, &Items { items }))
}

async fn deployment(
    State(s): State<ApiState>,
    Path((ns, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = Identity {
        namespace: ns,
        name,
    };
    let label = id.to_string();
    let ui = proxy::current_cluster(&s, id.clone())
        .await?
        .map(|c| crate::spec::FlinkUi {
            url: c.rest_url(),
            proxy: proxy::path_of(&id),
        });
    match s.read(move |st| st.deployment(&id)).await? {
        Some(d) if !d.removed => {
            let mut d = masked(d.deployment);
            if let Some(status) = d.status.as_mut() {
                status.flink_ui = ui;
            }
            Ok(respond(&headers, &d))
        }
        _ => Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("no Deployment {label}"),
        )),
    }
}

/// `GET …/deployments/{name}/lifecycle`: the Deployment's lifecycle as the daemon has it
/// on record (`{"lifecycle": …}`, null before its first step), for `flinkd plan`. Its
/// shape is flinkd's own and may change between versions.
async fn lifecycle(
    State(s): State<ApiState>,
    Path((ns, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = Identity {
        namespace: ns,
        name,
    };
    let label = id.to_string();
    let found = s
        .read(move |st| match st.deployment(&id)? {
            Some(d) if !d.removed => {
                let uuid = d.deployment.metadata.id.unwrap_or_default();
                Ok(Some(st.lifecycle(uuid)?))
            }
            _ => Ok(None),
        })
        .await?;
    match found {
        Some(json) => {
            let value = json
                .and_then(|j| serde_json::from_str::<serde_json::Value>(&j).ok())
                .unwrap_or(serde_json::Value::Null);
            Ok(respond(
                &headers,
                &serde_json::json!({ "lifecycle": value }),
            ))
        }
        None => Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("no Deployment {label}"),
        )),
    }
}

/// The Deployments a filtered list covers: the one named, or all of the namespace.
fn scope(st: &Store, ns: &str, filter: &Filter) -> Result<Vec<Uuid>, StoreError> {
    let all = st.deployments(Some(ns))?;
    Ok(all
        .into_iter()
        .filter_map(|d| d.deployment.metadata.id)
        .filter(|id| filter.deployment_id.is_none_or(|want| want == *id))
        .collect())
}

/// A list of one kind of record, for the Deployments a filter covers.
async fn per_deployment<T: Serialize + Send + 'static>(
    s: &ApiState,
    ns: String,
    filter: Filter,
    headers: &HeaderMap,
    records: fn(&Store, Uuid) -> Result<Vec<T>, StoreError>,
) -> Result<Response, ApiError> {
    let items = s
        .read(move |st| {
            let mut out = Vec::new();
            for id in scope(st, &ns, &filter)? {
                out.extend(records(st, id)?);
            }
            Ok(out)
        })
        .await?;
    Ok(respond(headers, &Items { items }))
}

async fn jobs(
    State(s): State<ApiState>,
    Path(ns): Path<String>,
    Query(f): Query<Filter>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    per_deployment(&s, ns, f, &headers, masked_jobs).await
}

async fn savepoints(
    State(s): State<ApiState>,
    Path(ns): Path<String>,
    Query(f): Query<Filter>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    per_deployment(&s, ns, f, &headers, Store::savepoints).await
}

/// `POST .../savepoints?deploymentId=` (or `{"metadata": {"deploymentId": …}}`): a
/// savepoint of the Deployment's running job, origin USER_REQUEST. Answers 201 with the
/// Savepoint record (STARTED); poll it for COMPLETED. With `{"spec":
/// {"savepointLocation": …}}`, a savepoint taken elsewhere is imported instead (origin
/// IMPORTED, COMPLETED), the newest restore point of the Deployment.
async fn trigger_savepoint(
    State(s): State<ApiState>,
    Path(ns): Path<String>,
    Query(f): Query<Filter>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let body = serde_json::from_slice::<serde_json::Value>(&body).unwrap_or_default();
    let from_body = body["metadata"]["deploymentId"]
        .as_str()
        .and_then(|id| Uuid::parse_str(id).ok());
    let import = body["spec"]["savepointLocation"]
        .as_str()
        .map(str::to_string);
    if let Some(Err(why)) = import.as_deref().map(crate::validate::check_location) {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!("spec.savepointLocation: {why}"),
        ));
    }
    let Some(id) = f.deployment_id.or(from_body) else {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "say which Deployment: ?deploymentId=".into(),
        ));
    };
    let known = s
        .read(move |st| {
            Ok(st
                .deployment_by_id(id)?
                .filter(|d| !d.removed && d.deployment.metadata.namespace() == ns))
        })
        .await?;
    if known.is_none() {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("no Deployment with id {id} in this namespace"),
        ));
    }
    let asked = match import {
        Some(location) => {
            s.supervisor
                .send(crate::actors::supervisor::ImportFor {
                    deployment: id,
                    location,
                })
                .await
        }
        None => s.supervisor.send(SavepointFor { deployment: id }).await,
    };
    let sp = asked
        .map_err(|e| ApiError(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?
        .map_err(|e| {
            use crate::actors::deployment::SavepointRefused;
            use crate::actors::supervisor::SavepointError;
            // A refusal is the client's to handle; a failure of flinkd's is not.
            let status = match &e {
                SavepointError::Unknown(_) => StatusCode::NOT_FOUND,
                SavepointError::Refused(SavepointRefused::NotNow(_)) => StatusCode::CONFLICT,
                SavepointError::Refused(SavepointRefused::Internal(_))
                | SavepointError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            };
            ApiError(status, e.to_string())
        })?;
    let mut response = respond(&headers, &sp);
    *response.status_mut() = StatusCode::CREATED;
    Ok(response)
}

/// `?after=SEQ&limit=N` of the events list: a page at a time, never the whole log.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventsPage {
    pub deployment_id: Option<Uuid>,
    #[serde(default)]
    pub after: i64,
    pub limit: Option<u32>,
}

/// The most events one answer holds.
pub const MAX_EVENTS_PAGE: u32 = 1000;

#[derive(Serialize)]
struct Page<T> {
    items: Vec<T>,
    /// The `after` of the next page, when there may be one.
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<i64>,
}

/// Events, oldest first, a page at a time (`next` says where the following one starts).
async fn events(
    State(s): State<ApiState>,
    Path(ns): Path<String>,
    Query(p): Query<EventsPage>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let limit = p.limit.unwrap_or(MAX_EVENTS_PAGE).clamp(1, MAX_EVENTS_PAGE);
    let items = s
        .read(move |st| st.events_page(&ns, p.deployment_id, p.after, limit))
        .await?;
    let next = (items.len() == limit as usize)
        .then(|| items.last().map(|e| e.seq))
        .flatten();
    Ok(respond(&headers, &Page { items, next }))
}

async fn healthz(State(s): State<ApiState>) -> Result<&'static str, ApiError> {
    s.read(|st| st.schema_version()).await?;
    Ok("ok\n")
}

/// The metrics page; the record counts are read from the store first.
async fn metrics(State(s): State<ApiState>) -> Result<Response, ApiError> {
    let counts = s.read(|st| st.state_counts()).await?;
    let m = &s.metrics;
    for state in DeploymentState::ALL {
        m.deployments
            .get_or_create(&label("status", state))
            .set(counts.deployments(state.as_str()));
    }
    for state in JobState::ALL {
        m.jobs
            .get_or_create(&label("state", state))
            .set(counts.jobs(state.as_str()));
    }
    for state in SavepointState::ALL {
        m.savepoints
            .get_or_create(&label("state", state))
            .set(counts.savepoints(state.as_str()));
    }
    let text = m
        .encode()
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

async fn not_found() -> ApiError {
    ApiError(StatusCode::NOT_FOUND, "no such path".into())
}

pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/", get(console::index))
        .route("/console/{asset}", get(console::asset))
        .route("/favicon.ico", get(console::favicon))
        .route("/api/v1/deployments", get(all_deployments))
        .route("/api/v1/namespaces/{ns}/deployments", get(deployments))
        .route(
            "/api/v1/namespaces/{ns}/deployments/{name}",
            get(deployment),
        )
        .route(
            "/api/v1/namespaces/{ns}/deployments/{name}/lifecycle",
            get(lifecycle),
        )
        .route(
            "/api/v1/namespaces/{ns}/deployments/{name}/logs",
            get(logs::logs),
        )
        .route("/flink/{ns}/{name}", axum::routing::any(proxy::bare))
        .route("/flink/{ns}/{name}/", axum::routing::any(proxy::root))
        .route(
            "/flink/{ns}/{name}/{*rest}",
            axum::routing::any(proxy::rest),
        )
        .route("/api/v1/namespaces/{ns}/jobs", get(jobs))
        .route(
            "/api/v1/namespaces/{ns}/savepoints",
            get(savepoints).post(trigger_savepoint),
        )
        .route("/api/v1/namespaces/{ns}/events", get(events))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.guard.clone(),
            guard::check,
        ))
        .with_state(state)
}

/// Binds the API's address: an address in use is an error at start.
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await
}

/// How long a client may take to send a request's headers (a slowloris is cut off),
/// and to send the next request on a connection kept open.
const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// Connections served at once; more wait to be accepted.
const MAX_CONNECTIONS: usize = 4096;

/// Serves the API on `listener` until the process ends: every connection with a bound
/// on its headers' time, at most [`MAX_CONNECTIONS`] at once.
pub fn serve(listener: tokio::net::TcpListener, state: ApiState) {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!("API listening on http://{addr}");
    }
    let app = router(state);
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    tokio::spawn(async move {
        loop {
            let Ok(slot) = slots.clone().acquire_owned().await else {
                return;
            };
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of descriptors, say: wait rather than spin.
                    tracing::warn!("the API could not accept a connection: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            };
            let service = hyper_util::service::TowerToHyperService::new(app.clone());
            tokio::spawn(async move {
                let _slot = slot;
                // HTTP/1 only: no protocol sniffing and no HTTP/2 stream without the
                // header timer, which starts with the connection.
                let mut http = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                )
                .http1_only();
                http.http1()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(HEADER_READ_TIMEOUT);
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = http.serve_connection(io, service).await;
            });
        }
    });
}
