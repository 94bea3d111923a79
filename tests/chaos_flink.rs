// suite: real-flink (scripts/test.sh runs these apart from the fake-only tests)
//! The chaos campaign on real Flink: the bundled counter job, one cluster at a time,
//! and kill -9 of the daemon, of the JobManager and of a TaskManager while the
//! Deployment is running, suspending, upgrading and resuming. Checked from outside:
//! the count the job writes never falls below what its first savepoint held (it never
//! starts again from 1: the restore strategy is LATEST_STATE), at most one cluster is
//! alive, every round ends in the spec's state with the count moving again, and no JVM
//! is left behind.
//!
//! `CHAOS_FLINK_SEED` replays a run; `CHAOS_FLINK_KILLS` (default 10) sets how many
//! kills must land (a kill lands when its victim was alive): rounds go on until they
//! have, up to twice as many rounds.

mod e2e;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use e2e::Daemon;
use flinkd::spec::DeploymentState;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// A small seeded generator (xorshift), so that a run replays from its seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    Running,
    Suspending,
    Upgrading,
    Resuming,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Victim {
    Daemon,
    JobManager,
    TaskManager,
}

const NAME: &str = "chaos";

/// The counter Deployment: LATEST_STATE, and `rate` records a second (changing it is an
/// upgrade).
fn spec(out: &Path, state: &str, rate: u32) -> String {
    e2e::counter(
        NAME,
        out,
        &format!("  state: {state}\n  restoreStrategy:\n    kind: LATEST_STATE\n  upgradeStrategy:\n    kind: STATEFUL"),
        &format!("--rate {rate}"),
    )
}

