use super::*;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::{routing::get, Router};

struct Setup {
    _tmp: tempfile::TempDir,
    jars: JarsConfig,
    dirs: Vec<PathBuf>,
    state: PathBuf,
    cache: PathBuf,
    allowed: PathBuf,
}

impl Setup {
    fn new(allow_http: bool) -> Setup {
        let tmp = tempfile::tempdir().unwrap();
        let allowed = tmp.path().join("jobs");
        let state = tmp.path().join("state");
        std::fs::create_dir_all(&allowed).unwrap();
        std::fs::create_dir_all(&state).unwrap();
        Setup {
            cache: state.join("jars"),
            jars: JarsConfig {
                allow_http,
                ..JarsConfig::default()
            },
            dirs: vec![allowed.clone()],
            state,
            allowed,
            _tmp: tmp,
        }
    }

    fn rules<'a>(&'a self, max: u64, sha256: Option<&'a str>) -> JarRules<'a> {
        JarRules {
            jars: &self.jars,
            local_dirs: &self.dirs,
            state_dir: &self.state,
            max_size: Bytes(max),
            sha256,
        }
    }

    async fn fetch(&self, uri: &str, max: u64, sha256: Option<&str>) -> Result<PathBuf, String> {
        self.open(uri, max, sha256)
            .await
            .map(|j| j.path().to_path_buf())
    }

    async fn open(&self, uri: &str, max: u64, sha256: Option<&str>) -> Result<Jar, String> {
        fetch(uri, &self.allowed, &self.cache, &self.rules(max, sha256))
            .await
            .map_err(|e| e.to_string())
    }
}

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

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
    let s = Setup::new(false);
    let err = s.fetch("nope.jar", 1, None).await.unwrap_err();
    assert_eq!(
        err,
        format!(
            "jar nope.jar: no such file: {}",
            s.allowed.join("nope.jar").display()
        )
    );
}

#[tokio::test]
async fn local_jars_come_only_from_the_allowed_directories() {
    let s = Setup::new(false);
    std::fs::write(s.allowed.join("ok.jar"), b"PK").unwrap();
    assert!(s.fetch("ok.jar", 100, None).await.is_ok());

    // flinkd's own store, directly or through a link in an allowed directory.
    std::fs::write(s.state.join("flinkd.db"), b"SQLite format 3").unwrap();
    let db = s.state.join("flinkd.db");
    let err = s.fetch(db.to_str().unwrap(), 100, None).await.unwrap_err();
    assert!(
        err.contains("is not under a directory local jars may come from"),
        "{err}"
    );
    std::os::unix::fs::symlink(&db, s.allowed.join("db.jar")).unwrap();
    let err = s.fetch("db.jar", 100, None).await.unwrap_err();
    assert!(
        err.contains(&format!("{} is not under a directory", db.display())),
        "{err}"
    );
    let err = s
        .fetch("file:///proc/self/environ", 1 << 20, None)
        .await
        .unwrap_err();
    assert!(err.contains("is not under a directory"), "{err}");
    // Even when the allowed directory holds the state directory.
    let wide = JarRules {
        local_dirs: std::slice::from_ref(&s.state),
        ..s.rules(100, None)
    };
    let err = fetch("flinkd.db", &s.state, &s.cache, &wide)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("never under state_dir"), "{err}");
    // Larger than the cap.
    std::fs::write(s.allowed.join("big.jar"), vec![0u8; 101]).unwrap();
    let err = s.fetch("big.jar", 100, None).await.unwrap_err();
    assert!(err.contains("larger than 100b"), "{err}");
}

#[tokio::test]
async fn a_checksum_that_does_not_match_names_both_hashes() {
    let s = Setup::new(true);
    std::fs::write(s.allowed.join("a.jar"), b"the jar").unwrap();
    let right = crate::spec::content_hash(b"the jar");
    let wrong = "0".repeat(64);
    assert!(s.fetch("a.jar", 100, Some(&right)).await.is_ok());
    let err = s.fetch("a.jar", 100, Some(&wrong)).await.unwrap_err();
    assert_eq!(
        err,
        format!("jar a.jar: its SHA-256 is {right}, not {wrong} (artifact.jarSha256): not run")
    );
    // Downloaded: the same, and nothing is kept.
    let url = serve(Router::new().route("/a.jar", get(|| async { "the jar" }))).await;
    let uri = format!("{url}/a.jar");
    let err = s.fetch(&uri, 100, Some(&wrong)).await.unwrap_err();
    assert!(
        err.contains(&format!("its SHA-256 is {right}, not {wrong}")),
        "{err}"
    );
    // (The local jar's checked copy is there; nothing of the download.)
    let kept: Vec<String> = std::fs::read_dir(&s.cache)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        kept,
        [format!("local-{right}.jar")],
        "nothing of the download kept"
    );
    let jar = s.fetch(&uri, 100, Some(&right)).await.unwrap();
    assert_eq!(std::fs::read(jar).unwrap(), b"the jar");
}

