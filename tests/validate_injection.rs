//! `flinkd validate` on what a Deployment writes into a cluster's generated files: a
//! line break in a `flinkConfiguration` key or value, or in a logger name, would add a
//! line of the author's choosing (an appender writing over flinkd.db); a key flinkd
//! owns would move the cluster off the ports and directories flinkd watches.

mod common;

use common::{problems_of, VALID};

fn with_config(lines: &str) -> String {
    VALID.replace(
        "parallelism: 2",
        &format!("parallelism: 2\n      flinkConfiguration:\n{lines}"),
    )
}

#[test]
fn a_line_break_in_a_flink_setting_is_refused() {
    let (code, p) = problems_of(&with_config(
        "        \"pipeline.name\\nrootLogger.appenderRef.x.ref\": x",
    ));
    assert_eq!(code, 1, "{p:?}");
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].starts_with("d.yaml:13:9: spec.template.spec.flinkConfiguration[\"pipeline.name\\nrootLogger.appenderRef.x.ref\"]: `pipeline.name\\nrootLogger.appenderRef.x.ref` is not a Flink setting's name"),
        "{p:?}"
    );
    // A key that nests or comments in YAML, or in flink-conf.yaml's line format.
    for key in [
        "rest: {bind-address: 0.0.0.0} #",
        "rest.bind-address: 0.0.0.0 #",
    ] {
        let (code, p) = problems_of(&with_config(&format!("        \"{key}\": x")));
        assert_eq!(code, 1, "{key}: {p:?}");
        assert!(p[0].contains("is not a Flink setting's name"), "{p:?}");
    }

    let (code, p) = problems_of(&with_config(
        "        pipeline.name: \"x\\nappender.f.fileName: /var/lib/flinkd/flinkd.db\"",
    ));
    assert_eq!(code, 1, "{p:?}");
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].starts_with("d.yaml:13:9: spec.template.spec.flinkConfiguration[\"pipeline.name\"]: the value holds the control character '\\n'"),
        "{p:?}"
    );
}

#[test]
fn keys_flinkd_owns_are_refused_with_their_path() {
    for key in [
        "rest.port",
        "rest.bind-port",
        "env.pid.dir",
        "web.upload.dir",
        "flinkd.cluster.identity",
    ] {
        let (code, p) = problems_of(&with_config(&format!("        {key}: \"9999\"")));
        assert_eq!(code, 1, "{key}: {p:?}");
        assert_eq!(
            p,
            vec![format!("d.yaml:13:9: spec.template.spec.flinkConfiguration[\"{key}\"]: flinkd sets `{key}` for each cluster it starts (its ports, addresses and directories are the cluster's own); remove it")],
        );
    }
    let (code, p) = problems_of(&with_config("        rest.flamegraph.enabled: \"true\""));
    assert_eq!(code, 0, "{p:?}");
}

#[test]
fn a_logger_name_is_a_java_name() {
    let (code, p) = problems_of(&VALID.replace(
        "parallelism: 2",
        "parallelism: 2\n      logging:\n        log4jLoggers:\n          \"org.example\\nappender.x.fileName\": INFO\n          \"a\\\\\": INFO\n          org.apache.flink$Inner-1_x: DEBUG",
    ));
    assert_eq!(code, 1, "{p:?}");
    assert_eq!(p.len(), 2, "{p:?}");
    assert!(
        p.iter().any(|l| l.contains("log4jLoggers[\"org.example\\nappender.x.fileName\"]: `org.example\\nappender.x.fileName` is not a logger name")),
        "{p:?}"
    );
    assert!(
        p.iter().any(|l| l.contains("`a\\\\` is not a logger name")),
        "{p:?}"
    );
}
