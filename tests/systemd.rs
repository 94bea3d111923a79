//! systemd: the shipped unit is valid, and the daemon speaks sd_notify.

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn the_unit_file_is_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let unit = std::fs::read_to_string(root.join("systemd/flinkd.service")).unwrap();
    for line in [
        "Type=notify",
        "ExecStart=/usr/local/bin/flinkd run --config /etc/flinkd/flinkd.toml",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "KillMode=process",
        "WatchdogSec=",
        "User=flinkd",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "ReadWritePaths=/var/lib/flinkd",
    ] {
        assert!(unit.contains(line), "the unit lacks `{line}`");
    }
    let Ok(out) = Command::new("systemd-analyze").arg("--version").output() else {
        eprintln!("systemd-analyze is not installed: the unit was checked by content only");
        return;
    };
    assert!(out.status.success());
    // Verify it with its binary and config where this checkout has them.
    let dir = tempfile::tempdir().unwrap();
    let local = unit
        .replace("/usr/local/bin/flinkd", env!("CARGO_BIN_EXE_flinkd"))
        .replace(
            "/etc/flinkd/flinkd.toml",
            &root.join("config/flinkd.toml").display().to_string(),
        );
    let path = dir.path().join("flinkd.service");
    std::fs::write(&path, local).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "systemd-analyze verify: {err}");
    assert!(!err.contains("Failed to parse"), "{err}");
}

/// A directory for a daemon with no Flink: an empty deployments directory, a state
/// directory and the API on a free port, in `flinkd.toml`.
fn daemon_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("deployments")).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = format!("deployments_dir = \"deployments\"\nstate_dir = \"state\"\n[api]\nlisten = \"127.0.0.1:{port}\"\n");
    std::fs::write(dir.path().join("flinkd.toml"), config).unwrap();
    dir
}

/// The daemon under test, killed when the test ends, however it ends.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reads notifications until one contains `what`, failing after `secs`.
fn expect(socket: &UnixDatagram, what: &str, secs: u64, seen: &mut Vec<String>) -> String {
    let until = Instant::now() + Duration::from_secs(secs);
    let mut buf = [0u8; 4096];
    while Instant::now() < until {
        if let Ok(n) = socket.recv(&mut buf) {
            let msg = String::from_utf8_lossy(&buf[..n]).to_string();
            seen.push(msg.clone());
            if msg.contains(what) {
                return msg;
            }
        }
    }
    panic!("no `{what}` within {secs}s; received {seen:?}");
}

#[test]
fn the_daemon_notifies_systemd() {
    let dir = daemon_dir();
    let sock_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&sock_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    // As systemd does: WATCHDOG_PID is flinkd's own PID (the shell's, which exec keeps).
    let mut child = Running(
        Command::new("sh")
            .arg("-c")
            .arg(format!(
                "WATCHDOG_PID=$$ exec '{}' run --config '{}'",
                env!("CARGO_BIN_EXE_flinkd"),
                dir.path().join("flinkd.toml").display()
            ))
            .env("NOTIFY_SOCKET", &sock_path)
            .env("WATCHDOG_USEC", "400000")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let pid = nix::unistd::Pid::from_raw(child.0.id() as i32);
    let mut seen = Vec::new();
    let ready = expect(&socket, "READY=1", 15, &mut seen);
    assert!(ready.contains("STATUS=0 Deployments"), "{ready}");
    expect(&socket, "WATCHDOG=1", 3, &mut seen);
    // An idle daemon is quiet: watchdog pings only, no rescans.
    seen.clear();
    expect(&socket, "WATCHDOG=1", 3, &mut seen);
    expect(&socket, "WATCHDOG=1", 3, &mut seen);
    assert!(seen.iter().all(|m| m == "WATCHDOG=1\n"), "{seen:?}");

    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
    let reloading = expect(&socket, "RELOADING=1", 5, &mut seen);
    assert!(reloading.contains("MONOTONIC_USEC="), "{reloading}");
    expect(&socket, "READY=1", 5, &mut seen);

    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    expect(&socket, "STOPPING=1", 5, &mut seen);
    let until = Instant::now() + Duration::from_secs(15);
    while child.0.try_wait().unwrap().is_none() {
        assert!(Instant::now() < until, "flinkd did not exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn logs_can_be_json_lines() {
    let dir = daemon_dir();
    std::fs::write(dir.path().join("deployments/bad.yaml"), "kind: [").unwrap();
    let log = dir.path().join("log");
    let child = Running(
        Command::new(env!("CARGO_BIN_EXE_flinkd"))
            .args(["run", "--log-format", "json", "--config"])
            .arg(dir.path().join("flinkd.toml"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let until = Instant::now() + Duration::from_secs(10);
    let text = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("bad.yaml") || Instant::now() > until {
            break text;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    drop(child);
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["message"] == "flinkd starting" && l["level"] == "INFO"),
        "{text}"
    );
    assert!(
        lines.iter().any(|l| l["level"] == "ERROR"
            && l["message"]
                .as_str()
                .is_some_and(|m| m.contains("bad.yaml:"))),
        "{text}"
    );
}
