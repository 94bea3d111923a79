//! What the lifecycle needs of a Deployment's spec: its [`Policy`].
//!
//! Three keys say what changed, each for a decision of its own:
//! - `template_hash`, of the expanded template and where it runs, is recorded on each
//!   Job (what it ran);
//! - `upgrade_key`, of the template as the file writes it and where it runs: a running
//!   job whose key differs is upgraded;
//! - `hold_key`, of the spec as the file writes it: FAILED and FINISHED hold until it
//!   changes.
//!
//! Defaults are in the first and in neither of the others: a change of a namespace's
//! `DeploymentDefaults` or of the config's `[defaults]` reaches each Deployment's
//! record at once and its jobs from their next start, and never upgrades, restarts or
//! re-runs a job by itself (the reference page fills defaults in "when a Deployment
//! resource is created").

use serde::{Deserialize, Serialize};

use crate::expanded::{ExpandedSpec, NotExpanded};
use crate::spec::{
    content_hash, DeploymentSpec, DesiredState, RestoreStrategyKind, UpgradeStrategyKind,
};

/// How flinkd talks to a job of a given Flink version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FlinkApi {
    /// Flink's stop with a savepoint exists from 1.9 on; before, a savepoint then a
    /// cancel (reference page, "Transitions to SUSPENDED").
    pub graceful_stop: bool,
    /// From 1.15 on, a savepoint request carries an id flinkd chooses, so that it can be
    /// written ahead and asked for again after a crash without taking a second one.
    pub trigger_ids: bool,
}

impl FlinkApi {
    /// An unparsable version is taken as recent; `1.8-SNAPSHOT` is 1.8.
    pub fn of(flink_version: &str) -> FlinkApi {
        let number = |p: Option<&str>| -> Option<u32> {
            let digits: String = p?.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        };
        let mut parts = flink_version.trim().split('.');
        let major = number(parts.next());
        let minor = number(parts.next());
        let at_least = |m: u32| match (major, minor) {
            (Some(0), _) => false,
            (Some(1), Some(n)) => n >= m,
            (Some(1), None) => false,
            _ => true,
        };
        FlinkApi {
            graceful_stop: at_least(9),
            trigger_ids: at_least(15),
        }
    }
}

/// What the lifecycle needs of a Deployment's expanded spec.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub desired: DesiredState,
    pub upgrade: UpgradeStrategyKind,
    pub restore: RestoreStrategyKind,
    pub allow_non_restored_state: bool,
    pub max_job_creation_attempts: u32,
    pub max_savepoint_creation_attempts: u32,
    pub template_hash: String,
    pub upgrade_key: String,
    pub hold_key: String,
    /// How to talk to a job of this spec's Flink version.
    pub api: FlinkApi,
    /// The CPU cores a job of this spec uses (checked against the quota).
    pub cores: f64,
    /// A savepoint of the running job every this long, if set.
    pub savepoint_interval: Option<std::time::Duration>,
    /// Which snapshots are disposed of, if any.
    pub retention: Option<crate::expanded::Retention>,
    /// A STATEFUL upgrade may start the next job's cluster while the job runs (the
    /// local target, `[flink] fast_upgrades`).
    pub fast_upgrade: bool,
    /// The process memory (bytes) of a cluster of this spec.
    pub cluster_memory: u64,
}

fn hash<T: Serialize>(v: &T, suffix: &str) -> String {
    let mut bytes = serde_json::to_vec(v).unwrap_or_default();
    bytes.extend(suffix.as_bytes());
    content_hash(bytes)
}

/// A template as far as it decides how a job runs where it runs: the pod options of
/// `kubernetes` only on a Kubernetes target (elsewhere they are ignored, and an edit of
/// them restarts nothing).
fn runs_by(
    template: &Option<std::sync::Arc<crate::spec::DeploymentTemplate>>,
    placement: &str,
) -> Option<std::sync::Arc<crate::spec::DeploymentTemplate>> {
    let has_pods = template
        .as_ref()
        .and_then(|t| t.spec.as_ref())
        .is_some_and(|s| s.kubernetes.is_some());
    if !has_pods || placement.starts_with("@kubernetes:") {
        return template.clone();
    }
    let mut t = template.clone()?;
    if let Some(spec) = std::sync::Arc::make_mut(&mut t).spec.as_mut() {
        spec.kubernetes = None;
    }
    Some(t)
}

