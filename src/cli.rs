//! The command line: `flinkd validate`, and later `run`, `get`, `events`, `savepoint`.
//!
//! Each subcommand is a function that returns the process exit code; `main` only parses
//! arguments and sets up logging.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};

use crate::config::Config;
use crate::resources::{self, FileContents};
use crate::validate::{self, Checked};

#[derive(Debug, Parser)]
#[command(
    name = "flinkd",
    version,
    about = "Runs Apache Flink applications from declarative Deployment files"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check Deployment, DeploymentTarget and DeploymentDefaults files offline.
    ///
    /// Prints one line per problem, `FILE:LINE:COL: FIELD.PATH: message`, on stderr.
    /// Exits 0 when every file is valid (warnings allowed), 1 otherwise.
    Validate(ValidateArgs),
    /// Run the daemon in the foreground: watch the deployments directory and drive
    /// each Deployment's Flink job to its desired state.
    Run(RunArgs),
    /// Show Deployments, Jobs or Savepoints, as the running daemon has them.
    Get(GetArgs),
    /// Show a Deployment's event log, oldest first.
    Events(EventsArgs),
    /// Take a savepoint of a running Deployment's job, wait for it, print its location;
    /// or import one taken elsewhere (`flinkd savepoint import NAME LOCATION`).
    Savepoint(SavepointArgs),
    /// What applying these files would do, per Deployment, asked of the running daemon.
    ///
    /// Exit code 0: nothing would change; 2: something would; 1: an error.
    Plan(plan::PlanArgs),
    /// What retention would dispose of (`flinkd savepoints prune --dry-run NAME`).
    Savepoints(savepoints::SavepointsArgs),
    /// Print a shell completion script: `flinkd completions bash > /etc/bash_completion.d/flinkd`.
    Completions { shell: clap_complete::Shell },
    /// Print the man page (roff): `flinkd man | man -l -`.
    Man,
    /// One Deployment in full: spec, status, conditions, job, savepoints, restore
    /// source, events.
    Describe(describe::DescribeArgs),
    /// The current job's JobManager or TaskManager log; `-f` follows it.
    Logs(logs::LogsArgs),
    /// Print the Kubernetes objects the next job of each Deployment on a Kubernetes
    /// target would run as (YAML documents on stdout), for review or
    /// `kubectl apply --dry-run=server -f -`.
    ///
    /// The daemon does not run Kubernetes targets yet. Job and instance ids are
    /// placeholders; the objects' owner references are set when they are created.
    Render(render::RenderArgs),
}

/// `flinkd completions SHELL`, from the clap definitions.
pub fn completions(shell: clap_complete::Shell) -> i32 {
    let mut command = <Cli as clap::CommandFactory>::command();
    clap_complete::generate(shell, &mut command, "flinkd", &mut std::io::stdout());
    EXIT_OK
}

/// `flinkd man`: the man page, from the clap definitions.
pub fn man() -> i32 {
    let command = <Cli as clap::CommandFactory>::command();
    let mut out = Vec::new();
    if let Err(e) = clap_mangen::Man::new(command).render(&mut out) {
        eprintln!("flinkd: {e}");
        return EXIT_INVALID;
    }
    let _ = std::io::stdout().write_all(&out);
    EXIT_OK
}

pub mod describe;
pub mod logs;
pub mod plan;
pub mod render;
pub mod savepoints;
pub mod watch;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct SavepointArgs {
    #[command(subcommand)]
    pub action: Option<SavepointAction>,
    /// The Deployment.
    #[arg(required = true)]
    pub name: Option<String>,
    /// How long to wait for the savepoint.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    pub timeout: std::time::Duration,
    #[command(flatten)]
    pub api: ApiArgs,
}

#[derive(Debug, Subcommand)]
pub enum SavepointAction {
    /// Hand a savepoint taken elsewhere (another platform, another Deployment) to a
    /// Deployment: recorded with origin IMPORTED, its next start restores from it.
    Import {
        /// The Deployment.
        name: String,
        /// The savepoint's directory: an absolute path or a URI (file:///…, s3://…).
        location: String,
    },
}

/// `flinkd savepoint import NAME LOCATION`.
fn import(name: &str, location: &str, a: &ApiArgs) -> i32 {
    let ns = &a.namespace;
    let result = (|| {
        let base = crate::client::server(a.server.as_deref(), a.config.as_ref())?;
        let id = id_of(&deployment_ids(&base, ns)?, name, ns)?;
        let body = serde_json::json!({
            "metadata": {"deploymentId": id},
            "spec": {"savepointLocation": location},
        });
        let sp =
            crate::client::post_json(&base, &format!("/api/v1/namespaces/{ns}/savepoints"), &body)?;
        match a.output {
            o if o.is_table() => {
                let sp_id = sp["metadata"]["id"].as_str().unwrap_or_default();
                println!("savepoint {sp_id} of {name} imported from {location}");
                Ok(())
            }
            other => crate::client::print(&sp, other, |_| Ok(String::new())),
        }
    })();
    exit_code(result)
}

