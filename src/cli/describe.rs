//! `flinkd describe deployment NAME`, as `kubectl describe` does: the spec in short,
//! the status and its conditions with their times, the current job and its cluster, the
//! latest savepoints, the restore source a next start would use (the lifecycle's own
//! choice), the file's problems and the latest events, every message whole.

use std::fmt::Write as _;

use super::{ApiArgs, EXIT_INVALID, EXIT_OK};
use crate::client::{self, age, Api, ClientError};
use crate::expanded::ExpandedSpec;
use crate::lifecycle::restore::{choose_restore, describe, RestoreChoice};
use crate::lifecycle::{Lifecycle, Policy};
use crate::spec::{Deployment, Event, Job, JobState, Savepoint, SavepointState};

#[derive(Debug, clap::Args)]
pub struct DescribeArgs {
    #[command(subcommand)]
    pub what: DescribeWhat,
}

#[derive(Debug, clap::Subcommand)]
pub enum DescribeWhat {
    /// One Deployment, in full.
    Deployment {
        name: String,
        #[command(flatten)]
        api: ApiArgs,
    },
}

/// How many savepoints and events are shown.
const LATEST: usize = 10;

pub fn run(args: &DescribeArgs) -> i32 {
    let DescribeWhat::Deployment { name, api } = &args.what;
    match text(name, api) {
        Ok(t) => {
            print!("{t}");
            EXIT_OK
        }
        Err(e) => {
            eprintln!("flinkd: {e}");
            EXIT_INVALID
        }
    }
}

fn events(api: &Api, ns: &str, id: uuid::Uuid) -> Result<Vec<Event>, ClientError> {
    let mut out: Vec<Event> = Vec::new();
    let mut after = 0;
    loop {
        let v = client::get(
            api,
            &format!("/api/v1/namespaces/{ns}/events?deploymentId={id}&after={after}"),
        )?;
        out.extend(client::items_read::<Event>(&v));
        // Only the latest are shown: older pages are let go.
        if out.len() > LATEST {
            out.drain(..out.len() - LATEST);
        }
        match v["next"].as_i64() {
            Some(next) => after = next,
            None => return Ok(out),
        }
    }
}

