//! What is wrong with a cluster's pods, in Kubernetes' own words: the first question of
//! a user whose job does not start. A fact read from the pods' status, not a decision:
//! the lifecycle decides what it changes (a condition, an event, the words of a failed
//! start).

use k8s_openapi::api::core::v1::{ContainerStatus, Pod};

use super::COMPONENT;
use crate::lifecycle::PodTrouble;

/// Waiting reasons of a container that will not run without a change (or a long wait).
const STUCK: &[&str] = &[
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
];

/// The worst trouble among a cluster's pods, JobManager first; `None` when every pod
/// runs or is on its way without trouble.
pub fn of_pods(pods: &[Pod]) -> Option<PodTrouble> {
    let mut sorted: Vec<&Pod> = pods.iter().collect();
    sorted.sort_by_key(|p| (component(p) != "jobmanager", p.metadata.name.clone()));
    sorted.into_iter().find_map(of_pod)
}

fn component(pod: &Pod) -> &str {
    pod.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(COMPONENT))
        .map(String::as_str)
        .unwrap_or("")
}

fn role(pod: &Pod) -> &'static str {
    match component(pod) {
        "jobmanager" => "JobManager",
        "taskmanager" => "TaskManager",
        _ => "cluster",
    }
}

/// A pod's trouble: a container stuck waiting (with the exit code of its last run), a
/// container that was killed for memory, or a pod that cannot be scheduled.
fn of_pod(pod: &Pod) -> Option<PodTrouble> {
    let name = pod.metadata.name.as_deref().unwrap_or("?");
    let status = pod.status.as_ref()?;
    let containers = status
        .init_container_statuses
        .iter()
        .flatten()
        .chain(status.container_statuses.iter().flatten());
    for c in containers {
        if let Some(t) = of_container(c) {
            return Some(PodTrouble {
                reason: t.0,
                message: format!("{} pod {name}, container {}: {}", role(pod), c.name, t.1),
            });
        }
    }
    if status.phase.as_deref() == Some("Pending") {
        let unscheduled = status
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == "PodScheduled" && c.status == "False" && c.reason.is_some())?;
        return Some(PodTrouble {
            reason: unscheduled.reason.clone().unwrap_or_default(),
            message: format!(
                "{} pod {name} is Pending: {}",
                role(pod),
                unscheduled.message.as_deref().unwrap_or("not scheduled")
            ),
        });
    }
    if status.phase.as_deref() == Some("Failed") {
        return Some(PodTrouble {
            reason: status.reason.clone().unwrap_or_else(|| "Failed".into()),
            message: format!(
                "{} pod {name} failed: {}",
                role(pod),
                status.message.as_deref().unwrap_or("no message")
            ),
        });
    }
    None
}

