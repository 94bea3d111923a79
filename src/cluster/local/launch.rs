//! Starting a local cluster's JVMs directly, with the command line, environment and
//! log files Flink's `jobmanager.sh start` and `taskmanager.sh start` would give them.
//!
//! Each script runs three JVMs before the one that matters (Flink's `BashJavaUtils`
//! to flatten the config, `java -XshowSettings` for the JDK's version, `BashJavaUtils`
//! again to size the process's memory): seconds on every start. Flinkd writes the
//! flat config itself, so only the memory sizing is left; it asks `BashJavaUtils` once
//! per distribution, JDK and config (every setting but the cluster's own ports,
//! directories and identity) and keeps the answer in `state_dir/launch/`. The rest is
//! what `config.sh`, `jobmanager.sh`, `taskmanager.sh` and `flink-daemon.sh` (Flink
//! 1.19 to 2.x) compute, reproduced for the cases where it is plain; where it is not
//! (options with shell syntax, Hadoop or Flink settings in the daemon's environment,
//! NUMA placement), the scripts run instead, and [`Plain::check`] says why.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{passed_to_flink, ClusterError, LocalCluster, OWNED_KEYS};

/// The settings flinkd sets per Deployment that do not size memory: left out of the
/// cache key, so that Deployments with the same resources share an entry.
const SNAPSHOT_DIR_KEYS: &[&str] = &[
    "state.savepoints.dir",
    "execution.checkpointing.savepoint-dir",
    "state.checkpoints.dir",
    "execution.checkpointing.dir",
];

/// Bumped when what is cached, or how it is used, changes.
pub(super) const CACHE_VERSION: u32 = 1;

/// The options of the JVMs flinkd runs to compute a start (not the cluster's): C1 only
/// and the serial collector, about half the start-up time of a default JVM.
const QUICK_JVM: &[&str] = &["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"];

/// How a cluster's JVMs are started (`[flink] start`).
#[derive(Debug, Clone)]
pub struct Launcher {
    /// Directly, where the scripts' computation is plain; else with the scripts.
    pub direct: bool,
    /// With class-data sharing: an archive of the classes each role loads, recorded
    /// by the first JVM of a distribution, JDK and options as it exits, used by the
    /// next ones (`cache_dir/cds/`).
    pub class_data_sharing: bool,
    /// Where the memory sizing of `BashJavaUtils` is kept (`None`: asked every time).
    pub cache_dir: Option<PathBuf>,
}

impl Launcher {
    /// Always Flink's scripts.
    pub fn scripts() -> Launcher {
        Launcher {
            direct: false,
            class_data_sharing: false,
            cache_dir: None,
        }
    }

    /// Directly where it can, with the sizing cached in `cache_dir`.
    pub fn direct(cache_dir: PathBuf) -> Launcher {
        Launcher {
            direct: true,
            class_data_sharing: true,
            cache_dir: Some(cache_dir),
        }
    }

    /// The JVMs exactly as the scripts start them: no class-data sharing.
    pub fn without_class_data_sharing(self) -> Launcher {
        Launcher {
            class_data_sharing: false,
            ..self
        }
    }

    /// Where class-data sharing archives are kept, if they are used.
    pub(super) fn cds_dir(&self) -> Option<PathBuf> {
        self.cache_dir
            .as_ref()
            .filter(|_| self.class_data_sharing)
            .map(|d| d.join("cds"))
    }
}

/// How a cluster was started, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartedWith {
    /// The JVMs directly; `computed`: the sizing was not in the cache.
    Direct { computed: bool },
    /// Flink's scripts, and why.
    Scripts { why: String },
}

/// A role a JVM of the cluster plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    JobManager,
    TaskManager,
}

