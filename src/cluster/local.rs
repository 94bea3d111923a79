//! The `local` target: one Flink cluster of local processes per Job.
//!
//! A cluster lives in `state_dir/clusters/<job id>/` with its own generated `conf/`
//! (the distribution's config with flinkd's settings and the Deployment's
//! `flinkConfiguration` merged), `log/`, `pid/`, `tmp/` and upload directory, and its own
//! ports. Its JVMs are started in a process group of their own, directly with what the
//! distribution's `jobmanager.sh start` and `taskmanager.sh start` would run
//! (local/launch.rs, local/cds.rs), or with the scripts, and stopped by signalling the
//! PIDs in its `pid/` directory, each checked first to be a process of *this* cluster
//! and of this boot (local/procs.rs), so that a reused PID is never hit.
//!
//! [`LocalCluster`] is the handle the store keeps (DESIGN.md, principle 2): it is
//! written before the cluster starts, so a daemon killed at any moment can find the
//! processes again and adopt or remove them.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

mod cds;
pub(crate) mod conf;
mod launch;
mod procs;

use super::ClusterError;
use crate::expanded::ExpandedTemplate;
use crate::quantity::Bytes;
use conf::{flatten, write_log4j, yaml_scalar, FLINKD_DEFAULTS};
pub use conf::{is_setting_name, IDENTITY_KEY, OWNED_KEYS};
pub use launch::{Launcher, StartedWith};
use launch::{Plain, Role};

/// How long a cluster's start may take, from the first JVM flinkd runs for it to the
/// last start script's end (a teardown waits 65 s for it: actors/job/scripts.rs).
const START_BOUND: Duration = Duration::from_secs(55);

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
    /// A secret in its generated config ([`IDENTITY_KEY`]), read back through the
    /// REST API before flinkd trusts whatever answers on its port. A cluster that an
    /// older flinkd started has none, and is known by its processes alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
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

fn free_port() -> Result<u16, ClusterError> {
    let l = std::net::TcpListener::bind(("127.0.0.1", 0))
        .map_err(|e| ClusterError::io("allocate a port", e))?;
    let port = l
        .local_addr()
        .map_err(|e| ClusterError::io("allocate a port", e))?
        .port();
    Ok(port)
}

/// The last `max` bytes of a file (a job that printed gigabytes is not read whole).
fn read_tail(path: &Path, max: u64) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(max))).ok()?;
    let mut bytes = Vec::new();
    file.take(max).read_to_end(&mut bytes).ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// The variables of the daemon's environment a cluster's processes get: what a shell
