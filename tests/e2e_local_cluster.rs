// suite: real-flink (scripts/test.sh runs these apart from the fake-only tests)
//! The local target against a real Flink distribution (FLINK_HOME_FOR_TESTS, set by
//! scripts/test.sh). One cluster at a time; every cluster is stopped on every path out.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use flinkd::cluster::local::{ClusterPlan, Launcher, LocalCluster, StartedWith};
use flinkd::flink::{http_client, FlinkClient};
use flinkd::spec::TemplateSpec;

fn flink_home() -> PathBuf {
    let home = std::env::var("FLINK_HOME_FOR_TESTS")
        .expect("FLINK_HOME_FOR_TESTS is not set: run the suite with scripts/test.sh");
    PathBuf::from(home)
}

/// Stops the cluster when the test ends, however it ends.
struct Guard(LocalCluster);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.stop(Duration::from_secs(5));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_starts_registers_its_task_managers_and_stops_without_leftovers() {
    let tmp = tempfile::tempdir().unwrap();
    let home = flink_home();
    let template: TemplateSpec = serde_json::from_value(serde_json::json!({
        "parallelism": 2,
        "numberOfTaskManagers": 2,
        "resources": {"jobManager": {"memory": "1g"}, "taskManager": {"memory": "1g"}}
    }))
    .unwrap();
    let template = flinkd::expanded::builtin_template(&template, "2.3");
    let cluster = LocalCluster::prepare(&ClusterPlan {
        dir: tmp.path().join("clusters/test"),
        flink_home: &home,
        template: &template,
        savepoints_dir: tmp.path().join("sp"),
        checkpoints_dir: tmp.path().join("chk"),
        work_dir: tmp.path().join("work"),
    })
    .unwrap();
    let guard = Guard(cluster.clone());
    let started = Instant::now();
    let launcher = Launcher::direct(tmp.path().join("launch"));
    let with = tokio::task::spawn_blocking({
        let c = cluster.clone();
        move || c.start(&launcher)
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(with, StartedWith::Direct { computed: true });
    let client = FlinkClient::new(http_client(Duration::from_secs(2)), cluster.rest_url());
    let overview = loop {
        match client.overview().await {
            Ok(o) if o.taskmanagers == 2 && o.slots_total == 2 => break o,
            _ if started.elapsed() > Duration::from_secs(90) => {
                panic!("not ready after 90s:\n{}", cluster.log_tail(30))
            }
            _ => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    };
    println!("cluster ready in {:?}", started.elapsed());
    assert_eq!(overview.slots_total, 2);
    assert!(overview.flink_version.starts_with("2."), "{overview:?}");
    let pids = cluster.live_pids();
    assert_eq!(
        pids.len(),
        3,
        "one JobManager and two TaskManagers: {pids:?}"
    );
    assert!(cluster.job_manager_alive());

    cluster.stop(Duration::from_secs(10)).unwrap();
    assert!(cluster.live_pids().is_empty());
    for p in pids {
        assert!(
            !std::path::Path::new(&format!("/proc/{p}")).exists() || {
                let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
                stat.contains(") Z")
            },
            "process {p} is still running"
        );
    }
    assert!(client.overview().await.is_err(), "REST is gone too");
    drop(guard);
}

/// A cluster's directory prepared for the template, not started.
fn prepared(
    root: &std::path::Path,
    name: &str,
    template: &flinkd::expanded::ExpandedTemplate,
) -> LocalCluster {
    LocalCluster::prepare(&ClusterPlan {
        dir: root.join("clusters").join(name),
        flink_home: &flink_home(),
        template,
        savepoints_dir: root.join("sp"),
        checkpoints_dir: root.join("chk"),
        work_dir: root.join("work"),
    })
    .unwrap()
}

/// The command line and environment of a live process, as text lines.
fn process_of(pid: i32) -> (Vec<String>, std::collections::BTreeMap<String, String>) {
    let split = |b: Vec<u8>| -> Vec<String> {
        b.split(|c| *c == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect()
    };
    let cmdline = split(std::fs::read(format!("/proc/{pid}/cmdline")).unwrap());
    let env = split(std::fs::read(format!("/proc/{pid}/environ")).unwrap())
        .into_iter()
        .filter_map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect();
    (cmdline, env)
}

/// The JVM of one role of a started cluster, by its PID file.
fn jvm(cluster: &LocalCluster, role: &str) -> i32 {
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let pid = std::fs::read_dir(cluster.pid_dir())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains(role))
            .find_map(|e| std::fs::read_to_string(e.path()).ok())
            .and_then(|t| t.lines().next().and_then(|l| l.trim().parse().ok()));
        // A script's PID is its JVM's once the script has exec'd java.
        if let Some(pid) = pid {
            let (cmd, _) = process_of(pid);
            if cmd.first().is_some_and(|c| c.ends_with("java")) {
                return pid;
            }
        }
        assert!(
            Instant::now() < until,
            "no {role} JVM after 60s:\n{}",
            cluster.log_tail(20)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The direct start gives each JVM the command line, environment and log files Flink's
/// scripts give it (the only differences: the cluster's own directory), from a sizing
/// computed once and then read from the cache; with class-data sharing, the first
/// cluster's JVMs record an archive as they stop, which the next cluster's JVMs use.
#[tokio::test(flavor = "multi_thread")]
async fn the_direct_start_runs_the_jvms_the_scripts_run() {
    let tmp = tempfile::tempdir().unwrap();
    let template: TemplateSpec = serde_json::from_value(serde_json::json!({
        "parallelism": 1,
        "resources": {"jobManager": {"memory": "768m"}, "taskManager": {"memory": "1g"}},
        "flinkConfiguration": {
            "env.java.opts.taskmanager": "-Xss2m  -Dflinkd.test=1",
            "env.log.max": "4"
        }
    }))
    .unwrap();
    let template = flinkd::expanded::builtin_template(&template, "2.3");
    let by_scripts = prepared(tmp.path(), "scripts", &template);
    let direct = prepared(tmp.path(), "direct", &template);
    let again = prepared(tmp.path(), "again", &template);
    let shared = prepared(tmp.path(), "shared", &template);
    let _guards = (
        Guard(by_scripts.clone()),
        Guard(direct.clone()),
        Guard(again.clone()),
        Guard(shared.clone()),
    );
    let cache = tmp.path().join("launch");
    let start = |c: &LocalCluster, l: Launcher| {
        let c = c.clone();
        tokio::task::spawn_blocking(move || c.start(&l))
    };
    let with = start(&by_scripts, Launcher::scripts())
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(with, StartedWith::Scripts { .. }), "{with:?}");
    let exactly = Launcher::direct(cache.clone()).without_class_data_sharing();
    let with = start(&direct, exactly).await.unwrap().unwrap();
    assert_eq!(with, StartedWith::Direct { computed: true });
    for role in ["standalonesession", "taskexecutor"] {
        let (cmd_s, env_s) = process_of(jvm(&by_scripts, role));
        let (cmd_d, env_d) = process_of(jvm(&direct, role));
        let same = |s: &str| {
            s.replace(
                &by_scripts.dir.display().to_string(),
                &direct.dir.display().to_string(),
            )
        };
        let cmd_s: Vec<String> = cmd_s.iter().map(|a| same(a)).collect();
        assert_eq!(cmd_s, cmd_d, "{role}: the command lines differ");
        if role == "taskexecutor" {
            assert!(cmd_d.iter().any(|a| a == "-Xss2m"), "{cmd_d:?}");
        }
        // The shell's own variables aside, the environment is the scripts'.
        let shell = ["PWD", "OLDPWD", "SHLVL", "_"];
        let keys = |e: &std::collections::BTreeMap<String, String>| -> Vec<String> {
            e.keys()
                .filter(|k| !shell.contains(&k.as_str()))
                .cloned()
                .collect()
        };
        assert_eq!(
            keys(&env_s),
            keys(&env_d),
            "{role}: the environments differ"
        );
        for (k, v) in &env_d {
            let theirs = same(&env_s[k]);
            if k == "FLINK_INHERITED_LOGS" {
                // The sizing's log, less the lines that name the first cluster's settings.
                let head = |t: &str| t.lines().take(6).collect::<Vec<_>>().join("\n");
                assert_eq!(head(&theirs), head(v), "{role}: {k}");
            } else {
                assert_eq!(&theirs, v, "{role}: {k}");
            }
        }
        assert_eq!(env_d["MAX_LOG_FILE_NUMBER"], "4");
    }
    // The same log and .out files, by name.
    let names = |c: &LocalCluster| -> Vec<String> {
        let mut n: Vec<String> = std::fs::read_dir(c.log_dir())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("flink-") && n.ends_with(".out"))
            .collect();
        n.sort();
        n
    };
    assert_eq!(names(&by_scripts), names(&direct));
    // Both clusters answer with their TaskManager.
    ready(&by_scripts, 1).await;
    ready(&direct, 1).await;
    by_scripts.stop(Duration::from_secs(10)).unwrap();
    direct.stop(Duration::from_secs(10)).unwrap();
    // A second cluster of the same settings reads its sizing from the cache, and its
    // JVMs record what they load as they exit.
    let with = start(&again, Launcher::direct(cache.clone()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(with, StartedWith::Direct { computed: false });
    let flag = |c: &LocalCluster, role: &str, option: &str| {
        process_of(jvm(c, role))
            .0
            .iter()
            .any(|a| a.starts_with(option))
    };
    for role in ["standalonesession", "taskexecutor"] {
        assert!(flag(&again, role, "-XX:ArchiveClassesAtExit="), "{role}");
    }
    ready(&again, 1).await;
    again.stop(Duration::from_secs(10)).unwrap();
    let archives: Vec<_> = std::fs::read_dir(cache.join("cds"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        archives.iter().filter(|n| n.ends_with(".jsa")).count(),
        2,
        "one archive per role: {archives:?}"
    );
    // The next cluster maps them, and runs.
    let began = Instant::now();
    start(&shared, Launcher::direct(cache.clone()))
        .await
        .unwrap()
        .unwrap();
    for role in ["standalonesession", "taskexecutor"] {
        assert!(flag(&shared, role, "-XX:SharedArchiveFile="), "{role}");
    }
    ready(&shared, 1).await;
    println!("with class-data sharing, ready in {:?}", began.elapsed());
    let out = std::fs::read_dir(shared.log_dir())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".out"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect::<String>();
    assert!(!out.contains("[cds]"), "the JVM refused its archive: {out}");
    shared.stop(Duration::from_secs(10)).unwrap();
    for c in [&by_scripts, &direct, &again, &shared] {
        assert!(c.live_pids().is_empty());
    }
}

/// Waits until the cluster answers with `task_managers` TaskManagers.
async fn ready(c: &LocalCluster, task_managers: u32) {
    let client = FlinkClient::new(http_client(Duration::from_secs(2)), c.rest_url());
    let until = Instant::now() + Duration::from_secs(90);
    while !client
        .overview()
        .await
        .is_ok_and(|o| o.taskmanagers == task_managers)
    {
        assert!(Instant::now() < until, "not ready:\n{}", c.log_tail(30));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
