//! The field rules of a spec (a Deployment's, expanded, or a DeploymentDefaults'),
//! each error noting the layer an inherited value came from.

use std::collections::BTreeMap;
use std::path::Path;

use super::{Entry, MIN_CPU, MIN_JOB_MANAGER_MEMORY, MIN_TASK_MANAGER_MEMORY};
use crate::cluster::local::{is_setting_name, OWNED_KEYS};
use crate::config::Config;
use crate::defaults::SLOTS_KEY;
use crate::diagnostic::Diagnostic;
use crate::quantity::Bytes;
use crate::resources::Origin;
use crate::source::{FieldPath, Segment};
use crate::spec::{DeploymentDefaults, DeploymentSpec, RestoreStrategyKind, UpgradeStrategyKind};

/// Which layer set a field, so that an error about an inherited value says where to fix it.
pub(super) enum Provenance<'a> {
    /// The resource's own fields (a DeploymentDefaults file).
    Own,
    /// An expanded Deployment.
    Layered {
        explicit: &'a DeploymentSpec,
        namespace: Option<&'a Entry<DeploymentDefaults>>,
        config: &'a DeploymentSpec,
    },
}

impl Provenance<'_> {
    /// A note to append to a message about the field at `path` (below `spec`).
    fn note(&self, path: &FieldPath) -> String {
        let Provenance::Layered {
            explicit,
            namespace,
            config,
        } = self
        else {
            return String::new();
        };
        let below_spec = FieldPath(path.0[1..].to_vec());
        if sets(explicit, &below_spec) {
            return String::new();
        }
        if let Some(ns) = namespace.filter(|n| sets(&n.resource.spec, &below_spec)) {
            let at = ns.origin.map.locate(path);
            return format!(
                " (inherited from DeploymentDefaults `{}` at {}:{at})",
                ns.resource.metadata.name,
                ns.origin.file.display()
            );
        }
        if sets(config, &below_spec) {
            return " (inherited from [defaults] in the daemon config)".to_string();
        }
        String::new()
    }
}

/// Whether `spec` sets the field at `path`.
fn sets(spec: &DeploymentSpec, path: &FieldPath) -> bool {
    let Ok(mut v) = serde_json::to_value(spec) else {
        return false;
    };
    for seg in &path.0 {
        v = match (seg, v) {
            (Segment::Key(k), serde_json::Value::Object(mut m)) => match m.remove(k) {
                Some(x) => x,
                None => return false,
            },
            _ => return false,
        };
    }
    !v.is_null()
}

