//! `flinkd plan PATH...`: what applying these files would do, asked of the lifecycle
//! (lifecycle/plan.rs) with what the running daemon has on record. Exit 0: nothing
//! would change; 2: something would; 1: an error (invalid files, no daemon).

use std::collections::BTreeSet;

use super::{read_path, ApiArgs, EXIT_INVALID};
use crate::client::{self, Api, ClientError};
use crate::config::Config;
use crate::lifecycle::plan::{plan, Plan};
use crate::lifecycle::{Lifecycle, Policy, Records};
use crate::spec::{Job, Savepoint, SavepointState};
use crate::validate;

#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// Files or directories, read as `flinkd validate` reads them (give the watched
    /// directory whole: its DeploymentDefaults and targets are part of each spec).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<std::path::PathBuf>,
    #[command(flatten)]
    pub api: ApiArgs,
}

pub const EXIT_CHANGES: i32 = 2;

pub fn run(args: &PlanArgs) -> i32 {
    match plan_all(args) {
        Ok(true) => EXIT_CHANGES,
        Ok(false) => super::EXIT_OK,
        Err(message) => {
            eprintln!("flinkd: {message}");
            EXIT_INVALID
        }
    }
}

/// A Deployment as the daemon has it.
struct Known {
    id: String,
    lifecycle: Option<String>,
    records: Records,
}

fn known(api: &Api, ns: &str, name: &str) -> Result<Option<Known>, ClientError> {
    let list = client::get(api, &format!("/api/v1/namespaces/{ns}/deployments"))?;
    let Some(id) = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|d| d["metadata"]["name"].as_str() == Some(name))
        .and_then(|d| d["metadata"]["id"].as_str())
        .map(str::to_string)
    else {
        return Ok(None);
    };
    let lc = client::get(
        api,
        &format!("/api/v1/namespaces/{ns}/deployments/{name}/lifecycle"),
    )?;
    let list = |kind: &str| {
        client::get(
            api,
            &format!("/api/v1/namespaces/{ns}/{kind}?deploymentId={id}"),
        )
    };
    let savepoints: Vec<Savepoint> = client::items_read(&list("savepoints")?);
    let jobs: Vec<Job> = client::items_read(&list("jobs")?);
    Ok(Some(Known {
        lifecycle: (!lc["lifecycle"].is_null()).then(|| lc["lifecycle"].to_string()),
        id,
        records: Records { jobs, savepoints },
    }))
}

fn plan_all(args: &PlanArgs) -> Result<bool, String> {
    let a = &args.api;
    let config = match &a.config {
        Some(path) => Some(Config::load(path).map_err(|e| format!("config: {e}"))?),
        None => None,
    };
    let limits = config
        .as_ref()
        .map(|c| c.files.read_limits())
        .unwrap_or_default();
    let mut files = Vec::new();
    for path in &args.paths {
        files
            .append(&mut read_path(path, &limits).map_err(|e| format!("{}: {e}", path.display()))?);
    }
    let checked = validate::check(files, config.as_ref());
    for d in &checked.diagnostics {
        eprintln!("{d}");
    }
    if checked.has_errors() {
        return Err("the files are not valid; nothing was planned".into());
    }
    let api = client::server(a.server.as_deref(), a.config.as_ref()).map_err(|e| e.to_string())?;
    let timing = config.clone().unwrap_or_default().timing;
    let now = time::OffsetDateTime::now_utc();
    let mut changes = false;
    let mut namespaces = BTreeSet::new();
    let mut defined = BTreeSet::new();
    let mut starts_empty = Vec::new();
    for e in checked.valid_deployments() {
        let d = &e.resource;
        let identity = d.metadata.identity();
        namespaces.insert(identity.namespace.clone());
        defined.insert(identity.to_string());
        let placement = checked
            .placements
            .get(&identity)
            .map(|p| p.hash_suffix())
            .unwrap_or_default();
        let written = e.written.clone().unwrap_or_default();
        let policy = Policy::new(&written, &d.spec, &placement, None)
            .map_err(|e| format!("{identity}: {e}"))?;
        let found = known(&api, &identity.namespace, &identity.name).map_err(|e| e.to_string())?;
        let (lifecycle, records, new) = match &found {
            Some(k) => {
                let lc = match &k.lifecycle {
                    Some(json) => Lifecycle::from_stored(json, &policy, now)
                        .map_err(|e| format!("{identity}: the daemon's lifecycle: {e}"))?,
                    None => Lifecycle::default(),
                };
                (lc, k.records.clone(), false)
            }
            None => (Lifecycle::default(), Records::default(), true),
        };
        let p = plan(&lifecycle, &records, &policy, &timing, now);
        changes |= !p.unchanged;
        if new && p.steps.iter().any(|s| s.contains("empty state")) {
            starts_empty.push(identity.to_string());
        }
        print_plan(
            &identity.to_string(),
            new,
            found.as_ref().map(|k| k.id.as_str()),
            &p,
        );
    }
    // Given a whole directory, a Deployment the daemon has and no file defines goes away.
    if args.paths.iter().any(|p| p.is_dir()) {
        for ns in &namespaces {
            let list = client::get(&api, &format!("/api/v1/namespaces/{ns}/deployments"))
                .map_err(|e| e.to_string())?;
            for d in list["items"].as_array().into_iter().flatten() {
                let name = d["metadata"]["name"].as_str().unwrap_or_default();
                let label = format!("{ns}/{name}");
                if defined.contains(&label) {
                    continue;
                }
                changes = true;
                let on_delete = config
                    .as_ref()
                    .map(|c| c.files.on_delete.to_string())
                    .unwrap_or_else(|| "SUSPENDED".into());
                println!("{label}: no file defines it: it winds down to {on_delete} ([files] on_delete) and is forgotten");
                let snapshots = known(&api, ns, name)
                    .ok()
                    .flatten()
                    .map(|k| {
                        k.records
                            .savepoints
                            .iter()
                            .filter(|s| s.state == SavepointState::Completed)
                            .count()
                    })
                    .unwrap_or(0);
                if snapshots > 0 && !starts_empty.is_empty() {
                    println!(
                        "  WARNING: {label} has {snapshots} snapshot(s) and {} STARTS FROM EMPTY STATE: if this is a rename, keep the old name, or hand its savepoint over (flinkd savepoint import)",
                        starts_empty.join(", ")
                    );
                }
            }
        }
    }
    Ok(changes)
}

fn print_plan(label: &str, new: bool, id: Option<&str>, p: &Plan) {
    let what = match (new, id) {
        (true, _) => format!("{label} (new)"),
        (false, Some(id)) => format!("{label} ({})", &id[..id.len().min(8)]),
        (false, None) => label.to_string(),
    };
    if p.unchanged && p.steps.is_empty() {
        println!("{what}: no change");
    } else {
        println!("{what}: {}", p.steps.join("; "));
    }
    for w in &p.warnings {
        println!("  WARNING: {w}");
    }
}