pub fn savepoint(args: &SavepointArgs) -> i32 {
    let a = &args.api;
    if let Some(SavepointAction::Import { name, location }) = &args.action {
        return import(name, location, a);
    }
    let ns = &a.namespace;
    let name = args.name.clone().unwrap_or_default();
    let result = (|| {
        let base = crate::client::server(a.server.as_deref(), a.config.as_ref())?;
        let id = id_of(&deployment_ids(&base, ns)?, &name, ns)?;
        let started = crate::client::post(
            &base,
            &format!("/api/v1/namespaces/{ns}/savepoints?deploymentId={id}"),
        )?;
        let sp_id = started["metadata"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        eprintln!("savepoint {sp_id} of {name} started");
        let until = std::time::Instant::now() + args.timeout;
        loop {
            let list = crate::client::get(
                &base,
                &format!("/api/v1/namespaces/{ns}/savepoints?deploymentId={id}"),
            )?;
            let this = list["items"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|s| s["metadata"]["id"].as_str() == Some(sp_id.as_str()))
                .cloned();
            match this.as_ref().and_then(|s| s["state"].as_str()) {
                Some("COMPLETED") => {
                    let this = this.unwrap_or_default();
                    return match a.output {
                        o if o.is_table() => {
                            println!("{}", this["location"].as_str().unwrap_or_default());
                            Ok(())
                        }
                        other => crate::client::print(&this, other, |_| Ok(String::new())),
                    };
                }
                Some("FAILED") => {
                    let this = this.unwrap_or_default();
                    let why = this["failure"]["message"]
                        .as_str()
                        .unwrap_or("no reason given");
                    return Err(crate::client::ClientError::Failed(format!(
                        "the savepoint failed: {why}"
                    )));
                }
                _ if std::time::Instant::now() > until => {
                    return Err(crate::client::ClientError::Failed(format!(
                        "the savepoint did not complete within {}",
                        humantime::format_duration(args.timeout)
                    )))
                }
                _ => std::thread::sleep(std::time::Duration::from_millis(500)),
            }
        }
    })();
    exit_code(result)
}

/// How to reach the daemon and how to print.
#[derive(Debug, Args)]
pub struct ApiArgs {
    /// The daemon's API, e.g. http://127.0.0.1:8089.
    #[arg(long, value_name = "URL", global = true)]
    pub server: Option<String>,
    /// Find the API from this daemon config ([api] listen).
    #[arg(long, short = 'c', value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// The namespace.
    #[arg(long, short = 'n', default_value = "default", global = true)]
    pub namespace: String,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value = "table", global = true)]
    pub output: crate::client::Output,
}

#[derive(Debug, Args)]
pub struct GetArgs {
    #[command(subcommand)]
    pub what: GetWhat,
    /// After the list, print each change as it happens, until interrupted.
    #[arg(long, short = 'w', global = true)]
    pub watch: bool,
    #[command(flatten)]
    pub api: ApiArgs,
}

#[derive(Debug, Subcommand)]
pub enum GetWhat {
    /// All Deployments of the namespace.
    Deployments,
    /// One Deployment, fully expanded, with its status.
    Deployment { name: String },
    /// Jobs, of one Deployment or of the whole namespace.
    Jobs { deployment: Option<String> },
    /// Savepoints, of one Deployment or of the whole namespace.
    Savepoints { deployment: Option<String> },
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// The Deployment.
    pub name: String,
    #[command(flatten)]
    pub api: ApiArgs,
}

/// A client command's outcome as an exit code, its error on stderr.
fn exit_code(result: Result<(), crate::client::ClientError>) -> i32 {
    match result {
        Ok(()) => EXIT_OK,
        Err(e) => {
            eprintln!("flinkd: {e}");
            EXIT_INVALID
        }
    }
}

/// The namespace's Deployments: for names in tables, and ids in filters.
fn deployment_ids(
    base: &crate::client::Api,
    ns: &str,
) -> Result<Vec<(uuid::Uuid, String)>, crate::client::ClientError> {
    let v = crate::client::get(base, &format!("/api/v1/namespaces/{ns}/deployments"))?;
    let list: Vec<crate::spec::Deployment> =
        serde_json::from_value(v.get("items").cloned().unwrap_or_default()).map_err(|e| {
            crate::client::ClientError::Unexpected {
                what: "the Deployments".into(),
                message: e.to_string(),
            }
        })?;
    Ok(list
        .into_iter()
        .filter_map(|d| d.metadata.id.map(|id| (id, d.metadata.name)))
        .collect())
}

