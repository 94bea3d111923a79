//! The `flink` benchmark: real Flink, by hand and through flinkd, side by side, one
//! cluster at a time, rounds alternating so that both sides see the same machine.
//!
//! Each round, on each side: the example job from nothing to RUNNING (a file drop; the
//! scripts and `flink run -d` by hand), the JobManager's and TaskManager's RSS once it
//! runs, a STATEFUL upgrade (a new `--rate`; by hand `flink stop --savepointPath`, the
//! cluster stopped, a new one started with the scripts, `flink run -s`) whose downtime
//! is read from the job's own output (the longest pause between two counts the job
//! wrote, the count carrying on across it), then a suspension (`flink stop`).
//!
//! flinkd's first round starts with an empty `state_dir/launch` (its sizing computed,
//! no class-data sharing archive yet: the cold figures); later rounds start with what
//! the rounds before left there (the warm ones, a daemon that has run before).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::session::{self, free_port};
use super::{mem_mib, sorted, Http, Proc, FLINKD};

/// The Flink distribution and the example job (scripts/prerequisites.sh puts both under
/// `.flinkd/`).
fn flink_home_and_jar() -> (PathBuf, PathBuf) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let home = std::env::var("FLINK_HOME_FOR_TESTS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join(".flinkd/flink-2.3"));
    let jar = root.join(".flinkd/jobs/counter.jar");
    assert!(
        home.join("bin/jobmanager.sh").is_file() && jar.is_file(),
        "run scripts/prerequisites.sh first (Flink and the example job)"
    );
    (home, jar)
}

/// The job's state as Flink reports it.
fn flink_job_state(http: &Http, url: &str, jid: &str) -> Option<String> {
    http.json(&format!("{url}/jobs/{jid}"))
        .and_then(|j| j["state"].as_str().map(String::from))
}

/// What one side measured in one round.
#[derive(Debug, Clone, Default)]
struct Round {
    start: f64,
    idle_rss_mib: f64,
    upgrade_downtime: f64,
    /// flinkd's own figure (its event), beside the one read from the output.
    reported_downtime: Option<f64>,
    suspend: f64,
}

