//! The `local` target: one Flink cluster of local processes per Job.
//!
//! A cluster lives in `state_dir/clusters/<job id>/` with its own generated `conf/`
//! (the distribution's config with flinkd's settings and the Deployment's
//! `flinkConfiguration` merged), `log/`, `pid/`, `tmp/` and upload directory, and its own
//! ports. It is started with the distribution's `jobmanager.sh start` and
//! `taskmanager.sh start` in a process group of its own, and stopped by signalling the
//! PIDs in its `pid/` directory, each checked first to be a process of *this* cluster
//! (its command line names the cluster directory), so that a reused PID is never hit.
//!
//! [`LocalCluster`] is the handle the store keeps (DESIGN.md, principle 2): it is
//! written before the cluster starts, so a daemon killed at any moment can find the
//! processes again and adopt or remove them.

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use super::ClusterError;
use crate::expanded::ExpandedTemplate;
use crate::quantity::Bytes;

/// How to find and stop one local cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LocalCluster {
    /// `state_dir/clusters/<job id>`.
    pub dir: PathBuf,
    pub flink_home: PathBuf,
    pub rest_port: u16,
    pub rpc_port: u16,
    pub task_managers: u32,
    /// The working directory of its processes: relative paths a job writes land here
    /// (`state_dir/work/<namespace>/<name>`, kept across the Deployment's jobs).
    #[serde(default)]
    pub work_dir: PathBuf,
    /// Where its jobs' retained checkpoints go, when that is a local directory: read
    /// when the JobManager is gone and cannot say which is the newest.
    #[serde(default)]
    pub checkpoints: Option<PathBuf>,
}

/// What a cluster is made from.
#[derive(Debug, Clone)]
pub struct ClusterPlan<'a> {
    pub dir: PathBuf,
    pub flink_home: &'a Path,
    pub template: &'a ExpandedTemplate,
    /// Default savepoint and checkpoint directories (the Deployment's own).
    pub savepoints_dir: PathBuf,
    pub checkpoints_dir: PathBuf,
    /// The working directory of the cluster's processes.
    pub work_dir: PathBuf,
}

/// Settings flinkd makes in every generated config, below the Deployment's
/// `flinkConfiguration`: short refresh intervals so that the supervisor sees changes
/// promptly (DESIGN.md, "Flink on this kind of machine"), and retained checkpoints so
/// that LATEST_STATE can restore from them.
const FLINKD_DEFAULTS: &[(&str, &str)] = &[
    ("web.refresh-interval", "500"),
    ("metrics.fetcher.update-interval", "1000"),
    ("cluster.registration.error-delay", "500"),
    ("cluster.registration.initial-timeout", "100"),
    ("heartbeat.interval", "2000"),
    ("heartbeat.timeout", "20000"),
    (
        "execution.checkpointing.externalized-checkpoint-retention",
        "RETAIN_ON_CANCELLATION",
    ),
    ("execution.checkpointing.num-retained", "3"),
];

fn free_port() -> Result<u16, ClusterError> {
    let l = std::net::TcpListener::bind(("127.0.0.1", 0))
        .map_err(|e| ClusterError::io("allocate a port", e))?;
    let port = l
        .local_addr()
        .map_err(|e| ClusterError::io("allocate a port", e))?
        .port();
    Ok(port)
}

/// Flattens a nested YAML mapping into Flink's dotted keys.
fn flatten(prefix: &str, v: &serde_yaml::Value, out: &mut BTreeMap<String, String>) {
    match v {
        serde_yaml::Value::Mapping(m) => {
            for (k, v) in m {
                let key = match k {
                    serde_yaml::Value::String(s) => s.clone(),
                    other => serde_yaml::to_string(other)
                        .unwrap_or_default()
                        .trim()
                        .to_string(),
                };
                let full = if prefix.is_empty() {
                    key
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&full, v, out);
            }
        }
        serde_yaml::Value::String(s) => {
            out.insert(prefix.to_string(), s.clone());
        }
        serde_yaml::Value::Null => {}
        other => {
            let text = serde_yaml::to_string(other).unwrap_or_default();
            out.insert(prefix.to_string(), text.trim().to_string());
        }
    }
}

/// Quotes a value for a flat YAML line.
fn yaml_scalar(v: &str) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| format!("{v:?}"))
}

