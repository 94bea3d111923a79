//! The four objects of a job's cluster on a Kubernetes target, from its spec.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapVolumeSource, Container, ContainerPort, EnvVar, PodSpec, PodTemplateSpec,
    Probe, ResourceRequirements, Service, ServicePort, ServiceSpec, TCPSocketAction, Volume,
    VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::pods::{merge_template, with_pod_options, MAIN_CONTAINER};
use super::*;
use crate::cluster::local::conf::{is_setting_name, yaml_scalar, FLINKD_DEFAULTS, IDENTITY_KEY};
use crate::expanded::Process;

/// A job's cluster as Kubernetes objects.
#[derive(Debug, Clone, PartialEq)]
pub struct Objects {
    pub config_map: ConfigMap,
    pub job_manager: Deployment,
    pub service: Service,
    pub task_managers: Deployment,
}

impl Objects {
    /// As YAML documents, in the order they are created.
    pub fn to_yaml(&self) -> String {
        let docs = [
            serde_yaml::to_string(&self.job_manager),
            serde_yaml::to_string(&self.config_map),
            serde_yaml::to_string(&self.service),
            serde_yaml::to_string(&self.task_managers),
        ];
        docs.into_iter()
            .map(|d| format!("---\n{}", d.unwrap_or_default()))
            .collect()
    }
}

/// Why a cluster's objects cannot be made (validation refuses what causes these).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("the Flink setting `{0}` is not a plain name, or its value holds a control character (or, for Flink before 1.19, a `#`)")]
    Setting(String),
    #[error("the logger `{0}` holds a control character or a backslash")]
    Logger(String),
}

/// Makes a job's cluster objects.
pub fn render(c: &ClusterSpec<'_>) -> Result<Objects, RenderError> {
    let base = base_name(c.deployment_name, c.job_id);
    let service = format!("{base}-jobmanager");
    let labels = labels(c);
    let image = image(c.artifact, &c.template.flink_version, c.images);
    let conf_file = config_file_name(&c.template.flink_version);
    let config_map = ConfigMap {
        metadata: meta(&format!("{base}-config"), c.namespace, &labels),
        data: Some(BTreeMap::from([
            (
                conf_file.to_string(),
                flink_config(c, &service, conf_file == LEGACY_CONFIG)?,
            ),
            (
                "log4j-console.properties".to_string(),
                log4j(&c.template.log4j_loggers)?,
            ),
        ])),
        ..ConfigMap::default()
    };
    let side = |component: &str, process: &Process, args: &str, ports: Vec<ContainerPort>| {
        let mut pod_labels = labels.clone();
        pod_labels.insert(COMPONENT.into(), component.into());
        let container = Container {
            name: MAIN_CONTAINER.into(),
            image: Some(image.clone()),
            args: Some(vec![args.into()]),
            env: Some(vec![EnvVar {
                name: "FLINK_CONF_DIR".into(),
                value: Some(CONF_DIR.into()),
                value_from: None,
            }]),
            liveness_probe: Some(Probe {
                tcp_socket: Some(TCPSocketAction {
                    port: IntOrString::Int(ports[0].container_port),
                    host: None,
                }),
                initial_delay_seconds: Some(30),
                period_seconds: Some(60),
                ..Probe::default()
            }),
            ports: Some(ports),
            resources: Some(resources(process)),
            volume_mounts: Some(vec![VolumeMount {
                name: "flink-config".into(),
                mount_path: CONF_DIR.into(),
                read_only: Some(true),
                ..VolumeMount::default()
            }]),
            ..Container::default()
        };
        let pod = PodTemplateSpec {
            metadata: Some(ObjectMeta {
                labels: Some(pod_labels.clone()),
                ..ObjectMeta::default()
            }),
            spec: Some(PodSpec {
                containers: vec![container],
                volumes: Some(vec![Volume {
                    name: "flink-config".into(),
                    config_map: Some(ConfigMapVolumeSource {
                        name: format!("{base}-config"),
                        ..ConfigMapVolumeSource::default()
                    }),
                    ..Volume::default()
                }]),
                ..PodSpec::default()
            }),
        };
        let options = c.kubernetes.and_then(|k| k.pods.as_ref());
        let user = c.kubernetes.and_then(|k| match component {
            "jobmanager" => k.job_manager_pod_template.as_ref(),
            _ => k.task_manager_pod_template.as_ref(),
        });
        let pod = merge_template(user, with_pod_options(pod, options));
        (pod, selector(c, component))
    };
    let (jm_pod, jm_selector) = side(
        "jobmanager",
        &c.template.job_manager,
        "jobmanager",
        vec![
            port("rpc", RPC_PORT),
            port("blob", BLOB_PORT),
            port("rest", REST_PORT),
        ],
    );
    let (tm_pod, tm_selector) = side(
        "taskmanager",
        &c.template.task_manager,
        "taskmanager",
        vec![port("rpc", TASK_MANAGER_RPC_PORT)],
    );
    let deployment =
        |name: String, replicas: u32, selector: BTreeMap<String, String>, pod| Deployment {
            metadata: meta(&name, c.namespace, &labels),
            spec: Some(DeploymentSpec {
                replicas: Some(replicas as i32),
                selector: LabelSelector {
                    match_labels: Some(selector),
                    match_expressions: None,
                },
                template: pod,
                ..DeploymentSpec::default()
            }),
            ..Deployment::default()
        };
    let service_ports = [("rpc", RPC_PORT), ("blob", BLOB_PORT), ("rest", REST_PORT)]
        .into_iter()
        .map(|(name, p)| ServicePort {
            name: Some(name.into()),
            port: p,
            target_port: Some(IntOrString::String(name.into())),
            protocol: Some("TCP".into()),
            ..ServicePort::default()
        })
        .collect();
    Ok(Objects {
        job_manager: deployment(service.clone(), 1, jm_selector.clone(), jm_pod),
        service: Service {
            metadata: meta(&service, c.namespace, &labels),
            spec: Some(ServiceSpec {
                type_: Some("ClusterIP".into()),
                selector: Some(jm_selector),
                ports: Some(service_ports),
                ..ServiceSpec::default()
            }),
            ..Service::default()
        },
        task_managers: deployment(
            format!("{base}-taskmanager"),
            c.template.number_of_task_managers,
            tm_selector,
            tm_pod,
        ),
        config_map,
    })
}

