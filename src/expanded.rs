//! A Deployment's spec once every layer of defaults is applied: a type with no optional
//! fields, so that no module keeps its own copy of a default (the quota's cores, a
//! cluster's memory, the limits).
//!
//! [`ExpandedSpec::of`] reads a spec that [`crate::defaults`] expanded and
//! [`crate::validate`] accepted; a field missing there is a defect of the expansion,
//! reported as such rather than papered over with a second default.

use std::collections::BTreeMap;

use crate::quantity::Bytes;
use crate::spec::{
    DeploymentSpec, DesiredState, RestoreStrategyKind, TemplateSpec, UpgradeStrategyKind,
};

/// A spec with every field decided.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpandedSpec {
    pub state: DesiredState,
    pub upgrade: UpgradeStrategyKind,
    pub restore: RestoreStrategyKind,
    pub allow_non_restored_state: bool,
    pub max_savepoint_creation_attempts: u32,
    pub max_job_creation_attempts: u32,
    /// Periodic savepoints, if set.
    pub savepoint_interval: Option<std::time::Duration>,
    /// Which snapshots are disposed of, if any.
    pub retention: Option<Retention>,
    pub template: ExpandedTemplate,
}

/// `spec.template.spec`, every field decided.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpandedTemplate {
    pub jar_uri: String,
    /// Lower-case hex, when the Deployment gives one.
    pub jar_sha256: Option<String>,
    pub entry_class: Option<String>,
    pub main_args: Option<String>,
    /// As written: `1.10` stays `1.10`.
    pub flink_version: String,
    pub parallelism: u32,
    pub number_of_task_managers: u32,
    pub job_manager: Process,
    pub task_manager: Process,
    pub flink_configuration: BTreeMap<String, String>,
    pub log4j_loggers: BTreeMap<String, String>,
}

/// `spec.savepointRetention`, decided: at least one of `keep` and `max_age`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Retention {
    pub keep: Option<u32>,
    pub max_age: Option<std::time::Duration>,
    pub dispose_imported: bool,
}

impl Retention {
    /// `spec.savepointRetention` decided; `None` keeps everything.
    pub fn of(r: &crate::spec::SavepointRetention) -> Result<Option<Retention>, NotExpanded> {
        let keep = r
            .keep
            .map(|n| u32::try_from(n).ok().filter(|n| *n >= 1))
            .map(|n| n.ok_or(NotExpanded("savepointRetention.keep")))
            .transpose()?;
        let max_age = r
            .max_age
            .as_deref()
            .map(|a| {
                humantime::parse_duration(a.trim())
                    .map_err(|_| NotExpanded("savepointRetention.maxAge"))
            })
            .transpose()?;
        Ok((keep.is_some() || max_age.is_some()).then_some(Retention {
            keep,
            max_age,
            dispose_imported: r.dispose_imported.unwrap_or(false),
        }))
    }
}

/// The CPU and memory of one JobManager or TaskManager.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Process {
    pub cpu: f64,
    pub memory: Bytes,
}

