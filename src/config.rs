//! The daemon config: a TOML file read with the `config` crate, overridable by
//! `FLINKD_*` environment variables (`FLINKD_STATE_DIR`, `FLINKD_TIMING__POLL_INTERVAL`:
//! a double underscore descends into a table).
//!
//! Every key has a default, so an empty file is a valid config; `config/flinkd.toml`
//! documents each one. Unknown keys are errors naming the key, so a misspelt setting
//! never silently falls back to its default. Relative paths are relative to the config
//! file's directory, so a config can travel with its deployments.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::quantity::Bytes;
use crate::spec::DeploymentSpec;

/// A config file or environment variable that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: {message}")]
    Read { file: String, message: String },
    #[error("{file}: `{key}`: {message}")]
    Key {
        file: String,
        key: String,
        message: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The watched directory of Deployment files.
    pub deployments_dir: PathBuf,
    /// Where the store (SQLite) and per-cluster files live.
    pub state_dir: PathBuf,
    pub api: ApiConfig,
    pub quota: QuotaConfig,
    pub flink: FlinkConfig,
    pub timing: TimingConfig,
    pub store: StoreConfig,
    pub files: FilesConfig,
    pub jars: JarsConfig,
    pub kubernetes: KubernetesConfig,
    /// The daemon-wide layer of Deployment defaults, below each namespace's
    /// `DeploymentDefaults` and above the built-in defaults. Same shape as `spec`.
    pub defaults: DeploymentSpec,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            deployments_dir: PathBuf::from("/etc/flinkd/deployments"),
            state_dir: PathBuf::from("/var/lib/flinkd"),
            api: ApiConfig::default(),
            quota: QuotaConfig::default(),
            flink: FlinkConfig::default(),
            timing: TimingConfig::default(),
            store: StoreConfig::default(),
            files: FilesConfig::default(),
            jars: JarsConfig::default(),
            kubernetes: KubernetesConfig::default(),
            defaults: DeploymentSpec::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Address of the HTTP API; loopback unless you mean otherwise.
    pub listen: SocketAddr,
    /// A bearer token every request but `/healthz` must carry (`Authorization: Bearer
    /// …`); required when `listen` is not a loopback address. `flinkd get`, `events` and
    /// `savepoint` send it (from here, or FLINKD_API_TOKEN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The names a request's Host header may give besides localhost, 127.0.0.1 and
    /// [::1] (a page on another name, resolved to this host, is refused: DNS
    /// rebinding). Unchecked when `listen` is not loopback and this is empty.
    pub allowed_hosts: Vec<String>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8089)),
            token: None,
            allowed_hosts: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuotaConfig {
    /// CPU cores all running Deployments may use together; unset = unlimited.
    pub cpu: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FlinkConfig {
    /// The `flinkVersion` of Deployments that name none.
    pub default_version: String,
    /// `flinkVersion` → FLINK_HOME of a distribution of that version.
    pub versions: BTreeMap<String, PathBuf>,
    /// How a local cluster's JVMs are started.
    pub start: StartMode,
    /// Class-data sharing for directly started JVMs.
    pub class_data_sharing: bool,
    /// STATEFUL upgrades of local Deployments start the new cluster while the old job
    /// runs, where the quota and the host's memory allow.
    pub fast_upgrades: bool,
}

/// `[kubernetes]`: how flinkd reaches the Kubernetes API and how clusters on a
/// Kubernetes target are made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KubernetesConfig {
    /// The kubeconfig file to use; unset: the standard discovery (in-cluster service
    /// account, then `KUBECONFIG`, then `~/.kube/config`).
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context; unset: its current context.
    pub context: Option<String>,
    /// How flinkd reaches each cluster's Flink REST API.
    pub rest: RestAccess,
    /// Timeout of one request to the Kubernetes API server.
    #[serde(with = "humantime_serde")]
    pub api_timeout: Duration,
    /// `flinkVersion` → the image of its clusters, for Deployments whose artifact names
    /// no image (else the official `flink:VERSION`).
    pub images: BTreeMap<String, String>,
}

