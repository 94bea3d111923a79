//! Expansion: every Deployment read back is fully specified.
//!
//! The layers, highest first: the field as written in the Deployment file, the
//! namespace's `DeploymentDefaults`, `[defaults]` in the daemon config, and the built-in
//! defaults below (reference page, "Limits", and DESIGN.md). Layers merge field by field;
//! maps such as `flinkConfiguration` and `log4jLoggers` merge key by key; lists replace.
//!
//! Two values are not plain layers: the target reference (`deploymentTargetId` /
//! `deploymentTargetName`) comes as a pair from the highest layer that sets either, so a
//! Deployment naming its target by id is not given a second, conflicting name by its
//! defaults; and `numberOfTaskManagers`, when no layer sets it, is derived as
//! `ceil(parallelism / taskmanager.numberOfTaskSlots)`.

use serde_json::{Map, Value};

use crate::spec::{
    Artifact, ArtifactKind, Deployment, DeploymentSpec, DeploymentTemplate, DesiredState, Logging,
    ResourceSpec, Resources, RestoreStrategy, RestoreStrategyKind, TemplateSpec, UpgradeStrategy,
    UpgradeStrategyKind, API_VERSION, LOCAL_TARGET,
};

/// The Flink configuration key that sets a TaskManager's slots.
pub const SLOTS_KEY: &str = "taskmanager.numberOfTaskSlots";

/// The layers below a Deployment's own fields.
#[derive(Debug, Clone, Copy)]
pub struct Layers<'a> {
    /// The namespace's `DeploymentDefaults`, if it has one.
    pub namespace: Option<&'a DeploymentSpec>,
    /// `[defaults]` of the daemon config.
    pub config: &'a DeploymentSpec,
    /// `[flink] default_version` of the daemon config.
    pub flink_version: &'a str,
}

/// The built-in defaults.
pub fn builtin(flink_version: &str) -> DeploymentSpec {
    DeploymentSpec {
        state: Some(DesiredState::Running),
        upgrade_strategy: Some(UpgradeStrategy {
            kind: Some(UpgradeStrategyKind::Stateful),
        }),
        restore_strategy: Some(RestoreStrategy {
            kind: Some(RestoreStrategyKind::LatestState),
            allow_non_restored_state: Some(false),
        }),
        deployment_target_id: None,
        deployment_target_name: None,
        max_savepoint_creation_attempts: Some(4),
        max_job_creation_attempts: Some(4),
        savepoint_interval: None,
        savepoint_retention: None,
        template: Some(std::sync::Arc::new(DeploymentTemplate {
            metadata: None,
            spec: Some(TemplateSpec {
                artifact: Some(Artifact {
                    kind: Some(ArtifactKind::Jar),
                    flink_version: Some(flink_version.to_string()),
                    ..Artifact::default()
                }),
                parallelism: Some(1),
                number_of_task_managers: None,
                resources: Some(Resources {
                    job_manager: Some(ResourceSpec {
                        cpu: Some(1.0),
                        memory: Some("1g".to_string()),
                    }),
                    task_manager: Some(ResourceSpec {
                        cpu: Some(1.0),
                        memory: Some("2g".to_string()),
                    }),
                }),
                flink_configuration: Some(Default::default()),
                logging: Some(Logging {
                    logging_profile: Some("default".to_string()),
                    log4j_loggers: Some([(String::new(), "INFO".to_string())].into()),
                    log4j2_configuration_template: None,
                }),
                kubernetes: None,
            }),
        })),
    }
}

/// Merges `upper` over `lower`: objects key by key, anything else replaced.
fn merge(upper: Value, lower: Value) -> Value {
    match (upper, lower) {
        (Value::Object(mut up), Value::Object(low)) => {
            for (k, lv) in low {
                let merged = match up.remove(&k) {
                    Some(uv) => merge(uv, lv),
                    None => lv,
                };
                up.insert(k, merged);
            }
            Value::Object(up)
        }
        (Value::Null, lower) => lower,
        (upper, _) => upper,
    }
}

fn to_json(spec: &DeploymentSpec) -> Value {
    serde_json::to_value(spec).unwrap_or_else(|_| Value::Object(Map::new()))
}

/// Expands a spec through the layers.
pub fn expand_spec(explicit: &DeploymentSpec, layers: Layers<'_>) -> DeploymentSpec {
    let ordered: Vec<&DeploymentSpec> = [Some(explicit), layers.namespace, Some(layers.config)]
        .into_iter()
        .flatten()
        .collect();
    let builtin = builtin(layers.flink_version);
    let merged = ordered
        .iter()
        .rev()
        .fold(to_json(&builtin), |acc, layer| merge(to_json(layer), acc));
    // Each layer is a valid spec, and merging valid specs field by field yields one; the
    // fallback only keeps a bug here from taking the process down.
    let mut spec: DeploymentSpec =
        serde_json::from_value(merged).unwrap_or_else(|_| explicit.clone());

    let target = ordered
        .iter()
        .find(|l| l.deployment_target_id.is_some() || l.deployment_target_name.is_some());
    spec.deployment_target_id = target.and_then(|l| l.deployment_target_id);
    spec.deployment_target_name = target.and_then(|l| l.deployment_target_name.clone());
    if target.is_none() {
        spec.deployment_target_name = Some(LOCAL_TARGET.to_string());
    }

    if let Some(t) = spec
        .template
        .as_mut()
        .map(std::sync::Arc::make_mut)
        .and_then(|t| t.spec.as_mut())
    {
        if t.number_of_task_managers.is_none() {
            let parallelism = t.parallelism.unwrap_or(1).max(1);
            let slots = slots_per_task_manager(t).unwrap_or(1).max(1);
            t.number_of_task_managers = Some((parallelism + slots - 1) / slots);
        }
    }
    spec
}