/// Field rules on a spec. `complete` is set for an expanded Deployment, where every
/// defaulted field is present and the jar is required. `local_flink`: its jobs run on
/// this host's Flink distributions (not in a Kubernetes target's images), so its
/// `flinkVersion` must be one of the config's.
pub(super) fn check_spec(
    spec: &DeploymentSpec,
    origin: &Origin,
    provenance: &Provenance<'_>,
    config: Option<&Config>,
    complete: bool,
    local_flink: bool,
) -> Vec<Diagnostic> {
    let mut report = Report {
        origin,
        provenance,
        out: Vec::new(),
    };
    let at_least_one = |v: Option<i64>| v.filter(|n| *n < 1);

    if let Some(n) = at_least_one(spec.max_savepoint_creation_attempts) {
        report.at(
            "spec.maxSavepointCreationAttempts",
            format!("must be ≥ 1, not {n}"),
        );
    }
    if let Some(n) = at_least_one(spec.max_job_creation_attempts) {
        report.at(
            "spec.maxJobCreationAttempts",
            format!("must be ≥ 1, not {n}"),
        );
    }
    if let Some(r) = &spec.savepoint_retention {
        if let Some(n) = r.keep.filter(|n| *n < 1) {
            report.at(
                "spec.savepointRetention.keep",
                format!("must be ≥ 1 (the newest snapshot is always kept), not {n}"),
            );
        }
        if let Some(a) = &r.max_age {
            if let Err(e) = humantime::parse_duration(a.trim()) {
                report.at(
                    "spec.savepointRetention.maxAge",
                    format!("`{a}` is not a duration such as 30d or 12h: {e}"),
                );
            }
        }
        if r.keep.is_none() && r.max_age.is_none() {
            report.warn(
                "spec.savepointRetention",
                "neither keep nor maxAge is set: every snapshot is kept",
            );
        }
    }
    if let Some(i) = &spec.savepoint_interval {
        match humantime::parse_duration(i.trim()) {
            Ok(d) if d >= MIN_SAVEPOINT_INTERVAL => {}
            Ok(_) => report.at(
                "spec.savepointInterval",
                format!("must be at least {} (a savepoint every few seconds is a checkpoint's job), not `{i}`", humantime::format_duration(MIN_SAVEPOINT_INTERVAL)),
            ),
            Err(e) => report.at(
                "spec.savepointInterval",
                format!("`{i}` is not a duration such as 30m or 1h: {e}"),
            ),
        }
    }

    let t = spec.template.as_ref().and_then(|t| t.spec.as_ref());
    if let Some(t) = t {
        let base = "spec.template.spec";
        if let Some(n) = at_least_one(t.parallelism) {
            report.at(
                &format!("{base}.parallelism"),
                format!("must be ≥ 1, not {n}"),
            );
        }
        if let Some(n) = at_least_one(t.number_of_task_managers) {
            report.at(
                &format!("{base}.numberOfTaskManagers"),
                format!("must be ≥ 1, not {n}"),
            );
        }
        let resources = t.resources.as_ref();
        for (name, r, min) in [
            (
                "jobManager",
                resources.and_then(|r| r.job_manager.as_ref()),
                MIN_JOB_MANAGER_MEMORY,
            ),
            (
                "taskManager",
                resources.and_then(|r| r.task_manager.as_ref()),
                MIN_TASK_MANAGER_MEMORY,
            ),
        ] {
            let Some(r) = r else { continue };
            if let Some(cpu) = r.cpu {
                if !(cpu >= MIN_CPU && cpu.is_finite()) {
                    report.at(
                        &format!("{base}.resources.{name}.cpu"),
                        format!("must be ≥ {MIN_CPU} cores, not {cpu}"),
                    );
                }
            }
            if let Some(mem) = &r.memory {
                match Bytes::parse(mem) {
                    Err(m) => report.at(&format!("{base}.resources.{name}.memory"), m),
                    Ok(b) if b < min => report.at(
                        &format!("{base}.resources.{name}.memory"),
                        format!(
                            "`{mem}` is below the minimum of {min} for a {}",
                            if name == "jobManager" {
                                "JobManager"
                            } else {
                                "TaskManager"
                            }
                        ),
                    ),
                    Ok(_) => {}
                }
            }
        }

        let slots = match t
            .flink_configuration
            .as_ref()
            .and_then(|c| c.get(SLOTS_KEY))
        {
            None => Some(1),
            Some(v) => match v.trim().parse::<i64>() {
                Ok(n) if n >= 1 => Some(n),
                _ => {
                    let mut p = FieldPath::parse(&format!("{base}.flinkConfiguration"));
                    p.0.push(Segment::Key(SLOTS_KEY.to_string()));
                    report.error(p, format!("must be a whole number ≥ 1, not `{v}`"));
                    None
                }
            },
        };
        for (key, value) in t.flink_configuration.iter().flatten() {
            let at = |report: &mut Report<'_>, m: String| {
                let mut p = FieldPath::parse(&format!("{base}.flinkConfiguration"));
                p.0.push(Segment::Key(key.clone()));
                report.error(p, m);
            };
            if !is_setting_name(key) {
                at(
                    &mut report,
                    format!("`{}` is not a Flink setting's name: letters, digits and . _ - only (one line `key: value` of the generated config, nothing nested)", key.escape_debug()),
                );
                continue;
            }
            if let Some(m) = control_character(value, "value") {
                at(&mut report, m);
                continue;
            }
            if OWNED_KEYS.contains(&key.as_str()) {
                at(
                    &mut report,
                    format!("flinkd sets `{key}` for each cluster it starts (its ports, addresses and directories are the cluster's own); remove it"),
                );
                continue;
            }
            if DIRECTORY_KEYS.contains(&key.as_str()) {
                if let Err(m) = check_directory(value) {
                    let mut p = FieldPath::parse(&format!("{base}.flinkConfiguration"));
                    p.0.push(Segment::Key(key.clone()));
                    report.error(p, m);
                }
            }
        }
        if let (Some(slots), Some(tms), Some(p)) = (slots, t.number_of_task_managers, t.parallelism)
        {
            if tms >= 1 && p >= 1 && slots.saturating_mul(tms) < p {
                report.error(
                    FieldPath::parse(&format!("{base}.parallelism")),
                    format!("parallelism {p} needs {p} task slots, but {tms} TaskManager(s) × {slots} slot(s) give {}; raise numberOfTaskManagers or {SLOTS_KEY}", slots * tms),
                );
            }
        }

        if let Some(a) = &t.artifact {
            match &a.jar_uri {
                Some(uri) => {
                    if let Err(m) = check_uri(uri) {
                        report.at(&format!("{base}.artifact.jarUri"), m);
                    }
                }
                None if complete => report.at(
                    &format!("{base}.artifact.jarUri"),
                    "required: the jar to run (file://, http(s):// or a path)".to_string(),
                ),
                None => {}
            }
            for (i, dep) in a.additional_dependencies.iter().flatten().enumerate() {
                if let Err(m) = check_uri(dep) {
                    let mut p =
                        FieldPath::parse(&format!("{base}.artifact.additionalDependencies"));
                    p.0.push(Segment::Index(i));
                    report.error(p, m);
                }
            }
            if let Some(hash) = &a.jar_sha256 {
                if hash.len() != 64 || !hash.chars().all(|c| c.is_ascii_hexdigit()) {
                    report.at(
                        &format!("{base}.artifact.jarSha256"),
                        format!("`{hash}` is not a SHA-256: 64 hex digits, as `sha256sum` prints"),
                    );
                }
            }
            if let Some(class) = &a.entry_class {
                if !is_java_class_name(class) {
                    report.at(
                        &format!("{base}.artifact.entryClass"),
                        format!("`{class}` is not a Java class name (e.g. org.example.MyJob)"),
                    );
                }
            }
            if let (Some(v), Some(cfg), true) = (&a.flink_version, config, local_flink) {
                if !cfg.flink.versions.contains_key(v) {
                    report.at(
                        &format!("{base}.artifact.flinkVersion"),
                        format!("Flink `{v}` is not configured; known versions: {} ([flink.versions] in the daemon config)", cfg.known_versions()),
                    );
                }
            }
        } else if complete {
            report.at(
                &format!("{base}.artifact"),
                "required: the jar to run".to_string(),
            );
        }

        if let Some(loggers) = t.logging.as_ref().and_then(|l| l.log4j_loggers.as_ref()) {
            check_log_levels(loggers, &mut report);
        }
    } else if complete {
        report.at(
            "spec.template",
            "required: the job to run (template.spec.artifact.jarUri)".to_string(),
        );
    }

    if let (Some(u), Some(r)) = (&spec.upgrade_strategy, &spec.restore_strategy) {
        if u.kind == Some(UpgradeStrategyKind::Stateful)
            && r.kind == Some(RestoreStrategyKind::None)
        {
            let p = FieldPath::parse("spec.restoreStrategy.kind");
            report.out.push(origin.warning(
                p,
                "upgradeStrategy STATEFUL takes a savepoint that restoreStrategy NONE never uses; STATEFUL works with LATEST_STATE or LATEST_SAVEPOINT",
            ));
        }
    }
    report.out
}

