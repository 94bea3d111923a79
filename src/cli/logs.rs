//! `flinkd logs NAME [--taskmanager N] [-f]`: the current job's JobManager (or
//! TaskManager N) log, through the daemon's API; `-f` follows it as it grows.

use std::io::Write;

use super::{ApiArgs, EXIT_INVALID, EXIT_OK};
use crate::client::{self, ClientError};

#[derive(Debug, clap::Args)]
pub struct LogsArgs {
    /// The Deployment.
    pub name: String,
    /// A TaskManager's log (0, 1, … in the order Flink numbered them) instead of the
    /// JobManager's.
    #[arg(long, value_name = "N")]
    pub taskmanager: Option<u32>,
    /// Keep printing what is written, until interrupted.
    #[arg(long, short = 'f')]
    pub follow: bool,
    #[command(flatten)]
    pub api: ApiArgs,
}

pub fn run(args: &LogsArgs) -> i32 {
    match follow(args) {
        Ok(()) => EXIT_OK,
        Err(e) => {
            eprintln!("flinkd: {e}");
            EXIT_INVALID
        }
    }
}

fn follow(args: &LogsArgs) -> Result<(), ClientError> {
    let a = &args.api;
    let ns = &a.namespace;
    let api = client::server(a.server.as_deref(), a.config.as_ref())?;
    let tm = args
        .taskmanager
        .map(|n| format!("taskmanager={n}&"))
        .unwrap_or_default();
    let path = |offset: Option<u64>| {
        let offset = offset.map(|o| format!("offset={o}")).unwrap_or_default();
        format!(
            "/api/v1/namespaces/{ns}/deployments/{}/logs?{tm}{offset}",
            args.name
        )
    };
    let mut offset = None;
    let mut out = std::io::stdout().lock();
    loop {
        let v = client::get(&api, &path(offset))?;
        let text = v["text"].as_str().unwrap_or_default();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
        let next = v["next"].as_u64();
        let more = next.is_some() && next != offset && !text.is_empty();
        offset = next.or(offset);
        if !args.follow {
            return Ok(());
        }
        if !more {
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
    }
}
