use super::*;
use crate::spec::DesiredState;

fn write(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("flinkd.toml");
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn empty_file_gives_every_default() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config::load(&write(dir.path(), "")).unwrap();
    let expected = Config {
        deployments_dir: PathBuf::from("/etc/flinkd/deployments"),
        state_dir: PathBuf::from("/var/lib/flinkd"),
        ..Config::default()
    };
    assert_eq!(cfg, expected);
    assert_eq!(cfg.api.listen.to_string(), "127.0.0.1:8089");
    assert_eq!(cfg.quota.cpu, None);
    assert_eq!(cfg.timing.cancel_deadline, Duration::from_secs(180));
    assert_eq!(cfg.timing.cancel_attempts, 5);
    assert_eq!(cfg.timing.restart_window_failing, Duration::from_secs(600));
    assert_eq!(
        cfg.timing.restart_window_unstable,
        Duration::from_secs(3600)
    );
    assert_eq!(cfg.files.max_file_size, Bytes(1024 * 1024));
}

#[test]
fn paths_are_absolute_however_the_config_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    std::fs::create_dir_all(root.join("repo/config")).unwrap();
    let file = write(
        &root.join("repo/config"),
        "deployments_dir = \"../examples\"\nstate_dir = \"../.flinkd/state\"\n[flink.versions]\n\"2.3\" = \"../.flinkd/flink-2.3\"\n",
    );
    let expect = |cfg: &Config| {
        assert_eq!(cfg.state_dir, root.join("repo/.flinkd/state"));
        assert_eq!(cfg.deployments_dir, root.join("repo/examples"));
        assert_eq!(
            cfg.flink.versions["2.3"],
            root.join("repo/.flinkd/flink-2.3")
        );
    };
    // `config/flinkd.toml` as given on a command line run from the repository: the
    // relative name is taken from the working directory.
    let relative = Path::new("config/flinkd.toml");
    let mut cfg = Config::load(&file).unwrap();
    expect(&cfg);
    cfg.state_dir = PathBuf::from("../.flinkd/state");
    let from_root = crate::paths::resolve(&root.join("repo"), relative);
    cfg.resolve_paths(&from_root, &Default::default());
    expect(&cfg);
    // A symlink to the config: its paths are the real file's neighbours.
    std::os::unix::fs::symlink(&file, root.join("linked.toml")).unwrap();
    expect(&Config::load(&root.join("linked.toml")).unwrap());
    // Set from the environment: relative to the working directory.
    let mut cfg = Config::load(&file).unwrap();
    cfg.state_dir = PathBuf::from("state-from-env");
    let env = [("FLINKD_STATE_DIR".to_string(), "state-from-env".to_string())]
        .into_iter()
        .collect();
    cfg.resolve_paths(&file, &env);
    assert_eq!(
        cfg.state_dir,
        crate::paths::resolve(&crate::paths::cwd(), Path::new("state-from-env"))
    );
    assert!(cfg.state_dir.is_absolute());
    assert_eq!(cfg.deployments_dir, root.join("repo/examples"));
}

#[test]
fn reads_every_section_and_resolves_relative_paths() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        r#"
deployments_dir = "deployments"
state_dir = "/tmp/state"
[api]
listen = "127.0.0.1:9999"
[quota]
cpu = 4
[flink]
default_version = "1.20"
versions = { "1.20" = "flink-1.20", "2.3" = "/opt/flink-2.3" }
[timing]
poll_interval = "500ms"
cancel_deadline = "10s"
[store]
max_events_per_deployment = 10
[files]
max_file_size = "2Mi"
[defaults]
state = "suspended"
maxJobCreationAttempts = 7
[defaults.template.spec]
parallelism = 3
[defaults.template.spec.flinkConfiguration]
"taskmanager.numberOfTaskSlots" = "2"
"#,
    );
    let cfg = Config::load(&file).unwrap();
    assert_eq!(cfg.deployments_dir, dir.path().join("deployments"));
    assert_eq!(cfg.state_dir, PathBuf::from("/tmp/state"));
    assert_eq!(cfg.api.listen.port(), 9999);
    assert_eq!(cfg.quota.cpu, Some(4.0));
    assert_eq!(cfg.flink.versions["1.20"], dir.path().join("flink-1.20"));
    assert_eq!(cfg.timing.poll_interval, Duration::from_millis(500));
    assert_eq!(cfg.store.max_events_per_deployment, 10);
    assert_eq!(cfg.files.max_file_size, Bytes(2 * 1024 * 1024));
    assert_eq!(cfg.defaults.state, Some(DesiredState::Suspended));
    assert_eq!(cfg.defaults.max_job_creation_attempts, Some(7));
    let t = cfg.defaults.template.unwrap().spec.clone().unwrap();
    assert_eq!(t.parallelism, Some(3));
    assert_eq!(
        t.flink_configuration.unwrap()["taskmanager.numberOfTaskSlots"],
        "2"
    );
}