/// Collects a resource's diagnostics, noting where inherited values came from.
struct Report<'a> {
    origin: &'a Origin,
    provenance: &'a Provenance<'a>,
    out: Vec<Diagnostic>,
}

impl Report<'_> {
    /// An error at a dotted path of plain keys.
    fn at(&mut self, dotted: &str, message: String) {
        self.error(FieldPath::parse(dotted), message);
    }

    fn warn(&mut self, dotted: &str, message: &str) {
        let path = FieldPath::parse(dotted);
        self.out.push(self.origin.warning(path, message));
    }

    fn error(&mut self, path: FieldPath, message: String) {
        let note = self.provenance.note(&path);
        self.out
            .push(self.origin.error(path, format!("{message}{note}")));
    }
}

/// The shortest `spec.savepointInterval`.
pub const MIN_SAVEPOINT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

/// Why `text`, a value of the generated Flink config, cannot be one: a line break or
/// another control character would start a line of its own choosing.
fn control_character(text: &str, what: &str) -> Option<String> {
    let c = text.chars().find(|c| c.is_control())?;
    Some(format!(
        "the {what} holds the control character {:?}; a key and its value are one line of the generated Flink config",
        c
    ))
}

/// A log4j logger name: a Java package or class name (`""` is the root logger).
/// Anything else could continue or add a line of `log4j.properties`.
fn is_logger_name(name: &str) -> bool {
    name.chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '$' | '-'))
}

