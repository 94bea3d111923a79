//! Jars: from a `jarUri` to a file on this machine.
//!
//! `file://` URIs and paths are used where they are (a relative path is relative to
//! the Deployment file's directory), and only under the directories the config allows
//! (`[jars] local_dirs`, symlinks followed; never under `state_dir`): a Deployment
//! cannot hand flinkd's own store, or `/proc/self/environ`, to a cluster of its
//! choosing. `https://` jars (and `http://` ones where `[jars] allow_http` says so) are
//! downloaded once into `state_dir/jars/`, named by the hash of their URI, with their
//! own timeouts, capped in size, each download into a temporary file of its own that
//! becomes the jar by an atomic rename. A redirect from https to http is refused. With
//! `artifact.jarSha256`, a jar whose content differs is not run.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::config::JarsConfig;
use crate::quantity::Bytes;

#[derive(Debug, Clone, thiserror::Error)]
pub enum ArtifactError {
    #[error("jar {uri}: {message}")]
    Unavailable { uri: String, message: String },
}

fn unavailable(uri: &str, message: impl Into<String>) -> ArtifactError {
    ArtifactError::Unavailable {
        uri: uri.to_string(),
        message: message.into(),
    }
}

/// What a jar must satisfy.
#[derive(Debug, Clone)]
pub struct JarRules<'a> {
    pub jars: &'a JarsConfig,
    /// Where local jars may lie (absolute).
    pub local_dirs: &'a [PathBuf],
    /// flinkd's own directory: never a jar's.
    pub state_dir: &'a Path,
    pub max_size: Bytes,
    /// The content's SHA-256, lower-case hex, when the Deployment gives one.
    pub sha256: Option<&'a str>,
}

/// Where the jar of `uri` is, or will be, on this machine. `base` is the directory
/// of the Deployment file.
/// Always an absolute path (crate::paths): a `file:` URI names one, and a relative path
/// is resolved against `base`.
pub fn local_path(uri: &str, base: &Path) -> Option<PathBuf> {
    let u = uri.trim();
    if u.contains("://") {
        // A file: URI without an absolute path (`file://relative/x.jar` names the host
        // `relative`) is refused by validation; here it names nothing.
        return u
            .get(..7)
            .filter(|s| s.eq_ignore_ascii_case("file://"))
            .map(|_| crate::paths::file_uri_path(u).unwrap_or_default());
    }
    Some(crate::paths::resolve(base, Path::new(u)))
}

/// Whether the local jar at `path` may be used: the file it really is lies under an
/// allowed directory and outside flinkd's own. Returns the real path.
fn allowed_local(uri: &str, path: &Path, rules: &JarRules<'_>) -> Result<PathBuf, ArtifactError> {
    let real = std::fs::canonicalize(path)
        .map_err(|_| unavailable(uri, format!("no such file: {}", path.display())))?;
    let under = |dir: &Path| {
        std::fs::canonicalize(dir)
            .map(|d| real.starts_with(d))
            .unwrap_or(false)
    };
    if under(rules.state_dir) || !rules.local_dirs.iter().any(|d| under(d)) {
        let dirs: Vec<String> = rules
            .local_dirs
            .iter()
            .map(|d| d.display().to_string())
            .collect();
        return Err(unavailable(
            uri,
            format!(
                "{} is not under a directory local jars may come from ([jars] local_dirs: {}; never under state_dir)",
                real.display(),
                dirs.join(", ")
            ),
        ));
    }
    let meta = std::fs::metadata(&real)
        .map_err(|e| unavailable(uri, format!("cannot read {}: {e}", real.display())))?;
    if !meta.is_file() {
        return Err(unavailable(
            uri,
            format!("{} is not a file", real.display()),
        ));
    }
    if meta.len() > rules.max_size.0 {
        return Err(unavailable(
            uri,
            format!("larger than {} (files.max_jar_size)", rules.max_size),
        ));
    }
    Ok(real)
}

/// The SHA-256 of a file, read in pieces.
fn file_sha256(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(format!("{:x}", hasher.finalize()));
        }
        hasher.update(&buf[..n]);
    }
}

fn mismatch(uri: &str, expected: &str, actual: &str) -> ArtifactError {
    unavailable(
        uri,
        format!("its SHA-256 is {actual}, not {expected} (artifact.jarSha256): not run"),
    )
}

/// Whether a download that went through URLs of the schemes `previous` may follow a
/// redirect to one of scheme `to`.
fn redirect(previous: &[&str], to: &str, allow_http: bool) -> Result<(), &'static str> {
    if previous.len() >= 10 {
        Err("more than 10 redirects")
    } else if to == "https" {
        Ok(())
    } else if to != "http" {
        Err("not http(s)")
    } else if previous.contains(&"https") {
        Err("from https to plain http")
    } else if !allow_http {
        Err("http is not allowed ([jars] allow_http)")
    } else {
        Ok(())
    }
}

