//! Hostile YAML, under the size cap: a billion laughs, a 600 KB fan-out of aliases, a
//! 200,000-item sequence of aliases and a 10,000-deep nesting. `flinkd validate` gives
//! one located error for each and its memory stays under 256 MiB. (The daemon's side
//! is in e2e_bad_input.rs.)

mod common;
#[path = "support/hostile.rs"]
mod hostile;

use common::Dir;

/// The largest resident size of any child this process waited for, in MiB.
fn children_peak_rss_mib() -> i64 {
    let usage =
        nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN).unwrap();
    usage.max_rss() / 1024
}

#[test]
fn hostile_files_give_one_error_each_in_bounded_memory() {
    let dir = Dir::new();
    for (name, text) in hostile::files() {
        assert!(text.len() < 1024 * 1024, "{name} is under the size cap");
        dir.write(name, &text);
        let run = dir.flinkd(&["validate", name]);
        assert_eq!(run.code, 1, "{name}: {}", run.stderr);
        let problems = run.problems();
        assert_eq!(problems.len(), 1, "{name}: one error: {problems:?}");
        assert!(
            problems[0].starts_with(&format!("{name}:"))
                && (problems[0].contains(": invalid YAML: expands to more than 100000 nodes")
                    || problems[0].contains(": invalid YAML: nested more than 64 levels deep")),
            "{name}: {}",
            problems[0]
        );
        let peak = children_peak_rss_mib();
        println!(
            "{name} ({} KB): {}; peak RSS so far {peak} MiB",
            text.len() / 1024,
            problems[0]
        );
        assert!(peak < 256, "{name}: flinkd validate peaked at {peak} MiB");
    }
}

#[test]
fn the_limits_come_from_the_config() {
    let dir = Dir::new();
    dir.write(
        "flinkd.toml",
        "[files]\nmax_yaml_nodes = 10\nmax_yaml_depth = 3\n",
    );
    dir.write("wide.yaml", "a: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]\n");
    dir.write("deep.yaml", "a:\n  b:\n    c:\n      d: 1\n");
    let run = dir.flinkd(&[
        "validate",
        "--config",
        "flinkd.toml",
        "wide.yaml",
        "deep.yaml",
    ]);
    assert_eq!(
        run.problems(),
        [
            "deep.yaml:4:7: (file): invalid YAML: nested more than 3 levels deep (files.max_yaml_depth in the daemon config)",
            "wide.yaml:1:26: (file): invalid YAML: expands to more than 10 nodes, aliases counted as what they stand for (files.max_yaml_nodes in the daemon config)",
        ]
    );
}