impl LocalCluster {
    /// A handle good enough to find and stop a cluster's processes: its directory names
    /// them (for a teardown with no record, and for tests).
    pub fn at(dir: PathBuf) -> LocalCluster {
        LocalCluster {
            dir,
            flink_home: PathBuf::new(),
            rest_port: 0,
            rpc_port: 0,
            task_managers: 0,
            work_dir: PathBuf::new(),
            checkpoints: None,
        }
    }

    pub fn conf_dir(&self) -> PathBuf {
        self.dir.join("conf")
    }
    pub fn log_dir(&self) -> PathBuf {
        self.dir.join("log")
    }
    pub fn pid_dir(&self) -> PathBuf {
        self.dir.join("pid")
    }
    pub fn rest_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.rest_port)
    }

    /// Allocates ports and writes the cluster's directory and config. Nothing runs yet.
    pub fn prepare(plan: &ClusterPlan<'_>) -> Result<LocalCluster, ClusterError> {
        let t = plan.template;
        // Flink takes its directories as given, and runs in another working directory:
        // a relative one would be refused (web.upload.dir) or misread (a file: URI).
        for (what, p) in [
            ("the cluster directory", &plan.dir),
            ("the savepoint directory", &plan.savepoints_dir),
            ("the checkpoint directory", &plan.checkpoints_dir),
            ("the working directory", &plan.work_dir),
        ] {
            if !p.is_absolute() {
                return Err(ClusterError::Setup(format!(
                    "{what} {} is not an absolute path",
                    p.display()
                )));
            }
        }
        let task_managers = t.number_of_task_managers;
        let cluster = LocalCluster {
            dir: plan.dir.clone(),
            flink_home: plan.flink_home.to_path_buf(),
            rest_port: free_port()?,
            rpc_port: free_port()?,
            task_managers,
            work_dir: plan.work_dir.clone(),
            checkpoints: None,
        };
        let dist_conf = plan.flink_home.join("conf");
        if !plan.flink_home.join("bin/jobmanager.sh").is_file() {
            return Err(ClusterError::Setup(format!(
                "{} is not a Flink distribution (no bin/jobmanager.sh)",
                plan.flink_home.display()
            )));
        }
        for sub in ["conf", "log", "pid", "tmp", "upload"] {
            std::fs::create_dir_all(cluster.dir.join(sub))
                .map_err(|e| ClusterError::io("create the cluster directory", e))?;
        }
        for d in [&plan.savepoints_dir, &plan.checkpoints_dir, &plan.work_dir] {
            std::fs::create_dir_all(d).map_err(|e| {
                ClusterError::io(&format!("create the directory {}", d.display()), e)
            })?;
        }
        // Start from the distribution's conf directory (logback, log4j variants, …).
        if let Ok(entries) = std::fs::read_dir(&dist_conf) {
            for e in entries.flatten() {
                if e.path().is_file() {
                    let _ = std::fs::copy(e.path(), cluster.conf_dir().join(e.file_name()));
                }
            }
        }

        let new_style = dist_conf.join("config.yaml").is_file();
        let dist_file = if new_style {
            "config.yaml"
        } else {
            "flink-conf.yaml"
        };
        let mut conf = BTreeMap::new();
        if let Ok(text) = std::fs::read_to_string(dist_conf.join(dist_file)) {
            if let Ok(v) = serde_yaml::from_str::<serde_yaml::Value>(&text) {
                flatten("", &v, &mut conf);
            }
        }
        for (k, v) in FLINKD_DEFAULTS {
            conf.insert(k.to_string(), v.to_string());
        }
        let memory = |b: Bytes| format!("{}m", b.mebibytes());
        conf.insert(
            "jobmanager.memory.process.size".into(),
            memory(t.job_manager.memory),
        );
        conf.insert(
            "taskmanager.memory.process.size".into(),
            memory(t.task_manager.memory),
        );
        conf.insert("taskmanager.numberOfTaskSlots".into(), "1".into());
        conf.insert("parallelism.default".into(), t.parallelism.to_string());
        let file_uri =
            |p: &Path| crate::paths::dir_uri(p).map_err(|e| ClusterError::Setup(e.to_string()));
        let savepoints = file_uri(&plan.savepoints_dir)?;
        let checkpoints = file_uri(&plan.checkpoints_dir)?;
        conf.insert("state.savepoints.dir".into(), savepoints.clone());
        conf.insert("execution.checkpointing.savepoint-dir".into(), savepoints);
        conf.insert("state.checkpoints.dir".into(), checkpoints.clone());
        conf.insert("execution.checkpointing.dir".into(), checkpoints);
        // The Deployment's own configuration...
        for (k, v) in &t.flink_configuration {
            conf.insert(k.clone(), v.clone());
        }
        let checkpoints = ["execution.checkpointing.dir", "state.checkpoints.dir"]
            .iter()
            .find_map(|k| conf.get(*k))
            .and_then(|v| {
                crate::paths::file_uri_path(v)
                    .or_else(|| Path::new(v).is_absolute().then(|| PathBuf::from(v)))
            });
        // ...except what makes this cluster this cluster: its ports and directories.
        let dir = |p: PathBuf| p.display().to_string();
        let owned = [
            ("jobmanager.rpc.address", "127.0.0.1".to_string()),
            ("jobmanager.bind-host", "127.0.0.1".to_string()),
            ("jobmanager.rpc.port", cluster.rpc_port.to_string()),
            ("taskmanager.bind-host", "127.0.0.1".to_string()),
            ("taskmanager.host", "127.0.0.1".to_string()),
            ("taskmanager.rpc.port", "0".to_string()),
            ("taskmanager.data.port", "0".to_string()),
            ("blob.server.port", "0".to_string()),
            ("rest.address", "127.0.0.1".to_string()),
            ("rest.bind-address", "127.0.0.1".to_string()),
            ("rest.port", cluster.rest_port.to_string()),
            ("env.log.dir", dir(cluster.log_dir())),
            ("env.pid.dir", dir(cluster.pid_dir())),
            ("io.tmp.dirs", dir(cluster.dir.join("tmp"))),
            ("web.upload.dir", dir(cluster.dir.join("upload"))),
        ];
        for (k, v) in owned {
            conf.insert(k.to_string(), v);
        }
        let cluster = LocalCluster {
            checkpoints,
            ..cluster
        };
        let mut text = String::from("# Generated by flinkd for one cluster; changes are lost.\n");
        for (k, v) in &conf {
            text.push_str(&format!("{k}: {}\n", yaml_scalar(v)));
        }
        std::fs::write(cluster.conf_dir().join(dist_file), text)
            .map_err(|e| ClusterError::io("write the cluster config", e))?;
        if new_style {
            let _ = std::fs::remove_file(cluster.conf_dir().join("flink-conf.yaml"));
        }
        std::fs::write(cluster.conf_dir().join("workers"), "127.0.0.1\n")
            .map_err(|e| ClusterError::io("write the cluster config", e))?;
        std::fs::write(
            cluster.conf_dir().join("masters"),
            format!("127.0.0.1:{}\n", cluster.rest_port),
        )
        .map_err(|e| ClusterError::io("write the cluster config", e))?;
        write_log4j(&cluster.conf_dir(), &t.log4j_loggers)?;
        Ok(cluster)
    }

    /// Starts the JobManager and the TaskManagers, in one new process group.
    pub fn start(&self) -> Result<(), ClusterError> {
        let mut scripts = Vec::new();
        let jm = self.script("jobmanager.sh", "jobmanager", 0)?;
        // The new group's id is the JobManager script's PID; the TaskManagers join it.
        let group = jm.id() as i32;
        scripts.push(("jobmanager.sh", jm));
        for i in 0..self.task_managers {
            scripts.push((
                "taskmanager.sh",
                self.script("taskmanager.sh", &format!("taskmanager-{i}"), group)?,
            ));
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        for (name, mut child) in scripts {
            loop {
                match child.try_wait() {
                    Ok(Some(status)) if status.success() => break,
                    Ok(Some(status)) => {
                        return Err(ClusterError::Start(format!(
                            "{name} start exited with {status}; see {}",
                            self.log_dir().display()
                        )))
                    }
                    Ok(None) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(50))
                    }
                    Ok(None) => {
                        let _ = child.kill();
                        return Err(ClusterError::Start(format!(
                            "{name} start did not return within 60s"
                        )));
                    }
                    Err(e) => return Err(ClusterError::io("wait for the start script", e)),
                }
            }
        }
        Ok(())
    }

    fn script(
        &self,
        script: &str,
        log: &str,
        group: i32,
    ) -> Result<std::process::Child, ClusterError> {
        let out = std::fs::File::create(self.log_dir().join(format!("{log}.start.log")))
            .map_err(|e| ClusterError::io("create a start log", e))?;
        let err = out
            .try_clone()
            .map_err(|e| ClusterError::io("create a start log", e))?;
        let mut command = std::process::Command::new(self.flink_home.join("bin").join(script));
        if !self.work_dir.as_os_str().is_empty() {
            command.current_dir(&self.work_dir);
        }
        command
            .arg("start")
            .env("FLINK_CONF_DIR", self.conf_dir())
            .env("FLINK_LOG_DIR", self.log_dir())
            .env("FLINK_PID_DIR", self.pid_dir())
            .stdin(std::process::Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(group)
            .spawn()
            .map_err(|e| ClusterError::io(&format!("run {script}"), e))
    }

    /// The PIDs this cluster recorded, that are alive and are this cluster's.
    pub fn live_pids(&self) -> Vec<i32> {
        let mut pids = Vec::new();
        if let Ok(entries) = std::fs::read_dir(self.pid_dir()) {
            for e in entries.flatten() {
                if let Ok(text) = std::fs::read_to_string(e.path()) {
                    pids.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
                }
            }
        }
        pids.sort_unstable();
        pids.dedup();
        pids.retain(|p| self.owns(*p));
        pids
    }

    /// Whether the JobManager process is alive.
    pub fn job_manager_alive(&self) -> bool {
        !self.live_pids_of("standalonesession").is_empty()
    }

    /// The live processes of one role (`standalonesession`, `taskexecutor`), by the
    /// PID files Flink's scripts write.
    fn live_pids_of(&self, role: &str) -> Vec<i32> {
        let mut pids: Vec<i32> = std::fs::read_dir(self.pid_dir())
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains(role))
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .flat_map(|t| {
                t.lines()
                    .filter_map(|l| l.trim().parse::<i32>().ok())
                    .collect::<Vec<_>>()
            })
            .filter(|p| self.owns(*p))
            .collect();
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    /// How many of its TaskManager processes are gone: `(lost, of)`.
    pub fn task_managers_lost(&self) -> (u32, u32) {
        let alive = self.live_pids_of("taskexecutor").len() as u32;
        (self.task_managers.saturating_sub(alive), self.task_managers)
    }

    /// Starts TaskManagers in place of those that are gone (none if none is), each in
    /// a process group of its own; returns how many it started.
    pub fn replace_task_managers(&self) -> Result<u32, ClusterError> {
        let (lost, _) = self.task_managers_lost();
        let mut scripts = Vec::new();
        for _ in 0..lost {
            let n = std::fs::read_dir(self.log_dir()).map_or(0, |d| d.count());
            scripts.push(self.script("taskmanager.sh", &format!("taskmanager-r{n}"), 0)?);
        }
        for mut child in scripts {
            let status = child
                .wait()
                .map_err(|e| ClusterError::io("wait for the start script", e))?;
            if !status.success() {
                return Err(ClusterError::Start(format!(
                    "taskmanager.sh start exited with {status}; see {}",
                    self.log_dir().display()
                )));
            }
        }
        Ok(lost)
    }

    /// Whether `pid` is a live (not zombie) process whose command line names this
    /// cluster's directory.
    fn owns(&self, pid: i32) -> bool {
        let stat = match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(s) => s,
            Err(_) => return false,
        };
        // The state follows the parenthesized command name.
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next());
        if state == Some('Z') {
            return false;
        }
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let needle = self.dir.display().to_string();
        String::from_utf8_lossy(&cmdline).contains(&needle)
    }

    /// Stops every process of the cluster: SIGTERM, then SIGKILL after `grace`; returns
    /// once all are verified gone.
    pub fn stop(&self, grace: Duration) -> Result<(), ClusterError> {
        let pids = self.live_pids();
        for p in &pids {
            let _ = kill(Pid::from_raw(*p), Signal::SIGTERM);
        }
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline && !self.live_pids().is_empty() {
            std::thread::sleep(Duration::from_millis(100));
        }
        let left = self.live_pids();
        for p in &left {
            let _ = kill(Pid::from_raw(*p), Signal::SIGKILL);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && !self.live_pids().is_empty() {
            std::thread::sleep(Duration::from_millis(50));
        }
        let left = self.live_pids();
        if left.is_empty() {
            Ok(())
        } else {
            Err(ClusterError::Stop(format!(
                "processes {left:?} of {} are still alive after SIGKILL",
                self.dir.display()
            )))
        }
    }

    /// The newest retained checkpoint of Flink job `flink_job_id` on the local file
    /// system (`<checkpoints>/<job id>/chk-<n>` with its `_metadata`), and when it was
    /// written: what is left to restore from when the JobManager cannot say.
    pub fn newest_retained(&self, flink_job_id: &str) -> Option<(String, std::time::SystemTime)> {
        let dir = self.checkpoints.as_ref()?.join(flink_job_id);
        std::fs::read_dir(dir)
            .ok()?
            .flatten()
            .filter_map(|e| {
                let n: u64 = e.file_name().to_str()?.strip_prefix("chk-")?.parse().ok()?;
                let written = std::fs::metadata(e.path().join("_metadata"))
                    .ok()?
                    .modified()
                    .ok()?;
                Some((n, e.path(), written))
            })
            .max_by_key(|(n, ..)| *n)
            .and_then(|(_, p, written)| Some((crate::paths::dir_uri(&p).ok()?, written)))
    }

    /// The last lines of the JobManager's log, for an error message.
    pub fn log_tail(&self, lines: usize) -> String {
        let mut out = String::new();
        if let Ok(entries) = std::fs::read_dir(self.log_dir()) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                if name.contains("standalonesession") && name.ends_with(".out")
                    || name.ends_with(".start.log")
                {
                    if let Ok(text) = std::fs::read_to_string(e.path()) {
                        let tail: Vec<&str> = text.lines().rev().take(lines).collect();
                        for l in tail.into_iter().rev() {
                            out.push_str(l);
                            out.push('\n');
                        }
                    }
                }
            }
        }
        out
    }
}

