//! The store's writer: the one owner of the SQLite file, on a thread of its own.
//!
//! SQLite calls block, so the [`Store`] lives on one thread (one writer, as WAL wants)
//! and other actors send it work through a [`StoreHandle`]. A message carries a closure
//! over `&mut Store`, so each caller states its query where it needs it and the store
//! module stays free of actor plumbing.
//!
//! Group commit: the thread takes all the work waiting for it (up to [`MAX_BATCH`]) and
//! runs it in one transaction, each piece inside a savepoint of its own (a piece that
//! fails is rolled back alone, as if it had been its own transaction). Every sender is
//! answered only after the commit, so a step's intent is on disk before its effect, as
//! before; but a thousand Deployments starting at once cost a few fsyncs, not a
//! thousand.

use std::sync::mpsc;

use crate::store::{Store, StoreError};

/// Most pieces of work in one transaction.
pub const MAX_BATCH: usize = 512;

/// Work for the store: runs on the store's thread, returns its result to the sender.
pub struct Exec<R>(Work<R>);

type Work<R> = Box<dyn FnOnce(&mut Store) -> Result<R, StoreError> + Send>;

impl<R> Exec<R> {
    pub fn new(f: impl FnOnce(&mut Store) -> Result<R, StoreError> + Send + 'static) -> Self {
        Exec(Box::new(f))
    }
}

/// The answer to a sender, given how the commit went.
type Reply = Box<dyn FnOnce(Option<&StoreError>) + Send>;

/// One piece of work, its result type erased: whether it succeeded, and its reply.
type Job = Box<dyn FnOnce(&mut Store) -> (bool, Reply) + Send>;

/// The store thread is gone (the daemon is stopping).
#[derive(Debug, Clone, thiserror::Error)]
#[error("the store is not running")]
pub struct StoreClosed;

/// How actors reach the store.
#[derive(Clone)]
pub struct StoreHandle {
    tx: mpsc::Sender<Job>,
}

impl StoreHandle {
    /// Runs `exec` on the store's thread; resolves once its transaction is committed.
    pub fn send<R: Send + 'static>(
        &self,
        exec: Exec<R>,
    ) -> impl std::future::Future<Output = Result<Result<R, StoreError>, StoreClosed>> + use<R>
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |store: &mut Store| {
            let result = (exec.0)(store);
            let ok = result.is_ok();
            let reply: Reply = Box::new(move |commit: Option<&StoreError>| {
                let answer = match commit {
                    Some(e) => Err(StoreError::Commit(e.to_string())),
                    None => result,
                };
                let _ = tx.send(answer);
            });
            (ok, reply)
        });
        let sent = self.tx.send(job).map_err(|_| StoreClosed);
        async move {
            sent?;
            rx.await.map_err(|_| StoreClosed)
        }
    }
}

impl StoreHandle {
    /// Runs `exec` on the store's thread without waiting for it (a failure is logged).
    pub fn do_send<R: Send + 'static>(&self, exec: Exec<R>) {
        let job: Job = Box::new(move |store: &mut Store| {
            let result = (exec.0)(store);
            if let Err(e) = &result {
                tracing::error!("{e}");
            }
            let reply: Reply = Box::new(|commit: Option<&StoreError>| {
                if let Some(e) = commit {
                    tracing::error!("{e}");
                }
            });
            (result.is_ok(), reply)
        });
        let _ = self.tx.send(job);
    }
}

/// Starts the store's thread. The store is opened by the caller, so that a store that
/// cannot be opened is an error at start-up, not a dead thread.
pub fn start(store: Store) -> StoreHandle {
    let (tx, rx) = mpsc::channel::<Job>();
    std::thread::Builder::new()
        .name("flinkd-store".into())
        .spawn(move || run(store, rx))
        .expect("start the store thread");
    StoreHandle { tx }
}

fn run(mut store: Store, rx: mpsc::Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let replies = store.group(batch.into_iter().map(|job| move |s: &mut Store| job(s)));
        let (replies, commit) = match replies {
            Ok(replies) => (replies, None),
            Err((replies, e)) => {
                tracing::error!("the store could not commit: {e}");
                (replies, Some(e))
            }
        };
        for reply in replies {
            reply(commit.as_ref());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{Identity, Kind};

    #[test]
    fn work_runs_on_the_store_thread_and_answers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.db");
        let store = Store::open(&path, 10).unwrap();
        let system = actix::System::new();
        let (first, second) = system.block_on(async move {
            let addr = start(store);
            let caller = std::thread::current().id();
            let ident = Identity {
                namespace: "default".into(),
                name: "a".into(),
            };
            let i2 = ident.clone();
            let first = addr
                .send(Exec::new(move |s| {
                    assert_ne!(
                        std::thread::current().id(),
                        caller,
                        "runs off the caller's thread"
                    );
                    s.ensure_id(Kind::Deployment, &ident, None)
                }))
                .await
                .unwrap()
                .unwrap();
            let second = addr
                .send(Exec::new(move |s| s.ensure_id(Kind::Deployment, &i2, None)))
                .await
                .unwrap()
                .unwrap();
            actix::System::current().stop();
            (first, second)
        });
        assert_eq!(first, second);
        // The write reached the file.
        let mut reopened = Store::open(&path, 10).unwrap();
        let ident = Identity {
            namespace: "default".into(),
            name: "a".into(),
        };
        assert_eq!(
            reopened.ensure_id(Kind::Deployment, &ident, None).unwrap(),
            first
        );
    }

    #[test]
    fn errors_come_back_as_values() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("f.db"), 10).unwrap();
        let system = actix::System::new();
        let result = system.block_on(async move {
            let addr = start(store);
            let r = addr
                .send(Exec::new(|s| {
                    s.put_status(
                        uuid::Uuid::new_v4(),
                        &crate::spec::DeploymentStatus {
                            flink_ui: None,
                            state: crate::spec::DeploymentState::Running,
                            running: None,
                            problems: Vec::new(),
                        },
                        time::OffsetDateTime::UNIX_EPOCH,
                    )
                }))
                .await
                .unwrap();
            actix::System::current().stop();
            r
        });
        assert!(matches!(result, Err(StoreError::NoDeployment(_))));
    }
}
