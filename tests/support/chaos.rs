//! A seeded chaos campaign against the fake Flink: edits, Flink faults, daemon faults
//! and quota pressure, drawn from a seed, with the promises checked from the fake's own
//! log (Flink's side, not flinkd's records).
//!
//! Each campaign runs one daemon on a temp directory, Deployments on the local target
//! (through the fake distribution: a fake process per cluster) and on an external one
//! (one standalone fake), fewer cores than Deployments, and a schedule of operations.
//! Checked all along: never two live jobs of one Deployment, never more cores running
//! than the quota. Checked once the faults stop and every Deployment has reached its
//! latest spec's state (within a bound, measured): every savepoint the fake completed is
//! on record COMPLETED with its location, every start restored from the newest
//! completed savepoint of its Deployment (or nothing, for restore strategy NONE), and no
//! fake process is left but the clusters of RUNNING Deployments. A violation says the
//! seed and the schedule, so it can be replayed.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use flinkd::spec::{DeploymentState, SavepointState};

use super::e2e::{self, Daemon, FakeServer};

/// xorshift64*: the schedule is the seed's alone.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub fn pick<'a, T>(&mut self, list: &'a [T]) -> &'a T {
        &list[self.below(list.len() as u64) as usize]
    }
}

/// What the campaign did and found.
#[derive(Debug, Default, Clone)]
pub struct Figures {
    pub ops: usize,
    /// Operations by kind.
    pub kinds: BTreeMap<&'static str, usize>,
    pub kills: usize,
    pub violations: Vec<String>,
    /// From the end of the faults to every Deployment at its latest spec's state.
    pub convergence: Duration,
    pub savepoints_completed: usize,
    pub starts: usize,
}

impl Figures {
    pub fn add(&mut self, other: &Figures) {
        self.ops += other.ops;
        for (k, n) in &other.kinds {
            *self.kinds.entry(k).or_default() += n;
        }
        self.kills += other.kills;
        self.violations.extend(other.violations.iter().cloned());
        self.convergence = self.convergence.max(other.convergence);
        self.savepoints_completed += other.savepoints_completed;
        self.starts += other.starts;
    }
}

