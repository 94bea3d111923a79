//! Attacks on the HTTP API of a running daemon (on the fake Flink): a page on another
//! name (DNS rebinding), a cross-site "simple" POST, a missing token, a slowloris and
//! two thousand idle sockets, an events log read whole, secrets in a spec, and a
//! listener off loopback without a token.

#![cfg(feature = "test-support")]

mod e2e;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use e2e::{on_the_fake, Daemon};
use flinkd::spec::DeploymentState;

/// One raw HTTP/1.1 request; the status code and the body.
fn raw(api: &str, request: &str) -> (u16, String) {
    let addr = api.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// Waits until the daemon's API takes connections.
fn ready(d: &Daemon) {
    let addr = d.api.trim_start_matches("http://").to_string();
    d.wait("the API", 20, || TcpStream::connect(&addr).ok().map(|_| ()));
}

fn get(api: &str, host: &str, path: &str, extra: &str) -> (u16, String) {
    raw(
        api,
        &format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n"),
    )
}

#[test]
fn another_host_a_simple_post_and_secrets_get_nothing() {
    let _one = e2e::serial();
    let d = Daemon::start_with(&e2e::fake_flink_home(), "");
    d.deploy(
        "s.yaml",
        &on_the_fake(
            "secretive",
            "  state: running",
            &[
                ("s3.secret-key", "hunter2"),
                ("fs.s3a.access.token", "t0k3n"),
            ],
        ),
    );
    d.wait_status("secretive", DeploymentState::Running, 30);
    let path = "/api/v1/namespaces/default/deployments/secretive";
    let (code, body) = get(&d.api, "evil.example:8089", path, "");
    assert_eq!(code, 403, "{body}");
    assert!(
        body.contains("Host `evil.example:8089` is not a name of this API"),
        "{body}"
    );

    let (code, body) = get(&d.api, "127.0.0.1", path, "");
    assert_eq!(code, 200, "{body}");
    assert!(
        !body.contains("hunter2") && !body.contains("t0k3n"),
        "{body}"
    );
    assert!(body.contains("******"), "{body}");

    // A form a page could send to any site: refused before anything happens.
    let id = d.deployment("secretive").unwrap().metadata.id.unwrap();
    let form = format!(
        "POST /api/v1/namespaces/default/savepoints?deploymentId={id} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi"
    );
    let (code, body) = raw(&d.api, &form);
    assert_eq!(code, 415, "{body}");
    assert!(d.savepoints("secretive").is_empty());
    // The CLI's own POST is JSON, and goes through.
    let (code, _, err) = d.cli(&["savepoint", "secretive"]);
    assert_eq!(code, 0, "{err}");

    // The events log, a page at a time.
    let events = format!("/api/v1/namespaces/default/events?deploymentId={id}&limit=1");
    let (code, body) = get(&d.api, "localhost", &events, "");
    assert_eq!(code, 200, "{body}");
    let page: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 1, "{body}");
    let next = page["next"].as_i64().expect("a next page");
    let (_, body) = get(&d.api, "localhost", &format!("{events}&after={next}"), "");
    let second: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(second["items"][0]["seq"].as_i64().unwrap() > next, "{body}");
    let (code, out, err) = d.cli(&["events", "secretive"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("SAVEPOINT"), "{out}");

    // An edit of a secret (an upgrade names the fields it changed), then a broken one
    // (its error names the field): no secret in the log, the events or the CLI's views.
    let edited = |secret: &str| {
        on_the_fake(
            "secretive",
            "  state: running",
            &[("s3.secret-key", secret), ("fs.s3a.access.token", "t0k3n")],
        )
    };
    d.deploy("s.yaml", &edited("hunter3"));
    d.wait("the upgrade", 30, || {
        (d.jobs("secretive").len() == 2 && d.status("secretive") == Some(DeploymentState::Running))
            .then_some(())
    });
    d.deploy("s.yaml", &edited("hunter4\\a"));
    d.wait("the broken file reported", 10, || {
        d.log().contains("s.yaml:").then_some(())
    });
    let (_, yaml, _) = d.cli(&["get", "deployment", "secretive", "-o", "yaml"]);
    assert!(yaml.contains("s3.secret-key"), "{yaml}");
    let (_, jobs, _) = d.cli(&["get", "jobs", "secretive", "-o", "yaml"]);
    let (_, events, _) = d.cli(&["events", "secretive"]);
    let stored: String = d
        .events("secretive")
        .iter()
        .map(|e| e.message.clone())
        .collect();
    for (what, text) in [
        ("the log", d.log()),
        ("flinkd get deployment -o yaml", yaml),
        ("flinkd get jobs -o yaml", jobs),
        ("flinkd events", events),
        ("the stored events", stored),
    ] {
        for secret in ["hunter", "t0k3n"] {
            assert!(!text.contains(secret), "{what} holds `{secret}`:\n{text}");
        }
    }
}

#[test]
fn a_token_guards_every_path_but_healthz() {
    let _one = e2e::serial();
    let d = Daemon::start_env(
        &e2e::fake_flink_home(),
        "",
        &[("FLINKD_API__TOKEN", "s3cret")],
    );
    ready(&d);
    let path = "/api/v1/namespaces/default/deployments";
    assert_eq!(get(&d.api, "localhost", path, "").0, 401);
    assert_eq!(
        get(&d.api, "localhost", path, "Authorization: Bearer wrong\r\n").0,
        401
    );
    assert_eq!(
        get(
            &d.api,
            "localhost",
            path,
            "Authorization: Bearer s3cret\r\n"
        )
        .0,
        200
    );
    assert_eq!(get(&d.api, "localhost", "/healthz", "").0, 200);
    let cli = |token: Option<&str>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_flinkd"));
        c.args(["get", "deployments", "--server", &d.api])
            .env_remove("FLINKD_API_TOKEN");
        if let Some(t) = token {
            c.env("FLINKD_API_TOKEN", t);
        }
        let out = c.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = cli(None);
    assert_ne!(code, Some(0));
    assert!(err.contains("bearer token"), "{err}");
    let (code, err) = cli(Some("s3cret"));
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn a_listener_off_loopback_needs_a_token() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("deployments")).unwrap();
    let config = dir.path().join("flinkd.toml");
    std::fs::write(
        &config,
        format!(
            "deployments_dir = \"deployments\"\nstate_dir = \"state\"\n[api]\nlisten = \"0.0.0.0:{}\"\n",
            e2e::free_port()
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_flinkd"))
        .args(["run", "--config"])
        .arg(&config)
        .env_remove("FLINKD_API__TOKEN")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("api.token") && err.contains("not a loopback address"),
        "{err}"
    );
    assert!(
        !dir.path().join("state/flinkd.db").exists(),
        "it drove nothing"
    );
}

#[test]
fn a_slowloris_and_two_thousand_idle_sockets_do_not_stop_the_api() {
    let _one = e2e::serial();
    // Room for the sockets, in this process and the daemon it starts.
    let (_, hard) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).unwrap();
    let want = 4096.min(hard);
    nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE, want, hard).unwrap();
    let d = Daemon::start_with(&e2e::fake_flink_home(), "");
    ready(&d);
    let addr = d.api.trim_start_matches("http://").to_string();
    let idle = (want as usize).saturating_sub(1000).min(2000);
    let sockets: Vec<TcpStream> = (0..idle)
        .map(|_| TcpStream::connect(&addr).unwrap())
        .collect();
    // A slowloris: headers one byte at a time, never finished.
    let mut slow = TcpStream::connect(&addr).unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
        .unwrap();
    let began = Instant::now();
    let (code, body) = get(&d.api, "localhost", "/healthz", "");
    assert_eq!(code, 200, "{body}");
    assert!(
        began.elapsed() < Duration::from_secs(5),
        "{:?}",
        began.elapsed()
    );
    // The slow one is cut off once its headers took too long.
    slow.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let cut = Instant::now();
    let mut buf = [0u8; 256];
    // One more byte, then the answer: the connection's end (or an error), not a wait.
    if slow.write_all(b"X").is_ok() {
        let _ = slow.read(&mut buf);
    }
    assert!(
        cut.elapsed() < Duration::from_secs(25),
        "{:?}",
        cut.elapsed()
    );
    eprintln!(
        "{idle} idle sockets; the slowloris cut after {:?}",
        cut.elapsed()
    );
    // A socket that never sent a byte is closed too: it holds no slot for ever.
    let mut quiet = &sockets[0];
    quiet
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let n = quiet.read(&mut buf);
    assert!(
        n.is_ok() && began.elapsed() < Duration::from_secs(20),
        "an idle socket still open after {:?}: {n:?}",
        began.elapsed()
    );
    drop(sockets);
}