/// The hold key of a written spec, given as [`Policy::written_json`].
fn hold_key(written_json: &[u8], removing: Option<DesiredState>) -> String {
    let mut bytes = written_json.to_vec();
    if let Some(state) = removing {
        bytes.extend(format!("+removed:{state}").as_bytes());
    }
    content_hash(bytes)
}

impl Policy {
    /// The policy of a Deployment: `written` is its spec as the file writes it,
    /// `expanded` the same through every layer of defaults, `placement` says where its
    /// jobs run (empty for the local target), and `removing` is the state its file's
    /// removal winds it down to, if its file is gone (a spec change of its own).
    pub fn new(
        written: &DeploymentSpec,
        expanded: &DeploymentSpec,
        placement: &str,
        removing: Option<DesiredState>,
    ) -> Result<Policy, NotExpanded> {
        let e = ExpandedSpec::of(expanded)?;
        Ok(Policy {
            desired: removing.unwrap_or(e.state),
            upgrade: e.upgrade,
            restore: e.restore,
            allow_non_restored_state: e.allow_non_restored_state,
            max_job_creation_attempts: e.max_job_creation_attempts,
            max_savepoint_creation_attempts: e.max_savepoint_creation_attempts,
            template_hash: hash(&runs_by(&expanded.template, placement), placement),
            upgrade_key: hash(&runs_by(&written.template, placement), placement),
            hold_key: hold_key(&Self::written_json(written), removing),
            api: FlinkApi::of(&e.template.flink_version),
            cores: e.cores(),
            savepoint_interval: e.savepoint_interval,
            retention: e.retention,
            // Where a job runs on a cluster of its own (the local target).
            fast_upgrade: placement.is_empty(),
            cluster_memory: e.cluster_memory(),
        })
    }
}

impl Policy {
    /// What a spec as written is kept as once its policy is made: the bytes its hold
    /// key is computed from (a DeploymentActor keeps these, not a second spec).
    pub fn written_json(written: &DeploymentSpec) -> Vec<u8> {
        serde_json::to_vec(written).unwrap_or_default()
    }