/// A field the expansion should have filled in and did not.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the expanded spec has no {0}")]
pub struct NotExpanded(pub &'static str);

fn need<T>(v: Option<T>, field: &'static str) -> Result<T, NotExpanded> {
    v.ok_or(NotExpanded(field))
}

fn count(v: Option<i64>, field: &'static str) -> Result<u32, NotExpanded> {
    let n = need(v, field)?;
    u32::try_from(n)
        .ok()
        .filter(|n| *n >= 1)
        .ok_or(NotExpanded(field))
}

impl ExpandedSpec {
    /// Reads an expanded, valid spec.
    pub fn of(spec: &DeploymentSpec) -> Result<ExpandedSpec, NotExpanded> {
        let upgrade = need(spec.upgrade_strategy.as_ref(), "upgradeStrategy")?;
        let restore = need(spec.restore_strategy.as_ref(), "restoreStrategy")?;
        let template = need(
            spec.template.as_ref().and_then(|t| t.spec.as_ref()),
            "template.spec",
        )?;
        Ok(ExpandedSpec {
            state: need(spec.state, "state")?,
            upgrade: need(upgrade.kind, "upgradeStrategy.kind")?,
            restore: need(restore.kind, "restoreStrategy.kind")?,
            allow_non_restored_state: need(
                restore.allow_non_restored_state,
                "restoreStrategy.allowNonRestoredState",
            )?,
            max_savepoint_creation_attempts: count(
                spec.max_savepoint_creation_attempts,
                "maxSavepointCreationAttempts",
            )?,
            max_job_creation_attempts: count(
                spec.max_job_creation_attempts,
                "maxJobCreationAttempts",
            )?,
            savepoint_interval: spec
                .savepoint_interval
                .as_deref()
                .map(|i| {
                    humantime::parse_duration(i.trim())
                        .map_err(|_| NotExpanded("savepointInterval"))
                })
                .transpose()?,
            retention: spec
                .savepoint_retention
                .as_ref()
                .map(Retention::of)
                .transpose()?
                .flatten(),
            template: ExpandedTemplate::of(template)?,
        })
    }

    /// The CPU cores a job of this spec uses: `jobManager.cpu + numberOfTaskManagers ×
    /// taskManager.cpu` (reference page, "CPU Quota").
    pub fn cores(&self) -> f64 {
        let t = &self.template;
        t.job_manager.cpu + f64::from(t.number_of_task_managers) * t.task_manager.cpu
    }

    /// The process memory of a cluster of this spec: its JobManager and TaskManagers.
    pub fn cluster_memory(&self) -> u64 {
        let t = &self.template;
        t.job_manager.memory.0 + u64::from(t.number_of_task_managers) * t.task_manager.memory.0
    }
}

impl ExpandedTemplate {
    /// Reads an expanded `template.spec` (a Job record's).
    pub fn of(template: &TemplateSpec) -> Result<ExpandedTemplate, NotExpanded> {
        let artifact = need(template.artifact.as_ref(), "template.spec.artifact")?;
        let resources = need(template.resources.as_ref(), "template.spec.resources")?;
        let process = |r: Option<&crate::spec::ResourceSpec>,
                       field: &'static str|
         -> Result<Process, NotExpanded> {
            let r = need(r, field)?;
            let memory = need(r.memory.as_deref(), field)?;
            Ok(Process {
                cpu: need(r.cpu, field)?,
                memory: Bytes::parse(memory).map_err(|_| NotExpanded(field))?,
            })
        };
        Ok(ExpandedTemplate {
            jar_uri: need(artifact.jar_uri.clone(), "template.spec.artifact.jarUri")?,
            jar_sha256: artifact.jar_sha256.as_ref().map(|h| h.to_ascii_lowercase()),
            entry_class: artifact.entry_class.clone(),
            main_args: artifact.main_args.clone(),
            flink_version: need(
                artifact.flink_version.clone(),
                "template.spec.artifact.flinkVersion",
            )?,
            parallelism: count(template.parallelism, "template.spec.parallelism")?,
            number_of_task_managers: count(
                template.number_of_task_managers,
                "template.spec.numberOfTaskManagers",
            )?,
            job_manager: process(
                resources.job_manager.as_ref(),
                "template.spec.resources.jobManager",
            )?,
            task_manager: process(
                resources.task_manager.as_ref(),
                "template.spec.resources.taskManager",
            )?,
            flink_configuration: template.flink_configuration.clone().unwrap_or_default(),
            log4j_loggers: template
                .logging
                .as_ref()
                .and_then(|l| l.log4j_loggers.clone())
                .unwrap_or_default(),
        })
    }
}

/// A template expanded with the built-in defaults only (for tests and tools).
pub fn builtin_template(template: &TemplateSpec, flink_version: &str) -> ExpandedTemplate {
    let spec = DeploymentSpec {
        template: Some(std::sync::Arc::new(crate::spec::DeploymentTemplate {
            metadata: None,
            spec: Some(template.clone()),
        })),
        ..DeploymentSpec::default()
    };
    let layers = crate::defaults::Layers {
        namespace: None,
        config: &DeploymentSpec::default(),
        flink_version,
    };
    let mut expanded = crate::defaults::expand_spec(&spec, layers);
    if let Some(t) = expanded
        .template
        .as_mut()
        .map(std::sync::Arc::make_mut)
        .and_then(|t| t.spec.as_mut())
    {
        t.artifact
            .get_or_insert_with(Default::default)
            .jar_uri
            .get_or_insert_with(|| "job.jar".into());
    }
    let t = expanded
        .template
        .and_then(|t| std::sync::Arc::unwrap_or_clone(t).spec)
        .unwrap_or_default();
    ExpandedTemplate::of(&t).expect("the built-in defaults fill every field")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::defaults::{expand_spec, Layers};

    fn expanded(json: serde_json::Value) -> Result<ExpandedSpec, NotExpanded> {
        let spec: DeploymentSpec = serde_json::from_value(json).unwrap();
        let layers = Layers {
            namespace: None,
            config: &DeploymentSpec::default(),
            flink_version: "2.3",
        };
        ExpandedSpec::of(&expand_spec(&spec, layers))
    }

    #[test]
    fn every_field_comes_from_the_expansion() {
        let e = expanded(serde_json::json!({
            "template": {"spec": {"artifact": {"jarUri": "/j.jar"}, "parallelism": 3,
                "flinkConfiguration": {"taskmanager.numberOfTaskSlots": "2"}}}
        }))
        .unwrap();
        assert_eq!(e.state, DesiredState::Running);
        assert_eq!(e.upgrade, UpgradeStrategyKind::Stateful);
        assert_eq!(e.restore, RestoreStrategyKind::LatestState);
        assert_eq!(
            (
                e.max_job_creation_attempts,
                e.max_savepoint_creation_attempts
            ),
            (4, 4)
        );
        assert_eq!(e.template.flink_version, "2.3");
        assert_eq!(e.template.number_of_task_managers, 2, "ceil(3 / 2)");
        assert_eq!(e.template.job_manager.memory, Bytes::parse("1g").unwrap());
        assert_eq!(e.template.task_manager.memory, Bytes::parse("2g").unwrap());
        assert_eq!(e.cores(), 1.0 + 2.0 * 1.0);
        assert_eq!(e.template.log4j_loggers[""], "INFO");
    }

    #[test]
    fn a_spec_that_was_not_expanded_says_what_it_lacks() {
        let spec: DeploymentSpec = serde_json::from_value(serde_json::json!({
            "template": {"spec": {"artifact": {"jarUri": "/j.jar"}}}
        }))
        .unwrap();
        assert_eq!(
            ExpandedSpec::of(&spec).unwrap_err().to_string(),
            "the expanded spec has no upgradeStrategy"
        );
        assert_eq!(
            expanded(serde_json::json!({})).unwrap_err(),
            NotExpanded("template.spec.artifact.jarUri")
        );
    }
}