impl Default for KubernetesConfig {
    fn default() -> Self {
        KubernetesConfig {
            kubeconfig: None,
            context: None,
            rest: RestAccess::Proxy,
            api_timeout: Duration::from_secs(10),
            images: BTreeMap::new(),
        }
    }
}

/// `[kubernetes] rest`: the way to a cluster's Flink REST API.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RestAccess {
    /// Through the API server's service proxy: works wherever kubectl works.
    #[default]
    Proxy,
    /// To the JobManager Service's in-cluster address (`NAME.NAMESPACE.svc:8081`): for a
    /// flinkd that runs in the cluster.
    Direct,
}

/// How a local cluster's JVMs are started (`[flink] start`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StartMode {
    /// Directly, with the arguments Flink's scripts would compute (computed once per
    /// distribution, JDK and settings, and cached); the scripts where that is not plain.
    #[default]
    Direct,
    /// Always with Flink's `jobmanager.sh` and `taskmanager.sh`.
    Scripts,
}

impl Default for FlinkConfig {
    fn default() -> Self {
        FlinkConfig {
            default_version: "2.3".to_string(),
            versions: BTreeMap::new(),
            start: StartMode::Direct,
            class_data_sharing: true,
            fast_upgrades: true,
        }
    }
}

/// Every wait flinkd makes is bounded, and every bound is here (DESIGN.md, principle 5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimingConfig {
    /// How often a job is polled.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// A job RUNNING with nothing new is polled less and less often, up to this (or
    /// `poll_interval`, if that is longer).
    #[serde(with = "humantime_serde")]
    pub poll_interval_max: Duration,
    /// How long a cancellation may take before the cluster is torn down anyway.
    #[serde(with = "humantime_serde")]
    pub cancel_deadline: Duration,
    /// How many failed cancellations before the cluster is torn down anyway.
    pub cancel_attempts: u32,
    /// JobFailing: restarts counted within this window.
    #[serde(with = "humantime_serde")]
    pub restart_window_failing: Duration,
    /// JobUnstable: restarts counted within this window.
    #[serde(with = "humantime_serde")]
    pub restart_window_unstable: Duration,
    /// Restarts within a window that raise the condition.
    pub restart_threshold: u32,
    /// How long a job may take from its creation (cluster start, submission) to RUNNING.
    #[serde(with = "humantime_serde")]
    pub job_start_timeout: Duration,
    /// How long a savepoint, or a stop with savepoint, may take.
    #[serde(with = "humantime_serde")]
    pub savepoint_timeout: Duration,
    /// How long removing a job's cluster may take before the Deployment is FAILED (the
    /// removal goes on; no new job starts before it is done).
    #[serde(with = "humantime_serde")]
    pub teardown_deadline: Duration,
    /// The wait before a failed cancel, teardown or savepoint attempt is tried again (a
    /// teardown's or a savepoint's wait doubles, up to poll_interval_max).
    #[serde(with = "humantime_serde")]
    pub retry_interval: Duration,
    /// After a submission to an external cluster got no answer, how long its teardown
    /// watches for the job to appear (and cancels it) before another may be submitted.
    #[serde(with = "humantime_serde")]
    pub submission_grace: Duration,
    /// How long a cluster's processes get to exit after SIGTERM before SIGKILL.
    #[serde(with = "humantime_serde")]
    pub cluster_stop_grace: Duration,
    /// The least time between two replacements of a job's lost TaskManagers.
    #[serde(with = "humantime_serde")]
    pub task_manager_replace_interval: Duration,
    /// Timeout of one request to Flink's REST API.
    #[serde(with = "humantime_serde")]
    pub http_timeout: Duration,
    /// Quiet time after a change in the watched directory before it is rescanned.
    #[serde(with = "humantime_serde")]
    pub file_debounce: Duration,
    /// A full rescan of the directory happens at least this often.
    #[serde(with = "humantime_serde")]
    pub rescan_interval: Duration,
}

