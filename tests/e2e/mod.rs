//! A harness for end-to-end tests: the real `flinkd run` on a temp directory, real Flink
//! clusters, the real store read back from its SQLite file.
//!
//! Tests that start clusters take [`serial`] so that one cluster runs at a time, and a
//! [`Daemon`] cleans up on every path out: on drop it stops the daemon and then every
//! cluster recorded under its state directory, by the PIDs in their directories.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use flinkd::cluster::local::LocalCluster;
use flinkd::spec::{Deployment, DeploymentState, Event, Identity, Job, Savepoint};
use flinkd::store::Store;

#[path = "../support/session.rs"]
pub mod session;
#[allow(unused_imports)]
pub use session::{free_port, get_json, SessionCluster};

static SERIAL: Mutex<()> = Mutex::new(());

/// One real-Flink test at a time (2 cores; each cluster is two JVMs).
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs the CLI on a wide terminal: (exit code, stdout, stderr).
pub fn flinkd(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_flinkd"))
        .args(args)
        .env("COLUMNS", "200")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub fn flink_home() -> PathBuf {
    assert!(
        std::env::var_os("FLINKD_TESTS_NO_JVM").is_none(),
        "this test runs real Flink: mark its file `// suite: real-flink` (scripts/test.sh)"
    );
    let home = std::env::var("FLINK_HOME_FOR_TESTS")
        .expect("FLINK_HOME_FOR_TESTS is not set: run the suite with scripts/test.sh");
    PathBuf::from(home)
}

pub fn counter_jar() -> PathBuf {
    let jar = Path::new(env!("CARGO_MANIFEST_DIR")).join(".flinkd/jobs/counter.jar");
    assert!(
        jar.is_file(),
        "{} is missing: run scripts/test.sh",
        jar.display()
    );
    jar
}

pub struct Daemon {
    pub dir: tempfile::TempDir,
    child: Option<Child>,
    /// The API's base URL.
    pub api: String,
    /// More of the daemon's environment (kept for a restart).
    env: Vec<(String, String)>,
    /// A file system mounted on the state directory, unmounted after the clusters stop.
    mounted: Option<PathBuf>,
}

impl Daemon {
    /// Starts `flinkd run` with short intervals on the test Flink; `extra` is appended
    /// to the config's `[timing]`.
    pub fn start(extra: &str) -> Daemon {
        Daemon::start_with(&flink_home(), extra)
    }

    /// The same, with flinkVersion 2.3 (and 1.8) mapped to `home`.
    pub fn start_with(home: &Path, extra: &str) -> Daemon {
        Daemon::start_env(home, extra, &[])
    }

    /// The same, with more of the daemon's environment.
    pub fn start_env(home: &Path, extra: &str, env: &[(&str, &str)]) -> Daemon {
        Daemon::start_prepared(home, extra, env, |_| None)
    }

    /// The same with the state directory on a tmpfs of `size` (such as "4m"), to fill
    /// the disk under the daemon. None, having said why, where mounting is not allowed.
    pub fn start_on_tmpfs(home: &Path, extra: &str, size: &str) -> Option<Daemon> {
        let mut refused = None;
        let d = Daemon::start_prepared(home, extra, &[], |dir| {
            let state = dir.join("state");
            std::fs::create_dir_all(&state).unwrap();
            let out = Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
                .arg(&state)
                .output();
            match out {
                Ok(o) if o.status.success() => Some(state),
                Ok(o) => {
                    refused = Some(String::from_utf8_lossy(&o.stderr).into_owned());
                    None
                }
                Err(e) => {
                    refused = Some(e.to_string());
                    None
                }
            }
        });
        match refused {
            None => Some(d),
            Some(why) => {
                eprintln!("SKIPPED: cannot mount a tmpfs here ({})", why.trim());
                None
            }
        }
    }

    /// Writes the config, lets `before` prepare the directory (returning a mount to
    /// undo), then starts the daemon.
    fn start_prepared(
        home: &Path,
        extra: &str,
        env: &[(&str, &str)],
        before: impl FnOnce(&Path) -> Option<PathBuf>,
    ) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("deployments")).unwrap();
        let mounted = before(dir.path());
        let api = free_port();
        let config = format!(
            r#"deployments_dir = "deployments"
state_dir = "state"
[api]
listen = "127.0.0.1:{api}"
[jars]
local_dirs = ["{jobs}", "{tmp}"]
[flink]
default_version = "2.3"
[flink.versions]
"2.3" = "{home}"
"1.8" = "{home}"
[timing]
{timing}
"#,
            home = home.display(),
            // The example's jar, and the fake's (fake_jar) and the tests' own.
            jobs = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join(".flinkd/jobs")
                .display(),
            tmp = std::env::temp_dir().display(),
            timing = timing(extra),
        );
        std::fs::write(dir.path().join("flinkd.toml"), config).unwrap();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let child = Daemon::spawn(dir.path(), &env);
        Daemon {
            dir,
            child: Some(child),
            api: format!("http://127.0.0.1:{api}"),
            env,
            mounted,
        }
    }

    fn spawn(dir: &Path, env: &[(String, String)]) -> Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("daemon.log"))
            .unwrap();
        Command::new(env!("CARGO_BIN_EXE_flinkd"))
            .args(["run", "--config"])
            .arg(dir.join("flinkd.toml"))
            .env("FLINKD_LOG", "info,flinkd=debug")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap()
    }

    /// Starts a new daemon on the same directories and config (after [`Daemon::stop`]).
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "stop the daemon first");
        self.child = Some(Daemon::spawn(self.dir.path(), &self.env));
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Writes a Deployment file (atomically, as an editor would: write, then rename).
    pub fn deploy(&self, name: &str, text: &str) {
        let tmp = self.path(&format!("deployments/.{name}.tmp"));
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, self.path(&format!("deployments/{name}"))).unwrap();
    }

    /// Runs the CLI against this daemon's API: (exit code, stdout, stderr).
    pub fn cli(&self, args: &[&str]) -> (i32, String, String) {
        flinkd(&[args, &["--server", &self.api]].concat())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path("daemon.log")).unwrap_or_default()
    }

    fn store(&self) -> Option<Store> {
        let p = self.path("state/flinkd.db");
        p.exists().then(|| Store::open(&p, 1000).ok()).flatten()
    }

    pub fn deployment(&self, name: &str) -> Option<Deployment> {
        let id = Identity {
            namespace: "default".into(),
            name: name.into(),
        };
        self.store()?.deployment(&id).ok()?.map(|s| s.deployment)
    }

    pub fn status(&self, name: &str) -> Option<DeploymentState> {
        self.deployment(name)?.status.map(|s| s.state)
    }

    fn id(&self, name: &str) -> Option<uuid::Uuid> {
        self.deployment(name)?.metadata.id
    }

    pub fn jobs(&self, name: &str) -> Vec<Job> {
        let (Some(s), Some(id)) = (self.store(), self.id(name)) else {
            return Vec::new();
        };
        s.jobs(id).unwrap_or_default()
    }

    pub fn savepoints(&self, name: &str) -> Vec<Savepoint> {
        let (Some(s), Some(id)) = (self.store(), self.id(name)) else {
            return Vec::new();
        };
        s.savepoints(id).unwrap_or_default()
    }

    pub fn events(&self, name: &str) -> Vec<Event> {
        let (Some(s), Some(id)) = (self.store(), self.id(name)) else {
            return Vec::new();
        };
        s.events(id).unwrap_or_default()
    }

    /// Polls `check` until it gives a value, failing with the daemon's log after `secs`.
    pub fn wait<T>(&self, what: &str, secs: u64, mut check: impl FnMut() -> Option<T>) -> T {
        let until = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(v) = check() {
                return v;
            }
            if Instant::now() > until {
                panic!(
                    "timed out waiting for {what}\n--- daemon log ---\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn wait_status(&self, name: &str, state: DeploymentState, secs: u64) {
        self.wait(&format!("{name} to be {state}"), secs, || {
            (self.status(name) == Some(state)).then_some(())
        });
    }

    /// Every cluster directory under the state directory.
    pub fn cluster_dirs(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.path("state/clusters"))
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default()
    }

    /// The live processes of all clusters this daemon started.
    pub fn live_cluster_pids(&self) -> Vec<i32> {
        self.cluster_dirs()
            .into_iter()
            .flat_map(|dir| cluster_at(dir).live_pids())
            .collect()
    }

    /// The daemon's PID, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// Sends the daemon a signal.
    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        if let Some(child) = &self.child {
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), sig).unwrap();
        }
    }

    /// Stops the daemon (SIGTERM) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let until = Instant::now() + Duration::from_secs(15);
            while Instant::now() < until {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The test timing: short waits, each overridable by a line of `extra`.
fn timing(extra: &str) -> String {
    let defaults = [
        "poll_interval = \"500ms\"",
        "poll_interval_max = \"2s\"",
        "file_debounce = \"100ms\"",
        "rescan_interval = \"2s\"",
        "job_start_timeout = \"2m\"",
        "savepoint_timeout = \"1m\"",
        "cancel_deadline = \"30s\"",
        "cluster_stop_grace = \"5s\"",
    ];
    let overridden = |line: &str| {
        let key = line.split('=').next().unwrap_or("").trim();
        extra
            .lines()
            .any(|l| l.split('=').next().unwrap_or("").trim() == key)
    };
    let mut lines: Vec<&str> = defaults.into_iter().filter(|l| !overridden(l)).collect();
    lines.extend(extra.lines());
    lines.join("\n")
}

/// A handle good enough to stop a cluster: its directory names its processes.
pub fn cluster_at(dir: PathBuf) -> LocalCluster {
    LocalCluster::at(dir)
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
        // A start script the daemon launched just before it stopped may still be about
        // to write its PID: sweep twice, a moment apart.
        for _ in 0..2 {
            std::thread::sleep(Duration::from_millis(1500));
            for dir in self.cluster_dirs() {
                let _ = cluster_at(dir).stop(Duration::from_secs(5));
            }
        }
        if let Some(m) = self.mounted.take() {
            let _ = Command::new("umount").arg(&m).status();
        }
    }
}

