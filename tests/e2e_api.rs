//! The HTTP API and the CLI over a running daemon (on the fake Flink: no JVM).

#![cfg(feature = "test-support")]

mod e2e;

use e2e::{flinkd, Daemon};
use flinkd::spec::{DeploymentState, SavepointOrigin, SavepointState};

fn deployment(name: &str) -> String {
    format!(
        "kind: Deployment\napiVersion: v1\nmetadata:\n  name: {name}\nspec:\n  template:\n    spec:\n      artifact:\n        jarUri: {}\n        entryClass: org.example.Job\n",
        e2e::fake_jar().display()
    )
}

/// A Deployment that needs one core: 0.5 (JobManager) + 1 × 0.5 (TaskManager).
fn one_core(name: &str) -> String {
    deployment(name).replace(
        "      artifact:",
        "      resources:\n        jobManager:\n          cpu: 0.5\n        taskManager:\n          cpu: 0.5\n      artifact:",
    )
}

use e2e::http;

#[test]
fn api_and_cli_over_a_running_daemon() {
    let _one = e2e::serial();
    let d = Daemon::start_with(&e2e::fake_flink_home(), "");
    d.deploy("a.yaml", &deployment("alpha"));
    d.deploy("b.yaml", &deployment("beta"));
    d.wait_status("alpha", DeploymentState::Running, 30);
    d.wait_status("beta", DeploymentState::Running, 30);
    let server = d.api.as_str();

    // The table.
    let (code, out, err) = flinkd(&["get", "deployments", "--server", server]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("NAME    DESIRED   STATUS    JOB"),
        "{out}"
    );
    assert!(
        lines[1].starts_with("alpha   RUNNING   RUNNING   "),
        "{out}"
    );
    assert!(
        lines[2].starts_with("beta    RUNNING   RUNNING   "),
        "{out}"
    );

    // -o json is exactly what the API returns.
    let (_, json, _) = flinkd(&["get", "deployments", "--server", server, "-o", "json"]);
    let cli: serde_json::Value = serde_json::from_str(&json).unwrap();
    let (status, body) = http(
        &format!("{server}/api/v1/namespaces/default/deployments"),
        "application/json",
    );
    assert_eq!(status, 200);
    let api: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(cli, api);
    assert_eq!(api["items"].as_array().unwrap().len(), 2);

    // One Deployment as YAML: fully expanded, with its status and store metadata.
    let (code, yaml, _) = flinkd(&[
        "get",
        "deployment",
        "alpha",
        "--server",
        server,
        "-o",
        "yaml",
    ]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_yaml::from_str(&yaml).unwrap();
    assert_eq!(v["status"]["state"], "RUNNING");
    assert!(v["status"]["running"]["jobId"].is_string());
    assert_eq!(v["spec"]["maxJobCreationAttempts"], 4);
    assert_eq!(v["spec"]["restoreStrategy"]["kind"], "LATEST_STATE");
    assert!(v["metadata"]["id"].is_string() && v["metadata"]["resourceVersion"].is_u64());

    // The API speaks YAML when asked.
    let (_, body) = http(
        &format!("{server}/api/v1/namespaces/default/deployments/alpha"),
        "application/yaml",
    );
    let from_yaml: serde_json::Value = serde_yaml::from_str(&body).unwrap();
    assert_eq!(from_yaml["metadata"]["name"], "alpha");

    // Jobs and events through the CLI.
    let (code, out, _) = flinkd(&["get", "jobs", "alpha", "--server", server]);
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(
        out.lines().nth(1).unwrap().contains("alpha") && out.contains("STARTED"),
        "{out}"
    );
    let (code, out, _) = flinkd(&["events", "alpha", "--server", server]);
    assert_eq!(code, 0);
    let names: Vec<&str> = out
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(3))
        .collect();
    assert_eq!(
        names,
        ["STARTING_JOB", "JOB_SUCCESSFULLY_STARTED"],
        "oldest first: {out}"
    );

    // A savepoint on request: the CLI waits and prints where it is.
    let (code, out, err) = flinkd(&["savepoint", "alpha", "--server", server]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.trim().starts_with("file:/") && out.contains("/savepoint-"),
        "{out}"
    );
    let sps = d.savepoints("alpha");
    assert_eq!(sps.len(), 1);
    assert_eq!(
        (sps[0].origin, sps[0].state),
        (SavepointOrigin::UserRequest, SavepointState::Completed)
    );
    assert_eq!(
        d.status("alpha"),
        Some(DeploymentState::Running),
        "the job runs on"
    );
    // Not for a Deployment that is not RUNNING; not without a Deployment.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (status, body) = rt.block_on(async {
        let r = reqwest::Client::new()
            .post(format!("{server}/api/v1/namespaces/default/savepoints"))
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    });
    assert_eq!(status, 400, "{body}");

    // Errors: an unknown Deployment, an unknown path.
    let (code, _, err) = flinkd(&["get", "deployment", "nope", "--server", server]);
    assert_eq!(code, 1);
    assert!(
        err.contains("no Deployment default/nope (HTTP 404"),
        "{err}"
    );
    let (status, body) = http(&format!("{server}/api/v1/nothing"), "application/json");
    assert_eq!(status, 404);
    assert!(body.contains("message"));

    // Health and metrics.
    assert_eq!(
        http(&format!("{server}/healthz"), "*/*"),
        (200, "ok\n".to_string())
    );
    let (status, text) = http(&format!("{server}/metrics"), "*/*");
    assert_eq!(status, 200);
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("Prometheus text");
    let running = scrape
        .samples
        .iter()
        .find(|s| s.metric == "flinkd_deployments" && s.labels.get("status") == Some("RUNNING"))
        .expect("flinkd_deployments{status=\"RUNNING\"}");
    assert!(
        matches!(running.value, prometheus_parse::Value::Gauge(v) if v == 2.0),
        "{text}"
    );
    let value = |name: &str, label: Option<(&str, &str)>| -> f64 {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name && label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => f64::NAN,
            })
            .unwrap_or_else(|| panic!("{name} missing:\n{text}"))
    };
    assert_eq!(value("flinkd_jobs_started_total", None), 2.0);
    assert_eq!(
        value("flinkd_transitions_total", Some(("to", "RUNNING"))),
        2.0
    );
    assert!(
        text.contains("flinkd_transition_duration_seconds_count{to=\"RUNNING\"} 2"),
        "{text}"
    );
    assert!(
        text.contains(
            "flinkd_savepoints_taken_total{origin=\"USER_REQUEST\",state=\"COMPLETED\"} 1"
        ),
        "{text}"
    );
    let rest_calls: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("flinkd_flink_rest_request_duration_seconds_count "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0);
    assert!(
        rest_calls > 5.0,
        "Flink REST latency is measured: {rest_calls}"
    );
}

