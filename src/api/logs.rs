//! `GET …/deployments/{name}/logs?taskmanager=N&offset=B`: the current job's JobManager
//! (or TaskManager N) log, a bounded piece at a time: `{"file", "text", "next"}`, where
//! `next` is the offset to ask from to follow it (`flinkd logs -f`). A local cluster's
//! from its files; an external cluster's from Flink's REST API.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path as FsPath, PathBuf};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::{respond, ApiError, ApiState};
use crate::cluster::Cluster;
use crate::spec::Identity;

/// The most one answer holds; without an offset, the end of the log.
const PIECE: u64 = 256 << 10;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct LogQuery {
    taskmanager: Option<u32>,
    offset: Option<u64>,
}

/// A local cluster's log file of its JobManager, or of its TaskManager `n` (in the
/// order Flink numbered them).
fn local_file(dir: &FsPath, taskmanager: Option<u32>) -> Option<PathBuf> {
    let role = match taskmanager {
        None => "standalonesession",
        Some(_) => "taskexecutor",
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.contains(role) && n.ends_with(".log"))
        })
        .collect();
    // In Flink's numbering (`…-taskexecutor-10-…` after `…-2-…`), not as text.
    let number = |p: &PathBuf| -> u64 {
        p.file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.split_once(role))
            .map(|(_, rest)| rest.trim_start_matches('-'))
            .and_then(|rest| rest.split('-').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(u64::MAX)
    };
    files.sort_by_key(|p| (number(p), p.clone()));
    files.into_iter().nth(taskmanager.unwrap_or(0) as usize)
}

/// Bytes of `text` from `offset` (the end's last piece without one): the piece and where
/// the next one starts.
fn piece(bytes: &[u8], offset: Option<u64>) -> (String, u64) {
    let len = bytes.len() as u64;
    let from = offset.unwrap_or(len.saturating_sub(PIECE)).min(len);
    let to = (from + PIECE).min(len);
    (
        String::from_utf8_lossy(&bytes[from as usize..to as usize]).into_owned(),
        to,
    )
}

fn read_file(path: &FsPath, offset: Option<u64>) -> std::io::Result<(String, u64)> {
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    let from = offset.unwrap_or(len.saturating_sub(PIECE)).min(len);
    f.seek(SeekFrom::Start(from))?;
    let mut bytes = Vec::new();
    f.take(PIECE).read_to_end(&mut bytes)?;
    let next = from + bytes.len() as u64;
    Ok((String::from_utf8_lossy(&bytes).into_owned(), next))
}

pub(super) async fn logs(
    State(s): State<ApiState>,
    Path((ns, name)): Path<(String, String)>,
    Query(q): Query<LogQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let identity = Identity {
        namespace: ns,
        name,
    };
    let label = identity.to_string();
    let Some(cluster) = super::proxy::current_cluster(&s, identity).await? else {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("{label} has no job with a cluster now"),
        ));
    };
    let which = match q.taskmanager {
        Some(n) => format!("TaskManager {n}"),
        None => "the JobManager".to_string(),
    };
    let (file, text, next) = match cluster {
        Cluster::Local(c) => {
            let Some(path) = local_file(&c.log_dir(), q.taskmanager) else {
                return Err(ApiError(
                    StatusCode::NOT_FOUND,
                    format!("{label}: no log of {which} in {}", c.log_dir().display()),
                ));
            };
            let (text, next) = tokio::task::spawn_blocking({
                let path = path.clone();
                move || read_file(&path, q.offset)
            })
            .await
            .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
            .map_err(|e| {
                ApiError(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("{}: {e}", path.display()),
                )
            })?;
            (path.display().to_string(), text, next)
        }
        // Its containers log to the console, which Kubernetes keeps.
        Cluster::Kubernetes(k) => {
            let what = match q.taskmanager {
                Some(_) => format!("deployment/{}-taskmanager", k.name),
                None => format!("deployment/{}", k.job_manager()),
            };
            return Err(ApiError(
                StatusCode::NOT_FOUND,
                format!(
                    "{label} runs on Kubernetes: its logs are the pods', `kubectl logs -n {} {what}`",
                    k.namespace
                ),
            ));
        }
        Cluster::External(e) => {
            let base = e.rest_url.trim_end_matches('/').to_string();
            let path = match q.taskmanager {
                None => "/jobmanager/log".to_string(),
                Some(n) => {
                    let tms = s
                        .http
                        .get(format!("{base}/taskmanagers"))
                        .send()
                        .await
                        .and_then(|r| r.error_for_status())
                        .map_err(|e| ApiError(StatusCode::BAD_GATEWAY, e.to_string()))?
                        .json::<serde_json::Value>()
                        .await
                        .map_err(|e| ApiError(StatusCode::BAD_GATEWAY, e.to_string()))?;
                    let Some(id) = tms["taskmanagers"][n as usize]["id"].as_str() else {
                        return Err(ApiError(
                            StatusCode::NOT_FOUND,
                            format!("{label}: the cluster has no TaskManager {n}"),
                        ));
                    };
                    format!("/taskmanagers/{id}/log")
                }
            };
            let bytes = s
                .http
                .get(format!("{base}{path}"))
                .send()
                .await
                .and_then(|r| r.error_for_status())
                .map_err(|e| ApiError(StatusCode::BAD_GATEWAY, e.to_string()))?
                .bytes()
                .await
                .map_err(|e| ApiError(StatusCode::BAD_GATEWAY, e.to_string()))?;
            let (text, next) = piece(&bytes, q.offset);
            (format!("{base}{path}"), text, next)
        }
    };
    Ok(respond(
        &headers,
        &serde_json::json!({ "file": file, "text": text, "next": next }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_are_read_a_bounded_piece_at_a_time() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        for n in [
            "flink-u-standalonesession-0-h.log",
            "flink-u-taskexecutor-0-h.log",
            "flink-u-taskexecutor-1-h.log",
            "flink-u-taskexecutor-10-h.log",
            "flink-u-taskexecutor-2-h.log",
            "flink-u-standalonesession-0-h.out",
        ] {
            std::fs::write(dir.join(n), n).unwrap();
        }
        let name =
            |p: Option<PathBuf>| p.map(|p| p.file_name().unwrap().to_string_lossy().into_owned());
        assert_eq!(
            name(local_file(dir, None)).as_deref(),
            Some("flink-u-standalonesession-0-h.log")
        );
        assert_eq!(
            name(local_file(dir, Some(1))).as_deref(),
            Some("flink-u-taskexecutor-1-h.log")
        );
        assert_eq!(
            name(local_file(dir, Some(2))).as_deref(),
            Some("flink-u-taskexecutor-2-h.log")
        );
        assert_eq!(
            name(local_file(dir, Some(3))).as_deref(),
            Some("flink-u-taskexecutor-10-h.log")
        );
        assert_eq!(local_file(dir, Some(4)), None);
        let big = vec![b'x'; (PIECE * 3) as usize];
        let (text, next) = piece(&big, None);
        assert_eq!((text.len() as u64, next), (PIECE, PIECE * 3));
        let (text, next) = piece(&big, Some(10));
        assert_eq!((text.len() as u64, next), (PIECE, PIECE + 10));
        assert_eq!(piece(&big, Some(PIECE * 5)), (String::new(), PIECE * 3));
    }
}
