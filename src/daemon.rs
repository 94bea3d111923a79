//! `flinkd run`: the daemon.
//!
//! Opens the store, starts the actors on an actix System over a multi-threaded tokio
//! runtime (so that I/O spawned with `tokio::spawn` runs on workers while actors stay
//! put), and turns signals into messages in one place: SIGTERM and SIGINT stop the
//! daemon and leave every Flink cluster running; SIGHUP rescans the directory. The HTTP
//! API (src/api.rs) is served on the same runtime.

use std::path::Path;
use std::sync::Arc;

use actix::Actor;
use tokio::signal::unix::{signal, SignalKind};

use crate::actors::{self, supervisor::Reload, supervisor::Rescan, supervisor::Supervisor, Shared};
use crate::config::Config;
use crate::store::Store;

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
    #[error("cannot start: {0}")]
    Io(#[from] std::io::Error),
    #[error(
        "another flinkd{pid} runs on {dir}; stop it first, or give this one another state_dir"
    )]
    Locked { dir: String, pid: String },
}

/// One daemon per `state_dir`: an exclusive lock on `state_dir/flinkd.lock`, held for the
/// daemon's life (the file holds its PID, for the message a second one gives). Taken
/// before the store is opened, so a second daemon drives nothing.
fn lock_state_dir(dir: &Path) -> Result<nix::fcntl::Flock<std::fs::File>, DaemonError> {
    use std::io::{Read, Seek, Write};
    let path = dir.join("flinkd.lock");
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)?;
    match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
        Ok(mut lock) => {
            lock.set_len(0)?;
            lock.rewind()?;
            writeln!(lock, "{}", std::process::id())?;
            Ok(lock)
        }
        Err((mut file, _)) => {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            let pid = pid.trim();
            Err(DaemonError::Locked {
                dir: dir.display().to_string(),
                pid: if pid.is_empty() {
                    String::new()
                } else {
                    format!(" (pid {pid})")
                },
            })
        }
    }
}

pub fn run(config_path: &Path) -> Result<(), DaemonError> {
    let config = Config::load(config_path)?;
    // What flinkd writes (the store, generated configs, the clusters' logs, which the
    // JVMs inherit the mask for) is its user's alone: a config names ports, and holds
    // each cluster's identity.
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    std::fs::create_dir_all(&config.state_dir)?;
    std::fs::set_permissions(
        &config.state_dir,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )?;
    let _lock = lock_state_dir(&config.state_dir)?;
    let store = Store::open(&config.store_path(), config.store.max_events_per_deployment)?;
    tracing::info!(
        config = %config_path.display(),
        deployments = %config.deployments_dir.display(),
        state = %config.state_dir.display(),
        "flinkd starting"
    );
    let system = actix::System::with_tokio_rt(|| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime")
    });
    let config_path = config_path.to_path_buf();
    system.block_on(async move {
        // An address already in use is an error at start, not a daemon without its API.
        let listener = crate::api::bind(config.api.listen).await?;
        let store = actors::store::start(store);
        let metrics = Arc::new(crate::metrics::Metrics::new(config.quota.cpu));
        let http = crate::flink::http_client(config.timing.http_timeout);
        let guard = Arc::new(crate::api::Guard::new(&config.api));
        let shared = Arc::new(Shared::new(config, store.clone(), http, metrics.clone()));
        actors::pruner::start(shared.clone());
        actors::sweep::start(shared.clone());
        let supervisor = Supervisor::new(shared.clone()).start();
        crate::api::serve(
            listener,
            crate::api::ApiState {
                store,
                supervisor: supervisor.clone(),
                metrics,
                guard,
                shared,
                http: reqwest::Client::builder()
                    .connect_timeout(std::time::Duration::from_secs(5))
                    .timeout(std::time::Duration::from_secs(60))
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .unwrap_or_default(),
            },
        );
        // Signal handlers are installed before anything else can take time: SIGHUP's
        // default action would kill the daemon.
        let mut hup = signal(SignalKind::hangup())?;
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        actix::spawn(async move {
            loop {
                tokio::select! {
                    _ = hup.recv() => {
                        crate::systemd::reloading();
                        // An invalid config changes nothing: the running one is kept.
                        match Config::load(&config_path) {
                            Ok(new) => {
                                tracing::info!("SIGHUP: config re-read; rescanning");
                                supervisor.do_send(Reload(new));
                            }
                            Err(e) => {
                                tracing::error!("SIGHUP: the config is not valid, keeping the running one: {e}");
                                crate::systemd::ready("reload rejected: the config is not valid");
                                supervisor.do_send(Rescan(None));
                            }
                        }
                    }
                    _ = term.recv() => break,
                    _ = int.recv() => break,
                }
            }
            tracing::info!("stopping; Flink clusters are left running");
            crate::systemd::stopping();
            actix::System::current().stop();
        });
        Ok::<(), std::io::Error>(())
    })?;
    system.run()?;
    Ok(())
}
