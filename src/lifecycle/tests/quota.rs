//! Several Deployments, one ledger (the Supervisor's own [`Ledger`]): requests and
//! settings reach it in one queue, each Deployment's in order; grants come back later;
//! the limit is changed by reloads; Flink answers well but at any moment. Checked after
//! every step: no grant takes the ledger over its limit, a running job is stopped only
//! by its own spec, and once everything is answered each lifecycle holds exactly what
//! the ledger holds for it, and every Deployment that fits runs.

use std::collections::VecDeque;

use proptest::prelude::*;

use super::*;
use crate::quota::Ledger;

const N: usize = 3;

struct Many {
    worlds: Vec<World>,
    ledger: Ledger,
    ids: Vec<Uuid>,
    /// The Supervisor's mailbox: (Deployment, request or setting).
    mailbox: VecDeque<(usize, Action)>,
    /// Answers on their way back to each Deployment.
    answers: Vec<VecDeque<Input>>,
    /// Flink's answers to come: (Deployment, input).
    flink: VecDeque<(usize, Input)>,
}

impl Many {
    fn new(limit: f64) -> Many {
        let worlds: Vec<World> = (0..N)
            .map(|i| {
                let mut w = World::new();
                w.auto_quota = false;
                w.ids = SeqIds(1000 * (i as u128 + 1));
                w
            })
            .collect();
        Many {
            worlds,
            ledger: Ledger::new(Some(limit)),
            ids: (0..N).map(|i| Uuid::from_u128(i as u128 + 1)).collect(),
            mailbox: VecDeque::new(),
            answers: vec![VecDeque::new(); N],
            flink: VecDeque::new(),
        }
    }

