//! Attacks on a daemon and its local clusters, tried on the fake Flink distribution (no
//! JVM): a process answering on a cluster's port in its place, files others could
//! read, processes user code spawned outliving the cluster, the daemon's environment
//! leaking into the clusters. The same impostor on real Flink: tests/e2e_identity.rs.

#![cfg(feature = "test-support")]

mod e2e;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use e2e::{on_the_fake, Daemon};
use flinkd::spec::DeploymentState;

fn ppid_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| Some(s.rsplit_once(')')?.1.trim_start().starts_with('Z')))
        == Some(false)
}

/// Every file and directory under `dir` that its owner's group or others could read.
fn readable_by_others(dir: &Path, out: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let meta = std::fs::symlink_metadata(e.path()).unwrap();
        if meta.file_type().is_symlink() {
            continue;
        }
        if meta.permissions().mode() & 0o077 != 0 {
            out.push(format!(
                "{} {:o}",
                e.path().display(),
                meta.permissions().mode()
            ));
        }
        if meta.is_dir() {
            readable_by_others(&e.path(), out);
        }
    }
}

#[test]
fn an_impostor_on_the_port_gets_no_jar_and_is_not_believed() {
    let _one = e2e::serial();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("fake.log");
    let d = Daemon::start_env(
        &e2e::fake_flink_home(),
        "",
        &[("FLINK_FAKE_LOG", log.to_str().unwrap())],
    );
    d.deploy(
        "i.yaml",
        &on_the_fake(
            "impostor",
            "  state: running\n  maxJobCreationAttempts: 2",
            &[("fake.startup.impostor", "x")],
        ),
    );
    d.wait_status("impostor", DeploymentState::Failed, 60);
    let failed: Vec<String> = d
        .events("impostor")
        .into_iter()
        .filter(|e| e.name == "JOB_CREATION_FAILED")
        .map(|e| e.message)
        .collect();
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert!(
        failed[0].contains("is not the JobManager flinkd started")
            && failed[0].contains("flinkd.cluster.identity")
            && failed[0].contains("nothing was uploaded"),
        "{}",
        failed[0]
    );
    let fake_log = std::fs::read_to_string(&log).unwrap();
    assert!(fake_log.contains("\"up\""), "the impostors ran: {fake_log}");
    assert!(
        !fake_log.contains("\"upload\""),
        "a jar reached an impostor: {fake_log}"
    );
    assert!(d.live_cluster_pids().is_empty(), "every attempt torn down");
}

#[test]
fn what_flinkd_writes_is_its_users_alone_and_clusters_get_a_clean_environment() {
    let _one = e2e::serial();
    let d = Daemon::start_env(
        &e2e::fake_flink_home(),
        "",
        &[("FLINKD_TEST_SECRET", "do-not-pass-on")],
    );
    d.deploy("p.yaml", &on_the_fake("private", "  state: running", &[]));
    d.wait_status("private", DeploymentState::Running, 30);

    let mut open = Vec::new();
    readable_by_others(&d.path("state"), &mut open);
    assert!(open.is_empty(), "readable by others: {open:#?}");
    let conf = d
        .cluster_dirs()
        .into_iter()
        .map(|c| c.join("conf/config.yaml"))
        .find(|p| p.is_file())
        .expect("a generated config");
    let text = std::fs::read_to_string(conf).unwrap();
    assert!(text.contains("flinkd.cluster.identity: "), "{text}");

    let pids = d.live_cluster_pids();
    assert!(!pids.is_empty());
    for pid in pids {
        let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
        let env = String::from_utf8_lossy(&env);
        let names: Vec<&str> = env
            .split('\0')
            .filter_map(|kv| kv.split_once('=').map(|(k, _)| k))
            .collect();
        assert!(!names.contains(&"FLINKD_TEST_SECRET"), "{names:?}");
        assert!(
            names.contains(&"PATH") && names.contains(&"FLINK_CONF_DIR"),
            "{names:?}"
        );
    }
}

#[test]
fn a_teardown_ends_what_user_code_spawned() {
    let _one = e2e::serial();
    let d = Daemon::start_with(&e2e::fake_flink_home(), "");
    let spec = "  state: running";
    let faults = [("fake.taskmanager.spawn", "x")];
    d.deploy("s.yaml", &on_the_fake("spawner", spec, &faults));
    d.wait_status("spawner", DeploymentState::Running, 30);
    let cluster = d.live_cluster_pids();
    let children: Vec<i32> = d.wait("the TaskManager's child", 10, || {
        let c: Vec<i32> = std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter(|p| ppid_of(*p).is_some_and(|pp| cluster.contains(&pp)))
            .collect();
        (!c.is_empty()).then_some(c)
    });
    d.deploy(
        "s.yaml",
        &on_the_fake("spawner", &spec.replace("running", "cancelled"), &faults),
    );
    d.wait_status("spawner", DeploymentState::Cancelled, 30);
    d.wait("the child to be gone", 10, || {
        children.iter().all(|c| !alive(*c)).then_some(())
    });
}

#[test]
fn a_torn_down_clusters_directory_is_pruned_and_a_running_ones_kept() {
    let _one = e2e::serial();
    let d = Daemon::start_with(
        &e2e::fake_flink_home(),
        "[files]\nkeep_cluster_dirs = \"2s\"",
    );
    d.deploy("k.yaml", &on_the_fake("kept", "  state: running", &[]));
    d.deploy("g.yaml", &on_the_fake("gone", "  state: running", &[]));
    d.wait_status("kept", DeploymentState::Running, 30);
    d.wait_status("gone", DeploymentState::Running, 30);
    let dir_of = |name: &str| {
        let job = d.jobs(name)[0].metadata.id;
        d.path(&format!("state/clusters/{job}"))
    };
    let (kept, gone) = (dir_of("kept"), dir_of("gone"));
    assert!(kept.is_dir() && gone.is_dir());
    d.deploy("g.yaml", &on_the_fake("gone", "  state: cancelled", &[]));
    d.wait_status("gone", DeploymentState::Cancelled, 30);
    d.wait("the ended cluster's directory to go", 30, || {
        (!gone.exists()).then_some(())
    });
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert!(
        kept.join("conf").is_dir(),
        "a running cluster's directory stays"
    );
    assert_eq!(d.status("kept"), Some(DeploymentState::Running));
    assert!(d
        .log()
        .contains("removed the directory of its ended cluster"));
}