/// Watches the count file the job writes, every 2 ms: when each new count appeared.
struct Counts {
    seen: Arc<Mutex<Vec<(Instant, u64)>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Counts {
    fn watch(file: &Path) -> Counts {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (seen, stop, file) = (seen.clone(), stop.clone(), file.to_path_buf());
            std::thread::spawn(move || {
                let mut last = None;
                while !stop.load(Ordering::Relaxed) {
                    let v = std::fs::read_to_string(&file)
                        .ok()
                        .and_then(|t| t.trim().parse::<u64>().ok());
                    if let Some(count) = v.filter(|_| v != last) {
                        seen.lock().unwrap().push((Instant::now(), count));
                        last = v;
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
            })
        };
        Counts {
            seen,
            stop,
            thread: Some(thread),
        }
    }

    /// The longest pause between two counts after `since`, once the count has gone on
    /// for 20 more records after `settled` (the new job known to run); panics if it
    /// started again from the beginning.
    fn downtime_after(&self, since: Instant, settled: Instant) -> f64 {
        let until = Instant::now() + Duration::from_secs(120);
        loop {
            let seen = self.seen.lock().unwrap().clone();
            let after: Vec<(Instant, u64)> = seen
                .iter()
                .copied()
                .skip_while(|(t, _)| *t < since)
                .collect();
            if after.iter().filter(|(t, _)| *t > settled).count() > 20 {
                let w = after
                    .windows(2)
                    .max_by_key(|w| w[1].0 - w[0].0)
                    .expect("counts after the upgrade");
                assert!(
                    w[1].1 > w[0].1,
                    "the count started again: {} after {}",
                    w[1].1,
                    w[0].1
                );
                return (w[1].0 - w[0].0).as_secs_f64();
            }
            assert!(Instant::now() < until, "the count did not carry on");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Counts {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The RSS of the live JVMs whose PIDs the files under `pid_dirs` hold, in MiB.
fn cluster_rss(pid_dirs: &[PathBuf]) -> f64 {
    pid_dirs
        .iter()
        .flat_map(|d| std::fs::read_dir(d).into_iter().flatten().flatten())
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .flat_map(|t| {
            t.lines()
                .filter_map(|l| l.trim().parse::<u32>().ok())
                .collect::<Vec<_>>()
        })
        .map(|pid| mem_mib(pid, "VmRSS:"))
        .sum()
}

/// `flink run -d` of the example job, retried until the cluster takes it; its job id.
fn submit(
    cluster: &session::SessionCluster,
    jar: &Path,
    out: &Path,
    rate: &str,
    savepoint: Option<&str>,
) -> String {
    let began = Instant::now();
    let address = format!("127.0.0.1:{}", cluster.rest_port);
    let (jar, out) = (jar.display().to_string(), out.display().to_string());
    let mut args = vec!["run", "-d", "-m", &address];
    if let Some(s) = savepoint {
        args.extend(["-s", s]);
    }
    args.extend([
        "-c",
        "flinkd.examples.Counter",
        &jar,
        "--out",
        &out,
        "--rate",
        rate,
    ]);
    let run = loop {
        let o = cluster.flink(&args);
        if o.status.success() {
            break o;
        }
        assert!(
            began.elapsed() < Duration::from_secs(120),
            "flink run failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let text = String::from_utf8_lossy(&run.stdout).into_owned();
    text.split("JobID ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no JobID in `flink run`'s output: {text}"))
        .to_string()
}

fn wait_flink_running(http: &Http, url: &str, jid: &str, since: Instant) {
    while flink_job_state(http, url, jid).as_deref() != Some("RUNNING") {
        assert!(
            since.elapsed() < Duration::from_secs(180),
            "not RUNNING by hand"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `flink stop --savepointPath`: the savepoint's path.
fn flink_stop(cluster: &session::SessionCluster, dir: &Path, jid: &str) -> String {
    let stop = cluster.flink(&[
        "stop",
        "--savepointPath",
        &format!("file://{}", dir.display()),
        "-m",
        &format!("127.0.0.1:{}", cluster.rest_port),
        jid,
    ]);
    let text = String::from_utf8_lossy(&stop.stdout).into_owned();
    assert!(
        stop.status.success(),
        "flink stop failed: {}",
        String::from_utf8_lossy(&stop.stderr)
    );
    text.split("Savepoint completed. Path: ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no savepoint path in `flink stop`'s output: {text}"))
        .to_string()
}

/// By hand: Flink's scripts start a cluster, `flink run -d` submits, the REST API says
/// RUNNING; the upgrade and the suspension with Flink's CLI and scripts.
fn by_hand(home: &Path, jar: &Path) -> Round {
    let tmp = tempfile::tempdir().unwrap();
    let http = Http::new();
    let out = tmp.path().join("count.txt");
    let t0 = Instant::now();
    let cluster = session::SessionCluster::start(home, &tmp.path().join("session"), 1);
    let jid = submit(&cluster, jar, &out, "20", None);
    wait_flink_running(&http, &cluster.url(), &jid, t0);
    let start = t0.elapsed().as_secs_f64();
    // Let it checkpoint and count a little, as through flinkd.
    std::thread::sleep(Duration::from_secs(3));
    let idle_rss_mib = cluster_rss(&[cluster.dir.join("pid")]);

    let counts = Counts::watch(&out);
    let upgrade = Instant::now();
    let savepoint = flink_stop(&cluster, &tmp.path().join("sp"), &jid);
    drop(cluster);
    let cluster = session::SessionCluster::start(home, &tmp.path().join("session2"), 1);
    let jid = submit(&cluster, jar, &out, "21", Some(&savepoint));
    wait_flink_running(&http, &cluster.url(), &jid, upgrade);
    let upgrade_downtime = counts.downtime_after(upgrade, Instant::now());
    drop(counts);
    std::thread::sleep(Duration::from_secs(3));

    let t1 = Instant::now();
    flink_stop(&cluster, &tmp.path().join("sp"), &jid);
    let suspend = t1.elapsed().as_secs_f64();
    drop(cluster);
    Round {
        start,
        idle_rss_mib,
        upgrade_downtime,
        reported_downtime: None,
        suspend,
    }
}

/// Copies the files of `from` into `to` (the launch cache between rounds).
fn copy_dir(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).into_iter().flatten().flatten() {
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&e.path(), &target);
        } else if !target.exists() {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// Through flinkd: the Deployment file dropped into a running daemon's directory, its
/// status read from the API; the upgrade an edit of `mainArgs`; then `state:
/// suspended`. `cache`: the launch cache the rounds share.
fn through_flinkd(home: &Path, jar: &Path, cache: &Path) -> Round {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let http = Http::new();
    std::fs::create_dir_all(root.join("deployments")).unwrap();
    std::fs::create_dir_all(root.join("state/launch")).unwrap();
    copy_dir(cache, &root.join("state/launch"));
    let api = free_port();
    std::fs::write(
        root.join("flinkd.toml"),
        format!(
            "deployments_dir = \"deployments\"\nstate_dir = \"state\"\n[api]\nlisten = \"127.0.0.1:{api}\"\n[jars]\nlocal_dirs = [\"{}\"]\n[flink.versions]\n\"2.3\" = \"{}\"\n",
            jar.parent().unwrap_or(Path::new("/")).display(),
            home.display()
        ),
    )
    .unwrap();
    let log = std::fs::File::create(root.join("daemon.log")).unwrap();
    let daemon = Proc(
        Command::new(FLINKD)
            .args(["run", "--config"])
            .arg(root.join("flinkd.toml"))
            .env("FLINKD_LOG", "info,flinkd=debug")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let base = format!("http://127.0.0.1:{api}/api/v1/namespaces/default/deployments/bench");
    while http
        .text(&format!("http://127.0.0.1:{api}/healthz"))
        .is_none()
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = root.join("count.txt");
    let file = |state: &str, rate: &str| {
        format!(
            "kind: Deployment\napiVersion: v1\nmetadata:\n  name: bench\nspec:\n  state: {state}\n  upgradeStrategy:\n    kind: stateful\n  template:\n    spec:\n      artifact:\n        jarUri: {jar}\n        entryClass: flinkd.examples.Counter\n        mainArgs: --out {out} --rate {rate}\n      parallelism: 1\n      resources:\n        jobManager:\n          memory: 768m\n        taskManager:\n          memory: 1g\n",
            jar = jar.display(),
            out = out.display(),
        )
    };
    let write = |state: &str, rate: &str| {
        let tmp = root.join("deployments/.bench.tmp");
        std::fs::write(&tmp, file(state, rate)).unwrap();
        std::fs::rename(&tmp, root.join("deployments/bench.yaml")).unwrap();
    };
    let status = || {
        http.json(&base)
            .and_then(|d| d["status"]["state"].as_str().map(String::from))
    };
    let wait_for = |want: &str, since: Instant| {
        while status().as_deref() != Some(want) {
            assert!(
                since.elapsed() < Duration::from_secs(180),
                "not {want} through flinkd: {}",
                std::fs::read_to_string(root.join("daemon.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        since.elapsed().as_secs_f64()
    };
    let t0 = Instant::now();
    write("running", "20");
    let start = wait_for("RUNNING", t0);
    std::thread::sleep(Duration::from_secs(3));
    let pid_dirs: Vec<PathBuf> = std::fs::read_dir(root.join("state/clusters"))
        .unwrap()
        .flatten()
        .map(|e| e.path().join("pid"))
        .collect();
    let idle_rss_mib = cluster_rss(&pid_dirs);

    let counts = Counts::watch(&out);
    let upgrade = Instant::now();
    write("running", "21");
    // The new job runs once flinkd has measured the upgrade (its metric).
    let metric = |name: &str| {
        http.text(&format!("http://127.0.0.1:{api}/metrics"))
            .and_then(|t| {
                t.lines()
                    .find(|l| l.starts_with(name))
                    .and_then(|l| l.split_whitespace().last()?.parse::<f64>().ok())
            })
            .unwrap_or(0.0)
    };
    while metric("flinkd_upgrade_downtime_seconds_count") < 1.0 {
        assert!(
            upgrade.elapsed() < Duration::from_secs(180),
            "the upgrade did not end: {}",
            std::fs::read_to_string(root.join("daemon.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let reported_downtime = Some(metric("flinkd_upgrade_downtime_seconds_sum"));
    let upgrade_downtime = counts.downtime_after(upgrade, Instant::now());
    drop(counts);
    std::thread::sleep(Duration::from_secs(3));

    let t1 = Instant::now();
    write("suspended", "21");
    let suspend = wait_for("SUSPENDED", t1);
    drop(daemon);
    copy_dir(&root.join("state/launch"), cache);
    if std::env::var_os("BENCH_KEEP_LOG").is_some() {
        static ROUND: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);
        let n = ROUND.fetch_add(1, Ordering::Relaxed);
        let _ = std::fs::copy(
            root.join("daemon.log"),
            format!("/tmp/bench-flinkd-{n}.log"),
        );
    }
    Round {
        start,
        idle_rss_mib,
        upgrade_downtime,
        reported_downtime,
        suspend,
    }
}

fn median(v: &[f64]) -> f64 {
    let s = sorted(v.to_vec());
    match s.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

/// `rounds` rounds (at least 2: one cold, the rest warm); the medians and ratios.
pub fn real_flink(rounds: usize) -> Value {
    let rounds = rounds.max(2);
    let (home, jar) = flink_home_and_jar();
    let cache = tempfile::tempdir().unwrap();
    let (mut hand, mut flinkd) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let h = by_hand(&home, &jar);
        let d = through_flinkd(&home, &jar, cache.path());
        println!(
            "flink  round {} ({}): by hand start {:.2} s, upgrade down {:.2} s, stop {:.2} s, JM+TM RSS {:.0} MiB; flinkd start {:.2} s, upgrade down {:.2} s (it says {}), suspend {:.2} s, JM+TM RSS {:.0} MiB",
            round + 1,
            if round == 0 { "flinkd cold" } else { "flinkd warm" },
            h.start,
            h.upgrade_downtime,
            h.suspend,
            h.idle_rss_mib,
            d.start,
            d.upgrade_downtime,
            d.reported_downtime
                .map_or("nothing".to_string(), |s| format!("{s:.1} s")),
            d.suspend,
            d.idle_rss_mib,
        );
        hand.push(h);
        flinkd.push(d);
    }
    let of = |v: &[Round], f: fn(&Round) -> f64| v.iter().map(f).collect::<Vec<f64>>();
    let warm = &flinkd[1..];
    let m = |v: &[Round], f: fn(&Round) -> f64| median(&of(v, f));
    let r = json!({
        "rounds": rounds,
        "by_hand_drop_to_running_s": m(&hand, |r| r.start),
        "flinkd_drop_to_running_cold_s": flinkd[0].start,
        "flinkd_drop_to_running_s": m(warm, |r| r.start),
        "drop_to_running_ratio": m(warm, |r| r.start) / m(&hand, |r| r.start),
        "drop_to_running_cold_ratio": flinkd[0].start / m(&hand, |r| r.start),
        "by_hand_upgrade_downtime_s": m(&hand, |r| r.upgrade_downtime),
        "flinkd_upgrade_downtime_cold_s": flinkd[0].upgrade_downtime,
        "flinkd_upgrade_downtime_s": m(warm, |r| r.upgrade_downtime),
        "upgrade_downtime_ratio": m(warm, |r| r.upgrade_downtime) / m(&hand, |r| r.upgrade_downtime),
        "flink_stop_s": m(&hand, |r| r.suspend),
        "flinkd_suspend_s": m(warm, |r| r.suspend),
        "suspend_ratio": m(warm, |r| r.suspend) / m(&hand, |r| r.suspend),
        "by_hand_idle_cluster_rss_mib": m(&hand, |r| r.idle_rss_mib),
        "flinkd_idle_cluster_rss_mib": m(&flinkd, |r| r.idle_rss_mib),
        "idle_rss_ratio": m(&flinkd, |r| r.idle_rss_mib) / m(&hand, |r| r.idle_rss_mib),
        "samples": {
            "by_hand_drop_to_running_s": of(&hand, |r| r.start),
            "flinkd_drop_to_running_s": of(&flinkd, |r| r.start),
            "by_hand_upgrade_downtime_s": of(&hand, |r| r.upgrade_downtime),
            "flinkd_upgrade_downtime_s": of(&flinkd, |r| r.upgrade_downtime),
            "flinkd_reported_upgrade_downtime_s": flinkd.iter().map(|r| r.reported_downtime).collect::<Vec<_>>(),
            "flink_stop_s": of(&hand, |r| r.suspend),
            "flinkd_suspend_s": of(&flinkd, |r| r.suspend),
            "by_hand_idle_cluster_rss_mib": of(&hand, |r| r.idle_rss_mib),
            "flinkd_idle_cluster_rss_mib": of(&flinkd, |r| r.idle_rss_mib),
        },
    });
    let f = |k: &str| r[k].as_f64().unwrap_or(f64::NAN);
    println!(
        "flink  medians (flinkd warm, {} rounds): drop→RUNNING {:.2} s vs by hand {:.2} s = {:.2}× (cold {:.2} s = {:.2}×); STATEFUL upgrade downtime {:.2} s vs by hand {:.2} s = {:.2}× (cold {:.2} s); suspend {:.2} s vs flink stop {:.2} s = {:.2}×; idle JM+TM RSS {:.0} MiB vs {:.0} MiB = {:.2}×",
        rounds - 1,
        f("flinkd_drop_to_running_s"),
        f("by_hand_drop_to_running_s"),
        f("drop_to_running_ratio"),
        f("flinkd_drop_to_running_cold_s"),
        f("drop_to_running_cold_ratio"),
        f("flinkd_upgrade_downtime_s"),
        f("by_hand_upgrade_downtime_s"),
        f("upgrade_downtime_ratio"),
        f("flinkd_upgrade_downtime_cold_s"),
        f("flinkd_suspend_s"),
        f("flink_stop_s"),
        f("suspend_ratio"),
        f("flinkd_idle_cluster_rss_mib"),
        f("by_hand_idle_cluster_rss_mib"),
        f("idle_rss_ratio"),
    );
    r
}
