//! Random interleavings of edits, Flink's answers, failures, late completions, time
//! and restarts of the daemon, checked after every step against the promises:
//!
//! - at most one job: a job starts only once every earlier one's cluster is gone;
//! - no completed savepoint lost: every savepoint Flink completed (and reported) is on
//!   record COMPLETED with its location;
//! - the quota is never over-committed, the core's holding is the ledger's, and a
//!   running job is never stopped but for its spec;
//! - SUSPENDED only with the savepoint it was taken with;
//! - and once the inputs stop (Flink answers, time passes, the quota has room), the
//!   Deployment reaches the latest spec's state.
//!
//! A failing case prints its moves; ids come from a counter, so it replays exactly.

use std::collections::{BTreeMap, VecDeque};

use proptest::prelude::*;

use super::*;

/// What the simulated Flink and Supervisor have in hand, in order.
#[derive(Debug, Default)]
struct Sim {
    /// Quota requests and settings, taken by the Supervisor in order.
    ledger_ops: VecDeque<Action>,
    /// The Supervisor's answers, on their way back.
    answers: VecDeque<Input>,
    /// The job being started (from StartJob until an answer).
    starting: Option<Uuid>,
    /// Jobs whose cluster exists: from StartJob until TornDown.
    alive: Vec<Uuid>,
    /// Clusters started ahead of their job (fast upgrades): from WarmCluster until
    /// their job starts on them or they are torn down; `warming`: not answered yet.
    warm: Vec<Uuid>,
    warming: Vec<Uuid>,
    /// The cores each cluster (a job's or one started ahead) uses.
    cores: BTreeMap<Uuid, f64>,
    /// The job Flink runs (RUNNING reported).
    running: Option<Uuid>,
    /// Savepoints Flink is taking: (job, savepoint, with a stop), watched by the daemon.
    savepoints: Vec<(Uuid, Uuid, bool)>,
    /// Taken and not watched by this daemon (its predecessor's, not resumed).
    unwatched: Vec<(Uuid, Uuid, bool)>,
    cancels: Vec<Uuid>,
    teardowns: Vec<Uuid>,
    /// The ledger: this Deployment's holding, and the others'.
    holding: f64,
    others: f64,
    limit: f64,
    /// Savepoints Flink completed and reported, and where.
    completed: BTreeMap<Uuid, String>,
    checkpoints: u32,
}

