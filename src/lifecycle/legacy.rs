//! Reading a lifecycle state as earlier versions of flinkd wrote it, so that upgrading
//! flinkd disturbs no running job: what was under way is taken up with the same job,
//! and a job that runs the current template is not upgraded for a new key.

use serde::Deserialize;
use uuid::Uuid;

use super::*;

/// The state as flinkd 0.1 (before the lifecycle made every decision) recorded it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Old {
    phase: OldPhase,
    status: DeploymentState,
    #[serde(default, with = "time::serde::rfc3339::option")]
    running_since: Option<Timestamp>,
    #[serde(default)]
    job_creation_failures: u32,
    #[serde(default)]
    savepoint_failures: u32,
    #[serde(default)]
    held_for_spec: Option<String>,
}

#[derive(Deserialize)]
#[serde(tag = "phase", rename_all = "camelCase")]
enum OldPhase {
    Idle,
    #[serde(rename_all = "camelCase")]
    WaitingForQuota {
        denied: bool,
    },
    #[serde(rename_all = "camelCase")]
    Starting {
        job: Uuid,
        template_hash: String,
        #[serde(with = "time::serde::rfc3339")]
        deadline: Timestamp,
    },
    #[serde(rename_all = "camelCase")]
    Running {
        job: Uuid,
        template_hash: String,
    },
    #[serde(rename_all = "camelCase")]
    UserSavepointing {
        job: Uuid,
        template_hash: String,
        savepoint: Uuid,
        #[serde(with = "time::serde::rfc3339")]
        deadline: Timestamp,
    },
    #[serde(rename_all = "camelCase")]
    Savepointing {
        job: Uuid,
        template_hash: String,
        savepoint: Uuid,
        origin: SavepointOrigin,
        graceful: bool,
        #[serde(with = "time::serde::rfc3339")]
        deadline: Timestamp,
    },
    #[serde(rename_all = "camelCase")]
    Cancelling {
        job: Uuid,
        failures: u32,
        then: DeploymentState,
        #[serde(with = "time::serde::rfc3339")]
        deadline: Timestamp,
    },
    #[serde(rename_all = "camelCase")]
    TearingDown {
        job: Uuid,
        then: DeploymentState,
        hold: bool,
    },
}

