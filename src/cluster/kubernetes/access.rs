//! How flinkd reaches the Kubernetes API and, through it, each cluster's Flink REST API.
//!
//! The kube client comes from `[kubernetes]`: a kubeconfig file and context when given,
//! else the standard discovery (the in-cluster service account, then `KUBECONFIG`,
//! then `~/.kube/config`). Flink's REST API is reached through the API server's service
//! proxy (`/api/v1/namespaces/NS/services/NAME:rest/proxy/...`), which works wherever
//! kubectl works, with every kind of credential kube supports: flinkd's Flink client
//! talks plain HTTP to a forwarder on a Unix socket of its own (in a directory only
//! flinkd's user can enter), and the forwarder sends each request on through the kube
//! client. The forwarder passes the service-proxy paths of flinkd's JobManager
//! Services only. With `rest = "direct"` (a flinkd inside the cluster) the client goes
//! to the Service's in-cluster address instead.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body as AxumBody;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kube::config::{KubeConfigOptions, Kubeconfig};

use super::api::KubeApi;
use super::{KubernetesCluster, REST_PORT};
use crate::config::{KubernetesConfig, RestAccess};

/// The kube client, and the HTTP client and address of each cluster's REST API.
pub struct KubeAccess {
    pub api: KubeApi,
    /// The API server's URL, as the kubeconfig (or the in-cluster config) names it.
    pub server: String,
    http: reqwest::Client,
    rest: RestAccess,
    /// The forwarder's task: ends with the access.
    forwarder: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for KubeAccess {
    fn drop(&mut self) {
        if let Some(f) = self.forwarder.take() {
            f.abort();
        }
    }
}

impl std::fmt::Debug for KubeAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeAccess")
            .field("rest", &self.rest)
            .finish()
    }
}

/// The kube client's config, as `[kubernetes]` says.
async fn kube_config(cfg: &KubernetesConfig) -> Result<kube::Config, String> {
    let options = KubeConfigOptions {
        context: cfg.context.clone(),
        ..KubeConfigOptions::default()
    };
    let mut config = match &cfg.kubeconfig {
        Some(path) => {
            let file = Kubeconfig::read_from(path)
                .map_err(|e| format!("kubernetes.kubeconfig {}: {e}", path.display()))?;
            kube::Config::from_custom_kubeconfig(file, &options)
                .await
                .map_err(|e| format!("kubernetes.kubeconfig {}: {e}", path.display()))?
        }
        None if cfg.context.is_none() && std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() => {
            kube::Config::incluster().map_err(|e| format!("the in-cluster service account: {e}"))?
        }
        None => kube::Config::from_kubeconfig(&options).await.map_err(|e| {
            format!("no Kubernetes config found (in-cluster, KUBECONFIG, ~/.kube/config): {e}")
        })?,
    };
    config.connect_timeout = Some(cfg.api_timeout);
    config.read_timeout = Some(cfg.api_timeout);
    config.write_timeout = Some(cfg.api_timeout);
    Ok(config)
}

/// Where the forwarder's socket is: under the state directory, or (a socket's path
/// holds about a hundred bytes) under the temporary directory, in a directory of
/// flinkd's user's only.
fn socket_path(state_dir: &Path) -> PathBuf {
    let under_state = state_dir.join("run").join("kube.sock");
    if under_state.as_os_str().len() < 100 {
        return under_state;
    }
    let hash = crate::spec::content_hash(state_dir.as_os_str().as_encoded_bytes());
    std::env::temp_dir()
        .join(format!("flinkd-{}", &hash[..12]))
        .join("kube.sock")
}