#[tokio::test]
async fn http_only_where_allowed_and_never_after_https() {
    let s = Setup::new(false);
    let err = s
        .fetch("http://127.0.0.1:9/a.jar", 100, None)
        .await
        .unwrap_err();
    assert!(err.contains("http:// is refused"), "{err}");
    assert_eq!(
        redirect(&["https"], "http", true),
        Err("from https to plain http")
    );
    assert_eq!(
        redirect(&["http"], "http", false),
        Err("http is not allowed ([jars] allow_http)")
    );
    assert_eq!(redirect(&["http"], "http", true), Ok(()));
    assert_eq!(redirect(&["http"], "https", false), Ok(()));
    assert_eq!(redirect(&["https"], "ftp", true), Err("not http(s)"));
    assert_eq!(
        redirect(&["https"; 10], "https", true),
        Err("more than 10 redirects")
    );

    // Through the client: an http redirect is refused unless http is allowed.
    let target = serve(Router::new().route("/a.jar", get(|| async { "jar" }))).await;
    let to = format!("{target}/a.jar");
    let app = Router::new().route(
        "/r.jar",
        get(move || {
            let to = to.clone();
            async move { axum::response::Redirect::temporary(&to) }
        }),
    );
    let url = serve(app).await;
    let client = download_client(&JarsConfig::default());
    let err = client.get(format!("{url}/r.jar")).send().await.unwrap_err();
    assert!(
        error_chain(&err).contains("http is not allowed"),
        "{}",
        error_chain(&err)
    );
}

#[tokio::test]
async fn downloads_once_and_caps_the_size() {
    let s = Setup::new(true);
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let app = Router::new().route(
        "/job.jar",
        get(move || {
            h.fetch_add(1, Ordering::SeqCst);
            async { vec![7u8; 4096] }
        }),
    );
    let uri = format!("{}/job.jar", serve(app).await);
    let a = s.fetch(&uri, 1 << 20, None).await.unwrap();
    let b = s.fetch(&uri, 1 << 20, None).await.unwrap();
    assert_eq!(a, b);
    assert_eq!(std::fs::read(&a).unwrap().len(), 4096);
    assert_eq!(hits.load(Ordering::SeqCst), 1, "downloaded once");

    let small = Setup::new(true);
    let err = small.fetch(&uri, 1000, None).await.unwrap_err();
    assert!(err.contains("larger than 1000b"), "{err}");
    assert_eq!(
        std::fs::read_dir(&small.cache).unwrap().count(),
        0,
        "no partial file left"
    );
}

#[tokio::test]
async fn fifty_fetches_at_once_leave_one_intact_jar() {
    let s = Arc::new(Setup::new(true));
    let body: Vec<u8> = (0..(1u32 << 20)).map(|i| (i % 251) as u8).collect();
    let want = crate::spec::content_hash(&body);
    let app = Router::new().route(
        "/job.jar",
        get(move || {
            let body = body.clone();
            async move { body }
        }),
    );
    let uri = format!("{}/job.jar", serve(app).await);
    let fetches: Vec<_> = (0..50)
        .map(|_| {
            let s = s.clone();
            let uri = uri.clone();
            tokio::spawn(async move { s.fetch(&uri, 1 << 21, None).await })
        })
        .collect();
    let mut paths = Vec::new();
    for f in fetches {
        paths.push(f.await.unwrap().unwrap());
    }
    paths.dedup();
    assert_eq!(paths.len(), 1);
    assert_eq!(
        crate::spec::content_hash(std::fs::read(&paths[0]).unwrap()),
        want
    );
    let left: Vec<_> = std::fs::read_dir(&s.cache).unwrap().flatten().collect();
    assert_eq!(left.len(), 1, "one jar, no temporary file left: {left:?}");
}

/// 200 MiB at about 16 MiB/s: longer than the REST timeout (10 s), within the
/// download's own.
#[tokio::test]
async fn a_slow_200_mib_jar_completes() {
    let s = Setup::new(true);
    let app = Router::new().route(
        "/big.jar",
        get(|| async {
            let chunks = futures_util::stream::unfold(0u32, |n| async move {
                if n == 200 {
                    return None;
                }
                tokio::time::sleep(std::time::Duration::from_millis(60)).await;
                Some((Ok::<_, std::io::Error>(vec![1u8; 1 << 20]), n + 1))
            });
            axum::body::Body::from_stream(chunks)
        }),
    );
    let uri = format!("{}/big.jar", serve(app).await);
    let began = std::time::Instant::now();
    let jar = s.fetch(&uri, 512 << 20, None).await.unwrap();
    assert_eq!(std::fs::metadata(jar).unwrap().len(), 200 << 20);
    assert!(
        began.elapsed() > std::time::Duration::from_secs(10),
        "slow enough to prove it"
    );
}

