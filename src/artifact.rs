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
//!
//! A jar is opened once, and everything after is done through that open file (a
//! [`Jar`]): where it really is, its size, its hash and the bytes uploaded are all of
//! the same file, so a path swapped for a symlink after the check uploads nothing else.

use std::io::Read;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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

/// A jar on this machine, open: what is checked, hashed and uploaded is this file,
/// whatever its path leads to by then.
#[derive(Debug, Clone)]
pub struct Jar {
    /// Where it was when opened (for messages and upload names).
    path: PathBuf,
    file: Arc<std::fs::File>,
    len: u64,
}

impl Jar {
    pub(crate) fn open(path: &Path) -> std::io::Result<Jar> {
        use std::os::unix::fs::OpenOptionsExt;
        // Without blocking: a FIFO put where a jar was expected must not hang a start.
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
            .open(path)?;
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(std::io::Error::other("not a regular file"));
        }
        Ok(Jar {
            path: path.to_path_buf(),
            file: Arc::new(file),
            len: meta.len(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The open file's own path, as the kernel knows it (symlinks resolved, at the
    /// time of asking).
    fn real_path(&self) -> std::io::Result<PathBuf> {
        std::fs::read_link(self.fd_path())
    }

    fn fd_path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}", self.file.as_raw_fd()))
    }

    /// A reader of the same file from its start, with its own offset (uploads of one
    /// jar to two clusters at once do not share one).
    pub fn reader(&self) -> std::io::Result<std::fs::File> {
        std::fs::File::open(self.fd_path())
    }

    /// Size and modification time: what tells the file changed without reading it.
    pub fn stamp(&self) -> std::io::Result<(u64, std::time::SystemTime)> {
        let meta = self.file.metadata()?;
        Ok((meta.len(), meta.modified()?))
    }

    /// The SHA-256 of its content, lower-case hex, read in pieces.
    pub fn sha256(&self) -> std::io::Result<String> {
        let mut file = self.reader()?;
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

    async fn sha256_blocking(&self) -> std::io::Result<String> {
        let jar = self.clone();
        tokio::task::spawn_blocking(move || jar.sha256())
            .await
            .map_err(std::io::Error::other)?
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

/// The local jar at `path`, if it may be used: the file it really is (the one opened)
/// lies under an allowed directory and outside flinkd's own, and is within the size cap.
fn allowed_local(uri: &str, path: &Path, rules: &JarRules<'_>) -> Result<Jar, ArtifactError> {
    let jar = Jar::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            unavailable(uri, format!("no such file: {}", path.display()))
        }
        _ => unavailable(uri, format!("cannot read {}: {e}", path.display())),
    })?;
    let real = jar
        .real_path()
        .map_err(|e| unavailable(uri, format!("cannot read {}: {e}", path.display())))?;
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
    if jar.len() > rules.max_size.0 {
        return Err(unavailable(
            uri,
            format!("larger than {} (files.max_jar_size)", rules.max_size),
        ));
    }
    Ok(jar)
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

/// The jar of `uri`, open: a local file, or a download into `cache` (reused if there).
pub async fn fetch(
    uri: &str,
    base: &Path,
    cache: &Path,
    rules: &JarRules<'_>,
) -> Result<Jar, ArtifactError> {
    if let Some(path) = local_path(uri, base) {
        let jar = allowed_local(uri, &path, rules)?;
        let Some(expected) = rules.sha256 else {
            return Ok(jar);
        };
        // Pinned by its hash: the bytes checked are copied, as they are read, into a
        // file of flinkd's own, and that copy is what is uploaded; a rewrite of the
        // user's file after the check changes nothing sent.
        let cache = cache.to_path_buf();
        let want = expected.to_string();
        let (copy, actual) = tokio::task::spawn_blocking(move || private_copy(&jar, &cache, &want))
            .await
            .map_err(|e| unavailable(uri, e.to_string()))?
            .map_err(|e| unavailable(uri, format!("cannot read {}: {e}", path.display())))?;
        return copy.ok_or_else(|| mismatch(uri, expected, &actual));
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
    if let Ok(jar) = Jar::open(&target) {
        match rules.sha256 {
            None => return Ok(jar),
            // A cached copy of other content (the URI's content changed): fetched again.
            Some(expected) => {
                if jar.sha256_blocking().await.ok().as_deref() == Some(expected) {
                    return Ok(jar);
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
    // A file of this download's own: another fetch of the same URI writes its own. It
    // is removed however the download ends, a cancelled start included.
    let part = PartFile::new(cache.join(format!("{name}.{}.part", uuid::Uuid::new_v4().simple())));
    let mut file = tokio::fs::File::create(&part.0)
        .await
        .map_err(|e| unavailable(uri, format!("cannot write {}: {e}", part.0.display())))?;
    let cannot_write =
        |e: std::io::Error| unavailable(uri, format!("cannot write {}: {e}", part.0.display()));
    let mut hasher = Sha256::new();
    let mut size = 0u64;
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
        file.write_all(&chunk).await.map_err(cannot_write)?;
    }
    let actual = format!("{:x}", hasher.finalize_reset());
    if let Some(expected) = rules.sha256 {
        if actual != expected {
            return Err(mismatch(uri, expected, &actual));
        }
    }
    file.sync_all().await.map_err(cannot_write)?;
    drop(file);
    // Opened before the rename: the jar is the file just written, whatever replaces
    // the name later.
    let written = Jar::open(&part.0).map_err(cannot_write)?;
    tokio::fs::rename(&part.0, &target)
        .await
        .map_err(|e| unavailable(uri, format!("cannot write {}: {e}", target.display())))?;
    part.keep();
    Ok(Jar {
        path: target,
        ..written
    })
}

/// Copies the jar into `cache` while hashing what is copied: the copy (named by its
/// hash; none, and nothing kept, if the hash is not `expected`) and the hash.
fn private_copy(jar: &Jar, cache: &Path, expected: &str) -> std::io::Result<(Option<Jar>, String)> {
    use std::io::Write;
    std::fs::create_dir_all(cache)?;
    let part = PartFile::new(cache.join(format!("{}.part", uuid::Uuid::new_v4().simple())));
    let mut out = std::fs::File::create(&part.0)?;
    // No more than the size checked: a file growing meanwhile cannot fill the disk.
    let mut from = jar.reader()?.take(jar.len());
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = from.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])?;
    }
    out.sync_all()?;
    drop(out);
    let hash = format!("{:x}", hasher.finalize());
    if hash != expected {
        return Ok((None, hash));
    }
    let copy = Jar::open(&part.0)?;
    let target = cache.join(format!("local-{hash}.jar"));
    std::fs::rename(&part.0, &target)?;
    part.keep();
    Ok((
        Some(Jar {
            path: jar.path.clone(),
            ..copy
        }),
        hash,
    ))
}

/// A download's temporary file, removed when dropped unless kept.
struct PartFile(PathBuf, bool);

impl PartFile {
    fn new(path: PathBuf) -> PartFile {
        PartFile(path, false)
    }

    /// It became the jar (renamed): nothing to remove.
    fn keep(mut self) {
        self.1 = true;
    }
}

impl Drop for PartFile {
    fn drop(&mut self) {
        if !self.1 {
            let _ = std::fs::remove_file(&self.0);
        }
    }
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
