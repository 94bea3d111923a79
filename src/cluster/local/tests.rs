use super::*;

fn fake_home(dir: &Path) -> PathBuf {
    let home = dir.join("flink");
    std::fs::create_dir_all(home.join("bin")).unwrap();
    std::fs::create_dir_all(home.join("conf")).unwrap();
    std::fs::write(home.join("bin/jobmanager.sh"), "#!/bin/sh\n").unwrap();
    std::fs::write(
        home.join("conf/config.yaml"),
        "env:\n  java:\n    opts:\n      all: --add-opens=java.base/java.lang=ALL-UNNAMED\nrest:\n  port: 8081\ntaskmanager:\n  numberOfTaskSlots: 1\n",
    )
    .unwrap();
    std::fs::write(
        home.join("conf/log4j.properties"),
        "rootLogger.level = ${env:ROOT_LOG_LEVEL:-INFO}\nappender.main.name = MainAppender\n",
    )
    .unwrap();
    home
}

#[test]
fn generated_config_keeps_java_opts_merges_the_template_and_owns_ports() {
    let tmp = tempfile::tempdir().unwrap();
    let home = fake_home(tmp.path());
    let template: crate::spec::TemplateSpec = serde_json::from_value(serde_json::json!({
        "parallelism": 4,
        "numberOfTaskManagers": 2,
        "resources": {"jobManager": {"memory": "1.5g"}, "taskManager": {"memory": "2Gi"}},
        "flinkConfiguration": {"taskmanager.numberOfTaskSlots": "2", "rest.port": "1", "pipeline.name": "x"},
        "logging": {"log4jLoggers": {"": "WARN", "org.example": "DEBUG"}}
    }))
    .unwrap();
    let template = crate::expanded::builtin_template(&template, "2.3");
    let c = LocalCluster::prepare(&ClusterPlan {
        dir: tmp.path().join("clusters/j1"),
        flink_home: &home,
        template: &template,
        savepoints_dir: tmp.path().join("sp"),
        checkpoints_dir: tmp.path().join("chk"),
        work_dir: tmp.path().join("work"),
    })
    .unwrap();
    assert_eq!(c.task_managers, 2);
    assert_ne!(c.rest_port, c.rpc_port);
    let conf = std::fs::read_to_string(c.conf_dir().join("config.yaml")).unwrap();
    let v: BTreeMap<String, String> = serde_yaml::from_str(&conf).unwrap();
    assert_eq!(
        v["env.java.opts.all"],
        "--add-opens=java.base/java.lang=ALL-UNNAMED"
    );
    assert_eq!(v["jobmanager.memory.process.size"], "1536m");
    assert_eq!(v["taskmanager.memory.process.size"], "2048m");
    assert_eq!(
        v["taskmanager.numberOfTaskSlots"], "2",
        "the template's setting wins over ours"
    );
    assert_eq!(v["pipeline.name"], "x");
    assert_eq!(
        v["rest.port"],
        c.rest_port.to_string(),
        "ports stay the cluster's"
    );
    assert_eq!(v["env.pid.dir"], c.pid_dir().display().to_string());
    assert_eq!(v["parallelism.default"], "4");
    assert_eq!(
        v["execution.checkpointing.externalized-checkpoint-retention"],
        "RETAIN_ON_CANCELLATION"
    );
    assert_eq!(
        v["state.savepoints.dir"],
        format!("file://{}/", tmp.path().join("sp").display())
    );
    assert!(tmp.path().join("work").is_dir());
    let log4j = std::fs::read_to_string(c.conf_dir().join("log4j.properties")).unwrap();
    assert!(log4j.contains("rootLogger.level = WARN\n"), "{log4j}");
    assert!(
        log4j.contains("logger.flinkd0.name = org.example\nlogger.flinkd0.level = DEBUG\n"),
        "{log4j}"
    );
    assert_eq!(
        std::fs::read_to_string(c.conf_dir().join("workers")).unwrap(),
        "127.0.0.1\n"
    );
}

