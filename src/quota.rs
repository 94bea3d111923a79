//! The CPU quota ledger (reference page, "CPU Quota"), owned by the Supervisor.
//!
//! A Deployment's cores are `jobManager.cpu + numberOfTaskManagers × taskManager.cpu`
//! ([`crate::expanded::ExpandedSpec::cores`]). When to ask for them is the lifecycle's
//! decision (only when a job is about to start, never on create or edit; a running job
//! keeps what it holds); the ledger only says whether a request fits. It is one value
//! behind one actor, so requests are taken one at a time: two Deployments starting at
//! once cannot both pass the last cores. A request replaces what its Deployment holds;
//! a setting (what a restarted daemon finds held, or less than held) never asks.

use std::collections::HashMap;

use uuid::Uuid;

/// Cores a reservation may exceed the limit by, for float sums such as 0.1 + 0.2.
const EPSILON: f64 = 1e-9;

/// A reservation that does not fit.
#[derive(Debug, Clone, PartialEq)]
pub struct Denied {
    pub used: f64,
    pub requested: f64,
    pub limit: f64,
}

#[derive(Debug, Clone, Default)]
pub struct Ledger {
    /// Unset: unlimited.
    limit: Option<f64>,
    held: HashMap<Uuid, f64>,
}

impl Ledger {
    pub fn new(limit: Option<f64>) -> Ledger {
        Ledger {
            limit,
            held: HashMap::new(),
        }
    }

    /// Cores held by all Deployments.
    pub fn used(&self) -> f64 {
        // An empty sum of f64 is -0.0, which prints as "-0".
        self.held.values().sum::<f64>() + 0.0
    }

    pub fn limit(&self) -> Option<f64> {
        self.limit
    }

    /// A new limit (from a reload). Holdings stay, even above it: nothing running is
    /// stopped for the quota.
    pub fn set_limit(&mut self, limit: Option<f64>) {
        self.limit = limit;
    }

    /// Reserves `cores` for `deployment` (replacing what it held), if they fit.
    pub fn reserve(&mut self, deployment: Uuid, cores: f64) -> Result<(), Denied> {
        let others = (self.used() - self.held(deployment)).max(0.0);
        if let Some(limit) = self.limit {
            if others + cores > limit + EPSILON {
                return Err(Denied {
                    used: others,
                    requested: cores,
                    limit,
                });
            }
        }
        self.held.insert(deployment, cores);
        Ok(())
    }

    /// Holds `cores` for `deployment` whatever the limit: what a restarted daemon finds
    /// held, or less than a Deployment held (0: nothing).
    pub fn set(&mut self, deployment: Uuid, cores: f64) {
        if cores > 0.0 {
            self.held.insert(deployment, cores);
        } else {
            self.held.remove(&deployment);
        }
    }

    /// What `deployment` holds.
    pub fn held(&self, deployment: Uuid) -> f64 {
        self.held.get(&deployment).copied().unwrap_or(0.0)
    }

    pub fn release(&mut self, deployment: Uuid) {
        self.set(deployment, 0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn nothing_in_use_says_0_not_minus_0() {
        let mut ledger = Ledger::new(Some(1.5));
        let denied = ledger.reserve(Uuid::from_u128(1), 2.0).unwrap_err();
        assert_eq!(format!("{} of {}", denied.used, ledger.used()), "0 of 0");
    }

    #[test]
    fn reservations_fit_exactly_and_not_beyond() {
        let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let mut l = Ledger::new(Some(4.0));
        assert!(l.reserve(a, 2.0).is_ok());
        assert!(l.reserve(b, 2.0).is_ok(), "exactly at the limit");
        assert_eq!(
            l.reserve(c, 0.5),
            Err(Denied {
                used: 4.0,
                requested: 0.5,
                limit: 4.0
            })
        );
        l.release(a);
        assert!(l.reserve(c, 0.5).is_ok());
        assert_eq!(l.used(), 2.5);
        // A Deployment's own holding does not count against its new reservation.
        assert!(l.reserve(b, 3.5).is_ok());
        let mut float = Ledger::new(Some(0.3));
        assert!(
            float.reserve(a, 0.1).is_ok() && float.reserve(b, 0.2).is_ok(),
            "0.1 + 0.2 fits 0.3"
        );
    }

    #[test]
    fn unlimited_and_lowered_limits() {
        let mut l = Ledger::new(None);
        for _ in 0..100 {
            assert!(l.reserve(Uuid::new_v4(), 8.0).is_ok());
        }
        let mut l = Ledger::new(Some(4.0));
        let a = Uuid::new_v4();
        l.reserve(a, 4.0).unwrap();
        l.set_limit(Some(2.0));
        assert_eq!(l.used(), 4.0, "nothing is taken away");
        assert!(l.reserve(Uuid::new_v4(), 1.0).is_err());
        l.set(Uuid::new_v4(), 3.0);
        assert_eq!(l.used(), 7.0, "a running job is booked whatever the limit");
    }

    proptest! {
        /// However requests and releases interleave, reservations never exceed the limit.
        #[test]
        fn never_over_the_limit(
            limit in 1u32..20,
            ops in prop::collection::vec((0usize..12, 1u32..8, any::<bool>()), 1..200),
        ) {
            let ids: Vec<Uuid> = (0..12).map(|_| Uuid::new_v4()).collect();
            let mut l = Ledger::new(Some(limit as f64 / 2.0));
            for (who, half_cores, release) in ops {
                if release {
                    l.release(ids[who]);
                } else {
                    let _ = l.reserve(ids[who], half_cores as f64 / 2.0);
                }
                prop_assert!(l.used() <= limit as f64 / 2.0 + EPSILON, "used {} > limit {}", l.used(), limit as f64 / 2.0);
            }
        }
    }
}
