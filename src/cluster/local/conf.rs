//! The generated Flink config of a local cluster: the distribution's, flinkd's
//! defaults, the Deployment's `flinkConfiguration`, and what makes the cluster this
//! cluster (its ports, directories and identity), which the Deployment cannot change.

use std::collections::BTreeMap;
use std::path::Path;

use super::ClusterError;

/// The config key of a cluster's identity (not a name Flink masks, so that its REST
/// API shows it: `GET /jobmanager/config`).
pub const IDENTITY_KEY: &str = "flinkd.cluster.identity";

/// A Flink setting's name (`state.backend.type`, `rest.flamegraph.enabled`): anything
/// else could nest, comment out or add lines of the generated config.
pub fn is_setting_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// The keys flinkd sets in every cluster's config, which a Deployment's
/// `flinkConfiguration` may not: they make the cluster this cluster (the ports flinkd
/// polls, the addresses it binds, the directories it reads and removes).
pub const OWNED_KEYS: &[&str] = &[
    "jobmanager.rpc.address",
    "jobmanager.bind-host",
    "jobmanager.rpc.port",
    "taskmanager.bind-host",
    "taskmanager.host",
    "taskmanager.rpc.port",
    "taskmanager.data.port",
    "blob.server.port",
    "rest.address",
    "rest.bind-address",
    "rest.port",
    "rest.bind-port",
    "env.log.dir",
    "env.pid.dir",
    "io.tmp.dirs",
    "web.upload.dir",
    IDENTITY_KEY,
];

/// Settings flinkd makes in every generated config, below the Deployment's
/// `flinkConfiguration`: short refresh intervals so that the supervisor sees changes
/// promptly (DESIGN.md, "Flink on this kind of machine"), and retained checkpoints so
/// that LATEST_STATE can restore from them.
pub(crate) const FLINKD_DEFAULTS: &[(&str, &str)] = &[
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

/// Flattens a nested YAML mapping into Flink's dotted keys.
pub(super) fn flatten(prefix: &str, v: &serde_yaml::Value, out: &mut BTreeMap<String, String>) {
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

/// A path YAML reads as itself unquoted (no space, quote, `#`, `:` or other syntax).
pub(super) fn plain_path(v: &str) -> bool {
    v.starts_with('/')
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+".contains(c))
}

/// Quotes a value for a flat YAML line.
pub(crate) fn yaml_scalar(v: &str) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| format!("{v:?}"))
}

/// Writes `log4j.properties` (used by the JobManager and TaskManagers) from the
/// distribution's, with the root level and the Deployment's loggers.
pub(super) fn write_log4j(
    conf: &Path,
    loggers: &BTreeMap<String, String>,
) -> Result<(), ClusterError> {
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
        // Validation refused these; a line break would add a line of its own.
        if name
            .chars()
            .chain(level.chars())
            .any(|c| c.is_control() || c == '\\')
        {
            return Err(ClusterError::Setup(format!(
                "the logger `{}` holds a control character or a backslash",
                name.escape_debug()
            )));
        }
        text.push_str(&format!(
            "logger.flinkd{i}.name = {name}\nlogger.flinkd{i}.level = {level}\n"
        ));
    }
    std::fs::write(&path, text).map_err(|e| ClusterError::io("write log4j.properties", e))
}
