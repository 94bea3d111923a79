//! `flinkd describe deployment NAME` on the fake Flink (no JVM): every section, and
//! every message whole, piped.

#![cfg(feature = "test-support")]

mod e2e;

use e2e::{on_the_fake, Daemon};
use flinkd::spec::DeploymentState;

#[test]
fn describe_shows_everything_and_cuts_nothing() {
    let _one = e2e::serial();
    let d = Daemon::start_with(&e2e::fake_flink_home(), "");
    let reason = format!(
        "the cluster refused the job because {}",
        "it is a long story; ".repeat(12)
    );
    d.deploy(
        "broken.yaml",
        &on_the_fake(
            "broken",
            "  state: running\n  maxJobCreationAttempts: 1",
            &[("fake.run.reject", reason.as_str())],
        ),
    );
    d.deploy("alpha.yaml", &on_the_fake("alpha", "  state: running", &[]));
    d.wait_status("broken", DeploymentState::Failed, 30);
    d.wait_status("alpha", DeploymentState::Running, 30);
    d.deploy(
        "alpha.yaml",
        &on_the_fake("alpha", "  state: suspended", &[]),
    );
    d.wait_status("alpha", DeploymentState::Suspended, 30);
    d.deploy("alpha.yaml", &on_the_fake("alpha", "  state: running", &[]));
    d.wait_status("alpha", DeploymentState::Running, 30);

    let (code, out, err) = d.cli(&["describe", "deployment", "broken"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Status:       FAILED"), "{out}");
    assert!(out.contains(reason.trim_end()), "the whole reason: {out}");
    assert!(
        out.contains("Next start:   restores from empty state"),
        "{out}"
    );

    let (code, out, err) = d.cli(&["describe", "deployment", "alpha"]);
    assert_eq!(code, 0, "{err}");
    for want in [
        "Name:         alpha",
        "Desired:      RUNNING",
        "Strategies:   upgrade STATEFUL, restore LATEST_STATE",
        "Template:     Flink ",
        "Status:       RUNNING since ",
        "Flink UI:     http://127.0.0.1:",
        "(through flinkd: /flink/default/alpha/)",
        "Current job:  ",
        "Jobs:         2 on record",
        "(SUSPEND, ",
        "Next start:   restores from savepoint",
        "DEPLOYMENT_SUSPENDED",
        "JOB_SUCCESSFULLY_STARTED",
    ] {
        assert!(out.contains(want), "{want}: {out}");
    }
    let (code, _, err) = d.cli(&["describe", "deployment", "nobody"]);
    assert_eq!(code, 1);
    assert!(err.contains("nobody"), "{err}");
}
