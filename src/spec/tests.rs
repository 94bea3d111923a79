//! The resource model's own rules: enums, names, hashes, sizes.

use super::*;

/// Every Deployment holds several specs (as written, expanded, its Job records'):
/// Kubernetes' pod types inline would make each kilobytes larger (they did, and ten
/// thousand Deployments peaked at 300 MiB instead of 137).
#[test]
fn specs_stay_small_inline() {
    assert!(std::mem::size_of::<TemplateSpec>() <= 512);
    assert!(std::mem::size_of::<DeploymentSpec>() <= 256);
}

#[test]
fn enums_parse_case_insensitively_and_print_canonically() {
    assert_eq!(DesiredState::parse("running"), Some(DesiredState::Running));
    assert_eq!(
        DesiredState::parse("Suspended"),
        Some(DesiredState::Suspended)
    );
    assert_eq!(
        DesiredState::parse("canceled"),
        Some(DesiredState::Cancelled)
    );
    assert_eq!(
        DesiredState::parse("CANCELLED"),
        Some(DesiredState::Cancelled)
    );
    assert_eq!(DesiredState::parse("stopped"), None);
    assert_eq!(
        RestoreStrategyKind::parse("latest_savepoint"),
        Some(RestoreStrategyKind::LatestSavepoint)
    );
    assert_eq!(DesiredState::Cancelled.to_string(), "CANCELLED");
    let json = serde_json::to_string(&UpgradeStrategyKind::Stateless).unwrap();
    assert_eq!(json, "\"STATELESS\"");
}

#[test]
fn unknown_enum_value_lists_the_known_ones() {
    let err = "paused".parse::<DesiredState>().unwrap_err();
    assert_eq!(
        err,
        "unknown value `paused`, expected one of RUNNING, CANCELLED, SUSPENDED"
    );
}

#[test]
fn every_enum_value_round_trips() {
    for v in JobState::ALL {
        assert_eq!(JobState::parse(v.as_str()), Some(*v));
    }
    for v in SavepointOrigin::ALL {
        assert_eq!(SavepointOrigin::parse(v.as_str()), Some(*v));
    }
    for v in DeploymentState::ALL {
        assert_eq!(DeploymentState::parse(&v.as_str().to_lowercase()), Some(*v));
    }
}