fn private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    // Not followed: a link another user planted could later point elsewhere.
    let meta = std::fs::symlink_metadata(dir)?;
    if !meta.is_dir() || meta.uid() != nix::unistd::geteuid().as_raw() {
        return Err(std::io::Error::other(format!(
            "{} is not a directory of flinkd's user (another user's, or a link)",
            dir.display()
        )));
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

impl KubeAccess {
    /// Connects: the kube client, and for the proxy way the forwarder on its socket.
    pub async fn connect(
        cfg: &KubernetesConfig,
        state_dir: &Path,
        http_timeout: Duration,
        max_body: u64,
    ) -> Result<KubeAccess, String> {
        let config = kube_config(cfg).await?;
        let server = config.cluster_url.to_string();
        // The forwarder's calls are Flink's: flinkd's Flink client decides about them
        // (kube retries a 503 for seconds; a proxy without endpoints answers 503).
        let mut once = config.clone();
        once.default_retry = false;
        let forwarding =
            kube::Client::try_from(once).map_err(|e| format!("the kube client: {e}"))?;
        let client = kube::Client::try_from(config).map_err(|e| format!("the kube client: {e}"))?;
        let (http, forwarder) = match cfg.rest {
            RestAccess::Direct => (crate::flink::http_client(http_timeout), None),
            RestAccess::Proxy => {
                let socket = socket_path(state_dir);
                let dir = socket.parent().unwrap_or(Path::new("/"));
                private_dir(dir).map_err(|e| format!("cannot prepare {}: {e}", dir.display()))?;
                let _ = std::fs::remove_file(&socket);
                let listener = tokio::net::UnixListener::bind(&socket)
                    .map_err(|e| format!("cannot listen on {}: {e}", socket.display()))?;
                let app = axum::Router::new()
                    .fallback(forward)
                    .with_state(Arc::new(Forwarder {
                        client: forwarding,
                        max_body: max_body.saturating_add(1 << 20),
                        timeout: http_timeout,
                    }));
                let task = tokio::spawn(async move {
                    if let Err(e) = axum::serve(listener, app).await {
                        tracing::error!("the Kubernetes REST forwarder stopped: {e}");
                    }
                });
                let http = reqwest::Client::builder()
                    .unix_socket(socket.as_path())
                    .timeout(http_timeout)
                    .connect_timeout(http_timeout)
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .map_err(|e| format!("the REST client: {e}"))?;
                (http, Some(task))
            }
        };
        Ok(KubeAccess {
            api: KubeApi::new(client),
            server,
            http,
            rest: cfg.rest,
            forwarder,
        })
    }

    /// The HTTP client that reaches the clusters' REST APIs.
    pub fn http(&self) -> reqwest::Client {
        self.http.clone()
    }

    /// The base of a cluster's Flink REST API, for [`KubeAccess::http`].
    pub fn flink_base(&self, c: &KubernetesCluster) -> String {
        match self.rest {
            RestAccess::Proxy => format!(
                "http://kubernetes{}",
                proxy_path(&c.namespace, &c.job_manager())
            ),
            RestAccess::Direct => {
                format!("http://{}.{}.svc:{REST_PORT}", c.job_manager(), c.namespace)
            }
        }
    }
}

/// The API server's path to a Service's `rest` port.
pub fn proxy_path(namespace: &str, service: &str) -> String {
    format!("/api/v1/namespaces/{namespace}/services/{service}:rest/proxy")
}

struct Forwarder {
    client: kube::Client,
    max_body: u64,
    timeout: Duration,
}

/// Whether a path is the service proxy of one of flinkd's JobManager Services.
fn allowed(path: &str) -> bool {
    let Some(rest) = path.strip_prefix("/api/v1/namespaces/") else {
        return false;
    };
    let mut parts = rest.splitn(4, '/');
    let (Some(ns), Some("services"), Some(service), Some(tail)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let name = service.strip_suffix(":rest").unwrap_or("");
    // Both are DNS labels: nothing percent-encoded that the API server would decode
    // into another path.
    let label = |s: &str| {
        !s.is_empty()
            && s.len() <= 63
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    // `flink-NAME-ID8-jobmanager` (crate::cluster::kubernetes::base_name).
    let job_id = name
        .strip_suffix("-jobmanager")
        .and_then(|n| n.rsplit_once('-'))
        .map(|(_, id)| id);
    label(ns)
        && label(name)
        && name.starts_with("flink-")
        && job_id.is_some_and(|id| {
            id.len() == 8
                && id
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        })
        && (tail == "proxy" || tail.starts_with("proxy/"))
        && !tail.split('/').any(|s| {
            let s = s.to_ascii_lowercase().replace("%2e", ".");
            s == ".." || s == "."
        })
        && !path.contains('\\')
        && !["%2f", "%5c"]
            .iter()
            .any(|e| tail.to_ascii_lowercase().contains(e))
}

async fn forward(State(f): State<Arc<Forwarder>>, req: Request) -> Response {
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    if !allowed(req.uri().path()) {
        return (StatusCode::FORBIDDEN, "not a flinkd JobManager's REST API").into_response();
    }
    let (parts, body) = req.into_parts();
    let limit = usize::try_from(f.max_body).unwrap_or(usize::MAX);
    let bytes = match axum::body::to_bytes(body, limit).await {
        Ok(b) => b,
        Err(e) => return (StatusCode::PAYLOAD_TOO_LARGE, e.to_string()).into_response(),
    };
    let mut out = axum::http::Request::builder()
        .method(parts.method)
        .uri(path_and_query);
    // What a REST call to Flink needs, and nothing the API server would act on
    // (`Impersonate-*`, credentials).
    for (name, value) in parts.headers.iter() {
        if matches!(
            name.as_str(),
            "accept"
                | "accept-encoding"
                | "accept-language"
                | "content-type"
                | "user-agent"
                | "cache-control"
                | "if-none-match"
                | "if-modified-since"
        ) {
            out = out.header(name, value);
        }
    }
    let Ok(out) = out.body(kube::client::Body::from(bytes.to_vec())) else {
        return (
            StatusCode::BAD_REQUEST,
            "a request that cannot be forwarded",
        )
            .into_response();
    };
    match tokio::time::timeout(f.timeout, f.client.send(out)).await {
        Ok(Ok(resp)) => {
            let (parts, body) = resp.into_parts();
            Response::from_parts(parts, AxumBody::new(body))
        }
        Ok(Err(e)) => (
            StatusCode::BAD_GATEWAY,
            format!("the Kubernetes API server: {e}"),
        )
            .into_response(),
        Err(_) => (
            StatusCode::GATEWAY_TIMEOUT,
            "the Kubernetes API server did not answer in time",
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_flinkd_s_job_manager_services_are_forwarded() {
        assert!(allowed(
            "/api/v1/namespaces/team/services/flink-counter-0f8fad5b-jobmanager:rest/proxy/jobs/1"
        ));
        assert!(allowed(
            "/api/v1/namespaces/team/services/flink-counter-0f8fad5b-jobmanager:rest/proxy"
        ));
        for refused in [
            "/api/v1/namespaces/team/secrets/x",
            "/api/v1/namespaces/team/services/kube-dns:dns/proxy/",
            "/api/v1/namespaces/team/services/flink-x-0f8fad5b-jobmanager:rest/proxy/../../secrets",
            "/api/v1/namespaces/team/services/flink-x-0f8fad5b-jobmanager:rest/proxy/%2e%2E/%2e%2e/secrets",
            "/api/v1/namespaces/team/pods/flink-x-0f8fad5b-jobmanager/proxy/",
            "/apis/apps/v1/namespaces/team/deployments",
            "/api/v1/namespaces/team/services/flink-x-0f8fad5b-jobmanager:rest",
            "/api/v1/namespaces/team/services/flink-a%2F..%2F..%2Fsecrets%2Fx-jobmanager:rest/proxy",
            "/api/v1/namespaces/te%2Fam/services/flink-x-0f8fad5b-jobmanager:rest/proxy",
            "/api/v1/namespaces/../services/flink-x-0f8fad5b-jobmanager:rest/proxy",
            "/api/v1/namespaces/team/services/flink-not-flinkd-s-jobmanager:rest/proxy",
            "/api/v1/namespaces/team/services/flink-x-0f8fad5b-jobmanager:rest/proxy/..%2F..%2Fsecrets",
            "/api/v1/namespaces/team/services/flink-x-0f8fad5b-jobmanager:rest/proxy/a%5c..",
        ] {
            assert!(!allowed(refused), "{refused}");
        }
    }

    #[test]
    fn a_long_state_directory_puts_the_socket_under_the_temporary_directory() {
        assert_eq!(
            socket_path(Path::new("/var/lib/flinkd")),
            Path::new("/var/lib/flinkd/run/kube.sock")
        );
        let long = PathBuf::from("/").join("d".repeat(120));
        let p = socket_path(&long);
        assert!(p.starts_with(std::env::temp_dir()), "{}", p.display());
        assert!(p.as_os_str().len() < 100);
    }
}
