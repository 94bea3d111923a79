//! Which processes are a local cluster's, read from `/proc`.
//!
//! A PID on record is trusted only when its process is this cluster's by what it
//! carries (its command line names the cluster's directory, or its environment has
//! the cluster's `FLINK_CONF_DIR`, which flinkd sets for the start scripts and which
//! the forked shell and the JVM inherit) *and* the PID file was written during this
//! boot (the cluster directory's `boot_id`, written when it was prepared, is the
//! kernel's current one): after a reboot, a recycled PID is neither adopted nor
//! signalled, whatever the clock did. A teardown reaches the whole tree: the processes
//! user code spawned (children of the JVMs) and the members of the cluster's process
//! groups, even those already re-parented.

use std::path::Path;

/// What `/proc/<pid>/stat` says of a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Stat {
    pub pid: i32,
    pub ppid: i32,
    pub pgid: i32,
    pub zombie: bool,
    /// Clock ticks after boot.
    pub start_ticks: u64,
}

pub(super) fn stat(pid: i32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the parenthesized command name (which may hold anything).
    let (_, rest) = text.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // state(3) ppid(4) pgrp(5) … starttime(22), counted from 1 with pid and comm.
    Some(Stat {
        pid,
        zombie: fields.first()? == &"Z",
        ppid: fields.get(1)?.parse().ok()?,
        pgid: fields.get(2)?.parse().ok()?,
        start_ticks: fields.get(19)?.parse().ok()?,
    })
}

/// The kernel's id of this boot.
pub(super) fn boot_id() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|s| s.trim().to_string())
}

/// Whether `pid` is a live process of the cluster in `dir` (its boot already checked):
/// its command line names the directory, or its environment has the cluster's
/// `FLINK_CONF_DIR` (between the start script's fork and the JVM's exec, the command
/// line is still the script's).
pub(super) fn is_cluster_process(pid: i32, dir: &Path) -> bool {
    let Some(s) = stat(pid) else { return false };
    if s.zombie || pid <= 1 || pid == std::process::id() as i32 {
        return false;
    }
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    if String::from_utf8_lossy(&cmdline).contains(&dir.display().to_string()) {
        return true;
    }
    let want = format!("FLINK_CONF_DIR={}", dir.join("conf").display());
    std::fs::read(format!("/proc/{pid}/environ"))
        .unwrap_or_default()
        .split(|b| *b == 0)
        .any(|kv| kv == want.as_bytes())
}

/// The live processes whose environment has the cluster's `FLINK_CONF_DIR`: its
/// JVMs, and what user code in them spawned (an environment is inherited), found even
/// once the JVMs are gone and their children were handed to init. A process of
/// another user, whose environment cannot be read, is not one.
pub(super) fn with_cluster_env(dir: &Path) -> Vec<Stat> {
    let want = format!("FLINK_CONF_DIR={}", dir.join("conf").display());
    let me = std::process::id() as i32;
    all()
        .into_iter()
        .filter(|s| !s.zombie && s.pid > 1 && s.pid != me)
        .filter(|s| {
            std::fs::read(format!("/proc/{}/environ", s.pid))
                .unwrap_or_default()
                .split(|b| *b == 0)
                .any(|kv| kv == want.as_bytes())
        })
        .collect()
}

fn all() -> Vec<Stat> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(stat)
        .collect()
}

/// The processes of the tree under `roots`: their descendants and the other members
/// of their process groups (never this daemon's own group), as seen now, the roots
/// excluded.
pub(super) fn tree(roots: &[i32]) -> Vec<Stat> {
    let procs = all();
    let own_group = nix::unistd::getpgrp().as_raw();
    let groups: Vec<i32> = procs
        .iter()
        .filter(|p| roots.contains(&p.pid))
        .map(|p| p.pgid)
        .filter(|g| *g != own_group && *g > 1)
        .collect();
    let mut found: Vec<i32> = roots.to_vec();
    let mut out = Vec::new();
    loop {
        let more: Vec<Stat> = procs
            .iter()
            .filter(|p| !found.contains(&p.pid) && p.pid > 1)
            .filter(|p| found.contains(&p.ppid) || groups.contains(&p.pgid))
            .copied()
            .collect();
        if more.is_empty() {
            return out;
        }
        found.extend(more.iter().map(|p| p.pid));
        out.extend(more);
    }
}

/// Whether the process seen as `s` is still the same process and alive.
pub(super) fn still(s: &Stat) -> bool {
    stat(s.pid).is_some_and(|now| !now.zombie && now.start_ticks == s.start_ticks)
}