#[test]
fn the_cli_says_when_the_daemon_is_not_running() {
    let port = e2e::free_port();
    let (code, _, err) = flinkd(&[
        "get",
        "deployments",
        "--server",
        &format!("http://127.0.0.1:{port}"),
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("cannot reach the flinkd daemon") && err.contains("is `flinkd run` running?"),
        "{err}"
    );
}

/// Many Deployments starting at once against a small quota: never over it.
#[test]
fn many_deployments_racing_for_a_small_quota_never_exceed_it() {
    let _one = e2e::serial();
    // 1 core each (0.5 + 1 × 0.5); a quota of 3.
    let d = Daemon::start_with(&e2e::fake_flink_home(), "[quota]\ncpu = 3");
    let names: Vec<String> = (0..8).map(|i| format!("racer-{i}")).collect();
    for n in &names {
        std::fs::write(d.path(&format!("deployments/{n}.yaml")), one_core(n)).unwrap();
    }
    let count_running = || {
        names
            .iter()
            .filter(|n| d.status(n) == Some(DeploymentState::Running))
            .count()
    };
    let until = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut most = 0;
    while std::time::Instant::now() < until {
        let running = count_running();
        assert!(
            running <= 3,
            "{running} Deployments running on a quota of 3 cores"
        );
        most = most.max(running);
        if most == 3
            && names
                .iter()
                .filter(|n| {
                    !d.events(n)
                        .iter()
                        .any(|e| e.name == "RESOURCE_QUOTA_EXCEEDED")
                })
                .count()
                == 3
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(
        most,
        3,
        "the quota is used up\n--- daemon log ---\n{}",
        d.log()
    );
    let (_, text) = http(&format!("{}/metrics", d.api), "*/*");
    assert!(text.contains("flinkd_quota_cores_used 3.0"), "{text}");
    assert!(text.contains("flinkd_quota_cores_limit 3.0"), "{text}");
    let waiting: Vec<&String> = names
        .iter()
        .filter(|n| d.status(n) == Some(DeploymentState::Transitioning))
        .collect();
    assert_eq!(waiting.len(), 5, "{waiting:?}");
    // Cancel a running one: exactly one waiting Deployment takes its core.
    let running: Vec<&String> = names
        .iter()
        .filter(|n| d.status(n) == Some(DeploymentState::Running))
        .collect();
    let victim = running[0].clone();
    std::fs::write(
        d.path(&format!("deployments/{victim}.yaml")),
        one_core(&victim).replace(
            "spec:\n  template:",
            "spec:\n  state: cancelled\n  template:",
        ),
    )
    .unwrap();
    d.wait_status(&victim, DeploymentState::Cancelled, 30);
    d.wait("a waiting Deployment to start", 30, || {
        (count_running() == 3).then_some(())
    });
    std::thread::sleep(std::time::Duration::from_secs(1));
    assert_eq!(count_running(), 3);
}

/// A quota raised by a reload (SIGHUP) lets a waiting Deployment start; an invalid
/// config is rejected and changes nothing.
#[test]
fn a_quota_raised_by_a_reload_starts_the_waiting_deployment() {
    let _one = e2e::serial();
    let d = Daemon::start_with(&e2e::fake_flink_home(), "[quota]\ncpu = 1");
    d.deploy("a.yaml", &one_core("first"));
    d.wait_status("first", DeploymentState::Running, 30);
    d.deploy("b.yaml", &one_core("second"));
    d.wait("the refusal", 30, || {
        d.events("second")
            .iter()
            .any(|e| e.name == "RESOURCE_QUOTA_EXCEEDED")
            .then_some(())
    });

    // An invalid config: rejected, the old one kept.
    let config = std::fs::read_to_string(d.path("flinkd.toml")).unwrap();
    std::fs::write(
        d.path("flinkd.toml"),
        config.replace("cpu = 1", "cpu = \"lots\""),
    )
    .unwrap();
    d.signal(nix::sys::signal::Signal::SIGHUP);
    d.wait("the rejection in the log", 10, || {
        d.log()
            .contains("the config is not valid, keeping the running one")
            .then_some(())
    });
    std::thread::sleep(std::time::Duration::from_secs(1));
    assert_eq!(d.status("second"), Some(DeploymentState::Transitioning));

    // The quota raised: the waiting Deployment starts.
    std::fs::write(d.path("flinkd.toml"), config.replace("cpu = 1", "cpu = 2")).unwrap();
    d.signal(nix::sys::signal::Signal::SIGHUP);
    d.wait_status("second", DeploymentState::Running, 30);
    assert_eq!(d.status("first"), Some(DeploymentState::Running));
}

/// A reload applies Flink versions and intervals at once, restarting nothing.
#[test]
fn a_reload_applies_flink_versions_and_intervals() {
    let _one = e2e::serial();
    let home = e2e::fake_flink_home();
    let d = Daemon::start_with(&home, "poll_interval = \"1h\"");
    // A Flink version the config does not have: invalid, nothing starts.
    let text = deployment("versioned").replace(
        "        entryClass: org.example.Job\n",
        "        entryClass: org.example.Job\n        flinkVersion: 7.7\n      flinkConfiguration:\n        fake.job.fail-after-ms: \"1500\"\n",
    );
    d.deploy("v.yaml", &text);
    d.wait("the unknown version in the log", 10, || {
        d.log()
            .contains("Flink `7.7` is not configured")
            .then_some(())
    });
    assert_eq!(d.status("versioned"), None);

    let config = std::fs::read_to_string(d.path("flinkd.toml")).unwrap();
    let with_version = config.replace(
        "[timing]",
        &format!("\"7.7\" = \"{}\"\n[timing]", home.display()),
    );
    assert_ne!(with_version, config);
    std::fs::write(d.path("flinkd.toml"), &with_version).unwrap();
    d.signal(nix::sys::signal::Signal::SIGHUP);
    d.wait_status("versioned", DeploymentState::Running, 30);

    // Polled once an hour, its failure goes unseen...
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_eq!(d.jobs("versioned").len(), 1);
    assert!(!d.events("versioned").iter().any(|e| e.name == "JOB_FAILED"));
    // ...until a reload brings the poll interval down.
    std::fs::write(
        d.path("flinkd.toml"),
        with_version.replace("poll_interval = \"1h\"", "poll_interval = \"200ms\""),
    )
    .unwrap();
    d.signal(nix::sys::signal::Signal::SIGHUP);
    d.wait("the failure to be seen", 10, || {
        d.events("versioned")
            .iter()
            .any(|e| e.name == "JOB_FAILED")
            .then_some(())
    });
}
