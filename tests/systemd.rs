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
        "ExecStart=/usr/bin/flinkd run --config /etc/flinkd/flinkd.toml",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "KillMode=process",
        "WatchdogSec=",
        "User=flinkd",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "StateDirectory=flinkd",
        "UMask=0077",
        "PrivateTmp=yes",
        "ProtectKernelTunables=yes",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK",
        "SystemCallFilter=@system-service",
        "CapabilityBoundingSet=\n",
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
        .replace("/usr/bin/flinkd", env!("CARGO_BIN_EXE_flinkd"))
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

/// `systemd-analyze security` scores the unit as installed at most 4.0 ("OK"), with
/// the JVMs' needs (writable executable memory for the JIT) left as they are.
#[test]
fn the_unit_scores_at_most_4_in_systemd_analyze_security() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = match Command::new("systemd-analyze")
        .args(["security", "--offline=yes"])
        .arg(root.join("systemd/flinkd.service"))
        .output()
    {
        Ok(out) => out,
        Err(e) => {
            eprintln!("SKIPPED: systemd-analyze is not installed ({e})");
            return;
        }
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let score: f64 = text
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for flinkd.service: ")
                .nth(1)
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "no score in: {text}{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    eprintln!("systemd-analyze security: {score}");
    assert!(score <= 4.0, "exposure {score} > 4.0:\n{text}");
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

/// The Debian package, built by `scripts/package.sh` and installed with `dpkg -i`: the
/// binary, the unit, the config, the directories and the user are where the unit
/// expects them; then purged. Skipped where dpkg is missing, without root, or where a
/// flinkd package is installed already (it is not this test's to remove).
#[test]
fn the_debian_package_installs_what_the_unit_needs() {
    let have = |tool: &str| {
        Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !have("dpkg") || !have("dpkg-deb") {
        eprintln!("SKIPPED: dpkg is missing");
        return;
    }
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("SKIPPED: installing a package needs root");
        return;
    }
    let installed = Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", "flinkd"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("installed"));
    if installed {
        eprintln!("SKIPPED: a flinkd package is installed here already");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("scripts/package.sh")
        .current_dir(root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "scripts/package.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deb = root.join(String::from_utf8_lossy(&out.stdout).trim());
    struct Purge;
    impl Drop for Purge {
        fn drop(&mut self) {
            let _ = Command::new("dpkg")
                .args(["--purge", "flinkd"])
                .stdout(Stdio::null())
                .status();
        }
    }
    let _purge = Purge;
    let out = Command::new("dpkg").arg("-i").arg(&deb).output().unwrap();
    assert!(
        out.status.success(),
        "dpkg -i: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let user = nix::unistd::User::from_name("flinkd")
        .unwrap()
        .expect("the flinkd user");
    let state = std::fs::metadata("/var/lib/flinkd").unwrap();
    assert_eq!(state.uid(), user.uid.as_raw());
    assert_eq!(state.permissions().mode() & 0o777, 0o700);
    assert!(Path::new("/etc/flinkd/deployments").is_dir());
    assert!(Path::new("/lib/systemd/system/flinkd.service").is_file());
    for generated in [
        "/usr/share/man/man1/flinkd.1.gz",
        "/usr/share/bash-completion/completions/flinkd",
        "/usr/share/zsh/vendor-completions/_flinkd",
        "/usr/share/fish/vendor_completions.d/flinkd.fish",
    ] {
        let size = std::fs::metadata(generated).map(|m| m.len()).unwrap_or(0);
        assert!(size > 100, "{generated} is installed ({size} bytes)");
    }
    let version = Command::new("/usr/bin/flinkd")
        .arg("--version")
        .output()
        .unwrap();
    assert!(version.status.success());
    // The packaged config is one flinkd reads.
    let check = Command::new("/usr/bin/flinkd")
        .args([
            "validate",
            "--config",
            "/etc/flinkd/flinkd.toml",
            "/etc/flinkd/deployments",
        ])
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
}
