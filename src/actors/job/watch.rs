//! What the JobActor makes of a poll of its running job: its conditions and checkpoint
//! for the lifecycle, the pods of a Kubernetes cluster, and the job's end if it ended.

use super::*;

impl JobActor {
    /// What a poll saw: the job's conditions and checkpoint for the lifecycle, and its
    /// end if it ended.
    pub(super) fn polled(&mut self, p: ops::Polled) {
        let job = self.job;
        let reachable = !matches!(&p.state, Err(e) if e.is_unreachable());
        // Known to be its own while it answers and its JobManager process lives: a
        // process that took the port after the JobManager died is asked again.
        let alive = match &self.cluster {
            Some(Cluster::Local(c)) => c.job_manager_alive(),
            _ => true,
        };
        self.poll.identified = reachable && alive && (self.poll.identified || p.identified);
        let quiet = matches!(p.state, Ok(FlinkJobState::Running))
            && p.restarting_at == self.poll.restarting_at
            && self.poll.restarts.is_some();
        self.poll.quiet = if quiet {
            self.poll.quiet.saturating_add(1)
        } else {
            0
        };
        if p.state.is_ok() {
            self.poll.restarting_at = p.restarting_at;
        }
        if p.restarts.is_some() {
            self.poll.restarts = p.restarts;
        }
        // A Kubernetes cluster is gone when the API server says its JobManager's
        // Deployment is; an API server that does not answer says nothing.
        let known_gone = match &p.presence {
            Some(Ok(Presence::Present(trouble))) => {
                if matches!(self.cluster, Some(Cluster::Kubernetes(_))) {
                    self.report(Input::PodsObserved {
                        job,
                        trouble: trouble.clone(),
                    });
                }
                false
            }
            Some(Ok(Presence::Gone)) => true,
            Some(Err(e)) => {
                let said = e.to_string();
                if self.poll.presence_error.as_ref() != Some(&said) {
                    tracing::warn!(%job, "cannot ask the Kubernetes API server about the cluster: {said}");
                    self.poll.presence_error = Some(said);
                }
                false
            }
            None => false,
        };
        if matches!(p.presence, Some(Ok(_))) {
            self.poll.presence_error = None;
        }
        self.report(Input::Observed {
            job,
            observation: crate::conditions::Observation {
                reachable: Some(reachable),
                restarts: self.poll.restarts.clone(),
                task_managers_lost: match &self.cluster {
                    Some(Cluster::Local(c)) if reachable => Some(c.task_managers_lost()),
                    _ => None,
                },
            },
            checkpoint: p.checkpoint,
        });
        match p.state {
            Ok(state) if state.is_terminal() => {
                let end = match state {
                    FlinkJobState::Finished => FlinkEnd::Finished,
                    FlinkJobState::Canceled => FlinkEnd::Canceled,
                    _ => FlinkEnd::Failed,
                };
                let reason = match end {
                    FlinkEnd::Canceled => "the job was cancelled outside flinkd",
                    FlinkEnd::Failed => "Flink reports the job FAILED",
                    FlinkEnd::Finished => "",
                };
                self.ending(Some(end), reason.to_string());
            }
            Ok(_) => {}
            Err(e) if e.is_unreachable() => {
                if known_gone {
                    let why = match &self.cluster {
                        Some(Cluster::Kubernetes(c)) => format!(
                            "the JobManager's Deployment {} is gone from namespace `{}`",
                            c.job_manager(),
                            c.namespace
                        ),
                        _ => "the JobManager process is gone".to_string(),
                    };
                    self.ending(None, format!("{why} ({e})"));
                } else if self.cluster.as_ref().is_none_or(Cluster::known_gone) {
                    self.ending(None, format!("the JobManager process is gone ({e})"));
                }
            }
            // The cluster answers and does not know the job: a session cluster restarted
            // without it.
            Err(crate::flink::FlinkError::Rejected { status: 404, .. }) => {
                let at = self
                    .cluster
                    .as_ref()
                    .map(Cluster::rest_url)
                    .unwrap_or_default();
                self.ending(None, format!("the cluster at {at} does not know the job"));
            }
            Err(e) => tracing::warn!(%job, "polling the job: {e}"),
        }
    }
}
