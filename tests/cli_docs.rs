//! `flinkd completions` and `flinkd man`: generated from the clap definitions, so every
//! subcommand is in them.

use std::process::Command;

fn flinkd(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_flinkd"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

const SUBCOMMANDS: &[&str] = &[
    "validate",
    "run",
    "get",
    "events",
    "savepoint",
    "plan",
    "savepoints",
    "completions",
    "man",
    "describe",
    "logs",
];

#[test]
fn completions_cover_every_subcommand_and_parse() {
    let bash = flinkd(&["completions", "bash"]);
    for sub in SUBCOMMANDS {
        assert!(bash.contains(sub), "bash completion lacks {sub}");
    }
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("flinkd.bash");
    std::fs::write(&script, &bash).unwrap();
    let check = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(flinkd(&["completions", "zsh"]).starts_with("#compdef flinkd"));
    assert!(flinkd(&["completions", "fish"]).contains("complete -c flinkd"));
}

#[test]
fn the_man_page_names_every_subcommand() {
    let man = flinkd(&["man"]);
    assert!(man.contains(".TH flinkd 1"), "{man}");
    for sub in SUBCOMMANDS {
        assert!(
            man.contains(&format!("flinkd\\-{sub}")) || man.contains(sub),
            "the man page lacks {sub}"
        );
    }
}
