//! What a DeploymentActor is told, and what it tells the Supervisor.

use std::path::PathBuf;

use actix::prelude::*;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::cluster::Placement;
use crate::lifecycle::Input;
use crate::spec::{Deployment, DeploymentSpec, DesiredState, Job, Savepoint};

/// What a Deployment's policy is computed from besides its expanded spec: its file's
/// own spec, where its jobs run, and its file's directory. Kept in the store with the
/// spec, so that a Deployment can be managed from the store alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpecSource {
    pub written: DeploymentSpec,
    pub placement: Placement,
    pub base_dir: PathBuf,
}

/// A new or changed spec from the Supervisor. `defaults_only`: its file did not change,
/// only the defaults did (the actor names the fields, against the spec it has).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct UpdateSpec {
    pub deployment: Deployment,
    pub source: SpecSource,
    pub defaults_only: bool,
}

/// Its file is gone: wind the Deployment down to `state` (SUSPENDED or CANCELLED).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Remove {
    pub state: DesiredState,
}

/// From the Supervisor: a quota answer, or a look again (cores were freed).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Step(pub Input);

/// A reloaded config is in force: re-arm timers with its intervals, look again.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct ConfigChanged;

/// The Supervisor forgets the Deployment (its file is gone and it is at rest): stop.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Forget;

/// What is wrong with the Deployment's file now (none: it is valid again).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct FileProblems(pub Vec<String>);

/// A user asks for a savepoint of the running job (origin USER_REQUEST).
#[derive(Debug, Message)]
#[rtype(result = "Result<Savepoint, SavepointRefused>")]
pub struct RequestSavepoint;

/// A savepoint taken elsewhere is handed to the Deployment (origin IMPORTED); answers
/// with its record (the one already there, if the location was imported before).
#[derive(Debug, Message)]
#[rtype(result = "Result<Savepoint, SavepointRefused>")]
pub struct ImportSavepoint {
    pub location: String,
}

/// Why a savepoint on request was not started.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SavepointRefused {
    /// Not now: no RUNNING job, or another operation under way (HTTP 409).
    #[error("{0}")]
    NotNow(String),
    /// flinkd could not put it on record (HTTP 500).
    #[error("the savepoint could not be recorded: {0}")]
    Internal(String),
}

/// A step that could not be put on record (and so was not carried out).
#[derive(Debug, thiserror::Error)]
pub enum NotRecorded {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Closed(#[from] crate::actors::store::StoreClosed),
}

/// What a DeploymentActor tells the Supervisor.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub enum DeploymentReport {
    /// Hold `cores` in place of what it holds, if they fit; answered with a [`Step`].
    Reserve {
        deployment: Uuid,
        request: u64,
        cores: f64,
    },
    /// Hold `cores`, fitting or not (never more than it was granted).
    SetQuota { deployment: Uuid, cores: f64 },
    /// Its file is gone and it is at rest with no job: it may be forgotten.
    ReadyToForget { deployment: Uuid },
}

/// What the DeploymentActor starts from: its records, as the store has them.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    /// The lifecycle state as recorded (any version's).
    pub lifecycle: Option<String>,
    pub jobs: Vec<Job>,
    pub savepoints: Vec<Savepoint>,
}
