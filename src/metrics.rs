//! The daemon's metrics, served at `/metrics` in Prometheus text (src/api.rs).
//!
//! One registry for the process. Counters and histograms are updated where things
//! happen (the DeploymentActor's steps, the Supervisor's quota ledger, every Flink REST
//! call); the gauges that count records (Deployments by status, Jobs and Savepoints by
//! state) are set from the store when the page is scraped.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

type Labels = Vec<(String, String)>;

pub struct Metrics {
    registry: Registry,
    pub deployments: Family<Labels, Gauge>,
    pub jobs: Family<Labels, Gauge>,
    pub savepoints: Family<Labels, Gauge>,
    pub transitions: Family<Labels, Counter>,
    pub transition_seconds: Family<Labels, Histogram>,
    pub jobs_started: Counter,
    pub jobs_failed: Counter,
    pub savepoints_taken: Family<Labels, Counter>,
    pub quota_used: Gauge<f64, AtomicU64>,
    pub quota_limit: Gauge<f64, AtomicU64>,
    pub rest_seconds: Histogram,
    pub upgrade_downtime: Histogram,
    pub rest_errors: Family<Labels, Counter>,
}

pub fn label(k: &str, v: impl ToString) -> Labels {
    vec![(k.to_string(), v.to_string())]
}

impl Metrics {
    /// `quota` is the configured limit, if any (its gauge exists only then).
    pub fn new(quota: Option<f64>) -> Metrics {
        let mut registry = Registry::with_prefix("flinkd");
        let m = Metrics {
            deployments: Family::default(),
            jobs: Family::default(),
            savepoints: Family::default(),
            transitions: Family::default(),
            transition_seconds: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(1.0, 2.0, 12))
            }),
            jobs_started: Counter::default(),
            jobs_failed: Counter::default(),
            savepoints_taken: Family::default(),
            quota_used: Gauge::default(),
            quota_limit: Gauge::default(),
            rest_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 14)),
            // 0.25 s to about 17 minutes.
            upgrade_downtime: Histogram::new(exponential_buckets(0.25, 2.0, 13)),
            rest_errors: Family::default(),
            registry: Registry::default(),
        };
        registry.register(
            "deployments",
            "Deployments by status",
            m.deployments.clone(),
        );
        registry.register("jobs", "Jobs on record by state", m.jobs.clone());
        registry.register(
            "savepoints",
            "Savepoints on record by state",
            m.savepoints.clone(),
        );
        registry.register(
            "transitions",
            "Transitions that ended, by the status reached",
            m.transitions.clone(),
        );
        registry.register(
            "transition_duration_seconds",
            "Time from TRANSITIONING to the status reached",
            m.transition_seconds.clone(),
        );
        registry.register(
            "jobs_started",
            "Jobs that reached RUNNING",
            m.jobs_started.clone(),
        );
        registry.register(
            "jobs_failed",
            "Jobs that failed (to start, or while running)",
            m.jobs_failed.clone(),
        );
        registry.register(
            "savepoints_taken",
            "Savepoints that completed or failed, by origin and state",
            m.savepoints_taken.clone(),
        );
        registry.register(
            "quota_cores_used",
            "CPU cores reserved by running Deployments",
            m.quota_used.clone(),
        );
        if let Some(limit) = quota {
            m.quota_limit.set(limit);
            registry.register(
                "quota_cores_limit",
                "The CPU quota ([quota] cpu)",
                m.quota_limit.clone(),
            );
        }
        registry.register(
            "upgrade_downtime_seconds",
            "Time from an upgrade's stop of the old job to its new job RUNNING",
            m.upgrade_downtime.clone(),
        );
        registry.register(
            "flink_rest_request_duration_seconds",
            "Duration of requests to Flink REST APIs",
            m.rest_seconds.clone(),
        );
        registry.register(
            "flink_rest_errors",
            "Failed requests to Flink REST APIs, by kind",
            m.rest_errors.clone(),
        );
        Metrics { registry, ..m }
    }

    /// The page, in Prometheus (OpenMetrics) text.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_names_every_metric() {
        let m = Metrics::new(Some(4.0));
        m.jobs_started.inc();
        m.transitions.get_or_create(&label("to", "RUNNING")).inc();
        m.rest_seconds.observe(0.01);
        m.quota_used.set(1.5);
        let text = m.encode().unwrap();
        for name in [
            "flinkd_jobs_started_total 1",
            "flinkd_transitions_total{to=\"RUNNING\"} 1",
            "flinkd_flink_rest_request_duration_seconds_count 1",
            "flinkd_quota_cores_used 1.5",
            "flinkd_quota_cores_limit 4.0",
        ] {
            assert!(text.contains(name), "{name} missing from\n{text}");
        }
        assert!(
            !Metrics::new(None)
                .encode()
                .unwrap()
                .contains("quota_cores_limit"),
            "no limit, no gauge"
        );
    }
}
