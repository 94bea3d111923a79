//! The chaos campaign (tests/support/chaos.rs) on the fake Flink: at least ten seeds of
//! 200 scheduled operations each in CI, three at a time (no JVM runs); a longer soak
//! with `scripts/chaos.sh --seeds N --minutes M`, which prints its figures.

#![cfg(feature = "test-support")]

#[path = "support/chaos.rs"]
mod chaos;
mod e2e;

use std::time::{Duration, Instant};

use chaos::{Campaign, Figures};

/// Runs `seeds` campaigns, `parallel` at a time, until `until` (if any) has passed.
fn campaigns(seeds: &[u64], ops: usize, parallel: usize, until: Option<Instant>) -> Figures {
    let mut total = Figures::default();
    let mut run = 0;
    for chunk in seeds.chunks(parallel) {
        if until.is_some_and(|u| Instant::now() > u) {
            break;
        }
        let handles: Vec<_> = chunk
            .iter()
            .map(|&seed| {
                std::thread::spawn(move || {
                    let f = Campaign::new(seed, 6).run(ops, Duration::from_secs(60));
                    (seed, f)
                })
            })
            .collect();
        for h in handles {
            let (seed, f) = h.join().expect("a campaign panicked");
            run += 1;
            println!(
                "seed {seed}: {} ops, {} kills, {} starts, {} savepoints completed, converged in {:.1?}, {} violations",
                f.ops,
                f.kills,
                f.starts,
                f.savepoints_completed,
                f.convergence,
                f.violations.len()
            );
            total.add(&f);
        }
    }
    println!(
        "{run} seeds, {} operations, {} daemon kills, {} starts, {} savepoints completed; longest convergence after the faults stopped {:.1?}; violations {}",
        total.ops,
        total.kills,
        total.starts,
        total.savepoints_completed,
        total.convergence,
        total.violations.len()
    );
    for (kind, n) in &total.kinds {
        println!("  {kind:>18}: {n}");
    }
    total
}

#[test]
fn ten_seeds_of_chaos_keep_every_promise() {
    let seeds: Vec<u64> = (1..=10).collect();
    let f = campaigns(&seeds, 200, 3, None);
    assert!(f.ops >= 2000);
    assert!(f.violations.is_empty(), "{}", f.violations.join("\n\n"));
}

/// The soak: `CHAOS_SEEDS` seeds from `CHAOS_FIRST_SEED` (1000), `CHAOS_OPS` operations
/// each (300), new seeds started until `CHAOS_MINUTES` have passed.
#[test]
#[ignore]
fn soak() {
    let env = |k: &str, d: u64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let first = env("CHAOS_FIRST_SEED", 1000);
    let seeds: Vec<u64> = (first..first + env("CHAOS_SEEDS", 30)).collect();
    let until = Instant::now() + Duration::from_secs(60 * env("CHAOS_MINUTES", 30));
    let f = campaigns(&seeds, env("CHAOS_OPS", 300) as usize, 3, Some(until));
    assert!(f.violations.is_empty(), "{}", f.violations.join("\n\n"));
}
