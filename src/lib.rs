//! flinkd: a supervisor daemon that runs Apache Flink applications from declarative
//! Deployment files.

pub mod config;
pub mod quantity;
pub mod source;
pub mod spec;