/// One Deployment as the campaign last wrote it.
#[derive(Debug, Clone)]
struct Spec {
    state: &'static str,
    version: u32,
    attempts: u32,
    savepoint_attempts: u32,
    external: bool,
    restore_none: bool,
    stateless: bool,
    /// Faults in its template (a start reads them).
    faults: Vec<(&'static str, String)>,
    present: bool,
    broken: bool,
}

/// One line of the fake's log.
#[derive(Debug, Clone, serde::Deserialize)]
struct Line {
    pid: u32,
    port: u16,
    event: String,
    #[serde(default)]
    job: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    location: Option<String>,
    #[serde(default, rename = "restoredFrom")]
    restored_from: Option<String>,
}

/// The fake's side, from its log.
#[derive(Default)]
struct Oracle {
    read: usize,
    lines: Vec<Line>,
    /// job → (Deployment, fake pid, state)
    jobs: HashMap<String, (String, u32, String)>,
    /// Fake processes that came up: pid → port.
    fakes: HashMap<u32, u16>,
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit_once(')')
                .is_some_and(|(_, r)| !r.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

fn terminal(state: &str) -> bool {
    matches!(state, "FAILED" | "FINISHED" | "CANCELED")
}

impl Oracle {
    fn update(&mut self, path: &Path) {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let complete = text.rfind('\n').map_or(0, |i| i + 1);
        for l in text[self.read.min(complete)..complete].lines() {
            let Ok(line) = serde_json::from_str::<Line>(l) else {
                continue;
            };
            match line.event.as_str() {
                "up" => {
                    self.fakes.insert(line.pid, line.port);
                }
                "registered" | "state" => {
                    if let (Some(job), Some(name)) = (&line.job, &line.name) {
                        self.jobs.insert(
                            job.clone(),
                            (
                                name.clone(),
                                line.pid,
                                line.state.clone().unwrap_or_default(),
                            ),
                        );
                    }
                }
                "reset" => {
                    for (_, pid, state) in self.jobs.values_mut() {
                        if *pid == line.pid {
                            *state = "CANCELED".into();
                        }
                    }
                }
                _ => {}
            }
            self.lines.push(line);
        }
        self.read = complete;
    }

    /// Deployment → its live jobs: not terminal, on a fake process that lives.
    fn live(&self) -> HashMap<String, Vec<String>> {
        let mut out: HashMap<String, Vec<String>> = HashMap::new();
        for (job, (name, pid, state)) in &self.jobs {
            if !terminal(state) && alive(*pid) {
                out.entry(name.clone()).or_default().push(job.clone());
            }
        }
        out
    }
}

pub struct Campaign {
    pub seed: u64,
    rng: Rng,
    d: Daemon,
    ext: FakeServer,
    log: PathBuf,
    _dir: tempfile::TempDir,
    specs: BTreeMap<String, Spec>,
    quota: u32,
    schedule: Vec<String>,
    figures: Figures,
    oracle: Oracle,
}

const TIMING: &str = "poll_interval = \"200ms\"\npoll_interval_max = \"1s\"\nsavepoint_timeout = \"1s\"\ncancel_deadline = \"2s\"\njob_start_timeout = \"3s\"\nteardown_deadline = \"5s\"\nsubmission_grace = \"1s\"\nhttp_timeout = \"500ms\"\nretry_interval = \"100ms\"\nfile_debounce = \"50ms\"\nrescan_interval = \"1s\"\ncluster_stop_grace = \"1s\"";

impl Campaign {
    pub fn new(seed: u64, deployments: usize) -> Campaign {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("fake-events.jsonl");
        // The external cluster's savepoints are on disk too: a Deployment moved back to
        // its local target restores from them (a start finds a missing one gone).
        let ext_savepoints = dir.path().join("ext-savepoints");
        let ext = FakeServer::start_logged(
            &e2e::free_port().to_string(),
            &["--savepoints-dir", ext_savepoints.to_str().unwrap()],
            Some(&log),
        );
        let quota = (deployments as u32).saturating_sub(2).max(1);
        let d = Daemon::start_env(
            &e2e::fake_flink_home(),
            &format!("{TIMING}\n[quota]\ncpu = {quota}"),
            &[("FLINK_FAKE_LOG", log.to_str().unwrap())],
        );
        d.deploy("ext.yaml", &e2e::external_target("ext", &ext.url));
        let mut rng = Rng::new(seed);
        let mut specs = BTreeMap::new();
        for i in 0..deployments {
            specs.insert(
                format!("c{i}"),
                Spec {
                    state: "running",
                    version: 1,
                    attempts: 2 + rng.below(3) as u32,
                    savepoint_attempts: 2 + rng.below(3) as u32,
                    external: i % 3 == 2,
                    restore_none: i == 1,
                    stateless: i == 3,
                    faults: Vec::new(),
                    present: true,
                    broken: false,
                },
            );
        }
        let mut c = Campaign {
            seed,
            rng,
            d,
            ext,
            log,
            _dir: dir,
            specs,
            quota,
            schedule: Vec::new(),
            figures: Figures::default(),
            oracle: Oracle::default(),
        };
        for name in c.specs.keys().cloned().collect::<Vec<_>>() {
            c.write(&name);
        }
        c
    }

    fn text(&self, name: &str, s: &Spec) -> String {
        let mut conf = String::from("        fake.none: \"0\"\n");
        for (k, v) in &s.faults {
            conf.push_str(&format!("        {k}: \"{v}\"\n"));
        }
        let target = if s.external { "ext" } else { "local" };
        let restore = if s.restore_none {
            "none"
        } else {
            "latest_state"
        };
        let upgrade = if s.stateless { "stateless" } else { "stateful" };
        format!(
            "kind: Deployment\napiVersion: v1\nmetadata:\n  name: {name}\nspec:\n  state: {}\n  deploymentTargetName: {target}\n  restoreStrategy:\n    kind: {restore}\n  upgradeStrategy:\n    kind: {upgrade}\n  maxJobCreationAttempts: {}\n  maxSavepointCreationAttempts: {}\n  template:\n    spec:\n      artifact:\n        jarUri: {jar}\n        entryClass: org.example.Job\n        mainArgs: --name {name} --v {}\n      resources:\n        jobManager:\n          cpu: 0.5\n        taskManager:\n          cpu: 0.5\n      flinkConfiguration:\n{conf}",
            s.state,
            s.attempts,
            s.savepoint_attempts,
            s.version,
            jar = e2e::fake_jar().display(),
        )
    }

    fn write(&mut self, name: &str) {
        let s = self.specs[name].clone();
        let text = self.text(name, &s);
        self.d.deploy(&format!("{name}.yaml"), &text);
        if let Some(s) = self.specs.get_mut(name) {
            s.present = true;
            s.broken = false;
        }
    }

    fn note(&mut self, kind: &'static str, what: String) {
        *self.figures.kinds.entry(kind).or_default() += 1;
        self.schedule.push(what);
    }

    fn violation(&mut self, what: String) {
        let line = format!(
            "seed {}: {what}\n  schedule: {}",
            self.seed,
            self.schedule.join("; ")
        );
        self.figures.violations.push(line);
    }

    /// The live local fake processes: their REST ports (the campaign's own fakes only).
    fn live_local_fakes(&self) -> Vec<(u32, u16)> {
        self.oracle
            .fakes
            .iter()
            .filter(|(pid, port)| **port != self.ext_port() && alive(**pid))
            .map(|(p, port)| (*p, *port))
            .collect()
    }

    fn ext_port(&self) -> u16 {
        self.ext
            .url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0)
    }

    fn set_fault(port: u16, key: &str, value: &str) {
        let url = format!("http://127.0.0.1:{port}/fake/set?key={key}&value={value}");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _ = rt.block_on(async {
            reqwest::Client::new()
                .post(url)
                .timeout(Duration::from_secs(2))
                .send()
                .await
        });
    }

    fn post(url: &str) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _ = rt.block_on(async {
            reqwest::Client::new()
                .post(url)
                .timeout(Duration::from_secs(2))
                .send()
                .await
        });
    }