/// The example job's Deployment, writing its count to `out`.
pub fn counter(name: &str, out: &Path, extra_spec: &str, main_args: &str) -> String {
    format!(
        r#"kind: Deployment
apiVersion: v1
metadata:
  name: {name}
spec:
{extra_spec}
  template:
    spec:
      artifact:
        kind: jar
        jarUri: {jar}
        entryClass: flinkd.examples.Counter
        mainArgs: --out {out} {main_args}
      parallelism: 1
      resources:
        jobManager:
          cpu: 0.5
          memory: 768m
        taskManager:
          cpu: 0.5
          memory: 1g
"#,
        jar = counter_jar().display(),
        out = out.display(),
    )
}

/// The count the example job last wrote.
pub fn read_count(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// A FLINK_HOME whose `jobmanager.sh start` runs the fake Flink REST server
/// (src/bin/fake_flink.rs) for the cluster, so that the real local target drives it.
#[cfg(feature = "test-support")]
pub fn fake_flink_home() -> PathBuf {
    let home = tempfile::tempdir().unwrap().keep().join("fake-flink-home");
    std::fs::create_dir_all(home.join("bin")).unwrap();
    std::fs::create_dir_all(home.join("conf")).unwrap();
    std::fs::write(home.join("conf/config.yaml"), "rest:\n  port: 8081\n").unwrap();
    let jm = format!(
        "#!/bin/sh\nmkdir -p \"$FLINK_PID_DIR\" \"$FLINK_LOG_DIR\"\nnohup {} --conf \"$FLINK_CONF_DIR\" > \"$FLINK_LOG_DIR/flink-fake-standalonesession.out\" 2>&1 &\necho $! >> \"$FLINK_PID_DIR/flink-fake-standalonesession.pid\"\n",
        env!("CARGO_BIN_EXE_fake-flink")
    );
    // A TaskManager is a process that only waits (the fake JobManager runs the jobs).
    let tm = format!(
        "#!/bin/sh\nmkdir -p \"$FLINK_PID_DIR\"\nnohup {} --taskmanager --conf \"$FLINK_CONF_DIR\" > /dev/null 2>&1 &\necho $! >> \"$FLINK_PID_DIR/flink-fake-taskexecutor.pid\"\n",
        env!("CARGO_BIN_EXE_fake-flink")
    );
    for (name, body) in [
        ("jobmanager.sh", jm.as_str()),
        ("taskmanager.sh", tm.as_str()),
    ] {
        let p = home.join("bin").join(name);
        std::fs::write(&p, body).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    home
}

/// A Deployment of the fake's job, with these `spec` lines and faults (fake.* keys of
/// its `flinkConfiguration`).
pub fn on_the_fake(name: &str, spec: &str, faults: &[(&str, &str)]) -> String {
    let mut conf = String::new();
    for (k, v) in faults {
        conf.push_str(&format!("        {k}: \"{v}\"\n"));
    }
    format!(
        "kind: Deployment\napiVersion: v1\nmetadata:\n  name: {name}\nspec:\n{spec}\n  template:\n    spec:\n      artifact:\n        jarUri: {jar}\n        entryClass: org.example.Job\n      flinkConfiguration:\n{conf}",
        jar = fake_jar().display(),
    )
}

/// A small file to upload as a job's jar (the fake does not look inside).
pub fn fake_jar() -> PathBuf {
    let p = std::env::temp_dir().join("flinkd-fake-job.jar");
    std::fs::write(&p, b"PK fake jar").unwrap();
    p
}

/// A standalone fake Flink REST server (one "session cluster" for many jobs), killed
/// on drop.
#[cfg(feature = "test-support")]
pub struct FakeServer {
    child: Child,
    pub url: String,
}

#[cfg(feature = "test-support")]
impl FakeServer {
    /// Starts `fake-flink --port P` with these extra arguments, ready when it answers.
    pub fn start(extra: &[&str]) -> FakeServer {
        FakeServer::start_on(&free_port().to_string(), extra)
    }

    /// The same on a given port.
    pub fn start_on(port: &str, extra: &[&str]) -> FakeServer {
        FakeServer::start_logged(port, extra, None)
    }

    /// The same, appending its own log to `log` (FLINK_FAKE_LOG).
    pub fn start_logged(port: &str, extra: &[&str], log: Option<&Path>) -> FakeServer {
        let mut command = Command::new(env!("CARGO_BIN_EXE_fake-flink"));
        if let Some(log) = log {
            command.env("FLINK_FAKE_LOG", log);
        }
        let child = command
            .args(["--port", port])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = FakeServer {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let until = Instant::now() + Duration::from_secs(10);
        while server.get("/fake/stats").is_none() {
            assert!(
                Instant::now() < until,
                "the fake Flink server did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    pub fn get(&self, path: &str) -> Option<serde_json::Value> {
        get_json(&format!("{}{path}", self.url))
    }

    pub fn stats(&self) -> serde_json::Value {
        self.get("/fake/stats").unwrap_or_default()
    }

    /// The fake's jobs: `jid`, `state`, `args`, `firstStopMs`.
    pub fn jobs(&self) -> Vec<serde_json::Value> {
        self.get("/fake/jobs")
            .and_then(|v| v["jobs"].as_array().cloned())
            .unwrap_or_default()
    }
}

#[cfg(feature = "test-support")]
impl Drop for FakeServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A DeploymentTarget file for an existing cluster.
pub fn external_target(name: &str, rest_url: &str) -> String {
    format!(
        "kind: DeploymentTarget\napiVersion: v1\nmetadata:\n  name: {name}\nspec:\n  flink:\n    restUrl: {rest_url}\n"
    )
}

/// A GET with an `Accept` header: the status and the body.
pub fn http(url: &str, accept: &str) -> (u16, String) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let r = reqwest::Client::new()
            .get(url)
            .header("Accept", accept)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    })
}
