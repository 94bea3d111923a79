//! The Flink web UI through flinkd on the fake Flink (no JVM): `/flink/{ns}/{name}/…`
//! reaches the current job's cluster, follows the Deployment to its next cluster after
//! an upgrade, is read only, and `status.flinkUi` says where both addresses are.

#![cfg(feature = "test-support")]

mod e2e;

use e2e::{on_the_fake, Daemon};
use flinkd::spec::{DeploymentState, JobState};

/// `method url`: the status and the body.
fn call(method: &str, url: &str) -> (u16, String) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let r = client
            .request(method.parse().unwrap(), url)
            .header("content-type", "application/json")
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap_or_default())
    })
}

fn flink_job_id(d: &Daemon) -> String {
    d.jobs("ui")
        .into_iter()
        .rfind(|j| j.status.state == JobState::Started)
        .and_then(|j| j.status.flink_job_id)
        .expect("a running job")
}

#[test]
fn the_flink_ui_is_served_through_flinkd_and_follows_upgrades() {
    let _one = e2e::serial();
    let d = Daemon::start_with(&e2e::fake_flink_home(), "");
    d.deploy("ui.yaml", &on_the_fake("ui", "  state: running", &[]));
    d.wait_status("ui", DeploymentState::Running, 30);
    let base = format!("{}/flink/default/ui", d.api);

    let (code, body) = call("GET", &format!("{base}/overview"));
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("flink-version"), "{body}");
    let first = flink_job_id(&d);
    let (code, body) = call("GET", &format!("{base}/jobs/{first}"));
    assert_eq!(code, 200, "{body}");
    // The bare path is sent to the one with a slash (the UI's links are relative).
    let (code, _) = call("GET", &base);
    assert_eq!(code, 308);
    // Read only: no job is submitted or cancelled behind flinkd's back.
    let (code, body) = call("PATCH", &format!("{base}/jobs/{first}"));
    assert_eq!(code, 405, "{body}");
    assert!(body.contains("read only"), "{body}");
    let (code, body) = call("GET", &format!("{}/flink/default/nobody/overview", d.api));
    assert_eq!(code, 404, "{body}");

    let (_, yaml, _) = d.cli(&["get", "deployment", "ui", "-o", "yaml"]);
    assert!(
        yaml.contains("flinkUi:") && yaml.contains("proxy: /flink/default/ui/"),
        "{yaml}"
    );
    assert!(yaml.contains("url: http://127.0.0.1:"), "{yaml}");

    // An upgrade: a new cluster, and the same address reaches it.
    d.deploy(
        "ui.yaml",
        &on_the_fake("ui", "  state: running", &[("pipeline.name", "v2")]),
    );
    d.wait("the upgraded job", 30, || {
        (d.jobs("ui").len() == 2 && d.status("ui") == Some(DeploymentState::Running)).then_some(())
    });
    let second = flink_job_id(&d);
    assert_ne!(first, second);
    let (code, body) = call("GET", &format!("{base}/jobs/{second}"));
    assert_eq!(code, 200, "{body}");
    let (code, _) = call("GET", &format!("{base}/jobs/{first}"));
    assert_ne!(
        code, 200,
        "the old cluster is gone; the proxy went with the Deployment"
    );
}