/// `taskmanager.numberOfTaskSlots` of a template, when set and a number.
pub fn slots_per_task_manager(t: &TemplateSpec) -> Option<i64> {
    t.flink_configuration
        .as_ref()
        .and_then(|c| c.get(SLOTS_KEY))
        .and_then(|v| v.trim().parse().ok())
}

/// Expands a Deployment: its spec through the layers, its namespace and apiVersion made
/// explicit. Status is not the file's business and is dropped.
pub fn expand(deployment: &Deployment, layers: Layers<'_>) -> Deployment {
    let mut d = deployment.clone();
    d.api_version = API_VERSION.to_string();
    d.metadata.namespace = Some(deployment.metadata.namespace().to_string());
    d.spec = expand_spec(&deployment.spec, layers);
    d.status = None;
    d
}

/// The fields (dotted paths) in which two expanded specs differ: what a change of the
/// defaults changed, for the event that says so.
pub fn changed_fields(before: &DeploymentSpec, after: &DeploymentSpec) -> Vec<String> {
    fn walk(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
                for k in keys {
                    let null = Value::Null;
                    let child = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    walk(
                        &child,
                        x.get(k).unwrap_or(&null),
                        y.get(k).unwrap_or(&null),
                        out,
                    );
                }
            }
            (x, y) if x != y => out.push(path.to_string()),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk("", &to_json(before), &to_json(after), &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn changed_fields_name_the_leaves() {
        let a: DeploymentSpec = serde_json::from_value(serde_json::json!({
            "template": {"spec": {"parallelism": 1, "flinkConfiguration": {"a.b": "1"}}}
        }))
        .unwrap();
        let b: DeploymentSpec = serde_json::from_value(serde_json::json!({
            "state": "SUSPENDED",
            "template": {"spec": {"parallelism": 2, "flinkConfiguration": {"a.b": "1", "c": "x"}}}
        }))
        .unwrap();
        assert_eq!(
            changed_fields(&a, &b),
            [
                "state",
                "template.spec.flinkConfiguration.c",
                "template.spec.parallelism"
            ]
        );
        assert!(changed_fields(&a, &a).is_empty());
    }

    fn layers<'a>(ns: Option<&'a DeploymentSpec>, cfg: &'a DeploymentSpec) -> Layers<'a> {
        Layers {
            namespace: ns,
            config: cfg,
            flink_version: "2.3",
        }
    }

    fn tspec(s: &DeploymentSpec) -> &TemplateSpec {
        s.template.as_ref().unwrap().spec.as_ref().unwrap()
    }

    #[test]
    fn builtin_defaults_fill_an_empty_spec() {
        let empty = DeploymentSpec::default();
        let s = expand_spec(&empty, layers(None, &empty));
        assert_eq!(s.state, Some(DesiredState::Running));
        assert_eq!(
            s.upgrade_strategy.as_ref().unwrap().kind,
            Some(UpgradeStrategyKind::Stateful)
        );
        let r = s.restore_strategy.as_ref().unwrap();
        assert_eq!(r.kind, Some(RestoreStrategyKind::LatestState));
        assert_eq!(r.allow_non_restored_state, Some(false));
        assert_eq!(s.max_savepoint_creation_attempts, Some(4));
        assert_eq!(s.max_job_creation_attempts, Some(4));
        assert_eq!(s.deployment_target_name.as_deref(), Some("local"));
        assert_eq!(s.deployment_target_id, None);
        let t = tspec(&s);
        assert_eq!(t.parallelism, Some(1));
        assert_eq!(t.number_of_task_managers, Some(1));
        let res = t.resources.as_ref().unwrap();
        let jm = res.job_manager.as_ref().unwrap();
        let tm = res.task_manager.as_ref().unwrap();
        assert_eq!((jm.cpu, jm.memory.as_deref()), (Some(1.0), Some("1g")));
        assert_eq!((tm.cpu, tm.memory.as_deref()), (Some(1.0), Some("2g")));
        let a = t.artifact.as_ref().unwrap();
        assert_eq!(a.kind, Some(ArtifactKind::Jar));
        assert_eq!(a.flink_version.as_deref(), Some("2.3"));
        let log = t.logging.as_ref().unwrap();
        assert_eq!(log.logging_profile.as_deref(), Some("default"));
        assert_eq!(log.log4j_loggers.as_ref().unwrap()[""], "INFO");
    }

    #[test]
    fn explicit_beats_namespace_beats_config_beats_builtin() {
        let mut cfg = DeploymentSpec {
            max_job_creation_attempts: Some(7),
            max_savepoint_creation_attempts: Some(8),
            state: Some(DesiredState::Suspended),
            ..Default::default()
        };
        cfg.template = Some(std::sync::Arc::new(DeploymentTemplate {
            metadata: None,
            spec: Some(TemplateSpec {
                parallelism: Some(5),
                ..Default::default()
            }),
        }));
        let ns = DeploymentSpec {
            max_job_creation_attempts: Some(9),
            state: Some(DesiredState::Cancelled),
            ..Default::default()
        };
        let explicit = DeploymentSpec {
            state: Some(DesiredState::Running),
            ..Default::default()
        };
        let s = expand_spec(&explicit, layers(Some(&ns), &cfg));
        assert_eq!(s.state, Some(DesiredState::Running), "explicit wins");
        assert_eq!(
            s.max_job_creation_attempts,
            Some(9),
            "namespace over config"
        );
        assert_eq!(
            s.max_savepoint_creation_attempts,
            Some(8),
            "config over built-in"
        );
        assert_eq!(tspec(&s).parallelism, Some(5));
        assert_eq!(tspec(&s).number_of_task_managers, Some(5));
    }

    #[test]
    fn maps_merge_key_by_key() {
        let ns: DeploymentSpec = serde_json::from_value(serde_json::json!({
            "template": {"spec": {
                "flinkConfiguration": {"a": "ns", "b": "ns"},
                "logging": {"log4jLoggers": {"org.x": "DEBUG"}}
            }}
        }))
        .unwrap();
        let explicit: DeploymentSpec = serde_json::from_value(serde_json::json!({
            "template": {"spec": {"flinkConfiguration": {"b": "mine"}}}
        }))
        .unwrap();
        let s = expand_spec(&explicit, layers(Some(&ns), &DeploymentSpec::default()));
        let t = tspec(&s);
        let conf = t.flink_configuration.as_ref().unwrap();
        assert_eq!(conf["a"], "ns");
        assert_eq!(conf["b"], "mine");
        let loggers = t.logging.as_ref().unwrap().log4j_loggers.as_ref().unwrap();
        assert_eq!(loggers[""], "INFO");
        assert_eq!(loggers["org.x"], "DEBUG");
    }

    #[test]
    fn task_managers_derive_from_parallelism_and_slots() {
        for (parallelism, slots, expected) in [
            (1, None, 1),
            (3, None, 3),
            (4, Some("2"), 2),
            (5, Some("2"), 3),
            (2, Some("4"), 1),
        ] {
            let mut conf = std::collections::BTreeMap::new();
            if let Some(s) = slots {
                conf.insert(SLOTS_KEY.to_string(), s.to_string());
            }
            let explicit = DeploymentSpec {
                template: Some(std::sync::Arc::new(DeploymentTemplate {
                    metadata: None,
                    spec: Some(TemplateSpec {
                        parallelism: Some(parallelism),
                        flink_configuration: Some(conf),
                        ..Default::default()
                    }),
                })),
                ..Default::default()
            };
            let s = expand_spec(&explicit, layers(None, &DeploymentSpec::default()));
            assert_eq!(
                tspec(&s).number_of_task_managers,
                Some(expected),
                "p={parallelism} slots={slots:?}"
            );
        }
    }

    #[test]
    fn an_explicit_task_manager_count_is_kept() {
        let explicit = DeploymentSpec {
            template: Some(std::sync::Arc::new(DeploymentTemplate {
                metadata: None,
                spec: Some(TemplateSpec {
                    parallelism: Some(1),
                    number_of_task_managers: Some(3),
                    ..Default::default()
                }),
            })),
            ..Default::default()
        };
        let s = expand_spec(&explicit, layers(None, &DeploymentSpec::default()));
        assert_eq!(tspec(&s).number_of_task_managers, Some(3));
    }

    #[test]
    fn target_reference_comes_from_one_layer() {
        let id = Uuid::new_v4();
        let ns = DeploymentSpec {
            deployment_target_name: Some("k8s".into()),
            ..Default::default()
        };
        let explicit = DeploymentSpec {
            deployment_target_id: Some(id),
            ..Default::default()
        };
        let s = expand_spec(&explicit, layers(Some(&ns), &DeploymentSpec::default()));
        assert_eq!(s.deployment_target_id, Some(id));
        assert_eq!(s.deployment_target_name, None, "no name from the defaults");

        let s = expand_spec(
            &DeploymentSpec::default(),
            layers(Some(&ns), &DeploymentSpec::default()),
        );
        assert_eq!(s.deployment_target_name.as_deref(), Some("k8s"));
    }

    #[test]
    fn expansion_is_idempotent() {
        let empty = DeploymentSpec::default();
        let once = expand_spec(&empty, layers(None, &empty));
        let twice = expand_spec(&once, layers(None, &empty));
        assert_eq!(once, twice);
    }
}
