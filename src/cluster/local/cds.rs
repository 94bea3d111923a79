//! Class-data sharing for the JVMs of directly started clusters (`[flink]
//! class_data_sharing`): the first JobManager and TaskManager of a distribution, JDK
//! and JVM options record the classes they load as they exit
//! (`-XX:ArchiveClassesAtExit`); once their cluster is stopped the archive is checked
//! and kept, and the next JVMs map it (`-XX:SharedArchiveFile`), starting sooner.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::launch::{words, Plain, Role, CACHE_VERSION};
use super::LocalCluster;

impl Plain {
    /// The class-data sharing option of a JVM of `role`: the archive for this
    /// distribution, JDK, role and options if there is one, else the option that
    /// records it as this JVM exits (kept by [`keep_archives`] once the cluster is
    /// stopped, if the JDK accepts it). An archive that no longer fits (a JDK or jar
    /// changed under the same names) is refused by the JVM, which then starts without
    /// it; its key changes with what it was made from, so a new one is recorded.
    pub(super) fn class_data_sharing(
        &self,
        cluster: &LocalCluster,
        role: Role,
        opts: &str,
        dir: &Path,
    ) -> Option<String> {
        // Options of the user's own about class-data sharing are left alone.
        if opts.contains("-Xshare")
            || opts.contains("SharedArchiveFile")
            || opts.contains("ArchiveClassesAtExit")
        {
            return None;
        }
        let mut h = Sha256::new();
        h.update(format!("cds{CACHE_VERSION}\0{role:?}\0{opts}\0{}\0", self.classpath).as_bytes());
        h.update(self.installed.as_bytes());
        let key = format!("{:x}", h.finalize());
        let archive = dir.join(format!("{key}.jsa"));
        if archive.is_file() {
            return Some(format!("-XX:SharedArchiveFile={}", archive.display()));
        }
        std::fs::create_dir_all(dir).ok()?;
        forget_stale_parts(dir);
        // One cluster records each archive: writing it lengthens its JVMs' exit by
        // seconds, so another cluster started meanwhile (a fast upgrade's) runs
        // without one rather than record it again.
        if !claim(&dir.join(format!("{key}.recording")), cluster) {
            return None;
        }
        let part = dir.join(format!("{key}.{}.part", uuid::Uuid::new_v4().simple()));
        let record = Recording {
            part: part.clone(),
            archive,
            java: self.java_run.clone(),
            env: self.env.clone(),
            opts: opts.to_string(),
            classpath: format!("{}::::", self.classpath),
        };
        let line = serde_json::to_string(&record).ok()?;
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(cluster.dir.join(RECORDINGS))
            .and_then(|mut f| writeln!(f, "{line}"))
            .ok()?;
        Some(format!("-XX:ArchiveClassesAtExit={}", part.display()))
    }
}

/// Takes the recording of an archive for `cluster` (the marker names its directory),
/// unless a cluster with live processes holds it.
fn claim(marker: &Path, cluster: &LocalCluster) -> bool {
    let mine = cluster.dir.display().to_string();
    if let Ok(holder) = std::fs::read_to_string(marker) {
        let holder = holder.trim();
        if holder == mine {
            return true;
        }
        if !LocalCluster::at(PathBuf::from(holder))
            .live_pids()
            .is_empty()
        {
            return false;
        }
    }
    std::fs::write(marker, format!("{mine}\n")).is_ok()
}

/// The file of a cluster's directory that lists the archives its JVMs record.
const RECORDINGS: &str = "cds-recordings";

/// An archive a JVM records as it exits, and how to check it.
#[derive(Serialize, Deserialize)]
struct Recording {
    part: PathBuf,
    archive: PathBuf,
    java: PathBuf,
    env: Vec<(OsString, OsString)>,
    opts: String,
    classpath: String,
}

/// Parts older than this are of JVMs whose cluster was never stopped by flinkd (a
/// part exists only once its JVM has exited).
const STALE_PART: std::time::Duration = std::time::Duration::from_secs(600);

fn forget_stale_parts(dir: &Path) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > STALE_PART);
        if old && p.extension().is_some_and(|x| x == "part") {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// After a cluster stopped: the archives its JVMs recorded as they exited become the
/// ones later JVMs use, each checked first by a JVM that must map it
/// (`-Xshare:on`); one cut short (a JVM killed while writing it) is removed.
pub(super) fn keep_archives(cluster: &LocalCluster) {
    let list = cluster.dir.join(RECORDINGS);
    let Ok(text) = std::fs::read_to_string(&list) else {
        return;
    };
    for r in text
        .lines()
        .filter_map(|l| serde_json::from_str::<Recording>(l).ok())
    {
        if !r.part.is_file() {
            continue;
        }
        let mut check = Command::new(&r.java);
        check
            .env_clear()
            .envs(r.env.iter().map(|(k, v)| (k, v)))
            .args(words(&r.opts))
            .arg(format!("-XX:SharedArchiveFile={}", r.part.display()))
            .args(["-Xshare:on", "-classpath", &r.classpath, "-version"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let fits = check.status().is_ok_and(|s| s.success());
        // The recording is over, kept or not: the next cluster may take it up.
        if let Some(dir) = r.archive.parent() {
            let stem = r.archive.file_stem().unwrap_or_default().to_string_lossy();
            let marker = dir.join(format!("{stem}.recording"));
            if std::fs::read_to_string(&marker)
                .is_ok_and(|h| h.trim() == cluster.dir.display().to_string())
            {
                let _ = std::fs::remove_file(marker);
            }
        }
        if fits && !r.archive.exists() && std::fs::rename(&r.part, &r.archive).is_ok() {
            tracing::info!(
                "class-data sharing archive {} recorded",
                r.archive.display()
            );
        } else {
            let _ = std::fs::remove_file(&r.part);
        }
    }
    let _ = std::fs::remove_file(list);
}