impl Sim {
    /// Takes in what a step asks for, checking the promises it must keep.
    fn take(&mut self, w: &World, actions: &[Action]) -> Result<(), TestCaseError> {
        for a in actions {
            match a {
                Action::ReserveQuota { cores, .. } => {
                    prop_assert!(*cores > w.lc.cores_held || w.lc.cores_held == 0.0);
                    self.ledger_ops.push_back(a.clone())
                }
                Action::SetQuota { .. } => self.ledger_ops.push_back(a.clone()),
                Action::StartJob { job, resume, .. } => {
                    let cores = match &w.lc.phase {
                        Phase::Starting { job: j, .. } if j.id == *job => j.cores,
                        _ => w.policy.cores,
                    };
                    let known = self.cores.get(job).copied().unwrap_or(0.0);
                    self.cores.insert(*job, cores.max(known));
                    // A job on the cluster started for it: that cluster is its own.
                    self.warm.retain(|j| j != job);
                    self.warming.retain(|j| j != job);
                    if *resume {
                        prop_assert!(self.alive.contains(job) || self.alive.is_empty());
                    } else {
                        prop_assert!(
                            self.alive.is_empty(),
                            "a job started while {:?} still has a cluster",
                            self.alive
                        );
                        self.alive.push(*job);
                    }
                    self.starting = Some(*job);
                }
                Action::StopWithSavepoint { job, savepoint, .. }
                | Action::TriggerSavepoint { job, savepoint, .. } => {
                    prop_assert_eq!(
                        Some(*job),
                        self.running,
                        "a savepoint of a job that does not run"
                    );
                    let stop = matches!(a, Action::StopWithSavepoint { .. });
                    if stop {
                        // Only the spec stops a running job.
                        let p = &w.policy;
                        prop_assert!(
                            p.desired != DesiredState::Running
                                || (p.upgrade_key != running_key(w)
                                    && p.upgrade != UpgradeStrategyKind::None),
                            "a running job stopped though its spec did not ask"
                        );
                    }
                    self.savepoints.push((*job, *savepoint, stop));
                }
                Action::ResumeSavepoint { job, savepoint, .. } => {
                    if let Some(i) = self.unwatched.iter().position(|(_, s, _)| s == savepoint) {
                        let sp = self.unwatched.remove(i);
                        self.savepoints.push(sp);
                    } else if !self.savepoints.iter().any(|(_, s, _)| s == savepoint)
                        && self.running == Some(*job)
                    {
                        // Asked again: never given to Flink before the restart.
                        self.savepoints.push((*job, *savepoint, false));
                    }
                }
                Action::WarmCluster { job } => {
                    prop_assert!(
                        self.running.is_some() || !self.alive.is_empty(),
                        "a cluster started ahead with no job running"
                    );
                    prop_assert!(!self.alive.contains(job) && !self.warm.contains(job));
                    self.warm.push(*job);
                    self.warming.push(*job);
                    let cores = w.lc.warm.as_ref().map_or(w.policy.cores, |x| x.cores);
                    self.cores.insert(*job, cores);
                }
                Action::Cancel { job } => self.cancels.push(*job),
                Action::TearDown { job, .. } if !self.teardowns.contains(job) => {
                    self.teardowns.push(*job)
                }
                Action::Adopt { job } => prop_assert!(self.alive.contains(job)),
                _ => {}
            }
        }
        Ok(())
    }

    /// The Supervisor takes one request or setting, and answers.
    fn ledger(&mut self) -> Result<(), TestCaseError> {
        match self.ledger_ops.pop_front() {
            Some(Action::ReserveQuota { request, cores }) => {
                if self.others + cores <= self.limit + 1e-9 {
                    self.holding = cores;
                    self.answers.push_back(Input::QuotaGranted { request });
                } else {
                    self.answers.push_back(Input::QuotaDenied {
                        request,
                        used: self.others,
                        limit: self.limit,
                    });
                }
            }
            Some(Action::SetQuota { cores }) => {
                prop_assert!(
                    cores <= self.holding + 1e-9 || cores == 0.0,
                    "a setting above what was granted: {cores} > {}",
                    self.holding
                );
                self.holding = cores;
            }
            _ => {}
        }
        self.covered()?;
        prop_assert!(
            self.holding == 0.0 || self.others + self.holding <= self.limit + 1e-9,
            "the quota is over-committed: {} + {} > {}",
            self.others,
            self.holding,
            self.limit
        );
        Ok(())
    }
}

impl Sim {
    /// What the ledger holds covers every cluster that exists (a job's, one started
    /// ahead, one being removed).
    fn covered(&self) -> Result<(), TestCaseError> {
        let in_use: f64 = self
            .alive
            .iter()
            .chain(self.warm.iter().filter(|w| !self.alive.contains(w)))
            .map(|j| self.cores.get(j).copied().unwrap_or(0.0))
            .fold(0.0, |a, b| a + b);
        prop_assert!(
            in_use <= self.holding + 1e-9,
            "clusters use {in_use} cores, the ledger holds {}",
            self.holding
        );
        Ok(())
    }
}

/// The upgrade key of the job that runs.
fn running_key(w: &World) -> String {
    match &w.lc.phase {
        Phase::Running { job, .. }
        | Phase::UserSavepointing { job, .. }
        | Phase::Savepointing { job, .. }
        | Phase::Cancelling { job, .. }
        | Phase::Starting { job, .. } => job.upgrade_key.clone(),
        _ => String::new(),
    }
}