    /// The checks that hold at every moment.
    fn check_now(&mut self) {
        self.oracle.update(&self.log);
        let live = self.oracle.live();
        let mut cores = 0;
        let mut found = Vec::new();
        for (name, jobs) in &live {
            cores += jobs.len();
            if jobs.len() > 1 {
                found.push(format!("two live jobs of {name}: {jobs:?}"));
            }
        }
        if cores as u32 > self.quota {
            found.push(format!("{cores} cores run on a quota of {}", self.quota));
        }
        for f in found {
            self.violation(f);
        }
    }

    /// One operation of the schedule.
    fn step(&mut self) {
        let names: Vec<String> = self.specs.keys().cloned().collect();
        let name = self.rng.pick(&names).clone();
        let roll = self.rng.below(100);
        match roll {
            0..=24 => {
                let state = *self
                    .rng
                    .pick(&["running", "running", "suspended", "cancelled"]);
                self.specs.get_mut(&name).unwrap().state = state;
                self.write(&name);
                self.note("edit state", format!("{name} {state}"));
            }
            25..=33 => {
                self.specs.get_mut(&name).unwrap().version += 1;
                self.write(&name);
                self.note("edit template", format!("{name} template"));
            }
            34..=37 => {
                let n = 1 + self.rng.below(4) as u32;
                self.specs.get_mut(&name).unwrap().attempts = n;
                self.write(&name);
                self.note("edit limits", format!("{name} attempts {n}"));
            }
            38..=41 => {
                let s = self.specs.get_mut(&name).unwrap();
                s.external = !s.external;
                let to = if s.external { "ext" } else { "local" };
                self.write(&name);
                self.note("edit target", format!("{name} to {to}"));
            }
            42..=45 => {
                let s = &self.specs[&name];
                if s.present {
                    let _ = std::fs::remove_file(self.d.path(&format!("deployments/{name}.yaml")));
                    self.specs.get_mut(&name).unwrap().present = false;
                    self.note("delete", format!("{name} deleted"));
                } else {
                    self.write(&name);
                    self.note("re-add", format!("{name} re-added"));
                }
            }
            46..=49 => {
                self.d.deploy(
                    &format!("{name}.yaml"),
                    "kind: Deployment\nmetadata: [ broken",
                );
                self.specs.get_mut(&name).unwrap().broken = true;
                self.note("broken edit", format!("{name} broken"));
            }
            50..=55 => {
                let fault = match self.rng.below(4) {
                    0 => ("fake.run.reject", "injected rejection".to_string()),
                    1 => ("fake.run.delay-ms", "1500".to_string()),
                    2 => (
                        "fake.job.fail-after-ms",
                        (500 + self.rng.below(3000)).to_string(),
                    ),
                    _ => (
                        "fake.savepoint.fail-first",
                        (1 + self.rng.below(3)).to_string(),
                    ),
                };
                let s = self.specs.get_mut(&name).unwrap();
                s.faults.retain(|(k, _)| *k != fault.0);
                s.faults.push(fault.clone());
                self.write(&name);
                self.note(
                    "fault in template",
                    format!("{name} {}={}", fault.0, fault.1),
                );
            }
            56..=63 => {
                let (key, value) = match self.rng.below(7) {
                    0 => ("fake.savepoint.delay-ms", "300"),
                    1 => ("fake.savepoint.delay-ms", "1500"),
                    2 => ("fake.savepoint.delay-ms", "60000"),
                    3 => ("fake.savepoint.fail-first", "1000"),
                    4 => ("fake.cancel", "fail"),
                    5 => ("fake.cancel", "hang"),
                    _ => ("fake.job.fail-after-ms", "1000"),
                };
                let mut ports: Vec<u16> = self.live_local_fakes().iter().map(|(_, p)| *p).collect();
                ports.push(self.ext_port());
                let port = *self.rng.pick(&ports);
                Self::set_fault(port, key, value);
                self.note("fault at runtime", format!("{key}={value} on :{port}"));
            }
            64..=66 if self.rng.below(3) == 0 => {
                // A TaskManager of a local cluster (flinkd starts one in its place).
                let tms: Vec<i32> = self
                    .d
                    .cluster_dirs()
                    .into_iter()
                    .flat_map(|dir| {
                        let live = e2e::cluster_at(dir.clone()).live_pids();
                        std::fs::read_to_string(dir.join("pid/flink-fake-taskexecutor.pid"))
                            .unwrap_or_default()
                            .lines()
                            .filter_map(|l| l.trim().parse::<i32>().ok())
                            .filter(|p| live.contains(p))
                            .collect::<Vec<_>>()
                    })
                    .collect();
                if !tms.is_empty() {
                    let pid = *self.rng.pick(&tms);
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                    self.note("TaskManager killed", format!("TaskManager {pid} killed"));
                }
            }
            64..=66 => {
                let fakes = self.live_local_fakes();
                if !fakes.is_empty() {
                    let (pid, port) = *self.rng.pick(&fakes);
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid as i32),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                    self.note("JobManager killed", format!("JobManager :{port} killed"));
                }
            }
            67..=68 => {
                Self::post(&format!("{}/fake/reset", self.ext.url));
                self.note("cluster reset", "external cluster restarted empty".into());
            }
            69..=72 => {
                self.d.signal(nix::sys::signal::Signal::SIGKILL);
                self.d.stop();
                std::thread::sleep(Duration::from_millis(self.rng.below(300)));
                self.d.restart();
                self.figures.kills += 1;
                self.note("daemon kill -9", "daemon kill -9".into());
            }
            73..=74 => {
                self.d.stop();
                self.d.restart();
                self.note("daemon restart", "daemon SIGTERM and restart".into());
            }
            75..=77 => {
                let config = std::fs::read_to_string(self.d.path("flinkd.toml")).unwrap();
                let changed = if self.rng.below(2) == 0 && self.quota < self.specs.len() as u32 {
                    let next = self.quota + 1;
                    let c =
                        config.replace(&format!("cpu = {}", self.quota), &format!("cpu = {next}"));
                    self.quota = next;
                    c
                } else if config.contains("savepoint_timeout = \"1s\"") {
                    config.replace("savepoint_timeout = \"1s\"", "savepoint_timeout = \"2s\"")
                } else {
                    config.replace("savepoint_timeout = \"2s\"", "savepoint_timeout = \"1s\"")
                };
                std::fs::write(self.d.path("flinkd.toml"), changed).unwrap();
                self.d.signal(nix::sys::signal::Signal::SIGHUP);
                self.note("reload", format!("reload (quota {})", self.quota));
            }
            _ => {
                std::thread::sleep(Duration::from_millis(100 + self.rng.below(400)));
                self.note("wait", "wait".into());
            }
        }
        self.figures.ops += 1;
    }

