//! The external-cluster target (`spec.flink.restUrl`): jobs go to a Flink cluster that
//! flinkd does not manage. Nothing is started or stopped; a job's "cluster" is the REST
//! address it was submitted to, recorded before the submission so that a restart finds
//! the job there even if the target's address changed since.
//!
//! A jar is uploaded once per cluster and content: under the name
//! `flinkd-<sha256>.jar`, found again by that name (`GET /jars`) after a restart of
//! flinkd, and shared by every Deployment that runs the same bytes. Concurrent starts of
//! the same jar wait for one upload.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

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

/// The jar ids known per `(cluster, content hash)`.
#[derive(Default)]
pub struct JarUploads {
    slots: Mutex<HashMap<(String, String), Slot>>,
}

impl JarUploads {
    fn slot(&self, url: &str, hash: &str) -> Slot {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots
            .entry((url.to_string(), hash.to_string()))
            .or_default()
            .clone()
    }

    /// The cluster's id for the jar `jar` whose content hash is `hash`: known, found on
    /// the cluster, or uploaded now. The bool says whether it was uploaded by this call.
    pub async fn jar_id(
        &self,
        client: &FlinkClient,
        url: &str,
        jar: &Path,
        hash: &str,
    ) -> Result<(String, bool), FlinkError> {
        let slot = self.slot(url, hash);
        let mut known = slot.lock().await;
        if let Some(id) = known.as_ref() {
            return Ok((id.clone(), false));
        }
        let name = upload_name(hash);
        let (id, uploaded) = match client.find_jar(&name).await? {
            Some(id) => (id, false),
            None => (client.upload_jar_as(jar, &name).await?, true),
        };
        *known = Some(id.clone());
        Ok((id, uploaded))
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