/// The jar checked is the jar sent: a path swapped for a symlink to flinkd's store after
/// the check still reads the file that was checked, and a path that already is such a
/// symlink is refused by where it leads.
#[tokio::test]
async fn what_is_checked_is_what_is_uploaded() {
    let s = Setup::new(false);
    std::fs::write(s.allowed.join("job.jar"), b"the user's jar").unwrap();
    std::fs::write(s.state.join("flinkd.db"), b"the store").unwrap();
    let right = crate::spec::content_hash(b"the user's jar");
    let jar = s.open("job.jar", 100, Some(&right)).await.unwrap();
    std::fs::remove_file(s.allowed.join("job.jar")).unwrap();
    std::os::unix::fs::symlink(s.state.join("flinkd.db"), s.allowed.join("job.jar")).unwrap();
    let mut sent = Vec::new();
    jar.reader().unwrap().read_to_end(&mut sent).unwrap();
    assert_eq!(sent, b"the user's jar");
    assert_eq!(jar.sha256().unwrap(), right);
    assert_eq!(jar.len(), 14);
    let err = s.open("job.jar", 100, None).await.unwrap_err();
    assert!(err.contains("never under state_dir"), "{err}");
    // Two readers do not share an offset.
    let (mut a, mut b) = (jar.reader().unwrap(), jar.reader().unwrap());
    let mut one = [0u8; 4];
    a.read_exact(&mut one).unwrap();
    b.read_exact(&mut one).unwrap();
    assert_eq!(&one, b"the ");
}

/// A FIFO where a jar should be is refused, not waited on.
#[tokio::test]
async fn a_fifo_is_not_a_jar() {
    let s = Setup::new(false);
    let fifo = s.allowed.join("pipe.jar");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let err = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        s.open("pipe.jar", 100, None),
    )
    .await
    .expect("answered at once")
    .unwrap_err();
    assert!(err.contains("not a regular file"), "{err}");
}

/// A download given up half-way (the start was cancelled) leaves no temporary file.
#[tokio::test]
async fn a_cancelled_download_leaves_nothing() {
    let s = Arc::new(Setup::new(true));
    let app = Router::new().route(
        "/slow.jar",
        get(|| async {
            let chunks = futures_util::stream::unfold(0u32, |n| async move {
                if n > 0 {
                    tokio::time::sleep(std::time::Duration::from_secs(60)).await;
                }
                Some((Ok::<_, std::io::Error>(vec![1u8; 1 << 16]), n + 1))
            });
            axum::body::Body::from_stream(chunks)
        }),
    );
    let uri = format!("{}/slow.jar", serve(app).await);
    let fetching = {
        let s = s.clone();
        tokio::spawn(async move { s.fetch(&uri, 1 << 30, None).await })
    };
    let part = async {
        loop {
            let found = std::fs::read_dir(&s.cache)
                .map(|d| {
                    d.flatten()
                        .any(|e| e.path().to_string_lossy().ends_with(".part"))
                })
                .unwrap_or(false);
            if found {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), part)
        .await
        .expect("the download began");
    fetching.abort();
    let _ = fetching.await;
    let left: Vec<_> = std::fs::read_dir(&s.cache).unwrap().flatten().collect();
    assert!(left.is_empty(), "nothing left: {left:?}");
}

/// Pinned by its hash, a local jar is uploaded from a copy made while it was checked: a
/// rewrite of the user's file in place, after the check, sends nothing of its own.
#[tokio::test]
async fn a_pinned_jar_is_sent_as_checked_even_if_rewritten_in_place() {
    let s = Setup::new(false);
    let path = s.allowed.join("job.jar");
    std::fs::write(&path, b"the checked jar").unwrap();
    let right = crate::spec::content_hash(b"the checked jar");
    let jar = s.open("job.jar", 100, Some(&right)).await.unwrap();
    // Same inode, other bytes.
    std::fs::write(&path, b"something else!").unwrap();
    let mut sent = Vec::new();
    jar.reader().unwrap().read_to_end(&mut sent).unwrap();
    assert_eq!(sent, b"the checked jar");
    assert_eq!(jar.path(), path.as_path(), "named as the user wrote it");
    let left: Vec<_> = std::fs::read_dir(&s.cache)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left.len(), 1, "one copy, no temporary file: {left:?}");
}