    /// The faults stop: every fault cleared, every file written whole with a changed spec
    /// (which releases a FAILED hold), room in the quota, the daemon up.
    fn stop_faults(&mut self) {
        let mut ports: Vec<u16> = self.live_local_fakes().iter().map(|(_, p)| *p).collect();
        ports.push(self.ext_port());
        for port in ports {
            for key in [
                "fake.savepoint.delay-ms",
                "fake.savepoint.fail-first",
                "fake.cancel",
                "fake.job.fail-after-ms",
                "fake.run.reject",
                "fake.run.delay-ms",
            ] {
                Self::set_fault(port, key, "");
            }
        }
        let config = std::fs::read_to_string(self.d.path("flinkd.toml")).unwrap();
        let all = self.specs.len() as u32;
        std::fs::write(
            self.d.path("flinkd.toml"),
            config.replace(&format!("cpu = {}", self.quota), &format!("cpu = {all}")),
        )
        .unwrap();
        self.quota = all;
        self.d.signal(nix::sys::signal::Signal::SIGHUP);
        for name in self.specs.keys().cloned().collect::<Vec<_>>() {
            let s = self.specs.get_mut(&name).unwrap();
            s.faults.clear();
            s.savepoint_attempts = 9;
            s.attempts = 9;
            if s.present || s.broken {
                self.write(&name);
            }
        }
    }