#[derive(Debug, Clone)]
enum Move {
    Desire(u8),
    Template(u8),
    Upgrade(u8),
    Cores(u8),
    Advance(u16),
    Restart,
    StartOk,
    StartFail(bool),
    StartFinished,
    SavepointOk(u8),
    SavepointFail(u8),
    CancelOk(u8),
    CancelFail,
    TornDown,
    TearDownFail,
    Quota,
    Crash(u8),
    UserSavepoint,
    /// A savepoint taken elsewhere is handed over (then the actor's Reconcile).
    Import(u8),
    /// A cluster started ahead is up (or failed to start).
    Warm(bool),
    Checkpoint,
    /// A look at a Kubernetes cluster's pods: fine, or in one of two troubles.
    Pods(u8),
    Defaults,
    Stale,
}

fn moves() -> impl Strategy<Value = Move> {
    prop_oneof![
        3 => (0u8..3).prop_map(Move::Desire),
        2 => (0u8..3).prop_map(Move::Template),
        1 => (0u8..3).prop_map(Move::Upgrade),
        1 => (0u8..3).prop_map(Move::Cores),
        2 => (0u16..700).prop_map(Move::Advance),
        1 => Just(Move::Restart),
        3 => Just(Move::StartOk),
        1 => any::<bool>().prop_map(Move::StartFail),
        1 => Just(Move::StartFinished),
        3 => any::<u8>().prop_map(Move::SavepointOk),
        1 => any::<u8>().prop_map(Move::SavepointFail),
        2 => (0u8..3).prop_map(Move::CancelOk),
        1 => Just(Move::CancelFail),
        3 => Just(Move::TornDown),
        1 => Just(Move::TearDownFail),
        4 => Just(Move::Quota),
        1 => (0u8..3).prop_map(Move::Crash),
        1 => Just(Move::UserSavepoint),
        1 => (0u8..4).prop_map(Move::Import),
        1 => Just(Move::Checkpoint),
        1 => (0u8..3).prop_map(Move::Pods),
        1 => Just(Move::Defaults),
        1 => Just(Move::Stale),
        2 => any::<bool>().prop_map(Move::Warm),
    ]
}

struct Run {
    w: World,
    sim: Sim,
}

impl Run {
    fn step(&mut self, input: Input) -> Result<(), TestCaseError> {
        let before = self.w.lc.status;
        let actions = self.w.step(input);
        self.sim.take(&self.w, &actions)?;
        self.sim.covered()?;
        self.check(before, &actions)
    }

