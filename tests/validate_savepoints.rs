//! `flinkd validate` on `spec.savepointInterval`: a duration of at least 10 s, located.

mod common;

use common::{problems_of, VALID};

fn with_interval(interval: &str) -> String {
    VALID.replacen(
        "spec:\n",
        &format!("spec:\n  savepointInterval: {interval}\n"),
        1,
    )
}

#[test]
fn a_savepoint_interval_is_a_duration_of_at_least_ten_seconds() {
    let (code, p) = problems_of(&with_interval("1h 30m"));
    assert_eq!((code, p.len()), (0, 0), "{p:?}");
    let (code, p) = problems_of(&with_interval("5s"));
    assert_eq!(code, 1, "{p:?}");
    assert_eq!(
        p,
        ["d.yaml:6:3: spec.savepointInterval: must be at least 10s (a savepoint every few seconds is a checkpoint's job), not `5s`"]
    );
    let (code, p) = problems_of(&with_interval("hourly"));
    assert_eq!(code, 1, "{p:?}");
    assert!(
        p[0].starts_with(
            "d.yaml:6:3: spec.savepointInterval: `hourly` is not a duration such as 30m or 1h"
        ),
        "{p:?}"
    );
}
