//! flinkd's benchmarks, run by `scripts/bench.sh` (see README, "Benchmarks"). Each prints
//! a table and all of them write `target/bench/results.json`.
//!
//! - `scale`: N Deployment files (default 100, 1,000 and 10,000) on the external-cluster
//!   target, against the fake Flink REST server: time from daemon start to all RUNNING,
//!   daemon RSS (and per Deployment), CPU per second at steady state with the default
//!   poll interval, HTTP requests per second.
//! - `reaction`: with the largest N loaded, time from a file edit (state: suspended) to
//!   flinkd's first REST call for that job (the fake records it), p50/p99, beside one bare
//!   HTTP round trip to the same server (the floor), as a ratio.
//! - `flink` (real/flink.rs): real Flink, side by side in one run: file drop to job
//!   RUNNING, a STATEFUL upgrade's downtime, suspend and the cluster's RSS, through
//!   flinkd (cold, then warm) and by hand with Flink's scripts and CLI, as ratios.
//!
//! `cargo bench --features test-support --bench flinkd -- [scale] [reaction] [flink]
//! [--sizes 100,1000] [--samples 40] [--settle-secs 150] [--window-secs 60]
//! [--rounds 4]`; with no names, all three. The steady state is measured over
//! `--window-secs` (one maximum poll interval) after `--settle-secs` (long enough for
//! quiet jobs to back off to the default maximum poll interval).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

#[path = "../tests/support/session.rs"]
#[allow(dead_code)]
mod session;

const FLINKD: &str = env!("CARGO_BIN_EXE_flinkd");
const FAKE: &str = env!("CARGO_BIN_EXE_fake-flink");

use session::free_port;

#[path = "real/flink.rs"]
mod real_flink;
use real_flink::real_flink;

fn epoch_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        * 1000.0
}

/// A child process killed on drop, however the benchmark ends.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.0.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let until = Instant::now() + Duration::from_secs(20);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One HTTP client for the benchmark's own requests (keep-alive).
struct Http {
    rt: tokio::runtime::Runtime,
    client: reqwest::Client,
}

impl Http {
    fn new() -> Http {
        Http {
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            client: reqwest::Client::new(),
        }
    }

    fn text(&self, url: &str) -> Option<String> {
        self.rt.block_on(async {
            let r = self.client.get(url).send().await.ok()?;
            if !r.status().is_success() {
                return None;
            }
            r.text().await.ok()
        })
    }

    fn json(&self, url: &str) -> Option<Value> {
        serde_json::from_str(&self.text(url)?).ok()
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v
}

/// CPU seconds (user + system) a process has used.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse::<f64>()
                .ok()
        })
        .unwrap_or(100.0);
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // After the command name: state is field 0, utime 11, stime 12.
    (field(11) + field(12)) / ticks
}

