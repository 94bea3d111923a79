//! The Flink web UI through flinkd: `/flink/{namespace}/{name}/…` goes to the cluster of
//! the Deployment's current job (its REST API, and the web UI's pages and assets), so
//! one address serves every cluster, and the address follows the Deployment to its next
//! cluster after an upgrade. Read only (GET and HEAD): a job submitted or cancelled
//! through the UI behind flinkd's back would break "at most one job per Deployment".
//! The API's guard (Host allow-list, token) covers these paths too, and flinkd's token
//! is not passed on to Flink.

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use uuid::Uuid;

use super::{ApiError, ApiState};
use crate::cluster::Cluster;
use crate::spec::{Identity, JobState};

/// The path a Deployment's Flink UI is served at.
pub fn path_of(identity: &Identity) -> String {
    format!("/flink/{}/{}/", identity.namespace, identity.name)
}

/// The REST address of the cluster of the Deployment's current job, if it has one,
/// and the client that reaches it (a Kubernetes cluster's goes through the API server).
pub(super) async fn cluster_url(
    s: &ApiState,
    identity: Identity,
) -> Result<Option<(String, reqwest::Client)>, ApiError> {
    let Some(cluster) = current_cluster(s, identity).await? else {
        return Ok(None);
    };
    if let Cluster::Kubernetes(k) = &cluster {
        let access = s
            .shared
            .kube()
            .await
            .map_err(|e| ApiError(StatusCode::BAD_GATEWAY, e))?;
        return Ok(Some((access.flink_base(k), access.http())));
    }
    Ok(Some((cluster.rest_url(), s.http.clone())))
}

/// The cluster of the Deployment's current job, if it has one.
pub(super) async fn current_cluster(
    s: &ApiState,
    identity: Identity,
) -> Result<Option<Cluster>, ApiError> {
    s.read(move |st| {
        let Some(d) = st.deployment(&identity)?.filter(|d| !d.removed) else {
            return Ok(None);
        };
        let id: Uuid = d.deployment.metadata.id.unwrap_or_default();
        let current = st.jobs(id)?.into_iter().rev().find(|j| {
            matches!(
                j.status.state,
                JobState::Starting | JobState::Started | JobState::Terminating
            )
        });
        let Some(job) = current else { return Ok(None) };
        Cluster::of_job(st, job.metadata.id)
    })
    .await
}

/// `/flink/{ns}/{name}`: the UI wants its trailing slash (its links are relative).
pub(super) async fn bare(Path((ns, name)): Path<(String, String)>) -> Redirect {
    Redirect::permanent(&format!("/flink/{ns}/{name}/"))
}

pub(super) async fn root(
    state: State<ApiState>,
    Path((ns, name)): Path<(String, String)>,
    req: Request,
) -> Result<Response, ApiError> {
    forward(state, ns, name, String::new(), req).await
}

pub(super) async fn rest(
    state: State<ApiState>,
    Path((ns, name, _)): Path<(String, String, String)>,
    req: Request,
) -> Result<Response, ApiError> {
    // The path as sent, still percent-encoded (decoding would change what it names),
    // after `/flink/{ns}/{name}/`.
    let raw = req
        .uri()
        .path()
        .splitn(5, '/')
        .nth(4)
        .unwrap_or_default()
        .to_string();
    if raw.split('/').any(is_dot_segment) {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "`.` and `..` segments do not leave the Deployment's Flink UI".into(),
        ));
    }
    forward(state, ns, name, raw, req).await
}

/// A segment that would climb out of the cluster's address (`..`, also encoded).
fn is_dot_segment(segment: &str) -> bool {
    let s = segment.to_ascii_lowercase().replace("%2e", ".");
    s == "." || s == ".."
}

/// Headers that belong to one connection, not to the request or answer passed on.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "authorization",
    "cookie",
    "content-length",
];

async fn forward(
    State(s): State<ApiState>,
    ns: String,
    name: String,
    rest: String,
    req: Request,
) -> Result<Response, ApiError> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Err(ApiError(
            StatusCode::METHOD_NOT_ALLOWED,
            "the Flink UI through flinkd is read only: flinkd alone submits, stops and cancels its jobs".into(),
        ));
    }
    let identity = Identity {
        namespace: ns,
        name,
    };
    let label = identity.to_string();
    let Some((base, http)) = cluster_url(&s, identity).await? else {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("{label} has no job with a cluster now"),
        ));
    };
    let query = req
        .uri()
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    let url = format!("{}/{rest}{query}", base.trim_end_matches('/'));
    let mut headers = HeaderMap::new();
    for (k, v) in req.headers() {
        if !HOP_BY_HOP.contains(&k.as_str()) {
            headers.insert(k.clone(), v.clone());
        }
    }
    let answer = http
        .request(req.method().clone(), &url)
        .headers(headers)
        .send()
        .await
        .map_err(|e| {
            ApiError(
                StatusCode::BAD_GATEWAY,
                format!("{label}'s cluster at {base} did not answer: {e}"),
            )
        })?;
    let mut response = Response::builder().status(answer.status());
    for (k, v) in answer.headers() {
        // Flink allows any origin by default; through flinkd, no other site's page
        // may read a cluster's configuration, logs or exceptions.
        let cors = k.as_str().starts_with("access-control-");
        if !HOP_BY_HOP.contains(&k.as_str()) && !cors {
            response = response.header(k, v);
        }
    }
    let body = Body::from_stream(answer.bytes_stream());
    let mut response = response
        .body(body)
        .map_err(|e| ApiError(StatusCode::BAD_GATEWAY, e.to_string()))?;
    // The UI's pages are the cluster's, not the daemon's own: never cached as such.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_segments_are_refused_encoded_or_not() {
        for s in [".", "..", "%2e%2e", "%2E.", ".%2e"] {
            assert!(is_dot_segment(s), "{s}");
        }
        for s in ["jobs", "..x", "a.b", "%2e%2ex", ""] {
            assert!(!is_dot_segment(s), "{s}");
        }
    }
}
