//! `flinkd savepoints prune --dry-run NAME`: which snapshots the Deployment's retention
//! (or the one given here) would dispose of now, asked of the lifecycle's own rule
//! (lifecycle/disposal.rs) with what the daemon has on record.

use super::{ApiArgs, EXIT_INVALID, EXIT_OK};
use crate::client::{self, ClientError};
use crate::lifecycle::disposal::disposable;
use crate::lifecycle::restore::describe;
use crate::lifecycle::{Lifecycle, Policy, Records};
use crate::spec::{Deployment, Job, Savepoint, SavepointRetention};

#[derive(Debug, clap::Args)]
pub struct SavepointsArgs {
    #[command(subcommand)]
    pub action: SavepointsAction,
}

#[derive(Debug, clap::Subcommand)]
pub enum SavepointsAction {
    /// List the snapshots retention would dispose of (the daemon disposes of them by
    /// itself, as the Deployment's savepointRetention says).
    Prune {
        /// Only list; required (nothing is removed from here).
        #[arg(long)]
        dry_run: bool,
        /// The Deployment.
        name: String,
        /// In place of the Deployment's savepointRetention.keep.
        #[arg(long)]
        keep: Option<i64>,
        /// In place of the Deployment's savepointRetention.maxAge (e.g. 30d).
        #[arg(long)]
        max_age: Option<String>,
        #[command(flatten)]
        api: ApiArgs,
    },
}

pub fn run(args: &SavepointsArgs) -> i32 {
    let SavepointsAction::Prune {
        dry_run,
        name,
        keep,
        max_age,
        api,
    } = &args.action;
    if !dry_run {
        eprintln!("flinkd: the daemon disposes of snapshots as a Deployment's savepointRetention says; `--dry-run` lists what it would");
        return EXIT_INVALID;
    }
    match prune(name, *keep, max_age.clone(), api) {
        Ok(()) => EXIT_OK,
        Err(e) => {
            eprintln!("flinkd: {e}");
            EXIT_INVALID
        }
    }
}

fn prune(
    name: &str,
    keep: Option<i64>,
    max_age: Option<String>,
    a: &ApiArgs,
) -> Result<(), ClientError> {
    let ns = &a.namespace;
    let api = client::server(a.server.as_deref(), a.config.as_ref())?;
    let d: Deployment = serde_json::from_value(client::get(
        &api,
        &format!("/api/v1/namespaces/{ns}/deployments/{name}"),
    )?)
    .map_err(|e| ClientError::Failed(format!("the daemon's Deployment {name}: {e}")))?;
    let id = d.metadata.id.unwrap_or_default();
    let mut wanted = d.spec.savepoint_retention.clone().unwrap_or_default();
    if keep.is_some() || max_age.is_some() {
        wanted = SavepointRetention {
            keep,
            max_age,
            ..wanted
        };
    }
    let retention = crate::expanded::Retention::of(&wanted)
        .map_err(|e| ClientError::Failed(format!("savepointRetention: {e}")))?;
    let Some(retention) = retention else {
        println!("{ns}/{name}: no savepointRetention: every snapshot is kept");
        return Ok(());
    };
    let savepoints: Vec<Savepoint> = client::items_read(&client::get(
        &api,
        &format!("/api/v1/namespaces/{ns}/savepoints?deploymentId={id}"),
    )?);
    let jobs: Vec<Job> = client::items_read(&client::get(
        &api,
        &format!("/api/v1/namespaces/{ns}/jobs?deploymentId={id}"),
    )?);
    let now = time::OffsetDateTime::now_utc();
    let lc = client::get(
        &api,
        &format!("/api/v1/namespaces/{ns}/deployments/{name}/lifecycle"),
    )?;
    let lifecycle = match Policy::new(&d.spec, &d.spec, "", None) {
        Ok(policy) if !lc["lifecycle"].is_null() => {
            Lifecycle::from_stored(&lc["lifecycle"].to_string(), &policy, now).unwrap_or_default()
        }
        _ => Lifecycle::default(),
    };
    let records = Records { jobs, savepoints };
    let restore = crate::expanded::ExpandedSpec::of(&d.spec)
        .map(|e| e.restore)
        .unwrap_or(crate::spec::RestoreStrategyKind::LatestState);
    let protected = lifecycle.protected_snapshots(restore, &records);
    let gone = disposable(&retention, &records.savepoints, &protected, now);
    if gone.is_empty() {
        println!("{ns}/{name}: retention would dispose of nothing");
    }
    for s in gone {
        println!("{ns}/{name}: would dispose of {}", describe(s, now));
    }
    Ok(())
}
