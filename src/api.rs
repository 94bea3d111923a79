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

#[derive(Clone)]
pub struct ApiState {
    pub store: StoreHandle,
    pub supervisor: Addr<Supervisor>,
    pub metrics: std::sync::Arc<Metrics>,
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

async fn deployments(
    State(s): State<ApiState>,
    Path(ns): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let items = s
        .read(move |st| st.deployments(Some(&ns)))
        .await?
        .into_iter()
        .filter(|d| !d.removed)
        .map(|d| d.deployment)
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
    match s.read(move |st| st.deployment(&id)).await? {
        Some(d) if !d.removed => Ok(respond(&headers, &d.deployment)),
        _ => Err(ApiError(
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
    per_deployment(&s, ns, f, &headers, Store::jobs).await
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
/// Savepoint record (STARTED); poll it for COMPLETED.
async fn trigger_savepoint(
    State(s): State<ApiState>,
    Path(ns): Path<String>,
    Query(f): Query<Filter>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let from_body = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| {
            v["metadata"]["deploymentId"]
                .as_str()
                .and_then(|id| Uuid::parse_str(id).ok())
        });
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
    let sp = s
        .supervisor
        .send(SavepointFor { deployment: id })
        .await
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

/// Events, oldest first (each Deployment's log is in order already).
async fn events(
    State(s): State<ApiState>,
    Path(ns): Path<String>,
    Query(f): Query<Filter>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let items = s
        .read(move |st| {
            let mut out = Vec::new();
            for id in scope(st, &ns, &f)? {
                out.extend(st.events(id)?);
            }
            out.sort_by_key(|e| e.seq);
            Ok(out)
        })
        .await?;
    Ok(respond(&headers, &Items { items }))
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
        .route("/api/v1/namespaces/{ns}/deployments", get(deployments))
        .route(
            "/api/v1/namespaces/{ns}/deployments/{name}",
            get(deployment),
        )
        .route("/api/v1/namespaces/{ns}/jobs", get(jobs))
        .route(
            "/api/v1/namespaces/{ns}/savepoints",
            get(savepoints).post(trigger_savepoint),
        )
        .route("/api/v1/namespaces/{ns}/events", get(events))
        .fallback(not_found)
        .with_state(state)
}

/// Binds the API's address: an address in use is an error at start.
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await
}

/// Serves the API on `listener` until the process ends.
pub fn serve(listener: tokio::net::TcpListener, state: ApiState) {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!("API listening on http://{addr}");
    }
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router(state)).await {
            tracing::error!("the API stopped: {e}");
        }
    });
}