/// The labels of every object: the user's `kubernetes.labels`, then flinkd's.
fn labels(c: &ClusterSpec<'_>) -> BTreeMap<String, String> {
    let mut labels = c.kubernetes.map(|k| k.labels.clone()).unwrap_or_default();
    labels.extend([
        (MANAGED_BY.to_string(), "flinkd".to_string()),
        ("app.kubernetes.io/name".to_string(), "flink".to_string()),
        (DEPLOYMENT_ID.to_string(), c.deployment_id.to_string()),
        (DEPLOYMENT_NAME.to_string(), c.deployment_name.to_string()),
        (JOB_ID.to_string(), c.job_id.to_string()),
        (INSTANCE.to_string(), c.instance.to_string()),
    ]);
    labels
}

/// What tells one side's pods: the job and the component.
fn selector(c: &ClusterSpec<'_>, component: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (JOB_ID.to_string(), c.job_id.to_string()),
        (COMPONENT.to_string(), component.to_string()),
    ])
}

fn meta(name: &str, namespace: &str, labels: &BTreeMap<String, String>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: Some(namespace.to_string()),
        labels: Some(labels.clone()),
        ..ObjectMeta::default()
    }
}

fn port(name: &str, port: i32) -> ContainerPort {
    ContainerPort {
        name: Some(name.into()),
        container_port: port,
        protocol: Some("TCP".into()),
        ..ContainerPort::default()
    }
}

