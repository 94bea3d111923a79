//! flinkd: a supervisor daemon that runs Apache Flink applications from declarative
//! Deployment files.

pub mod actors;
pub mod api;
pub mod artifact;
pub mod cli;
pub mod client;
pub mod cluster;
pub mod conditions;
pub mod config;
pub mod daemon;
pub mod defaults;
pub mod diagnostic;
pub mod dircache;
pub mod flink;
pub mod java_error;
pub mod lifecycle;
pub mod metrics;
pub mod paths;
pub mod quantity;
pub mod quota;
pub mod resources;
pub mod source;
pub mod spec;
pub mod store;
pub mod systemd;
pub mod validate;
