//! Flink's savepoint disposal (`POST /savepoint-disposal`): a cluster removes a
//! snapshot on a file system flinkd cannot reach itself (s3://, hdfs://, …).

use std::time::Duration;

use super::{FlinkClient, OperationStatus, TriggerResponse};

impl FlinkClient {
    /// Has the cluster dispose of the snapshot at `location`, and waits up to `wait`
    /// for it to say it is done; an error says why not.
    pub async fn dispose_savepoint(&self, location: &str, wait: Duration) -> Result<(), String> {
        let body = serde_json::json!({ "savepoint-path": location });
        let r: TriggerResponse = self
            .post("/savepoint-disposal", &body)
            .await
            .map_err(|e| e.to_string())?;
        let until = std::time::Instant::now() + wait;
        let path = format!("/savepoint-disposal/{}", r.request_id);
        loop {
            let s: OperationStatus = self.get(&path).await.map_err(|e| e.to_string())?;
            if s.status.id == "COMPLETED" {
                return match s.operation.and_then(|o| o.failure_cause) {
                    None => Ok(()),
                    Some(cause) => {
                        let text = cause
                            .get("stack-trace")
                            .and_then(|s| s.as_str())
                            .map(str::to_string)
                            .unwrap_or_else(|| cause.to_string());
                        Err(format!(
                            "Flink could not dispose of it: {}",
                            crate::java_error::summarize(&text)
                        ))
                    }
                };
            }
            if std::time::Instant::now() > until {
                return Err(format!(
                    "Flink did not finish disposing of it within {}",
                    humantime::format_duration(wait)
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