impl Lifecycle {
    /// Reads a recorded lifecycle state: this version's, or an earlier one's (taken
    /// against the Deployment's current `policy`, at `now`).
    pub fn from_stored(
        json: &str,
        policy: &Policy,
        now: Timestamp,
    ) -> Result<Lifecycle, serde_json::Error> {
        let current = serde_json::from_str::<Lifecycle>(json);
        if current.is_ok() {
            return current;
        }
        let Ok(old) = serde_json::from_str::<Old>(json) else {
            return current;
        };
        // A job that runs the current template keeps the current key: not upgraded.
        let job = |id: Uuid, template_hash: &str, graceful: Option<bool>| JobRef {
            id,
            upgrade_key: if template_hash == policy.template_hash {
                policy.upgrade_key.clone()
            } else {
                format!("legacy:{template_hash}")
            },
            api: FlinkApi {
                graceful_stop: graceful.unwrap_or(policy.api.graceful_stop),
                ..policy.api
            },
            cores: policy.cores,
        };
        let hold = policy.hold_key.clone();
        let after = |then: DeploymentState, held: bool| match then {
            DeploymentState::Suspended => After::Suspended,
            DeploymentState::Cancelled => After::Cancelled,
            DeploymentState::Failed => After::Failed { hold: hold.clone() },
            DeploymentState::Finished if held => After::Finished { hold: hold.clone() },
            _ => After::Settle { recover: None },
        };
        let phase = match old.phase {
            OldPhase::Idle => Phase::Idle,
            OldPhase::WaitingForQuota { denied } => Phase::WaitingForQuota {
                wait: QuotaWait {
                    request: None,
                    denied,
                },
                recover: None,
            },
            OldPhase::Starting {
                job: id,
                template_hash,
                deadline,
            } => Phase::Starting {
                job: job(id, &template_hash, None),
                hold: hold.clone(),
                deadline: Some(deadline),
            },
            OldPhase::Running {
                job: id,
                template_hash,
            } => Phase::Running {
                job: job(id, &template_hash, None),
                quota: None,
            },
            OldPhase::UserSavepointing {
                job: id,
                template_hash,
                savepoint,
                deadline,
            } => Phase::UserSavepointing {
                job: job(id, &template_hash, None),
                savepoint,
                deadline,
            },
            OldPhase::Savepointing {
                job: id,
                template_hash,
                savepoint,
                origin,
                graceful,
                deadline,
            } => Phase::Savepointing {
                job: job(id, &template_hash, Some(graceful)),
                savepoint,
                origin,
                hold: hold.clone(),
                earlier: Vec::new(),
                deadline,
                retry_at: None,
            },
            OldPhase::Cancelling {
                job: id,
                failures,
                then,
                deadline,
            } => Phase::Cancelling {
                job: job(id, "", None),
                failures,
                then: after(then, false),
                deadline,
                retry_at: None,
            },
            OldPhase::TearingDown {
                job: id,
                then,
                hold,
            } => Phase::TearingDown {
                job: id,
                then: after(then, hold),
                confirm: false,
                deadline: super::after(now, Duration::from_secs(600)),
                retry_at: None,
                failures: 0,
            },
        };
        let cores_held = if phase.job().is_some() {
            policy.cores
        } else {
            0.0
        };
        Ok(Lifecycle {
            phase,
            status: old.status,
            running_since: old.running_since,
            job_creation_failures: old.job_creation_failures,
            savepoint_failures: old.savepoint_failures,
            savepoint_series: None,
            held_for_spec: old.held_for_spec.map(|_| hold.clone()),
            cores_held,
            last_request: 0,
            unusable: Vec::new(),
            conditions: Vec::new(),
            task_managers_replaced: None,
            disposing: Vec::new(),
            disposal_retry_at: None,
            upgrade_stopped_at: None,
            warm: None,
            discarded: Vec::new(),
            cold_for: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{policy, T0};
    use super::*;

    #[test]
    fn a_running_job_recorded_by_flinkd_0_1_is_taken_up_unchanged() {
        let p = policy();
        let json = r#"{"phase":{"phase":"running","job":"00000000-0000-0000-0000-000000000007","templateHash":"t1"},"status":"RUNNING","runningSince":"2026-11-30T10:00:00Z","jobCreationFailures":0,"savepointFailures":1,"heldForSpec":null}"#;
        let lc = Lifecycle::from_stored(json, &p, T0).unwrap();
        match &lc.phase {
            Phase::Running { job, quota: None } => {
                assert_eq!(job.id, Uuid::from_u128(7));
                assert_eq!(
                    job.upgrade_key, p.upgrade_key,
                    "the current template: no upgrade"
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(lc.status, DeploymentState::Running);
        assert_eq!(lc.cores_held, p.cores, "its cores are booked");
        assert_eq!(lc.savepoint_failures, 1);
    }

    #[test]
    fn an_old_teardown_and_a_savepoint_under_way_keep_their_meaning() {
        let p = policy();
        let json = r#"{"phase":{"phase":"tearingDown","job":"00000000-0000-0000-0000-000000000007","then":"FAILED","hold":true},"status":"TRANSITIONING","jobCreationFailures":4,"savepointFailures":0,"heldForSpec":null}"#;
        let lc = Lifecycle::from_stored(json, &p, T0).unwrap();
        assert!(matches!(
            &lc.phase,
            Phase::TearingDown {
                then: After::Failed { .. },
                ..
            }
        ));
        let json = r#"{"phase":{"phase":"savepointing","job":"00000000-0000-0000-0000-000000000007","templateHash":"old","savepoint":"00000000-0000-0000-0000-000000000008","origin":"SUSPEND","graceful":false,"deadline":"2026-12-01T10:10:00Z"},"status":"TRANSITIONING","jobCreationFailures":0,"savepointFailures":0}"#;
        let lc = Lifecycle::from_stored(json, &p, T0).unwrap();
        match &lc.phase {
            Phase::Savepointing { job, savepoint, .. } => {
                assert!(!job.api.graceful_stop, "the running job's way to stop");
                assert_ne!(job.upgrade_key, p.upgrade_key, "another template");
                assert_eq!(*savepoint, Uuid::from_u128(8));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn this_versions_state_reads_as_itself() {
        let mut w = super::super::tests::World::running();
        w.change(|p| p.desired = DesiredState::Suspended);
        let json = serde_json::to_string(&w.lc).unwrap();
        assert_eq!(Lifecycle::from_stored(&json, &w.policy, T0).unwrap(), w.lc);
    }
}
