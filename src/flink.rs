//! A typed client for the part of Flink's REST API that flinkd uses.
//!
//! Requests and responses are serde structs with the fields we read (STYLE.md, habit 12).
//! An answer we cannot use is an error that keeps Flink's body; a rejected job keeps
//! Flink's own exception text, shortened to its causes, so that an event can say
//! "entry point class 'com.example.Nope' was not found in the jar file" rather than
//! "HTTP 500".
//!
//! One `reqwest::Client` is shared by every cluster (connection reuse), each request
//! bounded by the config's `timing.http_timeout`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A failed call to a Flink REST API.
mod disposal;
#[derive(Debug, Clone, thiserror::Error)]
pub enum FlinkError {
    /// No answer: connection refused, timeout. The cluster may be down.
    #[error("{endpoint}: no answer: {message}")]
    Unreachable { endpoint: String, message: String },
    /// An HTTP error, with Flink's own message.
    #[error("{endpoint}: HTTP {status}: {message}")]
    Rejected {
        endpoint: String,
        status: u16,
        message: String,
    },
    /// An answer that is not what the API documents.
    #[error("{endpoint}: unexpected answer ({message}): {body}")]
    Unexpected {
        endpoint: String,
        message: String,
        body: String,
    },
    /// A local file (the jar) could not be read.
    #[error("cannot read {path}: {message}")]
    Local { path: String, message: String },
}

impl FlinkError {
    pub fn is_unreachable(&self) -> bool {
        matches!(self, FlinkError::Unreachable { .. })
    }
}

/// `GET /overview`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Overview {
    pub taskmanagers: u32,
    #[serde(rename = "slots-total")]
    pub slots_total: u32,
    #[serde(rename = "flink-version", default)]
    pub flink_version: String,
}

/// A Flink job's state (`JobStatus` in Flink).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FlinkJobState {
    Initializing,
    Created,
    Running,
    Failing,
    Failed,
    Cancelling,
    Canceled,
    Finished,
    Restarting,
    Suspended,
    Reconciling,
}

impl FlinkJobState {
    /// Whether the job will never run again by itself.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            FlinkJobState::Failed | FlinkJobState::Canceled | FlinkJobState::Finished
        )
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct JobDetails {
    pub jid: String,
    pub state: FlinkJobState,
    /// When the job last entered each state (ms since the epoch; 0: never).
    #[serde(default)]
    pub timestamps: std::collections::HashMap<String, i64>,
}

impl JobDetails {
    /// When the job last entered RESTARTING, if it ever did.
    pub fn restarting_at(&self) -> Option<i64> {
        self.timestamps
            .get("RESTARTING")
            .copied()
            .filter(|t| *t > 0)
    }
}

#[derive(Debug, Clone, Deserialize)]
struct Upload {
    filename: String,
}

/// `POST /jars/{id}/run`. `programArgsList`, not the string `programArgs`, which
/// Flink 2.3 ignores.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry_class: Option<String>,
    pub program_args_list: Vec<String>,
    pub parallelism: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub savepoint_path: Option<String>,
    pub allow_non_restored_state: bool,
    /// The job id to give the job (Flink 1.9 and later): chosen and recorded before the
    /// submission, so that a submission cut short by a crash is found again, never
    /// repeated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
}

/// `GET /jars`: the jars uploaded to a cluster.
#[derive(Debug, Clone, Deserialize)]
struct Jars {
    #[serde(default)]
    files: Vec<JarFile>,
}

#[derive(Debug, Clone, Deserialize)]
struct JarFile {
    id: String,
    name: String,
}

#[derive(Debug, Clone, Deserialize)]
struct RunResponse {
    jobid: String,
}

#[derive(Debug, Clone, Deserialize)]
struct TriggerResponse {
    #[serde(rename = "request-id")]
    request_id: String,
}

/// The outcome of a savepoint or stop-with-savepoint operation.
#[derive(Debug, Clone, PartialEq)]
pub enum SavepointStatus {
    InProgress,
    Completed { location: String },
    Failed { cause: String },
}

#[derive(Debug, Deserialize)]
struct OperationStatus {
    status: StatusId,
    #[serde(default)]
    operation: Option<Operation>,
}