fn id_of(
    ids: &[(uuid::Uuid, String)],
    name: &str,
    ns: &str,
) -> Result<uuid::Uuid, crate::client::ClientError> {
    ids.iter()
        .find(|(_, n)| n == name)
        .map(|(id, _)| *id)
        .ok_or_else(|| {
            crate::client::ClientError::Failed(format!(
                "no Deployment `{name}` in namespace `{ns}`"
            ))
        })
}

pub fn get(args: &GetArgs) -> i32 {
    let a = &args.api;
    let ns = &a.namespace;
    let now = time::OffsetDateTime::now_utc();
    if args.watch {
        return exit_code(get_watch(args));
    }
    let result = (|| {
        let base = crate::client::server(a.server.as_deref(), a.config.as_ref())?;
        let l = listing(&base, ns, &args.what)?;
        let v = crate::client::get(&base, &l.path)?;
        crate::client::print(&v, a.output, |v| (l.table)(v, now, a.output.wide()))
    })();
    exit_code(result)
}

/// A table of an API answer, as of a moment, narrow or wide.
type Table = Box<
    dyn Fn(
        &serde_json::Value,
        time::OffsetDateTime,
        bool,
    ) -> Result<String, crate::client::ClientError>,
>;

/// What `flinkd get` asks the API for: the path, and the table of its answer.
struct Listing {
    path: String,
    table: Table,
}

fn listing(
    base: &crate::client::Api,
    ns: &str,
    what: &GetWhat,
) -> Result<Listing, crate::client::ClientError> {
    let deployments = |path: String| Listing {
        path,
        table: Box::new(crate::client::deployments_table),
    };
    let (kind, deployment) = match what {
        GetWhat::Deployments => {
            return Ok(deployments(format!("/api/v1/namespaces/{ns}/deployments")));
        }
        GetWhat::Deployment { name } => {
            return Ok(deployments(format!(
                "/api/v1/namespaces/{ns}/deployments/{name}"
            )));
        }
        GetWhat::Jobs { deployment } => ("jobs", deployment),
        GetWhat::Savepoints { deployment } => ("savepoints", deployment),
    };
    let ids = deployment_ids(base, ns)?;
    let filter = match deployment {
        Some(name) => format!("?deploymentId={}", id_of(&ids, name, ns)?),
        None => String::new(),
    };
    let names = move |id: uuid::Uuid| {
        ids.iter()
            .find(|(i, _)| *i == id)
            .map(|(_, n)| n.clone())
            .unwrap_or_else(|| id.to_string())
    };
    let table: Table = if kind == "jobs" {
        Box::new(move |v, now, wide| crate::client::jobs_table(v, &names, now, wide))
    } else {
        Box::new(move |v, now, wide| crate::client::savepoints_table(v, &names, now, wide))
    };
    Ok(Listing {
        path: format!("/api/v1/namespaces/{ns}/{kind}{filter}"),
        table,
    })
}

/// `flinkd get … -w`.
fn get_watch(args: &GetArgs) -> Result<(), crate::client::ClientError> {
    let a = &args.api;
    let ns = &a.namespace;
    let base = crate::client::server(a.server.as_deref(), a.config.as_ref())?;
    let wide = a.output.wide();
    let l = listing(&base, ns, &args.what)?;
    // Ages in the rows are as of the moment each is printed.
    let table = |v: &serde_json::Value| (l.table)(v, time::OffsetDateTime::now_utc(), wide);
    let mut printer = watch::Printer::new(a.output, &table);
    match &args.what {
        GetWhat::Deployments => watch::deployments(&base, ns, None, &mut printer),
        GetWhat::Deployment { name } => {
            // No such Deployment: said at once, not watched for.
            crate::client::get(&base, &l.path)?;
            watch::deployments(&base, ns, Some(name), &mut printer)
        }
        GetWhat::Jobs { .. } | GetWhat::Savepoints { .. } => {
            watch::poll(&base, &l.path, &mut printer)
        }
    }
}