/// Requests of the process's cores and memory; the memory is its limit too (Flink's
/// process size, which the config sets: the JVM never outgrows its container).
fn resources(p: &Process) -> ResourceRequirements {
    let memory = Quantity(format!("{}Mi", p.memory.mebibytes()));
    let cpu = Quantity(format!("{}m", (p.cpu * 1000.0).round() as u64));
    ResourceRequirements {
        requests: Some(BTreeMap::from([
            ("cpu".to_string(), cpu),
            ("memory".to_string(), memory.clone()),
        ])),
        limits: Some(BTreeMap::from([("memory".to_string(), memory)])),
        ..ResourceRequirements::default()
    }
}

/// The cluster's Flink config: flinkd's defaults, the Deployment's
/// `flinkConfiguration`, then what makes the cluster this cluster (the process sizes
/// its pods are given, its addresses, ports and identity). `legacy`: for Flink's old
/// line parser, values as they are (it would keep quotes), none with a `#`.
fn flink_config(c: &ClusterSpec<'_>, service: &str, legacy: bool) -> Result<String, RenderError> {
    let t = c.template;
    let mut conf = BTreeMap::new();
    for (k, v) in FLINKD_DEFAULTS {
        conf.insert(k.to_string(), v.to_string());
    }
    conf.insert("taskmanager.numberOfTaskSlots".into(), "1".into());
    conf.insert("parallelism.default".into(), t.parallelism.to_string());
    conf.extend(t.flink_configuration.clone());
    let any = "0.0.0.0".to_string();
    let memory = |p: &Process| format!("{}m", p.memory.mebibytes());
    conf.extend([
        // The pods' memory limits: a JVM sized otherwise would be killed.
        (
            "jobmanager.memory.process.size".to_string(),
            memory(&t.job_manager),
        ),
        (
            "taskmanager.memory.process.size".to_string(),
            memory(&t.task_manager),
        ),
        ("jobmanager.rpc.address".to_string(), service.to_string()),
        ("jobmanager.bind-host".to_string(), any.clone()),
        ("jobmanager.rpc.port".to_string(), RPC_PORT.to_string()),
        ("taskmanager.bind-host".to_string(), any.clone()),
        (
            "taskmanager.rpc.port".to_string(),
            TASK_MANAGER_RPC_PORT.to_string(),
        ),
        ("blob.server.port".to_string(), BLOB_PORT.to_string()),
        ("rest.address".to_string(), service.to_string()),
        ("rest.bind-address".to_string(), any),
        ("rest.port".to_string(), REST_PORT.to_string()),
        (IDENTITY_KEY.to_string(), c.job_id.simple().to_string()),
    ]);
    let mut text = String::from("# Generated by flinkd for one cluster.\n");
    for (k, v) in &conf {
        if !is_setting_name(k) || v.chars().any(char::is_control) || (legacy && v.contains('#')) {
            return Err(RenderError::Setting(k.escape_debug().to_string()));
        }
        let value = if legacy {
            v.trim().to_string()
        } else {
            yaml_scalar(v)
        };
        text.push_str(&format!("{k}: {value}\n"));
    }
    Ok(text)
}

/// `log4j-console.properties`, which the image's scripts use for a process in the
/// foreground: to the console (the pod's log), the root level and the Deployment's
/// loggers.
fn log4j(loggers: &BTreeMap<String, String>) -> Result<String, RenderError> {
    let root = loggers.get("").map(String::as_str).unwrap_or("INFO");
    let mut text = format!(
        "rootLogger.level = {root}\nrootLogger.appenderRef.console.ref = ConsoleAppender\n\
         appender.console.name = ConsoleAppender\nappender.console.type = CONSOLE\n\
         appender.console.layout.type = PatternLayout\n\
         appender.console.layout.pattern = %d{{yyyy-MM-dd HH:mm:ss,SSS}} %-5p %-60c %x - %m%n\n"
    );
    for (i, (name, level)) in loggers.iter().filter(|(n, _)| !n.is_empty()).enumerate() {
        if name
            .chars()
            .chain(level.chars())
            .any(|c| c.is_control() || c == '\\')
        {
            return Err(RenderError::Logger(name.escape_debug().to_string()));
        }
        text.push_str(&format!(
            "logger.flinkd{i}.name = {name}\nlogger.flinkd{i}.level = {level}\n"
        ));
    }
    Ok(text)
}