/// Watches the count file from a thread: every value it ever shows after `floor` was
/// set must be at least `floor`.
struct Sampler {
    floor: Arc<AtomicU64>,
    below: Arc<Mutex<Vec<u64>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sampler {
    fn start(out: PathBuf) -> Sampler {
        let floor = Arc::new(AtomicU64::new(0));
        let below = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (f, b, s) = (floor.clone(), below.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                if let Some(n) = e2e::read_count(&out) {
                    if n < f.load(Ordering::Relaxed) {
                        b.lock().unwrap().push(n);
                    }
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        Sampler {
            floor,
            below,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The live PIDs of one role (`standalonesession` or `taskexecutor`) of every cluster.
fn pids_of(d: &Daemon, role: &str) -> Vec<i32> {
    let mut pids = Vec::new();
    for dir in d.cluster_dirs() {
        let live = e2e::cluster_at(dir.clone()).live_pids();
        for e in std::fs::read_dir(dir.join("pid"))
            .into_iter()
            .flatten()
            .flatten()
        {
            if !e.file_name().to_string_lossy().contains(role) {
                continue;
            }
            let text = std::fs::read_to_string(e.path()).unwrap_or_default();
            pids.extend(
                text.lines()
                    .filter_map(|l| l.trim().parse::<i32>().ok())
                    .filter(|p| live.contains(p)),
            );
        }
    }
    pids
}

/// The clusters with a live process.
fn live_clusters(d: &Daemon) -> usize {
    d.cluster_dirs()
        .into_iter()
        .filter(|dir| !e2e::cluster_at(dir.clone()).live_pids().is_empty())
        .count()
}

/// Every live JVM whose command line names `dir`.
fn jvms_under(dir: &Path) -> Vec<i32> {
    let needle = dir.display().to_string();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let cmd = String::from_utf8_lossy(&cmd);
            cmd.contains("java") && cmd.contains(&needle)
        })
        .collect()
}

/// Waits for the status, and for the count to move when it is RUNNING.
fn settle(
    d: &Daemon,
    out: &Path,
    want: &[DeploymentState],
    secs: u64,
    log: &str,
) -> DeploymentState {
    let reached = d.wait(&format!("{want:?} ({log})"), secs, || {
        d.status(NAME).filter(|s| want.contains(s))
    });
    if reached == DeploymentState::Running {
        let from = e2e::read_count(out).unwrap_or(0);
        d.wait(
            &format!("the count to move on from {from} ({log})"),
            90,
            || (e2e::read_count(out).unwrap_or(0) > from).then_some(()),
        );
        // One cluster runs: a fast upgrade's new cluster runs beside the old job until
        // the old cluster is gone, and none is left behind.
        d.wait(&format!("one cluster to run ({log})"), 90, || {
            (live_clusters(d) == 1).then_some(())
        });
    } else {
        d.wait(&format!("no cluster left at rest ({log})"), 60, || {
            (live_clusters(d) == 0).then_some(())
        });
    }
    reached
}

#[test]
fn kill_9_of_daemon_job_manager_and_task_manager_never_loses_the_count() {
    let _one = e2e::serial();
    let seed: u64 = std::env::var("CHAOS_FLINK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_f11c);
    let target: usize = std::env::var("CHAOS_FLINK_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let mut rng = Rng(seed | 1);
    eprintln!("chaos on real Flink: seed {seed}, until {target} kills land");

    let mut d = Daemon::start("");
    let dir = d.dir.path().to_path_buf();
    let out = d.path("count.txt");
    let sampler = Sampler::start(out.clone());
    let mut rate = 10;
    d.deploy("chaos.yaml", &spec(&out, "running", rate));
    settle(&d, &out, &[DeploymentState::Running], 180, "first start");
    d.wait("a count of 20", 60, || {
        (e2e::read_count(&out).unwrap_or(0) >= 20).then_some(())
    });
    // The floor: what the count is before the first savepoint (which holds at least
    // that). Every restore from then on is from it or a newer snapshot.
    let floor = e2e::read_count(&out).unwrap();
    let (code, _, err) = d.cli(&["savepoint", NAME, "--timeout", "2m"]);
    assert_eq!(code, 0, "{err}");
    sampler.floor.store(floor, Ordering::Relaxed);

    let phases = [
        Phase::Running,
        Phase::Suspending,
        Phase::Resuming,
        Phase::Upgrading,
    ];
    let victims = [Victim::Daemon, Victim::JobManager, Victim::TaskManager];
    let mut kills = Vec::new();
    let began = Instant::now();
    let mut round = 0;
    while kills
        .iter()
        .filter(|k: &&(Phase, Victim, bool)| k.2)
        .count()
        < target
        && round < 2 * target
    {
        let phase = phases[round % phases.len()];
        // The victims take turns; the seed shifts the turn.
        let victim = victims[(round / phases.len() + rng.below(3) as usize) % 3];
        // Within the time the phase lasts: a resumption starts a cluster (seconds),
        // a suspension is over in about one.
        let delay = Duration::from_millis(match phase {
            Phase::Resuming => rng.below(12_000),
            Phase::Suspending => rng.below(900),
            _ => rng.below(4_000),
        });
        let log = format!("round {round}: {phase:?}, kill -9 of the {victim:?} after {delay:?}");
        eprintln!("{log}");

        // Into the phase.
        let want: &[DeploymentState] = match phase {
            Phase::Running => &[DeploymentState::Running],
            Phase::Suspending => {
                d.deploy("chaos.yaml", &spec(&out, "suspended", rate));
                // A JobManager killed before the savepoint completes leaves it FAILED.
                &[DeploymentState::Suspended, DeploymentState::Failed]
            }
            Phase::Upgrading => {
                rate = if rate == 10 { 11 } else { 10 };
                d.deploy("chaos.yaml", &spec(&out, "running", rate));
                &[DeploymentState::Running]
            }
            Phase::Resuming => {
                d.deploy("chaos.yaml", &spec(&out, "running", rate));
                &[DeploymentState::Running]
            }
        };
        std::thread::sleep(delay);

        // The kill.
        let killed = match victim {
            Victim::Daemon => {
                d.signal(Signal::SIGKILL);
                d.stop();
                std::thread::sleep(Duration::from_millis(rng.below(2_000)));
                d.restart();
                true
            }
            Victim::JobManager | Victim::TaskManager => {
                let role = if victim == Victim::JobManager {
                    "standalonesession"
                } else {
                    "taskexecutor"
                };
                // The process may be about to start: give it a moment to appear.
                let until = Instant::now() + Duration::from_secs(15);
                let mut pids = pids_of(&d, role);
                while pids.is_empty() && Instant::now() < until {
                    std::thread::sleep(Duration::from_millis(200));
                    pids = pids_of(&d, role);
                }
                for p in &pids {
                    let _ = kill(Pid::from_raw(*p), Signal::SIGKILL);
                }
                !pids.is_empty()
            }
        };
        kills.push((phase, victim, killed));

        let reached = settle(&d, &out, want, 240, &log);
        eprintln!("  reached {reached:?}, count {:?}", e2e::read_count(&out));
        // The next round's phase starts from its state: resuming from at rest,
        // the others from RUNNING.
        let next = phases[(round + 1) % phases.len()];
        if next != Phase::Resuming && reached != DeploymentState::Running {
            d.deploy("chaos.yaml", &spec(&out, "running", rate));
            settle(&d, &out, &[DeploymentState::Running], 240, &log);
        }
        if next == Phase::Resuming && reached == DeploymentState::Running {
            d.deploy("chaos.yaml", &spec(&out, "suspended", rate));
            settle(&d, &out, &[DeploymentState::Suspended], 240, &log);
        }
        let below = sampler.below.lock().unwrap().clone();
        assert!(
            below.is_empty(),
            "the count fell below {floor} ({log}): {below:?}\n{}",
            d.log()
        );
        round += 1;
    }

    d.deploy("chaos.yaml", &spec(&out, "cancelled", rate));
    settle(&d, &out, &[DeploymentState::Cancelled], 120, "the end");
    drop(sampler);
    let landed = kills.iter().filter(|k| k.2).count();
    eprintln!(
        "{round} rounds in {:?}: {landed} kills landed ({} of the daemon, {} of a JobManager, {} of a TaskManager), count {:?}, floor {floor}",
        began.elapsed(),
        kills.iter().filter(|k| k.2 && k.1 == Victim::Daemon).count(),
        kills.iter().filter(|k| k.2 && k.1 == Victim::JobManager).count(),
        kills.iter().filter(|k| k.2 && k.1 == Victim::TaskManager).count(),
        e2e::read_count(&out)
    );
    assert!(
        landed >= target,
        "at least {target} kills landed: {kills:?}"
    );
    // Checked before the harness's own sweep of the clusters can hide one.
    let left = jvms_under(&dir);
    assert!(left.is_empty(), "JVMs left behind: {left:?}");
}