/// `(reason, message)` of a container in trouble.
fn of_container(c: &ContainerStatus) -> Option<(String, String)> {
    let last = c.last_state.as_ref().and_then(|s| s.terminated.as_ref());
    let exit = last
        .map(|t| {
            format!(
                "; its last run ended with exit code {}{}",
                t.exit_code,
                t.reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            )
        })
        .unwrap_or_default();
    let state = c.state.as_ref();
    if let Some(w) = state.and_then(|s| s.waiting.as_ref()) {
        let reason = w.reason.clone().unwrap_or_default();
        if STUCK.contains(&reason.as_str()) {
            let message = w.message.as_deref().unwrap_or("waiting");
            // A crash loop of a container killed for memory says so first.
            let reason = match last.and_then(|t| t.reason.as_deref()) {
                Some("OOMKilled") => "OOMKilled".to_string(),
                _ => reason,
            };
            return Some((reason, format!("{message}{exit}")));
        }
    }
    if let Some(t) = state.and_then(|s| s.terminated.as_ref()) {
        if t.reason.as_deref() == Some("OOMKilled") || t.exit_code != 0 {
            return Some((
                t.reason.clone().unwrap_or_else(|| "Error".into()),
                format!(
                    "exited with code {}{}",
                    t.exit_code,
                    t.message
                        .as_deref()
                        .map(|m| format!(": {m}"))
                        .unwrap_or_default()
                ),
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(component: &str, name: &str, status: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {COMPONENT: component}},
            "status": status,
        }))
        .unwrap()
    }

    fn running(component: &str, name: &str) -> Pod {
        pod(
            component,
            name,
            json!({"phase": "Running", "containerStatuses": [{
                "name": "flink-main-container", "image": "flink:2.3", "imageID": "",
                "ready": true, "restartCount": 0, "state": {"running": {}}
            }]}),
        )
    }

    #[test]
    fn running_pods_are_no_trouble() {
        assert_eq!(
            of_pods(&[running("jobmanager", "jm"), running("taskmanager", "tm")]),
            None
        );
    }

    #[test]
    fn a_crash_loop_says_kubernetes_reason_and_the_exit_code() {
        let looping = pod(
            "taskmanager",
            "flink-x-taskmanager-1",
            json!({"phase": "Running", "containerStatuses": [{
                "name": "flink-main-container", "image": "flink:2.3", "imageID": "",
                "ready": false, "restartCount": 4,
                "state": {"waiting": {"reason": "CrashLoopBackOff",
                    "message": "back-off 40s restarting failed container"}},
                "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}
            }]}),
        );
        let t = of_pods(&[running("jobmanager", "jm"), looping]).unwrap();
        assert_eq!(t.reason, "CrashLoopBackOff");
        assert_eq!(
            t.message,
            "TaskManager pod flink-x-taskmanager-1, container flink-main-container: back-off 40s restarting failed container; its last run ended with exit code 1 (Error)"
        );
    }

    #[test]
    fn a_container_killed_for_memory_is_oom_killed_with_its_exit_code() {
        let oom = pod(
            "jobmanager",
            "jm",
            json!({"phase": "Running", "containerStatuses": [{
                "name": "flink-main-container", "image": "flink:2.3", "imageID": "",
                "ready": false, "restartCount": 2,
                "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off"}},
                "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}
            }]}),
        );
        let t = of_pods(&[oom]).unwrap();
        assert_eq!(t.reason, "OOMKilled");
        assert!(
            t.message.contains("exit code 137 (OOMKilled)"),
            "{}",
            t.message
        );
    }

    #[test]
    fn an_image_that_cannot_be_pulled_and_a_pod_that_cannot_be_placed_are_named() {
        let pull = pod(
            "jobmanager",
            "jm",
            json!({"phase": "Pending", "containerStatuses": [{
                "name": "flink-main-container", "image": "flink:nope", "imageID": "",
                "ready": false, "restartCount": 0,
                "state": {"waiting": {"reason": "ImagePullBackOff",
                    "message": "Back-off pulling image \"flink:nope\""}}
            }]}),
        );
        assert_eq!(of_pods(&[pull]).unwrap().reason, "ImagePullBackOff");
        let pending = pod(
            "taskmanager",
            "tm",
            json!({"phase": "Pending", "conditions": [{"type": "PodScheduled",
                "status": "False", "reason": "Unschedulable",
                "message": "0/3 nodes are available: 3 Insufficient cpu."}]}),
        );
        let t = of_pods(&[running("jobmanager", "jm"), pending]).unwrap();
        assert_eq!(t.reason, "Unschedulable");
        assert_eq!(
            t.message,
            "TaskManager pod tm is Pending: 0/3 nodes are available: 3 Insufficient cpu."
        );
        // A pod merely being created is not trouble.
        let creating = pod(
            "jobmanager",
            "jm",
            json!({"phase": "Pending", "containerStatuses": [{
                "name": "flink-main-container", "image": "flink:2.3", "imageID": "",
                "ready": false, "restartCount": 0,
                "state": {"waiting": {"reason": "ContainerCreating"}}
            }]}),
        );
        assert_eq!(of_pods(&[creating]), None);
    }

    #[test]
    fn the_job_manager_s_trouble_comes_first() {
        let bad = |component: &str, name: &str, reason: &str| {
            pod(
                component,
                name,
                json!({"phase": "Pending", "containerStatuses": [{
                    "name": "c", "image": "i", "imageID": "", "ready": false,
                    "restartCount": 0, "state": {"waiting": {"reason": reason}}
                }]}),
            )
        };
        let t = of_pods(&[
            bad("taskmanager", "a-tm", "CrashLoopBackOff"),
            bad("jobmanager", "z-jm", "ErrImagePull"),
        ])
        .unwrap();
        assert_eq!(t.reason, "ErrImagePull");
    }
}