#[test]
fn a_home_that_is_not_flink_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let err = LocalCluster::prepare(&ClusterPlan {
        dir: tmp.path().join("c"),
        flink_home: tmp.path(),
        template: &crate::expanded::builtin_template(&Default::default(), "2.3"),
        savepoints_dir: tmp.path().join("sp"),
        checkpoints_dir: tmp.path().join("chk"),
        work_dir: tmp.path().join("work"),
    })
    .unwrap_err();
    assert!(
        err.to_string().contains("not a Flink distribution"),
        "{err}"
    );
}

#[test]
fn relative_directories_are_refused_before_anything_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let home = fake_home(tmp.path());
    let err = LocalCluster::prepare(&ClusterPlan {
        dir: tmp.path().join("c"),
        flink_home: &home,
        template: &crate::expanded::builtin_template(&Default::default(), "2.3"),
        savepoints_dir: PathBuf::from("config/../.flinkd/state/sp"),
        checkpoints_dir: tmp.path().join("chk"),
        work_dir: tmp.path().join("work"),
    })
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the savepoint directory config/../.flinkd/state/sp is not an absolute path"
    );
    assert!(!tmp.path().join("c").exists());
}

#[test]
fn only_processes_naming_the_cluster_dir_are_its_own() {
    let tmp = tempfile::tempdir().unwrap();
    let c = LocalCluster {
        dir: tmp.path().join("clusters/x"),
        flink_home: tmp.path().into(),
        rest_port: 1,
        rpc_port: 2,
        task_managers: 1,
        work_dir: PathBuf::new(),
        checkpoints: None,
        identity: None,
    };
    std::fs::create_dir_all(c.pid_dir()).unwrap();
    // Our own PID is alive but is not this cluster's process.
    std::fs::write(
        c.pid_dir().join("flink-standalonesession.pid"),
        format!("{}\n", std::process::id()),
    )
    .unwrap();
    assert!(c.live_pids().is_empty());
    assert!(!c.job_manager_alive());
    assert!(
        c.stop(Duration::from_millis(10)).is_ok(),
        "nothing of ours to stop"
    );
}

#[test]
fn a_recycled_pid_is_neither_adopted_nor_killed() {
    let tmp = tempfile::tempdir().unwrap();
    let c = LocalCluster::at(tmp.path().join("clusters/x"));
    std::fs::create_dir_all(c.log_dir()).unwrap();
    std::fs::create_dir_all(c.pid_dir()).unwrap();
    let followed = c.log_dir().join("x.log");
    std::fs::write(&followed, "").unwrap();
    // A process naming the cluster's directory on its command line...
    let mut tail = std::process::Command::new("tail")
        .arg("-f")
        .arg(&followed)
        .spawn()
        .unwrap();
    let pid = tail.id() as i32;
    let pid_file = c.pid_dir().join("flink-x-standalonesession.pid");
    std::fs::write(&pid_file, format!("{pid}\n")).unwrap();
    // ...is the cluster's during the boot its directory was prepared in...
    std::fs::write(
        c.dir.join("boot_id"),
        format!("{}\n", procs::boot_id().unwrap()),
    )
    .unwrap();
    let until = Instant::now() + Duration::from_secs(5);
    while c.live_pids() != [pid] {
        assert!(Instant::now() < until, "the process is never the cluster's");
        std::thread::sleep(Duration::from_millis(20));
    }
    // ...and not when the directory is of another boot: a PID recycled since a reboot.
    std::fs::write(
        c.dir.join("boot_id"),
        "0b0e7a4c-0000-4000-8000-000000000000\n",
    )
    .unwrap();
    assert!(c.live_pids().is_empty());
    assert!(!c.job_manager_alive());
    c.stop(Duration::from_millis(10)).unwrap();
    assert!(
        tail.try_wait().unwrap().is_none(),
        "the stranger was killed"
    );
    let _ = tail.kill();
    let _ = tail.wait();
}

