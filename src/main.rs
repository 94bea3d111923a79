//! The `flinkd` binary: argument parsing and logging; everything else is in the library.

use clap::Parser;
use flinkd::cli::{self, Cli, Command};

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FLINKD_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let code = match &cli.command {
        Command::Validate(args) => cli::validate(args),
        Command::Run(args) => cli::run(args),
        Command::Get(args) => cli::get(args),
        Command::Events(args) => cli::events(args),
        Command::Savepoint(args) => cli::savepoint(args),
    };
    std::process::exit(code);
}