/// and a JVM need, and Flink's and Hadoop's own settings.
fn passed_to_flink(name: &str) -> bool {
    const NAMES: &[&str] = &[
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "LANG",
        "TZ",
        "TMPDIR",
        "JAVA_HOME",
    ];
    NAMES.contains(&name)
        || name.starts_with("LC_")
        || name.starts_with("FLINK_")
        || name.starts_with("HADOOP_")
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
            identity: None,
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
            identity: Some(uuid::Uuid::new_v4().simple().to_string()),
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
        // The boot its processes belong to: after a reboot, no PID on file is theirs.
        if let Some(id) = procs::boot_id() {
            std::fs::write(cluster.dir.join("boot_id"), format!("{id}\n"))
                .map_err(|e| ClusterError::io("write the cluster's boot id", e))?;
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
                    let to = cluster.conf_dir().join(e.file_name());
                    // A copy keeps the distribution's mode: this one is flinkd's alone.
                    if std::fs::copy(e.path(), &to).is_ok() {
                        let _ = std::fs::set_permissions(&to, PermissionsExt::from_mode(0o600));
                    }
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
            ("rest.bind-port", cluster.rest_port.to_string()),
            ("env.log.dir", dir(cluster.log_dir())),
            ("env.pid.dir", dir(cluster.pid_dir())),
            ("io.tmp.dirs", dir(cluster.dir.join("tmp"))),
            ("web.upload.dir", dir(cluster.dir.join("upload"))),
            (IDENTITY_KEY, cluster.identity.clone().unwrap_or_default()),
        ];
        for (k, v) in owned {
            debug_assert!(OWNED_KEYS.contains(&k), "{k} is not in OWNED_KEYS");
            conf.insert(k.to_string(), v);
        }
        let cluster = LocalCluster {
            checkpoints,
            ..cluster
        };
        let mut text = String::from("# Generated by flinkd for one cluster; changes are lost.\n");
        for (k, v) in &conf {
            // Validation refused these; a line of the config is one key and its value.
            if !is_setting_name(k) || v.chars().any(char::is_control) {
                return Err(ClusterError::Setup(format!(
                    "the Flink setting `{}` is not a plain name, or its value holds a control character",
                    k.escape_debug()
                )));
            }
            // Flink's scripts read env.java.home from the file as it is written, quotes
            // and all (bash-java-utils.sh, before any YAML parser): a plain path goes
            // unquoted, so that they find the JDK it names.
            let value = if k == "env.java.home" && conf::plain_path(v) {
                v.clone()
            } else {
                yaml_scalar(v)
            };
            text.push_str(&format!("{k}: {value}\n"));
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

    /// Starts the JobManager and the TaskManagers, in one new process group: the JVMs
    /// directly where the launcher may and the start is plain (launch.rs), else with
    /// Flink's scripts.
    pub fn start(&self, launcher: &Launcher) -> Result<StartedWith, ClusterError> {
        // One bound for the whole start, the scripts after a failed sizing included:
        // shorter than a teardown waits for it, so that nothing starts behind a stop.
        let deadline = Instant::now() + START_BOUND;
        let plain = match launcher.direct.then(|| Plain::check(self)) {
            Some(Ok(plain)) => plain,
            Some(Err(why)) => {
                self.start_with_scripts(deadline)?;
                return Ok(StartedWith::Scripts { why });
            }
            None => {
                self.start_with_scripts(deadline)?;
                return Ok(StartedWith::Scripts {
                    why: "[flink] start = \"scripts\"".into(),
                });
            }
        };
        let cache = launcher.cache_dir.as_deref();
        // The sizings are asked for side by side when neither is cached.
        let (jm, tm) = std::thread::scope(|s| {
            let tm = s.spawn(|| plain.sizing_of(self, Role::TaskManager, cache));
            let jm = plain.sizing_of(self, Role::JobManager, cache);
            (
                jm,
                tm.join()
                    .unwrap_or_else(|_| Err("the sizing thread panicked".into())),
            )
        });
        let (jm, tm) = match (jm, tm) {
            (Ok(jm), Ok(tm)) => (jm, tm),
            (Err(why), _) | (_, Err(why)) => {
                self.start_with_scripts(deadline)?;
                return Ok(StartedWith::Scripts { why });
            }
        };
        let computed = jm.1 || tm.1;
        let cds = launcher.cds_dir();
        let cds = cds.as_deref();
        // The new group's id is the JobManager's PID; the TaskManagers join it.
        let group = plain.spawn(self, Role::JobManager, &jm.0, cds, 0)? as i32;
        for _ in 0..self.task_managers {
            plain.spawn(self, Role::TaskManager, &tm.0, cds, group)?;
        }
        Ok(StartedWith::Direct { computed })
    }

    /// Starts the JobManager and the TaskManagers with Flink's scripts.
    fn start_with_scripts(&self, deadline: Instant) -> Result<(), ClusterError> {
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
                            "{name} start did not return within {}s",
                            START_BOUND.as_secs()
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
        // A clean environment: none of the daemon's own (NOTIFY_SOCKET, an API token)
        // reaches the JVMs or the user code in them.
        command.env_clear();
        for (k, v) in std::env::vars_os() {
            if k.to_str().is_some_and(passed_to_flink) {
                command.env(k, v);
            }
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

    /// Whether the JobManager answering on its port is this cluster's: its config
    /// holds this cluster's identity. A process that took the port first is not.
    pub async fn answers_as_itself(
        &self,
        client: &crate::flink::FlinkClient,
    ) -> Result<bool, crate::flink::FlinkError> {
        let Some(identity) = &self.identity else {
            return Ok(true);
        };
        Ok(client.config_value(IDENTITY_KEY).await?.as_deref() == Some(identity.as_str()))
    }

    /// The PIDs this cluster recorded, that are alive and are this cluster's.
    pub fn live_pids(&self) -> Vec<i32> {
        self.live_pids_of("")
    }

    /// Whether the JobManager process is alive.
    pub fn job_manager_alive(&self) -> bool {
        !self.live_pids_of("standalonesession").is_empty()
    }

    /// The live processes of one role (`standalonesession`, `taskexecutor`; `""`: all),
    /// by the PID files Flink's scripts write, each checked to be this cluster's
    /// process during the boot its directory was prepared in.
    fn live_pids_of(&self, role: &str) -> Vec<i32> {
        let mut pids: Vec<i32> = std::fs::read_dir(self.pid_dir())
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains(role))
            .filter(|_| self.of_this_boot())
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .flat_map(|text| {
                text.lines()
                    .filter_map(|l| l.trim().parse::<i32>().ok())
                    .filter(|p| procs::is_cluster_process(*p, &self.dir))
                    .collect::<Vec<_>>()
            })
            .collect();
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    /// Whether its processes were started during this boot: its `boot_id` file is the
    /// kernel's (a directory without one, of an older flinkd, is taken as of this boot).
    fn of_this_boot(&self) -> bool {
        match std::fs::read_to_string(self.dir.join("boot_id")) {
            Ok(id) => procs::boot_id().is_some_and(|now| now == id.trim()),
            Err(_) => true,
        }
    }

    /// How many of its TaskManager processes are gone: `(lost, of)`.
    pub fn task_managers_lost(&self) -> (u32, u32) {
        let alive = self.live_pids_of("taskexecutor").len() as u32;
        (self.task_managers.saturating_sub(alive), self.task_managers)
    }

    /// Starts TaskManagers in place of those that are gone (none if none is), each in
    /// a process group of its own (directly or with the script, as [`Self::start`]);
    /// returns how many it started.
    pub fn replace_task_managers(&self, launcher: &Launcher) -> Result<u32, ClusterError> {
        let (lost, _) = self.task_managers_lost();
        if lost == 0 {
            return Ok(0);
        }
        let cache = launcher.cache_dir.as_deref();
        if let Some(Ok(plain)) = launcher.direct.then(|| Plain::check(self)) {
            if let Ok((sizing, _)) = plain.sizing_of(self, Role::TaskManager, cache) {
                let cds = launcher.cds_dir();
                for _ in 0..lost {
                    plain.spawn(self, Role::TaskManager, &sizing, cds.as_deref(), 0)?;
                }
                return Ok(lost);
            }
        }
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

    /// Stops every process of the cluster: SIGTERM, then SIGKILL after `grace`, and
    /// SIGKILL to what the processes left behind (the children user code spawned, the
    /// rest of their process groups); returns once its recorded processes are verified
    /// gone.
    pub fn stop(&self, grace: Duration) -> Result<(), ClusterError> {
        let pids = self.live_pids();
        let mut tree = procs::tree(&pids);
        // What the JVMs spawned is found by its environment too: a JVM that died
        // before the teardown left its children to init, outside any tree.
        if self.of_this_boot() {
            for s in procs::with_cluster_env(&self.dir) {
                if !pids.contains(&s.pid) && !tree.iter().any(|t| t.pid == s.pid) {
                    tree.push(s);
                }
            }
        }
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
        // Seen before the first signal, and still the same processes.
        for p in tree.iter().filter(|p| procs::still(p)) {
            let _ = kill(Pid::from_raw(p.pid), Signal::SIGKILL);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && !self.live_pids().is_empty() {
            std::thread::sleep(Duration::from_millis(50));
        }
        let left = self.live_pids();
        if left.is_empty() {
            cds::keep_archives(self);
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
                    if let Some(text) = read_tail(&e.path(), 64 << 10) {
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

#[cfg(test)]
mod tests;