impl Default for TimingConfig {
    fn default() -> Self {
        TimingConfig {
            poll_interval: Duration::from_secs(5),
            poll_interval_max: Duration::from_secs(60),
            cancel_deadline: Duration::from_secs(180),
            cancel_attempts: 5,
            restart_window_failing: Duration::from_secs(600),
            restart_window_unstable: Duration::from_secs(3600),
            restart_threshold: 3,
            job_start_timeout: Duration::from_secs(300),
            savepoint_timeout: Duration::from_secs(600),
            teardown_deadline: Duration::from_secs(600),
            retry_interval: Duration::from_secs(1),
            submission_grace: Duration::from_secs(120),
            cluster_stop_grace: Duration::from_secs(10),
            task_manager_replace_interval: Duration::from_secs(10),
            http_timeout: Duration::from_secs(10),
            file_debounce: Duration::from_millis(200),
            rescan_interval: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// Events kept per Deployment; the oldest go first.
    pub max_events_per_deployment: u32,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            max_events_per_deployment: 1000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilesConfig {
    /// A Deployment file larger than this is rejected unread.
    #[serde(deserialize_with = "de_bytes", serialize_with = "ser_bytes")]
    pub max_file_size: Bytes,
    /// A jar downloaded from http(s) larger than this is refused.
    #[serde(deserialize_with = "de_bytes", serialize_with = "ser_bytes")]
    pub max_jar_size: Bytes,
    /// What happens to a Deployment whose file is deleted: `suspended` (its state kept
    /// in a savepoint) or `cancelled`. Then it is forgotten; its history stays.
    pub on_delete: crate::spec::DesiredState,
    /// The YAML of one file, aliases expanded, has at most this many nodes...
    pub max_yaml_nodes: u64,
    /// ...and at most this much scalar text...
    #[serde(deserialize_with = "de_bytes", serialize_with = "ser_bytes")]
    pub max_yaml_size: Bytes,
    /// ...and nests at most this deep.
    pub max_yaml_depth: usize,
    /// The directory of a torn-down cluster (config, logs) is removed once it has not
    /// been written for this long (at least 10 s).
    #[serde(with = "humantime_serde")]
    pub keep_cluster_dirs: Duration,
}

impl FilesConfig {
    /// The limits a file of the watched directory is read with.
    pub fn read_limits(&self) -> crate::resources::ReadLimits {
        crate::resources::ReadLimits {
            max_file_size: self.max_file_size,
            yaml: crate::source::YamlLimits {
                max_nodes: self.max_yaml_nodes,
                max_bytes: self.max_yaml_size.0,
                max_depth: self.max_yaml_depth,
            },
        }
    }
}

impl Default for FilesConfig {
    fn default() -> Self {
        FilesConfig {
            max_file_size: Bytes(1024 * 1024),
            max_jar_size: Bytes(512 * 1024 * 1024),
            on_delete: crate::spec::DesiredState::Suspended,
            max_yaml_nodes: 100_000,
            max_yaml_size: Bytes(16 * 1024 * 1024),
            max_yaml_depth: 64,
            keep_cluster_dirs: Duration::from_secs(7 * 86_400),
        }
    }
}

/// Where jars may come from, and how they are fetched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JarsConfig {
    /// A local jar (`file://` or a path) must lie under one of these directories,
    /// symlinks followed; empty: the deployments directory only. Never under
    /// `state_dir`, whatever this says.
    pub local_dirs: Vec<PathBuf>,
    /// Whether `http://` jars are fetched (nothing protects them on the way). A
    /// redirect from https to http is refused either way.
    pub allow_http: bool,
    /// The longest a download may take...
    #[serde(with = "humantime_serde")]
    pub download_timeout: Duration,
    /// ...and the longest it may wait for its next bytes.
    #[serde(with = "humantime_serde")]
    pub read_timeout: Duration,
}

impl Default for JarsConfig {
    fn default() -> Self {
        JarsConfig {
            local_dirs: Vec::new(),
            allow_http: false,
            download_timeout: Duration::from_secs(30 * 60),
            read_timeout: Duration::from_secs(60),
        }
    }
}

impl Config {
    /// The directories local jars may lie under (absolute, as the config resolved them).
    pub fn jar_dirs(&self) -> Vec<PathBuf> {
        if self.jars.local_dirs.is_empty() {
            vec![self.deployments_dir.clone()]
        } else {
            self.jars.local_dirs.clone()
        }
    }
}

fn ser_bytes<S: serde::Serializer>(b: &Bytes, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&b.to_string())
}

fn de_bytes<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Number(u64),
        Text(String),
    }
    match Raw::deserialize(d)? {
        Raw::Number(n) => Ok(Bytes(n)),
        Raw::Text(t) => Bytes::parse(&t).map_err(serde::de::Error::custom),
    }
}

