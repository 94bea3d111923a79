//! Properties over arbitrary input: reading files never panics, every problem is
//! located, and expansion is complete and idempotent.

use std::path::Path;

use flinkd::defaults::{expand_spec, Layers};
use flinkd::resources::parse_bytes;
use flinkd::spec::DeploymentSpec;
use flinkd::validate;
use proptest::prelude::*;

/// Text that looks like a Deployment file: real keys and values, shuffled and indented
/// at random, so the parser and the typed layer both see plausible junk.
fn yamlish() -> impl Strategy<Value = String> {
    let words = prop::sample::select(vec![
        "kind",
        "Deployment",
        "DeploymentTarget",
        "apiVersion",
        "v1",
        "metadata",
        "name",
        "spec",
        "template",
        "parallelism",
        "state",
        "running",
        "-1",
        "0",
        "2",
        "1.5",
        "x",
        "jarUri",
        "artifact",
        "resources",
        "cpu",
        "memory",
        "1g",
        "\"\"",
        "[",
        "]",
        "{",
        "}",
        ":",
        "-",
        "---",
        "&a",
        "*a",
        "!!str",
        "#",
        "'",
        "\"",
        "null",
        "~",
        "true",
        "\t",
    ]);
    prop::collection::vec((0usize..4, prop::collection::vec(words, 1..5)), 0..30).prop_map(
        |lines| {
            lines
                .into_iter()
                .map(|(indent, ws)| format!("{}{}", "  ".repeat(indent), ws.join(" ")))
                .collect::<Vec<_>>()
                .join("\n")
        },
    )
}

fn check_all(bytes: &[u8]) {
    let contents = parse_bytes(Path::new("p.yaml"), bytes, &Default::default());
    let checked = validate::check(vec![contents], None);
    for d in &checked.diagnostics {
        let line = d.to_string();
        assert!(line.starts_with("p.yaml:"), "{line}");
        assert!(d.location.line <= bytes.len() + 1, "{line}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check_all(&bytes);
    }

    #[test]
    fn yamlish_text_never_panics(text in yamlish()) {
        check_all(text.as_bytes());
    }

    #[test]
    fn expansion_is_complete_and_idempotent(
        parallelism in proptest::option::of(-2i64..64),
        slots in proptest::option::of(0i64..8),
        tms in proptest::option::of(1i64..8),
        attempts in proptest::option::of(1i64..10),
        ns_attempts in proptest::option::of(1i64..10),
    ) {
        let mut explicit = serde_json::json!({"template": {"spec": {}}});
        if let Some(p) = parallelism { explicit["template"]["spec"]["parallelism"] = p.into(); }
        if let Some(t) = tms { explicit["template"]["spec"]["numberOfTaskManagers"] = t.into(); }
        if let Some(s) = slots {
            explicit["template"]["spec"]["flinkConfiguration"] =
                serde_json::json!({"taskmanager.numberOfTaskSlots": s.to_string()});
        }
        if let Some(a) = attempts { explicit["maxJobCreationAttempts"] = a.into(); }
        let explicit: DeploymentSpec = serde_json::from_value(explicit).unwrap();
        let ns: DeploymentSpec = serde_json::from_value(serde_json::json!({
            "maxJobCreationAttempts": ns_attempts, "maxSavepointCreationAttempts": 3
        })).unwrap();
        let config = DeploymentSpec::default();
        let layers = Layers { namespace: Some(&ns), config: &config, flink_version: "2.3" };
        let once = expand_spec(&explicit, layers);
        let twice = expand_spec(&once, layers);
        prop_assert_eq!(&once, &twice);

        // Explicit wins, then the namespace, then built-in.
        let expected_attempts = attempts.or(ns_attempts).unwrap_or(4);
        prop_assert_eq!(once.max_job_creation_attempts, Some(expected_attempts));
        prop_assert_eq!(once.max_savepoint_creation_attempts, Some(3));
        let t = once.template.as_ref().unwrap().spec.as_ref().unwrap();
        let tm_count = t.number_of_task_managers.unwrap();
        match tms {
            Some(n) => prop_assert_eq!(tm_count, n),
            None => {
                let p = parallelism.unwrap_or(1).max(1);
                let s = slots.filter(|s| *s >= 1).unwrap_or(1);
                prop_assert_eq!(tm_count, (p + s - 1) / s);
                prop_assert!(tm_count * s >= p);
            }
        }
        // Every defaulted field is present.
        let json = serde_json::to_value(&once).unwrap();
        for path in ["/state", "/upgradeStrategy/kind", "/restoreStrategy/kind",
                     "/restoreStrategy/allowNonRestoredState", "/deploymentTargetName",
                     "/template/spec/parallelism", "/template/spec/artifact/kind",
                     "/template/spec/artifact/flinkVersion",
                     "/template/spec/resources/jobManager/cpu",
                     "/template/spec/resources/jobManager/memory",
                     "/template/spec/resources/taskManager/cpu",
                     "/template/spec/resources/taskManager/memory",
                     "/template/spec/logging/loggingProfile",
                     "/template/spec/logging/log4jLoggers"] {
            prop_assert!(json.pointer(path).is_some(), "{} missing", path);
        }
    }
}
