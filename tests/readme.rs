// suite: real-flink (scripts/test.sh runs these apart from the fake-only tests)
//! The README's first command and its walk-through, as a new user runs them: from the
//! repository root, `scripts/setup.sh` (bounded by its `--exit-when-running`), then the
//! same `flinkd run --config config/flinkd.toml` line, the bundled config and example
//! unchanged, `examples/deployments/counter.yaml` edited in place as the README says.
//! Two environment variables keep the test out of a developer's way: the state
//! directory (out of the checkout) and the API's port (not a running flinkd's).
//!
//! Real Flink (FLINK_HOME_FOR_TESTS and the example jar, set up by scripts/test.sh),
//! one cluster at a time; every cluster under the test's state directory is stopped on
//! every path out, and the example file is put back as it was.

mod e2e;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use e2e::{cluster_at, read_count, serial};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A daemon the test started, its state directory, and the example file to put back.
struct Session {
    state: tempfile::TempDir,
    listen: String,
    daemon: Option<Child>,
    example: Option<(PathBuf, String)>,
}

impl Session {
    fn new() -> Session {
        Session {
            state: tempfile::tempdir().unwrap(),
            listen: format!("127.0.0.1:{}", e2e::free_port()),
            daemon: None,
            example: None,
        }
    }

    /// The environment of every command: only what keeps the test out of the way.
    fn env(&self, c: &mut Command) {
        c.env("FLINKD_STATE_DIR", self.state.path())
            .env("FLINKD_API__LISTEN", &self.listen)
            .env_remove("FLINKD_LOG");
    }