    /// This policy for a Deployment whose file is gone, wound down to `state`: what
    /// [`Policy::new`] gives with `removing`, from the written spec's
    /// [`Policy::written_json`].
    pub fn removed(&self, state: DesiredState, written_json: &[u8]) -> Policy {
        Policy {
            desired: state,
            hold_key: hold_key(written_json, Some(state)),
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::defaults::{expand_spec, Layers};

    fn spec(json: serde_json::Value) -> DeploymentSpec {
        serde_json::from_value(json).unwrap()
    }

    fn policy(written: &DeploymentSpec, defaults: &DeploymentSpec) -> Policy {
        let layers = Layers {
            namespace: Some(defaults),
            config: &DeploymentSpec::default(),
            flink_version: "2.3",
        };
        Policy::new(written, &expand_spec(written, layers), "", None).unwrap()
    }

    #[test]
    fn flink_versions_choose_the_api() {
        let api = |v| FlinkApi::of(v);
        assert!(!api("1.8").graceful_stop);
        assert!(!api("1.8-SNAPSHOT").graceful_stop, "1.8-SNAPSHOT is 1.8");
        assert!(!api("0.10").graceful_stop);
        assert!(api("1.9").graceful_stop && !api("1.9").trigger_ids);
        assert!(api("1.15").trigger_ids);
        assert!(api("1.20").trigger_ids && api("2.3").trigger_ids);
        assert!(api("latest").graceful_stop, "unparsable is taken as recent");
    }

    #[test]
    fn defaults_move_the_template_hash_but_not_the_keys() {
        let written = spec(serde_json::json!({
            "template": {"spec": {"artifact": {"jarUri": "/j.jar"}}}
        }));
        let a = policy(&written, &DeploymentSpec::default());
        let b = policy(
            &written,
            &spec(serde_json::json!({"template": {"spec": {"parallelism": 2}}})),
        );
        assert_ne!(a.template_hash, b.template_hash);
        assert_eq!(a.upgrade_key, b.upgrade_key);
        assert_eq!(a.hold_key, b.hold_key);
        assert_eq!(b.cores, 1.0 + 2.0, "the expansion's cores");
        // An edit of the file moves both keys; of the state alone, only the hold.
        let mut edited = written.clone();
        edited.state = Some(DesiredState::Suspended);
        let c = policy(&edited, &DeploymentSpec::default());
        assert_eq!(
            (c.upgrade_key == a.upgrade_key, c.hold_key == a.hold_key),
            (true, false)
        );
        assert_eq!(c.desired, DesiredState::Suspended);
    }

    #[test]
    fn a_removal_is_a_spec_change_and_where_a_job_runs_is_part_of_its_template() {
        let written = spec(serde_json::json!({
            "template": {"spec": {"artifact": {"jarUri": "/j.jar"}}}
        }));
        let layers = Layers {
            namespace: None,
            config: &DeploymentSpec::default(),
            flink_version: "2.3",
        };
        let expanded = expand_spec(&written, layers);
        let here = Policy::new(&written, &expanded, "", None).unwrap();
        let gone = Policy::new(&written, &expanded, "", Some(DesiredState::Suspended)).unwrap();
        assert_eq!(gone.desired, DesiredState::Suspended);
        assert_ne!(gone.hold_key, here.hold_key);
        let moved = Policy::new(&written, &expanded, "@http://h:8081", None).unwrap();
        assert_ne!(moved.upgrade_key, here.upgrade_key);
        assert_ne!(moved.template_hash, here.template_hash);
    }

    #[test]
    fn a_removal_from_the_kept_written_json_is_the_removal_from_the_spec() {
        let written = spec(serde_json::json!({
            "state": "running",
            "template": {"spec": {"artifact": {"jarUri": "/j.jar"}, "parallelism": 3}}
        }));
        let layers = Layers {
            namespace: None,
            config: &DeploymentSpec::default(),
            flink_version: "2.3",
        };
        let expanded = expand_spec(&written, layers);
        let kept = Policy::written_json(&written);
        for placement in ["", "@http://h:8081"] {
            let here = Policy::new(&written, &expanded, placement, None).unwrap();
            for state in [DesiredState::Suspended, DesiredState::Cancelled] {
                let gone = Policy::new(&written, &expanded, placement, Some(state)).unwrap();
                assert_eq!(here.removed(state, &kept), gone, "{state} at {placement:?}");
            }
        }
    }

    #[test]
    fn pod_options_count_only_where_the_job_runs_in_a_pod() {
        let none = DeploymentSpec::default();
        let layers = || Layers {
            namespace: None,
            config: &none,
            flink_version: "2.3",
        };
        let plain = spec(serde_json::json!({
            "template": {"spec": {"artifact": {"jarUri": "/j.jar"}}}
        }));
        let with_pods = spec(serde_json::json!({
            "template": {"spec": {"artifact": {"jarUri": "/j.jar"},
                                  "kubernetes": {"pods": {"labels": {"team": "a"}}}}}
        }));
        let keys = |w: &DeploymentSpec, placement: &str| {
            let p = Policy::new(w, &expand_spec(w, layers()), placement, None).unwrap();
            (p.template_hash, p.upgrade_key)
        };
        for elsewhere in ["", "@http://h:8081"] {
            assert_eq!(
                keys(&plain, elsewhere),
                keys(&with_pods, elsewhere),
                "{elsewhere:?}"
            );
        }
        let pod = "@kubernetes:jobs";
        assert_ne!(keys(&plain, pod).0, keys(&with_pods, pod).0);
        assert_ne!(keys(&plain, pod).1, keys(&with_pods, pod).1);
    }
}
