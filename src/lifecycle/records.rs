//! A Deployment's records, Jobs and Savepoints, and what each action does to them:
//! one pure function that the DeploymentActor and the lifecycle's tests both use, so
//! that the tests run the bookkeeping the daemon runs.

use uuid::Uuid;

use super::Action;
use crate::spec::{
    DeploymentTemplate, Job, JobSpec, JobState, JobStatus, RecordMetadata, Savepoint,
    SavepointState, Timestamp,
};

/// A Deployment's Jobs and Savepoints (retained checkpoints included).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Records {
    pub jobs: Vec<Job>,
    pub savepoints: Vec<Savepoint>,
}

/// What a new record needs that the action does not say.
#[derive(Debug, Clone)]
pub struct RecordContext<'a> {
    pub at: Timestamp,
    pub namespace: &'a str,
    pub deployment_id: Uuid,
    /// The latest expanded template, and its hash, for a new Job.
    pub template: &'a DeploymentTemplate,
    pub template_hash: &'a str,
}

/// The records a step changed, to be written with it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changed {
    pub jobs: Vec<Job>,
    pub savepoints: Vec<Savepoint>,
    /// Savepoint records removed (their files are gone).
    pub forgotten: Vec<Uuid>,
}

impl Records {
    pub fn job(&self, id: Uuid) -> Option<&Job> {
        self.jobs.iter().find(|j| j.metadata.id == id)
    }

    pub fn savepoint(&self, id: Uuid) -> Option<&Savepoint> {
        self.savepoints.iter().find(|s| s.metadata.id == id)
    }

    fn metadata(c: &RecordContext<'_>, id: Uuid, job: Option<Uuid>) -> RecordMetadata {
        RecordMetadata {
            id,
            namespace: c.namespace.to_string(),
            deployment_id: c.deployment_id,
            job_id: job,
            created_at: c.at,
            modified_at: c.at,
        }
    }

    /// Applies the record actions of a step; returns the records changed.
    pub fn apply(&mut self, actions: &[Action], c: &RecordContext<'_>) -> Changed {
        let mut changed = Changed::default();
        for a in actions {
            match a {
                Action::StartJob {
                    job,
                    restore,
                    allow_non_restored_state,
                    template_of,
                    resume: false,
                } => {
                    let (template, template_hash) = template_of
                        .and_then(|old| self.job(old))
                        .map(|old| (old.spec.template.clone(), old.spec.template_hash.clone()))
                        .unwrap_or_else(|| (c.template.clone(), c.template_hash.to_string()));
                    let record = Job {
                        metadata: Self::metadata(c, *job, None),
                        spec: JobSpec {
                            template,
                            template_hash,
                            restore_savepoint_id: restore.as_ref().map(|r| r.savepoint),
                            savepoint_location: restore.as_ref().map(|r| r.location.clone()),
                            allow_non_restored_state: *allow_non_restored_state,
                        },
                        status: JobStatus {
                            state: JobState::Starting,
                            // Written ahead: the id Flink is given, so that a submission
                            // a crash cut short is found, never made twice.
                            flink_job_id: Some(job.simple().to_string()),
                            started_at: None,
                            terminated_at: None,
                            failure: None,
                        },
                    };
                    self.jobs.retain(|j| j.metadata.id != *job);
                    self.jobs.push(record.clone());
                    changed.jobs.push(record);
                }
                Action::RecordJob {
                    job,
                    state,
                    failure,
                } => {
                    let Some(j) = self.jobs.iter_mut().find(|j| j.metadata.id == *job) else {
                        continue;
                    };
                    j.status.state = *state;
                    j.metadata.modified_at = c.at;
                    match state {
                        JobState::Started => j.status.started_at = Some(c.at),
                        JobState::Terminated | JobState::Finished | JobState::Failed => {
                            j.status.terminated_at = Some(c.at)
                        }
                        _ => {}
                    }
                    if failure.is_some() {
                        j.status.failure = failure.clone();
                    }
                    let j = j.clone();
                    changed.jobs.retain(|x| x.metadata.id != j.metadata.id);
                    changed.jobs.push(j);
                }
                Action::RecordSavepoint {
                    savepoint,
                    job,
                    origin,
                    state,
                    location,
                    trigger_id,
                    failure,
                    completed_at,
                } => {
                    let at = completed_at.unwrap_or(c.at);
                    let s = match self
                        .savepoints
                        .iter_mut()
                        .find(|s| s.metadata.id == *savepoint)
                    {
                        // A completed savepoint stays completed: nothing is lost.
                        Some(s)
                            if s.state == SavepointState::Completed
                                && *state != SavepointState::Completed =>
                        {
                            continue
                        }
                        Some(s) => {
                            s.state = *state;
                            if location.is_some() {
                                s.location = location.clone();
                            }
                            if trigger_id.is_some() {
                                s.trigger_id = trigger_id.clone();
                            }
                            s.failure = failure.clone();
                            s.metadata.modified_at = at;
                            s.clone()
                        }
                        None => {
                            // An imported savepoint is of no job of this Deployment.
                            let of_job = (!job.is_nil()).then_some(*job);
                            let mut metadata = Self::metadata(c, *savepoint, of_job);
                            metadata.modified_at = at;
                            let s = Savepoint {
                                metadata,
                                origin: *origin,
                                state: *state,
                                location: location.clone(),
                                trigger_id: trigger_id.clone(),
                                failure: failure.clone(),
                            };
                            self.savepoints.push(s.clone());
                            s
                        }
                    };
                    changed
                        .savepoints
                        .retain(|x| x.metadata.id != s.metadata.id);
                    changed.savepoints.push(s);
                }
                Action::ForgetSavepoint { savepoint } => {
                    self.savepoints.retain(|s| s.metadata.id != *savepoint);
                    changed.savepoints.retain(|s| s.metadata.id != *savepoint);
                    changed.forgotten.push(*savepoint);
                }
                _ => {}
            }
        }
        changed
    }
}