    /// `flinkd run --config CONFIG` in `cwd`, logging to a file beside the state.
    fn run(&mut self, cwd: &Path, config: &Path) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.state.path().with_extension("log"))
            .unwrap();
        let mut c = Command::new(env!("CARGO_BIN_EXE_flinkd"));
        c.current_dir(cwd)
            .arg("run")
            .arg("--config")
            .arg(config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        self.env(&mut c);
        self.daemon = Some(c.spawn().unwrap());
    }

    fn daemon_log(&self) -> String {
        std::fs::read_to_string(self.state.path().with_extension("log")).unwrap_or_default()
    }

    /// `flinkd ARGS --config config/flinkd.toml -o json` from the root, as JSON.
    fn cli(&self, args: &[&str]) -> Option<serde_json::Value> {
        let mut c = Command::new(env!("CARGO_BIN_EXE_flinkd"));
        c.current_dir(root())
            .args(args)
            .args(["--config", "config/flinkd.toml", "-o", "json"]);
        self.env(&mut c);
        let out = c.output().ok()?;
        serde_json::from_slice(&out.stdout).ok()
    }

    fn status(&self) -> Option<String> {
        let d = self.cli(&["get", "deployment", "counter"])?;
        d["status"]["state"].as_str().map(str::to_string)
    }

    fn wait<T>(&self, what: &str, secs: u64, mut check: impl FnMut() -> Option<T>) -> T {
        let until = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(v) = check() {
                return v;
            }
            assert!(
                Instant::now() < until,
                "timed out waiting for {what}\n--- daemon log ---\n{}",
                self.daemon_log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn wait_status(&self, state: &str, secs: u64) -> Duration {
        let began = Instant::now();
        self.wait(&format!("counter to be {state}"), secs, || {
            (self.status().as_deref() == Some(state)).then_some(())
        });
        began.elapsed()
    }

    /// Where the README says the example's count is written.
    fn count_file(&self) -> PathBuf {
        self.state.path().join("work/default/counter/counter.txt")
    }

    fn count(&self) -> Option<u64> {
        read_count(&self.count_file())
    }

    /// Waits until the count passes `after`, and returns it.
    fn count_beyond(&self, after: u64, secs: u64) -> u64 {
        self.wait(&format!("a count beyond {after}"), secs, || {
            self.count().filter(|c| *c > after)
        })
    }

    /// Edits `state:` in the bundled example, as a user does, keeping the original.
    fn set_state(&mut self, state: &str) {
        let path = root().join("examples/deployments/counter.yaml");
        let text = std::fs::read_to_string(&path).unwrap();
        if self.example.is_none() {
            self.example = Some((path.clone(), text.clone()));
        }
        let original = &self.example.as_ref().unwrap().1;
        assert!(original.contains("  state: running\n"), "{original}");
        std::fs::write(
            &path,
            original.replace("  state: running\n", &format!("  state: {state}\n")),
        )
        .unwrap();
    }

    fn live_pids(&self) -> Vec<i32> {
        std::fs::read_dir(self.state.path().join("clusters"))
            .into_iter()
            .flatten()
            .flatten()
            .flat_map(|d| cluster_at(d.path()).live_pids())
            .collect()
    }

    fn stop_daemon(&mut self) {
        if let Some(mut child) = self.daemon.take() {
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            let until = Instant::now() + Duration::from_secs(15);
            while Instant::now() < until && matches!(child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.stop_daemon();
        if let Some((path, text)) = self.example.take() {
            let _ = std::fs::write(path, text);
        }
        for _ in 0..2 {
            std::thread::sleep(Duration::from_millis(1500));
            for dir in std::fs::read_dir(self.state.path().join("clusters"))
                .into_iter()
                .flatten()
                .flatten()
            {
                let _ = cluster_at(dir.path()).stop(Duration::from_secs(5));
            }
        }
    }
}

/// The README, top to bottom: `scripts/setup.sh` runs the example (bounded here by
/// `--exit-when-running`); `flinkd run --config config/flinkd.toml` from the root adopts
/// it; `state: suspended` stops the count and records a savepoint; `state: running` goes
/// on counting from where it stopped; `state: cancelled` leaves no JVM.
#[test]
fn the_readme_first_command_and_walk_through() {
    let _one = serial();
    let mut s = Session::new();

    let began = Instant::now();
    let mut setup = Command::new("scripts/setup.sh");
    setup.current_dir(root()).arg("--exit-when-running");
    s.env(&mut setup);
    let out = setup.output().unwrap();
    let setup_time = began.elapsed();
    assert!(
        out.status.success(),
        "scripts/setup.sh --exit-when-running failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Where the README says it is, the count grows; the cluster outlived the setup's
    // flinkd.
    let first = s.wait("the example's count", 60, || s.count());
    s.count_beyond(first, 30);
    let jobs_before = s.live_pids();
    assert!(!jobs_before.is_empty(), "the cluster runs on after setup");

    // The README's command, from the repository root: the running job is adopted.
    s.run(root(), Path::new("config/flinkd.toml"));
    s.wait_status("RUNNING", 60);
    let jobs = s.cli(&["get", "jobs", "counter"]).unwrap();
    assert_eq!(jobs["items"].as_array().unwrap().len(), 1, "{jobs}");

    s.set_state("suspended");
    let suspend_time = s.wait_status("SUSPENDED", 60);
    let at_suspend = s.count().unwrap();
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(s.count(), Some(at_suspend), "the count stopped");
    let sps = s.cli(&["get", "savepoints", "counter"]).unwrap();
    let suspend = sps["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|sp| sp["origin"] == "SUSPEND")
        .cloned()
        .unwrap_or_else(|| panic!("no SUSPEND savepoint: {sps}"));
    assert_eq!(suspend["state"], "COMPLETED", "{suspend}");
    let location = suspend["location"].as_str().unwrap();
    let dir = flinkd::paths::file_uri_path(location)
        .or_else(|| location.strip_prefix("file:").map(PathBuf::from))
        .unwrap();
    assert!(
        dir.starts_with(s.state.path().canonicalize().unwrap()) && dir.join("_metadata").is_file(),
        "the savepoint is under state_dir/deployments/<id>/savepoints: {location}"
    );

    s.set_state("running");
    let resume_time = s.wait_status("RUNNING", 120);
    let resumed = s.count_beyond(at_suspend, 60);
    assert!(
        resumed <= at_suspend + 100,
        "the count goes on from {at_suspend}, not from 1: {resumed}"
    );

    s.set_state("cancelled");
    s.wait_status("CANCELLED", 60);
    s.wait("no JVM left", 30, || s.live_pids().is_empty().then_some(()));
    println!("setup (to RUNNING) {setup_time:?}, suspend {suspend_time:?}, resume {resume_time:?}");
}

/// The same command from another working directory, the config named by an absolute
/// path: the example runs.
#[test]
fn an_absolute_config_from_another_directory_runs_the_example() {
    let _one = serial();
    let mut s = Session::new();
    let elsewhere = tempfile::tempdir().unwrap();
    s.run(elsewhere.path(), &root().join("config/flinkd.toml"));
    s.wait_status("RUNNING", 120);
    let first = s.wait("the example's count", 60, || s.count());
    s.count_beyond(first, 30);
}

/// A relative `--config` from another working directory, its own paths relative: every
/// path flinkd writes into the generated Flink config is absolute, and the job runs.
#[test]
fn a_relative_config_from_elsewhere_writes_only_absolute_paths() {
    let _one = serial();
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path();
    for d in ["etc/deployments", "cwd/here", "flink"] {
        std::fs::create_dir_all(base.join(d)).unwrap();
    }
    // Flink, the jar (and where jars may lie) and the state, all named relative to the
    // config's directory.
    std::os::unix::fs::symlink(e2e::flink_home(), base.join("flink/2.3")).unwrap();
    std::fs::copy(e2e::counter_jar(), base.join("etc/counter.jar")).unwrap();
    std::fs::write(
        base.join("etc/flinkd.toml"),
        format!(
            "deployments_dir = \"deployments\"\nstate_dir = \"../state\"\n[api]\nlisten = \"127.0.0.1:{}\"\n[jars]\nlocal_dirs = [\".\"]\n[flink.versions]\n\"2.3\" = \"../flink/2.3\"\n",
            e2e::free_port()
        ),
    )
    .unwrap();
    let example = std::fs::read_to_string(root().join("examples/deployments/counter.yaml"))
        .unwrap()
        .replace("../../.flinkd/jobs/counter.jar", "../counter.jar");
    std::fs::write(base.join("etc/deployments/counter.yaml"), example).unwrap();

    let log = std::fs::File::create(base.join("daemon.log")).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_flinkd"))
        .current_dir(base.join("cwd/here"))
        .args(["run", "--config", "../../etc/flinkd.toml"])
        .env_remove("FLINKD_STATE_DIR")
        .env_remove("FLINKD_API__LISTEN")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    struct Stop(Child, PathBuf);
    impl Drop for Stop {
        fn drop(&mut self) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(self.0.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let _ = self.0.wait();
            for _ in 0..2 {
                std::thread::sleep(Duration::from_millis(1500));
                for d in std::fs::read_dir(&self.1).into_iter().flatten().flatten() {
                    let _ = cluster_at(d.path()).stop(Duration::from_secs(5));
                }
            }
        }
    }
    let _stop = Stop(child, base.join("state/clusters"));
    let daemon_log = || std::fs::read_to_string(base.join("daemon.log")).unwrap_or_default();
    let count = base.join("state/work/default/counter/counter.txt");
    let until = Instant::now() + Duration::from_secs(120);
    let first = loop {
        if let Some(c) = read_count(&count) {
            break c;
        }
        assert!(Instant::now() < until, "no count:\n{}", daemon_log());
        std::thread::sleep(Duration::from_millis(250));
    };
    while read_count(&count).unwrap_or(0) <= first {
        assert!(
            Instant::now() < until,
            "the count does not grow:\n{}",
            daemon_log()
        );
        std::thread::sleep(Duration::from_millis(250));
    }

    let clusters: Vec<PathBuf> = std::fs::read_dir(base.join("state/clusters"))
        .unwrap()
        .flatten()
        .map(|d| d.path())
        .collect();
    assert_eq!(clusters.len(), 1);
    let conf = std::fs::read_to_string(clusters[0].join("conf/config.yaml")).unwrap();
    let conf: std::collections::BTreeMap<String, String> = serde_yaml::from_str(&conf).unwrap();
    let mut paths = 0;
    for (key, value) in &conf {
        let is_path = key.ends_with(".dir") || key.ends_with(".dirs") || key.ends_with("-dir");
        if !is_path {
            continue;
        }
        paths += 1;
        let path = match value.strip_prefix("file:") {
            Some(_) => flinkd::paths::file_uri_path(value)
                .unwrap_or_else(|| panic!("{key}: {value} is not a file: URI of an absolute path")),
            None => PathBuf::from(value),
        };
        assert!(path.is_absolute(), "{key}: {value}");
        assert!(
            !path.components().any(|c| matches!(
                c,
                std::path::Component::ParentDir | std::path::Component::CurDir
            )),
            "{key}: {value} is not normal"
        );
        assert!(
            path.starts_with(base.canonicalize().unwrap().join("state")),
            "{key}: {value} is under the config's state_dir"
        );
    }
    assert!(paths >= 8, "directories in the generated config: {conf:?}");
}
