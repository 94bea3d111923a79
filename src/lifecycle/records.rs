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
    pub template: &'a std::sync::Arc<DeploymentTemplate>,
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

/// Pushes without the slack a `Vec` grows by while it is short: most Deployments hold
/// one or two Jobs and a few Savepoints, and a Job record is ~800 bytes (ten thousand
/// Deployments would otherwise keep ~20 MiB of empty slots).
fn push_compact<T>(v: &mut Vec<T>, item: T) {
    if v.len() == v.capacity() && v.len() < 8 {
        v.reserve_exact(1);
    }
    v.push(item);
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
                    push_compact(&mut self.jobs, record.clone());
                    push_compact(&mut changed.jobs, record);
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
                    push_compact(&mut changed.jobs, j);
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
                            push_compact(&mut self.savepoints, s.clone());
                            s
                        }
                    };
                    changed
                        .savepoints
                        .retain(|x| x.metadata.id != s.metadata.id);
                    push_compact(&mut changed.savepoints, s);
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn start(job: Uuid, template_of: Option<Uuid>) -> Action {
        Action::StartJob {
            job,
            restore: None,
            allow_non_restored_state: false,
            template_of,
            resume: false,
        }
    }

    /// Ten thousand Deployments each hold a Job record: it shares its template with the
    /// Deployment (and a job upgraded from it with the job it replaces), and the
    /// records keep no empty slots.
    #[test]
    fn a_new_job_shares_its_template_and_the_records_hold_no_slack() {
        let template = Arc::new(DeploymentTemplate::default());
        let c = RecordContext {
            at: Timestamp::UNIX_EPOCH,
            namespace: "default",
            deployment_id: Uuid::nil(),
            template: &template,
            template_hash: "h",
        };
        let mut records = Records::default();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let changed = records.apply(&[start(a, None)], &c);
        assert!(Arc::ptr_eq(&records.jobs[0].spec.template, &template));
        assert!(Arc::ptr_eq(&changed.jobs[0].spec.template, &template));
        assert_eq!((records.jobs.capacity(), changed.jobs.capacity()), (1, 1));
        let other = Arc::new(DeploymentTemplate::default());
        let c = RecordContext {
            template: &other,
            ..c
        };
        records.apply(&[start(b, Some(a))], &c);
        assert!(
            Arc::ptr_eq(&records.jobs[1].spec.template, &template),
            "the template of the job it replaces"
        );
        assert_eq!(records.jobs.capacity(), 2);
    }
}
