//! Reading a distribution and running the JVMs that compute a direct start: the jars
//! of `lib/` and the classpath the scripts build from them, files' identities for the
//! caches, a program on `PATH`, and a bounded run of a short-lived JVM.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// How long a JVM computing a start may take: a start, its fallback to the scripts
/// included, ends within the bound a teardown waits for it (actors/job/scripts.rs).
pub(super) const UTILITY_BOUND: std::time::Duration = std::time::Duration::from_secs(10);

/// A command's output, or an error once it ran `bound` (it is killed then).
pub(super) fn output_within(
    mut cmd: Command,
    bound: std::time::Duration,
) -> Result<std::process::Output, String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run it: {e}"))?;
    // Read as it writes: a full pipe would stall it.
    let mut pipes = (child.stdout.take(), child.stderr.take());
    let readers = [
        pipes
            .0
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
        pipes
            .1
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
    ]
    .map(|p| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut p) = p {
                let _ = std::io::Read::read_to_end(&mut p, &mut bytes);
            }
            bytes
        })
    });
    let until = std::time::Instant::now() + bound;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if std::time::Instant::now() < until => {
                std::thread::sleep(std::time::Duration::from_millis(10))
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("did not end within {}s", bound.as_secs()));
            }
            Err(e) => return Err(format!("cannot wait for it: {e}")),
        }
    };
    let [stdout, stderr] = readers.map(|r| r.join().unwrap_or_default());
    Ok(std::process::Output {
        status,
        stdout,
        stderr,
    })
}

/// Whether `sort` in the environment passed to Flink orders bytes as bytes (the C
/// locale, or C.UTF-8).
pub(super) fn collates_bytewise(env: &[(OsString, OsString)]) -> bool {
    let get = |k: &str| {
        env.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.to_string_lossy().into_owned())
            .filter(|v| !v.is_empty())
    };
    let locale = get("LC_ALL")
        .or_else(|| get("LC_COLLATE"))
        .or_else(|| get("LANG"))
        .unwrap_or_else(|| "C".into());
    matches!(locale.as_str(), "C" | "POSIX" | "C.UTF-8" | "C.utf8")
}

/// Whether byte order and a dictionary order (letters and digits only, case folded:
/// what a locale's collation comes down to for jar names) agree on these names.
pub(super) fn bytewise_is_dictionary_order(jars: &[PathBuf]) -> bool {
    let key = |p: &PathBuf| -> String {
        p.display()
            .to_string()
            .chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect()
    };
    jars.windows(2).all(|w| key(&w[0]) < key(&w[1]))
}

/// The jars of `lib/`, sorted by path.
pub(super) fn jars(lib: &Path) -> Result<Vec<PathBuf>, String> {
    let mut jars: Vec<PathBuf> = std::fs::read_dir(lib)
        .map_err(|e| format!("cannot read {}: {e}", lib.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "jar") && !p.is_dir())
        .collect();
    jars.sort();
    Ok(jars)
}

pub(super) fn is_dist(p: &Path) -> bool {
    p.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("flink-dist"))
}

/// `constructFlinkClassPath` of config.sh: the jars of `lib/` in order, the
/// flink-dist jar last.
pub(super) fn classpath(lib: &Path) -> Result<String, String> {
    let all = jars(lib)?;
    let (dist, rest): (Vec<_>, Vec<_>) = all.iter().partition(|p| is_dist(p));
    if dist.len() != 1 {
        return Err(format!(
            "{} flink-dist jars in {}",
            dist.len(),
            lib.display()
        ));
    }
    Ok(rest
        .iter()
        .chain(dist.iter())
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(":"))
}

/// A file's identity for the cache: path, size and modification time.
pub(super) fn fingerprint(p: &Path) -> String {
    let meta = std::fs::metadata(p).ok();
    let modified = meta
        .as_ref()
        .and_then(|m| m.modified().ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{}\0{}\0{modified}\0",
        p.display(),
        meta.map(|m| m.len()).unwrap_or(0)
    )
}

/// The file a program name runs: itself when it has a slash, else the first
/// executable of that name on the environment's `PATH`; links followed.
pub(super) fn resolve(program: &Path, env: &[(OsString, OsString)]) -> Option<PathBuf> {
    let found = if program.components().count() > 1 {
        Some(program.to_path_buf())
    } else {
        let path = env
            .iter()
            .find(|(k, _)| k == "PATH")
            .map(|(_, v)| v.clone())?;
        std::env::split_paths(&path)
            .map(|d| d.join(program))
            .find(|p| p.is_file())
    }?;
    found.canonicalize().ok()
}