fn text(name: &str, a: &ApiArgs) -> Result<String, ClientError> {
    let ns = &a.namespace;
    let api = client::server(a.server.as_deref(), a.config.as_ref())?;
    let d: Deployment = serde_json::from_value(client::get(
        &api,
        &format!("/api/v1/namespaces/{ns}/deployments/{name}"),
    )?)
    .map_err(|e| ClientError::Failed(format!("the daemon's Deployment {name}: {e}")))?;
    let id = d.metadata.id.unwrap_or_default();
    let jobs: Vec<Job> = client::items_read(&client::get(
        &api,
        &format!("/api/v1/namespaces/{ns}/jobs?deploymentId={id}"),
    )?);
    let savepoints: Vec<Savepoint> = client::items_read(&client::get(
        &api,
        &format!("/api/v1/namespaces/{ns}/savepoints?deploymentId={id}"),
    )?);
    let lc = client::get(
        &api,
        &format!("/api/v1/namespaces/{ns}/deployments/{name}/lifecycle"),
    )?;
    let events = events(&api, ns, id)?;
    let now = time::OffsetDateTime::now_utc();
    let mut t = String::new();
    let line = |t: &mut String, k: &str, v: &str| {
        let _ = writeln!(t, "{:<14}{v}", format!("{k}:"));
    };
    line(&mut t, "Name", name);
    line(&mut t, "Namespace", ns);
    line(&mut t, "Id", &id.to_string());
    let spec = ExpandedSpec::of(&d.spec).ok();
    if let Some(e) = &spec {
        line(&mut t, "Desired", e.state.as_str());
        line(
            &mut t,
            "Strategies",
            &format!("upgrade {}, restore {}", e.upgrade, e.restore),
        );
        let tpl = &e.template;
        line(
            &mut t,
            "Template",
            &format!(
                "Flink {}, parallelism {}, {} TaskManager(s) of {} CPU / {}, a JobManager of {} CPU / {} ({} cores of the quota)",
                tpl.flink_version,
                tpl.parallelism,
                tpl.number_of_task_managers,
                tpl.task_manager.cpu,
                tpl.task_manager.memory,
                tpl.job_manager.cpu,
                tpl.job_manager.memory,
                e.cores()
            ),
        );
        line(&mut t, "Jar", &tpl.jar_uri);
    }
    let status = d.status.clone().unwrap_or(crate::spec::DeploymentStatus {
        state: crate::spec::DeploymentState::Cancelled,
        running: None,
        problems: Vec::new(),
        flink_ui: None,
    });
    let since = status
        .running
        .as_ref()
        .map(|r| {
            format!(
                " since {} ({} ago)",
                r.transition_time,
                age(Some(r.transition_time), now)
            )
        })
        .unwrap_or_default();
    line(&mut t, "Status", &format!("{}{since}", status.state));
    if let Some(ui) = &status.flink_ui {
        line(
            &mut t,
            "Flink UI",
            &format!("{} (through flinkd: {})", ui.url, ui.proxy),
        );
    }
    let conditions = status
        .running
        .as_ref()
        .map(|r| r.conditions.clone())
        .unwrap_or_default();
    if !conditions.is_empty() {
        let _ = writeln!(t, "Conditions:");
        for c in &conditions {
            let _ = writeln!(
                t,
                "  {} {} ({}, since {}, seen {}): {}",
                c.kind,
                c.status,
                c.reason,
                rfc(c.last_transition_time),
                rfc(c.last_update_time),
                c.message
            );
        }
    }
    let current = jobs.iter().rev().find(|j| {
        matches!(
            j.status.state,
            JobState::Starting | JobState::Started | JobState::Terminating
        )
    });
    match current {
        Some(j) => line(
            &mut t,
            "Current job",
            &format!(
                "{} {}, Flink job {}, created {} ago{}",
                j.metadata.id,
                j.status.state,
                j.status.flink_job_id.as_deref().unwrap_or("-"),
                age(Some(j.metadata.created_at), now),
                status
                    .flink_ui
                    .as_ref()
                    .map(|u| format!(", cluster {}", u.url))
                    .unwrap_or_default()
            ),
        ),
        None => line(&mut t, "Current job", "none"),
    }
    line(&mut t, "Jobs", &format!("{} on record", jobs.len()));
    let mut completed: Vec<&Savepoint> = savepoints
        .iter()
        .filter(|s| s.state == SavepointState::Completed)
        .collect();
    completed.sort_by_key(|s| std::cmp::Reverse(s.metadata.modified_at));
    let _ = writeln!(
        t,
        "Savepoints:   {} on record, {} COMPLETED; the latest:",
        savepoints.len(),
        completed.len()
    );
    for s in completed.iter().take(LATEST) {
        let _ = writeln!(t, "  {}", describe(s, now));
    }
    if let Some(e) = &spec {
        let policy = Policy::new(&d.spec, &d.spec, "", None).ok();
        let lifecycle = match (policy, lc["lifecycle"].is_null()) {
            (Some(p), false) => {
                Lifecycle::from_stored(&lc["lifecycle"].to_string(), &p, now).unwrap_or_default()
            }
            _ => Lifecycle::default(),
        };
        let next = match choose_restore(e.restore, &savepoints, &lifecycle.unusable) {
            RestoreChoice::From(s) => describe(s, now),
            RestoreChoice::Empty => "empty state".into(),
            RestoreChoice::Exhausted => {
                "nothing: every snapshot the strategy allows is gone (a start is FAILED)".into()
            }
        };
        line(&mut t, "Next start", &format!("restores from {next}"));
    }
    if !status.problems.is_empty() {
        let _ = writeln!(t, "Problems:");
        for p in &status.problems {
            let _ = writeln!(t, "  {p}");
        }
    }
    let _ = writeln!(t, "Events (the latest {}):", events.len());
    for e in &events {
        let _ = writeln!(
            t,
            "  {} {} {} {}",
            rfc(e.created_at),
            format!("{:?}", e.level).to_uppercase(),
            e.name,
            e.message
        );
    }
    Ok(t)
}

/// A time as RFC 3339, to the second.
fn rfc(t: crate::spec::Timestamp) -> String {
    t.replace_nanosecond(0)
        .unwrap_or(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}
