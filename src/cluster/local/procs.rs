//! Which processes are a local cluster's, read from `/proc`.
//!
//! A PID on record is trusted only when its process names the cluster's directory on
//! its command line *and* started no later than its PID file was written: after a
//! reboot (or a long time), a recycled PID belongs to a process that started after the
//! file, and is neither adopted nor signalled. A teardown reaches the whole tree: the
//! processes user code spawned (children of the JVMs) and the members of the cluster's
//! process groups, even those already re-parented.

use std::path::Path;
use std::time::{Duration, SystemTime};

/// How much later than its PID file a process may seem to start: `/proc` gives the
/// boot time in whole seconds and start times in clock ticks.
const START_SLACK: Duration = Duration::from_secs(2);

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

fn boot_time() -> Option<SystemTime> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let secs: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
}

fn ticks_per_second() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .and_then(|t| u64::try_from(t).ok())
        .filter(|t| *t > 0)
        .unwrap_or(100)
}

/// When the process started, by the wall clock.
pub(super) fn started_at(s: &Stat) -> Option<SystemTime> {
    let ticks = ticks_per_second();
    let after = Duration::from_secs(s.start_ticks / ticks)
        + Duration::from_nanos((s.start_ticks % ticks) * 1_000_000_000 / ticks);
    Some(boot_time()? + after)
}

/// Whether `pid`, recorded in a PID file written at `recorded`, is a live process of
/// the cluster in `dir` started from the distribution at `home` (empty: unknown). Its
/// command line names the cluster's directory, or, between the start script's fork and
/// the exec of the JVM, is still the distribution's script's own.
pub(super) fn is_cluster_process(pid: i32, dir: &Path, home: &Path, recorded: SystemTime) -> bool {
    let Some(s) = stat(pid) else { return false };
    if s.zombie || pid <= 1 || pid == std::process::id() as i32 {
        return false;
    }
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let cmdline = String::from_utf8_lossy(&cmdline);
    let scripts = home.join("bin");
    let named = cmdline.contains(&dir.display().to_string())
        || (!home.as_os_str().is_empty() && cmdline.contains(&scripts.display().to_string()));
    named && started_at(&s).is_some_and(|at| at <= recorded + START_SLACK)
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