/// A `/proc/PID/status` size in MiB (VmRSS, VmHWM).
fn mem_mib(pid: u32, key: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

/// A daemon on a fresh directory, its Deployments on one external fake cluster.
struct Setup {
    _dir: tempfile::TempDir,
    root: PathBuf,
    api: String,
    fake_url: String,
    _fake: Proc,
    daemon: Option<Proc>,
}

fn deployment(name: &str, state: &str, jar: &Path) -> String {
    format!(
        "kind: Deployment\napiVersion: v1\nmetadata:\n  name: {name}\nspec:\n  state: {state}\n  deploymentTargetName: session\n  template:\n    spec:\n      artifact:\n        jarUri: {jar}\n        entryClass: org.example.Job\n        mainArgs: --name {name}\n",
        jar = jar.display()
    )
}

impl Setup {
    fn new(n: usize, fake_args: &[&str]) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let port = free_port();
        let fake = Proc(
            Command::new(FAKE)
                .args(["--port", &port.to_string()])
                .args(fake_args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let fake_url = format!("http://127.0.0.1:{port}");
        let deployments = root.join("deployments");
        std::fs::create_dir_all(&deployments).unwrap();
        let jar = root.join("job.jar");
        std::fs::write(&jar, b"PK bench jar").unwrap();
        std::fs::write(
            deployments.join("target.yaml"),
            format!("kind: DeploymentTarget\napiVersion: v1\nmetadata:\n  name: session\nspec:\n  flink:\n    restUrl: {fake_url}\n"),
        )
        .unwrap();
        for i in 0..n {
            let name = format!("d-{i}");
            std::fs::write(
                deployments.join(format!("{name}.yaml")),
                deployment(&name, "running", &jar),
            )
            .unwrap();
        }
        let api = free_port();
        // Everything at its default but the directories and the API's port.
        std::fs::write(
            root.join("flinkd.toml"),
            format!(
                "deployments_dir = \"deployments\"\nstate_dir = \"state\"\n[api]\nlisten = \"127.0.0.1:{api}\"\n[jars]\nlocal_dirs = [\".\"]\n[flink.versions]\n\"2.3\" = \"{}\"\n",
                root.display()
            ),
        )
        .unwrap();
        let http = Http::new();
        let until = Instant::now() + Duration::from_secs(10);
        while http.json(&format!("{fake_url}/fake/stats")).is_none() {
            assert!(Instant::now() < until, "the fake server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Setup {
            _dir: dir,
            root,
            api: format!("http://127.0.0.1:{api}"),
            fake_url,
            _fake: fake,
            daemon: None,
        }
    }

    fn start_daemon(&mut self) -> u32 {
        let log = std::fs::File::create(self.root.join("daemon.log")).unwrap();
        let child = Command::new(FLINKD)
            .args(["run", "--config"])
            .arg(self.root.join("flinkd.toml"))
            .env(
                "FLINKD_LOG",
                std::env::var("BENCH_FLINKD_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let pid = child.id();
        self.daemon = Some(Proc(child));
        pid
    }

    /// Deployments RUNNING, from the daemon's own metrics.
    fn running(&self, http: &Http) -> Option<u64> {
        let text = http.text(&format!("{}/metrics", self.api))?;
        text.lines()
            .find(|l| l.starts_with("flinkd_deployments{status=\"RUNNING\"}"))
            .and_then(|l| l.split_whitespace().last())
            .and_then(|v| v.parse().ok())
    }

    fn requests(&self, http: &Http) -> f64 {
        http.json(&format!("{}/fake/stats", self.fake_url))
            .and_then(|s| s["requests"].as_f64())
            .unwrap_or(0.0)
    }

    fn keep_log(&self) {
        if std::env::var_os("BENCH_KEEP_LOG").is_some() {
            let _ = std::fs::copy(self.root.join("daemon.log"), "/tmp/bench-scale.log");
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.root.join("daemon.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().rev().take(20).collect();
        lines.into_iter().rev().collect::<Vec<_>>().join("\n")
    }
}

/// Starts N Deployments and measures the way there and the steady state after.
fn scale(n: usize, window: Duration, settle: Duration) -> (Value, Setup, u32) {
    let mut s = Setup::new(n, &[]);
    let http = Http::new();
    let started = Instant::now();
    let pid = s.start_daemon();
    let limit = Duration::from_secs(120 + n as u64 / 50);
    let all_running = loop {
        if s.running(&http) == Some(n as u64) {
            break started.elapsed();
        }
        if started.elapsed() > limit {
            panic!(
                "{n} Deployments not RUNNING after {limit:?}: {:?} are\n{}",
                s.running(&http),
                s.log_tail()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let peak = mem_mib(pid, "VmHWM:");
    // Steady state: nothing changes, quiet jobs have backed off to the default
    // poll_interval_max (1 min, reached after 5 + 10 + 20 + 40 s).
    std::thread::sleep(settle);
    let (cpu0, req0, t0) = (cpu_seconds(pid), s.requests(&http), Instant::now());
    std::thread::sleep(window);
    let secs = t0.elapsed().as_secs_f64();
    let cpu = (cpu_seconds(pid) - cpu0) / secs;
    let rps = (s.requests(&http) - req0) / secs;
    let rss = mem_mib(pid, "VmRSS:");
    let result = json!({
        "deployments": n,
        "all_running_s": all_running.as_secs_f64(),
        "rss_mib": rss,
        "peak_rss_mib": peak,
        "rss_kib_per_deployment": rss * 1024.0 / n as f64,
        "steady_cpu_percent_of_one_core": cpu * 100.0,
        "steady_http_requests_per_s": rps,
        "steady_window_s": secs,
        "settled_s": settle.as_secs_f64(),
    });
    (result, s, pid)
}

/// File edit → first REST call for that job, `samples` times, on a loaded daemon.
fn reaction(s: &Setup, n: usize, samples: usize) -> Value {
    let http = Http::new();
    let jar = s.root.join("job.jar");
    let mut reactions = Vec::new();
    let step = (n / samples.max(1)).max(1);
    for k in 0..samples.min(n) {
        let name = format!("d-{}", k * step);
        let tmp = s.root.join(format!("deployments/.{name}.tmp"));
        std::fs::write(&tmp, deployment(&name, "suspended", &jar)).unwrap();
        let wrote = epoch_ms();
        std::fs::rename(&tmp, s.root.join(format!("deployments/{name}.yaml"))).unwrap();
        let url = format!("{}/fake/jobs?arg={name}", s.fake_url);
        let until = Instant::now() + Duration::from_secs(10);
        let first = loop {
            let stop = http
                .json(&url)
                .and_then(|v| v["jobs"].as_array().cloned())
                .and_then(|jobs| {
                    jobs.iter()
                        .find(|j| j["args"][1] == name.as_str())
                        .and_then(|j| j["firstStopMs"].as_f64())
                });
            if let Some(at) = stop {
                break at;
            }
            assert!(
                Instant::now() < until,
                "no REST call for {name} within 10 s\n{}",
                s.log_tail()
            );
            std::thread::sleep(Duration::from_millis(2));
        };
        reactions.push(first - wrote);
        // Let the suspension finish before the next edit.
        std::thread::sleep(Duration::from_millis(300));
    }
    let floor = floor(&http, &format!("{}/overview", s.fake_url), 500);
    let debounce = 200.0;
    let r = sorted(reactions);
    let beyond: Vec<f64> = r.iter().map(|x| x - debounce).collect();
    json!({
        "deployments": n,
        "samples": r.len(),
        "debounce_ms": debounce,
        "reaction_p50_ms": percentile(&r, 0.5),
        "reaction_p99_ms": percentile(&r, 0.99),
        "beyond_debounce_p50_ms": percentile(&beyond, 0.5),
        "beyond_debounce_p99_ms": percentile(&beyond, 0.99),
        "floor_round_trip_p50_ms": floor.0,
        "floor_round_trip_p99_ms": floor.1,
        "beyond_debounce_p50_over_floor_p50": percentile(&beyond, 0.5) / floor.0,
        "beyond_debounce_p99_over_floor_p99": percentile(&beyond, 0.99) / floor.1,
    })
}

/// p50 and p99 of one bare HTTP round trip (keep-alive), in ms.
fn floor(http: &Http, url: &str, n: usize) -> (f64, f64) {
    let mut times = Vec::new();
    for _ in 0..n {
        let t = Instant::now();
        http.text(url).expect("the floor's request");
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let t = sorted(times);
    (percentile(&t, 0.5), percentile(&t, 0.99))
}

fn main() {
    let all: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` passes --bench; `cargo test` (the suite) runs a small smoke round
    // of the same code: 50 Deployments, short waits, no real Flink, no results file.
    let smoke = !all.iter().any(|a| a == "--bench");
    let args: Vec<String> = if smoke {
        [
            "scale",
            "reaction",
            "--sizes",
            "50",
            "--samples",
            "3",
            "--settle-secs",
            "1",
            "--window-secs",
            "1",
        ]
        .map(String::from)
        .to_vec()
    } else {
        all.into_iter().filter(|a| a != "--bench").collect()
    };
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let sizes: Vec<usize> = value("--sizes")
        .unwrap_or_else(|| "100,1000,10000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let samples: usize = value("--samples")
        .and_then(|s| s.parse().ok())
        .unwrap_or(40);
    let window = Duration::from_secs(
        value("--window-secs")
            .and_then(|s| s.parse().ok())
            .unwrap_or(60),
    );
    let settle = Duration::from_secs(
        value("--settle-secs")
            .and_then(|s| s.parse().ok())
            .unwrap_or(150),
    );
    let named: Vec<&str> = ["scale", "reaction", "flink"]
        .into_iter()
        .filter(|n| args.iter().any(|a| a == n))
        .collect();
    let wanted = |n: &str| named.is_empty() || named.contains(&n);
    let mut results = BTreeMap::new();

    if wanted("scale") || wanted("reaction") {
        let mut rows = Vec::new();
        let largest = sizes.iter().copied().max().unwrap_or(100);
        let scale_sizes: Vec<usize> = if wanted("scale") {
            sizes.clone()
        } else {
            vec![largest]
        };
        for n in scale_sizes {
            let (row, setup, _pid) = scale(n, window, settle);
            if wanted("scale") {
                println!(
                    "scale  N={n:>6}  all RUNNING {:>7.2} s  RSS {:>6.1} MiB ({:>5.1} KiB/Deployment, peak {:>6.1})  steady CPU {:>5.2}% of a core  {:>7.1} HTTP req/s",
                    row["all_running_s"].as_f64().unwrap(),
                    row["rss_mib"].as_f64().unwrap(),
                    row["rss_kib_per_deployment"].as_f64().unwrap(),
                    row["peak_rss_mib"].as_f64().unwrap(),
                    row["steady_cpu_percent_of_one_core"].as_f64().unwrap(),
                    row["steady_http_requests_per_s"].as_f64().unwrap(),
                );
                rows.push(row);
            }
            if n == largest && wanted("reaction") {
                let r = reaction(&setup, n, samples);
                println!(
                    "reaction N={n}  edit→first REST call p50 {:.1} ms, p99 {:.1} ms; beyond the {} ms debounce p50 {:.1} ms, p99 {:.1} ms; bare round trip p50 {:.2} ms, p99 {:.2} ms; ratio p99 {:.1}×",
                    r["reaction_p50_ms"].as_f64().unwrap(),
                    r["reaction_p99_ms"].as_f64().unwrap(),
                    r["debounce_ms"],
                    r["beyond_debounce_p50_ms"].as_f64().unwrap(),
                    r["beyond_debounce_p99_ms"].as_f64().unwrap(),
                    r["floor_round_trip_p50_ms"].as_f64().unwrap(),
                    r["floor_round_trip_p99_ms"].as_f64().unwrap(),
                    r["beyond_debounce_p99_over_floor_p99"].as_f64().unwrap(),
                );
                results.insert("reaction", r);
            }
            setup.keep_log();
        }
        if !rows.is_empty() {
            results.insert("scale", Value::Array(rows));
        }
    }
    if wanted("flink") {
        let rounds = value("--rounds").and_then(|r| r.parse().ok()).unwrap_or(4);
        results.insert("flink", real_flink(rounds));
    }
    if smoke {
        return;
    }
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&out).unwrap();
    let path = out.join("results.json");
    std::fs::write(&path, serde_json::to_string_pretty(&results).unwrap()).unwrap();
    println!("written: {}", path.display());
}