/// The deepest nesting a config may allow: the YAML reader behind it stops at 128.
const MAX_YAML_DEPTH: usize = 100;

/// The top-level keys of the config, as `FLINKD_<KEY>` spells them.
const TOP_LEVEL_KEYS: &[&str] = &[
    "DEPLOYMENTS_DIR",
    "STATE_DIR",
    "API",
    "QUOTA",
    "FLINK",
    "TIMING",
    "JARS",
    "KUBERNETES",
    "STORE",
    "FILES",
    "DEFAULTS",
];

/// The environment variables that set config keys: `FLINKD_` followed by a top-level
/// key. Others with the prefix (`FLINKD_LOG`, the log filter) are not config.
fn config_env(vars: impl Iterator<Item = (String, String)>) -> config::Map<String, String> {
    vars.filter(|(k, _)| {
        k.strip_prefix("FLINKD_").is_some_and(|rest| {
            let first = rest.split("__").next().unwrap_or("");
            TOP_LEVEL_KEYS.iter().any(|t| first.eq_ignore_ascii_case(t))
        })
    })
    .collect()
}

impl Config {
    /// Reads `file` (it must exist), then the `FLINKD_*` environment.
    pub fn load(file: &Path) -> Result<Config, ConfigError> {
        let name = file.display().to_string();
        if !file.is_file() {
            return Err(ConfigError::Read {
                file: name,
                message: "no such file".to_string(),
            });
        }
        let source = config::Config::builder()
            .add_source(config::File::from(file).format(config::FileFormat::Toml))
            .add_source(
                config::Environment::with_prefix("FLINKD")
                    .prefix_separator("_")
                    .separator("__")
                    .try_parsing(true)
                    .source(Some(config_env(std::env::vars()))),
            )
            .build()
            .map_err(|e| ConfigError::Read {
                file: name.clone(),
                message: e.to_string(),
            })?;
        let mut cfg: Config = serde_path_to_error::deserialize(source).map_err(|e| {
            let key = e.path().to_string();
            ConfigError::Key {
                file: name.clone(),
                key,
                message: e.into_inner().to_string(),
            }
        })?;
        cfg.resolve_paths(file, &config_env(std::env::vars()));
        cfg.check().map_err(|(key, message)| ConfigError::Key {
            file: name,
            key,
            message,
        })?;
        Ok(cfg)
    }

    /// Makes every path absolute and normal, once (crate::paths): one written in the
    /// file is relative to the file's directory (symlinks followed, so a linked config
    /// still finds what lies beside it), one set by a `FLINKD_*` variable to the working
    /// directory, as anything typed in a shell is.
    fn resolve_paths(&mut self, file: &Path, env: &config::Map<String, String>) {
        let real = crate::paths::resolve(&crate::paths::cwd(), file);
        let dir = real.parent().unwrap_or(Path::new("/")).to_path_buf();
        let cwd = crate::paths::cwd();
        let from_env = |key: &str| {
            env.keys().any(|k| {
                k.strip_prefix("FLINKD_")
                    .is_some_and(|k| k.eq_ignore_ascii_case(key))
            })
        };
        let resolve = |p: &mut PathBuf, key: &str| {
            let base = if from_env(key) { &cwd } else { &dir };
            *p = crate::paths::resolve(base, p);
        };
        resolve(&mut self.deployments_dir, "DEPLOYMENTS_DIR");
        resolve(&mut self.state_dir, "STATE_DIR");
        for d in self.jars.local_dirs.iter_mut() {
            resolve(d, "JARS__LOCAL_DIRS");
        }
        for (version, home) in self.flink.versions.iter_mut() {
            resolve(home, &format!("FLINK__VERSIONS__{version}"));
        }
        if let Some(k) = self.kubernetes.kubeconfig.as_mut() {
            resolve(k, "KUBERNETES__KUBECONFIG");
        }
    }

