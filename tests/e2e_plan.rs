//! `flinkd plan` against a running daemon on the fake Flink (no JVM): each kind of
//! change in words, a warning in capitals where a start would drop state, and the exit
//! code (0 nothing, 2 changes, 1 error).

#![cfg(feature = "test-support")]

mod e2e;

use e2e::Daemon;
use flinkd::spec::DeploymentState;

fn deployment(name: &str, extra: &str) -> String {
    format!(
        "kind: Deployment\napiVersion: v1\nmetadata:\n  name: {name}\nspec:\n{extra}  template:\n    spec:\n      artifact:\n        jarUri: {}\n        entryClass: org.example.Job\n",
        e2e::fake_jar().display()
    )
}

/// Plans `files` (written into a directory of their own, not the watched one).
fn plan(d: &Daemon, files: &[(&str, String)]) -> (i32, String, String) {
    let dir = d.path("proposed");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let config = d.path("flinkd.toml");
    d.cli(&[
        "plan",
        dir.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ])
}

#[test]
fn plan_says_what_an_edit_would_do() {
    let _one = e2e::serial();
    let d = Daemon::start_with(&e2e::fake_flink_home(), "");
    let running = deployment("alpha", "  state: running\n");
    d.deploy("alpha.yaml", &running);
    d.wait_status("alpha", DeploymentState::Running, 30);

    let (code, out, err) = plan(&d, &[("alpha.yaml", running.clone())]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("default/alpha (") && out.contains("): no change"),
        "{out}"
    );

    let (code, out, _) = plan(
        &d,
        &[("alpha.yaml", deployment("alpha", "  state: suspended\n"))],
    );
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("suspends: a savepoint, then the cluster is stopped"),
        "{out}"
    );
    // A template edit: a STATEFUL upgrade, with the cores it needs.
    let upgraded = running.replace(
        "entryClass: org.example.Job",
        "entryClass: org.example.Job\n      parallelism: 2",
    );
    let (code, out, _) = plan(&d, &[("alpha.yaml", upgraded)]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("needs 3 CPU cores of the quota; upgrade (STATEFUL): a savepoint, then the new template's job restores from it"),
        "{out}"
    );

    // Suspend for real, so that a snapshot exists; then plans that would lose it.
    d.deploy("alpha.yaml", &deployment("alpha", "  state: suspended\n"));
    d.wait_status("alpha", DeploymentState::Suspended, 30);
    let (code, out, _) = plan(&d, &[("alpha.yaml", running.clone())]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("starts a job, restoring from savepoint"),
        "{out}"
    );
    assert!(out.contains("(SUSPEND, "), "{out}");
    assert!(!out.contains("WARNING"), "{out}");
    let none = deployment(
        "alpha",
        "  state: running\n  restoreStrategy:\n    kind: NONE\n",
    );
    let (code, out, _) = plan(&d, &[("alpha.yaml", none)]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("WARNING: STARTS FROM EMPTY STATE (restore strategy NONE), although 1 snapshot exist(s)"),
        "{out}"
    );

    // A rename: a new Deployment from empty state while the old one, with its
    // savepoint, goes away.
    let (code, out, _) = plan(
        &d,
        &[("alpha.yaml", deployment("alpha-v2", "  state: running\n"))],
    );
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("default/alpha-v2 (new): needs"), "{out}");
    assert!(out.contains("default/alpha: no file defines it"), "{out}");
    assert!(
        out.contains(
            "WARNING: default/alpha has 1 snapshot(s) and default/alpha-v2 STARTS FROM EMPTY STATE"
        ),
        "{out}"
    );

    // An invalid file plans nothing.
    let (code, _, err) = plan(
        &d,
        &[("alpha.yaml", running.replace("running", "sprinting"))],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("alpha.yaml:6:3: spec.state"), "{err}");
    // Nothing planned was applied.
    assert_eq!(d.status("alpha"), Some(DeploymentState::Suspended));
    assert!(d.deployment("alpha-v2").is_none());
}
