//! A tiny harness for running the real `flinkd` binary on files in a temp directory.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;

pub struct Dir {
    pub tmp: tempfile::TempDir,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    /// With the temp directory's path removed, so lines read `a.yaml:3:1: …`.
    pub stderr: String,
}

impl Dir {
    pub fn new() -> Dir {
        Dir {
            tmp: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path().join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, contents).unwrap();
        p
    }

    /// Runs `flinkd ARGS` in this directory.
    pub fn flinkd(&self, args: &[&str]) -> Run {
        let out = Command::cargo_bin("flinkd")
            .unwrap()
            .current_dir(self.path())
            .env_remove("FLINKD_LOG")
            .args(args)
            .output()
            .unwrap();
        let prefix = format!("{}/", self.path().display());
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).replace(&prefix, ""),
            stderr: String::from_utf8_lossy(&out.stderr).replace(&prefix, ""),
        }
    }
}

impl Run {
    /// The problem lines (without the summary line).
    pub fn problems(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| !l.contains(" file(s), "))
            .collect()
    }

    pub fn summary(&self) -> &str {
        self.stderr
            .lines()
            .find(|l| l.contains(" file(s), "))
            .unwrap_or("")
    }
}

/// A valid Deployment to start from.
pub const VALID: &str = "\
kind: Deployment
apiVersion: v1
metadata:
  name: top-speed
spec:
  template:
    spec:
      artifact:
        jarUri: file:///opt/jobs/top-speed.jar
        entryClass: org.example.TopSpeed
      parallelism: 2
";

/// Validates one file holding `text` (as `d.yaml`) and returns the exit code and the
/// problem lines; a panic of flinkd is a failure of its own.
pub fn problems_of(text: &str) -> (i32, Vec<String>) {
    let dir = Dir::new();
    dir.write("d.yaml", text);
    let run = dir.flinkd(&["validate", "d.yaml"]);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    (
        run.code,
        run.problems().iter().map(|s| s.to_string()).collect(),
    )
}
