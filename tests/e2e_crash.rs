//! The crash campaign: `kill -9` the daemon at random moments of random transitions, at
//! least 100 times, restart it each time, then check that it converges with no orphaned
//! cluster process, never two active jobs for one Deployment, and no savepoint left
//! unresolved. On the fake Flink (no JVM), with slowed starts and savepoints so that
//! kills land inside transitions.

#![cfg(feature = "test-support")]

mod e2e;

use std::collections::HashMap;
use std::time::Duration;

use e2e::Daemon;
use flinkd::spec::{DeploymentState, JobState, SavepointState};

/// xorshift: a fixed seed, so that a failing campaign can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn deployment(name: &str, state: &str) -> String {
    format!(
        "kind: Deployment\napiVersion: v1\nmetadata:\n  name: {name}\nspec:\n  state: {state}\n  template:\n    spec:\n      artifact:\n        jarUri: {}\n        entryClass: org.example.Job\n      flinkConfiguration:\n        fake.job.running-after-ms: \"300\"\n        fake.savepoint.delay-ms: \"300\"\n",
        e2e::fake_jar().display()
    )
}

const STATES: [&str; 3] = ["running", "suspended", "cancelled"];

fn expected(state: &str) -> DeploymentState {
    match state {
        "running" => DeploymentState::Running,
        "suspended" => DeploymentState::Suspended,
        _ => DeploymentState::Cancelled,
    }
}

/// Jobs of a Deployment that are not over.
fn active_jobs(d: &Daemon, name: &str) -> usize {
    d.jobs(name)
        .iter()
        .filter(|j| {
            matches!(
                j.status.state,
                JobState::Starting | JobState::Started | JobState::Terminating
            )
        })
        .count()
}

#[test]
fn kill_9_at_random_moments_converges_without_orphans_or_lost_savepoints() {
    let _one = e2e::serial();
    let seed = 0x5eed_f11d;
    let mut rng = Rng(seed);
    let names = ["c1", "c2", "c3"];
    let mut d = Daemon::start_with(&e2e::fake_flink_home(), "");
    let mut desired: HashMap<&str, &str> = HashMap::new();
    for n in names {
        d.deploy(&format!("{n}.yaml"), &deployment(n, "running"));
        desired.insert(n, "running");
    }
    d.wait("the first start", 30, || {
        names
            .iter()
            .all(|n| d.status(n) == Some(DeploymentState::Running))
            .then_some(())
    });

    let kills = 100;
    for k in 0..kills {
        // Change one Deployment's desired state, then kill the daemon somewhere inside
        // what that sets off.
        let n = names[rng.next(names.len() as u64) as usize];
        let s = STATES[rng.next(3) as usize];
        desired.insert(n, s);
        d.deploy(&format!("{n}.yaml"), &deployment(n, s));
        std::thread::sleep(Duration::from_millis(50 + rng.next(600)));
        d.signal(nix::sys::signal::Signal::SIGKILL);
        d.stop();
        for n in names {
            assert!(
                active_jobs(&d, n) <= 1,
                "kill {k} (seed {seed:#x}): two active jobs for {n}"
            );
        }
        d.restart();
    }

    // Then a final mix, so that convergence covers each state from wherever the kills
    // left the Deployments.
    for (n, st) in names.iter().zip(STATES) {
        desired.insert(n, st);
        d.deploy(&format!("{n}.yaml"), &deployment(n, st));
    }

    // Convergence: every Deployment reaches its desired state.
    d.wait("convergence after the kills", 90, || {
        names
            .iter()
            .all(|n| d.status(n) == Some(expected(desired[n])))
            .then_some(())
    });
    std::thread::sleep(Duration::from_secs(2));

    let mut running_jobs = Vec::new();
    for n in names {
        assert_eq!(
            d.status(n),
            Some(expected(desired[n])),
            "{n} after convergence"
        );
        let active = active_jobs(&d, n);
        if desired[n] == "running" {
            assert_eq!(active, 1, "{n}: one active job");
            running_jobs.push(
                d.deployment(n)
                    .unwrap()
                    .status
                    .unwrap()
                    .running
                    .unwrap()
                    .job_id,
            );
        } else {
            assert_eq!(active, 0, "{n}: no active job");
        }
        for sp in d.savepoints(n) {
            assert_ne!(
                sp.state,
                SavepointState::Started,
                "{n}: savepoint {} left unresolved",
                sp.metadata.id
            );
            if sp.state == SavepointState::Completed {
                assert!(
                    sp.location.is_some(),
                    "{n}: a completed savepoint without a location"
                );
            }
        }
    }
    // No orphan: the only live cluster processes are those of the running jobs.
    let mut live: Vec<String> = d
        .cluster_dirs()
        .into_iter()
        .filter(|dir| !e2e::cluster_at(dir.clone()).live_pids().is_empty())
        .filter_map(|dir| dir.file_name().map(|f| f.to_string_lossy().into_owned()))
        .collect();
    live.sort();
    let mut expected_live: Vec<String> = running_jobs.iter().map(|j| j.to_string()).collect();
    expected_live.sort();
    assert_eq!(
        live, expected_live,
        "live clusters are exactly the running jobs' (seed {seed:#x})"
    );
    println!("{kills} kills; final states {desired:?}");
}