/// The client downloads go through: their own timeouts, and no redirect to plain
/// http after https (nor at all, unless http is allowed).
pub fn download_client(jars: &JarsConfig) -> reqwest::Client {
    let allow_http = jars.allow_http;
    let redirects = reqwest::redirect::Policy::custom(move |attempt| {
        let previous: Vec<&str> = attempt.previous().iter().map(|u| u.scheme()).collect();
        match redirect(&previous, attempt.url().scheme(), allow_http) {
            Ok(()) => attempt.follow(),
            Err(why) => {
                let to = attempt.url().to_string();
                attempt.error(format!("refused a redirect to {to}: {why}"))
            }
        }
    });
    reqwest::Client::builder()
        .redirect(redirects)
        .connect_timeout(std::time::Duration::from_secs(30))
        .read_timeout(jars.read_timeout)
        .timeout(jars.download_timeout)
        .build()
        .unwrap_or_default()
}

/// Returns a local file holding the jar, downloading it into `cache` if need be.
pub async fn fetch(
    uri: &str,
    base: &Path,
    cache: &Path,
    rules: &JarRules<'_>,
) -> Result<PathBuf, ArtifactError> {
    if let Some(path) = local_path(uri, base) {
        let real = allowed_local(uri, &path, rules)?;
        if let Some(expected) = rules.sha256 {
            let p = real.clone();
            let actual = tokio::task::spawn_blocking(move || file_sha256(&p))
                .await
                .map_err(|e| unavailable(uri, e.to_string()))?
                .map_err(|e| unavailable(uri, format!("cannot read {}: {e}", real.display())))?;
            if actual != expected {
                return Err(mismatch(uri, expected, &actual));
            }
        }
        return Ok(real);
    }
    let scheme = uri.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("https") => {}
        Some("http") if rules.jars.allow_http => {}
        Some("http") => {
            return Err(unavailable(
                uri,
                "http:// is refused: nothing protects a jar on the way; use https, or allow it with [jars] allow_http = true",
            ))
        }
        _ => return Err(unavailable(uri, "not a file, http:// or https:// location")),
    }
    let name = format!("{}.jar", &crate::spec::content_hash(uri)[..32]);
    let target = cache.join(&name);
    if target.is_file() {
        match rules.sha256 {
            None => return Ok(target),
            Some(expected) => {
                let p = target.clone();
                let actual = tokio::task::spawn_blocking(move || file_sha256(&p))
                    .await
                    .map_err(|e| unavailable(uri, e.to_string()))?;
                // A cached copy of other content (the URI's content changed): fetched again.
                if actual.as_deref().ok() == Some(expected) {
                    return Ok(target);
                }
            }
        }
    }
    tokio::fs::create_dir_all(cache)
        .await
        .map_err(|e| unavailable(uri, format!("cannot create {}: {e}", cache.display())))?;
    let http = download_client(rules.jars);
    let mut resp = http
        .get(uri)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| unavailable(uri, format!("download failed: {}", error_chain(&e))))?;
    // A file of this download's own: another fetch of the same URI writes its own.
    let part = cache.join(format!("{name}.{}.part", uuid::Uuid::new_v4().simple()));
    let mut file = tokio::fs::File::create(&part)
        .await
        .map_err(|e| unavailable(uri, format!("cannot write {}: {e}", part.display())))?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let result: Result<(), ArtifactError> = async {
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| unavailable(uri, format!("download failed: {}", error_chain(&e))))?
        {
            size += chunk.len() as u64;
            if size > rules.max_size.0 {
                return Err(unavailable(
                    uri,
                    format!("larger than {} (files.max_jar_size)", rules.max_size),
                ));
            }
            hasher.update(&chunk);
            file.write_all(&chunk)
                .await
                .map_err(|e| unavailable(uri, format!("cannot write {}: {e}", part.display())))?;
        }
        let actual = format!("{:x}", hasher.finalize_reset());
        if let Some(expected) = rules.sha256 {
            if actual != expected {
                return Err(mismatch(uri, expected, &actual));
            }
        }
        file.sync_all()
            .await
            .map_err(|e| unavailable(uri, format!("cannot write {}: {e}", part.display())))
    }
    .await;
    drop(file);
    if let Err(e) = result {
        let _ = tokio::fs::remove_file(&part).await;
        return Err(e);
    }
    tokio::fs::rename(&part, &target)
        .await
        .map_err(|e| unavailable(uri, format!("cannot write {}: {e}", target.display())))?;
    Ok(target)
}

/// An error with its causes: reqwest's own says only "error sending request".
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests;