/// The JVMs are gone (killed before the teardown), and what their user code spawned was
/// handed to init, in a session of its own: the teardown still finds it by the
/// cluster's FLINK_CONF_DIR in its environment, and ends it; a process of another
/// cluster is left alone.
#[test]
fn user_code_left_behind_by_dead_jvms_is_ended() {
    let tmp = tempfile::tempdir().unwrap();
    let c = LocalCluster::at(tmp.path().join("c"));
    let other = LocalCluster::at(tmp.path().join("other"));
    std::fs::create_dir_all(c.pid_dir()).unwrap();
    let spawn = |cluster: &LocalCluster| {
        std::process::Command::new("setsid")
            .args(["sleep", "60"])
            .env("FLINK_CONF_DIR", cluster.conf_dir())
            .spawn()
            .unwrap()
    };
    let mut orphan = spawn(&c);
    let mut stranger = spawn(&other);
    std::thread::sleep(Duration::from_millis(200));
    assert!(c.live_pids().is_empty(), "no JVM is left");
    c.stop(Duration::from_millis(10)).unwrap();
    let until = Instant::now() + Duration::from_secs(5);
    while orphan.try_wait().unwrap().is_none() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(orphan.try_wait().unwrap().is_some(), "the orphan was ended");
    assert!(
        stranger.try_wait().unwrap().is_none(),
        "another cluster's is not"
    );
    let _ = stranger.kill();
    let _ = stranger.wait();
}

#[test]
fn the_tree_holds_the_children_and_the_group() {
    let mut sh = std::process::Command::new("sh")
        .args(["-c", "sleep 60 & sleep 60 & wait"])
        .process_group(0)
        .spawn()
        .unwrap();
    let root = sh.id() as i32;
    let until = Instant::now() + Duration::from_secs(5);
    let tree = loop {
        let t = procs::tree(&[root]);
        if t.len() >= 2 || Instant::now() > until {
            break t;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(tree.len(), 2, "{tree:?}");
    assert!(tree.iter().all(|p| p.ppid == root && p.pgid == root));
    assert!(tree.iter().all(procs::still));
    let _ = kill(Pid::from_raw(-root), Signal::SIGKILL);
    let _ = sh.wait();
}

#[test]
fn a_log_tail_reads_the_end_only() {
    let tmp = tempfile::tempdir().unwrap();
    let c = LocalCluster::at(tmp.path().join("c"));
    std::fs::create_dir_all(c.log_dir()).unwrap();
    let mut text = "x".repeat(1 << 20);
    text.push_str("\nthe last line\n");
    std::fs::write(c.log_dir().join("flink-standalonesession-0.out"), text).unwrap();
    let tail = c.log_tail(2);
    assert!(tail.ends_with("the last line\n"), "{tail:.80}");
    assert!(tail.len() <= 64 << 10, "{}", tail.len());
}

/// Between the start script's fork and the exec of the JVM, the process on record is
/// still the distribution's script, its command line naming no cluster: it is the
/// cluster's by its FLINK_CONF_DIR, and a teardown stops it (found by the chaos soak: a
/// JobManager that exec'd after its teardown was left).
#[test]
fn a_process_still_in_the_start_script_is_the_clusters() {
    let tmp = tempfile::tempdir().unwrap();
    let c = LocalCluster::at(tmp.path().join("clusters/x"));
    std::fs::create_dir_all(c.pid_dir()).unwrap();
    let spawn = |conf: &Path| {
        std::process::Command::new("sh")
            .args(["-c", "sleep 30"])
            .env("FLINK_CONF_DIR", conf)
            .spawn()
            .unwrap()
    };
    let mut ours = spawn(&c.conf_dir());
    // Another cluster's script, from the same distribution.
    let mut other = spawn(&tmp.path().join("clusters/y/conf"));
    std::fs::write(
        c.pid_dir().join("flink-x-standalonesession.pid"),
        format!("{}\n{}\n", ours.id(), other.id()),
    )
    .unwrap();
    // Once `sh` runs (before its exec, the child is still this test's image).
    let until = Instant::now() + Duration::from_secs(5);
    while c.live_pids() != [ours.id() as i32] {
        assert!(Instant::now() < until, "{:?}", c.live_pids());
        std::thread::sleep(Duration::from_millis(20));
    }
    c.stop(Duration::from_secs(2)).unwrap();
    let _ = ours.wait();
    assert!(c.live_pids().is_empty());
    assert!(
        other.try_wait().unwrap().is_none(),
        "another cluster's process was hit"
    );
    let _ = other.kill();
    let _ = other.wait();
}