#[test]
fn unknown_key_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let err = Config::load(&write(dir.path(), "[timing]\npol_interval = \"1s\"\n"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("timing"), "{err}");
    assert!(err.contains("pol_interval"), "{err}");
}

#[test]
fn bad_value_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let err = Config::load(&write(dir.path(), "[timing]\ncancel_deadline = \"soon\"\n"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("timing.cancel_deadline"), "{err}");
    let err = Config::load(&write(dir.path(), "[quota]\ncpu = -1\n"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("quota.cpu"), "{err}");
    let err = Config::load(&write(
        dir.path(),
        "[flink]\ndefault_version = \"9\"\nversions = { \"2.3\" = \"/x\" }\n",
    ))
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("flink.default_version") && err.contains("2.3"),
        "{err}"
    );
}

#[test]
fn only_config_keys_are_taken_from_the_environment() {
    let vars = [
        ("FLINKD_STATE_DIR", "/srv"),
        ("FLINKD_TIMING__POLL_INTERVAL", "1s"),
        ("FLINKD_LOG", "debug"),
        ("FLINKD_TEST_HOME", "/x"),
        ("HOME", "/root"),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()));
    let mut kept: Vec<String> = config_env(vars.into_iter()).into_keys().collect();
    kept.sort();
    assert_eq!(kept, ["FLINKD_STATE_DIR", "FLINKD_TIMING__POLL_INTERVAL"]);
}

#[test]
fn every_top_level_key_can_come_from_the_environment() {
    let cfg = serde_json::to_value(Config::default()).unwrap();
    let keys: Vec<String> = cfg
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.to_uppercase())
        .collect();
    let mut listed: Vec<String> = TOP_LEVEL_KEYS.iter().map(|k| k.to_string()).collect();
    let mut keys = keys;
    keys.sort();
    listed.sort();
    assert_eq!(keys, listed);
}

#[test]
fn missing_file_is_an_error() {
    let err = Config::load(Path::new("/nonexistent/flinkd.toml")).unwrap_err();
    assert!(err.to_string().contains("no such file"));
}

/// `config/flinkd.toml` documents every key with its default on a `#= key = value`
/// line. These tests keep that page and the code in step.
mod documented {
    use crate::config::*;
    use std::path::Path;

    fn bundled() -> String {
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/flinkd.toml"))
            .unwrap()
    }

    /// The documented defaults as a TOML file: section headers and `#=` lines.
    fn documented_defaults() -> String {
        bundled()
            .lines()
            .filter_map(|l| {
                if l.starts_with('[') {
                    Some(l.to_string())
                } else {
                    l.strip_prefix("#= ").map(str::to_string)
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn keys(v: &serde_json::Value, prefix: &str, out: &mut Vec<String>) {
        if let serde_json::Value::Object(m) = v {
            for (k, v) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                match v {
                    serde_json::Value::Object(inner) if !inner.is_empty() => keys(v, &key, out),
                    _ => out.push(key),
                }
            }
        }
    }

    #[test]
    fn documented_defaults_are_the_real_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("defaults.toml");
        // quota.cpu and the kubeconfig are documented with example values, since their
        // default is "unset".
        let text = documented_defaults()
            .replace("cpu = 4.0", "")
            .replace("kubeconfig = \"/etc/flinkd/kubeconfig\"", "")
            .replace("context = \"prod\"", "");
        std::fs::write(&file, text).unwrap();
        let parsed = Config::load(&file).unwrap();
        assert_eq!(parsed, Config::default());
    }

    #[test]
    fn every_key_is_documented() {
        let documented = bundled();
        let mut all = Vec::new();
        let mut cfg = serde_json::to_value(Config::default()).unwrap();
        cfg["quota"]["cpu"] = serde_json::json!(1.0);
        keys(&cfg, "", &mut all);
        for key in all {
            let (table, name) = key.rsplit_once('.').unwrap_or(("", &key));
            let line = format!("#= {name} = ");
            let in_table = if table.is_empty() {
                documented.split("\n[").next().unwrap_or("").to_string()
            } else {
                documented
                    .split(&format!("\n[{table}]\n"))
                    .nth(1)
                    .map(|rest| rest.split("\n[").next().unwrap_or("").to_string())
                    .unwrap_or_default()
            };
            let mentioned = in_table.contains(&line)
                || (key == "defaults" && documented.contains("\n[defaults]\n"))
                || (key == "flink.versions" && documented.contains("\n[flink.versions]\n"));
            assert!(mentioned, "config/flinkd.toml does not document `{key}`");
        }
    }

    #[test]
    fn the_bundled_config_loads() {
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/flinkd.toml");
        let cfg = Config::load(&file).unwrap();
        assert!(cfg.deployments_dir.ends_with("examples/deployments"));
        assert!(cfg.flink.versions.contains_key(&cfg.flink.default_version));
    }
}