#[derive(Debug, Deserialize)]
struct StatusId {
    id: String,
}

#[derive(Debug, Deserialize)]
struct Operation {
    #[serde(default)]
    location: Option<String>,
    #[serde(rename = "failure-cause", default)]
    failure_cause: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct Checkpoints {
    #[serde(default)]
    latest: Option<LatestCheckpoints>,
}

#[derive(Debug, Deserialize)]
struct LatestCheckpoints {
    #[serde(default)]
    completed: Option<CompletedCheckpoint>,
    #[serde(default)]
    savepoint: Option<CompletedCheckpoint>,
}

/// The newest completed checkpoint of a job.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CompletedCheckpoint {
    pub id: u64,
    #[serde(default)]
    pub external_path: Option<String>,
    /// When it completed (ms since the epoch, Flink's clock).
    #[serde(default)]
    pub latest_ack_timestamp: Option<i64>,
}

impl CompletedCheckpoint {
    pub fn completed_at(&self) -> Option<time::OffsetDateTime> {
        let ms = self.latest_ack_timestamp.filter(|ms| *ms > 0)?;
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()
    }
}

#[derive(Debug, Deserialize)]
struct Metric {
    id: String,
    value: String,
}

#[derive(Debug, Deserialize)]
struct Exceptions {
    #[serde(rename = "root-exception", default)]
    root_exception: Option<String>,
    #[serde(rename = "exceptionHistory", default)]
    exception_history: Option<ExceptionHistory>,
}

#[derive(Debug, Deserialize)]
struct ExceptionHistory {
    #[serde(default)]
    entries: Vec<ExceptionEntry>,
}

#[derive(Debug, Deserialize)]
struct ExceptionEntry {
    timestamp: i64,
}

/// Flink's error body: `{"errors": ["...", "..."]}`.
fn flink_message(body: &str) -> String {
    #[derive(Deserialize)]
    struct Errors {
        errors: Vec<String>,
    }
    match serde_json::from_str::<Errors>(body) {
        Ok(e) => crate::java_error::summarize(&e.errors.join("\n")),
        Err(_) => crate::java_error::summarize(body),
    }
}

/// A client for one Flink cluster's REST API.
#[derive(Clone)]
pub struct FlinkClient {
    http: reqwest::Client,
    base: String,
    metrics: Option<std::sync::Arc<crate::metrics::Metrics>>,
    /// Requests in flight to this cluster, shared by all its clients.
    limit: Option<std::sync::Arc<tokio::sync::Semaphore>>,
}

impl std::fmt::Debug for FlinkClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FlinkClient({})", self.base)
    }
}

/// At most this many requests are in flight to one cluster: thousands of jobs on one
/// session cluster are polled over a few kept-alive connections, not thousands.
pub const MAX_REQUESTS_PER_CLUSTER: usize = 8;

/// Builds the HTTP client every cluster shares.
pub fn http_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(MAX_REQUESTS_PER_CLUSTER)
        .build()
        .unwrap_or_default()
}

/// The most of a REST answer flinkd reads: Flink's largest (a job's exception history)
/// is far below it; a peer sending more is not Flink.
pub const MAX_BODY: usize = 16 << 20;

/// An answer's body, up to [`MAX_BODY`].
async fn read_bounded(mut resp: reqwest::Response, endpoint: &str) -> Result<String, FlinkError> {
    let mut body = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_BODY {
                    return Err(FlinkError::Unexpected {
                        endpoint: endpoint.to_string(),
                        message: format!("the answer is larger than {} MiB", MAX_BODY >> 20),
                        body: String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
                    });
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(String::from_utf8_lossy(&body).into_owned()),
            Err(e) => {
                return Err(FlinkError::Unreachable {
                    endpoint: endpoint.to_string(),
                    message: e.to_string(),
                })
            }
        }
    }
}

/// One entry of `GET /jobmanager/config`.
#[derive(Debug, Deserialize)]
struct ConfigEntry {
    key: String,
    value: String,
}

/// The message of a Kubernetes `Status` object (which Flink never answers with).
fn kubernetes_status(body: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Status {
        kind: String,
        #[serde(rename = "apiVersion")]
        api_version: String,
        #[serde(default)]
        message: String,
    }
    serde_json::from_str::<Status>(body)
        .ok()
        .filter(|s| s.kind == "Status" && s.api_version == "v1")
        .map(|s| s.message)
}