    fn check(&self, before: DeploymentState, actions: &[Action]) -> Result<(), TestCaseError> {
        let w = &self.w;
        let lc = &w.lc;
        // No completed savepoint lost.
        for (sp, location) in &self.sim.completed {
            let rec = w.records.savepoint(*sp);
            prop_assert!(
                rec.is_some_and(|r| r.state == SavepointState::Completed
                    && r.location.as_deref() == Some(location)),
                "savepoint {sp} completed at {location} but is on record as {:?}",
                rec
            );
        }
        // Lost TaskManagers are replaced only for the job that is to run.
        for a in actions {
            if let Action::ReplaceTaskManagers { job } = a {
                prop_assert!(
                    lc.phase.job() == Some(*job)
                        && !matches!(
                            lc.phase,
                            Phase::Cancelling { .. } | Phase::TearingDown { .. }
                        ),
                    "TaskManagers replaced for {job} in {:?}",
                    lc.phase
                );
            }
        }
        // Limits.
        prop_assert!(lc.job_creation_failures <= w.policy.max_job_creation_attempts);
        prop_assert!(lc.savepoint_failures <= w.policy.max_savepoint_creation_attempts);
        if let Phase::Cancelling {
            failures, deadline, ..
        } = &lc.phase
        {
            prop_assert!(*failures < w.timing.cancel_attempts);
            prop_assert!(w.now < *deadline, "a cancellation outlived its deadline");
        }
        // Status agrees with the phase.
        match lc.status {
            DeploymentState::Running => prop_assert!(
                matches!(
                    lc.phase,
                    Phase::Running { .. } | Phase::UserSavepointing { .. }
                ),
                "RUNNING without a running job: {:?}",
                lc.phase
            ),
            DeploymentState::Failed => prop_assert!(
                lc.held_for_spec.is_some() || matches!(lc.phase, Phase::TearingDown { .. }),
                "FAILED with no hold: {:?}",
                lc.phase
            ),
            DeploymentState::Suspended | DeploymentState::Cancelled | DeploymentState::Finished => {
                prop_assert_eq!(&lc.phase, &Phase::Idle)
            }
            DeploymentState::Transitioning => prop_assert!(lc.phase != Phase::Idle),
        }
        // SUSPENDED is said with the savepoint it was taken with, or why there is none.
        if lc.status == DeploymentState::Suspended && before != DeploymentState::Suspended {
            let said = actions.iter().find_map(|a| match a {
                Action::Event {
                    name: EventName::DeploymentSuspended,
                    job,
                    message,
                    ..
                } => Some((*job, message.clone())),
                _ => None,
            });
            prop_assert!(said.is_some(), "SUSPENDED is announced");
            let (job, message) = said.unwrap_or_default();
            if message.contains("with savepoint") {
                prop_assert!(
                    w.records.savepoints.iter().any(|s| s.metadata.job_id == job
                        && s.origin == SavepointOrigin::Suspend
                        && s.state == SavepointState::Completed
                        && message.ends_with(s.location.as_deref().unwrap_or("?"))),
                    "SUSPENDED without its savepoint: {message}"
                );
            } else {
                prop_assert!(message.contains("no savepoint"), "{message}");
            }
        }
        // The core holds what the ledger will hold once its messages are taken.
        prop_assert!(lc.cores_held >= 0.0);
        Ok(())
    }

