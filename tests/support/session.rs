//! A Flink session cluster started by hand, with Flink's own scripts and nothing of
//! flinkd's: `bin/jobmanager.sh start` and `bin/taskmanager.sh start` with `-D`
//! settings, its conf, logs and PID files under one directory. It stands for a cluster
//! someone else runs (the external-cluster target) and for the "by hand" side of the
//! real-Flink benchmark. Stopped on drop, by the PIDs its scripts recorded.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use flinkd::cluster::local::LocalCluster;

pub struct SessionCluster {
    pub home: PathBuf,
    pub dir: PathBuf,
    pub rest_port: u16,
    identity: String,
    settings: Vec<String>,
}

/// A setting of no meaning to Flink, unique to each start, that `/jobmanager/config`
/// shows: the server on the REST port is this cluster's JobManager.
const IDENTITY_KEY: &str = "test.session.identity";

/// A port free on 127.0.0.1 now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl SessionCluster {
    /// Starts a JobManager and one TaskManager with `slots` slots, small memory, its
    /// savepoints and checkpoints under `dir`. Returns once the scripts are done; see
    /// [`SessionCluster::wait_ready`].
    pub fn start(home: &Path, dir: &Path, slots: u32) -> SessionCluster {
        // A port found free a moment ago may be taken by another test's server before
        // the JobManager binds it; it then exits at once, and a new pair of ports is
        // tried.
        let mut attempt = 1;
        loop {
            let cluster = Self::start_once(home, dir, slots);
            if cluster.job_manager_answers(Duration::from_secs(90)) || attempt == 3 {
                return cluster;
            }
            eprintln!(
                "session cluster: the JobManager exited (attempt {attempt}):\n{}",
                cluster.job_manager_log(20)
            );
            let _ = cluster.handle().stop(Duration::from_secs(5));
            attempt += 1;
        }
    }

    /// Waits until this JobManager answers on its REST port, told by the identity in its
    /// configuration (a server that took the port first, such as another test's fake
    /// Flink, answers too); `false` if it exited.
    fn job_manager_answers(&self, bound: Duration) -> bool {
        let until = Instant::now() + bound;
        while Instant::now() < until {
            if self.answers_as_itself() {
                return true;
            }
            if !self.handle().job_manager_alive() {
                // Its PID file is written before the JVM runs: gone means it ended.
                std::thread::sleep(Duration::from_millis(200));
                if !self.handle().job_manager_alive() {
                    return false;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        true
    }

    fn answers_as_itself(&self) -> bool {
        let Some(entries) = get_json(&format!("{}/jobmanager/config", self.url())) else {
            return false;
        };
        let want = format!("{IDENTITY_KEY}={}", self.identity);
        entries.as_array().is_some_and(|all| {
            all.iter().any(|e| {
                let (k, v) = (e["key"].as_str(), e["value"].as_str());
                k.zip(v).is_some_and(|(k, v)| format!("{k}={v}") == want)
            })
        })
    }

    /// The last lines of the JobManager's own log.
    pub fn job_manager_log(&self, lines: usize) -> String {
        std::fs::read_dir(self.dir.join("log"))
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                n.contains("standalonesession") && n.ends_with(".log")
            })
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .map(|t| {
                let tail: Vec<&str> = t.lines().rev().take(lines).collect();
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn start_once(home: &Path, dir: &Path, slots: u32) -> SessionCluster {
        std::fs::create_dir_all(dir.join("log")).unwrap();
        std::fs::create_dir_all(dir.join("pid")).unwrap();
        // The distribution's conf as it is (its JVM options), in a directory of ours.
        let conf = dir.join("conf");
        std::fs::create_dir_all(&conf).unwrap();
        for e in std::fs::read_dir(home.join("conf")).unwrap().flatten() {
            if e.path().is_file() {
                std::fs::copy(e.path(), conf.join(e.file_name())).unwrap();
            }
        }
        let rest_port = free_port();
        let rpc_port = free_port();
        let identity = uuid::Uuid::new_v4().simple().to_string();
        let settings = [
            format!("{IDENTITY_KEY}={identity}"),
            format!("rest.port={rest_port}"),
            "rest.address=127.0.0.1".to_string(),
            "rest.bind-address=127.0.0.1".to_string(),
            format!("jobmanager.rpc.port={rpc_port}"),
            "jobmanager.rpc.address=127.0.0.1".to_string(),
            "jobmanager.bind-host=127.0.0.1".to_string(),
            "taskmanager.bind-host=127.0.0.1".to_string(),
            "taskmanager.host=127.0.0.1".to_string(),
            "jobmanager.memory.process.size=768m".to_string(),
            "taskmanager.memory.process.size=1g".to_string(),
            format!("taskmanager.numberOfTaskSlots={slots}"),
            format!(
                "state.savepoints.dir=file://{}",
                dir.join("savepoints").display()
            ),
            format!(
                "execution.checkpointing.dir=file://{}",
                dir.join("checkpoints").display()
            ),
            "execution.checkpointing.interval=2s".to_string(),
            "execution.checkpointing.externalized-checkpoint-retention=RETAIN_ON_CANCELLATION"
                .to_string(),
        ]
        .to_vec();
        let cluster = SessionCluster {
            home: home.to_path_buf(),
            dir: dir.to_path_buf(),
            rest_port,
            identity,
            settings,
        };
        cluster.script("jobmanager.sh");
        cluster.script("taskmanager.sh");
        cluster
    }

    fn script(&self, name: &str) {
        let mut cmd = Command::new(self.home.join("bin").join(name));
        cmd.arg("start");
        for s in &self.settings {
            cmd.args(["-D", s]);
        }
        let status = self
            .env(&mut cmd)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "{name} start failed");
    }

    /// Flink's scripts with this cluster's conf, log and PID directories.
    pub fn env<'a>(&self, cmd: &'a mut Command) -> &'a mut Command {
        cmd.env("FLINK_CONF_DIR", self.dir.join("conf"))
            .env("FLINK_LOG_DIR", self.dir.join("log"))
            .env("FLINK_PID_DIR", self.dir.join("pid"))
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.rest_port)
    }

    /// `flink run|stop …` against this cluster (Flink's own CLI).
    pub fn flink(&self, args: &[&str]) -> std::process::Output {
        let mut cmd = Command::new(self.home.join("bin/flink"));
        cmd.args(args);
        self.env(&mut cmd).stdin(Stdio::null()).output().unwrap()
    }

    /// Waits until a TaskManager has registered; panics with the log after `secs`.
    pub fn wait_ready(&self, secs: u64) {
        let until = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(o) = get_json(&format!("{}/overview", self.url())) {
                if o["taskmanagers"].as_u64().unwrap_or(0) >= 1 && self.answers_as_itself() {
                    return;
                }
            }
            assert!(
                Instant::now() < until,
                "the session cluster is not ready after {secs}s: {}\n{}",
                self.handle().log_tail(30),
                self.job_manager_log(30)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Its processes, found by the PID files its scripts wrote and checked to name its
    /// directory (flinkd's own check).
    pub fn handle(&self) -> LocalCluster {
        LocalCluster {
            dir: self.dir.clone(),
            flink_home: self.home.clone(),
            rest_port: self.rest_port,
            rpc_port: 0,
            task_managers: 1,
            work_dir: PathBuf::new(),
            checkpoints: None,
            identity: None,
        }
    }
}

impl Drop for SessionCluster {
    fn drop(&mut self) {
        let _ = self.handle().stop(Duration::from_secs(5));
    }
}

/// `GET url` as JSON, `None` on any failure.
pub fn get_json(url: &str) -> Option<serde_json::Value> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    rt.block_on(async {
        let r = reqwest::Client::new().get(url).send().await.ok()?;
        if !r.status().is_success() {
            return None;
        }
        r.json().await.ok()
    })
}
