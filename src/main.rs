//! The `flinkd` binary: argument parsing and logging; everything else is in the library.

use clap::Parser;
use flinkd::cli::{self, Cli, Command, LogFormat};

/// jemalloc: a daemon that parses thousands of files at start and then runs for months
/// keeps its memory compact (glibc's malloc holds on to what a burst fragmented).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Freed memory goes back to the system within a second, by jemalloc's own thread. One
/// arena: the actors run on one thread, and what they hand to the store's and the HTTP
/// threads is freed there; with an arena per thread (jemalloc's default, 4 per core)
/// each held its own free pages, and 10,000 Deployments starting at once peaked at
/// ~200 MiB instead of ~150 (`scripts/bench.sh scale`; no slower start, same CPU).
#[cfg(not(target_env = "msvc"))]
#[allow(non_upper_case_globals)]
#[export_name = "_rjem_malloc_conf"]
pub static malloc_conf: &[u8] =
    b"narenas:1,background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:1000\0";

/// Logs go to stderr (the journal, under systemd): text by default, JSON lines with
/// `--log-format json` or FLINKD_LOG_FORMAT=json. FLINKD_LOG sets the filter.
fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("FLINKD_LOG")
        // kube's client logs each failed call as an error; flinkd says what failed and
        // what it does about it.
        .unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new("info,kube_client::client::builder=off")
        });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder.init(),
    }
}

fn main() {
    let cli = Cli::parse();
    let format = match &cli.command {
        Command::Run(args) => args.log_format,
        _ => LogFormat::Text,
    };
    init_logging(format);
    let code = match &cli.command {
        Command::Validate(args) => cli::validate(args),
        Command::Render(args) => cli::render::render(args),
        Command::Run(args) => cli::run(args),
        Command::Get(args) => cli::get(args),
        Command::Events(args) => cli::events(args),
        Command::Savepoint(args) => cli::savepoint(args),
        Command::Plan(args) => cli::plan::run(args),
        Command::Savepoints(args) => cli::savepoints::run(args),
        Command::Completions { shell } => cli::completions(*shell),
        Command::Man => cli::man(),
        Command::Describe(args) => cli::describe::run(args),
        Command::Logs(args) => cli::logs::run(args),
    };
    std::process::exit(code);
}