    fn apply(&mut self, m: &Move) -> Result<(), TestCaseError> {
        let job = self.w.lc.active_job();
        match m.clone() {
            Move::Desire(d) => {
                let d = [
                    DesiredState::Running,
                    DesiredState::Suspended,
                    DesiredState::Cancelled,
                ][d as usize];
                self.w.policy.desired = d;
                self.w.policy.hold_key = format!("{}+", self.w.policy.hold_key);
                self.step(Input::Reconcile)?;
            }
            Move::Template(t) => {
                self.w.policy.upgrade_key = format!("u{t}");
                self.w.policy.template_hash = format!("t{t}");
                self.w.policy.hold_key = format!("{}+", self.w.policy.hold_key);
                self.step(Input::Reconcile)?;
            }
            Move::Upgrade(u) => {
                self.w.policy.upgrade = [
                    UpgradeStrategyKind::Stateful,
                    UpgradeStrategyKind::Stateless,
                    UpgradeStrategyKind::None,
                ][u as usize];
                self.w.policy.hold_key = format!("{}+", self.w.policy.hold_key);
                self.step(Input::Reconcile)?;
            }
            Move::Cores(c) => {
                self.w.policy.cores = [1.0, 2.0, 3.0][c as usize];
                self.w.policy.upgrade_key = format!("{}c{c}", self.w.policy.upgrade_key);
                self.w.policy.hold_key = format!("{}+", self.w.policy.hold_key);
                self.step(Input::Reconcile)?;
            }
            Move::Advance(s) => {
                self.w.now = after(self.w.now, Duration::from_secs(s as u64));
                self.step(Input::Reconcile)?;
            }
            Move::Restart => {
                // The daemon dies: answers in flight are lost, and so is the Supervisor's
                // queue; Flink goes on. The new Supervisor books what each lifecycle holds.
                self.sim.ledger_ops.clear();
                self.sim.answers.clear();
                self.sim.warming.clear();
                self.sim.holding = self.w.lc.cores_held;
                self.sim.unwatched.append(&mut self.sim.savepoints);
                let json = serde_json::to_string(&self.w.lc).unwrap();
                self.w.lc = serde_json::from_str(&json).unwrap();
                let found = match job {
                    Some(j) if self.sim.alive.contains(&j) => Some(Found::Cluster),
                    Some(_) => Some(Found::Gone),
                    None => None,
                };
                self.step(Input::Restarted { found })?;
            }
            Move::StartOk | Move::StartFail(_) | Move::StartFinished => {
                let Some(j) = self.sim.starting.take() else {
                    return Ok(());
                };
                self.step(Input::StartBegan { job: j })?;
                match m {
                    Move::StartOk => {
                        self.sim.running = Some(j);
                        self.step(Input::JobRunning { job: j })?;
                    }
                    Move::StartFail(unresolved) => self.step(Input::JobStartFailed {
                        job: j,
                        reason: "rejected".into(),
                        unresolved: *unresolved,
                    })?,
                    _ => self.step(Input::JobEnded {
                        job: j,
                        end: FlinkEnd::Finished,
                        reason: String::new(),
                    })?,
                }
            }
            Move::SavepointOk(i) | Move::SavepointFail(i) => {
                if self.sim.savepoints.is_empty() {
                    return Ok(());
                }
                let (j, sp, stop) = self
                    .sim
                    .savepoints
                    .remove(i as usize % self.sim.savepoints.len());
                if self.sim.running != Some(j) {
                    return Ok(());
                }
                if matches!(m, Move::SavepointOk(_)) {
                    let location = format!("file:/sp/{}", sp.as_u128());
                    self.sim.completed.insert(sp, location.clone());
                    if stop {
                        // The job ends with its savepoint; its other savepoints fail.
                        self.sim.running = None;
                        self.sim.savepoints.retain(|(o, ..)| *o != j);
                    }
                    self.step(Input::SavepointCompleted {
                        job: j,
                        savepoint: sp,
                        location,
                    })?;
                    if stop
                        && self.w.lc.active_job() == Some(j)
                        && !matches!(self.w.lc.phase, Phase::TearingDown { .. })
                    {
                        // A stop the daemon no longer waited for: the job's end is seen.
                        self.step(Input::JobEnded {
                            job: j,
                            end: FlinkEnd::Finished,
                            reason: String::new(),
                        })?;
                    }
                } else {
                    self.step(Input::SavepointFailed {
                        job: j,
                        savepoint: sp,
                        reason: "declined".into(),
                    })?;
                }
            }
            Move::CancelOk(e) => {
                let Some(j) = self.sim.cancels.pop() else {
                    return Ok(());
                };
                if self.sim.running == Some(j) {
                    self.sim.running = None;
                    self.sim.savepoints.retain(|(o, ..)| *o != j);
                }
                let end = [FlinkEnd::Canceled, FlinkEnd::Finished, FlinkEnd::Failed][e as usize];
                self.step(Input::CancelCompleted { job: j, end })?;
            }
            Move::CancelFail => {
                let Some(j) = self.sim.cancels.pop() else {
                    return Ok(());
                };
                self.step(Input::CancelFailed {
                    job: j,
                    reason: "refused".into(),
                })?;
            }
            Move::TornDown => {
                let Some(j) = self.sim.teardowns.pop() else {
                    return Ok(());
                };
                // The executor asks Flink about its savepoints before the cluster goes.
                let left: Vec<(Uuid, Uuid, bool)> = self
                    .sim
                    .savepoints
                    .iter()
                    .filter(|(o, ..)| *o == j)
                    .cloned()
                    .collect();
                self.sim.savepoints.retain(|(o, ..)| *o != j);
                self.sim.unwatched.retain(|(o, ..)| *o != j);
                for (_, sp, _) in left {
                    self.step(Input::SavepointFailed {
                        job: j,
                        savepoint: sp,
                        reason: "the cluster is gone".into(),
                    })?;
                }
                self.sim.alive.retain(|a| *a != j);
                self.sim.warm.retain(|a| *a != j);
                self.sim.warming.retain(|a| *a != j);
                if self.sim.running == Some(j) {
                    self.sim.running = None;
                }
                if self.sim.starting == Some(j) {
                    self.sim.starting = None;
                }
                self.sim.cancels.retain(|c| *c != j);
                self.step(Input::TornDown { job: j })?;
            }
            Move::TearDownFail => {
                let Some(j) = self.sim.teardowns.pop() else {
                    return Ok(());
                };
                self.step(Input::TearDownFailed {
                    job: j,
                    reason: "unreachable".into(),
                })?;
            }
            Move::Quota => {
                self.sim.ledger()?;
                if let Some(answer) = self.sim.answers.pop_front() {
                    self.step(answer)?;
                }
            }
            Move::Crash(how) => {
                let Some(j) = self.sim.running else {
                    return Ok(());
                };
                self.sim.running = None;
                self.sim.savepoints.retain(|(o, ..)| *o != j);
                self.sim.unwatched.retain(|(o, ..)| *o != j);
                let input = match how {
                    0 => Input::JobEnded {
                        job: j,
                        end: FlinkEnd::Failed,
                        reason: "boom".into(),
                    },
                    1 => Input::JobEnded {
                        job: j,
                        end: FlinkEnd::Finished,
                        reason: String::new(),
                    },
                    _ => Input::ClusterLost {
                        job: j,
                        reason: "gone".into(),
                    },
                };
                self.step(input)?;
            }
            Move::UserSavepoint => self.step(Input::UserSavepoint)?,
            Move::Import(n) => {
                self.step(Input::SavepointImported {
                    location: format!("file:/imported/{n}"),
                })?;
                self.step(Input::Reconcile)?;
            }
            Move::Checkpoint => {
                let Some(j) = self.sim.running else {
                    return Ok(());
                };
                self.sim.checkpoints += 1;
                let n = self.sim.checkpoints;
                // Every other poll also finds a TaskManager gone.
                self.step(Input::Observed {
                    job: j,
                    observation: Observation {
                        task_managers_lost: Some((n % 2, 1)),
                        ..Default::default()
                    },
                    checkpoint: Some(CheckpointSeen {
                        location: format!("file:/chk/{}/chk-{n}", j.as_u128()),
                        completed_at: self.w.now,
                    }),
                })?;
            }
            Move::Pods(n) => {
                let Some(job) = self.w.lc.phase.job() else {
                    return Ok(());
                };
                let trouble = (n > 0).then(|| PodTrouble {
                    reason: ["CrashLoopBackOff", "OOMKilled"][usize::from(n - 1)].into(),
                    message: format!("pod {n}"),
                });
                self.step(Input::PodsObserved { job, trouble })?;
            }
            Move::Defaults => {
                self.w.policy.template_hash = format!("{}d", self.w.policy.template_hash);
                self.step(Input::DefaultsChanged {
                    fields: vec!["x".into()],
                })?;
            }
            Move::Warm(up) => {
                if self.sim.warming.is_empty() {
                    return Ok(());
                }
                let j = self.sim.warming.remove(0);
                let input = if up {
                    Input::ClusterWarm { job: j }
                } else {
                    Input::WarmFailed {
                        job: j,
                        reason: "it did not start".into(),
                    }
                };
                self.step(input)?;
            }
            Move::Stale => self.step(Input::TornDown {
                job: Uuid::from_u128(u128::MAX),
            })?,
        }
        Ok(())
    }

