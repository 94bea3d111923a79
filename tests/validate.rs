//! `flinkd validate` on real files: every rule with its own test, the reference example,
//! layering of defaults, and a corpus of bad files that must each give a clear, located
//! error and never a panic.

mod common;

use common::{problems_of, Dir, VALID};

/// Asserts that `text` is invalid with exactly the one problem `expected`.
fn assert_one_error(text: &str, expected: &str) {
    let (code, problems) = problems_of(text);
    assert_eq!(code, 1, "{problems:?}");
    assert_eq!(problems, vec![expected.to_string()]);
}

#[test]
fn a_valid_file_passes() {
    let (code, problems) = problems_of(VALID);
    assert_eq!(code, 0, "{problems:?}");
    assert!(problems.is_empty(), "{problems:?}");
}

// ---- field rules, one test each ----

#[test]
fn name_must_be_a_dns_label() {
    assert_one_error(
        &VALID.replace("name: top-speed", "name: Top_Speed"),
        "d.yaml:4:3: metadata.name: `Top_Speed` is not a valid name: use lower-case letters, digits and `-`, starting and ending with a letter or digit (e.g. top-speed)",
    );
}

#[test]
fn name_is_at_most_63_characters() {
    let long = "a".repeat(64);
    assert_one_error(
        &VALID.replace("name: top-speed", &format!("name: {long}")),
        "d.yaml:4:3: metadata.name: `aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa` is 64 characters long; at most 63 are allowed",
    );
    let (code, _) =
        problems_of(&VALID.replace("name: top-speed", &format!("name: {}", "a".repeat(63))));
    assert_eq!(code, 0);
}

#[test]
fn namespace_must_be_a_dns_label() {
    let (code, p) = problems_of(&VALID.replace(
        "  name: top-speed",
        "  name: top-speed\n  namespace: Team A",
    ));
    assert_eq!(code, 1);
    assert!(
        p[0].starts_with("d.yaml:5:3: metadata.namespace: `Team A` is not a valid name"),
        "{p:?}"
    );
}

#[test]
fn parallelism_at_least_one() {
    assert_one_error(
        &VALID.replace("parallelism: 2", "parallelism: 0"),
        "d.yaml:11:7: spec.template.spec.parallelism: must be ≥ 1, not 0",
    );
}

#[test]
fn number_of_task_managers_at_least_one() {
    assert_one_error(
        &VALID.replace(
            "parallelism: 2",
            "parallelism: 2\n      numberOfTaskManagers: 0",
        ),
        "d.yaml:12:7: spec.template.spec.numberOfTaskManagers: must be ≥ 1, not 0",
    );
}

#[test]
fn job_creation_attempts_at_least_one() {
    assert_one_error(
        &VALID.replace(
            "spec:\n  template:",
            "spec:\n  maxJobCreationAttempts: 0\n  template:",
        ),
        "d.yaml:6:3: spec.maxJobCreationAttempts: must be ≥ 1, not 0",
    );
}

#[test]
fn savepoint_creation_attempts_at_least_one() {
    assert_one_error(
        &VALID.replace(
            "spec:\n  template:",
            "spec:\n  maxSavepointCreationAttempts: -1\n  template:",
        ),
        "d.yaml:6:3: spec.maxSavepointCreationAttempts: must be ≥ 1, not -1",
    );
}

fn with_resources(jm: &str, tm: &str) -> String {
    VALID.replace(
        "parallelism: 2",
        &format!("parallelism: 2\n      numberOfTaskManagers: 2\n      resources:\n        jobManager:\n{jm}\n        taskManager:\n{tm}"),
    )
}

#[test]
fn cpu_at_least_a_tenth() {
    assert_one_error(
        &with_resources("          cpu: 0.05", "          cpu: 0.1"),
        "d.yaml:15:11: spec.template.spec.resources.jobManager.cpu: must be ≥ 0.1 cores, not 0.05",
    );
    assert_one_error(
        &with_resources("          cpu: 1", "          cpu: 0"),
        "d.yaml:17:11: spec.template.spec.resources.taskManager.cpu: must be ≥ 0.1 cores, not 0",
    );
}

#[test]
fn memory_is_a_quantity() {
    assert_one_error(
        &with_resources("          memory: lots", "          memory: 2g"),
        "d.yaml:15:11: spec.template.spec.resources.jobManager.memory: `lots` is not a memory quantity (write a number with a unit: 512m, 1g, 2Gi, 1536mb)",
    );
    for ok in ["512m", "1g", "2Gi", "1536mb", "1.5g"] {
        let (code, p) = problems_of(&with_resources(
            &format!("          memory: {ok}"),
            "          memory: 2Gi",
        ));
        assert_eq!(code, 0, "{ok}: {p:?}");
    }
}

#[test]
fn memory_minimums() {
    assert_one_error(
        &with_resources("          memory: 499m", "          memory: 1g"),
        "d.yaml:15:11: spec.template.spec.resources.jobManager.memory: `499m` is below the minimum of 500m for a JobManager",
    );
    assert_one_error(
        &with_resources("          memory: 500m", "          memory: 1023m"),
        "d.yaml:17:11: spec.template.spec.resources.taskManager.memory: `1023m` is below the minimum of 1g for a TaskManager",
    );
    let (code, _) = problems_of(&with_resources(
        "          memory: 500m",
        "          memory: 1g",
    ));
    assert_eq!(code, 0, "the minimums themselves are allowed");
}