    /// Rules a type cannot express; the error names the key.
    fn check(&self) -> Result<(), (String, String)> {
        if !self.api.listen.ip().is_loopback()
            && self.api.token.as_deref().is_none_or(str::is_empty)
        {
            return Err((
                "api.token".into(),
                format!(
                    "required when api.listen ({}) is not a loopback address: anyone who reaches it could drive every Deployment",
                    self.api.listen
                ),
            ));
        }
        if let Some(cpu) = self.quota.cpu {
            if !(cpu >= 0.0 && cpu.is_finite()) {
                return Err(("quota.cpu".into(), format!("must be ≥ 0, not {cpu}")));
            }
        }
        if !self.flink.versions.is_empty()
            && !self
                .flink
                .versions
                .contains_key(&self.flink.default_version)
        {
            return Err((
                "flink.default_version".into(),
                format!(
                    "`{}` is not among [flink.versions] ({})",
                    self.flink.default_version,
                    self.known_versions()
                ),
            ));
        }
        if self.timing.cancel_attempts == 0 {
            return Err(("timing.cancel_attempts".into(), "must be ≥ 1".into()));
        }
        if self.timing.restart_threshold == 0 {
            return Err(("timing.restart_threshold".into(), "must be ≥ 1".into()));
        }
        if self.timing.poll_interval.is_zero() {
            return Err(("timing.poll_interval".into(), "must be > 0".into()));
        }

        if self.files.on_delete == crate::spec::DesiredState::Running {
            return Err((
                "files.on_delete".into(),
                "must be `suspended` or `cancelled`".into(),
            ));
        }
        if self.files.max_yaml_nodes == 0 {
            return Err(("files.max_yaml_nodes".into(), "must be ≥ 1".into()));
        }
        if !(1..=MAX_YAML_DEPTH).contains(&self.files.max_yaml_depth) {
            return Err((
                "files.max_yaml_depth".into(),
                format!("must be 1 to {MAX_YAML_DEPTH}"),
            ));
        }
        if self.store.max_events_per_deployment == 0 {
            return Err((
                "store.max_events_per_deployment".into(),
                "must be ≥ 1".into(),
            ));
        }
        Ok(())
    }

    /// The configured Flink versions, comma-separated, for error messages.
    pub fn known_versions(&self) -> String {
        let v: Vec<&str> = self.flink.versions.keys().map(String::as_str).collect();
        if v.is_empty() {
            "none configured".to_string()
        } else {
            v.join(", ")
        }
    }

    /// The working directory of a Deployment's local clusters: what its jobs write to
    /// relative paths outlives each job's cluster.
    pub fn work_dir(&self, deployment: &crate::spec::Identity) -> PathBuf {
        self.state_dir
            .join("work")
            .join(&deployment.namespace)
            .join(&deployment.name)
    }

    /// How local clusters' JVMs are started, with the cache of their sizing.
    pub fn launcher(&self) -> crate::cluster::local::Launcher {
        match self.flink.start {
            StartMode::Direct => {
                let l = crate::cluster::local::Launcher::direct(self.state_dir.join("launch"));
                if self.flink.class_data_sharing {
                    l
                } else {
                    l.without_class_data_sharing()
                }
            }
            StartMode::Scripts => crate::cluster::local::Launcher::scripts(),
        }
    }

    /// The SQLite file of the store.
    pub fn store_path(&self) -> PathBuf {
        self.state_dir.join("flinkd.db")
    }
}

#[cfg(test)]
mod tests;