    /// Inputs stop: Flink answers every operation well, the quota has room, time passes.
    fn quiesce(&mut self) -> Result<(), TestCaseError> {
        self.sim.limit = f64::INFINITY;
        self.step(Input::Reconcile)?;
        for _ in 0..400 {
            let m = if !self.sim.ledger_ops.is_empty() || !self.sim.answers.is_empty() {
                Move::Quota
            } else if self.sim.starting.is_some() {
                Move::StartOk
            } else if !self.sim.warming.is_empty() {
                Move::Warm(true)
            } else if !self.sim.savepoints.is_empty() {
                Move::SavepointOk(0)
            } else if !self.sim.cancels.is_empty() {
                Move::CancelOk(0)
            } else if !self.sim.teardowns.is_empty() {
                Move::TornDown
            } else if let Some(at) = self.w.next_deadline() {
                self.w.now = at.max(self.w.now);
                Move::Advance(0)
            } else {
                break;
            };
            self.apply(&m)?;
        }
        let w = &self.w;
        let lc = &w.lc;
        let held_here = lc.held_for_spec.as_deref() == Some(w.policy.hold_key.as_str());
        let ok = match w.policy.desired {
            DesiredState::Running => {
                (lc.status == DeploymentState::Running
                    && (running_key(w) == w.policy.upgrade_key
                        || w.policy.upgrade == UpgradeStrategyKind::None))
                    || (matches!(
                        lc.status,
                        DeploymentState::Failed | DeploymentState::Finished
                    ) && held_here)
            }
            DesiredState::Suspended => {
                lc.status == DeploymentState::Suspended
                    || (matches!(
                        lc.status,
                        DeploymentState::Failed | DeploymentState::Finished
                    ) && held_here)
            }
            DesiredState::Cancelled => {
                lc.status == DeploymentState::Cancelled
                    || (matches!(
                        lc.status,
                        DeploymentState::Failed | DeploymentState::Finished
                    ) && held_here)
            }
        };
        prop_assert!(
            ok,
            "did not reach the latest spec ({:?}): {:?}",
            w.policy.desired,
            lc
        );
        if lc.status != DeploymentState::Running
            && !(lc.status == DeploymentState::Failed && lc.phase != Phase::Idle)
        {
            prop_assert!(
                self.sim.alive.is_empty(),
                "a cluster is left: {:?}",
                self.sim.alive
            );
        }
        // No cluster started ahead is left, nor one given up.
        prop_assert!(
            self.sim.warm.is_empty() && lc.warm.is_none() && lc.discarded.is_empty(),
            "a cluster started ahead is left: {:?} {:?} {:?}",
            self.sim.warm,
            lc.warm,
            lc.discarded
        );
        prop_assert!(
            (self.sim.holding - lc.cores_held).abs() < 1e-9,
            "the ledger holds {} and the lifecycle {}",
            self.sim.holding,
            lc.cores_held
        );
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn the_promises_hold_under_any_interleaving(
        moves in prop::collection::vec(moves(), 1..120),
        max_jobs in 1u32..4,
        max_savepoints in 1u32..4,
        graceful in any::<bool>(),
        others in 0u8..3,
        limit in 2u8..8,
        fast in any::<bool>(),
    ) {
        let mut w = World::new();
        w.auto_quota = false;
        // Fast upgrades where the host's memory is known and plenty, else the cold way.
        w.memory = fast.then_some(64 << 30);
        w.policy.max_job_creation_attempts = max_jobs;
        w.policy.max_savepoint_creation_attempts = max_savepoints;
        w.policy.api = FlinkApi { graceful_stop: graceful, trigger_ids: graceful };
        let mut run = Run {
            w,
            sim: Sim { others: others as f64, limit: limit as f64, ..Sim::default() },
        };
        run.step(Input::Reconcile)?;
        for m in &moves {
            run.apply(m)?;
        }
        run.quiesce()?;
    }
}

#[test]
fn the_simulation_runs_the_happy_path() {
    let mut run = Run {
        w: World::new(),
        sim: Sim {
            limit: 4.0,
            ..Sim::default()
        },
    };
    run.w.auto_quota = false;
    run.step(Input::Reconcile).unwrap();
    for m in [
        Move::Quota,
        Move::StartOk,
        Move::Desire(1),
        Move::SavepointOk(0),
        Move::TornDown,
    ] {
        run.apply(&m).unwrap();
    }
    assert_eq!(run.w.status(), DeploymentState::Suspended);
    assert_eq!(run.sim.completed.len(), 1);
}