impl FlinkClient {
    /// `base` is the REST endpoint, e.g. `http://127.0.0.1:8081`.
    pub fn new(http: reqwest::Client, base: impl Into<String>) -> FlinkClient {
        FlinkClient {
            http,
            base: base.into().trim_end_matches('/').to_string(),
            metrics: None,
            limit: None,
        }
    }

    /// Shares `limit` (one per cluster) with every other client of the cluster.
    pub fn with_limit(mut self, limit: std::sync::Arc<tokio::sync::Semaphore>) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Records every request's duration and failures in `metrics`.
    pub fn with_metrics(mut self, metrics: std::sync::Arc<crate::metrics::Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn send(
        &self,
        endpoint: String,
        req: reqwest::RequestBuilder,
    ) -> Result<String, FlinkError> {
        let _permit = match &self.limit {
            Some(limit) => limit.acquire().await.ok(),
            None => None,
        };
        let started = std::time::Instant::now();
        let result = self.send_once(endpoint, req).await;
        if let Some(m) = &self.metrics {
            m.rest_seconds.observe(started.elapsed().as_secs_f64());
            if let Err(e) = &result {
                let kind = match e {
                    FlinkError::Unreachable { .. } => "unreachable",
                    FlinkError::Rejected { .. } => "rejected",
                    FlinkError::Unexpected { .. } => "unexpected",
                    FlinkError::Local { .. } => "local",
                };
                m.rest_errors
                    .get_or_create(&crate::metrics::label("kind", kind))
                    .inc();
            }
        }
        result
    }

    async fn send_once(
        &self,
        endpoint: String,
        req: reqwest::RequestBuilder,
    ) -> Result<String, FlinkError> {
        let resp = req.send().await.map_err(|e| FlinkError::Unreachable {
            endpoint: endpoint.clone(),
            message: e.to_string(),
        })?;
        let status = resp.status();
        let body = read_bounded(resp, &endpoint).await?;
        // A gateway's "the server behind me did not answer" (a reverse proxy, the
        // Kubernetes API server's service proxy without endpoints) and Flink's own
        // "leader election under way": no answer from the JobManager.
        if matches!(status.as_u16(), 502..=504) {
            return Err(FlinkError::Unreachable {
                endpoint,
                message: format!("HTTP {}: {}", status.as_u16(), flink_message(&body)),
            });
        }
        // The Kubernetes API server's own refusal on the way (the Service not there,
        // a proxy not allowed): the JobManager was not asked, so it says nothing of
        // the job (whether the cluster is there is the API server's to say).
        if let Some(said) = kubernetes_status(&body).filter(|_| !status.is_success()) {
            return Err(FlinkError::Unreachable {
                endpoint,
                message: format!(
                    "the Kubernetes API server answered HTTP {} on the way to the JobManager: {said}",
                    status.as_u16()
                ),
            });
        }
        if !status.is_success() {
            return Err(FlinkError::Rejected {
                endpoint,
                status: status.as_u16(),
                message: flink_message(&body),
            });
        }
        Ok(body)
    }

    fn decode<T: serde::de::DeserializeOwned>(endpoint: &str, body: &str) -> Result<T, FlinkError> {
        serde_json::from_str(body).map_err(|e| FlinkError::Unexpected {
            endpoint: endpoint.to_string(),
            message: e.to_string(),
            body: body.chars().take(1000).collect(),
        })
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, FlinkError> {
        let endpoint = format!("GET {}", self.url(path));
        let body = self
            .send(endpoint.clone(), self.http.get(self.url(path)))
            .await?;
        Self::decode(&endpoint, &body)
    }

    async fn post<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        json: &impl Serialize,
    ) -> Result<T, FlinkError> {
        let endpoint = format!("POST {}", self.url(path));
        let body = self
            .send(endpoint.clone(), self.http.post(self.url(path)).json(json))
            .await?;
        Self::decode(&endpoint, &body)
    }

    /// `GET /jobmanager/config`: the value the JobManager has for `key`, if any.
    pub async fn config_value(&self, key: &str) -> Result<Option<String>, FlinkError> {
        let entries: Vec<ConfigEntry> = self.get("/jobmanager/config").await?;
        Ok(entries.into_iter().find(|e| e.key == key).map(|e| e.value))
    }

    /// `GET /overview`: TaskManagers and slots registered.
    pub async fn overview(&self) -> Result<Overview, FlinkError> {
        self.get("/overview").await
    }

    /// `GET /jars`: the id of an uploaded jar with this file name, if there is one.
    pub async fn find_jar(&self, name: &str) -> Result<Option<String>, FlinkError> {
        let jars: Jars = self.get("/jars").await?;
        Ok(jars
            .files
            .into_iter()
            .find(|f| f.name == name)
            .map(|f| f.id))
    }

    /// `POST /jars/upload`; returns the jar id for [`FlinkClient::run`].
    pub async fn upload_jar(&self, jar: &crate::artifact::Jar) -> Result<String, FlinkError> {
        let name = jar
            .path()
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("job.jar")
            .to_string();
        self.upload_jar_as(jar, &name).await
    }

    /// `POST /jars/upload` under the file name `name`.
    pub async fn upload_jar_as(
        &self,
        jar: &crate::artifact::Jar,
        name: &str,
    ) -> Result<String, FlinkError> {
        let local = |e: std::io::Error| FlinkError::Local {
            path: jar.path().display().to_string(),
            message: e.to_string(),
        };
        // Streamed from the file opened when the jar was checked: a jar of hundreds of
        // MiB is never whole in memory, and no other file is sent.
        let file = tokio::fs::File::from_std(jar.reader().map_err(local)?);
        let name = name.to_string();
        let part =
            reqwest::multipart::Part::stream_with_length(reqwest::Body::from(file), jar.len())
                .file_name(name)
                .mime_str("application/x-java-archive")
                .map_err(|e| FlinkError::Local {
                    path: jar.path().display().to_string(),
                    message: e.to_string(),
                })?;
        let form = reqwest::multipart::Form::new().part("jarfile", part);
        let endpoint = format!("POST {}", self.url("/jars/upload"));
        let body = self
            .send(
                endpoint.clone(),
                self.http.post(self.url("/jars/upload")).multipart(form),
            )
            .await?;
        let upload: Upload = Self::decode(&endpoint, &body)?;
        // The jar id is the basename of the stored file.
        Ok(upload
            .filename
            .rsplit('/')
            .next()
            .unwrap_or(&upload.filename)
            .to_string())
    }

    /// `POST /jars/{id}/run`; returns Flink's job id.
    pub async fn run(&self, jar_id: &str, req: &RunRequest) -> Result<String, FlinkError> {
        let r: RunResponse = self.post(&format!("/jars/{jar_id}/run"), req).await?;
        Ok(r.jobid)
    }

    /// `GET /jobs/{id}`.
    pub async fn job(&self, job_id: &str) -> Result<JobDetails, FlinkError> {
        self.get(&format!("/jobs/{job_id}")).await
    }

    /// The root exception of a job (why it failed), if Flink has one.
    pub async fn root_exception(&self, job_id: &str) -> Result<Option<String>, FlinkError> {
        let e: Exceptions = self.get(&format!("/jobs/{job_id}/exceptions")).await?;
        Ok(e.root_exception.map(|t| crate::java_error::summarize(&t)))
    }

    /// When the job failed over (restarted), from its exception history: one entry per
    /// restart, as many as Flink keeps (`web.exception-history-size`).
    pub async fn restart_times(
        &self,
        job_id: &str,
    ) -> Result<Vec<time::OffsetDateTime>, FlinkError> {
        let e: Exceptions = self.get(&format!("/jobs/{job_id}/exceptions")).await?;
        Ok(e.exception_history
            .map(|h| h.entries)
            .unwrap_or_default()
            .iter()
            .filter_map(|x| {
                time::OffsetDateTime::from_unix_timestamp_nanos(x.timestamp as i128 * 1_000_000)
                    .ok()
            })
            .collect())
    }

    /// `POST /jobs/{id}/stop`: graceful stop with a savepoint; returns the request id.
    /// `trigger_id` (Flink 1.15+): the request's id, chosen by flinkd and on record
    /// before it is sent, so that asking again after a crash takes no second savepoint.
    pub async fn stop_with_savepoint(
        &self,
        job_id: &str,
        target_directory: Option<&str>,
        trigger_id: Option<&str>,
    ) -> Result<String, FlinkError> {
        let mut body = serde_json::json!({"drain": false});
        if let Some(dir) = target_directory {
            body["targetDirectory"] = dir.into();
        }
        if let Some(id) = trigger_id {
            body["triggerId"] = id.into();
        }
        let r: TriggerResponse = self.post(&format!("/jobs/{job_id}/stop"), &body).await?;
        Ok(r.request_id)
    }

    /// `POST /jobs/{id}/savepoints` without cancelling; returns the request id.
    pub async fn trigger_savepoint(
        &self,
        job_id: &str,
        target_directory: Option<&str>,
        trigger_id: Option<&str>,
    ) -> Result<String, FlinkError> {
        let mut body = serde_json::json!({"cancel-job": false});
        if let Some(dir) = target_directory {
            body["target-directory"] = dir.into();
        }
        if let Some(id) = trigger_id {
            body["triggerId"] = id.into();
        }
        let r: TriggerResponse = self
            .post(&format!("/jobs/{job_id}/savepoints"), &body)
            .await?;
        Ok(r.request_id)
    }

    /// `GET /jobs/{id}/savepoints/{request}`: for both triggered savepoints and stops.
    pub async fn savepoint_status(
        &self,
        job_id: &str,
        request_id: &str,
    ) -> Result<SavepointStatus, FlinkError> {
        let path = format!("/jobs/{job_id}/savepoints/{request_id}");
        let s: OperationStatus = self.get(&path).await?;
        if s.status.id != "COMPLETED" {
            return Ok(SavepointStatus::InProgress);
        }
        let op = s.operation.unwrap_or(Operation {
            location: None,
            failure_cause: None,
        });
        Ok(match (op.location, op.failure_cause) {
            (Some(location), _) => SavepointStatus::Completed { location },
            (None, Some(cause)) => {
                let text = cause
                    .get("stack-trace")
                    .and_then(|s| s.as_str())
                    .map(str::to_string)
                    .unwrap_or_else(|| cause.to_string());
                SavepointStatus::Failed {
                    cause: crate::java_error::summarize(&text),
                }
            }
            (None, None) => SavepointStatus::Failed {
                cause: "Flink reported the savepoint COMPLETED without a location".to_string(),
            },
        })
    }

    /// `PATCH /jobs/{id}?mode=cancel`.
    pub async fn cancel(&self, job_id: &str) -> Result<(), FlinkError> {
        let url = self.url(&format!("/jobs/{job_id}?mode=cancel"));
        self.send(format!("PATCH {url}"), self.http.patch(url.clone()))
            .await?;
        Ok(())
    }

    /// The newest completed checkpoint, if any.
    pub async fn latest_checkpoint(
        &self,
        job_id: &str,
    ) -> Result<Option<CompletedCheckpoint>, FlinkError> {
        let c: Checkpoints = self.get(&format!("/jobs/{job_id}/checkpoints")).await?;
        Ok(c.latest.and_then(|l| l.completed))
    }

    /// The newest savepoint in the job's checkpoint history, if any: what a savepoint
    /// request Flink no longer remembers may have produced.
    pub async fn latest_savepoint(
        &self,
        job_id: &str,
    ) -> Result<Option<CompletedCheckpoint>, FlinkError> {
        let c: Checkpoints = self.get(&format!("/jobs/{job_id}/checkpoints")).await?;
        Ok(c.latest.and_then(|l| l.savepoint))
    }

    /// The job's `numRestarts` metric, when Flink has fetched it.
    pub async fn restarts(&self, job_id: &str) -> Result<Option<u64>, FlinkError> {
        let m: Vec<Metric> = self
            .get(&format!("/jobs/{job_id}/metrics?get=numRestarts"))
            .await?;
        Ok(m.iter()
            .find(|m| m.id == "numRestarts")
            .and_then(|m| m.value.parse().ok()))
    }
}

#[cfg(test)]
mod tests;