/// Writes `log4j.properties` (used by the JobManager and TaskManagers) from the
/// distribution's, with the root level and the Deployment's loggers.
fn write_log4j(conf: &Path, loggers: &BTreeMap<String, String>) -> Result<(), ClusterError> {
    let path = conf.join("log4j.properties");
    let base = std::fs::read_to_string(&path).unwrap_or_default();
    let root = loggers
        .get("")
        .cloned()
        .unwrap_or_else(|| "INFO".to_string());
    let mut text = String::new();
    for line in base.lines() {
        if line.trim_start().starts_with("rootLogger.level") {
            text.push_str(&format!("rootLogger.level = {root}\n"));
        } else {
            text.push_str(line);
            text.push('\n');
        }
    }
    if base.is_empty() {
        text.push_str(&format!(
            "rootLogger.level = {root}\nrootLogger.appenderRef.file.ref = MainAppender\nappender.main.name = MainAppender\nappender.main.type = File\nappender.main.fileName = ${{sys:log.file}}\nappender.main.layout.type = PatternLayout\nappender.main.layout.pattern = %d %-5p %c - %m%n\n"
        ));
    }
    text.push_str("# Loggers of the Deployment (logging.log4jLoggers)\n");
    for (i, (name, level)) in loggers.iter().filter(|(n, _)| !n.is_empty()).enumerate() {
        text.push_str(&format!(
            "logger.flinkd{i}.name = {name}\nlogger.flinkd{i}.level = {level}\n"
        ));
    }
    std::fs::write(&path, text).map_err(|e| ClusterError::io("write log4j.properties", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_home(dir: &Path) -> PathBuf {
        let home = dir.join("flink");
        std::fs::create_dir_all(home.join("bin")).unwrap();
        std::fs::create_dir_all(home.join("conf")).unwrap();
        std::fs::write(home.join("bin/jobmanager.sh"), "#!/bin/sh\n").unwrap();
        std::fs::write(
            home.join("conf/config.yaml"),
            "env:\n  java:\n    opts:\n      all: --add-opens=java.base/java.lang=ALL-UNNAMED\nrest:\n  port: 8081\ntaskmanager:\n  numberOfTaskSlots: 1\n",
        )
        .unwrap();
        std::fs::write(
            home.join("conf/log4j.properties"),
            "rootLogger.level = ${env:ROOT_LOG_LEVEL:-INFO}\nappender.main.name = MainAppender\n",
        )
        .unwrap();
        home
    }

    #[test]
    fn generated_config_keeps_java_opts_merges_the_template_and_owns_ports() {
        let tmp = tempfile::tempdir().unwrap();
        let home = fake_home(tmp.path());
        let template: crate::spec::TemplateSpec = serde_json::from_value(serde_json::json!({
            "parallelism": 4,
            "numberOfTaskManagers": 2,
            "resources": {"jobManager": {"memory": "1.5g"}, "taskManager": {"memory": "2Gi"}},
            "flinkConfiguration": {"taskmanager.numberOfTaskSlots": "2", "rest.port": "1", "pipeline.name": "x"},
            "logging": {"log4jLoggers": {"": "WARN", "org.example": "DEBUG"}}
        }))
        .unwrap();
        let template = crate::expanded::builtin_template(&template, "2.3");
        let c = LocalCluster::prepare(&ClusterPlan {
            dir: tmp.path().join("clusters/j1"),
            flink_home: &home,
            template: &template,
            savepoints_dir: tmp.path().join("sp"),
            checkpoints_dir: tmp.path().join("chk"),
            work_dir: tmp.path().join("work"),
        })
        .unwrap();
        assert_eq!(c.task_managers, 2);
        assert_ne!(c.rest_port, c.rpc_port);
        let conf = std::fs::read_to_string(c.conf_dir().join("config.yaml")).unwrap();
        let v: BTreeMap<String, String> = serde_yaml::from_str(&conf).unwrap();
        assert_eq!(
            v["env.java.opts.all"],
            "--add-opens=java.base/java.lang=ALL-UNNAMED"
        );
        assert_eq!(v["jobmanager.memory.process.size"], "1536m");
        assert_eq!(v["taskmanager.memory.process.size"], "2048m");
        assert_eq!(
            v["taskmanager.numberOfTaskSlots"], "2",
            "the template's setting wins over ours"
        );
        assert_eq!(v["pipeline.name"], "x");
        assert_eq!(
            v["rest.port"],
            c.rest_port.to_string(),
            "ports stay the cluster's"
        );
        assert_eq!(v["env.pid.dir"], c.pid_dir().display().to_string());
        assert_eq!(v["parallelism.default"], "4");
        assert_eq!(
            v["execution.checkpointing.externalized-checkpoint-retention"],
            "RETAIN_ON_CANCELLATION"
        );
        assert_eq!(
            v["state.savepoints.dir"],
            format!("file://{}/", tmp.path().join("sp").display())
        );
        assert!(tmp.path().join("work").is_dir());
        let log4j = std::fs::read_to_string(c.conf_dir().join("log4j.properties")).unwrap();
        assert!(log4j.contains("rootLogger.level = WARN\n"), "{log4j}");
        assert!(
            log4j.contains("logger.flinkd0.name = org.example\nlogger.flinkd0.level = DEBUG\n"),
            "{log4j}"
        );
        assert_eq!(
            std::fs::read_to_string(c.conf_dir().join("workers")).unwrap(),
            "127.0.0.1\n"
        );
    }

    #[test]
    fn a_home_that_is_not_flink_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let err = LocalCluster::prepare(&ClusterPlan {
            dir: tmp.path().join("c"),
            flink_home: tmp.path(),
            template: &crate::expanded::builtin_template(&Default::default(), "2.3"),
            savepoints_dir: tmp.path().join("sp"),
            checkpoints_dir: tmp.path().join("chk"),
            work_dir: tmp.path().join("work"),
        })
        .unwrap_err();
        assert!(
            err.to_string().contains("not a Flink distribution"),
            "{err}"
        );
    }

    #[test]
    fn relative_directories_are_refused_before_anything_is_written() {
        let tmp = tempfile::tempdir().unwrap();
        let home = fake_home(tmp.path());
        let err = LocalCluster::prepare(&ClusterPlan {
            dir: tmp.path().join("c"),
            flink_home: &home,
            template: &crate::expanded::builtin_template(&Default::default(), "2.3"),
            savepoints_dir: PathBuf::from("config/../.flinkd/state/sp"),
            checkpoints_dir: tmp.path().join("chk"),
            work_dir: tmp.path().join("work"),
        })
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the savepoint directory config/../.flinkd/state/sp is not an absolute path"
        );
        assert!(!tmp.path().join("c").exists());
    }

    #[test]
    fn only_processes_naming_the_cluster_dir_are_its_own() {
        let tmp = tempfile::tempdir().unwrap();
        let c = LocalCluster {
            dir: tmp.path().join("clusters/x"),
            flink_home: tmp.path().into(),
            rest_port: 1,
            rpc_port: 2,
            task_managers: 1,
            work_dir: PathBuf::new(),
            checkpoints: None,
        };
        std::fs::create_dir_all(c.pid_dir()).unwrap();
        // Our own PID is alive but is not this cluster's process.
        std::fs::write(
            c.pid_dir().join("flink-standalonesession.pid"),
            format!("{}\n", std::process::id()),
        )
        .unwrap();
        assert!(c.live_pids().is_empty());
        assert!(!c.job_manager_alive());
        assert!(
            c.stop(Duration::from_millis(10)).is_ok(),
            "nothing of ours to stop"
        );
    }
}