#[test]
fn slots_times_task_managers_cover_parallelism() {
    let text = VALID.replace(
        "parallelism: 2",
        "parallelism: 5\n      numberOfTaskManagers: 2\n      flinkConfiguration:\n        taskmanager.numberOfTaskSlots: 2",
    );
    assert_one_error(
        &text,
        "d.yaml:11:7: spec.template.spec.parallelism: parallelism 5 needs 5 task slots, but 2 TaskManager(s) × 2 slot(s) give 4; raise numberOfTaskManagers or taskmanager.numberOfTaskSlots",
    );
    let (code, _) = problems_of(&text.replace("parallelism: 5", "parallelism: 4"));
    assert_eq!(code, 0);
}

#[test]
fn slots_must_be_a_positive_number() {
    assert_one_error(
        &VALID.replace("parallelism: 2", "parallelism: 2\n      flinkConfiguration:\n        taskmanager.numberOfTaskSlots: two"),
        "d.yaml:13:9: spec.template.spec.flinkConfiguration[\"taskmanager.numberOfTaskSlots\"]: must be a whole number ≥ 1, not `two`",
    );
}

#[test]
fn stateful_with_restore_none_is_a_warning_only() {
    let dir = Dir::new();
    dir.write(
        "d.yaml",
        VALID.replace("spec:\n  template:", "spec:\n  upgradeStrategy:\n    kind: stateful\n  restoreStrategy:\n    kind: none\n  template:"),
    );
    let run = dir.flinkd(&["validate", "d.yaml"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.problems(),
        ["d.yaml:9:5: spec.restoreStrategy.kind: warning: upgradeStrategy STATEFUL takes a savepoint that restoreStrategy NONE never uses; STATEFUL works with LATEST_STATE or LATEST_SAVEPOINT"]
    );
    assert_eq!(
        run.summary(),
        "1 file(s), 1 valid resource(s), 0 error(s), 1 warning(s)"
    );
}

#[test]
fn jar_uri_schemes() {
    for ok in [
        "file:///opt/a.jar",
        "http://h/a.jar",
        "https://h/a.jar",
        "/opt/a.jar",
        "jobs/a.jar",
    ] {
        let (code, p) = problems_of(&VALID.replace("file:///opt/jobs/top-speed.jar", ok));
        assert_eq!(code, 0, "{ok}: {p:?}");
    }
    assert_one_error(
        &VALID.replace("file:///opt/jobs/top-speed.jar", "s3://bucket/a.jar"),
        "d.yaml:9:9: spec.template.spec.artifact.jarUri: unsupported scheme `s3://`; use file://, http://, https:// or a path",
    );
}

#[test]
fn jar_uri_is_required() {
    assert_one_error(
        &VALID.replace("        jarUri: file:///opt/jobs/top-speed.jar\n", ""),
        "d.yaml:8:7: spec.template.spec.artifact.jarUri: required: the jar to run (file://, http(s):// or a path)",
    );
}

#[test]
fn entry_class_is_a_class_name() {
    assert_one_error(
        &VALID.replace("org.example.TopSpeed", "org.example.Top Speed"),
        "d.yaml:10:9: spec.template.spec.artifact.entryClass: `org.example.Top Speed` is not a Java class name (e.g. org.example.MyJob)",
    );
}

#[test]
fn log_levels_are_checked() {
    let (code, p) = problems_of(&VALID.replace(
        "parallelism: 2",
        "parallelism: 2\n      logging:\n        log4jLoggers:\n          org.example: LOUD",
    ));
    assert_eq!(code, 1);
    assert!(p[0].starts_with("d.yaml:14:11: spec.template.spec.logging.log4jLoggers[\"org.example\"]: `LOUD` is not a log level"), "{p:?}");
}

#[test]
fn api_version_must_be_v1() {
    assert_one_error(
        &VALID.replace("apiVersion: v1", "apiVersion: v2"),
        "d.yaml:2:1: apiVersion: unsupported apiVersion `v2`, expected `v1`",
    );
}

#[test]
fn unknown_fields_are_named() {
    assert_one_error(
        &VALID.replace("parallelism: 2", "paralelism: 2"),
        "d.yaml:11:7: spec.template.spec.paralelism: unknown field `paralelism`, expected one of `artifact`, `parallelism`, `numberOfTaskManagers`, `resources`, `flinkConfiguration`, `logging`, `kubernetes`",
    );
}

#[test]
fn enums_are_case_insensitive_and_canceled_is_accepted() {
    let dir = Dir::new();
    dir.write(
        "d.yaml",
        VALID.replace("spec:\n  template:", "spec:\n  state: Canceled\n  upgradeStrategy:\n    kind: STATELESS\n  restoreStrategy:\n    kind: Latest_Savepoint\n  template:"),
    );
    let run = dir.flinkd(&["validate", "--expand", "d.yaml"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("state: CANCELLED"), "{}", run.stdout);
    assert!(
        run.stdout.contains("kind: LATEST_SAVEPOINT"),
        "{}",
        run.stdout
    );
}

#[test]
fn flink_version_must_be_configured_when_a_config_is_given() {
    let dir = Dir::new();
    dir.write("flinkd.toml", "[flink]\ndefault_version = \"2.3\"\nversions = { \"2.3\" = \"/opt/flink-2.3\", \"1.20\" = \"/opt/flink-1.20\" }\n");
    dir.write(
        "d.yaml",
        VALID.replace(
            "entryClass: org.example.TopSpeed",
            "entryClass: org.example.TopSpeed\n        flinkVersion: 1.11",
        ),
    );
    let run = dir.flinkd(&["validate", "--config", "flinkd.toml", "d.yaml"]);
    assert_eq!(run.code, 1);
    assert_eq!(
        run.problems(),
        ["d.yaml:11:9: spec.template.spec.artifact.flinkVersion: Flink `1.11` is not configured; known versions: 1.20, 2.3 ([flink.versions] in the daemon config)"]
    );
    // Without a config any version is accepted; with one, a known one passes.
    assert_eq!(dir.flinkd(&["validate", "d.yaml"]).code, 0);
    dir.write(
        "d.yaml",
        VALID.replace(
            "entryClass: org.example.TopSpeed",
            "entryClass: org.example.TopSpeed\n        flinkVersion: 1.20",
        ),
    );
    let run = dir.flinkd(&["validate", "--config", "flinkd.toml", "--expand", "d.yaml"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("flinkVersion: '1.20'"),
        "1.20 is kept as written: {}",
        run.stdout
    );
}

// ---- set rules ----

const TARGET: &str = "\
kind: DeploymentTarget
apiVersion: v1
metadata:
  name: jobs
  id: 57b4c290-73ad-11e7-8cf7-a6006ad3dba0
spec:
  local: {}
";

#[test]
fn duplicate_identities_across_files_keep_the_first() {
    let dir = Dir::new();
    dir.write("a.yaml", VALID);
    dir.write("b.yaml", VALID);
    let run = dir.flinkd(&["validate", "."]);
    assert_eq!(run.code, 1);
    assert_eq!(
        run.problems(),
        ["./b.yaml:4:3: metadata.name: Deployment `default/top-speed` is already defined at ./a.yaml:1:1; the first definition is kept"]
    );
    assert_eq!(
        run.summary(),
        "2 file(s), 1 valid resource(s), 1 error(s), 0 warning(s)"
    );
    // The same name in another namespace is another Deployment.
    dir.write(
        "b.yaml",
        VALID.replace(
            "  name: top-speed",
            "  name: top-speed\n  namespace: team-b",
        ),
    );
    assert_eq!(dir.flinkd(&["validate", "."]).code, 0);
}

#[test]
fn an_invalid_first_definition_still_holds_its_identity() {
    let dir = Dir::new();
    dir.write("a.yaml", VALID.replace("parallelism: 2", "parallelism: 0"));
    dir.write("b.yaml", VALID);
    let run = dir.flinkd(&["validate", "--expand", "."]);
    assert_eq!(run.code, 1);
    assert_eq!(run.problems().len(), 2, "{}", run.stderr);
    assert!(run.stderr.contains(
        "./b.yaml:4:3: metadata.name: Deployment `default/top-speed` is already defined"
    ));
}

#[test]
fn duplicate_target_ids_are_errors() {
    let dir = Dir::new();
    dir.write("t1.yaml", TARGET);
    dir.write("t2.yaml", TARGET.replace("name: jobs", "name: other"));
    let run = dir.flinkd(&["validate", "."]);
    assert_eq!(run.code, 1);
    assert_eq!(
        run.problems(),
        ["./t2.yaml:5:3: metadata.id: DeploymentTarget id 57b4c290-73ad-11e7-8cf7-a6006ad3dba0 is already used at ./t1.yaml:1:1"]
    );
}

#[test]
fn target_references_resolve_by_id_or_name_in_the_same_namespace() {
    let dir = Dir::new();
    dir.write("t.yaml", TARGET);
    let by_id = VALID.replace(
        "spec:\n  template:",
        "spec:\n  deploymentTargetId: 57b4c290-73ad-11e7-8cf7-a6006ad3dba0\n  template:",
    );
    dir.write("d.yaml", &by_id);
    assert_eq!(dir.flinkd(&["validate", "."]).code, 0);

    dir.write(
        "d.yaml",
        by_id.replace(
            "57b4c290-73ad-11e7-8cf7-a6006ad3dba0",
            "00000000-0000-0000-0000-000000000001",
        ),
    );
    let run = dir.flinkd(&["validate", "."]);
    assert_eq!(run.code, 1);
    assert_eq!(run.problems(), ["./d.yaml:6:3: spec.deploymentTargetId: no DeploymentTarget with id 00000000-0000-0000-0000-000000000001 (give the target file `metadata.id: 00000000-0000-0000-0000-000000000001`, or use deploymentTargetName)"]);

    dir.write(
        "d.yaml",
        VALID.replace(
            "spec:\n  template:",
            "spec:\n  deploymentTargetName: jobs\n  template:",
        ),
    );
    assert_eq!(dir.flinkd(&["validate", "."]).code, 0);

    dir.write(
        "d.yaml",
        VALID.replace(
            "spec:\n  template:",
            "spec:\n  deploymentTargetName: nowhere\n  template:",
        ),
    );
    let run = dir.flinkd(&["validate", "."]);
    assert_eq!(run.problems(), ["./d.yaml:6:3: spec.deploymentTargetName: no DeploymentTarget `nowhere` in namespace `default`"]);

    // `local` exists without a file.
    dir.write(
        "d.yaml",
        VALID.replace(
            "spec:\n  template:",
            "spec:\n  deploymentTargetName: local\n  template:",
        ),
    );
    assert_eq!(dir.flinkd(&["validate", "d.yaml"]).code, 0);
}

#[test]
fn a_target_in_another_namespace_cannot_be_used() {
    let dir = Dir::new();
    dir.write(
        "t.yaml",
        TARGET.replace("  name: jobs", "  name: jobs\n  namespace: team-b"),
    );
    dir.write(
        "d.yaml",
        VALID.replace(
            "spec:\n  template:",
            "spec:\n  deploymentTargetId: 57b4c290-73ad-11e7-8cf7-a6006ad3dba0\n  template:",
        ),
    );
    let run = dir.flinkd(&["validate", "."]);
    assert_eq!(run.code, 1);
    assert_eq!(run.problems(), ["./d.yaml:6:3: spec.deploymentTargetId: DeploymentTarget 57b4c290-73ad-11e7-8cf7-a6006ad3dba0 is in namespace `team-b`; a Deployment's target must be in its own namespace `default`"]);
    dir.write(
        "d.yaml",
        VALID.replace(
            "spec:\n  template:",
            "spec:\n  deploymentTargetName: jobs\n  template:",
        ),
    );
    let run = dir.flinkd(&["validate", "."]);
    assert_eq!(run.problems(), ["./d.yaml:6:3: spec.deploymentTargetName: no DeploymentTarget `jobs` in namespace `default`"]);
}

#[test]
fn id_and_name_must_agree() {
    let dir = Dir::new();
    dir.write("t.yaml", format!("{TARGET}---\nkind: DeploymentTarget\napiVersion: v1\nmetadata:\n  name: other\nspec:\n  local: {{}}\n"));
    dir.write("d.yaml", VALID.replace("spec:\n  template:", "spec:\n  deploymentTargetId: 57b4c290-73ad-11e7-8cf7-a6006ad3dba0\n  deploymentTargetName: other\n  template:"));
    let run = dir.flinkd(&["validate", "."]);
    assert_eq!(run.problems(), ["./d.yaml:7:3: spec.deploymentTargetName: names target `other`, but deploymentTargetId refers to `jobs`"]);
}

#[test]
fn a_target_is_local_an_existing_cluster_or_kubernetes() {
    let both = "kind: DeploymentTarget\napiVersion: v1\nmetadata:\n  name: t\nspec:\n  local: {}\n  kubernetes:\n    namespace: jobs\n";
    assert_one_error(
        both,
        "d.yaml:5:1: spec: set one of `local: {}`, `flink: {restUrl: …}` and `kubernetes: {namespace: …}`, not several",
    );
    let neither = "kind: DeploymentTarget\napiVersion: v1\nmetadata:\n  name: t\nspec: {}\n";
    assert_one_error(
        neither,
        "d.yaml:5:1: spec: missing the target: set `local: {}`, `flink: {restUrl: …}` or `kubernetes: {namespace: …}`",
    );
    let (code, _) = problems_of("kind: DeploymentTarget\napiVersion: v1\nmetadata:\n  name: t\nspec:\n  kubernetes:\n    namespace: jobs\n");
    assert_eq!(code, 0);
}

#[test]
fn one_deployment_defaults_per_namespace() {
    let dir = Dir::new();
    let defaults = "kind: DeploymentDefaults\napiVersion: v1\nmetadata:\n  name: team\nspec:\n  maxJobCreationAttempts: 9\n";
    dir.write("a.yaml", defaults);
    dir.write("b.yaml", defaults.replace("name: team", "name: second"));
    let run = dir.flinkd(&["validate", "."]);
    assert_eq!(run.problems(), ["./b.yaml:3:1: metadata.namespace: namespace `default` already has DeploymentDefaults at ./a.yaml:1:1; a namespace has at most one"]);
}

// ---- defaults and expansion ----

#[test]
fn namespace_defaults_then_config_defaults_then_built_in() {
    let dir = Dir::new();
    dir.write("flinkd.toml", "[flink]\nversions = { \"2.3\" = \"/opt/flink\" }\n[defaults]\nmaxSavepointCreationAttempts = 6\nmaxJobCreationAttempts = 8\n[defaults.template.spec.flinkConfiguration]\n\"taskmanager.numberOfTaskSlots\" = \"2\"\n");
    dir.write("defaults.yaml", "kind: DeploymentDefaults\napiVersion: v1\nmetadata:\n  name: team\nspec:\n  maxJobCreationAttempts: 9\n  template:\n    spec:\n      resources:\n        taskManager:\n          memory: 3g\n");
    dir.write("d.yaml", VALID.replace("parallelism: 2", "parallelism: 3"));
    let run = dir.flinkd(&["validate", "--config", "flinkd.toml", "--expand", "."]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let docs: Vec<serde_json::Value> = run
        .stdout
        .split("---\n")
        .filter(|d| !d.trim().is_empty())
        .map(|d| serde_yaml::from_str(d).unwrap())
        .collect();
    let d = docs.iter().find(|d| d["kind"] == "Deployment").unwrap();
    let spec = &d["spec"];
    assert_eq!(
        spec["maxJobCreationAttempts"], 9,
        "namespace defaults over config"
    );
    assert_eq!(
        spec["maxSavepointCreationAttempts"], 6,
        "config over built-in"
    );
    assert_eq!(spec["state"], "RUNNING", "built-in");
    let t = &spec["template"]["spec"];
    assert_eq!(t["parallelism"], 3, "explicit");
    assert_eq!(t["resources"]["taskManager"]["memory"], "3g");
    assert_eq!(t["resources"]["taskManager"]["cpu"], 1.0);
    assert_eq!(t["numberOfTaskManagers"], 2, "ceil(3 / 2 slots)");
    assert_eq!(
        t["flinkConfiguration"]["taskmanager.numberOfTaskSlots"],
        "2"
    );
}

#[test]
fn an_error_in_an_inherited_value_says_where_it_came_from() {
    let dir = Dir::new();
    dir.write("defaults.yaml", "kind: DeploymentDefaults\napiVersion: v1\nmetadata:\n  name: team\nspec:\n  template:\n    spec:\n      resources:\n        taskManager:\n          memory: 2g\n      flinkConfiguration:\n        taskmanager.numberOfTaskSlots: 1\n");
    dir.write(
        "d.yaml",
        VALID.replace(
            "parallelism: 2",
            "parallelism: 2\n      numberOfTaskManagers: 1",
        ),
    );
    let run = dir.flinkd(&["validate", "."]);
    assert_eq!(run.code, 1);
    assert_eq!(run.problems(), ["./d.yaml:11:7: spec.template.spec.parallelism: parallelism 2 needs 2 task slots, but 1 TaskManager(s) × 1 slot(s) give 1; raise numberOfTaskManagers or taskmanager.numberOfTaskSlots"]);

    dir.write("flinkd.toml", "[flink]\nversions = { \"2.3\" = \"/opt/flink\" }\n[defaults]\nmaxJobCreationAttempts = 0\n");
    dir.write("d.yaml", VALID);
    let run = dir.flinkd(&["validate", "--config", "flinkd.toml", "d.yaml"]);
    assert_eq!(run.problems(), ["d.yaml:5:1: spec.maxJobCreationAttempts: must be ≥ 1, not 0 (inherited from [defaults] in the daemon config)"]);
}

#[test]
fn a_bad_namespace_default_is_reported_at_the_defaults_and_the_deployment() {
    let dir = Dir::new();
    dir.write("defaults.yaml", "kind: DeploymentDefaults\napiVersion: v1\nmetadata:\n  name: team\nspec:\n  maxJobCreationAttempts: 0\n");
    dir.write("d.yaml", VALID);
    let run = dir.flinkd(&["validate", "."]);
    assert_eq!(run.code, 1);
    assert_eq!(
        run.problems(),
        ["./defaults.yaml:6:3: spec.maxJobCreationAttempts: must be ≥ 1, not 0"]
    );
    // The invalid defaults are not applied, so the Deployment itself is valid.
    assert_eq!(
        run.summary(),
        "2 file(s), 1 valid resource(s), 1 error(s), 0 warning(s)"
    );
}

// ---- the reference example ----

#[test]
fn the_reference_example_parses_and_expands_in_full() {
    let dir = Dir::new();
    let fixtures =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reference");
    for f in ["top-speed.yaml", "target.yaml"] {
        dir.write(f, std::fs::read(fixtures.join(f)).unwrap());
    }
    let run = dir.flinkd(&["validate", "--expand", "."]);
    // The example's name, "TopSpeedWindowing Example", is not a valid name here: that is
    // its one error; everything else parses exactly as written.
    assert_eq!(run.problems(), ["./top-speed.yaml:4:3: metadata.name: `TopSpeedWindowing Example` is not a valid name: use lower-case letters, digits and `-`, starting and ending with a letter or digit (e.g. top-speed)"]);
    let expected = std::fs::read_to_string(fixtures.join("expanded.yaml")).unwrap();
    assert_eq!(run.stdout, expected);

    // With a valid name, the same file is valid and expands the same way.
    let text = std::fs::read_to_string(fixtures.join("top-speed.yaml")).unwrap();
    dir.write(
        "top-speed.yaml",
        text.replace(
            "name: TopSpeedWindowing Example",
            "name: top-speed-windowing",
        ),
    );
    let run = dir.flinkd(&["validate", "--expand", "."]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        expected
            .replace("# not valid: see the errors for ./top-speed.yaml:1:1\n", "")
            .replace(
                "name: TopSpeedWindowing Example",
                "name: top-speed-windowing"
            )
    );
}

// ---- files and directories ----

#[test]
fn a_directory_skips_hidden_files_and_editor_leftovers() {
    let dir = Dir::new();
    dir.write("d.yaml", VALID);
    for junk in [
        ".d.yaml.swp",
        "d.yaml~",
        ".#d.yaml",
        ".hidden.yaml",
        "notes.txt",
        "..data",
    ] {
        dir.write(junk, "this: [is not valid");
    }
    dir.write("sub/x.yaml", "not: [valid");
    let run = dir.flinkd(&["validate", "."]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.summary(),
        "1 file(s), 1 valid resource(s), 0 error(s), 0 warning(s)"
    );
}

#[test]
fn a_missing_path_is_an_error() {
    let dir = Dir::new();
    let run = dir.flinkd(&["validate", "nowhere.yaml"]);
    assert_eq!(run.code, 1);
    assert_eq!(run.stderr.trim(), "nowhere.yaml: no such file or directory");
}

#[test]
fn a_bad_config_is_a_usage_error_naming_the_key() {
    let dir = Dir::new();
    dir.write("flinkd.toml", "[timing]\ncancel_deadline = \"soon\"\n");
    dir.write("d.yaml", VALID);
    let run = dir.flinkd(&["validate", "--config", "flinkd.toml", "d.yaml"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("timing.cancel_deadline"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_size_cap_comes_from_the_config() {
    let dir = Dir::new();
    dir.write("flinkd.toml", "[files]\nmax_file_size = \"1k\"\n");
    let padded = format!("{VALID}{}", "# padding\n".repeat(200));
    dir.write("d.yaml", &padded);
    let run = dir.flinkd(&["validate", "--config", "flinkd.toml", "d.yaml"]);
    assert_eq!(run.problems(), ["d.yaml:1:1: (file): file is larger than 1k (files.max_file_size in the daemon config); not read"]);
    assert_eq!(
        dir.flinkd(&["validate", "d.yaml"]).code,
        0,
        "the default cap is 1m"
    );
}

#[test]
fn a_multi_document_file_with_one_bad_document_keeps_the_good_ones() {
    let dir = Dir::new();
    let bad = VALID
        .replace("name: top-speed", "name: second")
        .replace("parallelism: 2", "parallelism: zero");
    let third = VALID.replace("name: top-speed", "name: third");
    dir.write("d.yaml", format!("{VALID}---\n{bad}---\n{third}"));
    let run = dir.flinkd(&["validate", "--expand", "d.yaml"]);
    assert_eq!(run.code, 1);
    assert_eq!(run.problems(), ["d.yaml:23:7: spec.template.spec.parallelism: invalid type: string \"zero\", expected a whole number"]);
    assert_eq!(
        run.summary(),
        "1 file(s), 2 valid resource(s), 1 error(s), 0 warning(s)"
    );
    assert!(run.stdout.contains("name: top-speed") && run.stdout.contains("name: third"));
}

#[test]
fn status_in_a_file_is_ignored_with_a_warning() {
    let dir = Dir::new();
    dir.write("d.yaml", format!("{VALID}status:\n  state: running\n"));
    let run = dir.flinkd(&["validate", "--expand", "d.yaml"]);
    assert_eq!(run.code, 0);
    assert_eq!(run.problems(), ["d.yaml:12:1: status: warning: ignored: status is the daemon's and is not read from files"]);
    assert!(!run.stdout.contains("status"), "{}", run.stdout);
}

// ---- the corpus of bad files ----

/// Each entry: a name, the bytes, and a fragment its one error line must contain
/// (`FILE:LINE:COL: PATH: message` after the file name).
fn corpus() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let v = |s: String| s.into_bytes();
    let mut huge = VALID.as_bytes().to_vec();
    huge.extend(std::iter::repeat_n(b'#', 3 * 1024 * 1024));
    let mut random = Vec::new();
    let mut x: u32 = 0x2545_f491;
    for _ in 0..4096 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        random.push((x >> 24) as u8);
    }
    random[0] = 0xff;
    vec![
        ("empty", vec![], ":1:1: (file): no resource in file"),
        ("only-comments", v("# nothing here\n".into()), ":1:1: (file): no resource in file"),
        ("only-separators", v("---\n---\n".into()), ":1:1: (file): no resource in file"),
        ("binary-junk", random, ":1:1: (file): not UTF-8 text"),
        ("nul-bytes", vec![b'a', 0, b'b', b'\n'], "(file): invalid YAML"),
        ("huge", huge, ":1:1: (file): file is larger than 1m"),
        ("unclosed-flow", v("kind: [Deployment\n".into()), ":2:1: (file): invalid YAML"),
        ("bad-indent", v("kind: Deployment\n metadata:\n  name: x\n".into()), "(file): invalid YAML"),
        ("tab-indent", v("kind: Deployment\nmetadata:\n\tname: x\n".into()), "(file): invalid YAML"),
        ("duplicate-key", v("kind: Deployment\nkind: Deployment\n".into()), "(file): invalid YAML: duplicate entry with key \"kind\""),
        ("alias-loop", v("a: &x [*x]\n".into()), "(file): invalid YAML"),
        ("a-list", v("- kind: Deployment\n".into()), ":1:1: (document): expected a mapping"),
        ("a-scalar", v("hello\n".into()), ":1:1: (document): expected a mapping"),
        ("no-kind", v("apiVersion: v1\nmetadata:\n  name: x\n".into()), ":1:1: (document): missing field `kind`"),
        ("unknown-kind", v("kind: Pod\napiVersion: v1\n".into()), ":1:1: kind: unknown kind `Pod`"),
        ("kind-not-text", v("kind: [1]\n".into()), ":1:1: kind: must be a string"),
        ("no-metadata", v("kind: Deployment\napiVersion: v1\n".into()), ":1:1: (document): missing field `metadata`"),
        ("no-name", v("kind: Deployment\napiVersion: v1\nmetadata: {}\n".into()), ":3:1: metadata: missing field `name`"),
        ("no-api-version", v("kind: Deployment\nmetadata:\n  name: x\n".into()), ":1:1: (document): missing field `apiVersion`"),
        ("unknown-top-field", v(format!("{VALID}extra: 1\n")), ":12:1: extra: unknown field `extra`"),
        ("unknown-metadata-field", v(VALID.replace("  name: top-speed", "  name: top-speed\n  nmae: x")), ":5:3: metadata.nmae: unknown field `nmae`"),
        ("unknown-artifact-field", v(VALID.replace("entryClass:", "entryclass:")), ":10:9: spec.template.spec.artifact.entryclass: unknown field `entryclass`"),
        ("bad-state", v(VALID.replace("spec:\n  template:", "spec:\n  state: paused\n  template:")), ":6:3: spec.state: unknown value `paused`, expected one of RUNNING, CANCELLED, SUSPENDED"),
        ("bad-upgrade", v(VALID.replace("spec:\n  template:", "spec:\n  upgradeStrategy:\n    kind: rolling\n  template:")), ":7:5: spec.upgradeStrategy.kind: unknown value `rolling`"),
        ("bad-restore", v(VALID.replace("spec:\n  template:", "spec:\n  restoreStrategy:\n    kind: newest\n  template:")), ":7:5: spec.restoreStrategy.kind: unknown value `newest`"),
        ("bad-artifact-kind", v(VALID.replace("        jarUri:", "        kind: python\n        jarUri:")), ":9:9: spec.template.spec.artifact.kind: unknown value `python`, expected one of JAR"),
        ("negative-parallelism", v(VALID.replace("parallelism: 2", "parallelism: -4")), ":11:7: spec.template.spec.parallelism: must be ≥ 1, not -4"),
        ("float-parallelism", v(VALID.replace("parallelism: 2", "parallelism: 1.5")), ":11:7: spec.template.spec.parallelism: invalid type: floating point `1.5`, expected a whole number"),
        ("text-parallelism", v(VALID.replace("parallelism: 2", "parallelism: two")), ":11:7: spec.template.spec.parallelism: invalid type: string \"two\", expected a whole number"),
        ("huge-parallelism", v(VALID.replace("parallelism: 2", "parallelism: 99999999999999999999999")), ":11:20: (file): invalid YAML: spec.template.spec.parallelism: invalid type: integer `99999999999999999999999`"),
        ("bool-attempts", v(VALID.replace("spec:\n  template:", "spec:\n  maxJobCreationAttempts: yes\n  template:")), ":6:3: spec.maxJobCreationAttempts: invalid type: string \"yes\", expected a whole number"),
        ("negative-cpu", v(VALID.replace("parallelism: 2", "parallelism: 2\n      resources:\n        taskManager:\n          cpu: -1")), ":14:11: spec.template.spec.resources.taskManager.cpu: must be ≥ 0.1 cores, not -1"),
        ("text-cpu", v(VALID.replace("parallelism: 2", "parallelism: 2\n      resources:\n        taskManager:\n          cpu: many")), ":14:11: spec.template.spec.resources.taskManager.cpu: invalid type: string \"many\", expected a number"),
        ("bad-memory", v(VALID.replace("parallelism: 2", "parallelism: 2\n      resources:\n        taskManager:\n          memory: 2 gigs")), ":14:11: spec.template.spec.resources.taskManager.memory: `2 gigs` is not a memory quantity"),
        ("bad-uuid", v(VALID.replace("  name: top-speed", "  name: top-speed\n  id: 1234")), ":5:3: metadata.id: invalid type: integer `1234`, expected a formatted UUID string"),
        ("bad-target-id", v(VALID.replace("spec:\n  template:", "spec:\n  deploymentTargetId: abc\n  template:")), ":6:3: spec.deploymentTargetId: UUID parsing failed"),
        ("config-not-a-map", v(VALID.replace("parallelism: 2", "parallelism: 2\n      flinkConfiguration: [a, b]")), ":12:7: spec.template.spec.flinkConfiguration: invalid type: sequence, expected a mapping"),
        ("labels-nested", v(VALID.replace("  name: top-speed", "  name: top-speed\n  labels:\n    env:\n      deep: x")), ":6:5: metadata.labels.env: invalid type: map, expected text"),
        ("template-a-list", v(VALID.replace("  template:\n    spec:", "  template:\n  - spec:")), ":6:3: spec.template: invalid type: sequence, expected a mapping"),
        ("spec-a-string", v("kind: Deployment\napiVersion: v1\nmetadata:\n  name: x\nspec: run it\n".into()), ":5:1: spec: invalid type: string \"run it\", expected a mapping"),
        ("bad-api-version", v(VALID.replace("apiVersion: v1", "apiVersion: apps/v1")), ":2:1: apiVersion: unsupported apiVersion `apps/v1`"),
        ("multi-doc-one-bad", v(format!("{VALID}---\n{}", VALID.replace("name: top-speed", "name: Bad Name"))), ":16:3: metadata.name: `Bad Name` is not a valid name"),
    ]
}

#[test]
fn every_bad_file_gives_one_clear_located_error() {
    let corpus = corpus();
    assert!(corpus.len() >= 30, "the corpus has {} files", corpus.len());
    let dir = Dir::new();
    for (name, bytes, _) in &corpus {
        dir.write(&format!("{name}.yaml"), bytes);
    }
    // Each file alone: exit 1, its error line, no panic.
    for (name, _, expected) in &corpus {
        let file = format!("{name}.yaml");
        let run = dir.flinkd(&["validate", &file]);
        assert_eq!(run.code, 1, "{name}: {}", run.stderr);
        assert!(!run.stderr.contains("panicked"), "{name}: {}", run.stderr);
        let problems = run.problems();
        assert_eq!(problems.len(), 1, "{name}: {problems:?}");
        assert!(problems[0].starts_with(&file), "{name}: {}", problems[0]);
        assert!(
            problems[0].contains(expected),
            "{name}: `{}` lacks `{expected}`",
            problems[0]
        );
    }
    // All of them together, as one directory: every file is reported, nothing panics.
    let run = dir.flinkd(&["validate", "."]);
    assert_eq!(run.code, 1);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    for (name, _, _) in &corpus {
        let prefix = format!("./{name}.yaml:");
        assert!(
            run.problems().iter().any(|p| p.starts_with(&prefix)),
            "{name} not reported"
        );
    }
    assert_eq!(
        run.summary(),
        format!(
            "{} file(s), 0 valid resource(s), {} error(s), 0 warning(s)",
            corpus.len(),
            run.problems().len()
        )
    );
}

#[test]
fn the_readme_example_is_valid() {
    let readme =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
            .unwrap();
    let start = readme.find("```yaml\n").expect("a yaml block") + "```yaml\n".len();
    let end = start + readme[start..].find("```").unwrap();
    let dir = Dir::new();
    dir.write("readme.yaml", &readme[start..end]);
    let run = dir.flinkd(&["validate", "readme.yaml"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.summary(),
        "1 file(s), 1 valid resource(s), 0 error(s), 0 warning(s)"
    );
}

#[test]
fn the_bundled_example_is_valid_with_the_bundled_config() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = assert_cmd::Command::cargo_bin("flinkd")
        .unwrap()
        .current_dir(root)
        .args([
            "validate",
            "--config",
            "config/flinkd.toml",
            "examples/deployments",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("1 valid resource(s), 0 error(s), 0 warning(s)"),
        "{stderr}"
    );
}

#[test]
fn environment_variables_override_the_config_file() {
    let dir = Dir::new();
    dir.write("flinkd.toml", "[files]\nmax_file_size = \"1m\"\n");
    dir.write("d.yaml", format!("{VALID}{}", "# padding\n".repeat(200)));
    let out = assert_cmd::Command::cargo_bin("flinkd")
        .unwrap()
        .current_dir(dir.path())
        .env("FLINKD_FILES__MAX_FILE_SIZE", "1k")
        .args(["validate", "--config", "flinkd.toml", "d.yaml"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("file is larger than 1k"), "{stderr}");

    let out = assert_cmd::Command::cargo_bin("flinkd")
        .unwrap()
        .current_dir(dir.path())
        .env("FLINKD_TIMING__CANCEL_DEADLINE", "never")
        .args(["validate", "--config", "flinkd.toml", "d.yaml"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("timing.cancel_deadline"), "{stderr}");
}

#[test]
fn a_kubernetes_target_is_refused_by_a_daemon_that_does_not_run_kubernetes() {
    let dir = Dir::new();
    dir.write(
        "flinkd.toml",
        "[flink]\nversions = { \"2.3\" = \"/opt/flink\" }\n",
    );
    dir.write("t.yaml", "kind: DeploymentTarget\napiVersion: v1\nmetadata:\n  name: k8s\nspec:\n  kubernetes:\n    namespace: jobs\n");
    dir.write(
        "d.yaml",
        VALID.replace(
            "spec:\n  template:",
            "spec:\n  deploymentTargetName: k8s\n  template:",
        ),
    );
    // Offline, the reference is fine, but a job in a pod needs its savepoints elsewhere.
    let run = dir.flinkd(&["validate", "."]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("spec.template.spec.flinkConfiguration: a Kubernetes Deployment's savepoints must outlive its pods"),
        "{}",
        run.stderr
    );
    dir.write(
        "d.yaml",
        VALID.replace(
            "spec:\n  template:",
            "spec:\n  deploymentTargetName: k8s\n  template:",
        ) + "      flinkConfiguration:\n        state.savepoints.dir: s3://b/sp\n",
    );
    let run = dir.flinkd(&["validate", "."]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // The daemon runs it: valid with its config too (no local Flink of that version
    // needed: the cluster runs an image).
    let run = dir.flinkd(&["validate", "--config", "flinkd.toml", "."]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn an_existing_cluster_target_needs_a_rest_url() {
    let dir = Dir::new();
    let target = |name: &str, spec: &str| {
        format!("kind: DeploymentTarget\napiVersion: v1\nmetadata:\n  name: {name}\nspec:\n{spec}")
    };
    dir.write(
        "a.yaml",
        target("good", "  flink:\n    restUrl: http://jm.example:8081/\n"),
    );
    dir.write(
        "b.yaml",
        target("ftp", "  flink:\n    restUrl: ftp://jm:8081\n"),
    );
    dir.write(
        "c.yaml",
        target("words", "  flink:\n    restUrl: not a url\n"),
    );
    dir.write(
        "d.yaml",
        target(
            "both",
            "  local: {}\n  flink:\n    restUrl: http://jm:8081\n",
        ),
    );
    dir.write("e.yaml", target("none", "  flink: {}\n"));
    dir.write(
        "f.yaml",
        target("typo", "  flink:\n    restURL: http://jm:8081\n"),
    );
    dir.write(
        "g.yaml",
        target("query", "  flink:\n    restUrl: http://jm:8081/?x=1\n"),
    );
    let out = dir.flinkd(&["validate", "."]);
    assert_eq!(out.code, 1);
    assert_eq!(
        out.problems(),
        [
            "./b.yaml:7:5: spec.flink.restUrl: `ftp://jm:8081`: the Flink REST API is reached over http or https, not `ftp`",
            "./c.yaml:7:5: spec.flink.restUrl: `not a url` is not a URL (relative URL without a base); expected e.g. http://flink-jobmanager:8081",
            "./d.yaml:5:1: spec: set one of `local: {}`, `flink: {restUrl: …}` and `kubernetes: {namespace: …}`, not several",
            "./e.yaml:6:3: spec.flink: missing field `restUrl`",
            "./f.yaml:7:5: spec.flink.restURL: unknown field `restURL`, expected `restUrl`",
            "./g.yaml:7:5: spec.flink.restUrl: `http://jm:8081/?x=1`: a REST address takes no query or fragment",
        ]
    );
}
