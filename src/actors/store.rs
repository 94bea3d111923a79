//! The store actor: the one writer of the SQLite file, on a thread of its own.
//!
//! SQLite calls block, so the [`Store`] runs in an actix `SyncArbiter` with one thread
//! (one writer, as WAL wants) and other actors send it work. A message carries a
//! closure over `&mut Store`, so each caller states its query where it needs it and the
//! store module stays free of actor plumbing.

use std::sync::Mutex;

use actix::{Actor, Addr, Handler, Message, SyncArbiter, SyncContext};

use crate::store::{Store, StoreError};

pub struct StoreActor {
    store: Store,
}

impl Actor for StoreActor {
    type Context = SyncContext<Self>;
}

/// Work for the store: runs on the store's thread, returns its result to the sender.
pub struct Exec<R>(Work<R>);

type Work<R> = Box<dyn FnOnce(&mut Store) -> Result<R, StoreError> + Send>;

impl<R> Exec<R> {
    pub fn new(f: impl FnOnce(&mut Store) -> Result<R, StoreError> + Send + 'static) -> Self {
        Exec(Box::new(f))
    }
}

impl<R: Send + 'static> Message for Exec<R> {
    type Result = Result<R, StoreError>;
}

impl<R: Send + 'static> Handler<Exec<R>> for StoreActor {
    type Result = Result<R, StoreError>;

    fn handle(&mut self, msg: Exec<R>, _: &mut SyncContext<Self>) -> Self::Result {
        (msg.0)(&mut self.store)
    }
}

/// Starts the store actor on its own thread. The store is opened by the caller, so
/// that a store that cannot be opened is an error at start-up, not a dead actor.
/// Must be called inside a running actix `System`.
pub fn start(store: Store) -> Addr<StoreActor> {
    let slot = Mutex::new(Some(store));
    SyncArbiter::start(1, move || {
        let store = slot
            .lock()
            .ok()
            .and_then(|mut s| s.take())
            .expect("the store actor is started once, on one thread");
        StoreActor { store }
    })
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
                            state: crate::spec::DeploymentState::Running,
                            running: None,
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
