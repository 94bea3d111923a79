//! systemd's notification protocol (sd_notify): READY=1 once the first scan of the
//! deployments directory is done, RELOADING=1 and READY=1 around a reload, STOPPING=1 on
//! the way out, WATCHDOG=1 while the Supervisor answers (when the unit sets
//! WatchdogSec). Without NOTIFY_SOCKET (not under systemd) every call does nothing.

use std::time::Duration;

use sd_notify::NotifyState;

fn send(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(false, states) {
        tracing::warn!("sd_notify: {e}");
    }
}

/// The daemon serves: the first scan is done.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// A reload begins (systemd wants the monotonic time with it).
pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now]),
        Err(_) => send(&[NotifyState::Reloading]),
    }
}

/// The daemon is on its way out.
pub fn stopping() {
    send(&[NotifyState::Stopping]);
}

/// A status line for `systemctl status`.
pub fn status(status: &str) {
    send(&[NotifyState::Status(status)]);
}

/// Keep-alive for systemd's watchdog.
pub fn watchdog() {
    send(&[NotifyState::Watchdog]);
}

/// Whether the daemon is well enough to feed the watchdog: not while a read of the
/// directory has been under way for longer than `bound` (a scan stuck on a file that
/// blocks), so that systemd restarts a daemon that stopped seeing its files.
pub fn healthy(scanning_for: Option<Duration>, bound: Duration) -> bool {
    scanning_for.is_none_or(|d| d <= bound)
}

/// How often to ping the watchdog: half its timeout, when the unit sets one.
pub fn watchdog_interval() -> Option<Duration> {
    let mut usec = 0;
    sd_notify::watchdog_enabled(false, &mut usec).then(|| Duration::from_micros(usec / 2))
}

#[cfg(test)]
mod tests {
    use super::healthy;
    use std::time::Duration;

    #[test]
    fn a_stuck_scan_stops_the_watchdog() {
        let bound = Duration::from_secs(120);
        assert!(healthy(None, bound));
        assert!(healthy(Some(Duration::from_secs(5)), bound));
        assert!(!healthy(Some(Duration::from_secs(121)), bound));
    }
}