impl Role {
    /// Its name in `flink-daemon.sh`, in its PID and log files.
    pub(super) fn daemon(self) -> &'static str {
        match self {
            Role::JobManager => "standalonesession",
            Role::TaskManager => "taskexecutor",
        }
    }

    fn class(self) -> &'static str {
        match self {
            Role::JobManager => {
                "org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint"
            }
            Role::TaskManager => "org.apache.flink.runtime.taskexecutor.TaskManagerRunner",
        }
    }

    fn utils_command(self) -> &'static str {
        match self {
            Role::JobManager => "GET_JM_RESOURCE_PARAMS",
            Role::TaskManager => "GET_TM_RESOURCE_PARAMS",
        }
    }

    /// The config keys of its own JVM options (default ones first).
    fn opts_keys(self) -> [&'static str; 2] {
        match self {
            Role::JobManager => [
                "env.java.default-opts.jobmanager",
                "env.java.opts.jobmanager",
            ],
            Role::TaskManager => [
                "env.java.default-opts.taskmanager",
                "env.java.opts.taskmanager",
            ],
        }
    }
}

/// What `BashJavaUtils` said of one role's memory, and the JDK's version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Sizing {
    /// `-Xmx… -Xms… -XX:MaxMetaspaceSize=…` (the first result line).
    jvm_params: String,
    /// `-D key=value …` (the second).
    dynamic: String,
    /// What it logged of the computation (the JVM's `FLINK_INHERITED_LOGS`), without
    /// the lines that name the first cluster's settings.
    logs: String,
    /// `java.specification.version`'s major number.
    java_spec: u32,
}

/// A distribution, JDK and config whose start is plain enough to run without the
/// scripts.
pub(super) struct Plain {
    pub(super) home: PathBuf,
    conf: BTreeMap<String, String>,
    /// `JAVA_HOME` as the scripts export it (`env.java.home`, else the daemon's).
    java_home: String,
    /// What the scripts run: `$JAVA_HOME/bin/java`, else `java` from `PATH`.
    pub(super) java_run: PathBuf,
    /// The daemon's environment as passed to Flink.
    pub(super) env: Vec<(OsString, OsString)>,
    pub(super) classpath: String,
    /// What the distribution and the JDK are, for the caches' keys ([`installed`]).
    pub(super) installed: String,
}

/// The identity of a distribution and a JDK: `bin/bash-java-utils.jar`, the jars of
/// `lib/` and the java binary that runs (each by path, size and modification time).
fn installed(home: &Path, java_run: &Path, env: &[(OsString, OsString)]) -> Result<String, String> {
    let java =
        resolve(java_run, env).ok_or_else(|| format!("{} is not found", java_run.display()))?;
    Ok([home.join("bin/bash-java-utils.jar")]
        .into_iter()
        .chain(jars(&home.join("lib"))?)
        .chain([java])
        .map(|f| fingerprint(&f))
        .collect())
}

/// A value the scripts would pass through a shell unchanged: split on white space
/// and nothing else.
fn plain_value(v: &str) -> bool {
    v.chars()
        .all(|c| c.is_ascii_alphanumeric() || c == ' ' || "_-+=:.,/@%".contains(c))
}

/// `readFromConfig` of config.sh: the value, surrounding double quotes removed.
fn strip_quotes(v: &str) -> &str {
    let v = v.strip_prefix('"').unwrap_or(v);
    v.strip_suffix('"').unwrap_or(v)
}

/// Words, as an unquoted shell expansion splits them.
pub(super) fn words(v: &str) -> impl Iterator<Item = &str> {
    v.split_whitespace()
}