    /// Whether every Deployment is at its latest spec's state.
    fn converged(&self) -> bool {
        self.specs.iter().all(|(name, s)| {
            let status = self.d.status(name);
            if !s.present {
                // Forgotten (no longer managed): nothing of it runs.
                return !self.oracle.live().contains_key(name);
            }
            let want = match s.state {
                "running" => DeploymentState::Running,
                "suspended" => DeploymentState::Suspended,
                _ => DeploymentState::Cancelled,
            };
            status == Some(want) || self.failed_suspension(name, s.state, status)
        })
    }

    /// A suspension whose job died before its savepoint completed ends FAILED (the
    /// reference page: SUSPENDED means a savepoint was taken): that is its latest
    /// spec's state when nothing of it runs and its latest error says so.
    fn failed_suspension(&self, name: &str, want: &str, status: Option<DeploymentState>) -> bool {
        if want != "suspended"
            || status != Some(DeploymentState::Failed)
            || self.oracle.live().contains_key(name)
        {
            return false;
        }
        self.d
            .events(name)
            .iter()
            .rev()
            .find(|e| e.level == flinkd::spec::EventLevel::Error)
            .is_some_and(|e| {
                e.message
                    .contains("before its suspension savepoint completed")
            })
    }

    /// The checks once everything has settled.
    fn check_end(&mut self) {
        self.oracle.update(&self.log);
        let db = self.d.path("state/flinkd.db");
        let store = flinkd::store::Store::open(&db, 1000).unwrap();
        let mut recorded: HashSet<String> = HashSet::new();
        let mut restore_none: HashSet<String> = HashSet::new();
        for d in store.deployments(None).unwrap() {
            let id = d.deployment.metadata.id.unwrap();
            for sp in store.savepoints(id).unwrap() {
                if sp.state == SavepointState::Completed {
                    recorded.extend(sp.location);
                }
            }
            if self
                .specs
                .get(&d.deployment.metadata.name)
                .is_some_and(|s| s.restore_none)
            {
                restore_none.insert(d.deployment.metadata.name.clone());
            }
        }
        let mut found = Vec::new();
        // Every savepoint the fake completed is on record.
        let mut newest: HashMap<String, String> = HashMap::new();
        for line in &self.oracle.lines {
            match (line.event.as_str(), &line.name) {
                ("savepoint", Some(name)) => {
                    let location = line.location.clone().unwrap_or_default();
                    self.figures.savepoints_completed += 1;
                    if !recorded.contains(&location) {
                        found.push(format!("savepoint {location} of {name} completed on the fake and is not on record"));
                    }
                    newest.insert(name.clone(), location);
                }
                ("registered", Some(name)) => {
                    self.figures.starts += 1;
                    let expected = if restore_none.contains(name) {
                        None
                    } else {
                        newest.get(name).cloned()
                    };
                    if line.restored_from != expected {
                        found.push(format!(
                            "{name}'s job {} restored from {:?}, the newest completed savepoint is {:?}",
                            line.job.clone().unwrap_or_default(),
                            line.restored_from,
                            expected
                        ));
                    }
                }
                _ => {}
            }
        }
        // No fake process left but the clusters of RUNNING Deployments' current jobs.
        for (pid, port) in self.live_local_fakes() {
            let hosts: Vec<(String, String)> = self
                .oracle
                .jobs
                .iter()
                .filter(|(_, (_, p, state))| *p == pid && !terminal(state))
                .map(|(job, (name, ..))| (job.clone(), name.clone()))
                .collect();
            let ok = hosts.len() == 1 && {
                let (job, name) = &hosts[0];
                self.d.status(name) == Some(DeploymentState::Running)
                    && self
                        .d
                        .jobs(name)
                        .iter()
                        .any(|j| j.status.flink_job_id.as_deref() == Some(job.as_str()))
            };
            if !ok {
                // Its job, by its cluster directory, and what the daemon said of it.
                let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
                let job = cmdline
                    .split("clusters/")
                    .nth(1)
                    .and_then(|rest| rest.split('/').next())
                    .unwrap_or("?")
                    .to_string();
                let said: Vec<String> = self
                    .d
                    .log()
                    .lines()
                    .filter(|l| l.contains(&job))
                    .map(String::from)
                    .collect();
                let said = said[said.len().saturating_sub(40)..].join("\n");
                found.push(format!(
                    "fake process {pid} (:{port}) of job {job} is left, hosting {hosts:?}; the daemon's log of it:\n{said}"
                ));
            }
        }
        // No TaskManager outlives its cluster's JobManager.
        for dir in self.d.cluster_dirs() {
            let cluster = e2e::cluster_at(dir.clone());
            let left = cluster.live_pids();
            if !cluster.job_manager_alive() && !left.is_empty() {
                found.push(format!(
                    "processes {left:?} of {} are left without their JobManager",
                    dir.display()
                ));
            }
        }
        for f in found {
            self.violation(f);
        }
    }

    /// The whole campaign: `ops` operations, then the faults stop and the Deployments
    /// must reach their latest spec's state within `bound`.
    pub fn run(mut self, ops: usize, bound: Duration) -> Figures {
        for _ in 0..ops {
            self.step();
            std::thread::sleep(Duration::from_millis(20 + self.rng.below(100)));
            self.check_now();
        }
        self.stop_faults();
        let stopped = Instant::now();
        loop {
            self.oracle.update(&self.log);
            self.check_now();
            if self.converged() {
                break;
            }
            if stopped.elapsed() > bound {
                let states: Vec<String> = self
                    .specs
                    .iter()
                    .map(|(n, s)| {
                        format!(
                            "{n}: want {} (present {}), is {:?}",
                            s.state,
                            s.present,
                            self.d.status(n)
                        )
                    })
                    .collect();
                self.violation(format!(
                    "not converged within {bound:?}: {states:?}\n--- daemon log (tail) ---\n{}",
                    tail(&self.d.log(), 60)
                ));
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.figures.convergence = stopped.elapsed();
        // Let the cluster teardowns of forgotten or stopped Deployments finish.
        std::thread::sleep(Duration::from_millis(1500));
        self.check_end();
        self.figures
    }
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
