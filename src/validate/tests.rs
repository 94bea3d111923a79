use super::spec::{check_directory, check_uri, is_java_class_name};
use super::*;

#[test]
fn names() {
    for ok in ["a", "top-speed", "a1", "0", &"a".repeat(63)] {
        assert!(check_name(ok).is_ok(), "{ok}");
    }
    for bad in ["", "-a", "a-", "Top", "a_b", "a.b", "a b", "ä"] {
        assert!(check_name(bad).is_err(), "{bad:?}");
    }
    assert!(check_name(&"a".repeat(64))
        .unwrap_err()
        .contains("64 characters"));
}

#[test]
fn uris() {
    for ok in [
        "file:///opt/job.jar",
        "http://h/j.jar",
        "https://h:8080/j.jar",
        "/opt/job.jar",
        "job.jar",
        "jobs/x.jar",
    ] {
        assert!(check_uri(ok).is_ok(), "{ok}");
    }
    for bad in [
        "",
        "  ",
        "s3://bucket/job.jar",
        "ftp://h/j.jar",
        "http://",
        "https:///x.jar",
        "file://jobs/x.jar",
        "file://../x.jar",
    ] {
        assert!(check_uri(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn flink_directories() {
    for ok in [
        "/var/lib/sp",
        "file:///var/lib/sp",
        "file:/var/lib/sp",
        "s3://flink/savepoints",
        "hdfs://nn:8020/sp",
    ] {
        assert!(check_directory(ok).is_ok(), "{ok}");
    }
    for bad in [
        "savepoints",
        "./sp",
        "../.flinkd/sp",
        "file://config/../sp",
        "",
    ] {
        assert!(check_directory(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn java_class_names() {
    assert!(is_java_class_name(
        "org.apache.flink.streaming.examples.windowing.TopSpeedWindowing"
    ));
    assert!(is_java_class_name("Main$Inner"));
    for bad in ["", "org..X", "1abc", "org.x-y.Z", ".X", "X."] {
        assert!(!is_java_class_name(bad), "{bad}");
    }
}
