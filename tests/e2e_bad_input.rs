//! Bad input never hurts: malformed, huge and binary files, thousands of files at once,
//! a file rewritten a hundred times a second. The daemon stays up, its memory stays
//! bounded, and a running Deployment is untouched. On the fake Flink (no JVM).

#![cfg(feature = "test-support")]

mod e2e;
#[path = "support/hostile.rs"]
mod hostile;

use std::io::Write;
use std::time::{Duration, Instant};

use e2e::Daemon;
use flinkd::spec::DeploymentState;

fn deployment(name: &str, state: &str) -> String {
    format!(
        "kind: Deployment\napiVersion: v1\nmetadata:\n  name: {name}\nspec:\n  state: {state}\n  template:\n    spec:\n      artifact:\n        jarUri: {}\n        entryClass: org.example.Job\n",
        e2e::fake_jar().display()
    )
}

/// The daemon's resident memory, from /proc.
fn rss_mib(pid: u32) -> u64 {
    proc_status_mib(pid, "VmRSS:")
}

/// A memory figure of /proc/PID/status (`VmRSS:`, `VmHWM:` the peak), in MiB.
fn proc_status_mib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kb| kb.parse::<u64>().ok())
        .map(|kb| kb / 1024)
        .unwrap_or(0)
}

#[test]
fn bad_input_never_hurts() {
    let _one = e2e::serial();
    let d = Daemon::start_with(&e2e::fake_flink_home(), "");
    let pid = d.pid().expect("the daemon runs");
    d.deploy("steady.yaml", &deployment("steady", "running"));
    d.wait_status("steady", DeploymentState::Running, 30);
    let job = d.jobs("steady")[0].metadata.id;
    let dir = d.path("deployments");

    // Malformed, 100 MB (sparse: read no further than the cap), random bytes.
    std::fs::write(
        dir.join("malformed.yaml"),
        "kind: Deployment\nmetadata: [\n  oops",
    )
    .unwrap();
    std::fs::File::create(dir.join("huge.yaml"))
        .unwrap()
        .set_len(100 * 1024 * 1024)
        .unwrap();
    let mut x: u32 = 0x9e37_79b9;
    let junk: Vec<u8> = (0..65536)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect();
    std::fs::write(dir.join("random.yaml"), junk).unwrap();

    // Two thousand files at once (suspended: records, no clusters).
    let started = Instant::now();
    for i in 0..2000 {
        std::fs::write(
            dir.join(format!("bulk-{i:04}.yaml")),
            deployment(&format!("bulk-{i:04}"), "suspended"),
        )
        .unwrap();
    }
    // One file rewritten a hundred times a second for three seconds.
    let until = Instant::now() + Duration::from_secs(3);
    let mut flip = false;
    while Instant::now() < until {
        let state = if flip { "suspended" } else { "cancelled" };
        let mut f = std::fs::File::create(dir.join("flapping.yaml")).unwrap();
        f.write_all(deployment("flapping", state).as_bytes())
            .unwrap();
        flip = !flip;
        std::thread::sleep(Duration::from_millis(10));
    }
    d.wait("the bulk Deployments", 120, || {
        (d.status("bulk-1999") == Some(DeploymentState::Suspended)
            && d.status("bulk-0000") == Some(DeploymentState::Suspended))
        .then_some(())
    });
    let took = started.elapsed();

    // Still up, still the same job, memory bounded.
    assert!(
        std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "the daemon is up"
    );
    assert_eq!(d.status("steady"), Some(DeploymentState::Running));
    let jobs = d.jobs("steady");
    assert_eq!(jobs.len(), 1);
    assert_eq!(
        jobs[0].metadata.id, job,
        "the running Deployment is untouched"
    );
    let rss = rss_mib(pid);
    println!("2000 files recorded in {took:?}; daemon RSS {rss} MiB");
    assert!(rss < 512, "the daemon's memory is bounded: {rss} MiB");
    let log = d.log();
    assert!(
        log.contains("huge.yaml:1:1: (file): file is larger than 1m"),
        "the huge file is refused unread"
    );
    assert!(log.contains("random.yaml:"), "the binary file is reported");
    assert!(
        log.contains("malformed.yaml:"),
        "the malformed file is reported"
    );
    // The flapping file settles on its last content.
    d.wait("the flapping file to settle", 30, || {
        let want = if flip {
            DeploymentState::Cancelled
        } else {
            DeploymentState::Suspended
        };
        (d.status("flapping") == Some(want)).then_some(())
    });
}

/// Hostile YAML dropped into the watched directory of a running daemon: each file is one
/// located error, the daemon's peak memory stays under 256 MiB, the running Deployment
/// is untouched; and a restart, which reads the files again, comes up the same.
#[test]
fn hostile_yaml_never_takes_the_daemon_down() {
    let _one = e2e::serial();
    let mut d = Daemon::start_with(&e2e::fake_flink_home(), "");
    d.deploy("steady.yaml", &deployment("steady", "running"));
    d.wait_status("steady", DeploymentState::Running, 30);
    let job = d.jobs("steady")[0].metadata.id;
    for round in ["running", "restarted"] {
        if round == "restarted" {
            d.stop();
            d.restart();
        } else {
            for (name, text) in hostile::files() {
                d.deploy(name, &text);
            }
        }
        d.wait("every hostile file reported", 60, || {
            let log = d.log();
            hostile::files()
                .iter()
                .all(|(name, _)| {
                    log.matches(&format!("{name}:")).count()
                        >= if round == "running" { 1 } else { 2 }
                })
                .then_some(())
        });
        let pid = d.pid().expect("the daemon runs");
        std::thread::sleep(Duration::from_secs(1));
        assert!(
            std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "the daemon is up ({round})"
        );
        let peak = proc_status_mib(pid, "VmHWM:");
        println!("{round}: daemon peak RSS {peak} MiB");
        assert!(peak < 256, "{round}: the daemon peaked at {peak} MiB");
        assert_eq!(d.status("steady"), Some(DeploymentState::Running));
        let jobs = d.jobs("steady");
        assert_eq!(
            (jobs.len(), jobs[0].metadata.id),
            (1, job),
            "untouched ({round})"
        );
    }
    let log = d.log();
    assert!(
        log.contains("laughs.yaml:5:45: (file): invalid YAML: expands to more than 100000 nodes"),
        "{log}"
    );
    assert!(
        log.contains("deep.yaml:1:256: (file): invalid YAML: nested more than 64 levels deep"),
        "{log}"
    );
}
