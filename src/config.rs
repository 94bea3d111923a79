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
            defaults: DeploymentSpec::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Address of the HTTP API; loopback unless you mean otherwise.
    pub listen: SocketAddr,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8089)),
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
}

impl Default for FlinkConfig {
    fn default() -> Self {
        FlinkConfig {
            default_version: "2.3".to_string(),
            versions: BTreeMap::new(),
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
    /// How long a cluster's processes get to exit after SIGTERM before SIGKILL.
    #[serde(with = "humantime_serde")]
    pub cluster_stop_grace: Duration,
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
            cluster_stop_grace: Duration::from_secs(10),
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
        for (version, home) in self.flink.versions.iter_mut() {
            resolve(home, &format!("FLINK__VERSIONS__{version}"));
        }
    }

    /// Rules a type cannot express; the error names the key.
    fn check(&self) -> Result<(), (String, String)> {
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

    /// The lifecycle's bounded waits.
    pub fn lifecycle_timing(&self) -> crate::lifecycle::Timing {
        crate::lifecycle::Timing {
            start_timeout: self.timing.job_start_timeout,
            savepoint_timeout: self.timing.savepoint_timeout,
            cancel_deadline: self.timing.cancel_deadline,
            cancel_attempts: self.timing.cancel_attempts,
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

    /// The SQLite file of the store.
    pub fn store_path(&self) -> PathBuf {
        self.state_dir.join("flinkd.db")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::DesiredState;

    fn write(dir: &Path, text: &str) -> PathBuf {
        let p = dir.join("flinkd.toml");
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn empty_file_gives_every_default() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = Config::load(&write(dir.path(), "")).unwrap();
        let expected = Config {
            deployments_dir: PathBuf::from("/etc/flinkd/deployments"),
            state_dir: PathBuf::from("/var/lib/flinkd"),
            ..Config::default()
        };
        assert_eq!(cfg, expected);
        assert_eq!(cfg.api.listen.to_string(), "127.0.0.1:8089");
        assert_eq!(cfg.quota.cpu, None);
        assert_eq!(cfg.timing.cancel_deadline, Duration::from_secs(180));
        assert_eq!(cfg.timing.cancel_attempts, 5);
        assert_eq!(cfg.timing.restart_window_failing, Duration::from_secs(600));
        assert_eq!(
            cfg.timing.restart_window_unstable,
            Duration::from_secs(3600)
        );
        assert_eq!(cfg.files.max_file_size, Bytes(1024 * 1024));
    }

    #[test]
    fn paths_are_absolute_however_the_config_is_named() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join("repo/config")).unwrap();
        let file = write(
            &root.join("repo/config"),
            "deployments_dir = \"../examples\"\nstate_dir = \"../.flinkd/state\"\n[flink.versions]\n\"2.3\" = \"../.flinkd/flink-2.3\"\n",
        );
        let expect = |cfg: &Config| {
            assert_eq!(cfg.state_dir, root.join("repo/.flinkd/state"));
            assert_eq!(cfg.deployments_dir, root.join("repo/examples"));
            assert_eq!(
                cfg.flink.versions["2.3"],
                root.join("repo/.flinkd/flink-2.3")
            );
        };
        // `config/flinkd.toml` as given on a command line run from the repository: the
        // relative name is taken from the working directory.
        let relative = Path::new("config/flinkd.toml");
        let mut cfg = Config::load(&file).unwrap();
        expect(&cfg);
        cfg.state_dir = PathBuf::from("../.flinkd/state");
        let from_root = crate::paths::resolve(&root.join("repo"), relative);
        cfg.resolve_paths(&from_root, &Default::default());
        expect(&cfg);
        // A symlink to the config: its paths are the real file's neighbours.
        std::os::unix::fs::symlink(&file, root.join("linked.toml")).unwrap();
        expect(&Config::load(&root.join("linked.toml")).unwrap());
        // Set from the environment: relative to the working directory.
        let mut cfg = Config::load(&file).unwrap();
        cfg.state_dir = PathBuf::from("state-from-env");
        let env = [("FLINKD_STATE_DIR".to_string(), "state-from-env".to_string())]
            .into_iter()
            .collect();
        cfg.resolve_paths(&file, &env);
        assert_eq!(
            cfg.state_dir,
            crate::paths::resolve(&crate::paths::cwd(), Path::new("state-from-env"))
        );
        assert!(cfg.state_dir.is_absolute());
        assert_eq!(cfg.deployments_dir, root.join("repo/examples"));
    }

    #[test]
    fn reads_every_section_and_resolves_relative_paths() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(
            dir.path(),
            r#"
deployments_dir = "deployments"
state_dir = "/tmp/state"
[api]
listen = "127.0.0.1:9999"
[quota]
cpu = 4
[flink]
default_version = "1.20"
versions = { "1.20" = "flink-1.20", "2.3" = "/opt/flink-2.3" }
[timing]
poll_interval = "500ms"
cancel_deadline = "10s"
[store]
max_events_per_deployment = 10
[files]
max_file_size = "2Mi"
[defaults]
state = "suspended"
maxJobCreationAttempts = 7
[defaults.template.spec]
parallelism = 3
[defaults.template.spec.flinkConfiguration]
"taskmanager.numberOfTaskSlots" = "2"
"#,
        );
        let cfg = Config::load(&file).unwrap();
        assert_eq!(cfg.deployments_dir, dir.path().join("deployments"));
        assert_eq!(cfg.state_dir, PathBuf::from("/tmp/state"));
        assert_eq!(cfg.api.listen.port(), 9999);
        assert_eq!(cfg.quota.cpu, Some(4.0));
        assert_eq!(cfg.flink.versions["1.20"], dir.path().join("flink-1.20"));
        assert_eq!(cfg.timing.poll_interval, Duration::from_millis(500));
        assert_eq!(cfg.store.max_events_per_deployment, 10);
        assert_eq!(cfg.files.max_file_size, Bytes(2 * 1024 * 1024));
        assert_eq!(cfg.defaults.state, Some(DesiredState::Suspended));
        assert_eq!(cfg.defaults.max_job_creation_attempts, Some(7));
        let t = cfg.defaults.template.unwrap().spec.unwrap();
        assert_eq!(t.parallelism, Some(3));
        assert_eq!(
            t.flink_configuration.unwrap()["taskmanager.numberOfTaskSlots"],
            "2"
        );
    }

    #[test]
    fn unknown_key_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = Config::load(&write(dir.path(), "[timing]\npol_interval = \"1s\"\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("timing"), "{err}");
        assert!(err.contains("pol_interval"), "{err}");
    }

    #[test]
    fn bad_value_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = Config::load(&write(dir.path(), "[timing]\ncancel_deadline = \"soon\"\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("timing.cancel_deadline"), "{err}");
        let err = Config::load(&write(dir.path(), "[quota]\ncpu = -1\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("quota.cpu"), "{err}");
        let err = Config::load(&write(
            dir.path(),
            "[flink]\ndefault_version = \"9\"\nversions = { \"2.3\" = \"/x\" }\n",
        ))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("flink.default_version") && err.contains("2.3"),
            "{err}"
        );
    }

    #[test]
    fn only_config_keys_are_taken_from_the_environment() {
        let vars = [
            ("FLINKD_STATE_DIR", "/srv"),
            ("FLINKD_TIMING__POLL_INTERVAL", "1s"),
            ("FLINKD_LOG", "debug"),
            ("FLINKD_TEST_HOME", "/x"),
            ("HOME", "/root"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        let mut kept: Vec<String> = config_env(vars.into_iter()).into_keys().collect();
        kept.sort();
        assert_eq!(kept, ["FLINKD_STATE_DIR", "FLINKD_TIMING__POLL_INTERVAL"]);
    }

    #[test]
    fn every_top_level_key_can_come_from_the_environment() {
        let cfg = serde_json::to_value(Config::default()).unwrap();
        let keys: Vec<String> = cfg
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.to_uppercase())
            .collect();
        let mut listed: Vec<String> = TOP_LEVEL_KEYS.iter().map(|k| k.to_string()).collect();
        let mut keys = keys;
        keys.sort();
        listed.sort();
        assert_eq!(keys, listed);
    }

    #[test]
    fn missing_file_is_an_error() {
        let err = Config::load(Path::new("/nonexistent/flinkd.toml")).unwrap_err();
        assert!(err.to_string().contains("no such file"));
    }
}

#[cfg(test)]
mod documented {
    //! `config/flinkd.toml` documents every key with its default on a `#= key = value`
    //! line. These tests keep that page and the code in step.

    use super::*;

    fn bundled() -> String {
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/flinkd.toml"))
            .unwrap()
    }

    /// The documented defaults as a TOML file: section headers and `#=` lines.
    fn documented_defaults() -> String {
        bundled()
            .lines()
            .filter_map(|l| {
                if l.starts_with('[') {
                    Some(l.to_string())
                } else {
                    l.strip_prefix("#= ").map(str::to_string)
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn keys(v: &serde_json::Value, prefix: &str, out: &mut Vec<String>) {
        if let serde_json::Value::Object(m) = v {
            for (k, v) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                match v {
                    serde_json::Value::Object(inner) if !inner.is_empty() => keys(v, &key, out),
                    _ => out.push(key),
                }
            }
        }
    }

    #[test]
    fn documented_defaults_are_the_real_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("defaults.toml");
        // quota.cpu is documented with an example value, since its default is "unset".
        let text = documented_defaults().replace("cpu = 4.0", "");
        std::fs::write(&file, text).unwrap();
        let parsed = Config::load(&file).unwrap();
        assert_eq!(parsed, Config::default());
    }

    #[test]
    fn every_key_is_documented() {
        let documented = bundled();
        let mut all = Vec::new();
        let mut cfg = serde_json::to_value(Config::default()).unwrap();
        cfg["quota"]["cpu"] = serde_json::json!(1.0);
        keys(&cfg, "", &mut all);
        for key in all {
            let (table, name) = key.rsplit_once('.').unwrap_or(("", &key));
            let line = format!("#= {name} = ");
            let in_table = if table.is_empty() {
                documented.split("\n[").next().unwrap_or("").to_string()
            } else {
                documented
                    .split(&format!("\n[{table}]\n"))
                    .nth(1)
                    .map(|rest| rest.split("\n[").next().unwrap_or("").to_string())
                    .unwrap_or_default()
            };
            let mentioned = in_table.contains(&line)
                || (key == "defaults" && documented.contains("\n[defaults]\n"))
                || (key == "flink.versions" && documented.contains("\n[flink.versions]\n"));
            assert!(mentioned, "config/flinkd.toml does not document `{key}`");
        }
    }

    #[test]
    fn the_bundled_config_loads() {
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/flinkd.toml");
        let cfg = Config::load(&file).unwrap();
        assert!(cfg.deployments_dir.ends_with("examples/deployments"));
        assert!(cfg.flink.versions.contains_key(&cfg.flink.default_version));
    }
}