fn check_log_levels(loggers: &BTreeMap<String, String>, report: &mut Report<'_>) {
    const LEVELS: [&str; 8] = [
        "ALL", "TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", "OFF",
    ];
    for (logger, level) in loggers {
        if !is_logger_name(logger) {
            let mut p = FieldPath::parse("spec.template.spec.logging.log4jLoggers");
            p.0.push(Segment::Key(logger.clone()));
            report.error(
                p,
                format!("`{}` is not a logger name: letters, digits and . _ $ - only (a Java package or class, e.g. org.apache.flink)", logger.escape_debug()),
            );
            continue;
        }
        if !LEVELS.iter().any(|l| l.eq_ignore_ascii_case(level)) {
            let mut p = FieldPath::parse("spec.template.spec.logging.log4jLoggers");
            p.0.push(Segment::Key(logger.clone()));
            report.error(
                p,
                format!(
                    "`{level}` is not a log level, expected one of {}",
                    LEVELS.join(", ")
                ),
            );
        }
    }
}

/// Flink settings that name a directory: Flink runs elsewhere and reads them as given.
const DIRECTORY_KEYS: &[&str] = &[
    "state.savepoints.dir",
    "state.checkpoints.dir",
    "execution.checkpointing.dir",
    "execution.checkpointing.savepoint-dir",
];

/// A directory for Flink: a URI (`s3://…`, `file:///…`) or an absolute path. A relative
/// path would be read against a Flink process's working directory, not the file's.
pub(super) fn check_directory(value: &str) -> Result<(), String> {
    let v = value.trim();
    let ok = match v.split_once("://") {
        Some((scheme, _)) if scheme.eq_ignore_ascii_case("file") => {
            crate::paths::file_uri_path(v).is_some()
        }
        Some((scheme, rest)) => !scheme.is_empty() && !rest.is_empty(),
        None => Path::new(v).is_absolute() || v.starts_with("file:/"),
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{v}` is not an absolute path or a URI; Flink reads it in its own working directory, so write /path, file:///path or s3://bucket/path"
        ))
    }
}

/// A jar location: `file://`, `http://`, `https://`, or a path.
pub(super) fn check_uri(uri: &str) -> Result<(), String> {
    let u = uri.trim();
    if u.is_empty() {
        return Err("must not be empty".to_string());
    }
    if let Some((scheme, rest)) = u.split_once("://") {
        let scheme = scheme.to_ascii_lowercase();
        if !matches!(scheme.as_str(), "file" | "http" | "https") {
            return Err(format!(
                "unsupported scheme `{scheme}://`; use file://, http://, https:// or a path"
            ));
        }
        if rest.is_empty() || (scheme != "file" && rest.starts_with('/')) {
            return Err(format!("`{u}` has no host or path"));
        }
        if scheme == "file" && crate::paths::file_uri_path(u).is_none() {
            return Err(format!(
                "`{u}` is not a file: URI of an absolute path (file:///opt/job.jar); a relative path is written without file://"
            ));
        }
    }
    Ok(())
}

pub(super) fn is_java_class_name(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .is_some_and(|c| c.is_alphabetic() || c == '_' || c == '$')
                && chars.all(|c| c.is_alphanumeric() || c == '_' || c == '$')
        })
}
