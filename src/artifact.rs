//! Jars: from a `jarUri` to a file on this machine.
//!
//! `file://` URIs and paths are used where they are (a relative path is relative to
//! the Deployment file's directory). `http(s)://` jars are downloaded once into
//! `state_dir/jars/`, named by the hash of their URI, and capped in size, so a
//! Deployment restarted a hundred times fetches its jar once.

use std::path::{Path, PathBuf};

use tokio::io::AsyncWriteExt;

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

/// Returns a local file holding the jar, downloading it into `cache` if need be.
pub async fn fetch(
    http: &reqwest::Client,
    uri: &str,
    base: &Path,
    cache: &Path,
    max_size: Bytes,
) -> Result<PathBuf, ArtifactError> {
    if let Some(path) = local_path(uri, base) {
        return if path.is_file() {
            Ok(path)
        } else {
            Err(unavailable(
                uri,
                format!("no such file: {}", path.display()),
            ))
        };
    }
    let name = format!("{}.jar", &crate::spec::content_hash(uri)[..32]);
    let target = cache.join(&name);
    if target.is_file() {
        return Ok(target);
    }
    tokio::fs::create_dir_all(cache)
        .await
        .map_err(|e| unavailable(uri, format!("cannot create {}: {e}", cache.display())))?;
    let mut resp = http
        .get(uri)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| unavailable(uri, format!("download failed: {e}")))?;
    let part = cache.join(format!("{name}.part"));
    let mut file = tokio::fs::File::create(&part)
        .await
        .map_err(|e| unavailable(uri, format!("cannot write {}: {e}", part.display())))?;
    let mut size = 0u64;
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| unavailable(uri, format!("download failed: {e}")))?
    {
        size += chunk.len() as u64;
        if size > max_size.0 {
            drop(file);
            let _ = tokio::fs::remove_file(&part).await;
            return Err(unavailable(
                uri,
                format!("larger than {max_size} (files.max_jar_size)"),
            ));
        }
        file.write_all(&chunk)
            .await
            .map_err(|e| unavailable(uri, format!("cannot write {}: {e}", part.display())))?;
    }
    file.sync_all()
        .await
        .map_err(|e| unavailable(uri, format!("cannot write {}: {e}", part.display())))?;
    tokio::fs::rename(&part, &target)
        .await
        .map_err(|e| unavailable(uri, format!("cannot write {}: {e}", target.display())))?;
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_paths() {
        let base = Path::new("/etc/flinkd/deployments");
        assert_eq!(
            local_path("file:///opt/a.jar", base),
            Some(PathBuf::from("/opt/a.jar"))
        );
        assert_eq!(
            local_path("/opt/a.jar", base),
            Some(PathBuf::from("/opt/a.jar"))
        );
        assert_eq!(
            local_path("jobs/a.jar", base),
            Some(base.join("jobs/a.jar"))
        );
        // The bundled example's `../../.flinkd/jobs/counter.jar`: absolute and normal.
        assert_eq!(
            local_path("../../x/a.jar", base),
            Some(PathBuf::from("/etc/x/a.jar"))
        );
        assert_eq!(
            local_path("FILE:///opt/a.jar", base),
            Some(PathBuf::from("/opt/a.jar"))
        );
        assert_eq!(local_path("https://h/a.jar", base), None);
    }

    #[tokio::test]
    async fn a_missing_local_jar_is_named() {
        let http = reqwest::Client::new();
        let err = fetch(
            &http,
            "nope.jar",
            Path::new("/tmp/x"),
            Path::new("/tmp/c"),
            Bytes(1),
        )
        .await
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "jar nope.jar: no such file: /tmp/x/nope.jar"
        );
    }

    #[tokio::test]
    async fn downloads_once_and_caps_the_size() {
        use axum::{routing::get, Router};
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        let app = Router::new().route(
            "/job.jar",
            get(move || {
                h.fetch_add(1, Ordering::SeqCst);
                async { vec![7u8; 4096] }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let cache = tempfile::tempdir().unwrap();
        let http = reqwest::Client::new();
        let uri = format!("http://{addr}/job.jar");
        let a = fetch(&http, &uri, Path::new("/"), cache.path(), Bytes(1 << 20))
            .await
            .unwrap();
        let b = fetch(&http, &uri, Path::new("/"), cache.path(), Bytes(1 << 20))
            .await
            .unwrap();
        assert_eq!(a, b);
        assert_eq!(std::fs::read(&a).unwrap().len(), 4096);
        assert_eq!(hits.load(Ordering::SeqCst), 1, "downloaded once");

        let small = tempfile::tempdir().unwrap();
        let err = fetch(&http, &uri, Path::new("/"), small.path(), Bytes(1000))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("larger than 1000b"), "{err}");
        assert_eq!(
            std::fs::read_dir(small.path()).unwrap().count(),
            0,
            "no partial file left"
        );
    }
}