    fn step(&mut self, d: usize, input: Input) -> Result<(), TestCaseError> {
        let actions = self.worlds[d].step(input);
        let w = &self.worlds[d];
        for a in actions {
            match &a {
                Action::ReserveQuota { .. } | Action::SetQuota { .. } => {
                    self.mailbox.push_back((d, a.clone()))
                }
                Action::StartJob { job, .. } => {
                    self.flink.push_back((d, Input::StartBegan { job: *job }));
                    self.flink.push_back((d, Input::JobRunning { job: *job }));
                }
                Action::StopWithSavepoint { job, savepoint, .. } => {
                    // Only the Deployment's own spec stops a running job.
                    let p = &w.policy;
                    let stopped_key = match &w.lc.phase {
                        Phase::Savepointing { job, .. } => job.upgrade_key.clone(),
                        _ => String::new(),
                    };
                    prop_assert!(
                        p.desired != DesiredState::Running || stopped_key != p.upgrade_key,
                        "a running job stopped for no edit of its own"
                    );
                    prop_assert!(
                        w.lc.cores_held + 1e-9 >= p.cores || p.desired != DesiredState::Running,
                        "an upgrade began before its cores were granted"
                    );
                    self.flink.push_back((
                        d,
                        Input::SavepointCompleted {
                            job: *job,
                            savepoint: *savepoint,
                            location: format!("file:/sp/{}", savepoint.as_u128()),
                        },
                    ));
                }
                Action::Cancel { job } => self.flink.push_back((
                    d,
                    Input::CancelCompleted {
                        job: *job,
                        end: FlinkEnd::Canceled,
                    },
                )),
                Action::TearDown { job, .. } => {
                    self.flink.push_back((d, Input::TornDown { job: *job }))
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The Supervisor takes one message. A release wakes those refused.
    fn supervise(&mut self) -> Result<(), TestCaseError> {
        let Some((d, a)) = self.mailbox.pop_front() else {
            return Ok(());
        };
        match a {
            Action::ReserveQuota { request, cores } => {
                let before = self.ledger.used();
                match self.ledger.reserve(self.ids[d], cores) {
                    Ok(()) => {
                        let limit = self.ledger.limit().unwrap_or(f64::INFINITY);
                        prop_assert!(
                            self.ledger.used() <= limit + 1e-9
                                || self.ledger.used() <= before + 1e-9,
                            "a grant over the limit: {} > {limit}",
                            self.ledger.used()
                        );
                        self.answers[d].push_back(Input::QuotaGranted { request });
                    }
                    Err(denied) => self.answers[d].push_back(Input::QuotaDenied {
                        request,
                        used: denied.used,
                        limit: denied.limit,
                    }),
                }
            }
            Action::SetQuota { cores } => {
                let freed = cores < self.ledger.held(self.ids[d]);
                self.ledger.set(self.ids[d], cores);
                if freed {
                    for other in 0..N {
                        self.answers[other].push_back(Input::Reconcile);
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
enum Op {
    Desire(usize, u8),
    Cores(usize, u8),
    Limit(u8),
    Supervise,
    Answer(usize),
    Flink,
    Crash(usize),
}

fn ops() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => ((0..N), 0u8..3).prop_map(|(d, s)| Op::Desire(d, s)),
        1 => ((0..N), 0u8..3).prop_map(|(d, c)| Op::Cores(d, c)),
        1 => (1u8..8).prop_map(Op::Limit),
        4 => Just(Op::Supervise),
        4 => (0..N).prop_map(Op::Answer),
        4 => Just(Op::Flink),
        1 => (0..N).prop_map(Op::Crash),
    ]
}

impl Many {
    fn apply(&mut self, op: Op) -> Result<(), TestCaseError> {
        match op {
            Op::Desire(d, s) => {
                let w = &mut self.worlds[d];
                w.policy.desired = [
                    DesiredState::Running,
                    DesiredState::Suspended,
                    DesiredState::Cancelled,
                ][s as usize];
                w.policy.hold_key = format!("{}+", w.policy.hold_key);
                self.step(d, Input::Reconcile)?;
            }
            Op::Cores(d, c) => {
                let w = &mut self.worlds[d];
                w.policy.cores = [1.0, 2.0, 3.0][c as usize];
                w.policy.upgrade_key = format!("{}c{c}", w.policy.upgrade_key);
                w.policy.hold_key = format!("{}+", w.policy.hold_key);
                self.step(d, Input::Reconcile)?;
            }
            Op::Limit(l) => {
                // A reload: holdings stay; everyone waiting looks again.
                self.ledger.set_limit(Some(l as f64));
                for d in 0..N {
                    self.answers[d].push_back(Input::Reconcile);
                    self.answers[d].push_back(Input::Reconcile);
                }
            }
            Op::Supervise => self.supervise()?,
            Op::Answer(d) => {
                if let Some(input) = self.answers[d].pop_front() {
                    self.step(d, input)?;
                }
            }
            Op::Flink => {
                if let Some((d, input)) = self.flink.pop_front() {
                    self.step(d, input)?;
                }
            }
            Op::Crash(d) => {
                if let Some(job) = self.worlds[d].lc.phase.running_job().map(|j| j.id) {
                    self.flink.retain(|(o, i)| *o != d || i.job() != Some(job));
                    self.step(
                        d,
                        Input::JobEnded {
                            job,
                            end: FlinkEnd::Failed,
                            reason: "boom".into(),
                        },
                    )?;
                }
            }
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn the_quota_is_never_over_committed_and_never_stops_a_running_job(
        limit in 2u8..7,
        ops in prop::collection::vec(ops(), 1..150),
    ) {
        let mut m = Many::new(limit as f64);
        for d in 0..N {
            m.step(d, Input::Reconcile)?;
        }
        for op in ops {
            m.apply(op)?;
        }
        // Everything answered, with room for all.
        m.ledger.set_limit(Some(100.0));
        for d in 0..N {
            m.answers[d].push_back(Input::Reconcile);
        }
        for _ in 0..2000 {
            if !m.mailbox.is_empty() {
                m.supervise()?;
            } else if let Some(d) = (0..N).find(|d| !m.answers[*d].is_empty()) {
                m.apply(Op::Answer(d))?;
            } else if !m.flink.is_empty() {
                m.apply(Op::Flink)?;
            } else {
                break;
            }
        }
        for d in 0..N {
            let w = &m.worlds[d];
            prop_assert!((m.ledger.held(m.ids[d]) - w.lc.cores_held).abs() < 1e-9,
                "Deployment {d}: the ledger holds {} and the lifecycle {}", m.ledger.held(m.ids[d]), w.lc.cores_held);
            if w.policy.desired == DesiredState::Running {
                prop_assert_eq!(w.lc.status, DeploymentState::Running, "Deployment {} does not run: {:?}", d, w.lc);
            } else {
                prop_assert_eq!(w.lc.cores_held, 0.0);
            }
        }
    }
}
