//! Flink's scripts against one local cluster take turns with its teardown: a start or
//! a TaskManager replacement holds the turn until its scripts end (they run to their
//! end even when the task that began them is aborted), and a teardown waits for it,
//! so that no process starts behind the stop of its cluster.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a teardown waits for scripts: they end within their own 60 s bound.
pub const SCRIPTS_BOUND: Duration = Duration::from_secs(65);

/// Whether scripts are running against one cluster.
#[derive(Debug, Clone, Default)]
pub struct Scripts(Arc<AtomicBool>);

/// The turn of the scripts running; given back when dropped.
#[derive(Debug)]
pub struct Turn(Arc<AtomicBool>);

impl Scripts {
    /// The turn, unless scripts already hold it.
    pub fn take(&self) -> Option<Turn> {
        (!self.0.swap(true, Ordering::SeqCst)).then(|| Turn(self.0.clone()))
    }

    /// The turn, once scripts that hold it end, within `bound` (blocking).
    pub fn wait_and_take(&self, bound: Duration) -> Option<Turn> {
        let until = Instant::now() + bound;
        loop {
            if let Some(turn) = self.take() {
                return Some(turn);
            }
            if Instant::now() >= until {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_turn_at_a_time_and_a_teardown_waits_for_it() {
        let scripts = Scripts::default();
        let replacement = scripts.take().expect("free at first");
        assert!(scripts.take().is_none(), "a second replacement is refused");
        let teardown = {
            let scripts = scripts.clone();
            std::thread::spawn(move || {
                let began = Instant::now();
                let turn = scripts.wait_and_take(Duration::from_secs(10));
                (turn.is_some(), began.elapsed())
            })
        };
        std::thread::sleep(Duration::from_millis(300));
        drop(replacement);
        let (took, waited) = teardown.join().unwrap();
        assert!(took, "the teardown has its turn once the scripts end");
        assert!(
            waited >= Duration::from_millis(250),
            "it waited: {waited:?}"
        );
    }

    #[test]
    fn a_teardown_goes_on_past_its_bound() {
        let scripts = Scripts::default();
        let _stuck = scripts.take().unwrap();
        assert!(scripts.wait_and_take(Duration::from_millis(100)).is_none());
    }
}
