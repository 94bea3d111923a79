//! The direct start's computations, without a JVM.

use super::*;

#[test]
fn values_with_shell_syntax_are_not_plain() {
    assert!(plain_value("-Xss2m -XX:+UseG1GC -Dfoo=bar,baz"));
    for v in [
        "-Xloggc:${FLINK_LOG_PREFIX}.gc",
        "`id`",
        "-Da='b c'",
        "a;b",
        "*",
    ] {
        assert!(!plain_value(v), "{v}");
    }
}

#[test]
fn the_classpath_puts_flink_dist_last() {
    let d = tempfile::tempdir().unwrap();
    for j in [
        "flink-dist-2.3.0.jar",
        "a.jar",
        "log4j-api.jar",
        "notes.txt",
    ] {
        std::fs::write(d.path().join(j), b"").unwrap();
    }
    let cp = classpath(d.path()).unwrap();
    let names: Vec<&str> = cp
        .split(':')
        .map(|p| p.rsplit('/').next().unwrap())
        .collect();
    assert_eq!(names, ["a.jar", "log4j-api.jar", "flink-dist-2.3.0.jar"]);
    std::fs::write(d.path().join("flink-dist-other.jar"), b"").unwrap();
    assert!(classpath(d.path()).is_err());
}

#[test]
fn the_sizing_is_cached_per_distribution_jdk_and_settings_not_per_cluster() {
    let d = tempfile::tempdir().unwrap();
    let home = d.path().join("flink");
    std::fs::create_dir_all(home.join("bin")).unwrap();
    std::fs::create_dir_all(home.join("lib")).unwrap();
    std::fs::write(home.join("bin/bash-java-utils.jar"), b"utils").unwrap();
    std::fs::write(home.join("lib/flink-dist-2.3.0.jar"), b"dist").unwrap();
    let java = d.path().join("java");
    std::fs::write(&java, b"a JDK").unwrap();
    let plain = |conf: &[(&str, &str)]| Plain {
        home: home.clone(),
        conf: conf
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        java_home: String::new(),
        java_run: java.clone(),
        env: Vec::new(),
        classpath: String::new(),
        installed: installed(&home, &java, &[]).unwrap(),
    };
    let key = |conf: &[(&str, &str)], role| plain(conf).cache_key(role).unwrap();
    let base = key(
        &[("taskmanager.memory.process.size", "1g")],
        Role::TaskManager,
    );
    // Another cluster: other ports, directories, identity.
    assert_eq!(
        base,
        key(
            &[
                ("taskmanager.memory.process.size", "1g"),
                ("rest.port", "41234"),
                ("env.log.dir", "/elsewhere/log"),
                ("state.checkpoints.dir", "file:///elsewhere/chk/"),
                (crate::cluster::local::IDENTITY_KEY, "another"),
            ],
            Role::TaskManager
        )
    );
    assert_ne!(
        base,
        key(
            &[("taskmanager.memory.process.size", "1g")],
            Role::JobManager
        )
    );
    assert_ne!(
        base,
        key(
            &[("taskmanager.memory.process.size", "2g")],
            Role::TaskManager
        )
    );
    assert_ne!(
        base,
        key(
            &[
                ("taskmanager.memory.process.size", "1g"),
                ("taskmanager.memory.managed.fraction", "0.2")
            ],
            Role::TaskManager
        )
    );
    // A changed distribution or JDK is a new entry.
    std::fs::write(home.join("lib/flink-dist-2.3.0.jar"), b"dist, patched").unwrap();
    let patched = key(
        &[("taskmanager.memory.process.size", "1g")],
        Role::TaskManager,
    );
    assert_ne!(base, patched);
    std::fs::write(&java, b"another JDK").unwrap();
    assert_ne!(
        patched,
        key(
            &[("taskmanager.memory.process.size", "1g")],
            Role::TaskManager
        )
    );
}

#[test]
fn options_are_joined_as_the_scripts_join_them() {
    let plain = |conf: &[(&str, &str)]| Plain {
        home: PathBuf::new(),
        conf: conf
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        java_home: String::new(),
        java_run: PathBuf::from("java"),
        env: Vec::new(),
        classpath: String::new(),
        installed: String::new(),
    };
    assert_eq!(
        plain(&[]).java_opts(Role::JobManager, 17),
        "-XX:+IgnoreUnrecognizedVMOptions"
    );
    let p = plain(&[
        ("env.java.opts", "-Dold=1"),
        ("env.java.default-opts.all", "-Dd=1"),
        ("env.java.opts.taskmanager", "-Xss2m   -Dt=1"),
        ("env.java.opts.jobmanager", "-Dj=1"),
    ]);
    assert_eq!(
        p.java_opts(Role::TaskManager, 21),
        "-XX:+IgnoreUnrecognizedVMOptions -Dd=1 -Dold=1 -Djava.security.manager=allow -Xss2m -Dt=1"
    );
    assert_eq!(
        p.java_opts(Role::JobManager, 17),
        "-XX:+IgnoreUnrecognizedVMOptions -Dd=1 -Dold=1 -Dj=1"
    );
}