pub fn events(args: &EventsArgs) -> i32 {
    let a = &args.api;
    let ns = &a.namespace;
    let result = (|| {
        let base = crate::client::server(a.server.as_deref(), a.config.as_ref())?;
        let id = id_of(&deployment_ids(&base, ns)?, &args.name, ns)?;
        // Page by page (the API answers at most a page at a time).
        let mut items = Vec::new();
        let mut after = 0;
        loop {
            let v = crate::client::get(
                &base,
                &format!("/api/v1/namespaces/{ns}/events?deploymentId={id}&after={after}"),
            )?;
            if let Some(page) = v["items"].as_array() {
                items.extend(page.iter().cloned());
            }
            match v["next"].as_i64() {
                Some(next) => after = next,
                None => break,
            }
        }
        let v = serde_json::json!({ "items": items });
        crate::client::print(&v, a.output, crate::client::events_table)
    })();
    exit_code(result)
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The daemon config (TOML).
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: PathBuf,
    /// Log lines as text, or as JSON objects (one per line).
    #[arg(long, value_enum, default_value = "text", env = "FLINKD_LOG_FORMAT")]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

pub fn run(args: &RunArgs) -> i32 {
    match crate::daemon::run(&args.config) {
        Ok(()) => EXIT_OK,
        Err(e) => {
            eprintln!("flinkd: {e}");
            EXIT_USAGE
        }
    }
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The daemon config: its [defaults] apply and flinkVersion must be one of its
    /// [flink.versions].
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print each valid resource fully expanded, as YAML documents on stdout.
    #[arg(long)]
    pub expand: bool,
    /// Files or directories; a directory's files are checked as one set with the rest.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

/// Exit codes.
pub const EXIT_OK: i32 = 0;
pub const EXIT_INVALID: i32 = 1;
pub const EXIT_USAGE: i32 = 2;

/// The daemon config `--config` names, if any; one that cannot be used is reported and
/// ends the command (its exit code).
fn optional_config(path: Option<&PathBuf>) -> Result<Option<Config>, i32> {
    let Some(path) = path else {
        return Ok(None);
    };
    Config::load(path).map(Some).map_err(|e| {
        eprintln!("flinkd: config: {e}");
        EXIT_USAGE
    })
}

pub fn validate(args: &ValidateArgs) -> i32 {
    let config = match optional_config(args.config.as_ref()) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let limits = config
        .as_ref()
        .map(|c| c.files.read_limits())
        .unwrap_or_default();
    let files = match read_paths(&args.paths, &limits) {
        Ok(files) => files,
        Err(code) => return code,
    };
    let count = files.len();
    let checked = validate::check(files, config.as_ref());
    report(&checked, count, args.expand)
}

/// The files the paths name, read; a path that cannot be read is reported and ends
/// the command (its exit code).
fn read_paths(paths: &[PathBuf], limits: &resources::ReadLimits) -> Result<Vec<FileContents>, i32> {
    let mut files = Vec::new();
    for path in paths {
        match read_path(path, limits) {
            Ok(mut f) => files.append(&mut f),
            Err(e) => {
                eprintln!("{}: {e}", path.display());
                return Err(EXIT_INVALID);
            }
        }
    }
    Ok(files)
}

/// The files a path names: a directory's resource files, or the file itself (read
/// whatever its name, since the user named it).
fn read_path(path: &Path, limits: &resources::ReadLimits) -> std::io::Result<Vec<FileContents>> {
    let files = if path.is_dir() {
        resources::list_dir(path)?
    } else if path.exists() {
        vec![path.to_path_buf()]
    } else {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no such file or directory",
        ));
    };
    Ok(files
        .iter()
        .map(|f| resources::read_file(f, limits))
        .collect())
}

fn report(checked: &Checked, files: usize, expand: bool) -> i32 {
    let stderr = std::io::stderr();
    let mut err = stderr.lock();
    for d in &checked.diagnostics {
        let _ = writeln!(err, "{d}");
    }
    let errors = checked.diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = checked.diagnostics.len() - errors;
    let valid = checked.valid_count();
    let _ = writeln!(
        err,
        "{files} file(s), {valid} valid resource(s), {errors} error(s), {warnings} warning(s)"
    );
    if expand {
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        // Invalid resources are printed too, marked, so that a user can see what a file
        // expands to while fixing it.
        let docs = checked
            .targets
            .iter()
            .map(|e| (e.valid, &e.origin, serde_yaml::to_string(&e.resource)))
            .chain(
                checked
                    .defaults
                    .iter()
                    .map(|e| (e.valid, &e.origin, serde_yaml::to_string(&e.resource))),
            )
            .chain(
                checked
                    .deployments
                    .iter()
                    .map(|e| (e.valid, &e.origin, serde_yaml::to_string(&e.resource))),
            );
        for (valid, origin, doc) in docs {
            match doc {
                Ok(text) => {
                    let mark = if valid {
                        String::new()
                    } else {
                        format!("# not valid: see the errors for {}\n", origin.place())
                    };
                    let _ = write!(out, "---\n{mark}{text}");
                }
                Err(e) => {
                    let _ = writeln!(err, "flinkd: cannot print a resource: {e}");
                    return EXIT_INVALID;
                }
            }
        }
    }
    if errors > 0 {
        EXIT_INVALID
    } else {
        EXIT_OK
    }
}