impl Plain {
    /// The plain start of `cluster`, or why the scripts must run instead.
    pub(super) fn check(cluster: &LocalCluster) -> Result<Plain, String> {
        let home = &cluster.flink_home;
        let conf_file = cluster.conf_dir().join("config.yaml");
        if !conf_file.is_file() {
            return Err("the distribution predates config.yaml (Flink < 1.19)".into());
        }
        if !home.join("bin/bash-java-utils.jar").is_file() {
            return Err("the distribution has no bin/bash-java-utils.jar".into());
        }
        let text = std::fs::read_to_string(&conf_file)
            .map_err(|e| format!("cannot read {}: {e}", conf_file.display()))?;
        let value: serde_yaml::Value = serde_yaml::from_str(&text)
            .map_err(|e| format!("cannot read {}: {e}", conf_file.display()))?;
        let mut conf = BTreeMap::new();
        super::conf::flatten("", &value, &mut conf);
        let env: Vec<(OsString, OsString)> = std::env::vars_os()
            .filter(|(k, _)| k.to_str().is_some_and(passed_to_flink))
            .collect();
        // The scripts read these from the environment, before the config (the
        // directories flinkd sets, and what config.sh overwrites, aside).
        const READ_BY_SCRIPTS: &[&str] = &[
            "FLINK_HOME",
            "FLINK_LIB_DIR",
            "FLINK_PLUGINS_DIR",
            "FLINK_OPT_DIR",
            "FLINK_ENV_JAVA_OPTS",
            "FLINK_ENV_JAVA_OPTS_JM",
            "FLINK_ENV_JAVA_OPTS_TM",
            "FLINK_IDENT_STRING",
            "FLINK_TM_COMPUTE_NUMA",
            "FLINK_INHERITED_LOGS",
            // Set by the scripts over what the environment had.
            "FLINK_TM_CLASSPATH",
            "FLINK_LOG_PREFIX",
            "FLINK_ENV_JAVA_DEFAULT_OPTS",
            "FLINK_ENV_JAVA_DEFAULT_OPTS_JM",
            "FLINK_ENV_JAVA_DEFAULT_OPTS_TM",
            "FLINK_ENV_JAVA_OPTS_HS",
            "FLINK_ENV_JAVA_OPTS_CLI",
            "FLINK_ENV_JAVA_OPTS_SQL_GATEWAY",
            "FLINK_SSH_OPTS",
        ];
        if let Some((k, _)) = env.iter().find(|(k, _)| {
            let k = k.to_string_lossy();
            READ_BY_SCRIPTS.contains(&k.as_ref()) || k.starts_with("HADOOP_")
        }) {
            return Err(format!(
                "the daemon's environment sets {}, which the scripts read",
                k.to_string_lossy()
            ));
        }
        for key in [
            "env.hadoop.conf.dir",
            "env.yarn.conf.dir",
            "env.hbase.conf.dir",
        ] {
            if conf.get(key).is_some_and(|v| !v.is_empty()) {
                return Err(format!("the config sets {key}"));
            }
        }
        for dir in ["/etc/hadoop/conf", "/etc/hbase/conf"] {
            if Path::new(dir).is_dir() {
                return Err(format!(
                    "{dir} exists (the scripts add it to the classpath)"
                ));
            }
        }
        if conf
            .get("taskmanager.compute.numa")
            .is_some_and(|v| v.trim() == "true")
        {
            return Err("taskmanager.compute.numa is set".into());
        }
        for (k, v) in &conf {
            if k.starts_with("env.") && !OWNED_KEYS.contains(&k.as_str()) && !plain_value(v) {
                return Err(format!(
                    "{k} holds characters a shell would interpret ({v:?})"
                ));
            }
        }
        let java_home = match conf.get("env.java.home").filter(|v| !v.is_empty()) {
            Some(h) => h.clone(),
            None => std::env::var("JAVA_HOME").unwrap_or_default(),
        };
        let java_run = if !java_home.is_empty() && Path::new(&java_home).is_dir() {
            Path::new(&java_home).join("bin/java")
        } else {
            PathBuf::from("java")
        };
        // config.sh's FLINK_HOME: the physical directory above bin/, links resolved.
        let home = home
            .join("bin")
            .canonicalize()
            .ok()
            .and_then(|b| b.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| home.clone());
        let lib = home.join("lib");
        // constructFlinkClassPath finds the jars below lib/ too, in `sort`'s order.
        if std::fs::read_dir(&lib)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| e.path().is_dir())
        {
            return Err(
                "lib/ has directories (the scripts put their jars on the classpath too)".into(),
            );
        }
        if !collates_bytewise(&env) && !bytewise_is_dictionary_order(&jars(&lib)?) {
            return Err("the locale's collation may order lib/ differently from byte order".into());
        }
        let classpath = classpath(&lib)?;
        let installed = installed(&home, &java_run, &env)?;
        Ok(Plain {
            home,
            conf,
            java_home,
            java_run,
            env,
            classpath,
            installed,
        })
    }

    fn get(&self, key: &str) -> &str {
        self.conf.get(key).map(|v| v.trim()).unwrap_or("")
    }

    /// `FLINK_ENV_JAVA_OPTS` as `flink-daemon.sh` has it for `role`.
    fn java_opts(&self, role: Role, java_spec: u32) -> String {
        let all = {
            let opts = match self.get("env.java.opts.all") {
                "" => self.get("env.java.opts"),
                v => v,
            };
            let joined = format!("{} {opts}", self.get("env.java.default-opts.all"));
            let mut all = format!("-XX:+IgnoreUnrecognizedVMOptions {}", strip_quotes(&joined));
            if java_spec > 17 {
                all.push_str(" -Djava.security.manager=allow");
            }
            all
        };
        let [default, own] = role.opts_keys();
        let own = format!("{} {}", self.get(default), self.get(own));
        let joined = format!("{all} {}", strip_quotes(&own));
        // `eval echo`: words joined by single spaces.
        words(&joined).collect::<Vec<_>>().join(" ")
    }

    /// The role's sizing: from the cache, else from `BashJavaUtils` (and cached);
    /// `true` when it was computed.
    pub(super) fn sizing_of(
        &self,
        cluster: &LocalCluster,
        role: Role,
        cache: Option<&Path>,
    ) -> Result<(Sizing, bool), String> {
        let key = self.cache_key(role)?;
        let file = cache.map(|d| d.join(format!("{key}.json")));
        if let Some(f) = &file {
            if let Some(s) = std::fs::read(f)
                .ok()
                .and_then(|b| serde_json::from_slice::<Sizing>(&b).ok())
            {
                return Ok((s, false));
            }
        }
        let sizing = self.compute(cluster, role)?;
        if let (Some(dir), Some(f)) = (cache, &file) {
            // Written whole or not at all: a torn entry would start a wrong JVM.
            let tmp = dir.join(format!(".{key}.{}.tmp", uuid::Uuid::new_v4().simple()));
            let written = std::fs::create_dir_all(dir)
                .and_then(|()| {
                    std::fs::write(&tmp, serde_json::to_vec(&sizing).unwrap_or_default())
                })
                .and_then(|()| std::fs::rename(&tmp, f));
            if let Err(e) = written {
                let _ = std::fs::remove_file(&tmp);
                tracing::warn!("cannot cache the JVM sizing in {}: {e}", dir.display());
            }
        }
        Ok((sizing, true))
    }

    /// The cache entry's name: everything the sizing depends on.
    fn cache_key(&self, role: Role) -> Result<String, String> {
        let mut h = Sha256::new();
        h.update(format!("v{CACHE_VERSION}\0{role:?}\0").as_bytes());
        let home = self
            .home
            .canonicalize()
            .unwrap_or_else(|_| self.home.clone());
        h.update(home.as_os_str().as_encoded_bytes());
        h.update(self.installed.as_bytes());
        for (k, v) in &self.conf {
            if !OWNED_KEYS.contains(&k.as_str()) && !SNAPSHOT_DIR_KEYS.contains(&k.as_str()) {
                h.update(format!("{k}\0{v}\0").as_bytes());
            }
        }
        Ok(format!("{:x}", h.finalize()))
    }

    /// Runs `BashJavaUtils` as `bash-java-utils.sh` does, and the JDK's version check.
    fn compute(&self, cluster: &LocalCluster, role: Role) -> Result<Sizing, String> {
        let dist = jars(&self.home.join("lib"))?
            .into_iter()
            .find(|j| is_dist(j))
            .ok_or("no flink-dist jar in lib/")?;
        let cp = format!(
            "{}:{}",
            self.home.join("bin/bash-java-utils.jar").display(),
            dist.display()
        );
        let mut out = self.command(&self.java_run);
        out
            // A short-lived utility: started for speed (its answer is the config's
            // arithmetic, whatever compiler and collector the JVM uses).
            .args(QUICK_JVM)
            .arg("-classpath")
            .arg(cp)
            .arg("org.apache.flink.runtime.util.bash.BashJavaUtils")
            .arg(role.utils_command())
            .arg("--configDir")
            .arg(cluster.conf_dir());
        let out = output_within(out, UTILITY_BOUND)
            .map_err(|e| format!("BashJavaUtils {}: {e}", role.utils_command()))?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        const PREFIX: &str = "BASH_JAVA_UTILS_EXEC_RESULT:";
        let results: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix(PREFIX))
            .collect();
        let [jvm_params, dynamic] = results[..] else {
            return Err(format!(
                "BashJavaUtils {} gave {} result lines, not 2 (exit {}): {}",
                role.utils_command(),
                results.len(),
                out.status,
                text.lines().rev().take(5).collect::<Vec<_>>().join(" | ")
            ));
        };
        if !out.status.success() {
            return Err(format!("BashJavaUtils exited with {}", out.status));
        }
        let logs = text
            .lines()
            .filter(|l| !l.contains(PREFIX) && !l.contains("Loading configuration property"))
            .collect::<Vec<_>>()
            .join("\n");
        Ok(Sizing {
            jvm_params: jvm_params.to_string(),
            dynamic: dynamic.to_string(),
            logs,
            java_spec: self.java_spec()?,
        })
    }

    /// `java.specification.version`'s last component, as config.sh reads it.
    fn java_spec(&self) -> Result<u32, String> {
        let mut cmd = self.command(&self.java_run);
        cmd.args(QUICK_JVM)
            .args(["-XshowSettings:properties", "-version"]);
        let out = output_within(cmd, UTILITY_BOUND).map_err(|e| format!("java -version: {e}"))?;
        let text = String::from_utf8_lossy(&out.stderr).into_owned()
            + &String::from_utf8_lossy(&out.stdout);
        text.lines()
            .find(|l| l.trim_start().starts_with("java.specification.version"))
            .and_then(|l| l.split('=').nth(1))
            .and_then(|v| v.trim().rsplit('.').next()?.parse().ok())
            .ok_or_else(|| "the JDK did not say its java.specification.version".into())
    }

    /// A command in the daemon's environment as passed to Flink.
    fn command(&self, program: &Path) -> Command {
        let mut c = Command::new(program);
        c.env_clear();
        c.envs(self.env.iter().map(|(k, v)| (k, v)));
        c
    }

    /// Starts one JVM of `role` for `cluster` in process group `group` (0: a new one),
    /// as `flink-daemon.sh start` does: its PID appended to the role's PID file, its
    /// output in `<prefix>.out`.
    pub(super) fn spawn(
        &self,
        cluster: &LocalCluster,
        role: Role,
        sizing: &Sizing,
        cds: Option<&Path>,
        group: i32,
    ) -> Result<u32, ClusterError> {
        let opts = self.java_opts(role, sizing.java_spec);
        let sharing = cds.and_then(|dir| self.class_data_sharing(cluster, role, &opts, dir));
        let ident = std::env::var("USER").unwrap_or_default();
        let pid_file = cluster
            .pid_dir()
            .join(format!("flink-{ident}-{}.pid", role.daemon()));
        let index = std::fs::read_to_string(&pid_file)
            .map(|t| t.lines().count())
            .unwrap_or(0);
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_default();
        let prefix = cluster
            .log_dir()
            .join(format!("flink-{ident}-{}-{index}-{host}", role.daemon()));
        let conf = cluster.conf_dir();
        let out = std::fs::File::create(format!("{}.out", prefix.display()))
            .map_err(|e| ClusterError::io("create the JVM's .out file", e))?;
        let err = out
            .try_clone()
            .map_err(|e| ClusterError::io("create the JVM's .out file", e))?;
        let jvm_args = format!(" {}", sizing.jvm_params);
        let mut c = self.command(&self.java_run);
        c.args(words(&jvm_args))
            .args(words(&opts))
            .args(sharing)
            .arg(format!("-Dlog.file={}.log", prefix.display()))
            .arg(format!(
                "-Dlog4j.configuration=file:{}/log4j.properties",
                conf.display()
            ))
            .arg(format!(
                "-Dlog4j.configurationFile=file:{}/log4j.properties",
                conf.display()
            ))
            .arg(format!(
                "-Dlogback.configurationFile=file:{}/logback.xml",
                conf.display()
            ))
            .arg("-classpath")
            // flink-daemon.sh adds the SQL gateway's and Hadoop's (empty) classpaths.
            .arg(format!("{}::::", self.classpath))
            .arg(role.class());
        let config_dir = [OsString::from("--configDir"), conf.clone().into()];
        match role {
            // jobmanager.sh: the dynamic parameters, then --configDir.
            Role::JobManager => c.args(words(&sizing.dynamic)).args(config_dir),
            // taskmanager.sh: --configDir, then the dynamic parameters.
            Role::TaskManager => c.args(config_dir).args(words(&sizing.dynamic)),
        };
        let bin = self.home.join("bin");
        let inherited = format!(
            "\n\n\nRESOURCE_PARAMS extraction logs:\njvm_params: {}\ndynamic_configs: {}\nlogs: {}\n",
            sizing.jvm_params, sizing.dynamic, sizing.logs
        );
        let log_max = self.get("env.log.max");
        let log_max = log_max.trim_matches('\'');
        c.env("FLINK_CONF_DIR", &conf)
            .env("FLINK_LOG_DIR", cluster.log_dir())
            .env("FLINK_PID_DIR", cluster.pid_dir())
            .env("FLINK_BIN_DIR", &bin)
            .env("FLINK_LIB_DIR", self.home.join("lib"))
            .env("FLINK_OPT_DIR", self.home.join("opt"))
            .env("FLINK_PLUGINS_DIR", self.home.join("plugins"))
            .env("JAVA_HOME", &self.java_home)
            .env("JAVA_RUN", &self.java_run)
            .env("JVM_ARGS", &jvm_args)
            .env("DYNAMIC_PARAMETERS", &sizing.dynamic)
            .env("FLINK_ENV_JAVA_OPTS", &opts)
            .env("FLINK_INHERITED_LOGS", inherited)
            .env(
                "MAX_LOG_FILE_NUMBER",
                if log_max.is_empty() { "10" } else { log_max },
            )
            .env(
                "ROOT_LOG_LEVEL",
                match self.get("env.log.level") {
                    "" => "INFO",
                    v => v,
                },
            )
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(group);
        if !cluster.work_dir.as_os_str().is_empty() {
            c.current_dir(&cluster.work_dir);
        }
        let mut child = c
            .spawn()
            .map_err(|e| ClusterError::io(&format!("start {}", self.java_run.display()), e))?;
        let pid = child.id();
        let recorded = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&pid_file)
            .and_then(|mut f| writeln!(f, "{pid}"));
        if let Err(e) = recorded {
            // A JVM not on record would be found by nobody: it does not run.
            let _ = child.kill();
            let _ = child.wait();
            return Err(ClusterError::io("write the PID file", e));
        }
        // The JVM is this daemon's child: reaped when it ends (after a daemon restart,
        // init reaps it, as it does a JVM the scripts started).
        let reaper = std::thread::Builder::new()
            .name("flinkd-reaper".into())
            .stack_size(64 << 10)
            .spawn(move || {
                let _ = child.wait();
            });
        if let Err(e) = reaper {
            tracing::warn!("no thread to reap JVM {pid}: {e}");
        }
        Ok(pid)
    }
}

mod files;
#[cfg(test)]
mod tests;

use files::{
    bytewise_is_dictionary_order, classpath, collates_bytewise, is_dist, output_within,
    UTILITY_BOUND,
};
use files::{fingerprint, jars, resolve};
