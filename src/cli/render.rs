//! `flinkd render PATH...`: the Kubernetes objects the next job of each Deployment on a
//! Kubernetes target would run as, as YAML documents, for review or for
//! `kubectl apply --dry-run=server -f -`.

use std::path::PathBuf;

use clap::Args;

use super::{optional_config, read_paths, EXIT_INVALID, EXIT_OK};
use crate::cluster::kubernetes::{self, ClusterSpec};
use crate::cluster::Placement;
use crate::config::Config;
use crate::expanded::ExpandedTemplate;
use crate::validate;

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// The daemon config: its [defaults] and [kubernetes.images] apply.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Files or directories, read as one set (as `flinkd validate` reads them).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

/// The job id a rendered cluster shows: a new job's is chosen when it starts.
const EXAMPLE_JOB: uuid::Uuid = uuid::Uuid::from_u128(0);

pub fn render(args: &RenderArgs) -> i32 {
    let given = match optional_config(args.config.as_ref()) {
        Ok(c) => c,
        Err(code) => return code,
    };
    // Without a config, as `flinkd validate` without one: the built-in defaults.
    let default = Config::default();
    let config = given.as_ref().unwrap_or(&default);
    let limits = config.files.read_limits();
    let files = match read_paths(&args.paths, &limits) {
        Ok(files) => files,
        Err(code) => return code,
    };
    let checked = validate::check(files, given.as_ref());
    for d in &checked.diagnostics {
        eprintln!("{d}");
    }
    let no_artifact = crate::spec::Artifact::default();
    let mut rendered = 0;
    let mut failed = checked.has_errors();
    for e in checked.valid_deployments() {
        let d = &e.resource;
        let identity = d.metadata.identity();
        let Some(Placement::Kubernetes { namespace }) = checked.placements.get(&identity) else {
            eprintln!("{identity}: not on a Kubernetes target, nothing to render");
            continue;
        };
        let Some(template) = d.spec.template.as_ref().and_then(|t| t.spec.as_ref()) else {
            continue;
        };
        let expanded = match ExpandedTemplate::of(template) {
            Ok(t) => t,
            Err(err) => {
                eprintln!("{identity}: {err}");
                failed = true;
                continue;
            }
        };
        let spec = ClusterSpec {
            namespace,
            deployment_name: &d.metadata.name,
            deployment_id: d.metadata.id.unwrap_or_default(),
            job_id: EXAMPLE_JOB,
            instance: "INSTANCE",
            template: &expanded,
            artifact: template.artifact.as_ref().unwrap_or(&no_artifact),
            kubernetes: template.kubernetes.as_deref(),
            images: &config.kubernetes.images,
        };
        match kubernetes::render(&spec) {
            Ok(objects) => {
                println!("# Deployment {identity}: its next job's cluster");
                print!("{}", objects.to_yaml());
                rendered += 1;
            }
            Err(err) => {
                eprintln!("{identity}: {err}");
                failed = true;
            }
        }
    }
    eprintln!("{rendered} cluster(s) rendered");
    if failed {
        EXIT_INVALID
    } else {
        EXIT_OK
    }
}
