//! The external-cluster target (`spec.flink.restUrl`): jobs go to a Flink cluster that
//! flinkd does not manage. Nothing is started or stopped; a job's "cluster" is the REST
//! address it was submitted to, recorded before the submission so that a restart finds
//! the job there even if the target's address changed since.
//!
//! A jar is uploaded once per cluster and content, under the name
//! `flinkd-<sha256>.jar`, and shared by every Deployment that runs the same bytes;
//! concurrent starts of the same jar wait for one upload. Only an upload this daemon
//! made is trusted to hold those bytes: a jar found on the cluster by its name alone
//! (anyone with the cluster's REST API can upload one so named) is not, so the first
//! start of a content after a restart of flinkd uploads it again.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::artifact::Jar;
use crate::flink::{FlinkClient, FlinkError};

/// A job's place on an existing cluster: the address, and the job id flinkd gives the
/// job (recorded before the submission).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalCluster {
    pub rest_url: String,
    pub flink_job_id: String,
}

/// The name a jar with this content hash is uploaded under.
pub fn upload_name(hash: &str) -> String {
    format!("flinkd-{hash}.jar")
}

type Slot = Arc<tokio::sync::Mutex<Option<String>>>;

/// What tells a jar file changed without reading it: size and modification time.
type FileStamp = (u64, std::time::SystemTime);

/// The jar ids known per `(cluster, content hash)`, and the content hash of each jar
/// file as long as the file does not change (a jar shared by thousands of Deployments
/// is read and hashed once, not at each start).
#[derive(Default)]
pub struct JarUploads {
    slots: Mutex<HashMap<(String, String), Slot>>,
    hashes: Mutex<HashMap<PathBuf, (FileStamp, String)>>,
}

impl JarUploads {
    /// The SHA-256 of the jar's content, read in pieces from the open file.
    pub async fn content_hash(&self, jar: &Jar) -> Result<String, String> {
        let cannot = |e: std::io::Error| format!("cannot read {}: {e}", jar.path().display());
        let stamp = jar.stamp().map_err(cannot)?;
        let known = {
            let hashes = self.hashes.lock().unwrap_or_else(|e| e.into_inner());
            hashes
                .get(jar.path())
                .filter(|(s, _)| *s == stamp)
                .map(|(_, h)| h.clone())
        };
        if let Some(hash) = known {
            return Ok(hash);
        }
        let reading = jar.clone();
        let hash = tokio::task::spawn_blocking(move || reading.sha256())
            .await
            .map_err(|e| e.to_string())?
            .map_err(cannot)?;
        let mut hashes = self.hashes.lock().unwrap_or_else(|e| e.into_inner());
        hashes.insert(jar.path().to_path_buf(), (stamp, hash.clone()));
        Ok(hash)
    }

    fn slot(&self, url: &str, hash: &str) -> Slot {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots
            .entry((url.to_string(), hash.to_string()))
            .or_default()
            .clone()
    }

    /// The cluster's id for the jar `jar` whose content hash is `hash`: uploaded by this
    /// daemon before, or now.
    pub async fn jar_id(
        &self,
        client: &FlinkClient,
        url: &str,
        jar: &Jar,
        hash: &str,
    ) -> Result<String, FlinkError> {
        let slot = self.slot(url, hash);
        let mut known = slot.lock().await;
        if let Some(id) = known.as_ref() {
            return Ok(id.clone());
        }
        let id = client.upload_jar_as(jar, &upload_name(hash)).await?;
        *known = Some(id.clone());
        Ok(id)
    }

    /// Forgets a jar id the cluster no longer knows (it was deleted, or the cluster
    /// restarted without its upload directory).
    pub fn forget(&self, url: &str, hash: &str) {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.remove(&(url.to_string(), hash.to_string()));
    }
}

/// Whether a failed run says the jar is not on the cluster.
pub fn is_missing_jar(e: &FlinkError) -> bool {
    match e {
        FlinkError::Rejected {
            status, message, ..
        } => {
            *status == 404
                || (*status == 400
                    && message.contains("Jar file")
                    && message.contains("does not exist"))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_jar_is_hashed_again_only_when_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("job.jar");
        std::fs::write(&path, b"PK one").unwrap();
        let jar = Jar::open(&path).unwrap();
        let uploads = JarUploads::default();
        let first = uploads.content_hash(&jar).await.unwrap();
        assert_eq!(first, crate::spec::content_hash(b"PK one"));
        assert_eq!(uploads.content_hash(&jar).await.unwrap(), first);
        std::fs::write(&path, b"PK second").unwrap();
        let jar = Jar::open(&path).unwrap();
        assert_eq!(
            uploads.content_hash(&jar).await.unwrap(),
            crate::spec::content_hash(b"PK second")
        );
    }
}
